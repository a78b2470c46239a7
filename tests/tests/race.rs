//! One commit per epoch under contention: N clients submit commits for the same epoch concurrently over HTTPS,
//! round after round. Exactly one commit is accepted per epoch, every other attempt gets
//! `wrongEpoch` naming a later epoch, the losers clear their pending commit, process the winner
//! and retry, and all converge. A member that never commits observes the log.

use std::collections::BTreeMap;
use std::time::Instant;

use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN, administered_roles::ORDINARY_USER};
use mimi_client_sim::{Client, CommitReport, LocalProvider, User};
use mimi_tests::{check_converged, is_commit, read_log};

const ROUNDS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commits_one_per_epoch() -> anyhow::Result<()> {
    let t0 = Instant::now();
    let dir = tempfile::tempdir()?;
    let provider = LocalProvider::start(dir.path(), "a.example", "127.0.0.1:0".parse()?).await?;
    let conn = provider.connect()?;
    let mut alice = User::register(&conn, "alice", &["phone", "laptop"], 1).await?;
    let mut bob = User::register(&conn, "bob", &["phone", "laptop"], 1).await?;
    let mut observer = User::register(&conn, "observer", &["phone"], 1).await?;
    let room = alice.create_room("race", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite(&room, &bob.uri().clone(), ORDINARY_USER).await?;
    alice.invite(&room, &observer.uri().clone(), ORDINARY_USER).await?;
    bob.sync(&room).await?;
    observer.sync(&room).await?;
    alice.sync(&room).await?;
    let start_epoch = observer.client_mut(0).unwrap().epoch(&room)?;

    let mut racers: Vec<Client> = Vec::new();
    for u in [alice, bob] {
        racers.extend(into_clients(u));
    }
    let n = racers.len();
    let mut reports: Vec<CommitReport> = Vec::new();
    let mut same_epoch_rounds = 0;
    for round in 0..ROUNDS {
        // Every racer first catches up to the head of the log, then all start committing at the
        // same moment, so their first attempts are built on the same epoch.
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(n));
        let tasks: Vec<_> = racers
            .into_iter()
            .map(|mut c| {
                let room = room.clone();
                let start = start.clone();
                tokio::spawn(async move {
                    if let Err(e) = c.catch_up(&room).await {
                        return (c, Err(e));
                    }
                    start.wait().await;
                    let r = c.key_update(&room).await;
                    (c, r)
                })
            })
            .collect();
        racers = Vec::new();
        let mut firsts = Vec::new();
        for t in tasks {
            let (c, r) = t.await?;
            let r = r?;
            firsts.push(r.lost.first().map_or(r.epoch, |l| l.built_on));
            reports.push(r);
            racers.push(c);
        }
        if firsts.iter().all(|e| *e == firsts[0]) {
            same_epoch_rounds += 1;
        }
        let winners = reports[reports.len() - n..].iter().filter(|r| r.lost.is_empty()).count();
        assert!(winners >= 1, "round {round}: no first attempt won");
    }

    // Exactly one accepted commit per epoch, and every epoch from start to end has one.
    let end_epoch = start_epoch + (ROUNDS * n) as u64;
    let mut accepted: Vec<u64> = reports.iter().map(|r| r.epoch).collect();
    accepted.sort();
    assert_eq!(accepted, (start_epoch..end_epoch).collect::<Vec<_>>());
    // Every refusal was wrongEpoch for an epoch someone else had just won.
    let lost: Vec<_> = reports.iter().flat_map(|r| r.lost.iter().copied()).collect();
    for l in &lost {
        assert!(l.current_epoch > l.built_on && l.current_epoch <= end_epoch, "{l:?}");
    }
    // The observer's view of the log: one commit per epoch, positions without gaps.
    let obs = observer.client_mut(0).unwrap();
    obs.catch_up(&room).await?;
    let log = read_log(obs, &room).await?;
    assert!(log.windows(2).all(|w| w[1].seq == w[0].seq + 1), "log positions without gaps");
    let mut commits: BTreeMap<u64, usize> = BTreeMap::new();
    for e in log.iter().filter(|e| is_commit(e)) {
        *commits.entry(e.epoch).or_default() += 1;
    }
    assert!(commits.values().all(|&k| k == 1), "two commits in one epoch: {commits:?}");
    assert_eq!(commits.range(start_epoch..).count(), ROUNDS * n);

    for c in racers.iter_mut() {
        c.catch_up(&room).await?;
    }
    let mut all: Vec<&Client> = racers.iter().collect();
    all.push(obs);
    check_converged(&room, &all)?;
    assert_eq!(all[0].epoch(&room)?, end_epoch);
    println!(
        "race: {n} racers x {ROUNDS} rounds: {} commits accepted (one per epoch {start_epoch}..{end_epoch}), \
         {} wrongEpoch refusals recovered, {same_epoch_rounds}/{ROUNDS} rounds with all first attempts on one epoch, {:?}",
        reports.len(),
        lost.len(),
        t0.elapsed()
    );
    assert!(!lost.is_empty(), "no race happened");
    provider.stop().await?;
    Ok(())
}

fn into_clients(mut user: User) -> Vec<Client> {
    let mut out = Vec::new();
    while let Some(c) = user.take_client() {
        out.push(c);
    }
    out
}
