//! Server settings: defaults that run, from a TOML file and `MIZAN_*`
//! environment variables.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// Settings of a node. Every field has a default that runs; see
/// `docs/operations.md` for each one and `docs/security.md` for what each
/// limit defends against. Durations are written `"30s"`, `"250ms"`, `"2m"`.
///
/// ```
/// use mizan_server::ServerConfig;
/// let config = ServerConfig { base_path: "/rt".into(), ..ServerConfig::default() };
/// assert_eq!(config.max_frame_bytes, 64 * 1024);
/// let from_toml = ServerConfig::from_toml("max_frame_bytes = 1024\nhandler_timeout = \"5s\"").unwrap();
/// assert_eq!(from_toml.handler_timeout, std::time::Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    /// Bytes read from a socket at a time, and the read buffer every socket
    /// keeps (default 1 KiB). Most of an idle socket's memory is this
    /// buffer; a frame larger than it is still read whole (the buffer grows
    /// to fit it), in more reads.
    pub socket_read_buffer_bytes: usize,
    /// The deepest nesting of arrays and objects a frame may have; deeper
    /// frames are answered `limit` (default 32).
    pub max_json_depth: usize,
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
    /// Sockets this node serves at once; more are refused with 429
    /// (default 10,000).
    pub max_connections: usize,
    /// Sockets one user may have open on this node (default 100).
    pub max_connections_per_user: usize,
    /// New sockets per second the node accepts, on average; past that (and
    /// the burst) upgrades are refused with 429 (default 1,000).
    pub max_new_connections_per_second: f64,
    /// New sockets accepted in a burst above the rate (default 2,000).
    pub new_connection_burst: f64,
    /// Frames per second one socket may send, on average; past that (and
    /// the burst) requests are answered `limit` (default 200).
    pub messages_per_second: f64,
    /// Frames one socket may send in a burst above the rate (default 500).
    pub message_burst: f64,
    /// How long a handler may run before the request is answered
    /// `internal` ("timed out") (default 30 s).
    #[serde(with = "duration_text")]
    pub handler_timeout: Duration,
    /// How long a socket whose token expired has to send an `auth` frame
    /// before it is closed with 4001 (default 30 s).
    #[serde(with = "duration_text")]
    pub token_grace: Duration,
    /// How often the server pings each socket (default 25 s).
    #[serde(with = "duration_text")]
    pub ping_interval: Duration,
    /// A socket from which nothing (not even a pong) arrived for this long
    /// is dropped (default 60 s).
    #[serde(with = "duration_text")]
    pub ping_timeout: Duration,
    /// At shutdown, how long in-flight calls may finish before sockets are
    /// closed (default 10 s).
    #[serde(with = "duration_text")]
    pub shutdown_grace: Duration,
    /// At shutdown, the window over which sockets are closed with 1012, in
    /// batches, so clients do not all reconnect at once (default 10 s).
    #[serde(with = "duration_text")]
    pub drain_window: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            base_path: "/api/mizan".to_owned(),
            production: false,
            origins: OriginPolicy::SameHost,
            max_frame_bytes: 64 * 1024,
            socket_read_buffer_bytes: 1024,
            max_json_depth: 32,
            outbound_queue_frames: 1024,
            outbound_queue_bytes: 1024 * 1024,
            pending_sends_per_topic: 256,
            max_subscriptions_per_connection: 100,
            max_watches_per_connection: 100,
            max_connections: 10_000,
            max_connections_per_user: 100,
            max_new_connections_per_second: 1_000.0,
            new_connection_burst: 2_000.0,
            messages_per_second: 200.0,
            message_burst: 500.0,
            handler_timeout: Duration::from_secs(30),
            token_grace: Duration::from_secs(30),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            drain_window: Duration::from_secs(10),
        }
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or names an unknown setting.
    #[error("bad settings{origin}: {message}")]
    Invalid {
        /// " in FILE" or " in MIZAN_* variables".
        origin: String,
        /// What is wrong.
        message: String,
    },
}

