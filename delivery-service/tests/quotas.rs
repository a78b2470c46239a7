//! The provider's quotas (docs/DESIGN.md §7, "Quotas") through the real HTTPS client API of a
//! provider served as `mimi-ds serve` serves it, with a real redb file and small caps set in its
//! configuration: a request beyond a cap is refused with the documented answer, counted in
//! `mimi_quota_refused_total`, and changes nothing (what it would have stored is not there), and
//! an honest request afterwards still goes through.

mod support;

use std::path::Path;

use mimi_appsync::ops::{self, UserOperation};
use mimi_appsync::presets::administered_roles::ORDINARY_USER;
use mimi_ds::config::{Config, Registration};
use mimi_protocol::client_api::{ClientQueue, KeyPackageUpload, RoomEntries};
use mimi_protocol::directory::encode_path_segment;
use mimi_protocol::key_material::ClientKeyMaterialStatus;
use mimi_protocol::update::{HandshakeBundle, UpdateRequest, UpdateRoomOutcome, UpdateRoomResponse};
use mimi_protocol::Body;
use mimi_testkit::attack;
use openmls::prelude::*;
use openmls_rust_crypto::RustCrypto;
use reqwest::StatusCode;
use support::harness::*;
use support::*;

const BOB: &str = "mimi://a.example/u/bob";

/// The series of `mimi_quota_refused_total` for `quota`.
fn refused(quota: &str) -> String {
    format!("mimi_quota_refused_total{{quota=\"{quota}\"}}")
}

async fn start(dir: &Path, edit: impl FnOnce(&mut Config)) -> Harness {
    Harness::start_with(dir, Registration::Open, edit).await
}

/// An upload of `n` fresh KeyPackages of `client`: the status and `Retry-After`, if any.
async fn upload(h: &Harness, token: &str, client: &Client, n: usize) -> (StatusCode, Option<String>) {
    let key_packages = (0..n).map(|_| to_in(&MlsMessageOut::from(client.key_package()))).collect();
    let body = KeyPackageUpload { key_packages }.encode().unwrap();
    let (status, headers, _) = h.post_full("/client/v1/keyPackages", Some(token), body).await;
    (status, headers.get(reqwest::header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned()))
}

/// How many KeyPackages of bob's phone the directory serves before it is exhausted.
async fn served(h: &Harness, claimant: &Client, token: &str) -> usize {
    let mut n = 0;
    loop {
        let response = h.claim(claimant, token, BOB, ROOM).await;
        match &response.clients[0].status {
            ClientKeyMaterialStatus::Success { .. } => n += 1,
            ClientKeyMaterialStatus::KeyMaterialExhausted => return n,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_packages_beyond_the_clients_cap_are_refused_whole_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), |c| c.quotas.key_packages_per_client = 3).await;
    let alice = Client::new("alice", "phone");
    let alice_token = h.registered("alice", "phone", None, None).await;
    let bob = Client::new("bob", "phone");
    let bob_token = h.registered("bob", "phone", None, None).await;
    let series = refused("key_packages_per_client");
    assert_eq!(h.metric(&series).await, 0);

    assert_eq!(upload(&h, &bob_token, &bob, 2).await.0, StatusCode::CREATED);
    // Two more would make four: refused whole, 429 with Retry-After, counted.
    assert_eq!(upload(&h, &bob_token, &bob, 2).await, (StatusCode::TOO_MANY_REQUESTS, Some("60".to_owned())));
    assert_eq!(h.metric(&series).await, 1);
    // One more makes three, the cap: accepted. Had the refused upload stored anything, the
    // directory would now serve more than three.
    assert_eq!(upload(&h, &bob_token, &bob, 1).await.0, StatusCode::CREATED);
    assert_eq!(upload(&h, &bob_token, &bob, 1).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h.metric(&series).await, 2);
    assert_eq!(served(&h, &alice, &alice_token).await, 3, "exactly the accepted uploads are stored");

    // Claimed KeyPackages no longer count: bob may upload up to the cap again.
    assert_eq!(upload(&h, &bob_token, &bob, 3).await.0, StatusCode::CREATED);
    assert_eq!(h.metric(&series).await, 2);
    h.stop().await;
}

/// `client` creates `room` through the client API: the status and `Retry-After`, if any.
async fn create_room(h: &Harness, token: &str, client: &mut Client, room: &str) -> (StatusCode, Option<String>) {
    let hub_key = mimi_ds::provider::load_or_create_hub_key(&h.config.data_dir.join("hub-key.tls")).unwrap();
    let gi = create_group(client, &hub_key.to_public_vec());
    let path = format!("/client/v1/rooms/{}", encode_path_segment(room));
    let (status, headers, _) = h.post_full(&path, Some(token), gi).await;
    (status, headers.get(reqwest::header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned()))
}

