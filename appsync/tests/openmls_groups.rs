//! Real openmls 0.9 groups: three users with two clients each, the hub as a `PublicGroup`
//! (harness in `common`). Every commit goes through the hub's policy check first; accepted
//! commits are processed by all members with the same check, and afterwards every client and
//! the hub must hold the same GroupContext (hence the same dictionary) and the clients the same
//! epoch authenticator. Standalone proposals go through the hub's proposal check.

mod common;

use common::{Client, ClientExt, Room};
use mimi_appsync::ops::{self, LeaveVia, UserOperation};
use mimi_appsync::policy::Rule;
use mimi_appsync::presets::administered_roles::*;

#[test]
fn user_operations_over_real_groups() {
    let mut room = Room::create();
    let alice = room.idx("alice", "phone");
    let alice_pc = room.idx("alice", "pc");
    let bob = room.idx("bob", "phone");
    let carol = room.idx("carol", "phone");
    let carol_pc = room.idx("carol", "pc");
    let user = |r: &Room, i: usize| r.clients[i].uri.user();

    // alice adds her own second device
    let kp = room.clients[alice_pc].key_package();
    room.commit_op(alice, ops::add_own_device(vec![kp])).unwrap();
    assert_eq!(room.members().len(), 2);

    // invite bob and carol with both devices each
    let kps = room.kps("bob");
    room.commit_op(alice, ops::invite_user(&user(&room, bob), ORDINARY_USER, kps).unwrap()).unwrap();
    let kps = room.kps("carol");
    room.commit_op(alice, ops::invite_user(&user(&room, carol), ORDINARY_USER, kps).unwrap()).unwrap();
    assert_eq!(room.members().len(), 6);

    // refused: adding a client of an unlisted user (dave)
    let dave = Client::new("dave", "phone");
    let op = ops::add_own_device(vec![dave.key_package()]);
    assert!(matches!(room.commit_op(bob, op), Err(Rule::ClientOfUnlistedUser(_))));

    // refused: a regular user promoting itself
    let op = ops::change_role(room.pg(), &user(&room, bob), GROUP_ADMIN).unwrap();
    assert!(matches!(room.commit_op(bob, op), Err(Rule::MissingCapability(_))));

    // role change by the admin: carol becomes group_admin, then back
    let op = ops::change_role(room.pg(), &user(&room, carol), GROUP_ADMIN).unwrap();
    room.commit_op(alice, op).unwrap();
    // (demoting oneself is a self role change, which needs canChangeOwnRole + preauth)
    let op = ops::change_role(room.pg(), &user(&room, carol), ORDINARY_USER).unwrap();
    assert!(matches!(room.commit_op(carol, op), Err(Rule::MissingCapability(_))));
    let op = ops::change_role(room.pg(), &user(&room, carol), ORDINARY_USER).unwrap();
    room.commit_op(alice, op).unwrap();

    // remove own device, then add it back by external commit
    let op = ops::remove_own_device(room.pg(), &room.clients[carol_pc].uri.clone()).unwrap();
    room.commit_op(carol, op).unwrap();
    room.clients[carol_pc].group = None;
    room.external_join(carol_pc).unwrap();
    assert_eq!(room.members().len(), 6);

    // refused: removing carol from the list but leaving one of her clients
    let mut op = ops::remove_user(room.pg(), &user(&room, carol)).unwrap();
    op.removes.truncate(1);
    assert!(matches!(room.commit_op(alice, op), Err(Rule::RemovedUserKeepsClients(_))));

    // ban carol (both clients removed)
    let op = ops::ban_user(room.pg(), &user(&room, carol)).unwrap();
    room.commit_op(alice, op).unwrap();
    assert_eq!(room.members().len(), 4);
    for i in [carol, carol_pc] {
        room.clients[i].group = None;
    }
    // refused: a banned user's client committing (rejoin by external commit)
    assert_eq!(room.external_join(carol), Err(Rule::ActorBanned));

    // unban carol, then she may rejoin with her own device... only after being re-added by
    // herself: canAddOwnClient by external commit
    let op = ops::unban_user(room.pg(), &user(&room, carol), ORDINARY_USER).unwrap();
    room.commit_op(alice, op).unwrap();
    room.external_join(carol).unwrap();

    // bob leaves: proposals from bob, committed by alice
    let me = room.clients[bob].uri.clone();
    let (group, provider, signer) = room.clients[bob].parts();
    let proposals = ops::leave(group, provider, signer, &me, LeaveVia::Remove).unwrap();
    for p in &proposals {
        room.send_proposal(bob, p).unwrap();
    }
    room.commit_op(alice, UserOperation::default()).unwrap();
    let state = mimi_appsync::adapter::room_state(room.pg()).unwrap();
    assert_eq!(state.role_of(&user(&room, bob)), None);
    assert!(state.clients_of(&user(&room, bob)).next().is_none());

    // remove user carol (admin alice)
    let op = ops::remove_user(room.pg(), &user(&room, carol)).unwrap();
    room.commit_op(alice, op).unwrap();
    assert_eq!(room.members(), vec![alice, alice_pc]);
}

