//! The provider over a real redb file, driven by real openmls clients: room creation,
//! KeyPackage upload and single-use claim (and last-resort reuse, in either marking, with every
//! KeyPackage served as uploaded), Welcome routing by KeyPackageRef into the invitees'
//! queues, racing commits from concurrent tasks (exactly one per epoch), application messages
//! in hub order, and restart on the same file with nothing acknowledged lost.

mod support;

use std::sync::Arc;
use std::time::Duration;

use mimi_appsync::ops::{self, UserOperation};
use mimi_appsync::presets::administered_roles::ORDINARY_USER;
use mimi_ds::auth::{AuthRefusal, OpenRegistration};
use mimi_ds::hub::admission::{ClaimLimits, ClaimRequester};
use mimi_ds::hub::{EntryKind, LogEntry};
use mimi_ds::provider::{Provider, ProviderError};
use mimi_ds::store::redb::RedbStore;
use mimi_ds::store::Store;
use mimi_protocol::submit::SubmitMessageStatus;
use mimi_protocol::update::UpdateRoomOutcome;
use openmls::prelude::{tls_codec::*, *};
use openmls_basic_credential::SignatureKeyPair;
use support::*;

type P = Provider<RedbStore>;

async fn open(dir: &std::path::Path, hub_key: &SignatureKeyPair) -> Arc<P> {
    let store = RedbStore::open(&dir.join("ds.redb"), 1024).unwrap();
    let key = SignatureKeyPair::tls_deserialize_exact(hub_key.tls_serialize_detached().unwrap()).unwrap();
    // Devices are registered here directly, without credentials.
    Arc::new(Provider::open("a.example", key, store).await.unwrap().with_authority(Arc::new(OpenRegistration)))
}

fn kp_message(c: &Client) -> Vec<u8> {
    MlsMessageOut::from(c.key_package()).tls_serialize_detached().unwrap()
}

