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
    /// Serve the Prometheus metrics on this address alone (an internal
    /// port), e.g. 127.0.0.1:9100; set `metrics_path = "off"` to keep them
    /// off the public one.
    #[arg(long, env = "MIZAN_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Print the schema manifest (PROTOCOL.md section 7) as JSON and exit,
    /// without listening: what `mizan-codegen --manifest FILE` reads.
    #[arg(long)]
    print_manifest: bool,
}

impl ServeArgs {
    /// Starts logging and loads the settings.
    pub(crate) fn settings(&self) -> anyhow::Result<ServerConfig> {
        init_tracing(self.log_json);
        Ok(ServerConfig::load(self.config.as_deref())?)
    }

    /// Binds, prints `banner(address)`, and serves `router(&app)` until a
    /// signal, then drains `app`. With `--print-manifest`, prints `app`'s
    /// manifest instead (and builds no router: the node is not served).
    pub(crate) async fn serve(
        &self,
        default_port: u16,
        app: Mizan,
        router: impl FnOnce(&Mizan) -> axum::Router,
        banner: impl FnOnce(SocketAddr) -> String,
    ) -> anyhow::Result<()> {
        if self.print_manifest {
            println!("{}", app.manifest().to_json());
            return Ok(());
        }
        let router = router(&app);
        if let Some(addr) = self.metrics_listen {
            let internal = tokio::net::TcpListener::bind(addr).await?;
            let metrics = app.metrics_router();
            tokio::spawn(async move {
                if let Err(e) = axum::serve(internal, metrics).await {
                    tracing::error!(error = %e, "the metrics listener failed");
                }
            });
        }
        let listener = tokio::net::TcpListener::bind((self.host, self.port.unwrap_or(default_port))).await?;
        println!("{}", banner(listener.local_addr()?));
        app.serve(listener)
            .router(router)
            .with_shutdown(mizan::shutdown_signal())
            .await?;
        Ok(())
    }
}

/// Installs a `tracing` subscriber: filtered by `RUST_LOG` (default
/// `info`), as text or, with `json`, one JSON object per line.
fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let installed = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(e) = installed {
        eprintln!("tracing was already set up: {e}");
    }
}
