//! Node loss (Mizan only): what a node's death costs the watchers it held.
//!
//! `watchers` distinct contexts (`user {user_id: i}`) are watched on node
//! A, spread over `sockets` sockets, each keeping its bundle's position
//! (`epoch`, `offset`). Node A is killed (SIGKILL). While it is down,
//! `changed` of those users are renamed through node B (`update_profile`).
//! Then every socket reconnects to node B and re-watches with `since`,
//! its bundle's position (PROTOCOL.md section 9): an untouched context
//! should be answered `unchanged` (no bundle computed), a changed one with
//! a bundle that shows the new name. The two nodes share a `redis-server`
//! of the step's own, which gives out the context streams' positions, so
//! node B can tell one from the other.
//!
//! Measured: the replies of each kind, the bundles node B computed during
//! the storm (its `fixture_stats`, after minus before), and the time from
//! the first re-watch sent to the last reply ("all live again"; the
//! reconnects are inside it: each socket re-watches as soon as it is in,
//! and "all reconnected" is when the last one was).

use crate::conn::{self, Endpoint, Ws};
use crate::dialect::{Dialect, field, number_after};
use crate::report::{Outcome, Unit};
use crate::resume::Position;
use crate::servers::{self, Cpu, Kind};
use anyhow::{Context, bail, ensure};
use futures_util::SinkExt;
use mizan_bench::now_ns;
use mizan_bench::process::Server;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Sockets being opened at once, to either node (as in the idle step).
const PARALLEL_CONNECTS: usize = 128;
/// How long the re-watch storm may take, reconnects included; replies
/// still missing then are counted as missing.
const STORM_CAP: Duration = Duration::from_secs(30);

/// `watchers` contexts over `sockets` sockets on node A; `changed` of them
/// renamed through node B while A is down.
#[derive(Clone, Debug)]
pub(crate) struct NodeLoss {
    pub(crate) watchers: usize,
    pub(crate) sockets: usize,
    pub(crate) changed: usize,
}

/// A watch a socket held on node A: its user and its bundle's position.
struct Held {
    user: usize,
    position: Position,
}

/// What kind of reply a frame is, and to which request.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Bundle(u64),
    Unchanged(u64),
    Error(u64),
}

/// The re-watch replies of one socket, or of all of them.
#[derive(Debug)]
struct Tally {
    unchanged: u64,
    bundles: u64,
    /// Changed contexts answered `unchanged`: a stale screen.
    stale: u64,
    /// Changed contexts whose bundle lacks the new name.
    outdated: u64,
    errors: u64,
    /// Re-watches with no reply by [`STORM_CAP`] (or whose socket failed).
    missing: u64,
    /// The first error reply or failure, for the report.
    first_problem: Option<String>,
    /// When the first re-watch was sent, the last socket was in again,
    /// and the last reply was read.
    first_sent_ns: u64,
    last_connected_ns: u64,
    last_reply_ns: u64,
    /// Microseconds from a re-watch's write to its reply.
    latencies: Vec<u64>,
}

