//! What a mutation reports: stale data (invalidations) and patched data (merges).

use crate::values::{Params, Payload};
use serde::{Deserialize, Serialize};

/// One invalidation: the watchers of `context` whose params contain every
/// key of `params` with an equal value must refetch (all watchers of the
/// context when `params` is absent). `function` narrows it to one slot.
///
/// ```
/// use mizan_protocol::InvalidateEntry;
/// let e = InvalidateEntry::broad("notifications");
/// assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"context":"notifications"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvalidateEntry {
    /// The affected context.
    pub context: String,
    /// The affected function (slot), for a function-level entry.
    #[serde(rename = "fn", default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The scope; absent for a broad entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Params>,
    /// For a per-user context: the only user whose watchers it reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl InvalidateEntry {
    /// A broad entry: every watcher of `context`.
    pub fn broad(context: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            function: None,
            params: None,
            user: None,
        }
    }
}

/// One merge: matching watchers splice `value` into `slot` of their bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeEntry {
    /// The patched context.
    pub context: String,
    /// The slot (function name) whose value is replaced.
    pub slot: String,
    /// The scope; absent when no mutation arg names a context param.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Params>,
    /// For a per-user context: the only user whose watchers it reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The new value of the slot.
    pub value: Payload,
}
