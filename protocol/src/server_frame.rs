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
}

impl ServerFrame {
    /// An error frame without details.
    pub fn error(id: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            id,
            code,
            message: message.into(),
            details: None,
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
        let need_id = || id.ok_or_else(|| format!("`{kind}` frame needs an `id`"));
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
            other => return Err(format!("unknown frame type `{other}`")),
        })
    }
}
