//! Presence join: `sockets` sockets subscribe to one topic, spread evenly
//! over `spread`; each asks `presence` as soon as its `subscribed` reply is
//! in, takes the answer as its member list and applies every
//! `presence_diff` that follows (PROTOCOL.md section 10: diffs that came
//! before the answer are already in it). Measured: `presence_diff` frames
//! per subscriber, the server's CPU from the first subscribe to the end,
//! and the time from the last join (the last `subscribed` reply read) until
//! every socket's list holds every socket: exactly the sessions the
//! `hello`s named, each once.

use super::{Frame, ask, classify, connect, sessions};
use crate::conn::{self, Endpoint, Ws};
use crate::dialect::Dialect;
use crate::report::{Outcome, Unit};
use crate::servers::Cpu;
use futures_util::{SinkExt, StreamExt};
use mizan_bench::now_ns;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// The room every socket joins: topic `chat:chat_presence`.
const ROOM: &str = "presence";
/// Sockets opened at once (before the joins: opening is not measured).
const PARALLEL_CONNECTS: usize = 64;
/// How long after the last scheduled join the lists may take to complete
/// before the incomplete ones count as failures.
const COMPLETE_CAP: Duration = Duration::from_secs(10);
/// Once every list is complete: how long later diffs are still counted
/// (a few presence intervals).
const LINGER: Duration = Duration::from_millis(500);

/// `sockets` sockets joining one topic within `spread`.
#[derive(Clone, Debug)]
pub(crate) struct PresenceJoin {
    pub(crate) sockets: usize,
    pub(crate) spread: Duration,
}

/// What the sockets share with the run.
struct Board {
    /// Every socket's session id, and its index.
    index: HashMap<Box<[u8]>, u32>,
    /// Sockets whose list holds every socket right now.
    complete: AtomicUsize,
    stop: watch::Sender<bool>,
}

/// What one socket saw.
struct Tally {
    /// Every `presence_diff` read, those before the `presence` answer
    /// (already in it, so not applied; a socket can be sent the batch
    /// that was flushed as it subscribed) too.
    diffs: u64,
    subscribed_ns: u64,
    answered_ns: u64,
    /// When its list last became complete (0: it is not).
    complete_ns: u64,
    /// Its member list, as a bit per socket index.
    listed: Vec<u64>,
    count: usize,
    /// Sessions listed that no socket of the run has.
    strangers: u64,
    /// Diffs that listed this socket's own join.
    own_joins: u64,
    /// Joins of a member already listed, leaves of one not listed.
    repeated: u64,
    /// The first error reply or failure.
    failure: Option<String>,
}

