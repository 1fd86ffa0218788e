//! Refetch storm: `watchers` sockets watch `user {user_id: 1}`; one
//! `update_profile(1, <new name>)` invalidates it; every watcher, on its
//! `invalidate` push, sends a `fetch` of the context, as the generated
//! client does for a context it still watches (`client/src/cache.ts`:
//! `invalidate` marks the entry stale and `refresh` sends `fetch`; the
//! client waits `refetchDelayMs`, 10 ms by default, to coalesce pushes
//! first; here the fetch goes at once, one push per round needing no
//! coalescing). Measured per round: the time from the mutation's write to
//! the last push and to the last watcher holding a bundle with the new
//! name, `user_profile` runs during the round (`fixture_stats` after
//! minus before) and the cache's hits and misses (`/metrics`, the same;
//! a miss is a request that computed or waited for a computation to
//! share). Every bundle must show the round's name; error replies
//! and dropped sockets are problems.

use super::{Counters, contains, label, median_max};
use crate::conn::{self, Endpoint, Ws};
use crate::dialect::Dialect;
use crate::node_loss::computed;
use crate::report::{Outcome, Unit};
use crate::servers::Cpu;
use anyhow::ensure;
use futures_util::{SinkExt, StreamExt};
use mizan_bench::now_ns;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// How long one round may take.
const ROUND_CAP: Duration = Duration::from_secs(30);
/// How long the watchers sit before the first (unmeasured) round.
const SETTLE: Duration = Duration::from_secs(1);
/// After a round's last bundle: a pause before `fixture_stats`, for any
/// straggling computation to be counted in its round.
const QUIET: Duration = Duration::from_millis(200);

/// `watchers` sockets watching `user {user_id: 1}`; `rounds` measured
/// mutations after one unmeasured; the server's bundle cache on when
/// `cached`.
#[derive(Clone, Debug)]
pub(crate) struct RefetchStorm {
    pub(crate) watchers: usize,
    pub(crate) rounds: usize,
    pub(crate) cached: bool,
}

/// What the watchers share with the run. The per-round counters are reset
/// before each mutation.
struct Board {
    /// The round under way: its bundles must show [`name`] of it.
    round: AtomicU64,
    pushes: AtomicU64,
    last_push_ns: AtomicU64,
    /// Bundles read this round, and those showing the round's name.
    bundles: AtomicU64,
    fresh: AtomicU64,
    last_fresh_ns: AtomicU64,
    /// Over the whole run.
    errors: AtomicU64,
    dropped: AtomicU64,
    first_problem: Mutex<Option<String>>,
    stop: watch::Sender<bool>,
}

/// One measured round.
struct Round {
    to_push_us: f64,
    /// NaN when some watcher got no bundle with the new name.
    to_fresh_us: f64,
    runs: f64,
    /// The cache's counters over the round.
    cache: Counters,
}

