//! Real openmls 0.9 groups: three users with two clients each, the hub as a `PublicGroup`.
//! Every commit goes through the hub's policy check first; accepted commits are processed by all
//! members with the same check, and afterwards every client and the hub must hold the same
//! GroupContext (hence the same dictionary) and the clients the same epoch authenticator.

use mimi_appsync::adapter::{check_member_commit, check_public_commit};
use mimi_appsync::components::participant_list::{ParticipantListData, UserRolePair};
use mimi_appsync::components::room_metadata::RoomMetaData;
use mimi_appsync::ops::{self, UserOperation};
use mimi_appsync::policy::{Rule, Verdict};
use mimi_appsync::presets::{self, administered_roles::*};
use mimi_appsync::state::initial_dictionary;
use mimi_appsync::uri::ClientUri;
use openmls::group::ProposalStore;
use openmls::prelude::{tls_codec::*, *};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

const CS: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

fn capabilities() -> Capabilities {
    Capabilities::new(
        None,
        Some(&[CS]),
        Some(&[ExtensionType::AppDataDictionary]),
        Some(&[ProposalType::AppDataUpdate, ProposalType::SelfRemove]),
        Some(&[CredentialType::Basic]),
    )
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build()
}

struct Client {
    uri: ClientUri,
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    cred: CredentialWithKey,
    group: Option<MlsGroup>,
}

