//! The same guestbook without React: HTML rendered on the server by three
//! view-path functions (docs/forms.md, "View-path functions"), and a few
//! lines of inline script.
//!
//! - `GET /guestbook`: the page, with the list in it;
//! - `GET /guestbook/entries`: the list alone (a fragment);
//! - `POST /guestbook/sign`: the form's target. It answers a fragment, and
//!   its declared `affects` are published (the React pages' watchers
//!   refetch) and named in the `X-Mizan-Invalidate` header, which the
//!   script reads: when it names `entries`, it fetches the fragment again.
//!
//! A refused sign (a rule or a check) is an `Err`, so nothing is
//! published: the answer is the `invalid_args` error as JSON, with the
//! same `details.fields` as `sign.submit`, which the script shows.

use crate::app::{self, Sign};
use crate::db::{Count, Db, Entry};
use axum::response::Html;
use mizan::{Cx, Error};

/// The three views, for `MizanBuilder::views`.
pub(crate) const VIEWS: [mizan::ViewDecl; 3] = [GUESTBOOK_PAGE, ENTRIES_FRAGMENT, SIGN_PAGE];

/// The page.
#[mizan::function(route = "/guestbook")]
async fn guestbook_page(cx: &Cx) -> Result<Html<String>, Error> {
    let list = entries_html(cx.state::<Db>()?).await?;
    Ok(Html(PAGE.replace("{entries}", &list)))
}

/// The list and the count: what the script swaps in after a change.
#[mizan::function(route = "/guestbook/entries")]
async fn entries_fragment(cx: &Cx) -> Result<Html<String>, Error> {
    Ok(Html(entries_html(cx.state::<Db>()?).await?))
}

/// Signs, with the form's rules and checks (`app::problems`), and answers
/// the line that says so.
#[mizan::function(route = "/guestbook/sign", affects = ["entries", "entry_count"])]
async fn sign_page(cx: &Cx, name: String, message: String) -> Result<Html<String>, Error> {
    let db = cx.state::<Db>()?;
    let sign = Sign { name, message };
    let problems = app::problems(db, &sign).await?;
    if !problems.is_empty() {
        return Err(app::invalid(problems));
    }
    let entry = app::write(db, &sign).await?;
    Ok(Html(format!(
        r#"<p class="ok">Thank you, {}: you are entry #{}. <a href="/guestbook">Back</a></p>"#,
        escape(&entry.name),
        entry.id
    )))
}

/// The list fragment: `<div id="entries">` with the count and the latest
/// entries, as the same two queries the contexts run.
async fn entries_html(db: &Db) -> Result<String, Error> {
    let Count { total, today } = db.count().await?;
    let mut html = format!(r#"<div id="entries"><p class="counts">{total} in all · {today} today</p><ul>"#);
    for Entry { id, name, message, .. } in db.latest().await? {
        let (name, message) = (escape(&name), escape(&message));
        html.push_str(&format!(
            r#"<li class="entry" data-id="{id}"><b class="name">{name}</b> <span class="message">{message}</span></li>"#
        ));
    }
    html.push_str("</ul></div>");
    Ok(html)
}

/// Text made safe to put in HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mizan guestbook (server-rendered)</title>
<style>
body { font: 15px/1.4 system-ui, sans-serif; max-width: 640px; margin: 0 auto; padding: 16px; color: #1d2330; }
form, label { display: flex; flex-direction: column; gap: 6px; }
button { align-self: flex-start; }
input, textarea, button { font: inherit; padding: 6px 8px; }
.counts { color: #6b7280; font-size: 13px; }
.ok { color: #15803d; }
.error { color: #b91c1c; }
ul { padding-left: 18px; }
</style>
</head>
<body>
<h1>Mizan guestbook</h1>
<p class="counts">Rendered on the server by view-path functions; the React page is at <a href="/">/</a>.</p>
<form id="sign-form" method="post" action="/guestbook/sign">
  <label>Your name <input id="name" name="name" maxlength="40" required></label>
  <label>Message <textarea id="message" name="message" maxlength="500" required></textarea></label>
  <button id="sign" type="submit">Sign</button>
</form>
<div id="result"></div>
{entries}
<script>
// Post the form without leaving the page; refresh the list when the
// answer's X-Mizan-Invalidate header says `entries` changed.
const form = document.querySelector("#sign-form");
const result = document.querySelector("#result");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)) });
  if (answer.ok) {
    result.className = "";
    result.innerHTML = await answer.text();
    form.message.value = "";
  } else {
    const error = await answer.json();
    const fields = Object.entries(error.details?.fields ?? {}).map(([field, problems]) => `${field}: ${problems.join(" ")}`);
    result.className = "error";
    result.textContent = fields.join(" · ") || error.message;
  }
  const stale = (answer.headers.get("X-Mizan-Invalidate") ?? "").split(", ").map((entry) => entry.split(";")[0]);
  if (stale.includes("entries")) {
    const list = await fetch("/guestbook/entries");
    document.querySelector("#entries").outerHTML = await list.text();
  }
});
</script>
</body>
</html>
"##;
