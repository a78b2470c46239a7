//! `participant_list` (0x0022): the users of the room and their roles (protocol-06 §7.5).
//!
//! The dictionary holds a [`ParticipantListData`]; an AppDataUpdate `update` carries a
//! [`ParticipantListUpdate`] delta. [`apply_updates`] is the component logic both clients and the
//! hub run: it applies the deltas of one commit in order and reports, per user, what changed
//! ([`ParticipantChange`]), which is what the policy engine authorizes.
//!
//! Pinned semantics (docs/DIVERGENCES.md): indices refer to the
//! list before the update; role changes are applied first, then removals as a set (stable order),
//! then appends; several updates in one commit apply in order; a commit that touches the same user
//! twice (across all its updates) is invalid.

use std::collections::BTreeSet;

use tls_codec::{TlsDeserializeBytes, TlsSerialize, TlsSize};

use super::{Component, PARTICIPANT_LIST};
use crate::reducer::Invalid;
use crate::uri::UserUri;

/// One participant: protocol-06 §7.5 `UserRolePair`.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct UserRolePair {
    /// The user URI (`mimi://<domain>/u/<user>`), UTF-8.
    pub user: Vec<u8>,
    /// Index of the user's role in `roles_list`; never 0 in a list entry.
    pub role_index: u32,
}

/// The component data: protocol-06 §7.5 `ParticipantListData`.
#[derive(Debug, Clone, PartialEq, Eq, Default, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ParticipantListData {
    /// The participants, each user at most once.
    pub participants: Vec<UserRolePair>,
}

/// A role change inside an update: protocol-06 §7.5 `UserindexRolePair`.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct UserindexRolePair {
    /// Index into `participants` of the list before this update.
    pub user_index: u32,
    /// The new (non-zero) role.
    pub role_index: u32,
}

/// The AppDataUpdate payload: protocol-06 §7.5 `ParticipantListUpdate`.
#[derive(Debug, Clone, PartialEq, Eq, Default, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ParticipantListUpdate {
    /// Role changes, by index into the list before this update.
    pub changed_role_participants: Vec<UserindexRolePair>,
    /// Users to remove, by index into the list before this update.
    pub removed_indices: Vec<u32>,
    /// Users to append, with their roles.
    pub added_participants: Vec<UserRolePair>,
}

/// What one commit did to one user of the participant list (resolved from indices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParticipantChange {
    /// The user was appended with `role`.
    Added {
        /// The user.
        user: UserUri,
        /// Its role.
        role: u32,
    },
    /// The user was removed; it had role `from`.
    Removed {
        /// The user.
        user: UserUri,
        /// Its role before removal.
        from: u32,
    },
    /// The user's role changed from `from` to `to`.
    RoleChanged {
        /// The user.
        user: UserUri,
        /// Old role.
        from: u32,
        /// New role.
        to: u32,
    },
}

impl ParticipantChange {
    /// The user this change is about.
    pub fn user(&self) -> &UserUri {
        match self {
            Self::Added { user, .. } | Self::Removed { user, .. } | Self::RoleChanged { user, .. } => user,
        }
    }
}

impl Component for ParticipantListData {
    const ID: u16 = PARTICIPANT_LIST;

    fn validate(&self) -> Result<(), Invalid> {
        let mut seen = BTreeSet::new();
        for p in &self.participants {
            let user = parse_user(&p.user)?;
            if p.role_index == 0 {
                return Err(Invalid::ZeroRole(user.to_string()));
            }
            if !seen.insert(user) {
                return Err(Invalid::DuplicateUser(String::from_utf8_lossy(p.user.as_slice()).into()));
            }
        }
        Ok(())
    }
}

impl ParticipantListData {
    /// The role of `user`, if listed.
    pub fn role_of(&self, user: &UserUri) -> Option<u32> {
        self.participants.iter().find(|p| p.user.as_slice() == user.as_bytes()).map(|p| p.role_index)
    }

    /// The listed users with their roles. Entries are validated on decode, so parsing succeeds
    /// for decoded lists; entries that do not parse are skipped.
    pub fn users(&self) -> impl Iterator<Item = (UserUri, u32)> + '_ {
        self.participants.iter().filter_map(|p| UserUri::from_bytes(p.user.as_slice()).ok().map(|u| (u, p.role_index)))
    }
}

fn parse_user(bytes: &[u8]) -> Result<UserUri, Invalid> {
    UserUri::from_bytes(bytes).map_err(|_| Invalid::BadUser(String::from_utf8_lossy(bytes).into()))
}

