//! Unit tests of the room-policy-04 capability rules and the consistency rules, on plain
//! `CommitDescription`s (no openmls groups). Each rule has an allowed and a refused case.

use mimi_appsync::components::base_policy::BaseRoomPolicy;
use mimi_appsync::components::participant_list::{
    ParticipantListData, ParticipantListUpdate, UserRolePair, UserindexRolePair,
};
use mimi_appsync::components::preauth::{Claim, PreAuthData, PreAuthRoleEntry};
use mimi_appsync::components::roles::capability::*;
use mimi_appsync::components::room_metadata::RoomMetaData;
use mimi_appsync::components::{encode_struct_for_tests as enc, Bool, Component};
use mimi_appsync::components::{BASE_ROOM_POLICY, PARTICIPANT_LIST, PREAUTH_LIST, ROLES_LIST, ROOM_METADATA};
use mimi_appsync::policy::{evaluate, Actor, CommitDescription, Rule};
use mimi_appsync::presets::{self, RoomPolicy};
use mimi_appsync::state::{initial_dictionary, RoomState};
use mimi_appsync::uri::{ClientUri, UserUri};
use openmls::prelude::AppDataUpdateProposal;

fn user(name: &str) -> UserUri {
    UserUri::new("a.example", name).unwrap()
}
fn client(name: &str, dev: &str) -> ClientUri {
    ClientUri::new("a.example", name, dev).unwrap()
}
fn member(name: &str, dev: &str) -> Actor {
    Actor::Member(client(name, dev))
}

/// A room of the given type with `users` (name, role) listed and `members` (name, device).
fn room_with(
    policy: RoomPolicy,
    users: &[(&str, u32)],
    members: &[(&str, &str)],
    preauth: Option<PreAuthData>,
) -> RoomState {
    let list = ParticipantListData {
        participants: users
            .iter()
            .map(|(n, r)| UserRolePair { user: user(n).as_bytes().to_vec(), role_index: *r })
            .collect(),
    };
    let meta = RoomMetaData::named("mimi://a.example/r/club", "Club");
    let dict = initial_dictionary(&list, &policy.roles, preauth.as_ref(), &policy.base_policy, Some(&meta)).unwrap();
    RoomState::new(dict, members.iter().map(|(n, d)| client(n, d)).collect()).unwrap()
}

/// Cooperative room: alice group_admin (3), bob ordinary_user (2), dave super_admin (4).
fn coop() -> RoomState {
    room_with(
        presets::cooperative(),
        &[("alice", 3), ("bob", 2), ("dave", 4)],
        &[("alice", "phone"), ("alice", "pc"), ("bob", "phone"), ("dave", "pc")],
        None,
    )
}

fn pl(update: ParticipantListUpdate) -> AppDataUpdateProposal {
    AppDataUpdateProposal::update(PARTICIPANT_LIST, enc(PARTICIPANT_LIST, &update))
}
fn add_user(name: &str, role: u32) -> AppDataUpdateProposal {
    pl(ParticipantListUpdate {
        added_participants: vec![UserRolePair { user: user(name).as_bytes().to_vec(), role_index: role }],
        ..Default::default()
    })
}
fn remove_index(i: u32) -> AppDataUpdateProposal {
    pl(ParticipantListUpdate { removed_indices: vec![i], ..Default::default() })
}
fn set_role(i: u32, role: u32) -> AppDataUpdateProposal {
    pl(ParticipantListUpdate {
        changed_role_participants: vec![UserindexRolePair { user_index: i, role_index: role }],
        ..Default::default()
    })
}

fn allowed(state: &RoomState, c: &CommitDescription) -> RoomState {
    match evaluate(state, c) {
        mimi_appsync::policy::Verdict::Allowed(after) => *after,
        mimi_appsync::policy::Verdict::NotAllowed(r) => panic!("refused: {r}"),
    }
}
fn refused(state: &RoomState, c: &CommitDescription) -> Rule {
    match evaluate(state, c) {
        mimi_appsync::policy::Verdict::Allowed(_) => panic!("allowed but should be refused"),
        mimi_appsync::policy::Verdict::NotAllowed(r) => r.rule,
    }
}

