//! Internals for `mizan-bench`'s Criterion benchmarks (feature
//! `bench-internals`); not a stable API. Each function builds the state a
//! hot path works on and returns the path as a closure, so no internal
//! type leaves the crate.

use crate::hub::Hub;
use crate::outbox::{OutboxReceiver, outbox};
use axum::extract::ws::Utf8Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// A hub of `topics` topics with one subscriber each, plus topic `"big"`
/// with `members` subscribers. The closure publishes one encoded frame to
/// `target` (`"big"`, or one of the small topics, `"t<n>"`) and then takes
/// every queue the frame reached, as each socket's writer would; it
/// returns how many subscribers the frame reached.
///
/// ```
/// let mut publish = mizan_server::bench_support::fanout(100, 10, "big");
/// assert_eq!(publish(), 10);
/// let mut publish = mizan_server::bench_support::fanout(100, 10, "t7");
/// assert_eq!(publish(), 1);
/// ```
pub fn fanout(topics: usize, members: usize, target: &str) -> impl FnMut() -> usize {
    let hub = Hub::default();
    let mut receivers: Vec<(Arc<str>, OutboxReceiver)> = Vec::new();
    let mut conn = 0;
    let mut join = |topic: Arc<str>| {
        conn += 1;
        let (tx, rx) = outbox(1024, 1 << 20, Arc::default());
        hub.join(&topic, conn, tx, || {});
        receivers.push((topic, rx));
    };
    for t in 0..topics {
        join(format!("t{t}").into());
    }
    let big: Arc<str> = "big".into();
    for _ in 0..members {
        join(Arc::clone(&big));
    }
    let target: Arc<str> = target.into();
    let reached: Vec<OutboxReceiver> = receivers
        .into_iter()
        .filter(|(topic, _)| *topic == target)
        .map(|(_, rx)| rx)
        .collect();
    let frame = Utf8Bytes::from_static(r#"{"type":"message","topic":"big","data":{"text":"hello","user":null}}"#);
    let mut batch = VecDeque::new();
    move || {
        let count = hub.deliver(&target, &frame);
        for rx in &reached {
            rx.take(&mut batch);
            batch.clear();
        }
        count
    }
}
