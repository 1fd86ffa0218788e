//! Todo lists that stay live: `cargo run --example todo`, then open
//! http://127.0.0.1:3001/ in two tabs.
//!
//! The app is in `app.rs`; the page (`index.html`) watches the `lists` and
//! `list` contexts and shows every push it receives. `README.md` in this
//! folder walks through which mutation invalidates or merges what.

mod app;
#[path = "../common/cli.rs"]
mod cli;

use axum::response::Html;
use axum::routing::get;
use clap::Parser;

/// Mizan todo example: open http://127.0.0.1:3001/ in two tabs.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: cli::ServeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let app = app::builder().config(args.serve.settings()?).build()?;
    let router = app
        .router()
        .route("/", get(|| async { Html(include_str!("index.html")) }));
    let banner = |addr| format!("todo: open http://{addr}/ in two browser tabs");
    args.serve.serve(3001, app.clone(), router, banner).await
}
