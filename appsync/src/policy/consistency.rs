//! Consistency between the participant list (users) and the MLS group (clients), and the
//! numeric constraints of roles and base policy, checked on every commit.
//!
//! Invariants after every accepted commit:
//! - every client in the group belongs to a listed user whose role allows active participation
//!   (`maximum_active_participants_constraint` ≠ 0); so a client can only be added in the commit
//!   that lists its user or later;
//! - a user removed or banned in a commit has no client left after it;
//! - every listed user's role is defined in `roles_list`; no client URI appears twice;
//! - base policy: `multi_device`, `max_clients`, `max_users`.
//!
//! Commit shape: role definitions never change together with participant-list changes;
//! preauth definitions only together with removals (room-policy-04 §2, §3). Touching a user twice
//! is already invalid in the reducer.
//!
//! Role constraints (room-policy-04 §2): a minimum is enforced for a role whose count decreased,
//! a maximum for a role whose count increased, so a room that starts below a minimum (e.g. no
//! `policy_enforcer` yet) is not frozen.

use std::collections::{BTreeMap, BTreeSet};

use crate::components::participant_list::ParticipantChange;
use crate::components::roles::BANNED_ROLE;
use crate::components::{PREAUTH_LIST, ROLES_LIST};
use crate::reducer::Reduction;
use crate::state::RoomState;
use crate::uri::UserUri;

use super::{Refusal, Rule};

/// Role / preauth definition changes may not share a commit with participant changes.
pub fn commit_shape(reduction: &Reduction) -> Result<(), Refusal> {
    let changes: Vec<&ParticipantChange> = reduction.participant_changes.iter().flatten().collect();
    if reduction.changes.contains_key(&ROLES_LIST) && !changes.is_empty() {
        return Err(Refusal::new(Rule::RoleUpdateWithParticipantChanges));
    }
    if reduction.changes.contains_key(&PREAUTH_LIST)
        && changes.iter().any(|c| !matches!(c, ParticipantChange::Removed { .. }))
    {
        return Err(Refusal::new(Rule::PreauthUpdateWithParticipantChanges));
    }
    Ok(())
}

/// Min/max (active) participant constraints of every role whose counts changed.
pub fn role_constraints(before: &RoomState, after: &RoomState) -> Result<(), Refusal> {
    let old = before.role_counts();
    let new = after.role_counts();
    let roles: BTreeSet<u32> = old.keys().chain(new.keys()).copied().collect();
    for index in roles {
        let Some(role) = after.roles.role(index) else {
            continue; // reported by `invariants` if still in use
        };
        let (p0, a0) = old.get(&index).copied().unwrap_or_default();
        let (p1, a1) = new.get(&index).copied().unwrap_or_default();
        if p1 > p0 {
            if let Some(max) = role.maximum_participants_constraint.filter(|&m| p1 > m) {
                return Err(Refusal::new(Rule::MaxParticipants { role: index, count: p1, max }));
            }
        }
        if p1 < p0 && p1 < role.minimum_participants_constraint {
            let min = role.minimum_participants_constraint;
            return Err(Refusal::new(Rule::MinParticipants { role: index, count: p1, min }));
        }
        if a1 > a0 {
            if let Some(max) = role.maximum_active_participants_constraint.filter(|&m| a1 > m) {
                return Err(Refusal::new(Rule::MaxActiveParticipants { role: index, count: a1, max }));
            }
        }
        if a1 < a0 && a1 < role.minimum_active_participants_constraint {
            let min = role.minimum_active_participants_constraint;
            return Err(Refusal::new(Rule::MinActiveParticipants { role: index, count: a1, min }));
        }
    }
    Ok(())
}

/// A user removed or banned in this commit has no client left after it.
pub fn removed_users_have_no_clients(
    before: &RoomState,
    after: &RoomState,
    reduction: &Reduction,
) -> Result<(), Refusal> {
    for change in reduction.participant_changes.iter().flatten() {
        let gone = match change {
            ParticipantChange::Removed { user, .. } => Some(user),
            ParticipantChange::RoleChanged { user, to, .. } if *to == BANNED_ROLE && before.roles.has_banned_role() => {
                Some(user)
            }
            _ => None,
        };
        if let Some(user) = gone {
            if let Some(client) = after.clients_of(user).next() {
                return Err(Refusal::new(Rule::RemovedUserKeepsClients(user.to_string())).on(client));
            }
        }
    }
    Ok(())
}

/// The other invariants on the state after a commit (see the module documentation).
pub fn invariants(after: &RoomState) -> Result<(), Refusal> {
    for (user, role) in after.participants.users() {
        if after.roles.role(role).is_none() {
            return Err(Refusal::new(Rule::UnknownRole(role)).on(user));
        }
    }
    // One lookup table instead of a scan of the participant list per member: this runs on every
    // commit, at the hub and at every member, for groups of thousands.
    let listed: std::collections::HashMap<&[u8], u32> =
        after.participants.participants.iter().map(|p| (p.user.as_slice(), p.role_index)).collect();
    let mut seen = BTreeSet::new();
    let mut per_user: BTreeMap<UserUri, u32> = BTreeMap::new();
    for client in &after.members {
        if !seen.insert(client) {
            return Err(Refusal::new(Rule::DuplicateClient(client.to_string())));
        }
        let user = client.user();
        let Some(&role) = listed.get(user.as_bytes()) else {
            return Err(Refusal::new(Rule::ClientOfUnlistedUser(client.to_string())));
        };
        if !after.roles.role(role).is_some_and(|r| r.allows_clients()) {
            return Err(Refusal::new(Rule::ClientNotAllowedForRole { client: client.to_string(), role }));
        }
        *per_user.entry(user).or_default() += 1;
    }
    let policy = &after.base_policy;
    if !policy.multi_device.0 {
        if let Some((user, _)) = per_user.iter().find(|(_, &n)| n > 1) {
            return Err(Refusal::new(Rule::SingleDevice(user.to_string())));
        }
    }
    let clients = u32::try_from(after.members.len()).unwrap_or(u32::MAX);
    if let Some(max) = policy.max_clients.filter(|&m| clients > m) {
        return Err(Refusal::new(Rule::MaxClients { count: clients, max }));
    }
    let banned_exists = after.roles.has_banned_role();
    let users =
        after.participants.participants.iter().filter(|p| !(banned_exists && p.role_index == BANNED_ROLE)).count();
    let users = u32::try_from(users).unwrap_or(u32::MAX);
    if let Some(max) = policy.max_users.filter(|&m| users > m) {
        return Err(Refusal::new(Rule::MaxUsers { count: users, max }));
    }
    Ok(())
}
