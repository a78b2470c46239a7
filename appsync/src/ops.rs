//! Client-side builders for user-level operations.
//!
//! A user-level operation (invite a user with all its devices, remove or ban a user with all its
//! devices, …) is a participant-list change plus the matching MLS Adds and Removes, which must
//! travel in one commit. [`UserOperation`] collects them; the constructors here build them from
//! the group's current state, and [`commit`] turns one into a commit (computing the new
//! dictionary with the same reducer the receivers run). Leaving is different: a member cannot
//! commit its own removal, so [`leave`] sends proposals (Remove or SelfRemove of its own leaf)
//! for another member to commit.

use openmls::prelude::*;
use openmls_traits::signatures::Signer;

use crate::components::participant_list::{ParticipantListUpdate, UserRolePair, UserindexRolePair};
use crate::components::roles::BANNED_ROLE;
use crate::components::room_metadata::RoomMetaData;
use crate::components::{encode_struct, Component, PARTICIPANT_LIST};
use crate::error::Error;
use crate::reducer;
use crate::uri::{ClientUri, UserUri};

/// The proposals of one user-level operation, to be committed together.
#[derive(Debug, Default)]
pub struct UserOperation {
    /// AppDataUpdate proposals, in order.
    pub app_data: Vec<AppDataUpdateProposal>,
    /// KeyPackages of clients to add.
    pub adds: Vec<KeyPackage>,
    /// Leaves to remove.
    pub removes: Vec<LeafNodeIndex>,
}

fn openmls_err(e: impl std::fmt::Display) -> Error {
    Error::OpenMls(e.to_string())
}

fn participant_update(update: &ParticipantListUpdate) -> Result<AppDataUpdateProposal, Error> {
    Ok(AppDataUpdateProposal::update(PARTICIPANT_LIST, encode_struct(PARTICIPANT_LIST, update)?))
}

/// The leaves of `user`'s clients in `group`.
pub fn leaves_of(group: &PublicGroup, user: &UserUri) -> Vec<LeafNodeIndex> {
    group
        .members()
        .filter(|m| {
            BasicCredential::try_from(m.credential.clone())
                .ok()
                .and_then(|b| ClientUri::from_bytes(b.identity()).ok())
                .is_some_and(|c| &c.user() == user)
        })
        .map(|m| m.index)
        .collect()
}

/// `user`'s index in the group's participant list.
fn index_of(group: &PublicGroup, user: &UserUri) -> Result<u32, Error> {
    let state = crate::adapter::room_state(group)?;
    state
        .participants
        .participants
        .iter()
        .position(|p| p.user.as_slice() == user.as_bytes())
        .and_then(|i| u32::try_from(i).ok())
        .ok_or_else(|| Error::OpenMls(format!("{user} is not in the participant list")))
}

/// Invite `user` with `role`, adding all of its clients (`key_packages`) in the same commit.
pub fn invite_user(user: &UserUri, role: u32, key_packages: Vec<KeyPackage>) -> Result<UserOperation, Error> {
    Ok(UserOperation {
        app_data: vec![participant_update(&ParticipantListUpdate {
            added_participants: vec![UserRolePair { user: user.as_bytes().to_vec(), role_index: role }],
            ..Default::default()
        })?],
        adds: key_packages,
        removes: Vec::new(),
    })
}

/// Remove `user` from the list and all of its clients from the group.
pub fn remove_user(group: &PublicGroup, user: &UserUri) -> Result<UserOperation, Error> {
    Ok(UserOperation {
        app_data: vec![participant_update(&ParticipantListUpdate {
            removed_indices: vec![index_of(group, user)?],
            ..Default::default()
        })?],
        adds: Vec::new(),
        removes: leaves_of(group, user),
    })
}

/// Change `user`'s role (also used for one's own role change).
pub fn change_role(group: &PublicGroup, user: &UserUri, role: u32) -> Result<UserOperation, Error> {
    Ok(UserOperation {
        app_data: vec![participant_update(&ParticipantListUpdate {
            changed_role_participants: vec![UserindexRolePair { user_index: index_of(group, user)?, role_index: role }],
            ..Default::default()
        })?],
        ..Default::default()
    })
}

/// Ban `user`: role 1 (`banned`) and all its clients removed.
pub fn ban_user(group: &PublicGroup, user: &UserUri) -> Result<UserOperation, Error> {
    let mut op = change_role(group, user, BANNED_ROLE)?;
    op.removes = leaves_of(group, user);
    Ok(op)
}

