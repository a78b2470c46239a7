//! Federation: three providers as separate in-process servers on loopback, with real
//! mutual TLS (one development CA, `[peers]` pointing at each other's ports), driven by
//! `mimi_client_sim` clients that only ever talk to their own provider.
//!
//! - The protocol-06 §3 story: Alice@a creates a room (a is the hub) and adds Bob@b (Bob's
//!   KeyPackage claimed a → b, Welcome routed to b only); Bob adds Cathy@c (claim b → a → c,
//!   commit relayed b → a, Welcome routed to c); Cathy sends (relayed c → a, fanned out to b and
//!   c); Alice removes Bob; Alice sends. Each step is asserted: epochs, members, transcripts.
//! - Security: no client certificate → 401; a certificate for another domain than `From` → 403;
//!   a follower sending `/notify` for a room of another hub → 403; a provider with nobody in the
//!   room submitting a message → `notAllowed`, and one speaking for another provider's client →
//!   403, both without changing the room.
//! - Security, further: a provider presenting a certificate of another (untrusted) CA is refused
//!   in the TLS handshake; a follower relaying a commit that adds another provider's client with a
//!   KeyPackage obtained out of band (not claimed through the hub) gets `notAllowed`. Neither
//!   changes the room.
//! - Key material through the hub: a KeyPackage claimed through the hub for room r1 cannot add
//!   its client in r2 (`notAllowed`, nothing changes; the claim for r2 then works); a claimed
//!   KeyPackage adds once (after the client's removal, re-adding it with the same KeyPackage is
//!   `notAllowed`); a provider that is not the room's hub claiming straight from the target's
//!   provider gets 403 and claims nothing (the same request through the hub is served).
//! - Consent: with c.example configured `consent = "required"`, a claim for Cathy gets
//!   `noConsent` (b.example, open by default, needs none); `requestConsent` over `/v1` is taken
//!   for the caller's own users only and is no consent; Cathy's grant (client API, forwarded
//!   with `updateConsent`) lets the claim through; her revoke for the room gives
//!   `noConsentForThisRoom`.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_client_sim::{Client, Connection, LocalProvider};
use mimi_ds::tls::PeerClient;
use mimi_protocol::directory::encode_path_segment;
use mimi_protocol::notify::FanoutFraming;
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageResponse, SubmitMessageStatus};
use mimi_protocol::{Body, IdentifierUri, Protocol, DEFAULT_MAX_BODY_LEN};
use mimi_tests::peer::{anonymous_client, consent_entry, post};
use mimi_tests::{check_converged_across_providers, first_application_message, read_log};

const DOMAINS: [&str; 3] = ["a.example", "b.example", "c.example"];
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// Syncs `client` until `done` holds (the hub's fanout to followers is asynchronous).
async fn sync_until(client: &mut Client, room: &str, what: &str, done: impl Fn(&Client) -> bool) -> anyhow::Result<()> {
    Ok(client.sync_until(room, what, STEP_TIMEOUT, done).await?)
}

/// Waits for a Welcome into `room`.
async fn join(client: &mut Client, room: &str) -> anyhow::Result<()> {
    Ok(client.await_welcome(room, STEP_TIMEOUT).await?)
}

fn epoch_is(room: &str, epoch: u64) -> impl Fn(&Client) -> bool + '_ {
    move |c| c.epoch(room).is_ok_and(|e| e == epoch)
}

