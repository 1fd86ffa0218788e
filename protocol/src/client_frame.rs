//! Requests a client sends, and their decoder.

use crate::codes::ErrorCode;
use crate::fields::{RawFields, any_payload, object_payload, optional, params, required};
use crate::server_frame::ServerFrame;
use crate::values::{Params, Payload, Position, RequestId};
use serde::Serialize;
use std::fmt;

/// A request from a client. Every request carries an `id` that its reply
/// echoes.
///
/// ```
/// use mizan_protocol::{ClientFrame, RequestId};
/// let frame = ClientFrame::Subscribe {
///     id: RequestId::new(6).unwrap(),
///     channel: "chat".into(),
///     params: mizan_protocol::Payload::from_json(r#"{"room":"lobby"}"#).unwrap(),
///     since: None,
///     history: None,
/// };
/// let text = frame.encode();
/// assert_eq!(text, r#"{"type":"subscribe","id":6,"channel":"chat","params":{"room":"lobby"}}"#);
/// assert_eq!(ClientFrame::decode(text.as_bytes()).unwrap(), frame);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientFrame {
    /// Authenticate (or renew) with a token.
    Auth {
        /// Request id.
        id: RequestId,
        /// The JWT.
        token: String,
    },
    /// Call a server function.
    Call {
        /// Request id.
        id: RequestId,
        /// The function's name.
        #[serde(rename = "fn")]
        function: String,
        /// The args object (`{}` when absent).
        args: Payload,
    },
    /// Fetch a context bundle once.
    Fetch {
        /// Request id.
        id: RequestId,
        /// The context's name.
        context: String,
        /// The context params (`{}` when absent).
        params: Params,
    },
    /// Fetch a context bundle and receive its invalidations and merges.
    Watch {
        /// Request id.
        id: RequestId,
        /// The context's name.
        context: String,
        /// The context params (`{}` when absent).
        params: Params,
        /// The position of the bundle the client already holds: when
        /// nothing after it matches, the reply is `unchanged`.
        #[serde(skip_serializing_if = "Option::is_none")]
        since: Option<Position>,
    },
    /// Stop watching a context.
    Unwatch {
        /// Request id.
        id: RequestId,
        /// The context's name.
        context: String,
        /// The params the watch was made with.
        params: Params,
    },
    /// Join a channel's topic.
    Subscribe {
        /// Request id.
        id: RequestId,
        /// The channel's name.
        channel: String,
        /// The channel params object (`{}` when absent).
        params: Payload,
        /// Recover after a reconnect: replay what came after this position.
        #[serde(skip_serializing_if = "Option::is_none")]
        since: Option<Position>,
        /// Show recent messages on join: the last `history` first.
        #[serde(skip_serializing_if = "Option::is_none")]
        history: Option<u32>,
    },
    /// Send a message to a joined topic.
    Send {
        /// Request id.
        id: RequestId,
        /// The topic, as returned by `subscribed`.
        topic: String,
        /// The client message.
        data: Payload,
    },
    /// Leave a topic.
    Unsubscribe {
        /// Request id.
        id: RequestId,
        /// The topic.
        topic: String,
    },
    /// Who is subscribed to a topic, on every node (PROTOCOL.md section 10).
    Presence {
        /// Request id.
        id: RequestId,
        /// The topic (the asker must be subscribed to it).
        topic: String,
    },
    /// How many sessions and distinct users a topic has.
    PresenceStats {
        /// Request id.
        id: RequestId,
        /// The topic (the asker must be subscribed to it).
        topic: String,
    },
}

