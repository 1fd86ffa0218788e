//! The state every connection and request of a node shares, and the
//! operations both transports use.

use crate::auth::Authenticator;
use crate::broker::{Broker, Event, Inbox, Subject};
use crate::client_addr::ClientAddresses;
use crate::config::ServerConfig;
use crate::eager::{Eager, panic_text};
use crate::hub::{ConnId, Hub};
use crate::limits::{Connections, NodeLimits};
use crate::metrics::{Gauges, Metrics};
use crate::outbox::Outbox;
use crate::watchers::{Push, Watch, Watchers};
use axum::extract::ws::Utf8Bytes;
use futures_util::FutureExt;
use mizan_channels::{AppState, Cx, Error, Registry, User};
use mizan_protocol::{InvalidateEntry, MergeEntry, Params, Payload, ServerFrame};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// One node: its registry, hub, broker and settings.
pub(crate) struct Node {
    pub(crate) id: Arc<str>,
    pub(crate) registry: Registry,
    pub(crate) hub: Hub,
    pub(crate) watchers: Watchers,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) auth: Arc<dyn Authenticator>,
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
        let node = Arc::new(Self {
            manifest: registry.manifest().to_json(),
            id: random_id().into(),
            registry,
            hub: Hub::default(),
            watchers: Watchers::default(),
            broker,
            auth,
            connections: Arc::default(),
            eager: Eager::new(Arc::clone(&metrics)),
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
        let inbox = Arc::new(NodeInbox(Arc::downgrade(&node)));
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

    /// Runs function `name` (lookup, access check, args, handler with
    /// panics caught), then publishes what it affects to every matching
    /// watcher on every node.
    pub(crate) async fn call(&self, cx: Cx, name: &str, args: &Payload) -> Result<CallOutcome, Error> {
        let function = self
            .registry
            .function(name)
            .ok_or_else(|| Error::not_found(format!("unknown function `{}`", mizan_protocol::quote(name))))?;
        let caller = cx.user().map(|u| u.id.clone());
        let started = std::time::Instant::now();
        let result = self.guarded(name, function.call(cx, args)).await;
        self.metrics.call(name, started.elapsed());
        let result = result?;
        let (invalidate, merge) = match self.registry.effects(name) {
            Some(effects) if !effects.is_empty() => effects.entries(args, &result, caller.as_deref()),
            _ => (Vec::new(), Vec::new()),
        };
        for entry in &invalidate {
            self.publish_context(&entry.context, ServerFrame::Invalidate(entry.clone()), Push::Invalidate);
        }
        for entry in &merge {
            self.publish_context(&entry.context, ServerFrame::Merge(entry.clone()), Push::Merge);
        }
        Ok(CallOutcome {
            result,
            invalidate,
            merge,
        })
    }

    /// Computes the bundle of `context` for `params`, panics caught.
    pub(crate) async fn bundle(&self, cx: Cx, context: &str, params: &Params) -> Result<Payload, Error> {
        self.guarded(context, self.registry.bundle(cx, context, params)).await
    }

    /// Registers a pending watch (indexed by `params`, see
    /// [`crate::watchers::indexed`]), subscribing the node to the context at
    /// the broker when it is the first.
    pub(crate) fn watch(
        &self,
        context: &Arc<str>,
        key: (ConnId, &Arc<str>),
        params: Params,
        outbox: Outbox,
    ) -> Arc<Watch> {
        self.watchers.watch(context, key, params, outbox, || {
            self.broker.subscribe(&Subject::Context(Arc::clone(context)));
        })
    }

    /// Removes a watch, unsubscribing at the broker when it was the last.
    pub(crate) fn unwatch(&self, context: &Arc<str>, conn: ConnId, canonical_params: &Arc<str>) -> bool {
        self.watchers.unwatch(context, conn, canonical_params, || {
            self.broker.unsubscribe(&Subject::Context(Arc::clone(context)));
        })
    }

    /// Publishes an invalidate or merge push: encoded once, delivered to
    /// local watchers at once, and through the broker to other nodes.
    fn publish_context(&self, context: &str, push: ServerFrame, kind: Push) {
        let frame: Utf8Bytes = push.encode().into();
        let reached = self.watchers.deliver(context, push_scope(&push), &frame, kind);
        self.metrics.frames_out(&push, reached, frame.len());
        self.broker.publish(Event {
            origin: Arc::clone(&self.id),
            subject: Subject::Context(context.into()),
            frame: frame.into(),
        });
    }

    /// Adds a local subscriber to `topic`, subscribing the node at the
    /// broker when it is the first.
    pub(crate) fn join_topic(&self, topic: &Arc<str>, conn: ConnId, outbox: Outbox) {
        self.hub.join(topic, conn, outbox, || {
            self.broker.subscribe(&Subject::Topic(Arc::clone(topic)));
        });
    }

    /// Removes a local subscriber, unsubscribing the node at the broker
    /// when it was the last.
    pub(crate) fn leave_topic(&self, topic: &Arc<str>, conn: ConnId) {
        self.hub.leave(topic, conn, || {
            self.broker.unsubscribe(&Subject::Topic(Arc::clone(topic)));
        });
    }

    /// Publishes an encoded push to `topic`: delivered to local
    /// subscribers at once, and through the broker to other nodes.
    pub(crate) fn publish_topic(&self, topic: &Arc<str>, frame: Utf8Bytes) -> usize {
        let delivered = self.hub.deliver(topic, &frame);
        self.metrics.pushed_messages(delivered, frame.len());
        self.broker.publish(Event {
            origin: Arc::clone(&self.id),
            subject: Subject::Topic(Arc::clone(topic)),
            frame: frame.into(),
        });
        delivered
    }
}

/// A request in progress, from its start until its reply is queued; the
/// last one to end wakes [`Node::wait_idle`] (draining waits for them).
pub(crate) struct InFlight(Arc<Node>);

impl InFlight {
    /// Counts a request until the guard drops.
    pub(crate) fn start(node: &Arc<Node>) -> Self {
        node.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(node))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Node {
    /// Waits until no handler runs, or `limit` passes; true if idle.
    pub(crate) async fn wait_idle(&self, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return false;
            }
        }
    }

    /// The metrics, with gauges read now.
    pub(crate) fn render_metrics(&self) -> String {
        self.metrics.render(&Gauges {
            connections: self.connections.total(),
            topics: self.hub.topic_count(),
            watchers: self.watchers.count(),
            draining: self.draining.load(Ordering::Acquire),
            broker: self.broker.stats(),
        })
    }
}

