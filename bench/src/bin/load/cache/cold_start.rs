//! Cold start: `fetches` concurrent `fetch`es of one `user` bundle that
//! was never computed (a fresh user id each round), spread over `sockets`
//! sockets, every frame written before any answer is read. Measured per
//! round: `user_profile` runs (`fixture_stats` after minus before), the
//! cache's hits and misses (`/metrics`, the same) and the time from the
//! first write to the last answer. Every answer must be a
//! bundle showing the user's default name (`user<id>`); error replies,
//! missing answers and dropped sockets are problems.

use super::{Counters, contains, label, median_max};
use crate::conn::{self, Endpoint, Ws};
use crate::node_loss::computed;
use crate::report::{Outcome, Unit};
use crate::servers::Cpu;
use anyhow::ensure;
use futures_util::{SinkExt, StreamExt};
use mizan_bench::now_ns;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// How long one round's answers may take.
const ROUND_CAP: Duration = Duration::from_secs(30);
/// How long the sockets sit before the first (unmeasured) round.
const SETTLE: Duration = Duration::from_millis(500);
/// The user of round 0; round r fetches user `FIRST_USER + r`, whose
/// bundle nothing has asked for before.
const FIRST_USER: u64 = 1_000_000;

/// `fetches` concurrent fetches over `sockets` sockets; `rounds` measured
/// rounds after one unmeasured; the server's bundle cache on when
/// `cached`.
#[derive(Clone, Debug)]
pub(crate) struct ColdStart {
    pub(crate) fetches: usize,
    pub(crate) sockets: usize,
    pub(crate) rounds: usize,
    pub(crate) cached: bool,
}

/// What one socket's answers were, in one round.
#[derive(Default)]
struct Answers {
    /// Bundles showing the round's user.
    right: u64,
    /// Bundles that do not.
    wrong: u64,
    errors: u64,
    /// Fetches with no answer within [`ROUND_CAP`], or whose socket failed.
    missing: u64,
    last_ns: u64,
    first_problem: Option<String>,
}

/// One measured round.
struct Round {
    /// NaN when an answer is missing.
    to_last_us: f64,
    runs: f64,
    /// The cache's counters over the round.
    cache: Counters,
}

