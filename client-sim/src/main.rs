//! `mimi-sim`: runs MIMI scenarios with simulated users and devices.
//!
//! `mimi-sim run SCENARIO.toml` or `mimi-sim run --builtin NAME` starts a provider in-process
//! on loopback (temporary directory, generated development certificates, embedded store), runs
//! the scenario against it with the checks after every step, and prints a summary; a failure
//! prints the scenario, seed, step and the precise diff, and exits non-zero.
//! With `--providers N` (N > 1) it starts N federated providers instead (`a.example`,
//! `b.example`, …; one development CA, mutual TLS on loopback), places the users on them
//! round-robin or by their `provider` field, and runs the same checks across providers.
//! `mimi-sim list` names the built-in scenarios.
//!
//! `mimi-sim demo` starts three federated providers in-process (a.example as hub, b.example,
//! c.example; dev certificates made on the fly, mutual TLS on loopback), runs the protocol-06
//! §3 story with simulated clients and prints the transcript (`mimi_client_sim::demo`); it
//! exits non-zero if a step fails or the clients do not agree at the end. (It lives here, not
//! in `mimi-ds`, because the client library depends on `mimi-ds`.)
//!
//! `mimi-sim random --seed S --steps N [--providers P] [--users U] [--clients-min A]
//! [--clients-max B]` runs the random mode (`mimi_client_sim::random`): seeded concurrent
//! operations with racing commits and churn, checked after every round; a failure names the seed
//! and the step, so the same command repeats it.
//!
//! Every command that talks to providers can target running ones instead of starting its own:
//! `--provider DOMAIN=https://HOST:PORT` (repeated for several, in order: the first is
//! `a`-like, users are spread over them round-robin) with `--ca ca.pem`, the CA their
//! certificates chain to (`mimi-ds dev-pki` writes one). Those providers must run with
//! `registration = "open"` (the simulator registers its devices without credentials), and names
//! (users, rooms) must be fresh on them: a device name that is taken is refused.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use mimi_client_sim::target::{connect_all, Target};
use mimi_client_sim::{
    run_demo, run_load, run_random, run_scenario_federated, Connection, Endpoint, LoadConfig, LocalProvider,
    RandomConfig, Scenario, Watch, BUILTIN,
};

/// Largest request body of the in-process providers of a load run: a commit adding 1 000
/// clients to a 10 000-leaf room carries the Welcome and GroupInfo with the whole tree.
const LOAD_MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// Simulated MIMI users and devices against a mimi-ds provider.
#[derive(Parser)]
#[command(name = "mimi-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which providers to use: started in-process, or running ones by URL.
#[derive(clap::Args, Debug)]
struct Providers {
    /// How many federated providers to start in-process (`a.example`, `b.example`, …); users
    /// are placed on them round-robin.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=26))]
    providers: u8,
    /// A running provider instead, as DOMAIN=https://HOST:PORT (repeat for several).
    #[arg(long = "provider", value_name = "DOMAIN=URL", requires = "ca", conflicts_with = "providers")]
    targets: Vec<Target>,
    /// The CA certificate (PEM) the running providers' certificates chain to.
    #[arg(long, requires = "targets")]
    ca: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario against a provider started in-process on loopback (or running ones).
    Run {
        /// The scenario file (TOML).
        #[arg(required_unless_present = "builtin", conflicts_with = "builtin")]
        scenario: Option<PathBuf>,
        /// A built-in scenario instead of a file (`mimi-sim list`).
        #[arg(long)]
        builtin: Option<String>,
        /// The provider's domain (with one provider started in-process).
        #[arg(long, default_value = "a.example")]
        domain: String,
        #[command(flatten)]
        providers: Providers,
    },
    /// Random mode: seeded concurrent operations with racing commits and churn, checked after
    /// every round.
    Random {
        /// The RNG seed (the same seed repeats the same plan against fresh providers).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Steps to run (each operation and each device going offline or online is one).
        #[arg(long, default_value_t = 2000)]
        steps: usize,
        /// Users.
        #[arg(long, default_value_t = 6)]
        users: usize,
        /// Fewest devices per user.
        #[arg(long, default_value_t = 2)]
        clients_min: usize,
        /// Most devices per user.
        #[arg(long, default_value_t = 3)]
        clients_max: usize,
        /// Rooms.
        #[arg(long, default_value_t = 3)]
        rooms: usize,
        /// Most operations run at once.
        #[arg(long, default_value_t = 5)]
        parallel: usize,
        /// Print every step (action, predicted and actual outcome, churn) to stderr.
        #[arg(long)]
        trace: bool,
        #[command(flatten)]
        providers: Providers,
    },
    /// Load: rooms × users × clients across providers, messages at a target rate with churn;
    /// prints throughput, latency percentiles and peak memory, and writes a JSON summary.
    Load {
        /// Rooms.
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        /// Users per room.
        #[arg(long, default_value_t = 10)]
        users: usize,
        /// Clients per user.
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// Target messages per second (all rooms together).
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Offline events per second (all active clients together).
        #[arg(long, default_value_t = 0.0)]
        churn: f64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Active clients per room (joined, sending and receiving); default all. The others
        /// are passive leaves; latency is measured over the active receivers.
        #[arg(long)]
        active: Option<usize>,
        /// Most clients added per commit.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Seed of the send and churn timing.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write the JSON summary.
        #[arg(long)]
        json: Option<PathBuf>,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
        /// A soak run: every this many seconds, print (and keep in the summary) the counters, the
        /// providers' store size and resident memory.
        #[arg(long, default_value_t = 0)]
        sample_every: u64,
        /// A store file to sample (repeat; in-process providers' files are sampled anyway).
        #[arg(long, value_name = "FILE")]
        watch_store: Vec<PathBuf>,
        /// The pid of a running provider whose resident memory is sampled.
        #[arg(long, value_name = "PID")]
        watch_pid: Option<u32>,
        /// Log retention of the in-process providers, seconds (their `log_retention_secs`).
        #[arg(long)]
        log_retention_secs: Option<u64>,
        #[command(flatten)]
        providers: Providers,
    },
    /// Lists the built-in scenarios.
    List,
    /// Runs the protocol-06 §3 story across three federated providers on loopback and prints
    /// the transcript.
    Demo,
}

