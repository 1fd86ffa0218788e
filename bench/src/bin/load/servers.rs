//! The servers under test and how each is started, as its own process on
//! a loopback port.

use crate::conn::Endpoint;
use crate::dialect::Dialect;
use anyhow::Context;
use mizan_bench::process::{Redis, Server, free_port};
use std::path::PathBuf;
use std::process::Command;

/// A server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// The fixture example (release build), in-memory broker unless a
    /// scenario joins nodes through Redis.
    Mizan,
    /// The plain tokio-tungstenite broadcast server (`src/bin/floor.rs`).
    Floor,
    /// Socket.IO 4 on Node (`bench/peers/socketio`).
    SocketIo,
    /// Django Channels 4 on daphne (`bench/peers/django`).
    Django,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Mizan => "mizan",
            Self::Floor => "floor",
            Self::SocketIo => "socket.io",
            Self::Django => "django",
        }
    }

    /// Whether its steps are repeated (`--repeat`): Mizan and the floor.
    pub(crate) fn repeats(self) -> bool {
        matches!(self, Self::Mizan | Self::Floor)
    }

    /// Whether, started by [`Programs::start_recovering`], it gives a
    /// reconnecting client what it missed: Mizan (the fixture's chat
    /// keeps history) and Socket.IO (`connectionStateRecovery`), not the
    /// floor or Django.
    pub(crate) fn recovers(self) -> bool {
        matches!(self, Self::Mizan | Self::SocketIo)
    }

    fn dialect(self) -> Dialect {
        match self {
            Self::SocketIo => Dialect::SocketIo,
            Self::Mizan | Self::Floor | Self::Django => Dialect::Mizan,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Self::Mizan => "/api/mizan/ws",
            Self::Floor | Self::Django => "/ws",
            Self::SocketIo => "/socket.io/?EIO=4&transport=websocket",
        }
    }
}

/// Where the servers' programs are.
#[derive(Clone, Debug)]
pub(crate) struct Programs {
    pub(crate) fixture: PathBuf,
    pub(crate) floor: PathBuf,
    /// `bench/peers` (after `bench/peers/install`).
    pub(crate) peers: PathBuf,
    pub(crate) node: String,
}

impl Programs {
    /// Starts `kind`; Mizan joins `redis` when given.
    pub(crate) fn start(&self, kind: Kind, redis: Option<&Redis>) -> anyhow::Result<Server> {
        self.launch(kind, redis, false, &[])
    }

    /// Starts `kind` with these environment variables besides the usual
    /// ones (Mizan: settings, such as the bundle cache's size); Mizan
    /// joins `redis` when given.
    pub(crate) fn start_with_env(
        &self,
        kind: Kind,
        redis: Option<&Redis>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Server> {
        self.launch(kind, redis, false, env)
    }

    /// Starts `kind` with its recovery of reconnecting clients on where
    /// that is an option: Socket.IO's `connectionStateRecovery`
    /// (`bench/peers/README.md`). Mizan's fixture always keeps its chat
    /// history; the floor and Django keep nothing.
    pub(crate) fn start_recovering(&self, kind: Kind) -> anyhow::Result<Server> {
        self.launch(kind, None, true, &[])
    }

    fn launch(
        &self,
        kind: Kind,
        redis: Option<&Redis>,
        recovering: bool,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Server> {
        let mut command = match kind {
            Kind::Mizan => {
                let mut command = Command::new(&self.fixture);
                command.args(["--port", "0"]);
                if let Some(redis) = redis {
                    command.args(["--redis", &redis.url()]);
                }
                // One benchmark socket stands for many users, and the
                // scenarios open thousands of sockets a second: lift the
                // per-socket and per-node admission limits.
                command
                    .env("RUST_LOG", "warn")
                    .env("NO_COLOR", "1")
                    // Not the fixture's well-known default, which makes it
                    // print a warning at every start.
                    .env("MIZAN_JWT_SECRET", "load-generator-secret-not-a-default")
                    // Likewise for the server API key (unused here).
                    .env("MIZAN_API_KEY", "load-generator-api-key-not-a-default")
                    .env("MIZAN_MESSAGES_PER_SECOND", "10000000")
                    .env("MIZAN_MESSAGE_BURST", "10000000")
                    .env("MIZAN_MAX_CONNECTIONS", "1000000")
                    .env("MIZAN_MAX_CONNECTIONS_PER_USER", "1000000")
                    .env("MIZAN_MAX_NEW_CONNECTIONS_PER_SECOND", "1000000")
                    .env("MIZAN_NEW_CONNECTION_BURST", "1000000")
                    // Eight loopback sources stand for thousands of clients.
                    .env("MIZAN_MAX_CONNECTIONS_PER_ADDRESS", "1000000")
                    .env("MIZAN_NEW_CONNECTIONS_PER_ADDRESS_PER_SECOND", "1000000")
                    .env("MIZAN_NEW_CONNECTION_BURST_PER_ADDRESS", "1000000")
                    .env("MIZAN_MAX_PENDING_CONNECTIONS", "100000")
                    .env("MIZAN_MAX_PENDING_CONNECTIONS_PER_ADDRESS", "100000")
                    .env("MIZAN_ANONYMOUS_CONNECTION_SHARE", "1")
                    .env("MIZAN_MAX_SUBSCRIPTIONS", "10000000")
                    .env("MIZAN_MAX_WATCHES", "10000000");
                command
            }
            Kind::Floor => {
                let mut command = Command::new(&self.floor);
                command.args(["--port", "0"]);
                command
            }
            Kind::SocketIo => {
                let script = self.peers.join("socketio/server.js");
                anyhow::ensure!(
                    self.peers.join("socketio/node_modules").exists(),
                    "Socket.IO is not installed: run bench/peers/install"
                );
                let mut command = Command::new(&self.node);
                command.arg(script).arg("0");
                if recovering {
                    command.arg("--recover");
                }
                command
            }
            Kind::Django => {
                let run = self.peers.join("django/run");
                anyhow::ensure!(
                    self.peers.join("django/.venv").exists(),
                    "Django Channels is not installed: run bench/peers/install"
                );
                let mut command = Command::new(run);
                command.arg(free_port().to_string());
                command
            }
        };
        command.envs(env.iter().copied());
        Server::start(kind.name(), command).with_context(|| format!("starting {}", kind.name()))
    }
}

/// The WebSocket endpoint of `kind` running as `server`.
pub(crate) fn endpoint(kind: Kind, server: &Server) -> Endpoint {
    Endpoint {
        addr: server.addr,
        path: kind.path().to_owned(),
        dialect: kind.dialect(),
    }
}

/// The server processes a scenario runs against: what their CPU time is
/// charged to (the work the scenario measures).
pub(crate) struct Cpu<'a>(pub(crate) Vec<&'a Server>);

impl Cpu<'_> {
    /// CPU time (user and system) the servers have used so far.
    pub(crate) fn used(&self) -> anyhow::Result<std::time::Duration> {
        self.0.iter().map(|server| server.cpu_time()).sum()
    }
}
