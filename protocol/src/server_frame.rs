//! Replies, pushes and errors the server sends, with their encoder and decoder.

use crate::codes::ErrorCode;
use crate::entries::{InvalidateEntry, MergeEntry};
use crate::fields::{RawFields, any_payload, optional, params, position, required};
use crate::values::{Member, Params, Payload, Position, RequestId, UserInfo};
use serde::Serialize;

/// A frame from the server: a reply (with the request's `id`), a push (no
/// `id`), or an error.
///
/// ```
/// use mizan_protocol::{Payload, ServerFrame};
/// let push = ServerFrame::Message {
///     topic: "chat:chat_lobby".into(),
///     data: Payload::from_json(r#"{"text":"hi","user":null}"#).unwrap(),
///     offset: Some(8),
/// };
/// let text = push.encode();
/// assert_eq!(text, r#"{"type":"message","topic":"chat:chat_lobby","data":{"text":"hi","user":null},"offset":8}"#);
/// assert_eq!(ServerFrame::decode(text.as_bytes()).unwrap(), push);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerFrame {
    /// Sent once, right after the upgrade.
    Hello {
        /// Protocol version ([`crate::PROTOCOL_VERSION`]).
        protocol: u32,
        /// The node serving this socket.
        node: String,
        /// This socket's session id.
        session: String,
        /// The user the socket acts as, if any.
        user: Option<UserInfo>,
    },
    /// Success without a value: `auth`, `unwatch`, `send`, `unsubscribe`.
    Ok {
        /// Request id.
        id: RequestId,
        /// The authenticated user, in the reply to `auth`.
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<UserInfo>,
    },
    /// A call's result.
    Result {
        /// Request id.
        id: RequestId,
        /// The function's output.
        result: Payload,
        /// What the call made stale (always present, maybe empty).
        invalidate: Vec<InvalidateEntry>,
        /// What the call patched (always present, maybe empty).
        merge: Vec<MergeEntry>,
    },
    /// A context bundle, the reply to `fetch` and `watch`.
    Bundle {
        /// Request id.
        id: RequestId,
        /// The context.
        context: String,
        /// The params it was computed for.
        params: Params,
        /// `{slot: value}` for every function of the context.
        data: Payload,
        /// The context stream's position the bundle reflects (`epoch`,
        /// `offset` at the top level).
        #[serde(flatten, skip_serializing_if = "Option::is_none")]
        position: Option<Position>,
    },
    /// The reply to a `watch` with `since` when nothing after that position
    /// matches it: the client keeps its bundle.
    Unchanged {
        /// Request id.
        id: RequestId,
        /// The context.
        context: String,
        /// The params of the watch.
        params: Params,
        /// The stream's current position (`epoch`, `offset` at the top level).
        #[serde(flatten)]
        position: Position,
    },
    /// The reply to `subscribe`.
    Subscribed {
        /// Request id.
        id: RequestId,
        /// The joined topic, `"<channel>:<group>"`.
        topic: String,
        /// The position of the last message published before the
        /// subscription took effect (`epoch`, `offset` at the top level).
        #[serde(flatten, skip_serializing_if = "Option::is_none")]
        position: Option<Position>,
        /// For a `subscribe` with `since`: whether every message after it
        /// follows (else nothing is replayed, and what the client shows is
        /// incomplete).
        #[serde(skip_serializing_if = "Option::is_none")]
        recovered: Option<bool>,
    },
    /// An error, answering a request when `id` is present.
    Error {
        /// Request id, absent when the failed frame's id could not be read.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// What kind of error.
        code: ErrorCode,
        /// A human-readable explanation (never internals).
        message: String,
        /// Extra detail, e.g. where `invalid_args` failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        details: Option<serde_json::Value>,
    },
    /// Push: a channel message.
    Message {
        /// The topic it was published to.
        topic: String,
        /// The server message.
        data: Payload,
        /// Its offset in the topic's stream.
        #[serde(skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
    },
    /// Push: an invalidation for a watched context.
    Invalidate(InvalidateEntry),
    /// Push: a merge into a watched context.
    Merge(MergeEntry),
    /// Push: the socket left a topic it may no longer join (its user
    /// changed, or its token expired); no message of the topic follows.
    Unsubscribed {
        /// The topic it left.
        topic: String,
        /// Why: `forbidden`, or `unauthenticated` when no user remains.
        code: ErrorCode,
    },
    /// Push: a watch was dropped because its socket may no longer read the
    /// context (its user changed, or its token expired).
    Unwatched {
        /// The context.
        context: String,
        /// The params the watch was made with.
        params: Params,
        /// Why: `forbidden`, or `unauthenticated` when no user remains.
        code: ErrorCode,
    },
    /// The reply to `presence`: every socket subscribed to the topic, on
    /// every node, once.
    Presence {
        /// Request id.
        id: RequestId,
        /// The topic.
        topic: String,
        /// The members.
        members: Vec<Member>,
    },
    /// The reply to `presence_stats`.
    PresenceStats {
        /// Request id.
        id: RequestId,
        /// The topic.
        topic: String,
        /// Sockets subscribed.
        sessions: u64,
        /// Distinct signed-in users among them.
        users: u64,
    },
    /// Push: who joined and left a topic since the last diff (batched).
    PresenceDiff {
        /// The topic.
        topic: String,
        /// Members that joined.
        joins: Vec<Member>,
        /// Members that left.
        leaves: Vec<Member>,
    },
    /// Push: the topic's stream broke while the socket was subscribed (its
    /// data vanished from the shared store, or the node could not read
    /// back what it missed): messages before this position may be missing,
    /// and the next message follows it.
    Gap {
        /// The topic.
        topic: String,
        /// The stream's position now (`epoch`, `offset` at the top level).
        #[serde(flatten)]
        position: Position,
    },
}