#[test]
fn can_add_participant() {
    let s = coop();
    let bob = member("bob", "phone");
    let ok = CommitDescription::new(bob.clone())
        .app_data(&bob, add_user("carol", 2))
        .add(&bob, client("carol", "phone"))
        .add(&bob, client("carol", "pc"));
    let after = allowed(&s, &ok);
    assert_eq!(after.role_of(&user("carol")), Some(2));
    assert_eq!(after.members.len(), 6);
    // ordinary_user's authorized_role_changes has (0,[2]) only: adding as admin is refused.
    let as_admin = CommitDescription::new(bob.clone()).app_data(&bob, add_user("carol", 3));
    assert_eq!(refused(&s, &as_admin), Rule::RoleChangeNotAuthorized { from: 0, to: 3 });
    // strictly administered: ordinary users lack canAddParticipant.
    let strict = room_with(
        presets::strictly_administered(),
        &[("alice", 3), ("bob", 2)],
        &[("alice", "phone"), ("bob", "phone")],
        None,
    );
    let c = CommitDescription::new(bob.clone()).app_data(&bob, add_user("carol", 2));
    assert_eq!(refused(&strict, &c), Rule::MissingCapability(CAN_ADD_PARTICIPANT));
}

#[test]
fn can_add_own_client() {
    let s = coop();
    let bob = member("bob", "phone");
    let ok = CommitDescription::new(bob.clone()).add(&bob, client("bob", "tablet"));
    allowed(&s, &ok);
    // external commit by a new device of a listed user
    let joiner = Actor::NewMember(client("bob", "laptop"));
    allowed(&s, &CommitDescription::new(joiner));
    // moderated room: guests lack canAddOwnClient
    let m = room_with(presets::moderated(), &[("alice", 5), ("bob", 2)], &[("alice", "phone"), ("bob", "phone")], None);
    let c = CommitDescription::new(bob.clone()).add(&bob, client("bob", "tablet"));
    assert_eq!(refused(&m, &c), Rule::MissingCapability(CAN_ADD_OWN_CLIENT));
    // adding another listed user's client without listing it in this commit
    let c = CommitDescription::new(bob.clone()).add(&bob, client("alice", "tablet"));
    assert!(matches!(refused(&s, &c), Rule::AddClientNotAuthorized(_)));
}

#[test]
fn can_open_join() {
    let mut policy = presets::cooperative();
    policy.roles.roles[0].role_capabilities.push(CAN_OPEN_JOIN);
    policy.roles.roles[0].authorized_role_changes.push(
        mimi_appsync::components::roles::SingleSourceRoleChangeTargets {
            from_role_index: 0,
            target_role_indexes: vec![2],
        },
    );
    let open = room_with(policy, &[("alice", 3)], &[("alice", "phone")], None);
    let eve = Actor::NewMember(client("eve", "phone"));
    let ok = CommitDescription::new(eve.clone()).app_data(&eve, add_user("eve", 2));
    allowed(&open, &ok);
    let as_admin = CommitDescription::new(eve.clone()).app_data(&eve, add_user("eve", 3));
    assert_eq!(refused(&open, &as_admin), Rule::JoinNotAuthorized { role: 3 });
    // without canOpenJoin on role 0
    assert_eq!(refused(&coop(), &ok), Rule::JoinNotAuthorized { role: 2 });
}

fn strict_preauth() -> PreAuthData {
    let roles = presets::strictly_administered().roles;
    PreAuthData {
        preauthorized_entries: vec![
            PreAuthRoleEntry {
                claimset: vec![Claim::basic("user", "mimi://a.example/u/boss")],
                target_role: roles.role(3).unwrap().clone(),
            },
            PreAuthRoleEntry {
                claimset: vec![Claim::basic("domain", "a.example")],
                target_role: roles.role(2).unwrap().clone(),
            },
        ],
    }
}

