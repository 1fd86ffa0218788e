//! The load generators' clock.

use std::sync::OnceLock;
use std::time::Instant;

/// Nanoseconds since the first call in this process. Send times travel in
/// frames and come back to the same process, so one clock serves both
/// ends of every latency.
///
/// ```
/// let a = mizan_bench::now_ns();
/// assert!(mizan_bench::now_ns() >= a);
/// ```
pub fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}
