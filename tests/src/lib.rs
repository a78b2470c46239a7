//! Shared helpers of the cross-crate integration tests in `tests/`: each test starts a real
//! `mimi-ds` (in-process or as a child process) over HTTPS on loopback and drives it with the
//! clients of `mimi-client-sim`. The helpers here are the checks the tests share, and
//! [`child`] for providers run as child processes, [`peer`] for raw requests to the
//! server-to-server API.

pub mod child;
pub mod peer;

/// Sends the providers' `tracing` output to stderr when `MIMI_TEST_LOG` holds a filter (e.g.
/// `MIMI_TEST_LOG=mimi_ds=debug`); without it, tests log nothing. Child providers inherit the
/// variable. Safe to call more than once.
pub fn init_test_log() {
    if let Ok(filter) = std::env::var("MIMI_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
}

use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use mimi_client_sim::Client;
use mimi_protocol::client_api::RoomEntry;

/// The Prometheus text of `provider`'s metrics listener (plain HTTP, `GET /metrics`).
pub async fn scrape(provider: &mimi_client_sim::local::LocalProvider) -> anyhow::Result<String> {
    let addr = provider.metrics_addr().context("the provider has no metrics listener")?;
    // Plain HTTP: the client's TLS settings do not matter.
    let response = peer::anonymous_client(provider)?.get(format!("http://{addr}/metrics")).send().await?;
    ensure!(response.status() == 200, "GET /metrics: {}", response.status());
    Ok(response.text().await?)
}

/// The value of the series `series` (the name with its labels as rendered, e.g.
/// `name{label="v"}`, or the name alone) in Prometheus `text`, if present.
pub fn series(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Checks that `clients` agree on `room`: epoch, epoch authenticator, MLS members and
/// participant list are equal, every transcript is in strictly increasing log order, and each
/// transcript is the tail of the longest one from its first message on (a client that joined
/// later has the messages since it joined; same messages, same order, same senders).
pub fn check_converged(room: &str, clients: &[&Client]) -> anyhow::Result<()> {
    let first = clients.first().context("no clients")?;
    let epoch = first.epoch(room)?;
    let auth = first.epoch_authenticator(room)?;
    let members = first.members(room)?;
    let participants = first.participants(room)?;
    let reference = clients.iter().map(|c| c.transcript(room)).collect::<Result<Vec<_>, _>>()?;
    let reference = reference.iter().max_by_key(|t| t.len()).copied().unwrap_or(&[]);
    for c in clients {
        let who = c.uri();
        ensure!(c.epoch(room)? == epoch, "{who}: epoch {} != {epoch}", c.epoch(room)?);
        ensure!(c.epoch_authenticator(room)? == auth, "{who}: epoch authenticator differs");
        ensure!(c.members(room)? == members, "{who}: members {:?} != {members:?}", c.members(room)?);
        ensure!(c.participants(room)? == participants, "{who}: participant list differs");
        let t = c.transcript(room)?;
        ensure!(t.windows(2).all(|w| w[0].seq < w[1].seq), "{who}: transcript not in strictly increasing log order");
        if let Some(start) = t.first() {
            let Some(at) = reference.iter().position(|d| d.seq == start.seq) else {
                bail!("{who}: message at {} unknown to the others", start.seq);
            };
            ensure!(t == &reference[at..], "{who}: transcript differs from the others' from position {}", start.seq);
        }
    }
    Ok(())
}

/// The whole room log as `client` may read it (its own entries left out).
pub async fn read_log(client: &Client, room: &str) -> anyhow::Result<Vec<RoomEntry>> {
    Ok(client.session().read_whole_log(room).await?)
}

/// The first application message (its `PrivateMessage`) of `room`'s log, as `client` reads it.
pub async fn first_application_message(client: &Client, room: &str) -> anyhow::Result<openmls::prelude::MlsMessageIn> {
    read_log(client, room)
        .await?
        .into_iter()
        .find(|e| matches!(e.fanout.framing, mimi_protocol::notify::FanoutFraming::Application { .. }))
        .map(|e| e.fanout.message)
        .ok_or_else(|| anyhow::anyhow!("{room}: no application message in the log"))
}

/// Whether a log entry is a commit.
pub fn is_commit(entry: &RoomEntry) -> bool {
    matches!(entry.fanout.framing, mimi_protocol::notify::FanoutFraming::Commit { .. })
}

/// [`check_converged`] for clients of different providers (log positions are each provider's
/// own, so transcripts are compared by sender and content, in order): the client library's
/// cross-provider agreement check.
pub fn check_converged_across_providers(room: &str, clients: &[&Client]) -> anyhow::Result<()> {
    mimi_client_sim::checker::check_agreement_across_providers(room, clients).map_err(|e| anyhow::anyhow!("{e}"))
}

pub use mimi_client_sim::local::{federation_config, free_ports};

/// Alice, Bob and Cathy, one phone each, registered at the providers of `conns[0]`, `conns[1]` and
/// `conns[2]`, each with `key_packages` KeyPackages uploaded: the cast of the federation tests.
pub async fn alice_bob_cathy(
    conns: &[mimi_client_sim::Connection],
    key_packages: usize,
) -> anyhow::Result<(Client, Client, Client)> {
    ensure!(conns.len() >= 3, "three providers are needed, {} given", conns.len());
    let alice = Client::register(&conns[0], "alice", "phone").await?;
    let bob = Client::register(&conns[1], "bob", "phone").await?;
    let cathy = Client::register(&conns[2], "cathy", "phone").await?;
    for c in [&alice, &bob, &cathy] {
        c.upload_key_packages(key_packages).await?;
    }
    Ok((alice, bob, cathy))
}

/// [`Client::sync_until`] with an `anyhow` error.
pub async fn sync_until(
    client: &mut Client,
    room: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Client) -> bool,
) -> anyhow::Result<()> {
    Ok(client.sync_until(room, what, timeout, done).await?)
}

/// [`Client::await_welcome`] with an `anyhow` error.
pub async fn join_room(client: &mut Client, room: &str, timeout: Duration) -> anyhow::Result<()> {
    Ok(client.await_welcome(room, timeout).await?)
}

/// A transcript as (sending client, content) pairs, in order: what compares across providers.
pub fn transcript_keys(client: &Client, room: &str) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    Ok(client.transcript(room)?.iter().map(|d| (d.sender.as_str().to_owned(), d.content.clone())).collect())
}