impl Client {
    fn new(user: &str, device: &str) -> Self {
        let uri = ClientUri::new("a.example", user, device).unwrap();
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
        let cred = CredentialWithKey {
            credential: BasicCredential::new(uri.as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Self { uri, provider, signer, cred, group: None }
    }

    fn key_package(&self) -> KeyPackage {
        KeyPackage::builder()
            .leaf_node_capabilities(capabilities())
            .build(CS, &self.provider, &self.signer, self.cred.clone())
            .unwrap()
            .key_package()
            .clone()
    }
}

fn to_in(msg: &MlsMessageOut) -> MlsMessageIn {
    MlsMessageIn::tls_deserialize_exact(msg.tls_serialize_detached().unwrap()).unwrap()
}

struct Room {
    clients: Vec<Client>,
    hub: OpenMlsRustCrypto,
    pg: PublicGroup,
    group_info: MlsMessageOut,
}

impl Room {
    /// alice (group_admin) with alice/phone creates a cooperative room; the hub bootstraps.
    fn create() -> Self {
        let mut clients: Vec<Client> =
            ["alice", "bob", "carol"].iter().flat_map(|u| [Client::new(u, "phone"), Client::new(u, "pc")]).collect();
        let hub = OpenMlsRustCrypto::default();
        let hub_signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
        let policy = presets::cooperative();
        let list = ParticipantListData {
            participants: vec![UserRolePair {
                user: clients[0].uri.user().as_bytes().to_vec(),
                role_index: GROUP_ADMIN,
            }],
        };
        let meta = RoomMetaData::named("mimi://a.example/r/club", "Club");
        let dict = initial_dictionary(&list, &policy.roles, None, &policy.base_policy, Some(&meta)).unwrap();
        let mut app_dict = AppDataDictionary::new();
        for (id, v) in dict {
            app_dict.insert(id, v);
        }
        let exts = Extensions::from_vec(vec![
            Extension::RequiredCapabilities(RequiredCapabilitiesExtension::new(
                &[ExtensionType::AppDataDictionary],
                &[ProposalType::AppDataUpdate],
                &[CredentialType::Basic],
            )),
            Extension::ExternalSenders(vec![ExternalSender::new(
                hub_signer.to_public_vec().into(),
                BasicCredential::new(b"mimi://a.example".to_vec()).into(),
            )]),
            Extension::AppDataDictionary(AppDataDictionaryExtension::new(app_dict)),
        ])
        .unwrap();
        let alice = &mut clients[0];
        let group = MlsGroup::builder()
            .ciphersuite(CS)
            .with_capabilities(capabilities())
            .with_group_context_extensions(exts)
            .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .build(&alice.provider, &alice.signer, alice.cred.clone())
            .unwrap();
        let group_info = group.export_group_info(alice.provider.crypto(), &alice.signer, true).unwrap();
        alice.group = Some(group);
        let pg = Self::bootstrap(&hub, &group_info);
        Room { clients, hub, pg, group_info }
    }

    fn bootstrap(hub: &OpenMlsRustCrypto, gi: &MlsMessageOut) -> PublicGroup {
        let MlsMessageBodyIn::GroupInfo(vgi) = to_in(gi).extract() else { panic!("not a group info") };
        let tree = vgi.extensions().ratchet_tree().unwrap().ratchet_tree().clone();
        PublicGroup::from_external(hub.crypto(), hub.storage(), tree, vgi, ProposalStore::new()).unwrap().0
    }

    fn idx(&self, user: &str, dev: &str) -> usize {
        self.clients.iter().position(|c| c.uri == ClientUri::new("a.example", user, dev).unwrap()).unwrap()
    }

    fn members(&self) -> Vec<usize> {
        (0..self.clients.len()).filter(|&i| self.clients[i].group.as_ref().is_some_and(|g| g.is_active())).collect()
    }

    /// Hub: process and check a proposal, store it; members store it.
    fn send_proposal(&mut self, from: usize, msg: &MlsMessageOut) {
        let pm = to_in(msg).try_into_protocol_message().unwrap();
        let processed = self.pg.process_message(self.hub.crypto(), pm.clone()).unwrap();
        let ProcessedMessageContent::ProposalMessage(qp) = processed.into_content() else { panic!("not a proposal") };
        self.pg.add_proposal(self.hub.storage(), *qp).unwrap();
        for i in self.members() {
            if i == from {
                continue;
            }
            let c = &mut self.clients[i];
            let processed = c.group.as_mut().unwrap().process_message(&c.provider, pm.clone()).unwrap();
            let ProcessedMessageContent::ProposalMessage(qp) = processed.into_content() else { panic!() };
            c.group.as_mut().unwrap().store_pending_proposal(c.provider.storage(), *qp).unwrap();
        }
    }

    /// Submits a commit bundle from client `from` (a member, or an external joiner whose group
    /// is pending). Returns the hub's refusal, if any; on acceptance everyone merges.
    fn submit(&mut self, from: usize, bundle: CommitMessageBundle) -> Result<(), Rule> {
        let commit = bundle.commit().clone();
        let welcome = bundle.welcome().cloned();
        let pm = to_in(&commit).try_into_protocol_message().unwrap();
        let processed = self.pg.process_message(self.hub.crypto(), pm.clone()).unwrap();
        let checked = check_public_commit(&self.pg, self.hub.crypto(), processed).unwrap();
        if let Verdict::NotAllowed(refusal) = checked.verdict {
            let c = &mut self.clients[from];
            c.group.as_mut().unwrap().clear_pending_commit(c.provider.storage()).unwrap();
            return Err(refusal.rule);
        }
        let receivers: Vec<usize> = self.members().into_iter().filter(|&i| i != from).collect();
        self.pg.merge_commit(self.hub.storage(), *checked.staged).unwrap();
        for i in receivers {
            let c = &mut self.clients[i];
            let group = c.group.as_mut().unwrap();
            let processed = group.process_message(&c.provider, pm.clone()).unwrap();
            let checked = check_member_commit(group, &c.provider, processed).unwrap();
            assert!(checked.verdict.is_allowed(), "member {} refused: {:?}", c.uri, checked.verdict.refusal());
            group.merge_staged_commit(&c.provider, *checked.staged).unwrap();
        }
        let c = &mut self.clients[from];
        c.group.as_mut().unwrap().merge_pending_commit(&c.provider).unwrap();
        if let Some(w) = welcome {
            // Only the invited clients hold a matching KeyPackage; the others fail to stage.
            for c in self.clients.iter_mut().filter(|c| c.group.as_ref().is_none_or(|g| !g.is_active())) {
                let Ok(staged) = StagedWelcome::new_from_welcome(&c.provider, &join_config(), w.clone(), None) else {
                    continue;
                };
                c.group = Some(staged.into_group(&c.provider).unwrap());
            }
        }
        let gi = self.clients[from].group.as_ref().unwrap();
        self.group_info =
            gi.export_group_info(self.clients[from].provider.crypto(), &self.clients[from].signer, true).unwrap();
        self.assert_in_sync();
        Ok(())
    }

    fn assert_in_sync(&self) {
        let hub_ctx = self.pg.group_context().tls_serialize_detached().unwrap();
        let mut auth = None;
        for i in self.members() {
            let g = self.clients[i].group.as_ref().unwrap();
            assert_eq!(
                g.public_group().group_context().tls_serialize_detached().unwrap(),
                hub_ctx,
                "{}",
                self.clients[i].uri
            );
            let a = g.epoch_authenticator().as_slice().to_vec();
            assert_eq!(auth.get_or_insert(a.clone()), &a, "{}", self.clients[i].uri);
        }
        // every member is a client of a listed user (the hub's view)
        let state = mimi_appsync::adapter::room_state(&self.pg).unwrap();
        for m in &state.members {
            assert!(state.role_of(&m.user()).is_some(), "{m} unlisted");
        }
    }

    fn commit_op(&mut self, from: usize, op: UserOperation) -> Result<(), Rule> {
        let c = &mut self.clients[from];
        let bundle = ops::commit(c.group.as_mut().unwrap(), &c.provider, &c.signer, op).unwrap();
        self.submit(from, bundle)
    }

    fn external_join(&mut self, who: usize) -> Result<(), Rule> {
        let MlsMessageBodyIn::GroupInfo(vgi) = to_in(&self.group_info).extract() else { panic!() };
        let c = &mut self.clients[who];
        let (group, bundle) = MlsGroup::external_commit_builder()
            .with_config(join_config())
            .build_group(&c.provider, vgi, c.cred.clone())
            .unwrap()
            .leaf_node_parameters(LeafNodeParameters::builder().with_capabilities(capabilities()).build())
            .load_psks(c.provider.storage())
            .unwrap()
            .build(c.provider.rand(), c.provider.crypto(), &c.signer, |_| true)
            .unwrap()
            .finalize(&c.provider)
            .unwrap();
        c.group = Some(group);
        let r = self.submit(who, bundle);
        if r.is_err() {
            self.clients[who].group = None;
        }
        r
    }

    fn kps(&self, user: &str) -> Vec<KeyPackage> {
        ["phone", "pc"].iter().map(|d| self.clients[self.idx(user, d)].key_package()).collect()
    }
}

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
    let op = ops::change_role(&room.pg, &user(&room, bob), GROUP_ADMIN).unwrap();
    assert!(matches!(room.commit_op(bob, op), Err(Rule::MissingCapability(_))));

    // role change by the admin: carol becomes group_admin, then back
    let op = ops::change_role(&room.pg, &user(&room, carol), GROUP_ADMIN).unwrap();
    room.commit_op(alice, op).unwrap();
    // (demoting oneself is a self role change, which needs canChangeOwnRole + preauth)
    let op = ops::change_role(&room.pg, &user(&room, carol), ORDINARY_USER).unwrap();
    assert!(matches!(room.commit_op(carol, op), Err(Rule::MissingCapability(_))));
    let op = ops::change_role(&room.pg, &user(&room, carol), ORDINARY_USER).unwrap();
    room.commit_op(alice, op).unwrap();

    // remove own device, then add it back by external commit
    let op = ops::remove_own_device(&room.pg, &room.clients[carol_pc].uri.clone()).unwrap();
    room.commit_op(carol, op).unwrap();
    room.clients[carol_pc].group = None;
    room.external_join(carol_pc).unwrap();
    assert_eq!(room.members().len(), 6);

    // refused: removing carol from the list but leaving one of her clients
    let mut op = ops::remove_user(&room.pg, &user(&room, carol)).unwrap();
    op.removes.truncate(1);
    assert!(matches!(room.commit_op(alice, op), Err(Rule::RemovedUserKeepsClients(_))));

    // ban carol (both clients removed)
    let op = ops::ban_user(&room.pg, &user(&room, carol)).unwrap();
    room.commit_op(alice, op).unwrap();
    assert_eq!(room.members().len(), 4);
    for i in [carol, carol_pc] {
        room.clients[i].group = None;
    }
    // refused: a banned user's client committing (rejoin by external commit)
    assert_eq!(room.external_join(carol), Err(Rule::ActorBanned));

    // unban carol, then she may rejoin with her own device... only after being re-added by
    // herself: canAddOwnClient by external commit
    let op = ops::unban_user(&room.pg, &user(&room, carol), ORDINARY_USER).unwrap();
    room.commit_op(alice, op).unwrap();
    room.external_join(carol).unwrap();

    // bob leaves: proposals from bob, committed by alice
    let c = &mut room.clients[bob];
    let me = c.uri.clone();
    let proposals = ops::leave(c.group.as_mut().unwrap(), &c.provider, &c.signer, &me).unwrap();
    for p in &proposals {
        room.send_proposal(bob, p);
    }
    room.commit_op(alice, UserOperation::default()).unwrap();
    let state = mimi_appsync::adapter::room_state(&room.pg).unwrap();
    assert_eq!(state.role_of(&user(&room, bob)), None);
    assert!(state.clients_of(&user(&room, bob)).next().is_none());

    // remove user carol (admin alice)
    let op = ops::remove_user(&room.pg, &user(&room, carol)).unwrap();
    room.commit_op(alice, op).unwrap();
    assert_eq!(room.members(), vec![alice, alice_pc]);
}
