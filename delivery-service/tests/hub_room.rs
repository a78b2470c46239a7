//! The hub's sequencer driven directly (no I/O) by real openmls 0.9 clients: room creation,
//! commits with user-level operations, racing commits, standalone proposals that the next
//! commit must include, application messages, refusals, and restart from a checkpoint plus
//! log replay.

use mimi_appsync::ops::{self, UserOperation};
use mimi_appsync::presets::administered_roles::{GROUP_ADMIN, ORDINARY_USER};
use mimi_appsync::uri::ClientUri;
use mimi_ds::hub::{Accepted, LogAccess, LogEntry, Room};
use mimi_protocol::submit::SubmitMessageStatus;
use mimi_protocol::update::{HandshakeBundle, HandshakeBundleContent, UpdateRoomOutcome};
use openmls::prelude::{tls_codec::*, *};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

mod support;

use support::*;

/// A hub room plus the clients of alice, bob and cathy (phone and pc each).
struct World {
    hub: OpenMlsRustCrypto,
    room: Room,
    clients: Vec<Client>,
    log: Vec<LogEntry>,
    now: u64,
}

impl World {
    fn new() -> Self {
        let mut clients = clients(DOMAIN, &["alice", "bob", "cathy"], &["phone", "pc"]);
        let hub = OpenMlsRustCrypto::default();
        let hub_signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
        let gi = create_group(&mut clients[0], &hub_signer.to_public_vec());
        let room = Room::create(ROOM, hub.crypto(), &gi, &hub_signer.to_public_vec()).expect("room created");
        World { hub, room, clients, log: Vec::new(), now: 1_800_000_000_000 }
    }

    fn idx(&self, user: &str, device: &str) -> usize {
        position(&self.clients, &ClientUri::new(DOMAIN, user, device).unwrap())
    }

    fn members(&self) -> Vec<usize> {
        active(&self.clients)
    }

    /// Builds a commit for `op` at client `from` (left pending there).
    fn build(&mut self, from: usize, op: UserOperation) -> CommitMessageBundle {
        self.clients[from].commit(op)
    }

    /// Submits a bundle to the hub; on success persists (in `log`) and applies it, then every
    /// member processes the commit (checking it against room policy) and the committer merges.
    fn submit(&mut self, from: usize, b: &CommitMessageBundle) -> UpdateRoomOutcome {
        self.now += 1;
        let d = self.room.decide_update(self.hub.crypto(), &bundle_of(b), self.now);
        let outcome = d.response.outcome.clone();
        let Some((entry, accepted)) = d.accepted else {
            eprintln!("hub refused: {outcome:?}: {}", d.response.error_description);
            return outcome;
        };
        self.room.apply(&entry, accepted).unwrap();
        self.log.push(entry);
        deliver_commit(&mut self.clients, from, b.commit(), b.welcome()).unwrap();
        self.assert_in_sync();
        outcome
    }

    /// The members and the hub hold the same GroupContext, the members the same epoch
    /// authenticator, and the hub's tree holds exactly the members.
    fn assert_in_sync(&self) {
        assert_in_sync(&self.clients, self.room.group());
        assert_eq!(self.room.group().members().count(), self.members().len());
    }

    fn invite(&mut self, from: usize, user: &str) -> UpdateRoomOutcome {
        let kps =
            vec![self.clients[self.idx(user, "phone")].key_package(), self.clients[self.idx(user, "pc")].key_package()];
        let op = ops::invite_user(&self.clients[self.idx(user, "phone")].uri.user(), ORDINARY_USER, kps).unwrap();
        let b = self.build(from, op);
        self.submit(from, &b)
    }

    fn message(&mut self, from: usize, text: &[u8]) -> MlsMessageIn {
        self.clients[from].message(text)
    }
}

fn success(o: &UpdateRoomOutcome) -> bool {
    matches!(o, UpdateRoomOutcome::Success { .. })
}

