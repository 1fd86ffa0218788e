//! Server settings: every knob a node has, with defaults that run.
//!
//! - `mod.rs`: [`ServerConfig`], its defaults, and the small value types of
//!   its fields ([`Endpoint`], [`ManifestAccess`]).
//! - `origins.rs`: [`OriginPolicy`], which browser origins may connect.
//! - `load.rs`: loading from TOML and `MIZAN_*` environment variables.
//! - `duration.rs`: durations written as text (`"30s"`).
//! - `api_key.rs`: [`ApiKey`], the server API's key.

mod api_key;
mod cache;
mod duration;
mod load;
mod origins;

pub use api_key::ApiKey;
pub use cache::{BundleCacheBackend, CacheSecret};
pub use load::ConfigError;
pub use origins::{NamedOrigins, OriginPolicy};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// Settings of a node. Every field has a default that runs; see
/// `docs/operations.md` for each one and `docs/security.md` for what each
/// limit defends against. Durations are written `"30s"`, `"250ms"`, `"2m"`.
///
/// The struct grows with every release (`#[non_exhaustive]`): start from
/// [`ServerConfig::default`] and set the fields you need.
///
/// ```
/// use mizan_server::ServerConfig;
/// let mut config = ServerConfig::default();
/// config.base_path = "/rt".into();
/// assert_eq!(config.max_frame_bytes, 64 * 1024);
/// let from_toml = ServerConfig::from_toml("max_frame_bytes = 1024\nhandler_timeout = \"5s\"").unwrap();
/// assert_eq!(from_toml.handler_timeout, std::time::Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Where the protocol's endpoints are mounted (default `/api/mizan`).
    pub base_path: String,
    /// Refuse to start with an insecure setup (a development JWT secret,
    /// an `api_key` shorter than 16 characters) instead of warning
    /// (default false).
    pub production: bool,
    /// Which `Origin`s may open a WebSocket or make an HTTP `call` or
    /// `fetch` (default: same host only).
    pub origins: OriginPolicy,

    // --- Endpoints -------------------------------------------------------
    /// Where `router()` mounts the Prometheus metrics, or `"off"` (default
    /// `/metrics`). Serve them on an internal listener instead with
    /// [`Mizan::metrics_router`](crate::Mizan::metrics_router).
    pub metrics_path: Endpoint,
    /// Where `router()` mounts the liveness check, or `"off"` (default
    /// `/healthz`).
    pub health_path: Endpoint,
    /// Where `router()` mounts the readiness check, or `"off"` (default
    /// `/readyz`).
    pub ready_path: Endpoint,
    /// Who may read `GET {base}/manifest` (default `public`).
    pub manifest: ManifestAccess,
    /// The key other processes present in `X-Mizan-Api-Key` to publish and
    /// invalidate over HTTP (`POST {base}/server/publish`,
    /// `POST {base}/server/invalidate`; PROTOCOL.md section 11). Without
    /// one (default), or with `""`, those endpoints answer 404.
    #[serde(deserialize_with = "api_key::optional")]
    pub api_key: Option<ApiKey>,

    // --- Frames and bodies -----------------------------------------------
    /// The largest frame (and HTTP body) accepted, in bytes; a larger
    /// WebSocket frame closes the socket with 1009 (default 64 KiB).
    pub max_frame_bytes: usize,
    /// Bytes read from a socket at a time, and the read buffer every socket
    /// keeps (default 1 KiB). Most of an idle socket's memory is this
    /// buffer; a frame larger than it is still read whole (the buffer grows
    /// to fit it), in more reads.
    pub socket_read_buffer_bytes: usize,
    /// The deepest nesting of arrays and objects a frame or HTTP body may
    /// have; deeper ones are answered `limit` (default 32).
    pub max_json_depth: usize,

    // --- What a socket may hold --------------------------------------------
    /// Frames a connection may have waiting to be written before it is
    /// closed as too slow with 4008 (default 1024).
    pub outbound_queue_frames: usize,
    /// Bytes a connection may have waiting to be written before it is
    /// closed with 4008 (default 1 MiB).
    pub outbound_queue_bytes: usize,
    /// `send`s one socket may have queued for one topic before further ones
    /// are refused with `limit` (default 256).
    pub pending_sends_per_topic: usize,
    /// Topics one socket may have joined (default 100).
    pub max_subscriptions_per_connection: usize,
    /// Context watches one socket may hold (default 100).
    pub max_watches_per_connection: usize,
    /// Subscriptions all sockets of this node may hold together; past it
    /// subscribes are refused with `limit` (default 100,000).
    pub max_subscriptions: usize,
    /// Watches all sockets of this node may hold together; past it watches
    /// are refused with `limit` (default 100,000).
    pub max_watches: usize,
    /// The longest topic (`"<channel>:<group>"`) a subscribe may join, in
    /// bytes; longer groups are refused with `invalid_args` (default 256).
    pub max_topic_bytes: usize,
    /// The largest params object a subscription or watch may keep, in bytes
    /// of JSON; larger ones are refused with `invalid_args` (default 1 KiB).
    pub max_params_bytes: usize,
    /// How many of each context's latest entries a node keeps for
    /// re-watches with `since` (PROTOCOL.md section 9; default 10,000):
    /// past them, or past `context_history_age`, a re-watch computes its
    /// bundle.
    pub context_history: usize,

    // --- Connections ------------------------------------------------------
    /// Sockets this node serves at once; more are refused with 429
    /// (default 10,000).
    pub max_connections: usize,
    /// Sockets one user may have open on this node (default 100).
    pub max_connections_per_user: usize,
    /// Sockets one client address may have open on this node (default 1,000).
    pub max_connections_per_address: usize,
    /// The share of `max_connections` sockets without a user may take
    /// (default 0.8). Past it, an anonymous socket is still admitted while
    /// the node has room, but on probation: it is closed with 1008 unless
    /// an `auth` frame signs it in within `anonymous_probation`.
    pub anonymous_connection_share: f64,
    /// How long an anonymous socket admitted on probation has to sign in
    /// (default 10 s).
    #[serde(with = "duration")]
    pub anonymous_probation: Duration,
    /// New sockets per second the node accepts, on average; past that (and
    /// the burst) upgrades are refused with 429 (default 1,000).
    pub max_new_connections_per_second: f64,
    /// New sockets accepted in a burst above the rate (default 2,000).
    pub new_connection_burst: f64,
    /// New sockets per second one client address may open (default 20).
    pub new_connections_per_address_per_second: f64,
    /// New sockets one client address may open in a burst (default 100).
    pub new_connection_burst_per_address: f64,
    /// Peers whose forwarded-for header is believed (reverse proxies, load
    /// balancers): addresses or CIDR networks (`"10.0.0.0/8"`). Default
    /// none: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// The header a trusted proxy names the client in; the client is the
    /// rightmost address in it that is not itself a trusted proxy (default
    /// `x-forwarded-for`).
    pub client_address_header: String,

    // --- HTTP before the upgrade -------------------------------------------
    /// How long a connection may take to send a request's headers,
    /// counted from when it opened or its previous response was sent, so
    /// it is also how long an idle keep-alive connection stays open
    /// (default 10 s).
    #[serde(with = "duration")]
    pub http_header_timeout: Duration,
    /// How long a request body may take to arrive (default 10 s).
    #[serde(with = "duration")]
    pub http_body_timeout: Duration,
    /// TCP connections accepted and not (yet) upgraded to a WebSocket that
    /// the node holds at once; past it the listener accepts no more until
    /// one ends (they wait in the kernel's backlog) (default 1,024).
    pub max_pending_connections: usize,
    /// The same, per client TCP address; past it a new connection is
    /// answered 429 and closed at once (default 64; trusted proxies are
    /// exempt).
    pub max_pending_connections_per_address: usize,
    /// HTTP `call`s and `fetch`es per second, per client address and per
    /// user, on average; past that (and the burst) 429 (default 200).
    pub http_requests_per_second: f64,
    /// HTTP requests in a burst above the rate (default 500).
    pub http_request_burst: f64,

    // --- Frames per socket ------------------------------------------------
    /// Frames per second one socket may send, on average; past that (and
    /// the burst) requests are answered `limit` (default 200).
    pub messages_per_second: f64,
    /// Frames one socket may send in a burst above the rate (default 500).
    pub message_burst: f64,
    /// A socket whose frames keep being refused by its rate limit for this
    /// long is closed with 4029 (default 10 s).
    #[serde(with = "duration")]
    pub rate_limit_close_after: Duration,

    // --- Tokens -----------------------------------------------------------
    /// `auth` frames per second one socket may send (default 1).
    pub auth_frames_per_second: f64,
    /// `auth` frames one socket may send in a burst (default 5).
    pub auth_frame_burst: f64,
    /// Token verifications per second one client address may cause, on
    /// upgrades, `auth` frames and HTTP requests together (default 20).
    pub token_verifications_per_address_per_second: f64,
    /// Token verifications one address may cause in a burst (default 50).
    pub token_verification_burst_per_address: f64,

    // --- Time ------------------------------------------------------------
    /// How long a handler may run before the request is answered
    /// `internal` ("timed out") (default 30 s).
    #[serde(with = "duration")]
    pub handler_timeout: Duration,
    /// How often each presence topic's joins and leaves are sent, as one
    /// `presence_diff` (PROTOCOL.md section 10; default 100 ms).
    #[serde(with = "duration")]
    pub presence_interval: Duration,
    /// Bytes of bundles each node keeps in memory in its bundle cache
    /// (PROTOCOL.md section 12, `docs/caching.md`; default 0: no cache).
    pub bundle_cache_bytes: u64,
    /// Where cached bundles are also kept: `"memory"` (the default: each
    /// node's own) or `"redis"` (shared by the nodes of the Redis broker).
    pub bundle_cache_backend: BundleCacheBackend,
    /// How long a cached bundle is kept at most, in memory and in Redis
    /// (default 10 min).
    #[serde(with = "duration")]
    pub bundle_cache_ttl: Duration,
    /// The secret of the bundle cache's keys. Unset: a random one per
    /// process for the memory backend; for the Redis backend, a development
    /// default, warned about loudly and refused in production.
    #[serde(deserialize_with = "api_key::optional")]
    pub cache_secret: Option<CacheSecret>,
    /// `Cache-Control` of HTTP fetches of a context, by context name, e.g.
    /// `{"posts": "public, max-age=30"}` (default: none, so
    /// `no-cache`). A per-user context's is always `private, no-store`; naming
    /// one here is refused.
    pub cache_control: std::collections::BTreeMap<String, String>,
    /// How soon the members of a node that stopped without cleaning up
    /// (killed, cut off) leave every other node's presence (PROTOCOL.md
    /// section 10; default 30 s). Nodes refresh their members in the
    /// broker every quarter of it (`docs/scaling.md`).
    #[serde(with = "duration")]
    pub presence_ttl: Duration,
    /// How long a node keeps each context's entries for re-watches with
    /// `since` (PROTOCOL.md section 9; default 10 min).
    #[serde(with = "duration")]
    pub context_history_age: Duration,
    /// How long a socket whose token expired has to send an `auth` frame
    /// before it is closed with 4001 (default 30 s).
    #[serde(with = "duration")]
    pub token_grace: Duration,
    /// How often the server pings each socket (default 25 s).
    #[serde(with = "duration")]
    pub ping_interval: Duration,
    /// A socket from which nothing (not even a pong) arrived for this long
    /// is dropped (default 60 s).
    #[serde(with = "duration")]
    pub ping_timeout: Duration,
    /// At shutdown, how long in-flight calls may finish before sockets are
    /// closed (default 10 s).
    #[serde(with = "duration")]
    pub shutdown_grace: Duration,
    /// At shutdown, the window over which sockets are closed with 1012, in
    /// batches, so clients do not all reconnect at once (default 10 s).
    #[serde(with = "duration")]
    pub drain_window: Duration,
}

