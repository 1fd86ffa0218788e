//! How each server under test spells the same three requests (join a room,
//! send to it, call `echo`) and the frames that come back.
//!
//! Mizan, the floor server and the Django Channels peer speak Mizan's JSON
//! frames (PROTOCOL.md section 2); the Socket.IO peer speaks Engine.IO 4 /
//! Socket.IO 5 packets with acknowledgements (`bench/peers/README.md`).
//! Incoming frames are classified by their first bytes and one field
//! search, never parsed in full: the generator shares the two cores with
//! the server, so its own cost per frame must stay small.

use std::fmt::Write;

/// A server's wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Dialect {
    /// Mizan's frames: `{"type":"subscribe",...}`.
    Mizan,
    /// Socket.IO over a raw WebSocket: `42<ack>["send",{...}]`.
    SocketIo,
}

/// What an incoming frame is, as far as the generator cares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming<'a> {
    /// A reply to request `id` (ok, subscribed, result or an ack).
    Reply { id: u64, error: bool },
    /// A room message; `text` is its `data.text`.
    Message { text: &'a [u8] },
    /// An invalidation push (Mizan only).
    Invalidate,
    /// A `presence_diff` push (Mizan only: the fixture's chat tracks
    /// presence): neither a delivery nor a reply.
    Presence,
    /// An Engine.IO ping, to be answered with [`Dialect::pong`].
    Ping,
    /// Anything else (hello, handshakes, other pushes, presence answers:
    /// no step but the presence steps asks, and they read their own).
    Other,
}

