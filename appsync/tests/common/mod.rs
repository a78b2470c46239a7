//! Shared harness of the tests over real openmls 0.9 groups: users with two clients each
//! (`phone`, `pc`) on `a.example` (`mimi_testkit` clients), and the hub as a `PublicGroup` that is
//! never a member (`mimi_testkit::HubMirror`).
//!
//! [`Room`] plays the sequencing hub: a commit is first processed and checked by the hub; a refused
//! commit is discarded by its committer (pending commit cleared, or the external joiner's group
//! dropped); an accepted one is merged by the hub and delivered to every member, which checks it
//! the same way (`mimi_testkit::members::deliver_commit`), after which the members and the hub must
//! agree (`mimi_testkit::prelude::assert_in_sync`) and [`assert_commit_invariants`] must hold.
//! Standalone proposals go through the hub's proposal check before the hub and the members store them.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::BTreeSet;

use mimi_appsync::components::roles::BANNED_ROLE;
use mimi_appsync::components::room_metadata::RoomMetaData;
use mimi_appsync::components::ROLES_LIST;
use mimi_appsync::ops::UserOperation;
use mimi_appsync::policy::Rule;
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN, RoomPolicy};
use mimi_appsync::reducer::reduce;
use mimi_appsync::state::RoomState;
use mimi_appsync::uri::ClientUri;
use mimi_testkit::prelude::*;
use openmls::prelude::*;

pub use mimi_testkit::prelude::{Client, ClientExt};

/// The users of every room, in client order (`users[u]` has clients `2u` and `2u + 1`).
pub const USERS: [&str; 3] = ["alice", "bob", "carol"];
/// Each user's devices.
pub const DEVICES: [&str; 2] = ["phone", "pc"];

/// The room: every user's clients, the hub, and the latest GroupInfo (for external joins).
pub struct Room {
    pub clients: Vec<Client>,
    pub hub: HubMirror,
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
        let mut clients = clients(DOMAIN, &USERS, &DEVICES);
        let hub_key = openmls_basic_credential::SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
        let setup = RoomSetup {
            policy,
            creator_role,
            metadata: Some(RoomMetaData::named("mimi://a.example/r/club", "Club")),
            ..RoomSetup::cooperative(DOMAIN, &hub_key.to_public_vec())
        };
        let group_info = clients[0].create_room(&setup).unwrap();
        let hub = HubMirror::from_group_info(&group_info).unwrap();
        Room { clients, hub, group_info }
    }

    /// The hub's group.
    pub fn pg(&self) -> &PublicGroup {
        self.hub.group()
    }

    /// The index of `user`'s `dev` client.
    pub fn idx(&self, user: &str, dev: &str) -> usize {
        position(&self.clients, &ClientUri::new(DOMAIN, user, dev).unwrap())
    }

    /// Indices of the clients that are members now.
    pub fn members(&self) -> Vec<usize> {
        active(&self.clients)
    }

    /// The hub's view of the room state.
    pub fn state(&self) -> RoomState {
        self.hub.state().unwrap()
    }

    /// A standalone proposal from member `from`: the hub processes it and checks it against
    /// room policy; if allowed, the hub and every other member store it. A refusal is returned
    /// (and the proposal is stored nowhere but in the proposer's own group, see
    /// [`Room::discard_proposals`]).
    pub fn send_proposal(&mut self, from: usize, msg: &MlsMessageOut) -> Result<(), mimi_appsync::Error> {
        self.hub.propose(msg).unwrap()?;
        deliver_proposal(&mut self.clients, from, msg).unwrap();
        Ok(())
    }

    /// How many proposals the hub holds for the next commit.
    pub fn hub_queued(&self) -> usize {
        self.hub.queued().unwrap()
    }

    /// Drops every stored proposal, at the hub and at every member (after the commit that was
    /// to carry them was refused).
    pub fn discard_proposals(&mut self) {
        self.hub.discard_proposals().unwrap();
        for i in self.members() {
            let (group, provider, _) = self.clients[i].parts();
            group.clear_pending_proposals(provider.storage()).unwrap();
        }
    }

    /// Submits a commit bundle from client `from` (a member, or an external joiner whose group
    /// is pending). Returns the hub's refusal, if any; on acceptance everyone merges, invited
    /// clients join from the Welcome, and the room is checked.
    pub fn submit(&mut self, from: usize, bundle: CommitMessageBundle) -> Result<(), Rule> {
        let before = self.state();
        let staged_proposals = match self.hub.commit(bundle.commit()).unwrap() {
            Ok(proposals) => proposals,
            Err(refusal) => {
                self.clients[from].discard();
                return Err(refusal.rule);
            }
        };
        deliver_commit(&mut self.clients, from, bundle.commit(), bundle.welcome()).unwrap();
        self.group_info = self.clients[from].group_info().unwrap();
        self.assert_in_sync();
        assert_commit_invariants(&before, &staged_proposals, &self.state());
        Ok(())
    }

    /// Every member and the hub hold the same GroupContext (so the same epoch and dictionary),
    /// the members the same epoch authenticator, and every client of the hub's tree is a member.
    pub fn assert_in_sync(&self) {
        assert_in_sync(&self.clients, self.hub.group());
    }

    /// Builds `op` at client `from` and submits it. `None` if the committer cannot build it:
    /// openmls refuses (e.g. a commit removing the committer itself) or the committer's own
    /// reducer finds the AppDataUpdates invalid (e.g. listing a user twice).
    pub fn try_commit_op(&mut self, from: usize, op: UserOperation) -> Option<Result<(), Rule>> {
        let bundle = self.clients[from].build_commit(op).ok()?;
        Some(self.submit(from, bundle))
    }

    /// [`Room::try_commit_op`] for operations that openmls must be able to build.
    pub fn commit_op(&mut self, from: usize, op: UserOperation) -> Result<(), Rule> {
        self.try_commit_op(from, op).expect("openmls could not build the commit")
    }

    /// Client `who` joins by external commit from the latest GroupInfo; its group is dropped
    /// if the hub refuses.
    pub fn external_join(&mut self, who: usize) -> Result<(), Rule> {
        let bundle = self.clients[who].external_join(&self.group_info);
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
