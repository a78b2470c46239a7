//! The kit's clients and builders over real openmls groups, with a `HubMirror` as the hub: rooms grown
//! by batched adds of lightweight and real members, messages, proposals and leaving, refusals by the hub
//! and by members, external joins, Welcomes for last-resort KeyPackages, and a commit that loses its
//! epoch.

use mimi_appsync::components::participant_list::ParticipantListUpdate;
use mimi_appsync::components::{encode_struct_for_tests, PARTICIPANT_LIST};
use mimi_appsync::ops::{self, LeaveVia, UserOperation};
use mimi_appsync::policy::Rule;
use mimi_appsync::presets::administered_roles::{GROUP_ADMIN, ORDINARY_USER};
use mimi_testkit::prelude::*;
use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::*;

/// Alice's phone creates a cooperative room; the other clients are `others` (user, device) at
/// `a.example`. Returns the clients (alice first) and the hub.
fn room(others: &[(&str, &str)]) -> (Vec<Client>, HubMirror) {
    let hub_key = openmls_basic_credential::SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
    let mut clients = vec![Client::new("alice", "phone")];
    clients.extend(others.iter().map(|(u, d)| Client::new(u, d)));
    let group_info = clients[0].create_room(&RoomSetup::cooperative(DOMAIN, &hub_key.to_public_vec())).unwrap();
    let hub = HubMirror::from_group_info(&group_info).unwrap();
    (clients, hub)
}

/// A room of alice (group admin) and bob (ordinary user), one client each.
fn alice_and_bob() -> (Vec<Client>, HubMirror) {
    let (mut clients, mut hub) = room(&[("bob", "phone")]);
    let kp = clients[1].key_package();
    let op = ops::invite_user(&clients[1].uri.user(), ORDINARY_USER, vec![kp]).unwrap();
    commit(&mut clients, &mut hub, 0, op).unwrap();
    assert_in_sync(&clients, hub.group());
    (clients, hub)
}

/// Has the hub decide on `clients[from]`'s commit of `op`; delivers it if accepted.
fn commit(clients: &mut [Client], hub: &mut HubMirror, from: usize, op: UserOperation) -> Result<(), Rule> {
    let bundle = clients[from].commit(op);
    match hub.commit(bundle.commit()).unwrap() {
        Ok(_) => {
            deliver_commit(clients, from, bundle.commit(), bundle.welcome()).unwrap();
            Ok(())
        }
        Err(refusal) => {
            clients[from].discard();
            Err(refusal.rule)
        }
    }
}

#[test]
fn a_room_grows_by_batched_adds_of_lightweight_and_real_members() {
    let (mut clients, mut hub) = room(&[("bob", "phone")]);
    let mut invitees = lightweight_members(DOMAIN, "m", 7).unwrap();
    assert_eq!(invitees[3].uri.as_str(), "mimi://a.example/d/m3/phone");
    invitees.push(Invitee { uri: clients[1].uri.clone(), key_package: clients[1].key_package() });
    for chunk in invitees.chunks(3) {
        commit(&mut clients, &mut hub, 0, invite_all(chunk, ORDINARY_USER).unwrap()).unwrap();
    }
    assert_eq!(hub.group().members().count(), 9);
    assert!(clients[1].is_member(), "bob joined from the last Welcome");
    // The real members agree with the hub (the lightweight ones have no client to ask).
    let hub_context = hub.group().group_context().tls_serialize_detached().unwrap();
    for c in &clients {
        let group = c.group.as_ref().unwrap();
        assert_eq!(group.public_group().group_context().tls_serialize_detached().unwrap(), hub_context);
    }
    let state = hub.state().unwrap();
    assert_eq!(state.participants.participants.len(), 9);
    assert_eq!(state.role_of(&invitees[0].uri.user()), Some(ORDINARY_USER));
    // A user's devices in a row are listed once.
    let (mut clients, mut hub) = room(&[("carol", "phone"), ("carol", "pc")]);
    let carols: Vec<Invitee> =
        clients[1..].iter().map(|c| Invitee { uri: c.uri.clone(), key_package: c.key_package() }).collect();
    commit(&mut clients, &mut hub, 0, invite_all(&carols, ORDINARY_USER).unwrap()).unwrap();
    assert_in_sync(&clients, hub.group());
    assert_eq!(active(&clients), vec![0, 1, 2]);
    assert_eq!(hub.state().unwrap().participants.participants.len(), 2);
}

#[test]
fn messages_proposals_and_leaving() {
    let (mut clients, mut hub) = alice_and_bob();

    let hello = clients[1].message(b"hello");
    let pm = hello.clone().try_into_protocol_message().unwrap();
    match clients[0].process(pm).unwrap() {
        Incoming::Application { sender, content } => {
            assert_eq!(sender, clients[1].uri);
            assert_eq!(content, b"hello");
        }
        other => panic!("expected an application message, got {other:?}"),
    }
    let again = clients[1].message(b"again").try_into_protocol_message().unwrap();
    assert_eq!(clients[0].decrypt(again).unwrap(), (clients[1].uri.clone(), b"again".to_vec()));

    // Bob leaves: his proposals pass the hub's check and reach alice, who commits them.
    let proposals = clients[1].leave(LeaveVia::Remove).unwrap();
    for p in &proposals {
        hub.propose(p).unwrap().unwrap();
        deliver_proposal(&mut clients, 1, p).unwrap();
    }
    assert_eq!(hub.queued().unwrap(), proposals.len());
    commit(&mut clients, &mut hub, 0, UserOperation::default()).unwrap();
    assert_in_sync(&clients, hub.group());
    assert!(!clients[1].is_member());
    assert_eq!(hub.state().unwrap().role_of(&clients[1].uri.user()), None);
    assert_eq!(hub.queued().unwrap(), 0);
}

