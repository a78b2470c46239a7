//! `participant_list.json`: `ParticipantListUpdate`s (protocol-06 §7.5) applied to lists by
//! `mimi_appsync::components::participant_list::apply_updates`, with the pinned semantics (docs/DIVERGENCES.md):
//! indices refer to the list before each update; role changes, then removals (as a set, order kept), then
//! appends; several updates in one commit apply in order; a commit touching the same user twice is invalid.
//!
//! Each entry's `hex` is the commit's updates concatenated in commit order (each is self-delimiting);
//! `fields.before`, `fields.updates[]` and `fields.after` give each list and update readable and as hex, and
//! for an invalid commit `fields.after` is null and `note` names the typed error.

use mimi_appsync::components::participant_list::{
    apply_updates, ParticipantListData, ParticipantListUpdate, UserRolePair, UserindexRolePair,
};
use mimi_appsync::components::Component;
use mimi_protocol::WireError;
use serde_json::{json, Value as Json};
use tls_codec::{DeserializeBytes, Serialize, VLBytes};

use super::forms::{At, Form};
use super::render::hex;
use super::{check_decodes, entry, Entry, Vector};
use crate::inspect::Structure;
use crate::Error;

/// The participant-list updates of one commit, in commit order; encoded as their concatenation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatesOfCommit(pub Vec<ParticipantListUpdate>);

impl Vector for ParticipantListData {
    const STRUCT: &'static str = "ParticipantListData";

    fn encode_vector(&self) -> Result<Vec<u8>, Error> {
        Ok(Component::encode(self)?)
    }

    fn decode_vector(bytes: &[u8]) -> Result<Self, Error> {
        <Self as Component>::decode(bytes).map_err(|e| malformed_at(bytes).unwrap_or(e.into()))
    }
}

/// Where the grammar of a `ParticipantListData` breaks in `bytes` (its pairs read one by one), if it does.
fn malformed_at(bytes: &[u8]) -> Option<Error> {
    let what = ParticipantListData::STRUCT;
    let malformed = |offset: usize, source| Some(WireError::Decode { what, offset, source }.into());
    let (length, mut rest) = match VLBytes::tls_deserialize_bytes(bytes) {
        // The list's length prefix and content: read the content pair by pair.
        Ok((list, after)) => (list.as_slice().len(), &bytes[bytes.len() - after.len() - list.as_slice().len()..]),
        Err(source) => return malformed(0, source),
    };
    let end = bytes.len() - rest.len() + length;
    rest = &rest[..length];
    while !rest.is_empty() {
        let offset = end - rest.len();
        match UserRolePair::tls_deserialize_bytes(rest) {
            Ok((_, after)) => rest = after,
            Err(source) => return malformed(offset, source),
        }
    }
    (end != bytes.len()).then(|| WireError::TrailingData { what, trailing: bytes.len() - end }.into())
}

impl Vector for UpdatesOfCommit {
    const STRUCT: &'static str = "ParticipantListUpdate";

    fn encode_vector(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        for update in &self.0 {
            update.tls_serialize(&mut out).map_err(|source| Error::Tls { structure: Self::STRUCT, source })?;
        }
        Ok(out)
    }

    fn decode_vector(bytes: &[u8]) -> Result<Self, Error> {
        let mut updates = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let offset = bytes.len() - rest.len();
            let (update, after) = ParticipantListUpdate::tls_deserialize_bytes(rest)
                .map_err(|source| WireError::Decode { what: Self::STRUCT, offset, source })?;
            updates.push(update);
            rest = after;
        }
        Ok(Self(updates))
    }
}

impl Form for ParticipantListData {
    fn to_json(&self) -> Result<Json, Error> {
        list_fields(self)
    }

    fn from_json(at: &At<'_>) -> Result<Self, Error> {
        let list = ParticipantListData { participants: at.get("participants")?.list(pair_from)? };
        agrees_with_hex(at, &list)?;
        Ok(list)
    }
}

impl Form for UpdatesOfCommit {
    /// `{"updates": [...]}`, each update as in `fields.updates` of `participant_list.json`.
    fn to_json(&self) -> Result<Json, Error> {
        Ok(json!({ "updates": self.0.iter().map(update_fields).collect::<Result<Vec<_>, _>>()? }))
    }

