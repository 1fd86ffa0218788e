//! Server settings.

use std::time::Duration;

/// Settings of a node. Every field has a default that runs; see
/// `docs/security.md` for what each limit defends against.
///
/// ```
/// use mizan_server::ServerConfig;
/// let config = ServerConfig { base_path: "/rt".into(), ..ServerConfig::default() };
/// assert_eq!(config.max_frame_bytes, 64 * 1024);
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the protocol's endpoints are mounted (default `/api/mizan`).
    pub base_path: String,
    /// Refuse to start with an insecure setup (a development JWT secret)
    /// instead of warning (default false).
    pub production: bool,
    /// Which `Origin`s may open a WebSocket (default: same host only).
    pub origins: OriginPolicy,
    /// The largest frame (and HTTP body) accepted, in bytes; a larger
    /// WebSocket frame closes the socket with 1009 (default 64 KiB).
    pub max_frame_bytes: usize,
    /// The deepest nesting of arrays and objects a frame may have; deeper
    /// frames are answered `limit` (default 32).
    pub max_json_depth: usize,
    /// Frames a connection may have waiting to be written before it is
    /// closed as too slow with 4008 (default 1024).
    pub outbound_queue_frames: usize,
    /// `send`s one socket may have queued for one topic before further ones
    /// are refused with `limit` (default 256).
    pub pending_sends_per_topic: usize,
    /// Topics one socket may have joined (default 100).
    pub max_subscriptions_per_connection: usize,
    /// Context watches one socket may hold (default 100).
    pub max_watches_per_connection: usize,
    /// Sockets this node serves at once; more are refused with 429
    /// (default 10,000).
    pub max_connections: usize,
    /// Sockets one user may have open on this node (default 100).
    pub max_connections_per_user: usize,
    /// Frames per second one socket may send, on average; past that (and
    /// the burst) requests are answered `limit` (default 200).
    pub messages_per_second: f64,
    /// Frames one socket may send in a burst above the rate (default 500).
    pub message_burst: f64,
    /// How long a handler may run before the request is answered
    /// `internal` ("timed out") (default 30 s).
    pub handler_timeout: Duration,
    /// How long a socket whose token expired has to send an `auth` frame
    /// before it is closed with 4001 (default 30 s).
    pub token_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            base_path: "/api/mizan".to_owned(),
            production: false,
            origins: OriginPolicy::SameHost,
            max_frame_bytes: 64 * 1024,
            max_json_depth: 32,
            outbound_queue_frames: 1024,
            pending_sends_per_topic: 256,
            max_subscriptions_per_connection: 100,
            max_watches_per_connection: 100,
            max_connections: 10_000,
            max_connections_per_user: 100,
            messages_per_second: 200.0,
            message_burst: 500.0,
            handler_timeout: Duration::from_secs(30),
            token_grace: Duration::from_secs(30),
        }
    }
}

/// Which browser origins may open a WebSocket (cross-site WebSocket
/// hijacking defence). Requests without an `Origin` header (non-browser
/// clients) are always allowed: the check protects browsers' ambient
/// credentials (cookies), which other clients do not send by accident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPolicy {
    /// The origin's host (and port) must be the request's `Host`.
    SameHost,
    /// The origin must be one of these, exactly (`https://app.example.com`).
    AllowList(Vec<String>),
    /// Any origin (only for development, or when another layer checks).
    Any,
}

impl OriginPolicy {
    /// Whether a request with `origin` for `host` may upgrade.
    ///
    /// ```
    /// use mizan_server::OriginPolicy;
    /// assert!(OriginPolicy::SameHost.allows(Some("http://127.0.0.1:3000"), Some("127.0.0.1:3000")));
    /// assert!(!OriginPolicy::SameHost.allows(Some("https://evil.example"), Some("127.0.0.1:3000")));
    /// assert!(OriginPolicy::SameHost.allows(None, Some("127.0.0.1:3000")));
    /// ```
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        match self {
            Self::Any => true,
            Self::AllowList(list) => list.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin)),
            Self::SameHost => {
                let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
                host.is_some_and(|host| origin_host.eq_ignore_ascii_case(host))
            }
        }
    }
}
