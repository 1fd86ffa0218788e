//! The request context every handler receives.

use crate::user::User;
use std::sync::Arc;

/// Who is asking and where: the first argument of every handler.
///
/// Cheap to clone (a few reference counts).
///
/// ```
/// use mizan_channels::{Cx, User};
/// let cx = Cx::new("node-1").with_user(Some(User::new("7").into()));
/// assert_eq!(cx.user().map(|u| u.id.as_str()), Some("7"));
/// assert_eq!(cx.node(), "node-1");
/// assert_eq!(cx.session(), None);
/// ```
#[derive(Debug, Clone)]
pub struct Cx {
    user: Option<Arc<User>>,
    node: Arc<str>,
    session: Option<Arc<str>>,
}

impl Cx {
    /// A context on `node` with no user and no session (an HTTP call).
    pub fn new(node: impl Into<Arc<str>>) -> Self {
        Self {
            user: None,
            node: node.into(),
            session: None,
        }
    }

    /// Sets the user.
    #[must_use]
    pub fn with_user(mut self, user: Option<Arc<User>>) -> Self {
        self.user = user;
        self
    }

    /// Sets the WebSocket session.
    #[must_use]
    pub fn with_session(mut self, session: Arc<str>) -> Self {
        self.session = Some(session);
        self
    }

    /// The authenticated user, if any.
    pub fn user(&self) -> Option<&User> {
        self.user.as_deref()
    }

    /// The id of the node running the handler.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The WebSocket session id, `None` for HTTP calls.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }
}
