//! Every built-in scenario against one in-process provider, and the checker's own failure:
//! a dropped or reordered delivery injected into a client's transcript is reported.

use mimi_client_sim::{CheckFailure, LocalProvider, Runner, Scenario, BUILTIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_scenarios_pass_against_one_provider() -> anyhow::Result<()> {
    // A fresh provider per scenario: scenarios name their users and rooms freely.
    for (name, _) in BUILTIN {
        let dir = tempfile::tempdir()?;
        let provider = LocalProvider::start(dir.path(), "a.example", "127.0.0.1:0".parse()?).await?;
        let started = std::time::Instant::now();
        let report = Runner::new(Scenario::builtin(name)?, provider.connect()?).await?.run().await?;
        println!("{report:?} in {:.1?}", started.elapsed());
        assert_eq!(report.steps, Scenario::builtin(name)?.steps.len());
        provider.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checker_reports_a_dropped_or_reordered_delivery() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let provider = LocalProvider::start(dir.path(), "a.example", "127.0.0.1:0".parse()?).await?;
    let mut runner = Runner::new(Scenario::builtin("messages")?, provider.connect()?).await?;
    runner.run().await?;
    let room = runner.room_uri("chat").expect("room").to_owned();
    runner.check()?;

    let bob = runner.user_mut("bob").expect("bob").device_mut("phone")?;
    let uri = bob.uri().to_string();
    let honest = bob.transcript(&room)?.to_vec();
    assert!(honest.len() >= 4, "{honest:?}");

    // Drop one delivery.
    bob.transcript_mut(&room)?.remove(1);
    let failure: CheckFailure = runner.check().expect_err("a dropped delivery must be reported");
    println!("dropped: {failure}");
    assert_eq!(failure.client.as_deref(), Some(uri.as_str()));
    assert!(failure.expected.contains(&format!("seq {}", honest[1].seq)), "{failure}");
    assert!(failure.got.contains(&format!("seq {}", honest[2].seq)), "{failure}");

    // Reorder two deliveries.
    let bob = runner.user_mut("bob").expect("bob").device_mut("phone")?;
    *bob.transcript_mut(&room)? = honest.clone();
    bob.transcript_mut(&room)?.swap(2, 3);
    let failure = runner.check().expect_err("a reordered delivery must be reported");
    println!("reordered: {failure}");
    assert_eq!(failure.client.as_deref(), Some(uri.as_str()));
    assert!(failure.expected.contains(&format!("seq {}", honest[2].seq)), "{failure}");

    // Deliver one twice.
    let bob = runner.user_mut("bob").expect("bob").device_mut("phone")?;
    *bob.transcript_mut(&room)? = honest.clone();
    bob.transcript_mut(&room)?.push(honest[0].clone());
    let failure = runner.check().expect_err("a duplicate delivery must be reported");
    println!("duplicated: {failure}");

    // Restored, the check passes again.
    let bob = runner.user_mut("bob").expect("bob").device_mut("phone")?;
    *bob.transcript_mut(&room)? = honest;
    runner.check()?;
    provider.stop().await?;
    Ok(())
}
