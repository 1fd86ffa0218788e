//! What crosses Redis: channel names and the message envelope. Pure
//! functions, no I/O.
//!
//! A subject maps to one Redis channel, `{prefix}:t:{topic}` for a channel
//! topic and `{prefix}:c:{context}` for a context, so several apps can share
//! one Redis under different prefixes. `{prefix}:ctl` carries the brokers'
//! own notices ("I lost events: refetch").
//!
//! A message is the origin node's id, a newline, the event's scope (compact
//! JSON, empty for a topic's message), a newline, and the frame bytes
//! unchanged: receivers hand the frame on without re-encoding it, match a
//! context's event by its scope without decoding the frame, and drop their
//! own echoes by the origin. A notice is the origin, a newline, the notice.

use crate::broker::{Scope, Subject};

/// The Redis channel of `subject` under `prefix`.
pub(crate) fn channel_name(prefix: &str, subject: &Subject) -> String {
    let (kind, name) = match subject {
        Subject::Topic(topic) => ("t", &**topic),
        Subject::Context(context) => ("c", &**context),
    };
    let mut channel = String::with_capacity(prefix.len() + kind.len() + name.len() + 2);
    channel.push_str(prefix);
    channel.push(':');
    channel.push_str(kind);
    channel.push(':');
    channel.push_str(name);
    channel
}

/// The channel of the brokers' notices under `prefix`.
pub(crate) fn control_channel(prefix: &str) -> String {
    format!("{prefix}:ctl")
}

/// The notice a node publishes on the control channel after it dropped
/// events: every other node tells its watchers to refetch.
pub(crate) const RESYNC_NOTICE: &[u8] = b"resync";

/// A node id fit for the envelope: a newline would end the id early, so it
/// is replaced (node ids are hex digits; this is a guard, not a format).
pub(crate) fn envelope_origin(node: &str) -> String {
    node.replace('\n', "_")
}

/// `origin` + `\n` + `notice`. `origin` must not contain a newline (see
/// [`envelope_origin`]).
pub(crate) fn encode_notice(origin: &str, notice: &[u8]) -> Vec<u8> {
    debug_assert!(!origin.contains('\n'), "origin {origin:?} contains a newline");
    let mut payload = Vec::with_capacity(origin.len() + 1 + notice.len());
    payload.extend_from_slice(origin.as_bytes());
    payload.push(b'\n');
    payload.extend_from_slice(notice);
    payload
}

/// `origin` + `\n` + the scope's JSON (none for a topic) + `\n` + `frame`.
/// Compact JSON holds no raw newline, so the scope line ends at the first.
pub(crate) fn encode(origin: &str, scope: Option<&Scope>, frame: &[u8]) -> Vec<u8> {
    let scope = scope.map(|s| serde_json::to_vec(s).expect("a scope always encodes"));
    let mut payload = encode_notice(origin, scope.as_deref().unwrap_or_default());
    payload.push(b'\n');
    payload.extend_from_slice(frame);
    payload
}

/// Why a payload is not an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvelopeError {
    /// No newline: no origin.
    NoOrigin,
    /// The origin is empty or not UTF-8.
    BadOrigin,
}

/// Splits a payload into its origin and the rest (a notice, or an event's
/// scope line and frame: see [`split_event`]). Never panics.
pub(crate) fn decode(payload: &[u8]) -> Result<(&str, &[u8]), EnvelopeError> {
    let at = payload
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(EnvelopeError::NoOrigin)?;
    let origin = std::str::from_utf8(&payload[..at]).map_err(|_| EnvelopeError::BadOrigin)?;
    if origin.is_empty() {
        return Err(EnvelopeError::BadOrigin);
    }
    Ok((origin, &payload[at + 1..]))
}

/// An event's scope (`None`: none was sent, or it is unreadable, so the
/// receiver reads the frame) and its frame. Never panics.
pub(crate) fn split_event(rest: &[u8]) -> (Option<Scope>, &[u8]) {
    match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (serde_json::from_slice(&rest[..at]).ok(), &rest[at + 1..]),
        None => (None, rest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn channels_are_namespaced_by_prefix_and_kind() {
        assert_eq!(
            channel_name("mizan", &Subject::Topic("chat:chat_lobby".into())),
            "mizan:t:chat:chat_lobby"
        );
        assert_eq!(channel_name("app2", &Subject::Context("user".into())), "app2:c:user");
        assert_eq!(control_channel("mizan"), "mizan:ctl");
        // A topic and a context of the same name never share a channel.
        assert_ne!(
            channel_name("p", &Subject::Topic("x".into())),
            channel_name("p", &Subject::Context("x".into()))
        );
    }

    #[test]
    fn envelopes_round_trip_and_keep_the_frame_bytes() {
        let frame = br#"{"type":"message","topic":"chat:x","data":{"text":"a\nb"}}"#;
        let payload = encode("0123456789abcdef", None, frame);
        let (origin, rest) = decode(&payload).unwrap();
        assert_eq!(origin, "0123456789abcdef");
        assert_eq!(split_event(rest), (None, &frame[..]));
        let scope = Scope {
            params: serde_json::json!({"user_id": 5, "s": "a\nb"}).as_object().cloned(),
            user: Some("ann".into()),
            merge: true,
        };
        let payload = encode("n", Some(&scope), b"{}");
        let (_, rest) = decode(&payload).unwrap();
        assert_eq!(split_event(rest), (Some(scope), &b"{}"[..]));
        assert_eq!(decode(&encode_notice("n", RESYNC_NOTICE)), Ok(("n", RESYNC_NOTICE)));
    }

    #[test]
    fn bad_envelopes_are_refused() {
        assert_eq!(decode(b""), Err(EnvelopeError::NoOrigin));
        assert_eq!(decode(b"{\"type\":\"message\"}"), Err(EnvelopeError::NoOrigin));
        assert_eq!(decode(b"\n{}"), Err(EnvelopeError::BadOrigin));
        assert_eq!(decode(b"\xff\xfe\n{}"), Err(EnvelopeError::BadOrigin));
    }

    #[test]
    fn origins_with_newlines_are_made_safe() {
        let origin = envelope_origin("a\nb");
        assert_eq!(decode(&encode_notice(&origin, b"x")), Ok(("a_b", &b"x"[..])));
    }

    proptest! {
        #[test]
        fn decode_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok((_, rest)) = decode(&payload) {
                let _ = split_event(rest);
            }
        }

        #[test]
        fn encode_then_decode_is_identity(
            origin in "[^\n]{1,40}",
            frame in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let payload = encode_notice(&origin, &frame);
            prop_assert_eq!(decode(&payload), Ok((origin.as_str(), frame.as_slice())));
        }
    }
}