impl PresenceJoin {
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} sockets subscribe to one topic within {} ms, each asking `presence` once subscribed and applying the `presence_diff`s after the answer; frames per subscriber and time from the last join until every member list holds all {}",
            self.sockets,
            self.spread.as_millis(),
            self.sockets
        )
    }

    /// Runs it; `cpu` is charged from the first subscribe until the lists
    /// are complete and the last diffs are in.
    pub(crate) async fn run(&self, endpoint: &Endpoint, cpu: &Cpu<'_>) -> anyhow::Result<Outcome> {
        let n = self.sockets;
        anyhow::ensure!(n >= 1 && u32::try_from(n).is_ok(), "1 to 2^32 sockets");
        let opened = conn::open_many(n, PARALLEL_CONNECTS, |_| connect(endpoint)).await?;
        let (sockets, names): (Vec<Ws>, Vec<String>) = opened.into_iter().unzip();
        let index: HashMap<Box<[u8]>, u32> = names
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_bytes().into(), i as u32))
            .collect();
        anyhow::ensure!(index.len() == n, "two sockets were given the same session id");
        let board = Arc::new(Board {
            index,
            complete: AtomicUsize::new(0),
            stop: watch::Sender::new(false),
        });
        tokio::time::sleep(Duration::from_millis(200)).await;

        let cpu_before = cpu.used()?;
        let start = Instant::now() + Duration::from_millis(20);
        let tasks: Vec<_> = sockets
            .into_iter()
            .enumerate()
            .map(|(i, ws)| {
                let at = start + self.spread.mul_f64(i as f64 / n as f64);
                tokio::spawn(member(i as u32, ws, Arc::clone(&board), at))
            })
            .collect();
        let cap = start + self.spread + COMPLETE_CAP;
        while board.complete.load(Ordering::Relaxed) < n && Instant::now() < cap {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(LINGER).await;
        let cpu_used = cpu.used()?.saturating_sub(cpu_before);
        board.stop.send_replace(true);
        let mut tallies = Vec::with_capacity(n);
        for task in tasks {
            tallies.push(task.await?);
        }
        Ok(self.outcome(&tallies, cpu_used))
    }

    /// The row: frames per subscriber, time to complete lists, failures.
    fn outcome(&self, tallies: &[Tally], cpu_used: Duration) -> Outcome {
        let n = self.sockets;
        let joined: Vec<u64> = tallies.iter().map(|t| t.subscribed_ns).filter(|&ns| ns > 0).collect();
        let first_join = joined.iter().copied().min().unwrap_or(0);
        let last_join = joined.iter().copied().max().unwrap_or(0);
        let complete = tallies.iter().filter(|t| t.complete_ns > 0).count();
        let to_complete = if complete == n && joined.len() == n {
            let last = tallies.iter().map(|t| t.complete_ns).max().unwrap_or(0);
            last.saturating_sub(last_join) as f64 / 1000.0
        } else {
            f64::NAN
        };
        let mut diffs: Vec<u64> = tallies.iter().map(|t| t.diffs).collect();
        diffs.sort_unstable();
        let mut answers: Vec<u64> = tallies
            .iter()
            .filter(|t| t.answered_ns > 0 && t.subscribed_ns > 0)
            .map(|t| t.answered_ns.saturating_sub(t.subscribed_ns) / 1000)
            .collect();
        answers.sort_unstable();
        let at = |v: &[u64], q: f64| {
            v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1)))
                .map_or(f64::NAN, |&x| x as f64)
        };
        let mut outcome = Outcome::default();
        outcome
            .push("sockets", n as f64, Unit::Count)
            .push(
                "joins over",
                last_join.saturating_sub(first_join) as f64 / 1e6,
                Unit::Millis,
            )
            .push("diffs/subscriber p50", at(&diffs, 0.5), Unit::Count)
            .push("diffs/subscriber max", at(&diffs, 1.0), Unit::Count)
            .push("answer p50", at(&answers, 0.5), Unit::Micros)
            .push("answer max", at(&answers, 1.0), Unit::Micros)
            .push("all complete after last join", to_complete, Unit::Micros)
            .headline(false)
            .cpu(cpu_used, "CPU/join", n as u64);
        self.problems(tallies, &mut outcome);
        outcome
    }

    /// Lists that are not the full set, error replies, failed sockets,
    /// own joins; repeated joins or leaves as a note (applied as a set,
    /// the list is still right).
    fn problems(&self, tallies: &[Tally], outcome: &mut Outcome) {
        let n = self.sockets;
        let wrong: Vec<(usize, &Tally)> = tallies
            .iter()
            .enumerate()
            .filter(|(_, t)| t.complete_ns == 0 || t.strangers > 0)
            .collect();
        if let Some((i, t)) = wrong.first() {
            outcome.problem(format!(
                "{} of {n} member lists wrong at the end (the first: socket {i} lists {} of {n}, {} unknown sessions{})",
                wrong.len(),
                t.count,
                t.strangers,
                if t.answered_ns == 0 { ", no answer" } else { "" }
            ));
        }
        let failed: Vec<&str> = tallies.iter().filter_map(|t| t.failure.as_deref()).collect();
        if let Some(first) = failed.first() {
            outcome.problem(format!(
                "{} sockets failed or were refused (the first: {first})",
                failed.len()
            ));
        }
        let own: u64 = tallies.iter().map(|t| t.own_joins).sum();
        if own > 0 {
            outcome.problem(format!("{own} diffs listed the receiver's own join"));
        }
        let repeated: u64 = tallies.iter().map(|t| t.repeated).sum();
        if repeated > 0 {
            outcome.note(format!(
                "{repeated} joins of members already listed or leaves of members not listed"
            ));
        }
    }
}

