//! `room_policy.json`: room-policy decisions (room-policy-04 §8, the participation/membership consistency rules of docs/DESIGN.md) made
//! by `mimi_appsync::policy::evaluate` on rooms of the Appendix A presets and the one-to-one preset.
//!
//! Each entry (struct `RoomPolicyDecision`, not a draft structure) holds in `fields`: the state (preset,
//! participant list, MLS members by client URI, preauthorization), the action (the committer and each
//! proposal with its proposer; AppDataUpdate payloads also as hex) and the verdict, `"allowed"` or
//! `"notAllowed(<rule>)"`. `hex` is the state's `participant_list` component (`ParticipantListData`).

use mimi_appsync::components::participant_list::{
    ParticipantListData, ParticipantListUpdate, UserRolePair, UserindexRolePair,
};
use mimi_appsync::components::preauth::{Claim, PreAuthData, PreAuthRoleEntry};
use mimi_appsync::components::room_metadata::RoomMetaData;
use mimi_appsync::components::{Component, PARTICIPANT_LIST, ROOM_METADATA};
use mimi_appsync::policy::{evaluate, Actor, CommitDescription, OtherProposal, Verdict};
use mimi_appsync::presets::{self, RoomPolicy};
use mimi_appsync::state::{initial_dictionary, RoomState};
use mimi_appsync::uri::ClientUri;
use openmls::prelude::AppDataUpdateProposal;
use serde_json::{json, Value as Json};

use super::participant_list::{list_fields, update_fields, UpdatesOfCommit};
use super::render::hex;
use super::{check_decodes, entry, Entry, Vector};
use crate::inspect::Structure;
use crate::Error;

/// The struct name of decision entries.
pub const STRUCT: &str = "RoomPolicyDecision";

/// A decision's `hex` is the state's `ParticipantListData`, and decodes as one (`mimi-interop decode`).
pub const STRUCTURE: Structure = Structure::named::<ParticipantListData>(STRUCT);

/// Decodes a decision's `hex` (the state's `ParticipantListData`).
pub fn check_struct(structure: &str, bytes: &[u8]) -> Result<(), Error> {
    if structure == STRUCT {
        check_decodes::<ParticipantListData>(bytes)
    } else {
        Err(Error::UnknownStruct(structure.to_owned()))
    }
}

/// A room: preset, listed users (name, role), members (name, device), optional preauthorization.
struct Room {
    preset: &'static str,
    policy: RoomPolicy,
    users: &'static [(&'static str, u32)],
    members: &'static [(&'static str, &'static str)],
    preauth: Option<PreAuthData>,
}

