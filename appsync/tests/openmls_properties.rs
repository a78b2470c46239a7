//! Property test over real openmls 0.9 groups: seeded random sequences of user- and client-level
//! operations by random actors (3 users × 2 clients, hub as a `PublicGroup`, harness in
//! `common`).
//!
//! Every commit is checked by the hub first; a refused one is discarded by its committer, an
//! accepted one is merged by the hub and every member, after which the harness asserts that all
//! members and the hub hold identical GroupContexts and dictionaries, the members identical epoch
//! authenticators, and the commit kept the room's invariants ([`common::assert_commit_invariants`]).
//! Standalone proposals (leaving) go through the hub's proposal check.
//!
//! openmls is slow in debug builds, so the run is small (a few cases of some twenty operations);
//! the seed is fixed, so the sequences (and, since policy decisions do not depend on key
//! material, the outcomes) are the same on every run. At the end the test asserts that the run
//! really exercised the system: many commits of several kinds accepted, and some refused.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;

use common::{ClientExt, Room, DEVICES, USERS};
use mimi_appsync::components::participant_list::{ParticipantListUpdate, UserindexRolePair};
use mimi_appsync::components::roles::capability::CAN_CHANGE_ROLE_DEFINITIONS;
use mimi_appsync::components::roles::BANNED_ROLE;
use mimi_appsync::components::room_metadata::RoomMetaData;
use mimi_appsync::components::{encode_struct_for_tests as enc, Component, PARTICIPANT_LIST, ROLES_LIST};
use mimi_appsync::ops::{self, LeaveVia, UserOperation};
use mimi_appsync::presets::{self, administered_roles::SUPER_ADMIN};
use mimi_appsync::uri::UserUri;
use openmls::prelude::AppDataUpdateProposal;
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

/// The operations the test draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Invite an unlisted user with all its devices (refused e.g. for a role the actor may not
    /// grant, or one whose holders may have no clients).
    InviteUser,
    /// Remove a user with all its clients (`partial`: keep one client, which must be refused).
    RemoveUser,
    /// Ban a user (role 1) and remove its clients.
    Ban,
    /// Give a (banned) user a role again.
    Unban,
    /// Change a user's role.
    ChangeRole,
    /// Rename the room (`partial`: also change its URI, which must be refused).
    SetMetadata,
    /// A non-member device joins by external commit.
    JoinByExternalCommit,
    /// A member adds its user's other device.
    AddOwnDevice,
    /// A member removes a client: its own other device, or someone else's (a kick).
    RemoveClient,
    /// A member leaves the room (list update + Removes, own leaf by Remove or SelfRemove),
    /// committed by a member of another user.
    Leave,
    /// A member removes only its own device by SelfRemove, committed by another member.
    SelfRemoveDevice,
    /// Re-publish the role definitions (`partial`: together with a role change, which must be
    /// refused).
    UpdateRoleDefinitions,
}

const KINDS: [Kind; 12] = [
    Kind::InviteUser,
    Kind::RemoveUser,
    Kind::Ban,
    Kind::Unban,
    Kind::ChangeRole,
    Kind::SetMetadata,
    Kind::JoinByExternalCommit,
    Kind::AddOwnDevice,
    Kind::RemoveClient,
    Kind::Leave,
    Kind::SelfRemoveDevice,
    Kind::UpdateRoleDefinitions,
];

/// One drawn operation. `actor` and `other` pick among the clients that fit the operation,
/// `target` among the users that fit it (modulo their number); `role` is a role index.
#[derive(Debug, Clone, Copy)]
struct Op {
    kind: Kind,
    actor: usize,
    other: usize,
    target: usize,
    role: u32,
    partial: bool,
}

/// Operations with weights: invitations and joins more often, so that rooms fill up; roles
/// that members may hold more often than `banned` and `policy_enforcer`.
fn op_strategy() -> impl Strategy<Value = Op> {
    let mut kinds = KINDS.to_vec();
    kinds.extend([Kind::InviteUser, Kind::InviteUser, Kind::JoinByExternalCommit]);
    let roles = proptest::sample::select(vec![1, 2, 2, 3, 3, 4, 5]);
    (proptest::sample::select(kinds), 0..6usize, 0..6usize, 0..USERS.len(), roles, proptest::bool::weighted(0.2))
        .prop_map(|(kind, actor, other, target, role, partial)| Op { kind, actor, other, target, role, partial })
}

/// What happened to one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    /// Refused by the hub (commit or standalone proposal).
    Refused,
    /// Not applicable in the current state, or openmls itself would not build it.
    Skipped,
}

/// Outcome counts per kind over the whole run.
type Tally = BTreeMap<Kind, [usize; 3]>;

