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
//! a miss is one computation, counted by the request that ran it: the
//! requests that waited on it count as neither). Every bundle must show
//! the round's name; error replies and dropped sockets are problems.
//!
//! Over two nodes (`two_nodes`: the `refetch storm redis` steps): nodes A
//! and B joined through a `redis-server` of the step's own, the cache
//! (when on) with its Redis backend and one key secret on both, so that a
//! bundle one node computed can be served by the other
//! (`mizan_bundle_cache_shared_hits_total`); half the watchers on each
//! node, the mutation on A. Measured per round: `user_profile` runs on A
//! and on B (each node's own `fixture_stats`), the cache's counters on
//! each, the time to the last push and to the last bundle over both
//! nodes. The goal is at most one run per node per round: B takes the
//! bundle A computed and wrote to Redis, or computes it once itself when
//! its first refetch looks before A's write has landed (the single flight
//! is per node, docs/caching.md).
//!
//! The fixture keeps its data in memory, per process: `update_profile` on
//! A renames user 1 in A's map only, and B's `user_profile` reads B's
//! own, where user 1 keeps its default name (`user1`). So only A's
//! bundles are checked for the round's name; on B every watcher must get
//! a bundle, showing the new name when B took A's computation from Redis
//! and `user1` when B computed it (both counted). For the same reason a
//! bundle B computed and wrote to Redis before A looked there reaches A's
//! watchers with `user1`: counted and noted, not a problem (with one
//! database, as a real deployment has, B's computation would show the new
//! name). Any other name, on either node (an earlier round's), is a
//! problem.

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
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// How long one round may take.
const ROUND_CAP: Duration = Duration::from_secs(30);
/// How long the watchers sit before the first (unmeasured) round.
const SETTLE: Duration = Duration::from_secs(1);
/// After a round's last bundle: a pause before `fixture_stats`, for any
/// straggling computation to be counted in its round.
const QUIET: Duration = Duration::from_millis(200);
/// User 1's name where nothing renamed it (the fixture's `Store::name`):
/// on node B, beside a node A that did.
const DEFAULT_NAME: &str = "user1";

/// `watchers` sockets watching `user {user_id: 1}` (over both nodes, half
/// on each, with `two_nodes`); `rounds` measured mutations after one
/// unmeasured; the servers' bundle cache on when `cached`.
#[derive(Clone, Debug)]
pub(crate) struct RefetchStorm {
    pub(crate) watchers: usize,
    pub(crate) rounds: usize,
    pub(crate) cached: bool,
    /// Nodes A and B joined through Redis, the cache's Redis backend
    /// (see the module's doc); else one node, the in-memory broker.
    pub(crate) two_nodes: bool,
}

/// What one node's watchers share with the run. The per-round counters
/// are reset before each mutation.
struct Board {
    /// Whether a bundle with [`DEFAULT_NAME`] is one node B computed from
    /// its own data (two nodes; see the module's doc), not a problem.
    default_ok: bool,
    /// The round under way: its bundles must show [`name`] of it.
    round: AtomicU64,
    pushes: AtomicU64,
    last_push_ns: AtomicU64,
    /// Bundles read this round, those showing the round's name, and those
    /// showing [`DEFAULT_NAME`] (counted with `default_ok` only).
    bundles: AtomicU64,
    last_bundle_ns: AtomicU64,
    fresh: AtomicU64,
    last_fresh_ns: AtomicU64,
    defaults: AtomicU64,
    /// Over the whole run.
    errors: AtomicU64,
    dropped: AtomicU64,
    first_problem: Mutex<Option<String>>,
    stop: watch::Sender<bool>,
}

/// A node under test: its address, a socket of the run's own (for
/// `fixture_stats`, and on node A the mutation), its watchers.
struct Node {
    addr: SocketAddr,
    client: Ws,
    watchers: u64,
    board: Arc<Board>,
    tasks: Vec<JoinHandle<()>>,
}

