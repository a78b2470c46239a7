//! The `mimi-ds` binary (docs/DESIGN.md §7):
//!
//! - `mimi-ds serve [--config provider.toml]`: loads the configuration ([`mimi_ds::config`]; every key also
//!   settable by `MIMI_DS_*` variables), sets up logging (to stderr: the filter `RUST_LOG` if set, else
//!   the `log` key; lines as text or, with `log_format = "json"`, one JSON object each), and serves HTTPS
//!   until SIGTERM or ctrl-c; the first log line names the bound address.
//! - `mimi-ds dev-pki --domains a.example,b.example --out ./pki`: writes a development CA and one
//!   certificate per domain ([`mimi_ds::pki`]).
//! - `mimi-ds init --domains a.example,b.example,c.example --out DIR [--base-port 8443] [--force]`:
//!   writes those certificates and one commented `DIR/<domain>/provider.toml` per provider, each
//!   naming the others as peers, and prints the command starting each ([`mimi_ds::init`]).
//! - `mimi-ds config check FILE`: loads FILE as `serve` would (`MIMI_DS_*` variables applied) and
//!   prints every key's effective value and where it came from (file, environment variable,
//!   default), one line per key; exits 1 with the error (naming the key and why) if it does not load.
//! - `mimi-ds user add <user> [--lifetime SECS]`: issues a one-time enrollment code for a new device
//!   of `user` (printed; only its hash is stored).
//! - `mimi-ds client revoke <client URI>`, `mimi-ds client remove <client URI>`: ends a device (its
//!   tokens stop working at once; `remove` also frees its name and deletes its unclaimed KeyPackages).
//! - `mimi-ds client list <user>`: a user's devices and their state; `mimi-ds user list`: every
//!   user with its devices.
//! - `mimi-ds room list`: the rooms (hub or follower, epoch, members, log head); `mimi-ds room show
//!   <room>`: one room (members, participants and roles, policy, log size, each peer's fanout
//!   position and lag); `mimi-ds room export <room> [--out FILE]`: its log as JSON with the
//!   handshakes decoded ([`mimi_ds::admin::rooms`]).
//! - `mimi-ds --version`: the crate version and the pinned drafts.
//!
//! The `user`, `client` and `room` commands take `--config` like `serve`; they reach a running server
//! through its admin socket and open the store themselves when none runs ([`mimi_ds::admin`]).
//!
//! `serve` is [`mimi_ds::app::serve_provider`]: it opens the store (`<data_dir>/mimi-ds.redb`) and the hub
//! key (`<data_dir>/hub-key.tls`, created on first start), restores every room, and serves the client API
//! ([`mimi_ds::api::client`]), the directory and `/healthz`; with `metrics_listen` set, the metrics on a
//! plain-HTTP listener of their own ([`mimi_ds::metrics::listener`]).

use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use mimi_ds::admin::{AdminRequest, Via};
use mimi_ds::app::serve_provider;
use mimi_ds::config::{process_env, Config, LogFormat, Registration};
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
    /// Our users: issue an enrollment code for a new device.
    User {
        #[command(subcommand)]
        command: UserCommand,
        /// The provider's TOML configuration (as for `serve`).
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
    },
    /// Rooms: list, show one, export its log.
    Room {
        #[command(subcommand)]
        command: RoomCommand,
        /// The provider's TOML configuration (as for `serve`).
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
    },
    /// Our users' devices: revoke, remove, list.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
        /// The provider's TOML configuration (as for `serve`).
        #[arg(long, value_name = "FILE", global = true)]
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
    /// Write a set of federated development providers: a development CA and certificates in
    /// DIR/pki, one commented DIR/<domain>/provider.toml per provider naming the others as peers;
    /// print the command starting each.
    Init {
        /// Comma-separated provider domains; the first listens on --base-port, the next on the
        /// port after it, and so on.
        #[arg(long, value_delimiter = ',', required = true)]
        domains: Vec<String>,
        /// Output directory (refused if it exists and is not empty, unless --force).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The first provider's loopback port.
        #[arg(long, default_value_t = mimi_ds::init::DEFAULT_BASE_PORT)]
        base_port: u16,
        /// Write into a directory that is not empty (the files above are rewritten, an existing CA
        /// is reused, data directories are left alone).
        #[arg(long)]
        force: bool,
    },
    /// Configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Load FILE as `serve` would (MIMI_DS_* variables applied) and print every key's effective
    /// value and where it came from; exit 1 with the error if it does not load.
    Check {
        /// The TOML configuration file.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Print a one-time enrollment code with which one new device of USER registers (the user is
    /// created by its first device).
    Add {
        /// The user's name (or user URI of this provider).
        user: String,
        /// How long the code is good, seconds (default: enrollment_code_lifetime_secs, 24 hours).
        #[arg(long, value_name = "SECS")]
        lifetime: Option<u64>,
    },
    /// List every user with its devices.
    List,
}

