//! The authenticated user.

use mizan_protocol::UserInfo;

/// Who a socket or call acts as: built by the server from a verified token.
///
/// ```
/// use mizan_channels::User;
/// let u = User::new("42").with_staff(true);
/// assert!(u.staff && !u.superuser);
/// assert_eq!(u.info().id, "42");
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct User {
    /// The user id (the token's `sub`).
    pub id: String,
    /// Staff level.
    pub staff: bool,
    /// Superuser level (implies staff for access checks).
    pub superuser: bool,
    /// Every other claim of the token, for custom predicates.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl User {
    /// A user with no levels and no extra claims.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// Sets the staff level.
    #[must_use]
    pub fn with_staff(mut self, staff: bool) -> Self {
        self.staff = staff;
        self
    }

    /// Sets the superuser level.
    #[must_use]
    pub fn with_superuser(mut self, superuser: bool) -> Self {
        self.superuser = superuser;
        self
    }

    /// What the client is told about the user.
    pub fn info(&self) -> UserInfo {
        UserInfo {
            id: self.id.clone(),
            staff: self.staff,
            superuser: self.superuser,
        }
    }
}
