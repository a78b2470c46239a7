//! The hub's outbox against a scripted follower over mutually authenticated HTTPS: entries for
//! the follower arrive in log order, exactly once; a `503` with `Retry-After` is retried no
//! sooner than asked; the durable cursor makes a restarted outbox resume without resending; the
//! outbox's metrics say how far the peer is behind.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Router};
use mimi_appsync::ops::{self, UserOperation};
use mimi_appsync::presets::administered_roles::ORDINARY_USER;
use mimi_ds::federation::outbox::{Backoff, Outbox};
use mimi_ds::metrics::Registry;
use mimi_ds::pki;
use mimi_ds::provider::Provider;
use mimi_ds::store::redb::RedbStore;
use mimi_ds::tls::{PeerClient, PeerIdentity};
use mimi_protocol::directory::{Directory, DIRECTORY_PATH};
use mimi_protocol::notify::FanoutMessage;
use openmls::prelude::tls_codec::Serialize as _;
use support::*;

/// One `/notify` request as the follower saw it: arrival, `From`, the peer certificate's names,
/// and the MLS messages of its FanoutMessages.
type Received = (Instant, String, Vec<String>, Vec<Vec<u8>>);

/// What the follower saw, and how it answers next.
#[derive(Default)]
struct Follower {
    /// Every request, in arrival order.
    received: Vec<Received>,
    /// Answers still to give before answering 201: (status, Retry-After seconds).
    script: Vec<(StatusCode, Option<u64>)>,
}

async fn notify(
    State(f): State<Arc<Mutex<Follower>>>,
    Path(_room): Path<String>,
    peer: Option<Extension<PeerIdentity>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let mut f = f.lock().unwrap();
    let from = headers.get("from").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let names = peer.map(|Extension(p)| p.domains).unwrap_or_default();
    let messages = FanoutMessage::decode_body(&body, 1 << 24, 1024).expect("a valid /notify body");
    let raw = messages.iter().map(|m| m.message.tls_serialize_detached().unwrap()).collect();
    f.received.push((Instant::now(), from, names, raw));
    if f.script.is_empty() {
        return (StatusCode::CREATED, HeaderMap::new());
    }
    let (status, retry) = f.script.remove(0);
    let mut h = HeaderMap::new();
    if let Some(secs) = retry {
        h.insert("retry-after", secs.to_string().parse().unwrap());
    }
    (status, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_gets_everything_in_order_once_and_retry_after_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    pki::generate(dir.path(), &["a.example".to_owned(), "b.example".to_owned()]).unwrap();

    // The follower, b.example.
    let follower = Arc::new(Mutex::new(Follower {
        script: vec![(StatusCode::SERVICE_UNAVAILABLE, Some(1))],
        ..Default::default()
    }));
    let b_addr = scripted_peer(dir.path(), "b.example", |addr| {
        let directory = Directory::ours(&format!("https://b.example:{}", addr.port())).to_json();
        Router::new()
            .route(DIRECTORY_PATH, get(move || async move { directory.clone() }))
            .route("/v1/notify/{room}", post(notify))
            .with_state(follower.clone())
    })
    .await;

    // The hub, a.example, with alice there and bob at b.example.
    let a_config = config_with_peer(dir.path(), "a.example", "b.example", b_addr);
    let store = RedbStore::open(&a_config.store_path(), 64).unwrap();
    let hub_key = openmls_basic_credential::SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
    let provider = Arc::new(Provider::open("a.example", hub_key, store).await.unwrap());
    let mut alice = Client::new("alice", "phone");
    let gi = create_group(&mut alice, &provider.hub_signature_key());
    provider.create_room(&alice.uri, ROOM, &gi).await.unwrap();
    let bob = Client::at("b.example", "bob", "phone");
    let op = ops::invite_user(&bob.uri.user(), ORDINARY_USER, vec![bob.key_package()]).unwrap();
    let b = alice.commit(op);
    provider.update(ROOM, &bundle_of(&b)).await.unwrap();
    alice.merge();
    // Entries that name b.example: a key update and three messages.
    let b = alice.commit(UserOperation::default());
    provider.update(ROOM, &bundle_of(&b)).await.unwrap();
    alice.merge();
    let mut expected = vec![to_in(b.commit())];
    for i in 0..3 {
        let m = alice.message(format!("m{i}").as_bytes());
        provider.submit_message(ROOM, &m, alice.uri.as_str()).await.unwrap();
        expected.push(m);
    }
    let expected: Vec<Vec<u8>> = expected.iter().map(|m| m.tls_serialize_detached().unwrap()).collect();

    let backoff = Backoff { base: Duration::from_millis(50), max: Duration::from_millis(400) };
    let registry = Registry::new();
    let peers = PeerClient::new(&a_config).unwrap();
    let outbox = Outbox::new("a.example", provider.clone(), peers, backoff, &registry).unwrap();
    let task = tokio::spawn(outbox.clone().run());
    let delivered = |f: &Follower| f.received.iter().skip(1).flat_map(|r| r.3.clone()).collect::<Vec<_>>();
    let deadline = Instant::now() + Duration::from_secs(10);
    while delivered(&follower.lock().unwrap()) != expected {
        assert!(Instant::now() < deadline, "not delivered in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    {
        let f = follower.lock().unwrap();
        // First attempt refused with Retry-After: 1; the retry came no sooner.
        let gap = f.received[1].0.duration_since(f.received[0].0);
        assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
        assert_eq!(f.received[0].3, f.received[1].3, "the retry resends the same batch");
        for (_, from, names, _) in &f.received {
            assert_eq!(from, "mimi@a.example");
            assert_eq!(names, &["a.example".to_owned()], "mutual TLS identifies the hub");
        }
    }
    // The follower has everything; the hub stores its cursor only after the 201 came back, so
    // wait for that before stopping the worker (stopped earlier, it could be between the 201 and
    // the cursor write, and a restart would rightly send the last batch again).
    let (_, last) = provider.room_position(ROOM).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while mimi_ds::store::Store::outbox_cursor(provider.store(), "b.example", ROOM).await.unwrap() < last {
        assert!(Instant::now() < deadline, "cursor not stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Caught up: no entry behind, and the delivered batches' ages were recorded (the first one
    // waited out the Retry-After of a second).
    let lag = "mimi_outbox_lag_entries{peer=\"b.example\"} ";
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = registry.render().unwrap();
        if text.lines().any(|l| l == format!("{lag}0")) {
            break text;
        }
        assert!(Instant::now() < deadline, "lag not back to 0: {text}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let value = |series: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(series)).unwrap_or_else(|| panic!("no {series}: {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(value("mimi_outbox_delivery_lag_seconds_count{peer=\"b.example\"}") >= 1.0, "{text}");
    assert!(value("mimi_outbox_delivery_lag_seconds_sum{peer=\"b.example\"}") >= 1.0, "{text}");
    task.abort();

    // A new outbox (as after a restart) sends nothing again; a new message goes out once.
    let sent_before = follower.lock().unwrap().received.len();
    let peers = PeerClient::new(&a_config).unwrap();
    let outbox = Outbox::new("a.example", provider.clone(), peers, backoff, &Registry::new()).unwrap();
    let task = tokio::spawn(outbox.run());
    let m = alice.message(b"after restart");
    provider.submit_message(ROOM, &m, alice.uri.as_str()).await.unwrap();
    let mut want = expected.clone();
    want.push(m.tls_serialize_detached().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while delivered(&follower.lock().unwrap()) != want {
        assert!(Instant::now() < deadline, "new message not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(follower.lock().unwrap().received.len(), sent_before + 1);
    task.abort();
}