/// One measured round.
struct Round {
    to_push_us: f64,
    /// To the last bundle with the new name on the first node; NaN when
    /// some watcher there got none.
    to_fresh_us: f64,
    /// To the last bundle over every node; NaN when some watcher got
    /// none.
    to_last_us: f64,
    nodes: Vec<NodeRound>,
}

/// One measured round on one node.
#[derive(Clone, Copy)]
struct NodeRound {
    runs: f64,
    /// The cache's counters over the round.
    cache: Counters,
    fresh: u64,
    defaults: u64,
}

/// The columns of the two-node row that are per node.
struct Columns {
    runs: &'static str,
    runs_max: &'static str,
    hits: &'static str,
    shared_hits: &'static str,
    misses: &'static str,
}

const NODE_COLUMNS: [Columns; 2] = [
    Columns {
        runs: "runs on A (median)",
        runs_max: "runs on A (max)",
        hits: "A cache hits",
        shared_hits: "A shared hits",
        misses: "A cache misses",
    },
    Columns {
        runs: "runs on B (median)",
        runs_max: "runs on B (max)",
        hits: "B cache hits",
        shared_hits: "B shared hits",
        misses: "B cache misses",
    },
];

/// Node `i`'s name in notes and problems.
const NODE_NAMES: [&str; 2] = ["A", "B"];

impl RefetchStorm {
    pub(crate) fn describe(&self) -> String {
        if self.two_nodes {
            return format!(
                "{} sockets watch `user {{user_id: 1}}`, half on node A, half on node B (joined through Redis, the cache's Redis backend); `update_profile(1, <new name>)` is called on A {} times; every watcher sends `fetch` on its `invalidate` push; {}; `user_profile` runs per round on each node, time from the call's write to the last push and to the last bundle over both nodes (A's show the new name; B's show B's own data, the fixture's being per process, unless B took A's bundle from Redis)",
                self.watchers,
                self.rounds,
                label(self.cached)
            );
        }
        format!(
            "{} sockets watch `user {{user_id: 1}}`; `update_profile(1, <new name>)` is called {} times; every watcher sends `fetch` on its `invalidate` push; {}; time from the call's write to the last push and to the last bundle with the new name, `user_profile` runs per round",
            self.watchers,
            self.rounds,
            label(self.cached)
        )
    }

