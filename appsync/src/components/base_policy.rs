//! `base_room_policy` (0x0027): top-level membership rules (room-policy-04 §4).
//!
//! The hub enforces `fixed_membership`, `multi_device`, `max_clients` and `max_users`; the other
//! fields are carried for clients. An AppDataUpdate `update` (`BaseRoomUpdate`) replaces the
//! whole value and needs `canChangeRoomMembershipStyle`.

use openmls::component::ComponentId;
use tls_codec::{TlsDeserializeBytes, TlsSerialize, TlsSize};

use super::room_metadata::Uri;
use super::{Bool, Component, BASE_ROOM_POLICY};

/// The component data and update: room-policy-04 §4 `BaseRoomPolicy`.
///
/// Field name `parent_dependant` is spelled as in the draft's structure.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct BaseRoomPolicy {
    /// No user may be added to the list after creation, and none may leave or be removed.
    pub fixed_membership: Bool,
    /// Participants must be a subset of the parent room's (enforced by the hub, not here).
    pub parent_dependant: Bool,
    /// The parent room's URI when `parent_dependant`; the draft declares it as a vector.
    pub parent_room: Vec<Uri>,
    /// Whether a user may have more than one client in the group.
    pub multi_device: Bool,
    /// Most clients (MLS members) the group may have.
    pub max_clients: Option<u32>,
    /// Most non-banned entries the participant list may have.
    pub max_users: Option<u32>,
    /// Whether pseudonymous credentials are allowed (client-enforced).
    pub pseudonyms_allowed: Bool,
    /// Whether the room outlives its MLS group (client/provider-enforced).
    pub persistent_room: Bool,
    /// Whether the room is searchable (provider-enforced).
    pub discoverable: Bool,
    /// The other policy components in force (the draft's undefined `Component` = `ComponentID`).
    pub policy_component_ids: Vec<ComponentId>,
}

impl Default for BaseRoomPolicy {
    /// The draft's defaults: multi-device, no limits, everything else off.
    fn default() -> Self {
        Self {
            fixed_membership: Bool(false),
            parent_dependant: Bool(false),
            parent_room: Vec::new(),
            multi_device: Bool(true),
            max_clients: None,
            max_users: None,
            pseudonyms_allowed: Bool(false),
            persistent_room: Bool(false),
            discoverable: Bool(false),
            policy_component_ids: Vec::new(),
        }
    }
}

impl Component for BaseRoomPolicy {
    const ID: u16 = BASE_ROOM_POLICY;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_bool_strictness() {
        let p =
            BaseRoomPolicy { max_clients: Some(4), policy_component_ids: vec![0x0025, 0x0026], ..Default::default() };
        let bytes = p.encode().unwrap();
        assert_eq!(BaseRoomPolicy::decode(&bytes).unwrap(), p);
        let mut bad = bytes.clone();
        bad[0] = 2; // fixed_membership
        assert!(BaseRoomPolicy::decode(&bad).is_err());
    }
}
