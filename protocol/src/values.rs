//! Small value types that frames are made of.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fmt;

/// Parameters of a context or a scoped entry: a JSON object. Equal
/// parameter sets compare equal whatever their key order; where their
/// *text* must be canonical (watch keys, the index, the header) it is
/// written by [`canonical_params`](crate::canonical_params), since the
/// map's own order depends on serde_json's `preserve_order` feature.
pub type Params = serde_json::Map<String, serde_json::Value>;

/// A request id: an integer from 0 to 2^53-1, echoed in the reply.
///
/// ```
/// use mizan_protocol::RequestId;
/// assert_eq!(RequestId::new(7).map(RequestId::get), Some(7));
/// assert!(RequestId::new(1 << 53).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RequestId(u64);

impl RequestId {
    /// The largest id a client may use (2^53-1, exact in a JavaScript number).
    pub const MAX: u64 = (1 << 53) - 1;

    /// An id, or `None` when `n` exceeds [`RequestId::MAX`].
    pub fn new(n: u64) -> Option<Self> {
        (n <= Self::MAX).then_some(Self(n))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An already-encoded JSON value carried inside a frame (a call's result, a
/// channel message, a bundle). It is encoded once and copied as text into
/// every frame that carries it.
///
/// ```
/// use mizan_protocol::Payload;
/// let p = Payload::from_value(&serde_json::json!({"text": "hi"})).unwrap();
/// assert_eq!(p.get(), r#"{"text":"hi"}"#);
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Payload(Box<RawValue>);

impl Payload {
    /// Encodes any serializable value.
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Self)
    }

    /// Wraps JSON text, checking that it is one valid JSON value.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text.to_owned()).map(Self)
    }

    /// The empty object `{}`.
    pub fn empty_object() -> Self {
        Self::from_json("{}").expect("`{}` is valid JSON")
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// Whether the value is a JSON object.
    pub fn is_object(&self) -> bool {
        self.get().starts_with('{')
    }

    /// Decodes the payload into a typed value.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.get())
    }

    pub(crate) fn from_raw(raw: &RawValue) -> Self {
        Self(raw.to_owned())
    }
}

impl From<Box<RawValue>> for Payload {
    fn from(raw: Box<RawValue>) -> Self {
        Self(raw)
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for Payload {}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

/// The user a socket or call acts as, as shown to the client in `hello` and
/// in the reply to `auth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The user id (the token's `sub`).
    pub id: String,
    /// Whether the user is staff.
    #[serde(default)]
    pub staff: bool,
    /// Whether the user is a superuser.
    #[serde(default)]
    pub superuser: bool,
}

/// A position in a stream (PROTOCOL.md section 9): `offset` counts the
/// events of the stream published in `epoch` (0: before any); offsets of
/// different epochs are not comparable.
///
/// ```
/// use mizan_protocol::Position;
/// let p: Position = serde_json::from_str(r#"{"epoch":"e1","offset":7}"#).unwrap();
/// assert_eq!(p, Position::new("e1", 7));
/// assert!(p.follows(&Position::new("e1", 6)) && !p.follows(&Position::new("e2", 6)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    /// One unbroken history of the stream.
    pub epoch: String,
    /// Events published in that epoch up to this position.
    pub offset: u64,
}

impl Position {
    /// The position `offset` of `epoch`.
    pub fn new(epoch: impl Into<String>, offset: u64) -> Self {
        Self {
            epoch: epoch.into(),
            offset,
        }
    }

    /// Whether this position is in `earlier`'s epoch and not before it.
    pub fn follows(&self, earlier: &Position) -> bool {
        self.epoch == earlier.epoch && self.offset >= earlier.offset
    }
}

/// One member of a topic's presence (PROTOCOL.md section 10): a socket,
/// by its `hello` session, and its user (`null` when signed out).
///
/// ```
/// use mizan_protocol::Member;
/// let m = Member::new("s1", None);
/// assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"session":"s1","user":null}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The socket's session id, as its `hello` said.
    pub session: String,
    /// Its user's id, if signed in.
    pub user: Option<String>,
    /// What the channel attaches to its members (a display name, say),
    /// when it attaches anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Payload>,
}

impl Member {
    /// The member for session `session` of `user`.
    pub fn new(session: impl Into<String>, user: Option<String>) -> Self {
        Self {
            session: session.into(),
            user,
            info: None,
        }
    }

    /// The same member, carrying `info`.
    #[must_use]
    pub fn with_info(mut self, info: Option<Payload>) -> Self {
        self.info = info;
        self
    }
}
