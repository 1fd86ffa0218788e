//! Todo lists that stay live: `cargo run --example todo`, then open
//! http://127.0.0.1:3001/ in two tabs.
//!
//! The app is in `app.rs`; the page (`index.html`) watches the `lists` and
//! `list` contexts and shows every push it receives. `README.md` in this
//! folder walks through which mutation invalidates or merges what.

mod app;

use axum::response::Html;
use axum::routing::get;
use clap::Parser;

/// Mizan todo example.
#[derive(Parser)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 3001)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let app = app::builder().build()?;
    let router = app
        .router()
        .route("/", get(|| async { Html(include_str!("index.html")) }));
    let listener = tokio::net::TcpListener::bind((args.host, args.port)).await?;
    println!("todo: open http://{}/ in two browser tabs", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
