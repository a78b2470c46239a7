//! The room-policy engine: is this commit allowed in this room?
//!
//! [`evaluate`] takes the [`RoomState`] before a commit and a [`CommitDescription`] and returns
//! [`Verdict::Allowed`] with the state after the commit, or [`Verdict::NotAllowed`] with the
//! [`Rule`] that failed. It runs, in order:
//!
//! 1. the AppDataUpdate reducer (the same code that produced the new dictionary);
//! 2. commit-shape rules (role / preauth definitions never share a commit with participant
//!    changes);
//! 3. banned actors: a banned user may not commit or propose anything but Remove/SelfRemove;
//! 4. the room-policy-04 §8 capability rules for every participant-list change, client Add and
//!    Remove, component change and governed MLS proposal, each authorized against its proposer
//!    ([`authorize`]);
//! 5. the min/max (active) participant constraints of every role whose counts changed, and the
//!    room's consistency invariants on the state after the commit ([`consistency`]).
//!
//! [`evaluate_proposal`] is the hub's earlier, partial check of a standalone proposal (see
//! [`proposal`]); the commit that carries it is still evaluated in full.
//!
//! Interpretations where room-policy-04 is silent or ambiguous are documented on the function
//! that implements them.

pub mod authorize;
pub mod commit;
pub mod consistency;
pub mod proposal;

use std::fmt;

use openmls::component::ComponentId;

use crate::components::roles::{capability, CapabilityType};
use crate::error::Error;
use crate::reducer::{self, Reduction};
use crate::state::RoomState;
use crate::uri::ClientUri;

pub use commit::{Actor, CommitDescription, OtherProposal, ProposalKind, Proposed};
pub use proposal::evaluate_proposal;

/// The room-policy or consistency rule a commit broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The AppDataUpdates are invalid (reducer or component decoding); the text says why.
    InvalidAppData(String),
    /// The acting role lacks this capability.
    MissingCapability(CapabilityType),
    /// The acting role's `authorized_role_changes` has no entry `from` → `to`.
    RoleChangeNotAuthorized {
        /// Current role of the target (0 = not listed).
        from: u32,
        /// Requested role (0 = removal).
        to: u32,
    },
    /// A self-join matched neither open join nor a preauthorized role with
    /// `canJoinIfPreauthorized` for this role.
    JoinNotAuthorized {
        /// The role the joiner asked for.
        role: u32,
    },
    /// `canChangeOwnRole` only moves to the first preauth-matched role, which is not this one.
    NotPreauthorizedForRole {
        /// The requested role.
        role: u32,
    },
    /// A role index that `roles_list` does not define.
    UnknownRole(u32),
    /// The actor belongs to a banned user.
    ActorBanned,
    /// The actor is not a participant (and no preauthorization gives it a role).
    NotAParticipant,
    /// Role definitions change in the same commit as participant-list changes.
    RoleUpdateWithParticipantChanges,
    /// Preauth definitions change in the same commit as participant additions or role changes.
    PreauthUpdateWithParticipantChanges,
    /// This component may not be removed from the dictionary.
    ComponentRemovalNotAllowed(ComponentId),
    /// `room_uri` is fixed once set.
    RoomUriImmutable,
    /// `fixed_membership`: users cannot be added, removed or leave.
    FixedMembership,
    /// A client was added whose user is not in the participant list after the commit.
    ClientOfUnlistedUser(String),
    /// A client of a listed user was added by someone not entitled to (not the user itself with
    /// `canAddOwnClient`, and the user was not added to the list in this commit).
    AddClientNotAuthorized(String),
    /// A client is in the group whose user's role does not allow active participation.
    ClientNotAllowedForRole {
        /// The client.
        client: String,
        /// Its user's role.
        role: u32,
    },
    /// A user removed or banned in this commit still has clients in the group.
    RemovedUserKeepsClients(String),
    /// `multi_device` is false and the user would have several clients.
    SingleDevice(String),
    /// Two leaves carry the same client URI.
    DuplicateClient(String),
    /// More participants in the role than `maximum_participants_constraint`.
    MaxParticipants {
        /// The role.
        role: u32,
        /// Participants after the commit.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// Fewer participants in the role than `minimum_participants_constraint`.
    MinParticipants {
        /// The role.
        role: u32,
        /// Participants after the commit.
        count: u32,
        /// The limit.
        min: u32,
    },
    /// More active participants in the role than `maximum_active_participants_constraint`.
    MaxActiveParticipants {
        /// The role.
        role: u32,
        /// Active participants after the commit.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// Fewer active participants in the role than `minimum_active_participants_constraint`.
    MinActiveParticipants {
        /// The role.
        role: u32,
        /// Active participants after the commit.
        count: u32,
        /// The limit.
        min: u32,
    },
    /// `max_clients` of the base policy exceeded.
    MaxClients {
        /// Clients after the commit.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// `max_users` (non-banned participants) of the base policy exceeded.
    MaxUsers {
        /// Non-banned participants after the commit.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// An external sender committed (MLS forbids it; listed for completeness).
    ExternalCommitter,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::MissingCapability(cap) => match capability::name(*cap) {
                Some(name) => write!(f, "missing capability {name}"),
                None => write!(f, "missing capability {cap:#06x}"),
            },
            other => write!(f, "{other:?}"),
        }
    }
}

/// Why a commit is not allowed: the rule, who acted, and whom it concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The failed rule.
    pub rule: Rule,
    /// The acting entity, if the rule is about an actor.
    pub actor: Option<String>,
    /// The user or client the action targeted, if any.
    pub target: Option<String>,
}

