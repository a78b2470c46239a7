//! Property tests: decoding never panics, and random user/client operations from random actors
//! keep the consistency invariants whenever the policy engine accepts them.

use mimi_appsync::components::base_policy::BaseRoomPolicy;
use mimi_appsync::components::participant_list::{
    ParticipantListData, ParticipantListUpdate, UserRolePair, UserindexRolePair,
};
use mimi_appsync::components::preauth::PreAuthData;
use mimi_appsync::components::roles::RoleData;
use mimi_appsync::components::room_metadata::RoomMetaData;
use mimi_appsync::components::{encode_struct_for_tests as enc, Component, PARTICIPANT_LIST};
use mimi_appsync::policy::{evaluate, Actor, CommitDescription, Verdict};
use mimi_appsync::presets;
use mimi_appsync::reducer::reduce;
use mimi_appsync::state::{initial_dictionary, RoomState};
use mimi_appsync::uri::{ClientUri, UserUri};
use openmls::prelude::AppDataUpdateProposal;
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use std::cell::RefCell;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = ParticipantListData::decode(&bytes);
        let _ = RoomMetaData::decode(&bytes);
        let _ = RoleData::decode(&bytes);
        let _ = PreAuthData::decode(&bytes);
        let _ = BaseRoomPolicy::decode(&bytes);
        let _ = UserUri::from_bytes(&bytes);
        let _ = ClientUri::from_bytes(&bytes);
        for id in [0x0022u16, 0x0023, 0x0025, 0x0026, 0x0027, 0x0024, 0x8001, 0x1a1a] {
            let old = |_| Some(&bytes[..]);
            let _ = reduce(old, &[AppDataUpdateProposal::update(id, bytes.clone())]);
            let _ = reduce(|_| None, &[AppDataUpdateProposal::update(id, bytes.clone())]);
        }
    }
}

const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
const DEVICES: [&str; 2] = ["phone", "pc"];

fn user(i: usize) -> UserUri {
    UserUri::new("a.example", USERS[i]).unwrap()
}
fn client(u: usize, d: usize) -> ClientUri {
    ClientUri::new("a.example", USERS[u], DEVICES[d]).unwrap()
}

/// One random operation: (kind, actor user, actor device, target user, target device, role).
type Op = (u8, usize, usize, usize, usize, u32);

fn index_in(state: &RoomState, u: &UserUri) -> Option<u32> {
    state.participants.participants.iter().position(|p| p.user.as_slice() == u.as_bytes()).map(|i| i as u32)
}

fn pl(update: ParticipantListUpdate) -> AppDataUpdateProposal {
    AppDataUpdateProposal::update(PARTICIPANT_LIST, enc(PARTICIPANT_LIST, &update))
}

/// Builds a commit for `op` against `state` (not necessarily an allowed one).
fn build(state: &RoomState, op: Op) -> CommitDescription {
    let (kind, au, ad, tu, td, role) = op;
    let actor = if state.members.contains(&client(au, ad)) {
        Actor::Member(client(au, ad))
    } else {
        Actor::NewMember(client(au, ad))
    };
    let target = user(tu);
    let target_clients: Vec<ClientUri> = state.clients_of(&target).cloned().collect();
    let mut c = CommitDescription::new(actor.clone());
    match kind % 8 {
        0 => {
            // invite user with both devices
            c = c.app_data(
                &actor,
                pl(ParticipantListUpdate {
                    added_participants: vec![UserRolePair { user: target.as_bytes().to_vec(), role_index: role }],
                    ..Default::default()
                }),
            );
            for d in 0..2 {
                c = c.add(&actor, client(tu, d));
            }
        }
        1 => {
            // remove user with all (or, sometimes, not all) clients
            if let Some(i) = index_in(state, &target) {
                c = c.app_data(&actor, pl(ParticipantListUpdate { removed_indices: vec![i], ..Default::default() }));
            }
            for (n, cl) in target_clients.iter().enumerate() {
                if role != 7 || n > 0 {
                    c = c.remove(&actor, cl.clone());
                }
            }
        }
        2 | 3 => {
            // role change / ban (role 1), removing clients for bans
            if let Some(i) = index_in(state, &target) {
                c = c.app_data(
                    &actor,
                    pl(ParticipantListUpdate {
                        changed_role_participants: vec![UserindexRolePair { user_index: i, role_index: role }],
                        ..Default::default()
                    }),
                );
            }
            if role == 1 {
                for cl in target_clients {
                    c = c.remove(&actor, cl);
                }
            }
        }
        4 => c = c.add(&actor, client(tu, td)),
        5 => c = c.remove(&actor, client(tu, td)),
        6 => c = CommitDescription::new(Actor::NewMember(client(au, ad))),
        _ => c = c.self_remove(client(au, ad)),
    }
    c
}

