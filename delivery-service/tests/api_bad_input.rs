//! Malformed and hostile requests to the client API over real HTTPS (dev certificates, a real
//! redb file): each is answered with the documented code, and the room is unchanged afterwards
//! (same epoch, same log).

mod support;

use std::path::Path;
use std::sync::Arc;

use mimi_appsync::ops::{self, UserOperation};
use mimi_appsync::presets::administered_roles::ORDINARY_USER;
use mimi_ds::auth::OpenRegistration;
use mimi_ds::config::{Config, TlsPaths};
use mimi_ds::metrics::Registry;
use mimi_ds::pki;
use mimi_ds::provider::{load_or_create_hub_key, Provider};
use mimi_ds::server::Server;
use mimi_ds::store::redb::RedbStore;
use mimi_ds::store::Store;
use mimi_protocol::client_api::KeyPackageUpload;
use mimi_protocol::directory::encode_path_segment;
use mimi_protocol::group_info::{GroupInfoResponse, GroupInfoStatus};
use mimi_protocol::key_material::{
    ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialRequestTBS, KeyMaterialResponse, KeyMaterialUserCode,
};
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageResponse, SubmitMessageStatus};
use mimi_protocol::update::{UpdateRequest, UpdateRoomOutcome, UpdateRoomResponse};
use mimi_protocol::{Body, IdentifierUri, Protocol};
use openmls::prelude::*;
use reqwest::StatusCode;
use support::*;

struct Harness {
    http: reqwest::Client,
    base: String,
    provider: Arc<Provider<RedbStore>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Harness {
    async fn start(dir: &Path) -> Harness {
        pki::generate(dir, &["a.example".to_owned()]).unwrap();
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: TlsPaths::dev_pki(dir, "a.example"),
            max_body_bytes: 256 * 1024,
            // The oversized body below goes to `update`, which has a limit of its own.
            max_update_body_bytes: 256 * 1024,
            data_dir: dir.join("data"),
            ..Config::default()
        };
        let store = RedbStore::open(&config.store_path(), 64).unwrap();
        let key = load_or_create_hub_key(&config.data_dir.join("hub-key.tls")).unwrap();
        let provider =
            Arc::new(Provider::open("a.example", key, store).await.unwrap().with_authority(Arc::new(OpenRegistration)));
        let server = Server::bind(&config).await.unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = mimi_ds::api::client::router(provider.clone());
        tokio::spawn(async move {
            let _ = server
                .serve(router, &Registry::new(), async {
                    let _ = stopped.await;
                })
                .await;
        });
        let http = support::https_client(&config.tls.ca, addr);
        Harness { http, base: format!("https://a.example:{}", addr.port()), provider, stop }
    }

    async fn register(&self, user: &str, device: &str) -> String {
        let r = self
            .http
            .post(format!("{}/client/v1/register", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::json!({"user": user, "device": device}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let j: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        j["token"].as_str().unwrap().to_owned()
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
        let mut req = self.http.post(format!("{}{path}", self.base)).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.bytes().await.unwrap().to_vec())
    }

    /// The room's epoch, log position and log length (what must not change on a refusal).
    async fn state(&self) -> (u64, u64, usize) {
        let (epoch, seq) = self.provider.room_position(ROOM).await.unwrap();
        (epoch, seq, self.provider.store().log_after(ROOM, 0, 10_000).await.unwrap().len())
    }
}

fn room_path(suffix: &str) -> String {
    format!("/client/v1/rooms/{}{suffix}", encode_path_segment(ROOM))
}

fn update_body(bundle: mimi_protocol::update::HandshakeBundle) -> Vec<u8> {
    UpdateRequest { bundle }.encode().unwrap()
}

fn outcome(body: &[u8]) -> UpdateRoomOutcome {
    UpdateRoomResponse::decode(body, 1 << 20).unwrap().outcome
}

fn key_material_request(c: &Client, target: &str) -> Vec<u8> {
    let tbs = KeyMaterialRequestTBS {
        protocol: Protocol::Mls10,
        requesting_user: IdentifierUri::new(c.uri.user().as_str()),
        target_user: IdentifierUri::new(target),
        room_id: IdentifierUri::new(ROOM),
        acceptable_ciphersuites: vec![CS.into()],
        required_capabilities: RequiredCapabilitiesExtension::new(&[], &[], &[]),
        requester_signature_key: c.signer.to_public_vec().into(),
        requester_credential: c.credential.credential.clone(),
    };
    KeyMaterialRequest::sign(tbs, &c.signer).unwrap().encode().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_documented_codes_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path()).await;
    let mut alice = Client::new("alice", "phone");
    let mut bob = Client::new("bob", "phone");
    let alice_token = h.register("alice", "phone").await;
    let bob_token = h.register("bob", "phone").await;
    let upload = |c: &Client| {
        KeyPackageUpload { key_packages: vec![to_in(&MlsMessageOut::from(c.key_package()))] }.encode().unwrap()
    };
    assert_eq!(h.post("/client/v1/keyPackages", Some(&bob_token), upload(&bob)).await.0, StatusCode::CREATED);

    // A room whose GroupContext does not list the hub as external sender is refused.
    let mut stray = Client::new("alice", "phone");
    let wrong_key = openmls_basic_credential::SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
    let gi = create_group(&mut stray, &wrong_key.to_public_vec());
    let (status, body) = h.post(&room_path(""), Some(&alice_token), gi).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("external_senders"));