#[test]
fn can_join_if_preauthorized() {
    let s = room_with(presets::strictly_administered(), &[("alice", 3)], &[("alice", "phone")], Some(strict_preauth()));
    let carol = Actor::NewMember(client("carol", "phone"));
    let ok = CommitDescription::new(carol.clone()).app_data(&carol, add_user("carol", 2));
    allowed(&s, &ok);
    // group_admin (3) has canJoinIfPreauthorized but carol's first match is role 2
    let wrong = CommitDescription::new(carol.clone()).app_data(&carol, add_user("carol", 3));
    assert_eq!(refused(&s, &wrong), Rule::JoinNotAuthorized { role: 3 });
    // a user of another domain matches nothing
    let eve = Actor::NewMember(ClientUri::new("e.example", "eve", "x").unwrap());
    let eve_user = UserUri::new("e.example", "eve").unwrap();
    let c = CommitDescription::new(eve.clone()).app_data(
        &eve,
        pl(ParticipantListUpdate {
            added_participants: vec![UserRolePair { user: eve_user.as_bytes().to_vec(), role_index: 2 }],
            ..Default::default()
        }),
    );
    assert_eq!(refused(&s, &c), Rule::JoinNotAuthorized { role: 2 });
}

#[test]
fn can_remove_participant() {
    let s = coop();
    let alice = member("alice", "phone");
    // alice (admin) removes bob (index 1) and his only client
    let ok =
        CommitDescription::new(alice.clone()).app_data(&alice, remove_index(1)).remove(&alice, client("bob", "phone"));
    let after = allowed(&s, &ok);
    assert_eq!(after.role_of(&user("bob")), None);
    // bob (ordinary) may remove ordinary users but not an admin: no (3,[0]) entry
    let bob = member("bob", "phone");
    let c = CommitDescription::new(bob.clone())
        .app_data(&bob, remove_index(0))
        .remove(&bob, client("alice", "phone"))
        .remove(&bob, client("alice", "pc"));
    assert_eq!(refused(&s, &c), Rule::RoleChangeNotAuthorized { from: 3, to: 0 });
    // moderated guests lack canRemoveParticipant
    let m = room_with(presets::moderated(), &[("alice", 2), ("bob", 2)], &[("alice", "phone"), ("bob", "phone")], None);
    let c = CommitDescription::new(member("alice", "phone"))
        .app_data(&member("alice", "phone"), remove_index(1))
        .remove(&member("alice", "phone"), client("bob", "phone"));
    assert_eq!(refused(&m, &c), Rule::MissingCapability(CAN_REMOVE_PARTICIPANT));
}

#[test]
fn removal_must_take_all_clients() {
    let s = coop();
    let dave = member("dave", "pc");
    let partial =
        CommitDescription::new(dave.clone()).app_data(&dave, remove_index(0)).remove(&dave, client("alice", "phone"));
    assert!(matches!(refused(&s, &partial), Rule::RemovedUserKeepsClients(_)));
}

#[test]
fn can_remove_own_client() {
    let s = coop();
    let alice = member("alice", "phone");
    let ok = CommitDescription::new(alice.clone()).remove(&alice, client("alice", "pc"));
    allowed(&s, &ok);
    allowed(&s, &CommitDescription::new(alice.clone()).self_remove(client("alice", "pc")));
    let m = room_with(
        presets::moderated(),
        &[("alice", 5), ("bob", 2)],
        &[("alice", "phone"), ("bob", "phone"), ("bob", "pc")],
        None,
    );
    let bob = member("bob", "phone");
    let c = CommitDescription::new(alice.clone()).self_remove(client("bob", "pc"));
    assert_eq!(refused(&m, &c), Rule::MissingCapability(CAN_REMOVE_OWN_CLIENT));
    let c = CommitDescription::new(alice).remove(&bob, client("bob", "pc"));
    assert_eq!(refused(&m, &c), Rule::MissingCapability(CAN_REMOVE_OWN_CLIENT));
}

