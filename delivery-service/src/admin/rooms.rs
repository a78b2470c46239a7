//! What the operator sees of rooms: the listing (`mimi-ds room list`), one room's state
//! (`mimi-ds room show`) and its log with the handshakes decoded (`mimi-ds room export`), as
//! plain functions of what the store holds.
//!
//! A room this provider is the hub of is rebuilt from its stored checkpoint and the log after it
//! ([`Room::restore`]), stepping through that tail one entry at a time with the hub's own
//! pipeline ([`Room::decide_logged`], [`Room::apply`]): so the state at each epoch since the
//! checkpoint is known (members with their leaves, participants with their roles), and each
//! handshake is decoded against the state it was accepted in — a Remove names the client at its
//! leaf, a participant-list update names the users its indices point at. Entries before the
//! checkpoint (and a follower's mirror, which has no state here) are decoded from their bytes
//! alone: an Add still names its client, a Remove only its leaf ([`super::decode`]).
//!
//! Per peer, the fanout position is the peer's durable outbox cursor
//! ([`crate::federation::outbox`]) and its lag the log positions after it.

use std::collections::BTreeSet;

use mimi_appsync::adapter::{client_of, room_state};
use mimi_appsync::components::roles::capability;
use mimi_appsync::state::RoomState;
use openmls::prelude::PublicGroup;
use openmls_rust_crypto::RustCrypto;
use serde::{Deserialize, Serialize};
use tls_codec::Size as _;

use super::decode::{decode, role_name, text, ExportedEntry};
use super::AdminError;
use crate::hub::{EntryKind, LogEntry, Room};
use crate::store::{Store, StoredRoom};

/// Entries read from the store at a time.
const PAGE: usize = 1000;

/// One room in the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    /// The room URI.
    pub room: String,
    /// `hub` (this provider sequences it) or `follower` (a copy of another hub's room).
    pub role: String,
    /// The current epoch (a follower: the epoch of the last entry mirrored).
    pub epoch: u64,
    /// MLS members (clients) now; `None` for a follower's mirror (its state is the hub's).
    pub members: Option<usize>,
    /// The log's last position (a follower: the mirror's).
    pub log_head: u64,
}

/// One MLS member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its leaf index.
    pub leaf: u32,
    /// Its client URI.
    pub client: String,
}

/// One participant of the participant list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// The user URI.
    pub user: String,
    /// Its role index.
    pub role: u32,
    /// The role's name in the room's `roles_list` (empty if the role is not listed).
    pub role_name: String,
    /// How many of the user's clients are members.
    pub clients: usize,
}

/// One role of the room's `roles_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSummary {
    /// The role index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Its capabilities, by their draft names.
    pub capabilities: Vec<String>,
}

/// The room's policy, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySummary {
    /// `room_metadata`'s name.
    pub room_name: String,
    /// The roles.
    pub roles: Vec<RoleSummary>,
    /// `fixed_membership`.
    pub fixed_membership: bool,
    /// `multi_device`.
    pub multi_device: bool,
    /// `max_clients`.
    pub max_clients: Option<u32>,
    /// `max_users`.
    pub max_users: Option<u32>,
    /// `persistent_room`.
    pub persistent_room: bool,
    /// `discoverable`.
    pub discoverable: bool,
    /// Entries in `preauth_list`.
    pub preauthorized: usize,
}

/// The state at one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochState {
    /// The epoch.
    pub epoch: u64,
    /// The log position it starts after (the commit that made it, or the checkpoint's).
    pub since_seq: u64,
    /// The members.
    pub members: Vec<Member>,
    /// The participants.
    pub participants: Vec<Participant>,
}

/// The log's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSize {
    /// Entries kept.
    pub entries: u64,
    /// Their encoded size, bytes.
    pub bytes: u64,
    /// The first kept position (0 if none).
    pub first_seq: u64,
    /// The last position.
    pub head: u64,
    /// The position of the stored checkpoint (0: the room's creation).
    pub checkpoint_seq: u64,
}

