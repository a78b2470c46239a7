//! A peer provider acts only for its own domain, and claim limits cannot be used to lock a user
//! out: attacks sent as raw requests through the real mutually authenticated peer API of three
//! in-process providers (a.example, b.example, c.example; real redb files), each asserting the
//! refusal and that nothing changed, plus the legitimate flows next to them.
//!
//! - Key material: a peer naming a room under its own authority and a `requestingUser` of the
//!   target's own domain (the consent bypass) is refused and claims nothing, however often it
//!   tries; so is a room of a third hub, a follower relaying for another domain's user, and a
//!   room of the hub that does not exist. Without the consent the target's provider requires, a
//!   claim is refused whatever room it names; with it, the hub relays a follower's user's claim.
//! - `submitMessage` with a `sendingUri` of another domain, `reportAbuse` with a `reportingUser` of
//!   another domain, consent entries whose peer-side party is of another domain, and `groupInfo`
//!   for another domain's client are refused, and the room log, the stored reports and the consent
//!   table are unchanged.
//! - Claim limits: a third party hammering claims for a user, even cycling its `requestingUser`
//!   names, gets 429 while other requesters still get the user's KeyPackages.
//!
//! What is left of a user's KeyPackages is counted by claiming them all as a local user of the
//! target's provider: every refused claim must have left them untouched.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_appsync::uri::{ClientUri, UserUri};
use mimi_client_sim::{Client, ClientError, LocalProvider};
use mimi_ds::config::{ClaimLimits, Config, ConsentPolicy};
use mimi_ds::store::redb::RedbStore;
use mimi_ds::store::Store as _;
use mimi_ds::tls::PeerClient;
use mimi_protocol::consent::Consent;
use mimi_protocol::directory::encode_path_segment;
use mimi_protocol::key_material::{
    KeyMaterialRequest, KeyMaterialRequestTBS, KeyMaterialResponse, KeyMaterialUserCode,
};
use mimi_protocol::notify::FanoutFraming;
use mimi_protocol::submit::SubmitMessageRequest;
use mimi_protocol::{Body, IdentifierUri, Protocol, DEFAULT_MAX_BODY_LEN};
use mimi_testkit::TestClient;
use mimi_tests::peer::{anonymous_client, consent_entry, post};
use mimi_tests::{read_log, sync_until};

const DOMAINS: [&str; 3] = ["a.example", "b.example", "c.example"];
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// Starts the three providers, each configuration changed by `adjust` first.
async fn federation(dir: &std::path::Path, adjust: impl FnOnce(&mut [Config])) -> anyhow::Result<Vec<LocalProvider>> {
    let mut configs = mimi_client_sim::local::federation_configs(dir, &DOMAINS)?;
    adjust(&mut configs);
    let mut providers = Vec::new();
    for config in configs {
        providers.push(LocalProvider::start_with(config).await?);
    }
    Ok(providers)
}

/// Registers `user`'s device `phone` at `provider` with `key_packages` KeyPackages.
async fn user(provider: &LocalProvider, user: &str, key_packages: usize) -> anyhow::Result<Client> {
    let client = Client::register(&provider.connect()?, user, "phone").await?;
    if key_packages > 0 {
        client.upload_key_packages(key_packages).await?;
    }
    Ok(client)
}

/// A `KeyMaterialRequest` for `target` in `room`, signed by a fresh key of `signer` (a client
/// URI) carried in the request, naming `signer`'s user as `requestingUser`: a request whose
/// signature verifies, so that only the rules about who may ask for whom can refuse it.
fn forged_claim(signer: &str, target: &str, room: &str) -> anyhow::Result<Vec<u8>> {
    let signer = TestClient::from_uri(ClientUri::parse(signer)?)?;
    let tbs = KeyMaterialRequestTBS {
        protocol: Protocol::Mls10,
        requesting_user: IdentifierUri::new(signer.uri.user().as_str()),
        target_user: IdentifierUri::new(target),
        room_id: IdentifierUri::new(room),
        acceptable_ciphersuites: vec![mimi_client::CIPHERSUITE.into()],
        required_capabilities: mimi_appsync::group::required_capabilities(),
        requester_signature_key: signer.credential.signature_key.clone(),
        requester_credential: signer.credential.credential.clone(),
    };
    Ok(KeyMaterialRequest::sign(tbs, &signer.signer)?.encode()?)
}

