//! The load mode's soak sampling against a provider on a real redb file: the samples follow the
//! messaging phase (first at its start, last at its end), their counters only grow, and the store
//! size and memory are read from the watched file and process.

use std::time::Duration;

use mimi_client_sim::{run_load, Endpoint, LoadConfig, LocalProvider, Watch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_run_samples_counters_store_size_and_memory_over_time() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let provider = LocalProvider::start(dir.path(), "a.example", "127.0.0.1:0".parse()?).await?;
    let store = provider.config().store_path();
    let endpoint = Endpoint { domain: "a.example".into(), addr: provider.addr(), ca: provider.ca().to_owned() };
    let config = LoadConfig {
        rooms: 1,
        users: 3,
        clients: 1,
        rate: 20.0,
        churn: 0.0,
        duration: Duration::from_secs(4),
        active: None,
        batch: 100,
        seed: 3,
        watch: Watch { every_secs: 1, stores: vec![store.clone()], pid: Some(std::process::id()) },
    };
    let report = run_load(config, vec![endpoint], true, false).await?;
    provider.stop().await?;
    let samples = &report.samples;
    assert!(samples.len() >= 4, "one a second over 4 s, and the last at the end: {samples:?}");
    assert_eq!(samples[0].secs, 0, "the first sample is taken as messages start");
    assert!(samples.windows(2).all(|w| w[0].secs <= w[1].secs && w[0].accepted <= w[1].accepted));
    let last = samples.last().unwrap();
    assert!(last.accepted > 0 && last.accepted <= report.accepted, "{last:?} vs {} accepted", report.accepted);
    assert!(last.store_bytes > 0, "the watched store file is measured");
    assert!(last.provider_rss_kib.is_some_and(|k| k > 0) && last.sim_rss_kib > 0);
    assert!(last.line().contains(&format!("accepted={}", last.accepted)));
    Ok(())
}
