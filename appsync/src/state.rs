//! The room state a policy decision is made against: the decoded dictionary plus the members.
//!
//! [`RoomState`] is built from what both a client and the hub hold before a commit: the
//! GroupContext's `app_data_dictionary` and the MLS members (as client URIs). The policy engine
//! derives the state after a commit from it with the same reducer, so both sides compare the
//! same values.

use std::collections::{BTreeMap, BTreeSet};

use openmls::component::ComponentId;
use openmls::prelude::GroupContext;

use crate::components::base_policy::BaseRoomPolicy;
use crate::components::participant_list::ParticipantListData;
use crate::components::preauth::PreAuthData;
use crate::components::roles::RoleData;
use crate::components::room_metadata::RoomMetaData;
use crate::components::{Component, BASE_ROOM_POLICY, PARTICIPANT_LIST, PREAUTH_LIST, ROLES_LIST, ROOM_METADATA};
use crate::error::Error;
use crate::uri::{ClientUri, UserUri};

/// Room state at one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomState {
    /// The raw dictionary (component ID → data), including components this crate only carries.
    pub dictionary: BTreeMap<ComponentId, Vec<u8>>,
    /// `participant_list`, empty if absent.
    pub participants: ParticipantListData,
    /// `roles_list`, empty if absent (then no capability is held by anyone).
    pub roles: RoleData,
    /// `preauth_list`, empty if absent.
    pub preauth: PreAuthData,
    /// `base_room_policy`, the draft's defaults if absent.
    pub base_policy: BaseRoomPolicy,
    /// `room_metadata`, all fields empty if absent.
    pub metadata: RoomMetaData,
    /// The MLS members, as client URIs (one entry per leaf).
    pub members: Vec<ClientUri>,
}

fn decode_or_default<C: Component + Default>(dictionary: &BTreeMap<ComponentId, Vec<u8>>) -> Result<C, Error> {
    dictionary.get(&C::ID).map(|bytes| C::decode(bytes)).transpose().map(Option::unwrap_or_default)
}

impl RoomState {
    /// Decodes the MIMI components of `dictionary`; `members` are the group's clients.
    pub fn new(dictionary: BTreeMap<ComponentId, Vec<u8>>, members: Vec<ClientUri>) -> Result<Self, Error> {
        Ok(Self {
            participants: decode_or_default(&dictionary)?,
            roles: decode_or_default(&dictionary)?,
            preauth: decode_or_default(&dictionary)?,
            base_policy: decode_or_default(&dictionary)?,
            metadata: decode_or_default(&dictionary)?,
            dictionary,
            members,
        })
    }

    /// Reads the dictionary of an openmls GroupContext.
    pub fn from_group_context(context: &GroupContext, members: Vec<ClientUri>) -> Result<Self, Error> {
        Self::new(dictionary_of(context), members)
    }

    /// The role of `user` (`None` if not listed).
    pub fn role_of(&self, user: &UserUri) -> Option<u32> {
        self.participants.role_of(user)
    }

    /// The clients of `user` in the group.
    pub fn clients_of<'a>(&'a self, user: &'a UserUri) -> impl Iterator<Item = &'a ClientUri> + 'a {
        self.members.iter().filter(move |c| &c.user() == user)
    }

    /// Users with at least one client in the group.
    pub fn active_users(&self) -> BTreeSet<UserUri> {
        self.members.iter().map(ClientUri::user).collect()
    }

    /// Per role: (participants, active participants).
    pub fn role_counts(&self) -> BTreeMap<u32, (u32, u32)> {
        let active = self.active_users();
        let mut counts: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
        for (user, role) in self.participants.users() {
            let entry = counts.entry(role).or_default();
            entry.0 += 1;
            if active.contains(&user) {
                entry.1 += 1;
            }
        }
        counts
    }
}

/// The `app_data_dictionary` of a GroupContext as a map (empty if the extension is absent).
pub fn dictionary_of(context: &GroupContext) -> BTreeMap<ComponentId, Vec<u8>> {
    context
        .extensions()
        .app_data_dictionary()
        .map(|ext| ext.dictionary().entries().map(|e| (e.id(), e.data().to_vec())).collect())
        .unwrap_or_default()
}

/// Builds the initial dictionary of a room (creator side), every component encoded.
pub fn initial_dictionary(
    participants: &ParticipantListData,
    roles: &RoleData,
    preauth: Option<&PreAuthData>,
    base_policy: &BaseRoomPolicy,
    metadata: Option<&RoomMetaData>,
) -> Result<BTreeMap<ComponentId, Vec<u8>>, Error> {
    let mut d = BTreeMap::new();
    d.insert(PARTICIPANT_LIST, participants.encode()?);
    d.insert(ROLES_LIST, roles.encode()?);
    d.insert(BASE_ROOM_POLICY, base_policy.encode()?);
    if let Some(p) = preauth {
        d.insert(PREAUTH_LIST, p.encode()?);
    }
    if let Some(m) = metadata {
        d.insert(ROOM_METADATA, m.encode()?);
    }
    Ok(d)
}