impl ServerFrame {
    /// Every frame type's `type`, in declaration order: `KINDS[f.kind_index()]`
    /// is `f`'s.
    pub const KINDS: [&'static str; 16] = [
        "hello",
        "ok",
        "result",
        "bundle",
        "subscribed",
        "error",
        "message",
        "invalidate",
        "merge",
        "unsubscribed",
        "unwatched",
        "unchanged",
        "gap",
        "presence",
        "presence_stats",
        "presence_diff",
    ];

    /// The index of this frame's type in [`Self::KINDS`] (for counters
    /// indexed by type).
    ///
    /// ```
    /// use mizan_protocol::ServerFrame;
    /// let f = ServerFrame::Subscribed { id: mizan_protocol::RequestId::new(1).unwrap(), topic: "t".into(), position: None, recovered: None };
    /// assert_eq!(ServerFrame::KINDS[f.kind_index()], "subscribed");
    /// ```
    pub fn kind_index(&self) -> usize {
        match self {
            Self::Hello { .. } => 0,
            Self::Ok { .. } => 1,
            Self::Result { .. } => 2,
            Self::Bundle { .. } => 3,
            Self::Subscribed { .. } => 4,
            Self::Error { .. } => 5,
            Self::Message { .. } => 6,
            Self::Invalidate(_) => 7,
            Self::Merge(_) => 8,
            Self::Unsubscribed { .. } => 9,
            Self::Unwatched { .. } => 10,
            Self::Unchanged { .. } => 11,
            Self::Gap { .. } => 12,
            Self::Presence { .. } => 13,
            Self::PresenceStats { .. } => 14,
            Self::PresenceDiff { .. } => 15,
        }
    }

    /// An error frame without details; `message` is cut to
    /// [`MESSAGE_CHARS`](crate::MESSAGE_CHARS).
    pub fn error(id: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::error_with_details(id, code, message, None)
    }

