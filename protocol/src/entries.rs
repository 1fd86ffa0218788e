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
#[non_exhaustive]
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
    /// Its offset in the context's stream, once published (PROTOCOL.md
    /// section 9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl InvalidateEntry {
    /// A broad entry: every watcher of `context`.
    pub fn broad(context: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            function: None,
            params: None,
            user: None,
            offset: None,
        }
    }

    /// Scoped by `params` (`None`: broad).
    ///
    /// ```
    /// use mizan_protocol::InvalidateEntry;
    /// let p = serde_json::json!({"user_id": 5}).as_object().cloned();
    /// let e = InvalidateEntry::broad("user").with_function(Some("user_profile".into())).with_params(p);
    /// assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"context":"user","fn":"user_profile","params":{"user_id":5}}"#);
    /// ```
    #[must_use]
    pub fn with_params(mut self, params: Option<Params>) -> Self {
        self.params = params;
        self
    }

    /// Narrowed to one slot (`None`: the whole context).
    #[must_use]
    pub fn with_function(mut self, function: Option<String>) -> Self {
        self.function = function;
        self
    }

    /// For a per-user context: reaching only `user`'s watchers.
    #[must_use]
    pub fn for_user(mut self, user: Option<String>) -> Self {
        self.user = user;
        self
    }

    /// Published at `offset` of its context's stream.
    #[must_use]
    pub fn at(mut self, offset: Option<u64>) -> Self {
        self.offset = offset;
        self
    }
}

/// One merge: matching watchers splice `value` into `slot` of their bundle.
///
/// ```
/// use mizan_protocol::{MergeEntry, Payload};
/// let e = MergeEntry::new("user", "user_profile", Payload::from_json("{}").unwrap());
/// assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"context":"user","slot":"user_profile","value":{}}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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
    /// Its offset in the context's stream, once published (PROTOCOL.md
    /// section 9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl MergeEntry {
    /// A merge of `value` into `slot` of every watcher of `context`.
    pub fn new(context: impl Into<String>, slot: impl Into<String>, value: Payload) -> Self {
        Self {
            context: context.into(),
            slot: slot.into(),
            params: None,
            user: None,
            value,
            offset: None,
        }
    }

    /// Scoped by `params` (`None`: every watcher of the context).
    #[must_use]
    pub fn with_params(mut self, params: Option<Params>) -> Self {
        self.params = params;
        self
    }

    /// For a per-user context: reaching only `user`'s watchers.
    #[must_use]
    pub fn for_user(mut self, user: Option<String>) -> Self {
        self.user = user;
        self
    }

    /// Published at `offset` of its context's stream.
    #[must_use]
    pub fn at(mut self, offset: Option<u64>) -> Self {
        self.offset = offset;
        self
    }
}
