//! A guestbook on a real database: `cargo run --example guestbook`, then
//! open http://127.0.0.1:3002/ in two tabs.
//!
//! The data is in SQLite by default (`guestbook.db` in the working
//! directory, created on first run), or in PostgreSQL with
//! `--database-url postgres://…`. `db.rs` is the sqlx code, `app.rs` the
//! Mizan app over it; `README.md` in this folder walks through both.
//!
//! The page is a Vite + React app in `web/` on the client generated from
//! this example's manifest (`--print-manifest`). Its build, `web/dist/`, is
//! committed and embedded here, so cargo alone serves it (docs/client.md).

mod app;
#[path = "../common/cli.rs"]
mod cli;
mod db;
#[path = "../common/page.rs"]
mod page;
mod views;

use clap::Parser;

/// Mizan guestbook example: open http://127.0.0.1:3002/ in two tabs.
#[derive(Parser)]
struct Args {
    /// The database: `sqlite:PATH` (created when missing) or
    /// `postgres://USER@HOST/DB` (created when missing, if the user may).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:guestbook.db")]
    database_url: String,
    #[command(flatten)]
    serve: cli::ServeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = args.serve.settings()?;
    // `--print-manifest` (what the page's code generator reads) describes
    // the app without opening, or creating, the database.
    let db = if std::env::args().any(|a| a == "--print-manifest") {
        db::Db::lazy(&args.database_url)?
    } else {
        db::Db::open(&args.database_url).await?
    };
    let app = app::builder(db).config(config).build()?;
    let banner = |addr| format!("guestbook: open http://{addr}/ in two browser tabs");
    args.serve
        .serve(
            3002,
            app.clone(),
            |app| page::embedded!("guestbook").route(app.router()),
            banner,
        )
        .await
}
