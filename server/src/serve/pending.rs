//! TCP connections accepted and not upgraded: capped on the node (the
//! listener stops accepting until one ends: new ones wait in the kernel's
//! backlog) and per client address (one over it is answered 429 at once),
//! so silent or slow connections cannot take every descriptor (upgraded
//! sockets are counted by `max_connections`).

use crate::client_addr::bucket;
use dashmap::DashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The HTTP connections a listener holds.
pub(super) struct Pending {
    slots: Arc<Semaphore>,
    total: AtomicUsize,
    per_address: DashMap<IpAddr, usize>,
    /// Woken when the last one ends.
    empty: tokio::sync::Notify,
}

/// A place for one more connection, taken before accepting it.
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// One held connection; released when dropped (the connection ended or
/// became a WebSocket).
pub(super) struct Held {
    pending: Arc<Pending>,
    address: Option<IpAddr>,
    _slot: Slot,
}

impl Pending {
    /// At most `max` connections held at once.
    pub(super) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(max.max(1))),
            total: AtomicUsize::new(0),
            per_address: DashMap::new(),
            empty: tokio::sync::Notify::new(),
        })
    }

    /// Waits for a place (the node holds fewer than `max`).
    pub(super) async fn slot(&self) -> Slot {
        let permit = Arc::clone(&self.slots).acquire_owned().await;
        Slot {
            _permit: permit.expect("the semaphore is never closed"),
        }
    }

    /// Holds a connection from `ip` in `slot`, unless the address holds
    /// `max_per_address` already (`None`: the address is exempt, a trusted
    /// proxy).
    pub(super) fn hold(self: &Arc<Self>, slot: Slot, ip: IpAddr, max_per_address: Option<usize>) -> Option<Held> {
        self.total.fetch_add(1, Ordering::AcqRel);
        let mut held = Held {
            pending: Arc::clone(self),
            address: None,
            _slot: slot,
        };
        if let Some(cap) = max_per_address {
            let address = bucket(ip);
            let mut count = self.per_address.entry(address).or_default();
            if *count >= cap {
                return None;
            }
            *count += 1;
            held.address = Some(address);
        }
        Some(held)
    }

    /// Waits until no connection is held.
    pub(super) async fn wait_empty(&self) {
        loop {
            let empty = self.empty.notified();
            tokio::pin!(empty);
            empty.as_mut().enable();
            if self.total.load(Ordering::Acquire) == 0 {
                return;
            }
            empty.await;
        }
    }

    fn release(&self) {
        if self.total.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.empty.notify_waiters();
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(address) = self.address {
            self.pending.per_address.remove_if_mut(&address, |_, count| {
                *count -= 1;
                *count == 0
            });
        }
        self.pending.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn holds_up_to_the_caps_and_exempts_proxies_from_the_address_cap() {
        let pending = Pending::new(3);
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        let first = pending.hold(pending.slot().await, a, Some(1)).unwrap();
        assert!(pending.hold(pending.slot().await, a, Some(1)).is_none(), "a's cap");
        let _proxy = pending.hold(pending.slot().await, a, None).unwrap();
        let _other = pending.hold(pending.slot().await, b, Some(1)).unwrap();
        let full = tokio::time::timeout(std::time::Duration::from_millis(50), pending.slot()).await;
        assert!(full.is_err(), "the node's cap: no place until one ends");
        drop(first);
        assert!(pending.hold(pending.slot().await, a, Some(1)).is_some());
    }
}
