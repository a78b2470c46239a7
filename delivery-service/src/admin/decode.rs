//! Decoding one log entry for the operator: the proposals of a handshake (whom an Add adds,
//! whom a Remove removes, the participant-list edits of an AppDataUpdate) and one line per thing
//! it did, for the log export of [`super::rooms`].
//!
//! With the group and room state the entry was accepted in (a hub room replayed from its
//! checkpoint), a Remove names the client at its leaf and participant-list indices name their
//! users and roles; without it (entries before the checkpoint, a follower's mirror) the entry is
//! decoded from its bytes alone ([`mimi_protocol::mls_message::public_content`]). Application
//! messages are end-to-end encrypted: they are summarised, never decrypted.

use mimi_appsync::adapter::client_of;
use mimi_appsync::components::participant_list::{
    apply_updates, ParticipantChange, ParticipantListData, ParticipantListUpdate,
};
use mimi_appsync::components::{BASE_ROOM_POLICY, PARTICIPANT_LIST, PREAUTH_LIST, ROLES_LIST, ROOM_METADATA};
use mimi_appsync::state::RoomState;
use mimi_protocol::mls_message::{added_credential, public_content, PublicContent};
use openmls::messages::proposals_in::{ProposalIn, ProposalOrRefIn};
use openmls::prelude::{AppDataUpdateOperation, MlsMessageIn, PublicGroup};
use serde::{Deserialize, Serialize};
use tls_codec::{Deserialize as _, DeserializeBytes as _, Size as _};

use crate::hub::{EntryKind, LogEntry};

/// A participant-list change of a proposal, resolved against the list it applies to where
/// that is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ParticipantEdit {
    /// A user appended with a role.
    Added {
        /// The user URI.
        user: String,
        /// Its role.
        role: u32,
    },
    /// A user taken off the list (`user` is `#<index>` when the list is not known).
    Removed {
        /// The user URI.
        user: String,
    },
    /// A user's role changed (`from` unknown when the list is not).
    RoleChanged {
        /// The user URI (or `#<index>`).
        user: String,
        /// The role before.
        from: Option<u32>,
        /// The role after.
        to: u32,
    },
}

/// One proposal of a handshake, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DecodedProposal {
    /// An Add: the client its KeyPackage names.
    Add {
        /// The added client's URI.
        client: String,
    },
    /// A Remove: the leaf, and its client where the state is known.
    Remove {
        /// The leaf index.
        leaf: u32,
        /// The removed client.
        client: Option<String>,
    },
    /// A SelfRemove (the sender leaves).
    SelfRemove,
    /// An AppDataUpdate of one component.
    AppDataUpdate {
        /// The component ID.
        component: u16,
        /// Its name (`participant_list`, `roles_list`, …, or `unknown`).
        name: String,
        /// `update` or `remove`.
        operation: String,
        /// For the participant list: the edits.
        participants: Vec<ParticipantEdit>,
    },
    /// A proposal included by reference (a standalone proposal logged before).
    Reference {
        /// The ProposalRef, hex.
        reference: String,
    },
    /// Any other proposal type, by its name.
    Other {
        /// The proposal type.
        name: String,
    },
}

/// One log entry, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedEntry {
    /// Its log position.
    pub seq: u64,
    /// The epoch it was sent in.
    pub epoch: u64,
    /// `commit`, `proposal` or `application`.
    pub kind: String,
    /// The submitting client (empty for the hub's own entries).
    pub sender: String,
    /// Acceptance time, milliseconds since the UNIX epoch.
    pub accepted_ms: u64,
    /// The entry's encoded size, bytes.
    pub bytes: u64,
    /// The providers it is fanned out to.
    pub peers: Vec<String>,
    /// The providers its Welcome goes to (a commit adding their clients).
    pub welcome_peers: Vec<String>,
    /// The proposals of a handshake (the commit's, then stapled or further proposals).
    pub proposals: Vec<DecodedProposal>,
    /// Whether the proposals were decoded against the room's state at the entry (else from the
    /// bytes alone).
    pub resolved: bool,
    /// For an application message: whether the hub franked it.
    pub franked: bool,
    /// One line per thing it did, for people.
    pub summary: Vec<String>,
}

