//! Ready-made room policies: the four role examples of room-policy-04 Appendix A, and a simple
//! one-to-one room.
//!
//! Each preset is a [`RoomPolicy`] (roles list + base policy) that a room creator puts in the
//! initial dictionary. The role tables follow the draft exactly, with these readings of its typos:
//! capabilities not in the registry (`canRevokeVoice`, `canGrantVoice`) are left out; in the
//! moderated room `speaker` includes the capabilities of `attendee` (the draft says "of a
//! speaker") and `moderator` those of `speaker` (the draft says "of an ordinary_user", a role the
//! moderated room does not have). Reserved capabilities that have a registry value are kept.

use crate::components::base_policy::BaseRoomPolicy;
use crate::components::roles::{capability::*, CapabilityType, Role, RoleData, SingleSourceRoleChangeTargets};
use crate::components::Bool;

/// A room type: its roles and base policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPolicy {
    /// The `roles_list` component.
    pub roles: RoleData,
    /// The `base_room_policy` component.
    pub base_policy: BaseRoomPolicy,
}

/// Parameters of one role, in the order of the draft's role listings.
struct RoleSpec<'a> {
    index: u32,
    name: &'a str,
    caps: Vec<CapabilityType>,
    min: u32,
    max: Option<u32>,
    min_active: u32,
    max_active: Option<u32>,
    changes: &'a [(u32, &'a [u32])],
}

fn role(spec: RoleSpec<'_>) -> Role {
    Role {
        role_index: spec.index,
        role_name: spec.name.as_bytes().to_vec(),
        role_description: Vec::new(),
        role_capabilities: spec.caps,
        minimum_participants_constraint: spec.min,
        maximum_participants_constraint: spec.max,
        minimum_active_participants_constraint: spec.min_active,
        maximum_active_participants_constraint: spec.max_active,
        authorized_role_changes: spec
            .changes
            .iter()
            .map(|(from, to)| SingleSourceRoleChangeTargets {
                from_role_index: *from,
                target_role_indexes: to.to_vec(),
            })
            .collect(),
    }
}

fn plus(base: &[CapabilityType], extra: &[CapabilityType]) -> Vec<CapabilityType> {
    base.iter().chain(extra).copied().collect()
}

/// A role with no capabilities and no clients (`no_role` in most examples, `banned`).
fn inert(
    index: u32,
    name: &str,
    caps: Vec<CapabilityType>,
    max_active: Option<u32>,
    changes: &[(u32, &[u32])],
) -> Role {
    role(RoleSpec { index, name, caps, min: 0, max: None, min_active: 0, max_active, changes })
}

fn open(index: u32, name: &str, caps: Vec<CapabilityType>, min: u32, changes: &[(u32, &[u32])]) -> Role {
    role(RoleSpec { index, name, caps, min, max: None, min_active: 0, max_active: None, changes })
}

const POLICY_ENFORCER_CAPS: &[CapabilityType] = &[
    CAN_REMOVE_PARTICIPANT,
    CAN_CHANGE_USER_ROLE,
    CAN_BAN,
    CAN_UNBAN,
    CAN_CHANGE_ROLE_DEFINITIONS,
    CAN_CHANGE_PREAUTHORIZED_USER_LIST,
    CAN_CHANGE_MLS_OPERATIONAL_POLICIES,
    CAN_DESTROY_ROOM,
    CAN_SEND_MLS_REINIT_PROPOSAL,
];

fn policy_enforcer(index: u32, changes: &[(u32, &[u32])]) -> Role {
    role(RoleSpec {
        index,
        name: "policy_enforcer",
        caps: POLICY_ENFORCER_CAPS.to_vec(),
        min: 1,
        max: Some(2),
        min_active: 0,
        max_active: Some(0),
        changes,
    })
}

const OWN_PROFILE: &[CapabilityType] =
    &[CAN_CHANGE_OWN_NAME, CAN_CHANGE_OWN_PRESENCE, CAN_CHANGE_OWN_MOOD, CAN_CHANGE_OWN_AVATAR];

