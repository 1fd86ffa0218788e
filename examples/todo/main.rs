//! Todo lists that stay live: `cargo run --example todo`, then open
//! http://127.0.0.1:3001/ in two tabs.
//!
//! The app is in `app.rs`; the page watches the `lists` and `list` contexts
//! and shows every push it receives. `README.md` in this folder walks
//! through which mutation invalidates or merges what.
//!
//! The page is a Vite + React app in `web/` on the client generated from
//! this example's manifest (`--print-manifest`). Its build, `web/dist/`, is
//! committed and embedded here, so cargo alone serves it; CI rebuilds it and
//! fails on any difference (docs/client.md).

mod app;
#[path = "../common/cli.rs"]
mod cli;
#[path = "../common/page.rs"]
mod page;

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
    let banner = |addr| format!("todo: open http://{addr}/ in two browser tabs");
    args.serve
        .serve(
            3001,
            app.clone(),
            |app| page::embedded!("todo").route(app.router()),
            banner,
        )
        .await
}
