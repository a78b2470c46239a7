//! Shared harness of the tests over real openmls 0.9 groups: users with two clients each
//! (`phone`, `pc`) on `a.example`, and the hub as a `PublicGroup` that is never a member.
//!
//! [`Room`] plays the sequencing hub of DESIGN.md §1: a commit is first processed and checked by
//! the hub ([`check_public_commit`]); a refused commit is discarded by its committer (pending
//! commit cleared, or the external joiner's group dropped); an accepted one is merged by the hub
//! and processed by every member with the same check ([`check_member_commit`]), after which
//! [`Room::assert_in_sync`] and [`assert_commit_invariants`] must hold. Standalone proposals go
//! through [`check_public_proposal`] before the hub and the members store them.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::BTreeSet;

use mimi_appsync::adapter::{check_member_commit, check_public_commit, check_public_proposal, room_state};
use mimi_appsync::components::participant_list::{ParticipantListData, UserRolePair};
use mimi_appsync::components::roles::BANNED_ROLE;
use mimi_appsync::components::room_metadata::RoomMetaData;
use mimi_appsync::components::ROLES_LIST;
use mimi_appsync::ops::{self, UserOperation};
use mimi_appsync::policy::{Rule, Verdict};
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN, RoomPolicy};
use mimi_appsync::reducer::reduce;
use mimi_appsync::state::{dictionary_of, initial_dictionary, RoomState};
use mimi_appsync::uri::ClientUri;
use openmls::group::ProposalStore;
use openmls::prelude::{tls_codec::*, *};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

pub const CS: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// The users of every room, in client order (`users[u]` has clients `2u` and `2u + 1`).
pub const USERS: [&str; 3] = ["alice", "bob", "carol"];
/// Each user's devices.
pub const DEVICES: [&str; 2] = ["phone", "pc"];

pub use mimi_appsync::group::join_config;

/// One device: its URI, crypto provider with storage, signature key, and group (if it ever
/// joined; inactive once removed).
pub struct Client {
    pub uri: ClientUri,
    pub provider: OpenMlsRustCrypto,
    pub signer: SignatureKeyPair,
    pub cred: CredentialWithKey,
    pub group: Option<MlsGroup>,
}

