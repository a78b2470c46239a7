//! Franking, abuse reports and identifier queries across three federated providers:
//! separate in-process servers on loopback with real mutual TLS, `mimi_client_sim`
//! clients talking only to their own provider, real redb files.
//!
//! - A room with a franking agent (the hub a.example): Cathy@c's message is franked by the hub;
//!   Alice (at the hub) and Bob (at the follower b) both read it with the same frank and
//!   acceptance time, and the frank verifies under the room's `franking_agent` key for Cathy's
//!   user, the room and that time.
//! - Bob reports it through b, which relays to the hub: 201, kept (once, even when sent twice).
//!   Reports with tampered content, a tampered frank (MAC or signature), a tampered timestamp or
//!   another alleged abuser are refused with 422; a provider reporting for a user of another
//!   provider gets 403. None of them is kept: after the hub stops, its redb file holds exactly
//!   the one good report.
//! - A room without a franking agent: messages carry no frank, and a report borrowing a frank of
//!   the franking room is refused.
//! - `identifierQuery`: Alice asks her provider about users of b.example (sent straight to b,
//!   not through any hub): Bob's handle and nick find him; an unknown nick is `notFound`, an
//!   e-mail search `unsupportedField`; a peer asking b about a.example's users gets 404.

use std::time::Duration;

use anyhow::Context as _;
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_client_sim::{Client, ClientError, Connection, LocalProvider};
use mimi_ds::store::redb::RedbStore;
use mimi_ds::store::Store as _;
use mimi_ds::tls::PeerClient;
use mimi_protocol::abuse::AbuseReport;
use mimi_protocol::directory::encode_path_segment;
use mimi_protocol::franking::{FrankingAgentData, ServerFrankingContext};
use mimi_protocol::identifier::{IdentifierQueryCode, IdentifierRequest, QueryElement, SearchField};
use mimi_protocol::notify::FanoutFraming;
use mimi_protocol::{Body, IdentifierUri};
use mimi_tests::{read_log, sync_until};

const DOMAINS: [&str; 3] = ["a.example", "b.example", "c.example"];
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

fn transcript_len(room: &str, n: usize) -> impl Fn(&Client) -> bool + '_ {
    move |c| c.transcript(room).is_ok_and(|t| t.len() == n)
}

/// The frank and acceptance time of the application message at `seq` in `client`'s log.
async fn frank_at(
    client: &Client,
    room: &str,
    seq: u64,
) -> anyhow::Result<(Option<mimi_protocol::franking::Frank>, u64)> {
    let entry = read_log(client, room).await?.into_iter().find(|e| e.seq == seq).context("entry")?;
    match entry.fanout.framing {
        FanoutFraming::Application { frank } => Ok((frank, entry.fanout.timestamp)),
        other => anyhow::bail!("entry {seq} is not an application message: {other:?}"),
    }
}

/// The HTTP status a refused report got (a kept one is an error here).
fn refused_with(result: Result<(), ClientError>) -> anyhow::Result<u16> {
    match result {
        Err(ClientError::Http { status, .. }) => Ok(status),
        Ok(()) => anyhow::bail!("a tampered report was kept"),
        Err(e) => Err(e.into()),
    }
}

