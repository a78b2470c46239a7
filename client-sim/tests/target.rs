//! Targeting a provider by URL: a provider started separately (here in the test, on its own
//! loopback port) is reached through `--provider DOMAIN=https://HOST:PORT --ca ca.pem`, parsed
//! and connected by the library entry point the CLI uses, and a scenario and a short random run
//! pass against it.

use mimi_client_sim::target::{connect_all, Target};
use mimi_client_sim::{run_random, run_scenario_federated, LocalProvider, RandomConfig, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_and_random_against_a_provider_by_url() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let provider = LocalProvider::start(dir.path(), "a.example", "127.0.0.1:0".parse()?).await?;
    let target: Target = format!("a.example=https://127.0.0.1:{}", provider.addr().port()).parse()?;
    let connections = connect_all(std::slice::from_ref(&target), provider.ca()).await?;
    let report = run_scenario_federated(Scenario::builtin("messages")?, connections).await?;
    assert_eq!(report.steps, Scenario::builtin("messages")?.steps.len());

    // The scenario's users are alice, bob, carol; the random run's user0.., so they do not clash.
    let connections = connect_all(std::slice::from_ref(&target), provider.ca()).await?;
    let config = RandomConfig { seed: 11, steps: 30, users: 3, clients_min: 1, clients_max: 2, ..Default::default() };
    let report = run_random(config, connections).await?;
    assert!(report.steps >= 30, "{report:?}");

    // A wrong CA is refused in the TLS handshake.
    let other = tempfile::tempdir()?;
    mimi_ds::pki::generate(other.path(), &["a.example".to_owned()])?;
    let stranger = target.connect(&other.path().join("ca.pem")).await?;
    assert!(stranger.register("eve", "phone").await.is_err());
    provider.stop().await?;
    Ok(())
}
