//! Connection counting and per-socket rate limiting.

use dashmap::DashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Open sockets, on the node and per user.
#[derive(Default)]
pub(crate) struct Connections {
    total: AtomicUsize,
    per_user: DashMap<Arc<str>, usize>,
}

/// A counted socket; releases its place when dropped.
pub(crate) struct ConnectionSlot {
    connections: Arc<Connections>,
    user: Option<Arc<str>>,
}

/// Why a socket could not be counted.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The node is full.
    Node(usize),
    /// The user has too many sockets.
    User(usize),
}

impl Connections {
    /// Counts a new socket of `user`, if the limits allow.
    pub(crate) fn open(
        self: &Arc<Self>,
        user: Option<&str>,
        max_total: usize,
        max_per_user: usize,
    ) -> Result<ConnectionSlot, Refused> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Node(max_total));
        }
        let mut slot = ConnectionSlot {
            connections: Arc::clone(self),
            user: None,
        };
        if let Some(user) = user {
            slot.switch_user(user, max_per_user)?;
        }
        Ok(slot)
    }

    /// Sockets open on this node.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    fn take_user(&self, user: &str, max: usize) -> Result<(), Refused> {
        let mut count = self.per_user.entry(user.into()).or_default();
        if *count >= max {
            return Err(Refused::User(max));
        }
        *count += 1;
        Ok(())
    }

    fn release_user(&self, user: &str) {
        self.per_user.remove_if_mut(user, |_, count| {
            *count -= 1;
            *count == 0
        });
    }
}

impl ConnectionSlot {
    /// Moves this socket's place to `user` (after an `auth` frame); on
    /// refusal it keeps its old place.
    pub(crate) fn switch_user(&mut self, user: &str, max_per_user: usize) -> Result<(), Refused> {
        if self.user.as_deref() == Some(user) {
            return Ok(());
        }
        self.connections.take_user(user, max_per_user)?;
        if let Some(old) = self.user.replace(user.into()) {
            self.connections.release_user(&old);
        }
        Ok(())
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Some(user) = &self.user {
            self.connections.release_user(user);
        }
        self.connections.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A token bucket: `rate` tokens a second, holding at most `burst`.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    fn connections_are_counted_per_node_and_per_user() {
        let c = Arc::new(Connections::default());
        let a = c.open(Some("ann"), 3, 2).unwrap();
        let b = c.open(Some("ann"), 3, 2).unwrap();
        assert!(matches!(c.open(Some("ann"), 3, 2), Err(Refused::User(2))));
        let mut anon = c.open(None, 3, 2).unwrap();
        assert!(matches!(c.open(None, 3, 2), Err(Refused::Node(3))));
        assert!(matches!(anon.switch_user("ann", 2), Err(Refused::User(2))));
        drop(a);
        anon.switch_user("ann", 2).unwrap();
        assert_eq!(c.total(), 2);
        drop((b, anon));
        assert_eq!((c.total(), c.per_user.len()), (0, 0));
    }
}