    fn from_json(at: &At<'_>) -> Result<Self, Error> {
        let updates = at.get("updates")?.list(|u| {
            let update = ParticipantListUpdate {
                changed_role_participants: u.get("changedRoleParticipants")?.list(|c| {
                    Ok(UserindexRolePair {
                        user_index: c.get("userIndex")?.u32()?,
                        role_index: c.get("roleIndex")?.u32()?,
                    })
                })?,
                removed_indices: u.get("removedIndices")?.list(At::u32)?,
                added_participants: u.get("addedParticipants")?.list(pair_from)?,
            };
            agrees_with_hex(u, &UpdatesOfCommit(vec![update.clone()]))?;
            Ok(update)
        })?;
        Ok(UpdatesOfCommit(updates))
    }
}

fn pair_from(at: &At<'_>) -> Result<UserRolePair, Error> {
    Ok(UserRolePair { user: at.get("user")?.str()?.as_bytes().to_vec(), role_index: at.get("roleIndex")?.u32()? })
}

/// The readable form is what counts on input; its `hex`, if given, must agree with it.
fn agrees_with_hex<T: Vector>(at: &At<'_>, value: &T) -> Result<(), Error> {
    if let Some(given) = at.opt("hex") {
        if given.hex()? != value.encode_vector()? {
            return Err(given.fail("does not match the readable fields (remove it, or fix it)"));
        }
    }
    Ok(())
}

/// `ParticipantListData` and `ParticipantListUpdate` (concatenated updates), for `mimi-interop decode|encode`.
pub const STRUCTURES: &[Structure] = &[Structure::of::<ParticipantListData>(), Structure::of::<UpdatesOfCommit>()];

/// Decodes `bytes` as the structure named `structure` (`ParticipantListUpdate`: concatenated updates).
pub fn check_struct(structure: &str, bytes: &[u8]) -> Result<(), Error> {
    match structure {
        s if s == UpdatesOfCommit::STRUCT => check_decodes::<UpdatesOfCommit>(bytes),
        s if s == ParticipantListData::STRUCT => check_decodes::<ParticipantListData>(bytes),
        other => Err(Error::UnknownStruct(other.to_owned())),
    }
}

fn user(name: &str) -> Vec<u8> {
    format!("mimi://a.example/u/{name}").into_bytes()
}

fn list(entries: &[(&str, u32)]) -> ParticipantListData {
    ParticipantListData {
        participants: entries.iter().map(|(n, r)| UserRolePair { user: user(n), role_index: *r }).collect(),
    }
}

fn pair_fields(p: &UserRolePair) -> Json {
    json!({ "user": String::from_utf8_lossy(&p.user), "roleIndex": p.role_index })
}

/// The readable list with its encoding.
pub fn list_fields(l: &ParticipantListData) -> Result<Json, Error> {
    Ok(json!({
        "participants": l.participants.iter().map(pair_fields).collect::<Vec<_>>(),
        "hex": hex(&l.encode_vector()?),
    }))
}

/// The readable update with its encoding.
pub fn update_fields(u: &ParticipantListUpdate) -> Result<Json, Error> {
    Ok(json!({
        "changedRoleParticipants": u.changed_role_participants.iter()
            .map(|c| json!({ "userIndex": c.user_index, "roleIndex": c.role_index })).collect::<Vec<_>>(),
        "removedIndices": u.removed_indices,
        "addedParticipants": u.added_participants.iter().map(pair_fields).collect::<Vec<_>>(),
        "hex": hex(&UpdatesOfCommit(vec![u.clone()]).encode_vector()?),
    }))
}

fn roles(changes: &[(u32, u32)]) -> Vec<UserindexRolePair> {
    changes.iter().map(|&(user_index, role_index)| UserindexRolePair { user_index, role_index }).collect()
}

fn adds(entries: &[(&str, u32)]) -> Vec<UserRolePair> {
    list(entries).participants
}