    /// Runs it against `endpoints` (one node, or A and B with
    /// `two_nodes`); `cpu` is charged over the measured rounds.
    pub(crate) async fn run(&self, endpoints: &[Endpoint], cpu: &Cpu<'_>) -> anyhow::Result<Outcome> {
        let count = if self.two_nodes { 2 } else { 1 };
        ensure!(endpoints.len() == count, "{count} nodes, not {}", endpoints.len());
        ensure!(
            self.rounds >= 1 && self.watchers >= count,
            "at least one round and one watcher per node"
        );
        let mut nodes = Vec::with_capacity(count);
        for (i, endpoint) in endpoints.iter().enumerate() {
            nodes.push(self.node(endpoint, share(self.watchers, count, i)).await?);
        }
        tokio::time::sleep(SETTLE).await;
        let mut outcome = Outcome::default();
        let mut ids = 1..;
        self.round(&mut nodes, &mut ids, 0, &mut outcome).await?;
        let cpu_before = cpu.used()?;
        let mut rounds = Vec::with_capacity(self.rounds);
        for round in 1..=self.rounds {
            rounds.push(self.round(&mut nodes, &mut ids, round, &mut outcome).await?);
        }
        let cpu_used = cpu.used()?.saturating_sub(cpu_before);
        for node in &mut nodes {
            node.board.stop.send_replace(true);
            for task in node.tasks.drain(..) {
                let _ = task.await;
            }
        }
        if self.two_nodes {
            self.two_node_cells(&rounds, &mut outcome);
        } else {
            self.one_node_cells(&rounds, &mut outcome);
        }
        outcome.cpu(cpu_used, "CPU/refetch", (self.watchers * self.rounds) as u64);
        for (i, node) in nodes.iter().enumerate() {
            let errors = node.board.errors.load(Ordering::Relaxed);
            let dropped = node.board.dropped.load(Ordering::Relaxed);
            if errors > 0 || dropped > 0 {
                let first = node.board.first_problem.lock().map(|p| p.clone()).unwrap_or_default();
                outcome.problem(format!(
                    "{}{errors} error replies, {dropped} sockets closed by the server (the first: {})",
                    self.on(i),
                    first.as_deref().unwrap_or("?")
                ));
            }
            let cache = rounds
                .iter()
                .fold(Counters::default(), |sum, r| sum.plus(r.nodes[i].cache));
            if cache.refused > 0 {
                outcome.note(format!(
                    "{}{} requests found the computation they shared too old for them (computed again)",
                    self.on(i),
                    cache.refused
                ));
            }
            if cache.errors > 0 {
                outcome.note(format!(
                    "{}{} failed or timed-out Redis reads or writes of the cache (each a computation)",
                    self.on(i),
                    cache.errors
                ));
            }
            let (_, runs_max) = median_max(rounds.iter().map(|r| r.nodes[i].runs).collect());
            let over = rounds.iter().filter(|r| r.nodes[i].runs > 1.0).count();
            if self.cached && over > 0 {
                outcome.note(format!(
                    "{}`user_profile` ran more than once in {over} of {} rounds (up to {runs_max}) with the cache on (goal: once{})",
                    self.on(i),
                    rounds.len(),
                    if self.two_nodes { " per node" } else { "" }
                ));
            }
        }
        if self.two_nodes {
            let defaults: u64 = rounds.iter().map(|r| r.nodes[0].defaults).sum();
            if defaults > 0 {
                outcome.note(format!(
                    "{defaults} bundles on node A showed B's own data (`{DEFAULT_NAME}`): B's computation, taken from Redis (the fixture's data is per process)"
                ));
            }
        }
        Ok(outcome)
    }

    /// `node A: ` with two nodes, nothing with one.
    fn on(&self, i: usize) -> String {
        if self.two_nodes {
            format!("node {}: ", NODE_NAMES[i])
        } else {
            String::new()
        }
    }

    /// The one-node row.
    fn one_node_cells(&self, rounds: &[Round], outcome: &mut Outcome) {
        let (runs, runs_max) = median_max(rounds.iter().map(|r| r.nodes[0].runs).collect());
        let (push, _) = median_max(rounds.iter().map(|r| r.to_push_us).collect());
        let (fresh, fresh_max) = median_max(rounds.iter().map(|r| r.to_fresh_us).collect());
        let cache = rounds
            .iter()
            .fold(Counters::default(), |sum, r| sum.plus(r.nodes[0].cache));
        outcome
            .push("watchers", self.watchers as f64, Unit::Count)
            .push("user_profile runs (median)", runs, Unit::Count)
            .push("runs (max)", runs_max, Unit::Count)
            .push("to last push (median)", push, Unit::Micros)
            .push("to last new bundle (median)", fresh, Unit::Micros)
            .headline(false)
            .push("to last new bundle (max)", fresh_max, Unit::Micros)
            .push("cache hits (all rounds)", cache.hits as f64, Unit::Count)
            .push("cache misses (all rounds)", cache.misses as f64, Unit::Count);
    }