const ALL_UPLOADS_DOWNLOADS_LINKS: &[CapabilityType] = &[
    CAN_UPLOAD_IMAGE,
    CAN_UPLOAD_VIDEO,
    CAN_UPLOAD_AUDIO,
    CAN_UPLOAD_ATTACHMENT,
    CAN_DOWNLOAD_IMAGE,
    CAN_DOWNLOAD_VIDEO,
    CAN_DOWNLOAD_AUDIO,
    CAN_DOWNLOAD_ATTACHMENT,
    CAN_SEND_LINK,
    CAN_SEND_LINK_PREVIEW,
    CAN_FOLLOW_LINK,
    CAN_COPY_LINK,
];

/// Role indexes of [`cooperative`] and [`strictly_administered`].
pub mod administered_roles {
    /// `ordinary_user`.
    pub const ORDINARY_USER: u32 = 2;
    /// `group_admin`.
    pub const GROUP_ADMIN: u32 = 3;
    /// `super_admin`.
    pub const SUPER_ADMIN: u32 = 4;
    /// `policy_enforcer`.
    pub const POLICY_ENFORCER: u32 = 5;
}

const ADMIN_CHANGES: &[(u32, &[u32])] = &[(0, &[1, 2, 3]), (1, &[0, 2, 3]), (2, &[0, 1, 3]), (3, &[0, 1, 2])];
const SUPER_ADMIN_CHANGES: &[(u32, &[u32])] =
    &[(0, &[1, 2, 3, 4]), (1, &[0, 2, 3, 4]), (2, &[0, 1, 3, 4]), (3, &[0, 1, 2, 4]), (4, &[0, 1, 2, 3])];
const ENFORCER_CHANGES_5: &[(u32, &[u32])] = &[(0, &[1]), (1, &[0]), (2, &[0, 1]), (3, &[0, 1]), (4, &[0, 1])];
const USER_CHANGES_2: &[(u32, &[u32])] = &[(0, &[2]), (2, &[0])];

/// room-policy-04 Appendix A.1, "Cooperatively administered room".
pub fn cooperative() -> RoomPolicy {
    let ordinary = plus(
        &[
            CAN_ADD_PARTICIPANT,
            CAN_REMOVE_PARTICIPANT,
            CAN_ADD_OWN_CLIENT,
            CAN_REMOVE_OWN_CLIENT,
            CAN_REMOVE_SELF,
            CAN_SEND_MESSAGE,
            CAN_RECEIVE_MESSAGE,
            CAN_COPY_MESSAGE,
            CAN_REPORT_ABUSE,
            CAN_REPLY_TO_MESSAGE,
            CAN_REACT_TO_MESSAGE,
            CAN_DELETE_OWN_REACTION,
            CAN_EDIT_OWN_MESSAGE,
            CAN_DELETE_OWN_MESSAGE,
            CAN_START_TOPIC,
            CAN_REPLY_IN_TOPIC,
            CAN_EDIT_OWN_TOPIC,
        ],
        &plus(
            ALL_UPLOADS_DOWNLOADS_LINKS,
            &plus(
                &[CAN_CHANGE_ROOM_NAME, CAN_CHANGE_ROOM_AVATAR, CAN_CHANGE_ROOM_SUBJECT, CAN_CHANGE_ROOM_MOOD],
                OWN_PROFILE,
            ),
        ),
    );
    let admin = plus(
        &ordinary,
        &[
            CAN_BAN,
            CAN_UNBAN,
            CAN_KICK,
            CAN_CHANGE_USER_ROLE,
            CAN_DELETE_OTHER_MESSAGE,
            CAN_EDIT_OTHER_TOPIC,
            CAN_CHANGE_ROOM_DESCRIPTION,
        ],
    );
    let super_admin =
        plus(&admin, &[CAN_CHANGE_ROOM_MEMBERSHIP_STYLE, CAN_CHANGE_PREAUTHORIZED_USER_LIST, CAN_DESTROY_ROOM]);
    RoomPolicy {
        roles: RoleData {
            roles: vec![
                inert(0, "no_role", vec![], Some(0), &[]),
                inert(1, "banned", vec![], Some(0), &[]),
                open(2, "ordinary_user", ordinary, 0, USER_CHANGES_2),
                open(3, "group_admin", admin, 1, ADMIN_CHANGES),
                open(4, "super_admin", super_admin, 0, SUPER_ADMIN_CHANGES),
                policy_enforcer(5, ENFORCER_CHANGES_5),
            ],
        },
        base_policy: BaseRoomPolicy::default(),
    }
}

