//! A plain description of what one commit does and who does it.
//!
//! The policy engine decides on a [`CommitDescription`], so it can be tested without openmls
//! groups; [`crate::adapter`] builds one from an openmls `StagedCommit` for clients and the hub
//! alike. Every proposal is attributed to its proposer (for proposals committed by reference this
//! is not the committer): room-policy capabilities authorize the *proposer* of each action.

use openmls::component::ComponentId;
use openmls::prelude::AppDataUpdateProposal;

use crate::uri::ClientUri;

/// Who proposes or commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A member of the group (by its leaf's credential).
    Member(ClientUri),
    /// A client joining by external commit (the new leaf's credential), or proposing its own
    /// Add as `NewMemberProposal`.
    NewMember(ClientUri),
    /// An external sender from the GroupContext `external_senders` (e.g. the hub), by the
    /// identity of its credential. Its role comes only from `preauth_list`.
    External {
        /// The credential identity, e.g. `mimi://a.example`.
        identity: Vec<u8>,
    },
}

impl Actor {
    /// The client URI of a member or a new member.
    pub fn client(&self) -> Option<&ClientUri> {
        match self {
            Actor::Member(c) | Actor::NewMember(c) => Some(c),
            Actor::External { .. } => None,
        }
    }

    /// The identity bytes used for preauthorization claims.
    pub fn identity(&self) -> &[u8] {
        match self {
            Actor::Member(c) | Actor::NewMember(c) => c.as_bytes(),
            Actor::External { identity } => identity,
        }
    }

    /// Readable form for refusals.
    pub fn describe(&self) -> String {
        match self {
            Actor::Member(c) => format!("member {c}"),
            Actor::NewMember(c) => format!("joining {c}"),
            Actor::External { identity } => {
                format!("external sender {}", String::from_utf8_lossy(identity))
            }
        }
    }
}

/// A proposal's content with its proposer.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposed<T> {
    /// Who proposed it.
    pub proposer: Actor,
    /// What was proposed.
    pub item: T,
}

/// MLS proposals other than Add, Remove, SelfRemove and AppDataUpdate that room policy governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherProposal {
    /// GroupContextExtensions (cannot touch the dictionary; may change `external_senders`).
    GroupContextExtensions,
    /// ReInit (`canSendMLSReinitProposal`).
    ReInit,
}

/// One MLS proposal as room policy sees it (what [`crate::adapter`] maps an openmls `Proposal`
/// to, for commits and standalone proposals alike).
#[derive(Debug, Clone, PartialEq)]
pub enum ProposalKind {
    /// Add of this client.
    Add(ClientUri),
    /// Remove of the leaf holding this client.
    Remove(ClientUri),
    /// SelfRemove (0x000a): the proposer, a member, leaves.
    SelfRemove,
    /// An AppDataUpdate.
    AppData(AppDataUpdateProposal),
    /// Another governed proposal.
    Other(OtherProposal),
    /// Update, PreSharedKey, ExternalInit, AppEphemeral, Custom: room policy does not govern them.
    Ungoverned,
}

/// Everything a commit does that room policy looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitDescription {
    /// The committer: a member, or a new member for an external commit.
    pub committer: Actor,
    /// Clients added by Add proposals.
    pub adds: Vec<Proposed<ClientUri>>,
    /// Clients removed by Remove proposals.
    pub removes: Vec<Proposed<ClientUri>>,
    /// Clients leaving by SelfRemove (each is its own proposer).
    pub self_removes: Vec<ClientUri>,
    /// AppDataUpdate proposals in commit order (participant-list updates, role definitions,
    /// metadata, policy, private components).
    pub app_data: Vec<Proposed<AppDataUpdateProposal>>,
    /// Other governed proposals.
    pub other: Vec<Proposed<OtherProposal>>,
}

impl CommitDescription {
    /// An empty commit by `committer` (e.g. a plain self-update).
    pub fn new(committer: Actor) -> Self {
        Self {
            committer,
            adds: Vec::new(),
            removes: Vec::new(),
            self_removes: Vec::new(),
            app_data: Vec::new(),
            other: Vec::new(),
        }
    }

    /// The joining client, if this is an external commit.
    pub fn joiner(&self) -> Option<&ClientUri> {
        match &self.committer {
            Actor::NewMember(c) => Some(c),
            _ => None,
        }
    }

    /// Proposers of the AppDataUpdates for `component`, in commit order.
    pub fn proposers_of(&self, component: ComponentId) -> impl Iterator<Item = &Actor> {
        self.app_data.iter().filter(move |p| p.item.component_id() == component).map(|p| &p.proposer)
    }

    /// Records `proposal` by `proposer`. A SelfRemove is recorded for the proposer's client;
    /// openmls only accepts SelfRemoves from members, so another proposer is ignored.
    pub fn push(&mut self, proposer: Actor, proposal: ProposalKind) {
        match proposal {
            ProposalKind::Add(item) => self.adds.push(Proposed { proposer, item }),
            ProposalKind::Remove(item) => self.removes.push(Proposed { proposer, item }),
            ProposalKind::SelfRemove => {
                if let Actor::Member(client) = proposer {
                    self.self_removes.push(client);
                }
            }
            ProposalKind::AppData(item) => self.app_data.push(Proposed { proposer, item }),
            ProposalKind::Other(item) => self.other.push(Proposed { proposer, item }),
            ProposalKind::Ungoverned => {}
        }
    }

    /// Builder helpers (used by tests and by committers describing their own commit).
    pub fn add(mut self, proposer: &Actor, client: ClientUri) -> Self {
        self.adds.push(Proposed { proposer: proposer.clone(), item: client });
        self
    }

    /// Adds a Remove of `client` by `proposer`.
    pub fn remove(mut self, proposer: &Actor, client: ClientUri) -> Self {
        self.removes.push(Proposed { proposer: proposer.clone(), item: client });
        self
    }

    /// Adds a SelfRemove by `client`.
    pub fn self_remove(mut self, client: ClientUri) -> Self {
        self.self_removes.push(client);
        self
    }

    /// Adds an AppDataUpdate by `proposer`.
    pub fn app_data(mut self, proposer: &Actor, proposal: AppDataUpdateProposal) -> Self {
        self.app_data.push(Proposed { proposer: proposer.clone(), item: proposal });
        self
    }

    /// Adds another governed proposal by `proposer`.
    pub fn other(mut self, proposer: &Actor, proposal: OtherProposal) -> Self {
        self.other.push(Proposed { proposer: proposer.clone(), item: proposal });
        self
    }
}
