//! What crosses Redis: channel names and the message envelope. Pure
//! functions, no I/O.
//!
//! A subject maps to one Redis channel, `{prefix}:t:{topic}` for a channel
//! topic and `{prefix}:c:{context}` for a context, so several apps can share
//! one Redis under different prefixes. `{prefix}:ctl` carries the brokers'
//! own notices ("I lost events: refetch").
//!
//! A message is the origin node's id, a newline, the event's position
//! (`<epoch> <offset>`, empty for an event no store gave one), a newline,
//! the event's scope (compact JSON, empty for a topic's message), a
//! newline, and the frame bytes unchanged: receivers hand the frame on
//! without re-encoding it, match a context's event by its scope without
//! decoding the frame, and drop their own echoes of events without a
//! position by the origin. A notice is the origin, a newline, the notice.
//! The stream scripts (`streams.rs`) write the same envelope.
//!
//! A presence topic is a sorted set of its nodes, a hash of each node's
//! members and a channel of their news (`presence_keys`; a news message is
//! the origin, a newline and the news as JSON).
//!
//! A cached bundle is one string, `{prefix}:b:{key}` (`bundle_key`).
//!
//! A subject's stream is two keys: `{prefix}:m:{kind}:{name}`, a hash of
//! its epoch (`e`) and last offset (`o`), and `{prefix}:h:{kind}:{name}`,
//! a Redis Stream of its kept events (`docs/scaling.md`).

use crate::broker::{Scope, Subject};
use mizan_protocol::Position;

/// How the broker spells its Redis names: for one Redis, the names above;
/// on a Redis Cluster, every name of one subject carries the same hash tag
/// (`{t:<topic>}`, `{c:<context>}`, `{p:<topic>}` for presence) so that a
/// stream's keys and its shard channel live in one slot and one script can
/// touch them and `SPUBLISH` together:
///
/// - a subject's channel `{prefix}:{t:<topic>}` / `{prefix}:{c:<context>}`,
///   its stream `{prefix}:m:{c:<context>}` and `{prefix}:h:{c:<context>}`;
/// - a presence topic's `{prefix}:pn:{p:<topic>}`,
///   `{prefix}:pm:<node>:{p:<topic>}` and channel `{prefix}:p:{p:<topic>}`;
/// - the control channel `{prefix}:{ctl}` (one shard channel);
/// - a cached bundle `{prefix}:b:<key>`, in whatever slot it hashes to.
///
/// The tag is everything between the first `{` and the next `}`: a name
/// holding a `}` cuts it short, the same way for each of the subject's
/// names, which stay together.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    prefix: String,
    cluster: bool,
}

impl Names {
    pub(crate) fn new(prefix: &str, cluster: bool) -> Self {
        Self {
            prefix: prefix.to_owned(),
            cluster,
        }
    }

    /// Whether the names are a cluster's (hash-tagged, sharded channels).
    pub(crate) fn cluster(&self) -> bool {
        self.cluster
    }

    /// The channel of `subject`.
    pub(crate) fn channel(&self, subject: &Subject) -> String {
        if self.cluster {
            tagged(&self.prefix, "", subject)
        } else {
            channel_name(&self.prefix, subject)
        }
    }

    /// The keys of `subject`'s stream: its position hash and its events.
    pub(crate) fn stream_keys(&self, subject: &Subject) -> [String; 2] {
        if self.cluster {
            [tagged(&self.prefix, "m:", subject), tagged(&self.prefix, "h:", subject)]
        } else {
            stream_keys(&self.prefix, subject)
        }
    }

    /// A presence topic's keys and channel.
    pub(crate) fn presence_keys(&self, topic: &str) -> PresenceKeys {
        if self.cluster {
            let prefix = &self.prefix;
            PresenceKeys {
                nodes: format!("{prefix}:pn:{{p:{topic}}}"),
                members_before: format!("{prefix}:pm:"),
                members_after: format!(":{{p:{topic}}}"),
                channel: format!("{prefix}:p:{{p:{topic}}}"),
            }
        } else {
            presence_keys(&self.prefix, topic)
        }
    }

    /// The channel of the brokers' notices.
    pub(crate) fn control(&self) -> String {
        if self.cluster {
            format!("{}:{{ctl}}", self.prefix)
        } else {
            control_channel(&self.prefix)
        }
    }

    /// The key of a cached bundle.
    pub(crate) fn bundle_key(&self, key: &str) -> String {
        bundle_key(&self.prefix, key)
    }
}

