//! Federation at scale: one room across 5 providers (a.example is the hub,
//! b..e.example follow) × 3 users × 2 clients = 30 clients, each provider a separate in-process
//! server on loopback with real mutual TLS and `[peers]` naming the others. Clients only ever
//! talk to their own provider.
//!
//! Membership is built by invites from every provider (the hub's users and followers' users
//! invite users of other providers: claims and commits relayed through the hub, Welcomes routed
//! to the invitee's provider), then messages (sequential from every user, then concurrent bursts
//! from one client per provider), key updates from several providers, the removal of a user of
//! one follower by a user of another, more messages, and a final key update. After each phase
//! every client still in the room is driven to the room's epoch; at the end all 28 remaining
//! clients must agree on epoch, epoch authenticator, members, participants and transcript
//! (compared by sender and content, in order), every acknowledged message must be there exactly
//! once, and no follower's mirror may hold an entry twice.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_client_sim::{Client, Connection, LocalProvider, User};
use mimi_tests::{
    check_converged_across_providers, check_no_duplicate_entries, contains, federation_config, free_ports, join_room,
    read_log, sync_until, transcript_keys,
};

const DOMAINS: [&str; 5] = ["a.example", "b.example", "c.example", "d.example", "e.example"];
const USERS_PER_PROVIDER: usize = 3;
const DEVICES: [&str; 2] = ["phone", "laptop"];
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where a user stands with the room.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Never invited.
    Out,
    /// Invited: every client must be a member at the room's epoch.
    In,
    /// Removed: every client must have learnt it.
    Removed,
}

/// Index of user `u` of provider `p`.
fn ix(p: usize, u: usize) -> usize {
    p * USERS_PER_PROVIDER + u
}

