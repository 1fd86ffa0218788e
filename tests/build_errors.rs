//! What building a node refuses, and what the errors say.

use mizan::{Cx, Error, Function, Mizan, NoArgs};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, JsonSchema)]
struct ById {
    user_id: i64,
}

#[derive(Deserialize, JsonSchema)]
struct ByTextId {
    user_id: String,
}

#[derive(Serialize, JsonSchema)]
struct Shape {
    name: String,
}

fn profile() -> Function {
    Function::new("user_profile", |_cx: Cx, a: ById| async move {
        Ok::<_, Error>(Shape {
            name: a.user_id.to_string(),
        })
    })
    .context("user")
}

fn mutation(name: &str) -> Function {
    Function::new(name, |_cx: Cx, a: ById| async move {
        Ok::<_, Error>(Shape {
            name: a.user_id.to_string(),
        })
    })
}

fn build_error(functions: Vec<Function>) -> String {
    match Mizan::builder().functions(functions).build() {
        Ok(_) => panic!("the build should fail"),
        Err(e) => e.to_string(),
    }
}

fn assert_says(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{message:?} does not say {part:?}");
    }
}

#[test]
fn duplicate_names_name_both_declarations() {
    let m = build_error(vec![mutation("same"), mutation("same")]);
    assert_says(
        &m,
        &[
            "function `same` is registered twice",
            "tests/build_errors.rs:",
            "rename one",
        ],
    );
}

#[test]
fn an_affects_target_that_names_nothing() {
    let m = build_error(vec![profile(), mutation("save").affects("usr")]);
    assert_says(
        &m,
        &[
            "function `save`",
            "affects = \"usr\"",
            "no context or function has that name",
            "contexts: user",
        ],
    );
}

#[test]
fn an_affects_target_naming_a_function_outside_any_context() {
    let m = build_error(vec![profile(), mutation("helper"), mutation("save").affects("helper")]);
    assert_says(&m, &["affects = \"helper\"", "belongs to no context", "context = "]);
}

#[test]
fn a_merge_without_a_matching_slot() {
    let m = build_error(vec![
        profile(),
        Function::new("save", |_cx: Cx, _: ById| async move { Ok::<_, Error>(true) }).merge("user"),
    ]);
    assert_says(
        &m,
        &[
            "function `save`",
            "merge = \"user\"",
            "no function of context `user` returns `bool`",
        ],
    );
}

#[test]
fn a_merge_with_several_matching_slots() {
    let second = Function::new("user_card", |_cx: Cx, _: ById| async move {
        Ok::<_, Error>(Shape { name: String::new() })
    })
    .context("user");
    let m = build_error(vec![profile(), second, mutation("save").merge("user")]);
    assert_says(
        &m,
        &["several functions of context `user` return", "user_card, user_profile"],
    );
}

#[test]
fn a_merge_naming_a_function() {
    let m = build_error(vec![profile(), mutation("save").merge("user_profile")]);
    assert_says(&m, &["merge = \"user_profile\"", "write merge = \"user\""]);
}

#[test]
fn context_functions_that_disagree_on_a_param_type() {
    let other = Function::new(
        "user_tag",
        |_cx: Cx, a: ByTextId| async move { Ok::<_, Error>(a.user_id) },
    )
    .context("user");
    let m = build_error(vec![profile(), other]);
    assert_says(
        &m,
        &[
            "context `user`",
            "`user_profile` and `user_tag`",
            "`user_id`",
            "different types",
        ],
    );
}

#[test]
fn a_mutation_arg_of_another_type_than_the_param_it_scopes() {
    // `user_id: String` scoping a context whose `user_id` is an integer:
    // the entry would say {"user_id":"1"} and match no watcher of {"user_id":1}.
    let by_text = |name: &str| {
        Function::new(name, |_cx: Cx, a: ByTextId| async move {
            Ok::<_, Error>(Shape { name: a.user_id })
        })
    };
    for (m, declared) in [
        (
            build_error(vec![profile(), by_text("save").affects("user")]),
            r#"affects = "user""#,
        ),
        (
            build_error(vec![profile(), by_text("save").merge("user")]),
            r#"merge = "user""#,
        ),
        (
            build_error(vec![profile(), by_text("save").affects("user_profile")]),
            r#"affects = "user_profile""#,
        ),
    ] {
        assert_says(
            &m,
            &[
                "function `save`",
                "tests/build_errors.rs:",
                &format!("scopes `{declared}` by its arg `user_id`, which is a string"),
                "param `user_id` (declared by `user_profile` at tests/build_errors.rs:",
                ") is an integer",
                "same type in both",
            ],
        );
    }
}

#[test]
fn integer_widths_and_bounds_do_not_count_as_another_type() {
    #[derive(Deserialize, JsonSchema)]
    struct ByU32 {
        user_id: u32,
    }
    let narrow = Function::new("save", |_cx: Cx, a: ByU32| async move { Ok::<_, Error>(a.user_id) });
    assert!(
        Mizan::builder()
            .functions([profile(), narrow.affects("user")])
            .build()
            .is_ok()
    );
}

#[test]
fn an_unscoped_target_with_params_needs_broad() {
    let unscoped = || Function::new("reset", |_cx: Cx, _: NoArgs| async move { Ok::<_, Error>(()) });
    let m = build_error(vec![profile(), unscoped().affects("user")]);
    assert_says(
        &m,
        &[
            "function `reset`",
            "declares `affects = \"user\"` but takes none of context `user`'s params (user_id)",
            "every watcher of every `user` would refetch",
            "name an arg like one of those params",
            "add `broad`",
        ],
    );
    // A misnamed arg is the usual cause: `id` for `user_id`.
    #[derive(Deserialize, JsonSchema)]
    struct Misnamed {
        id: i64,
    }
    let misnamed = Function::new("rename", |_cx: Cx, a: Misnamed| async move {
        Ok::<_, Error>(Shape { name: a.id.to_string() })
    });
    let m = build_error(vec![profile(), misnamed.merge("user")]);
    assert_says(&m, &["declares `merge = \"user\"`", "add `broad`"]);
    // Chosen, it builds, and its entry is broad.
    let node = Mizan::builder()
        .functions([profile(), unscoped().affects("user").broad()])
        .build();
    assert!(node.is_ok());
}

#[test]
fn broad_where_everything_is_scoped_is_refused() {
    let m = build_error(vec![profile(), mutation("save").affects("user").broad()]);
    assert_says(&m, &["function `save`", "marked `broad`", "remove `broad`"]);
}

#[test]
fn a_context_without_params_needs_no_broad() {
    let feed = Function::new("feed", |_cx: Cx, _: NoArgs| async move { Ok::<_, Error>(0) }).context("feed");
    let post = Function::new("post", |_cx: Cx, _: NoArgs| async move { Ok::<_, Error>(()) }).affects("feed");
    assert!(Mizan::builder().functions([feed, post]).build().is_ok());
}

#[test]
fn the_global_context_takes_no_params() {
    let m = build_error(vec![
        Function::new("me", |_cx: Cx, a: ById| async move { Ok::<_, Error>(a.user_id) }).context("global"),
    ]);
    assert_says(&m, &["`me`", "`global` context, which takes no params"]);
}

#[test]
fn a_valid_app_builds_and_resolves_function_level_targets() {
    let ok = Mizan::builder()
        .functions([
            profile(),
            mutation("rename").merge("user"),
            mutation("touch").affects("user_profile").affects("user"),
            Function::new("me", |_cx: Cx, _: NoArgs| async move { Ok::<_, Error>(()) }).context("global"),
        ])
        .build();
    assert!(ok.is_ok());
}