/// room-policy-04 Appendix A.2, "Strictly administered room".
pub fn strictly_administered() -> RoomPolicy {
    let ordinary = plus(
        &[
            CAN_ADD_OWN_CLIENT,
            CAN_JOIN_IF_PREAUTHORIZED,
            CAN_REMOVE_OWN_CLIENT,
            CAN_REMOVE_SELF,
            CAN_CHANGE_OWN_ROLE,
            CAN_SEND_MESSAGE,
            CAN_RECEIVE_MESSAGE,
            CAN_COPY_MESSAGE,
            CAN_REPORT_ABUSE,
            CAN_REACT_TO_MESSAGE,
            CAN_DELETE_OWN_REACTION,
            CAN_EDIT_OWN_MESSAGE,
            CAN_DELETE_OWN_MESSAGE,
            CAN_START_TOPIC,
            CAN_REPLY_IN_TOPIC,
        ],
        &plus(ALL_UPLOADS_DOWNLOADS_LINKS, OWN_PROFILE),
    );
    let admin = plus(
        &ordinary,
        &[
            CAN_ADD_PARTICIPANT,
            CAN_REMOVE_PARTICIPANT,
            CAN_BAN,
            CAN_UNBAN,
            CAN_KICK,
            CAN_CHANGE_USER_ROLE,
            CAN_CREATE_JOIN_CODE,
            CAN_DELETE_JOIN_CODE,
            CAN_DELETE_OTHER_REACTION,
            CAN_DELETE_OTHER_MESSAGE,
            CAN_EDIT_OWN_TOPIC,
            CAN_EDIT_OTHER_TOPIC,
            CAN_CHANGE_ROOM_DESCRIPTION,
            CAN_CHANGE_ROOM_NAME,
            CAN_CHANGE_ROOM_AVATAR,
            CAN_CHANGE_ROOM_SUBJECT,
            CAN_CHANGE_ROOM_MOOD,
        ],
    );
    let super_admin = plus(
        &admin,
        &[
            CAN_CHANGE_ROOM_MEMBERSHIP_STYLE,
            CAN_CHANGE_ROLE_DEFINITIONS,
            CAN_CHANGE_PREAUTHORIZED_USER_LIST,
            CAN_DESTROY_ROOM,
            CAN_SEND_MLS_REINIT_PROPOSAL,
        ],
    );
    RoomPolicy {
        roles: RoleData {
            roles: vec![
                inert(0, "no_role", vec![CAN_USE_JOIN_CODE], Some(0), &[(0, &[2])]),
                inert(1, "banned", vec![], Some(0), &[]),
                open(2, "ordinary_user", ordinary, 0, USER_CHANGES_2),
                open(3, "group_admin", admin, 1, ADMIN_CHANGES),
                open(4, "super_admin", super_admin, 0, SUPER_ADMIN_CHANGES),
                policy_enforcer(5, ENFORCER_CHANGES_5),
            ],
        },
        base_policy: BaseRoomPolicy::default(),
    }
}

/// Role indexes of [`moderated`].
pub mod moderated_roles {
    /// `guest`.
    pub const GUEST: u32 = 2;
    /// `attendee`.
    pub const ATTENDEE: u32 = 3;
    /// `speaker`.
    pub const SPEAKER: u32 = 4;
    /// `moderator`.
    pub const MODERATOR: u32 = 5;
    /// `super_admin`.
    pub const SUPER_ADMIN: u32 = 6;
    /// `policy_enforcer`.
    pub const POLICY_ENFORCER: u32 = 7;
}