    /// The two-node row: runs per node, the times over both, the cache's
    /// counters per node (all rounds) and how B's bundles were made.
    fn two_node_cells(&self, rounds: &[Round], outcome: &mut Outcome) {
        outcome.push("watchers", self.watchers as f64, Unit::Count);
        for (i, columns) in NODE_COLUMNS.iter().enumerate() {
            let (runs, runs_max) = median_max(rounds.iter().map(|r| r.nodes[i].runs).collect());
            outcome
                .push(columns.runs, runs, Unit::Count)
                .push(columns.runs_max, runs_max, Unit::Count);
        }
        let (both, _) = median_max(rounds.iter().map(|r| r.nodes.iter().map(|n| n.runs).sum()).collect());
        outcome.push("runs on A+B (median)", both, Unit::Count);
        let (push, _) = median_max(rounds.iter().map(|r| r.to_push_us).collect());
        let (fresh, _) = median_max(rounds.iter().map(|r| r.to_fresh_us).collect());
        let (last, last_max) = median_max(rounds.iter().map(|r| r.to_last_us).collect());
        outcome
            .push("to last push (median)", push, Unit::Micros)
            .push("to last new bundle on A (median)", fresh, Unit::Micros)
            .push("to last bundle (median)", last, Unit::Micros)
            .headline(false)
            .push("to last bundle (max)", last_max, Unit::Micros);
        for (i, columns) in NODE_COLUMNS.iter().enumerate() {
            let cache = rounds
                .iter()
                .fold(Counters::default(), |sum, r| sum.plus(r.nodes[i].cache));
            outcome
                .push(columns.hits, cache.hits as f64, Unit::Count)
                .push(columns.shared_hits, cache.shared_hits as f64, Unit::Count)
                .push(columns.misses, cache.misses as f64, Unit::Count);
        }
        let from_a: u64 = rounds.iter().map(|r| r.nodes[1].fresh).sum();
        outcome.push("B bundles with A's name (all rounds)", from_a as f64, Unit::Count);
    }

    /// Opens `watchers` watchers of `user {user_id: 1}` on `endpoint`, and
    /// the run's own socket.
    async fn node(&self, endpoint: &Endpoint, watchers: usize) -> anyhow::Result<Node> {
        let dialect = endpoint.dialect;
        let watch = r#"{"type":"watch","id":1,"context":"user","params":{"user_id":1}}"#;
        let sockets = conn::open_many(watchers, 64, |_| async move {
            let mut ws = endpoint.connect().await?;
            conn::request(&mut ws, dialect, watch.to_owned(), 1).await?;
            Ok(ws)
        })
        .await?;
        let board = Arc::new(Board {
            default_ok: self.two_nodes,
            round: AtomicU64::new(0),
            pushes: AtomicU64::new(0),
            last_push_ns: AtomicU64::new(0),
            bundles: AtomicU64::new(0),
            last_bundle_ns: AtomicU64::new(0),
            fresh: AtomicU64::new(0),
            last_fresh_ns: AtomicU64::new(0),
            defaults: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            first_problem: Mutex::new(None),
            stop: watch::Sender::new(false),
        });
        let tasks = sockets
            .into_iter()
            .map(|ws| tokio::spawn(watcher(ws, Arc::clone(&board))))
            .collect();
        Ok(Node {
            addr: endpoint.addr,
            client: endpoint.connect().await?,
            watchers: watchers as u64,
            board,
            tasks,
        })
    }

