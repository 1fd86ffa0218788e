//! The `X-Mizan-Invalidate` header (PROTOCOL.md section 5).
//!
//! Writing: the spec's example verbatim, broad and function-level entries,
//! merge contexts, deduplication, key order, how each kind of JSON value is
//! written, and percent-encoding byte by byte. Parsing: decoded round trips,
//! tolerated whitespace, and one error per kind of malformed input. Property
//! tests: no string panics the parser (and what parses re-writes to the same
//! entries), and for random entries `parse(write(entries))` is the expected
//! decoded form.

use mizan_protocol::{
    HeaderEntry, HeaderError, INVALIDATE_HEADER, InvalidateEntry, MergeEntry, Params, Payload, invalidate_header,
    parse_invalidate_header,
};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn params(value: Value) -> Params {
    match value {
        Value::Object(map) => map,
        other => panic!("params must be an object, got {other}"),
    }
}

fn inv(context: &str, p: Value) -> InvalidateEntry {
    InvalidateEntry::broad(context).with_params(Some(params(p)))
}

fn broad(context: &str) -> InvalidateEntry {
    InvalidateEntry::broad(context)
}

fn func(context: &str, function: &str, p: Value) -> InvalidateEntry {
    InvalidateEntry::broad(context)
        .with_function(Some(function.into()))
        .with_params(Some(params(p)))
}

fn merge(context: &str, slot: &str, p: Option<Value>) -> MergeEntry {
    MergeEntry::new(
        context,
        slot,
        Payload::from_value(&json!({"name": "Ann"})).expect("valid JSON"),
    )
    .with_params(p.map(params))
}

/// The header for invalidations only.
fn header(entries: &[InvalidateEntry]) -> String {
    invalidate_header(entries, &[]).expect("a header")
}

/// The header for one entry of context `c` with the single param `k`.
fn one_value(value: Value) -> String {
    header(&[inv("c", json!({ "k": value }))])
}

fn decoded(context: &str, params: &[(&str, &str)]) -> HeaderEntry {
    HeaderEntry {
        context: context.into(),
        params: params.iter().map(|&(k, v)| (k.into(), v.into())).collect(),
    }
}

// ---------------------------------------------------------------- writing

#[test]
fn spec_example() {
    assert_eq!(INVALIDATE_HEADER, "X-Mizan-Invalidate");
    let entries = [inv("user", json!({"user_id": 5})), broad("notifications")];
    assert_eq!(
        invalidate_header(&entries, &[]).as_deref(),
        Some("user;user_id=5, notifications")
    );
}

#[test]
fn broad_entry() {
    assert_eq!(header(&[broad("notifications")]), "notifications");
    // Present but empty params are written like absent ones (and are the
    // same entry).
    assert_eq!(header(&[inv("notifications", json!({}))]), "notifications");
    assert_eq!(
        header(&[inv("notifications", json!({})), broad("notifications")]),
        "notifications"
    );
}

#[test]
fn function_level_entry_is_written_like_its_context() {
    let function_level = func("user", "user_profile", json!({"user_id": 5}));
    assert_eq!(header(std::slice::from_ref(&function_level)), "user;user_id=5");
    assert_eq!(
        header(&[function_level.clone().with_params(None), broad("chat")]),
        "user, chat"
    );
    // The same scope through two functions, or a function and the whole
    // context, is one entry.
    assert_eq!(
        header(&[
            function_level,
            func("user", "user_posts", json!({"user_id": 5})),
            inv("user", json!({"user_id": 5})),
        ]),
        "user;user_id=5"
    );
}

#[test]
fn merge_contexts_are_included() {
    let merges = [merge("user", "user_profile", Some(json!({"user_id": 5})))];
    assert_eq!(invalidate_header(&[], &merges).as_deref(), Some("user;user_id=5"));
    assert_eq!(
        invalidate_header(&[broad("notifications")], &merges).as_deref(),
        Some("notifications, user;user_id=5")
    );
    // A merge without params is written like a broad entry.
    assert_eq!(
        invalidate_header(&[], &[merge("global", "current_user", None)]).as_deref(),
        Some("global")
    );
}

