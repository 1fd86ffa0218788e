//! Opening connections to Redis, and bounding every wait on it.

use super::RedisBrokerError;
use ::redis::io::tcp::{TcpSettings, socket2};
use ::redis::{Client, IntoConnectionInfo};
use std::time::Duration;
use tokio::sync::watch;

/// A client for `url` whose connections use [`tcp_settings`].
pub(super) fn client(url: &str) -> Result<Client, RedisBrokerError> {
    let info = url
        .into_connection_info()
        .map_err(|e| RedisBrokerError::Url(e.to_string()))?
        .set_tcp_settings(tcp_settings());
    Client::open(info).map_err(|e| RedisBrokerError::Url(e.to_string()))
}

/// Both connections: events leave at once (no Nagle delay), and TCP
/// keepalive finds a peer that vanished while the connection was idle.
fn tcp_settings() -> TcpSettings {
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(30))
        .with_interval(Duration::from_secs(10));
    TcpSettings::default().set_nodelay(true).set_keepalive(keepalive)
}

/// Waits for `delay`, or returns `false` at once if the broker stopped.
pub(super) async fn pause(delay: Duration, stop: &mut watch::Receiver<()>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        _ = stop.changed() => false,
    }
}

/// Why a connection attempt or a command failed.
#[derive(Debug)]
pub(super) enum Failure {
    Redis(::redis::RedisError),
    Timeout(Duration),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Redis(e) => e.fmt(f),
            Self::Timeout(limit) => write!(f, "no answer within {limit:?}"),
        }
    }
}

impl From<Failure> for RedisBrokerError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Redis(e) => Self::Connect(e.to_string()),
            Failure::Timeout(limit) => Self::Timeout(limit),
        }
    }
}

/// Runs `fut` within `limit`; a timeout is a failure like any other.
pub(super) async fn within<T>(
    limit: Duration,
    fut: impl Future<Output = ::redis::RedisResult<T>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Failure::Redis(e)),
        Err(_) => Err(Failure::Timeout(limit)),
    }
}
