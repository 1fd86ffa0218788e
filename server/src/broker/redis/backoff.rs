//! Reconnection delays: exponential, capped, with jitter so that many nodes
//! that lost Redis at the same moment do not all come back at once.

use std::time::Duration;

/// The delays between reconnection attempts: attempt `n` waits a random
/// time in `[c/2, c]` where `c = min(max, min * 2^n)` ("equal jitter": never
/// less than half the step, so a flapping Redis is not hammered).
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// Delays from `min` up to `max` (`max` below `min` counts as `min`; a
    /// zero `min` as one millisecond).
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(Duration::from_millis(1));
        Self {
            min,
            max: max.max(min),
            attempt: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .min
            .checked_mul(1u32 << self.attempt.min(20))
            .map_or(self.max, |step| step.min(self.max));
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(self.rng.u64(0..=spread))
    }

    /// Back to the shortest delay (after a successful connection).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_grow_and_stay_within_bounds() {
        let mut backoff = Backoff::new(100 * MS, 5000 * MS);
        let ceilings = [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000];
        for ceiling in ceilings {
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling * MS / 2 && delay <= ceiling * MS,
                "{delay:?} for {ceiling} ms"
            );
        }
        for _ in 0..1000 {
            let delay = backoff.next_delay();
            assert!(delay >= 2500 * MS && delay <= 5000 * MS, "{delay:?}");
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff = Backoff::new(100 * MS, 5000 * MS);
        for _ in 0..10 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(backoff.next_delay() <= 100 * MS);
    }

    #[test]
    fn odd_settings_are_made_sane() {
        let mut zero = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert!(zero.next_delay() <= MS);
        let mut inverted = Backoff::new(300 * MS, 10 * MS);
        for _ in 0..50 {
            let delay = inverted.next_delay();
            assert!(delay >= 150 * MS && delay <= 300 * MS, "{delay:?}");
        }
        let mut huge = Backoff::new(Duration::from_secs(u64::MAX / 2), Duration::MAX);
        for _ in 0..40 {
            huge.next_delay();
        }
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let mut backoff = Backoff::new(1000 * MS, 1000 * MS);
        let delays: std::collections::HashSet<Duration> = (0..20).map(|_| backoff.next_delay()).collect();
        assert!(delays.len() > 10);
    }
}
