//! A small, fast, seeded generator: which member publishes next, how long
//! a jittery subscriber stays and stays away. The same seed gives the
//! same run.

use std::time::Duration;

/// Xorshift64 (not for secrets). The state must not be zero.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    /// A generator of its own for stream `n` (e.g. one per subscriber).
    pub(crate) fn seeded(n: u64) -> Self {
        Self((n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    /// Uniform in `0..n` (`n` ≥ 1; the modulo bias is negligible here).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    /// Uniform in `low..=high`, in whole milliseconds.
    pub(crate) fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let (low, high) = (low.as_millis() as usize, high.as_millis() as usize);
        Duration::from_millis((low + self.below(high.saturating_sub(low) + 1)) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_stay_in_their_range() {
        let mut rng = XorShift::seeded(7);
        let (low, high) = (Duration::from_millis(500), Duration::from_millis(2000));
        let picks: Vec<Duration> = (0..1000).map(|_| rng.between(low, high)).collect();
        assert!(picks.iter().all(|d| (low..=high).contains(d)));
        assert!(picks.iter().any(|d| *d < Duration::from_millis(700)));
        assert!(picks.iter().any(|d| *d > Duration::from_millis(1800)));
    }
}