/// One socket: subscribes at `at`, asks `presence` once subscribed, keeps
/// its member list until told to stop.
async fn member(me: u32, mut ws: Ws, board: Arc<Board>, at: Instant) -> Tally {
    let mut tally = Tally::new(board.index.len());
    let mut stop = board.stop.subscribe();
    let stopped = stop.wait_for(|stop| *stop);
    tokio::pin!(stopped);
    tokio::time::sleep_until(at).await;
    if let Err(e) = ws.send(Message::text(Dialect::Mizan.subscribe(1, ROOM))).await {
        tally.failure = Some(format!("subscribing: {e}"));
        return tally;
    }
    let mut was_complete = false;
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
                tally.failure.get_or_insert(format!("the socket failed: {e}"));
                break;
            }
            None => {
                tally.failure.get_or_insert("the server closed the socket".into());
                break;
            }
        };
        let now = now_ns();
        match classify(text.as_bytes()) {
            Frame::Subscribed(1) => {
                tally.subscribed_ns = now;
                if let Err(e) = ws.send(Message::text(ask("presence", 2, ROOM))).await {
                    tally.failure.get_or_insert(format!("asking presence: {e}"));
                    break;
                }
            }
            Frame::Members { id: 2, members } => {
                tally.listed.fill(0);
                tally.count = 0;
                for session in sessions(members) {
                    tally.join(board.index.get(session).copied());
                }
                tally.answered_ns = now;
            }
            Frame::Diff { joins, leaves } => {
                tally.diffs += 1;
                let answered = tally.answered_ns > 0;
                for session in sessions(joins) {
                    let index = board.index.get(session).copied();
                    tally.own_joins += u64::from(index == Some(me));
                    if answered {
                        tally.join(index);
                    }
                }
                if answered {
                    for session in sessions(leaves) {
                        tally.leave(board.index.get(session).copied());
                    }
                }
            }
            Frame::Error(_) => {
                tally.failure.get_or_insert_with(|| format!("error reply: {text}"));
            }
            _ => {}
        }
        let complete = tally.answered_ns > 0 && tally.count == board.index.len();
        if complete != was_complete {
            was_complete = complete;
            if complete {
                tally.complete_ns = now;
                board.complete.fetch_add(1, Ordering::Relaxed);
            } else {
                tally.complete_ns = 0;
                board.complete.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
    tally
}

impl Tally {
    fn new(sockets: usize) -> Self {
        Self {
            diffs: 0,
            subscribed_ns: 0,
            answered_ns: 0,
            complete_ns: 0,
            listed: vec![0; sockets.div_ceil(64)],
            count: 0,
            strangers: 0,
            own_joins: 0,
            repeated: 0,
            failure: None,
        }
    }

    /// Lists socket `index` (`None`: a session no socket of the run has).
    fn join(&mut self, index: Option<u32>) {
        let Some(i) = index else {
            self.strangers += 1;
            return;
        };
        let (word, bit) = (i as usize / 64, 1u64 << (i % 64));
        if self.listed[word] & bit == 0 {
            self.listed[word] |= bit;
            self.count += 1;
        } else {
            self.repeated += 1;
        }
    }

    /// Unlists socket `index`.
    fn leave(&mut self, index: Option<u32>) {
        let Some(i) = index else {
            self.strangers += 1;
            return;
        };
        let (word, bit) = (i as usize / 64, 1u64 << (i % 64));
        if self.listed[word] & bit != 0 {
            self.listed[word] &= !bit;
            self.count -= 1;
        } else {
            self.repeated += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_count_each_member_once() {
        let mut tally = Tally::new(70);
        tally.join(Some(3));
        tally.join(Some(69));
        tally.join(Some(3));
        tally.join(None);
        assert_eq!((tally.count, tally.repeated, tally.strangers), (2, 1, 1));
        tally.leave(Some(69));
        tally.leave(Some(69));
        assert_eq!((tally.count, tally.repeated), (1, 2));
    }

    #[test]
    fn an_incomplete_list_is_a_problem() {
        let step = PresenceJoin {
            sockets: 2,
            spread: Duration::from_secs(1),
        };
        let mut good = Tally::new(2);
        good.join(Some(0));
        good.join(Some(1));
        (good.subscribed_ns, good.answered_ns, good.complete_ns) = (10, 20, 30);
        let mut short = Tally::new(2);
        short.join(Some(1));
        (short.subscribed_ns, short.answered_ns) = (15, 25);
        let outcome = step.outcome(&[good, short], Duration::ZERO);
        assert_eq!(outcome.problems.len(), 1, "{:?}", outcome.problems);
        assert!(outcome.problems[0].starts_with("1 of 2 member lists wrong"));
    }
}