/// The domains of `n` in-process providers: `a.example`, `b.example`, …
fn domains(n: u8) -> Vec<String> {
    (b'a'..).take(n.into()).map(|l| format!("{}.example", l as char)).collect()
}

/// Starts the in-process providers (under `dir`) or connects to the running ones.
async fn providers(
    args: &Providers,
    dir: &Path,
    single: &str,
) -> anyhow::Result<(Vec<LocalProvider>, Vec<Connection>)> {
    if !args.targets.is_empty() {
        let ca = args.ca.as_deref().context("--provider needs --ca")?;
        return Ok((Vec::new(), connect_all(&args.targets, ca).await?));
    }
    let local = if args.providers == 1 {
        vec![LocalProvider::start(dir, single, "127.0.0.1:0".parse()?).await?]
    } else {
        let domains = domains(args.providers);
        let domains: Vec<&str> = domains.iter().map(String::as_str).collect();
        LocalProvider::start_federation(dir, &domains).await?
    };
    let connections = local.iter().map(LocalProvider::connect).collect::<Result<Vec<Connection>, _>>();
    match connections {
        Ok(c) => Ok((local, c)),
        Err(e) => {
            stop(local).await?;
            Err(e.into())
        }
    }
}

/// For load: the in-process providers (with a larger body limit) or the running ones' endpoints.
async fn load_providers(
    args: &Providers,
    dir: &Path,
    log_retention_secs: Option<u64>,
) -> anyhow::Result<(Vec<LocalProvider>, Vec<Endpoint>)> {
    if !args.targets.is_empty() {
        let ca = args.ca.as_deref().context("--provider needs --ca")?;
        let mut endpoints = Vec::new();
        for t in &args.targets {
            endpoints.push(t.endpoint(ca).await?);
        }
        return Ok((Vec::new(), endpoints));
    }
    let domains = domains(args.providers);
    let domains: Vec<&str> = domains.iter().map(String::as_str).collect();
    let configs = if domains.len() == 1 {
        vec![mimi_client_sim::local::config(dir, domains[0], "127.0.0.1:0".parse()?)?]
    } else {
        mimi_client_sim::local::federation_configs(dir, &domains)?
    };
    let mut local = Vec::new();
    for mut config in configs {
        config.max_body_bytes = LOAD_MAX_BODY_BYTES;
        if let Some(secs) = log_retention_secs {
            config.retention.retention.log_retention_ms = secs.saturating_mul(1000);
        }
        match LocalProvider::start_with(config).await {
            Ok(p) => local.push(p),
            Err(e) => {
                stop(local).await?;
                return Err(e.into());
            }
        }
    }
    let endpoints = local
        .iter()
        .map(|p| Endpoint { domain: p.domain().to_owned(), addr: p.addr(), ca: p.ca().to_owned() })
        .collect();
    Ok((local, endpoints))
}

