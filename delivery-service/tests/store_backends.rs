//! The whole hub over each store back end: the same short room lifecycle (registration,
//! KeyPackage claim, room creation, a commit adding a member, a Welcome through the queue, an
//! application message, reading the log, a restart) on the in-memory store and on a redb file,
//! so the provider is shown to need nothing of redb.

mod support;

use std::sync::Arc;
use std::time::Duration;

use mimi_appsync::ops;
use mimi_appsync::presets::administered_roles::ORDINARY_USER;
use mimi_ds::auth::OpenRegistration;
use mimi_ds::hub::admission::ClaimRequester;
use mimi_ds::hub::EntryKind;
use mimi_ds::provider::Provider;
use mimi_ds::store::memory::MemoryStore;
use mimi_ds::store::redb::RedbStore;
use mimi_ds::store::Store;
use mimi_protocol::submit::SubmitMessageStatus;
use mimi_protocol::update::UpdateRoomOutcome;
use openmls::prelude::{tls_codec::*, *};
use openmls_basic_credential::SignatureKeyPair;
use support::*;

/// A provider for `a.example` on `store`, with (a copy of) `hub_key`.
async fn provider<S: Store>(store: S, hub_key: &SignatureKeyPair) -> Arc<Provider<S>> {
    let key = SignatureKeyPair::tls_deserialize_exact(hub_key.tls_serialize_detached().unwrap()).unwrap();
    // Devices are registered here directly, without credentials.
    Arc::new(Provider::open("a.example", key, store).await.unwrap().with_authority(Arc::new(OpenRegistration)))
}

/// The lifecycle on stores from `open`, which opens the same store again each time it is called
/// (after the previous provider is dropped).
async fn room_lifecycle<S: Store>(open: impl Fn() -> S) {
    let hub_key = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
    let p = provider(open(), &hub_key).await;
    let mut alice = Client::new("alice", "phone");
    let mut bob = Client::new("bob", "phone");
    p.register_client("alice", "phone", None, None).await.unwrap();
    let (bob_uri, _) = p.register_client("bob", "phone", None, None).await.unwrap();
    let kp = MlsMessageOut::from(bob.key_package()).tls_serialize_detached().unwrap();
    assert_eq!(p.upload_key_packages(&bob_uri, &[kp]).await.unwrap(), 1);

    let gi = create_group(&mut alice, &p.hub_signature_key());
    p.create_room(&alice.uri, ROOM, &gi).await.unwrap();

    // A commit: Alice adds Bob with his claimed KeyPackage.
    let by_alice = ClaimRequester::Local(alice.uri.user().as_str().to_owned());
    let (claimed, exhausted) = p.claim_key_packages(&by_alice, &bob.uri.user()).await.unwrap();
    assert_eq!((claimed.len(), exhausted.len()), (1, 0));
    let MlsMessageBodyIn::KeyPackage(kp) =
        MlsMessageIn::tls_deserialize_exact(&claimed[0].key_package).unwrap().extract()
    else {
        panic!("a KeyPackage")
    };
    let kp = kp.validate(alice.provider.crypto(), ProtocolVersion::Mls10).unwrap();
    let commit = alice.commit(ops::invite_user(&bob.uri.user(), ORDINARY_USER, vec![kp]).unwrap());
    let r = p.update(ROOM, &bundle_of(&commit)).await.unwrap();
    assert!(matches!(r.outcome, UpdateRoomOutcome::Success { .. }), "{}", r.error_description);
    alice.merge();

    // Bob's Welcome is in his queue; he joins.
    let q = p.read_queue(&bob.uri, 0, 10, Duration::ZERO).await.unwrap();
    assert_eq!((q.len(), q[0].after_seq), (1, 1));
    let MlsMessageBodyIn::Welcome(w) = MlsMessageIn::tls_deserialize_exact(q[0].welcome.as_slice()).unwrap().extract()
    else {
        panic!("a Welcome")
    };
    bob.join(w);

    // A message from Alice, read from the log and decrypted by Bob.
    let m = alice.message(b"hello bob");
    let status = p.submit_message(ROOM, &m, alice.uri.as_str()).await.unwrap();
    assert!(matches!(status, SubmitMessageStatus::Accepted { .. }), "{status:?}");
    let entries = p.read_log(ROOM, &bob.uri, 1, 10, Duration::ZERO).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].seq, entries[0].kind), (2, EntryKind::Application));
    let pm = MlsMessageIn::tls_deserialize_exact(entries[0].message.as_slice()).unwrap().try_into_protocol_message();
    let group = bob.group.as_mut().unwrap();
    let processed = group.process_message(&bob.provider, pm.unwrap()).unwrap();
    let ProcessedMessageContent::ApplicationMessage(text) = processed.into_content() else { panic!("a message") };
    assert_eq!(text.into_bytes(), b"hello bob");

    // A restart on the same store: the same room, the same log, and it goes on.
    let position = p.room_position(ROOM).await.unwrap();
    let log = p.store().log_after(ROOM, 0, 100).await.unwrap();
    drop(p);
    let p = provider(open(), &hub_key).await;
    assert_eq!(p.room_position(ROOM).await.unwrap(), position);
    assert_eq!(p.store().log_after(ROOM, 0, 100).await.unwrap(), log);
    let m = bob.message(b"hello alice");
    let status = p.submit_message(ROOM, &m, bob.uri.as_str()).await.unwrap();
    assert!(matches!(status, SubmitMessageStatus::Accepted { .. }), "{status:?}");
    assert_eq!(p.read_log(ROOM, &alice.uri, 2, 10, Duration::ZERO).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_room_lifecycle_on_the_memory_store() {
    let store = MemoryStore::new();
    room_lifecycle(move || store.clone()).await;
}

#[tokio::test]
async fn a_room_lifecycle_on_a_redb_file() {
    let dir = tempfile::tempdir().unwrap();
    room_lifecycle(move || RedbStore::open(&dir.path().join("ds.redb"), 64).unwrap()).await;
}
