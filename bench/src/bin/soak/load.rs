//! What the load's clients share, and how a long-lived client runs: set up
//! its socket, run until the end, reconnect (at most once a second) if the
//! socket fails meanwhile.

use crate::stats::{Count, Stats};
use crate::ws::Ws;
use futures_util::StreamExt;
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

pub(crate) struct Shared {
    pub(crate) url: String,
    pub(crate) stats: Stats,
    /// When senders stop.
    pub(crate) end: Instant,
    /// When readers stop: `end` plus the drain.
    pub(crate) read_until: Instant,
    /// Per watched user (index `user_id - 1`): when the mutation whose push
    /// is awaited started (ns on `now_ns`), 0 when none is.
    pub(crate) pending: Vec<AtomicU64>,
    /// Per chat room: messages sent so far (the next sequence number).
    pub(crate) chat_sent: Vec<AtomicU64>,
}

impl Shared {
    pub(crate) fn users(&self) -> u64 {
        self.pending.len() as u64
    }
}

/// A long-lived socket of the load.
pub(crate) trait Client: Send + 'static {
    fn name(&self) -> String;
    /// Connects and sets up (subscribes, watches).
    fn setup(&mut self, url: &str) -> impl Future<Output = anyhow::Result<Ws>> + Send;
    /// Runs until `shared.read_until` (`Ok`) or until the socket fails.
    fn run(&mut self, ws: Ws, shared: &Shared) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Sets up every client, `parallel` at a time.
pub(crate) async fn connect_all<C: Client>(
    clients: Vec<C>,
    url: &str,
    parallel: usize,
) -> anyhow::Result<Vec<(C, Ws)>> {
    let results: Vec<(C, anyhow::Result<Ws>)> = futures_util::stream::iter(clients)
        .map(|mut client| async move {
            let ws = client.setup(url).await;
            (client, ws)
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    results
        .into_iter()
        .map(|(client, ws)| {
            let name = client.name();
            ws.map(|ws| (client, ws))
                .map_err(|e| e.context(format!("setting up {name}")))
        })
        .collect()
}

/// Runs `client` on `ws`; after a failure, reconnects once a second until
/// the load's end.
pub(crate) async fn supervise<C: Client>(mut client: C, mut ws: Ws, shared: std::sync::Arc<Shared>) {
    loop {
        match client.run(ws, &shared).await {
            Ok(()) => return,
            Err(e) => shared
                .stats
                .note(Count::Disconnects, &format!("{}: {e:#}", client.name())),
        }
        loop {
            if Instant::now() + Duration::from_secs(1) >= shared.end {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            match client.setup(&shared.url).await {
                Ok(new) => {
                    ws = new;
                    break;
                }
                Err(e) => shared
                    .stats
                    .note(Count::ConnectFailures, &format!("{}: {e:#}", client.name())),
            }
        }
    }
}
