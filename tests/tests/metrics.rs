//! Observability after a real run: two federated providers with metrics listeners (plain HTTP on
//! loopback, `metrics_listen`), a small story through the client API (Alice at a.example creates
//! a room, adds Bob of b.example, both send), then one scrape of the hub's metrics listener: every
//! metric the operator is promised (docs/DESIGN.md §7) is there, with values the story explains,
//! histograms as histograms; and the HTTPS listener has no `/metrics`.

use std::time::Duration;

use anyhow::{ensure, Context as _};
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_client_sim::{Client, Connection, LocalProvider};
use mimi_tests::peer::anonymous_client;
use mimi_tests::{scrape, series, sync_until};

const STEP: Duration = Duration::from_secs(15);

/// The value of `name` (with its labels as rendered) in `text`, or an error saying it is missing.
fn value(text: &str, name: &str) -> anyhow::Result<f64> {
    series(text, name).with_context(|| format!("no {name} in the metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_promised_metrics_are_on_the_metrics_listener_after_a_federated_story() -> anyhow::Result<()> {
    mimi_tests::init_test_log();
    let dir = tempfile::tempdir()?;
    let providers = LocalProvider::start_federation(dir.path(), &["a.example", "b.example"]).await?;
    let (a, b) = (&providers[0], &providers[1]);
    let conns: Vec<Connection> = providers.iter().map(|p| p.connect()).collect::<Result<_, _>>()?;

    // Alice (two devices) at a.example, the hub; Bob at b.example.
    let mut alice = Client::register(&conns[0], "alice", "phone").await?;
    let laptop = Client::register(&conns[0], "alice", "laptop").await?;
    let mut bob = Client::register(&conns[1], "bob", "phone").await?;
    for c in [&alice, &laptop, &bob] {
        c.upload_key_packages(2).await?;
    }
    let room = alice.create_room("observed", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite_user(&room, &bob.uri().user(), GROUP_ADMIN).await?;
    bob.await_welcome(&room, STEP).await?;
    for i in 0..3 {
        alice.send_text(&room, &format!("from alice {i}")).await?;
    }
    bob.send_text(&room, "from bob").await?;
    // Once Bob reads Alice's last message, b.example has taken in everything a.example fanned out
    // before it; Alice reading Bob's means his relayed message is in the hub's log.
    sync_until(&mut bob, &room, "alice's messages", STEP, |c| c.transcript(&room).is_ok_and(|t| t.len() >= 4)).await?;
    sync_until(&mut alice, &room, "bob's message", STEP, |c| c.transcript(&room).is_ok_and(|t| t.len() >= 4)).await?;

    // The HTTPS listener serves no metrics (and the 404 is a refusal counted by status).
    let https = anonymous_client(a)?;
    let status = https.get(format!("https://a.example:{}/metrics", a.addr().port())).send().await?.status();
    ensure!(status == 404, "GET /metrics over HTTPS: {status}");

    // The outbox's lag gauge is set on its next pass after the last delivery: wait for 0.
    let lag = "mimi_outbox_lag_entries{peer=\"b.example\"}";
    let deadline = tokio::time::Instant::now() + STEP;
    let text = loop {
        let text = scrape(a).await?;
        if series(&text, lag) == Some(0.0) {
            break text;
        }
        ensure!(tokio::time::Instant::now() < deadline, "{lag} not back to 0:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Kinds as promised: histograms with buckets, not summaries.
    for (name, kind) in [
        ("mimi_store_batch_size", "histogram"),
        ("mimi_store_commit_seconds", "histogram"),
        ("mimi_outbox_delivery_lag_seconds", "histogram"),
        ("http_request_duration_seconds", "histogram"),
        ("mimi_outbox_lag_entries", "gauge"),
        ("mimi_rooms", "gauge"),
        ("mimi_clients", "gauge"),
        ("http_connections_open", "gauge"),
        ("mimi_refusals_total", "counter"),
        ("hub_commits_accepted_total", "counter"),
        ("hub_messages_accepted_total", "counter"),
        ("mimi_store_writable", "gauge"),
    ] {
        ensure!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name} is not a {kind}:\n{text}");
    }
    ensure!(text.contains("mimi_store_batch_size_bucket{le=\"1\"}"), "size buckets:\n{text}");
    ensure!(text.contains("mimi_store_commit_seconds_bucket{le=\"0.001\"}"), "latency buckets:\n{text}");

    // Values the story explains.
    let batches = value(&text, "mimi_store_batch_size_count")?;
    ensure!(batches >= 10.0, "registrations, uploads, the room, its commit and four messages: {batches} batches");
    ensure!(value(&text, "mimi_store_batch_size_sum")? >= batches, "each batch holds a write at least");
    ensure!(value(&text, "mimi_store_commit_seconds_count")? == batches, "one durable commit per batch");
    ensure!(value(&text, "mimi_store_commit_seconds_sum")? > 0.0, "commits take time");
    ensure!(value(&text, "mimi_rooms")? == 1.0, "one room at its hub");
    ensure!(value(&text, "mimi_clients")? == 2.0, "alice's two devices");
    let delivered = value(&text, "mimi_outbox_delivery_lag_seconds_count{peer=\"b.example\"}")?;
    ensure!(delivered >= 1.0, "batches delivered to b.example: {delivered}");
    ensure!(value(&text, "hub_commits_accepted_total")? == 1.0, "the commit adding Bob");
    ensure!(value(&text, "hub_messages_accepted_total")? == 4.0, "four messages");
    ensure!(value(&text, "mimi_refusals_total{source=\"http\",code=\"404\"}")? >= 1.0, "the 404 for /metrics");
    ensure!(value(&text, "http_connections_open")? >= 1.0, "the clients' connections are open");
    ensure!(value(&text, "mimi_store_writable")? == 1.0, "the store takes writes");

    // The follower counts its own: Bob's device, no room of its own.
    let text_b = scrape(b).await?;
    ensure!(value(&text_b, "mimi_clients")? == 1.0, "bob's device at b.example:\n{text_b}");
    ensure!(value(&text_b, "mimi_rooms")? == 0.0, "b.example is the hub of no room:\n{text_b}");

    for p in providers {
        p.stop().await?;
    }
    Ok(())
}