#[test]
fn can_remove_self() {
    let s = coop();
    let bob = member("bob", "phone");
    let alice = member("alice", "phone");
    // bob proposes leaving (list + own client), alice commits
    let ok = CommitDescription::new(alice.clone()).app_data(&bob, remove_index(1)).remove(&bob, client("bob", "phone"));
    allowed(&s, &ok);
    // alice is the only group_admin (min 1): leaving is refused by the constraint
    let dave = member("dave", "pc");
    let c = CommitDescription::new(dave.clone())
        .app_data(&alice, remove_index(0))
        .remove(&alice, client("alice", "phone"))
        .remove(&alice, client("alice", "pc"));
    assert_eq!(refused(&s, &c), Rule::MinParticipants { role: 3, count: 0, min: 1 });
    // multi-org org users may leave, but a policy without canRemoveSelf refuses
    let one =
        room_with(presets::one_to_one(), &[("alice", 2), ("bob", 2)], &[("alice", "phone"), ("bob", "phone")], None);
    let c = CommitDescription::new(alice.clone()).app_data(&bob, remove_index(1)).remove(&bob, client("bob", "phone"));
    assert_eq!(refused(&one, &c), Rule::FixedMembership);
}

#[test]
fn can_kick() {
    let s = coop();
    let alice = member("alice", "phone");
    allowed(&s, &CommitDescription::new(alice.clone()).remove(&alice, client("bob", "phone")));
    let bob = member("bob", "phone");
    let c = CommitDescription::new(bob.clone()).remove(&bob, client("alice", "pc"));
    assert_eq!(refused(&s, &c), Rule::MissingCapability(CAN_KICK));
}

#[test]
fn can_ban_and_unban() {
    let s = coop();
    let alice = member("alice", "phone");
    let ban =
        CommitDescription::new(alice.clone()).app_data(&alice, set_role(1, 1)).remove(&alice, client("bob", "phone"));
    let banned = allowed(&s, &ban);
    assert_eq!(banned.role_of(&user("bob")), Some(1));
    // a ban that leaves a client behind
    let keep = CommitDescription::new(alice.clone()).app_data(&alice, set_role(1, 1));
    assert!(matches!(refused(&s, &keep), Rule::RemovedUserKeepsClients(_)));
    // ordinary users cannot ban
    let bob = member("bob", "phone");
    let c = CommitDescription::new(bob.clone())
        .app_data(&bob, set_role(0, 1))
        .remove(&bob, client("alice", "phone"))
        .remove(&bob, client("alice", "pc"));
    assert_eq!(refused(&s, &c), Rule::MissingCapability(CAN_BAN));
    // unban by the admin: back to ordinary_user
    let unban = CommitDescription::new(alice.clone()).app_data(&alice, set_role(1, 2));
    let after = allowed(&banned, &unban);
    assert_eq!(after.role_of(&user("bob")), Some(2));
    // ...but unban does not authorize adding bob's clients
    let unban_add =
        CommitDescription::new(alice.clone()).app_data(&alice, set_role(1, 2)).add(&alice, client("bob", "phone"));
    assert!(matches!(refused(&banned, &unban_add), Rule::AddClientNotAuthorized(_)));
    // multi-org: org_b_admin may ban but has no canUnBan / canChangeUserRole from 1
    let mo = room_with(
        presets::multi_organization(),
        &[("alice", 8), ("bob", 6), ("carol", 1)],
        &[("alice", "phone"), ("bob", "phone")],
        None,
    );
    let bob_unbans = CommitDescription::new(bob.clone()).app_data(&bob, set_role(2, 3));
    assert_eq!(refused(&mo, &bob_unbans), Rule::RoleChangeNotAuthorized { from: 1, to: 3 });
    // a banned user's client cannot commit (e.g. rejoin by external commit)
    let rejoin = CommitDescription::new(Actor::NewMember(client("bob", "phone")));
    assert_eq!(refused(&banned, &rejoin), Rule::ActorBanned);
}

