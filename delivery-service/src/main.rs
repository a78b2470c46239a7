//! The `mimi-ds` binary (docs/DESIGN.md §7):
//!
//! - `mimi-ds serve [--config provider.toml]`: loads the configuration ([`mimi_ds::config`]; every key also
//!   settable by `MIMI_DS_*` variables), sets up logging (to stderr), and serves HTTPS until SIGTERM or
//!   ctrl-c; the first log line names the bound address.
//! - `mimi-ds dev-pki --domains a.example,b.example --out ./pki`: writes a development CA and one
//!   certificate per domain ([`mimi_ds::pki`]).
//! - `mimi-ds --version`: the crate version and the pinned drafts.
//!
//! `serve` is [`mimi_ds::app::serve_provider`]: it opens the store (`<data_dir>/mimi-ds.redb`) and the hub
//! key (`<data_dir>/hub-key.tls`, created on first start), restores every room, and serves the client API
//! ([`mimi_ds::api::client`]), the directory, `/healthz` and `/metrics`.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use mimi_ds::app::serve_provider;
use mimi_ds::config::Config;
use mimi_ds::server;
use tracing::info;

/// MIMI hub delivery service: one provider, hub for its own rooms and follower for others.
#[derive(Parser, Debug)]
#[command(name = "mimi-ds", version = mimi_ds::LONG_VERSION, long_version = mimi_ds::LONG_VERSION)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the provider over HTTPS until SIGTERM or ctrl-c.
    Serve {
        /// TOML configuration file; without it, the defaults (one provider `a.example` on 127.0.0.1:8443,
        /// certificates from ./pki) and MIMI_DS_* environment variables apply.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Write a development CA and a server+client certificate per domain (ca.pem, ca.key, <domain>.pem,
    /// <domain>.key). An existing CA in the output directory is reused.
    DevPki {
        /// Comma-separated provider domains.
        #[arg(long, value_delimiter = ',', default_value = "a.example,b.example,c.example")]
        domains: Vec<String>,
        /// Output directory.
        #[arg(long, default_value = "./pki")]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let config = Config::load(config.as_deref()).context("invalid configuration")?;
            init_tracing(&config.log);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(serve(config))
        }
        Command::DevPki { domains, out } => {
            let domains: Vec<String> = domains.iter().map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()).collect();
            let pki = mimi_ds::pki::generate(&out, &domains)?;
            let ca = if pki.ca_created { "created" } else { "reused" };
            println!("CA {ca}: {}", pki.ca_cert.display());
            for d in &pki.domains {
                println!("{}: {} {}", d.domain, d.cert.display(), d.key.display());
            }
            Ok(())
        }
    }
}

fn init_tracing(filter: &str) {
    // The filter was validated with the configuration; fall back to `info` if it somehow is not.
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let running = serve_provider(&config, server::shutdown_signal()).await?;
    info!(domain = %config.domain, addr = %running.addr, public_url = %running.public_url, "mimi-ds {}", mimi_ds::LONG_VERSION);
    running.task.await.context("server task")??;
    info!("stopped");
    Ok(())
}
