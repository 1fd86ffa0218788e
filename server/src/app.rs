//! Assembling a node: [`Mizan`] and its builder.

use crate::auth::{Authenticator, Jwt, NoAuthenticator};
use crate::broker::{Broker, MemoryBroker};
use crate::config::ServerConfig;
use crate::node::Node;
use mizan_channels::{AppState, Channel, Function, RegistryBuilder};
use std::sync::Arc;

/// Why a node could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The functions, contexts or channels do not fit together.
    #[error(transparent)]
    Registry(#[from] mizan_channels::BuildError),
    /// `production` is set and the setup is unsafe.
    #[error("refusing to start in production: {0}")]
    Insecure(String),
    /// A setting cannot be used (a `trusted_proxies` entry that is not an
    /// address, say).
    #[error("bad settings: {0}")]
    Config(String),
}

/// A built Mizan node. Cheap to clone; every clone is the same node.
///
/// ```
/// use mizan_server::Mizan;
/// use mizan_server::channels::{Cx, Error, Function, NoArgs};
///
/// let ping = Function::new("ping", |_cx: Cx, _: NoArgs| async { Ok::<_, Error>("pong") });
/// let app = Mizan::builder().function(ping).build().unwrap();
/// let router: axum::Router = app.router();
/// # drop(router);
/// ```
#[derive(Clone)]
pub struct Mizan {
    pub(crate) node: Arc<Node>,
}

impl std::fmt::Debug for Mizan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mizan")
            .field("node", &self.node.id)
            .field("connections", &self.connection_count())
            .finish_non_exhaustive()
    }
}

impl Mizan {
    /// Starts assembling a node.
    pub fn builder() -> MizanBuilder {
        MizanBuilder::default()
    }

    /// The router: the protocol's endpoints under the configured base path
    /// (`/ws`, `/call/{fn}`, `/fetch/{context}`, `/manifest`), and at the
    /// root the endpoints the settings mount: `/healthz`, `/readyz` and
    /// `/metrics` by default (`health_path`, `ready_path`, `metrics_path`;
    /// each may be moved or turned `"off"`). Nest or merge it into any axum
    /// app, and serve it with [`Mizan::serve`] (which records each
    /// request's TCP peer, for the limits kept per client address).
    ///
    /// An insecure authenticator (a development JWT secret) or a weak
    /// shared cache secret is announced here, loudly and once: this is
    /// where a node starts serving, while building one to print its
    /// manifest is not running it.
    pub fn router(&self) -> axum::Router {
        if !self
            .node
            .insecure_warned
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            if let Some(reason) = self.node.auth.insecure_reason() {
                warn_insecure(&reason);
            }
            if let Some(reason) = self.node.config.shared_cache_secret().and_then(|s| s.weakness()) {
                warn_weak_cache_secret(&reason);
            }
        }
        crate::http::router(Arc::clone(&self.node))
    }

    /// The Prometheus metrics alone, at `/metrics`: to serve on an
    /// internal listener, with `metrics_path = "off"` on the public one.
    ///
    /// ```no_run
    /// # async fn run(app: mizan_server::Mizan) -> std::io::Result<()> {
    /// let internal = tokio::net::TcpListener::bind("127.0.0.1:9100").await?;
    /// tokio::spawn(async move { axum::serve(internal, app.metrics_router()).await });
    /// # Ok(()) }
    /// ```
    pub fn metrics_router(&self) -> axum::Router {
        crate::http::metrics_router(Arc::clone(&self.node))
    }

    /// The schema manifest (protocol section 7), as served at
    /// `GET {base}/manifest`: for client generators, without a live server.
    pub fn manifest(&self) -> mizan_protocol::Manifest {
        self.node.registry.manifest()
    }

    /// A handle for publishing, invalidating and merging from server code
    /// (PROTOCOL.md section 11); clone it into any task.
    pub fn server_api(&self) -> crate::ServerApi {
        crate::ServerApi::new(Arc::clone(&self.node))
    }

    /// This node's id, as sent in `hello`.
    pub fn node_id(&self) -> &str {
        &self.node.id
    }

    /// How many topics have subscribers on this node.
    pub fn local_topic_count(&self) -> usize {
        self.node.hub.topic_count()
    }

    /// How many sockets this node serves now.
    pub fn connection_count(&self) -> usize {
        self.node.connections.total()
    }

    /// How many context watches sockets on this node hold.
    pub fn local_watch_count(&self) -> usize {
        self.node.watchers.count()
    }
}

/// Collects functions, channels, auth, broker and settings.
#[derive(Default)]
#[must_use]
pub struct MizanBuilder {
    registry: RegistryBuilder,
    views: Vec<crate::view::Mounted>,
    auth: Option<Arc<dyn Authenticator>>,
    broker: Option<Arc<dyn Broker>>,
    config: ServerConfig,
    state: AppState,
}