#[test]
fn can_change_user_role() {
    let s = coop();
    let alice = member("alice", "phone");
    let promote = CommitDescription::new(alice.clone()).app_data(&alice, set_role(1, 3));
    assert_eq!(allowed(&s, &promote).role_of(&user("bob")), Some(3));
    // group_admin has no (2,[4]) entry
    let to_super = CommitDescription::new(alice.clone()).app_data(&alice, set_role(1, 4));
    assert_eq!(refused(&s, &to_super), Rule::RoleChangeNotAuthorized { from: 2, to: 4 });
    // ordinary user promoting someone
    let bob = member("bob", "phone");
    let c = CommitDescription::new(bob.clone()).app_data(&bob, set_role(2, 2));
    assert_eq!(refused(&s, &c), Rule::MissingCapability(CAN_CHANGE_USER_ROLE));
    // unknown target role
    let c = CommitDescription::new(alice.clone()).app_data(&alice, set_role(1, 42));
    assert_eq!(refused(&s, &c), Rule::RoleChangeNotAuthorized { from: 2, to: 42 });
    // demoting the last group_admin is refused by min participants
    let dave = member("dave", "pc");
    let c = CommitDescription::new(dave.clone()).app_data(&dave, set_role(0, 2));
    assert_eq!(refused(&s, &c), Rule::MinParticipants { role: 3, count: 0, min: 1 });
}

#[test]
fn can_change_own_role() {
    let s = room_with(
        presets::strictly_administered(),
        &[("alice", 3), ("boss", 2), ("bob", 2)],
        &[("alice", "phone"), ("boss", "pc"), ("bob", "phone")],
        Some(strict_preauth()),
    );
    let boss = member("boss", "pc");
    let ok = CommitDescription::new(boss.clone()).app_data(&boss, set_role(1, 3));
    allowed(&s, &ok);
    // bob's first preauth match is 2, not 3: a regular user promoting itself
    let bob = member("bob", "phone");
    let c = CommitDescription::new(bob.clone()).app_data(&bob, set_role(2, 3));
    assert_eq!(refused(&s, &c), Rule::NotPreauthorizedForRole { role: 3 });
    // cooperative ordinary users lack canChangeOwnRole entirely
    let c = CommitDescription::new(member("bob", "phone")).app_data(&member("bob", "phone"), set_role(1, 3));
    assert_eq!(refused(&coop(), &c), Rule::MissingCapability(CAN_CHANGE_OWN_ROLE));
}

#[test]
fn max_constraints() {
    // policy_enforcer: max 2 participants, max 0 active; let super_admin add enforcers
    let mut policy = presets::cooperative();
    policy.roles.roles[4].authorized_role_changes[0].target_role_indexes.push(5);
    let s = room_with(policy, &[("alice", 3), ("bob", 2), ("dave", 4)], &[("alice", "phone"), ("dave", "pc")], None);
    let dave = member("dave", "pc");
    let mut c = CommitDescription::new(dave.clone());
    for n in ["p1", "p2"] {
        c = c.app_data(&dave, add_user(n, 5));
    }
    allowed(&s, &c);
    let c3 = c.clone().app_data(&dave, add_user("p3", 5));
    assert_eq!(refused(&s, &c3), Rule::MaxParticipants { role: 5, count: 3, max: 2 });
    let with_client =
        CommitDescription::new(dave.clone()).app_data(&dave, add_user("p1", 5)).add(&dave, client("p1", "x"));
    assert_eq!(refused(&s, &with_client), Rule::MaxActiveParticipants { role: 5, count: 1, max: 0 });
}

#[test]
fn min_active_constraint_on_kick() {
    // multi-org: org_b_admin has min_active 1
    let mo = room_with(
        presets::multi_organization(),
        &[("alice", 8), ("bob", 6)],
        &[("alice", "phone"), ("bob", "phone")],
        None,
    );
    let alice = member("alice", "phone");
    let c = CommitDescription::new(alice.clone()).remove(&alice, client("bob", "phone"));
    assert_eq!(refused(&mo, &c), Rule::MinActiveParticipants { role: 6, count: 0, min: 1 });
}