/// One follower provider's fanout position in a room's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerLag {
    /// The peer's domain.
    pub peer: String,
    /// Its outbox cursor: the last position it acknowledged.
    pub cursor: u64,
    /// Log positions after the cursor (`head - cursor`).
    pub lag: u64,
    /// Of those, the entries that go to the peer (entries or Welcomes).
    pub pending: u64,
}

/// One room, as `mimi-ds room show` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomView {
    /// The room URI.
    pub room: String,
    /// `hub` or `follower`.
    pub role: String,
    /// The current epoch.
    pub epoch: u64,
    /// The members now (empty for a follower's mirror).
    pub members: Vec<Member>,
    /// The participants now (empty for a follower's mirror).
    pub participants: Vec<Participant>,
    /// The policy (`None` for a follower's mirror).
    pub policy: Option<PolicySummary>,
    /// The log's size.
    pub log: LogSize,
    /// Per follower provider, its fanout position (a hub's room only).
    pub peers: Vec<PeerLag>,
    /// The state at each epoch since the checkpoint, oldest first.
    pub epochs: Vec<EpochState>,
    /// Submissions to the room the hub refused since it started (known to the running server
    /// only; `None` when the command ran on the store).
    pub refused: Option<u64>,
}

/// A room's log with the handshakes decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogExport {
    /// The room URI.
    pub room: String,
    /// `hub` or `follower` (a follower exports its mirror).
    pub role: String,
    /// The entries, in log order.
    pub entries: Vec<ExportedEntry>,
}

/// Every room: those this provider is the hub of, then the mirrors it keeps as a follower.
pub async fn list_rooms<S: Store>(store: &S) -> Result<Vec<RoomSummary>, AdminError> {
    let crypto = RustCrypto::default();
    let mut out = Vec::new();
    for stored in store.rooms().await? {
        let room = restore(&crypto, &stored)?;
        out.push(RoomSummary {
            room: room.id().to_owned(),
            role: "hub".into(),
            epoch: room.epoch(),
            members: Some(room.member_count()),
            log_head: room.seq(),
        });
    }
    out.sort_by(|a, b| a.room.cmp(&b.room));
    for (room, last) in store.mirrored_rooms().await? {
        let epoch = store.mirror_after(&room, last.saturating_sub(1), 1).await?.first().map_or(0, |e| e.epoch);
        out.push(RoomSummary { room, role: "follower".into(), epoch, members: None, log_head: last });
    }
    Ok(out)
}

/// One room's state, log size and fanout positions.
pub async fn show_room<S: Store>(store: &S, room: &str) -> Result<RoomView, AdminError> {
    let crypto = RustCrypto::default();
    let (source, entries) = read(store, room).await?;
    let log = log_size(&entries, &source);
    let Source::Hub(stored) = source else {
        let epoch = entries.last().map_or(0, |e| e.epoch);
        return Ok(RoomView {
            room: room.to_owned(),
            role: "follower".into(),
            epoch,
            members: Vec::new(),
            participants: Vec::new(),
            policy: None,
            log,
            peers: Vec::new(),
            epochs: Vec::new(),
            refused: None,
        });
    };
    let replay = replay(&crypto, &stored, false)?;
    let state = state_of(replay.room.group())?;
    let mut peers = BTreeSet::new();
    for e in &entries {
        for p in e.peers.iter().chain(&e.welcome_peers) {
            peers.insert(String::from_utf8_lossy(p.as_slice()).into_owned());
        }
    }
    let mut lags = Vec::new();
    for peer in peers {
        let cursor = store.outbox_cursor(&peer, room).await?;
        let pending = entries.iter().filter(|e| e.seq > cursor && e.goes_to(&peer)).count() as u64;
        lags.push(PeerLag { lag: log.head.saturating_sub(cursor), cursor, pending, peer });
    }
    Ok(RoomView {
        room: room.to_owned(),
        role: "hub".into(),
        epoch: replay.room.epoch(),
        members: members_of(replay.room.group()),
        participants: participants_of(&state),
        policy: Some(policy_of(&state)),
        log,
        peers: lags,
        epochs: replay.epochs,
        refused: None,
    })
}