    /// One call of `update_profile` on the first node and the refetches
    /// it causes on every node.
    async fn round(
        &self,
        nodes: &mut [Node],
        ids: &mut impl Iterator<Item = u64>,
        round: usize,
        outcome: &mut Outcome,
    ) -> anyhow::Result<Round> {
        let mut id = || ids.next().expect("an endless range");
        let mut before = Vec::with_capacity(nodes.len());
        for node in nodes.iter_mut() {
            let board = &node.board;
            for counter in [
                &board.pushes,
                &board.last_push_ns,
                &board.bundles,
                &board.last_bundle_ns,
                &board.fresh,
                &board.last_fresh_ns,
                &board.defaults,
            ] {
                counter.store(0, Ordering::Relaxed);
            }
            board.round.store(round as u64, Ordering::Relaxed);
            before.push((
                computed(&mut node.client, id()).await?,
                Counters::read(node.addr).await?,
            ));
        }
        let call_id = id();
        let call = format!(
            r#"{{"type":"call","id":{call_id},"fn":"update_profile","args":{{"user_id":1,"name":"{}"}}}}"#,
            name(round as u64)
        );
        let started = now_ns();
        conn::request(&mut nodes[0].client, Dialect::Mizan, call, call_id).await?;
        let cap = Instant::now() + ROUND_CAP;
        while nodes
            .iter()
            .any(|node| node.board.bundles.load(Ordering::Relaxed) < node.watchers)
            && Instant::now() < cap
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(QUIET).await;
        let since = |ns: u64| ns.saturating_sub(started) as f64 / 1000.0;
        let mut result = Round {
            to_push_us: 0.0,
            to_fresh_us: 0.0,
            to_last_us: 0.0,
            nodes: Vec::with_capacity(nodes.len()),
        };
        for (i, (node, (runs_before, counters))) in nodes.iter_mut().zip(before).enumerate() {
            let runs = computed(&mut node.client, id()).await?.saturating_sub(runs_before);
            let cache = Counters::read(node.addr).await?.since(counters);
            let board = &node.board;
            let watchers = node.watchers;
            let pushes = board.pushes.load(Ordering::Relaxed);
            let bundles = board.bundles.load(Ordering::Relaxed);
            let fresh = board.fresh.load(Ordering::Relaxed);
            let defaults = board.defaults.load(Ordering::Relaxed);
            let on = self.on(i);
            if pushes < watchers {
                outcome.problem(format!("{on}round {round}: {pushes} of {watchers} pushes"));
            }
            if bundles < watchers {
                outcome.problem(format!(
                    "{on}round {round}: {bundles} of {watchers} refetches answered within {ROUND_CAP:?}"
                ));
            }
            if fresh + defaults < bundles {
                outcome.problem(format!(
                    "{on}round {round}: {} bundles without the new name{}",
                    bundles - fresh - defaults,
                    if board.default_ok {
                        format!(" or `{DEFAULT_NAME}`")
                    } else {
                        String::new()
                    }
                ));
            }
            result.to_push_us = result.to_push_us.max(since(board.last_push_ns.load(Ordering::Relaxed)));
            if i == 0 {
                result.to_fresh_us = if fresh < watchers {
                    f64::NAN
                } else {
                    since(board.last_fresh_ns.load(Ordering::Relaxed))
                };
            }
            // NaN stays NaN (`f64::max` would drop it).
            result.to_last_us = if bundles < watchers || result.to_last_us.is_nan() {
                f64::NAN
            } else {
                result
                    .to_last_us
                    .max(since(board.last_bundle_ns.load(Ordering::Relaxed)))
            };
            result.nodes.push(NodeRound {
                runs: runs as f64,
                cache,
                fresh,
                defaults,
            });
        }
        Ok(result)
    }
}

/// How many of `watchers` watchers node `i` of `nodes` holds: an even
/// split, the later nodes taking any remainder.
fn share(watchers: usize, nodes: usize, i: usize) -> usize {
    watchers * (i + 1) / nodes - watchers * i / nodes
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
/// checked against the round's name (or, with [`Board::default_ok`],
/// [`DEFAULT_NAME`]). Until [`Board::stop`] or the socket ends.
async fn watcher(mut ws: Ws, board: Arc<Board>) {
    let mut stop = board.stop.subscribe();
    let stopped = stop.wait_for(|stop| *stop);
    tokio::pin!(stopped);
    let mut next_id = 2;
    let mut expected = (u64::MAX, Vec::new());
    let default = format!(r#""name":"{DEFAULT_NAME}""#).into_bytes();
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
            } else if board.default_ok && contains(frame, &default) {
                board.defaults.fetch_add(1, Ordering::Relaxed);
            } else {
                problem(&text);
            }
            board.last_bundle_ns.fetch_max(now, Ordering::Relaxed);
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

    #[test]
    fn watchers_are_split_over_the_nodes() {
        assert_eq!(share(10_000, 1, 0), 10_000);
        assert_eq!((share(10_000, 2, 0), share(10_000, 2, 1)), (5000, 5000));
        assert_eq!((share(51, 2, 0), share(51, 2, 1)), (25, 26));
    }
}
