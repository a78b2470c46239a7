//! The capability rules of room-policy-04 §8, each action authorized against its proposer.
//!
//! An actor's role: a member or joining client acts with its user's role in the participant list
//! before the commit (role 0 if not listed); an external sender acts with the first
//! preauthorized role its credential identity matches (role 0 if none).
//!
//! Interpretations (room-policy-04 leaves these open):
//! - Setting a user to role 1 (`banned`) is authorized by `canBan` or by `canChangeUserRole`
//!   (the draft notes the latter "would allow the same action"); leaving role 1 by `canUnBan` or
//!   `canChangeUserRole`. Both need the `authorized_role_changes` entry.
//! - Adding a client of an already listed user is allowed only to that user itself
//!   (`canAddOwnClient`) or in the commit that lists the user (our reading, docs/DIVERGENCES.md).
//! - Private-range components may be changed by any participant with a non-zero role.
//! - GroupContextExtensions proposals (e.g. `external_senders`) need
//!   `canChangeRoomMembershipStyle`; ReInit needs `canSendMLSReinitProposal`.
//! - Join codes are not implemented: `canUseJoinCode` never authorizes a join.

use std::collections::BTreeSet;

use crate::components::participant_list::ParticipantChange;
use crate::components::roles::{capability, CapabilityType, Role, BANNED_ROLE, NO_ROLE};
use crate::components::room_metadata::MetadataField;
use crate::components::{
    classify, ComponentClass, BASE_ROOM_POLICY, PARTICIPANT_LIST, PREAUTH_LIST, ROLES_LIST, ROOM_METADATA,
};
use crate::reducer::Reduction;
use crate::state::RoomState;
use crate::uri::UserUri;

use super::{Actor, CommitDescription, OtherProposal, Refusal, Rule};

/// The role an actor acts with.
pub struct ActingRole<'a> {
    /// The actor's user, for members and joining clients.
    pub user: Option<UserUri>,
    /// The role index (0 = not a participant).
    pub index: u32,
    /// The role definition, if `roles_list` defines the index.
    pub role: Option<&'a Role>,
}

impl ActingRole<'_> {
    /// Whether the role holds `cap`.
    pub fn has(&self, cap: CapabilityType) -> bool {
        self.role.is_some_and(|r| r.has(cap))
    }

    /// Whether the role's `authorized_role_changes` allows `from` → `to`.
    pub fn allows_change(&self, from: u32, to: u32) -> bool {
        self.role.is_some_and(|r| r.allows_change(from, to))
    }
}

/// Resolves the role `actor` acts with in `state`.
pub fn acting_role<'a>(state: &'a RoomState, actor: &Actor) -> ActingRole<'a> {
    let (user, index) = match actor {
        Actor::Member(c) | Actor::NewMember(c) => {
            let user = c.user();
            let index = state.role_of(&user).unwrap_or(NO_ROLE);
            (Some(user), index)
        }
        Actor::External { identity } => (None, state.preauth.first_match(identity).unwrap_or(NO_ROLE)),
    };
    ActingRole { user, index, role: state.roles.role(index) }
}

fn require(role: &ActingRole<'_>, actor: &Actor, cap: CapabilityType) -> Result<(), Refusal> {
    if role.has(cap) {
        Ok(())
    } else {
        Err(Refusal::new(Rule::MissingCapability(cap)).by(actor))
    }
}

fn require_change(role: &ActingRole<'_>, actor: &Actor, from: u32, to: u32) -> Result<(), Refusal> {
    if role.allows_change(from, to) {
        Ok(())
    } else {
        Err(Refusal::new(Rule::RoleChangeNotAuthorized { from, to }).by(actor))
    }
}

/// Whether `role` is the `banned` role of the room (role 1, if `roles_list` defines it).
pub fn is_banned(state: &RoomState, role: u32) -> bool {
    role == BANNED_ROLE && state.roles.has_banned_role()
}

/// A banned user loses the right to commit and to propose anything but Remove and SelfRemove
/// (protocol-06 §7, notes §6.6).
pub fn actors_not_banned(before: &RoomState, commit: &CommitDescription) -> Result<(), Refusal> {
    let proposers = std::iter::once(&commit.committer)
        .chain(commit.adds.iter().map(|p| &p.proposer))
        .chain(commit.app_data.iter().map(|p| &p.proposer))
        .chain(commit.other.iter().map(|p| &p.proposer));
    for actor in proposers {
        if is_banned(before, acting_role(before, actor).index) {
            return Err(Refusal::new(Rule::ActorBanned).by(actor));
        }
    }
    Ok(())
}

