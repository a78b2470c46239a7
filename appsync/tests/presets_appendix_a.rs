//! The room types of room-policy-04 Appendix A, checked against the draft's own tables.
//!
//! Each row quotes the draft: role index, name, the four constraints (`null` = absent) and the
//! `authorized_role_changes` literal exactly as printed; capabilities are checked by the draft's
//! names. The strings are parsed here, independently of `presets.rs`.

use mimi_appsync::components::roles::{capability, Role, RoleData};
use mimi_appsync::presets;

type Row = (u32, &'static str, u32, Option<u32>, u32, Option<u32>, &'static str);

/// Parses `[(0,[1,2,3]), (1,[0,2,3])]` into pairs.
fn parse_changes(text: &str) -> Vec<(u32, Vec<u32>)> {
    let body = text.trim().trim_start_matches('[').trim_end_matches(']');
    let mut out = Vec::new();
    for part in body.split("),").map(|p| p.trim().trim_start_matches('(').trim_end_matches(')')) {
        if part.is_empty() {
            continue;
        }
        let (from, targets) = part.split_once(',').unwrap();
        let targets = targets.trim().trim_start_matches('[').trim_end_matches(']');
        let targets = targets.split(',').filter(|t| !t.trim().is_empty()).map(|t| t.trim().parse().unwrap()).collect();
        out.push((from.trim().parse().unwrap(), targets));
    }
    out
}

fn check(roles: &RoleData, rows: &[Row]) {
    assert_eq!(roles.roles.len(), rows.len(), "number of roles");
    for &(index, name, min, max, min_a, max_a, changes) in rows {
        let role = roles.role(index).unwrap_or_else(|| panic!("role {index} missing"));
        assert_eq!(role.role_name, name.as_bytes(), "name of {index}");
        assert_eq!(role.minimum_participants_constraint, min, "{name} min");
        assert_eq!(role.maximum_participants_constraint, max, "{name} max");
        assert_eq!(role.minimum_active_participants_constraint, min_a, "{name} min active");
        assert_eq!(role.maximum_active_participants_constraint, max_a, "{name} max active");
        let got: Vec<(u32, Vec<u32>)> =
            role.authorized_role_changes.iter().map(|e| (e.from_role_index, e.target_role_indexes.clone())).collect();
        assert_eq!(got, parse_changes(changes), "{name} authorized_role_changes");
    }
}

fn caps(role: &Role) -> Vec<&'static str> {
    let mut v: Vec<_> = role.role_capabilities.iter().map(|c| capability::name(*c).unwrap()).collect();
    v.sort();
    v
}

