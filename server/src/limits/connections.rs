//! Open sockets: on the node, per user, per client address, and how many
//! have no user.

use dashmap::DashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Open sockets, on the node, per user, per client address, anonymous.
#[derive(Default)]
pub(crate) struct Connections {
    total: AtomicUsize,
    anonymous: AtomicUsize,
    per_user: DashMap<Arc<str>, usize>,
    per_address: DashMap<IpAddr, usize>,
    /// Woken when the last socket closes (draining waits for it).
    empty: tokio::sync::Notify,
}

/// The ceilings [`Connections::open`] checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    pub(crate) total: usize,
    pub(crate) per_user: usize,
    pub(crate) per_address: usize,
    /// Anonymous sockets past this many are admitted on probation.
    pub(crate) anonymous: usize,
}

/// A counted socket; releases its place when dropped.
pub(crate) struct ConnectionSlot {
    connections: Arc<Connections>,
    user: Option<Arc<str>>,
    address: Option<IpAddr>,
}

/// Why a socket could not be counted.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The node is full.
    Node(usize),
    /// The user has too many sockets.
    User(usize),
    /// The client address has too many sockets.
    Address(usize),
}

impl Connections {
    /// Counts a new socket of `user` from `address`, if the limits allow.
    /// The flag is true when an anonymous socket was admitted past the
    /// anonymous share: it is on probation (it must sign in).
    pub(crate) fn open(
        self: &Arc<Self>,
        user: Option<&str>,
        address: Option<IpAddr>,
        limits: ConnectionLimits,
    ) -> Result<(ConnectionSlot, bool), Refused> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= limits.total {
            self.release_total();
            return Err(Refused::Node(limits.total));
        }
        // From here on the slot's drop gives back whatever it holds.
        let mut slot = ConnectionSlot {
            connections: Arc::clone(self),
            user: None,
            address: None,
        };
        self.anonymous.fetch_add(1, Ordering::AcqRel);
        if let Some(address) = address {
            let mut count = self.per_address.entry(address).or_default();
            if *count >= limits.per_address {
                return Err(Refused::Address(limits.per_address));
            }
            *count += 1;
            drop(count);
            slot.address = Some(address);
        }
        let probation = match user {
            Some(user) => {
                slot.switch_user(user, limits.per_user)?;
                false
            }
            None => self.anonymous.load(Ordering::Acquire) > limits.anonymous,
        };
        Ok((slot, probation))
    }

    /// Sockets open on this node.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Waits until no socket is open.
    pub(crate) async fn wait_empty(&self) {
        loop {
            let empty = self.empty.notified();
            tokio::pin!(empty);
            empty.as_mut().enable();
            if self.total() == 0 {
                return;
            }
            empty.await;
        }
    }

    fn release_total(&self) {
        if self.total.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.empty.notify_waiters();
        }
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
    /// refusal it keeps its old place. An anonymous socket stops counting
    /// as anonymous.
    pub(crate) fn switch_user(&mut self, user: &str, max_per_user: usize) -> Result<(), Refused> {
        if self.user.as_deref() == Some(user) {
            return Ok(());
        }
        self.connections.take_user(user, max_per_user)?;
        match self.user.replace(user.into()) {
            Some(old) => self.connections.release_user(&old),
            None => {
                self.connections.anonymous.fetch_sub(1, Ordering::AcqRel);
            }
        }
        Ok(())
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let c = &self.connections;
        match &self.user {
            Some(user) => c.release_user(user),
            None => {
                c.anonymous.fetch_sub(1, Ordering::AcqRel);
            }
        }
        if let Some(address) = self.address {
            c.per_address.remove_if_mut(&address, |_, count| {
                *count -= 1;
                *count == 0
            });
        }
        c.release_total();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        total: 3,
        per_user: 2,
        per_address: 10,
        anonymous: 10,
    };

    #[test]
    fn connections_are_counted_per_node_and_per_user() {
        let c = Arc::new(Connections::default());
        let (a, _) = c.open(Some("ann"), None, LIMITS).unwrap();
        let (b, _) = c.open(Some("ann"), None, LIMITS).unwrap();
        assert!(matches!(c.open(Some("ann"), None, LIMITS), Err(Refused::User(2))));
        let (mut anon, _) = c.open(None, None, LIMITS).unwrap();
        assert!(matches!(c.open(None, None, LIMITS), Err(Refused::Node(3))));
        assert!(matches!(anon.switch_user("ann", 2), Err(Refused::User(2))));
        drop(a);
        anon.switch_user("ann", 2).unwrap();
        assert_eq!(c.total(), 2);
        drop((b, anon));
        assert_eq!((c.total(), c.per_user.len()), (0, 0));
        assert_eq!(c.anonymous.load(Ordering::Acquire), 0);
    }

    #[test]
    fn addresses_are_capped_and_anonymous_sockets_past_the_share_come_on_probation() {
        let c = Arc::new(Connections::default());
        let limits = ConnectionLimits {
            total: 10,
            per_user: 10,
            per_address: 2,
            anonymous: 1,
        };
        let here: IpAddr = [127, 0, 0, 2].into();
        let there: IpAddr = [127, 0, 0, 3].into();
        let (first, probation) = c.open(None, Some(here), limits).unwrap();
        assert!(!probation, "within the anonymous share");
        let (mut second, probation) = c.open(None, Some(here), limits).unwrap();
        assert!(probation, "past the anonymous share");
        assert!(matches!(c.open(None, Some(here), limits), Err(Refused::Address(2))));
        let (signed, probation) = c.open(Some("ann"), Some(there), limits).unwrap();
        assert!(!probation, "users are never on probation");
        second.switch_user("bob", 10).unwrap();
        let (_third, probation) = c.open(None, Some(there), limits).unwrap();
        assert!(probation, "one anonymous socket is left, and a new one");
        drop((first, second, signed));
        assert_eq!(c.per_address.len(), 1);
    }
}