/// room-policy-04 Appendix A.3, "Moderated room".
pub fn moderated() -> RoomPolicy {
    let guest = vec![
        CAN_REMOVE_SELF,
        CAN_RECEIVE_MESSAGE,
        CAN_COPY_MESSAGE,
        CAN_REACT_TO_MESSAGE,
        CAN_DELETE_OWN_REACTION,
        CAN_FOLLOW_LINK,
        CAN_COPY_LINK,
        CAN_DOWNLOAD_IMAGE,
        CAN_DOWNLOAD_VIDEO,
        CAN_DOWNLOAD_AUDIO,
    ];
    let attendee = plus(
        &guest,
        &[
            CAN_ADD_OWN_CLIENT,
            CAN_JOIN_IF_PREAUTHORIZED,
            CAN_REMOVE_OWN_CLIENT,
            CAN_CHANGE_OWN_ROLE,
            CAN_REPORT_ABUSE,
            CAN_REPLY_IN_TOPIC,
            CAN_DOWNLOAD_ATTACHMENT,
            CAN_CHANGE_OWN_NAME,
            CAN_CHANGE_OWN_PRESENCE,
            CAN_CHANGE_OWN_AVATAR,
        ],
    );
    let speaker = plus(
        &attendee,
        &[
            CAN_SEND_MESSAGE,
            CAN_EDIT_OWN_MESSAGE,
            CAN_DELETE_OWN_MESSAGE,
            CAN_START_TOPIC,
            CAN_UPLOAD_IMAGE,
            CAN_UPLOAD_VIDEO,
            CAN_UPLOAD_AUDIO,
            CAN_UPLOAD_ATTACHMENT,
            CAN_SEND_LINK,
            CAN_SEND_LINK_PREVIEW,
        ],
    );
    let moderator = plus(
        &speaker,
        &[
            CAN_ADD_PARTICIPANT,
            CAN_REMOVE_PARTICIPANT,
            CAN_BAN,
            CAN_UNBAN,
            CAN_KICK,
            CAN_CHANGE_USER_ROLE,
            CAN_CREATE_JOIN_CODE,
            CAN_DELETE_JOIN_CODE,
            CAN_DELETE_OTHER_REACTION,
            CAN_DELETE_OTHER_MESSAGE,
            CAN_EDIT_OWN_TOPIC,
            CAN_EDIT_OTHER_TOPIC,
            CAN_CHANGE_ROOM_NAME,
            CAN_CHANGE_ROOM_AVATAR,
            CAN_CHANGE_ROOM_SUBJECT,
            CAN_CHANGE_ROOM_MOOD,
        ],
    );
    let super_admin = plus(
        &moderator,
        &[
            CAN_CHANGE_ROOM_DESCRIPTION,
            CAN_CHANGE_ROOM_MEMBERSHIP_STYLE,
            CAN_CHANGE_ROLE_DEFINITIONS,
            CAN_CHANGE_PREAUTHORIZED_USER_LIST,
            CAN_DESTROY_ROOM,
            CAN_SEND_MLS_REINIT_PROPOSAL,
        ],
    );
    RoomPolicy {
        roles: RoleData {
            roles: vec![
                inert(0, "no_role", vec![CAN_USE_JOIN_CODE], None, &[(0, &[2, 3])]),
                inert(1, "banned", vec![], Some(0), &[]),
                open(2, "guest", guest, 0, &[(0, &[2]), (2, &[0])]),
                open(3, "attendee", attendee, 0, &[(0, &[3]), (3, &[0])]),
                open(4, "speaker", speaker, 0, &[(0, &[4]), (4, &[0])]),
                open(
                    5,
                    "moderator",
                    moderator,
                    1,
                    &[
                        (0, &[1, 2, 3, 4, 5]),
                        (1, &[0, 2, 3, 4, 5]),
                        (2, &[0, 1, 3, 4, 5]),
                        (3, &[0, 1, 2, 4, 5]),
                        (4, &[0, 1, 2, 3, 5]),
                        (5, &[0, 1, 2, 3, 4]),
                    ],
                ),
                open(
                    6,
                    "super_admin",
                    super_admin,
                    0,
                    &[
                        (0, &[1, 2, 3, 4, 5, 6]),
                        (1, &[0, 2, 3, 4, 5, 6]),
                        (2, &[0, 1, 3, 4, 5, 6]),
                        (3, &[0, 1, 2, 4, 5, 6]),
                        (4, &[0, 1, 2, 3, 5, 6]),
                        (5, &[0, 1, 2, 3, 4, 6]),
                        (6, &[0, 1, 2, 3, 4, 5]),
                    ],
                ),
                policy_enforcer(
                    7,
                    &[(0, &[1]), (1, &[0]), (2, &[0, 1]), (3, &[0, 1]), (4, &[0, 1]), (5, &[0, 1]), (6, &[0, 1])],
                ),
            ],
        },
        base_policy: BaseRoomPolicy::default(),
    }
}