/// Processes log entries at a member client (skipping its own commits, which it merges when
/// accepted, and application messages, which it decrypts).
fn catch_up(c: &mut Client, entries: &[LogEntry], decrypted: &mut Vec<Vec<u8>>) {
    for e in entries {
        if e.epoch != c.epoch() {
            continue;
        }
        let msg = MlsMessageIn::tls_deserialize_exact(e.message.as_slice()).unwrap();
        let pm = msg.try_into_protocol_message().unwrap();
        if e.sender.as_slice() == c.uri.as_bytes() && e.kind == EntryKind::Commit {
            c.merge();
            continue;
        }
        if let Incoming::Application { content, .. } = c.process(pm).unwrap() {
            decrypted.push(content);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequencing_welcomes_races_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hub_key = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
    let p = open(dir.path(), &hub_key).await;
    let mut alice = Client::new("alice", "phone");
    let mut bob = vec![Client::new("bob", "phone"), Client::new("bob", "pc")];
    let (alice_uri, alice_token) = p.register_client("alice", "phone", None, None).await.unwrap();
    assert_eq!(alice_uri, alice.uri);
    assert_eq!(p.authenticate(&alice_token.token).await.unwrap().client, alice_uri.clone());
    assert!(matches!(p.authenticate("not-a-token").await, Err(ProviderError::Auth(AuthRefusal::UnknownToken))));
    for b in &bob {
        let (uri, _) = p.register_client("bob", b.uri.device(), None, None).await.unwrap();
        assert_eq!(p.upload_key_packages(&uri, &[kp_message(b), kp_message(b)]).await.unwrap(), 2);
    }
    // Someone else's KeyPackage is refused.
    assert!(p.upload_key_packages(&alice_uri, &[kp_message(&bob[0])]).await.is_err());

    let gi = create_group(&mut alice, &p.hub_signature_key());
    p.create_room(&alice.uri, ROOM, &gi).await.unwrap();
    assert!(p.create_room(&alice.uri, ROOM, &gi).await.is_err(), "a room is created once");

    // Claim bob's KeyPackages (one per client) and invite him.
    let by_alice = ClaimRequester::Local(alice.uri.user().as_str().to_owned());
    let (claimed, exhausted) = p.claim_key_packages(&by_alice, &bob[0].uri.user()).await.unwrap();
    assert_eq!((claimed.len(), exhausted.len()), (2, 0));
    let kps: Vec<KeyPackage> = claimed
        .iter()
        .map(|k| match MlsMessageIn::tls_deserialize_exact(&k.key_package).unwrap().extract() {
            MlsMessageBodyIn::KeyPackage(kp) => kp.validate(alice.provider.crypto(), ProtocolVersion::Mls10).unwrap(),
            _ => panic!(),
        })
        .collect();
    let op = ops::invite_user(&bob[0].uri.user(), ORDINARY_USER, kps).unwrap();
    let g = alice.group.as_mut().unwrap();
    let b = ops::commit(g, &alice.provider, &alice.signer, op).unwrap();
    let r = p.update(ROOM, &bundle_of(&b)).await.unwrap();
    assert!(matches!(r.outcome, UpdateRoomOutcome::Success { .. }), "{}", r.error_description);
    alice.group.as_mut().unwrap().merge_pending_commit(&alice.provider).unwrap();

    // Each of bob's clients finds the Welcome in its queue and joins.
    for c in bob.iter_mut() {
        let q = p.read_queue(&c.uri, 0, 10, Duration::from_millis(10)).await.unwrap();
        assert_eq!(q.len(), 1, "{}", c.uri);
        assert_eq!(q[0].after_seq, 1);
        let MlsMessageBodyIn::Welcome(w) =
            MlsMessageIn::tls_deserialize_exact(q[0].welcome.as_slice()).unwrap().extract()
        else {
            panic!()
        };
        let staged = StagedWelcome::build_from_welcome(&c.provider, &join_config(), w).unwrap().build().unwrap();
        c.group = Some(staged.into_group(&c.provider).unwrap());
    }
    // A second claim finds bob's remaining KeyPackage per client; a third finds none.
    assert_eq!(p.claim_key_packages(&by_alice, &bob[0].uri.user()).await.unwrap().0.len(), 2);
    let (none, exhausted) = p.claim_key_packages(&by_alice, &bob[0].uri.user()).await.unwrap();
    assert_eq!((none.len(), exhausted.len()), (0, 2));

    // Races: every client builds a key update for the same epoch and submits concurrently.
    let mut clients = vec![alice];
    clients.extend(bob);
    let mut seen = 1u64;
    let mut decrypted = vec![Vec::new(); clients.len()];
    for round in 0..6 {
        let epoch = p.room_position(ROOM).await.unwrap().0;
        let bundles: Vec<_> = clients
            .iter_mut()
            .map(|c| {
                let g = c.group.as_mut().unwrap();
                bundle_of(&ops::commit(g, &c.provider, &c.signer, UserOperation::default()).unwrap())
            })
            .collect();
        let tasks: Vec<_> = bundles
            .into_iter()
            .map(|b| {
                let p = p.clone();
                tokio::spawn(async move { p.update(ROOM, &b).await.unwrap().outcome })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        let winners = outcomes.iter().filter(|o| matches!(o, UpdateRoomOutcome::Success { .. })).count();
        assert_eq!(winners, 1, "round {round}: {outcomes:?}");
        for o in &outcomes {
            if let UpdateRoomOutcome::WrongEpoch { current_epoch } = o {
                assert_eq!(*current_epoch, epoch + 1);
            }
        }
        // Everyone reads the log: the winner merges its own commit, the losers drop theirs.
        let entries = p.read_log(ROOM, &clients[0].uri, seen, 100, Duration::ZERO).await.unwrap();
        assert_eq!(entries.len(), 1);
        for (i, c) in clients.iter_mut().enumerate() {
            catch_up(c, &entries, &mut decrypted[i]);
            assert_eq!(c.group.as_ref().unwrap().epoch().as_u64(), epoch + 1, "{}", c.uri);
        }
        seen = entries.last().unwrap().seq;
    }
    let auth: Vec<_> =
        clients.iter().map(|c| c.group.as_ref().unwrap().epoch_authenticator().as_slice().to_vec()).collect();
    assert!(auth.windows(2).all(|w| w[0] == w[1]));

    // Application messages from everyone, concurrently; the log gives hub order.
    let msgs: Vec<(MlsMessageIn, String)> = clients
        .iter_mut()
        .enumerate()
        .map(|(i, c)| {
            let g = c.group.as_mut().unwrap();
            let m = g.create_message(&c.provider, &c.signer, format!("hello from {i}").as_bytes()).unwrap();
            (to_in(&m), c.uri.as_str().to_owned())
        })
        .collect();
    let tasks: Vec<_> = msgs
        .into_iter()
        .map(|(m, s)| {
            let p = p.clone();
            tokio::spawn(async move { p.submit_message(ROOM, &m, &s).await.unwrap() })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), SubmitMessageStatus::Accepted { .. }));
    }
    // Not a member: refused.
    let stranger = Client::new("mallory", "phone");
    let c = &mut clients[0];
    let m = to_in(&c.group.as_mut().unwrap().create_message(&c.provider, &c.signer, b"spoofed").unwrap());
    assert_eq!(p.submit_message(ROOM, &m, stranger.uri.as_str()).await.unwrap(), SubmitMessageStatus::NotAllowed);
    assert!(p.read_log(ROOM, &stranger.uri, 0, 10, Duration::ZERO).await.is_err());

    let before = p.store().log_after(ROOM, 0, 1000).await.unwrap();
    let position = p.room_position(ROOM).await.unwrap();
    drop(p);

    // Restart on the same file: the same log, the same room, and it goes on.
    let p = open(dir.path(), &hub_key).await;
    assert_eq!(p.room_position(ROOM).await.unwrap(), position);
    assert_eq!(p.store().log_after(ROOM, 0, 1000).await.unwrap(), before);
    let entries = p.read_log(ROOM, &clients[1].uri, seen, 100, Duration::ZERO).await.unwrap();
    assert_eq!(entries.len(), clients.len());
    for (i, c) in clients.iter_mut().enumerate() {
        catch_up(c, &entries, &mut decrypted[i]);
    }
    for (i, d) in decrypted.iter().enumerate() {
        // Each client decrypts the others' messages (not its own), each exactly once.
        let mut got: Vec<String> = d.iter().map(|b| String::from_utf8(b.clone()).unwrap()).collect();
        got.sort();
        let mut want: Vec<String> = (0..clients.len()).filter(|&j| j != i).map(|j| format!("hello from {j}")).collect();
        want.sort();
        assert_eq!(got, want, "client {i}");
    }
    let c = &mut clients[2];
    let g = c.group.as_mut().unwrap();
    let b = ops::commit(g, &c.provider, &c.signer, UserOperation::default()).unwrap();
    let r = p.update(ROOM, &bundle_of(&b)).await.unwrap();
    assert!(matches!(r.outcome, UpdateRoomOutcome::Success { .. }));
}

#[tokio::test]
async fn key_package_claims_are_rate_limited_per_requester_and_pair_not_per_target() {
    let dir = tempfile::tempdir().unwrap();
    let hub_key = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
    let store = RedbStore::open(&dir.path().join("ds.redb"), 1024).unwrap();
    let limits = ClaimLimits { per_pair: 30, per_requester: 35, ..ClaimLimits::default() };
    let p = Provider::open("a.example", hub_key, store)
        .await
        .unwrap()
        .with_authority(Arc::new(OpenRegistration))
        .with_claim_limits(limits);
    let bob = Client::new("bob", "phone");
    let (uri, _) = p.register_client("bob", "phone", None, None).await.unwrap();
    p.upload_key_packages(&uri, &[kp_message(&bob)]).await.unwrap();
    let mallory = ClaimRequester::Local("mimi://a.example/u/mallory".into());
    let mut served = 0;
    let mut refused = None;
    for i in 0..40 {
        match p.claim_key_packages(&mallory, &bob.uri.user()).await {
            Ok((claimed, _)) => served += claimed.len(),
            Err(e) => {
                refused = Some((i, e.to_string()));
                break;
            }
        }
    }
    // One KeyPackage, served once; mallory's 31st claim for bob within the minute is refused.
    assert_eq!(served, 1);
    let (at, why) = refused.expect("rate limit");
    assert_eq!(at, 30);
    assert!(why.contains("rate limited") && why.contains("mallory"), "{why}");
    // Bob is not locked: another requester's claim is served (his KeyPackage is used up, so
    // the answer is "nothing left", not 429).
    let alice = ClaimRequester::Local("mimi://a.example/u/alice".into());
    let (none, exhausted) = p.claim_key_packages(&alice, &bob.uri.user()).await.unwrap();
    assert_eq!((none.len(), exhausted.len()), (0, 1));
    // Mallory has five claims left for anyone else, then none.
    for _ in 0..5 {
        assert!(p.claim_key_packages(&mallory, &Client::new("carol", "phone").uri.user()).await.is_ok());
    }
    let why = p.claim_key_packages(&mallory, &Client::new("dave", "phone").uri.user()).await.unwrap_err();
    assert!(why.to_string().contains("at most 35 a minute"), "{why}");
}

#[tokio::test]
async fn both_last_resort_forms_are_served_again_and_other_components_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let hub_key = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
    let p = open(dir.path(), &hub_key).await;
    let (phone, pc) = (Client::new("bob", "phone"), Client::new("bob", "pc"));
    // mls-extensions-10: the last_resort_key_package component (0x0004, empty data) in the
    // KeyPackage's own app_data_dictionary, beside a GREASE, an unassigned and a private-range one.
    let grease: &[u8] = &[0xde, 0xad, 0xbe, 0xef];
    let components: [(u16, &[u8]); 4] = [(0x0004, b""), (0x0a0a, grease), (0x1234, b"?"), (0x8123, &[1, 2, 3])];
    let component_form = MlsMessageOut::from(phone.issue_key_package_with_components(&components).unwrap())
        .tls_serialize_detached()
        .unwrap();
    // The older form: the last_resort KeyPackage extension (0x000a).
    let extension_form =
        MlsMessageOut::from(pc.issue_last_resort_key_package().unwrap()).tls_serialize_detached().unwrap();
    let single_use = kp_message(&phone);
    let (phone_uri, _) = p.register_client("bob", "phone", None, None).await.unwrap();
    let (pc_uri, _) = p.register_client("bob", "pc", None, None).await.unwrap();
    p.upload_key_packages(&phone_uri, &[component_form.clone(), single_use.clone()]).await.unwrap();
    p.upload_key_packages(&pc_uri, std::slice::from_ref(&extension_form)).await.unwrap();

    let alice = ClaimRequester::Local("mimi://a.example/u/alice".into());
    let served = |claimed: &[mimi_ds::store::StoredKeyPackage], client: &Client| {
        let kp = claimed.iter().find(|k| k.client == client.uri.as_str()).expect("one per client");
        (kp.key_package.clone(), kp.last_resort)
    };
    // The phone's single-use KeyPackage goes first; then, twice, both last-resort ones, each as
    // uploaded, byte for byte.
    let (first, _) = p.claim_key_packages(&alice, &phone.uri.user()).await.unwrap();
    assert_eq!(served(&first, &phone), (single_use, false));
    for _ in 0..2 {
        let (claimed, exhausted) = p.claim_key_packages(&alice, &phone.uri.user()).await.unwrap();
        assert_eq!((claimed.len(), exhausted.len()), (2, 0));
        assert_eq!(served(&claimed, &phone), (component_form.clone(), true));
        assert_eq!(served(&claimed, &pc), (extension_form.clone(), true));
    }
    // The GREASE component went through whole: its entry (id 0x0a0a, data<V> of 4 bytes) is in the
    // served bytes and decodes to the same data.
    assert!(component_form.windows(7).any(|w| w == [0x0a, 0x0a, 0x04, 0xde, 0xad, 0xbe, 0xef]));
    let MlsMessageBodyIn::KeyPackage(kp) = MlsMessageIn::tls_deserialize_exact(&component_form).unwrap().extract()
    else {
        panic!("a KeyPackage")
    };
    let kp = kp.validate(phone.provider.crypto(), ProtocolVersion::Mls10).unwrap();
    let dictionary = kp.extensions().app_data_dictionary().unwrap().dictionary();
    for (id, data) in components {
        assert_eq!(dictionary.get(&id), Some(data), "component {id:#06x}");
    }
}
