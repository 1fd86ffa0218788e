//! `#[mizan::function]`: what the declarations register, and calling them.

use mizan::__private::mizan_channels::{Function, Registry};
use mizan::protocol::{ErrorCode, Payload};
use mizan::{Access, Cx, Error, FunctionDecl, Mizan, User};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Serialize, JsonSchema)]
struct Profile {
    id: i64,
    name: String,
}

#[derive(Serialize, JsonSchema)]
struct Settings {
    dark: bool,
}

#[derive(Serialize, JsonSchema)]
struct Hit {
    title: String,
}

/// Reads a profile.
#[mizan::function(context = "user")]
async fn user_profile(_cx: &Cx, user_id: i64) -> Result<Profile, Error> {
    Ok(Profile {
        id: user_id,
        name: format!("user {user_id}"),
    })
}

#[mizan::function(context = "user")]
async fn user_settings(_cx: &Cx, user_id: i64) -> Result<Settings, Error> {
    Ok(Settings { dark: user_id % 2 == 0 })
}

#[mizan::function(context = "notifications")]
async fn notification_count(_cx: &Cx, user_id: i64) -> Result<u32, Error> {
    Ok(u32::try_from(user_id).unwrap_or(0))
}

#[mizan::function(affects = "user")]
async fn update_profile(_cx: &Cx, user_id: i64, name: String) -> Result<bool, Error> {
    Ok(user_id > 0 && !name.is_empty())
}

#[mizan::function(affects = ["user", "notifications"], auth = "user")]
async fn mark_all_read(cx: &Cx, user_id: i64) -> Result<String, Error> {
    Ok(format!(
        "{user_id} by {}",
        cx.user().map_or("nobody", |u| u.id.as_str())
    ))
}

#[mizan::function(merge = "user", auth = "user")]
async fn rename_user(_cx: &Cx, user_id: i64, mut name: String) -> Result<Profile, Error> {
    name.make_ascii_uppercase();
    Ok(Profile { id: user_id, name })
}

#[mizan::function(auth = "staff")]
async fn staff_report(_cx: &Cx) -> Result<&'static str, Error> {
    Ok("report")
}

#[mizan::function(auth = "superuser", affects = "user", affects = "notifications")]
async fn purge_user(_cx: &Cx, user_id: i64) -> Result<i64, Error> {
    Ok(user_id)
}

/// Only the user named by the `owner` arg.
fn is_owner(user: Option<&User>, args: &serde_json::Value) -> bool {
    user.is_some_and(|u| args["owner"] == u.id.as_str())
}

mod rules {
    pub(crate) fn always(_: Option<&mizan::User>, _: &serde_json::Value) -> bool {
        true
    }
}

#[mizan::function(auth = is_owner)]
async fn owner_note(_cx: &Cx, owner: String) -> Result<String, Error> {
    Ok(format!("note of {owner}"))
}

#[mizan::function(auth = rules::always)]
async fn anything(_cx: &Cx) -> Result<(), Error> {
    Ok(())
}

/// Public, no args.
#[mizan::function]
async fn ping(_cx: &Cx) -> Result<&'static str, Error> {
    Ok("pong")
}

#[mizan::function()]
async fn search(
    _cx: &Cx,
    /// What to look for.
    query: String,
    limit: Option<u32>,
    #[serde(default)] exact: bool,
    r#type: Option<String>,
) -> Result<Vec<Hit>, Error> {
    let limit = limit.unwrap_or(2) as usize;
    let kind = r#type.unwrap_or_else(|| "any".into());
    let title = |i: usize| match exact {
        true => query.clone(),
        false => format!("{query} {kind} {i}"),
    };
    Ok((0..limit).map(|i| Hit { title: title(i) }).collect())
}

const ALL: [FunctionDecl; 12] = [
    USER_PROFILE,
    USER_SETTINGS,
    NOTIFICATION_COUNT,
    UPDATE_PROFILE,
    MARK_ALL_READ,
    RENAME_USER,
    STAFF_REPORT,
    PURGE_USER,
    OWNER_NOTE,
    ANYTHING,
    PING,
    SEARCH,
];

