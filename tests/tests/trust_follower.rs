//! A follower checks what it mirrors: attacks through the real APIs of two in-process providers
//! (a.example is the hub of the room, b.example the follower; real redb files, mutual TLS), each
//! asserting the refusal and that nothing changed, with the legitimate flow next to it.
//!
//! - The room's hub (its certificate) fans out a commit whose signature does not verify, and a
//!   commit of an epoch that is over: the follower answers 422, takes in nothing (the mirror and its
//!   readers' logs are unchanged, the same body is refused again rather than taken for a duplicate),
//!   counts each in `mimi_follower_refused_total`, and goes on taking in valid fanout.
//! - A local client that was never a member is refused the mirror, also after it relayed a
//!   handshake and a message to the room; a removed client reads up to the commit that removed it
//!   and nothing after, while a member reads on.
//! - A local client relays an `update` whose commit another device of the same user signed: the
//!   follower answers `notAllowed` naming the signer and relays nothing (the hub's log and epoch are
//!   unchanged); the signing device itself gets the same commit accepted.
//! - The hub's `groupInfo` serves a provider asking under its own credential `mimi://<domain>` (what
//!   a follower does to build its copy) while it hosts a participant: b under `mimi://c.example` is
//!   refused (403), and b in a room where it hosts nobody gets `notAuthorized`.
//!
//! Bob's phone is a kit client ([`TestClient`]) registered through b's client API, so that the
//! tests can build its commits without sending them; everyone else is a `mimi-client`.

use std::time::Duration;

use mimi_appsync::ops::UserOperation;
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_client_sim::{Client, LocalProvider, Session};
use mimi_ds::tls::PeerClient;
use mimi_protocol::client_api::KeyPackageUpload;
use mimi_protocol::directory::encode_path_segment;
use mimi_protocol::mls_message::reparse;
use mimi_protocol::notify::{FanoutFraming, FanoutMessage};
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageStatus};
use mimi_protocol::update::{HandshakeBundle, UpdateRoomOutcome};
use mimi_protocol::{IdentifierUri, Protocol};
use mimi_testkit::{tamper_signature, TestClient};
use mimi_tests::{is_commit, join_room, read_log, sync_until};
use openmls::prelude::{MlsMessageBodyIn, MlsMessageOut};

const STEP: Duration = Duration::from_secs(15);

/// The two providers and the room: alice (a) created it and invited carol and bob (b); bob has a
/// laptop (`mimi-client`) and a phone (kit client, at the room's current epoch); erin (b) was
/// never invited.
struct Room {
    _dir: tempfile::TempDir,
    a: LocalProvider,
    b: LocalProvider,
    id: String,
    alice: Client,
    carol: Client,
    laptop: Client,
    erin: Client,
    phone: TestClient,
    phone_session: Session,
}