    // The real room; bob is invited with his claimed KeyPackage, then alice updates her key.
    let gi = create_group(&mut alice, &h.provider.hub_signature_key());
    assert_eq!(h.post(&room_path(""), Some(&alice_token), gi).await.0, StatusCode::CREATED);
    let (status, body) = h
        .post(
            &format!("/client/v1/keyMaterial/{}", encode_path_segment(bob.uri.user().as_str())),
            Some(&alice_token),
            key_material_request(&alice, bob.uri.user().as_str()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let km = KeyMaterialResponse::decode(&body, 1 << 20).unwrap();
    assert_eq!(km.user_status, KeyMaterialUserCode::Success);
    let ClientKeyMaterialStatus::Success { key_package } = km.clients[0].status.clone() else { panic!() };
    let kp = key_package.validate(alice.provider.crypto(), ProtocolVersion::Mls10).unwrap();
    let op = ops::invite_user(&bob.uri.user(), ORDINARY_USER, vec![kp]).unwrap();
    let b = alice.commit(op);
    let (status, body) = h.post(&room_path("/update"), Some(&alice_token), update_body(bundle_of(&b))).await;
    assert!(matches!(outcome(&body), UpdateRoomOutcome::Success { .. }), "{status}");
    alice.merge();
    let w = match to_in(&MlsMessageOut::from_welcome(b.welcome().unwrap().clone(), ProtocolVersion::Mls10)).extract() {
        MlsMessageBodyIn::Welcome(w) => w,
        _ => panic!(),
    };
    bob.join(w);
    let stale = bob.commit(UserOperation::default());
    bob.discard();
    let b = alice.commit(UserOperation::default());
    let (_, body) = h.post(&room_path("/update"), Some(&alice_token), update_body(bundle_of(&b))).await;
    assert!(matches!(outcome(&body), UpdateRoomOutcome::Success { .. }));
    alice.merge();
    let before = h.state().await;
    assert_eq!((before.0, before.1), (2, 2));

    // Material for the hostile cases.
    let valid = update_body(bundle_of(&stale));
    let app = alice.message(b"hi");
    // The encoder refuses this framing, so the hostile body is put together by hand: the
    // PrivateMessage followed by an empty `moreProposals` vector.
    let private_handshake =
        [openmls::prelude::tls_codec::Serialize::tls_serialize_detached(&app).unwrap(), vec![0]].concat();
    let mut other = Client::new("alice", "pc");
    create_group(&mut other, &h.provider.hub_signature_key());
    let foreign = other.commit(UserOperation::default());
    // Bob (still at epoch 1) merges two commits it never submitted: its next commit is for
    // epoch 3, ahead of the hub's 2.
    for _ in 0..2 {
        bob.commit(UserOperation::default());
        bob.merge();
    }
    let future = bob.commit(UserOperation::default());
    let gi_request = |signer: &openmls_basic_credential::SignatureKeyPair, who: &Client| {
        who.group_info_request(signer).unwrap().0.encode().unwrap()
    };
    let submit = |sending: &str| {
        SubmitMessageRequest {
            protocol: Protocol::Mls10,
            app_message: app.clone(),
            sending_uri: IdentifierUri::new(sending),
        }
        .encode()
        .unwrap()
    };

    enum Expect {
        Status(StatusCode),
        Update(fn(&UpdateRoomOutcome) -> bool),
        Submit(SubmitMessageStatus),
        GroupInfo(fn(&GroupInfoStatus) -> bool),
    }
    let truncated = valid[..valid.len() / 2].to_vec();
    let alices = alice.commit(UserOperation::default());
    alice.discard();
    let mallory = Client::new("mallory", "phone");
    let mallory_token = h.register("mallory", "phone").await;
    /// (case, path, bearer token, body, what must come back)
    type Case<'a> = (&'a str, String, Option<&'a str>, Vec<u8>, Expect);
    let cases: Vec<Case> = vec![
        ("no token", room_path("/update"), None, valid.clone(), Expect::Status(StatusCode::UNAUTHORIZED)),
        (
            "unknown token",
            room_path("/update"),
            Some("deadbeef"),
            valid.clone(),
            Expect::Status(StatusCode::UNAUTHORIZED),
        ),
        (
            "truncated TLS-PL",
            room_path("/update"),
            Some(&alice_token),
            truncated,
            Expect::Status(StatusCode::BAD_REQUEST),
        ),
        ("garbage", room_path("/update"), Some(&alice_token), vec![0xff; 40], Expect::Status(StatusCode::BAD_REQUEST)),
        (
            "trailing byte",
            room_path("/update"),
            Some(&alice_token),
            [valid.clone(), vec![0]].concat(),
            Expect::Status(StatusCode::BAD_REQUEST),
        ),
        (
            "oversized body",
            room_path("/update"),
            Some(&alice_token),
            vec![0; 256 * 1024 + 512],
            Expect::Status(StatusCode::PAYLOAD_TOO_LARGE),
        ),
        (
            "unknown room",
            format!("/client/v1/rooms/{}/update", encode_path_segment("mimi://a.example/r/nowhere")),
            Some(&alice_token),
            valid.clone(),
            Expect::Status(StatusCode::NOT_FOUND),
        ),
        (
            "stale epoch",
            room_path("/update"),
            Some(&bob_token),
            valid.clone(),
            Expect::Update(|o| matches!(o, UpdateRoomOutcome::WrongEpoch { current_epoch: 2 })),
        ),
        (
            "future epoch",
            room_path("/update"),
            Some(&bob_token),
            update_body(bundle_of(&future)),
            Expect::Update(|o| matches!(o, UpdateRoomOutcome::WrongEpoch { current_epoch: 2 })),
        ),
        (
            "wrong group",
            room_path("/update"),
            Some(&alice_token),
            update_body(bundle_of(&foreign)),
            Expect::Update(|o| *o == UpdateRoomOutcome::NotAllowed),
        ),
        (
            "someone else's handshake",
            room_path("/update"),
            Some(&bob_token),
            update_body(bundle_of(&alices)),
            Expect::Update(|o| *o == UpdateRoomOutcome::NotAllowed),
        ),
        (
            "PrivateMessage handshake",
            room_path("/update"),
            Some(&alice_token),
            private_handshake,
            Expect::Update(|o| *o == UpdateRoomOutcome::NotAllowed),
        ),
        (
            "sendingUri of someone else",
            room_path("/submitMessage"),
            Some(&bob_token),
            submit(alice.uri.as_str()),
            Expect::Status(StatusCode::FORBIDDEN),
        ),
        (
            "groupInfo wrongly signed",
            room_path("/groupInfo"),
            Some(&alice_token),
            gi_request(&bob.signer, &alice),
            Expect::GroupInfo(|s| *s == GroupInfoStatus::NotAuthorized),
        ),
        (
            "groupInfo for another client's credential",
            room_path("/groupInfo"),
            Some(&alice_token),
            gi_request(&bob.signer, &bob),
            Expect::Status(StatusCode::FORBIDDEN),
        ),
        (
            "groupInfo by a non-participant",
            room_path("/groupInfo"),
            Some(&mallory_token),
            gi_request(&mallory.signer, &mallory),
            Expect::GroupInfo(|s| *s == GroupInfoStatus::NotAuthorized),
        ),
        (
            "message from a non-member",
            room_path("/submitMessage"),
            Some(&mallory_token),
            submit(mallory.uri.as_str()),
            Expect::Submit(SubmitMessageStatus::NotAllowed),
        ),
        (
            "someone else's KeyPackage",
            "/client/v1/keyPackages".into(),
            Some(&alice_token),
            upload(&bob),
            Expect::Status(StatusCode::FORBIDDEN),
        ),
        (
            "keyMaterial signed for another user",
            format!("/client/v1/keyMaterial/{}", encode_path_segment(bob.uri.user().as_str())),
            Some(&alice_token),
            key_material_request(&bob, bob.uri.user().as_str()),
            Expect::Status(StatusCode::FORBIDDEN),
        ),
    ];
    for (name, path, token, body, expect) in cases {
        let (status, response) = h.post(&path, token, body).await;
        let text = String::from_utf8_lossy(&response).into_owned();
        match expect {
            Expect::Status(s) => {
                assert_eq!(status, s, "{name}: {text}");
                assert!(
                    !text.trim().is_empty() && text.trim().lines().count() == 1,
                    "{name}: one-line reason, got {text:?}"
                );
            }
            Expect::Update(ok) => {
                assert_eq!(status, StatusCode::OK, "{name}: {text}");
                let o = outcome(&response);
                assert!(ok(&o), "{name}: {o:?}");
            }
            Expect::Submit(want) => {
                assert_eq!(status, StatusCode::OK, "{name}");
                assert_eq!(SubmitMessageResponse::decode(&response, 1 << 20).unwrap().status, want, "{name}");
            }
            Expect::GroupInfo(ok) => {
                assert_eq!(status, StatusCode::OK, "{name}: {text}");
                let r = GroupInfoResponse::decode(&response, 1 << 20).unwrap();
                assert!(ok(&r.status), "{name}: {:?}", r.status);
            }
        }
        assert_eq!(h.state().await, before, "{name} changed the room");
    }

    // A KeyPackage is never served twice: bob had one; a second claim finds it exhausted.
    let (_, body) = h
        .post(
            &format!("/client/v1/keyMaterial/{}", encode_path_segment(bob.uri.user().as_str())),
            Some(&alice_token),
            key_material_request(&alice, bob.uri.user().as_str()),
        )
        .await;
    let km = KeyMaterialResponse::decode(&body, 1 << 20).unwrap();
    assert_eq!(km.user_status, KeyMaterialUserCode::NoCompatibleMaterial);
    assert!(matches!(km.clients[0].status, ClientKeyMaterialStatus::KeyMaterialExhausted));

    // Bob is removed; his client then tries to come back by external commit (refused: his user
    // is no longer listed), to commit as a member (his forked commit now names the hub's epoch,
    // 3, but he is no member: refused) and to send a message.
    let op = ops::remove_user(alice.group().public_group(), &bob.uri.user()).unwrap();
    let b = alice.commit(op);
    let (_, body) = h.post(&room_path("/update"), Some(&alice_token), update_body(bundle_of(&b))).await;
    assert!(matches!(outcome(&body), UpdateRoomOutcome::Success { .. }));
    alice.merge();
    let before = h.state().await;
    let gi = alice.group.as_ref().unwrap().export_group_info(alice.provider.crypto(), &alice.signer, true).unwrap();
    let mut bob_again = Client::new("bob", "phone");
    let rejoin = bob_again.external_join(&gi);
    let (status, body) = h.post(&room_path("/update"), Some(&bob_token), update_body(bundle_of(&rejoin))).await;
    assert_eq!((status, outcome(&body)), (StatusCode::OK, UpdateRoomOutcome::NotAllowed), "removed user rejoining");
    let (_, body) = h.post(&room_path("/update"), Some(&bob_token), update_body(bundle_of(&future))).await;
    assert_eq!(outcome(&body), UpdateRoomOutcome::NotAllowed, "removed user's commit");
    let (_, body) = h.post(&room_path("/submitMessage"), Some(&bob_token), submit(bob.uri.as_str())).await;
    assert_eq!(SubmitMessageResponse::decode(&body, 1 << 20).unwrap().status, SubmitMessageStatus::NotAllowed);
    assert_eq!(h.state().await, before, "the removed user's attempts changed the room");

    // Alice's message from epoch 2 is now too old; a fresh one is accepted (so the refusals
    // above were not an outage).
    let (_, body) = h.post(&room_path("/submitMessage"), Some(&alice_token), submit(alice.uri.as_str())).await;
    assert_eq!(
        SubmitMessageResponse::decode(&body, 1 << 20).unwrap().status,
        SubmitMessageStatus::EpochTooOld { current_epoch: 3 }
    );
    let fresh = SubmitMessageRequest {
        protocol: Protocol::Mls10,
        app_message: alice.message(b"still here"),
        sending_uri: IdentifierUri::new(alice.uri.as_str()),
    };
    let (status, body) = h.post(&room_path("/submitMessage"), Some(&alice_token), fresh.encode().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(matches!(
        SubmitMessageResponse::decode(&body, 1 << 20).unwrap().status,
        SubmitMessageStatus::Accepted { .. }
    ));
    let _ = h.stop.send(());
}
