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
//! Mizan never sees the database: the functions query it, and the declared
//! `affects` says what a write makes stale (examples/guestbook/README.md).

use crate::db::{Count, Db, Entry, SignError};
use mizan::{Cx, Error, Form, Mizan, MizanBuilder};
use schemars::JsonSchema;
use serde::Deserialize;

/// The guestbook app over `db`.
pub(crate) fn builder(db: Db) -> MizanBuilder {
    Mizan::builder()
        .functions([ENTRIES, ENTRY_COUNT])
        .form(sign_form())
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
struct Sign {
    /// Shown with your message.
    #[garde(length(chars, min = 1, max = 40))]
    name: String,
    #[garde(length(chars, min = 1, max = 500))]
    message: String,
}

/// What a successful submit answers: the new entry.
fn sign_form() -> Form {
    Form::new("sign", |cx: Cx, sign: Sign| async move {
        let db = cx.state::<Db>()?;
        match db.sign(sign.name.trim(), sign.message.trim()).await {
            Ok(entry) => Ok(entry),
            // Another tab got in between the check and this insert.
            Err(SignError::AlreadySigned) => Err(invalid_name(ALREADY_SIGNED)),
            Err(SignError::Db(e)) => Err(e.into()),
        }
    })
    .title("Sign the guestbook")
    .submit_label("Sign")
    .label("name", "Your name")
    .label("message", "Message")
    // Runs in `sign.validate` and `sign.submit` once the name passes its
    // own rules: the browser cannot know this one.
    .check("name", |cx: Cx, name: serde_json::Value| async move {
        let name = name.as_str().unwrap_or_default().trim();
        if name.is_empty() {
            return Ok(Some("Write a name, not only spaces.".to_owned()));
        }
        // A query: the database knows who signed today.
        let signed = cx.state::<Db>()?.signed_today(name).await?;
        Ok::<_, Error>(signed.then(|| ALREADY_SIGNED.to_owned()))
    })
    .check("message", |_: Cx, message: serde_json::Value| async move {
        let blank = message.as_str().unwrap_or_default().trim().is_empty();
        Ok::<_, Error>(blank.then(|| "Write a message, not only spaces.".to_owned()))
    })
    .affects("entries")
    .affects("entry_count")
}

const ALREADY_SIGNED: &str = "This name has signed the guestbook today already.";

/// The `invalid_args` error a form gives for a field (`details.fields`).
fn invalid_name(message: &str) -> Error {
    Error::invalid_args("invalid fields: name").with_details(serde_json::json!({ "fields": { "name": [message] } }))
}