/// The room's log, each entry decoded (see the module docs).
pub async fn export_log<S: Store>(store: &S, room: &str) -> Result<LogExport, AdminError> {
    let crypto = RustCrypto::default();
    let (source, entries) = read(store, room).await?;
    let (role, decoded) = match &source {
        Source::Hub(stored) => ("hub", replay(&crypto, stored, true)?.decoded),
        Source::Mirror => ("follower", Vec::new()),
    };
    let entries = entries
        .iter()
        .map(|e| decoded.iter().find(|d| d.seq == e.seq).cloned().unwrap_or_else(|| decode(e, None)))
        .collect();
    Ok(LogExport { room: room.to_owned(), role: role.into(), entries })
}

/// Where a room's log comes from.
enum Source {
    /// A room of this hub.
    Hub(Box<StoredRoom>),
    /// A follower's mirror.
    Mirror,
}

/// The room and every log (or mirror) entry the store keeps of it.
async fn read<S: Store>(store: &S, room: &str) -> Result<(Source, Vec<LogEntry>), AdminError> {
    let mut entries: Vec<LogEntry> = Vec::new();
    if let Some(stored) = store.room(room).await? {
        loop {
            let after = entries.last().map_or(0, |e| e.seq);
            let page = store.log_after(room, after, PAGE).await?;
            let done = page.len() < PAGE;
            entries.extend(page);
            if done {
                break;
            }
        }
        return Ok((Source::Hub(Box::new(stored)), entries));
    }
    loop {
        let after = entries.last().map_or(0, |e| e.seq);
        let page = store.mirror_after(room, after, PAGE).await?;
        let done = page.len() < PAGE;
        entries.extend(page);
        if done {
            break;
        }
    }
    if entries.is_empty() {
        return Err(AdminError::NotFound(format!("no room {room} here")));
    }
    Ok((Source::Mirror, entries))
}

fn log_size(entries: &[LogEntry], source: &Source) -> LogSize {
    LogSize {
        entries: entries.len() as u64,
        bytes: entries.iter().map(|e| e.tls_serialized_len() as u64).sum(),
        first_seq: entries.first().map_or(0, |e| e.seq),
        head: entries.last().map_or(0, |e| e.seq),
        checkpoint_seq: match source {
            Source::Hub(stored) => stored.checkpoint.seq,
            Source::Mirror => 0,
        },
    }
}

fn restore(crypto: &RustCrypto, stored: &StoredRoom) -> Result<Room, AdminError> {
    Room::restore(crypto, &stored.checkpoint, &stored.pending, &stored.tail)
        .map_err(|e| AdminError::Room(e.to_string()))
}

/// A room rebuilt entry by entry from its checkpoint.
struct Replay {
    /// The room now.
    room: Room,
    /// The state at the checkpoint and after each commit since.
    epochs: Vec<EpochState>,
    /// The entries after the checkpoint, decoded against the state they were accepted in (if
    /// asked for).
    decoded: Vec<ExportedEntry>,
}

fn replay(crypto: &RustCrypto, stored: &StoredRoom, decode_entries: bool) -> Result<Replay, AdminError> {
    let mut room =
        Room::restore(crypto, &stored.checkpoint, &stored.pending, &[]).map_err(|e| AdminError::Room(e.to_string()))?;
    let mut epochs = vec![epoch_state(&room, stored.checkpoint.seq)?];
    let mut decoded = Vec::new();
    for entry in &stored.tail {
        if decode_entries && entry.kind == EntryKind::Application {
            // Nothing of the state is needed to summarise a message.
            decoded.push(ExportedEntry { resolved: true, ..decode(entry, None) });
        } else if decode_entries {
            let before = state_of(room.group())?;
            decoded.push(decode(entry, Some((room.group(), &before))));
        }
        let accepted = room
            .decide_logged(crypto, entry)
            .map_err(|reason| AdminError::Room(format!("{}: entry {}: {reason}", room.id(), entry.seq)))?;
        room.apply(entry, accepted).map_err(|e| AdminError::Room(e.to_string()))?;
        if entry.kind == EntryKind::Commit {
            epochs.push(epoch_state(&room, entry.seq)?);
        }
    }
    Ok(Replay { room, epochs, decoded })
}