/// Role indexes of [`multi_organization`].
pub mod multi_org_roles {
    /// `org_a_user`.
    pub const ORG_A_USER: u32 = 2;
    /// `org_b_user`.
    pub const ORG_B_USER: u32 = 3;
    /// `org_c_user`.
    pub const ORG_C_USER: u32 = 4;
    /// `org_a_admin`.
    pub const ORG_A_ADMIN: u32 = 5;
    /// `org_b_admin`.
    pub const ORG_B_ADMIN: u32 = 6;
    /// `org_c_admin`.
    pub const ORG_C_ADMIN: u32 = 7;
    /// `super_admin`.
    pub const SUPER_ADMIN: u32 = 8;
    /// `policy_enforcer`.
    pub const POLICY_ENFORCER: u32 = 9;
}

/// room-policy-04 Appendix A.4, "Multi-organization administered room".
pub fn multi_organization() -> RoomPolicy {
    let org_b_user = vec![
        CAN_REMOVE_SELF,
        CAN_ADD_OWN_CLIENT,
        CAN_REMOVE_OWN_CLIENT,
        CAN_SEND_MESSAGE,
        CAN_RECEIVE_MESSAGE,
        CAN_COPY_MESSAGE,
        CAN_REPORT_ABUSE,
        CAN_REPLY_IN_TOPIC,
        CAN_REACT_TO_MESSAGE,
        CAN_DELETE_OWN_REACTION,
        CAN_EDIT_OWN_MESSAGE,
        CAN_SEND_LINK,
        CAN_SEND_LINK_PREVIEW,
        CAN_FOLLOW_LINK,
        CAN_COPY_LINK,
        CAN_DOWNLOAD_IMAGE,
        CAN_DOWNLOAD_VIDEO,
        CAN_DOWNLOAD_AUDIO,
        CAN_DOWNLOAD_ATTACHMENT,
        CAN_CHANGE_OWN_NAME,
        CAN_CHANGE_OWN_PRESENCE,
        CAN_CHANGE_OWN_AVATAR,
    ];
    let host_extra = [CAN_CHANGE_OWN_ROLE, CAN_JOIN_IF_PREAUTHORIZED];
    let org_a_user = plus(&org_b_user, &host_extra);
    let org_b_admin = plus(
        &org_b_user,
        &[
            CAN_DELETE_OWN_MESSAGE,
            CAN_START_TOPIC,
            CAN_UPLOAD_IMAGE,
            CAN_UPLOAD_VIDEO,
            CAN_UPLOAD_AUDIO,
            CAN_UPLOAD_ATTACHMENT,
            CAN_ADD_PARTICIPANT,
            CAN_REMOVE_PARTICIPANT,
            CAN_BAN,
            CAN_KICK,
            CAN_CHANGE_USER_ROLE,
        ],
    );
    let org_a_admin = plus(&org_b_admin, &host_extra);
    let super_admin = plus(
        &org_a_admin,
        &[
            CAN_UNBAN,
            CAN_DELETE_OTHER_REACTION,
            CAN_DELETE_OTHER_MESSAGE,
            CAN_EDIT_OWN_TOPIC,
            CAN_EDIT_OTHER_TOPIC,
            CAN_CHANGE_ROOM_DESCRIPTION,
            CAN_CHANGE_ROOM_NAME,
            CAN_CHANGE_ROOM_AVATAR,
            CAN_CHANGE_ROOM_SUBJECT,
            CAN_CHANGE_ROOM_MOOD,
            CAN_CHANGE_ROOM_MEMBERSHIP_STYLE,
            CAN_CHANGE_ROLE_DEFINITIONS,
            CAN_CHANGE_PREAUTHORIZED_USER_LIST,
            CAN_DESTROY_ROOM,
            CAN_SEND_MLS_REINIT_PROPOSAL,
        ],
    );
    let org_admin = |index, name, caps, changes| {
        role(RoleSpec { index, name, caps, min: 1, max: Some(3), min_active: 1, max_active: None, changes })
    };
    RoomPolicy {
        roles: RoleData {
            roles: vec![
                inert(0, "no_role", vec![], Some(0), &[]),
                inert(1, "banned", vec![], Some(0), &[]),
                open(2, "org_a_user", org_a_user, 0, USER_CHANGES_2),
                open(3, "org_b_user", org_b_user.clone(), 0, &[(0, &[3]), (3, &[0])]),
                open(4, "org_c_user", org_b_user, 0, &[(0, &[4]), (4, &[0])]),
                open(5, "org_a_admin", org_a_admin, 0, &[(0, &[2, 5]), (2, &[0, 1, 5]), (5, &[0, 1, 2])]),
                org_admin(6, "org_b_admin", org_b_admin.clone(), &[(0, &[3, 6]), (3, &[0, 1, 6]), (6, &[0, 1, 3])]),
                org_admin(7, "org_c_admin", org_b_admin, &[(0, &[4, 7]), (4, &[0, 1, 7]), (7, &[0, 1, 4])]),
                role(RoleSpec {
                    index: 8,
                    name: "super_admin",
                    caps: super_admin,
                    min: 1,
                    max: None,
                    min_active: 1,
                    max_active: None,
                    changes: &[
                        (0, &[1, 2, 3, 4, 5, 6, 7, 8]),
                        (1, &[0, 2, 3, 4, 5, 6, 7, 8]),
                        (2, &[0, 1, 5, 8]),
                        (3, &[0, 1, 6]),
                        (4, &[0, 1, 7]),
                        (5, &[0, 1, 2, 8]),
                        (6, &[0, 1, 3]),
                        (7, &[0, 1, 4]),
                        (8, &[0, 1, 2, 5]),
                    ],
                }),
                policy_enforcer(
                    9,
                    &[
                        (0, &[1]),
                        (1, &[0]),
                        (3, &[0, 1]),
                        (4, &[0, 1]),
                        (5, &[0, 1]),
                        (6, &[0, 1]),
                        (7, &[0, 1]),
                        (8, &[0, 1]),
                    ],
                ),
            ],
        },
        base_policy: BaseRoomPolicy::default(),
    }
}

