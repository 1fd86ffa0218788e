//! Replies, pushes and errors the server sends, with their encoder and decoder.

use crate::codes::ErrorCode;
use crate::entries::{InvalidateEntry, MergeEntry};
use crate::fields::{RawFields, any_payload, optional, params, required};
use crate::values::{Params, Payload, RequestId, UserInfo};
use serde::Serialize;

/// A frame from the server: a reply (with the request's `id`), a push (no
/// `id`), or an error.
///
/// ```
/// use mizan_protocol::{Payload, ServerFrame};
/// let push = ServerFrame::Message {
///     topic: "chat:chat_lobby".into(),
///     data: Payload::from_json(r#"{"text":"hi","user":null}"#).unwrap(),
/// };
/// let text = push.encode();
/// assert_eq!(text, r#"{"type":"message","topic":"chat:chat_lobby","data":{"text":"hi","user":null}}"#);
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
    },
    /// The reply to `subscribe`.
    Subscribed {
        /// Request id.
        id: RequestId,
        /// The joined topic, `"<channel>:<group>"`.
        topic: String,
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
}

impl ServerFrame {
    /// Every frame type's `type`, in declaration order: `KINDS[f.kind_index()]`
    /// is `f`'s.
    pub const KINDS: [&'static str; 11] = [
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
    ];

    /// The index of this frame's type in [`Self::KINDS`] (for counters
    /// indexed by type).
    ///
    /// ```
    /// use mizan_protocol::ServerFrame;
    /// let f = ServerFrame::Subscribed { id: mizan_protocol::RequestId::new(1).unwrap(), topic: "t".into() };
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
            },
            "subscribed" => Self::Subscribed {
                id: need_id()?,
                topic: required("topic", f.topic)?,
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
            },
            "invalidate" => Self::Invalidate(InvalidateEntry {
                context: required("context", f.context)?,
                function: optional("fn", f.function)?,
                params: optional("params", f.params)?,
                user: optional("user", f.user)?,
            }),
            "merge" => Self::Merge(MergeEntry {
                context: required("context", f.context)?,
                slot: required("slot", f.slot)?,
                params: optional("params", f.params)?,
                user: optional("user", f.user)?,
                value: any_payload("value", f.value)?,
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
            other => return Err(format!("unknown frame type `{}`", crate::quote(other))),
        })
    }
}