fn transcript_len(room: &str, n: usize) -> impl Fn(&Client) -> bool + '_ {
    move |c| c.transcript(room).is_ok_and(|t| t.len() == n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_providers_story_and_peer_security() -> anyhow::Result<()> {
    let t0 = Instant::now();
    let dir = tempfile::tempdir()?;
    let providers = LocalProvider::start_federation(dir.path(), &DOMAINS).await?;
    let configs: Vec<_> = providers.iter().map(|p| p.config().clone()).collect();
    let conns: Vec<Connection> = providers.iter().map(|p| p.connect()).collect::<Result<_, _>>()?;

    let (mut alice, mut bob, mut cathy) = mimi_tests::alice_bob_cathy(&conns, 2).await?;

    // 1. Alice creates the room at her provider, its hub, and adds Bob of b.example.
    let room = alice.create_room("federated", &presets::cooperative(), GROUP_ADMIN).await?;
    assert!(room.starts_with("mimi://a.example/r/"));
    alice.invite_user(&room, &bob.uri().user(), GROUP_ADMIN).await?;
    sync_until(&mut alice, &room, "epoch 1", epoch_is(&room, 1)).await?;
    join(&mut bob, &room).await?;
    assert_eq!(bob.epoch(&room)?, 1);
    check_converged_across_providers(&room, &[&alice, &bob])?;
    assert_eq!(alice.members(&room)?.len(), 2);

    // 2. Bob adds Cathy of c.example: claim b → a → c, commit relayed b → a.
    bob.invite_user(&room, &cathy.uri().user(), GROUP_ADMIN).await?;
    sync_until(&mut bob, &room, "own commit at epoch 2", epoch_is(&room, 2)).await?;
    sync_until(&mut alice, &room, "epoch 2", epoch_is(&room, 2)).await?;
    join(&mut cathy, &room).await?;
    assert_eq!(cathy.epoch(&room)?, 2);
    check_converged_across_providers(&room, &[&alice, &bob, &cathy])?;
    assert_eq!(cathy.members(&room)?.len(), 3);

    // 3. Cathy sends; everyone gets it once (Cathy's echo is dropped for her at c).
    cathy.send_text(&room, "hello from c").await?;
    for c in [&mut alice, &mut bob, &mut cathy] {
        sync_until(c, &room, "Cathy's message", transcript_len(&room, 1)).await?;
    }
    check_converged_across_providers(&room, &[&alice, &bob, &cathy])?;
    assert_eq!(alice.transcript(&room)?[0].sender, *cathy.uri());

    // 4. Alice removes Bob; the commit reaches b too, so Bob learns he is out.
    alice.remove_user(&room, &bob.uri().user()).await?;
    sync_until(&mut alice, &room, "epoch 3", epoch_is(&room, 3)).await?;
    sync_until(&mut cathy, &room, "epoch 3", epoch_is(&room, 3)).await?;
    sync_until(&mut bob, &room, "removal", |c| !c.is_member(&room)).await?;
    assert_eq!(alice.members(&room)?.len(), 2);

    // 5. Alice and Cathy talk on.
    alice.send_text(&room, "bye bob").await?;
    sync_until(&mut cathy, &room, "Alice's message", transcript_len(&room, 2)).await?;
    cathy.send_text(&room, "still here").await?;
    sync_until(&mut alice, &room, "Cathy's second message", transcript_len(&room, 3)).await?;
    sync_until(&mut cathy, &room, "her own message in place", transcript_len(&room, 3)).await?;
    check_converged_across_providers(&room, &[&alice, &cathy])?;
    let content = |c: &Client| -> anyhow::Result<Vec<Vec<u8>>> {
        Ok(c.transcript(&room)?.iter().map(|d| d.content.clone()).collect())
    };
    assert_eq!(content(&bob)?, content(&alice)?[..1], "Bob saw what was sent before his removal");

    // Security. Peer clients with b's and c's certificates, and one without a certificate.
    let b_peer = PeerClient::new(&configs[1])?;
    let c_peer = PeerClient::new(&configs[2])?;
    let a_base = c_peer.base_url("a.example")?;
    let room_seg = encode_path_segment(&room);
    let (epoch, log_len) = (alice.epoch(&room)?, read_log(&alice, &room).await?.len());
    // A real PrivateMessage of the room (Cathy's, as Alice reads it).
    let app_message = first_application_message(&alice, &room).await?;

    // No client certificate: 401.
    let anonymous = anonymous_client(&providers[0])?;
    let submit = |sender: &str| {
        SubmitMessageRequest {
            protocol: Protocol::Mls10,
            app_message: app_message.clone(),
            sending_uri: IdentifierUri::new(sender),
        }
        .encode()
    };
    let path = format!("v1/submitMessage/{room_seg}");
    let cathy_uri = cathy.uri().as_str().to_owned();
    let (status, _) = post(&anonymous, &a_base, &path, "c.example", submit(&cathy_uri)?).await?;
    assert_eq!(status, 401, "no client certificate");
    // c's certificate, but From names b: 403.
    let (status, _) = post(c_peer.http(), &a_base, &path, "b.example", submit(&cathy_uri)?).await?;
    assert_eq!(status, 403, "certificate for another domain than From");
    // b.example (a follower) sends /notify for a's room to c: 403.
    let c_base = b_peer.base_url("c.example")?;
    let (status, _) = post(b_peer.http(), &c_base, &format!("v1/notify/{room_seg}"), "b.example", vec![]).await?;
    assert_eq!(status, 403, "notify from a provider that is not the room's hub");
    // b.example, with nobody in the room any more, submits a message of one of its clients:
    // notAllowed. Speaking for a client of c.example: 403.
    let bob_uri = bob.uri().as_str().to_owned();
    let (status, body) = post(b_peer.http(), &a_base, &path, "b.example", submit(&bob_uri)?).await?;
    assert_eq!(status, 200);
    let answer = SubmitMessageResponse::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    assert_eq!(answer.status, SubmitMessageStatus::NotAllowed, "provider not in the room");
    let (status, _) = post(b_peer.http(), &a_base, &path, "b.example", submit(&cathy_uri)?).await?;
    assert_eq!(status, 403, "a provider speaking for another provider's client");
    // Nothing changed.
    assert_eq!(alice.epoch(&room)?, epoch);
    assert_eq!(read_log(&alice, &room).await?.len(), log_len);

    println!("federation: 3 providers, story and security checks in {:?}", t0.elapsed());
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}

/// Starts the three providers and makes a room at a.example (the hub) with Alice@a and Bob@b at
/// epoch 1. Returns the providers, Alice, Bob, Cathy@c (registered, with KeyPackages at c) and
/// the room.
async fn room_of_alice_and_bob(dir: &std::path::Path) -> anyhow::Result<(Vec<LocalProvider>, [Client; 3], String)> {
    let providers = LocalProvider::start_federation(dir, &DOMAINS).await?;
    let conns: Vec<Connection> = providers.iter().map(|p| p.connect()).collect::<Result<_, _>>()?;
    let (mut alice, mut bob, cathy) = mimi_tests::alice_bob_cathy(&conns, 2).await?;
    let room = alice.create_room("guarded", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite_user(&room, &bob.uri().user(), GROUP_ADMIN).await?;
    sync_until(&mut alice, &room, "epoch 1", epoch_is(&room, 1)).await?;
    join(&mut bob, &room).await?;
    Ok((providers, [alice, bob, cathy], room))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certificate_of_an_untrusted_ca_is_refused_at_the_tls_layer() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (providers, [alice, mut bob, _cathy], room) = room_of_alice_and_bob(dir.path()).await?;
    // A real application message of the room, Bob's, as the hub logged it.
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

    // A second development PKI: a certificate for b.example from a CA nobody trusts. The rogue
    // client trusts the real CA (so it accepts a's server certificate) and presents that one.
    let other = tempfile::tempdir()?;
    mimi_ds::pki::generate(other.path(), &["b.example".to_owned()])?;
    let mut rogue_config = providers[1].config().clone();
    rogue_config.tls.cert = other.path().join("b.example.pem");
    rogue_config.tls.key = other.path().join("b.example.key");
    let rogue = PeerClient::new(&rogue_config)?;

    let body = SubmitMessageRequest {
        protocol: Protocol::Mls10,
        app_message,
        sending_uri: IdentifierUri::new(bob.uri().as_str()),
    }
    .encode()?;
    let a_base = rogue.base_url("a.example")?;
    let path = format!("v1/submitMessage/{}", encode_path_segment(&room));
    match post(rogue.http(), &a_base, &path, "b.example", body.clone()).await {
        Err(e) => println!("untrusted CA: refused in the TLS handshake: {e:#}"),
        Ok((status, _)) => assert_eq!(status, 401, "a certificate of an untrusted CA must not authenticate"),
    }
    // Control: b's real certificate authenticates (a room a does not host: 404, not a TLS error).
    let honest = PeerClient::new(providers[1].config())?;
    let unknown = format!("v1/submitMessage/{}", encode_path_segment("mimi://a.example/r/none"));
    let (status, _) = post(honest.http(), &a_base, &unknown, "b.example", body).await?;
    assert_eq!(status, 404, "b.example's real certificate authenticates");
    // Nothing changed.
    assert_eq!(alice.epoch(&room)?, epoch);
    assert_eq!(read_log(&alice, &room).await?.len(), log_len);
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adding_another_providers_client_without_a_claim_is_not_allowed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (providers, [mut alice, mut bob, mut cathy], room) = room_of_alice_and_bob(dir.path()).await?;
    let (epoch, log_len) = (alice.epoch(&room)?, read_log(&alice, &room).await?.len());

    // A KeyPackage for Cathy's client that b.example got out of band: made here with openmls,
    // never uploaded to c.example nor claimed through the hub.
    let key_package = mimi_testkit::TestClient::from_uri(cathy.uri().clone())?.issue_key_package()?;
    let cathy_user = cathy.uri().user();
    let refused = bob
        .commit_with(&room, "add with an out-of-band KeyPackage", |_| {
            Ok(mimi_appsync::ops::invite_user(&cathy_user, GROUP_ADMIN, vec![key_package.clone()])?)
        })
        .await;
    match refused {
        Err(mimi_client_sim::ClientError::Refused { outcome, .. }) => {
            assert!(outcome.starts_with("notAllowed"), "{outcome}");
            assert!(outcome.contains("not claimed through the hub"), "{outcome}");
        }
        other => anyhow::bail!("the hub must refuse an Add without a claim, got {other:?}"),
    }
    // Nothing changed: same epoch and log at the hub, Bob still at epoch 1, no Welcome for Cathy.
    assert_eq!(alice.epoch(&room)?, epoch);
    assert_eq!(read_log(&alice, &room).await?.len(), log_len);
    bob.catch_up(&room).await?;
    assert_eq!(bob.epoch(&room)?, epoch);
    assert!(cathy.accept_welcomes(Duration::from_millis(300)).await?.is_empty(), "no Welcome for Cathy");

    // The same Add with Cathy's KeyPackage claimed through the hub (b → a → c) is accepted.
    bob.invite_user(&room, &cathy_user, GROUP_ADMIN).await?;
    sync_until(&mut alice, &room, "epoch 2", epoch_is(&room, epoch + 1)).await?;
    join(&mut cathy, &room).await?;
    check_converged_across_providers(&room, &[&alice, &bob, &cathy])?;
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_need_consent_where_the_target_provider_requires_it() -> anyhow::Result<()> {
    use mimi_ds::config::ConsentPolicy;
    use mimi_protocol::consent::Consent;

    let dir = tempfile::tempdir()?;
    let mut configs = mimi_client_sim::local::federation_configs(dir.path(), &DOMAINS)?;
    configs[2].consent = ConsentPolicy::Required;
    let mut providers = Vec::new();
    for config in configs {
        providers.push(LocalProvider::start_with(config).await?);
    }
    let conns: Vec<Connection> = providers.iter().map(|p| p.connect()).collect::<Result<_, _>>()?;
    let (mut alice, mut bob, mut cathy) = mimi_tests::alice_bob_cathy(&conns, 2).await?;
    let room = alice.create_room("consensual", &presets::cooperative(), GROUP_ADMIN).await?;
    let (alice_user, cathy_user) = (alice.uri().user(), cathy.uri().user());

    // c.example requires consent: Alice's claim for Cathy (a → c) gets noConsent, nothing claimed.
    let refused = alice.invite_user(&room, &cathy_user, GROUP_ADMIN).await;
    match refused {
        Err(mimi_client_sim::ClientError::Refused { outcome, .. }) => assert_eq!(outcome, "NoConsent"),
        other => anyhow::bail!("a claim without consent must get noConsent, got {other:?}"),
    }
    assert_eq!(alice.epoch(&room)?, 0);
    // b.example is open (the default): Bob is added without any consent step.
    alice.invite_user(&room, &bob.uri().user(), GROUP_ADMIN).await?;
    sync_until(&mut alice, &room, "epoch 1", epoch_is(&room, 1)).await?;
    join(&mut bob, &room).await?;

    // Consent over /v1: a asks c for Alice (201); a may not ask on behalf of b's Bob (403).
    let a_peer = PeerClient::new(providers[0].config())?;
    let c_base = a_peer.base_url("c.example")?;
    let path = format!("v1/requestConsent/{}", encode_path_segment(cathy_user.as_str()));
    let ask = |requester: &str| consent_entry(Consent::Request, requester, cathy_user.as_str(), &room);
    let (status, _) = post(a_peer.http(), &c_base, &path, "a.example", ask(alice_user.as_str())?).await?;
    assert_eq!(status, 201, "requestConsent for a's user");
    let (status, _) = post(a_peer.http(), &c_base, &path, "a.example", ask(bob.uri().user().as_str())?).await?;
    assert_eq!(status, 403, "requestConsent for another provider's user");
    // updateConsent: c may tell a about its Cathy's decisions (201), not about b's Bob (403).
    let c_peer = PeerClient::new(providers[2].config())?;
    let a_base = c_peer.base_url("a.example")?;
    let path = format!("v1/updateConsent/{}", encode_path_segment(alice_user.as_str()));
    let tell = |target: &str| consent_entry(Consent::Revoke, alice_user.as_str(), target, "mimi://a.example/r/other");
    let (status, _) = post(c_peer.http(), &a_base, &path, "c.example", tell(cathy_user.as_str())?).await?;
    assert_eq!(status, 201, "updateConsent about c's user");
    let (status, _) = post(c_peer.http(), &a_base, &path, "c.example", tell(bob.uri().user().as_str())?).await?;
    assert_eq!(status, 403, "updateConsent about another provider's user");
    // A request alone is no consent.
    assert!(alice.claim_key_packages(&room, &cathy_user).await.is_err(), "still no consent");

    // Cathy grants Alice consent for this room through c's client API (a raw device of hers,
    // since the simulated client has no consent call); c tells a with updateConsent.
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
    let decide = |consent: Consent| -> anyhow::Result<_> {
        Ok(anonymous
            .post(c_client.join("client/v1/consent")?)
            .bearer_auth(&token)
            .header("content-type", "application/octet-stream")
            .body(consent_entry(consent, alice_user.as_str(), cathy_user.as_str(), &room)?))
    };
    let grant = Consent::Grant { client_key_packages: Vec::new() };
    assert_eq!(decide(grant)?.send().await?.status(), 201);

    // Now the claim is served and Cathy is added.
    alice.invite_user(&room, &cathy_user, GROUP_ADMIN).await?;
    sync_until(&mut alice, &room, "epoch 2", epoch_is(&room, 2)).await?;
    join(&mut cathy, &room).await?;
    sync_until(&mut bob, &room, "epoch 2", epoch_is(&room, 2)).await?;
    check_converged_across_providers(&room, &[&alice, &bob, &cathy])?;

    // Cathy revokes it for this room: noConsentForThisRoom.
    assert_eq!(decide(Consent::Revoke)?.send().await?.status(), 201);
    match alice.claim_key_packages(&room, &cathy_user).await {
        Err(mimi_client_sim::ClientError::Refused { outcome, .. }) => assert_eq!(outcome, "NoConsentForThisRoom"),
        other => anyhow::bail!("a revoked consent must refuse the claim, got {other:?}"),
    }
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}

/// What `refused` must be: a `notAllowed` refusal of the hub whose reason contains `why`.
fn assert_not_allowed<T: std::fmt::Debug>(refused: Result<T, mimi_client_sim::ClientError>, why: &str) {
    match refused {
        Err(mimi_client_sim::ClientError::Refused { outcome, .. }) => {
            assert!(outcome.starts_with("notAllowed") && outcome.contains(why), "{outcome}");
        }
        other => panic!("the hub must refuse with notAllowed ({why}), got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_package_claimed_for_one_room_cannot_add_in_another() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (providers, [mut alice, mut bob, mut cathy], r1) = room_of_alice_and_bob(dir.path()).await?;
    let r2 = alice.create_room("second", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite_user(&r2, &bob.uri().user(), GROUP_ADMIN).await?;
    join(&mut bob, &r2).await?;
    let cathy_user = cathy.uri().user();

    // Bob claims Cathy's KeyPackage through the hub (b → a → c) for r1, then uses it in r2.
    let for_r1 = bob.claim_key_packages(&r1, &cathy_user).await?;
    let (epoch, log_len) = (alice.epoch(&r2)?, read_log(&alice, &r2).await?.len());
    let refused = bob
        .commit_with(&r2, "add with a KeyPackage claimed for r1", |_| {
            Ok(mimi_appsync::ops::invite_user(&cathy_user, GROUP_ADMIN, for_r1.clone())?)
        })
        .await;
    assert_not_allowed(refused, &format!("claimed through the hub for {r1}, not for this room"));
    // Nothing changed in r2 (nor in r1): same epochs and logs, no Welcome for Cathy.
    assert_eq!(alice.epoch(&r2)?, epoch);
    assert_eq!(read_log(&alice, &r2).await?.len(), log_len);
    assert_eq!(alice.epoch(&r1)?, 1);
    bob.catch_up(&r2).await?;
    assert_eq!(bob.epoch(&r2)?, epoch);
    assert!(cathy.accept_welcomes(Duration::from_millis(300)).await?.is_empty(), "no Welcome for Cathy");

    // The proper claim, for r2, adds her there.
    bob.invite_user(&r2, &cathy_user, GROUP_ADMIN).await?;
    sync_until(&mut alice, &r2, "epoch after the add", epoch_is(&r2, epoch + 1)).await?;
    join(&mut cathy, &r2).await?;
    check_converged_across_providers(&r2, &[&alice, &bob, &cathy])?;
    assert!(!cathy.is_member(&r1), "Cathy is in r2 only");
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claimed_key_package_adds_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (providers, [mut alice, mut bob, mut cathy], room) = room_of_alice_and_bob(dir.path()).await?;
    let cathy_user = cathy.uri().user();

    // Bob claims Cathy's KeyPackage through the hub and adds her with it: accepted.
    let claimed = bob.claim_key_packages(&room, &cathy_user).await?;
    let invite = |key_packages: Vec<openmls::prelude::KeyPackage>| {
        let user = cathy_user.clone();
        move |_: &openmls::prelude::MlsGroup| {
            Ok(mimi_appsync::ops::invite_user(&user, GROUP_ADMIN, key_packages.clone())?)
        }
    };
    bob.commit_with(&room, "add Cathy", invite(claimed.clone())).await?;
    sync_until(&mut alice, &room, "epoch 2", epoch_is(&room, 2)).await?;
    join(&mut cathy, &room).await?;
    // Bob removes her, then tries to add her again with the same KeyPackage: refused.
    bob.remove_user(&room, &cathy_user).await?;
    sync_until(&mut alice, &room, "epoch 3", epoch_is(&room, 3)).await?;
    let log_len = read_log(&alice, &room).await?.len();
    let refused = bob.commit_with(&room, "re-add with the same KeyPackage", invite(claimed)).await;
    assert_not_allowed(refused, "was already used in an Add");
    assert_eq!(alice.epoch(&room)?, 3);
    assert_eq!(read_log(&alice, &room).await?.len(), log_len);
    assert!(!alice.members(&room)?.contains(cathy.uri()));

    // A fresh claim adds her again.
    bob.invite_user(&room, &cathy_user, GROUP_ADMIN).await?;
    sync_until(&mut alice, &room, "epoch 4", epoch_is(&room, 4)).await?;
    assert!(alice.members(&room)?.contains(cathy.uri()));
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_that_bypasses_the_rooms_hub_is_refused_and_claims_nothing() -> anyhow::Result<()> {
    use mimi_protocol::key_material::{KeyMaterialRequest, KeyMaterialRequestTBS, KeyMaterialResponse};
    use openmls::prelude::{BasicCredential, CredentialWithKey};
    use openmls_basic_credential::SignatureKeyPair;

    let dir = tempfile::tempdir()?;
    let (providers, [alice, bob, cathy], room) = room_of_alice_and_bob(dir.path()).await?;
    let cathy_user = cathy.uri().user();

    // b.example, not the hub of a's room, claims Cathy's KeyPackages straight from c.example with
    // a request validly signed by a client of Bob's.
    let signer = SignatureKeyPair::new(mimi_client::CIPHERSUITE.signature_algorithm())?;
    let credential = CredentialWithKey {
        credential: BasicCredential::new(bob.uri().as_bytes().to_vec()).into(),
        signature_key: signer.to_public_vec().into(),
    };
    let tbs = KeyMaterialRequestTBS {
        protocol: Protocol::Mls10,
        requesting_user: IdentifierUri::new(bob.uri().user().as_str()),
        target_user: IdentifierUri::new(cathy_user.as_str()),
        room_id: IdentifierUri::new(&room),
        acceptable_ciphersuites: vec![mimi_client::CIPHERSUITE.into()],
        required_capabilities: mimi_appsync::group::required_capabilities(),
        requester_signature_key: credential.signature_key.clone(),
        requester_credential: credential.credential.clone(),
    };
    let request = KeyMaterialRequest::sign(tbs, &signer)?.encode()?;
    let b_peer = PeerClient::new(providers[1].config())?;
    let c_base = b_peer.base_url("c.example")?;
    let path = format!("v1/keyMaterial/{}", encode_path_segment(cathy_user.as_str()));
    let (status, body) = post(b_peer.http(), &c_base, &path, "b.example", request.clone()).await?;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("must come through the room's hub"));
    // The same request through the hub is served (a → c): the path is the only difference.
    let a_base = b_peer.base_url("a.example")?;
    let (status, body) = post(b_peer.http(), &a_base, &path, "b.example", request).await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let served = KeyMaterialResponse::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    assert!(served.user_status.allows_clients(), "{:?}", served.user_status);

    // Nothing was claimed by the refused request: of Cathy's two KeyPackages, the relayed claim
    // took one and the other is still there for Alice; then there are none.
    assert_eq!(alice.claim_key_packages(&room, &cathy_user).await?.len(), 1);
    match alice.claim_key_packages(&room, &cathy_user).await {
        Err(mimi_client_sim::ClientError::Refused { .. }) => {}
        other => anyhow::bail!("Cathy's two KeyPackages should be claimed by now, got {other:?}"),
    }
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}
