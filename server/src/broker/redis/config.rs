//! The broker's settings and its startup errors.

use std::time::Duration;

/// Settings of a [`RedisBroker`](super::RedisBroker). Every field has a default that runs.
///
/// ```
/// use mizan_server::broker::RedisConfig;
/// let config = RedisConfig { prefix: "shop".into(), ..RedisConfig::default() };
/// assert_eq!(config.publish_buffer, 8192);
/// ```
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Namespace of this app's Redis channels (`{prefix}:t:{topic}`,
    /// `{prefix}:c:{context}`), so several apps can share one Redis.
    /// Every node of one app must use the same prefix (default `mizan`).
    pub prefix: String,
    /// Events waiting to be published, at most; when the queue is full
    /// (Redis is slow or unreachable) further events are dropped and
    /// counted (default 8192).
    pub publish_buffer: usize,
    /// Events sent in one pipeline, at most (default 512).
    pub publish_batch: usize,
    /// How long opening a connection may take (default 2 s).
    pub connect_timeout: Duration,
    /// How long Redis may take to answer a command or a pipeline
    /// (default 2 s); past it the connection counts as lost.
    pub command_timeout: Duration,
    /// The first reconnection delay (default 100 ms); each failed attempt
    /// doubles it, with jitter.
    pub backoff_min: Duration,
    /// The longest reconnection delay (default 2 s, so a restarted Redis is
    /// used again within about 2 s).
    pub backoff_max: Duration,
    /// How often an idle connection is checked with a `PING` (default 5 s).
    pub ping_interval: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            prefix: "mizan".to_owned(),
            publish_buffer: 8192,
            publish_batch: 512,
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            ping_interval: Duration::from_secs(5),
        }
    }
}

/// Why [`RedisBroker::connect`](super::RedisBroker::connect) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisBrokerError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    Url(String),
    /// A setting is out of range.
    #[error("invalid Redis broker setting: {0}")]
    Config(&'static str),
    /// Redis refused or failed the connection.
    #[error("could not connect to Redis: {0}")]
    Connect(String),
    /// Redis did not answer in time.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
}
