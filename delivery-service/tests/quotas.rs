//! The provider's quotas (docs/DESIGN.md §7, "Quotas") through the real HTTPS client API of a
//! provider served as `mimi-ds serve` serves it, with a real redb file and small caps set in its
//! configuration: a request beyond a cap is refused with the documented answer, counted in
//! `mimi_quota_refused_total`, and changes nothing (what it would have stored is not there), and
//! an honest request afterwards still goes through.

mod support;

use std::path::Path;

use mimi_ds::config::{Config, Registration};
use mimi_protocol::client_api::KeyPackageUpload;
use mimi_protocol::directory::encode_path_segment;
use mimi_protocol::key_material::ClientKeyMaterialStatus;
use mimi_protocol::Body;
use openmls::prelude::*;
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
