//! The provider's quotas that need whole clients (franked messages, federation): in-process
//! providers with real redb files and mutual TLS, `mimi_client_sim` clients talking to their own
//! provider, small caps set in the providers' configuration. Each refusal is answered as
//! documented (docs/DESIGN.md §7, "Quotas"), counted in `mimi_quota_refused_total`, and changes
//! nothing, and an honest request afterwards still goes through.
//!
//! - Abuse reports: a reporting user keeps at most `max_abuse_reports_per_reporter` reports about
//!   one room; the next is refused 429 and not kept (the hub's redb file holds exactly the kept
//!   ones), a byte-identical repeat of a kept one is still 201, another reporter is not held to
//!   the first one's count.
//! - `/notify`: a follower takes in a room's fanout only if it has a reader there. The room's
//!   hub (its certificate) sends it an entry of a room in which none of its clients is a member
//!   and which the body does not make one join: 403, counted, nothing taken in (the same body is
//!   refused again rather than taken for a duplicate, the mirror stays empty); once one of its
//!   clients is invited, the room's fanout is taken in and read.

use std::time::Duration;

use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_client_sim::{Client, ClientError, LocalProvider};
use mimi_ds::store::redb::RedbStore;
use mimi_ds::store::Store as _;
use mimi_ds::tls::PeerClient;
use mimi_protocol::directory::encode_path_segment;
use mimi_protocol::notify::FanoutMessage;
use mimi_tests::{read_log, sync_until};
use openmls::prelude::tls_codec::Serialize as _;

const STEP: Duration = Duration::from_secs(15);

/// The value of the series `series` at `provider`'s metrics listener (0 if absent).
async fn metric(provider: &LocalProvider, series: &str) -> anyhow::Result<u64> {
    let text = mimi_tests::scrape(provider).await?;
    Ok(mimi_tests::series(&text, series).unwrap_or(0.0) as u64)
}

