//! Property tests for the decoders.
//!
//! (a) arbitrary bytes (random, JSON-ish, and mutated valid frames) never
//! panic `ClientFrame::decode` or `ServerFrame::decode`; (b) arbitrary JSON
//! values, bare, as objects with a known or junk `type` and a valid or
//! invalid `id`, or as frame-like arrays, never panic either, and whatever
//! decodes re-encodes to the same frame; (c) every valid `ClientFrame`
//! round-trips exactly; (d) a decode error keeps the `id` exactly when the
//! frame had a valid one.

use mizan_protocol::{ClientFrame, Payload, Position, RequestId, ServerFrame};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Map, Value};

static FIELDS: [&str; 22] = [
    "type",
    "id",
    "token",
    "fn",
    "args",
    "context",
    "params",
    "channel",
    "topic",
    "data",
    "protocol",
    "node",
    "session",
    "user",
    "result",
    "invalidate",
    "merge",
    "code",
    "message",
    "details",
    "slot",
    "value",
];

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(384)
}

fn number(f: f64) -> Option<Value> {
    serde_json::Number::from_f64(f).map(Value::Number)
}

/// A float `m / 10^k`. Arbitrary `f64`s are not used: `Params` hold parsed
/// `Value`s, and serde_json without its `float_roundtrip` feature reads some
/// floats one ulp off (see `round_trip.rs`, `float_params_round_trip_exactly`).
fn decimal() -> BoxedStrategy<Value> {
    (-(1i64 << 40)..(1i64 << 40), 1..16i32)
        .prop_filter_map("finite", |(m, k)| number(m as f64 / 10f64.powi(k)))
        .boxed()
}

fn json_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        decimal(),
        any::<String>().prop_map(Value::String),
        select(&ClientFrame::KINDS[..]).prop_map(Value::from),
        select(&ServerFrame::KINDS[..]).prop_map(Value::from),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![select(&FIELDS[..]).prop_map(str::to_owned), any::<String>()].boxed()
}

/// Any JSON value, at most 4 levels deep.
fn json_value() -> BoxedStrategy<Value> {
    json_leaf()
        .prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
        .boxed()
}

fn json_object() -> BoxedStrategy<Map<String, Value>> {
    prop::collection::vec((key(), json_value()), 0..5)
        .prop_map(|kv| kv.into_iter().collect())
        .boxed()
}

/// The id the spec says an error must echo: a JSON integer in 0..=2^53-1.
fn readable_id(frame: &Value) -> Option<RequestId> {
    frame.as_object()?.get("id")?.as_u64().and_then(RequestId::new)
}

/// An `id` value that is anything but an integer from 0 to 2^53-1.
fn bad_id() -> BoxedStrategy<Value> {
    prop_oneof![
        (RequestId::MAX + 1..=u64::MAX).prop_map(Value::from),
        (i64::MIN..0).prop_map(Value::from),
        (0..1000u32).prop_filter_map("finite", |n| number(f64::from(n) + 0.5)),
        (0..1000u32).prop_filter_map("finite", |n| number(f64::from(n))),
        (0..1000u32).prop_map(|n| Value::String(n.to_string())),
        json_value().prop_filter("not a valid id", |v| v.as_u64().and_then(RequestId::new).is_none()),
    ]
    .boxed()
}

fn any_id() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => (0..=RequestId::MAX).prop_map(Value::from),
        1 => Just(Value::from(RequestId::MAX)),
        3 => bad_id(),
    ]
    .boxed()
}

fn any_type() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => select(&ClientFrame::KINDS[..]).prop_map(Value::from),
        2 => select(&ServerFrame::KINDS[..]).prop_map(Value::from),
        1 => any::<String>().prop_map(Value::String),
        1 => json_value(),
    ]
    .boxed()
}

