//! Frames that must be refused with `bad_frame`, and the code tables.
//!
//! Every bad input to `ClientFrame::decode` gives a `FrameError` whose
//! message says what was wrong and whose `id` is present exactly when the
//! frame's `id` could be read (PROTOCOL.md section 2). Also covers the
//! `bad_frame` error frame built from a `FrameError`, `ServerFrame::decode`'s
//! refusals, deeply nested input (no stack overflow), and the `ErrorCode`
//! (section 1 HTTP statuses) and `CloseCode` tables.

use mizan_protocol::{ClientFrame, CloseCode, ErrorCode, FrameError, RequestId, ServerFrame};

fn bad(input: &[u8]) -> FrameError {
    match ClientFrame::decode(input) {
        Ok(frame) => panic!("{} decoded as {frame:?}", String::from_utf8_lossy(input)),
        Err(e) => {
            assert_eq!(e.to_string(), e.message, "Display shows the message");
            e
        }
    }
}

/// A bad frame whose error carries no id; returns the message.
fn bad_without_id(input: &str) -> String {
    let e = bad(input.as_bytes());
    assert_eq!(e.id, None, "{input} -> {e:?}");
    e.message
}

/// A bad frame whose error keeps `id`; returns the message.
fn bad_with_id(input: &str, id: u64) -> String {
    let e = bad(input.as_bytes());
    assert_eq!(e.id.map(RequestId::get), Some(id), "{input} -> {e:?}");
    e.message
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{message:?} does not mention {part:?}");
    }
}

#[test]
fn not_utf8() {
    let e = bad(b"{\"type\":\"auth\",\"id\":1,\"token\":\"\xff\xfe\"}");
    assert_eq!(e.id, None);
    assert_eq!(e.message, "frame is not valid UTF-8");
}

