//! The three-provider demo (`mimi-sim demo`) as a test: [`run_demo`] runs the protocol-06 §3
//! story over real mutual TLS between three in-process providers and fails on any step or on
//! disagreement at the end. Here Bob must really leave (his proposals relayed to the hub) and
//! Cathy's new device must really join by external commit across providers, and the transcript
//! must show each hop and decision.

use std::time::Duration;

use mimi_client_sim::demo::{BobLeft, ExternalJoin};
use mimi_client_sim::run_demo;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_runs_the_story_and_every_client_agrees() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let report = run_demo(dir.path(), false).await?;
    println!("{}", report.lines.join("\n"));
    assert_eq!(report.room, "mimi://a.example/r/demo");
    assert_eq!(report.bob, BobLeft::Left, "Bob's leave across providers");
    assert_eq!(report.external_join, ExternalJoin::Joined(4), "Cathy's device joins by external commit");
    assert_eq!(report.final_epoch, 4);
    assert_eq!(report.agreeing, 3, "alice/phone, cathy/phone, cathy/laptop");
    let text = report.lines.join("\n");
    for expected in [
        "b.example -> a.example (hub): commit adding cathy/phone",
        "c.example -> a.example (hub): submitMessage",
        "hub a.example: accepted commit on epoch 2 -> epoch 3",
        "hub a.example: accepted external commit -> epoch 4",
        "\"Hello from c.example!\" from mimi://c.example/d/cathy/phone",
        "OK: 3 clients agree on epoch 4",
    ] {
        assert!(text.contains(expected), "transcript lacks {expected:?}:\n{text}");
    }
    assert!(report.elapsed < Duration::from_secs(20), "took {:?}", report.elapsed);
    Ok(())
}
