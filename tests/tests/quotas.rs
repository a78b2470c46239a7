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

use std::time::Duration;

use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_client_sim::{Client, ClientError, LocalProvider};
use mimi_ds::store::redb::RedbStore;
use mimi_ds::store::Store as _;
use mimi_tests::peer::anonymous_client;
use mimi_tests::sync_until;

const STEP: Duration = Duration::from_secs(15);

/// The value of the series `series` at `provider`'s `/metrics` (0 if absent).
async fn metric(provider: &LocalProvider, series: &str) -> anyhow::Result<u64> {
    let http = anonymous_client(provider)?;
    let url = provider.config().public_url(provider.addr().port())?.join("metrics")?;
    let text = http.get(url).send().await?.text().await?;
    let value = text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')));
    Ok(value.map(|v| v.trim().parse()).transpose()?.unwrap_or(0))
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
