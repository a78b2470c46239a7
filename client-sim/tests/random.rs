//! Random mode: seeded interleavings of concurrent operations (racing commits, churn, refused
//! operations the model predicts) against three federated providers, with every check after
//! every round; three seeds. Debug builds are slow, so each seed runs a few hundred steps here;
//! the 2 000-step and longer runs are made with the release binary (`mimi-sim random`).

use mimi_client_sim::{run_random, Connection, LocalProvider, RandomConfig, RandomReport};

const DOMAINS: [&str; 3] = ["a.example", "b.example", "c.example"];

/// Steps per seed in this test.
const STEPS: usize = 200;

async fn run(seed: u64, steps: usize, providers: &[&str]) -> anyhow::Result<RandomReport> {
    let dir = tempfile::tempdir()?;
    let started = std::time::Instant::now();
    let providers = if providers.len() == 1 {
        vec![LocalProvider::start(dir.path(), providers[0], "127.0.0.1:0".parse()?).await?]
    } else {
        LocalProvider::start_federation(dir.path(), providers).await?
    };
    let connections = providers.iter().map(LocalProvider::connect).collect::<Result<Vec<Connection>, _>>()?;
    let config = RandomConfig { seed, steps, ..RandomConfig::default() };
    let result = run_random(config, connections).await;
    for p in providers {
        p.stop().await?;
    }
    let report = result?;
    println!("{report:?} in {:.1?}", started.elapsed());
    Ok(report)
}

/// What every run must have exercised.
fn assert_exercised(report: &RandomReport) {
    assert!(report.steps >= STEPS, "{report:?}");
    assert!(report.racing_rounds > 0, "no racing commits: {report:?}");
    assert!(report.refused > 0, "no refused operation: {report:?}");
    assert!(report.offline > 0, "no churn: {report:?}");
    assert!(report.messages > 0, "no messages: {report:?}");
    assert!(report.max_parallel >= 3, "not concurrent: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_seeds_against_three_providers() -> anyhow::Result<()> {
    for seed in [1, 2, 3] {
        let report = run(seed, STEPS, &DOMAINS).await?;
        assert_eq!(report.providers, 3);
        assert_exercised(&report);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_provider() -> anyhow::Result<()> {
    let report = run(7, 60, &["a.example"]).await?;
    assert!(report.steps >= 60 && report.racing_rounds > 0 && report.refused > 0, "{report:?}");
    Ok(())
}