/// The HTTP status of a refused call.
fn status_of(result: Result<(), ClientError>) -> anyhow::Result<u16> {
    match result {
        Err(ClientError::Http { status, .. }) => Ok(status),
        Ok(()) => anyhow::bail!("accepted"),
        Err(e) => Err(e.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abuse_reports_beyond_the_reporters_cap_are_refused_and_not_kept() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut configs = mimi_client_sim::local::federation_configs(dir.path(), &["a.example"])?;
    configs[0].quotas.abuse_reports_per_reporter = 2;
    let a = LocalProvider::start_with(configs.remove(0)).await?;
    let conn = a.connect()?;
    let mut alice = Client::register(&conn, "alice", "phone").await?;
    let mut bob = Client::register(&conn, "bob", "phone").await?;
    let mut carol = Client::register(&conn, "carol", "phone").await?;
    for c in [&alice, &bob, &carol] {
        c.upload_key_packages(2).await?;
    }
    let room = alice.create_franking_room("franked", &presets::cooperative(), GROUP_ADMIN).await?;
    for c in [&mut bob, &mut carol] {
        alice.invite_user(&room, &c.uri().user(), GROUP_ADMIN).await?;
        c.await_welcome(&room, STEP).await?;
    }
    alice.send_text(&room, "franked spam").await?;
    for c in [&mut bob, &mut carol] {
        sync_until(c, &room, "alice's message", STEP, |c| c.transcript(&room).is_ok_and(|t| t.len() == 1)).await?;
    }
    let seq = bob.transcript(&room)?[0].seq;
    let series = "mimi_quota_refused_total{quota=\"abuse_reports_per_reporter\"}";

    // Bob's two reports are kept; a repeat of the first is kept once and not counted.
    let first = bob.abuse_report(&room, seq, "spam").await?;
    bob.session().report_abuse(&room, &first).await?;
    bob.session().report_abuse(&room, &bob.abuse_report(&room, seq, "still spam").await?).await?;
    bob.session().report_abuse(&room, &first).await?;
    assert_eq!(metric(&a, series).await?, 0);
    // A third: 429, counted, not kept.
    let third = bob.abuse_report(&room, seq, "spam, again").await?;
    assert_eq!(status_of(bob.session().report_abuse(&room, &third).await)?, 429);
    assert_eq!(metric(&a, series).await?, 1);
    // Carol is not held to Bob's count.
    carol.session().report_abuse(&room, &carol.abuse_report(&room, seq, "spam").await?).await?;

    // The hub's redb file holds Bob's two and Carol's one.
    let store_path = a.config().store_path();
    a.stop().await?;
    let store = RedbStore::open(&store_path, 1)?;
    assert_eq!(store.abuse_reports(&room).await?.len(), 3);
    Ok(())
}

/// Sends `messages` to `to`'s `/notify` for `room` with `from`'s certificate: status and reason.
async fn notify(
    from: &LocalProvider,
    to: &str,
    room: &str,
    messages: &[FanoutMessage],
) -> anyhow::Result<(u16, String)> {
    let peer = PeerClient::new(from.config())?;
    let url = peer.base_url(to)?.join(&format!("v1/notify/{}", encode_path_segment(room)))?;
    let r = peer
        .http()
        .post(url)
        .header("from", format!("mimi@{}", from.domain()))
        .header("content-type", "application/octet-stream")
        .body(FanoutMessage::encode_body(messages)?)
        .send()
        .await?;
    Ok((r.status().as_u16(), r.text().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_for_a_room_without_readers_here_is_refused_and_takes_nothing_in() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let configs = mimi_client_sim::local::federation_configs(dir.path(), &["a.example", "b.example"])?;
    let a = LocalProvider::start_with(configs[0].clone()).await?;
    let b = LocalProvider::start_with(configs[1].clone()).await?;
    let mut alice = Client::register(&a.connect()?, "alice", "phone").await?;
    let mut dave = Client::register(&a.connect()?, "dave", "phone").await?;
    let mut carol = Client::register(&b.connect()?, "carol", "phone").await?;
    for c in [&dave, &carol] {
        c.upload_key_packages(2).await?;
    }
    // A room of a.example's users only; dave reads alice's message from the hub's log.
    let room = alice.create_room("local", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite_user(&room, &dave.uri().user(), GROUP_ADMIN).await?;
    dave.await_welcome(&room, STEP).await?;
    alice.send_text(&room, "for a.example only").await?;
    sync_until(&mut dave, &room, "alice's message", STEP, |c| c.transcript(&room).is_ok_and(|t| t.len() == 1)).await?;
    let entry = read_log(&dave, &room).await?.pop().ok_or_else(|| anyhow::anyhow!("no entry"))?;
    let series = "mimi_quota_refused_total{quota=\"notify_without_readers\"}";

    // The hub sends it to b, where nobody reads the room: 403, counted, nothing taken in. The
    // same body is refused again, not taken for a duplicate: the dedup table did not grow.
    for refusals in [1, 2] {
        let (status, reason) = notify(&a, "b.example", &room, std::slice::from_ref(&entry.fanout)).await?;
        assert_eq!(status, 403, "{reason}");
        assert!(reason.contains("has no readers here"), "{reason}");
        assert_eq!(metric(&b, series).await?, refusals);
    }

    // Carol is invited: the Welcome brings a reader, and the room's fanout is taken in.
    alice.invite_user(&room, &carol.uri().user(), GROUP_ADMIN).await?;
    carol.await_welcome(&room, STEP).await?;
    alice.send_text(&room, "now for b.example too").await?;
    sync_until(&mut carol, &room, "alice's message", STEP, |c| c.transcript(&room).is_ok_and(|t| t.len() == 1)).await?;
    assert_eq!(metric(&b, series).await?, 2);

    // b's mirror holds what the hub fanned out since carol's invitation, not the refused entry.
    let store_path = b.config().store_path();
    a.stop().await?;
    b.stop().await?;
    let store = RedbStore::open(&store_path, 1)?;
    let mirror = store.mirror_after(&room, 0, 100).await?;
    assert!(!mirror.is_empty());
    let refused = entry.fanout.message.tls_serialize_detached()?;
    assert!(mirror.iter().all(|e| e.message.as_slice() != refused), "the refused entry was not taken in");
    Ok(())
}

/// A peer's `groupInfo` requests are counted per minute by its certificate's domain, before the
/// request is decoded or the room looked up: beyond `group_info_per_peer` they are answered 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_info_requests_beyond_the_peers_limit_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut configs = mimi_client_sim::local::federation_configs(dir.path(), &["a.example", "b.example"])?;
    configs[0].group_info_limits.per_peer = 2;
    let a = LocalProvider::start_with(configs.remove(0)).await?;
    let b = LocalProvider::start_with(configs.remove(0)).await?;
    let peer = PeerClient::new(b.config())?;
    let url =
        peer.base_url("a.example")?.join(&format!("v1/groupInfo/{}", encode_path_segment("mimi://a.example/r/x")))?;
    let mut answers = Vec::new();
    for _ in 0..3 {
        let r = peer.http().post(url.clone()).header("from", "mimi@b.example").body(vec![0xff; 8]).send().await?;
        answers
            .push((r.status().as_u16(), r.headers().get("retry-after").map(|v| v.to_str().unwrap_or("").to_owned())));
    }
    assert_eq!(answers[2], (429, Some("60".to_owned())), "{answers:?}");
    assert!(answers[..2].iter().all(|(s, _)| *s != 429), "{answers:?}");
    assert_eq!(metric(&a, "hub_group_info_rate_limited_total").await?, 1);
    b.stop().await?;
    a.stop().await?;
    Ok(())
}
