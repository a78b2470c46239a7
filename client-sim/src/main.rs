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
//! TODO: target a running provider by URL (needs its CA file and domain).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use mimi_client_sim::{run_demo, run_scenario_federated, Connection, LocalProvider, Scenario, BUILTIN};

/// Simulated MIMI users and devices against a mimi-ds provider.
#[derive(Parser)]
#[command(name = "mimi-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario against a provider started in-process on loopback.
    Run {
        /// The scenario file (TOML).
        #[arg(required_unless_present = "builtin", conflicts_with = "builtin")]
        scenario: Option<PathBuf>,
        /// A built-in scenario instead of a file (`mimi-sim list`).
        #[arg(long)]
        builtin: Option<String>,
        /// The provider's domain (with one provider).
        #[arg(long, default_value = "a.example")]
        domain: String,
        /// How many federated providers to start (`a.example`, `b.example`, …); users are
        /// placed on them round-robin unless their `provider` field says otherwise.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=26))]
        providers: u8,
    },
    /// Lists the built-in scenarios.
    List,
    /// Runs the protocol-06 §3 story across three federated providers on loopback and prints
    /// the transcript.
    Demo,
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
        Command::Run { scenario, builtin, domain, providers: count } => {
            let scenario = match (scenario, builtin) {
                (_, Some(name)) => Scenario::builtin(&name)?,
                (Some(path), None) => {
                    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                    Scenario::parse(&path.display().to_string(), &text)?
                }
                (None, None) => anyhow::bail!("name a scenario file or --builtin NAME"),
            };
            let dir = tempfile::tempdir()?;
            let providers = if count == 1 {
                vec![LocalProvider::start(dir.path(), &domain, "127.0.0.1:0".parse()?).await?]
            } else {
                let domains: Vec<String> =
                    (b'a'..).take(count.into()).map(|l| format!("{}.example", l as char)).collect();
                let domains: Vec<&str> = domains.iter().map(String::as_str).collect();
                LocalProvider::start_federation(dir.path(), &domains).await?
            };
            let connections = providers.iter().map(LocalProvider::connect).collect::<Result<Vec<Connection>, _>>();
            let started = std::time::Instant::now();
            let result = match connections {
                Ok(connections) => run_scenario_federated(scenario, connections).await.map_err(anyhow::Error::from),
                Err(e) => Err(e.into()),
            };
            for provider in providers {
                provider.stop().await?;
            }
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
    }
    Ok(())
}
