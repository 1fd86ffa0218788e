//! Which watchers of one context an entry reaches, found through an index.
//!
//! A watcher of `(context C, params P)` receives an entry `(C, Q)` when
//! every key of `Q` is in `P` with an equal JSON value; an entry without
//! params (or with empty params) reaches every watcher of `C`. A scoped
//! entry is matched through an index from `key=value` to watchers: the
//! candidates are the watchers holding the entry's rarest pair, so a
//! mutation of user 5 never looks at the watchers of user 6.

use mizan_protocol::Params;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

/// The watchers of one context, each identified by a key `K` (e.g. a
/// connection and its canonical params) and carrying a value `W`.
///
/// ```
/// use mizan_channels::WatchIndex;
/// use serde_json::json;
/// let params = |v: serde_json::Value| v.as_object().unwrap().clone();
///
/// let mut index = WatchIndex::default();
/// index.insert(1, params(json!({"user_id": 5})), "alice");
/// index.insert(2, params(json!({"user_id": 6})), "bob");
/// let mut reached = Vec::new();
/// index.for_each_match(Some(&params(json!({"user_id": 5}))), |w| reached.push(*w));
/// assert_eq!(reached, ["alice"]);
/// assert_eq!(index.for_each_match(None, |_| {}), 2);
/// ```
#[derive(Debug)]
pub struct WatchIndex<K, W> {
    all: HashMap<K, (Params, W)>,
    /// `key=value` (canonical JSON) -> the watchers whose params hold it.
    index: HashMap<Arc<str>, HashSet<K>>,
}

impl<K, W> Default for WatchIndex<K, W> {
    fn default() -> Self {
        Self {
            all: HashMap::new(),
            index: HashMap::new(),
        }
    }
}

/// The index key of one param (its value's canonical text, so an object
/// value matches whatever its key order).
fn pair(key: &str, value: &serde_json::Value) -> String {
    format!("{key}={}", mizan_protocol::canonical_json(value))
}

impl<K: Hash + Eq + Clone, W> WatchIndex<K, W> {
    /// Adds a watcher (replacing one with the same key); returns the
    /// replaced value.
    pub fn insert(&mut self, key: K, params: Params, watcher: W) -> Option<W> {
        let replaced = self.remove(&key);
        for (k, v) in &params {
            self.index.entry(pair(k, v).into()).or_default().insert(key.clone());
        }
        self.all.insert(key, (params, watcher));
        replaced
    }

    /// Removes a watcher; returns its value.
    pub fn remove(&mut self, key: &K) -> Option<W> {
        let (params, watcher) = self.all.remove(key)?;
        for (k, v) in &params {
            let pair = pair(k, v);
            if let Some(set) = self.index.get_mut(pair.as_str()) {
                set.remove(key);
                if set.is_empty() {
                    self.index.remove(pair.as_str());
                }
            }
        }
        Some(watcher)
    }

    /// How many watchers there are.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Calls `f` for every watcher an entry scoped by `params` reaches;
    /// returns how many it reached.
    pub fn for_each_match(&self, params: Option<&Params>, mut f: impl FnMut(&W)) -> usize {
        let Some(scope) = params.filter(|p| !p.is_empty()) else {
            self.all.values().for_each(|(_, w)| f(w));
            return self.all.len();
        };
        let mut rarest: Option<&HashSet<K>> = None;
        for (k, v) in scope {
            match self.index.get(pair(k, v).as_str()) {
                None => return 0,
                Some(set) if rarest.is_none_or(|r| set.len() < r.len()) => rarest = Some(set),
                Some(_) => {}
            }
        }
        let mut reached = 0;
        for key in rarest.into_iter().flatten() {
            let (watched, watcher) = &self.all[key];
            if scope.iter().all(|(k, v)| watched.get(k) == Some(v)) {
                f(watcher);
                reached += 1;
            }
        }
        reached
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: serde_json::Value) -> Params {
        v.as_object().unwrap().clone()
    }

    fn reached(index: &WatchIndex<u32, u32>, scope: Option<serde_json::Value>) -> Vec<u32> {
        let scope = scope.map(params);
        let mut out = Vec::new();
        index.for_each_match(scope.as_ref(), |w| out.push(*w));
        out.sort_unstable();
        out
    }

    #[test]
    fn matching_follows_the_protocol_rule() {
        let mut index = WatchIndex::default();
        index.insert(1, params(json!({"user_id": 5})), 1);
        index.insert(2, params(json!({"user_id": 6})), 2);
        index.insert(3, params(json!({"user_id": 5, "tab": "orders"})), 3);
        index.insert(4, Params::new(), 4);
        assert_eq!(reached(&index, Some(json!({"user_id": 5}))), [1, 3]);
        assert_eq!(reached(&index, Some(json!({"user_id": 5, "tab": "orders"}))), [3]);
        assert_eq!(reached(&index, Some(json!({"user_id": "5"}))), Vec::<u32>::new());
        assert_eq!(reached(&index, Some(json!({"team": 1}))), Vec::<u32>::new());
        assert_eq!(reached(&index, Some(json!({}))), [1, 2, 3, 4]);
        assert_eq!(reached(&index, None), [1, 2, 3, 4]);
    }

    #[test]
    fn remove_and_replace_keep_the_index_exact() {
        let mut index = WatchIndex::default();
        index.insert(1, params(json!({"user_id": 5})), 10);
        assert_eq!(index.insert(1, params(json!({"user_id": 6})), 11), Some(10));
        assert_eq!(reached(&index, Some(json!({"user_id": 5}))), Vec::<u32>::new());
        assert_eq!(reached(&index, Some(json!({"user_id": 6}))), [11]);
        assert_eq!(index.remove(&1), Some(11));
        assert_eq!(index.remove(&1), None);
        assert!(index.is_empty() && index.index.is_empty());
    }
}