/// Sends a claim for `target` as provider `from` (its certificate) to provider `to`: status and
/// body.
async fn peer_claim(
    from: &LocalProvider,
    to: &str,
    target: &str,
    request: Vec<u8>,
) -> anyhow::Result<(u16, Vec<u8>, Option<String>)> {
    let peer = PeerClient::new(from.config())?;
    let url = peer.base_url(to)?.join(&format!("v1/keyMaterial/{}", encode_path_segment(target)))?;
    let r = peer
        .http()
        .post(url)
        .header("from", format!("mimi@{}", from.domain()))
        .header("content-type", "application/octet-stream")
        .body(request)
        .send()
        .await?;
    let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    Ok((r.status().as_u16(), r.bytes().await?.to_vec(), retry_after))
}

/// How many KeyPackages a 200 answer served.
fn served(body: &[u8]) -> anyhow::Result<(KeyMaterialUserCode, usize)> {
    let response = KeyMaterialResponse::decode(body, DEFAULT_MAX_BODY_LEN)?;
    let n = response
        .clients
        .iter()
        .filter(|c| matches!(c.status, mimi_protocol::key_material::ClientKeyMaterialStatus::Success { .. }))
        .count();
    Ok((response.user_status, n))
}

/// Claims `target`'s KeyPackages as `counter` (a local user of the target's provider, who needs
/// no consent) until none is left; returns how many there were.
async fn remaining_key_packages(counter: &Client, target: &UserUri) -> anyhow::Result<usize> {
    let room = format!("mimi://{}/r/counting", counter.uri().domain());
    let mut n = 0;
    loop {
        match counter.claim_key_packages(&room, target).await {
            Ok(claimed) => n += claimed.len(),
            Err(ClientError::Refused { .. }) => return Ok(n),
            Err(e) => return Err(e.into()),
        }
        anyhow::ensure!(n < 100, "{target} has no end of KeyPackages");
    }
}