pub(super) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(super) fn role_name(state: &RoomState, role: u32) -> String {
    state.roles.role(role).map(|r| text(&r.role_name)).unwrap_or_default()
}

fn component_name(id: u16) -> &'static str {
    match id {
        PARTICIPANT_LIST => "participant_list",
        ROOM_METADATA => "room_metadata",
        ROLES_LIST => "roles_list",
        PREAUTH_LIST => "preauth_list",
        BASE_ROOM_POLICY => "base_room_policy",
        _ => "unknown",
    }
}

/// Decodes `entry`; `at` is the group and its room state the entry was accepted in, if known.
/// The proposals of one handshake are resolved in order, each participant-list update against
/// the list the previous one left.
pub(super) fn decode(entry: &LogEntry, at: Option<(&PublicGroup, &RoomState)>) -> ExportedEntry {
    let sender = entry.sender_uri().to_owned();
    let mut out = ExportedEntry {
        seq: entry.seq,
        epoch: entry.epoch,
        kind: match entry.kind {
            EntryKind::Commit => "commit",
            EntryKind::Proposal => "proposal",
            EntryKind::Application => "application",
        }
        .into(),
        sender: sender.clone(),
        accepted_ms: entry.accepted_ms,
        bytes: entry.tls_serialized_len() as u64,
        peers: entry.peers.iter().map(|p| text(p.as_slice())).collect(),
        welcome_peers: entry.welcome_peers.iter().map(|p| text(p.as_slice())).collect(),
        proposals: Vec::new(),
        resolved: at.is_some(),
        franked: entry.frank.is_some(),
        summary: Vec::new(),
    };
    let who = if sender.is_empty() { "the hub".to_owned() } else { sender };
    if entry.kind == EntryKind::Application {
        out.summary
            .push(format!("{who} sent an application message ({} bytes, encrypted)", entry.message.as_slice().len()));
        return out;
    }
    let mut list = at.map(|(_, state)| state.participants.clone());
    for message in std::iter::once(&entry.message).chain(&entry.extra) {
        let Ok(message) = MlsMessageIn::tls_deserialize_exact(message.as_slice()) else {
            out.summary.push("an MLS message that does not decode".into());
            continue;
        };
        let proposals: Vec<ProposalOrRefIn> = match public_content(&message) {
            Some(PublicContent::Commit(proposals)) => proposals,
            Some(PublicContent::Proposal(p)) => vec![ProposalOrRefIn::Proposal(Box::new(p))],
            None => {
                out.summary.push("a handshake whose content does not decode".into());
                continue;
            }
        };
        for p in proposals {
            let decoded = decode_proposal(&p, at.map(|(group, _)| group), &mut list);
            out.summary.extend(describe(&who, &decoded, at.map(|(_, s)| s)));
            out.proposals.push(decoded);
        }
    }
    if entry.kind == EntryKind::Commit {
        out.summary.push(format!("{who} committed epoch {} → {}", entry.epoch, entry.epoch + 1));
    }
    out
}

fn decode_proposal(
    proposal: &ProposalOrRefIn,
    group: Option<&PublicGroup>,
    list: &mut Option<ParticipantListData>,
) -> DecodedProposal {
    let proposal = match proposal {
        ProposalOrRefIn::Reference(r) => return DecodedProposal::Reference { reference: hex::encode(r.as_slice()) },
        ProposalOrRefIn::Proposal(p) => &**p,
    };
    match proposal {
        ProposalIn::Add(add) => DecodedProposal::Add {
            client: added_credential(add)
                .and_then(|c| client_of(&c, &String::new).ok())
                .map_or_else(|| "(an unreadable credential)".to_owned(), |c| c.to_string()),
        },
        ProposalIn::Remove(remove) => {
            let leaf = remove.removed();
            let client = group
                .and_then(|g| g.leaf(leaf))
                .and_then(|l| client_of(l.credential(), &String::new).ok())
                .map(|c| c.to_string());
            DecodedProposal::Remove { leaf: leaf.u32(), client }
        }
        ProposalIn::SelfRemove => DecodedProposal::SelfRemove,
        ProposalIn::AppDataUpdate(update) => {
            let component = update.component_id();
            let (operation, participants) = match update.operation() {
                AppDataUpdateOperation::Remove => ("remove", Vec::new()),
                AppDataUpdateOperation::Update(data) if component == PARTICIPANT_LIST => {
                    ("update", participant_edits(data.as_slice(), list))
                }
                AppDataUpdateOperation::Update(_) => ("update", Vec::new()),
            };
            DecodedProposal::AppDataUpdate {
                component,
                name: component_name(component).into(),
                operation: operation.into(),
                participants,
            }
        }
        other => DecodedProposal::Other { name: format!("{:?}", other.proposal_type()) },
    }
}