impl std::fmt::Debug for MizanBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MizanBuilder")
            .field("registry", &self.registry)
            .field("authenticator", &self.auth.is_some())
            .field("broker", &self.broker.is_some())
            .field("config", &self.config)
            .field("state", &self.state)
            .finish()
    }
}

impl MizanBuilder {
    /// Adds a server function (a [`Function`], or a function declared with
    /// `#[mizan::function]`).
    pub fn function(mut self, function: impl Into<Function>) -> Self {
        self.registry = self.registry.function(function);
        self
    }

    /// Adds several server functions.
    pub fn functions<F: Into<Function>>(mut self, functions: impl IntoIterator<Item = F>) -> Self {
        self.registry = self.registry.functions(functions);
        self
    }

    /// Adds a view-path function (a [`View`](crate::View), or one declared
    /// with `#[mizan::function(route = "...")]`), served at its route.
    pub fn view(mut self, view: impl Into<crate::View>) -> Self {
        let view = view.into();
        self.views.push(crate::view::Mounted::of(&view));
        self.registry = self.registry.function(view.decl);
        self
    }

    /// Adds several view-path functions.
    pub fn views<V: Into<crate::View>>(self, views: impl IntoIterator<Item = V>) -> Self {
        views.into_iter().fold(self, Self::view)
    }

    /// Hands `value` to every handler, as `cx.state::<T>()`. One value per
    /// type; a later one replaces an earlier one.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state = self.state.with(value);
        self
    }

    /// Adds a form: the functions `F.schema`, `F.validate` and `F.submit`
    /// (PROTOCOL.md section 13, `docs/forms.md`).
    pub fn form(mut self, form: mizan_channels::Form) -> Self {
        self.registry = self.registry.form(form);
        self
    }

    /// Adds a channel.
    #[track_caller]
    pub fn channel<C: Channel>(mut self, channel: C) -> Self {
        self.registry = self.registry.channel(channel);
        self
    }

    /// Adds a presence channel whose members carry info (a display name,
    /// say; see [`MemberInfo`](mizan_channels::MemberInfo)).
    #[track_caller]
    pub fn channel_with_member_info<C: mizan_channels::MemberInfo>(mut self, channel: C) -> Self {
        self.registry = self.registry.channel_with_member_info(channel);
        self
    }

    /// Verifies bearer tokens with `jwt` (the same as
    /// `.authenticator(jwt)`). Without an authenticator every credential is
    /// refused and every caller is anonymous.
    pub fn jwt(self, jwt: Jwt) -> Self {
        self.authenticator(jwt)
    }

    /// Identifies callers with `authenticator` (a session cookie, say).
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.auth = Some(Arc::new(authenticator));
        self
    }

    /// Fans events out to other nodes through `broker` (default: a
    /// [`MemoryBroker`] of its own, i.e. a single node).
    pub fn broker(mut self, broker: impl Broker) -> Self {
        self.broker = Some(Arc::new(broker));
        self
    }

    /// Replaces the settings.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Validates everything and starts the node. An insecure
    /// authenticator (a development JWT secret) is refused when
    /// `config.production` is set, and warned about loudly otherwise (when
    /// the node is first routed: [`Mizan::router`]).
    pub fn build(self) -> Result<Mizan, BuildError> {
        let registry = self.registry.build()?;
        let auth = self.auth.unwrap_or_else(|| Arc::new(NoAuthenticator));
        if let Some(reason) = auth.insecure_reason().or_else(|| self.config.insecure_reason())
            && self.config.production
        {
            return Err(BuildError::Insecure(reason));
        }
        crate::view::check_routes(&self.views, &self.config).map_err(BuildError::Config)?;
        let broker = self.broker.unwrap_or_else(|| Arc::new(MemoryBroker::new()));
        let node = Node::start(registry, broker, auth, self.config, self.state).map_err(BuildError::Config)?;
        let _ = node.views.set(self.views);
        Ok(Mizan { node })
    }
}

/// A shared bundle cache under a guessable secret: its keys in Redis tell
/// whose bundle each is to anyone who can compute them.
fn warn_weak_cache_secret(reason: &str) {
    let banner = format!(
        "\n!! MIZAN: THE SHARED BUNDLE CACHE HAS A WEAK SECRET: {reason}.\n\
         !! Whoever knows it and can reach the Redis can name any user's cached\n\
         !! bundle. Fine for development; `production` refuses to start like this."
    );
    tracing::warn!("{banner}");
    eprintln!("{banner}");
}

/// A development setup must be impossible to miss in the logs.
fn warn_insecure(reason: &str) {
    let banner = format!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !! MIZAN IS RUNNING WITH AN INSECURE SETUP: {reason}.\n\
         !! Anyone who knows it can sign in as any user. Fine for development;\n\
         !! set `production` (MIZAN_PRODUCTION=1) to refuse to start like this.\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    );
    tracing::warn!("{banner}");
    // Also on stderr: the warning must show even without a tracing subscriber.
    eprintln!("{banner}");
}
