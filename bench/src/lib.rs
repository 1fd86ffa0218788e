//! Benchmarks for Mizan. The Criterion micro-benchmarks live in
//! `benches/`; this library holds what they and the load generators
//! (`src/bin/`) share: apps and data sets built the same way every run,
//! the clock, and the processes under test.
//!
//! Run them with `cargo bench -p mizan-bench`; the numbers and the machine
//! they were measured on are in `docs/benchmarks.md`.

mod clock;
pub mod process;

pub use clock::now_ns;

use mizan_channels::{Cx, Error, Function, Registry};
use mizan_protocol::Params;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, JsonSchema)]
struct ById {
    user_id: i64,
}

#[derive(Deserialize, JsonSchema)]
struct Rename {
    user_id: i64,
    name: String,
}

#[derive(Serialize, JsonSchema)]
struct Shape {
    user_id: i64,
    name: String,
}

/// The fixture's `user` context with three mutations: scoped
/// (`update_profile`), broad (`clear_all`) and merge (`rename_user`).
pub fn user_registry() -> Registry {
    Registry::builder()
        .function(
            Function::new("user_profile", |_cx: Cx, a: ById| async move {
                Ok::<_, Error>(Shape {
                    user_id: a.user_id,
                    name: String::new(),
                })
            })
            .context("user"),
        )
        .function(
            Function::new(
                "update_profile",
                |_cx: Cx, _a: Rename| async move { Ok::<_, Error>(true) },
            )
            .affects("user"),
        )
        .function(
            Function::new("clear_all", |_cx: Cx, _a: mizan_channels::NoArgs| async move {
                Ok::<_, Error>(true)
            })
            .affects("user")
            .broad(),
        )
        .function(
            Function::new("rename_user", |_cx: Cx, a: Rename| async move {
                Ok::<_, Error>(Shape {
                    user_id: a.user_id,
                    name: a.name,
                })
            })
            .merge("user"),
        )
        .build()
        .expect("the benchmark registry is valid")
}

/// `{"user_id": id}`.
pub fn user_params(id: i64) -> Params {
    let mut params = Params::new();
    params.insert("user_id".into(), id.into());
    params
}