#[test]
fn metadata_changes() {
    let s = coop();
    let bob = member("bob", "phone");
    let mut m = s.metadata.clone();
    m.room_name.string = b"New name".to_vec();
    let name = AppDataUpdateProposal::update(ROOM_METADATA, m.encode().unwrap());
    allowed(&s, &CommitDescription::new(bob.clone()).app_data(&bob, name));
    let mut d = s.metadata.clone();
    d.room_descriptions.push(Default::default());
    let desc = AppDataUpdateProposal::update(ROOM_METADATA, d.encode().unwrap());
    assert_eq!(
        refused(&s, &CommitDescription::new(bob.clone()).app_data(&bob, desc.clone())),
        Rule::MissingCapability(CAN_CHANGE_ROOM_DESCRIPTION)
    );
    let alice = member("alice", "phone");
    allowed(&s, &CommitDescription::new(alice.clone()).app_data(&alice, desc));
    let mut u = s.metadata.clone();
    u.room_uri.uri = b"mimi://a.example/r/other".to_vec();
    let uri = AppDataUpdateProposal::update(ROOM_METADATA, u.encode().unwrap());
    assert_eq!(refused(&s, &CommitDescription::new(alice.clone()).app_data(&alice, uri)), Rule::RoomUriImmutable);
}

#[test]
fn policy_component_changes() {
    let s = coop();
    let alice = member("alice", "phone");
    let dave = member("dave", "pc");
    let base = BaseRoomPolicy { multi_device: Bool(true), max_clients: Some(10), ..Default::default() };
    let p = AppDataUpdateProposal::update(BASE_ROOM_POLICY, base.encode().unwrap());
    assert_eq!(
        refused(&s, &CommitDescription::new(alice.clone()).app_data(&alice, p.clone())),
        Rule::MissingCapability(CAN_CHANGE_ROOM_MEMBERSHIP_STYLE)
    );
    allowed(&s, &CommitDescription::new(dave.clone()).app_data(&dave, p));
    let pre = AppDataUpdateProposal::update(PREAUTH_LIST, PreAuthData::default().encode().unwrap());
    allowed(&s, &CommitDescription::new(dave.clone()).app_data(&dave, pre.clone()));
    assert_eq!(
        refused(&s, &CommitDescription::new(alice.clone()).app_data(&alice, pre)),
        Rule::MissingCapability(CAN_CHANGE_PREAUTHORIZED_USER_LIST)
    );
    // cooperative super_admin lacks canChangeRoleDefinitions; strictly administered has it
    let roles = AppDataUpdateProposal::update(ROLES_LIST, presets::cooperative().roles.encode().unwrap());
    assert_eq!(
        refused(&s, &CommitDescription::new(dave.clone()).app_data(&dave, roles.clone())),
        Rule::MissingCapability(CAN_CHANGE_ROLE_DEFINITIONS)
    );
    let strict = room_with(
        presets::strictly_administered(),
        &[("dave", 4), ("bob", 2)],
        &[("dave", "pc"), ("bob", "phone")],
        None,
    );
    allowed(&strict, &CommitDescription::new(dave.clone()).app_data(&dave, roles.clone()));
    // never together with participant changes
    let mixed = CommitDescription::new(dave.clone()).app_data(&dave, roles).app_data(&dave, add_user("carol", 2));
    assert_eq!(refused(&strict, &mixed), Rule::RoleUpdateWithParticipantChanges);
    // the participant list and roles list cannot be removed
    let rm = AppDataUpdateProposal::remove(PARTICIPANT_LIST);
    assert_eq!(
        refused(&strict, &CommitDescription::new(dave.clone()).app_data(&dave, rm)),
        Rule::ComponentRemovalNotAllowed(PARTICIPANT_LIST)
    );
}