impl Dialect {
    /// The frame that asks to join chat room `room`.
    pub(crate) fn subscribe(self, id: u64, room: &str) -> String {
        match self {
            Self::Mizan => format!(r#"{{"type":"subscribe","id":{id},"channel":"chat","params":{{"room":"{room}"}}}}"#),
            Self::SocketIo => format!(r#"42{id}["subscribe",{{"room":"{room}"}}]"#),
        }
    }

    /// The frame that sends `text` to room `room` (whose Mizan topic is
    /// `chat:chat_<room>`). Appends to `out`, which is cleared first.
    pub(crate) fn send(self, out: &mut String, id: u64, room: &str, text: &str) {
        out.clear();
        let _ = match self {
            Self::Mizan => write!(
                out,
                r#"{{"type":"send","id":{id},"topic":"chat:chat_{room}","data":{{"text":"{text}"}}}}"#
            ),
            Self::SocketIo => write!(out, r#"42{id}["send",{{"room":"{room}","text":"{text}"}}]"#),
        };
    }

    /// The frame that calls `echo` with `text`.
    pub(crate) fn echo(self, id: u64, text: &str) -> String {
        match self {
            Self::Mizan => format!(r#"{{"type":"call","id":{id},"fn":"echo","args":{{"text":"{text}"}}}}"#),
            Self::SocketIo => format!(r#"42{id}["echo",{{"text":"{text}"}}]"#),
        }
    }

    /// The answer to an Engine.IO ping.
    pub(crate) fn pong(self) -> &'static str {
        "3"
    }

    /// Classifies one incoming text frame.
    pub(crate) fn classify(self, frame: &[u8]) -> Incoming<'_> {
        match self {
            Self::Mizan => classify_mizan(frame),
            Self::SocketIo => classify_socket_io(frame),
        }
    }
}

fn classify_mizan(frame: &[u8]) -> Incoming<'_> {
    const MESSAGE: &[u8] = br#"{"type":"message""#;
    const INVALIDATE: &[u8] = br#"{"type":"invalidate""#;
    const PRESENCE_DIFF: &[u8] = br#"{"type":"presence_diff""#;
    const REPLIES: [&[u8]; 4] = [
        br#"{"type":"ok""#,
        br#"{"type":"subscribed""#,
        br#"{"type":"result""#,
        br#"{"type":"bundle""#,
    ];
    if frame.starts_with(MESSAGE) {
        return field(frame, b"\"text\":\"").map_or(Incoming::Other, |text| Incoming::Message { text });
    }
    if frame.starts_with(INVALIDATE) {
        return Incoming::Invalidate;
    }
    if frame.starts_with(PRESENCE_DIFF) {
        return Incoming::Presence;
    }
    let error = frame.starts_with(br#"{"type":"error""#);
    if (error || REPLIES.iter().any(|prefix| frame.starts_with(prefix)))
        && let Some(id) = number_after(frame, b"\"id\":")
    {
        return Incoming::Reply { id, error };
    }
    Incoming::Other
}

fn classify_socket_io(frame: &[u8]) -> Incoming<'_> {
    if frame == b"2" {
        return Incoming::Ping;
    }
    if let Some(rest) = frame.strip_prefix(b"43") {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if let Some(id) = std::str::from_utf8(&rest[..digits]).ok().and_then(|d| d.parse().ok()) {
            return Incoming::Reply { id, error: false };
        }
    }
    if frame.starts_with(br#"42["message""#) {
        return field(frame, b"\"text\":\"").map_or(Incoming::Other, |text| Incoming::Message { text });
    }
    Incoming::Other
}

/// The bytes of a string field's value (the generator's own texts never
/// hold escapes).
pub(crate) fn field<'a>(frame: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let start = frame.windows(key.len()).position(|w| w == key)? + key.len();
    let len = frame[start..].iter().position(|&b| b == b'"')?;
    Some(&frame[start..start + len])
}

/// The unsigned integer right after `key`.
pub(crate) fn number_after(frame: &[u8], key: &[u8]) -> Option<u64> {
    let start = frame.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = frame[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&frame[start..start + digits]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mizan_frames_are_classified() {
        let d = Dialect::Mizan;
        let message = br#"{"type":"message","topic":"chat:chat_a","data":{"text":"1 2","user":null}}"#;
        assert_eq!(d.classify(message), Incoming::Message { text: b"1 2" });
        assert_eq!(
            d.classify(br#"{"type":"ok","id":7}"#),
            Incoming::Reply { id: 7, error: false }
        );
        assert_eq!(
            d.classify(br#"{"type":"subscribed","id":1,"topic":"chat:chat_a"}"#),
            Incoming::Reply { id: 1, error: false }
        );
        assert_eq!(
            d.classify(br#"{"type":"error","id":3,"code":"x","message":"y"}"#),
            Incoming::Reply { id: 3, error: true }
        );
        assert_eq!(d.classify(br#"{"type":"error","id":null}"#), Incoming::Other);
        assert_eq!(
            d.classify(br#"{"type":"invalidate","context":"user"}"#),
            Incoming::Invalidate
        );
        assert_eq!(d.classify(br#"{"type":"hello","protocol":1}"#), Incoming::Other);
        let diff =
            br#"{"type":"presence_diff","topic":"chat:chat_a","joins":[{"session":"s","user":null}],"leaves":[]}"#;
        assert_eq!(d.classify(diff), Incoming::Presence);
        let answer = br#"{"type":"presence","id":2,"topic":"chat:chat_a","members":[]}"#;
        assert_eq!(d.classify(answer), Incoming::Other);
    }

    #[test]
    fn socket_io_packets_are_classified() {
        let d = Dialect::SocketIo;
        assert_eq!(d.classify(b"2"), Incoming::Ping);
        assert_eq!(d.classify(br#"4312[{}]"#), Incoming::Reply { id: 12, error: false });
        let message = br#"42["message",{"topic":"chat:chat_a","data":{"text":"5 6","user":null}}]"#;
        assert_eq!(d.classify(message), Incoming::Message { text: b"5 6" });
        assert_eq!(d.classify(br#"0{"sid":"x"}"#), Incoming::Other);
    }

    #[test]
    fn frames_are_spelled_per_dialect() {
        let mut out = String::new();
        Dialect::Mizan.send(&mut out, 4, "r", "t");
        assert_eq!(
            out,
            r#"{"type":"send","id":4,"topic":"chat:chat_r","data":{"text":"t"}}"#
        );
        Dialect::SocketIo.send(&mut out, 4, "r", "t");
        assert_eq!(out, r#"424["send",{"room":"r","text":"t"}]"#);
        assert_eq!(Dialect::SocketIo.subscribe(1, "r"), r#"421["subscribe",{"room":"r"}]"#);
        assert_eq!(
            Dialect::Mizan.echo(2, "x"),
            r#"{"type":"call","id":2,"fn":"echo","args":{"text":"x"}}"#
        );
    }
}