impl NodeLoss {
    /// A one-line description for the table.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} watchers of distinct `user` contexts on node A ({} sockets); A is killed; {} of the users are renamed through node B; every socket reconnects to B and re-watches with `since`; time from the first re-watch to the last reply",
            self.watchers, self.sockets, self.changed
        )
    }

    /// Runs it on nodes `a` (killed on the way) and `b`, both `kind`.
    pub(crate) async fn run(&self, kind: Kind, a: Server, mut b: Server) -> anyhow::Result<Outcome> {
        ensure!(
            self.sockets >= 1 && self.watchers >= self.sockets && self.changed <= self.watchers,
            "at least one watcher per socket, and no more changed than watched"
        );
        let (on_a, on_b) = (servers::endpoint(kind, &a), servers::endpoint(kind, &b));
        let opened = conn::open_many(self.sockets, PARALLEL_CONNECTS, |s| {
            watch_all(&on_a, self.users_of(s).collect())
        })
        .await
        .context("watching on node A")?;
        let (sockets, held): (Vec<Ws>, Vec<Vec<Held>>) = opened.into_iter().unzip();
        drop(a);
        drop(sockets);

        let mut client = on_b.connect().await.context("a client of node B")?;
        let mut changed = vec![false; self.watchers];
        for k in 0..self.changed {
            let user = k * self.watchers / self.changed;
            changed[user] = true;
            let id = k as u64 + 1;
            let call = format!(
                r#"{{"type":"call","id":{id},"fn":"update_profile","args":{{"user_id":{user},"name":"{}"}}}}"#,
                new_name(user)
            );
            conn::request(&mut client, Dialect::Mizan, call, id)
                .await
                .with_context(|| format!("renaming user {user} through node B"))?;
        }
        let stats_id = self.changed as u64 + 1;
        let computed_before = computed(&mut client, stats_id).await?;

        let cpu = Cpu(vec![&b]);
        let cpu_before = cpu.used()?;
        let tally = storm(&on_b, held, Arc::new(changed)).await?;
        let cpu_used = cpu.used()?.saturating_sub(cpu_before);
        drop(cpu);
        let computed_after = computed(&mut client, stats_id + 1).await?;
        let mut outcome = self.outcome(&tally, computed_after.saturating_sub(computed_before), cpu_used);
        if let Some(status) = b.exited() {
            outcome.problem(format!("node B exited: {status}"));
        }
        Ok(outcome)
    }

    /// The users socket `s` watches: every `sockets`-th from `s`.
    fn users_of(&self, s: usize) -> impl Iterator<Item = usize> {
        (s..self.watchers).step_by(self.sockets)
    }

    /// The row: replies of each kind, bundles computed, time to all live.
    fn outcome(&self, tally: &Tally, computed: u64, cpu_used: Duration) -> Outcome {
        let mut latencies = tally.latencies.clone();
        latencies.sort_unstable();
        let quantile = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .map_or(f64::NAN, |&v| v as f64)
        };
        let since_first = |ns: u64| {
            if tally.missing == 0 {
                ns.saturating_sub(tally.first_sent_ns) as f64 / 1000.0
            } else {
                f64::NAN
            }
        };
        let changed = self.changed as u64;
        let mut outcome = Outcome::default();
        outcome
            .push("watchers", self.watchers as f64, Unit::Count)
            .push("sockets", self.sockets as f64, Unit::Count)
            .push("changed", changed as f64, Unit::Count)
            .push("unchanged", tally.unchanged as f64, Unit::Count)
            .push("bundles", tally.bundles as f64, Unit::Count)
            .push("computed on B", computed as f64, Unit::Count)
            .push("all live again", since_first(tally.last_reply_ns), Unit::Micros)
            .headline(false)
            .push("all reconnected", since_first(tally.last_connected_ns), Unit::Micros)
            .push("re-watch p50", quantile(0.5), Unit::Micros)
            .push("re-watch p99", quantile(0.99), Unit::Micros)
            .cpu(cpu_used, "CPU/re-watch", self.watchers as u64);
        if tally.bundles > changed {
            outcome.problem(format!("{} bundles for {changed} changed contexts", tally.bundles));
        }
        if computed > changed {
            outcome.problem(format!(
                "node B computed {computed} `user_profile` slots for {changed} changed contexts"
            ));
        }
        if tally.stale > 0 {
            outcome.problem(format!("{} changed contexts answered `unchanged`", tally.stale));
        }
        if tally.outdated > 0 {
            outcome.problem(format!(
                "{} bundles of changed contexts without the new name",
                tally.outdated
            ));
        }
        if tally.errors > 0 || tally.missing > 0 {
            outcome.problem(format!(
                "{} error replies, {} re-watches unanswered within {STORM_CAP:?} (the first: {})",
                tally.errors,
                tally.missing,
                tally.first_problem.as_deref().unwrap_or("?")
            ));
        }
        outcome
    }
}

/// The name `update_profile` gives `user` while node A is down.
fn new_name(user: usize) -> String {
    format!("moved-{user}")
}

