//! Assembling a node: [`Mizan`] and its builder.

use crate::auth::Jwt;
use crate::broker::{Broker, MemoryBroker};
use crate::config::ServerConfig;
use crate::node::Node;
use mizan_channels::{AppState, BuildError, Channel, Function, RegistryBuilder};
use std::sync::Arc;

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
    node: Arc<Node>,
}

impl Mizan {
    /// Starts assembling a node.
    pub fn builder() -> MizanBuilder {
        MizanBuilder::default()
    }

    /// The router: the protocol's endpoints under the configured base path,
    /// plus `/healthz`. Nest or merge it into any axum app.
    pub fn router(&self) -> axum::Router {
        crate::http::router(Arc::clone(&self.node))
    }

    /// This node's id, as sent in `hello`.
    pub fn node_id(&self) -> &str {
        &self.node.id
    }

    /// How many topics have subscribers on this node.
    pub fn local_topic_count(&self) -> usize {
        self.node.hub.topic_count()
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
    jwt: Option<Jwt>,
    broker: Option<Arc<dyn Broker>>,
    config: ServerConfig,
    state: AppState,
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

    /// Hands `value` to every handler, as `cx.state::<T>()`. One value per
    /// type; a later one replaces an earlier one.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state = self.state.with(value);
        self
    }

    /// Adds a channel.
    #[track_caller]
    pub fn channel<C: Channel>(mut self, channel: C) -> Self {
        self.registry = self.registry.channel(channel);
        self
    }

    /// Verifies bearer tokens with `jwt`. Without it, every token is refused
    /// and every caller is anonymous.
    pub fn jwt(mut self, jwt: Jwt) -> Self {
        self.jwt = Some(jwt);
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

    /// Validates everything and starts the node.
    pub fn build(self) -> Result<Mizan, BuildError> {
        let registry = self.registry.build()?;
        let broker = self.broker.unwrap_or_else(|| Arc::new(MemoryBroker::new()));
        Ok(Mizan {
            node: Node::start(registry, broker, self.jwt, self.config, self.state),
        })
    }
}
