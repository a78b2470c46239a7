//! `roles_list` (0x0025): role-based access control (room-policy-04 §2, capabilities §8, IANA §10).
//!
//! Every participant has exactly one role; a role lists capabilities, participant-count
//! constraints and the `authorized_role_changes` table that the policy engine consults for adds,
//! removals, bans and role changes. An AppDataUpdate `update` (`RoleUpdate`) replaces the whole
//! list. Role index 0 describes non-participants; index 1, when named `banned`, is the ban role.

use std::collections::BTreeSet;

use tls_codec::{TlsDeserializeBytes, TlsSerialize, TlsSize};

use super::{check_utf8, Component, ROLES_LIST};
use crate::reducer::Invalid;

/// room-policy-04 §2 `CapabilityType` (the "MIMI Role Capabilities" registry, §10.2).
pub type CapabilityType = u16;

/// The capability values of the room-policy-04 registry (§10.2), named as in the draft.
pub mod capability {
    use super::CapabilityType;

    macro_rules! caps {
        ($($name:ident = $value:literal, $text:literal;)*) => {
            $(
                #[doc = concat!("`", $text, "`")]
                pub const $name: CapabilityType = $value;
            )*
            /// The draft's name of a registered capability.
            pub fn name(cap: CapabilityType) -> Option<&'static str> {
                match cap {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        };
    }

    caps! {
        CAN_ADD_PARTICIPANT = 0x0000, "canAddParticipant";
        CAN_REMOVE_PARTICIPANT = 0x0001, "canRemoveParticipant";
        CAN_ADD_OWN_CLIENT = 0x0002, "canAddOwnClient";
        CAN_REMOVE_OWN_CLIENT = 0x0003, "canRemoveOwnClient";
        CAN_OPEN_JOIN = 0x0004, "canOpenJoin";
        CAN_JOIN_IF_PREAUTHORIZED = 0x0005, "canJoinIfPreauthorized";
        CAN_REMOVE_SELF = 0x0006, "canRemoveSelf";
        CAN_CREATE_JOIN_CODE = 0x0007, "canCreateJoinCode";
        CAN_DELETE_JOIN_CODE = 0x0008, "canDeleteJoinCode";
        CAN_USE_JOIN_CODE = 0x0009, "canUseJoinCode";
        CAN_BAN = 0x000a, "canBan";
        CAN_UNBAN = 0x000b, "canUnBan";
        CAN_KICK = 0x000c, "canKick";
        CAN_KNOCK = 0x000d, "canKnock";
        CAN_ACCEPT_KNOCK = 0x000e, "canAcceptKnock";
        CAN_CHANGE_USER_ROLE = 0x000f, "canChangeUserRole";
        CAN_CHANGE_OWN_ROLE = 0x0010, "canChangeOwnRole";
        CAN_CREATE_SUBGROUP = 0x0011, "canCreateSubgroup";
        CAN_SEND_MESSAGE = 0x0100, "canSendMessage";
        CAN_RECEIVE_MESSAGE = 0x0101, "canReceiveMessage";
        CAN_COPY_MESSAGE = 0x0102, "canCopyMessage";
        CAN_REPORT_ABUSE = 0x0103, "canReportAbuse";
        CAN_REPLY_TO_MESSAGE = 0x0104, "canReplyToMessage";
        CAN_REACT_TO_MESSAGE = 0x0105, "canReactToMessage";
        CAN_EDIT_REACTION = 0x0106, "canEditReaction";
        CAN_DELETE_OWN_REACTION = 0x0107, "canDeleteOwnReaction";
        CAN_DELETE_OTHER_REACTION = 0x0108, "canDeleteOtherReaction";
        CAN_EDIT_OWN_MESSAGE = 0x0109, "canEditOwnMessage";
        CAN_DELETE_OWN_MESSAGE = 0x010a, "canDeleteOwnMessage";
        CAN_DELETE_OTHER_MESSAGE = 0x010b, "canDeleteOtherMessage";
        CAN_START_TOPIC = 0x010c, "canStartTopic";
        CAN_REPLY_IN_TOPIC = 0x010d, "canReplyInTopic";
        CAN_EDIT_OWN_TOPIC = 0x010e, "canEditOwnTopic";
        CAN_EDIT_OTHER_TOPIC = 0x010f, "canEditOtherTopic";
        CAN_SEND_DIRECT_MESSAGE = 0x0110, "canSendDirectMessage";
        CAN_TARGET_MESSAGE = 0x0111, "canTargetMessage";
        CAN_UPLOAD_IMAGE = 0x0200, "canUploadImage";
        CAN_UPLOAD_AUDIO = 0x0201, "canUploadAudio";
        CAN_UPLOAD_VIDEO = 0x0202, "canUploadVideo";
        CAN_UPLOAD_ATTACHMENT = 0x0203, "canUploadAttachment";
        CAN_DOWNLOAD_IMAGE = 0x0204, "canDownloadImage";
        CAN_DOWNLOAD_AUDIO = 0x0205, "canDownloadAudio";
        CAN_DOWNLOAD_VIDEO = 0x0206, "canDownloadVideo";
        CAN_DOWNLOAD_ATTACHMENT = 0x0207, "canDownloadAttachment";
        CAN_SEND_LINK = 0x0208, "canSendLink";
        CAN_SEND_LINK_PREVIEW = 0x0209, "canSendLinkPreview";
        CAN_FOLLOW_LINK = 0x020a, "canFollowLink";
        CAN_COPY_LINK = 0x020b, "canCopyLink";
        CAN_CHANGE_ROOM_NAME = 0x0300, "canChangeRoomName";
        CAN_CHANGE_ROOM_DESCRIPTION = 0x0301, "canChangeRoomDescription";
        CAN_CHANGE_ROOM_AVATAR = 0x0302, "canChangeRoomAvatar";
        CAN_CHANGE_ROOM_SUBJECT = 0x0303, "canChangeRoomSubject";
        CAN_CHANGE_ROOM_MOOD = 0x0304, "canChangeRoomMood";
        CAN_CHANGE_OWN_NAME = 0x0380, "canChangeOwnName";
        CAN_CHANGE_OWN_PRESENCE = 0x0381, "canChangeOwnPresence";
        CAN_CHANGE_OWN_MOOD = 0x0382, "canChangeOwnMood";
        CAN_CHANGE_OWN_AVATAR = 0x0383, "canChangeOwnAvatar";
        CAN_START_CALL = 0x0400, "canStartCall";
        CAN_JOIN_CALL = 0x0401, "canJoinCall";
        CAN_SEND_AUDIO = 0x0402, "canSendAudio";
        CAN_RECEIVE_AUDIO = 0x0403, "canReceiveAudio";
        CAN_SEND_VIDEO = 0x0404, "canSendVideo";
        CAN_RECEIVE_VIDEO = 0x0405, "canReceiveVideo";
        CAN_SHARE_SCREEN = 0x0406, "canShareScreen";
        CAN_VIEW_SHARED_SCREEN = 0x0407, "canViewSharedScreen";
        CAN_CREATE_ROOM = 0x0500, "canCreateRoom";
        CAN_DESTROY_ROOM = 0x0501, "canDestroyRoom";
        CAN_CHANGE_ROOM_MEMBERSHIP_STYLE = 0x0502, "canChangeRoomMembershipStyle";
        CAN_CHANGE_ROLE_DEFINITIONS = 0x0503, "canChangeRoleDefinitions";
        CAN_CHANGE_PREAUTHORIZED_USER_LIST = 0x0504, "canChangePreauthorizedUserList";
        CAN_CHANGE_OTHER_POLICY_ATTRIBUTE = 0x0505, "canChangeOtherPolicyAttribute";
        CAN_CHANGE_MLS_OPERATIONAL_POLICIES = 0x0600, "canChangeMlsOperationalPolicies";
        CAN_SEND_MLS_REINIT_PROPOSAL = 0x0601, "canSendMLSReinitProposal";
        CAN_SEND_MLS_UPDATE_PROPOSAL = 0x0602, "canSendMLSUpdateProposal";
        CAN_SEND_MLS_PSK_PROPOSAL = 0x0603, "canSendMLSPSKProposal";
        CAN_SEND_MLS_EXTERNAL_PROPOSAL = 0x0604, "canSendMLSExternalProposal";
        CAN_SEND_MLS_EXTERNAL_COMMIT = 0x0605, "canSendMLSExternalCommit";
    }
}

/// The role index reserved for "not in the participant list" (room-policy-04 §2).
pub const NO_ROLE: u32 = 0;
/// The role index of the `banned` role, when it exists (room-policy-04 §8.1.3, `canBan`).
pub const BANNED_ROLE: u32 = 1;
/// The required name of role 1 for `canBan`/`canUnBan`.
pub const BANNED_ROLE_NAME: &[u8] = b"banned";

/// One row of `authorized_role_changes`: room-policy-04 §2 `SingleSourceRoleChangeTargets`.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct SingleSourceRoleChangeTargets {
    /// The role a target user has now (0 = not listed).
    pub from_role_index: u32,
    /// The roles the holder may move it to (0 = remove from the list).
    pub target_role_indexes: Vec<u32>,
}