/// `{prefix}:{what}{{kind}:{name}}`.
fn tagged(prefix: &str, what: &str, subject: &Subject) -> String {
    let (kind, name) = match subject {
        Subject::Topic(topic) => ("t", &**topic),
        Subject::Context(context) => ("c", &**context),
    };
    format!("{prefix}:{what}{{{kind}:{name}}}")
}

/// The part of `key` Redis Cluster hashes to pick its slot: between the
/// first `{` and the next `}` when that is not empty, else all of it. Two
/// keys with the same tag are in the same slot.
pub(crate) fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// The Redis channel of `subject` under `prefix`.
pub(crate) fn channel_name(prefix: &str, subject: &Subject) -> String {
    key(prefix, "", subject)
}

/// The keys of `subject`'s stream under `prefix`: its position hash and its
/// kept events.
pub(crate) fn stream_keys(prefix: &str, subject: &Subject) -> [String; 2] {
    [key(prefix, "m:", subject), key(prefix, "h:", subject)]
}

/// `{prefix}:{what}{kind}:{name}`.
fn key(prefix: &str, what: &str, subject: &Subject) -> String {
    let (kind, name) = match subject {
        Subject::Topic(topic) => ("t", &**topic),
        Subject::Context(context) => ("c", &**context),
    };
    let mut key = String::with_capacity(prefix.len() + what.len() + kind.len() + name.len() + 2);
    key.push_str(prefix);
    key.push(':');
    key.push_str(what);
    key.push_str(kind);
    key.push(':');
    key.push_str(name);
    key
}

/// A presence topic's keys and channel under `prefix`: the sorted set of
/// its nodes (scored by when each is to be swept), the prefix and suffix
/// around a node's id that make the key of the hash of its members, and
/// the channel of its news.
pub(crate) struct PresenceKeys {
    pub(crate) nodes: String,
    pub(crate) members_before: String,
    pub(crate) members_after: String,
    pub(crate) channel: String,
}

/// `{prefix}:pn:{topic}`, `{prefix}:pm:{node}:{topic}` and `{prefix}:p:{topic}`.
pub(crate) fn presence_keys(prefix: &str, topic: &str) -> PresenceKeys {
    PresenceKeys {
        nodes: format!("{prefix}:pn:{topic}"),
        members_before: format!("{prefix}:pm:"),
        members_after: format!(":{topic}"),
        channel: format!("{prefix}:p:{topic}"),
    }
}

impl PresenceKeys {
    /// The key of `node`'s members.
    pub(crate) fn members_of(&self, node: &str) -> String {
        format!("{}{node}{}", self.members_before, self.members_after)
    }
}

/// The hash field beside a node's members holding its last news' `seq`
/// (sessions are `<node>-<n>`: none is `~seq`).
pub(crate) const SEQ_FIELD: &str = "~seq";

/// The key of a cached bundle under `prefix` (`key`: the bundle cache's
/// key, in hex).
pub(crate) fn bundle_key(prefix: &str, key: &str) -> String {
    format!("{prefix}:b:{key}")
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

/// `origin` + `\n` + the position line (empty: none) + `\n` + the
/// scope's JSON (none for a topic) + `\n` + `frame`. Compact JSON holds no
/// raw newline, so the scope line ends at the first.
pub(crate) fn encode(origin: &str, position: Option<&Position>, scope: Option<&Scope>, frame: &[u8]) -> Vec<u8> {
    let position = position.map(|p| format!("{} {}", p.epoch, p.offset));
    let mut payload = encode_notice(origin, position.unwrap_or_default().as_bytes());
    payload.push(b'\n');
    payload.extend_from_slice(scope_line(scope).as_bytes());
    payload.push(b'\n');
    payload.extend_from_slice(frame);
    payload
}

/// A scope as its envelope line: compact JSON, empty for none.
pub(crate) fn scope_line(scope: Option<&Scope>) -> String {
    scope.map_or_else(String::new, |s| {
        serde_json::to_string(s).expect("a scope always encodes")
    })
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

/// An event as it crossed Redis.
#[derive(Debug, PartialEq)]
pub(crate) struct Split<'a> {
    /// Its position (`None`: none was given, or it is unreadable).
    pub(crate) position: Option<Position>,
    /// Its scope (`None`: none was sent, or it is unreadable, so the
    /// receiver reads the frame).
    pub(crate) scope: Option<Scope>,
    pub(crate) frame: &'a [u8],
}

/// Splits an event's position, scope and frame. Never panics.
pub(crate) fn split_event(rest: &[u8]) -> Split<'_> {
    let (position, rest) = line(rest);
    let (scope, frame) = line(rest);
    Split {
        position: position.and_then(parse_position),
        scope: scope.and_then(|s| serde_json::from_slice(s).ok()),
        frame,
    }
}