fn update(changes: &[(u32, u32)], removed: &[u32], added: &[(&str, u32)]) -> ParticipantListUpdate {
    ParticipantListUpdate {
        changed_role_participants: roles(changes),
        removed_indices: removed.to_vec(),
        added_participants: adds(added),
    }
}

/// One application: the list before, the commit's updates, and the result or the error.
fn application(
    variant: &str,
    before: ParticipantListData,
    updates: Vec<ParticipantListUpdate>,
) -> Result<Entry, Error> {
    let mut fields = json!({
        "before": list_fields(&before)?,
        "updates": updates.iter().map(update_fields).collect::<Result<Vec<_>, _>>()?,
    });
    let outcome = apply_updates(before, &updates);
    fields["after"] = match &outcome {
        Ok((after, _)) => list_fields(after)?,
        Err(_) => Json::Null,
    };
    let made = entry(variant, &UpdatesOfCommit(updates), fields)?;
    Ok(match outcome {
        Ok(_) => made,
        Err(invalid) => made.with_note(format!("invalid: {invalid:?} ({invalid})")),
    })
}

/// Generates `participant_list.json`.
pub fn generate() -> Result<Vec<Entry>, Error> {
    let two = || list(&[("alice", 3), ("bob", 2)]);
    let four = || list(&[("a", 2), ("b", 2), ("c", 2), ("d", 2)]);
    let cases: Vec<(&str, ParticipantListData, Vec<ParticipantListUpdate>)> = vec![
        ("empty update changes nothing", two(), vec![ParticipantListUpdate::default()]),
        ("append to an empty list", ParticipantListData::default(), vec![update(&[], &[], &[("alice", 3)])]),
        ("append one", two(), vec![update(&[], &[], &[("carol", 2)])]),
        ("append two, in order", two(), vec![update(&[], &[], &[("carol", 2), ("dave", 4)])]),
        ("remove the last", two(), vec![update(&[], &[1], &[])]),
        ("remove the first", two(), vec![update(&[], &[0], &[])]),
        ("removals are a set and keep order", four(), vec![update(&[], &[2, 0], &[])]),
        ("role change", two(), vec![update(&[(1, 3)], &[], &[])]),
        ("role change to banned(1)", two(), vec![update(&[(1, 1)], &[], &[])]),
        (
            "role change, removals and append in one update (indices into the list before it)",
            four(),
            vec![update(&[(2, 3)], &[3, 0], &[("e", 2)])],
        ),
        (
            "two updates: the second's indices refer to the list after the first",
            two(),
            vec![update(&[], &[0], &[]), update(&[(0, 3)], &[], &[])],
        ),
        (
            "three updates: append, role change of another user, removal",
            four(),
            vec![update(&[], &[], &[("e", 2)]), update(&[(1, 3)], &[], &[]), update(&[], &[0], &[])],
        ),
        ("invalid: removal index out of range", two(), vec![update(&[], &[2], &[])]),
        ("invalid: role change index out of range", two(), vec![update(&[(5, 3)], &[], &[])]),
        (
            "invalid: the second update's index is checked against the list after the first",
            two(),
            vec![update(&[], &[1], &[]), update(&[], &[1], &[])],
        ),
        ("invalid: same user changed and removed in one update", two(), vec![update(&[(0, 3)], &[0], &[])]),
        ("invalid: same index removed twice", two(), vec![update(&[], &[1, 1], &[])]),
        (
            "invalid: same user removed then re-added by a later update",
            two(),
            vec![update(&[], &[1], &[]), update(&[], &[], &[("bob", 2)])],
        ),
        ("invalid: append of a listed user", two(), vec![update(&[], &[], &[("alice", 2)])]),
        ("invalid: append with role 0", two(), vec![update(&[], &[], &[("carol", 0)])]),
        ("invalid: role change to 0", two(), vec![update(&[(1, 0)], &[], &[])]),
        (
            "invalid: append of a client URI instead of a user URI",
            two(),
            vec![ParticipantListUpdate {
                added_participants: vec![UserRolePair {
                    user: b"mimi://a.example/d/carol/phone".to_vec(),
                    role_index: 2,
                }],
                ..Default::default()
            }],
        ),
    ];
    cases.into_iter().map(|(variant, before, updates)| application(variant, before, updates)).collect()
}