/// Body text of an answer, for assertions on refusals.
fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_claiming_for_the_targets_own_domain_under_its_own_room_is_refused_and_claims_nothing(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let providers = federation(dir.path(), |c| c[2].consent = ConsentPolicy::Required).await?;
    let cathy = user(&providers[2], "cathy", 2).await?;
    let dave = user(&providers[2], "dave", 0).await?;
    let cathy_user = cathy.uri().user();

    // The attack: b names a room under its own authority (no such room exists) and a
    // requestingUser of c.example, the target's own domain, which used to skip c's consent
    // check; signed with a key carried in the request. Repeated, it would drain Cathy.
    let own_room = "mimi://b.example/r/anything";
    for signer in [
        "mimi://c.example/d/mallory/x",
        cathy.uri().as_str(),
        // Domains are compared without regard to case where it decides what is refused.
        "mimi://C.EXAMPLE/d/mallory/x",
    ] {
        for _ in 0..12 {
            let request = forged_claim(signer, cathy_user.as_str(), own_room)?;
            let (status, body, _) = peer_claim(&providers[1], "c.example", cathy_user.as_str(), request).await?;
            assert_eq!(status, 403, "{signer}: {}", text(&body));
            assert!(text(&body).contains("may not claim for a user of c.example"), "{}", text(&body));
        }
    }
    // A room of a third authority (a.example's), with a requester of c or of b: refused too.
    for signer in ["mimi://c.example/d/mallory/x", "mimi://b.example/d/bob/x"] {
        let request = forged_claim(signer, cathy_user.as_str(), "mimi://a.example/r/elsewhere")?;
        let (status, body, _) = peer_claim(&providers[1], "c.example", cathy_user.as_str(), request).await?;
        assert_eq!(status, 403, "{signer}: {}", text(&body));
    }
    // Nothing was claimed: both of Cathy's KeyPackages are still there for a legitimate claim.
    assert_eq!(remaining_key_packages(&dave, &cathy_user).await?, 2);
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_without_the_required_consent_is_refused_whatever_room_it_names() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let providers = federation(dir.path(), |c| c[2].consent = ConsentPolicy::Required).await?;
    let mut alice = user(&providers[0], "alice", 2).await?;
    let mut bob = user(&providers[1], "bob", 2).await?;
    let cathy = user(&providers[2], "cathy", 2).await?;
    let dave = user(&providers[2], "dave", 0).await?;
    let (bob_user, cathy_user) = (bob.uri().user(), cathy.uri().user());
    let room = alice.create_room("consent", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite_user(&room, &bob_user, GROUP_ADMIN).await?;
    bob.await_welcome(&room, STEP_TIMEOUT).await?;

    // Bob@b claims Cathy through the hub a (b → a → c): c requires consent, Bob has none.
    match bob.claim_key_packages(&room, &cathy_user).await {
        Err(ClientError::Refused { outcome, .. }) => assert_eq!(outcome, "NoConsent"),
        other => anyhow::bail!("a claim without consent must get noConsent, got {other:?}"),
    }
    // b, as the hub of a room of its own, claims Cathy for Bob: the same answer.
    let request = forged_claim(bob.uri().as_str(), cathy_user.as_str(), "mimi://b.example/r/own")?;
    let (status, body, _) = peer_claim(&providers[1], "c.example", cathy_user.as_str(), request).await?;
    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(served(&body)?, (KeyMaterialUserCode::NoConsent, 0));

    // Cathy grants Bob consent for the room (c's client API, a settings device of hers).
    let anonymous = anonymous_client(&providers[2])?;
    let c_client = url::Url::parse(&format!("https://c.example:{}/", providers[2].addr().port()))?;
    let r = anonymous
        .post(c_client.join("client/v1/register")?)
        .header("content-type", "application/json")
        .body(r#"{"user": "cathy", "device": "settings"}"#)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 201, "register: {}", r.status());
    let registered: serde_json::Value = serde_json::from_slice(&r.bytes().await?)?;
    let token = registered["token"].as_str().context("a token")?.to_owned();
    let grant = consent_entry(
        Consent::Grant { client_key_packages: Vec::new() },
        bob_user.as_str(),
        cathy_user.as_str(),
        &room,
    )?;
    let r = anonymous
        .post(c_client.join("client/v1/consent")?)
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .body(grant)
        .send()
        .await?;
    assert_eq!(r.status(), 201);

    // A consent for the room opens no other room: b's own room is still refused.
    let request = forged_claim(bob.uri().as_str(), cathy_user.as_str(), "mimi://b.example/r/own")?;
    let (_, body, _) = peer_claim(&providers[1], "c.example", cathy_user.as_str(), request).await?;
    assert_eq!(served(&body)?, (KeyMaterialUserCode::NoConsent, 0));
    // The legitimate flow: the hub a relays its follower b's user's claim for c's user.
    assert_eq!(bob.claim_key_packages(&room, &cathy_user).await?.len(), 1);
    // The refused claims took nothing: one of Cathy's two KeyPackages is left.
    assert_eq!(remaining_key_packages(&dave, &cathy_user).await?, 1);
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_relaying_a_claim_for_another_domains_user_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let providers = federation(dir.path(), |_| {}).await?;
    let mut alice = user(&providers[0], "alice", 2).await?;
    let erin = user(&providers[0], "erin", 0).await?;
    let cathy = user(&providers[2], "cathy", 2).await?;
    let dave = user(&providers[2], "dave", 0).await?;
    let (alice_user, cathy_user) = (alice.uri().user(), cathy.uri().user());
    let room = alice.create_room("relay", &presets::cooperative(), GROUP_ADMIN).await?;

    // b asks the hub a, as a follower, for claims in a's room it may not relay: for a user of
    // c.example (to c's Cathy and to a's Alice), for a user of a.example (the hub's own).
    for (signer, target) in [
        ("mimi://c.example/d/mallory/x", cathy_user.as_str()),
        ("mimi://c.example/d/mallory/x", alice_user.as_str()),
        ("mimi://a.example/d/mallory/x", alice_user.as_str()),
        ("mimi://a.example/d/mallory/x", cathy_user.as_str()),
    ] {
        let request = forged_claim(signer, target, &room)?;
        let (status, body, _) = peer_claim(&providers[1], "a.example", target, request).await?;
        assert_eq!(status, 403, "{signer} for {target}: {}", text(&body));
    }
    // A room of a that does not exist: 404, for b's own user too.
    let request = forged_claim("mimi://b.example/d/bob/x", alice_user.as_str(), "mimi://a.example/r/none")?;
    let (status, body, _) = peer_claim(&providers[1], "a.example", alice_user.as_str(), request).await?;
    assert_eq!(status, 404, "{}", text(&body));
    // Nothing was claimed at a or, through it, at c.
    assert_eq!(remaining_key_packages(&erin, &alice_user).await?, 2);
    assert_eq!(remaining_key_packages(&dave, &cathy_user).await?, 2);
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_with_a_sending_uri_of_another_domain_is_refused_and_not_logged() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let providers = federation(dir.path(), |_| {}).await?;
    let mut alice = user(&providers[0], "alice", 2).await?;
    let mut bob = user(&providers[1], "bob", 2).await?;
    let cathy = user(&providers[2], "cathy", 2).await?;
    let room = alice.create_room("messages", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite_user(&room, &bob.uri().user(), GROUP_ADMIN).await?;
    bob.await_welcome(&room, STEP_TIMEOUT).await?;
    // Cathy is a member too: a hub checking only membership would take her sendingUri.
    alice.invite_user(&room, &cathy.uri().user(), GROUP_ADMIN).await?;
    sync_until(&mut bob, &room, "epoch 2", STEP_TIMEOUT, |c| c.epoch(&room).is_ok_and(|e| e == 2)).await?;
    // A real PrivateMessage of the room, Bob's, as the hub logged it.
    bob.send_text(&room, "from b").await?;
    let deadline = Instant::now() + STEP_TIMEOUT;
    let app_message = loop {
        let log = read_log(&alice, &room).await?;
        if let Some(e) = log.iter().find(|e| matches!(e.fanout.framing, FanoutFraming::Application { .. })) {
            break e.fanout.message.clone();
        }
        anyhow::ensure!(Instant::now() < deadline, "Bob's message never reached the hub's log");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (epoch, log_len) = (alice.epoch(&room)?, read_log(&alice, &room).await?.len());

    // b submits it in the name of a member of the hub's domain, and of one of c.example.
    let b_peer = PeerClient::new(providers[1].config())?;
    let a_base = b_peer.base_url("a.example")?;
    let path = format!("v1/submitMessage/{}", encode_path_segment(&room));
    for sender in [alice.uri().as_str(), cathy.uri().as_str(), "mimi://a.example/u/alice"] {
        let body = SubmitMessageRequest {
            protocol: Protocol::Mls10,
            app_message: app_message.clone(),
            sending_uri: IdentifierUri::new(sender),
        }
        .encode()?;
        let (status, answer) = post(b_peer.http(), &a_base, &path, "b.example", body).await?;
        assert_eq!(status, 403, "{sender}: {}", text(&answer));
        assert!(text(&answer).contains("sendingUri must be a client of b.example"), "{}", text(&answer));
    }
    // The room is unchanged.
    assert_eq!(alice.epoch(&room)?, epoch);
    assert_eq!(read_log(&alice, &room).await?.len(), log_len);
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abuse_report_with_a_reporting_user_of_another_domain_is_refused_and_not_kept() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let providers = federation(dir.path(), |_| {}).await?;
    let mut alice = user(&providers[0], "alice", 2).await?;
    let mut bob = user(&providers[1], "bob", 2).await?;
    let room = alice.create_franking_room("reports", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite_user(&room, &bob.uri().user(), GROUP_ADMIN).await?;
    bob.await_welcome(&room, STEP_TIMEOUT).await?;
    alice.send_text(&room, "franked from a").await?;
    sync_until(&mut bob, &room, "Alice's message", STEP_TIMEOUT, |c| c.transcript(&room).is_ok_and(|t| t.len() == 1))
        .await?;
    let seq = bob.transcript(&room)?[0].seq;
    // A valid report of Bob's (its frank verifies), filed by b for users of other domains.
    let report = bob.abuse_report(&room, seq, "spam").await?;
    let b_peer = PeerClient::new(providers[1].config())?;
    let a_base = b_peer.base_url("a.example")?;
    let path = format!("v1/reportAbuse/{}", encode_path_segment(&room));
    for reporter in ["mimi://a.example/u/alice", "mimi://c.example/u/cathy", "mimi://a.example/d/alice/phone"] {
        let mut forged = report.clone();
        forged.reporting_user = IdentifierUri::new(reporter);
        let (status, answer) = post(b_peer.http(), &a_base, &path, "b.example", forged.encode()?).await?;
        assert_eq!(status, 403, "{reporter}: {}", text(&answer));
        assert!(text(&answer).contains("reportingUser must be a user of b.example"), "{}", text(&answer));
    }
    // The same report as Bob's own is kept: only the reporter made the difference.
    let (status, answer) = post(b_peer.http(), &a_base, &path, "b.example", report.encode()?).await?;
    assert_eq!(status, 201, "{}", text(&answer));
    let store_path = providers[0].config().store_path();
    for p in providers {
        p.stop().await?;
    }
    let kept = RedbStore::open(&store_path, 1)?.abuse_reports(&room).await?;
    assert_eq!(kept.len(), 1, "only Bob's own report is kept");
    assert_eq!(kept[0].report, report.encode()?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consent_entries_naming_another_domains_party_are_refused_and_not_recorded() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let providers = federation(dir.path(), |_| {}).await?;
    let (alice, bob, cathy) = ("mimi://a.example/u/alice", "mimi://b.example/u/bob", "mimi://c.example/u/cathy");
    let room = "mimi://a.example/r/any";
    let b_peer = PeerClient::new(providers[1].config())?;

    // requestConsent to c for Cathy: b may ask for its own Bob, not for a's Alice nor for a
    // user of c itself.
    let c_base = b_peer.base_url("c.example")?;
    let ask = format!("v1/requestConsent/{}", encode_path_segment(cathy));
    for requester in [alice, "mimi://c.example/u/dave"] {
        let entry = consent_entry(Consent::Request, requester, cathy, room)?;
        let (status, answer) = post(b_peer.http(), &c_base, &ask, "b.example", entry).await?;
        assert_eq!(status, 403, "{requester}: {}", text(&answer));
        assert!(text(&answer).contains("requesterUri must be a user of b.example"), "{}", text(&answer));
    }
    let (status, _) =
        post(b_peer.http(), &c_base, &ask, "b.example", consent_entry(Consent::Request, bob, cathy, room)?).await?;
    assert_eq!(status, 201, "b asks for its own user");
    // updateConsent to a for Alice: b may not decide for c's Cathy (nor for a user of a).
    let a_base = b_peer.base_url("a.example")?;
    let tell = format!("v1/updateConsent/{}", encode_path_segment(alice));
    for target in [cathy, "mimi://a.example/u/erin"] {
        for decision in [Consent::Grant { client_key_packages: Vec::new() }, Consent::Revoke] {
            let entry = consent_entry(decision, alice, target, room)?;
            let (status, answer) = post(b_peer.http(), &a_base, &tell, "b.example", entry).await?;
            assert_eq!(status, 403, "{target}: {}", text(&answer));
            assert!(text(&answer).contains("targetUri must be a user of b.example"), "{}", text(&answer));
        }
    }
    // The consent tables hold only b's own request.
    let paths: Vec<_> = providers.iter().map(|p| p.config().store_path()).collect();
    for p in providers {
        p.stop().await?;
    }
    let a_store = RedbStore::open(&paths[0], 1)?;
    let c_store = RedbStore::open(&paths[2], 1)?;
    for scope in [Some(room), None] {
        assert_eq!(c_store.consent(alice, cathy, scope).await?, None);
        assert_eq!(c_store.consent("mimi://c.example/u/dave", cathy, scope).await?, None);
        assert_eq!(a_store.consent(alice, cathy, scope).await?, None);
        assert_eq!(a_store.consent(alice, "mimi://a.example/u/erin", scope).await?, None);
    }
    assert!(c_store.consent(bob, cathy, Some(room)).await?.is_some(), "b's own request is recorded");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_info_request_for_another_domains_client_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let providers = federation(dir.path(), |_| {}).await?;
    let mut alice = user(&providers[0], "alice", 2).await?;
    let room = alice.create_room("group-info", &presets::cooperative(), GROUP_ADMIN).await?;
    let b_peer = PeerClient::new(providers[1].config())?;
    let a_base = b_peer.base_url("a.example")?;
    let path = format!("v1/groupInfo/{}", encode_path_segment(&room));
    // b asks for the GroupInfo with the credential of a's Alice (a member) or of a c client.
    for named in [alice.uri().as_str(), "mimi://c.example/d/cathy/phone"] {
        let impostor = TestClient::from_uri(ClientUri::parse(named)?)?;
        let (request, _) = impostor.group_info_request(&impostor.signer)?;
        let (status, answer) = post(b_peer.http(), &a_base, &path, "b.example", request.encode()?).await?;
        assert_eq!(status, 403, "{named}: {}", text(&answer));
        assert!(text(&answer).contains("requestingCredential must be a client of b.example"), "{}", text(&answer));
    }
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_third_party_hammering_claims_for_a_user_does_not_lock_the_user_out() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let limits = ClaimLimits { per_pair: 3, per_requester: 5, per_peer_domain: 6, per_peer: 100 };
    let providers = federation(dir.path(), |c| c[2].claim_limits = limits).await?;
    let mut alice = user(&providers[0], "alice", 2).await?;
    let cathy = user(&providers[2], "cathy", 12).await?;
    let dave = user(&providers[2], "dave", 0).await?;
    let cathy_user = cathy.uri().user();
    let room = alice.create_room("invites", &presets::cooperative(), GROUP_ADMIN).await?;

    // b, as the hub of its own room, claims Cathy for its Mallory again and again: three are
    // served, then 429 with Retry-After.
    let hammer = |signer: String| {
        let target = cathy_user.as_str().to_owned();
        let b = &providers[1];
        async move {
            let request = forged_claim(&signer, &target, "mimi://b.example/r/den")?;
            peer_claim(b, "c.example", &target, request).await
        }
    };
    for _ in 0..3 {
        let (status, body, _) = hammer("mimi://b.example/d/mallory/x".into()).await?;
        assert_eq!(status, 200, "{}", text(&body));
        assert_eq!(served(&body)?, (KeyMaterialUserCode::Success, 1));
    }
    let (status, body, retry_after) = hammer("mimi://b.example/d/mallory/x".into()).await?;
    assert_eq!(status, 429, "{}", text(&body));
    assert_eq!(retry_after.as_deref(), Some("60"));
    assert!(text(&body).contains("for mimi://c.example/u/cathy"), "{}", text(&body));
    // Cycling requestingUser names gives b fresh pairs, but not more than b's share for the
    // users of its domain.
    for i in 0..3 {
        let (status, body, _) = hammer(format!("mimi://b.example/d/mallory{i}/x")).await?;
        assert_eq!(status, 200, "{}", text(&body));
    }
    let (status, body, _) = hammer("mimi://b.example/d/mallory9/x".into()).await?;
    assert_eq!(status, 429, "{}", text(&body));
    assert!(text(&body).contains("by b.example for users of b.example"), "{}", text(&body));

    // Cathy is not locked out: Alice (through her hub a) and Dave (at c) still get her
    // KeyPackages, and Alice adds her.
    assert_eq!(dave.claim_key_packages("mimi://c.example/r/counting", &cathy_user).await?.len(), 1);
    alice.invite_user(&room, &cathy_user, GROUP_ADMIN).await?;
    sync_until(&mut alice, &room, "Cathy added", STEP_TIMEOUT, |c| c.epoch(&room).is_ok_and(|e| e == 1)).await?;
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}