impl ServerConfig {
    /// Settings from TOML text (unset keys keep their defaults).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Invalid {
            origin: String::new(),
            message: e.to_string(),
        })
    }

    /// Defaults, overridden by `file` (TOML) if given, overridden by
    /// environment variables `MIZAN_<SETTING>` (e.g. `MIZAN_MAX_FRAME_BYTES=1024`,
    /// `MIZAN_HANDLER_TIMEOUT=5s`, `MIZAN_ORIGINS=any`).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, std::env::vars())
    }

    /// [`load`](Self::load) with the environment given.
    pub fn load_with(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut value = serde_json::to_value(Self::default()).expect("settings always encode");
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let overlay: Self = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
                origin: format!(" in {}", path.display()),
                message: e.to_string(),
            })?;
            value = serde_json::to_value(overlay).expect("settings always encode");
        }
        let fields = value.as_object_mut().expect("settings are an object");
        for (name, raw) in env {
            let Some(key) = name.strip_prefix("MIZAN_").map(str::to_ascii_lowercase) else {
                continue;
            };
            if let Some(slot) = fields.get_mut(&key) {
                // Numbers, booleans and lists as JSON; anything else as text.
                *slot = serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw));
            }
        }
        serde_json::from_value(value).map_err(|e| ConfigError::Invalid {
            origin: " in MIZAN_* variables".to_owned(),
            message: e.to_string(),
        })
    }
}

/// Which browser origins may open a WebSocket (cross-site WebSocket
/// hijacking defence). Requests without an `Origin` header (non-browser
/// clients) are always allowed: the check protects browsers' ambient
/// credentials (cookies), which other clients do not send by accident.
///
/// In settings: `"same_host"`, `"any"`, or a list of origins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OriginPolicy {
    /// `"same_host"` or `"any"`.
    Named(NamedOrigins),
    /// The origin must be one of these, exactly (`https://app.example.com`).
    AllowList(Vec<String>),
}

/// The named origin policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamedOrigins {
    /// The origin's host (and port) must be the request's `Host`.
    SameHost,
    /// Any origin (only for development, or when another layer checks).
    Any,
}

#[allow(non_upper_case_globals)]
impl OriginPolicy {
    /// The origin's host (and port) must be the request's `Host` (default).
    pub const SameHost: Self = Self::Named(NamedOrigins::SameHost);
    /// Any origin.
    pub const Any: Self = Self::Named(NamedOrigins::Any);

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
            Self::Named(NamedOrigins::Any) => true,
            Self::AllowList(list) => list.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin)),
            Self::Named(NamedOrigins::SameHost) => {
                let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
                host.is_some_and(|host| origin_host.eq_ignore_ascii_case(host))
            }
        }
    }
}

/// Durations as text: `"250ms"`, `"30s"`, `"2m"`, `"1h"`, or a number of seconds.
mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        match d.subsec_millis() {
            0 => s.serialize_str(&format!("{}s", d.as_secs())),
            _ => s.serialize_str(&format!("{}ms", d.as_millis())),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(f64),
            Text(String),
        }
        let seconds = match Raw::deserialize(d)? {
            Raw::Seconds(s) => s,
            Raw::Text(text) => parse(&text).map_err(serde::de::Error::custom)?,
        };
        Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
    }

    fn parse(text: &str) -> Result<f64, String> {
        let text = text.trim();
        let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let n: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a duration like \"30s\""))?;
        let scale = match unit {
            "ms" => 0.001,
            "" | "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("unknown unit in `{text}`: use ms, s, m or h")),
        };
        Ok(n * scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("mizan-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("mizan.toml");
        std::fs::write(
            &file,
            "max_frame_bytes = 2048\nping_interval = \"250ms\"\norigins = [\"https://a.example\"]\n",
        )
        .unwrap();
        let env = [
            ("MIZAN_MAX_FRAME_BYTES".to_owned(), "4096".to_owned()),
            ("MIZAN_HANDLER_TIMEOUT".to_owned(), "2m".to_owned()),
            ("MIZAN_PRODUCTION".to_owned(), "true".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let c = ServerConfig::load_with(Some(&file), env).unwrap();
        assert_eq!(c.max_frame_bytes, 4096);
        assert_eq!(c.ping_interval, Duration::from_millis(250));
        assert_eq!(c.handler_timeout, Duration::from_secs(120));
        assert!(c.production);
        assert_eq!(c.origins, OriginPolicy::AllowList(vec!["https://a.example".into()]));
        assert_eq!(c.max_json_depth, 32);
        let any = ServerConfig::load_with(None, [("MIZAN_ORIGINS".to_owned(), "any".to_owned())]).unwrap();
        assert_eq!(any.origins, OriginPolicy::Any);
        assert!(ServerConfig::from_toml("max_frame_bytez = 1").is_err());
        assert!(ServerConfig::load_with(None, [("MIZAN_PING_TIMEOUT".to_owned(), "soon".to_owned())]).is_err());
    }
}
