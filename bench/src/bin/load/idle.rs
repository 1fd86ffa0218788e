//! Idle capacity: many subscribed sockets doing nothing, and the server's
//! resident memory per socket.

use crate::conn::{self, Endpoint};
use crate::fanout::report_shared;
use crate::reader::{self, Shared};
use crate::report::{Outcome, Unit};
use mizan_bench::process::Server;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sockets opened at once.
const PARALLEL_CONNECTS: usize = 128;
/// How long the sockets sit idle before memory is read.
const SETTLE: Duration = Duration::from_secs(3);

/// `sockets` idle sockets, each joined to one of `rooms` rooms.
#[derive(Clone, Debug)]
pub(crate) struct Idle {
    pub(crate) sockets: usize,
    pub(crate) rooms: usize,
}

impl Idle {
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} sockets, each joined to one of {} rooms, idle; server RSS growth per socket",
            self.sockets, self.rooms
        )
    }

    /// Runs it against `server` (whose memory is read) at `endpoint`.
    pub(crate) async fn run(&self, endpoint: &Endpoint, server: &Server) -> anyhow::Result<Outcome> {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = server.rss_bytes()?;
        let started = Instant::now();
        let rooms = self.rooms.max(1);
        let sockets = conn::open_up_to(self.sockets, PARALLEL_CONNECTS, |i| {
            let room = format!("idle{}", i % rooms);
            async move { conn::join(endpoint, &room).await }
        })
        .await?;
        let connecting = started.elapsed();
        let opened = sockets.len();
        let shared = Arc::new(Shared::new(0));
        let dialect = endpoint.dialect;
        let readers: Vec<_> = sockets
            .into_iter()
            .map(|ws| reader::spawn(ws, dialect, &shared, false).1)
            .collect();
        tokio::time::sleep(SETTLE).await;
        let after = server.rss_bytes()?;
        shared.stop.send_replace(true);
        for reader in readers {
            let _ = reader.await;
        }
        let per_socket = after.saturating_sub(before) as f64 / opened.max(1) as f64;
        let mut outcome = Outcome::default();
        if opened < self.sockets {
            outcome.problem(format!(
                "opened {opened} of {} sockets within {:?} (RSS per socket is over those)",
                self.sockets,
                conn::OPEN_CAP
            ));
        }
        outcome
            .push("sockets", opened as f64, Unit::Count)
            .push(
                "connect + join",
                opened as f64 / connecting.as_secs_f64(),
                Unit::PerSecond,
            )
            .push("RSS before", before as f64, Unit::Bytes)
            .push("RSS after", after as f64, Unit::Bytes)
            .push("RSS per socket", per_socket, Unit::Bytes)
            .headline(false);
        report_shared(&shared, &mut outcome, None);
        Ok(outcome)
    }
}