impl ServerConfig {
    /// What a node keeps of each context's stream.
    pub(crate) fn context_keep(&self) -> mizan_channels::History {
        mizan_channels::History::keep(self.context_history, self.context_history_age)
    }

    /// Why these settings are unsafe in production (an `api_key` shorter
    /// than 16 characters; a shared bundle cache without a strong
    /// `cache_secret`), if they are.
    pub(crate) fn insecure_reason(&self) -> Option<String> {
        self.api_key
            .as_ref()
            .and_then(ApiKey::weakness)
            .or_else(|| self.shared_cache_secret().and_then(|s| s.weakness()))
    }

    /// The secret of a shared (Redis) bundle cache: the configured one, or
    /// the development default. `None` when no cache is shared.
    pub(crate) fn shared_cache_secret(&self) -> Option<CacheSecret> {
        (self.bundle_cache_bytes > 0 && self.bundle_cache_backend == BundleCacheBackend::Redis).then(|| {
            self.cache_secret
                .clone()
                .unwrap_or_else(|| CacheSecret::new(cache::DEV_CACHE_SECRET))
        })
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            base_path: "/api/mizan".to_owned(),
            production: false,
            origins: OriginPolicy::SameHost,
            metrics_path: Endpoint::at("/metrics"),
            health_path: Endpoint::at("/healthz"),
            ready_path: Endpoint::at("/readyz"),
            manifest: ManifestAccess::Public,
            api_key: None,
            max_frame_bytes: 64 * 1024,
            socket_read_buffer_bytes: 1024,
            max_json_depth: 32,
            outbound_queue_frames: 1024,
            outbound_queue_bytes: 1024 * 1024,
            pending_sends_per_topic: 256,
            max_subscriptions_per_connection: 100,
            max_watches_per_connection: 100,
            max_subscriptions: 100_000,
            max_watches: 100_000,
            max_topic_bytes: 256,
            max_params_bytes: 1024,
            context_history: 10_000,
            max_connections: 10_000,
            max_connections_per_user: 100,
            max_connections_per_address: 1_000,
            anonymous_connection_share: 0.8,
            anonymous_probation: Duration::from_secs(10),
            max_new_connections_per_second: 1_000.0,
            new_connection_burst: 2_000.0,
            new_connections_per_address_per_second: 20.0,
            new_connection_burst_per_address: 100.0,
            trusted_proxies: Vec::new(),
            client_address_header: "x-forwarded-for".to_owned(),
            http_header_timeout: Duration::from_secs(10),
            http_body_timeout: Duration::from_secs(10),
            max_pending_connections: 1_024,
            max_pending_connections_per_address: 64,
            http_requests_per_second: 200.0,
            http_request_burst: 500.0,
            messages_per_second: 200.0,
            message_burst: 500.0,
            rate_limit_close_after: Duration::from_secs(10),
            auth_frames_per_second: 1.0,
            auth_frame_burst: 5.0,
            token_verifications_per_address_per_second: 20.0,
            token_verification_burst_per_address: 50.0,
            handler_timeout: Duration::from_secs(30),
            context_history_age: Duration::from_secs(600),
            presence_interval: Duration::from_millis(100),
            presence_ttl: Duration::from_secs(30),
            bundle_cache_bytes: 0,
            bundle_cache_backend: BundleCacheBackend::Memory,
            bundle_cache_ttl: Duration::from_secs(600),
            cache_secret: None,
            cache_control: std::collections::BTreeMap::new(),
            token_grace: Duration::from_secs(30),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            drain_window: Duration::from_secs(10),
        }
    }
}