fn registry() -> Registry {
    Registry::builder()
        .functions(ALL)
        .build()
        .expect("the declarations are valid")
}

fn names(names: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<String> {
    names.into_iter().map(|n| n.as_ref().to_owned()).collect()
}

fn payload(value: serde_json::Value) -> Payload {
    Payload::from_json(&value.to_string()).unwrap()
}

#[test]
fn the_facade_builder_accepts_the_declarations() {
    let app = Mizan::builder().functions(ALL).build();
    assert!(app.is_ok(), "{:?}", app.err());
}

#[test]
fn wire_names_are_the_fn_names() {
    let registry = registry();
    let mut all: Vec<_> = registry.functions().into_iter().map(Function::name).collect();
    all.sort_unstable();
    let mut expected = vec![
        "anything",
        "mark_all_read",
        "notification_count",
        "owner_note",
        "ping",
        "purge_user",
        "rename_user",
        "search",
        "staff_report",
        "update_profile",
        "user_profile",
        "user_settings",
    ];
    expected.sort_unstable();
    assert_eq!(all, expected);
}

#[test]
fn args_are_the_params_after_the_context() {
    let registry = registry();
    let args = |name: &str| names(registry.function(name).unwrap().arg_names());
    assert_eq!(args("user_profile"), ["user_id"]);
    assert_eq!(args("update_profile"), ["name", "user_id"]);
    assert_eq!(args("rename_user"), ["name", "user_id"]);
    assert_eq!(args("search"), ["exact", "limit", "query", "type"]);
    assert!(args("ping").is_empty());
    assert!(args("staff_report").is_empty());
}

#[test]
fn context_affects_and_merge_are_as_declared() {
    let registry = registry();
    let f = |name: &str| registry.function(name).unwrap();
    assert_eq!(f("user_profile").context_name(), Some("user"));
    assert_eq!(f("user_settings").context_name(), Some("user"));
    assert_eq!(f("update_profile").context_name(), None);
    assert_eq!(f("update_profile").affects_targets(), ["user"]);
    assert_eq!(f("mark_all_read").affects_targets(), ["user", "notifications"]);
    assert_eq!(f("purge_user").affects_targets(), ["user", "notifications"]);
    assert!(f("update_profile").merge_targets().is_empty());
    assert_eq!(f("rename_user").merge_targets(), ["user"]);
    assert!(f("ping").affects_targets().is_empty() && f("ping").merge_targets().is_empty());

    let user = registry.context("user").unwrap();
    assert_eq!(names(user.param_names()), ["user_id"]);
    assert_eq!(names(user.slots()), ["user_profile", "user_settings"]);

    let args = json!({"user_id": 5, "name": "Ann"});
    let (invalidate, _) =
        registry
            .effects("update_profile")
            .unwrap()
            .entries(args.as_object().unwrap(), &Payload::empty_object(), None);
    assert_eq!(
        serde_json::to_value(&invalidate).unwrap(),
        json!([{"context": "user", "params": {"user_id": 5}}])
    );
}

#[test]
fn auth_maps_to_access_levels() {
    let registry = registry();
    let level = |name: &str| registry.function(name).unwrap().access_level().name();
    assert_eq!(level("ping"), "public");
    assert_eq!(level("user_profile"), "public");
    assert_eq!(level("rename_user"), "user");
    assert_eq!(level("staff_report"), "staff");
    assert_eq!(level("purge_user"), "superuser");
    assert_eq!(level("owner_note"), "custom");
    assert_eq!(level("anything"), "custom");
    assert_eq!(
        registry.function("staff_report").unwrap().access_level(),
        &Access::Staff
    );
}

#[test]
fn declared_at_points_at_the_declaration() {
    let decl: Function = USER_PROFILE.into();
    assert!(
        decl.declared_at().file().ends_with("macro_functions.rs"),
        "{}",
        decl.declared_at()
    );
}

#[test]
fn args_schema_is_named_after_the_fn() {
    let function: Function = UPDATE_PROFILE.into();
    let mut generator = schemars::SchemaGenerator::default();
    let schema = function.args_schema(&mut generator);
    let json = serde_json::to_value(&schema).unwrap();
    assert_eq!(json["$ref"], "#/$defs/UpdateProfileArgs", "{json}");
    let definitions = generator.take_definitions(true);
    let args = &definitions["UpdateProfileArgs"];
    assert_eq!(args["required"], json!(["user_id", "name"]));

    let mut generator = schemars::SchemaGenerator::default();
    Function::from(SEARCH).args_schema(&mut generator);
    let definitions = generator.take_definitions(true);
    let args = &definitions["SearchArgs"];
    assert_eq!(args["required"], json!(["query"]), "{args}");
    assert_eq!(args["properties"]["query"]["description"], "What to look for.");
}

#[tokio::test]
async fn calling_a_declared_function_runs_the_fn() {
    let registry = registry();
    let cx = Cx::new("n");
    let call = |name: &str, args: serde_json::Value| {
        registry
            .function(name)
            .unwrap()
            .call(cx.clone(), mizan::Args::Text(&payload(args)))
    };

    let out = call("user_profile", json!({"user_id": 7})).await.unwrap();
    assert_eq!(
        out.parse::<serde_json::Value>().unwrap(),
        json!({"id": 7, "name": "user 7"})
    );

    let out = call("search", json!({"query": "rust"})).await.unwrap();
    let out: serde_json::Value = out.parse().unwrap();
    assert_eq!(out, json!([{"title": "rust any 0"}, {"title": "rust any 1"}]));
    let out = call("search", json!({"query": "q", "limit": 1, "exact": true}))
        .await
        .unwrap();
    assert_eq!(out.parse::<serde_json::Value>().unwrap(), json!([{"title": "q"}]));

    let out = call("ping", json!({})).await.unwrap();
    assert_eq!(out.get(), r#""pong""#);
}

#[tokio::test]
async fn bad_args_are_invalid_args() {
    let registry = registry();
    let call = |name: &str, args: serde_json::Value| {
        registry
            .function(name)
            .unwrap()
            .call(Cx::new("n"), mizan::Args::Text(&payload(args)))
    };
    let err = call("update_profile", json!({"user_id": "seven", "name": "x"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgs);
    assert!(err.public_message().contains("user_id"), "{}", err.public_message());

    let err = call("update_profile", json!({"user_id": 1})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgs);
    assert!(err.public_message().contains("name"), "{}", err.public_message());
}

#[tokio::test]
async fn access_is_checked_before_the_fn_runs() {
    let registry = registry();
    let alice = Cx::new("n").with_user(Some(User::new("alice").into()));
    let function = |name: &str| registry.function(name).unwrap();

    let err = function("rename_user")
        .call(
            Cx::new("n"),
            mizan::Args::Text(&payload(json!({"user_id": 1, "name": "x"}))),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unauthenticated);
    let out = function("rename_user")
        .call(
            alice.clone(),
            mizan::Args::Text(&payload(json!({"user_id": 1, "name": "ann"}))),
        )
        .await
        .unwrap();
    assert_eq!(
        out.parse::<serde_json::Value>().unwrap(),
        json!({"id": 1, "name": "ANN"})
    );

    let err = function("staff_report")
        .call(alice.clone(), mizan::Args::Text(&payload(json!({}))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);

    let note = function("owner_note");
    let err = note
        .call(alice.clone(), mizan::Args::Text(&payload(json!({"owner": "bob"}))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    let out = note
        .call(alice, mizan::Args::Text(&payload(json!({"owner": "alice"}))))
        .await
        .unwrap();
    assert_eq!(out.get(), r#""note of alice""#);
}

/// The fn stays an ordinary fn: a test can call it.
#[tokio::test]
async fn the_declared_fn_stays_callable() {
    let cx = Cx::new("test");
    let profile = user_profile(&cx, 5).await.unwrap();
    assert_eq!(serde_json::to_value(profile).unwrap()["id"], 5);
    let user_id = 3;
    // A local named like a declared fn shadows nothing it needs.
    let user_profile = "a local";
    assert_eq!(user_profile, "a local");
    assert_eq!(user_id, 3);
}
