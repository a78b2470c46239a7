//! The component logic of AppDataUpdate: from one commit's proposals to the next dictionary.
//!
//! openmls 0.9 leaves the meaning of AppDataUpdate payloads to the application: a client
//! (`MlsGroup`) and the hub (`PublicGroup`) each receive an `UnresolvedAppDataCommit`, compute the
//! new dictionary entries, and stage the commit with them. Both must compute exactly the same
//! bytes, so both call [`fill_updater`] (the committer calls it on its `CommitBuilder`'s updater).
//!
//! Rules (mls-extensions §4.7 and the component definitions): the proposals are grouped by
//! component, keeping commit order within a component; a component may receive one `remove` or
//! one or more `update`s; removing an absent component is invalid; an update for a component ID
//! that is neither MIMI, private-range nor GREASE is invalid, and so is any AppDataUpdate of the
//! mls-extensions-10 `app_components` (0x0001) and `safe_aad` (0x0002) lists, which a room gets
//! from its creator and keeps (a changed list would bind members that never agreed to it, and
//! -10 defines no update for either); GREASE IDs are ignored; private-range
//! components are carried opaquely (the last update wins). `participant_list` applies every
//! `ParticipantListUpdate` in order ([`participant_list::apply_updates`]); the other MIMI
//! components replace their whole value and accept one update per commit.

use std::collections::BTreeMap;
use std::fmt;

use mimi_protocol::components_list::{APP_COMPONENTS_COMPONENT_ID, SAFE_AAD_COMPONENT_ID};
use openmls::component::{ComponentData, ComponentId};
use openmls::prelude::{AppDataDictionaryUpdater, AppDataUpdateOperation, AppDataUpdateProposal};

use crate::components::base_policy::BaseRoomPolicy;
use crate::components::participant_list::{self, ParticipantChange, ParticipantListData, ParticipantListUpdate};
use crate::components::preauth::PreAuthData;
use crate::components::roles::RoleData;
use crate::components::room_metadata::RoomMetaData;
use crate::components::{
    classify, decode_struct, Component, ComponentClass, BASE_ROOM_POLICY, MAX_COMPONENT_SIZE, PARTICIPANT_LIST,
    PREAUTH_LIST, ROLES_LIST, ROOM_METADATA,
};
use crate::error::Error;

/// Why the AppDataUpdates of a commit (or a component value) are invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// The component ID is not one this application understands (mls-extensions: invalid).
    UnknownComponent,
    /// `app_components` (0x0001) or `safe_aad` (0x0002): set when the room is created, never updated.
    FixedComponent,
    /// A `remove` was combined with another operation on the same component.
    RemoveWithOtherOperations,
    /// A `remove` of a component that has no state.
    RemoveOfAbsent,
    /// More than one `update` for a component whose update replaces the whole value.
    MultipleUpdates(usize),
    /// A participant-list index is past the end of the list it refers to.
    IndexOutOfRange {
        /// The index.
        index: u32,
        /// The list's length at that point.
        len: usize,
    },
    /// The commit's participant-list updates touch this user more than once.
    UserTouchedTwice(String),
    /// The user is listed twice (or added while already listed).
    DuplicateUser(String),
    /// A participant would get role 0, which means "not listed".
    ZeroRole(String),
    /// A participant-list entry is not a MIMI user URI.
    BadUser(String),
    /// A text field is not UTF-8 without NUL.
    BadText(&'static str),
    /// Two roles share a `role_index`.
    DuplicateRole(u32),
    /// `canOpenJoin` appears on a non-zero role (room-policy-04 §8.1.1 forbids it).
    OpenJoinOnNonZeroRole(u32),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownComponent => write!(f, "unknown component"),
            Self::FixedComponent => write!(f, "component list fixed when the room was created"),
            Self::RemoveWithOtherOperations => write!(f, "remove combined with other operations"),
            Self::RemoveOfAbsent => write!(f, "remove of a component without state"),
            Self::MultipleUpdates(n) => write!(f, "{n} updates where one is allowed"),
            Self::IndexOutOfRange { index, len } => {
                write!(f, "index {index} out of range for {len} participants")
            }
            Self::UserTouchedTwice(u) => write!(f, "user {u} touched twice in one commit"),
            Self::DuplicateUser(u) => write!(f, "user {u} listed twice"),
            Self::ZeroRole(u) => write!(f, "user {u} would get role 0"),
            Self::BadUser(u) => write!(f, "{u:?} is not a MIMI user URI"),
            Self::BadText(field) => write!(f, "{field} is not UTF-8 without NUL"),
            Self::DuplicateRole(r) => write!(f, "role index {r} defined twice"),
            Self::OpenJoinOnNonZeroRole(r) => write!(f, "canOpenJoin on non-zero role {r}"),
        }
    }
}