/// Checks that no FanoutMessage appears twice in a log (a follower's mirror must take each in
/// once, however often the hub re-sent it) and that positions strictly increase.
pub fn check_no_duplicate_entries(log: &[RoomEntry]) -> anyhow::Result<()> {
    ensure!(log.windows(2).all(|w| w[0].seq < w[1].seq), "log positions not strictly increasing");
    for (i, e) in log.iter().enumerate() {
        if let Some(j) = log[i + 1..].iter().position(|o| o.fanout == e.fanout) {
            bail!("entry at {} appears again at {}", e.seq, log[i + 1 + j].seq);
        }
    }
    Ok(())
}

/// Whether `haystack` contains `needle` (a unique token inside a message's content).
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Waits (each client at most `timeout`) until every client of `users` is in `room` at `epoch`
/// and has `token` in its transcript (the last acknowledged message: everything before it is
/// then delivered too).
pub async fn settle(
    timeout: Duration,
    users: &mut [&mut mimi_client_sim::User],
    room: &str,
    epoch: u64,
    token: Option<&str>,
) -> anyhow::Result<()> {
    for user in users.iter_mut() {
        for c in user.clients_mut() {
            join_room(c, room, timeout).await?;
            let what = format!("epoch {epoch} and {token:?}");
            sync_until(c, room, &what, timeout, |c| {
                c.epoch(room).is_ok_and(|e| e == epoch)
                    && token.is_none_or(|t| c.transcript(room).is_ok_and(|d| d.iter().any(|d| contains(&d.content, t))))
            })
            .await?;
        }
    }
    Ok(())
}
