//! The guestbook app: two contexts read from the database, and a form whose
//! submit writes to it in a transaction. Kept apart from `main.rs` so a
//! test can build it in-process.
//!
//! - `entries` (no params): `entries`, the latest entries, newest first;
//! - `entry_count` (no params): `entry_count`, how many there are;
//! - the form `sign` (`sign.schema`, `sign.validate`, `sign.submit`): its
//!   rules are the `garde` attributes on [`Sign`], checked here and, by the
//!   generated Zod schema, in the browser; one more rule only the server
//!   can check (`.check("name", ..)`: has this name signed today?). A
//!   successful submit affects both contexts, so every page watching them
//!   refetches.
//!
//! The same app has a page rendered on the server, by view-path functions
//! (`views.rs`).
//!
//! Mizan never sees the database: the functions query it, and the declared
//! `affects` says what a write makes stale (examples/guestbook/README.md).

use crate::db::{Count, Db, Entry, SignError};
use mizan::{Cx, Error, Form, Mizan, MizanBuilder};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The guestbook app over `db`.
pub(crate) fn builder(db: Db) -> MizanBuilder {
    Mizan::builder()
        .functions([ENTRIES, ENTRY_COUNT])
        .form(sign_form())
        // The server-rendered page (`views.rs`).
        .views(crate::views::VIEWS)
        .state(db)
}

/// The latest entries, newest first.
#[mizan::function(context = "entries")]
async fn entries(cx: &Cx) -> Result<Vec<Entry>, Error> {
    Ok(cx.state::<Db>()?.latest().await?)
}

/// How many entries there are, in all and today.
#[mizan::function(context = "entry_count")]
async fn entry_count(cx: &Cx) -> Result<Count, Error> {
    Ok(cx.state::<Db>()?.count().await?)
}

/// The `sign` form's fields: each rule written once.
#[derive(Deserialize, JsonSchema, garde::Validate)]
pub(crate) struct Sign {
    /// Shown with your message.
    #[garde(length(chars, min = 1, max = 40))]
    pub(crate) name: String,
    #[garde(length(chars, min = 1, max = 500))]
    pub(crate) message: String,
}

/// The form; a successful submit answers the new entry.
fn sign_form() -> Form {
    Form::new("sign", |cx: Cx, sign: Sign| async move {
        write(cx.state::<Db>()?, &sign).await
    })
    .title("Sign the guestbook")
    .submit_label("Sign")
    .label("name", "Your name")
    .label("message", "Message")
    // Run by `sign.validate` and `sign.submit` once the field passes its
    // own rules: the browser cannot know these.
    .check("name", |cx: Cx, name: serde_json::Value| async move {
        name_problem(cx.state::<Db>()?, name.as_str().unwrap_or_default()).await
    })
    .check("message", |_: Cx, message: serde_json::Value| async move {
        Ok::<_, Error>(message_problem(message.as_str().unwrap_or_default()))
    })
    .affects("entries")
    .affects("entry_count")
}

/// Writes the entry (trimmed), once `sign` passed every rule and check.
pub(crate) async fn write(db: &Db, sign: &Sign) -> Result<Entry, Error> {
    match db.sign(sign.name.trim(), sign.message.trim()).await {
        Ok(entry) => Ok(entry),
        // Another tab got in between the check and this insert.
        Err(SignError::AlreadySigned) => Err(invalid_name(ALREADY_SIGNED)),
        Err(SignError::Db(e)) => Err(e.into()),
    }
}

/// The server-only check of a name: not blank, and a query, since only
/// the database knows who signed today.
async fn name_problem(db: &Db, name: &str) -> Result<Option<String>, Error> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(Some("Write a name, not only spaces.".to_owned()));
    }
    Ok(db.signed_today(name).await?.then(|| ALREADY_SIGNED.to_owned()))
}

fn message_problem(message: &str) -> Option<String> {
    let blank = message.trim().is_empty();
    blank.then(|| "Write a message, not only spaces.".to_owned())
}

/// What the form reports for `sign`, for a caller that is not the form
/// (the server-rendered page's `sign_page`): its rules, then its checks.
pub(crate) async fn problems(db: &Db, sign: &Sign) -> Result<BTreeMap<String, Vec<String>>, Error> {
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Err(report) = garde::Validate::validate(sign) {
        for (path, error) in report.iter() {
            errors
                .entry(path.to_string())
                .or_default()
                .push(error.message().to_owned());
        }
    }
    if !errors.contains_key("name")
        && let Some(problem) = name_problem(db, &sign.name).await?
    {
        errors.insert("name".to_owned(), vec![problem]);
    }
    if !errors.contains_key("message")
        && let Some(problem) = message_problem(&sign.message)
    {
        errors.insert("message".to_owned(), vec![problem]);
    }
    Ok(errors)
}

const ALREADY_SIGNED: &str = "This name has signed the guestbook today already.";

fn invalid_name(message: &str) -> Error {
    invalid(BTreeMap::from([("name".to_owned(), vec![message.to_owned()])]))
}

/// The `invalid_args` error a form gives, naming each field's problems in
/// `details.fields`.
pub(crate) fn invalid(errors: BTreeMap<String, Vec<String>>) -> Error {
    let names: Vec<&str> = errors.keys().map(String::as_str).collect();
    Error::invalid_args(format!("invalid fields: {}", names.join(", ")))
        .with_details(serde_json::json!({ "fields": errors }))
}