impl Client {
    pub fn new(user: &str, device: &str) -> Self {
        let uri = ClientUri::new("a.example", user, device).unwrap();
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
        let cred = CredentialWithKey {
            credential: BasicCredential::new(uri.as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Self { uri, provider, signer, cred, group: None }
    }

    pub fn key_package(&self) -> KeyPackage {
        mimi_appsync::group::key_package(&self.provider, &self.signer, self.cred.clone()).unwrap()
    }

    /// Whether the client is currently a member.
    pub fn is_member(&self) -> bool {
        self.group.as_ref().is_some_and(|g| g.is_active())
    }

    /// The client's group (panics if it never joined), provider and signer, borrowed together.
    pub fn parts(&mut self) -> (&mut MlsGroup, &OpenMlsRustCrypto, &SignatureKeyPair) {
        (self.group.as_mut().expect("client has no group"), &self.provider, &self.signer)
    }
}

/// Re-reads an outgoing message as the receiver does.
pub fn to_in(msg: &MlsMessageOut) -> MlsMessageIn {
    MlsMessageIn::tls_deserialize_exact(msg.tls_serialize_detached().unwrap()).unwrap()
}

/// The room: every user's clients, the hub's provider and `PublicGroup`, and the latest
/// GroupInfo (for external joins).
pub struct Room {
    pub clients: Vec<Client>,
    pub hub: OpenMlsRustCrypto,
    pub pg: PublicGroup,
    pub group_info: MlsMessageOut,
}

impl Room {
    /// A cooperative room created by alice/phone as `group_admin`.
    pub fn create() -> Self {
        Self::create_with(presets::cooperative(), GROUP_ADMIN)
    }

    /// A room of `policy` created by alice/phone with role `creator_role`; the hub bootstraps
    /// from the creator's GroupInfo.
    pub fn create_with(policy: RoomPolicy, creator_role: u32) -> Self {
        let mut clients: Vec<Client> =
            USERS.iter().flat_map(|u| DEVICES.iter().map(move |d| Client::new(u, d))).collect();
        let hub = OpenMlsRustCrypto::default();
        let hub_signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
        let list = ParticipantListData {
            participants: vec![UserRolePair {
                user: clients[0].uri.user().as_bytes().to_vec(),
                role_index: creator_role,
            }],
        };
        let meta = RoomMetaData::named("mimi://a.example/r/club", "Club");
        let dict = initial_dictionary(&list, &policy.roles, None, &policy.base_policy, Some(&meta)).unwrap();
        let hub_sender = ExternalSender::new(
            hub_signer.to_public_vec().into(),
            BasicCredential::new(b"mimi://a.example".to_vec()).into(),
        );
        let exts = mimi_appsync::group::room_extensions(dict, hub_sender).unwrap();
        let alice = &mut clients[0];
        let group =
            mimi_appsync::group::create_room_group(&alice.provider, &alice.signer, alice.cred.clone(), exts).unwrap();
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

    /// The index of `user`'s `dev` client.
    pub fn idx(&self, user: &str, dev: &str) -> usize {
        self.clients.iter().position(|c| c.uri == ClientUri::new("a.example", user, dev).unwrap()).unwrap()
    }

    /// Indices of the clients that are members now.
    pub fn members(&self) -> Vec<usize> {
        (0..self.clients.len()).filter(|&i| self.clients[i].is_member()).collect()
    }

    /// The hub's view of the room state.
    pub fn state(&self) -> RoomState {
        room_state(&self.pg).unwrap()
    }

    /// A standalone proposal from member `from`: the hub processes it and checks it against
    /// room policy; if allowed, the hub and every other member store it. A refusal is returned
    /// (and the proposal is stored nowhere but in the proposer's own group, see
    /// [`Room::discard_proposals`]).
    pub fn send_proposal(&mut self, from: usize, msg: &MlsMessageOut) -> Result<(), mimi_appsync::Error> {
        let pm = to_in(msg).try_into_protocol_message().unwrap();
        let processed = self.pg.process_message(self.hub.crypto(), pm.clone()).unwrap();
        let ProcessedMessageContent::ProposalMessage(qp) = processed.into_content() else { panic!("not a proposal") };
        check_public_proposal(&self.pg, &qp)?;
        self.pg.add_proposal(self.hub.storage(), *qp).unwrap();
        for i in self.members() {
            if i == from {
                continue;
            }
            let (group, provider, _) = self.clients[i].parts();
            let processed = group.process_message(provider, pm.clone()).unwrap();
            let ProcessedMessageContent::ProposalMessage(qp) = processed.into_content() else { panic!() };
            group.store_pending_proposal(provider.storage(), *qp).unwrap();
        }
        Ok(())
    }

    /// How many proposals the hub holds for the next commit.
    pub fn hub_queued(&self) -> usize {
        self.pg.queued_proposals(self.hub.storage()).unwrap().len()
    }

    /// Drops every stored proposal, at the hub and at every member (after the commit that was
    /// to carry them was refused).
    pub fn discard_proposals(&mut self) {
        for (proposal_ref, _) in self.pg.queued_proposals(self.hub.storage()).unwrap() {
            self.pg.remove_proposal(self.hub.storage(), &proposal_ref).unwrap();
        }
        for i in self.members() {
            let (group, provider, _) = self.clients[i].parts();
            group.clear_pending_proposals(provider.storage()).unwrap();
        }
    }

    /// Submits a commit bundle from client `from` (a member, or an external joiner whose group
    /// is pending). Returns the hub's refusal, if any; on acceptance everyone merges, invited
    /// clients join from the Welcome, and the room is checked.
    pub fn submit(&mut self, from: usize, bundle: CommitMessageBundle) -> Result<(), Rule> {
        let commit = bundle.commit().clone();
        let welcome = bundle.welcome().cloned();
        let pm = to_in(&commit).try_into_protocol_message().unwrap();
        let before = self.state();
        let processed = self.pg.process_message(self.hub.crypto(), pm.clone()).unwrap();
        let checked = check_public_commit(&self.pg, self.hub.crypto(), processed).unwrap();
        if let Verdict::NotAllowed(refusal) = checked.verdict {
            let (group, provider, _) = self.clients[from].parts();
            group.clear_pending_commit(provider.storage()).unwrap();
            return Err(refusal.rule);
        }
        let receivers: Vec<usize> = self.members().into_iter().filter(|&i| i != from).collect();
        let staged_proposals: Vec<QueuedProposal> = checked.staged.queued_proposals().cloned().collect();
        self.pg.merge_commit(self.hub.storage(), *checked.staged).unwrap();
        for i in receivers {
            let c = &mut self.clients[i];
            let group = c.group.as_mut().unwrap();
            let processed = group.process_message(&c.provider, pm.clone()).unwrap();
            let checked = check_member_commit(group, &c.provider, processed).unwrap();
            assert!(checked.verdict.is_allowed(), "member {} refused: {:?}", c.uri, checked.verdict.refusal());
            group.merge_staged_commit(&c.provider, *checked.staged).unwrap();
        }
        let (group, provider, _) = self.clients[from].parts();
        group.merge_pending_commit(provider).unwrap();
        if let Some(w) = welcome {
            // Only the invited clients hold a matching KeyPackage; the others fail to stage. A
            // client that was a member before replaces its old, inactive group.
            for c in self.clients.iter_mut().filter(|c| !c.is_member()) {
                let Ok(builder) = StagedWelcome::build_from_welcome(&c.provider, &join_config(), w.clone()) else {
                    continue;
                };
                let staged = builder.replace_old_group().build().unwrap();
                c.group = Some(staged.into_group(&c.provider).unwrap());
            }
        }
        let c = &self.clients[from];
        self.group_info = c.group.as_ref().unwrap().export_group_info(c.provider.crypto(), &c.signer, true).unwrap();
        self.assert_in_sync();
        assert_commit_invariants(&before, &staged_proposals, &self.state());
        Ok(())
    }

    /// Every member and the hub hold the same GroupContext (so the same epoch and dictionary),
    /// the members the same epoch authenticator, and every client of the hub's tree is a member.
    pub fn assert_in_sync(&self) {
        let hub_ctx = self.pg.group_context().tls_serialize_detached().unwrap();
        let hub_dict = dictionary_of(self.pg.group_context());
        let mut auth = None;
        let members = self.members();
        for &i in &members {
            let (c, g) = (&self.clients[i], self.clients[i].group.as_ref().unwrap());
            assert_eq!(g.public_group().group_context().tls_serialize_detached().unwrap(), hub_ctx, "{}", c.uri);
            assert_eq!(dictionary_of(g.public_group().group_context()), hub_dict, "{}", c.uri);
            let a = g.epoch_authenticator().as_slice().to_vec();
            assert_eq!(auth.get_or_insert(a.clone()), &a, "{}", c.uri);
        }
        let mut in_tree = self.state().members;
        let mut active: Vec<ClientUri> = members.iter().map(|&i| self.clients[i].uri.clone()).collect();
        in_tree.sort();
        active.sort();
        assert_eq!(in_tree, active, "the hub's tree and the active clients differ");
    }

    /// Builds `op` at client `from` and submits it. `None` if the committer cannot build it:
    /// openmls refuses (e.g. a commit removing the committer itself) or the committer's own
    /// reducer finds the AppDataUpdates invalid (e.g. listing a user twice).
    pub fn try_commit_op(&mut self, from: usize, op: UserOperation) -> Option<Result<(), Rule>> {
        let (group, provider, signer) = self.clients[from].parts();
        let bundle = ops::commit(group, provider, signer, op).ok()?;
        Some(self.submit(from, bundle))
    }

    /// [`Room::try_commit_op`] for operations that openmls must be able to build.
    pub fn commit_op(&mut self, from: usize, op: UserOperation) -> Result<(), Rule> {
        self.try_commit_op(from, op).expect("openmls could not build the commit")
    }

    /// Client `who` joins by external commit from the latest GroupInfo; its group is dropped
    /// if the hub refuses.
    pub fn external_join(&mut self, who: usize) -> Result<(), Rule> {
        let MlsMessageBodyIn::GroupInfo(vgi) = to_in(&self.group_info).extract() else { panic!() };
        let c = &mut self.clients[who];
        let (group, bundle) =
            mimi_appsync::group::external_join(&c.provider, &c.signer, c.cred.clone(), vgi, None, vec![]).unwrap();
        c.group = Some(group);
        let r = self.submit(who, bundle);
        if r.is_err() {
            self.clients[who].group = None;
        }
        r
    }

    /// Fresh KeyPackages of `user`'s devices.
    pub fn kps(&self, user: &str) -> Vec<KeyPackage> {
        DEVICES.iter().map(|d| self.clients[self.idx(user, d)].key_package()).collect()
    }
}

/// The invariants every accepted commit must keep (checked on the hub's states before and after
/// it and on the proposals it carried), computed here rather than taken from the engine:
/// - every client in the group belongs to a listed user whose role allows clients;
/// - a user removed or banned by the commit has no client left;
/// - the commit touches no user twice;
/// - role definitions never change in a commit that changes participants.
pub fn assert_commit_invariants(before: &RoomState, proposals: &[QueuedProposal], after: &RoomState) {
    for m in &after.members {
        let role = after.role_of(&m.user()).unwrap_or_else(|| panic!("client {m} of an unlisted user"));
        assert!(after.roles.role(role).is_some_and(|r| r.allows_clients()), "client {m} with role {role}");
    }
    for (user, role) in after.participants.users() {
        if role == BANNED_ROLE {
            assert!(after.clients_of(&user).next().is_none(), "banned {user} has clients");
        }
    }
    for user in before.participants.users().map(|(u, _)| u) {
        if after.role_of(&user).is_none() {
            assert!(after.clients_of(&user).next().is_none(), "removed {user} has clients");
        }
    }
    let updates = proposals.iter().filter_map(|qp| match qp.proposal() {
        Proposal::AppDataUpdate(p) => Some(&**p),
        _ => None,
    });
    let reduction = reduce(|id| before.dictionary.get(&id).map(Vec::as_slice), updates).unwrap();
    let touched: Vec<_> = reduction.participant_changes.iter().flatten().map(|c| c.user().clone()).collect();
    let distinct: BTreeSet<_> = touched.iter().collect();
    assert_eq!(distinct.len(), touched.len(), "a user touched twice: {touched:?}");
    if reduction.changes.contains_key(&ROLES_LIST) {
        assert!(touched.is_empty(), "role definitions changed together with participants {touched:?}");
    }
}