#[test]
fn user_level_operations_are_sequenced_and_everyone_agrees() {
    let mut w = World::new();
    let alice = w.idx("alice", "phone");
    // Alice adds her own second device, then invites bob and cathy (both devices each).
    let pc = w.idx("alice", "pc");
    let kp = w.clients[pc].key_package();
    let b = w.build(alice, ops::add_own_device(vec![kp]));
    assert!(success(&w.submit(alice, &b)));
    assert!(success(&w.invite(alice, "bob")));
    assert!(success(&w.invite(alice, "cathy")));
    assert_eq!(w.room.epoch(), 3);
    assert_eq!(w.members().len(), 6);
    // Bob, an ordinary user, promotes himself: refused by room policy, nothing changes.
    let bob = w.idx("bob", "pc");
    let bob_user = w.clients[bob].uri.user();
    let op = ops::change_role(w.room.group(), &bob_user, GROUP_ADMIN).unwrap();
    let b = w.build(bob, op);
    let before = w.room.group().group_context().tls_serialize_detached().unwrap();
    let refused = w.submit(bob, &b);
    assert_eq!(refused, UpdateRoomOutcome::NotAllowed);
    assert_eq!(w.room.group().group_context().tls_serialize_detached().unwrap(), before);
    let c = &mut w.clients[bob];
    c.group.as_mut().unwrap().clear_pending_commit(c.provider.storage()).unwrap();
    let cathy_user = w.clients[w.idx("cathy", "pc")].uri.user();
    // Alice removes cathy with both her clients.
    let op = ops::remove_user(w.room.group(), &cathy_user).unwrap();
    let b = w.build(alice, op);
    assert!(success(&w.submit(alice, &b)));
    assert_eq!(w.members().len(), 4);
    assert_eq!(w.log.len(), 4);
    assert_eq!(w.log.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);

    // Cathy's devices may read the log up to the commit that removed them (seq 4), members all
    // of it, a client that never was a member none; a checkpoint keeps the departures.
    let cathy_pc = w.clients[w.idx("cathy", "pc")].uri.as_str().to_owned();
    let access = |room: &Room| {
        [
            room.log_access(&cathy_pc),
            room.log_access(w.clients[alice].uri.as_str()),
            room.log_access("mimi://a.example/d/eve/x"),
        ]
    };
    assert_eq!(access(&w.room), [LogAccess::Through(4), LogAccess::All, LogAccess::Denied]);
    let restored = Room::restore(w.hub.crypto(), &w.room.checkpoint().unwrap(), &[], &[]).unwrap();
    assert_eq!(access(&restored), access(&w.room));
    // Invited again (her devices reinstalled: fresh state), cathy reads everything again.
    for device in ["phone", "pc"] {
        let i = w.idx("cathy", device);
        w.clients[i] = Client::new("cathy", device);
    }
    assert!(success(&w.invite(alice, "cathy")));
    assert_eq!(w.room.log_access(&cathy_pc), LogAccess::All);
}

#[test]
fn racing_commits_one_wins_loser_recovers() {
    let mut w = World::new();
    let alice = w.idx("alice", "phone");
    assert!(success(&w.invite(alice, "bob")));
    let bob = w.idx("bob", "phone");
    for round in 0..3 {
        // Both build a key update for the same epoch.
        let epoch = w.room.epoch();
        let ba = w.build(alice, UserOperation::default());
        let bb = w.build(bob, UserOperation::default());
        assert!(success(&w.submit(alice, &ba)), "round {round}");
        match w.submit(bob, &bb) {
            UpdateRoomOutcome::WrongEpoch { current_epoch } => assert_eq!(current_epoch, epoch + 1),
            other => panic!("second commit of epoch {epoch} must lose, got {other:?}"),
        }
        // The loser received the winner like every member (its own commit stays pending until
        // the hub accepts it, and openmls drops it on merging the winner); it retries.
        let c = &mut w.clients[bob];
        assert_eq!(c.group().epoch().as_u64(), epoch + 1);
        let retry = w.build(bob, UserOperation::default());
        assert!(success(&w.submit(bob, &retry)));
    }
    assert_eq!(w.room.epoch(), 7);
}