fn query(elements: &[(SearchField, &str)]) -> IdentifierRequest {
    IdentifierRequest {
        query_elements: elements
            .iter()
            .map(|(search, value)| QueryElement { search: search.clone(), search_value: (*value).into() })
            .collect(),
        id_request_extensions: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn franked_messages_reports_and_identifier_queries_across_providers() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let providers = LocalProvider::start_federation(dir.path(), &DOMAINS).await?;
    let conns: Vec<Connection> = providers.iter().map(|p| p.connect()).collect::<Result<_, _>>()?;
    let (mut alice, mut bob, mut cathy) = mimi_tests::alice_bob_cathy(&conns, 4).await?;

    // A franking room at a.example with Bob@b and Cathy@c.
    let room = alice.create_franking_room("franked", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite_user(&room, &bob.uri().user(), GROUP_ADMIN).await?;
    bob.await_welcome(&room, STEP_TIMEOUT).await?;
    alice.invite_user(&room, &cathy.uri().user(), GROUP_ADMIN).await?;
    cathy.await_welcome(&room, STEP_TIMEOUT).await?;

    // Cathy's message is franked by the hub; the same frank reaches Alice at the hub and Bob at b.
    cathy.send_text(&room, "franked-hello from c").await?;
    for c in [&mut alice, &mut bob] {
        sync_until(c, &room, "Cathy's message", STEP_TIMEOUT, transcript_len(&room, 1)).await?;
    }
    let alice_seq = alice.transcript(&room)?[0].seq;
    let bob_seq = bob.transcript(&room)?[0].seq;
    let (alice_frank, alice_time) = frank_at(&alice, &room, alice_seq).await?;
    let (bob_frank, bob_time) = frank_at(&bob, &room, bob_seq).await?;
    let frank = alice_frank.context("the hub franked Cathy's message")?;
    assert_eq!(bob_frank.as_ref(), Some(&frank), "the follower passes the hub's frank on");
    assert_eq!(bob_time, alice_time, "with the hub's acceptance time");
    // It verifies under the room's franking agent for Cathy's user, the room and that time.
    let hub_key = conns[0].hub_key().await?;
    let agent = FrankingAgentData { franking_signature_key: hub_key.signature_key, credential: hub_key.credential };
    let context = |sender: &str, time: u64| ServerFrankingContext {
        sender_uri: IdentifierUri::new(sender),
        room_uri: IdentifierUri::new(&room),
        accepted_timestamp: time,
    };
    let crypto = openmls_rust_crypto::RustCrypto::default();
    let cathy_user = cathy.uri().user().as_str().to_owned();
    frank.verify(&crypto, &agent.franking_signature_key, context(&cathy_user, alice_time))?;
    assert!(frank.verify(&crypto, &agent.franking_signature_key, context(&cathy_user, alice_time + 1)).is_err());

    // Bob reports it through b (relayed to the hub): kept. Sent twice, kept once.
    let report = bob.abuse_report(&room, bob_seq, "spam").await?;
    bob.session().report_abuse(&room, &report).await?;
    bob.session().report_abuse(&room, &report).await?;
    // Alice reports it directly at the hub: kept too (a second, different report).
    let alices = alice.abuse_report(&room, alice_seq, "also spam").await?;
    alice.session().report_abuse(&room, &alices).await?;

    // Tampered reports: 422, nothing kept.
    let tampered = |change: &dyn Fn(&mut AbuseReport)| {
        let mut r = report.clone();
        change(&mut r);
        r
    };
    let text_changed = tampered(&|r| {
        let mut content = r.messages[0].message_content.as_slice().to_vec();
        let at = content.windows(6).position(|w| w == b"franke").expect("the text is in the content");
        content[at] = b'F';
        r.messages[0].message_content = content.into();
    });
    let mac_changed = tampered(&|r| r.messages[0].frank.server_frank[0] ^= 1);
    let signature_changed = tampered(&|r| {
        let mut sig = r.messages[0].frank.franking_integrity_signature.as_slice().to_vec();
        sig[0] ^= 1;
        r.messages[0].frank.franking_integrity_signature = sig.into();
    });
    let time_changed = tampered(&|r| r.messages[0].accepted_timestamp += 1);
    let other_abuser = tampered(&|r| r.alleged_abuser_uri = IdentifierUri::new(alice.uri().user().as_str()));
    let no_messages = tampered(&|r| r.messages.clear());
    for (what, bad) in [
        ("content", &text_changed),
        ("server_frank", &mac_changed),
        ("signature", &signature_changed),
        ("timestamp", &time_changed),
        ("alleged abuser", &other_abuser),
        ("no messages", &no_messages),
    ] {
        assert_eq!(refused_with(bob.session().report_abuse(&room, bad).await)?, 422, "tampered {what}");
    }
    // A report naming another user as reporter: 403 from b's client API …
    let not_mine = tampered(&|r| r.reporting_user = IdentifierUri::new(&cathy_user));
    assert_eq!(refused_with(bob.session().report_abuse(&room, &not_mine).await)?, 403);
    // … and from the hub when c.example's provider files a report for b's user.
    let c_peer = PeerClient::new(providers[2].config())?;
    let url = c_peer.base_url("a.example")?.join(&format!("v1/reportAbuse/{}", encode_path_segment(&room)))?;
    let answer = c_peer.http().post(url).header("From", "mimi@c.example").body(report.encode()?).send().await?;
    assert_eq!(answer.status(), 403, "a provider reporting for another provider's user");

    // A room without franking agent: no frank; a borrowed frank does not verify there.
    let plain = alice.create_room("plain", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite_user(&plain, &bob.uri().user(), GROUP_ADMIN).await?;
    bob.await_welcome(&plain, STEP_TIMEOUT).await?;
    bob.send_text(&plain, "unfranked from b").await?;
    sync_until(&mut alice, &plain, "Bob's message", STEP_TIMEOUT, transcript_len(&plain, 1)).await?;
    let plain_seq = alice.transcript(&plain)?[0].seq;
    assert_eq!(frank_at(&alice, &plain, plain_seq).await?.0, None, "no franking agent, no frank");
    assert!(alice.abuse_report(&plain, plain_seq, "x").await.is_err(), "nothing to report with");
    let borrowed = tampered(&|r| {
        r.messages[0].message_content = alice.transcript(&plain).expect("plain")[0].content.clone().into();
        r.alleged_abuser_uri = IdentifierUri::new(bob.uri().user().as_str());
        r.reporting_user = IdentifierUri::new(alice.uri().user().as_str());
    });
    assert_eq!(refused_with(alice.session().report_abuse(&plain, &borrowed).await)?, 422);

    // identifierQuery: Alice asks a.example about b.example's users (sent straight to b).
    let session = alice.session();
    let found = session.identifier_query("b.example", &query(&[(SearchField::Handle, "im:bob@b.example")])).await?;
    assert_eq!(found.response_code, IdentifierQueryCode::Success);
    assert_eq!(found.uri.iter().map(|u| u.as_str()).collect::<Vec<_>>(), ["mimi://b.example/u/bob"]);
    assert_eq!(found.found_profiles[0].stable_uri.as_str(), "mimi://b.example/u/bob");
    let both = query(&[(SearchField::Nick, "bob"), (SearchField::Handle, "mimi://b.example/u/bob")]);
    assert_eq!(session.identifier_query("b.example", &both).await?.response_code, IdentifierQueryCode::Success);
    let nobody = session.identifier_query("b.example", &query(&[(SearchField::Nick, "nobody")])).await?;
    assert_eq!((nobody.response_code, nobody.uri.len()), (IdentifierQueryCode::NotFound, 0));
    let email = session.identifier_query("b.example", &query(&[(SearchField::Email, "bob@b.example")])).await?;
    assert_eq!(email.response_code, IdentifierQueryCode::UnsupportedField);
    let own = session.identifier_query("a.example", &query(&[(SearchField::Nick, "alice")])).await?;
    assert_eq!(own.uri.iter().map(|u| u.as_str()).collect::<Vec<_>>(), ["mimi://a.example/u/alice"]);
    // A provider asked about a domain it does not serve: 404.
    let url = c_peer.base_url("b.example")?.join("v1/identifierQuery/a.example")?;
    let body = query(&[(SearchField::Nick, "alice")]).encode()?;
    let answer = c_peer.http().post(url).header("From", "mimi@c.example").body(body).send().await?;
    assert_eq!(answer.status(), 404);

    // Stop everything; the hub's redb file holds exactly the two good reports.
    let store_path = providers[0].config().store_path();
    for p in providers {
        p.stop().await?;
    }
    let store = RedbStore::open(&store_path, 1)?;
    let kept = store.abuse_reports(&room).await?;
    assert_eq!(kept.len(), 2, "Bob's report (once) and Alice's");
    let mut reporters: Vec<&str> = kept.iter().map(|r| r.reporter.as_str()).collect();
    reporters.sort();
    assert_eq!(reporters, ["client mimi://a.example/d/alice/phone", "provider b.example"]);
    assert!(kept.iter().any(|r| r.report == report.encode().expect("encodes")));
    assert!(store.abuse_reports(&plain).await?.is_empty());
    Ok(())
}