fn names(list: &[&'static str]) -> Vec<&'static str> {
    let mut v = list.to_vec();
    v.sort();
    v
}

const ENFORCER: &[&str] = &[
    "canRemoveParticipant",
    "canChangeUserRole",
    "canBan",
    "canUnBan",
    "canChangeRoleDefinitions",
    "canChangePreauthorizedUserList",
    "canChangeMlsOperationalPolicies",
    "canDestroyRoom",
    "canSendMLSReinitProposal",
];

#[test]
fn cooperatively_administered() {
    let p = presets::cooperative();
    check(
        &p.roles,
        &[
            (0, "no_role", 0, None, 0, Some(0), "[]"),
            (1, "banned", 0, None, 0, Some(0), "[]"),
            (2, "ordinary_user", 0, None, 0, None, "[(0,[2]), (2,[0])]"),
            (3, "group_admin", 1, None, 0, None, "[(0,[1,2,3]), (1,[0,2,3]), (2,[0,1,3]), (3,[0,1,2])]"),
            (
                4,
                "super_admin",
                0,
                None,
                0,
                None,
                "[(0,[1,2,3,4]), (1,[0,2,3,4]), (2,[0,1,3,4]), (3,[0,1,2,4]), (4,[0,1,2,3])]",
            ),
            (5, "policy_enforcer", 1, Some(2), 0, Some(0), "[(0,[1]), (1,[0]), (2,[0,1]), (3,[0,1]), (4,[0,1])]"),
        ],
    );
    let ordinary = names(&[
        "canAddParticipant",
        "canRemoveParticipant",
        "canAddOwnClient",
        "canRemoveOwnClient",
        "canRemoveSelf",
        "canSendMessage",
        "canReceiveMessage",
        "canCopyMessage",
        "canReportAbuse",
        "canReplyToMessage",
        "canReactToMessage",
        "canDeleteOwnReaction",
        "canEditOwnMessage",
        "canDeleteOwnMessage",
        "canStartTopic",
        "canReplyInTopic",
        "canEditOwnTopic",
        "canUploadImage",
        "canUploadVideo",
        "canUploadAudio",
        "canUploadAttachment",
        "canDownloadImage",
        "canDownloadVideo",
        "canDownloadAudio",
        "canDownloadAttachment",
        "canSendLink",
        "canSendLinkPreview",
        "canFollowLink",
        "canCopyLink",
        "canChangeRoomName",
        "canChangeRoomAvatar",
        "canChangeRoomSubject",
        "canChangeRoomMood",
        "canChangeOwnName",
        "canChangeOwnPresence",
        "canChangeOwnMood",
        "canChangeOwnAvatar",
    ]);
    assert_eq!(caps(p.roles.role(2).unwrap()), ordinary);
    let mut admin = ordinary.clone();
    admin.extend([
        "canBan",
        "canUnBan",
        "canKick",
        "canChangeUserRole",
        "canDeleteOtherMessage",
        "canEditOtherTopic",
        "canChangeRoomDescription",
    ]);
    assert_eq!(caps(p.roles.role(3).unwrap()), names(&admin));
    let mut super_admin = admin.clone();
    super_admin.extend(["canChangeRoomMembershipStyle", "canChangePreauthorizedUserList", "canDestroyRoom"]);
    assert_eq!(caps(p.roles.role(4).unwrap()), names(&super_admin));
    assert_eq!(caps(p.roles.role(5).unwrap()), names(ENFORCER));
    assert!(caps(p.roles.role(0).unwrap()).is_empty());
}

#[test]
fn strictly_administered() {
    let p = presets::strictly_administered();
    check(
        &p.roles,
        &[
            (0, "no_role", 0, None, 0, Some(0), "[(0,[2])]"),
            (1, "banned", 0, None, 0, Some(0), "[]"),
            (2, "ordinary_user", 0, None, 0, None, "[(0,[2]), (2,[0])]"),
            (3, "group_admin", 1, None, 0, None, "[(0,[1,2,3]), (1,[0,2,3]), (2,[0,1,3]), (3,[0,1,2])]"),
            (
                4,
                "super_admin",
                0,
                None,
                0,
                None,
                "[(0,[1,2,3,4]), (1,[0,2,3,4]), (2,[0,1,3,4]), (3,[0,1,2,4]), (4,[0,1,2,3])]",
            ),
            (5, "policy_enforcer", 1, Some(2), 0, Some(0), "[(0,[1]), (1,[0]), (2,[0,1]), (3,[0,1]), (4,[0,1])]"),
        ],
    );
    assert_eq!(caps(p.roles.role(0).unwrap()), vec!["canUseJoinCode"]);
    let ordinary = caps(p.roles.role(2).unwrap());
    for c in ["canAddOwnClient", "canJoinIfPreauthorized", "canChangeOwnRole", "canRemoveSelf"] {
        assert!(ordinary.contains(&c), "{c}");
    }
    assert!(!ordinary.contains(&"canAddParticipant"));
    let admin = caps(p.roles.role(3).unwrap());
    for c in ["canAddParticipant", "canCreateJoinCode", "canDeleteJoinCode", "canChangeRoomName", "canKick"] {
        assert!(admin.contains(&c), "{c}");
    }
    let super_admin = caps(p.roles.role(4).unwrap());
    for c in ["canChangeRoleDefinitions", "canSendMLSReinitProposal"] {
        assert!(super_admin.contains(&c), "{c}");
    }
    assert_eq!(caps(p.roles.role(5).unwrap()), names(ENFORCER));
}

#[test]
fn moderated() {
    let p = presets::moderated();
    check(&p.roles, &[
        (0, "no_role", 0, None, 0, None, "[(0,[2,3])]"),
        (1, "banned", 0, None, 0, Some(0), "[]"),
        (2, "guest", 0, None, 0, None, "[(0,[2]), (2,[0])]"),
        (3, "attendee", 0, None, 0, None, "[(0,[3]), (3,[0])]"),
        (4, "speaker", 0, None, 0, None, "[(0,[4]), (4,[0])]"),
        (5, "moderator", 1, None, 0, None, "[(0,[1,2,3,4,5]), (1,[0,2,3,4,5]), (2,[0,1,3,4,5]), (3,[0,1,2,4,5]), (4,[0,1,2,3,5]), (5,[0,1,2,3,4])]"),
        (6, "super_admin", 0, None, 0, None, "[(0,[1,2,3,4,5,6]), (1,[0,2,3,4,5,6]), (2,[0,1,3,4,5,6]), (3,[0,1,2,4,5,6]), (4,[0,1,2,3,5,6]), (5,[0,1,2,3,4,6]), (6,[0,1,2,3,4,5])]"),
        (7, "policy_enforcer", 1, Some(2), 0, Some(0), "[(0,[1]), (1,[0]), (2,[0,1]), (3,[0,1]), (4,[0,1]), (5, [0,1]), (6, [0,1])]"),
    ]);
    let guest = names(&[
        "canRemoveSelf",
        "canReceiveMessage",
        "canCopyMessage",
        "canReactToMessage",
        "canDeleteOwnReaction",
        "canFollowLink",
        "canCopyLink",
        "canDownloadImage",
        "canDownloadVideo",
        "canDownloadAudio",
    ]);
    assert_eq!(caps(p.roles.role(2).unwrap()), guest);
    assert!(!caps(p.roles.role(3).unwrap()).contains(&"canSendMessage"));
    assert!(caps(p.roles.role(4).unwrap()).contains(&"canSendMessage"));
    assert!(caps(p.roles.role(5).unwrap()).contains(&"canKick"));
    assert!(!caps(p.roles.role(5).unwrap()).contains(&"canChangeRoomDescription"));
    assert!(caps(p.roles.role(6).unwrap()).contains(&"canChangeRoomDescription"));
    assert_eq!(caps(p.roles.role(7).unwrap()), names(ENFORCER));
}

#[test]
fn multi_organization_administered() {
    let p = presets::multi_organization();
    check(&p.roles, &[
        (0, "no_role", 0, None, 0, Some(0), "[]"),
        (1, "banned", 0, None, 0, Some(0), "[]"),
        (2, "org_a_user", 0, None, 0, None, "[(0,[2]), (2,[0])]"),
        (3, "org_b_user", 0, None, 0, None, "[(0,[3]), (3,[0])]"),
        (4, "org_c_user", 0, None, 0, None, "[(0,[4]), (4,[0])]"),
        (5, "org_a_admin", 0, None, 0, None, "[(0,[2,5]), (2,[0,1,5]), (5,[0,1,2])]"),
        (6, "org_b_admin", 1, Some(3), 1, None, "[(0,[3,6]), (3,[0,1,6]), (6,[0,1,3])]"),
        (7, "org_c_admin", 1, Some(3), 1, None, "[(0,[4,7]), (4,[0,1,7]), (7,[0,1,4])]"),
        (8, "super_admin", 1, None, 1, None, "[(0,[1,2,3,4,5,6,7,8]), (1,[0,2,3,4,5,6,7,8]), (2,[0,1,5,8]), (3,[0,1,6]), (4,[0,1,7]), (5,[0,1,2,8]), (6,[0,1,3]), (7,[0,1,4]), (8,[0,1,2,5])]"),
        (9, "policy_enforcer", 1, Some(2), 0, Some(0), "[(0,[1]), (1,[0]), (3,[0,1]), (4,[0,1]), (5,[0,1]), (6,[0,1]), (7,[0,1]), (8,[0,1])]"),
    ]);
    let b_user = caps(p.roles.role(3).unwrap());
    assert_eq!(b_user, caps(p.roles.role(4).unwrap()));
    let mut a_user = b_user.clone();
    a_user.extend(["canChangeOwnRole", "canJoinIfPreauthorized"]);
    a_user.sort();
    assert_eq!(caps(p.roles.role(2).unwrap()), a_user);
    assert_eq!(caps(p.roles.role(6).unwrap()), caps(p.roles.role(7).unwrap()));
    assert!(!caps(p.roles.role(6).unwrap()).contains(&"canUnBan"));
    assert!(caps(p.roles.role(8).unwrap()).contains(&"canUnBan"));
    assert_eq!(caps(p.roles.role(9).unwrap()), names(ENFORCER));
}

#[test]
fn one_to_one() {
    let p = presets::one_to_one();
    assert!(p.base_policy.fixed_membership.0);
    assert_eq!(p.base_policy.max_users, Some(2));
    for role in &p.roles.roles {
        assert!(!role.has(capability::CAN_ADD_PARTICIPANT));
    }
}