/// The first line (none without a newline) and what follows it.
fn line(bytes: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(at) => (Some(&bytes[..at]), &bytes[at + 1..]),
        None => (None, bytes),
    }
}

/// `<epoch> <offset>`.
fn parse_position(line: &[u8]) -> Option<Position> {
    let line = std::str::from_utf8(line).ok()?;
    let (epoch, offset) = line.split_once(' ')?;
    Some(Position::new(epoch, offset.parse().ok()?))
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
        let presence = presence_keys("mizan", "chat:chat_lobby");
        assert_eq!(
            [presence.nodes.as_str(), &presence.members_of("n1"), &presence.channel],
            [
                "mizan:pn:chat:chat_lobby",
                "mizan:pm:n1:chat:chat_lobby",
                "mizan:p:chat:chat_lobby"
            ]
        );
        assert_eq!(
            stream_keys("mizan", &Subject::Context("user".into())),
            ["mizan:m:c:user", "mizan:h:c:user"]
        );
        // A topic and a context of the same name never share a channel.
        assert_ne!(
            channel_name("p", &Subject::Topic("x".into())),
            channel_name("p", &Subject::Context("x".into()))
        );
    }

    #[test]
    fn cluster_names_share_a_hash_tag_per_subject() {
        let names = Names::new("mizan", true);
        let user = Subject::Context("user".into());
        assert_eq!(names.channel(&user), "mizan:{c:user}");
        assert_eq!(names.stream_keys(&user), ["mizan:m:{c:user}", "mizan:h:{c:user}"]);
        assert_eq!(names.control(), "mizan:{ctl}");
        let presence = names.presence_keys("chat:lobby");
        assert_eq!(
            [presence.nodes.as_str(), &presence.members_of("n1"), &presence.channel],
            [
                "mizan:pn:{p:chat:lobby}",
                "mizan:pm:n1:{p:chat:lobby}",
                "mizan:p:{p:chat:lobby}"
            ]
        );
        for topic in ["chat:lobby", "a}b", "}", "{x}"] {
            let subject = Subject::Topic(topic.into());
            let [meta, hist] = names.stream_keys(&subject);
            let channel = names.channel(&subject);
            assert_eq!(hash_tag(meta.as_bytes()), hash_tag(channel.as_bytes()), "{topic}");
            assert_eq!(hash_tag(hist.as_bytes()), hash_tag(channel.as_bytes()), "{topic}");
            assert!(!hash_tag(channel.as_bytes()).is_empty());
            let presence = names.presence_keys(topic);
            let tag = hash_tag(presence.channel.as_bytes());
            assert_eq!(hash_tag(presence.nodes.as_bytes()), tag);
            assert_eq!(hash_tag(presence.members_of("n").as_bytes()), tag);
        }
        assert_eq!(hash_tag(b"plain"), b"plain");
        assert_eq!(hash_tag(b"a{}b"), b"a{}b");
        // One Redis keeps today's names.
        let single = Names::new("mizan", false);
        assert_eq!(single.channel(&user), "mizan:c:user");
        assert_eq!(single.control(), "mizan:ctl");
    }

    #[test]
    fn envelopes_round_trip_and_keep_the_frame_bytes() {
        let frame = br#"{"type":"message","topic":"chat:x","data":{"text":"a\nb"}}"#;
        let payload = encode("0123456789abcdef", None, None, frame);
        let (origin, rest) = decode(&payload).unwrap();
        assert_eq!(origin, "0123456789abcdef");
        let split = split_event(rest);
        assert_eq!((split.position, split.scope, split.frame), (None, None, &frame[..]));
        let scope = Scope {
            params: serde_json::json!({"user_id": 5, "s": "a\nb"}).as_object().cloned(),
            user: Some("ann".into()),
            merge: true,
        };
        let position = Position::new("e1", 42);
        let payload = encode("n", Some(&position), Some(&scope), b"{}");
        let (_, rest) = decode(&payload).unwrap();
        let split = split_event(rest);
        assert_eq!(
            (split.position, split.scope, split.frame),
            (Some(position), Some(scope), &b"{}"[..])
        );
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