#[test]
fn refusals_change_nothing() {
    let mut w = World::new();
    let alice = w.idx("alice", "phone");
    assert!(success(&w.invite(alice, "bob")));
    let epoch = w.room.epoch();
    // A stale commit (built, then someone else's commit lands first) was covered above; here:
    // an application message sent as a handshake, a commit for another group.
    let app = w.message(alice, b"hi");
    let bundle = HandshakeBundle {
        proposal_or_commit: app.clone(),
        content: HandshakeBundleContent::Proposal { more_proposals: vec![] },
    };
    let d = w.room.decide_update(w.hub.crypto(), &bundle, 1);
    assert_eq!(d.response.outcome, UpdateRoomOutcome::NotAllowed);
    assert!(d.response.error_description.as_str().contains("PrivateMessage"), "{}", d.response.error_description);
    assert!(d.accepted.is_none());

    let mut other = World::new();
    let oa = other.idx("alice", "phone");
    let b = other.build(oa, UserOperation::default());
    let d = w.room.decide_update(w.hub.crypto(), &bundle_of(&b), 1);
    assert_eq!(d.response.outcome, UpdateRoomOutcome::NotAllowed);
    assert!(d.response.error_description.as_str().contains("another MLS group"));

    // A proposal bundle speaks for one sender: alice's proposal with bob's behind it is refused
    // (the submitter is checked against the first sender only).
    let bob = w.idx("bob", "phone");
    let proposals: Vec<MlsMessageOut> = [alice, bob]
        .into_iter()
        .map(|i| {
            let (group, provider, signer) = w.clients[i].parts();
            group.propose_self_update(provider, signer, LeafNodeParameters::default()).unwrap().0
        })
        .collect();
    let bundle = HandshakeBundle::from_proposals(&proposals).unwrap();
    let d = w.room.decide_update(w.hub.crypto(), &bundle, 1);
    assert_eq!(d.response.outcome, UpdateRoomOutcome::NotAllowed);
    assert_eq!(d.response.error_description.as_str(), "every proposal of a bundle must have the same sender");
    assert!(d.accepted.is_none());
    assert_eq!(w.room.epoch(), epoch);
    assert_eq!(w.room.seq(), 1);
}

#[test]
fn application_messages_need_current_epoch_and_a_participant() {
    let mut w = World::new();
    let alice = w.idx("alice", "phone");
    assert!(success(&w.invite(alice, "bob")));
    let old = w.message(alice, b"before the key update");
    let b = w.build(alice, UserOperation::default());
    assert!(success(&w.submit(alice, &b)));
    let d = w.room.decide_message(&old, w.clients[alice].uri.as_str(), 5);
    assert_eq!(d.status, SubmitMessageStatus::EpochTooOld { current_epoch: w.room.epoch() });
    let msg = w.message(alice, b"hello");
    let d = w.room.decide_message(&msg, w.clients[alice].uri.as_str(), 6);
    assert!(matches!(d.status, SubmitMessageStatus::Accepted { accepted_timestamp: 6, .. }));
    let entry = d.accepted.unwrap();
    assert_eq!(entry.seq, w.room.seq() + 1);
    // Cathy is no member: a message claimed to be from her is refused.
    let d = w.room.decide_message(&msg, "mimi://a.example/d/cathy/phone", 7);
    assert_eq!(d.status, SubmitMessageStatus::NotAllowed);
    // A handshake is not an application message.
    let b = w.build(alice, UserOperation::default());
    let d = w.room.decide_message(&to_in(b.commit()), w.clients[alice].uri.as_str(), 8);
    assert_eq!(d.status, SubmitMessageStatus::NotAllowed);
}

