//! The quick start: `cargo run --example chat`, then open
//! http://127.0.0.1:3000/ in two tabs.
//!
//! One channel, `chat`: clients join a room, send `{text, name}`, and every
//! member of the room receives `{text, name, at}` (at: Unix milliseconds).
//! Rooms track presence: the page lists who is in the room, each member
//! with the display name it joined with (`{name}`, its member info).
//!
//! The page is a Vite + React app in `web/` on the client generated from
//! this example's manifest (`--print-manifest`). Its build, `web/dist/`, is
//! committed and embedded here, so cargo alone serves it; CI rebuilds it and
//! fails on any difference (docs/client.md).

#[path = "../common/cli.rs"]
mod cli;
#[path = "../common/page.rs"]
mod page;

use clap::Parser;
use mizan::{Channel, Cx, Error, History, MemberInfo, Mizan};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Mizan chat example: open http://127.0.0.1:3000/ in two tabs.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: cli::ServeArgs,
    /// The server's own voice: every this many seconds it says the time in
    /// `lobby`, through the server API (0: never).
    #[arg(long, env = "CHAT_BOT_EVERY_SECS", default_value_t = 120)]
    bot_every: u64,
}

/// A room name: 1-32 characters of a-z, 0-9 and `-`.
#[derive(JsonSchema)]
struct RoomName(String);

impl<'de> Deserialize<'de> for RoomName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        let valid = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(name))
        } else {
            Err(serde::de::Error::custom(
                "a room name is 1-32 characters of a-z, 0-9 and `-`",
            ))
        }
    }
}

#[derive(Deserialize, JsonSchema)]
struct RoomParams {
    room: RoomName,
    /// The display name the room's member list shows for this tab (not part
    /// of the topic: every name shares the room). Without it: the signed-in
    /// user's id, or "guest".
    #[serde(default)]
    name: Option<String>,
}

/// What each member of a room carries in the presence list.
#[derive(Serialize, JsonSchema)]
struct Member {
    /// The display name: 1-40 characters.
    name: String,
}

#[derive(Deserialize, JsonSchema)]
struct Say {
    text: String,
    name: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Said {
    text: String,
    name: String,
    at: u64,
}

struct Chat;

impl Channel for Chat {
    const NAME: &'static str = "chat";
    type Params = RoomParams;
    type ClientMessage = Say;
    type ServerMessage = Said;
    /// Each room keeps its last 100 messages for 5 minutes: a tab that opens
    /// shows them (`history: 50`), and one that reconnects gets what it missed.
    const HISTORY: History = History::keep(100, Duration::from_secs(300));
    /// Each room knows who is in it (PROTOCOL.md section 10).
    const PRESENCE: bool = true;

    fn group(&self, params: &RoomParams) -> String {
        params.room.0.clone()
    }

    async fn receive(&self, _cx: &Cx, _params: &RoomParams, say: Say) -> Result<Option<Said>, Error> {
        let text = say.text.trim();
        if text.is_empty() || text.chars().count() > 2000 {
            return Err(Error::invalid_args("a message is 1-2000 characters"));
        }
        let name: String = say.name.trim().chars().take(40).collect();
        Ok(Some(Said {
            text: text.to_owned(),
            name: if name.is_empty() { "anonymous".into() } else { name },
            at: now_ms(),
        }))
    }
}

impl MemberInfo for Chat {
    type Info = Member;

    /// Computed once per join: the name the tab joined with, else the
    /// signed-in user's id, else "guest".
    fn member_info(&self, cx: &Cx, params: &RoomParams) -> Member {
        let chosen: String = params.name.as_deref().unwrap_or("").trim().chars().take(40).collect();
        let name = if !chosen.is_empty() {
            chosen
        } else {
            cx.user().map_or_else(|| "guest".to_owned(), |u| u.id.clone())
        };
        Member { name }
    }
}

/// Unix milliseconds.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The server bot: says the time in `lobby` every `every`, as server code
/// does (a job, a webhook): no client involved, the same message every
/// member receives, kept in the room's history like any other.
async fn bot(api: mizan::ServerApi, every: Duration) {
    let lobby = RoomParams {
        room: RoomName("lobby".into()),
        name: None,
    };
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticks.tick().await;
        let said = Said {
            text: format!("server clock: {} s since 1970", now_ms() / 1000),
            name: "server".into(),
            at: now_ms(),
        };
        if let Err(error) = api.publish::<Chat>(&lobby, &said).await {
            tracing::warn!(%error, "the server bot could not speak");
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let app = Mizan::builder()
        .channel_with_member_info(Chat)
        .config(args.serve.settings()?)
        .build()?;
    if args.bot_every > 0 {
        tokio::spawn(bot(app.server_api(), Duration::from_secs(args.bot_every)));
    }
    let banner = |addr| format!("chat: open http://{addr}/ in two browser tabs");
    args.serve
        .serve(
            3000,
            app.clone(),
            |app| page::embedded!("chat").route(app.router()),
            banner,
        )
        .await
}
