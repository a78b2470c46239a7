//! The hub's identity rules attacked through the real HTTPS client API of a provider served as
//! `mimi-ds serve` serves it: a member of a room sends validly signed handshakes (real openmls
//! objects from the test kit's `attack` builders) that assert what the hub must not believe — a
//! leaf turned into another client, a joiner nobody listed, an Add of a KeyPackage the directory
//! never served for the room, a Welcome for other clients than the commit adds, a GroupInfo that
//! is not the committer's for the new epoch, a leaf that does not support the components the room
//! requires, a message whose authenticated data is not one `SafeAAD` in a room that frames it
//! so (mls-extensions-10). Each is answered `notAllowed` with the reason, and
//! the refusal changes nothing: the room log does not move, no queue gets a Welcome, the claims
//! stay unused (the honest commit that follows at the same epoch is accepted).

mod support;

use std::path::Path;

use mimi_appsync::ops::{self, UserOperation};
use mimi_appsync::presets::administered_roles::ORDINARY_USER;
use mimi_ds::config::Registration;
use mimi_protocol::client_api::{ClientQueue, KeyPackageUpload, RoomEntries};
use mimi_protocol::directory::encode_path_segment;
use mimi_protocol::key_material::ClientKeyMaterialStatus;
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageResponse, SubmitMessageStatus};
use mimi_protocol::update::{HandshakeBundle, UpdateRequest, UpdateRoomOutcome, UpdateRoomResponse};
use mimi_protocol::{Body, IdentifierUri, Protocol};
use mimi_testkit::attack::{self, GroupInfoEdit};
use openmls::prelude::*;
use openmls_rust_crypto::RustCrypto;
use reqwest::StatusCode;
use support::harness::*;
use support::*;

/// A provider with a room of alice's (her phone its only member) and registered devices with
/// KeyPackages in the directory.
struct World {
    h: Harness,
    alice: Client,
    alice_token: String,
    path: String,
}

/// A registered device: its kit client and its token.
struct Device {
    client: Client,
    token: String,
}

impl World {
    async fn start(dir: &Path) -> World {
        let h = Harness::start(dir, Registration::Open).await;
        let alice_token = h.registered("alice", "phone", None, None).await;
        let mut alice = Client::new("alice", "phone");
        let hub_key = mimi_ds::provider::load_or_create_hub_key(&h.config.data_dir.join("hub-key.tls")).unwrap();
        let gi = create_group(&mut alice, &hub_key.to_public_vec());
        let path = format!("/client/v1/rooms/{}", encode_path_segment(ROOM));
        assert_eq!(h.post(&path, Some(&alice_token), gi).await.0, StatusCode::CREATED);
        World { h, alice, alice_token, path }
    }

    /// Registers `user`'s `device` and uploads two of its KeyPackages.
    async fn device(&self, user: &str, device: &str) -> Device {
        let token = self.h.registered(user, device, None, None).await;
        let client = Client::new(user, device);
        let key_packages = (0..2).map(|_| to_in(&MlsMessageOut::from(client.key_package()))).collect();
        let upload = KeyPackageUpload { key_packages }.encode().unwrap();
        let (status, body) = self.h.post("/client/v1/keyPackages", Some(&token), upload).await;
        assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
        Device { client, token }
    }

    /// Registers `user`'s `device` and uploads a KeyPackage as plain openmls 0.9 builds it, without
    /// the LeafNode `app_data_dictionary` (no `app_components`, no `safe_aad`).
    async fn plain_device(&self, user: &str, device: &str) -> Device {
        let token = self.h.registered(user, device, None, None).await;
        let client = Client::new(user, device);
        let key_packages = vec![to_in(&MlsMessageOut::from(client.issue_plain_key_package().unwrap()))];
        let upload = KeyPackageUpload { key_packages }.encode().unwrap();
        let (status, body) = self.h.post("/client/v1/keyPackages", Some(&token), upload).await;
        assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
        Device { client, token }
    }

