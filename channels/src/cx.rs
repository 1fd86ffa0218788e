//! The request context every handler receives.

use crate::channel::{Channel, ChannelEntry, History};
use crate::error::Error;
use crate::user::User;
use mizan_protocol::{InvalidateEntry, MergeEntry, Payload};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

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
    /// Where a function's handler adds entries to its reply.
    emitter: Option<Arc<Emitter>>,
}

/// What a function's handler added to its reply with [`Cx::invalidate`],
/// [`Cx::merge`] and [`Cx::publish`]; the server publishes them with the
/// declared entries.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Emitted {
    /// Invalidations, as the handler made them.
    pub invalidate: Vec<InvalidateEntry>,
    /// Merges, as the handler made them.
    pub merge: Vec<MergeEntry>,
    /// Channel messages: the topic, the encoded message, and what the
    /// channel keeps.
    pub publish: Vec<(Arc<str>, Payload, History)>,
}

/// Collects a handler's [`Emitted`] entries; made by the server for each
/// function call.
pub struct Emitter {
    emitted: Mutex<Emitted>,
    channels: Arc<HashMap<&'static str, ChannelEntry>>,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter").finish_non_exhaustive()
    }
}

impl Emitter {
    /// Takes what was added so far.
    pub fn take(&self) -> Emitted {
        std::mem::take(&mut *self.emitted.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn add(&self, add: impl FnOnce(&mut Emitted)) {
        add(&mut self.emitted.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

impl Cx {
    /// A context on `node` with no user and no session (an HTTP call).
    pub fn new(node: impl Into<Arc<str>>) -> Self {
        Self {
            user: None,
            node: node.into(),
            session: None,
            state: AppState::default(),
            emitter: None,
        }
    }

    /// Gives the context an emitter for the entries its handler adds
    /// (the server does this for every function call); returns it too.
    #[must_use]
    pub fn with_emitter(mut self, registry: &crate::Registry) -> (Self, Arc<Emitter>) {
        let emitter = Arc::new(Emitter {
            emitted: Mutex::default(),
            channels: registry.channel_map(),
        });
        self.emitter = Some(Arc::clone(&emitter));
        (self, emitter)
    }

    fn emitter(&self) -> Result<&Emitter, Error> {
        self.emitter.as_deref().ok_or_else(|| {
            Error::internal("only a function's handler adds entries to its reply: use the server API elsewhere")
        })
    }

    /// Adds an invalidation to this call's reply: it is published with the
    /// declared `affects` entries (the reply, `X-Mizan-Invalidate`, the
    /// pushes), so a mutation that finds out only while running what it
    /// touched scopes its entry truthfully. A per-user context's entry
    /// reaches the caller's watchers unless it names a user. `internal`
    /// outside a function's handler.
    ///
    /// ```
    /// use mizan_channels::{Cx, protocol::InvalidateEntry};
    /// # fn handler(cx: &Cx, owner: i64) -> Result<(), mizan_channels::Error> {
    /// let mut params = serde_json::Map::new();
    /// params.insert("user_id".into(), owner.into());
    /// cx.invalidate(InvalidateEntry::broad("user").with_params(Some(params)))?;
    /// # Ok(()) }
    /// ```
    pub fn invalidate(&self, entry: InvalidateEntry) -> Result<(), Error> {
        self.emitter()?.add(|e| e.invalidate.push(entry));
        Ok(())
    }

    /// Adds a merge to this call's reply (see [`Cx::invalidate`]).
    pub fn merge(&self, entry: MergeEntry) -> Result<(), Error> {
        self.emitter()?.add(|e| e.merge.push(entry));
        Ok(())
    }

    /// Publishes `message` to channel `C`'s topic for `params` once the
    /// call succeeds (with the call's entries, through the same streams as
    /// a client's `send`). `not_found` when `C` is not registered,
    /// `internal` outside a function's handler.
    pub fn publish<C: Channel>(&self, params: &C::Params, message: &C::ServerMessage) -> Result<(), Error> {
        let emitter = self.emitter()?;
        let entry = emitter
            .channels
            .get(C::NAME)
            .ok_or_else(|| Error::not_found(format!("channel `{}` is not registered", C::NAME)))?;
        let topic = entry
            .topic_of(params)
            .ok_or_else(|| Error::internal(format!("`{}` params of another type", C::NAME)))?;
        let data = Payload::from_value(message).map_err(Error::internal)?;
        let history = entry.history();
        emitter.add(|e| e.publish.push((topic, data, history)));
        Ok(())
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