#[test]
fn identical_entries_appear_once_in_first_occurrence_order() {
    let entries = [
        broad("a"),
        inv("b", json!({"x": 1})),
        broad("a"),
        inv("b", json!({"x": 2})),
        inv("b", json!({"x": 1})),
    ];
    assert_eq!(header(&entries), "a, b;x=1, b;x=2");

    // An invalidation and a merge of the same context and params: once, at
    // the invalidation's place; merges come after all invalidations.
    let merges = [
        merge("c", "s", None),
        merge("user", "user_profile", Some(json!({"user_id": 5}))),
        merge("c", "t", None),
    ];
    assert_eq!(
        invalidate_header(&[inv("user", json!({"user_id": 5})), broad("d")], &merges).as_deref(),
        Some("user;user_id=5, d, c")
    );

    // Entries are compared as written: a number and the string of its
    // digits cannot be told apart in the header.
    assert_eq!(
        header(&[inv("u", json!({"id": 5})), inv("u", json!({"id": "5"}))]),
        "u;id=5"
    );
}

#[test]
fn params_are_written_in_key_order() {
    let mut p = Params::new();
    p.insert("zeta".into(), json!(1));
    p.insert("alpha".into(), json!(2));
    p.insert("mid".into(), json!(3));
    let entry = InvalidateEntry::broad("c").with_params(Some(p));
    assert_eq!(header(&[entry]), "c;alpha=2;mid=3;zeta=1");

    let parsed: Params = serde_json::from_str(r#"{"b":"x","a":"y","B":"z"}"#).expect("an object");
    let entry = InvalidateEntry::broad("c").with_params(Some(parsed));
    assert_eq!(header(&[entry]), "c;B=z;a=y;b=x");
}

#[test]
fn string_values_are_unquoted() {
    assert_eq!(one_value(json!("ann")), "c;k=ann");
    assert_eq!(one_value(json!("")), "c;k=");
    assert_eq!(one_value(json!("5")), "c;k=5");
}

#[test]
fn percent_encoding() {
    let cases = [
        (" ", "%20"),
        (",", "%2C"),
        (";", "%3B"),
        ("=", "%3D"),
        ("%", "%25"),
        ("\"", "%22"),
        ("é", "%C3%A9"),
        ("😀", "%F0%9F%98%80"),
        ("\n", "%0A"),
        ("\t", "%09"),
        ("\u{7f}", "%7F"),
        ("/", "%2F"),
        ("+", "%2B"),
        ("?", "%3F"),
        ("#", "%23"),
        (":", "%3A"),
        ("@", "%40"),
        ("&", "%26"),
        ("\\", "%5C"),
        ("a b,c", "a%20b%2Cc"),
        ("100%", "100%25"),
        ("%20", "%2520"),
    ];
    for (raw, encoded) in cases {
        assert_eq!(one_value(json!(raw)), format!("c;k={encoded}"), "value {raw:?}");
    }
    // Unreserved characters are written as they are.
    let unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    assert_eq!(one_value(json!(unreserved)), format!("c;k={unreserved}"));
}

#[test]
fn context_names_and_keys_are_percent_encoded_too() {
    assert_eq!(
        header(&[inv("a b", json!({"k=1": "v", "é;": "x"}))]),
        "a%20b;k%3D1=v;%C3%A9%3B=x"
    );
    assert_eq!(header(&[broad("x,y")]), "x%2Cy");
}

#[test]
fn numbers_booleans_and_null() {
    let cases = [
        (json!(5), "5"),
        (json!(0), "0"),
        (json!(-3), "-3"),
        (json!(u64::MAX), "18446744073709551615"),
        (json!(i64::MIN), "-9223372036854775808"),
        (json!(1.5), "1.5"),
        (json!(-0.25), "-0.25"),
        (json!(2.0), "2.0"),
        // serde_json prints `1e+300`; the `+` is percent-encoded.
        (json!(1e300), "1e%2B300"),
        (json!(1.5e-7), "1.5e-7"),
        (json!(true), "true"),
        (json!(false), "false"),
        (json!(null), "null"),
    ];
    for (value, text) in cases {
        assert_eq!(one_value(value.clone()), format!("c;k={text}"), "value {value}");
    }
}

#[test]
fn nested_values_are_compact_json_percent_encoded() {
    assert_eq!(one_value(json!([1, 2])), "c;k=%5B1%2C2%5D");
    assert_eq!(
        one_value(json!({"b": "x y", "a": [true, null]})),
        "c;k=%7B%22a%22%3A%5Btrue%2Cnull%5D%2C%22b%22%3A%22x%20y%22%7D"
    );
    assert_eq!(one_value(json!([])), "c;k=%5B%5D");
    assert_eq!(one_value(json!({})), "c;k=%7B%7D");
}

#[test]
fn no_header_without_entries() {
    assert_eq!(invalidate_header(&[], &[]), None);
}

// ---------------------------------------------------------------- parsing

#[test]
fn parse_gives_back_decoded_strings() {
    let entries = [
        inv("user", json!({"user_id": 5})),
        broad("notifications"),
        func(
            "room",
            "room_messages",
            json!({"name": "José, Jr.; a=b 100%", "n": -1.5, "ok": true, "none": null}),
        ),
        inv("nested", json!({"v": {"a": [1, "x y"]}})),
    ];
    let merges = [merge("chat", "messages", Some(json!({"room": "café ☕"})))];
    let text = invalidate_header(&entries, &merges).expect("a header");
    assert_eq!(
        parse_invalidate_header(&text),
        Ok(vec![
            decoded("user", &[("user_id", "5")]),
            decoded("notifications", &[]),
            decoded(
                "room",
                &[
                    ("n", "-1.5"),
                    ("name", "José, Jr.; a=b 100%"),
                    ("none", "null"),
                    ("ok", "true")
                ]
            ),
            decoded("nested", &[("v", r#"{"a":[1,"x y"]}"#)]),
            decoded("chat", &[("room", "café ☕")]),
        ])
    );
}

#[test]
fn parse_spec_example_and_display_round_trip() {
    let entries = parse_invalidate_header("user;user_id=5, notifications").expect("parses");
    assert_eq!(
        entries,
        vec![decoded("user", &[("user_id", "5")]), decoded("notifications", &[])]
    );
    let rejoined: Vec<String> = entries.iter().map(ToString::to_string).collect();
    assert_eq!(rejoined.join(", "), "user;user_id=5, notifications");
    assert_eq!(
        decoded("a b", &[("k", "é,;=%")]).to_string(),
        "a%20b;k=%C3%A9%2C%3B%3D%25"
    );
}

#[test]
fn parse_tolerates_whitespace_around_separators_and_lowercase_hex() {
    let expected = vec![decoded("a", &[("x", "1")]), decoded("b", &[]), decoded("c", &[])];
    for text in [
        "a;x=1, b, c",
        "a;x=1,b,c",
        "a;x=1 ,b ,  c",
        "  a;x=1,\tb\t, c  ",
        "a;x=1 \t, b,c\t",
    ] {
        assert_eq!(parse_invalidate_header(text), Ok(expected.clone()), "{text:?}");
    }
    assert_eq!(
        parse_invalidate_header("c;k=%c3%a9%2c"),
        Ok(vec![decoded("c", &[("k", "é,")])])
    );
    // Params in any order, and empty values, are accepted as written.
    assert_eq!(
        parse_invalidate_header("c;b=;a=1"),
        Ok(vec![decoded("c", &[("b", ""), ("a", "1")])])
    );
    // Duplicate entries are kept: the parser does not deduplicate.
    assert_eq!(
        parse_invalidate_header("a, a"),
        Ok(vec![decoded("a", &[]), decoded("a", &[])])
    );
}

#[test]
fn parse_errors() {
    use HeaderError::*;
    let cases: Vec<(&str, HeaderError)> = vec![
        ("", EmptyEntry { entry: 0 }),
        (" \t ", EmptyEntry { entry: 0 }),
        (",a", EmptyEntry { entry: 0 }),
        ("a,,b", EmptyEntry { entry: 1 }),
        ("a, , b", EmptyEntry { entry: 1 }),
        ("a, b,", EmptyEntry { entry: 2 }),
        (";x=1", EmptyContext { entry: 0 }),
        ("a, ;x=1", EmptyContext { entry: 1 }),
        (
            "a;x",
            MissingEquals {
                entry: 0,
                param: "x".into(),
            },
        ),
        (
            "a;",
            MissingEquals {
                entry: 0,
                param: "".into(),
            },
        ),
        (
            "a;x=1;;y=2",
            MissingEquals {
                entry: 0,
                param: "".into(),
            },
        ),
        ("b, a;=1", EmptyKey { entry: 1 }),
        (
            "a;x=1;x=2",
            DuplicateKey {
                entry: 0,
                key: "x".into(),
            },
        ),
        (
            "a;x=1;%78=2",
            DuplicateKey {
                entry: 0,
                key: "x".into(),
            },
        ),
        (
            "a;x=%",
            BadEscape {
                entry: 0,
                escape: "%".into(),
            },
        ),
        (
            "a;x=%4",
            BadEscape {
                entry: 0,
                escape: "%4".into(),
            },
        ),
        (
            "a;x=%G1",
            BadEscape {
                entry: 0,
                escape: "%G1".into(),
            },
        ),
        (
            "a;x=%4é",
            BadEscape {
                entry: 0,
                escape: "%4é".into(),
            },
        ),
        (
            "a%2",
            BadEscape {
                entry: 0,
                escape: "%2".into(),
            },
        ),
        ("a;x=b c", UnencodedChar { entry: 0, ch: ' ' }),
        ("a ;x=1", UnencodedChar { entry: 0, ch: ' ' }),
        ("a;x =1", UnencodedChar { entry: 0, ch: ' ' }),
        ("a;x=1=2", UnencodedChar { entry: 0, ch: '=' }),
        ("a;x=\"b\"", UnencodedChar { entry: 0, ch: '"' }),
        ("b, a;x=é", UnencodedChar { entry: 1, ch: 'é' }),
        ("a\nb", UnencodedChar { entry: 0, ch: '\n' }),
        (
            "a;x=%FF",
            InvalidUtf8 {
                entry: 0,
                text: "%FF".into(),
            },
        ),
        (
            "a;x=%C3",
            InvalidUtf8 {
                entry: 0,
                text: "%C3".into(),
            },
        ),
        (
            "%C3%28",
            InvalidUtf8 {
                entry: 0,
                text: "%C3%28".into(),
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_invalidate_header(text), Err(expected), "{text:?}");
    }
}

#[test]
fn parse_error_messages() {
    let message = |text: &str| parse_invalidate_header(text).expect_err("malformed").to_string();
    assert_eq!(message("a,,b"), "entry 1 is empty");
    assert_eq!(message(";x=1"), "entry 0 has no context name");
    assert_eq!(message("a;x"), "entry 0: parameter `x` has no `=`");
    assert_eq!(message("a;=1"), "entry 0: a parameter has an empty name");
    assert_eq!(message("a;x=1;x=2"), "entry 0: parameter `x` appears more than once");
    assert_eq!(
        message("a;x=%G1"),
        "entry 0: bad percent escape `%G1` (expected `%` and two hex digits)"
    );
    assert_eq!(message("a;x=b c"), "entry 0: character ' ' must be percent-encoded");
    assert_eq!(
        message("a;x=%FF"),
        "entry 0: `%FF` is not valid UTF-8 once percent-decoded"
    );
}

// ---------------------------------------------------------------- properties

/// Strings made mostly of the characters the parser cares about.
fn headerish() -> BoxedStrategy<String> {
    prop_oneof![
        any::<String>(),
        "[a-cA-F0-9%;=, \t\"é_.~-]{0,40}",
        "([a-z]{1,4}(;[a-z]{0,3}=?(%[0-9A-Fa-g]{0,2}|[a-z]){0,3}){0,3}[ \t]{0,2},?[ \t]{0,2}){0,4}",
    ]
    .boxed()
}

fn param_value() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<String>().prop_map(Value::from),
        "[a-z ,;=%\"é😀\t]{0,8}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ]
    .boxed()
}

/// A context, maybe a function, and params (sorted by key, as `Params` are).
type Scope = (String, Option<String>, BTreeMap<String, Value>);

fn scope() -> BoxedStrategy<Scope> {
    let key = select(vec!["user_id", "room", "name", "a", "Z", "k;=, é"]).prop_map(String::from);
    (
        select(vec!["user", "notifications", "chat", "global", "room list"]).prop_map(String::from),
        prop::option::of(select(vec!["f", "g"]).prop_map(String::from)),
        prop::collection::btree_map(key, param_value(), 0..4),
    )
        .boxed()
}

fn to_params(map: &BTreeMap<String, Value>) -> Option<Params> {
    (!map.is_empty()).then(|| map.clone().into_iter().collect())
}

/// What the parser should give for a value.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No string panics the parser, and whatever parses is written back
    /// (entry by entry, joined by `, `) to a header that parses the same.
    #[test]
    fn parser_never_panics(text in headerish()) {
        if let Ok(entries) = parse_invalidate_header(&text) {
            let rewritten: Vec<String> = entries.iter().map(ToString::to_string).collect();
            prop_assert_eq!(parse_invalidate_header(&rewritten.join(", ")), Ok(entries));
        }
    }

    /// For random entries, the header is plain ASCII of the allowed
    /// characters and parses to the expected decoded entries, deduplicated
    /// in first-occurrence order (invalidations, then merges).
    #[test]
    fn parse_of_format_is_the_decoded_form(
        invalidations in prop::collection::vec(scope(), 0..5),
        merges in prop::collection::vec(scope(), 0..5),
    ) {
        let invalidate: Vec<InvalidateEntry> = invalidations
            .iter()
            .map(|(context, function, params)| {
                InvalidateEntry::broad(context.clone())
                    .with_function(function.clone())
                    .with_params(to_params(params))
            })
            .collect();
        let merge: Vec<MergeEntry> = merges
            .iter()
            .map(|(context, function, params)| {
                MergeEntry::new(
                    context.clone(),
                    function.clone().unwrap_or_else(|| "slot".into()),
                    Payload::empty_object(),
                )
                .with_params(to_params(params))
            })
            .collect();

        let mut expected: Vec<HeaderEntry> = Vec::new();
        for (context, _, params) in invalidations.iter().chain(&merges) {
            let entry = HeaderEntry {
                context: context.clone(),
                params: params.iter().map(|(k, v)| (k.clone(), value_text(v))).collect(),
            };
            if !expected.contains(&entry) {
                expected.push(entry);
            }
        }

        match invalidate_header(&invalidate, &merge) {
            None => prop_assert!(expected.is_empty()),
            Some(text) => {
                prop_assert!(
                    text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%;=, ".contains(&b)),
                    "unexpected character in {:?}", text
                );
                prop_assert_eq!(parse_invalidate_header(&text), Ok(expected));
            }
        }
    }
}