fn record(tally: &mut Tally, kind: Kind, outcome: Outcome) {
    tally.entry(kind).or_default()[outcome as usize] += 1;
}

fn user_uri(u: usize) -> UserUri {
    UserUri::new("a.example", USERS[u]).unwrap()
}

/// `n`-th element of `items` modulo its length.
fn pick(items: &[usize], n: usize) -> Option<usize> {
    (!items.is_empty()).then(|| items[n % items.len()])
}

fn outcome(r: Option<Result<(), mimi_appsync::policy::Rule>>) -> Outcome {
    match r {
        Some(Ok(())) => Outcome::Accepted,
        Some(Err(_)) => Outcome::Refused,
        None => Outcome::Skipped,
    }
}

/// The cooperative room, with `canChangeRoleDefinitions` given to `super_admin` so that members
/// can change role definitions at all; alice creates it as super_admin.
fn new_room() -> Room {
    let mut policy = presets::cooperative();
    for role in &mut policy.roles.roles {
        if role.role_index == SUPER_ADMIN {
            role.role_capabilities.push(CAN_CHANGE_ROLE_DEFINITIONS);
        }
    }
    Room::create_with(policy, SUPER_ADMIN)
}

/// Sends `proposals` from `from`, then has `committer` commit them; a refusal at either step
/// discards all stored proposals.
fn propose_and_commit(
    room: &mut Room,
    from: usize,
    proposals: Vec<openmls::prelude::MlsMessageOut>,
    committer: usize,
) -> Outcome {
    for p in &proposals {
        if room.send_proposal(from, p).is_err() {
            room.discard_proposals();
            return Outcome::Refused;
        }
    }
    let result = room.try_commit_op(committer, UserOperation::default());
    if !matches!(result, Some(Ok(()))) {
        room.discard_proposals();
    }
    outcome(result)
}

/// Builds and runs `op` against the room.
fn apply(room: &mut Room, op: Op, step: usize) -> Outcome {
    let members = room.members();
    let Some(actor) = pick(&members, op.actor) else { return Outcome::Skipped };
    let state = room.state();
    let own_user = actor / DEVICES.len();
    // users that fit the operation: unlisted ones to invite, banned ones to unban, has_target ones
    // (others than the actor's own user, to remove or ban) otherwise
    let fits = |u: usize| {
        let role = state.role_of(&user_uri(u));
        match op.kind {
            Kind::InviteUser => role.is_none(),
            Kind::Unban => role == Some(BANNED_ROLE),
            Kind::RemoveUser | Kind::Ban => role.is_some() && u != own_user,
            _ => role.is_some(),
        }
    };
    let fitting: Vec<usize> = (0..USERS.len()).filter(|&u| fits(u)).collect();
    let target_index = pick(&fitting, op.target);
    let target = user_uri(target_index.unwrap_or(op.target));
    let has_target = target_index.is_some();
    let own_other_device = own_user * DEVICES.len() + (actor + 1) % DEVICES.len();
    let result = match op.kind {
        Kind::InviteUser if has_target => {
            let kps = DEVICES
                .iter()
                .map(|d| room.idx(target.name(), d))
                .filter(|&i| !room.clients[i].is_member())
                .map(|i| room.clients[i].key_package())
                .collect();
            room.try_commit_op(actor, ops::invite_user(&target, op.role, kps).unwrap())
        }
        Kind::RemoveUser if has_target => {
            let mut remove = ops::remove_user(room.pg(), &target).unwrap();
            if op.partial {
                remove.removes.pop();
            }
            room.try_commit_op(actor, remove)
        }
        Kind::Ban if has_target => room.try_commit_op(actor, ops::ban_user(room.pg(), &target).unwrap()),
        Kind::Unban if has_target => room.try_commit_op(actor, ops::unban_user(room.pg(), &target, op.role).unwrap()),
        Kind::ChangeRole if has_target => {
            room.try_commit_op(actor, ops::change_role(room.pg(), &target, op.role).unwrap())
        }
        Kind::SetMetadata => {
            let uri = if op.partial { "mimi://a.example/r/other" } else { "mimi://a.example/r/club" };
            let meta = RoomMetaData::named(uri, &format!("Club {step}"));
            room.try_commit_op(actor, ops::set_room_metadata(&meta).unwrap())
        }
        Kind::JoinByExternalCommit => {
            let outside: Vec<usize> = (0..room.clients.len()).filter(|&i| !room.clients[i].is_member()).collect();
            let Some(joiner) = pick(&outside, op.other) else { return Outcome::Skipped };
            Some(room.external_join(joiner))
        }
        Kind::AddOwnDevice if !room.clients[own_other_device].is_member() => {
            let kp = room.clients[own_other_device].key_package();
            room.try_commit_op(actor, ops::add_own_device(vec![kp]))
        }
        Kind::RemoveClient => {
            let Some(victim) = pick(&members, op.other).filter(|&v| v != actor) else { return Outcome::Skipped };
            let device = room.clients[victim].uri.clone();
            room.try_commit_op(actor, ops::remove_own_device(room.pg(), &device).unwrap())
        }
        Kind::Leave => {
            let others: Vec<usize> = members.iter().copied().filter(|&m| m / DEVICES.len() != own_user).collect();
            let Some(committer) = pick(&others, op.other) else { return Outcome::Skipped };
            let me = room.clients[actor].uri.clone();
            let via = if op.partial { LeaveVia::Remove } else { LeaveVia::SelfRemove };
            let (group, provider, signer) = room.clients[actor].parts();
            let proposals = ops::leave(group, provider, signer, &me, via).unwrap();
            return propose_and_commit(room, actor, proposals, committer);
        }
        Kind::SelfRemoveDevice => {
            let others: Vec<usize> = members.iter().copied().filter(|&m| m != actor).collect();
            let Some(committer) = pick(&others, op.other) else { return Outcome::Skipped };
            let (group, provider, signer) = room.clients[actor].parts();
            let proposal = group.leave_group_via_self_remove(provider, signer).unwrap();
            return propose_and_commit(room, actor, vec![proposal], committer);
        }
        Kind::UpdateRoleDefinitions => {
            let mut roles = state.roles.clone();
            for role in &mut roles.roles {
                role.role_description = format!("revision {step}").into_bytes();
            }
            let mut update = UserOperation {
                app_data: vec![AppDataUpdateProposal::update(ROLES_LIST, roles.encode().unwrap())],
                ..Default::default()
            };
            if op.partial {
                let index = state.participants.participants.iter().position(|p| p.user == target.as_bytes());
                if let Some(index) = index {
                    let change = UserindexRolePair { user_index: index as u32, role_index: op.role };
                    let pl = ParticipantListUpdate { changed_role_participants: vec![change], ..Default::default() };
                    update.app_data.push(AppDataUpdateProposal::update(PARTICIPANT_LIST, enc(PARTICIPANT_LIST, &pl)));
                }
            }
            room.try_commit_op(actor, update)
        }
        _ => None,
    };
    outcome(result)
}