impl ClientFrame {
    /// Decodes one text frame. Never panics: anything that is not a valid
    /// request is a [`FrameError`] naming the problem.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let fields = RawFields::read(bytes).map_err(FrameError::without_id)?;
        let id = fields.id().map_err(FrameError::without_id)?;
        let kind = fields.kind().map_err(|m| FrameError::new(id, m))?;
        let id = id.ok_or_else(|| FrameError::without_id(format!("`{}` frame needs an `id`", crate::quote(&kind))))?;
        Self::from_fields(id, &kind, &fields).map_err(|m| FrameError::new(Some(id), m))
    }

    fn from_fields(id: RequestId, kind: &str, f: &RawFields<'_>) -> Result<Self, String> {
        Ok(match kind {
            "auth" => Self::Auth {
                id,
                token: required("token", f.token)?,
            },
            "call" => Self::Call {
                id,
                function: required("fn", f.function)?,
                args: object_payload("args", f.args)?,
            },
            "fetch" | "watch" | "unwatch" => {
                let context = required("context", f.context)?;
                let params = params(f.params)?;
                match kind {
                    "fetch" => Self::Fetch { id, context, params },
                    "watch" => Self::Watch {
                        id,
                        context,
                        params,
                        since: optional("since", f.since)?,
                    },
                    _ => Self::Unwatch { id, context, params },
                }
            }
            "subscribe" => {
                let since = optional("since", f.since)?;
                let history = optional("history", f.history)?;
                if since.is_some() && history.is_some() {
                    return Err("`since` and `history` cannot both be given: `since` recovers, `history` shows recent messages on join".to_owned());
                }
                Self::Subscribe {
                    id,
                    channel: required("channel", f.channel)?,
                    params: object_payload("params", f.params)?,
                    since,
                    history,
                }
            }
            "send" => Self::Send {
                id,
                topic: required("topic", f.topic)?,
                data: any_payload("data", f.data)?,
            },
            "unsubscribe" => Self::Unsubscribe {
                id,
                topic: required("topic", f.topic)?,
            },
            "presence" => Self::Presence {
                id,
                topic: required("topic", f.topic)?,
            },
            "presence_stats" => Self::PresenceStats {
                id,
                topic: required("topic", f.topic)?,
            },
            other => return Err(format!("unknown frame type `{}`", crate::quote(other))),
        })
    }

    /// Encodes the frame as JSON text.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("client frames always encode")
    }

    /// Every request type's `type`, in declaration order:
    /// `KINDS[f.kind_index()]` is `f`'s.
    pub const KINDS: [&'static str; 10] = [
        "auth",
        "call",
        "fetch",
        "watch",
        "unwatch",
        "subscribe",
        "send",
        "unsubscribe",
        "presence",
        "presence_stats",
    ];

    /// The index of this frame's type in [`Self::KINDS`].
    pub fn kind_index(&self) -> usize {
        match self {
            Self::Auth { .. } => 0,
            Self::Call { .. } => 1,
            Self::Fetch { .. } => 2,
            Self::Watch { .. } => 3,
            Self::Unwatch { .. } => 4,
            Self::Subscribe { .. } => 5,
            Self::Send { .. } => 6,
            Self::Unsubscribe { .. } => 7,
            Self::Presence { .. } => 8,
            Self::PresenceStats { .. } => 9,
        }
    }

    /// The request id.
    pub fn id(&self) -> RequestId {
        match self {
            Self::Auth { id, .. }
            | Self::Call { id, .. }
            | Self::Fetch { id, .. }
            | Self::Watch { id, .. }
            | Self::Unwatch { id, .. }
            | Self::Subscribe { id, .. }
            | Self::Send { id, .. }
            | Self::Unsubscribe { id, .. }
            | Self::Presence { id, .. }
            | Self::PresenceStats { id, .. } => *id,
        }
    }
}

/// A frame that could not be decoded: answered with a `bad_frame` error,
/// carrying the request id when it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The request id, when the frame had a readable one.
    pub id: Option<RequestId>,
    /// What was wrong, for a human.
    pub message: String,
}

impl FrameError {
    fn new(id: Option<RequestId>, message: String) -> Self {
        Self {
            id,
            message: crate::text::bounded(message),
        }
    }

    fn without_id(message: String) -> Self {
        Self::new(None, message)
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FrameError {}

impl From<FrameError> for ServerFrame {
    fn from(e: FrameError) -> Self {
        ServerFrame::error(e.id, ErrorCode::BadFrame, e.message)
    }
}