#[test]
fn consistency_rules() {
    let s = coop();
    let bob = member("bob", "phone");
    // client of an unlisted user
    let c = CommitDescription::new(bob.clone()).add(&bob, client("carol", "phone"));
    assert!(matches!(refused(&s, &c), Rule::ClientOfUnlistedUser(_)));
    // the same user touched twice in one commit (two updates)
    let c = CommitDescription::new(bob.clone()).app_data(&bob, add_user("carol", 2)).app_data(&bob, remove_index(3));
    assert!(matches!(refused(&s, &c), Rule::InvalidAppData(_)));
    // single-device rooms
    let mut policy = presets::cooperative();
    policy.base_policy.multi_device = Bool(false);
    let single = room_with(policy, &[("alice", 3), ("bob", 2)], &[("alice", "phone"), ("bob", "phone")], None);
    let c = CommitDescription::new(bob.clone()).add(&bob, client("bob", "pc"));
    assert!(matches!(refused(&single, &c), Rule::SingleDevice(_)));
    // one-to-one: nobody can be added
    let one =
        room_with(presets::one_to_one(), &[("alice", 2), ("bob", 2)], &[("alice", "phone"), ("bob", "phone")], None);
    let c = CommitDescription::new(bob.clone()).app_data(&bob, add_user("carol", 2));
    assert_eq!(refused(&one, &c), Rule::FixedMembership);
    allowed(&one, &CommitDescription::new(bob.clone()).add(&bob, client("bob", "pc")));
    // a plain self-update by a member
    allowed(&s, &CommitDescription::new(bob));
}

#[test]
fn external_sender_acts_through_preauth() {
    let roles = presets::cooperative().roles;
    let preauth = PreAuthData {
        preauthorized_entries: vec![PreAuthRoleEntry {
            claimset: vec![Claim::basic("identity", "mimi://a.example")],
            target_role: roles.role(5).unwrap().clone(),
        }],
    };
    let s = room_with(
        presets::cooperative(),
        &[("alice", 3), ("bob", 2)],
        &[("alice", "phone"), ("bob", "phone")],
        Some(preauth),
    );
    let hub = Actor::External { identity: b"mimi://a.example".to_vec() };
    let alice = member("alice", "phone");
    // hub (policy_enforcer) bans bob; alice commits the hub's proposals
    let ok =
        CommitDescription::new(alice.clone()).app_data(&hub, set_role(1, 1)).remove(&alice, client("bob", "phone"));
    allowed(&s, &ok);
    // policy_enforcer has no canKick
    let c = CommitDescription::new(alice.clone()).remove(&hub, client("bob", "phone"));
    assert_eq!(refused(&s, &c), Rule::MissingCapability(CAN_KICK));
    // an unknown external sender has no role
    let other = Actor::External { identity: b"mimi://z.example".to_vec() };
    let c = CommitDescription::new(alice).app_data(&other, set_role(1, 1));
    assert_eq!(refused(&s, &c), Rule::MissingCapability(CAN_BAN));
}

/// Leaving with a SelfRemove: the list update and the SelfRemove in one commit; a SelfRemove of
/// a user's last client alone keeps the user listed; a list removal that keeps a client fails.
#[test]
fn leave_with_self_remove() {
    let s = coop();
    let (alice, bob) = (member("alice", "phone"), member("bob", "phone"));
    let c = CommitDescription::new(alice.clone()).app_data(&bob, remove_index(1)).self_remove(client("bob", "phone"));
    let after = allowed(&s, &c);
    assert_eq!(after.role_of(&user("bob")), None);
    let last = allowed(&s, &CommitDescription::new(alice.clone()).self_remove(client("bob", "phone")));
    assert_eq!(last.role_of(&user("bob")), Some(2));
    assert!(last.clients_of(&user("bob")).next().is_none());
    let c = CommitDescription::new(bob.clone()).app_data(&alice, remove_index(0)).self_remove(client("alice", "pc"));
    assert_eq!(refused(&s, &c), Rule::RemovedUserKeepsClients(user("alice").to_string()));
    let c = CommitDescription::new(bob.clone())
        .app_data(&alice, remove_index(0))
        .self_remove(client("alice", "phone"))
        .self_remove(client("alice", "pc"));
    assert_eq!(refused(&s, &c), Rule::MinParticipants { role: 3, count: 0, min: 1 });
}