    /// An error frame; `message` is cut to [`MESSAGE_CHARS`](crate::MESSAGE_CHARS).
    pub fn error_with_details(
        id: Option<RequestId>,
        code: ErrorCode,
        message: impl Into<String>,
        details: Option<serde_json::Value>,
    ) -> Self {
        Self::Error {
            id,
            code,
            message: crate::text::bounded(message.into()),
            details,
        }
    }

    /// Encodes the frame as JSON text.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("server frames always encode")
    }

    /// Decodes a server frame (for clients, tests and tools). Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let f = RawFields::read(bytes)?;
        let id = f.id()?;
        let kind = f.kind()?;
        let need_id = || id.ok_or_else(|| format!("`{}` frame needs an `id`", crate::quote(&kind)));
        Ok(match kind.as_str() {
            "hello" => Self::Hello {
                protocol: required("protocol", f.protocol)?,
                node: required("node", f.node)?,
                session: required("session", f.session)?,
                user: optional("user", f.user)?,
            },
            "ok" => Self::Ok {
                id: need_id()?,
                user: optional("user", f.user)?,
            },
            "result" => Self::Result {
                id: need_id()?,
                result: any_payload("result", f.result)?,
                invalidate: required("invalidate", f.invalidate)?,
                merge: required("merge", f.merge)?,
            },
            "bundle" => Self::Bundle {
                id: need_id()?,
                context: required("context", f.context)?,
                params: params(f.params)?,
                data: any_payload("data", f.data)?,
                position: position(f.epoch, f.offset)?,
            },
            "unchanged" => Self::Unchanged {
                id: need_id()?,
                context: required("context", f.context)?,
                params: params(f.params)?,
                position: position(f.epoch, f.offset)?.ok_or("`unchanged` needs `epoch` and `offset`")?,
            },
            "subscribed" => Self::Subscribed {
                id: need_id()?,
                topic: required("topic", f.topic)?,
                position: position(f.epoch, f.offset)?,
                recovered: optional("recovered", f.recovered)?,
            },
            "error" => Self::Error {
                id,
                code: required("code", f.code)?,
                message: required("message", f.message)?,
                details: optional("details", f.details)?,
            },
            "message" => Self::Message {
                topic: required("topic", f.topic)?,
                data: any_payload("data", f.data)?,
                offset: optional("offset", f.offset)?,
            },
            "invalidate" => Self::Invalidate(InvalidateEntry {
                context: required("context", f.context)?,
                function: optional("fn", f.function)?,
                params: optional("params", f.params)?,
                user: optional("user", f.user)?,
                offset: optional("offset", f.offset)?,
            }),
            "merge" => Self::Merge(MergeEntry {
                context: required("context", f.context)?,
                slot: required("slot", f.slot)?,
                params: optional("params", f.params)?,
                user: optional("user", f.user)?,
                value: any_payload("value", f.value)?,
                offset: optional("offset", f.offset)?,
            }),
            "unsubscribed" => Self::Unsubscribed {
                topic: required("topic", f.topic)?,
                code: required("code", f.code)?,
            },
            "unwatched" => Self::Unwatched {
                context: required("context", f.context)?,
                params: params(f.params)?,
                code: required("code", f.code)?,
            },
            "presence" => Self::Presence {
                id: need_id()?,
                topic: required("topic", f.topic)?,
                members: required("members", f.members)?,
            },
            "presence_stats" => Self::PresenceStats {
                id: need_id()?,
                topic: required("topic", f.topic)?,
                sessions: required("sessions", f.sessions)?,
                users: required("users", f.users)?,
            },
            "presence_diff" => Self::PresenceDiff {
                topic: required("topic", f.topic)?,
                joins: required("joins", f.joins)?,
                leaves: required("leaves", f.leaves)?,
            },
            "gap" => Self::Gap {
                topic: required("topic", f.topic)?,
                position: position(f.epoch, f.offset)?.ok_or("`gap` needs `epoch` and `offset`")?,
            },
            other => return Err(format!("unknown frame type `{}`", crate::quote(other))),
        })
    }
}
