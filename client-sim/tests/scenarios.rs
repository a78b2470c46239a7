//! Every built-in scenario against one in-process provider and against three federated ones,
//! and the checker's own failure: a dropped or reordered delivery injected into a client's
//! transcript is reported.

use mimi_client_sim::{CheckFailure, Connection, LocalProvider, Runner, Scenario, BUILTIN};

/// The federated providers; users are placed on them round-robin, so the first user of each
/// scenario (who creates its rooms) is at the hub, a.example.
const DOMAINS: [&str; 3] = ["a.example", "b.example", "c.example"];

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

/// Runs `scenario` against three fresh federated providers; returns the report and the
/// finished runner (its providers stopped).
async fn run_federated(scenario: Scenario) -> anyhow::Result<(mimi_client_sim::RunReport, Runner)> {
    let dir = tempfile::tempdir()?;
    let providers = LocalProvider::start_federation(dir.path(), &DOMAINS).await?;
    let connections = providers.iter().map(LocalProvider::connect).collect::<Result<Vec<Connection>, _>>()?;
    let started = std::time::Instant::now();
    let result = async {
        let mut runner = Runner::federated(scenario, connections).await?;
        Ok::<_, mimi_client_sim::ScenarioError>((runner.run().await?, runner))
    }
    .await;
    for p in providers {
        p.stop().await?;
    }
    let (report, runner) = result?;
    println!("{report:?} in {:.1?}", started.elapsed());
    assert_eq!(report.providers, 3);
    Ok((report, runner))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn builtin_scenarios_pass_against_three_providers() -> anyhow::Result<()> {
    // Fresh providers per scenario; no built-in scenario is excluded.
    for (name, _) in BUILTIN {
        let (report, _) = run_federated(Scenario::builtin(name)?).await?;
        assert_eq!(report.steps, Scenario::builtin(name)?.steps.len());
    }
    // The room creator placed at a follower by its `provider` field: the hub is c.example.
    let mut scenario = Scenario::builtin("messages")?;
    scenario.users[0].provider = Some("c".into());
    let (report, runner) = run_federated(scenario).await?;
    assert_eq!(runner.room_uri("chat"), Some("mimi://c.example/r/chat"));
    assert_eq!(report.messages, 8);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checker_reports_a_dropped_or_reordered_delivery_across_providers() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let providers = LocalProvider::start_federation(dir.path(), &DOMAINS).await?;
    let connections = providers.iter().map(LocalProvider::connect).collect::<Result<Vec<Connection>, _>>()?;
    let mut runner = Runner::federated(Scenario::builtin("messages")?, connections).await?;
    runner.run().await?;
    let room = runner.room_uri("chat").expect("room").to_owned();
    runner.check()?;

    // Bob lives at b.example, a follower: his log positions are his provider's own.
    let bob = runner.user_mut("bob").expect("bob").device_mut("phone")?;
    assert!(bob.uri().as_str().starts_with("mimi://b.example/"), "{}", bob.uri());
    let uri = bob.uri().to_string();
    let honest = bob.transcript(&room)?.to_vec();
    assert!(honest.len() >= 4, "{honest:?}");

    let mut injected = |fault: &dyn Fn(&mut Vec<mimi_client_sim::Delivered>)| -> anyhow::Result<CheckFailure> {
        let bob = runner.user_mut("bob").expect("bob").device_mut("phone")?;
        *bob.transcript_mut(&room)? = honest.clone();
        fault(bob.transcript_mut(&room)?);
        Ok(runner.check().expect_err("an injected fault must be reported"))
    };
    let dropped = injected(&|t| drop(t.remove(1)))?;
    println!("dropped: {dropped}");
    assert_eq!(dropped.client.as_deref(), Some(uri.as_str()));
    let reordered = injected(&|t| t.swap(2, 3))?;
    println!("reordered: {reordered}");
    assert_eq!(reordered.client.as_deref(), Some(uri.as_str()));
    let duplicated = injected(&|t| t.push(t[0].clone()))?;
    println!("duplicated: {duplicated}");
    assert_eq!(duplicated.client.as_deref(), Some(uri.as_str()));
    assert!(duplicated.got.contains("delivered twice"), "{duplicated}");

    // Restored, the check passes again.
    let bob = runner.user_mut("bob").expect("bob").device_mut("phone")?;
    *bob.transcript_mut(&room)? = honest;
    runner.check()?;
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}