/// A bare JSON value, an object with known fields, a maybe-valid `type` and
/// a maybe-valid `id`, or an array holding such a `type` and `id` in order.
fn frame_value() -> BoxedStrategy<Value> {
    let object = (
        prop::option::weighted(0.9, any_type()),
        prop::option::weighted(0.9, any_id()),
        prop::collection::vec((select(&FIELDS[..]), json_value()), 0..8),
    )
        .prop_map(|(kind, id, fields)| {
            let mut object: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            object.extend(kind.map(|t| ("type".to_owned(), t)));
            object.extend(id.map(|id| ("id".to_owned(), id)));
            Value::Object(object)
        });
    // Arrays shaped like a frame read positionally: `["auth", 1, "token"]`.
    let positional = (any_type(), any_id(), prop::collection::vec(json_value(), 0..4))
        .prop_map(|(kind, id, rest)| Value::Array([kind, id].into_iter().chain(rest).collect()));
    prop_oneof![2 => json_value(), 6 => object, 1 => positional].boxed()
}

fn request_id() -> BoxedStrategy<RequestId> {
    prop_oneof![Just(0), Just(RequestId::MAX), 0..=RequestId::MAX]
        .prop_map(|n| RequestId::new(n).expect("in range"))
        .boxed()
}

fn payload(value: &impl serde::Serialize) -> Payload {
    Payload::from_value(value).expect("JSON values encode")
}

/// Any valid request.
fn client_frame() -> BoxedStrategy<ClientFrame> {
    let (id, text) = (request_id, any::<String>);
    prop_oneof![
        (id(), text()).prop_map(|(id, token)| ClientFrame::Auth { id, token }),
        (id(), text(), json_object()).prop_map(|(id, function, args)| ClientFrame::Call {
            id,
            function,
            args: payload(&args),
        }),
        (id(), text(), json_object()).prop_map(|(id, context, params)| ClientFrame::Fetch { id, context, params }),
        (id(), text(), json_object(), proptest::option::of(position())).prop_map(|(id, context, params, since)| {
            ClientFrame::Watch {
                id,
                context,
                params,
                since,
            }
        }),
        (id(), text(), json_object()).prop_map(|(id, context, params)| ClientFrame::Unwatch { id, context, params }),
        (id(), text(), json_object(), recovery()).prop_map(|(id, channel, params, (since, history))| {
            ClientFrame::Subscribe {
                id,
                channel,
                params: payload(&params),
                since,
                history,
            }
        }),
        (id(), text(), prop_oneof![Just(Value::Null), json_value()]).prop_map(|(id, topic, data)| ClientFrame::Send {
            id,
            topic,
            data: payload(&data),
        }),
        (id(), text()).prop_map(|(id, topic)| ClientFrame::Unsubscribe { id, topic }),
    ]
    .boxed()
}

/// The string field a request of this type cannot do without.
fn required_field(kind: &str) -> &'static str {
    match kind {
        "auth" => "token",
        "call" => "fn",
        "fetch" | "watch" | "unwatch" => "context",
        "subscribe" => "channel",
        _ => "topic",
    }
}