impl Refusal {
    /// A refusal for `rule` with no actor or target.
    pub fn new(rule: Rule) -> Self {
        Self { rule, actor: None, target: None }
    }

    /// Sets the actor.
    pub fn by(mut self, actor: &Actor) -> Self {
        self.actor = Some(actor.describe());
        self
    }

    /// Sets the target.
    pub fn on(mut self, target: impl fmt::Display) -> Self {
        self.target = Some(target.to_string());
        self
    }

    fn invalid(e: Error) -> Self {
        Self::new(Rule::InvalidAppData(e.to_string()))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.rule)?;
        if let Some(a) = &self.actor {
            write!(f, " (by {a})")?;
        }
        if let Some(t) = &self.target {
            write!(f, " (on {t})")?;
        }
        Ok(())
    }
}

/// The decision on a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed; the room state after the commit.
    Allowed(Box<RoomState>),
    /// Refused, and why.
    NotAllowed(Refusal),
}

impl Verdict {
    /// Whether the commit is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed(_))
    }

    /// The refusal, if any.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Verdict::Allowed(_) => None,
            Verdict::NotAllowed(r) => Some(r),
        }
    }

    /// `Ok(state after)` or `Err(Error::NotAllowed)`.
    pub fn into_result(self) -> Result<RoomState, Error> {
        match self {
            Verdict::Allowed(s) => Ok(*s),
            Verdict::NotAllowed(r) => Err(Error::NotAllowed(r)),
        }
    }
}

/// Decides whether `commit` is allowed in the room whose state before it is `before`.
pub fn evaluate(before: &RoomState, commit: &CommitDescription) -> Verdict {
    match evaluate_steps(before, commit) {
        Ok(after) => Verdict::Allowed(Box::new(after)),
        Err(refusal) => Verdict::NotAllowed(refusal),
    }
}

fn evaluate_steps(before: &RoomState, commit: &CommitDescription) -> Result<RoomState, Refusal> {
    if matches!(commit.committer, Actor::External { .. }) {
        return Err(Refusal::new(Rule::ExternalCommitter).by(&commit.committer));
    }
    let (reduction, after) = reduce_commit(before, commit)?;

    consistency::commit_shape(&reduction)?;
    authorize::actors_not_banned(before, commit)?;
    authorize::participant_changes(before, commit, &reduction)?;
    authorize::component_changes(before, &after, commit, &reduction)?;
    authorize::client_changes(before, &after, commit, &reduction)?;
    authorize::other_proposals(before, commit)?;
    consistency::removed_users_have_no_clients(before, &after, &reduction)?;
    consistency::role_constraints(before, &after)?;
    consistency::invariants(&after)?;
    Ok(after)
}

/// Runs the reducer on the commit's AppDataUpdates: what they change, and the state after the
/// commit (new dictionary, members after its Adds and Removes).
fn reduce_commit(before: &RoomState, commit: &CommitDescription) -> Result<(Reduction, RoomState), Refusal> {
    let reduction =
        reducer::reduce(|id| before.dictionary.get(&id).map(Vec::as_slice), commit.app_data.iter().map(|p| &p.item))
            .map_err(Refusal::invalid)?;
    let mut dictionary = before.dictionary.clone();
    for (id, value) in &reduction.changes {
        match value {
            Some(bytes) => dictionary.insert(*id, bytes.clone()),
            None => dictionary.remove(id),
        };
    }
    let after = RoomState::new(dictionary, members_after(before, commit)).map_err(Refusal::invalid)?;
    Ok((reduction, after))
}

/// The members after the commit: removed clients (one leaf per Remove/SelfRemove) taken out,
/// added clients and the external joiner appended.
fn members_after(before: &RoomState, commit: &CommitDescription) -> Vec<ClientUri> {
    let mut members = before.members.clone();
    let removed = commit.removes.iter().map(|p| &p.item).chain(commit.self_removes.iter());
    for client in removed {
        if let Some(pos) = members.iter().position(|m| m == client) {
            members.remove(pos);
        }
    }
    members.extend(commit.adds.iter().map(|p| p.item.clone()));
    members.extend(commit.joiner().cloned());
    members
}