#[derive(Subcommand, Debug)]
enum RoomCommand {
    /// List the rooms: those this provider is the hub of, then those it mirrors as a follower.
    List,
    /// Show a room: epoch, members, participants and roles, policy, log size, each peer's fanout
    /// position and lag.
    Show {
        /// The room URI.
        room: String,
    },
    /// Export a room's log as JSON, the handshakes decoded (application messages summarised).
    Export {
        /// The room URI.
        room: String,
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum ClientCommand {
    /// Revoke a device: its tokens stop working at once, its name stays taken.
    Revoke {
        /// The client URI (mimi://<domain>/d/<user>/<device>).
        client: String,
    },
    /// Remove a device: revoked, its unclaimed KeyPackages deleted, its name free again.
    Remove {
        /// The client URI.
        client: String,
    },
    /// List a user's devices and their state.
    List {
        /// The user's name (or user URI of this provider).
        user: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let config = Config::load(config.as_deref()).context("invalid configuration")?;
            init_tracing(&config.log, config.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(serve(config))
        }
        Command::User { command: UserCommand::Add { user, lifetime }, config } => {
            let config = Config::load(config.as_deref()).context("invalid configuration")?;
            if config.registration != Registration::Codes {
                eprintln!(
                    "note: registration is \"{}\"; enrollment codes are accepted only with registration = \"codes\"",
                    config.registration.name()
                );
            }
            admin(&config, AdminRequest::AddUser { user, lifetime_secs: lifetime })
        }
        Command::User { command: UserCommand::List, config } => {
            let config = Config::load(config.as_deref()).context("invalid configuration")?;
            admin(&config, AdminRequest::ListUsers)
        }
        Command::Room { command, config } => {
            let config = Config::load(config.as_deref()).context("invalid configuration")?;
            match command {
                RoomCommand::List => admin(&config, AdminRequest::ListRooms),
                RoomCommand::Show { room } => admin(&config, AdminRequest::ShowRoom { room }),
                RoomCommand::Export { room, out: None } => admin(&config, AdminRequest::ExportLog { room }),
                RoomCommand::Export { room, out: Some(file) } => {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                    let (answer, via) =
                        runtime.block_on(mimi_ds::admin::perform(&config, &AdminRequest::ExportLog { room }))?;
                    std::fs::write(&file, format!("{answer}\n"))
                        .with_context(|| format!("writing {}", file.display()))?;
                    eprintln!("log written to {}", file.display());
                    report_via(&config, via);
                    Ok(())
                }
            }
        }
        Command::Client { command, config } => {
            let config = Config::load(config.as_deref()).context("invalid configuration")?;
            let request = match command {
                ClientCommand::Revoke { client } => AdminRequest::RevokeClient { client },
                ClientCommand::Remove { client } => AdminRequest::RemoveClient { client },
                ClientCommand::List { user } => AdminRequest::ListClients { user },
            };
            admin(&config, request)
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
        Command::Init { domains, out, base_port, force } => {
            let domains: Vec<String> = domains.iter().map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()).collect();
            let providers = mimi_ds::init::plan(&domains, base_port)?;
            let written = mimi_ds::init::write(&out, &providers, force)?;
            let ca = if written.ca_created { "created" } else { "reused" };
            println!("development CA {ca}: {}", written.ca.display());
            for (provider, file) in &written.providers {
                println!("{}: {} on {}", provider.domain, file.display(), provider.url());
            }
            println!("start each provider from this directory, each in a terminal of its own:");
            for command in written.serve_commands() {
                println!("  {command}");
            }
            Ok(())
        }
        Command::Config { command: ConfigCommand::Check { file } } => {
            match Config::load_sourced(Some(&file), process_env()) {
                Ok(sourced) => {
                    for setting in sourced.settings() {
                        println!("{setting}");
                    }
                    Ok(())
                }
                Err(e) => {
                    eprintln!("mimi-ds: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
}

/// Carries out an operator's command (through the running server if there is one) and prints what
/// it did.
fn admin(config: &Config, request: AdminRequest) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (answer, via) = runtime.block_on(mimi_ds::admin::perform(config, &request))?;
    println!("{answer}");
    report_via(config, via);
    Ok(())
}

/// Says on stderr who carried out a command.
fn report_via(config: &Config, via: Via) {
    match via {
        Via::Server => eprintln!("(done by the running server)"),
        Via::Store => eprintln!(
            "(done on {}; no server answered on {})",
            config.store_path().display(),
            config.admin_socket_path().display()
        ),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` if set, else by the configured `log` filter.
fn init_tracing(configured: &str, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let from_env = std::env::var(EnvFilter::DEFAULT_ENV).ok().filter(|v| !v.trim().is_empty());
    let filter = match from_env.as_deref().map(EnvFilter::try_new) {
        Some(Ok(filter)) => filter,
        Some(Err(e)) => {
            // Said before logging is set up, so on stderr as it is.
            eprintln!("mimi-ds: RUST_LOG is not a valid log filter ({e}); using the configured `log` = {configured:?}");
            configured_filter(configured)
        }
        None => configured_filter(configured),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_target(false).with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
    }
}

/// The configured filter (validated with the configuration; `info` if it somehow is not).
fn configured_filter(configured: &str) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_new(configured).unwrap_or_else(|_| "info".into())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let running = serve_provider(&config, server::shutdown_signal()).await?;
    info!(domain = %config.domain, addr = %running.addr, public_url = %running.public_url,
        metrics = ?running.metrics_addr, "mimi-ds {}", mimi_ds::LONG_VERSION);
    running.task.await.context("server task")??;
    info!("stopped");
    Ok(())
}