/// What reading `room`'s log answers `token`.
async fn log_status(h: &Harness, token: &str, room: &str) -> StatusCode {
    let url = format!("{}/client/v1/rooms/{}/log", h.base, encode_path_segment(room));
    h.http.get(url).bearer_auth(token).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_beyond_the_users_cap_is_refused_and_not_created_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cap = |c: &mut Config| c.quotas.rooms_per_user = 2;
    let h = start(dir.path(), cap).await;
    let phone = h.registered("alice", "phone", None, None).await;
    let laptop = h.registered("alice", "laptop", None, None).await;
    let bob = h.registered("bob", "phone", None, None).await;
    let series = refused("rooms_per_user");
    let room = |n: u32| format!("mimi://a.example/r/alice-{n}");

    assert_eq!(create_room(&h, &phone, &mut Client::new("alice", "phone"), &room(1)).await.0, StatusCode::CREATED);
    assert_eq!(create_room(&h, &laptop, &mut Client::new("alice", "laptop"), &room(2)).await.0, StatusCode::CREATED);
    // A third room of alice's, from either device: 429, counted, and no room.
    let third = create_room(&h, &phone, &mut Client::new("alice", "phone"), &room(3)).await;
    assert_eq!(third, (StatusCode::TOO_MANY_REQUESTS, Some("60".to_owned())));
    assert_eq!(
        create_room(&h, &laptop, &mut Client::new("alice", "laptop"), &room(3)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(h.metric(&series).await, 2);
    assert_eq!(log_status(&h, &phone, &room(3)).await, StatusCode::NOT_FOUND, "the refused room does not exist");
    assert_eq!(log_status(&h, &phone, &room(1)).await, StatusCode::OK);
    // Another user is not held to alice's count.
    assert_eq!(create_room(&h, &bob, &mut Client::new("bob", "phone"), &room(3)).await.0, StatusCode::CREATED);

    // The count is durable: after a restart alice is still at her cap.
    h.stop().await;
    let h = start(dir.path(), cap).await;
    assert_eq!(
        create_room(&h, &phone, &mut Client::new("alice", "phone"), &room(4)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(log_status(&h, &phone, &room(4)).await, StatusCode::NOT_FOUND);
    assert_eq!(create_room(&h, &bob, &mut Client::new("bob", "phone"), &room(4)).await.0, StatusCode::CREATED);
    h.stop().await;
}

/// Alice's phone creates `ROOM`, of which it is the only member: her client, token and the
/// room's client-API path.
async fn alice_room(h: &Harness) -> (Client, String, String) {
    let token = h.registered("alice", "phone", None, None).await;
    let mut alice = Client::new("alice", "phone");
    assert_eq!(create_room(h, &token, &mut alice, ROOM).await.0, StatusCode::CREATED);
    (alice, token, format!("/client/v1/rooms/{}", encode_path_segment(ROOM)))
}

/// Registers `user`'s `device` with two KeyPackages in the directory: its client and token.
async fn device(h: &Harness, user: &str, device: &str) -> (Client, String) {
    let token = h.registered(user, device, None, None).await;
    let client = Client::new(user, device);
    assert_eq!(upload(h, &token, &client, 2).await.0, StatusCode::CREATED);
    (client, token)
}

/// A KeyPackage of `target` (a user URI) that `claimant` claims through the hub for `ROOM`.
async fn claim(h: &Harness, claimant: &Client, token: &str, target: &str) -> KeyPackage {
    let response = h.claim(claimant, token, target, ROOM).await;
    let ClientKeyMaterialStatus::Success { key_package } = &response.clients[0].status else {
        panic!("no KeyPackage of {target}: {:?}", response.clients[0].status);
    };
    key_package.clone().validate(&RustCrypto::default(), ProtocolVersion::Mls10).unwrap()
}

/// A commit inviting the user of `kp` with it.
fn invite(kp: KeyPackage) -> UserOperation {
    let user = mimi_appsync::adapter::client_of(kp.leaf_node().credential(), &|| "KeyPackage".into()).unwrap().user();
    ops::invite_user(&user, ORDINARY_USER, vec![kp]).unwrap()
}

/// Submits `bundle` to `path` with `token`: the hub's answer.
async fn update(h: &Harness, token: &str, path: &str, bundle: &HandshakeBundle) -> UpdateRoomResponse {
    let body = UpdateRequest { bundle: bundle.clone() }.encode().unwrap();
    let (status, body) = h.post(&format!("{path}/update"), Some(token), body).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    UpdateRoomResponse::decode(&body, 1 << 20).unwrap()
}

fn is_success(answer: &UpdateRoomResponse) -> bool {
    matches!(answer.outcome, UpdateRoomOutcome::Success { .. })
}

/// The position after the last entry of the room log, as `token`'s client reads it.
async fn log_end(h: &Harness, token: &str, path: &str) -> u64 {
    let r = h.http.get(format!("{}{path}/log", h.base)).bearer_auth(token).send().await.unwrap();
    RoomEntries::decode(&r.bytes().await.unwrap(), 1 << 20).unwrap().next_after
}

/// How many Welcomes wait in a device's queue.
async fn queued(h: &Harness, token: &str) -> usize {
    let r = h.http.get(format!("{}/client/v1/queue", h.base)).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    ClientQueue::decode(&r.bytes().await.unwrap(), 1 << 20).unwrap().items.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_adding_beyond_the_rooms_member_cap_is_not_allowed_and_logs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), |c| c.quotas.members_per_room = 2).await;
    let (mut alice, token, path) = alice_room(&h).await;
    let (_, bob_token) = device(&h, "bob", "phone").await;
    let (_, carol_token) = device(&h, "carol", "phone").await;

    // Bob makes two members: the cap.
    let bobs = claim(&h, &alice, &token, "mimi://a.example/u/bob").await;
    assert!(is_success(&update(&h, &token, &path, &bundle_of(&alice.commit(invite(bobs)))).await));
    alice.merge();
    assert_eq!(queued(&h, &bob_token).await, 1);
    let before = log_end(&h, &token, &path).await;
    let handshakes_refused = h.metric("hub_handshakes_refused_total").await;
    let not_allowed = "mimi_refusals_total{source=\"hub\",code=\"notAllowed\"}";
    let not_allowed_before = h.metric(not_allowed).await;

    // Carol would make three: notAllowed, naming the quota; nothing logged, no Welcome queued.
    let carols = claim(&h, &alice, &token, "mimi://a.example/u/carol").await;
    let commit = bundle_of(&alice.commit(invite(carols)));
    let answer = update(&h, &token, &path, &commit).await;
    assert!(matches!(answer.outcome, UpdateRoomOutcome::NotAllowed), "{:?}", answer.outcome);
    let why = answer.error_description.to_string();
    assert!(
        why.contains("room mimi://a.example/r/club would hold 3, more than the 2 allowed (members_per_room)"),
        "{why}"
    );
    assert_eq!(log_end(&h, &token, &path).await, before, "nothing was logged");
    assert_eq!(queued(&h, &carol_token).await, 0, "no Welcome was queued");
    assert_eq!(h.metric(&refused("members_per_room")).await, 1);
    assert_eq!(h.metric("hub_handshakes_refused_total").await, handshakes_refused + 1);
    assert_eq!(h.metric(not_allowed).await, not_allowed_before + 1, "counted by its response code");

    // The refusal spent nothing: with a cap of three, the same commit (same epoch, same claim)
    // is accepted.
    h.stop().await;
    let h = start(dir.path(), |c| c.quotas.members_per_room = 3).await;
    assert!(is_success(&update(&h, &token, &path, &commit).await));
    assert_eq!(log_end(&h, &token, &path).await, before + 1);
    assert_eq!(queued(&h, &carol_token).await, 1);
    assert_eq!(h.metric(&refused("members_per_room")).await, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_beyond_the_epochs_cap_are_not_allowed_until_the_next_commit() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), |c| c.quotas.proposals_per_epoch = 1).await;
    let (mut alice, token, path) = alice_room(&h).await;
    // Alice's laptop joins: two members, each of which can propose.
    let (mut laptop, laptop_token) = device(&h, "alice", "laptop").await;
    let kp = claim(&h, &alice, &token, "mimi://a.example/u/alice").await;
    let commit = alice.commit(ops::add_own_device(vec![kp]));
    assert!(is_success(&update(&h, &token, &path, &bundle_of(&commit)).await));
    alice.merge();
    laptop.join(commit.welcome().cloned().unwrap());
    let series = refused("proposals_per_epoch");

    // The laptop's update proposal is the epoch's one.
    let laptops = attack::propose_update_as(&mut laptop, "mimi://a.example/d/alice/laptop").unwrap();
    assert!(is_success(&update(&h, &laptop_token, &path, &proposal_bundle(&laptops)).await));
    let before = log_end(&h, &token, &path).await;
    // Alice's would be the second: notAllowed, naming the quota, nothing logged.
    let alices = attack::propose_update_as(&mut alice, "mimi://a.example/d/alice/phone").unwrap();
    let answer = update(&h, &token, &path, &proposal_bundle(&alices)).await;
    assert!(matches!(answer.outcome, UpdateRoomOutcome::NotAllowed), "{:?}", answer.outcome);
    let why = answer.error_description.to_string();
    assert!(why.contains("would hold 2, more than the 1 allowed (proposals_per_epoch)"), "{why}");
    assert_eq!(log_end(&h, &token, &path).await, before, "nothing was logged");
    assert_eq!(h.metric(&series).await, 1);

    // Alice drops her proposal and commits the laptop's, which the hub still holds as the
    // epoch's only one: accepted. In the new epoch a proposal is accepted again.
    let (group, provider, _) = alice.parts();
    group.clear_pending_proposals(provider.storage()).unwrap();
    let message = to_in(&laptops).try_into_protocol_message().unwrap();
    assert!(matches!(alice.process(message).unwrap(), Incoming::Proposal));
    assert!(is_success(&update(&h, &token, &path, &bundle_of(&alice.commit(UserOperation::default()))).await));
    alice.merge();
    let alices = attack::propose_update_as(&mut alice, "mimi://a.example/d/alice/phone").unwrap();
    assert!(is_success(&update(&h, &token, &path, &proposal_bundle(&alices)).await));
    assert_eq!(log_end(&h, &token, &path).await, before + 2);
    assert_eq!(h.metric(&series).await, 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_beyond_its_routes_limit_is_refused_413_and_update_has_a_limit_of_its_own() {
    // The sizes the default update limit's arithmetic uses (`DEFAULT_MAX_UPDATE_BODY_BYTES`): a
    // KeyPackage of ours, as uploaded, is at most 600 bytes.
    let kp_len = to_in(&MlsMessageOut::from(Client::new("alice", "phone").key_package())).tls_serialized_len();
    assert!(kp_len <= 600, "a KeyPackage of {kp_len} bytes");

    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), |c| {
        c.max_body_bytes = 64 * 1024;
        c.max_update_body_bytes = 256 * 1024;
    })
    .await;
    let (mut alice, token, path) = alice_room(&h).await;
    let (_, bob_token) = device(&h, "bob", "phone").await;
    let series = refused("body_bytes");
    let before = log_end(&h, &token, &path).await;

    // 100 KiB: beyond the 64 KiB of an upload's route, 413 and counted; within update's 256 KiB,
    // so the update handler decides (400: not an UpdateRequest).
    let body = vec![0u8; 100 * 1024];
    let (status, _, text) = h.post_full("/client/v1/keyPackages", Some(&token), body.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{}", String::from_utf8_lossy(&text));
    assert_eq!(h.metric(&series).await, 1);
    assert_eq!(h.post_full(&format!("{path}/update"), Some(&token), body).await.0, StatusCode::BAD_REQUEST);
    // 300 KiB: beyond update's own limit.
    let (status, _, _) = h.post_full(&format!("{path}/update"), Some(&token), vec![0u8; 300 * 1024]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(h.metric(&series).await, 2);
    assert_eq!(log_end(&h, &token, &path).await, before, "nothing was logged");

    // An honest commit adding bob (with its Welcome and GroupInfo, which carry the tree) is
    // accepted; its size is what a commit of a two-member room costs.
    let bobs = claim(&h, &alice, &token, "mimi://a.example/u/bob").await;
    let commit = bundle_of(&alice.commit(invite(bobs)));
    let commit_len = UpdateRequest { bundle: commit.clone() }.encode().unwrap().len();
    assert!(commit_len < 64 * 1024, "a commit adding one client to a room of one: {commit_len} bytes");
    assert!(is_success(&update(&h, &token, &path, &commit).await));
    assert_eq!(queued(&h, &bob_token).await, 1);
    assert_eq!(h.metric(&series).await, 2);
    h.stop().await;
}

/// `groupInfo` requests are counted per authenticated client per minute before anything of them
/// is decoded: beyond `group_info_per_client` they are answered 429 with `Retry-After`, counted in
/// `hub_group_info_rate_limited_total`, while another client's requests are still taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_info_requests_beyond_the_clients_limit_are_refused_before_they_are_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), |c| c.group_info_limits.per_client = 2).await;
    let alice = h.registered("alice", "phone", None, None).await;
    let bob = h.registered("bob", "phone", None, None).await;
    let path = format!("/client/v1/rooms/{}/groupInfo", encode_path_segment("mimi://a.example/r/club"));
    for _ in 0..2 {
        let (status, _, body) = h.post_full(&path, Some(&alice), vec![0xff; 8]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&body));
    }
    let (status, headers, body) = h.post_full(&path, Some(&alice), vec![0xff; 8]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("60"));
    assert!(String::from_utf8_lossy(&body).contains("too many groupInfo requests"));
    assert_eq!(h.post(&path, Some(&bob), vec![0xff; 8]).await.0, StatusCode::BAD_REQUEST, "Bob's count is his own");
    assert_eq!(h.metric("hub_group_info_rate_limited_total").await, 1);
    // Refused requests are counted by status too: three 400s, one 429.
    assert_eq!(h.metric("mimi_refusals_total{source=\"http\",code=\"400\"}").await, 3);
    assert_eq!(h.metric("mimi_refusals_total{source=\"http\",code=\"429\"}").await, 1);
    h.stop().await;
}