/// What one commit's AppDataUpdates do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reduction {
    /// New value per touched component (`None` = removed), in component order. GREASE
    /// components never appear.
    pub changes: BTreeMap<ComponentId, Option<Vec<u8>>>,
    /// The participant-list updates, decoded, in commit order.
    pub participant_updates: Vec<ParticipantListUpdate>,
    /// What each of those updates did, per user (one inner vector per update).
    pub participant_changes: Vec<Vec<ParticipantChange>>,
}

fn invalid(component: ComponentId, reason: Invalid) -> Error {
    Error::InvalidUpdate { component, reason }
}

/// Computes the effect of a commit's AppDataUpdate proposals on the dictionary.
///
/// `old` looks up a component's current value; `proposals` are the commit's AppDataUpdate
/// proposals in commit order (any interleaving of components; only the order within a component
/// matters, and openmls preserves it in every view it offers).
pub fn reduce<'p, 'o>(
    old: impl Fn(ComponentId) -> Option<&'o [u8]>,
    proposals: impl IntoIterator<Item = &'p AppDataUpdateProposal>,
) -> Result<Reduction, Error> {
    let mut by_component: BTreeMap<ComponentId, Vec<&AppDataUpdateOperation>> = BTreeMap::new();
    for p in proposals {
        by_component.entry(p.component_id()).or_default().push(p.operation());
    }
    let mut out = Reduction::default();
    for (id, ops) in by_component {
        if matches!(id, APP_COMPONENTS_COMPONENT_ID | SAFE_AAD_COMPONENT_ID) {
            return Err(invalid(id, Invalid::FixedComponent));
        }
        let class = classify(id);
        match class {
            ComponentClass::Grease => continue,
            ComponentClass::Unknown => return Err(invalid(id, Invalid::UnknownComponent)),
            ComponentClass::Mimi | ComponentClass::Private => {}
        }
        let old_value = old(id);
        if ops.iter().any(|op| matches!(op, AppDataUpdateOperation::Remove)) {
            if ops.len() != 1 {
                return Err(invalid(id, Invalid::RemoveWithOtherOperations));
            }
            if old_value.is_none() {
                return Err(invalid(id, Invalid::RemoveOfAbsent));
            }
            out.changes.insert(id, None);
            continue;
        }
        let updates: Vec<&[u8]> = ops
            .iter()
            .filter_map(|op| match op {
                AppDataUpdateOperation::Update(bytes) => Some(bytes.as_slice()),
                AppDataUpdateOperation::Remove => None,
            })
            .collect();
        let new_value = match id {
            PARTICIPANT_LIST => {
                let old_list = match old_value {
                    Some(bytes) => ParticipantListData::decode(bytes)?,
                    None => ParticipantListData::default(),
                };
                let decoded = updates
                    .iter()
                    .map(|u| decode_struct::<ParticipantListUpdate>(id, u))
                    .collect::<Result<Vec<_>, _>>()?;
                let (new_list, changes) =
                    participant_list::apply_updates(old_list, &decoded).map_err(|reason| invalid(id, reason))?;
                out.participant_updates = decoded;
                out.participant_changes = changes;
                new_list.encode()?
            }
            ROOM_METADATA => replace::<RoomMetaData>(&updates)?,
            ROLES_LIST => replace::<RoleData>(&updates)?,
            PREAUTH_LIST => replace::<PreAuthData>(&updates)?,
            BASE_ROOM_POLICY => replace::<BaseRoomPolicy>(&updates)?,
            _ => {
                // Private range: carried opaquely, the last update wins.
                let last = updates.last().copied().unwrap_or_default();
                if last.len() > MAX_COMPONENT_SIZE {
                    return Err(Error::TooLarge { component: id, len: last.len(), max: MAX_COMPONENT_SIZE });
                }
                last.to_vec()
            }
        };
        out.changes.insert(id, Some(new_value));
    }
    Ok(out)
}

/// A whole-value replacement: exactly one update, which must decode and validate.
fn replace<C: Component>(updates: &[&[u8]]) -> Result<Vec<u8>, Error> {
    match updates {
        [one] => {
            C::decode(one)?;
            Ok(one.to_vec())
        }
        _ => Err(invalid(C::ID, Invalid::MultipleUpdates(updates.len()))),
    }
}