/// Both decoders on the same bytes; a client error must say something.
fn decode_both(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = ClientFrame::decode(bytes) {
        prop_assert!(!e.message.is_empty());
    }
    if let Err(m) = ServerFrame::decode(bytes) {
        prop_assert!(!m.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// (a) Random bytes.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_both(&bytes)?;
    }

    /// (a) Byte strings made of JSON punctuation and field names.
    #[test]
    fn json_like_bytes_never_panic(text in r#"([{}\[\],:" \\0-9.eE+-]|"type"|"id"|"args"|null|true|"call"){0,48}"#) {
        decode_both(text.as_bytes())?;
    }

    /// (a) Valid frames with bytes overwritten and the tail cut off.
    #[test]
    fn mutated_frames_never_panic(
        frame in client_frame(),
        edits in prop::collection::vec((any::<Index>(), any::<u8>()), 0..4),
        cut in any::<Index>(),
    ) {
        let mut bytes = frame.encode().into_bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        decode_both(&bytes)?;
    }

    /// (b) and (d): any JSON; what decodes re-encodes to itself, and a
    /// client error keeps the id exactly when the frame had a valid one.
    #[test]
    fn arbitrary_json_never_panics(value in frame_value()) {
        let text = serde_json::to_string(&value).expect("values encode");
        let id = readable_id(&value);
        match ClientFrame::decode(text.as_bytes()) {
            Ok(frame) => {
                prop_assert_eq!(Some(frame.id()), id);
                prop_assert_eq!(ClientFrame::decode(frame.encode().as_bytes()), Ok(frame));
            }
            Err(e) => {
                prop_assert_eq!(e.id, id, "{}", e.message);
                prop_assert!(!e.message.is_empty());
            }
        }
        if let Ok(frame) = ServerFrame::decode(text.as_bytes()) {
            prop_assert_eq!(ServerFrame::decode(frame.encode().as_bytes()), Ok(frame));
        }
    }

    /// (c) Every valid request round-trips exactly, text included.
    #[test]
    fn valid_client_frames_round_trip(frame in client_frame()) {
        let text = frame.encode();
        let back = ClientFrame::decode(text.as_bytes());
        prop_assert_eq!(back.as_ref(), Ok(&frame), "{}", text);
        prop_assert_eq!(back.map(|f| f.encode()), Ok(text));
        prop_assert!(ServerFrame::decode(frame.encode().as_bytes()).is_err());
    }

    /// (d) A valid request broken in one field keeps its id in the error.
    #[test]
    fn broken_request_keeps_its_id(frame in client_frame(), how in 0..5u8, junk in json_value()) {
        let mut value: Value = serde_json::from_str(&frame.encode()).expect("frames are JSON");
        let object = value.as_object_mut().expect("frames are objects");
        let kind = object["type"].as_str().expect("type is a string").to_owned();
        let field = required_field(&kind);
        let wrong = if junk.is_string() { Value::from(5) } else { junk };
        let expect = match how {
            0 => { object.remove(field); format!("missing field `{field}`") }
            1 => { object.insert(field.into(), wrong); format!("field `{field}`") }
            2 => { object.insert("type".into(), Value::from("nope")); "unknown frame type".into() }
            3 => { object.remove("type"); "missing field `type`".into() }
            _ => match kind.as_str() {
                "call" => { object.insert("args".into(), Value::from(vec![1])); "`args`".into() }
                "send" => { object.remove("data"); "missing field `data`".into() }
                "auth" | "unsubscribe" => { object.insert("type".into(), Value::from(7)); "field `type`".into() }
                _ => { object.insert("params".into(), Value::from("x")); "`params`".into() }
            },
        };
        let e = ClientFrame::decode(value.to_string().as_bytes()).expect_err("a broken frame");
        prop_assert_eq!(e.id, Some(frame.id()));
        prop_assert!(e.message.contains(&expect), "{:?} lacks {:?}", e.message, expect);
    }

    /// (d) A request whose id is missing or unreadable gives an error without one.
    #[test]
    fn unreadable_id_gives_error_without_id(frame in client_frame(), id in prop::option::of(bad_id())) {
        let mut value: Value = serde_json::from_str(&frame.encode()).expect("frames are JSON");
        let object = value.as_object_mut().expect("frames are objects");
        let expect = match id {
            Some(id) => { object.insert("id".into(), id); "`id` must be an integer" }
            None => { object.remove("id"); "frame needs an `id`" }
        };
        let e = ClientFrame::decode(value.to_string().as_bytes()).expect_err("no valid id");
        prop_assert_eq!(e.id, None);
        prop_assert!(e.message.contains(expect), "{:?} lacks {:?}", e.message, expect);
    }
}

/// A stream position.
fn position() -> impl Strategy<Value = Position> {
    (any::<String>(), any::<u64>()).prop_map(|(epoch, offset)| Position::new(epoch, offset))
}

/// What a `subscribe` may ask: recovery from a position, recent history,
/// or neither (never both).
fn recovery() -> impl Strategy<Value = (Option<Position>, Option<u32>)> {
    prop_oneof![
        Just((None, None)),
        position().prop_map(|p| (Some(p), None)),
        any::<u32>().prop_map(|k| (None, Some(k))),
    ]
}