/// `watch` of `user {user_id: user}` (request id `user + 1`), with `since`
/// when given.
fn watch_frame(user: usize, since: Option<&Position>) -> String {
    let since = since.map_or_else(String::new, |p| {
        format!(r#","since":{{"epoch":"{}","offset":{}}}"#, p.epoch, p.offset)
    });
    let id = user + 1;
    format!(r#"{{"type":"watch","id":{id},"context":"user","params":{{"user_id":{user}}}{since}}}"#)
}

/// Reads a reply frame (pushes and anything else are `None`).
fn reply(frame: &[u8]) -> Option<Reply> {
    let id = || number_after(frame, b"\"id\":");
    if frame.starts_with(br#"{"type":"bundle""#) {
        id().map(Reply::Bundle)
    } else if frame.starts_with(br#"{"type":"unchanged""#) {
        id().map(Reply::Unchanged)
    } else if frame.starts_with(br#"{"type":"error""#) {
        id().map(Reply::Error)
    } else {
        None
    }
}

/// A bundle's top-level position (its data holds no `epoch` or `offset`
/// key: the fixture's profiles and orders have none).
fn position(frame: &[u8]) -> Option<Position> {
    let epoch = field(frame, b"\"epoch\":\"")?;
    Some(Position {
        epoch: String::from_utf8_lossy(epoch).into_owned(),
        offset: number_after(frame, b"\"offset\":")?,
    })
}

/// Connects to `endpoint` and watches every one of `users` at once;
/// fails unless each gets a bundle with a position within [`conn::STEP`].
async fn watch_all(endpoint: &Endpoint, users: Vec<usize>) -> anyhow::Result<(Ws, Vec<Held>)> {
    let mut ws = endpoint.connect().await?;
    for &user in &users {
        ws.feed(Message::text(watch_frame(user, None))).await?;
    }
    ws.flush().await?;
    let mut held = Vec::with_capacity(users.len());
    tokio::time::timeout(conn::STEP, async {
        while held.len() < users.len() {
            let text = conn::next_text(&mut ws).await?;
            match reply(text.as_bytes()) {
                Some(Reply::Bundle(id)) => held.push(Held {
                    user: usize::try_from(id)? - 1,
                    position: position(text.as_bytes())
                        .with_context(|| format!("a bundle without a position: {text}"))?,
                }),
                Some(_) => bail!("a watch was refused: {text}"),
                None => {}
            }
        }
        anyhow::Ok(())
    })
    .await
    .context("no bundle for every watch")??;
    Ok((ws, held))
}

/// `fixture_stats` on `client` (request `id`): how many times
/// `user_profile` has run on that node (0 before its first run).
pub(crate) async fn computed(client: &mut Ws, id: u64) -> anyhow::Result<u64> {
    let call = format!(r#"{{"type":"call","id":{id},"fn":"fixture_stats","args":{{}}}}"#);
    client.send(Message::text(call)).await?;
    tokio::time::timeout(conn::STEP, async {
        loop {
            let text = conn::next_text(client).await?;
            let frame = text.as_bytes();
            if !frame.starts_with(br#"{"type":"result""#) && !frame.starts_with(br#"{"type":"error""#) {
                continue;
            }
            if number_after(frame, b"\"id\":") != Some(id) {
                continue;
            }
            ensure!(
                frame.starts_with(br#"{"type":"result""#),
                "fixture_stats failed: {text}"
            );
            return Ok(number_after(frame, b"\"user_profile\":").unwrap_or(0));
        }
    })
    .await
    .context("no reply to fixture_stats")?
}

/// Every socket's watches again, on `endpoint`: one task per socket,
/// connecting (at most [`PARALLEL_CONNECTS`] at once) and re-watching
/// with `since` as soon as it is in. The sockets stay open until every
/// task is done.
async fn storm(endpoint: &Endpoint, held: Vec<Vec<Held>>, changed: Arc<Vec<bool>>) -> anyhow::Result<Tally> {
    let opening = Arc::new(Semaphore::new(PARALLEL_CONNECTS));
    let deadline = Instant::now() + STORM_CAP;
    let tasks: Vec<_> = held
        .into_iter()
        .map(|held| {
            let endpoint = endpoint.clone();
            let (opening, changed) = (Arc::clone(&opening), Arc::clone(&changed));
            tokio::spawn(async move { rewatch(&endpoint, &held, &opening, &changed, deadline).await })
        })
        .collect();
    let mut tally = Tally::new(0);
    let mut sockets = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (ws, one) = task.await.context("a re-watching socket panicked")?;
        tally.absorb(one);
        sockets.extend(ws);
    }
    Ok(tally)
}

/// One socket's reconnect to `endpoint` and re-watches, until every reply
/// is in or `deadline`.
async fn rewatch(
    endpoint: &Endpoint,
    held: &[Held],
    opening: &Semaphore,
    changed: &[bool],
    deadline: Instant,
) -> (Option<Ws>, Tally) {
    let mut tally = Tally::new(held.len());
    let connected = {
        let _permit = opening.acquire().await;
        tokio::time::timeout_at(deadline, endpoint.connect()).await
    };
    let mut ws = match connected {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return (None, tally.failed(format!("reconnecting: {e:#}"))),
        Err(_) => return (None, tally.failed("reconnecting timed out".into())),
    };
    tally.last_connected_ns = now_ns();
    tally.first_sent_ns = tally.last_connected_ns;
    for h in held {
        if let Err(e) = ws.feed(Message::text(watch_frame(h.user, Some(&h.position)))).await {
            return (None, tally.failed(format!("re-watching: {e}")));
        }
    }
    if let Err(e) = ws.flush().await {
        return (None, tally.failed(format!("re-watching: {e}")));
    }
    let mut pending: Vec<usize> = held.iter().map(|h| h.user).collect();
    while !pending.is_empty() {
        let text = match tokio::time::timeout_at(deadline, conn::next_text(&mut ws)).await {
            Ok(Ok(text)) => text,
            Ok(Err(e)) => return (None, tally.failed(format!("{e:#}"))),
            Err(_) => break,
        };
        let frame = text.as_bytes();
        let Some(reply) = reply(frame) else { continue };
        let (Reply::Bundle(id) | Reply::Unchanged(id) | Reply::Error(id)) = reply;
        let Some(i) = pending.iter().position(|&user| user as u64 + 1 == id) else {
            continue;
        };
        let user = pending.swap_remove(i);
        let now = now_ns();
        tally.missing -= 1;
        tally.last_reply_ns = now;
        tally.latencies.push(now.saturating_sub(tally.first_sent_ns) / 1000);
        match reply {
            Reply::Unchanged(_) => {
                tally.unchanged += 1;
                tally.stale += u64::from(changed[user]);
            }
            Reply::Bundle(_) => {
                tally.bundles += 1;
                let shows = format!(r#""name":"{}""#, new_name(user));
                let fresh = frame.windows(shows.len()).any(|w| w == shows.as_bytes());
                tally.outdated += u64::from(changed[user] && !fresh);
            }
            Reply::Error(_) => {
                tally.errors += 1;
                tally.first_problem.get_or_insert(text);
            }
        }
    }
    (Some(ws), tally)
}

impl Tally {
    /// Nothing answered yet of `expected` re-watches.
    fn new(expected: usize) -> Self {
        Self {
            unchanged: 0,
            bundles: 0,
            stale: 0,
            outdated: 0,
            errors: 0,
            missing: expected as u64,
            first_problem: None,
            first_sent_ns: u64::MAX,
            last_connected_ns: 0,
            last_reply_ns: 0,
            latencies: Vec::new(),
        }
    }

    /// The socket failed: what it had not got stays missing.
    fn failed(mut self, why: String) -> Self {
        self.first_problem.get_or_insert(why);
        self
    }

    fn absorb(&mut self, other: Self) {
        self.unchanged += other.unchanged;
        self.bundles += other.bundles;
        self.stale += other.stale;
        self.outdated += other.outdated;
        self.errors += other.errors;
        self.missing += other.missing;
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
        self.first_sent_ns = self.first_sent_ns.min(other.first_sent_ns);
        self.last_connected_ns = self.last_connected_ns.max(other.last_connected_ns);
        self.last_reply_ns = self.last_reply_ns.max(other.last_reply_ns);
        self.latencies.extend(other.latencies);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_and_replies_are_spelled_and_read() {
        let at = Position {
            epoch: "e1".into(),
            offset: 7,
        };
        assert_eq!(
            watch_frame(4, Some(&at)),
            r#"{"type":"watch","id":5,"context":"user","params":{"user_id":4},"since":{"epoch":"e1","offset":7}}"#
        );
        assert_eq!(
            watch_frame(0, None),
            r#"{"type":"watch","id":1,"context":"user","params":{"user_id":0}}"#
        );
        let bundle = br#"{"type":"bundle","id":5,"context":"user","params":{"user_id":4},"data":{"user_profile":{"user_id":4,"name":"user4"},"user_orders":[]},"epoch":"e1","offset":7}"#;
        assert_eq!(reply(bundle), Some(Reply::Bundle(5)));
        assert_eq!(position(bundle), Some(at));
        let unchanged =
            br#"{"type":"unchanged","id":5,"context":"user","params":{"user_id":4},"epoch":"e1","offset":9}"#;
        assert_eq!(reply(unchanged), Some(Reply::Unchanged(5)));
        assert_eq!(
            reply(br#"{"type":"error","id":5,"code":"limit","message":"m"}"#),
            Some(Reply::Error(5))
        );
        assert_eq!(reply(br#"{"type":"invalidate","context":"user"}"#), None);
    }

    #[test]
    fn more_bundles_than_changed_contexts_is_a_problem() {
        let step = NodeLoss {
            watchers: 10,
            sockets: 10,
            changed: 2,
        };
        let mut tally = Tally::new(0);
        tally.unchanged = 8;
        tally.bundles = 2;
        assert!(step.outcome(&tally, 2, Duration::ZERO).problems.is_empty());
        tally.unchanged = 7;
        tally.bundles = 3;
        let problems = step.outcome(&tally, 3, Duration::ZERO).problems;
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn users_are_spread_over_the_sockets() {
        let step = NodeLoss {
            watchers: 10,
            sockets: 4,
            changed: 1,
        };
        let users: Vec<Vec<usize>> = (0..4).map(|s| step.users_of(s).collect()).collect();
        assert_eq!(users, [vec![0, 4, 8], vec![1, 5, 9], vec![2, 6], vec![3, 7]]);
    }
}
