//! Invalidation storm (Mizan only): one mutation matching every watcher of
//! a context; how long until the last `invalidate` push arrives.

use crate::conn::{self, Endpoint, Ws};
use crate::dialect::Dialect;
use crate::fanout::report_shared;
use crate::reader::{self, Shared};
use crate::report::{Outcome, Unit};
use crate::servers::Cpu;
use anyhow::ensure;
use mizan_bench::now_ns;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long one round may take.
const ROUND_CAP: Duration = Duration::from_secs(30);
/// How long the watchers sit before the first (unmeasured) round.
const SETTLE: Duration = Duration::from_secs(1);

/// `watchers` sockets watching the fixture's `user` context for user 1;
/// `rounds` measured calls of `update_profile` for that user, after one
/// unmeasured.
#[derive(Clone, Debug)]
pub(crate) struct Storm {
    pub(crate) watchers: usize,
    pub(crate) rounds: usize,
}

impl Storm {
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} sockets watch `user {{user_id: 1}}`; `update_profile(1)` is called {} times; time from the call's write to the last push",
            self.watchers, self.rounds
        )
    }

    /// Runs it; `cpu` is charged over the rounds.
    pub(crate) async fn run(&self, endpoint: &Endpoint, cpu: &Cpu<'_>) -> anyhow::Result<Outcome> {
        ensure!(self.rounds >= 1, "at least one round");
        let dialect = endpoint.dialect;
        let watch = r#"{"type":"watch","id":1,"context":"user","params":{"user_id":1}}"#;
        let sockets = conn::open_many(self.watchers, 64, |_| async move {
            let mut ws = endpoint.connect().await?;
            conn::request(&mut ws, dialect, watch.to_owned(), 1).await?;
            Ok(ws)
        })
        .await?;
        let shared = Arc::new(Shared::new(0));
        let readers: Vec<_> = sockets
            .into_iter()
            .map(|ws| reader::spawn(ws, dialect, &shared, false).1)
            .collect();
        let mut mutator = endpoint.connect().await?;
        // Let the connects settle, then one unmeasured round.
        tokio::time::sleep(SETTLE).await;
        let mut outcome = Outcome::default();
        self.round(&mut mutator, &shared, 0, &mut outcome).await?;
        let mut to_last = Vec::with_capacity(self.rounds);
        let cpu_before = cpu.used()?;
        let mut pushed = 0;
        for round in 1..=self.rounds {
            let (micros, got) = self.round(&mut mutator, &shared, round, &mut outcome).await?;
            to_last.push(micros);
            pushed += got;
        }
        let cpu_used = cpu.used()?.saturating_sub(cpu_before);
        shared.stop.send_replace(true);
        for reader in readers {
            let _ = reader.await;
        }
        to_last.sort_unstable();
        let median = to_last[to_last.len() / 2] as f64;
        outcome
            .push("watchers", self.watchers as f64, Unit::Count)
            .push("to last push (median)", median, Unit::Micros)
            .headline(false)
            .push("to last push (max)", to_last[to_last.len() - 1] as f64, Unit::Micros)
            .push(
                "pushes/s",
                self.watchers as f64 / (median / 1e6).max(1e-9),
                Unit::PerSecond,
            )
            .cpu(cpu_used, "CPU/push", pushed);
        report_shared(&shared, &mut outcome, None);
        Ok(outcome)
    }

    /// One call of `update_profile` and its pushes: microseconds from the
    /// call's write to the last push, and how many arrived.
    async fn round(
        &self,
        mutator: &mut Ws,
        shared: &Shared,
        round: usize,
        outcome: &mut Outcome,
    ) -> anyhow::Result<(u64, u64)> {
        shared.invalidations.store(0, Ordering::Relaxed);
        let id = round as u64 + 2;
        let call =
            format!(r#"{{"type":"call","id":{id},"fn":"update_profile","args":{{"user_id":1,"name":"n{round}"}}}}"#);
        let started = now_ns();
        conn::request(mutator, Dialect::Mizan, call, id).await?;
        let cap = Instant::now() + ROUND_CAP;
        while shared.invalidations.load(Ordering::Relaxed) < self.watchers as u64 && Instant::now() < cap {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let got = shared.invalidations.load(Ordering::Relaxed);
        if got < self.watchers as u64 {
            outcome.problem(format!("round {round}: {got} of {} pushes", self.watchers));
        }
        let last = shared.last_invalidation_ns.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok((last.saturating_sub(started) / 1000, got))
    }
}