/// The edits of a `ParticipantListUpdate`, resolved against `list` (which becomes the list after
/// it) if known and the update applies; else by index.
fn participant_edits(data: &[u8], list: &mut Option<ParticipantListData>) -> Vec<ParticipantEdit> {
    let Ok(update) = ParticipantListUpdate::tls_deserialize_exact_bytes(data) else { return Vec::new() };
    if let Some(before) = list.take() {
        if let Ok((after, mut changes)) = apply_updates(before, std::slice::from_ref(&update)) {
            *list = Some(after);
            return changes
                .pop()
                .unwrap_or_default()
                .into_iter()
                .map(|c| match c {
                    ParticipantChange::Added { user, role } => ParticipantEdit::Added { user: user.to_string(), role },
                    ParticipantChange::Removed { user, .. } => ParticipantEdit::Removed { user: user.to_string() },
                    ParticipantChange::RoleChanged { user, from, to } => {
                        ParticipantEdit::RoleChanged { user: user.to_string(), from: Some(from), to }
                    }
                })
                .collect();
        }
    }
    let mut edits: Vec<ParticipantEdit> = update
        .changed_role_participants
        .iter()
        .map(|c| ParticipantEdit::RoleChanged { user: format!("#{}", c.user_index), from: None, to: c.role_index })
        .collect();
    edits.extend(update.removed_indices.iter().map(|i| ParticipantEdit::Removed { user: format!("#{i}") }));
    edits.extend(
        update.added_participants.iter().map(|p| ParticipantEdit::Added { user: text(&p.user), role: p.role_index }),
    );
    edits
}

/// Lines for people: who did what.
fn describe(who: &str, proposal: &DecodedProposal, state: Option<&RoomState>) -> Vec<String> {
    let role = |r: u32| match state.map(|s| role_name(s, r)).filter(|n| !n.is_empty()) {
        Some(name) => format!("{r} ({name})"),
        None => r.to_string(),
    };
    match proposal {
        DecodedProposal::Add { client } => vec![format!("{who} added {client}")],
        DecodedProposal::Remove { leaf, client: Some(client) } => vec![format!("{who} removed {client} (leaf {leaf})")],
        DecodedProposal::Remove { leaf, client: None } => vec![format!("{who} removed leaf {leaf}")],
        DecodedProposal::SelfRemove => vec![format!("{who} left")],
        DecodedProposal::Reference { reference } => {
            vec![format!("{who} committed proposal {}…", reference.get(..16).unwrap_or(reference))]
        }
        DecodedProposal::Other { name } => vec![format!("{who} proposed {name}")],
        DecodedProposal::AppDataUpdate { name, operation, participants, .. } if participants.is_empty() => {
            vec![format!("{who} proposed {operation} of {name}")]
        }
        DecodedProposal::AppDataUpdate { participants, .. } => participants
            .iter()
            .map(|edit| match edit {
                ParticipantEdit::Added { user, role: r } => format!("{who} added participant {user} as {}", role(*r)),
                ParticipantEdit::Removed { user } => format!("{who} removed participant {user}"),
                ParticipantEdit::RoleChanged { user, from: Some(from), to } => {
                    format!("{who} changed the role of {user} from {} to {}", role(*from), role(*to))
                }
                ParticipantEdit::RoleChanged { user, from: None, to } => {
                    format!("{who} changed the role of {user} to {}", role(*to))
                }
            })
            .collect(),
    }
}