fn state_of(group: &PublicGroup) -> Result<RoomState, AdminError> {
    room_state(group).map_err(|e| AdminError::Room(format!("room state: {e}")))
}

fn epoch_state(room: &Room, since_seq: u64) -> Result<EpochState, AdminError> {
    let state = state_of(room.group())?;
    Ok(EpochState {
        epoch: room.epoch(),
        since_seq,
        members: members_of(room.group()),
        participants: participants_of(&state),
    })
}

fn members_of(group: &PublicGroup) -> Vec<Member> {
    group
        .members()
        .map(|m| Member {
            leaf: m.index.u32(),
            client: client_of(&m.credential, &|| String::new()).map_or_else(|e| e.to_string(), |c| c.to_string()),
        })
        .collect()
}

fn participants_of(state: &RoomState) -> Vec<Participant> {
    state
        .participants
        .users()
        .map(|(user, role)| Participant {
            clients: state.clients_of(&user).count(),
            user: user.to_string(),
            role,
            role_name: role_name(state, role),
        })
        .collect()
}

fn policy_of(state: &RoomState) -> PolicySummary {
    let base = &state.base_policy;
    PolicySummary {
        room_name: text(&state.metadata.room_name.string),
        roles: state
            .roles
            .roles
            .iter()
            .map(|r| RoleSummary {
                index: r.role_index,
                name: text(&r.role_name),
                capabilities: r
                    .role_capabilities
                    .iter()
                    .map(|c| capability::name(*c).map_or_else(|| format!("0x{c:04x}"), str::to_owned))
                    .collect(),
            })
            .collect(),
        fixed_membership: base.fixed_membership.0,
        multi_device: base.multi_device.0,
        max_clients: base.max_clients,
        max_users: base.max_users,
        persistent_room: base.persistent_room.0,
        discoverable: base.discoverable.0,
        preauthorized: state.preauth.preauthorized_entries.len(),
    }
}

/// `mimi-ds room show`'s text.
pub fn write_view(f: &mut std::fmt::Formatter<'_>, v: &RoomView) -> std::fmt::Result {
    writeln!(f, "{} ({}), epoch {}", v.room, v.role, v.epoch)?;
    if let Some(p) = &v.policy {
        writeln!(f, "name: {}", p.room_name)?;
        let roles: Vec<String> = p.roles.iter().map(|r| format!("{} {}", r.index, r.name)).collect();
        writeln!(f, "roles: {}", roles.join(", "))?;
        let limit = |l: Option<u32>| l.map_or_else(|| "none".to_owned(), |n| n.to_string());
        writeln!(
            f,
            "policy: fixed_membership {} multi_device {} max_clients {} max_users {} persistent {} discoverable {} preauthorized {}",
            p.fixed_membership,
            p.multi_device,
            limit(p.max_clients),
            limit(p.max_users),
            p.persistent_room,
            p.discoverable,
            p.preauthorized
        )?;
    }
    writeln!(f, "members ({}):", v.members.len())?;
    for m in &v.members {
        writeln!(f, "  leaf {} {}", m.leaf, m.client)?;
    }
    writeln!(f, "participants ({}):", v.participants.len())?;
    for p in &v.participants {
        writeln!(f, "  {} role {} ({}), {} client(s)", p.user, p.role, p.role_name, p.clients)?;
    }
    writeln!(
        f,
        "log: {} entries, {} bytes, positions {}..={}, checkpoint at {}",
        v.log.entries, v.log.bytes, v.log.first_seq, v.log.head, v.log.checkpoint_seq
    )?;
    for p in &v.peers {
        writeln!(f, "peer {}: cursor {}, lag {} (pending {})", p.peer, p.cursor, p.lag, p.pending)?;
    }
    match v.refused {
        Some(n) => write!(f, "refused submissions since the server started: {n}"),
        None => write!(f, "refused submissions: (known to the running server only)"),
    }
}
