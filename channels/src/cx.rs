//! The request context every handler receives.

use crate::error::Error;
use crate::user::User;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

/// Values the application hands every handler, one per type (a database
/// pool, an in-memory store). Built once with the node.
///
/// ```
/// use mizan_channels::{AppState, Cx};
/// struct Db(&'static str);
/// let state = AppState::default().with(Db("pool"));
/// let cx = Cx::new("n").with_state(state);
/// assert_eq!(cx.state::<Db>().unwrap().0, "pool");
/// assert!(cx.state::<String>().is_err());
/// ```
#[derive(Clone, Default)]
pub struct AppState(Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl AppState {
    /// Adds a value, replacing any earlier value of the same type.
    #[must_use]
    pub fn with<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        Arc::make_mut(&mut self.0).insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    fn get<T: 'static>(&self) -> Option<&T> {
        self.0.get(&TypeId::of::<T>()).and_then(|v| v.downcast_ref())
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppState({} values)", self.0.len())
    }
}

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
    state: AppState,
}

impl Cx {
    /// A context on `node` with no user and no session (an HTTP call).
    pub fn new(node: impl Into<Arc<str>>) -> Self {
        Self {
            user: None,
            node: node.into(),
            session: None,
            state: AppState::default(),
        }
    }

    /// Sets the application state.
    #[must_use]
    pub fn with_state(mut self, state: AppState) -> Self {
        self.state = state;
        self
    }

    /// The application's value of type `T`; `internal` when the node was
    /// built without one (a setup mistake, logged, never shown to clients).
    pub fn state<T: 'static>(&self) -> Result<&T, Error> {
        self.state.get::<T>().ok_or_else(|| {
            Error::internal(format!(
                "no state of type `{}`: add `.state(..)` to the builder",
                std::any::type_name::<T>()
            ))
        })
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