fn check_invariants(s: &RoomState) {
    for m in &s.members {
        let role = s.role_of(&m.user()).expect("client of unlisted user");
        assert!(s.roles.role(role).unwrap().allows_clients(), "client {m} in role {role}");
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in &s.members {
        assert!(seen.insert(m), "duplicate client {m}");
    }
    // the stored dictionary decodes to exactly the decoded state
    let again = RoomState::new(s.dictionary.clone(), s.members.clone()).unwrap();
    assert_eq!(&again, s);
}

/// Accepted and refused commits per operation kind (`kind % 8` of [`Op`]).
type Tally = [(usize, usize); 8];

/// Runs one random sequence from the initial room, counting outcomes into `tally`.
fn run_sequence(ops: Vec<Op>, tally: &mut Tally) -> Result<(), TestCaseError> {
    let policy = presets::cooperative();
    let list =
        ParticipantListData { participants: vec![UserRolePair { user: user(0).as_bytes().to_vec(), role_index: 4 }] };
    let dict = initial_dictionary(&list, &policy.roles, None, &policy.base_policy, None).unwrap();
    let mut state = RoomState::new(dict, vec![client(0, 0)]).unwrap();
    for op in ops {
        let commit = build(&state, op);
        let kind = usize::from(op.0 % 8);
        let Verdict::Allowed(after) = evaluate(&state, &commit) else {
            tally[kind].1 += 1;
            continue;
        };
        tally[kind].0 += 1;
        check_invariants(&after);
        // removed/banned users have no clients
        for u in 0..4 {
            let role = after.role_of(&user(u));
            if role.is_none() || role == Some(1) {
                prop_assert!(after.clients_of(&user(u)).next().is_none());
            }
        }
        // deterministic: the same decision twice
        prop_assert_eq!(evaluate(&state, &commit), Verdict::Allowed(after.clone()));
        state = *after;
    }
    Ok(())
}

/// Random operation sequences (seeded, so a failure reproduces) keep the invariants; and the
/// generator is good enough that the run exercises both outcomes for every kind of operation: a
/// test whose commits were all refused would check nothing.
#[test]
fn random_operations_keep_invariants() {
    let config = ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let tally = RefCell::new(Tally::default());
    let ops = proptest::collection::vec((any::<u8>(), 0..4usize, 0..2usize, 0..4usize, 0..2usize, 0..6u32), 1..40);
    runner.run(&ops, |ops| run_sequence(ops, &mut tally.borrow_mut())).unwrap();
    let tally = tally.into_inner();
    let accepted: usize = tally.iter().map(|t| t.0).sum();
    let refused: usize = tally.iter().map(|t| t.1).sum();
    let total = accepted + refused;
    println!("engine property test: {accepted} of {total} commits accepted; (accepted, refused) per kind: {tally:?}");
    assert!(accepted * 10 >= total, "only {accepted} of {total} commits accepted");
    assert!(refused * 10 >= total, "only {refused} of {total} commits refused");
    for (kind, (a, r)) in tally.iter().enumerate() {
        assert!(*a > 0 && *r > 0, "operation kind {kind}: {a} accepted, {r} refused");
    }
}