    /// Submits `message` as alice's phone: the status the hub answers.
    async fn submit(&self, message: MlsMessageIn) -> SubmitMessageStatus {
        let request = SubmitMessageRequest {
            protocol: Protocol::Mls10,
            app_message: message,
            sending_uri: IdentifierUri::new(self.alice.uri.as_str()),
        };
        let (status, body) = self
            .h
            .post(&format!("{}/submitMessage", self.path), Some(&self.alice_token), request.encode().unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        SubmitMessageResponse::decode(&body, 1 << 20).unwrap().status
    }

    /// A KeyPackage of `target` (a user URI) that alice claims through the hub for `room`.
    async fn claim(&self, target: &str, room: &str) -> KeyPackage {
        let response = self.h.claim(&self.alice, &self.alice_token, target, room).await;
        let ClientKeyMaterialStatus::Success { key_package } = &response.clients[0].status else {
            panic!("no KeyPackage of {target}: {:?}", response.clients[0].status);
        };
        key_package.clone().validate(&RustCrypto::default(), ProtocolVersion::Mls10).unwrap()
    }

    /// Submits `bundle` with `token` through the client API.
    async fn update(&self, token: &str, bundle: &HandshakeBundle) -> UpdateRoomResponse {
        let body = UpdateRequest { bundle: bundle.clone() }.encode().unwrap();
        let (status, body) = self.h.post(&format!("{}/update", self.path), Some(token), body).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        UpdateRoomResponse::decode(&body, 1 << 20).unwrap()
    }

    /// Submits alice's `bundle`, which must be refused `notAllowed` saying `why`.
    async fn refused(&self, token: &str, bundle: &HandshakeBundle, why: &str) {
        let answer = self.update(token, bundle).await;
        assert!(matches!(answer.outcome, UpdateRoomOutcome::NotAllowed), "{:?}", answer.outcome);
        let text = answer.error_description.to_string();
        assert!(text.contains(why), "refused for {text:?}, expected {why:?}");
    }

    /// Submits `bundle`, which must be accepted.
    async fn accepted(&self, token: &str, bundle: &HandshakeBundle) {
        let answer = self.update(token, bundle).await;
        assert!(
            matches!(answer.outcome, UpdateRoomOutcome::Success { .. }),
            "{:?}: {}",
            answer.outcome,
            answer.error_description
        );
    }

    /// The position after the last entry of the room log, as alice reads it.
    async fn log_end(&self) -> u64 {
        let r = self.h.http.get(format!("{}{}/log", self.h.base, self.path)).bearer_auth(&self.alice_token);
        let r = r.send().await.unwrap();
        RoomEntries::decode(&r.bytes().await.unwrap(), 1 << 20).unwrap().next_after
    }

    /// How many Welcomes wait in a device's queue.
    async fn queued(&self, token: &str) -> usize {
        let r = self.h.http.get(format!("{}/client/v1/queue", self.h.base)).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        ClientQueue::decode(&r.bytes().await.unwrap(), 1 << 20).unwrap().items.len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_changing_its_leaf_to_another_client_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::start(dir.path()).await;
    let before = w.log_end().await;
    let token = w.alice_token.clone();

    // Alice's phone commits a path whose leaf names another domain's client, then one of her
    // own other devices: both validly signed with her key.
    for impostor in ["mimi://b.example/d/bob/phone", "mimi://a.example/d/alice/laptop"] {
        let commit = attack::commit_as(&mut w.alice, impostor).unwrap();
        w.alice.discard();
        let why = format!("leaf 0 of mimi://a.example/d/alice/phone may not change its credential to {impostor}");
        w.refused(&token, &bundle_of(&commit), &why).await;
        // The same as a standalone Update proposal.
        let update = attack::propose_update_as(&mut w.alice, impostor).unwrap();
        w.refused(&token, &proposal_bundle(&update), &why).await;
        let (group, provider, _) = w.alice.parts();
        group.clear_pending_proposals(provider.storage()).unwrap();
    }
    assert_eq!(w.log_end().await, before, "nothing was logged");

    // Her own name, new keys: an honest update, accepted at the same epoch.
    let commit = attack::commit_as(&mut w.alice, "mimi://a.example/d/alice/phone").unwrap();
    w.accepted(&token, &bundle_of(&commit)).await;
    assert_eq!(w.log_end().await, before + 1);
    w.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_commit_by_a_client_of_an_unlisted_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path()).await;
    let before = w.log_end().await;
    // Mallory is a registered device of ours, but her user is not in the room, the room has no
    // preauthorisation and no open join. She got the GroupInfo out of band.
    let mut mallory = w.device("mallory", "phone").await;
    let join = mallory.client.external_join(&w.alice.group_info().unwrap());
    w.refused(&mallory.token, &bundle_of(&join), "ClientOfUnlistedUser(\"mimi://a.example/d/mallory/phone\")").await;
    assert_eq!(w.log_end().await, before, "nothing was logged");
    w.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_add_of_a_key_package_not_claimed_from_the_directory_for_this_room_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::start(dir.path()).await;
    let bob = w.device("bob", "phone").await;
    let before = w.log_end().await;
    let token = w.alice_token.clone();
    let invite = |kp: KeyPackage| ops::invite_user(&kp_user(&kp), ORDINARY_USER, vec![kp]).unwrap();

    // A KeyPackage alice made up for a tablet of hers that was never registered.
    let tablet = Client::new("alice", "tablet");
    let commit = w.alice.commit(ops::add_own_device(vec![tablet.key_package()]));
    w.alice.discard();
    w.refused(&token, &bundle_of(&commit), "mimi://a.example/d/alice/tablet was not claimed through the hub").await;

    // A KeyPackage of bob's phone that did not come from the directory (obtained out of band).
    let commit = w.alice.commit(invite(bob.client.key_package()));
    w.alice.discard();
    w.refused(&token, &bundle_of(&commit), "mimi://a.example/d/bob/phone was not claimed through the hub").await;

    // One claimed from the directory, but for another room.
    let elsewhere = w.claim("mimi://a.example/u/bob", "mimi://a.example/r/elsewhere").await;
    let commit = w.alice.commit(invite(elsewhere));
    w.alice.discard();
    w.refused(&token, &bundle_of(&commit), "not for this room").await;
    assert_eq!(w.log_end().await, before, "nothing was logged");
    assert_eq!(w.queued(&bob.token).await, 0, "no Welcome reached bob");

    // Claimed for this room: accepted.
    let claimed = w.claim("mimi://a.example/u/bob", ROOM).await;
    let commit = w.alice.commit(invite(claimed.clone()));
    w.accepted(&token, &bundle_of(&commit)).await;
    w.alice.merge();
    assert_eq!(w.queued(&bob.token).await, 1);
    assert_eq!(w.log_end().await, before + 1);
    w.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_welcome_that_does_not_name_exactly_the_commits_adds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::start(dir.path()).await;
    let bob = w.device("bob", "phone").await;
    let cathy = w.device("cathy", "phone").await;
    let before = w.log_end().await;
    let token = w.alice_token.clone();
    let bobs = w.claim("mimi://a.example/u/bob", ROOM).await;
    let cathys = w.claim("mimi://a.example/u/cathy", ROOM).await;
    let invite = |kp: &KeyPackage| ops::invite_user(&kp_user(kp), ORDINARY_USER, vec![kp.clone()]).unwrap();

    // The Welcome of a commit inviting cathy (never sent), attached to the commit inviting bob.
    let cathys_welcome = w.alice.commit(invite(&cathys)).welcome().cloned();
    w.alice.discard();
    let commit = bundle_of(&w.alice.commit(invite(&bobs)));
    let swapped = attack::with_welcome(&commit, cathys_welcome.clone()).unwrap();
    w.refused(&token, &swapped, "the Welcome names 1 KeyPackage(s), 1 of them not added by the commit, and misses 1")
        .await;
    // No Welcome at all for the client it adds.
    let without = attack::with_welcome(&commit, None).unwrap();
    w.refused(&token, &without, "the commit adds 1 client(s) but carries no Welcome").await;
    assert_eq!(w.log_end().await, before, "nothing was logged");
    assert_eq!((w.queued(&bob.token).await, w.queued(&cathy.token).await), (0, 0), "no Welcome was queued");

    // The commit with its own Welcome: accepted, bob's claim was still unused.
    w.accepted(&token, &commit).await;
    assert_eq!((w.queued(&bob.token).await, w.queued(&cathy.token).await), (1, 0));
    w.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_group_info_is_not_the_committers_for_the_new_epoch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::start(dir.path()).await;
    let before = w.log_end().await;
    let token = w.alice_token.clone();
    let current = w.alice.group_info().unwrap();
    let commit = bundle_of(&w.alice.commit(UserOperation::default()));

    // The current epoch's GroupInfo, validly signed by alice, for the wrong epoch.
    let stale = attack::with_group_info(&commit, &current).unwrap();
    w.refused(&token, &stale, "the GroupInfo's GroupContext is not the one the commit produces").await;
    // The new epoch's, naming another signer, or with a broken signature.
    let other_signer = attack::with_group_info_bytes(&commit, GroupInfoEdit::Signer).unwrap();
    w.refused(&token, &other_signer, "the GroupInfo is signed as leaf 1, the committer is leaf 0").await;
    let forged = attack::with_group_info_bytes(&commit, GroupInfoEdit::Signature).unwrap();
    w.refused(&token, &forged, "the GroupInfo's signature does not verify under the committer's key").await;
    assert_eq!(w.log_end().await, before, "nothing was logged");

    // The commit with its own GroupInfo is accepted at the same epoch, and that GroupInfo is the
    // one the hub hands to external joiners afterwards.
    w.accepted(&token, &commit).await;
    assert_eq!(w.log_end().await, before + 1);
    w.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaf_without_the_rooms_required_components_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::start(dir.path()).await;
    let bob = w.plain_device("bob", "phone").await;
    let before = w.log_end().await;
    let token = w.alice_token.clone();
    let lacks = "the leaf's app_components list lacks the required component(s) \
                 0x0001, 0x0002, 0x0022, 0x0023, 0x0025, 0x0026, 0x0027";

    // Alice's phone updates its own leaf to one without the app_data_dictionary.
    let commit = attack::commit_with_leaf_extensions(&mut w.alice, Extensions::empty()).unwrap();
    w.alice.discard();
    let why = format!("the commit's path leaf of mimi://a.example/d/alice/phone: {lacks}");
    w.refused(&token, &bundle_of(&commit), &why).await;

    // She adds bob's phone, whose KeyPackage (claimed through the hub for this room) advertises
    // nothing: the claim stays unused and no Welcome is queued.
    let plain = w.claim("mimi://a.example/u/bob", ROOM).await;
    assert!(plain.leaf_node().extensions().app_data_dictionary().is_none());
    let commit = w.alice.commit(ops::invite_user(&kp_user(&plain), ORDINARY_USER, vec![plain]).unwrap());
    w.alice.discard();
    w.refused(&token, &bundle_of(&commit), &format!("the Add of mimi://a.example/d/bob/phone: {lacks}")).await;
    assert_eq!(w.log_end().await, before, "nothing was logged");
    assert_eq!(w.queued(&bob.token).await, 0, "no Welcome reached bob");

    // Her leaf as our clients make it, with new keys: accepted at the same epoch.
    let ours = mimi_appsync::group::leaf_extensions().unwrap();
    let commit = attack::commit_with_leaf_extensions(&mut w.alice, ours).unwrap();
    w.accepted(&token, &bundle_of(&commit)).await;
    w.alice.merge();
    assert_eq!(w.log_end().await, before + 1);

    // Cathy's tablet advertises the room's components among GREASE and unknown IDs, with GREASE,
    // unassigned and private-range entries beside the lists: its KeyPackage is served byte for
    // byte as uploaded and its Add is accepted (unknown and GREASE values are ignored).
    let required = mimi_appsync::group::required_components(false);
    let mut listed = vec![0x0a0a, 0x7777];
    listed.extend(&required);
    let app_components = mimi_protocol::components_list::ComponentsList::new(listed).encode().unwrap();
    let safe_aad = [0x04, 0x1a, 0x1a, 0x00, 0x20];
    let leaf: [(u16, &[u8]); 5] =
        [(0x0001, &app_components), (0x0002, &safe_aad), (0x2a2a, b"\xde\xad"), (0x1234, b"?"), (0x8123, b"\x01")];
    let cathy =
        Device { client: Client::new("cathy", "tablet"), token: w.h.registered("cathy", "tablet", None, None).await };
    let uploaded = cathy.client.issue_key_package_with_leaf_components(&leaf).unwrap();
    let upload = KeyPackageUpload { key_packages: vec![to_in(&MlsMessageOut::from(uploaded.clone()))] };
    let (status, _) = w.h.post("/client/v1/keyPackages", Some(&cathy.token), upload.encode().unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    let served = w.claim("mimi://a.example/u/cathy", ROOM).await;
    let bytes = |kp: &KeyPackage| openmls::prelude::tls_codec::Serialize::tls_serialize_detached(kp).unwrap();
    assert_eq!(bytes(&served), bytes(&uploaded), "served as uploaded");
    let dictionary = served.leaf_node().extensions().app_data_dictionary().unwrap().dictionary().clone();
    for (id, data) in leaf {
        assert_eq!(dictionary.get(&id), Some(data), "component {id:#06x}");
    }
    let commit = w.alice.commit(ops::invite_user(&kp_user(&served), ORDINARY_USER, vec![served]).unwrap());
    w.accepted(&token, &bundle_of(&commit)).await;
    assert_eq!(w.queued(&cathy.token).await, 1);
    w.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_aad_is_not_one_safe_aad_is_refused_in_a_safe_aad_room() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::start(dir.path()).await;
    let before = w.log_end().await;
    // The room frames authenticated data as Safe AAD: its GroupContext holds `safe_aad`.
    assert!(mimi_protocol::safe_aad::framing_required(w.alice.group().extensions()));

    // openmls writes the staged SafeAAD (empty here, one 0x00 byte) followed by the bytes given
    // to `set_aad`: the -09 layout, which -10 no longer allows in such a room.
    w.alice.group().set_aad(b"unsafe tail".to_vec());
    let tail = w.alice.message(b"with a tail");
    assert_eq!(aad_of(&tail), b"\x00unsafe tail");
    assert_eq!(w.submit(tail).await, SubmitMessageStatus::NotAllowed);
    // Safe AAD items out of order, written whole by hand: an 0x8001 item before a 0x0020 one.
    w.alice.group().set_aad(vec![0x08, 0x80, 0x01, 0x00, 0x00, 0x20, 0x02, 0xab, 0xcd]);
    let unsorted = w.alice.message(b"unsorted");
    assert_eq!(&aad_of(&unsorted)[1..], [0x08, 0x80, 0x01, 0x00, 0x00, 0x20, 0x02, 0xab, 0xcd]);
    assert_eq!(w.submit(unsorted).await, SubmitMessageStatus::NotAllowed);
    assert_eq!(w.log_end().await, before, "nothing was logged");

    // Exactly one SafeAAD, items sorted (a private-range item the room's list does not name is
    // allowed): accepted.
    let items = vec![openmls::framing::SafeAadItem::new(0x8001, vec![0x01])];
    w.alice.group().set_safe_aad(items).unwrap();
    let honest = w.alice.message(b"framed");
    assert_eq!(aad_of(&honest), [0x04, 0x80, 0x01, 0x01, 0x01]);
    assert!(matches!(w.submit(honest).await, SubmitMessageStatus::Accepted { .. }));
    assert_eq!(w.log_end().await, before + 1);
    w.h.stop().await;
}

/// The `authenticated_data` of a PrivateMessage.
fn aad_of(message: &MlsMessageIn) -> Vec<u8> {
    match message.clone().try_into_protocol_message().unwrap() {
        ProtocolMessage::PrivateMessage(m) => m.aad().to_vec(),
        other => panic!("not a PrivateMessage: {other:?}"),
    }
}

/// The user of the client a KeyPackage names.
fn kp_user(kp: &KeyPackage) -> mimi_appsync::uri::UserUri {
    mimi_appsync::adapter::client_of(kp.leaf_node().credential(), &|| "KeyPackage".into()).unwrap().user()
}

/// Asks the hub's `/groupInfo` as `device` (a client of a listed user): the epoch of the GroupInfo
/// it answers with, and how many pending proposals come with it.
async fn group_info_of(w: &World, device: &Device) -> (u64, usize) {
    let (request, private) = device.client.group_info_request(&device.client.signer).unwrap();
    let (status, body) =
        w.h.post(&format!("{}/groupInfo", w.path), Some(&device.token), request.encode().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let response = mimi_protocol::group_info::GroupInfoResponse::decode(&body, 1 << 24).unwrap();
    let tbe = response.verify_and_open(&RustCrypto::default(), &private, 1 << 24).unwrap();
    (tbe.group_info.epoch().as_u64(), tbe.pending_proposals.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_info_answers_follow_every_handshake() {
    // The hub exports a room's GroupInfo and tree once per handshake state and reuses it: the
    // answers after a proposal must carry it (after a commit, the new epoch: every external join
    // of the end-to-end tests).
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::start(dir.path()).await;
    let laptop = w.device("alice", "laptop").await;
    assert_eq!(group_info_of(&w, &laptop).await, (0, 0));
    assert_eq!(group_info_of(&w, &laptop).await, (0, 0), "the same state, answered again");

    let update = attack::propose_update_as(&mut w.alice, "mimi://a.example/d/alice/phone").unwrap();
    let token = w.alice_token.clone();
    w.accepted(&token, &proposal_bundle(&update)).await;
    assert_eq!(group_info_of(&w, &laptop).await, (0, 1), "the accepted proposal is pending");
}
