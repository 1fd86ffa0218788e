//! Error codes and WebSocket close codes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The `code` of an error frame. Every error leaves the socket open; see
/// [`CloseCode`] for the conditions that close it.
///
/// ```
/// use mizan_protocol::ErrorCode;
/// assert_eq!(ErrorCode::InvalidArgs.as_str(), "invalid_args");
/// assert_eq!(ErrorCode::InvalidArgs.http_status(), 422);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Not JSON, not an object, unknown `type`, missing or wrong-typed field.
    BadFrame,
    /// Unknown function, context, channel or topic.
    NotFound,
    /// Args or params do not match the declared type.
    InvalidArgs,
    /// The target needs a user and there is none, or the token is bad or expired.
    Unauthenticated,
    /// The user lacks the level, or the channel's `authorize` said no.
    Forbidden,
    /// `send` or `unsubscribe` to a topic this socket has not joined.
    NotSubscribed,
    /// Too many subscriptions or watches, or rate limited.
    Limit,
    /// The handler failed or panicked.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of the protocol's table.
    pub const ALL: [ErrorCode; 8] = [
        Self::BadFrame,
        Self::NotFound,
        Self::InvalidArgs,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotSubscribed,
        Self::Limit,
        Self::Internal,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadFrame => "bad_frame",
            Self::NotFound => "not_found",
            Self::InvalidArgs => "invalid_args",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotSubscribed => "not_subscribed",
            Self::Limit => "limit",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status an error with this code answers with.
    ///
    /// `not_subscribed` only occurs on sockets; over HTTP it would be a 409.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadFrame => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::NotSubscribed => 409,
            Self::InvalidArgs => 422,
            Self::Limit => 429,
            Self::Internal => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the server closed a socket.
///
/// ```
/// use mizan_protocol::CloseCode;
/// assert_eq!(CloseCode::TooLarge.as_u16(), 1009);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCode {
    /// 1000: normal closure.
    Normal,
    /// 1001: the peer answered no ping within the heartbeat timeout.
    HeartbeatTimeout,
    /// 1002: the client broke the WebSocket protocol (reserved bits or
    /// opcodes, an unmasked frame, a bad close frame).
    ProtocolError,
    /// 1003: the client sent a binary frame.
    Binary,
    /// 1007: a text frame that is not valid UTF-8.
    InvalidData,
    /// 1008: policy violation: an anonymous socket admitted on probation
    /// (the node's anonymous share was full) did not sign in in time.
    Policy,
    /// 1009: a frame exceeded the configured maximum size.
    TooLarge,
    /// 1011: the server hit an unexpected condition.
    ServerError,
    /// 1012: the server is shutting down; reconnect elsewhere.
    Restart,
    /// 4001: the token expired and was not renewed.
    TokenExpired,
    /// 4008: the client reads too slowly (its outbound queue overflowed).
    SlowClient,
    /// 4029: the client stayed over its rate limit for too long.
    RateLimited,
}

impl CloseCode {
    /// Every close code the server sends.
    pub const ALL: [CloseCode; 12] = [
        Self::Normal,
        Self::HeartbeatTimeout,
        Self::ProtocolError,
        Self::Binary,
        Self::InvalidData,
        Self::Policy,
        Self::TooLarge,
        Self::ServerError,
        Self::Restart,
        Self::TokenExpired,
        Self::SlowClient,
        Self::RateLimited,
    ];

    /// The numeric close code.
    pub fn as_u16(self) -> u16 {
        match self {
            Self::Normal => 1000,
            Self::HeartbeatTimeout => 1001,
            Self::ProtocolError => 1002,
            Self::Binary => 1003,
            Self::InvalidData => 1007,
            Self::Policy => 1008,
            Self::TooLarge => 1009,
            Self::ServerError => 1011,
            Self::Restart => 1012,
            Self::TokenExpired => 4001,
            Self::SlowClient => 4008,
            Self::RateLimited => 4029,
        }
    }

    /// A short reason sent with the close frame.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Normal => "bye",
            Self::HeartbeatTimeout => "heartbeat timeout",
            Self::ProtocolError => "protocol error",
            Self::Binary => "binary frames are not supported",
            Self::InvalidData => "text frame is not valid UTF-8",
            Self::Policy => "sign in to stay connected",
            Self::TooLarge => "frame too large",
            Self::ServerError => "internal error",
            Self::Restart => "server restarting",
            Self::TokenExpired => "token expired",
            Self::SlowClient => "client reads too slowly",
            Self::RateLimited => "rate limit exceeded for too long",
        }
    }
}