#[test]
fn not_json() {
    #[rustfmt::skip]
    let cases = ["", " ", "{", r#"{"type":"call","id":1"#, "hello", "{'type':'auth'}", "{}{}", "{} x", "nul"];
    for input in cases {
        let m = bad_without_id(input);
        assert!(m.starts_with("frame is not valid JSON: "), "{input:?} -> {m:?}");
    }
}

#[test]
fn not_an_object() {
    #[rustfmt::skip]
    let cases = [
        "[]", r#"[{"type":"auth","id":1,"token":"t"}]"#, "5", "-1.5", r#""call""#, "null", "true",
        // Positional arrays must not be read as the fields in declared order.
        r#"["auth",1,"tok"]"#, r#" ["call",2,null,"echo",{"a":1}]"#,
    ];
    for input in cases {
        assert_eq!(bad_without_id(input), "frame must be a JSON object", "{input}");
        let m = ServerFrame::decode(input.as_bytes()).expect_err(input);
        assert_eq!(m, "frame must be a JSON object", "{input}");
    }
    // Surrounding JSON whitespace is fine.
    let frame = ClientFrame::decode(b" \t\r\n{\"type\":\"unsubscribe\",\"id\":1,\"topic\":\"t\"} \n");
    assert!(frame.is_ok(), "{frame:?}");
}

#[test]
fn missing_or_non_string_type_keeps_id() {
    let m = bad_with_id(r#"{"id":4,"fn":"echo"}"#, 4);
    assert_eq!(m, "missing field `type`");
    for t in ["5", "null", "[\"call\"]", "{}", "true"] {
        let m = bad_with_id(&format!(r#"{{"type":{t},"id":4}}"#), 4);
        assert_mentions(&m, &["field `type`", "wrong type"]);
    }
    assert_eq!(bad_without_id("{}"), "missing field `type`");
}

#[test]
fn unknown_type_keeps_id() {
    let m = bad_with_id(r#"{"type":"bogus","id":12,"fn":"echo"}"#, 12);
    assert_eq!(m, "unknown frame type `bogus`");
    // Server frame types are not requests, and type names are case-sensitive.
    for t in ["hello", "result", "error", "Call", "CALL", ""] {
        let m = bad_with_id(&format!(r#"{{"type":"{t}","id":1}}"#), 1);
        assert_eq!(m, format!("unknown frame type `{t}`"));
    }
}

#[test]
fn missing_id_gives_no_id() {
    let m = bad_without_id(r#"{"type":"call","fn":"echo","args":{}}"#);
    assert_eq!(m, "`call` frame needs an `id`");
    let m = bad_without_id(r#"{"type":"unsubscribe","topic":"t"}"#);
    assert_eq!(m, "`unsubscribe` frame needs an `id`");
}

#[test]
fn unreadable_id_gives_no_id() {
    #[rustfmt::skip]
    let cases = [
        "-1", "-9007199254740991", "1.5", "2.0", "1e2", r#""7""#, "null", "true", "[1]", "{}",
        "9007199254740992", "18446744073709551615", "18446744073709551616", "1e400",
    ];
    for raw in cases {
        let m = bad_without_id(&format!(r#"{{"type":"call","id":{raw},"fn":"echo"}}"#));
        assert_eq!(m, "`id` must be an integer from 0 to 2^53-1", "id {raw}");
        // Even when the type is unknown too, the id is what is reported.
        bad_without_id(&format!(r#"{{"type":"bogus","id":{raw}}}"#));
    }
}

#[test]
fn id_bounds_are_inclusive() {
    for n in [0, 1, RequestId::MAX] {
        let frame = ClientFrame::decode(format!(r#"{{"type":"unsubscribe","id":{n},"topic":"t"}}"#).as_bytes())
            .expect("valid id");
        assert_eq!(frame.id().get(), n);
    }
    assert!(RequestId::new(RequestId::MAX + 1).is_none());
}

#[test]
fn missing_required_field_keeps_id_and_names_it() {
    let cases = [
        (r#"{"type":"auth","id":1}"#, "token"),
        (r#"{"type":"call","id":2,"args":{}}"#, "fn"),
        (r#"{"type":"fetch","id":3,"params":{}}"#, "context"),
        (r#"{"type":"watch","id":4}"#, "context"),
        (r#"{"type":"unwatch","id":5}"#, "context"),
        (r#"{"type":"subscribe","id":6,"params":{}}"#, "channel"),
        (r#"{"type":"send","id":7,"data":{}}"#, "topic"),
        (r#"{"type":"send","id":8,"topic":"t"}"#, "data"),
        (r#"{"type":"unsubscribe","id":9}"#, "topic"),
    ];
    for (n, (input, field)) in (1..).zip(cases) {
        assert_eq!(bad_with_id(input, n), format!("missing field `{field}`"));
    }
}

#[test]
fn wrong_typed_field_keeps_id_and_names_it() {
    let cases = [
        (r#"{"type":"call","id":2,"fn":5}"#, "fn"),
        (r#"{"type":"auth","id":2,"token":true}"#, "token"),
        (r#"{"type":"auth","id":2,"token":null}"#, "token"),
        (r#"{"type":"fetch","id":2,"context":["user"]}"#, "context"),
        (r#"{"type":"subscribe","id":2,"channel":{}}"#, "channel"),
        (r#"{"type":"send","id":2,"topic":1.5,"data":1}"#, "topic"),
        (r#"{"type":"unsubscribe","id":2,"topic":null}"#, "topic"),
    ];
    for (input, field) in cases {
        let m = bad_with_id(input, 2);
        assert_mentions(&m, &[&format!("field `{field}`"), "wrong type"]);
    }
    let m = bad_with_id(r#"{"type":"call","id":2,"fn":5}"#, 2);
    assert_eq!(
        m,
        "field `fn` has the wrong type: invalid type: integer `5`, expected a string"
    );
}

#[test]
fn args_and_params_must_be_objects() {
    for raw in ["[]", "[1]", "5", r#""{}""#, "null", "true"] {
        let input = format!(r#"{{"type":"call","id":3,"fn":"f","args":{raw}}}"#);
        assert_eq!(bad_with_id(&input, 3), "`args` must be an object", "{input}");
        let inputs = [
            format!(r#"{{"type":"fetch","id":3,"context":"c","params":{raw}}}"#),
            format!(r#"{{"type":"watch","id":3,"context":"c","params":{raw}}}"#),
            format!(r#"{{"type":"unwatch","id":3,"context":"c","params":{raw}}}"#),
            format!(r#"{{"type":"subscribe","id":3,"channel":"c","params":{raw}}}"#),
        ];
        for input in inputs {
            assert_eq!(bad_with_id(&input, 3), "`params` must be an object", "{input}");
        }
    }
}

#[test]
fn duplicate_keys_are_refused() {
    let m = bad_without_id(r#"{"type":"call","id":1,"id":2,"fn":"f"}"#);
    assert_mentions(&m, &["duplicate field `id`"]);
    let m = bad_without_id(r#"{"type":"call","id":1,"fn":"f","fn":"g"}"#);
    assert_mentions(&m, &["duplicate field `fn`"]);
    // The frame is refused as a whole before its id is read.
    let m = bad_without_id(r#"{"type":"call","type":"auth","id":1,"fn":"f","token":"t"}"#);
    assert_mentions(&m, &["duplicate field `type`"]);
}

fn nested(depth: usize, open: &str, close: &str) -> String {
    format!("{}{}", open.repeat(depth), close.repeat(depth))
}

#[test]
fn deeply_nested_json_never_overflows_the_stack() {
    for depth in [10_000, 100_000] {
        let arrays = nested(depth, "[", "]");
        let objects = nested(depth, r#"{"a":"#, "}").replace(r#"{"a":}"#, r#"{"a":0}"#);
        // Inside an object `args`, a value the server will parse later.
        let input = format!(r#"{{"type":"call","id":1,"fn":"f","args":{{"x":{arrays}}}}}"#);
        match ClientFrame::decode(input.as_bytes()) {
            Ok(ClientFrame::Call { args, .. }) => assert_eq!(args.get().len(), 2 * depth + 6),
            Ok(other) => panic!("decoded as {other:?}"),
            Err(e) => assert_eq!(e.id.map(RequestId::get), Some(1), "{}", e.message),
        }
        // `args` itself an array: refused, id kept.
        let input = format!(r#"{{"type":"call","id":1,"fn":"f","args":{arrays}}}"#);
        assert_eq!(bad_with_id(&input, 1), "`args` must be an object");
        // Deep `params` must be refused (not parsed into a Value recursively).
        for inner in [&arrays, &objects] {
            let input = format!(r#"{{"type":"fetch","id":2,"context":"c","params":{{"x":{inner}}}}}"#);
            let message = bad_with_id(&input, 2);
            assert_mentions(&message, &["`params` could not be read", "recursion limit"]);
        }
        // In an unknown field, and as the whole frame.
        let input = format!(r#"{{"type":"unsubscribe","id":3,"topic":"t","junk":{objects}}}"#);
        assert!(ClientFrame::decode(input.as_bytes()).is_ok());
        bad_without_id(&arrays);
        bad_without_id(&objects);
        // The server-frame decoder too.
        let input = format!(r#"{{"type":"error","code":"internal","message":"m","details":{arrays}}}"#);
        assert!(ServerFrame::decode(input.as_bytes()).is_err());
        assert!(ServerFrame::decode(arrays.as_bytes()).is_err());
    }
}

#[test]
fn frame_error_becomes_a_bad_frame_error_frame() {
    let e = bad(br#"{"type":"call","id":3}"#);
    let frame = ServerFrame::from(e.clone());
    assert_eq!(frame, ServerFrame::error(e.id, ErrorCode::BadFrame, e.message));
    let text = r#"{"type":"error","id":3,"code":"bad_frame","message":"missing field `fn`"}"#;
    assert_eq!(frame.encode(), text);

    let frame = ServerFrame::from(bad(b"[1]"));
    let text = frame.encode();
    let expected = r#"{"type":"error","code":"bad_frame","message":"frame must be a JSON object"}"#;
    assert_eq!(text, expected);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(value.get("id").is_none(), "no `id` key at all, not `\"id\":null`");
    assert_eq!(ServerFrame::decode(text.as_bytes()), Ok(frame));
}

#[test]
fn server_decoder_refuses_bad_frames() {
    #[rustfmt::skip]
    let cases = [
        ("[]", "frame must be a JSON object"),
        ("{", "frame is not valid JSON"),
        (r#"{"type":"ok"}"#, "`ok` frame needs an `id`"),
        (r#"{"type":"result","result":1,"invalidate":[],"merge":[]}"#, "`result` frame needs an `id`"),
        (r#"{"type":"bundle","context":"c","data":{}}"#, "`bundle` frame needs an `id`"),
        (r#"{"type":"subscribed","topic":"t"}"#, "`subscribed` frame needs an `id`"),
        (r#"{"type":"result","id":1,"result":1,"merge":[]}"#, "missing field `invalidate`"),
        (r#"{"type":"result","id":1,"result":1,"invalidate":[]}"#, "missing field `merge`"),
        (r#"{"type":"result","id":1,"invalidate":[],"merge":[]}"#, "missing field `result`"),
        (r#"{"type":"result","id":1,"result":1,"invalidate":null,"merge":[]}"#, "field `invalidate` has the wrong type"),
        (r#"{"type":"hello","node":"n","session":"s"}"#, "missing field `protocol`"),
        (r#"{"type":"error","code":"nope","message":"m"}"#, "field `code` has the wrong type"),
        (r#"{"type":"invalidate","context":"c","params":[]}"#, "field `params` has the wrong type"),
        (r#"{"type":"merge","context":"c","slot":"s"}"#, "missing field `value`"),
        (r#"{"type":"message","topic":"t","id":-1,"data":1}"#, "`id` must be an integer"),
        (r#"{"type":"call","id":1,"fn":"f"}"#, "unknown frame type `call`"),
        (r#"{"id":1}"#, "missing field `type`"),
        (r#"{"type":null}"#, "field `type` has the wrong type"),
    ];
    for (input, expected) in cases {
        let m = ServerFrame::decode(input.as_bytes()).expect_err(input);
        assert!(m.starts_with(expected), "{m:?} should start with {expected:?}");
    }
    assert_eq!(ServerFrame::decode(b"\xff").unwrap_err(), "frame is not valid UTF-8");
}

#[test]
fn error_codes_match_section_1() {
    let table = [
        (ErrorCode::BadFrame, "bad_frame", 400),
        (ErrorCode::NotFound, "not_found", 404),
        (ErrorCode::InvalidArgs, "invalid_args", 422),
        (ErrorCode::Unauthenticated, "unauthenticated", 401),
        (ErrorCode::Forbidden, "forbidden", 403),
        // Not given a status by the spec (socket only); the crate picks 409.
        (ErrorCode::NotSubscribed, "not_subscribed", 409),
        (ErrorCode::Limit, "limit", 429),
        (ErrorCode::Internal, "internal", 500),
    ];
    assert_eq!(
        ErrorCode::ALL.to_vec(),
        table.iter().map(|row| row.0).collect::<Vec<_>>()
    );
    for (code, name, status) in table {
        assert_eq!((code.as_str(), code.http_status()), (name, status), "{code:?}");
        assert_eq!(code.to_string(), name);
        assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{name}\""));
        assert_eq!(serde_json::from_str::<ErrorCode>(&format!("\"{name}\"")).unwrap(), code);
    }
    assert!(serde_json::from_str::<ErrorCode>("\"BadFrame\"").is_err());
}

#[test]
fn close_codes_match_section_2() {
    let table = [
        (CloseCode::Normal, 1000),
        (CloseCode::Binary, 1003),
        (CloseCode::Policy, 1008),
        (CloseCode::TooLarge, 1009),
        (CloseCode::ServerError, 1011),
        (CloseCode::Restart, 1012),
        (CloseCode::TokenExpired, 4001),
        (CloseCode::SlowClient, 4008),
    ];
    for (code, number) in table {
        assert_eq!(code.as_u16(), number, "{code:?}");
        // A close reason must fit a control frame (123 bytes) and say something.
        assert!(!code.reason().is_empty() && code.reason().len() <= 123, "{code:?}");
    }
}

#[test]
fn stream_positions_are_checked() {
    let both = bad_with_id(
        r#"{"type":"subscribe","id":6,"channel":"chat","since":{"epoch":"e","offset":1},"history":5}"#,
        6,
    );
    assert_mentions(&both, &["`since` and `history` cannot both be given"]);
    let no_offset = bad_with_id(r#"{"type":"watch","id":4,"context":"user","since":{"epoch":"e"}}"#, 4);
    assert_mentions(&no_offset, &["field `since`", "offset"]);
    let negative = bad_with_id(r#"{"type":"subscribe","id":6,"channel":"chat","history":-1}"#, 6);
    assert_mentions(&negative, &["field `history`"]);
    // A server frame's position is `epoch` and `offset` together.
    let half = mizan_protocol::ServerFrame::decode(br#"{"type":"subscribed","id":6,"topic":"t","epoch":"e"}"#);
    assert_eq!(half.unwrap_err(), "`epoch` and `offset` go together");
}