/// Drives every client to where the room is, all clients at once: invited users' clients join
/// and reach `epoch`, removed users' clients learn they are out.
async fn settle(users: &mut [User], states: &[State], room: &str, epoch: u64) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for (user, state) in users.iter_mut().zip(states) {
        let mut clients: Vec<Client> = std::iter::from_fn(|| user.take_client()).collect();
        clients.reverse();
        let (state, room) = (*state, room.to_owned());
        tasks.push(tokio::spawn(async move {
            for c in &mut clients {
                match state {
                    State::Out => {}
                    State::In => {
                        join_room(c, &room, STEP_TIMEOUT).await?;
                        let what = format!("epoch {epoch}");
                        sync_until(c, &room, &what, STEP_TIMEOUT, |c| c.epoch(&room).is_ok_and(|e| e >= epoch)).await?;
                        anyhow::ensure!(c.epoch(&room)? == epoch, "{}: past epoch {epoch}", c.uri());
                    }
                    State::Removed => sync_until(c, &room, "removal", STEP_TIMEOUT, |c| !c.is_member(&room)).await?,
                }
            }
            anyhow::Ok(clients)
        }));
    }
    for (user, task) in users.iter_mut().zip(tasks) {
        for c in task.await?? {
            user.add_device(c);
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_providers_thirty_clients_converge() -> anyhow::Result<()> {
    let t0 = Instant::now();
    let dir = tempfile::tempdir()?;
    let pki = dir.path().join("pki");
    mimi_ds::pki::generate(&pki, &DOMAINS.map(str::to_owned))?;
    let ports = free_ports(DOMAINS.len())?;
    let mut providers = Vec::new();
    for i in 0..DOMAINS.len() {
        providers.push(LocalProvider::start_with(federation_config(dir.path(), &pki, &DOMAINS, &ports, i)?).await?);
    }
    let conns: Vec<Connection> = providers.iter().map(|p| p.connect()).collect::<Result<_, _>>()?;

    let mut users = Vec::new();
    for conn in &conns {
        for u in 0..USERS_PER_PROVIDER {
            users.push(User::register(conn, &format!("u{u}"), &DEVICES, 2).await?);
        }
    }
    let uris: Vec<_> = users.iter().map(|u| u.uri().clone()).collect();
    let mut states = vec![State::Out; users.len()];
    let t_setup = t0.elapsed();

    // Membership: a/u0 creates the room at the hub (with its own laptop), then invites come from
    // the hub and from followers, each inviter joining first.
    let room = users[ix(0, 0)].create_room("scale", &presets::cooperative(), GROUP_ADMIN).await?;
    assert!(room.starts_with("mimi://a.example/r/"));
    states[ix(0, 0)] = State::In;
    let mut epoch = 1;
    let mut commits = 1;
    // Phase 2 has a follower's user invite a user of its own provider: that claim is served by
    // the follower itself, so the hub routes the Welcome to the committer's provider.
    let phases: [(usize, &[usize]); 6] = [
        (ix(0, 0), &[ix(0, 1), ix(1, 0)]), // the hub's user invites a local and a b user
        (ix(1, 0), &[ix(2, 0), ix(3, 0), ix(1, 1)]), // b (a follower) invites c and d users and a b user
        (ix(2, 0), &[ix(4, 0), ix(3, 1)]), // c invites e and d
        (ix(3, 0), &[ix(2, 1), ix(4, 1), ix(0, 2)]), // d invites c, e and a hub user
        (ix(4, 0), &[ix(1, 2), ix(3, 2), ix(2, 2)]), // e invites b, d and c
        (ix(0, 1), &[ix(4, 2)]),           // the hub again, for e
    ];
    for (inviter, invitees) in phases {
        for &invitee in invitees {
            let r = users[inviter].invite(&room, &uris[invitee], GROUP_ADMIN).await?;
            epoch = epoch.max(r.epoch + 1);
            commits += 1;
            states[invitee] = State::In;
        }
        settle(&mut users, &states, &room, epoch).await?;
    }
    assert!(states.iter().all(|s| *s == State::In));
    let members = users[0].clients().next().context("a client")?.members(&room)?;
    assert_eq!(members.len(), users.len() * DEVICES.len());
    let t_members = t0.elapsed();

    // Messages, sequential: each user's first device in turn (acknowledged in this order).
    let mut sequential = Vec::new();
    for (i, user) in users.iter_mut().enumerate() {
        let token = format!("<seq1-{i}>");
        user.client_mut(0).context("device 0")?.send_text(&room, &token).await?;
        sequential.push(token);
    }
    // Concurrent bursts: one laptop per provider, three messages each, all at once.
    let mut concurrent = Vec::new();
    let mut tasks = Vec::new();
    for p in 0..DOMAINS.len() {
        let mut c = users[ix(p, 1)].take_client().context("laptop")?;
        let room = room.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for k in 0..3 {
                let token = format!("<burst-{p}-{k}>");
                c.send_text(&room, &token).await?;
                sent.push(token);
            }
            anyhow::Ok((c, sent))
        }));
        concurrent.extend((0..3).map(|k| format!("<burst-{p}-{k}>")));
    }
    for (p, t) in tasks.into_iter().enumerate() {
        let (c, _) = t.await??;
        users[ix(p, 1)].add_device(c);
    }
    // Key updates from several providers (the committers catch up first; lost races recover).
    for &(p, u) in &[(1, 0), (3, 1), (0, 2)] {
        let r = users[ix(p, u)].client_mut(1).context("laptop")?.key_update(&room).await?;
        epoch = epoch.max(r.epoch + 1);
        commits += 1;
    }
    settle(&mut users, &states, &room, epoch).await?;

    // Removal: c/u0 (at a follower) removes b/u1 (at another follower).
    let removed = ix(1, 1);
    let r = users[ix(2, 0)].remove(&room, &uris[removed]).await?;
    epoch = epoch.max(r.epoch + 1);
    commits += 1;
    states[removed] = State::Removed;
    settle(&mut users, &states, &room, epoch).await?;
    let members = users[0].clients().next().context("a client")?.members(&room)?;
    assert_eq!(members.len(), (users.len() - 1) * DEVICES.len());

    // More messages from the second devices, then a final key update from e.
    for (i, user) in users.iter_mut().enumerate().filter(|(i, _)| *i != removed) {
        let token = format!("<seq2-{i}>");
        user.client_mut(1).context("device 1")?.send_text(&room, &token).await?;
        sequential.push(token);
    }
    let r = users[ix(4, 2)].client_mut(0).context("phone")?.key_update(&room).await?;
    epoch = epoch.max(r.epoch + 1);
    commits += 1;
    settle(&mut users, &states, &room, epoch).await?;
    let t_traffic = t0.elapsed();

    // Convergence of the 28 clients still in the room.
    let remaining: Vec<_> =
        users.iter().zip(&states).filter(|(_, s)| **s == State::In).flat_map(|(u, _)| u.clients()).collect();
    assert_eq!(remaining.len(), 28);
    check_converged_across_providers(&room, &remaining)?;
    assert_eq!(remaining[0].epoch(&room)?, epoch);
    assert_eq!(epoch, commits, "one epoch per acknowledged commit");
    // Every acknowledged message exactly once, sequential ones in acknowledgement order.
    for c in &remaining {
        let t = transcript_keys(c, &room)?;
        assert_eq!(t.len(), sequential.len() + concurrent.len(), "{}: transcript length", c.uri());
        let position = |token: &String| -> anyhow::Result<usize> {
            let hits: Vec<usize> =
                t.iter().enumerate().filter(|(_, (_, m))| contains(m, token)).map(|(i, _)| i).collect();
            anyhow::ensure!(hits.len() == 1, "{}: {token} delivered {} times", c.uri(), hits.len());
            Ok(hits[0])
        };
        let order = sequential.iter().map(position).collect::<anyhow::Result<Vec<_>>>()?;
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{}: sequential messages out of order", c.uri());
        for token in &concurrent {
            position(token)?;
        }
    }
    // The removed user's clients saw exactly the messages sent while they were in.
    let reference = transcript_keys(remaining[0], &room)?;
    for c in users[removed].clients() {
        let t = transcript_keys(c, &room)?;
        let sent_while_in = sequential.iter().filter(|s| s.starts_with("<seq1")).count() + concurrent.len();
        assert_eq!(t, reference[..sent_while_in], "{}: transcript before removal", c.uri());
    }
    // No mirror holds an entry twice (and the hub's log neither).
    for p in 0..DOMAINS.len() {
        let c = users[ix(p, 0)].clients().next().context("a client")?;
        check_no_duplicate_entries(&read_log(c, &room).await?)?;
    }

    println!(
        "federation_scale: {} providers x {} users x {} clients = {} clients; {} commits (epoch {}), {} messages; \
         setup {:?}, membership {:?}, traffic {:?}, total {:?}",
        DOMAINS.len(),
        USERS_PER_PROVIDER,
        DEVICES.len(),
        users.len() * DEVICES.len(),
        commits,
        epoch,
        sequential.len() + concurrent.len(),
        t_setup,
        t_members - t_setup,
        t_traffic - t_members,
        t0.elapsed()
    );
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}