async fn room() -> anyhow::Result<Room> {
    let dir = tempfile::tempdir()?;
    let configs = mimi_client_sim::local::federation_configs(dir.path(), &["a.example", "b.example"])?;
    let a = LocalProvider::start_with(configs[0].clone()).await?;
    let b = LocalProvider::start_with(configs[1].clone()).await?;
    let mut alice = Client::register(&a.connect()?, "alice", "phone").await?;
    let mut carol = Client::register(&b.connect()?, "carol", "phone").await?;
    carol.upload_key_packages(2).await?;
    let mut laptop = Client::register(&b.connect()?, "bob", "laptop").await?;
    laptop.upload_key_packages(2).await?;
    let erin = Client::register(&b.connect()?, "erin", "phone").await?;
    erin.upload_key_packages(2).await?;
    let phone_session = b.connect()?.register("bob", "phone").await?;
    let mut phone = TestClient::from_uri(phone_session.client().clone())?;
    let key_package = reparse(&MlsMessageOut::from(phone.issue_key_package()?))?;
    phone_session.upload_key_packages(&KeyPackageUpload { key_packages: vec![key_package] }).await?;

    let id = alice.create_room("mirror", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite_user(&id, &carol.uri().user(), GROUP_ADMIN).await?;
    join_room(&mut carol, &id, STEP).await?;
    // b hosts carol now: bob's invitation reaches b's mirror as a commit, validated there.
    alice.invite_user(&id, &laptop.uri().user(), GROUP_ADMIN).await?;
    join_room(&mut laptop, &id, STEP).await?;
    let queue = phone_session.read_queue(0, STEP).await?;
    let item = queue.items.iter().find(|i| i.room.as_str() == id).ok_or_else(|| anyhow::anyhow!("no Welcome"))?;
    let MlsMessageBodyIn::Welcome(welcome) = item.welcome.clone().extract() else { anyhow::bail!("not a Welcome") };
    phone.join_from_welcome(welcome)?;
    anyhow::ensure!(phone.epoch() == alice.epoch(&id)?, "the phone joined at the current epoch");
    let epoch = alice.epoch(&id)?;
    sync_until(&mut carol, &id, "bob's invitation", STEP, |c| c.epoch(&id).is_ok_and(|e| e == epoch)).await?;
    Ok(Room { _dir: dir, a, b, id, alice, carol, laptop, erin, phone, phone_session })
}

impl Room {
    async fn stop(self) -> anyhow::Result<()> {
        self.a.stop().await?;
        self.b.stop().await?;
        Ok(())
    }

    /// Sends `messages` to b's `/notify` for the room with a's certificate, as the room's hub.
    async fn notify_as_hub(&self, messages: &[FanoutMessage]) -> anyhow::Result<(u16, String)> {
        let peer = PeerClient::new(self.a.config())?;
        let url = peer.base_url("b.example")?.join(&format!("v1/notify/{}", encode_path_segment(&self.id)))?;
        let r = peer
            .http()
            .post(url)
            .header("from", "mimi@a.example")
            .header("content-type", "application/octet-stream")
            .body(FanoutMessage::encode_body(messages)?)
            .send()
            .await?;
        Ok((r.status().as_u16(), r.text().await?))
    }

    /// b's metrics text.
    async fn follower_metrics(&self) -> anyhow::Result<String> {
        mimi_tests::scrape(&self.b).await
    }

    /// A fresh empty commit of the phone (signed by it, of the current epoch), not sent.
    fn phone_commit(&mut self) -> anyhow::Result<HandshakeBundle> {
        let bundle = self.phone.build_commit(UserOperation::default())?;
        self.phone.clear_pending()?;
        Ok(HandshakeBundle::from_commit(&bundle)?)
    }
}

fn commit(message: openmls::prelude::MlsMessageIn, timestamp: u64) -> FanoutMessage {
    FanoutMessage { timestamp, message, framing: FanoutFraming::Commit { external_proposals: Vec::new() } }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_that_does_not_validate_is_refused_and_changes_nothing() -> anyhow::Result<()> {
    let mut r = room().await?;
    let carol_before = read_log(&r.carol, &r.id).await?;
    let laptop_before = read_log(&r.laptop, &r.id).await?;

    // A member's commit of the current epoch, its signature tampered with.
    let bundle = r.phone.build_commit(UserOperation::default())?;
    let tampered = tamper_signature(bundle.commit())?;
    r.phone.clear_pending()?;
    let forged = [commit(tampered, 1)];
    let (status, reason) = r.notify_as_hub(&forged).await?;
    assert_eq!(status, 422, "{reason}");
    assert!(reason.contains("does not validate"), "{reason}");
    // Nothing was remembered: the same body is refused again, not taken for a duplicate.
    let (status, reason) = r.notify_as_hub(&forged).await?;
    assert_eq!(status, 422, "{reason}");

    // A commit of an epoch that is over: bob's invitation again, with another timestamp.
    let stale = carol_before.iter().rev().find(|e| is_commit(e)).expect("bob's invitation in carol's mirror");
    let (status, reason) = r.notify_as_hub(&[commit(stale.fanout.message.clone(), 2)]).await?;
    assert_eq!(status, 422, "{reason}");
    assert!(reason.contains("epoch"), "{reason}");

    assert_eq!(read_log(&r.carol, &r.id).await?, carol_before, "carol's mirror is unchanged");
    assert_eq!(read_log(&r.laptop, &r.id).await?, laptop_before, "bob's mirror is unchanged");
    let metrics = r.follower_metrics().await?;
    assert!(metrics.contains("mimi_follower_refused_total 3"), "{metrics}");

    // The follower's copy is intact: what the hub really sends is still taken in.
    r.alice.send_text(&r.id, "still here").await?;
    let id = r.id.clone();
    sync_until(&mut r.carol, &id, "alice's message", STEP, |c| {
        c.transcript(&id).is_ok_and(|t| t.iter().any(|d| d.content.ends_with(b"still here")))
    })
    .await?;
    r.alice.key_update(&id).await?;
    let epoch = r.alice.epoch(&id)?;
    sync_until(&mut r.carol, &id, "alice's key update", STEP, |c| c.epoch(&id).is_ok_and(|e| e == epoch)).await?;
    r.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_read_the_mirror_and_a_removed_client_up_to_its_removal() -> anyhow::Result<()> {
    let mut r = room().await?;
    let id = r.id.clone();
    // Never a member: refused.
    let refused = r.erin.session().read_whole_log(&id).await.expect_err("erin is no reader");
    assert!(refused.to_string().contains("403"), "{refused}");
    // Relaying a handshake (signed by bob's phone) and a message does not make erin a reader.
    let phones = r.phone_commit()?;
    let answer = r.erin.session().update(&id, phones).await?;
    assert_eq!(answer.outcome, UpdateRoomOutcome::NotAllowed, "{answer:?}");
    let message = r.phone.encrypt(b"not erin's")?;
    let request = SubmitMessageRequest {
        protocol: Protocol::Mls10,
        app_message: message,
        sending_uri: IdentifierUri::new(r.erin.uri().as_str()),
    };
    let answer = r.erin.session().submit_message(&id, &request).await?;
    assert_eq!(answer.status, SubmitMessageStatus::NotAllowed, "{answer:?}");
    let refused = r.erin.session().read_whole_log(&id).await.expect_err("erin is still no reader");
    assert!(refused.to_string().contains("403"), "{refused}");

    // Bob is removed (both devices); alice writes on, carol reads on.
    let bob = r.laptop.uri().user();
    r.alice.remove_user(&id, &bob).await?;
    r.alice.send_text(&id, "after bob").await?;
    sync_until(&mut r.carol, &id, "the message after bob's removal", STEP, |c| {
        c.transcript(&id).is_ok_and(|t| t.iter().any(|d| d.content.ends_with(b"after bob")))
    })
    .await?;
    let carol = read_log(&r.carol, &id).await?;
    let removal = carol.iter().rev().find(|e| is_commit(e)).expect("the removal in carol's mirror").seq;
    let after = carol.last().expect("carol's mirror").seq;
    assert!(after > removal, "carol reads past bob's removal");
    for (who, log) in
        [("laptop", read_log(&r.laptop, &id).await?), ("phone", r.phone_session.read_whole_log(&id).await?)]
    {
        assert_eq!(log.last().map(|e| e.seq), Some(removal), "{who} reads up to its removal");
        assert!(log.iter().all(|e| e.seq <= removal), "{who} reads nothing after its removal");
    }
    r.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_handshake_signed_by_another_device_is_refused_and_never_reaches_the_hub() -> anyhow::Result<()> {
    let mut r = room().await?;
    let id = r.id.clone();
    let hub_log = read_log(&r.alice, &id).await?;
    let epoch = r.alice.epoch(&id)?;
    let mirror = read_log(&r.carol, &id).await?;

    // The laptop relays a commit its sibling, the phone, signed.
    let bundle = r.phone_commit()?;
    let answer = r.laptop.session().update(&id, bundle.clone()).await?;
    assert_eq!(answer.outcome, UpdateRoomOutcome::NotAllowed, "{answer:?}");
    let why = answer.error_description.as_str();
    assert!(why.contains(r.phone.uri.as_str()) && why.contains(r.laptop.uri().as_str()), "{why}");
    // The hub never saw it (it would have accepted it: the signer is a client of b).
    assert_eq!(read_log(&r.alice, &id).await?, hub_log, "the hub's log is unchanged");
    assert_eq!(r.alice.epoch(&id)?, epoch);
    assert_eq!(read_log(&r.carol, &id).await?, mirror, "the mirror is unchanged");

    // The phone itself gets the very same commit accepted.
    let answer = r.phone_session.update(&id, bundle).await?;
    assert!(matches!(answer.outcome, UpdateRoomOutcome::Success { .. }), "{answer:?}");
    assert_eq!(read_log(&r.alice, &id).await?.len(), hub_log.len() + 1, "the hub took the phone's commit");
    r.stop().await
}

/// A `GroupInfoRequest` under the provider credential `mimi://<domain>`, signed by a fresh key, with
/// the private HPKE key that opens the answer.
fn provider_request(domain: &str) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    use openmls::prelude::OpenMlsCrypto as _;
    use openmls::prelude::OpenMlsProvider as _;
    let cs = mimi_client::CIPHERSUITE;
    let key = openmls_basic_credential::SignatureKeyPair::new(cs.signature_algorithm())?;
    let hpke =
        openmls_rust_crypto::OpenMlsRustCrypto::default().crypto().derive_hpke_keypair(cs.hpke_config(), &[7; 32])?;
    let credential = openmls::prelude::BasicCredential::new(format!("mimi://{domain}").into_bytes()).into();
    let request = mimi_protocol::group_info::GroupInfoRequest::sign(
        cs,
        credential,
        key.to_public_vec().into(),
        hpke.public.into(),
        Vec::new().into(),
        &key,
    )?;
    Ok((mimi_protocol::Body::encode(&request)?, hpke.private.to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_gets_a_rooms_state_only_under_its_own_credential_while_it_hosts_a_participant() -> anyhow::Result<()>
{
    use mimi_protocol::group_info::{GroupInfoResponse, GroupInfoStatus};
    use mimi_protocol::Body as _;
    let mut r = room().await?;
    let ask = |from: &LocalProvider, room: &str, body: Vec<u8>| {
        let peer = PeerClient::new(from.config());
        let url = format!("v1/groupInfo/{}", encode_path_segment(room));
        let domain = from.domain().to_owned();
        async move {
            let peer = peer?;
            let r = peer
                .http()
                .post(peer.base_url("a.example")?.join(&url)?)
                .header("from", format!("mimi@{domain}"))
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
                .await?;
            anyhow::Ok((r.status().as_u16(), r.bytes().await?.to_vec()))
        }
    };
    // b hosts carol and bob: served, and the answer opens to the room's state.
    let (request, private) = provider_request("b.example")?;
    let (status, body) = ask(&r.b, &r.id, request).await?;
    assert_eq!(status, 200);
    let response = GroupInfoResponse::decode(&body, mimi_protocol::DEFAULT_MAX_BODY_LEN)?;
    let opened = response.verify_and_open(
        &openmls_rust_crypto::RustCrypto::default(),
        &private,
        mimi_protocol::DEFAULT_MAX_BODY_LEN,
    )?;
    assert_eq!(opened.group_info.epoch().as_u64(), r.alice.epoch(&r.id)?);

    // b under another provider's credential: refused before anything is looked at.
    let (request, _) = provider_request("c.example")?;
    let (status, _) = ask(&r.b, &r.id, request).await?;
    assert_eq!(status, 403);

    // A room where b hosts nobody: notAuthorized, nothing served.
    let other = r.alice.create_room("alone", &presets::cooperative(), GROUP_ADMIN).await?;
    let (request, _) = provider_request("b.example")?;
    let (status, body) = ask(&r.b, &other, request).await?;
    assert_eq!(status, 200);
    let response = GroupInfoResponse::decode(&body, mimi_protocol::DEFAULT_MAX_BODY_LEN)?;
    assert!(matches!(response.status, GroupInfoStatus::NotAuthorized), "{response:?}");
    r.stop().await
}
