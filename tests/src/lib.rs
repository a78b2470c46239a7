//! Shared helpers of the cross-crate integration tests in `tests/`: each test starts a real
//! `mimi-ds` (in-process or as a child process) over HTTPS on loopback and drives it with the
//! clients of `mimi-client-sim`. The helpers here are the checks the tests share.

use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use mimi_client_sim::Client;
use mimi_ds::wire::client_api::RoomEntry;

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
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = client.session().read_log(room, after, Duration::ZERO).await?;
        if page.next_after == after {
            return Ok(out);
        }
        after = page.next_after;
        out.extend(page.entries);
    }
}

/// Whether a log entry is a commit.
pub fn is_commit(entry: &RoomEntry) -> bool {
    matches!(entry.fanout.framing, mimi_ds::wire::notify::FanoutFraming::Commit { .. })
}

/// [`check_converged`] for clients of different providers: log positions are each provider's
/// own (a follower numbers its mirror of the hub's log locally), so transcripts are compared
/// by sender and content, in order: each is the tail of the longest one.
pub fn check_converged_across_providers(room: &str, clients: &[&Client]) -> anyhow::Result<()> {
    let first = clients.first().context("no clients")?;
    let key = |c: &Client| -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        Ok(c.transcript(room)?.iter().map(|d| (d.sender.as_str().to_owned(), d.content.clone())).collect())
    };
    let transcripts = clients.iter().map(|c| key(c)).collect::<anyhow::Result<Vec<_>>>()?;
    let longest = transcripts.iter().max_by_key(|t| t.len()).cloned().unwrap_or_default();
    for (c, t) in clients.iter().zip(&transcripts) {
        let who = c.uri();
        ensure!(c.epoch(room)? == first.epoch(room)?, "{who}: epoch differs");
        ensure!(c.epoch_authenticator(room)? == first.epoch_authenticator(room)?, "{who}: epoch authenticator differs");
        ensure!(c.members(room)? == first.members(room)?, "{who}: members differ");
        ensure!(c.participants(room)? == first.participants(room)?, "{who}: participant list differs");
        ensure!(t.as_slice() == &longest[longest.len() - t.len()..], "{who}: transcript differs from the others'");
        let own = c.transcript(room)?;
        ensure!(own.windows(2).all(|w| w[0].seq < w[1].seq), "{who}: transcript not in increasing log order");
    }
    Ok(())
}

/// Free loopback ports (bound and released together, so that several federated providers'
/// configurations can name each other's ports before any of them starts).
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners =
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>().context("binding")?;
    Ok(listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<Result<_, _>>()?)
}

/// The configuration of provider `i` of a federation of `domains` on loopback `ports`: its data
/// under `<dir>/<domain>`, certificates from the shared development CA under `pki` (written by
/// `mimi_ds::pki::generate` for all domains), and `[peers]` naming every other provider. The
/// same call gives the same configuration, so a provider stopped (or killed) can be started
/// again on the same data directory and port.
pub fn federation_config(
    dir: &std::path::Path,
    pki: &std::path::Path,
    domains: &[&str],
    ports: &[u16],
    i: usize,
) -> anyhow::Result<mimi_ds::config::Config> {
    let domain = domains[i];
    let peers = domains
        .iter()
        .zip(ports)
        .filter(|(d, _)| **d != domain)
        .map(|(d, p)| Ok(((*d).to_owned(), url::Url::parse(&format!("https://127.0.0.1:{p}"))?)))
        .collect::<anyhow::Result<_>>()?;
    Ok(mimi_ds::config::Config {
        domain: domain.to_owned(),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], ports[i])),
        data_dir: dir.join(domain),
        tls: mimi_ds::config::TlsPaths::dev_pki(pki, domain),
        peers,
        ..mimi_ds::config::Config::default()
    })
}

/// Syncs `client` with `room` (long polls of up to 500 ms) until `done` holds (checked first) or
/// `timeout` passes; a client not (yet) in the room only re-checks. The fanout from a hub to its followers is
/// asynchronous, so a follower's client learns of an entry some time after the hub accepted it.
pub async fn sync_until(
    client: &mut Client,
    room: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Client) -> bool,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    while !done(client) {
        if std::time::Instant::now() > deadline {
            bail!("{}: timed out waiting for {what}", client.uri());
        }
        if client.is_member(room) {
            client.sync(room, Duration::from_millis(500)).await?;
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

/// Waits (up to `timeout`) for a Welcome into `room` and joins.
pub async fn join_room(client: &mut Client, room: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    while !client.is_member(room) {
        client.accept_welcomes(Duration::from_millis(500)).await?;
        ensure!(std::time::Instant::now() < deadline, "{}: no Welcome into {room}", client.uri());
    }
    Ok(())
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