/// Unban `user` to `role` (its clients are not re-added).
pub fn unban_user(group: &PublicGroup, user: &UserUri, role: u32) -> Result<UserOperation, Error> {
    change_role(group, user, role)
}

/// Replace the room metadata.
pub fn set_room_metadata(metadata: &RoomMetaData) -> Result<UserOperation, Error> {
    Ok(UserOperation {
        app_data: vec![AppDataUpdateProposal::update(RoomMetaData::ID, metadata.encode()?)],
        ..Default::default()
    })
}

/// Add one's own new device(s) as a member (the device itself can also join by external commit).
pub fn add_own_device(key_packages: Vec<KeyPackage>) -> UserOperation {
    UserOperation { adds: key_packages, ..Default::default() }
}

/// Remove one of one's own other devices.
pub fn remove_own_device(group: &PublicGroup, device: &ClientUri) -> Result<UserOperation, Error> {
    let leaf = group
        .members()
        .find(|m| {
            BasicCredential::try_from(m.credential.clone()).ok().is_some_and(|b| b.identity() == device.as_bytes())
        })
        .map(|m| m.index)
        .ok_or_else(|| Error::OpenMls(format!("{device} is not a member")))?;
    Ok(UserOperation { removes: vec![leaf], ..Default::default() })
}

/// Commits `op` (plus any stored proposals) from `group`: builds the commit, computing the new
/// dictionary with [`reducer::fill_updater`]. The commit is pending until the hub accepts it.
pub fn commit<P: OpenMlsProvider>(
    group: &mut MlsGroup,
    provider: &P,
    signer: &impl Signer,
    op: UserOperation,
) -> Result<CommitMessageBundle, Error> {
    let mut stage = group
        .commit_builder()
        .propose_adds(op.adds)
        .propose_removals(op.removes)
        .add_proposals(op.app_data.into_iter().map(|p| Proposal::AppDataUpdate(Box::new(p))))
        .load_psks(provider.storage())
        .map_err(openmls_err)?;
    let mut updater = stage.app_data_dictionary_updater();
    reducer::fill_updater(&mut updater, stage.app_data_update_proposals())?;
    let changes = updater.changes();
    stage.with_app_data_dictionary_updates(changes);
    stage
        .build(provider.rand(), provider.crypto(), signer, |_| true)
        .map_err(openmls_err)?
        .stage_commit(provider)
        .map_err(openmls_err)
}

/// How a leaving client proposes the removal of its own leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveVia {
    /// A Remove proposal naming its own leaf (RFC 9420).
    Remove,
    /// A SelfRemove proposal (0x000a); every leaf must support it in its capabilities.
    SelfRemove,
}

/// Leave the room: proposes (to be committed by another member) the removal of one's user
/// from the list and of all its clients, own leaf last (by Remove or SelfRemove, see
/// [`LeaveVia`]). Returns the proposal messages to send.
///
/// The committer must commit them together: room policy refuses a participant-list removal
/// that leaves a client of the user in the group. The converse is allowed: a SelfRemove (or
/// Remove) of a user's last client *without* the list update is a device removal
/// (`canRemoveOwnClient`), after which the user stays listed with no client until it adds a
/// device again; leaving the room is the list update.
pub fn leave<P: OpenMlsProvider>(
    group: &mut MlsGroup,
    provider: &P,
    signer: &impl Signer,
    me: &ClientUri,
    via: LeaveVia,
) -> Result<Vec<MlsMessageOut>, Error> {
    let user = me.user();
    let update =
        ParticipantListUpdate { removed_indices: vec![index_of(group.public_group(), &user)?], ..Default::default() };
    let bytes = encode_struct(PARTICIPANT_LIST, &update)?;
    let mut out = Vec::new();
    let (msg, _) = group
        .propose_app_data_update(provider, signer, PARTICIPANT_LIST, AppDataUpdateOperation::Update(bytes.into()))
        .map_err(openmls_err)?;
    out.push(msg);
    let own = group.own_leaf_index();
    for leaf in leaves_of(group.public_group(), &user) {
        if leaf != own {
            let (msg, _) = group.propose_remove_member(provider, signer, leaf).map_err(openmls_err)?;
            out.push(msg);
        }
    }
    out.push(
        match via {
            LeaveVia::Remove => group.leave_group(provider, signer),
            LeaveVia::SelfRemove => group.leave_group_via_self_remove(provider, signer),
        }
        .map_err(openmls_err)?,
    );
    Ok(out)
}