/// One role: room-policy-04 §2 `Role`.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Role {
    /// The index participants refer to; unique in the list.
    pub role_index: u32,
    /// Human-readable name (`banned` for index 1 if bans are used).
    pub role_name: Vec<u8>,
    /// Free text, may be empty.
    pub role_description: Vec<u8>,
    /// The capabilities of holders of this role.
    pub role_capabilities: Vec<CapabilityType>,
    /// Fewest participants that must hold the role (0 = no minimum).
    pub minimum_participants_constraint: u32,
    /// Most participants that may hold the role (absent = unlimited).
    pub maximum_participants_constraint: Option<u32>,
    /// Fewest holders that must have at least one client in the group.
    pub minimum_active_participants_constraint: u32,
    /// Most holders that may have clients in the group (0 = holders may have no clients).
    pub maximum_active_participants_constraint: Option<u32>,
    /// Which role transitions a holder may perform on others (and on itself for leaving).
    pub authorized_role_changes: Vec<SingleSourceRoleChangeTargets>,
}

/// The component data and update: room-policy-04 §2 `RoleData` (= `RoleUpdate`).
#[derive(Debug, Clone, PartialEq, Eq, Default, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct RoleData {
    /// All roles of the room.
    pub roles: Vec<Role>,
}

impl Role {
    /// Whether the role holds `cap`.
    pub fn has(&self, cap: CapabilityType) -> bool {
        self.role_capabilities.contains(&cap)
    }