/// Applies the `ParticipantListUpdate`s of one commit, in commit order, to `list`.
///
/// Returns the new list and, for each update in order, the per-user changes it made; or why the
/// updates are invalid.
pub fn apply_updates(
    mut list: ParticipantListData,
    updates: &[ParticipantListUpdate],
) -> Result<(ParticipantListData, Vec<Vec<ParticipantChange>>), Invalid> {
    let mut touched: BTreeSet<UserUri> = BTreeSet::new();
    let mut all_changes = Vec::with_capacity(updates.len());
    let mut touch = |user: &UserUri| {
        if touched.insert(user.clone()) {
            Ok(())
        } else {
            Err(Invalid::UserTouchedTwice(user.to_string()))
        }
    };
    for update in updates {
        let mut changes = Vec::new();
        let len = list.participants.len();
        let resolve = |index: u32| -> Result<usize, Invalid> {
            usize::try_from(index).ok().filter(|&i| i < len).ok_or(Invalid::IndexOutOfRange { index, len })
        };
        // Role changes, against the list before this update.
        for change in &update.changed_role_participants {
            let i = resolve(change.user_index)?;
            let entry = &mut list.participants[i];
            let user = parse_user(&entry.user)?;
            touch(&user)?;
            if change.role_index == 0 {
                return Err(Invalid::ZeroRole(user.to_string()));
            }
            changes.push(ParticipantChange::RoleChanged { user, from: entry.role_index, to: change.role_index });
            entry.role_index = change.role_index;
        }
        // Removals, as a set, keeping the order of the remaining entries.
        let mut removed = BTreeSet::new();
        for &index in &update.removed_indices {
            let i = resolve(index)?;
            let entry = &list.participants[i];
            let user = parse_user(&entry.user)?;
            touch(&user)?;
            removed.insert(i);
            changes.push(ParticipantChange::Removed { user, from: entry.role_index });
        }
        if !removed.is_empty() {
            let mut i = 0;
            list.participants.retain(|_| {
                let keep = !removed.contains(&i);
                i += 1;
                keep
            });
        }
        // Appends.
        for added in &update.added_participants {
            let user = parse_user(&added.user)?;
            touch(&user)?;
            if added.role_index == 0 {
                return Err(Invalid::ZeroRole(user.to_string()));
            }
            if list.role_of(&user).is_some() {
                return Err(Invalid::DuplicateUser(user.to_string()));
            }
            changes.push(ParticipantChange::Added { user, role: added.role_index });
            list.participants.push(added.clone());
        }
        all_changes.push(changes);
    }
    Ok((list, all_changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str, role: u32) -> UserRolePair {
        UserRolePair { user: format!("mimi://a.example/u/{name}").into_bytes(), role_index: role }
    }

    fn list(entries: &[(&str, u32)]) -> ParticipantListData {
        ParticipantListData { participants: entries.iter().map(|(n, r)| pair(n, *r)).collect() }
    }

    #[test]
    fn roundtrip_and_strict_decode() {
        let l = list(&[("alice", 3), ("bob", 2)]);
        let bytes = l.encode().unwrap();
        assert_eq!(ParticipantListData::decode(&bytes).unwrap(), l);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(ParticipantListData::decode(&longer).is_err());
        let dup = list(&[("alice", 3), ("alice", 2)]).encode().unwrap();
        assert!(ParticipantListData::decode(&dup).is_err());
        let zero = list(&[("alice", 0)]).encode().unwrap();
        assert!(ParticipantListData::decode(&zero).is_err());
    }

    #[test]
    fn order_roles_then_removals_then_appends() {
        let before = list(&[("a", 2), ("b", 2), ("c", 2), ("d", 2)]);
        let update = ParticipantListUpdate {
            changed_role_participants: vec![UserindexRolePair { user_index: 2, role_index: 3 }],
            removed_indices: vec![3, 0],
            added_participants: vec![pair("e", 2)],
        };
        let (after, changes) = apply_updates(before, &[update]).unwrap();
        assert_eq!(after, list(&[("b", 2), ("c", 3), ("e", 2)]));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].len(), 4);
        assert!(matches!(changes[0][0], ParticipantChange::RoleChanged { from: 2, to: 3, .. }));
    }

    #[test]
    fn several_updates_apply_in_order_with_fresh_indices() {
        let before = list(&[("a", 2), ("b", 2)]);
        let first = ParticipantListUpdate { removed_indices: vec![0], ..Default::default() };
        // After the first update "b" is at index 0.
        let second = ParticipantListUpdate {
            changed_role_participants: vec![UserindexRolePair { user_index: 0, role_index: 3 }],
            ..Default::default()
        };
        let (after, _) = apply_updates(before, &[first, second]).unwrap();
        assert_eq!(after, list(&[("b", 3)]));
    }

    #[test]
    fn invalid_updates() {
        let before = list(&[("a", 2), ("b", 2)]);
        let same_user_twice = ParticipantListUpdate {
            changed_role_participants: vec![UserindexRolePair { user_index: 0, role_index: 3 }],
            removed_indices: vec![0],
            ..Default::default()
        };
        assert!(matches!(apply_updates(before.clone(), &[same_user_twice]), Err(Invalid::UserTouchedTwice(_))));
        let remove_then_readd = [
            ParticipantListUpdate { removed_indices: vec![1], ..Default::default() },
            ParticipantListUpdate { added_participants: vec![pair("b", 2)], ..Default::default() },
        ];
        assert!(matches!(apply_updates(before.clone(), &remove_then_readd), Err(Invalid::UserTouchedTwice(_))));
        let out_of_range = ParticipantListUpdate { removed_indices: vec![2], ..Default::default() };
        assert!(matches!(
            apply_updates(before.clone(), &[out_of_range]),
            Err(Invalid::IndexOutOfRange { index: 2, len: 2 })
        ));
        let dup_add = ParticipantListUpdate { added_participants: vec![pair("a", 2)], ..Default::default() };
        assert!(matches!(apply_updates(before.clone(), &[dup_add]), Err(Invalid::DuplicateUser(_))));
        let zero_role = ParticipantListUpdate { added_participants: vec![pair("z", 0)], ..Default::default() };
        assert!(matches!(apply_updates(before.clone(), &[zero_role]), Err(Invalid::ZeroRole(_))));
        let bad_user = ParticipantListUpdate {
            added_participants: vec![UserRolePair { user: b"mimi://a.example/d/z/phone".to_vec(), role_index: 2 }],
            ..Default::default()
        };
        assert!(matches!(apply_updates(before, &[bad_user]), Err(Invalid::BadUser(_))));
    }
}