impl ServerConfig {
    /// How many sockets without a user the node admits before new ones
    /// come on probation.
    pub(crate) fn anonymous_connections(&self) -> usize {
        let share = self.anonymous_connection_share.clamp(0.0, 1.0);
        (self.max_connections as f64 * share) as usize
    }
}

/// Where an operational endpoint is mounted: a path, or nowhere (`"off"`).
///
/// ```
/// use mizan_server::{Endpoint, ServerConfig};
/// let config = ServerConfig::from_toml("metrics_path = \"off\"\nready_path = \"/ready\"").unwrap();
/// assert_eq!(config.metrics_path, Endpoint::Off);
/// assert_eq!(config.ready_path.path(), Some("/ready"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Not mounted.
    Off,
    /// Mounted at this path (starting with `/`).
    At(String),
}

impl Endpoint {
    /// Mounted at `path`.
    pub fn at(path: impl Into<String>) -> Self {
        Self::At(path.into())
    }

    /// The path, when mounted.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Off => None,
            Self::At(path) => Some(path),
        }
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.path().unwrap_or("off"))
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "off" | "" => Ok(Self::Off),
            path if path.starts_with('/') => Ok(Self::At(text)),
            _ => Err(serde::de::Error::custom(format!(
                "`{text}` is not a path (starting with `/`) or \"off\""
            ))),
        }
    }
}

/// Who may read the manifest at `GET {base}/manifest`.
///
/// The manifest names every function, context and channel with their
/// types, access levels included: what a client generator needs, and a map
/// for an attacker. Generate clients from `--print-manifest` at build time
/// and turn it off (or restrict it) in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestAccess {
    /// Anyone (default).
    Public,
    /// Staff and superusers only (a bearer token on the request).
    Staff,
    /// Not served (404).
    Off,
}
