//! A live-poll app on Mizan: docs/getting-started.md builds it step by step.
//!
//!     cargo run                      # http://127.0.0.1:3000/
//!     cargo run -- --port 0          # any free port (printed)
//!     cargo run -- --print-manifest  # the manifest, for mizan-codegen

mod polls;

use axum::Json;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::get;
use mizan::{DevToken, Jwt, Mizan, ServerConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The secret that signs and checks the tokens. Set `POLLS_JWT_SECRET` to
/// 32 random bytes or more; with this default the server warns at start,
/// and refuses to start in production mode (`MIZAN_PRODUCTION=1`).
const DEV_SECRET: &str = "polls-development-secret";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut print_manifest = false;
    let mut host = "127.0.0.1".to_owned();
    let mut port = 3000u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--print-manifest" => print_manifest = true,
            "--host" => host = args.next().ok_or("--host needs an address")?,
            "--port" => port = args.next().ok_or("--port needs a number")?.parse()?,
            _ => return Err(format!("unknown argument {arg}; try --port N, --host ADDR or --print-manifest").into()),
        }
    }

    // `MIZAN_*` environment variables (docs/operations.md), e.g. MIZAN_PRODUCTION=1.
    let config = ServerConfig::load(None)?;
    let production = config.production;
    let secret = std::env::var("POLLS_JWT_SECRET").unwrap_or_else(|_| DEV_SECRET.to_owned());
    let app = Mizan::builder()
        .functions([polls::POLLS, polls::POLL, polls::MY_VOTES, polls::CREATE_POLL, polls::VOTE])
        .state(polls::Store::default())
        .jwt(Jwt::hs256(secret.as_bytes()))
        .config(config)
        .build()?;
    if print_manifest {
        println!("{}", app.manifest().to_json());
        return Ok(());
    }

    let mut router = app.router();
    if !production {
        // A sign-in for development only: anyone may take any name.
        router = router.route(
            "/dev/token",
            get(move |Query(q): Query<TokenQuery>| {
                let reply = dev_token(&secret, &q.user);
                async move { reply }
            }),
        );
    }
    // The built page (`npm run build` in web/), read from disk at run time.
    let web = std::env::var_os("POLLS_WEB_DIR")
        .map_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist")), PathBuf::from);
    if !web.join("index.html").is_file() {
        eprintln!("warning: no {}/index.html: run `npm run build` in web/", web.display());
    }
    let router = router.fallback_service(tower_http::services::ServeDir::new(web));

    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    println!("polls: open http://{}/", listener.local_addr()?);
    app.serve(listener)
        .router(router)
        .with_shutdown(mizan::shutdown_signal())
        .await?;
    Ok(())
}

#[derive(Deserialize)]
struct TokenQuery {
    user: String,
}

#[derive(Serialize)]
struct TokenReply {
    token: String,
}

/// `GET /dev/token?user=erin`: a token for `erin`, valid for an hour.
fn dev_token(secret: &str, user: &str) -> Result<Json<TokenReply>, (StatusCode, &'static str)> {
    let valid = (1..=32).contains(&user.len())
        && user.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err((StatusCode::BAD_REQUEST, "a user name is 1-32 characters of a-z, 0-9 and -"));
    }
    let token = DevToken::new(user).sign(secret.as_bytes());
    Ok(Json(TokenReply { token }))
}
