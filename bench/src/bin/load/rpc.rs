//! RPC: clients calling `echo` in a loop, one call outstanding each.

use crate::conn::{self, Endpoint, Ws};
use crate::report::{Outcome, Unit};
use crate::servers::Cpu;
use anyhow::Context;
use hdrhistogram::Histogram;
use mizan_bench::now_ns;
use std::time::{Duration, Instant};

/// Unmeasured calls come first, for this long.
const WARM_UP: Duration = Duration::from_secs(1);

/// `clients` sockets calling `echo` for `seconds`.
#[derive(Clone, Debug)]
pub(crate) struct Rpc {
    pub(crate) clients: usize,
    pub(crate) seconds: u64,
}

/// One client's count and latencies (µs).
struct Calls {
    count: u64,
    latency: Histogram<u64>,
}

impl Rpc {
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} clients each calling `echo` in a loop (one call outstanding) for {} s",
            self.clients, self.seconds
        )
    }

    /// Runs it; `cpu` is charged over the measured seconds.
    pub(crate) async fn run(&self, endpoint: &Endpoint, cpu: &Cpu<'_>) -> anyhow::Result<Outcome> {
        let sockets = conn::open_many(self.clients, 64, |_| endpoint.connect()).await?;
        let measure_from = Instant::now() + WARM_UP;
        let until = measure_from + Duration::from_secs(self.seconds);
        let tasks: Vec<_> = sockets
            .into_iter()
            .map(|ws| tokio::spawn(call_loop(ws, endpoint.clone(), measure_from, until)))
            .collect();
        tokio::time::sleep_until(measure_from.into()).await;
        let cpu_before = cpu.used()?;
        let mut count = 0;
        let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        for task in tasks {
            let calls = task.await.context("a client panicked")??;
            count += calls.count;
            latency.add(&calls.latency)?;
        }
        let cpu_used = cpu.used()?.saturating_sub(cpu_before);
        let mut outcome = Outcome::default();
        outcome
            .push("calls", count as f64, Unit::Count)
            .push("calls/s", count as f64 / self.seconds as f64, Unit::PerSecond)
            .headline(true)
            .push("p50", latency.value_at_quantile(0.5) as f64, Unit::Micros)
            .push("p99", latency.value_at_quantile(0.99) as f64, Unit::Micros)
            .push("max", latency.max() as f64, Unit::Micros)
            .cpu(cpu_used, "CPU/call", count);
        Ok(outcome)
    }
}

/// Calls `echo` until `until`; counts and times the calls that start after
/// `measure_from`.
async fn call_loop(mut ws: Ws, endpoint: Endpoint, measure_from: Instant, until: Instant) -> anyhow::Result<Calls> {
    let dialect = endpoint.dialect;
    let mut calls = Calls {
        count: 0,
        latency: Histogram::new_with_bounds(1, 600_000_000, 3)?,
    };
    let mut id = 1u64;
    while Instant::now() < until {
        id += 1;
        let measured = Instant::now() >= measure_from;
        let sent = now_ns();
        conn::request(&mut ws, dialect, dialect.echo(id, "hello"), id).await?;
        if measured {
            calls.count += 1;
            calls.latency.saturating_record(now_ns().saturating_sub(sent) / 1000);
        }
    }
    Ok(calls)
}
