//! A node: the state every connection and request shares, and the
//! operations both transports use.
//!
//! - `mod.rs`: [`Node`], building it, request contexts, metrics rendering.
//! - `call.rs`: the call pipeline (lookup, access, handler, effects) and
//!   bundles, with panics and timeouts contained.
//! - `publish.rs`: local delivery and the broker, for topics and contexts;
//!   watching and joining.
//! - `cached.rs`: bundles through the bundle cache, checked against the
//!   context's stream.
//! - `in_flight.rs`: counting requests in progress, for draining.
//! - `inbox.rs`: other nodes' events, delivered here.
//! - `view.rs`: running a view-path function.
//! - `repair.rs`: a context's stream after an entry the store did not take.
//! - `mirror.rs`: beside a stream store: listening, filling the mirrors,
//!   the events heard.

mod cached;
mod call;
mod in_flight;
mod inbox;
mod mirror;
mod publish;
mod repair;
mod view;

pub(crate) use in_flight::InFlight;
pub(crate) use publish::Sent;

use crate::auth::Authenticator;
use crate::broker::Broker;
use crate::client_addr::ClientAddresses;
use crate::config::ServerConfig;
use crate::eager::Eager;
use crate::hub::{ConnId, Hub};
use crate::limits::{Connections, NodeLimits};
use crate::metrics::{Gauges, Metrics};
use crate::outbox::Outbox;
use crate::watchers::Watchers;
use mizan_channels::{AppState, Cx, Registry, User};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One node: its registry, hub, broker and settings.
pub(crate) struct Node {
    pub(crate) id: Arc<str>,
    pub(crate) registry: Registry,
    pub(crate) hub: Hub,
    pub(crate) watchers: Watchers,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) auth: Arc<dyn Authenticator>,
    /// The streams, when the broker keeps them (section 9), or this
    /// node's mirrors of the store's.
    pub(crate) streams: Option<Arc<crate::streams::Streams>>,
    /// The stream store shared with nodes in other processes, if any.
    pub(crate) store: Option<Arc<dyn crate::broker::store::StreamStore>>,
    /// With a store: the holds on each subject this node listens to.
    holds: dashmap::DashMap<crate::broker::Subject, usize>,
    /// Who is subscribed to each presence topic (PROTOCOL.md section 10).
    pub(crate) presence: crate::presence::Presence,
    /// The bundle cache (section 12), when configured and possible.
    pub(crate) cache: Option<crate::cache::BundleCache>,
    /// The view-path functions, set once when the node is built.
    pub(crate) views: std::sync::OnceLock<Vec<crate::view::Mounted>>,
    /// With a store: one fill at a time per mirror.
    fills: dashmap::DashMap<crate::broker::Subject, Arc<tokio::sync::Mutex<()>>>,
    /// Whether the insecure-setup banner was shown (once, when the node is
    /// first routed: building a node to print its manifest is not running).
    pub(crate) insecure_warned: std::sync::atomic::AtomicBool,
    pub(crate) connections: Arc<Connections>,
    pub(crate) metrics: Arc<Metrics>,
    /// Every open socket's outbox, for draining at shutdown.
    pub(crate) sockets: dashmap::DashMap<ConnId, Outbox>,
    /// Set when shutdown begins: upgrades are refused, `/readyz` fails.
    pub(crate) draining: std::sync::atomic::AtomicBool,
    /// Requests in progress (see [`InFlight`]).
    in_flight: AtomicU64,
    /// The last handler run ended.
    idle: tokio::sync::Notify,
    /// Rates, budgets and connection ceilings shared by every socket.
    pub(crate) limits: NodeLimits,
    /// How a request's client address is found.
    pub(crate) client_addresses: ClientAddresses,
    /// Where request work runs (see `eager.rs`).
    pub(crate) eager: Eager,
    pub(crate) config: ServerConfig,
    /// The manifest's JSON text, built once.
    pub(crate) manifest: String,
    state: AppState,
    next_conn: AtomicU64,
}

impl Node {
    /// Builds the node and attaches it to its broker; an error names a
    /// setting that cannot be used.
    pub(crate) fn start(
        registry: Registry,
        broker: Arc<dyn Broker>,
        auth: Arc<dyn Authenticator>,
        config: ServerConfig,
        state: AppState,
    ) -> Result<Arc<Self>, String> {
        let client_addresses = ClientAddresses::new(&config.trusted_proxies, &config.client_address_header)?;
        let metrics: Arc<Metrics> = Arc::default();
        let store = broker.store();
        let presence = broker.presence();
        let streams = match store {
            Some(_) => Some(Arc::new(crate::streams::Streams::mirrors())),
            None => broker.streams(),
        };
        let cache = cached::build(&config, &registry, &*broker, streams.is_some())?;
        let node = Arc::new(Self {
            manifest: registry.manifest().to_json(),
            id: random_id().into(),
            registry,
            hub: Hub::default(),
            watchers: Watchers::default(),
            broker,
            streams,
            store,
            holds: dashmap::DashMap::new(),
            fills: dashmap::DashMap::new(),
            presence: crate::presence::Presence::new(presence),
            cache,
            views: std::sync::OnceLock::new(),
            auth,
            insecure_warned: std::sync::atomic::AtomicBool::new(false),
            connections: Arc::default(),
            eager: Eager::new(),
            metrics,
            sockets: dashmap::DashMap::new(),
            draining: std::sync::atomic::AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            idle: tokio::sync::Notify::new(),
            limits: NodeLimits::new(&config),
            client_addresses,
            config,
            state,
            next_conn: AtomicU64::new(1),
        });
        let inbox = Arc::new(inbox::NodeInbox::new(&node));
        node.broker.attach(Arc::clone(&node.id), inbox);
        Ok(node)
    }

    /// A fresh connection id on this node.
    pub(crate) fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// A request context for `user` on this node.
    pub(crate) fn cx(&self, user: Option<Arc<User>>) -> Cx {
        Cx::new(Arc::clone(&self.id))
            .with_user(user)
            .with_state(self.state.clone())
    }
}

impl Node {
    /// The metrics, with gauges read now.
    pub(crate) fn render_metrics(&self) -> String {
        self.metrics.render(&Gauges {
            connections: self.connections.total(),
            topics: self.hub.topic_count(),
            watchers: self.watchers.count(),
            draining: self.draining.load(Ordering::Acquire),
            broker: self.broker.stats(),
            cache: self.cache.as_ref().map(crate::cache::BundleCache::counts),
        })
    }
}

/// A random 16-hex-digit id.
fn random_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}