    /// Whether `authorized_role_changes` has an entry `from` whose targets include `to`.
    pub fn allows_change(&self, from: u32, to: u32) -> bool {
        self.authorized_role_changes.iter().any(|e| e.from_role_index == from && e.target_role_indexes.contains(&to))
    }

    /// Whether holders of this role may have clients in the group.
    pub fn allows_clients(&self) -> bool {
        self.maximum_active_participants_constraint != Some(0)
    }
}

impl RoleData {
    /// The role with index `index`.
    pub fn role(&self, index: u32) -> Option<&Role> {
        self.roles.iter().find(|r| r.role_index == index)
    }

    /// Whether role 1 exists and is named `banned` (precondition of `canBan`/`canUnBan`).
    pub fn has_banned_role(&self) -> bool {
        self.role(BANNED_ROLE).is_some_and(|r| r.role_name.as_slice() == BANNED_ROLE_NAME)
    }
}

impl Component for RoleData {
    const ID: u16 = ROLES_LIST;

    fn validate(&self) -> Result<(), Invalid> {
        let mut seen = BTreeSet::new();
        for role in &self.roles {
            if !seen.insert(role.role_index) {
                return Err(Invalid::DuplicateRole(role.role_index));
            }
            check_utf8(role.role_name.as_slice(), "role_name")?;
            check_utf8(role.role_description.as_slice(), "role_description")?;
            if role.role_index != NO_ROLE && role.has(capability::CAN_OPEN_JOIN) {
                return Err(Invalid::OpenJoinOnNonZeroRole(role.role_index));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_roundtrip() {
        assert_eq!(capability::name(capability::CAN_UNBAN), Some("canUnBan"));
        assert_eq!(capability::name(0xf000), None);
        let data = crate::presets::cooperative().roles;
        let bytes = data.encode().unwrap();
        assert_eq!(RoleData::decode(&bytes).unwrap(), data);
    }

    #[test]
    fn open_join_only_on_role_zero() {
        let mut data = crate::presets::cooperative().roles;
        data.roles[2].role_capabilities.push(capability::CAN_OPEN_JOIN);
        assert!(matches!(
            RoleData::decode(&data.encode().unwrap()),
            Err(crate::Error::InvalidUpdate { reason: Invalid::OpenJoinOnNonZeroRole(2), .. })
        ));
    }
}