/// Role index of the participants of [`one_to_one`].
pub const ONE_TO_ONE_PARTICIPANT: u32 = 2;

/// A one-to-one (DM) room: `fixed_membership`, two users listed at creation with role 2, who can
/// add and remove their own clients and talk, but nobody can be added, removed or leave.
pub fn one_to_one() -> RoomPolicy {
    let participant = plus(
        &[
            CAN_ADD_OWN_CLIENT,
            CAN_REMOVE_OWN_CLIENT,
            CAN_SEND_MESSAGE,
            CAN_RECEIVE_MESSAGE,
            CAN_COPY_MESSAGE,
            CAN_REPORT_ABUSE,
            CAN_REPLY_TO_MESSAGE,
            CAN_REACT_TO_MESSAGE,
            CAN_EDIT_REACTION,
            CAN_DELETE_OWN_REACTION,
            CAN_EDIT_OWN_MESSAGE,
            CAN_DELETE_OWN_MESSAGE,
        ],
        ALL_UPLOADS_DOWNLOADS_LINKS,
    );
    RoomPolicy {
        roles: RoleData {
            roles: vec![
                inert(0, "no_role", vec![], Some(0), &[]),
                role(RoleSpec {
                    index: ONE_TO_ONE_PARTICIPANT,
                    name: "participant",
                    caps: participant,
                    min: 0,
                    max: Some(2),
                    min_active: 0,
                    max_active: None,
                    changes: &[],
                }),
            ],
        },
        base_policy: BaseRoomPolicy { fixed_membership: Bool(true), max_users: Some(2), ..BaseRoomPolicy::default() },
    }
}