impl ColdStart {
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} concurrent `fetch`es of `user {{user_id: <fresh>}}`, never computed before, over {} sockets, all written before any answer is read; {} rounds; {}; `user_profile` runs and time from the first write to the last answer",
            self.fetches,
            self.sockets,
            self.rounds,
            label(self.cached)
        )
    }

    /// Runs it; `cpu` is charged over the measured rounds.
    pub(crate) async fn run(&self, endpoint: &Endpoint, cpu: &Cpu<'_>) -> anyhow::Result<Outcome> {
        ensure!(
            self.rounds >= 1 && self.sockets >= 1 && self.fetches >= self.sockets,
            "at least one round, one socket and one fetch per socket"
        );
        let mut sockets = conn::open_many(self.sockets, 64, |_| endpoint.connect()).await?;
        let mut stats = endpoint.connect().await?;
        tokio::time::sleep(SETTLE).await;
        let mut outcome = Outcome::default();
        let addr = endpoint.addr;
        self.round(addr, &mut sockets, &mut stats, 0, &mut outcome).await?;
        let cpu_before = cpu.used()?;
        let mut rounds = Vec::with_capacity(self.rounds);
        for round in 1..=self.rounds {
            rounds.push(self.round(addr, &mut sockets, &mut stats, round, &mut outcome).await?);
        }
        let cpu_used = cpu.used()?.saturating_sub(cpu_before);
        let (runs, runs_max) = median_max(rounds.iter().map(|r| r.runs).collect());
        let (last, last_max) = median_max(rounds.iter().map(|r| r.to_last_us).collect());
        let cache = rounds.iter().fold(Counters::default(), |sum, r| sum.plus(r.cache));
        outcome
            .push("fetches", self.fetches as f64, Unit::Count)
            .push("sockets", self.sockets as f64, Unit::Count)
            .push("user_profile runs (median)", runs, Unit::Count)
            .push("runs (max)", runs_max, Unit::Count)
            .push("to last answer (median)", last, Unit::Micros)
            .headline(false)
            .push("to last answer (max)", last_max, Unit::Micros)
            .push("cache hits (all rounds)", cache.hits as f64, Unit::Count)
            .push("cache misses (all rounds)", cache.misses as f64, Unit::Count)
            .cpu(cpu_used, "CPU/fetch", (self.fetches * self.rounds) as u64);
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

    /// The fetches socket `s` sends: every `sockets`-th from `s`.
    fn fetches_of(&self, s: usize) -> impl Iterator<Item = usize> {
        (s..self.fetches).step_by(self.sockets)
    }

    /// One round: every socket's fetches written, then every answer read.
    async fn round(
        &self,
        addr: SocketAddr,
        sockets: &mut [Ws],
        stats: &mut Ws,
        round: usize,
        outcome: &mut Outcome,
    ) -> anyhow::Result<Round> {
        let user = FIRST_USER + round as u64;
        // Request ids: distinct over the run (the stats calls' too).
        let first_id = (round * (self.fetches + 2)) as u64 + 1;
        let before = computed(stats, first_id + self.fetches as u64).await?;
        let counters = Counters::read(addr).await?;
        let started = now_ns();
        for (s, ws) in sockets.iter_mut().enumerate() {
            for i in self.fetches_of(s) {
                ws.feed(Message::text(fetch_frame(first_id + i as u64, user))).await?;
            }
            ws.flush().await?;
        }
        let deadline = Instant::now() + ROUND_CAP;
        let shows = format!(r#""name":"user{user}""#).into_bytes();
        let shows = &shows;
        let read = sockets.iter_mut().enumerate().map(|(s, ws)| async move {
            let expected = self.fetches_of(s).count();
            answers(ws, expected, first_id..first_id + self.fetches as u64, shows, deadline).await
        });
        let mut total = Answers::default();
        for one in futures_util::future::join_all(read).await {
            total.right += one.right;
            total.wrong += one.wrong;
            total.errors += one.errors;
            total.missing += one.missing;
            total.last_ns = total.last_ns.max(one.last_ns);
            if total.first_problem.is_none() {
                total.first_problem = one.first_problem;
            }
        }
        let after = computed(stats, first_id + self.fetches as u64 + 1).await?;
        let cache = Counters::read(addr).await?.since(counters);
        if total.wrong > 0 || total.errors > 0 || total.missing > 0 {
            outcome.problem(format!(
                "round {round}: {} bundles without user{user}'s name, {} error replies, {} fetches unanswered within {ROUND_CAP:?} (the first: {})",
                total.wrong,
                total.errors,
                total.missing,
                total.first_problem.as_deref().unwrap_or("?")
            ));
        }
        Ok(Round {
            to_last_us: if total.missing > 0 {
                f64::NAN
            } else {
                total.last_ns.saturating_sub(started) as f64 / 1000.0
            },
            runs: after.saturating_sub(before) as f64,
            cache,
        })
    }
}

/// `fetch` of `user {user_id: user}`, request `id`.
fn fetch_frame(id: u64, user: u64) -> String {
    format!(r#"{{"type":"fetch","id":{id},"context":"user","params":{{"user_id":{user}}}}}"#)
}

/// Reads `ws` until `expected` answers to requests in `ids` are in (each
/// a bundle holding `shows`), or `deadline`.
async fn answers(ws: &mut Ws, expected: usize, ids: std::ops::Range<u64>, shows: &[u8], deadline: Instant) -> Answers {
    let mut answers = Answers {
        missing: expected as u64,
        ..Answers::default()
    };
    while answers.missing > 0 {
        let text = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => {
                answers.first_problem.get_or_insert_with(|| e.to_string());
                break;
            }
            Ok(None) => {
                answers
                    .first_problem
                    .get_or_insert_with(|| "the server closed a socket".into());
                break;
            }
            Err(_) => {
                answers.first_problem.get_or_insert_with(|| "no answer in time".into());
                break;
            }
        };
        let frame = text.as_bytes();
        let bundle = frame.starts_with(br#"{"type":"bundle""#);
        if !bundle && !frame.starts_with(br#"{"type":"error""#) {
            continue;
        }
        if !crate::dialect::number_after(frame, b"\"id\":").is_some_and(|id| ids.contains(&id)) {
            continue;
        }
        answers.missing -= 1;
        answers.last_ns = now_ns();
        if !bundle {
            answers.errors += 1;
            answers.first_problem.get_or_insert_with(|| text.as_str().to_owned());
        } else if contains(frame, shows) {
            answers.right += 1;
        } else {
            answers.wrong += 1;
            answers.first_problem.get_or_insert_with(|| text.as_str().to_owned());
        }
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetches_are_spread_over_the_sockets_and_spelled() {
        let step = ColdStart {
            fetches: 10,
            sockets: 4,
            rounds: 1,
            cached: true,
        };
        let spread: Vec<Vec<usize>> = (0..4).map(|s| step.fetches_of(s).collect()).collect();
        assert_eq!(spread, [vec![0, 4, 8], vec![1, 5, 9], vec![2, 6], vec![3, 7]]);
        assert_eq!(
            fetch_frame(3, 1_000_001),
            r#"{"type":"fetch","id":3,"context":"user","params":{"user_id":1000001}}"#
        );
    }
}