/// One proposal (or the committer's external join), as the action describes it.
enum Step {
    /// Add of a client, proposed by `by`.
    Add { by: &'static str, client: &'static str },
    /// Remove of a client, proposed by `by`.
    Remove { by: &'static str, client: &'static str },
    /// SelfRemove by a client.
    SelfRemove { client: &'static str },
    /// A participant_list AppDataUpdate by `by`.
    Participants { by: &'static str, update: ParticipantListUpdate },
    /// A room_metadata AppDataUpdate by `by`.
    Metadata { by: &'static str, metadata: RoomMetaData },
    /// A GroupContextExtensions or ReInit proposal by `by`.
    Other { by: &'static str, proposal: OtherProposal },
}

/// `name/device` on a.example, or a full client URI.
fn client(spec: &str) -> Result<ClientUri, Error> {
    if spec.starts_with("mimi://") {
        return Ok(ClientUri::parse(spec)?);
    }
    let (name, device) = spec.split_once('/').unwrap_or((spec, "1"));
    Ok(ClientUri::new("a.example", name, device)?)
}

fn user_bytes(name: &str) -> Vec<u8> {
    format!("mimi://a.example/u/{name}").into_bytes()
}

fn state_of(room: &Room) -> Result<RoomState, Error> {
    let list = ParticipantListData {
        participants: room.users.iter().map(|(n, r)| UserRolePair { user: user_bytes(n), role_index: *r }).collect(),
    };
    let metadata = RoomMetaData::named("mimi://a.example/r/club", "Club");
    let dictionary = initial_dictionary(
        &list,
        &room.policy.roles,
        room.preauth.as_ref(),
        &room.policy.base_policy,
        Some(&metadata),
    )?;
    let members = room.members.iter().map(|(n, d)| client(&format!("{n}/{d}"))).collect::<Result<_, _>>()?;
    Ok(RoomState::new(dictionary, members)?)
}

fn metadata_fields(m: &RoomMetaData) -> Result<Json, Error> {
    Ok(json!({
        "room_uri": String::from_utf8_lossy(&m.room_uri.uri),
        "room_name": String::from_utf8_lossy(&m.room_name.string),
        "room_descriptions": m.room_descriptions.iter().map(|d| String::from_utf8_lossy(&d.description_content).into_owned()).collect::<Vec<_>>(),
        "hex": hex(&m.encode()?),
    }))
}

/// Adds `step` to `commit` and returns its readable form.
fn apply(commit: &mut CommitDescription, step: &Step) -> Result<Json, Error> {
    let member = |spec: &str| client(spec).map(Actor::Member);
    Ok(match step {
        Step::Add { by, client: c } => {
            commit.adds.push(proposed(member(by)?, client(c)?));
            json!({ "proposal": "Add", "proposer": client(by)?.as_str(), "client": client(c)?.as_str() })
        }
        Step::Remove { by, client: c } => {
            commit.removes.push(proposed(member(by)?, client(c)?));
            json!({ "proposal": "Remove", "proposer": client(by)?.as_str(), "client": client(c)?.as_str() })
        }
        Step::SelfRemove { client: c } => {
            commit.self_removes.push(client(c)?);
            json!({ "proposal": "SelfRemove", "proposer": client(c)?.as_str() })
        }
        Step::Participants { by, update } => {
            let payload = UpdatesOfCommit(vec![update.clone()]).encode_vector()?;
            commit.app_data.push(proposed(member(by)?, AppDataUpdateProposal::update(PARTICIPANT_LIST, payload)));
            json!({
                "proposal": "AppDataUpdate",
                "proposer": client(by)?.as_str(),
                "component_id": "participant_list(34)",
                "update": update_fields(update)?,
            })
        }
        Step::Metadata { by, metadata } => {
            commit
                .app_data
                .push(proposed(member(by)?, AppDataUpdateProposal::update(ROOM_METADATA, metadata.encode()?)));
            json!({
                "proposal": "AppDataUpdate",
                "proposer": client(by)?.as_str(),
                "component_id": "room_metadata(35)",
                "update": metadata_fields(metadata)?,
            })
        }
        Step::Other { by, proposal } => {
            commit.other.push(proposed(member(by)?, *proposal));
            let name = match proposal {
                OtherProposal::GroupContextExtensions => "GroupContextExtensions",
                OtherProposal::ReInit => "ReInit",
            };
            json!({ "proposal": name, "proposer": client(by)?.as_str() })
        }
    })
}

fn proposed<T>(proposer: Actor, item: T) -> mimi_appsync::policy::Proposed<T> {
    mimi_appsync::policy::Proposed { proposer, item }
}

/// Evaluates one decision and makes its entry. `committer` is `name/device`; `joining` makes it an
/// external commit (the committer is a new member).
fn decision(variant: &str, room: &Room, committer: &str, joining: bool, steps: Vec<Step>) -> Result<Entry, Error> {
    let before = state_of(room)?;
    let committer_uri = client(committer)?;
    let mut commit = CommitDescription::new(if joining {
        Actor::NewMember(committer_uri.clone())
    } else {
        Actor::Member(committer_uri.clone())
    });
    let proposals = steps.iter().map(|s| apply(&mut commit, s)).collect::<Result<Vec<_>, _>>()?;
    let verdict = match evaluate(&before, &commit) {
        Verdict::Allowed(_) => "allowed".to_owned(),
        Verdict::NotAllowed(refusal) => format!("notAllowed({})", refusal.rule),
    };
    let preauth = room.preauth.as_ref().map(|p| {
        p.preauthorized_entries
            .iter()
            .map(|e| {
                json!({
                    "claims": e.claimset.iter().map(|c| json!({
                        "id": String::from_utf8_lossy(&c.claim_id.id),
                        "value": String::from_utf8_lossy(&c.claim_value),
                    })).collect::<Vec<_>>(),
                    "roleIndex": e.target_role.role_index,
                })
            })
            .collect::<Vec<_>>()
    });
    let fields = json!({
        "state": {
            "preset": room.preset,
            "participant_list": list_fields(&before.participants)?,
            "members": before.members.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            "preauth_list": preauth,
        },
        "action": {
            "committer": committer_uri.as_str(),
            "external_join": joining,
            "proposals": proposals,
        },
        "verdict": verdict,
    });
    let mut made = entry(variant, &before.participants, fields)?;
    made.structure = STRUCT.to_owned();
    Ok(made)
}

fn add_user(name: &str, role: u32) -> ParticipantListUpdate {
    ParticipantListUpdate {
        added_participants: vec![UserRolePair { user: user_bytes(name), role_index: role }],
        ..Default::default()
    }
}

fn remove_index(index: u32) -> ParticipantListUpdate {
    ParticipantListUpdate { removed_indices: vec![index], ..Default::default() }
}

fn set_role(index: u32, role: u32) -> ParticipantListUpdate {
    ParticipantListUpdate {
        changed_role_participants: vec![UserindexRolePair { user_index: index, role_index: role }],
        ..Default::default()
    }
}

fn renamed(name: &str) -> RoomMetaData {
    RoomMetaData::named("mimi://a.example/r/club", name)
}

fn described(text: &str) -> RoomMetaData {
    let mut m = renamed("Club");
    m.room_descriptions.push(mimi_appsync::components::room_metadata::RichDescription {
        description_content: text.as_bytes().to_vec(),
        ..Default::default()
    });
    m
}

/// Generates `room_policy.json`.
pub fn generate() -> Result<Vec<Entry>, Error> {
    use presets::administered_roles::{GROUP_ADMIN, ORDINARY_USER};
    use Step::*;

    // Cooperative room: alice group_admin (3), bob ordinary_user (2), dave super_admin (4).
    let coop = Room {
        preset: "cooperative (room-policy-03 A.1)",
        policy: presets::cooperative(),
        users: &[("alice", 3), ("bob", 2), ("dave", 4)],
        members: &[("alice", "phone"), ("alice", "pc"), ("bob", "phone"), ("dave", "pc")],
        preauth: None,
    };
    // Strictly administered room, with b.example users preauthorized as ordinary_user.
    let strict = Room {
        preset: "strictly administered (room-policy-03 A.2)",
        policy: presets::strictly_administered(),
        users: &[("alice", 3), ("bob", 2)],
        members: &[("alice", "phone"), ("bob", "phone")],
        preauth: Some(PreAuthData {
            preauthorized_entries: vec![PreAuthRoleEntry {
                claimset: vec![Claim::basic("domain", "b.example")],
                target_role: presets::strictly_administered()
                    .roles
                    .role(ORDINARY_USER)
                    .cloned()
                    .ok_or(Error::Unsupported("strictly administered preset without ordinary_user"))?,
            }],
        }),
    };
    // Moderated room: mod moderator (5), ann attendee (3).
    let moderated = Room {
        preset: "moderated (room-policy-03 A.3)",
        policy: presets::moderated(),
        users: &[("mod", 5), ("ann", 3)],
        members: &[("mod", "pc"), ("ann", "pc")],
        preauth: None,
    };
    // Multi-organization room: sam super_admin (8), bea org_b_admin (6), ben org_b_user (3).
    let multi = Room {
        preset: "multi-organization (room-policy-03 A.4)",
        policy: presets::multi_organization(),
        users: &[("sam", 8), ("bea", 6), ("ben", 3)],
        members: &[("sam", "pc"), ("bea", "pc"), ("ben", "pc")],
        preauth: None,
    };
    // One-to-one room: alice and bob (2), fixed membership.
    let dm = Room {
        preset: "one-to-one (fixed_membership)",
        policy: presets::one_to_one(),
        users: &[("alice", 2), ("bob", 2)],
        members: &[("alice", "phone"), ("bob", "phone")],
        preauth: None,
    };

    let cases = vec![
        decision(
            "canAddParticipant: admin adds carol with her client",
            &coop,
            "alice/phone",
            false,
            vec![
                Participants { by: "alice/phone", update: add_user("carol", ORDINARY_USER) },
                Add { by: "alice/phone", client: "carol/phone" },
            ],
        )?,
        decision(
            "canAddParticipant: ordinary user adds carol as ordinary user",
            &coop,
            "bob/phone",
            false,
            vec![
                Participants { by: "bob/phone", update: add_user("carol", ORDINARY_USER) },
                Add { by: "bob/phone", client: "carol/phone" },
            ],
        )?,
        decision(
            "authorized_role_changes: ordinary user adds carol as group_admin",
            &coop,
            "bob/phone",
            false,
            vec![Participants { by: "bob/phone", update: add_user("carol", GROUP_ADMIN) }],
        )?,
        decision(
            "consistency: client of a user not in the list",
            &coop,
            "alice/phone",
            false,
            vec![Add { by: "alice/phone", client: "carol/phone" }],
        )?,
        decision(
            "canRemoveParticipant: admin removes bob and his client",
            &coop,
            "alice/phone",
            false,
            vec![
                Participants { by: "alice/phone", update: remove_index(1) },
                Remove { by: "alice/phone", client: "bob/phone" },
            ],
        )?,
        decision(
            "authorized_role_changes: ordinary user removes the super_admin",
            &coop,
            "bob/phone",
            false,
            vec![
                Participants { by: "bob/phone", update: remove_index(2) },
                Remove { by: "bob/phone", client: "dave/pc" },
            ],
        )?,
        decision(
            "consistency: removed user keeps a client",
            &coop,
            "alice/phone",
            false,
            vec![Participants { by: "alice/phone", update: remove_index(1) }],
        )?,
        decision(
            "canRemoveSelf: bob leaves with SelfRemove",
            &coop,
            "alice/phone",
            false,
            vec![Participants { by: "bob/phone", update: remove_index(1) }, SelfRemove { client: "bob/phone" }],
        )?,
        decision(
            "canBan: admin bans bob",
            &coop,
            "alice/phone",
            false,
            vec![
                Participants { by: "alice/phone", update: set_role(1, 1) },
                Remove { by: "alice/phone", client: "bob/phone" },
            ],
        )?,
        decision(
            "canBan: ordinary user bans the admin",
            &coop,
            "bob/phone",
            false,
            vec![
                Participants { by: "bob/phone", update: set_role(0, 1) },
                Remove { by: "bob/phone", client: "alice/phone" },
                Remove { by: "bob/phone", client: "alice/pc" },
            ],
        )?,
        decision(
            "canChangeUserRole: admin promotes bob",
            &coop,
            "alice/phone",
            false,
            vec![Participants { by: "alice/phone", update: set_role(1, GROUP_ADMIN) }],
        )?,
        decision(
            "canChangeOwnRole: ordinary user promotes itself",
            &coop,
            "bob/phone",
            false,
            vec![Participants { by: "bob/phone", update: set_role(1, GROUP_ADMIN) }],
        )?,
        decision(
            "canChangeRoomName: ordinary user renames the room",
            &coop,
            "bob/phone",
            false,
            vec![Metadata { by: "bob/phone", metadata: renamed("Clubhouse") }],
        )?,
        decision(
            "canChangeRoomDescription: ordinary user sets a description",
            &coop,
            "bob/phone",
            false,
            vec![Metadata { by: "bob/phone", metadata: described("A room for members") }],
        )?,
        decision(
            "canChangeRoomDescription: admin sets a description",
            &coop,
            "alice/phone",
            false,
            vec![Metadata { by: "alice/phone", metadata: described("A room for members") }],
        )?,
        decision(
            "canKick: admin removes one of dave's clients",
            &coop,
            "alice/phone",
            false,
            vec![Remove { by: "alice/phone", client: "dave/pc" }],
        )?,
        decision(
            "canKick: ordinary user removes one of alice's clients",
            &coop,
            "bob/phone",
            false,
            vec![Remove { by: "bob/phone", client: "alice/pc" }],
        )?,
        decision(
            "canAddOwnClient: bob adds his laptop",
            &coop,
            "bob/phone",
            false,
            vec![Add { by: "bob/phone", client: "bob/laptop" }],
        )?,
        decision(
            "canAddOwnClient: bob adds a client of alice",
            &coop,
            "bob/phone",
            false,
            vec![Add { by: "bob/phone", client: "alice/tablet" }],
        )?,
        decision(
            "canRemoveOwnClient: alice removes her pc",
            &coop,
            "alice/phone",
            false,
            vec![Remove { by: "alice/phone", client: "alice/pc" }],
        )?,
        decision(
            "canChangeRoomMembershipStyle: super_admin changes GroupContext extensions",
            &coop,
            "dave/pc",
            false,
            vec![Other { by: "dave/pc", proposal: OtherProposal::GroupContextExtensions }],
        )?,
        decision(
            "canChangeRoomMembershipStyle: ordinary user changes GroupContext extensions",
            &coop,
            "bob/phone",
            false,
            vec![Other { by: "bob/phone", proposal: OtherProposal::GroupContextExtensions }],
        )?,
        decision(
            "canSendMLSReinitProposal: super_admin of a cooperative room proposes ReInit",
            &coop,
            "dave/pc",
            false,
            vec![Other { by: "dave/pc", proposal: OtherProposal::ReInit }],
        )?,
        decision(
            "canAddParticipant: ordinary user of a strict room adds carol",
            &strict,
            "bob/phone",
            false,
            vec![Participants { by: "bob/phone", update: add_user("carol", ORDINARY_USER) }],
        )?,
        decision(
            "canAddParticipant: admin of a strict room adds carol",
            &strict,
            "alice/phone",
            false,
            vec![
                Participants { by: "alice/phone", update: add_user("carol", ORDINARY_USER) },
                Add { by: "alice/phone", client: "carol/phone" },
            ],
        )?,
        decision(
            "canJoinIfPreauthorized: preauthorized b.example user joins by external commit",
            &strict,
            "mimi://b.example/d/erin/phone",
            true,
            vec![Participants {
                by: "mimi://b.example/d/erin/phone",
                update: ParticipantListUpdate {
                    added_participants: vec![UserRolePair {
                        user: b"mimi://b.example/u/erin".to_vec(),
                        role_index: ORDINARY_USER,
                    }],
                    ..Default::default()
                },
            }],
        )?,
        decision(
            "canJoinIfPreauthorized: a.example user without preauthorization joins by external commit",
            &strict,
            "erin/phone",
            true,
            vec![Participants { by: "erin/phone", update: add_user("erin", ORDINARY_USER) }],
        )?,
        decision(
            "canSendMLSReinitProposal: ordinary user of a strict room proposes ReInit",
            &strict,
            "bob/phone",
            false,
            vec![Other { by: "bob/phone", proposal: OtherProposal::ReInit }],
        )?,
        decision(
            "canAddParticipant: moderator adds a guest",
            &moderated,
            "mod/pc",
            false,
            vec![
                Participants { by: "mod/pc", update: add_user("gus", presets::moderated_roles::GUEST) },
                Add { by: "mod/pc", client: "gus/pc" },
            ],
        )?,
        decision(
            "canAddParticipant: attendee adds a guest",
            &moderated,
            "ann/pc",
            false,
            vec![Participants { by: "ann/pc", update: add_user("gus", presets::moderated_roles::GUEST) }],
        )?,
        decision(
            "canChangeUserRole: moderator makes the attendee a speaker",
            &moderated,
            "mod/pc",
            false,
            vec![Participants { by: "mod/pc", update: set_role(1, presets::moderated_roles::SPEAKER) }],
        )?,
        decision(
            "minimum_participants_constraint: the only moderator leaves",
            &moderated,
            "mod/pc",
            false,
            vec![Participants { by: "mod/pc", update: remove_index(0) }, SelfRemove { client: "mod/pc" }],
        )?,
        decision(
            "authorized_role_changes: org_b_admin adds an org_b_user",
            &multi,
            "bea/pc",
            false,
            vec![
                Participants { by: "bea/pc", update: add_user("bo", presets::multi_org_roles::ORG_B_USER) },
                Add { by: "bea/pc", client: "bo/pc" },
            ],
        )?,
        decision(
            "authorized_role_changes: org_b_admin adds an org_a_user",
            &multi,
            "bea/pc",
            false,
            vec![Participants { by: "bea/pc", update: add_user("al", presets::multi_org_roles::ORG_A_USER) }],
        )?,
        decision(
            "canBan: org_b_admin bans an org_b_user",
            &multi,
            "bea/pc",
            false,
            vec![Participants { by: "bea/pc", update: set_role(2, 1) }, Remove { by: "bea/pc", client: "ben/pc" }],
        )?,
        decision(
            "fixed_membership: alice adds carol to a one-to-one room",
            &dm,
            "alice/phone",
            false,
            vec![Participants { by: "alice/phone", update: add_user("carol", presets::ONE_TO_ONE_PARTICIPANT) }],
        )?,
        decision(
            "fixed_membership: bob leaves a one-to-one room",
            &dm,
            "bob/phone",
            false,
            vec![Participants { by: "bob/phone", update: remove_index(1) }, SelfRemove { client: "bob/phone" }],
        )?,
        decision(
            "canAddOwnClient: bob adds his laptop to a one-to-one room",
            &dm,
            "bob/phone",
            false,
            vec![Add { by: "bob/phone", client: "bob/laptop" }],
        )?,
    ];
    Ok(cases)
}
