//! What every example's command line shares: where to listen, settings,
//! logs, and serving until SIGTERM/SIGINT with a draining shutdown.

use mizan::{Mizan, ServerConfig};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Listening, settings and logging flags.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Port to listen on (0 picks a free one) [default: the example's].
    #[arg(long)]
    port: Option<u16>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Settings file (TOML, see docs/operations.md); `MIZAN_*` environment
    /// variables override it.
    #[arg(long, env = "MIZAN_CONFIG")]
    config: Option<PathBuf>,
    /// Log one JSON object per line (filter with RUST_LOG).
    #[arg(long, env = "MIZAN_LOG_JSON")]
    log_json: bool,
}

impl ServeArgs {
    /// Starts logging and loads the settings.
    pub(crate) fn settings(&self) -> anyhow::Result<ServerConfig> {
        mizan::init_tracing(self.log_json);
        Ok(ServerConfig::load(self.config.as_deref())?)
    }

    /// Binds, prints `banner(address)`, and serves until a signal, then
    /// drains `app`.
    pub(crate) async fn serve(
        &self,
        default_port: u16,
        app: Mizan,
        router: axum::Router,
        banner: impl FnOnce(SocketAddr) -> String,
    ) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind((self.host, self.port.unwrap_or(default_port))).await?;
        println!("{}", banner(listener.local_addr()?));
        mizan::serve(listener, app, router).await?;
        Ok(())
    }
}