#[test]
fn refusals_by_the_hub_and_by_members() {
    let (mut clients, mut hub) = alice_and_bob();
    let epoch = clients[0].epoch();

    // Bob, an ordinary user, promotes himself: the hub refuses, and so would alice.
    let op = ops::change_role(hub.group(), &clients[1].uri.user(), GROUP_ADMIN).unwrap();
    let bundle = clients[1].commit(op);
    let Err(refusal) = hub.commit(bundle.commit()).unwrap() else { panic!("the hub accepted a self-promotion") };
    assert!(matches!(refusal.rule, Rule::MissingCapability(_)), "{refusal}");
    let pm = to_in(bundle.commit()).try_into_protocol_message().unwrap();
    match clients[0].process(pm) {
        Err(KitError::Refused { client, refusal }) => {
            assert_eq!(client, clients[0].uri.as_str());
            assert!(matches!(refusal.rule, Rule::MissingCapability(_)));
        }
        other => panic!("alice must refuse the commit, got {other:?}"),
    }
    clients[1].discard();
    assert_eq!(
        (clients[0].epoch(), clients[1].epoch(), hub.group().group_context().epoch().as_u64()),
        (epoch, epoch, epoch)
    );

    // A proposal the policy forbids (bob removing alice from the list) is refused by the hub and
    // stored nowhere.
    let kick = ParticipantListUpdate { removed_indices: vec![0], ..Default::default() };
    let kick = AppDataUpdateOperation::Update(encode_struct_for_tests(PARTICIPANT_LIST, &kick).into());
    let (group, provider, signer) = clients[1].parts();
    let (proposal, _) = group.propose_app_data_update(provider, signer, PARTICIPANT_LIST, kick).unwrap();
    match hub.propose(&proposal).unwrap() {
        Err(mimi_appsync::Error::NotAllowed(refusal)) => {
            assert!(matches!(refusal.rule, Rule::RoleChangeNotAuthorized { .. }), "{refusal}")
        }
        other => panic!("the hub must refuse the proposal, got {other:?}"),
    }
    assert_eq!(hub.queued().unwrap(), 0);

    // Not a member: the kit says so instead of panicking.
    let mut stranger = Client::new("mallory", "phone");
    assert!(matches!(stranger.build_commit(UserOperation::default()), Err(KitError::NotInRoom { .. })));
    assert!(matches!(stranger.encrypt(b"hi"), Err(KitError::NotInRoom { .. })));
}

#[test]
fn external_joins_last_resort_welcomes_and_lost_epochs() {
    let (mut clients, mut hub) = room(&[("alice", "pc"), ("bob", "phone")]);
    // Alice's second device joins by external commit.
    let group_info = clients[0].group_info().unwrap();
    let bundle = clients[1].external_join(&group_info);
    hub.commit(bundle.commit()).unwrap().unwrap();
    deliver_commit(&mut clients, 1, bundle.commit(), None).unwrap();
    assert_in_sync(&clients, hub.group());
    assert_eq!(active(&clients), vec![0, 1]);

    // Bob is invited with his last-resort KeyPackage and recognises the Welcome as his.
    let kp = clients[2].issue_last_resort_key_package().unwrap();
    assert!(kp.last_resort());
    let op = ops::invite_user(&clients[2].uri.user(), ORDINARY_USER, vec![kp]).unwrap();
    let bundle = clients[0].commit(op);
    let welcome = bundle.welcome().unwrap().clone();
    assert!(clients[2].is_for_me(&welcome));
    assert!(!clients[1].is_for_me(&welcome));
    hub.commit(bundle.commit()).unwrap().unwrap();
    deliver_commit(&mut clients, 0, bundle.commit(), Some(&welcome)).unwrap();
    assert_in_sync(&clients, hub.group());
    assert!(!clients[2].join_if_invited(&welcome).unwrap(), "a member does not join again");

    // Alice and bob commit on the same epoch; the hub takes alice's, bob's pending commit is dropped.
    let epoch = clients[0].epoch();
    let alices = clients[0].commit(UserOperation::default());
    let _bobs = clients[2].commit(UserOperation::default());
    hub.commit(alices.commit()).unwrap().unwrap();
    let pm = to_in(alices.commit()).try_into_protocol_message().unwrap();
    assert!(matches!(clients[2].process(pm.clone()).unwrap(), Incoming::Commit { dropped_pending: true }));
    assert!(matches!(clients[1].process(pm).unwrap(), Incoming::Commit { dropped_pending: false }));
    clients[0].merge();
    assert_in_sync(&clients, hub.group());
    assert_eq!(clients[2].epoch(), epoch + 1);
}