/// A successful call: its result and what it affected.
pub(crate) struct CallOutcome {
    pub(crate) result: Payload,
    pub(crate) invalidate: Vec<InvalidateEntry>,
    pub(crate) merge: Vec<MergeEntry>,
}

/// The scope and audience of an invalidate or merge push.
fn push_scope(push: &ServerFrame) -> (Option<&Params>, Option<&str>) {
    match push {
        ServerFrame::Invalidate(e) => (e.params.as_ref(), e.user.as_deref()),
        ServerFrame::Merge(e) => (e.params.as_ref(), e.user.as_deref()),
        _ => (None, None),
    }
}

impl Node {
    /// Runs a handler's future: a panic becomes an `internal` error, a run
    /// longer than the configured timeout an `internal` "timed out", and
    /// internal errors are logged (their text never reaches the client).
    pub(crate) async fn guarded<T>(&self, what: &str, fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        let limit = self.config.handler_timeout;
        let result = match tokio::time::timeout(limit, AssertUnwindSafe(fut).catch_unwind()).await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => Err(Error::internal(format!("handler panicked: {}", panic_text(&*panic)))),
            Err(_) => Err(Error::timeout(limit)),
        };
        if let Err(e) = &result
            && e.code() == mizan_protocol::ErrorCode::Internal
        {
            tracing::error!(target: "mizan::handler", handler = what, error = %e, "handler failed");
        }
        result
    }
}

/// Receives other nodes' events; holds the node weakly so the broker does
/// not keep it alive.
struct NodeInbox(Weak<Node>);

impl Inbox for NodeInbox {
    fn deliver(&self, event: Event) {
        let Some(node) = self.0.upgrade() else { return };
        if event.origin == node.id {
            return;
        }
        let Ok(frame) = Utf8Bytes::try_from(event.frame) else {
            tracing::warn!(origin = %event.origin, "dropped a remote event that is not UTF-8");
            return;
        };
        match &event.subject {
            Subject::Topic(topic) => {
                let reached = node.hub.deliver(topic, &frame);
                node.metrics.pushed_messages(reached, frame.len());
            }
            Subject::Context(context) => match ServerFrame::decode(frame.as_bytes()) {
                Ok(push) => {
                    let kind = match push {
                        ServerFrame::Merge(_) => Push::Merge,
                        _ => Push::Invalidate,
                    };
                    let reached = node.watchers.deliver(context, push_scope(&push), &frame, kind);
                    node.metrics.frames_out(&push, reached, frame.len());
                }
                Err(e) => tracing::warn!(origin = %event.origin, error = %e, "dropped an undecodable remote push"),
            },
        }
    }

    fn resync(&self) {
        let Some(node) = self.0.upgrade() else { return };
        let reached = node.watchers.invalidate_all();
        tracing::info!(watchers = reached, "broker reconnected: told every watcher to refetch");
    }
}

/// A random 16-hex-digit id (std's per-process random hash keys, no extra
/// dependency).
fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}
