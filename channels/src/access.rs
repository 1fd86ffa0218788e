//! Access levels, checked before any handler runs.

use crate::error::Error;
use crate::user::User;
use std::fmt;
use std::sync::Arc;

type Predicate = dyn Fn(Option<&User>, &serde_json::Value) -> bool + Send + Sync;

/// Who may call a function, fetch a context or join a channel.
///
/// A check fails with `unauthenticated` when there is no user and the level
/// needs one, and with `forbidden` when the user lacks the level.
///
/// ```
/// use mizan_channels::{Access, User};
/// use mizan_protocol::ErrorCode;
/// let args = serde_json::json!({});
/// assert!(Access::Public.check(None, &args).is_ok());
/// assert_eq!(Access::User.check(None, &args).unwrap_err().code(), ErrorCode::Unauthenticated);
/// let alice = User::new("alice");
/// assert_eq!(Access::Staff.check(Some(&alice), &args).unwrap_err().code(), ErrorCode::Forbidden);
/// let own = Access::custom(|u, args| u.is_some_and(|u| args["owner"] == u.id.as_str()));
/// assert!(own.check(Some(&alice), &serde_json::json!({"owner": "alice"})).is_ok());
/// ```
#[derive(Clone, Default)]
pub enum Access {
    /// Anyone, with or without a user.
    #[default]
    Public,
    /// Any authenticated user.
    User,
    /// Staff or superusers.
    Staff,
    /// Superusers only.
    Superuser,
    /// A predicate over the user and the args (or channel params).
    Custom(Arc<Predicate>),
}

impl Access {
    /// A custom predicate. When it refuses a caller without a user the error
    /// is `unauthenticated`, otherwise `forbidden`.
    pub fn custom(f: impl Fn(Option<&User>, &serde_json::Value) -> bool + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(f))
    }

    /// Whether the check needs the args as JSON (only custom predicates do).
    pub fn needs_args(&self) -> bool {
        matches!(self, Self::Custom(_))
    }

    /// Checks `user` (and, for a custom predicate, `args`).
    pub fn check(&self, user: Option<&User>, args: &serde_json::Value) -> Result<(), Error> {
        let allowed = match (self, user) {
            (Self::Public, _) => true,
            (Self::Custom(f), user) => f(user, args),
            (_, None) => false,
            (Self::User, Some(_)) => true,
            (Self::Staff, Some(u)) => u.staff || u.superuser,
            (Self::Superuser, Some(u)) => u.superuser,
        };
        match (allowed, user) {
            (true, _) => Ok(()),
            (false, None) => Err(Error::unauthenticated(format!("this needs a signed-in user ({self})"))),
            (false, Some(_)) => Err(Error::forbidden(format!("this needs access level {self}"))),
        }
    }

    /// The level's name in the manifest.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::User => "user",
            Self::Staff => "staff",
            Self::Superuser => "superuser",
            Self::Custom(_) => "custom",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Access::{}", self.name())
    }
}

impl PartialEq for Access {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Custom(a), Self::Custom(b)) => Arc::ptr_eq(a, b),
            _ => self.name() == other.name(),
        }
    }
}
