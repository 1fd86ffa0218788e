//! Token buckets: one per socket, or keyed by client address or user.

use governor::{DefaultKeyedRateLimiter, Quota};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens a second, holding at most `burst`. One
/// per socket (no map, no lock: the socket's reader owns it).
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A full bucket.
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes a token if there is one.
    pub(crate) fn allow(&mut self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Buckets keyed by client address or user, shared by a node's tasks
/// (governor's keyed limiter). Keys whose bucket is full again are dropped
/// every [`SWEEP_EVERY`] checks, so the map holds only recently busy keys.
pub(crate) struct KeyedRate<K: Hash + Eq + Clone> {
    /// `None`: unlimited (a rate too high to express).
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    checks: AtomicU64,
}

/// How often a keyed limiter forgets keys that are idle again.
const SWEEP_EVERY: u64 = 4096;

impl<K: Hash + Eq + Clone> KeyedRate<K> {
    /// `rate` a second per key, `burst` at once.
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        let burst = NonZeroU32::new(burst.clamp(1.0, f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
        let period = (rate > 0.0)
            .then(|| Duration::try_from_secs_f64(1.0 / rate).ok())
            .flatten();
        let limiter = period
            .and_then(Quota::with_period)
            .map(|quota| DefaultKeyedRateLimiter::keyed(quota.allow_burst(burst)));
        Self {
            limiter,
            checks: AtomicU64::new(0),
        }
    }

    /// Takes a token from `key`'s bucket if it has one.
    pub(crate) fn allow(&self, key: &K) -> bool {
        let Some(limiter) = &self.limiter else { return true };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(key).is_ok()
    }
}

/// Tells a socket that keeps sending over its rate limit: refused frames
/// start an overage, which ends after a second without refusals; an
/// overage that lasts `close_after` means the socket should go.
pub(crate) struct Overage {
    close_after: Duration,
    since: Option<Instant>,
    last_refused: Instant,
}

/// How long without a refused frame ends an overage.
const CALM: Duration = Duration::from_secs(1);

impl Overage {
    pub(crate) fn new(close_after: Duration) -> Self {
        Self {
            close_after,
            since: None,
            last_refused: Instant::now(),
        }
    }

    /// A frame was refused by the rate limit: whether the overage has now
    /// lasted too long.
    pub(crate) fn refused(&mut self) -> bool {
        self.refused_at(Instant::now())
    }

    fn refused_at(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.last_refused) > CALM {
            self.since = None;
        }
        self.last_refused = now;
        let since = *self.since.get_or_insert(now);
        now.saturating_duration_since(since) >= self.close_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let mut bucket = RateLimiter::new(10.0, 3.0);
        let start = Instant::now();
        assert!((0..3).all(|_| bucket.allow_at(start)));
        assert!(!bucket.allow_at(start));
        assert!(bucket.allow_at(start + Duration::from_millis(100)));
        assert!(!bucket.allow_at(start + Duration::from_millis(100)));
        assert!((0..3).all(|_| bucket.allow_at(start + Duration::from_secs(10))));
        assert!(!bucket.allow_at(start + Duration::from_secs(10)));
    }

    #[test]
    fn keyed_buckets_are_separate_and_an_unexpressible_rate_is_unlimited() {
        let keyed = KeyedRate::new(1.0, 2.0);
        assert!(keyed.allow(&"a") && keyed.allow(&"a"));
        assert!(!keyed.allow(&"a"), "a's burst is spent");
        assert!(keyed.allow(&"b"), "b has a bucket of its own");
        let unlimited = KeyedRate::new(1e30, 1.0);
        assert!((0..1000).all(|_| unlimited.allow(&"a")));
    }

    #[test]
    fn an_overage_ends_after_a_calm_second_and_lasts_until_close_after() {
        let start = Instant::now();
        let mut overage = Overage::new(Duration::from_secs(5));
        for ms in (0..4900).step_by(100) {
            assert!(!overage.refused_at(start + Duration::from_millis(ms)));
        }
        assert!(overage.refused_at(start + Duration::from_secs(5)));
        // Calm for over a second: a new overage starts from zero.
        let later = start + Duration::from_secs(7);
        assert!(!overage.refused_at(later));
        assert!(!overage.refused_at(later + Duration::from_secs(4)));
    }
}