/// Authorizes every participant-list change against the proposer of its update.
pub fn participant_changes(
    before: &RoomState,
    commit: &CommitDescription,
    reduction: &Reduction,
) -> Result<(), Refusal> {
    let proposers: Vec<&Actor> = commit.proposers_of(PARTICIPANT_LIST).collect();
    for (k, changes) in reduction.participant_changes.iter().enumerate() {
        let Some(&actor) = proposers.get(k) else {
            return Err(Refusal::new(Rule::InvalidAppData("participant-list update without proposer".into())));
        };
        let acting = acting_role(before, actor);
        for change in changes {
            authorize_change(before, actor, &acting, change).map_err(|r| r.on(change.user()))?;
        }
    }
    Ok(())
}

fn authorize_change(
    before: &RoomState,
    actor: &Actor,
    acting: &ActingRole<'_>,
    change: &ParticipantChange,
) -> Result<(), Refusal> {
    let is_self = acting.user.as_ref() == Some(change.user());
    let fixed = before.base_policy.fixed_membership.0;
    match change {
        ParticipantChange::Added { role, .. } => {
            if fixed {
                return Err(Refusal::new(Rule::FixedMembership).by(actor));
            }
            if is_self {
                authorize_self_join(before, actor, *role)
            } else {
                require(acting, actor, capability::CAN_ADD_PARTICIPANT)?;
                require_change(acting, actor, NO_ROLE, *role)
            }
        }
        ParticipantChange::Removed { from, .. } => {
            if fixed {
                return Err(Refusal::new(Rule::FixedMembership).by(actor));
            }
            if is_self {
                require(acting, actor, capability::CAN_REMOVE_SELF)?;
            } else {
                require(acting, actor, capability::CAN_REMOVE_PARTICIPANT)?;
            }
            require_change(acting, actor, *from, NO_ROLE)
        }
        ParticipantChange::RoleChanged { from, to, .. } => {
            if is_self {
                // canChangeOwnRole: only to the first preauth-matched role; the
                // authorized_role_changes table is not consulted.
                require(acting, actor, capability::CAN_CHANGE_OWN_ROLE)?;
                if before.preauth.first_match(actor.identity()) != Some(*to) {
                    return Err(Refusal::new(Rule::NotPreauthorizedForRole { role: *to }).by(actor));
                }
                return Ok(());
            }
            let by_role_change = acting.has(capability::CAN_CHANGE_USER_ROLE);
            if is_banned(before, *to) {
                if !(acting.has(capability::CAN_BAN) || by_role_change) {
                    return Err(Refusal::new(Rule::MissingCapability(capability::CAN_BAN)).by(actor));
                }
            } else if is_banned(before, *from) {
                if !(acting.has(capability::CAN_UNBAN) || by_role_change) {
                    return Err(Refusal::new(Rule::MissingCapability(capability::CAN_UNBAN)).by(actor));
                }
            } else {
                require(acting, actor, capability::CAN_CHANGE_USER_ROLE)?;
            }
            require_change(acting, actor, *from, *to)
        }
    }
}

/// A non-listed user adding itself (external join): open join via role 0, or the first
/// preauthorized role carrying `canJoinIfPreauthorized`.
fn authorize_self_join(before: &RoomState, actor: &Actor, role: u32) -> Result<(), Refusal> {
    let preauth_ok = before.preauth.first_match(actor.identity()) == Some(role)
        && before.roles.role(role).is_some_and(|r| r.has(capability::CAN_JOIN_IF_PREAUTHORIZED));
    let open_ok = before
        .roles
        .role(NO_ROLE)
        .is_some_and(|r0| r0.has(capability::CAN_OPEN_JOIN) && r0.allows_change(NO_ROLE, role));
    if preauth_ok || open_ok {
        Ok(())
    } else {
        Err(Refusal::new(Rule::JoinNotAuthorized { role }).by(actor))
    }
}

