//! Authentication of our own devices through the real HTTPS client API of a provider started as
//! `mimi-ds serve` starts it (a real redb file, the admin socket, dev certificates): every way in
//! that is not a credential we accept is refused, and the refusal changes nothing — no new device,
//! the old token still works, the KeyPackage directory serves only the real devices, an enrollment
//! code that was not used stays good. The operator's commands are run as the `mimi-ds` binary
//! against the running server.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mimi_ds::admin::AdminRequest;
use mimi_ds::auth::tokens::token_hash;
use mimi_ds::auth::{JwtAlgorithm, Voucher};
use mimi_ds::config::{JwtConfig, Registration};
use mimi_ds::pki;
use mimi_ds::store::{StoredToken, Write};
use mimi_protocol::client_api::RoomEntries;
use mimi_protocol::directory::{encode_path_segment, Endpoint};
use mimi_protocol::update::{UpdateRequest, UpdateRoomOutcome, UpdateRoomResponse};
use mimi_protocol::Body;
use reqwest::StatusCode;
use support::harness::*;
use support::*;

const ALICE: &str = "mimi://a.example/u/alice";
const ISSUER: &str = "https://login.a.example";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn active(devices: &[&str]) -> Vec<(String, String)> {
    devices.iter().map(|d| (d.to_string(), "active".to_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_without_a_code_is_refused_when_registration_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), Registration::Codes).await;
    let code = h.code("alice").await;
    let phone = h.registered("alice", "phone", Some(&code), None).await;

    // Nobody registers a device without a credential, neither a new user nor a new device of
    // an existing one.
    for (user, device) in [("bob", "phone"), ("alice", "ghost")] {
        let (status, _, text) = h.register(user, device, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
        assert!(text.contains("enrollment code"), "{text}");
    }
    assert!(h.devices("bob").await.is_empty());
    assert_eq!(h.devices("alice").await, active(&["mimi://a.example/d/alice/phone"]));
    assert_eq!(h.queue_status(&phone).await, StatusCode::OK);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_with_a_wrong_a_foreign_an_expired_or_a_spent_code_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    pki::generate(dir.path(), &["a.example".to_owned()]).unwrap();
    // A code that expired a second ago (the operator's command cannot make one).
    let expired = Write::AddEnrollmentCode {
        hash: mimi_ds::auth::codes::code_hash("expired-code"),
        code: mimi_ds::store::CodeRecord { user: ALICE.into(), expires_ms: now_ms() - 1000 },
        now_ms: now_ms() - 2000,
    };
    seed(&config(dir.path(), Registration::Codes), vec![expired]).await;
    let h = Harness::start(dir.path(), Registration::Codes).await;
    let alices = h.code("alice").await;
    let bobs = h.code("bob").await;
    let carol_code = h.code("carol").await;
    let carol = Client::new("carol", "phone");
    let carol_token = h.registered("carol", "phone", Some(&carol_code), None).await;

    let wrong = "0000-0000-0000-0000-0000-0000-0000-0000";
    for code in [wrong, "expired-code", bobs.as_str()] {
        let (status, _, text) = h.register("alice", "phone", Some(code), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{code}: {text}");
        assert!(text.contains("unknown, expired, already used or for another user"), "{text}");
    }
    assert!(h.devices("alice").await.is_empty(), "nothing was registered");

    // Alice's own code works once; spent, it enrols nothing more.
    let phone_client = Client::new("alice", "phone");
    let phone = h.registered("alice", "phone", Some(&alices), None).await;
    h.upload_last_resort(&phone, &phone_client).await;
    let (status, _, text) = h.register("alice", "laptop", Some(&alices), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert_eq!(h.devices("alice").await, active(&["mimi://a.example/d/alice/phone"]));
    assert_eq!(h.claimed_devices(&carol, &carol_token, ALICE).await, ["mimi://a.example/d/alice/phone"]);
    // Bob's code was not spent by the refused attempt with it.
    h.registered("bob", "phone", Some(&bobs), None).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_an_existing_device_again_is_refused_and_its_token_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), Registration::Codes).await;
    let first = h.code("alice").await;
    let phone = h.registered("alice", "phone", Some(&first), None).await;
    let carol_code = h.code("carol").await;
    let carol = Client::new("carol", "phone");
    let carol_token = h.registered("carol", "phone", Some(&carol_code), None).await;
    h.upload_last_resort(&phone, &Client::new("alice", "phone")).await;

    // With a fresh, valid code, and with the device's own token: 409, nothing changes.
    let second = h.code("alice").await;
    let (status, json, text) = h.register("alice", "phone", Some(&second), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(json.is_null() && text.contains("already registered"), "{text}");
    let (status, _, text) = h.register("alice", "phone", None, Some(&phone)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert_eq!(h.queue_status(&phone).await, StatusCode::OK, "the old token keeps working");
    assert_eq!(h.devices("alice").await, active(&["mimi://a.example/d/alice/phone"]));
    assert_eq!(h.claimed_devices(&carol, &carol_token, ALICE).await, ["mimi://a.example/d/alice/phone"]);
    // The code the refused registration presented is still good.
    h.registered("alice", "laptop", Some(&second), None).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolling_a_device_of_alice_with_bobs_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), Registration::Codes).await;
    let alice_code = h.code("alice").await;
    let phone = h.registered("alice", "phone", Some(&alice_code), None).await;
    h.upload_last_resort(&phone, &Client::new("alice", "phone")).await;
    let bob_code = h.code("bob").await;
    let bob = Client::new("bob", "phone");
    let bob_token = h.registered("bob", "phone", Some(&bob_code), None).await;

    let (status, _, text) = h.register("alice", "evil", None, Some(&bob_token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("mimi://a.example/d/bob/phone cannot enrol a device of mimi://a.example/u/alice"), "{text}");
    // An unknown token, and a code and a token together, are refused too.
    let (status, _, _) = h.register("alice", "evil", None, Some(&"ab".repeat(32))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = h.register("alice", "evil", Some(&alice_code), Some(&phone)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(h.devices("alice").await, active(&["mimi://a.example/d/alice/phone"]));
    assert_eq!(h.claimed_devices(&bob, &bob_token, ALICE).await, ["mimi://a.example/d/alice/phone"]);
    assert_eq!(h.queue_status(&bob_token).await, StatusCode::OK);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_enrols_with_a_code_a_second_with_its_token_and_a_token_is_renewed() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), Registration::Codes).await;
    let code = h.code("alice").await;
    let phone = h.registered("alice", "phone", Some(&code), None).await;
    let laptop = h.registered("alice", "laptop", None, Some(&phone)).await;
    assert_eq!(h.queue_status(&laptop).await, StatusCode::OK);
    assert_eq!(
        h.devices("alice").await,
        active(&["mimi://a.example/d/alice/laptop", "mimi://a.example/d/alice/phone"])
    );

    // A renewal hands out a new token; the old one stops working, the other device's does not.
    let (status, renewed) = h.renew(&phone).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(renewed["client"], "mimi://a.example/d/alice/phone");
    let new_phone = renewed["token"].as_str().unwrap();
    assert_eq!(h.queue_status(new_phone).await, StatusCode::OK);
    assert_eq!(h.queue_status(&phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(h.renew(&phone).await.0, StatusCode::UNAUTHORIZED, "a replaced token renews nothing");
    assert_eq!(h.queue_status(&laptop).await, StatusCode::OK);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    pki::generate(dir.path(), &["a.example".to_owned()]).unwrap();
    // Tokens issued with a lifetime that has run out (the API issues them for at least a minute).
    let (stale, live) = ("stale-token", "live-token");
    let register = Write::RegisterClient {
        client: "mimi://a.example/d/alice/phone".into(),
        user: ALICE.into(),
        voucher: Voucher::Open,
        token: Some(StoredToken { hash: token_hash(stale), expires_ms: now_ms() - 1 }),
        now_ms: now_ms() - 10_000,
    };
    let other = Write::IssueToken {
        client: "mimi://a.example/d/alice/phone".into(),
        token: StoredToken { hash: token_hash(live), expires_ms: now_ms() + 3_600_000 },
        replaces: None,
        now_ms: now_ms() - 10_000,
    };
    seed(&config(dir.path(), Registration::Codes), vec![register, other]).await;
    let h = Harness::start(dir.path(), Registration::Codes).await;
    let r = h.http.get(format!("{}/client/v1/queue", h.base)).bearer_auth(stale).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("token expired"));
    assert_eq!(h.renew(stale).await.0, StatusCode::UNAUTHORIZED, "an expired token renews nothing");
    assert_eq!(h.queue_status(live).await, StatusCode::OK);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused_at_once_on_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), Registration::Codes).await;
    let code = h.code("alice").await;
    let mut alice = Client::new("alice", "phone");
    let phone = h.registered("alice", "phone", Some(&code), None).await;
    let laptop = h.registered("alice", "laptop", None, Some(&phone)).await;
    let hub_key = mimi_ds::provider::load_or_create_hub_key(&h.config.data_dir.join("hub-key.tls")).unwrap();
    let gi = create_group(&mut alice, &hub_key.to_public_vec());
    let room = format!("/client/v1/rooms/{}", encode_path_segment(ROOM));
    assert_eq!(h.post(&room, Some(&phone), gi).await.0, StatusCode::CREATED);
    let (request, _) = alice.group_info_request(&alice.signer).unwrap();
    let group_info = |token: String| {
        let body = request.encode().unwrap();
        let h = &h;
        let room = room.clone();
        async move { h.post(&format!("{room}/groupInfo"), Some(&token), body).await.0 }
    };
    assert_eq!(group_info(phone.clone()).await, StatusCode::OK);

    // The operator revokes the phone with the `mimi-ds` command while the server runs.
    let out = h.cli(&["client", "revoke", "mimi://a.example/d/alice/phone"]);
    assert_eq!(text(&out.stdout).trim(), "mimi://a.example/d/alice/phone revoked");
    assert!(text(&out.stderr).contains("done by the running server"), "{}", text(&out.stderr));
    // The very next request with its token is refused, a GroupInfo request too.
    assert_eq!(h.queue_status(&phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(group_info(phone.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(h.renew(&phone).await.0, StatusCode::UNAUTHORIZED);
    // Its name stays taken; the user's other device is untouched.
    let fresh = h.code("alice").await;
    assert_eq!(h.register("alice", "phone", Some(&fresh), None).await.0, StatusCode::CONFLICT);
    assert_eq!(h.queue_status(&laptop).await, StatusCode::OK);
    let listed = text(&h.cli(&["client", "list", "alice"]).stdout);
    assert!(listed.contains("mimi://a.example/d/alice/laptop active"), "{listed}");
    assert!(listed.contains("mimi://a.example/d/alice/phone revoked"), "{listed}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_devices_key_packages_are_no_longer_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), Registration::Codes).await;
    let code = h.code("alice").await;
    let phone = h.registered("alice", "phone", Some(&code), None).await;
    let laptop = h.registered("alice", "laptop", None, Some(&phone)).await;
    h.upload_last_resort(&phone, &Client::new("alice", "phone")).await;
    h.upload_last_resort(&laptop, &Client::new("alice", "laptop")).await;
    let carol_code = h.code("carol").await;
    let carol = Client::new("carol", "phone");
    let carol_token = h.registered("carol", "phone", Some(&carol_code), None).await;
    let both = ["mimi://a.example/d/alice/laptop", "mimi://a.example/d/alice/phone"];
    assert_eq!(h.claimed_devices(&carol, &carol_token, ALICE).await, both);

    let out = h.cli(&["client", "remove", "mimi://a.example/d/alice/laptop"]);
    assert_eq!(text(&out.stdout).trim(), "mimi://a.example/d/alice/laptop removed");
    assert_eq!(h.claimed_devices(&carol, &carol_token, ALICE).await, ["mimi://a.example/d/alice/phone"]);
    assert_eq!(h.queue_status(&laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(h.devices("alice").await, active(&["mimi://a.example/d/alice/phone"]));
    // Its name is free again: a new laptop enrols, and is served only once it uploads.
    h.registered("alice", "laptop", None, Some(&phone)).await;
    assert_eq!(h.claimed_devices(&carol, &carol_token, ALICE).await, both, "listed as exhausted, not served");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_commit_by_an_unregistered_client_of_the_hub_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), Registration::Codes).await;
    let code = h.code("alice").await;
    let mut alice = Client::new("alice", "phone");
    let phone = h.registered("alice", "phone", Some(&code), None).await;
    let hub_key = mimi_ds::provider::load_or_create_hub_key(&h.config.data_dir.join("hub-key.tls")).unwrap();
    let gi = create_group(&mut alice, &hub_key.to_public_vec());
    let room = format!("/client/v1/rooms/{}", encode_path_segment(ROOM));
    assert_eq!(h.post(&room, Some(&phone), gi).await.0, StatusCode::CREATED);
    let log_end = || async {
        let r = h.http.get(format!("{}{room}/log", h.base)).bearer_auth(&phone).send().await.unwrap();
        RoomEntries::decode(&r.bytes().await.unwrap(), 1 << 20).unwrap().next_after
    };
    let before = log_end().await;

    // A device of alice that we never registered joins from alice's GroupInfo. It has no token,
    // so the commit comes through the peer API, from a party holding a certificate for our own
    // domain (the one way such a commit reaches the hub's rules).
    let mut ghost = Client::new("alice", "ghost");
    let join = ghost.external_join(&alice.group_info().unwrap());
    let body = UpdateRequest { bundle: bundle_of(&join) }.encode().unwrap();
    let tls = mimi_ds::tls::client_config(&h.config.tls).unwrap();
    let peer = reqwest::Client::builder().tls_backend_preconfigured(tls).resolve("a.example", h.addr).build().unwrap();
    let path = Endpoint::Update.path_template().replace("{roomId}", &encode_path_segment(ROOM));
    let r = peer
        .post(format!("{}{path}", h.base))
        .header(reqwest::header::FROM, "mimi@a.example")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let answer = UpdateRoomResponse::decode(&r.bytes().await.unwrap(), 1 << 20).unwrap();
    assert!(matches!(answer.outcome, UpdateRoomOutcome::NotAllowed), "{:?}", answer.outcome);
    let why = answer.error_description.to_string();
    assert!(why.contains("mimi://a.example/d/alice/ghost is not a registered client of a.example"), "{why}");
    assert_eq!(log_end().await, before, "nothing was logged");

    // A device enrolled by alice joins the same way at the same epoch: the room did not move.
    let laptop_token = h.registered("alice", "laptop", None, Some(&phone)).await;
    let mut laptop = Client::new("alice", "laptop");
    let join = laptop.external_join(&alice.group_info().unwrap());
    let body = UpdateRequest { bundle: bundle_of(&join) }.encode().unwrap();
    let (status, body) = h.post(&format!("{room}/update"), Some(&laptop_token), body).await;
    assert_eq!(status, StatusCode::OK);
    let answer = UpdateRoomResponse::decode(&body, 1 << 20).unwrap();
    assert!(matches!(answer.outcome, UpdateRoomOutcome::Success { .. }), "{:?}", answer.outcome);
    assert_eq!(log_end().await, before + 1);
    h.stop().await;
}

/// The identity service of the JWT tests: a key pair and the algorithm it signs with.
struct IdentityService {
    key: EncodingKey,
    public_pem: String,
    algorithm: Algorithm,
}

impl IdentityService {
    fn ed25519() -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let key = EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).unwrap();
        IdentityService { key, public_pem: pair.public_key_pem(), algorithm: Algorithm::EdDSA }
    }

    fn p256() -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        IdentityService { key, public_pem: pair.public_key_pem(), algorithm: Algorithm::ES256 }
    }

    /// Our registration mode trusting this service (its public key written under `dir`).
    fn registration(&self, dir: &Path) -> Registration {
        let public_key = dir.join("idp-public.pem");
        std::fs::write(&public_key, &self.public_pem).unwrap();
        let algorithm = if self.algorithm == Algorithm::ES256 { JwtAlgorithm::Es256 } else { JwtAlgorithm::EdDsa };
        Registration::Jwt(JwtConfig {
            public_key,
            algorithm,
            issuer: ISSUER.into(),
            audience: "a.example".into(),
            leeway_secs: 5,
        })
    }

    fn sign(&self, claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(self.algorithm), claims, &self.key).unwrap()
    }
}

/// Claims of a login of `user`'s `device`, issued at `iat`, valid for an hour.
fn login(user: &str, device: &str, iat: u64) -> serde_json::Value {
    serde_json::json!({ "iss": ISSUER, "aud": "a.example", "sub": user, "device": device, "iat": iat, "exp": iat + 3600 })
}

/// Unpadded base64url (RFC 4648 §5), for a JWT put together by hand.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn now_secs() -> u64 {
    now_ms() / 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_jwt_that_does_not_verify_is_refused_and_registers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let idp = IdentityService::ed25519();
    let h = Harness::start(dir.path(), idp.registration(dir.path())).await;
    let now = now_secs();
    let b64 = |v: serde_json::Value| base64url(v.to_string().as_bytes());
    let with = |key: &str, value: serde_json::Value| {
        let mut c = login("alice", "phone", now);
        c[key] = value;
        c
    };
    let mut no_exp = login("alice", "phone", now);
    no_exp.as_object_mut().unwrap().remove("exp");
    let mallory = IdentityService::ed25519();
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &login("alice", "phone", now),
        &EncodingKey::from_secret(idp.public_pem.as_bytes()),
    )
    .unwrap();
    let attacks = [
        ("signed with another key", mallory.sign(&login("alice", "phone", now))),
        (
            "alg none",
            format!("{}.{}.", b64(serde_json::json!({"alg": "none", "typ": "JWT"})), b64(login("alice", "phone", now))),
        ),
        ("expired", idp.sign(&with("exp", (now - 3600).into()))),
        ("no exp", idp.sign(&no_exp)),
        ("wrong aud", idp.sign(&with("aud", "b.example".into()))),
        ("wrong iss", idp.sign(&with("iss", "https://login.evil.example".into()))),
        ("HS256 keyed with the public key", hs256),
        ("issued in the future", idp.sign(&with("iat", (now + 3600).into()))),
    ];
    for (attack, jwt) in &attacks {
        let (status, _, text) = h.register("alice", "phone", None, Some(jwt)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{attack}: {text}");
        assert!(text.starts_with("login refused"), "{attack}: {text}");
        assert_eq!(h.queue_status(jwt).await, StatusCode::UNAUTHORIZED, "{attack}");
        assert_eq!(h.renew(jwt).await.0, StatusCode::UNAUTHORIZED, "{attack}");
    }
    assert!(h.devices("alice").await.is_empty(), "no login registered a device");
    // Codes are not how this provider enrols, and nothing at all is not either.
    assert_eq!(h.register("alice", "phone", None, None).await.0, StatusCode::UNAUTHORIZED);
    let (status, _, text) = h.register("alice", "phone", Some("1234"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(h.devices("alice").await.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_jwt_registers_its_device_on_first_use_and_dies_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let idp = IdentityService::ed25519();
    let h = Harness::start(dir.path(), idp.registration(dir.path())).await;
    let jwt = idp.sign(&login("alice", "phone", now_secs()));
    // First use: the device is registered; the login is its credential on every request.
    assert_eq!(h.queue_status(&jwt).await, StatusCode::OK);
    assert_eq!(h.devices("alice").await, active(&["mimi://a.example/d/alice/phone"]));
    assert_eq!(h.queue_status(&jwt).await, StatusCode::OK);
    // Registering it again is refused; exchanging the login for one of our tokens is not.
    assert_eq!(h.register("alice", "phone", None, Some(&jwt)).await.0, StatusCode::CONFLICT);
    let (status, json) = h.renew(&jwt).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = json["token"].as_str().unwrap().to_owned();
    assert_eq!(h.queue_status(&token).await, StatusCode::OK);
    // A login naming another device than the one to register is refused.
    let (status, _, _) = h.register("alice", "laptop", None, Some(&jwt)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Explicit registration of a new device with its own login.
    let laptop = idp.sign(&login("alice", "laptop", now_secs()));
    h.registered("alice", "laptop", None, Some(&laptop)).await;

    // Revoked: the login and the token die at once.
    h.admin(AdminRequest::RevokeClient { client: "mimi://a.example/d/alice/phone".into() }).await;
    assert_eq!(h.queue_status(&jwt).await, StatusCode::UNAUTHORIZED);
    assert_eq!(h.queue_status(&token).await, StatusCode::UNAUTHORIZED);
    let fresh = idp.sign(&login("alice", "phone", now_secs()));
    assert_eq!(h.queue_status(&fresh).await, StatusCode::UNAUTHORIZED, "a revoked device stays out");
    // Removed: a login issued before the removal does not bring it back; a later one does.
    h.admin(AdminRequest::RemoveClient { client: "mimi://a.example/d/alice/phone".into() }).await;
    assert_eq!(h.queue_status(&fresh).await, StatusCode::UNAUTHORIZED);
    assert_eq!(h.devices("alice").await, active(&["mimi://a.example/d/alice/laptop"]));
    let later = idp.sign(&login("alice", "phone", now_secs() + 1));
    assert_eq!(h.queue_status(&later).await, StatusCode::OK);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_es256_login_registers_its_device() {
    let dir = tempfile::tempdir().unwrap();
    let idp = IdentityService::p256();
    let h = Harness::start(dir.path(), idp.registration(dir.path())).await;
    let jwt = idp.sign(&login("bob", "pc", now_secs()));
    assert_eq!(h.queue_status(&jwt).await, StatusCode::OK);
    assert_eq!(h.devices("bob").await, active(&["mimi://a.example/d/bob/pc"]));
    // An EdDSA login is not of this service.
    let other = IdentityService::ed25519().sign(&login("bob", "pc", now_secs()));
    assert_eq!(h.queue_status(&other).await, StatusCode::UNAUTHORIZED);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_issued_while_no_server_runs_enrols_a_device_and_the_admin_socket_is_private() {
    let dir = tempfile::tempdir().unwrap();
    pki::generate(dir.path(), &["a.example".to_owned()]).unwrap();
    let config_file = dir.path().join("provider.toml");
    let data = dir.path().join("data");
    std::fs::write(&config_file, format!("domain = \"a.example\"\ndata_dir = {:?}\n", data.display().to_string()))
        .unwrap();
    let out = cli(&config_file, &["user", "add", "alice", "--lifetime", "600"]);
    assert!(text(&out.stderr).contains("no server answered"), "{}", text(&out.stderr));
    let code = text(&out.stdout).lines().last().unwrap().to_owned();

    let h = Harness::start(dir.path(), Registration::Codes).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
        let meta = std::fs::metadata(h.config.admin_socket_path()).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    h.registered("alice", "phone", Some(&code), None).await;
    let socket = h.config.admin_socket_path();
    h.stop().await;
    assert!(!socket.exists(), "the socket is removed when the server stops");
}

/// Log lines, as the server writes them.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn open_registration_logs_a_warning_at_start() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), Registration::Open).await;
    let logged = String::from_utf8_lossy(&lines.0.lock().unwrap()).into_owned();
    let warning = logged.lines().find(|l| l.contains("registration is OPEN")).unwrap_or_else(|| panic!("{logged}"));
    assert!(warning.contains("WARN"), "{warning}");
    // Open, anyone registers; a taken name is still refused.
    h.registered("eve", "phone", None, None).await;
    assert_eq!(h.register("eve", "phone", None, None).await.0, StatusCode::CONFLICT);
    h.stop().await;

    // Closed (the default), nothing is said.
    lines.0.lock().unwrap().clear();
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), Registration::Codes).await;
    assert!(!String::from_utf8_lossy(&lines.0.lock().unwrap()).contains("registration is OPEN"));
    h.stop().await;
}