/// The single entry point used by clients and the hub alike: reduces `proposals` against the
/// updater's old dictionary and records the new entries in `updater`.
///
/// Use it with `MlsGroup::app_data_dictionary_updater()` /
/// `PublicGroup::app_data_dictionary_updater()` on an `UnresolvedAppDataCommit`'s
/// `app_data_update_proposals()`, or with a `CommitBuilder`'s updater and proposals when
/// committing; then pass `updater.changes()` on to openmls.
pub fn fill_updater<'p>(
    updater: &mut AppDataDictionaryUpdater<'_>,
    proposals: impl IntoIterator<Item = &'p AppDataUpdateProposal>,
) -> Result<Reduction, Error> {
    let reduction = reduce(|id| updater.old_value(id), proposals)?;
    for (id, value) in &reduction.changes {
        match value {
            Some(bytes) => updater.set(ComponentData::from_parts(*id, bytes.clone().into())),
            None => updater.remove(id),
        }
    }
    Ok(reduction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::participant_list::UserRolePair;

    fn dict<'a>(entries: &'a [(ComponentId, Vec<u8>)]) -> impl Fn(ComponentId) -> Option<&'a [u8]> + 'a {
        move |id| entries.iter().find(|(i, _)| *i == id).map(|(_, v)| v.as_slice())
    }

    fn add_update(name: &str, role: u32) -> Vec<u8> {
        crate::components::encode_struct(
            PARTICIPANT_LIST,
            &ParticipantListUpdate {
                added_participants: vec![UserRolePair {
                    user: format!("mimi://a.example/u/{name}").into_bytes(),
                    role_index: role,
                }],
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn participant_updates_apply_in_commit_order() {
        let entries = vec![];
        let props = [
            AppDataUpdateProposal::update(PARTICIPANT_LIST, add_update("a", 2)),
            AppDataUpdateProposal::update(0x8001, b"x".to_vec()),
            AppDataUpdateProposal::update(PARTICIPANT_LIST, add_update("b", 3)),
        ];
        let r = reduce(dict(&entries), &props).unwrap();
        let list = ParticipantListData::decode(r.changes[&PARTICIPANT_LIST].as_ref().unwrap()).unwrap();
        let users: Vec<_> = list.users().map(|(u, r)| (u.name().to_owned(), r)).collect();
        assert_eq!(users, vec![("a".to_owned(), 2), ("b".to_owned(), 3)]);
        assert_eq!(r.changes[&0x8001].as_deref(), Some(&b"x"[..]));
        assert_eq!(r.participant_changes.len(), 2);
    }

    #[test]
    fn extension_rules() {
        let entries = vec![(0x8001, b"old".to_vec())];
        let d = dict(&entries);
        // unknown (non-private, non-GREASE, non-MIMI) component
        let e = reduce(&d, &[AppDataUpdateProposal::update(0x0024, vec![])]).unwrap_err();
        assert!(matches!(e, Error::InvalidUpdate { component: 0x0024, reason: Invalid::UnknownComponent }));
        // the component lists of mls-extensions-10 are fixed, whatever the operation
        for (id, op) in [
            (
                APP_COMPONENTS_COMPONENT_ID,
                AppDataUpdateProposal::update(APP_COMPONENTS_COMPONENT_ID, vec![0x02, 0x00, 0x01]),
            ),
            (SAFE_AAD_COMPONENT_ID, AppDataUpdateProposal::update(SAFE_AAD_COMPONENT_ID, vec![0x00])),
            (SAFE_AAD_COMPONENT_ID, AppDataUpdateProposal::remove(SAFE_AAD_COMPONENT_ID)),
        ] {
            let e = reduce(&d, &[op]).unwrap_err();
            assert!(
                matches!(e, Error::InvalidUpdate { component, reason: Invalid::FixedComponent } if component == id)
            );
        }
        // GREASE is ignored
        let r = reduce(&d, &[AppDataUpdateProposal::update(0x3a3a, vec![1])]).unwrap();
        assert!(r.changes.is_empty());
        // remove + update
        let e = reduce(&d, &[AppDataUpdateProposal::remove(0x8001), AppDataUpdateProposal::update(0x8001, vec![])])
            .unwrap_err();
        assert!(matches!(e, Error::InvalidUpdate { reason: Invalid::RemoveWithOtherOperations, .. }));
        // remove of absent
        let e = reduce(&d, &[AppDataUpdateProposal::remove(0x8002)]).unwrap_err();
        assert!(matches!(e, Error::InvalidUpdate { reason: Invalid::RemoveOfAbsent, .. }));
        // remove of present
        let r = reduce(&d, &[AppDataUpdateProposal::remove(0x8001)]).unwrap();
        assert_eq!(r.changes[&0x8001], None);
        // private: last update wins
        let r = reduce(
            &d,
            &[AppDataUpdateProposal::update(0x8001, vec![1]), AppDataUpdateProposal::update(0x8001, vec![2])],
        )
        .unwrap();
        assert_eq!(r.changes[&0x8001].as_deref(), Some(&[2u8][..]));
        // two metadata updates
        let m = RoomMetaData::named("mimi://a.example/r/x", "x").encode().unwrap();
        let e = reduce(
            &d,
            &[
                AppDataUpdateProposal::update(ROOM_METADATA, m.clone()),
                AppDataUpdateProposal::update(ROOM_METADATA, m.clone()),
            ],
        )
        .unwrap_err();
        assert!(matches!(e, Error::InvalidUpdate { reason: Invalid::MultipleUpdates(2), .. }));
        // undecodable metadata
        let e = reduce(&d, &[AppDataUpdateProposal::update(ROOM_METADATA, vec![9, 9])]).unwrap_err();
        assert!(matches!(e, Error::Decode { component: ROOM_METADATA, .. }));
    }
}
