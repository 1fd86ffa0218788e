//! Node-wide totals: how many subscriptions or watches all sockets of a
//! node hold together.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A count with a ceiling, shared by the sockets of a node.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    max: usize,
}

/// One unit of a [`Budget`]; given back when dropped.
#[derive(Debug)]
pub(crate) struct BudgetSlot(Arc<Budget>);

impl Budget {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            max,
        })
    }

    /// Takes a unit, unless the ceiling is reached.
    pub(crate) fn take(self: &Arc<Self>) -> Option<BudgetSlot> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < self.max).then_some(used + 1)
            })
            .ok()
            .map(|_| BudgetSlot(Arc::clone(self)))
    }

    /// The ceiling.
    pub(crate) fn max(&self) -> usize {
        self.max
    }
}

impl Drop for BudgetSlot {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_refused_at_the_ceiling_and_given_back_on_drop() {
        let budget = Budget::new(2);
        let a = budget.take().unwrap();
        let _b = budget.take().unwrap();
        assert!(budget.take().is_none());
        drop(a);
        assert!(budget.take().is_some());
    }
}