#[test]
fn pending_proposals_must_be_committed_and_restart_replays_the_log() {
    let mut w = World::new();
    let alice = w.idx("alice", "phone");
    assert!(success(&w.invite(alice, "bob")));
    let checkpoint = w.room.checkpoint().unwrap();
    let checkpoint_seq = w.room.seq();
    assert!(success(&w.invite(alice, "cathy")));

    // Cathy's phone leaves by SelfRemove: a standalone proposal the hub caches.
    let cathy = w.idx("cathy", "phone");
    let (group, provider, signer) = w.clients[cathy].parts();
    let proposal = group.leave_group_via_self_remove(provider, signer).unwrap();
    let bundle = proposal_bundle(&proposal);
    let d = w.room.decide_update(w.hub.crypto(), &bundle, 10);
    assert!(success(&d.response.outcome), "{}", d.response.error_description);
    let (entry, accepted) = d.accepted.unwrap();
    assert!(matches!(accepted, Accepted::Proposals(_)));
    w.room.apply(&entry, accepted).unwrap();
    w.log.push(entry);
    deliver_proposal(&mut w.clients, cathy, &proposal).unwrap();

    // Bob's commit without the proposal is refused with its reference.
    let bob = w.idx("bob", "pc");
    let c = &mut w.clients[bob];
    let g = c.group.as_mut().unwrap();
    g.clear_pending_proposals(c.provider.storage()).unwrap();
    let b = w.build(bob, UserOperation::default());
    match w.submit(bob, &b) {
        UpdateRoomOutcome::InvalidProposal { invalid_proposals } => assert_eq!(invalid_proposals.len(), 1),
        other => panic!("expected invalidProposal, got {other:?}"),
    }
    // Bob drops his commit and stores the proposal again, as every member holds it.
    w.clients[bob].discard();
    let pm = to_in(&proposal).try_into_protocol_message().unwrap();
    assert!(matches!(w.clients[bob].process(pm).unwrap(), Incoming::Proposal));

    // Alice's commit of the pending proposal is accepted.
    let commit = w.build(alice, UserOperation::default());
    assert!(success(&w.submit(alice, &commit)));
    assert_eq!(w.members().len(), 4, "cathy's phone left (alice phone, bob x2, cathy pc)");
    let message = w.message(alice, b"after");
    let d = w.room.decide_message(&message, w.clients[alice].uri.as_str(), w.now + 1);
    let entry = d.accepted.unwrap();
    w.room.apply(&entry, Accepted::Application).unwrap();
    w.log.push(entry);

    // Restart from the checkpoint taken after bob joined, replaying the log since: same room.
    let same = |a: &Room, b: &Room| {
        a.seq() == b.seq()
            && a.group_info() == b.group_info()
            && a.group().group_context().tls_serialize_detached().unwrap()
                == b.group().group_context().tls_serialize_detached().unwrap()
    };
    let since = |from: u64, to: u64| -> Vec<LogEntry> {
        w.log.iter().filter(|e| e.seq > from && e.seq <= to).cloned().collect()
    };
    let restored = Room::restore(w.hub.crypto(), &checkpoint, &[], &since(checkpoint_seq, u64::MAX)).unwrap();
    assert!(same(&restored, &w.room));
    // The replay recorded the departure of cathy's phone at the commit of its SelfRemove.
    let cathy_phone = w.clients[cathy].uri.as_str().to_owned();
    let removal = w.log.iter().rev().find(|e| e.kind == mimi_ds::hub::EntryKind::Commit).unwrap().seq;
    assert_eq!(w.room.log_access(&cathy_phone), LogAccess::Through(removal));
    assert_eq!(restored.log_access(&cathy_phone), LogAccess::Through(removal));

    // A checkpoint taken while the proposal was pending carries the obligation to commit it.
    let proposal = w.log.iter().find(|e| e.kind == mimi_ds::hub::EntryKind::Proposal).unwrap().clone();
    let mid = Room::restore(w.hub.crypto(), &checkpoint, &[], &since(checkpoint_seq, proposal.seq)).unwrap();
    let cp2 = mid.checkpoint().unwrap();
    assert_eq!(cp2.pending_seqs, vec![proposal.seq]);
    let from_cp2 = Room::restore(w.hub.crypto(), &cp2, std::slice::from_ref(&proposal), &[]).unwrap();
    let d = from_cp2.decide_update(w.hub.crypto(), &bundle_of(&b), 99);
    assert!(matches!(d.response.outcome, UpdateRoomOutcome::InvalidProposal { .. }));
    let level =
        Room::restore(w.hub.crypto(), &cp2, std::slice::from_ref(&proposal), &since(proposal.seq, u64::MAX)).unwrap();
    assert!(same(&level, &w.room));
    // A log with a gap is refused, not silently applied.
    let gap: Vec<LogEntry> = since(proposal.seq + 1, u64::MAX);
    assert!(Room::restore(w.hub.crypto(), &cp2, &[proposal], &gap).is_err());
}

#[test]
fn fanout_targets_the_providers_hosting_members() {
    let mut w = World::new();
    let alice = w.idx("alice", "phone");
    let peers =
        |e: &LogEntry| e.peers.iter().map(|p| String::from_utf8(p.as_slice().to_vec()).unwrap()).collect::<Vec<_>>();
    // Bob lives at b.example: the commit adding him reaches no other provider (only alice was a
    // member; b.example gets the Welcome), the next commit and messages reach b.example.
    let bob_phone = Client::at("b.example", "bob", "phone");
    let bob_pc = Client::at("b.example", "bob", "pc");
    let op =
        ops::invite_user(&bob_phone.uri.user(), ORDINARY_USER, vec![bob_phone.key_package(), bob_pc.key_package()])
            .unwrap();
    let b = w.build(alice, op);
    w.clients.push(bob_phone);
    w.clients.push(bob_pc);
    assert!(success(&w.submit(alice, &b)));
    assert_eq!(peers(&w.log[0]), Vec::<String>::new());
    let b = w.build(alice, UserOperation::default());
    assert!(success(&w.submit(alice, &b)));
    assert_eq!(peers(&w.log[1]), ["b.example"]);
    let m = w.message(alice, b"hi");
    let d = w.room.decide_message(&m, "mimi://a.example/d/alice/phone", 1);
    assert_eq!(peers(d.accepted.as_ref().unwrap()), ["b.example"]);
    assert_eq!(w.room.hub_domain(), "a.example");
}