impl RefetchStorm {
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} sockets watch `user {{user_id: 1}}`; `update_profile(1, <new name>)` is called {} times; every watcher sends `fetch` on its `invalidate` push; {}; time from the call's write to the last push and to the last bundle with the new name, `user_profile` runs per round",
            self.watchers,
            self.rounds,
            label(self.cached)
        )
    }

    /// Runs it; `cpu` is charged over the measured rounds.
    pub(crate) async fn run(&self, endpoint: &Endpoint, cpu: &Cpu<'_>) -> anyhow::Result<Outcome> {
        ensure!(
            self.rounds >= 1 && self.watchers >= 1,
            "at least one round and one watcher"
        );
        let dialect = endpoint.dialect;
        let watch = r#"{"type":"watch","id":1,"context":"user","params":{"user_id":1}}"#;
        let sockets = conn::open_many(self.watchers, 64, |_| async move {
            let mut ws = endpoint.connect().await?;
            conn::request(&mut ws, dialect, watch.to_owned(), 1).await?;
            Ok(ws)
        })
        .await?;
        let board = Arc::new(Board {
            round: AtomicU64::new(0),
            pushes: AtomicU64::new(0),
            last_push_ns: AtomicU64::new(0),
            bundles: AtomicU64::new(0),
            fresh: AtomicU64::new(0),
            last_fresh_ns: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            first_problem: Mutex::new(None),
            stop: watch::Sender::new(false),
        });
        let tasks: Vec<_> = sockets
            .into_iter()
            .map(|ws| tokio::spawn(watcher(ws, Arc::clone(&board))))
            .collect();
        let mut mutator = endpoint.connect().await?;
        tokio::time::sleep(SETTLE).await;
        let mut outcome = Outcome::default();
        let mut ids = 1..;
        let addr = endpoint.addr;
        self.round(addr, &mut mutator, &mut ids, &board, 0, &mut outcome)
            .await?;
        let cpu_before = cpu.used()?;
        let mut rounds = Vec::with_capacity(self.rounds);
        for round in 1..=self.rounds {
            rounds.push(
                self.round(addr, &mut mutator, &mut ids, &board, round, &mut outcome)
                    .await?,
            );
        }
        let cpu_used = cpu.used()?.saturating_sub(cpu_before);
        board.stop.send_replace(true);
        for task in tasks {
            let _ = task.await;
        }
        let (runs, runs_max) = median_max(rounds.iter().map(|r| r.runs).collect());
        let (push, _) = median_max(rounds.iter().map(|r| r.to_push_us).collect());
        let (fresh, fresh_max) = median_max(rounds.iter().map(|r| r.to_fresh_us).collect());
        let cache = rounds.iter().fold(Counters::default(), |sum, r| sum.plus(r.cache));
        outcome
            .push("watchers", self.watchers as f64, Unit::Count)
            .push("user_profile runs (median)", runs, Unit::Count)
            .push("runs (max)", runs_max, Unit::Count)
            .push("to last push (median)", push, Unit::Micros)
            .push("to last new bundle (median)", fresh, Unit::Micros)
            .headline(false)
            .push("to last new bundle (max)", fresh_max, Unit::Micros)
            .push("cache hits (all rounds)", cache.hits as f64, Unit::Count)
            .push("cache misses (all rounds)", cache.misses as f64, Unit::Count)
            .cpu(cpu_used, "CPU/refetch", (self.watchers * self.rounds) as u64);
        let errors = board.errors.load(Ordering::Relaxed);
        let dropped = board.dropped.load(Ordering::Relaxed);
        if errors > 0 || dropped > 0 {
            let first = board.first_problem.lock().map(|p| p.clone()).unwrap_or_default();
            outcome.problem(format!(
                "{errors} error replies, {dropped} sockets closed by the server (the first: {})",
                first.as_deref().unwrap_or("?")
            ));
        }
        if cache.refused > 0 {
            outcome.note(format!(
                "{} requests found the computation they shared too old for them (computed again)",
                cache.refused
            ));
        }
        if self.cached && runs_max > 1.0 {
            outcome.note(format!(
                "`user_profile` ran up to {runs_max} times in a round with the cache on (goal: once)"
            ));
        }
        Ok(outcome)
    }

    /// One call of `update_profile` and the refetches it causes.
    async fn round(
        &self,
        addr: SocketAddr,
        mutator: &mut Ws,
        ids: &mut impl Iterator<Item = u64>,
        board: &Board,
        round: usize,
        outcome: &mut Outcome,
    ) -> anyhow::Result<Round> {
        let mut id = || ids.next().expect("an endless range");
        for counter in [
            &board.pushes,
            &board.last_push_ns,
            &board.bundles,
            &board.fresh,
            &board.last_fresh_ns,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        board.round.store(round as u64, Ordering::Relaxed);
        let before = computed(mutator, id()).await?;
        let counters = Counters::read(addr).await?;
        let call_id = id();
        let call = format!(
            r#"{{"type":"call","id":{call_id},"fn":"update_profile","args":{{"user_id":1,"name":"{}"}}}}"#,
            name(round as u64)
        );
        let started = now_ns();
        conn::request(mutator, Dialect::Mizan, call, call_id).await?;
        let watchers = self.watchers as u64;
        let cap = Instant::now() + ROUND_CAP;
        while board.bundles.load(Ordering::Relaxed) < watchers && Instant::now() < cap {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(QUIET).await;
        let after = computed(mutator, id()).await?;
        let cache = Counters::read(addr).await?.since(counters);
        let pushes = board.pushes.load(Ordering::Relaxed);
        let bundles = board.bundles.load(Ordering::Relaxed);
        let fresh = board.fresh.load(Ordering::Relaxed);
        if pushes < watchers {
            outcome.problem(format!("round {round}: {pushes} of {watchers} pushes"));
        }
        if bundles < watchers {
            outcome.problem(format!(
                "round {round}: {bundles} of {watchers} refetches answered within {ROUND_CAP:?}"
            ));
        }
        if fresh < bundles {
            outcome.problem(format!(
                "round {round}: {} bundles without the new name",
                bundles - fresh
            ));
        }
        let since = |ns: &AtomicU64| ns.load(Ordering::Relaxed).saturating_sub(started) as f64 / 1000.0;
        Ok(Round {
            to_push_us: since(&board.last_push_ns),
            to_fresh_us: if fresh < watchers {
                f64::NAN
            } else {
                since(&board.last_fresh_ns)
            },
            runs: after.saturating_sub(before) as f64,
            cache,
        })
    }
}

/// The name round `round` gives user 1.
fn name(round: u64) -> String {
    format!("refetch-{round}")
}

/// `fetch` of `user {user_id: 1}`, request `id`.
fn fetch_frame(id: u64) -> String {
    format!(r#"{{"type":"fetch","id":{id},"context":"user","params":{{"user_id":1}}}}"#)
}

/// One watcher: on each `invalidate` push, a `fetch`; each bundle is
/// checked against the round's name. Until [`Board::stop`] or the socket
/// ends.
async fn watcher(mut ws: Ws, board: Arc<Board>) {
    let mut stop = board.stop.subscribe();
    let stopped = stop.wait_for(|stop| *stop);
    tokio::pin!(stopped);
    let mut next_id = 2;
    let mut expected = (u64::MAX, Vec::new());
    let problem = |text: &str| {
        if let Ok(mut first) = board.first_problem.lock() {
            first.get_or_insert_with(|| text.to_owned());
        }
    };
    loop {
        let frame = tokio::select! {
            biased;
            _ = &mut stopped => break,
            frame = ws.next() => frame,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                board.dropped.fetch_add(1, Ordering::Relaxed);
                problem(&e.to_string());
                break;
            }
            None => {
                board.dropped.fetch_add(1, Ordering::Relaxed);
                problem("the server closed a socket");
                break;
            }
        };
        let frame = text.as_bytes();
        if frame.starts_with(br#"{"type":"invalidate""#) {
            board.last_push_ns.fetch_max(now_ns(), Ordering::Relaxed);
            board.pushes.fetch_add(1, Ordering::Relaxed);
            let id = next_id;
            next_id += 1;
            if let Err(e) = ws.send(Message::text(fetch_frame(id))).await {
                board.dropped.fetch_add(1, Ordering::Relaxed);
                problem(&format!("refetching: {e}"));
                break;
            }
        } else if frame.starts_with(br#"{"type":"bundle""#) {
            let now = now_ns();
            let round = board.round.load(Ordering::Relaxed);
            if expected.0 != round {
                expected = (round, format!(r#""name":"{}""#, name(round)).into_bytes());
            }
            if contains(frame, &expected.1) {
                board.last_fresh_ns.fetch_max(now, Ordering::Relaxed);
                board.fresh.fetch_add(1, Ordering::Relaxed);
            } else {
                problem(&text);
            }
            board.bundles.fetch_add(1, Ordering::Relaxed);
        } else if frame.starts_with(br#"{"type":"error""#) {
            board.errors.fetch_add(1, Ordering::Relaxed);
            problem(&text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_spelled() {
        assert_eq!(
            fetch_frame(7),
            r#"{"type":"fetch","id":7,"context":"user","params":{"user_id":1}}"#
        );
        assert_eq!(name(3), "refetch-3");
    }
}