/// Leaving by SelfRemove (0x000a), committed by another member and accepted by the hub. The
/// engine's rule: a SelfRemove alone is a device removal (`canRemoveOwnClient`) and leaves the
/// user listed, even when it was the user's last client; leaving the room is the
/// participant-list removal, which must carry the removal of every remaining client of the user
/// in the same commit.
#[test]
fn leave_by_self_remove() {
    let mut room = Room::create();
    let alice = room.idx("alice", "phone");
    let (bob, bob_pc) = (room.idx("bob", "phone"), room.idx("bob", "pc"));
    let (carol, carol_pc) = (room.idx("carol", "phone"), room.idx("carol", "pc"));
    for name in ["bob", "carol"] {
        let kps = room.kps(name);
        let user = room.clients[room.idx(name, "phone")].uri.user();
        room.commit_op(alice, ops::invite_user(&user, ORDINARY_USER, kps).unwrap()).unwrap();
    }
    let bob_user = room.clients[bob].uri.user();
    let carol_user = room.clients[carol].uri.user();
    let self_remove = |room: &mut Room, who: usize| {
        let (group, provider, signer) = room.clients[who].parts();
        let msg = group.leave_group_via_self_remove(provider, signer).unwrap();
        room.send_proposal(who, &msg).unwrap();
    };

    // bob/pc leaves by SelfRemove alone: a device removal, bob stays listed
    self_remove(&mut room, bob_pc);
    room.commit_op(alice, UserOperation::default()).unwrap();
    assert!(!room.clients[bob_pc].is_member());
    assert_eq!(room.state().role_of(&bob_user), Some(ORDINARY_USER));

    // bob/phone, bob's last client, leaves the room: list update + SelfRemove in one commit
    let me = room.clients[bob].uri.clone();
    let (group, provider, signer) = room.clients[bob].parts();
    let proposals = ops::leave(group, provider, signer, &me, LeaveVia::SelfRemove).unwrap();
    assert_eq!(proposals.len(), 2);
    for p in &proposals {
        room.send_proposal(bob, p).unwrap();
    }
    room.commit_op(alice, UserOperation::default()).unwrap();
    assert!(!room.clients[bob].is_member());
    assert_eq!(room.state().role_of(&bob_user), None);

    // refused: carol removed from the list with only carol/phone's SelfRemove, carol/pc kept
    self_remove(&mut room, carol);
    let mut op = ops::remove_user(room.pg(), &carol_user).unwrap();
    op.removes.clear();
    assert!(matches!(room.commit_op(alice, op), Err(Rule::RemovedUserKeepsClients(_))));
    room.discard_proposals();

    // both of carol's clients leave by SelfRemove without the list update: carol stays listed
    // with no client, and may come back with a device by external commit
    self_remove(&mut room, carol);
    self_remove(&mut room, carol_pc);
    room.commit_op(alice, UserOperation::default()).unwrap();
    assert_eq!(room.members(), vec![alice]);
    assert_eq!(room.state().role_of(&carol_user), Some(ORDINARY_USER));
    room.external_join(carol_pc).unwrap();
    assert_eq!(room.members(), vec![alice, carol_pc]);
}

/// The hub's check of standalone proposals: allowed ones are stored and can be committed,
/// refused ones are stored nowhere.
#[test]
fn standalone_proposals_are_checked_by_the_hub() {
    use mimi_appsync::components::participant_list::ParticipantListUpdate;
    use mimi_appsync::components::room_metadata::{RichDescription, RoomMetaData};
    use mimi_appsync::components::{encode_struct_for_tests as enc, Component, PARTICIPANT_LIST};
    use mimi_appsync::Error;
    use openmls::prelude::AppDataUpdateOperation;

    let mut room = Room::create();
    let alice = room.idx("alice", "phone");
    let bob = room.idx("bob", "phone");
    let kps = room.kps("bob");
    let bob_user = room.clients[bob].uri.user();
    room.commit_op(alice, ops::invite_user(&bob_user, ORDINARY_USER, kps).unwrap()).unwrap();
    let propose = |room: &mut Room, who: usize, id: u16, bytes: Vec<u8>| {
        let (group, provider, signer) = room.clients[who].parts();
        let (msg, _) =
            group.propose_app_data_update(provider, signer, id, AppDataUpdateOperation::Update(bytes.into())).unwrap();
        room.send_proposal(who, &msg)
    };
    let refused = |r: Result<(), Error>| match r {
        Err(Error::NotAllowed(refusal)) => refusal.rule,
        other => panic!("expected a refusal, got {other:?}"),
    };

    // allowed: bob (ordinary_user, canChangeRoomName) proposes a new room name; alice commits it
    let mut meta = RoomMetaData::named("mimi://a.example/r/club", "Club");
    meta.room_name.string = b"Book club".to_vec();
    propose(&mut room, bob, RoomMetaData::ID, meta.encode().unwrap()).unwrap();
    assert_eq!(room.hub_queued(), 1);
    room.commit_op(alice, UserOperation::default()).unwrap();
    assert_eq!(room.state().metadata, meta);

    // refused: bob lacks canChangeRoomDescription
    let mut described = meta.clone();
    described.room_descriptions =
        vec![RichDescription { description_content: b"we read books".to_vec(), ..Default::default() }];
    let r = propose(&mut room, bob, RoomMetaData::ID, described.encode().unwrap());
    assert!(matches!(refused(r), Rule::MissingCapability(_)));
    // refused: a participant-list update whose index is out of range does not reduce
    let bad = ParticipantListUpdate { removed_indices: vec![7], ..Default::default() };
    let r = propose(&mut room, bob, PARTICIPANT_LIST, enc(PARTICIPANT_LIST, &bad));
    assert!(matches!(refused(r), Rule::InvalidAppData(_)));
    // refused: bob may not propose to remove alice from the list (ordinary_user: 3 → 0 not allowed)
    let kick = ParticipantListUpdate { removed_indices: vec![0], ..Default::default() };
    let r = propose(&mut room, bob, PARTICIPANT_LIST, enc(PARTICIPANT_LIST, &kick));
    assert!(matches!(refused(r), Rule::RoleChangeNotAuthorized { from: GROUP_ADMIN, to: 0 }));
    // nothing refused reached the hub's store
    assert_eq!(room.hub_queued(), 0);
}