async fn stop(local: Vec<LocalProvider>) -> anyhow::Result<()> {
    for provider in local {
        provider.stop().await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Demo => {
            let dir = tempfile::tempdir()?;
            run_demo(dir.path(), true).await.context("demo failed")?;
        }
        Command::List => {
            for (name, text) in BUILTIN {
                let scenario = Scenario::parse(name, text)?;
                println!("{name}: {}", scenario.description.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
        Command::Run { scenario, builtin, domain, providers: args } => {
            let scenario = match (scenario, builtin) {
                (_, Some(name)) => Scenario::builtin(&name)?,
                (Some(path), None) => {
                    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                    Scenario::parse(&path.display().to_string(), &text)?
                }
                (None, None) => anyhow::bail!("name a scenario file or --builtin NAME"),
            };
            let dir = tempfile::tempdir()?;
            let (local, connections) = providers(&args, dir.path(), &domain).await?;
            let started = std::time::Instant::now();
            let result = run_scenario_federated(scenario, connections).await;
            stop(local).await?;
            let report = result?;
            println!(
                "scenario {}: {} steps ok ({} refused as expected), {} messages checked, {} provider(s), {:.1?}",
                report.scenario,
                report.steps,
                report.refused,
                report.messages,
                report.providers,
                started.elapsed()
            );
        }
        Command::Load {
            rooms,
            users,
            clients,
            rate,
            churn,
            duration,
            active,
            batch,
            seed,
            json,
            quiet,
            sample_every,
            mut watch_store,
            watch_pid,
            log_retention_secs,
            providers: args,
        } => {
            let dir = tempfile::tempdir()?;
            let (local, endpoints) = load_providers(&args, dir.path(), log_retention_secs).await?;
            let in_process = !local.is_empty();
            watch_store.extend(local.iter().map(|p| p.config().store_path()));
            let watch = Watch { every_secs: sample_every, stores: watch_store, pid: watch_pid };
            let config = LoadConfig {
                rooms,
                users,
                clients,
                rate,
                churn,
                duration: std::time::Duration::from_secs(duration),
                active,
                batch,
                seed,
                watch,
            };
            let result = run_load(config, endpoints, in_process, !quiet).await;
            stop(local).await?;
            let report = result?;
            println!(
                "load: {} room(s) x {} users x {} clients = {} clients ({} active) on {} provider(s)",
                report.config.rooms,
                report.config.users,
                report.config.clients,
                report.clients,
                report.active_clients,
                report.providers
            );
            println!(
                "  setup: registered in {:.1}s, rooms built in {:.1}s ({} add commits), joined in {:.1}s",
                report.register_secs, report.create_secs, report.add_commits, report.join_secs
            );
            println!(
                "  messages: {} sent, {} accepted ({:.1}/s), {} delivered of {} expected ({:.1}/s), {} errors, {} churn events",
                report.sent,
                report.accepted,
                report.throughput_msgs_per_s,
                report.delivered,
                report.expected_deliveries,
                report.throughput_deliveries_per_s,
                report.errors,
                report.churn_events
            );
            println!(
                "  latency send->decrypt: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} deliveries ({})",
                report.latency.p50_ms,
                report.latency.p90_ms,
                report.latency.p99_ms,
                report.latency.max_ms,
                report.latency.count,
                report.latency_sampling
            );
            println!("  peak memory (VmHWM): {} MiB ({})", report.peak_rss_kib / 1024, report.memory_note);
            for e in &report.error_samples {
                println!("  error: {e}");
            }
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Command::Random { seed, steps, users, clients_min, clients_max, rooms, parallel, trace, providers: args } => {
            let dir = tempfile::tempdir()?;
            let (local, connections) = providers(&args, dir.path(), "a.example").await?;
            let config =
                RandomConfig { seed, steps, users, clients_min, clients_max, rooms, max_parallel: parallel, trace };
            let started = std::time::Instant::now();
            let result = run_random(config, connections).await;
            stop(local).await?;
            let report = result?;
            println!(
                "random seed {}: {} steps in {} rounds ok, {:.1?}; {} provider(s); {} racing rounds, {} lost races \
                 retried, {} refused as predicted, {} messages checked, {} devices taken offline, up to {} at once",
                report.seed,
                report.steps,
                report.rounds,
                started.elapsed(),
                report.providers,
                report.racing_rounds,
                report.lost_races,
                report.refused,
                report.messages,
                report.offline,
                report.max_parallel
            );
            println!("operations: {}", serde_json::to_string(&report.ops)?);
        }
    }
    Ok(())
}
