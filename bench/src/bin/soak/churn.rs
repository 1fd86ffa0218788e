//! Churn: short-lived sockets arriving at a steady rate. Each connects
//! (timed to `hello`), joins a chat room, watches a user, stays 1–5 s
//! reading what arrives, then leaves one of three ways: unsubscribing and
//! unwatching before a clean close, a clean close, or dropping the TCP
//! connection without a close frame. Leaks would show as connections,
//! topics, watchers, file descriptors or RSS that do not come back down.

use crate::load::Shared;
use crate::stats::{Count, Kind};
use crate::ws::{self, Read, micros_since, now_ns};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// Visits at once, at most (ticks above it are skipped).
const MAX_ACTIVE: usize = 500;
/// A visit taking longer than this fails.
const VISIT_LIMIT: Duration = Duration::from_secs(20);

/// Starts `rate` visits a second until the load's end, then waits for
/// them. Aborting this task aborts the visits (they live in its `JoinSet`).
pub(crate) async fn run(shared: Arc<Shared>, rate: f64, rooms: usize) {
    if rate <= 0.0 {
        return;
    }
    let active = Arc::new(AtomicUsize::new(0));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut visits = JoinSet::new();
    let mut turn = 0u64;
    while Instant::now() < shared.end {
        ticks.tick().await;
        if active.load(Ordering::Relaxed) >= MAX_ACTIVE {
            shared.stats.add(Count::Skipped, 1);
            continue;
        }
        active.fetch_add(1, Ordering::Relaxed);
        let (shared, active) = (Arc::clone(&shared), Arc::clone(&active));
        visits.spawn(async move {
            match tokio::time::timeout(VISIT_LIMIT, visit(turn, rooms, &shared)).await {
                Ok(Ok(())) => shared.stats.add(Count::Churned, 1),
                Ok(Err(e)) => shared.stats.note(Count::ConnectFailures, &format!("churn: {e:#}")),
                Err(_) => shared.stats.note(Count::ConnectFailures, "churn: a visit timed out"),
            }
            active.fetch_sub(1, Ordering::Relaxed);
        });
        turn += 1;
        while visits.try_join_next().is_some() {}
    }
    while visits.join_next().await.is_some() {}
}

async fn visit(turn: u64, rooms: usize, shared: &Shared) -> anyhow::Result<()> {
    let start = now_ns();
    let mut ws = ws::connect(&shared.url).await?;
    shared.stats.record(Kind::Connect, micros_since(start));
    let room = (turn % rooms as u64) as usize;
    let topic = ws::subscribe(&mut ws, room, 1).await?;
    let user_id = turn % shared.users() + 1;
    ws::watch(&mut ws, user_id, 2).await?;
    // 1 to 5 s, spread by a multiplicative hash of the turn.
    let stay = Duration::from_millis(1000 + turn.wrapping_mul(2_654_435_761) % 4000);
    let leave = (Instant::now() + stay).min(shared.read_until);
    while let Read::Frame(frame) = ws::read(&mut ws, leave).await? {
        if frame.kind == "error" {
            shared.stats.note(Count::ServerErrors, &frame.describe_error());
        }
    }
    match turn % 3 {
        0 => {
            let unsubscribe = format!(r#"{{"type":"unsubscribe","id":3,"topic":"{topic}"}}"#);
            ws::request(&mut ws, unsubscribe, 3).await?;
            let unwatch = format!(r#"{{"type":"unwatch","id":4,"context":"user","params":{{"user_id":{user_id}}}}}"#);
            ws::request(&mut ws, unwatch, 4).await?;
            ws::close(ws).await;
        }
        1 => ws::close(ws).await,
        _ => drop(ws),
    }
    Ok(())
}
