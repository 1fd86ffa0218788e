//! Presence (Mizan only; PROTOCOL.md section 10): what it costs to know
//! who is in a room.
//!
//! - `presence join` (`join.rs`): sockets joining one topic within a
//!   second, each asking `presence` once it is in and applying every
//!   `presence_diff` after the answer; frames per subscriber, server CPU,
//!   and the time from the last join until every member list holds every
//!   socket (checked against the `hello` sessions).
//! - `presence stats` (`stats.rs`): one topic with members on two nodes
//!   joined through a `redis-server` of the step's own; `presence_stats`
//!   round trips from one member, and the `sessions` they report.
//!
//! Like [`crate::dialect`], frames are searched, not parsed: session ids
//! hold no quotes or escapes, and the fixture's chat attaches no member
//! info.

mod join;
mod stats;

pub(crate) use join::PresenceJoin;
pub(crate) use stats::PresenceStats;

use crate::conn::{self, Endpoint, Ws};
use crate::dialect::{field, number_after};
use anyhow::Context;

/// Opens a Mizan socket and returns it with its session id (from
/// `hello`).
pub(crate) async fn connect(endpoint: &Endpoint) -> anyhow::Result<(Ws, String)> {
    let mut ws = endpoint.websocket().await?;
    let hello = tokio::time::timeout(conn::STEP, conn::next_text(&mut ws))
        .await
        .context("no hello")??;
    let session =
        field(hello.as_bytes(), b"\"session\":\"").with_context(|| format!("a hello without a session: {hello}"))?;
    let session = String::from_utf8_lossy(session).into_owned();
    Ok((ws, session))
}

/// `presence` or `presence_stats` (`kind`) of room `room`'s topic.
pub(crate) fn ask(kind: &str, id: u64, room: &str) -> String {
    format!(r#"{{"type":"{kind}","id":{id},"topic":"chat:chat_{room}"}}"#)
}

/// What a frame is, as far as presence goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    Subscribed(u64),
    /// A `presence` answer: its members' frame text (see [`sessions`]).
    Members {
        id: u64,
        members: &'a [u8],
    },
    /// A `presence_stats` answer.
    Stats {
        id: u64,
        sessions: u64,
        users: u64,
    },
    /// A `presence_diff` push: its joins' and its leaves' text.
    Diff {
        joins: &'a [u8],
        leaves: &'a [u8],
    },
    Error(Option<u64>),
    Other,
}

/// Classifies one frame.
pub(crate) fn classify(frame: &[u8]) -> Frame<'_> {
    let id = || number_after(frame, b"\"id\":");
    if frame.starts_with(br#"{"type":"presence_diff""#) {
        let at = find(frame, b"\"leaves\":").unwrap_or(frame.len());
        return Frame::Diff {
            joins: &frame[..at],
            leaves: &frame[at..],
        };
    }
    if frame.starts_with(br#"{"type":"presence_stats""#) {
        return match (
            id(),
            number_after(frame, b"\"sessions\":"),
            number_after(frame, b"\"users\":"),
        ) {
            (Some(id), Some(sessions), Some(users)) => Frame::Stats { id, sessions, users },
            _ => Frame::Other,
        };
    }
    if frame.starts_with(br#"{"type":"presence""#) {
        let at = find(frame, b"\"members\":").unwrap_or(frame.len());
        return id().map_or(Frame::Other, |id| Frame::Members {
            id,
            members: &frame[at..],
        });
    }
    if frame.starts_with(br#"{"type":"subscribed""#) {
        return id().map_or(Frame::Other, Frame::Subscribed);
    }
    if frame.starts_with(br#"{"type":"error""#) {
        return Frame::Error(id());
    }
    Frame::Other
}

/// The session ids of the member objects in `text`.
pub(crate) fn sessions(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    const KEY: &[u8] = b"\"session\":\"";
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = find(rest, KEY)? + KEY.len();
        let len = rest[start..].iter().position(|&b| b == b'"')?;
        let session = &rest[start..start + len];
        rest = &rest[start + len..];
        Some(session)
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_frames_are_read() {
        let diff = br#"{"type":"presence_diff","topic":"chat:chat_p","joins":[{"session":"a","user":null},{"session":"b","user":"7"}],"leaves":[{"session":"c","user":null}]}"#;
        let Frame::Diff { joins, leaves } = classify(diff) else {
            panic!("not a diff")
        };
        assert_eq!(sessions(joins).collect::<Vec<_>>(), [b"a", b"b"]);
        assert_eq!(sessions(leaves).collect::<Vec<_>>(), [b"c"]);
        let answer = br#"{"type":"presence","id":2,"topic":"chat:chat_p","members":[{"session":"x","user":null}]}"#;
        let Frame::Members { id: 2, members } = classify(answer) else {
            panic!("not an answer")
        };
        assert_eq!(sessions(members).collect::<Vec<_>>(), [b"x"]);
        assert_eq!(
            classify(br#"{"type":"presence_stats","id":5,"topic":"chat:chat_p","sessions":10000,"users":0}"#),
            Frame::Stats {
                id: 5,
                sessions: 10_000,
                users: 0
            }
        );
        assert_eq!(
            classify(br#"{"type":"subscribed","id":1,"topic":"chat:chat_p","epoch":"e","offset":0}"#),
            Frame::Subscribed(1)
        );
        assert_eq!(
            classify(br#"{"type":"error","id":2,"code":"not_subscribed","message":"m"}"#),
            Frame::Error(Some(2))
        );
        assert_eq!(classify(br#"{"type":"hello","session":"s"}"#), Frame::Other);
        assert_eq!(
            ask("presence_stats", 3, "p"),
            r#"{"type":"presence_stats","id":3,"topic":"chat:chat_p"}"#
        );
    }
}
