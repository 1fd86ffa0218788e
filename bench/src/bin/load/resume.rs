//! How a reconnecting subscriber asks for what it missed, in each
//! dialect, and where the answers say it is.
//!
//! Mizan (PROTOCOL.md section 9): `subscribe` carries
//! `"since":{"epoch":"E","offset":N}`; the `subscribed` reply carries the
//! topic's position and `"recovered":true|false`; every `message` push
//! carries its `"offset":N`. The floor answers the same frames without
//! positions.
//!
//! Socket.IO with `connectionStateRecovery`: the CONNECT reply
//! `40{"sid":"…","pid":"…"}` names the session; every broadcast event
//! carries its offset as its last argument,
//! `42["message",{…},"<offset>"]`; a reconnect sends
//! `40{"pid":"…","offset":"…"}`, and the session was recovered (rooms
//! restored, missed events sent *before* the CONNECT reply) when the reply
//! names the same `pid`.
//!
//! Like [`crate::dialect`], frames are searched, not parsed: the
//! servers' epochs, session ids and offsets hold no quotes or escapes.

use crate::dialect::{field, number_after};

/// A position in a Mizan topic's stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) epoch: String,
    pub(crate) offset: u64,
}

/// What a Mizan `subscribed` reply says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Subscribed {
    /// The topic's position when the subscription took effect (none from
    /// the floor).
    pub(crate) position: Option<Position>,
    /// `recovered`, present when the subscribe carried `since`.
    pub(crate) recovered: Option<bool>,
}

/// Mizan's `subscribe` to chat room `room`, with `since` when given.
pub(crate) fn subscribe_since(id: u64, room: &str, since: Option<&Position>) -> String {
    let since = since.map_or_else(String::new, |p| {
        format!(r#","since":{{"epoch":"{}","offset":{}}}"#, p.epoch, p.offset)
    });
    format!(r#"{{"type":"subscribe","id":{id},"channel":"chat","params":{{"room":"{room}"}}{since}}}"#)
}

/// Reads a `subscribed` reply.
pub(crate) fn subscribed(frame: &[u8]) -> Subscribed {
    let epoch = field(frame, b"\"epoch\":\"");
    let offset = number_after(frame, b"\"offset\":");
    let position = epoch.zip(offset).map(|(epoch, offset)| Position {
        epoch: String::from_utf8_lossy(epoch).into_owned(),
        offset,
    });
    let recovered = if contains(frame, b"\"recovered\":true") {
        Some(true)
    } else if contains(frame, b"\"recovered\":false") {
        Some(false)
    } else {
        None
    };
    Subscribed { position, recovered }
}

/// The `offset` of a Mizan `message` push (none from the floor).
pub(crate) fn message_offset(frame: &[u8]) -> Option<u64> {
    number_after(frame, b"\"offset\":")
}

/// The Socket.IO CONNECT packet: plain `40` for a new session, else the
/// session's `pid` and, once an event arrived, the last offset (as
/// socket.io-client sends them).
pub(crate) fn socket_io_connect(pid: Option<&str>, offset: Option<&str>) -> String {
    match (pid, offset) {
        (None, _) => "40".to_owned(),
        (Some(pid), None) => format!(r#"40{{"pid":"{pid}"}}"#),
        (Some(pid), Some(offset)) => format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#),
    }
}

/// For a Socket.IO CONNECT reply (`40{…}`), its `pid` (empty when the
/// server keeps no sessions); `None` for any other frame.
pub(crate) fn socket_io_connected(frame: &[u8]) -> Option<&[u8]> {
    let rest = frame.strip_prefix(b"40")?;
    Some(field(rest, b"\"pid\":\"").unwrap_or_default())
}

/// The offset a Socket.IO event carries as its last argument (a string
/// after the payload object), if any.
pub(crate) fn socket_io_offset(frame: &[u8]) -> Option<&[u8]> {
    let inner = frame.strip_suffix(b"\"]")?;
    let start = inner.iter().rposition(|&b| b == b'"')?;
    inner[..start].ends_with(b",").then(|| &inner[start + 1..])
}

fn contains(frame: &[u8], needle: &[u8]) -> bool {
    frame.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mizan_positions_are_read_and_spelled() {
        let reply =
            br#"{"type":"subscribed","id":1,"topic":"chat:chat_jitter","epoch":"e1","offset":42,"recovered":false}"#;
        let position = Position {
            epoch: "e1".into(),
            offset: 42,
        };
        assert_eq!(
            subscribed(reply),
            Subscribed {
                position: Some(position.clone()),
                recovered: Some(false)
            }
        );
        let floor = br#"{"type":"subscribed","id":1,"topic":"chat:chat_jitter"}"#;
        assert_eq!(
            subscribed(floor),
            Subscribed {
                position: None,
                recovered: None
            }
        );
        assert_eq!(
            subscribe_since(3, "jitter", Some(&position)),
            r#"{"type":"subscribe","id":3,"channel":"chat","params":{"room":"jitter"},"since":{"epoch":"e1","offset":42}}"#
        );
        assert_eq!(
            subscribe_since(1, "jitter", None),
            r#"{"type":"subscribe","id":1,"channel":"chat","params":{"room":"jitter"}}"#
        );
        let message = br#"{"type":"message","topic":"chat:chat_jitter","data":{"text":"1 2","user":null},"offset":43}"#;
        assert_eq!(message_offset(message), Some(43));
    }

    #[test]
    fn socket_io_sessions_are_read_and_spelled() {
        assert_eq!(socket_io_connect(None, None), "40");
        assert_eq!(socket_io_connect(Some("p"), None), r#"40{"pid":"p"}"#);
        assert_eq!(
            socket_io_connect(Some("p"), Some("Oa.1")),
            r#"40{"pid":"p","offset":"Oa.1"}"#
        );
        assert_eq!(socket_io_connected(br#"40{"sid":"s","pid":"p"}"#), Some(&b"p"[..]));
        assert_eq!(socket_io_connected(br#"40{"sid":"s"}"#), Some(&b""[..]));
        assert_eq!(socket_io_connected(br#"42["message",{}]"#), None);
        let event = br#"42["message",{"topic":"chat:chat_jitter","data":{"text":"5 6","user":null}},"PbX-1.2"]"#;
        assert_eq!(socket_io_offset(event), Some(&b"PbX-1.2"[..]));
        let plain = br#"42["message",{"topic":"chat:chat_jitter","data":{"text":"5 6","user":null}}]"#;
        assert_eq!(socket_io_offset(plain), None);
    }
}