/// Authorizes changes of every component other than the participant list.
pub fn component_changes(
    before: &RoomState,
    after: &RoomState,
    commit: &CommitDescription,
    reduction: &Reduction,
) -> Result<(), Refusal> {
    for (&id, value) in &reduction.changes {
        let removed = value.is_none();
        let needed: Vec<CapabilityType> = match id {
            PARTICIPANT_LIST | ROLES_LIST if removed => {
                return Err(Refusal::new(Rule::ComponentRemovalNotAllowed(id)));
            }
            PARTICIPANT_LIST => continue,
            ROLES_LIST => vec![capability::CAN_CHANGE_ROLE_DEFINITIONS],
            PREAUTH_LIST => vec![capability::CAN_CHANGE_PREAUTHORIZED_USER_LIST],
            BASE_ROOM_POLICY => vec![capability::CAN_CHANGE_ROOM_MEMBERSHIP_STYLE],
            ROOM_METADATA => {
                let mut caps = Vec::new();
                for field in before.metadata.changed_fields(&after.metadata) {
                    caps.push(match field {
                        MetadataField::Uri if before.metadata.room_uri.uri.is_empty() => continue,
                        MetadataField::Uri => return Err(Refusal::new(Rule::RoomUriImmutable)),
                        MetadataField::Name => capability::CAN_CHANGE_ROOM_NAME,
                        MetadataField::Description => capability::CAN_CHANGE_ROOM_DESCRIPTION,
                        MetadataField::Avatar => capability::CAN_CHANGE_ROOM_AVATAR,
                        MetadataField::Subject => capability::CAN_CHANGE_ROOM_SUBJECT,
                        MetadataField::Mood => capability::CAN_CHANGE_ROOM_MOOD,
                    });
                }
                caps
            }
            _ => {
                debug_assert_eq!(classify(id), ComponentClass::Private);
                for actor in commit.proposers_of(id) {
                    if acting_role(before, actor).index == NO_ROLE {
                        return Err(Refusal::new(Rule::NotAParticipant).by(actor));
                    }
                }
                continue;
            }
        };
        for actor in commit.proposers_of(id) {
            let acting = acting_role(before, actor);
            for &cap in &needed {
                require(&acting, actor, cap)?;
            }
        }
    }
    Ok(())
}

/// Authorizes client Adds, the external joiner, Removes and SelfRemoves.
pub fn client_changes(
    before: &RoomState,
    after: &RoomState,
    commit: &CommitDescription,
    reduction: &Reduction,
) -> Result<(), Refusal> {
    let mut listed_now: BTreeSet<&UserUri> = BTreeSet::new();
    let mut delisted_or_banned: BTreeSet<&UserUri> = BTreeSet::new();
    for change in reduction.participant_changes.iter().flatten() {
        match change {
            ParticipantChange::Added { user, .. } => {
                listed_now.insert(user);
            }
            ParticipantChange::Removed { user, .. } => {
                delisted_or_banned.insert(user);
            }
            ParticipantChange::RoleChanged { user, to, .. } if is_banned(before, *to) => {
                delisted_or_banned.insert(user);
            }
            ParticipantChange::RoleChanged { .. } => {}
        }
    }

    let added =
        commit.adds.iter().map(|p| (&p.proposer, &p.item)).chain(commit.joiner().map(|c| (&commit.committer, c)));
    for (actor, client) in added {
        let user = client.user();
        if after.role_of(&user).is_none() {
            return Err(Refusal::new(Rule::ClientOfUnlistedUser(client.to_string())).by(actor));
        }
        if listed_now.contains(&user) {
            continue;
        }
        let acting = acting_role(before, actor);
        if acting.user.as_ref() == Some(&user) {
            require(&acting, actor, capability::CAN_ADD_OWN_CLIENT).map_err(|r| r.on(client))?;
        } else {
            return Err(Refusal::new(Rule::AddClientNotAuthorized(client.to_string())).by(actor));
        }
    }

    for p in &commit.removes {
        let user = p.item.user();
        if delisted_or_banned.contains(&user) {
            continue;
        }
        let acting = acting_role(before, &p.proposer);
        let cap =
            if acting.user.as_ref() == Some(&user) { capability::CAN_REMOVE_OWN_CLIENT } else { capability::CAN_KICK };
        require(&acting, &p.proposer, cap).map_err(|r| r.on(&p.item))?;
    }
    for client in &commit.self_removes {
        if delisted_or_banned.contains(&client.user()) {
            continue;
        }
        let actor = Actor::Member(client.clone());
        require(&acting_role(before, &actor), &actor, capability::CAN_REMOVE_OWN_CLIENT)?;
    }
    Ok(())
}

/// GroupContextExtensions and ReInit proposals.
pub fn other_proposals(before: &RoomState, commit: &CommitDescription) -> Result<(), Refusal> {
    for p in &commit.other {
        let cap = match p.item {
            OtherProposal::GroupContextExtensions => capability::CAN_CHANGE_ROOM_MEMBERSHIP_STYLE,
            OtherProposal::ReInit => capability::CAN_SEND_MLS_REINIT_PROPOSAL,
        };
        require(&acting_role(before, &p.proposer), &p.proposer, cap)?;
    }
    Ok(())
}