fn run_sequence(ops: Vec<Op>, tally: &mut Tally) -> Result<(), TestCaseError> {
    let mut room = new_room();
    for (step, op) in ops.into_iter().enumerate() {
        let result = apply(&mut room, op, step);
        record(tally, op.kind, result);
        // whatever happened, the members and the hub agree (also after refusals)
        room.assert_in_sync();
    }
    Ok(())
}

#[test]
fn random_operations_over_real_groups() {
    let config = ProptestConfig { cases: 10, max_shrink_iters: 16, failure_persistence: None, ..Default::default() };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[42; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let tally = RefCell::new(Tally::new());
    let sequences = proptest::collection::vec(op_strategy(), 20..=24);
    runner.run(&sequences, |ops| run_sequence(ops, &mut tally.borrow_mut())).unwrap();

    let tally = tally.into_inner();
    let sum = |o: Outcome| tally.values().map(|t| t[o as usize]).sum::<usize>();
    let (accepted, refused) = (sum(Outcome::Accepted), sum(Outcome::Refused));
    println!("openmls property test: {accepted} accepted, {refused} refused; [accepted, refused, skipped] per kind:");
    for (kind, t) in &tally {
        println!("  {kind:?}: {t:?}");
    }
    let count = |kind: Kind, o: Outcome| tally.get(&kind).map_or(0, |t| t[o as usize]);
    assert!(accepted >= 50, "only {accepted} commits accepted");
    assert!(refused >= 25, "only {refused} commits refused");
    use Kind::*;
    let must_be_accepted = [
        InviteUser,
        RemoveUser,
        Ban,
        SetMetadata,
        JoinByExternalCommit,
        AddOwnDevice,
        RemoveClient,
        Leave,
        SelfRemoveDevice,
        UpdateRoleDefinitions,
    ];
    for kind in must_be_accepted {
        assert!(count(kind, Outcome::Accepted) > 0, "{kind:?} was never accepted");
    }
    for kind in [InviteUser, RemoveUser, Ban, ChangeRole, SetMetadata, JoinByExternalCommit, UpdateRoleDefinitions] {
        assert!(count(kind, Outcome::Refused) > 0, "{kind:?} was never refused");
    }
}
