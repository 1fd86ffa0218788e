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

/// A connection for commands: to one Redis, or to a cluster (which routes
/// each command to the master of its slot and follows the cluster's
/// topology by itself). Clones share the connection.
#[derive(Clone)]
pub(super) enum Conn {
    Single(::redis::aio::MultiplexedConnection),
    Cluster(::redis::cluster_async::ClusterConnection),
}

impl ::redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a ::redis::Cmd) -> ::redis::RedisFuture<'a, ::redis::Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a ::redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> ::redis::RedisFuture<'a, Vec<::redis::Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// Where the broker connects: one Redis, or a cluster by its seed nodes.
#[derive(Clone)]
pub(super) enum Target {
    Single(Client),
    Cluster(Vec<::redis::ConnectionInfo>),
}

/// The seeds of a cluster (`host:port` or `redis://host:port`), with
/// [`tcp_settings`].
pub(super) fn cluster_seeds(seeds: &[String]) -> Result<Vec<::redis::ConnectionInfo>, RedisBrokerError> {
    if seeds.is_empty() {
        return Err(RedisBrokerError::Config("a Redis Cluster needs at least one seed node"));
    }
    seeds
        .iter()
        .map(|seed| {
            let seed = seed.trim();
            let url = if seed.contains("://") {
                seed.to_owned()
            } else {
                format!("redis://{seed}")
            };
            url.as_str()
                .into_connection_info()
                .map(|info| info.set_tcp_settings(tcp_settings()))
                .map_err(|e| RedisBrokerError::Url(format!("{seed}: {e}")))
        })
        .collect()
}

/// The seeds of a `redis+cluster://host:port,host:port` URL, or `None`
/// for any other URL.
pub(super) fn cluster_url(url: &str) -> Option<Vec<String>> {
    let rest = url.strip_prefix("redis+cluster://")?;
    let rest = rest.trim_end_matches('/');
    Some(
        rest.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// A cluster client: RESP3, the configured timeouts, and (for the
/// subscriber) where push messages go.
pub(super) fn cluster_client(
    seeds: &[::redis::ConnectionInfo],
    config: &super::RedisConfig,
    push: Option<impl ::redis::aio::AsyncPushSender>,
) -> Result<::redis::cluster::ClusterClient, Failure> {
    let mut builder = ::redis::cluster::ClusterClientBuilder::new(seeds.to_vec())
        .use_protocol(::redis::ProtocolVersion::RESP3)
        .connection_timeout(config.connect_timeout)
        .response_timeout(config.command_timeout)
        .tcp_settings(tcp_settings());
    if let Some(push) = push {
        builder = builder.push_sender(push);
    }
    builder.build().map_err(Failure::Redis)
}

/// Opens a command connection to `target`, within the configured timeouts.
pub(super) async fn open(target: &Target, config: &super::RedisConfig) -> Result<Conn, Failure> {
    let limit = config.connect_timeout + config.command_timeout;
    match target {
        Target::Single(client) => {
            let options = ::redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(config.connect_timeout))
                .set_response_timeout(Some(config.command_timeout));
            within(limit, client.get_multiplexed_async_connection_with_config(&options))
                .await
                .map(Conn::Single)
        }
        Target::Cluster(seeds) => {
            // Commands only: no push messages.
            let client = cluster_client(seeds, config, None::<fn(::redis::PushInfo) -> Result<(), ()>>)?;
            within(limit, client.get_async_connection()).await.map(Conn::Cluster)
        }
    }
}