/// The standalone-proposal check (`evaluate_proposal`): allowed and refused cases per rule.
#[test]
fn standalone_proposal_rules() {
    use mimi_appsync::policy::{evaluate_proposal, OtherProposal, ProposalKind, Proposed};
    let check = |s: &RoomState, proposer: &Actor, item: ProposalKind| {
        evaluate_proposal(s, &Proposed { proposer: proposer.clone(), item }).map_err(|r| r.rule)
    };
    // coop() plus carol banned and eve unlisted, each still holding a client (a state a hub
    // must not reach, but a proposal may arrive from such a client before its removal)
    let s = room_with(
        presets::cooperative(),
        &[("alice", 3), ("bob", 2), ("dave", 4), ("carol", 1)],
        &[("alice", "phone"), ("bob", "phone"), ("carol", "phone"), ("carol", "pc"), ("eve", "phone")],
        None,
    );
    let (alice, bob) = (member("alice", "phone"), member("bob", "phone"));
    let (carol, eve) = (member("carol", "phone"), member("eve", "phone"));

    // banned or unlisted: only one's own departure
    for (actor, rule) in [(&carol, Rule::ActorBanned), (&eve, Rule::NotAParticipant)] {
        let own = actor.client().unwrap().clone();
        assert_eq!(check(&s, actor, ProposalKind::SelfRemove), Ok(()));
        assert_eq!(check(&s, actor, ProposalKind::Remove(own)), Ok(()));
        assert_eq!(check(&s, actor, ProposalKind::Remove(client("bob", "phone"))), Err(rule.clone()));
        assert_eq!(check(&s, actor, ProposalKind::Add(client("carol", "tablet"))), Err(rule.clone()));
        let meta = RoomMetaData::named("mimi://a.example/r/club", "Hijacked");
        let rename = AppDataUpdateProposal::update(ROOM_METADATA, meta.encode().unwrap());
        assert_eq!(check(&s, actor, ProposalKind::AppData(rename)), Err(rule));
    }
    assert_eq!(check(&s, &carol, ProposalKind::Remove(client("carol", "pc"))), Err(Rule::ActorBanned));
    // a banned user's device asking to join
    let joiner = Actor::NewMember(client("carol", "tablet"));
    assert_eq!(check(&s, &joiner, ProposalKind::Add(client("carol", "tablet"))), Err(Rule::ActorBanned));
    let stranger = Actor::NewMember(client("frank", "phone"));
    assert_eq!(check(&s, &stranger, ProposalKind::Add(client("frank", "phone"))), Ok(()));

    // AppDataUpdates: must reduce alone, and be authorized for the proposer
    assert_eq!(check(&s, &bob, ProposalKind::AppData(add_user("frank", 2))), Ok(()));
    assert_eq!(
        check(&s, &bob, ProposalKind::AppData(add_user("frank", 3))),
        Err(Rule::RoleChangeNotAuthorized { from: 0, to: 3 })
    );
    assert!(matches!(check(&s, &bob, ProposalKind::AppData(remove_index(9))), Err(Rule::InvalidAppData(_))));
    assert_eq!(check(&s, &bob, ProposalKind::AppData(remove_index(1))), Ok(())); // bob leaves
    assert_eq!(check(&s, &alice, ProposalKind::AppData(set_role(1, 3))), Ok(()));
    assert_eq!(
        check(&s, &bob, ProposalKind::AppData(set_role(0, 2))),
        Err(Rule::MissingCapability(CAN_CHANGE_USER_ROLE))
    );
    // other governed proposals, and Add/Remove/ungoverned ones of participants
    assert_eq!(
        check(&s, &bob, ProposalKind::Other(OtherProposal::GroupContextExtensions)),
        Err(Rule::MissingCapability(CAN_CHANGE_ROOM_MEMBERSHIP_STYLE))
    );
    assert_eq!(check(&s, &member("dave", "pc"), ProposalKind::Other(OtherProposal::GroupContextExtensions)), Ok(()));
    assert_eq!(check(&s, &bob, ProposalKind::Add(client("frank", "phone"))), Ok(()));
    assert_eq!(check(&s, &bob, ProposalKind::Ungoverned), Ok(()));
}
