//! The follower role: this provider's copy of rooms whose hub is another provider.
//!
//! The hub sends each accepted entry by `/notify` (one or more `FanoutMessage`s per body). The
//! follower keeps a **mirror log** per room: the FanoutMessages in arrival order (which is hub
//! order: the hub's outbox delivers a room in order, one request at a time), numbered with local
//! sequence numbers and stored once. Local clients read it with the same client API as a hub's
//! log (`GET /client/v1/rooms/{roomId}/log`): same `RoomEntries`, same cursor semantics.
//!
//! - **Deduplication**: every FanoutMessage taken in is remembered by the SHA-256 of its
//!   encoding, in the same transaction as the mirror entries it produced. A byte-identical
//!   retried body is answered 201 and changes nothing; so does a retry that overlaps what was
//!   already taken in (the outbox re-sends from its cursor if a 201 was lost).
//! - **Welcomes** are not mirror entries: each goes to the queues of the local clients owning
//!   the KeyPackageRefs it names (stored once, however many it adds), with the mirror position
//!   to read after (the last one before it, i.e. the commit that added them, when this provider
//!   received that commit).
//! - **Echo**: when a local client's handshake or message is relayed to the hub, the follower
//!   records the MLS message's hash with the client ([`Follower::record_relayed`]); the mirror
//!   entry of its echo carries that client as sender, so the client API leaves it out for that
//!   client, exactly as a hub leaves out a client's own entries. The relay answers a `success`
//!   only once that echo is in the mirror (or after [`ECHO_WAIT`]), so that for the client, as at
//!   a hub, an acknowledged submission is already in the log it reads.
//! - **Who may read a mirror**: the follower is not a group member and keeps no `PublicGroup`,
//!   so it cannot see membership. A local client may read a mirror once it was welcomed into the
//!   room or relayed something to it (e.g. an external commit). A removed client can therefore
//!   still fetch later ciphertext, which it cannot decrypt; a hub-side membership view would
//!   close that (not done).
//!
//! Planning an intake ([`plan_intake`]) is a plain function over lookups (which it awaits, and
//! nothing else); [`Follower`] does the I/O around it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::{MlsMessageBodyIn, MlsMessageIn};
use sha2::{Digest, Sha256};
use tls_codec::VLBytes;
use tokio::sync::{oneshot, watch, Mutex};

use crate::hub::received::{locate_fanouts, FanoutBytes};
use crate::hub::{EntryKind, LogEntry};
use crate::provider::{hub_of, Provider};
use crate::store::{settle, Store, StoreError, WelcomeDelivery, Write};
use mimi_protocol::notify::{FanoutFraming, FanoutMessage, DEFAULT_MAX_FANOUT_MESSAGES};
use mimi_protocol::{WireError, DEFAULT_MAX_BODY_LEN};

/// Longest a relayed `success` waits for its echo to reach the mirror before it is answered
/// anyway (the hub's fanout to us is late, e.g. we were unreachable).
pub const ECHO_WAIT: Duration = Duration::from_secs(10);

/// Why a `/notify` was refused or could not be taken in.
#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    /// The body is not a sequence of FanoutMessages (400).
    #[error("undecodable /notify body: {0}")]
    Decode(#[from] WireError),
    /// A FanoutMessage is well-formed but unusable (400).
    #[error("FanoutMessage {index}: {why}")]
    Bad {
        /// Its position in the body.
        index: usize,
        /// What is wrong.
        why: String,
    },
    /// The sender is not the room's hub (403).
    #[error("{peer} is not the hub of {room}")]
    NotHub {
        /// The sending provider.
        peer: String,
        /// The room URI.
        room: String,
    },
    /// The local client may not read this mirror (403).
    #[error("{client} is not in {room}")]
    NotReader {
        /// The client URI.
        client: String,
        /// The room URI.
        room: String,
    },
    /// Persistence failed; nothing was taken in (503).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of this server, not the sender's (500).
    #[error("internal fault in {what}: {cause}")]
    Internal {
        /// What was being done.
        what: &'static str,
        /// What went wrong.
        cause: String,
    },
}

/// SHA-256 of an MLSMessage's encoding (the key of echo suppression).
pub fn message_hash(message: &MlsMessageIn) -> Result<Vec<u8>, tls_codec::Error> {
    Ok(encoded_message_hash(&message.tls_serialize_detached()?))
}

/// SHA-256 of an MLSMessage as encoded (received or stored): [`message_hash`] without encoding
/// the message again.
pub fn encoded_message_hash(message: &[u8]) -> Vec<u8> {
    Sha256::digest(message).to_vec()
}

/// Whether `peer` may send `/notify` for `room` to provider `ours`: only the room's hub may,
/// and never for a room whose hub we are.
pub fn authorize_notify(room: &str, peer: &str, ours: &str) -> Result<(), FollowerError> {
    match hub_of(room) {
        Some(hub) if hub.eq_ignore_ascii_case(peer) && !hub.eq_ignore_ascii_case(ours) => Ok(()),
        _ => Err(FollowerError::NotHub { peer: peer.to_owned(), room: room.to_owned() }),
    }
}

/// What one `/notify` body adds: mirror entries (numbered on from the mirror's last position),
/// Welcome queue items, and the hashes of the FanoutMessages taken in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Intake {
    /// New mirror entries, in order.
    pub entries: Vec<LogEntry>,
    /// Welcomes for local clients (each once, with the clients it adds).
    pub queue: Vec<WelcomeDelivery>,
    /// SHA-256 of each FanoutMessage taken in (not those seen before).
    pub seen: Vec<Vec<u8>>,
}

/// What [`plan_intake`] needs to know about the store (reads that may await, as the store's).
pub trait IntakeLookups {
    /// Whether a FanoutMessage with this hash was taken in already.
    fn seen(&self, hash: &[u8]) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The local client that relayed the MLS message with this hash.
    fn relayed_by(&self, hash: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// The local client owning a KeyPackageRef.
    fn key_package_owner(&self, reference: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}

impl<S: Store> IntakeLookups for S {
    fn seen(&self, hash: &[u8]) -> impl Future<Output = Result<bool, StoreError>> + Send {
        Store::seen(self, hash)
    }
    fn relayed_by(&self, hash: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        Store::relayed_by(self, hash)
    }
    fn key_package_owner(&self, reference: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        Store::key_package_owner(self, reference)
    }
}

/// Plans the intake of `messages` for `room` whose mirror ends at `last_seq`: skips
/// FanoutMessages seen before (and repeats within the body), turns Welcomes into queue items for
/// the local owners of the KeyPackageRefs they name, and the rest into mirror entries whose
/// sender is the local client that relayed the message (if any). `encoded`: each message's
/// bytes as received ([`locate_fanouts`]), which are hashed and kept.
pub async fn plan_intake(
    room: &str,
    last_seq: u64,
    messages: &[FanoutMessage],
    encoded: &[FanoutBytes<'_>],
    lookups: &impl IntakeLookups,
) -> Result<Intake, FollowerError> {
    if messages.len() != encoded.len() {
        let cause = format!("{} FanoutMessages but {} encodings", messages.len(), encoded.len());
        return Err(FollowerError::Internal { what: "planning an intake", cause });
    }
    let mut intake = Intake::default();
    let mut seq = last_seq;
    for (index, (m, encoded)) in messages.iter().zip(encoded).enumerate() {
        let bad = |why: String| FollowerError::Bad { index, why };
        let hash = Sha256::digest(encoded.whole).to_vec();
        if lookups.seen(&hash).await? || intake.seen.contains(&hash) {
            continue;
        }
        intake.seen.push(hash);
        let message = encoded.message.to_vec();
        let (kind, frank) = match &m.framing {
            FanoutFraming::Welcome { .. } => {
                let MlsMessageBodyIn::Welcome(welcome) = m.message.clone().extract() else {
                    return Err(bad("framed as a Welcome but is not one".into()));
                };
                let mut clients = Vec::new();
                for secret in welcome.secrets() {
                    clients.extend(lookups.key_package_owner(secret.new_member().as_slice()).await?);
                }
                if !clients.is_empty() {
                    // Once for all its local joiners: the store keeps the Welcome once.
                    intake.queue.push(WelcomeDelivery {
                        room: room.to_owned(),
                        after_seq: seq,
                        welcome: message,
                        ratchet_tree: Vec::new(),
                        clients,
                    });
                }
                continue;
            }
            FanoutFraming::Application { frank } => (EntryKind::Application, frank.clone()),
            FanoutFraming::Proposal { .. } => (EntryKind::Proposal, None),
            FanoutFraming::Commit { .. } => (EntryKind::Commit, None),
        };
        let epoch = m
            .message
            .clone()
            .try_into_protocol_message()
            .map_err(|e| bad(format!("not a protocol message: {e:?}")))?
            .epoch()
            .as_u64();
        // No local client relayed it: the entry has no local sender (nobody's echo).
        let sender = lookups.relayed_by(&Sha256::digest(&message)).await?.unwrap_or_default();
        seq += 1;
        intake.entries.push(LogEntry {
            seq,
            epoch,
            accepted_ms: m.timestamp,
            kind,
            message: message.into(),
            extra: encoded.extra.iter().map(|e| VLBytes::from(e.to_vec())).collect(),
            sender: sender.into_bytes().into(),
            peers: Vec::new(),
            group_info: VLBytes::new(Vec::new()),
            welcome: VLBytes::new(Vec::new()),
            welcome_peers: Vec::new(),
            frank,
        });
    }
    Ok(intake)
}

/// The follower side of a provider.
pub struct Follower<S: Store> {
    provider: Arc<Provider<S>>,
    /// Per mirrored room: serialises intakes and announces the newest mirror position.
    rooms: StdMutex<HashMap<String, Arc<MirrorSlot>>>,
    /// Relayed MLS messages (by hash) whose echo a relay is waiting for.
    echoes: StdMutex<HashMap<Vec<u8>, oneshot::Sender<()>>>,
}

/// One mirrored room's intake lock and position announcer.
struct MirrorSlot {
    intake: Mutex<()>,
    seq: watch::Sender<u64>,
}

impl<S: Store> Follower<S> {
    /// The follower of `provider` (its store and client queues).
    pub fn new(provider: Arc<Provider<S>>) -> Arc<Self> {
        Arc::new(Follower { provider, rooms: StdMutex::new(HashMap::new()), echoes: StdMutex::new(HashMap::new()) })
    }

    /// The table of mirrored rooms (a poisoned lock is refused: the table is not used after a
    /// panic while it was held).
    fn rooms(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Arc<MirrorSlot>>>, FollowerError> {
        self.rooms
            .lock()
            .map_err(|_| FollowerError::Internal { what: "mirror table", cause: "lock poisoned by a panic".into() })
    }

    async fn slot(&self, room: &str) -> Result<Arc<MirrorSlot>, FollowerError> {
        if let Some(slot) = self.rooms()?.get(room) {
            return Ok(slot.clone());
        }
        // Read without the table's lock; if another request added the room meanwhile, its slot
        // is kept (it started from the same durable position or a later one).
        let last = self.provider.store().mirror_last(room).await?;
        let slot = self
            .rooms()?
            .entry(room.to_owned())
            .or_insert_with(|| Arc::new(MirrorSlot { intake: Mutex::new(()), seq: watch::channel(last).0 }))
            .clone();
        Ok(slot)
    }

    /// Takes in a `/notify` body for `room` from `peer` (already authenticated): checks that the
    /// peer is the room's hub, decodes, plans and persists durably. Returns how many new mirror
    /// entries and Welcome queue items it produced (0 and 0 for a duplicate).
    pub async fn notify(&self, room: &str, peer: &str, body: &[u8]) -> Result<(usize, usize), FollowerError> {
        authorize_notify(room, peer, self.provider.domain())?;
        let messages = FanoutMessage::decode_body(body, DEFAULT_MAX_BODY_LEN, DEFAULT_MAX_FANOUT_MESSAGES)?;
        // Decoded from `body`: failing to find them there is this server's fault.
        let encoded = locate_fanouts(&messages, body)
            .map_err(|e| FollowerError::Internal { what: "locating the received messages", cause: e.to_string() })?;
        let slot = self.slot(room).await?;
        let _intake = slot.intake.lock().await;
        let store = self.provider.store();
        let last = store.mirror_last(room).await?;
        let intake = plan_intake(room, last, &messages, &encoded, store).await?;
        if intake.seen.is_empty() {
            tracing::debug!(room, peer, "duplicate /notify body");
            return Ok((0, 0));
        }
        let clients: Vec<String> = intake.queue.iter().flat_map(|d| d.clients.iter().cloned()).collect();
        let counts = (intake.entries.len(), clients.len());
        let newest = intake.entries.last().map(|e| e.seq);
        let echoes: Vec<Vec<u8>> = intake
            .entries
            .iter()
            .filter(|e| !e.sender.as_slice().is_empty())
            .map(|e| Sha256::digest(e.message.as_slice()).to_vec())
            .collect();
        let write =
            Write::Mirror { room: room.to_owned(), entries: intake.entries, queue: intake.queue, seen: intake.seen };
        settle(store.write(write)).await?;
        if let Some(seq) = newest {
            slot.seq.send_modify(|s| *s = (*s).max(seq));
        }
        self.provider.wake_queues(clients.iter().map(String::as_str));
        let mut waiting = self.echoes();
        for hash in echoes {
            if let Some(tx) = waiting.remove(&hash) {
                // The relay may have stopped waiting (its client went away): nobody to tell.
                let _ = tx.send(());
            }
        }
        tracing::debug!(room, peer, entries = counts.0, welcomes = counts.1, "notify taken in");
        Ok(counts)
    }

    /// The relays waiting for echoes. The map is changed by single inserts and removes, so a
    /// panic elsewhere cannot leave it half-changed: a poisoned lock is used as it is.
    fn echoes(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, oneshot::Sender<()>>> {
        self.echoes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers that local `client` relayed `message` (an MLSMessage as received) to `room`'s
    /// hub (before relaying it), so its echo is left out for it and it may read the mirror. The
    /// receiver fires once the echo is in the mirror.
    pub async fn record_relayed(&self, room: &str, client: &str, message: &[u8]) -> Result<Echo<'_, S>, FollowerError> {
        let hash = encoded_message_hash(message);
        let (tx, rx) = oneshot::channel();
        self.echoes().insert(hash.clone(), tx);
        let write = Write::Relayed { room: room.to_owned(), hash: hash.clone(), client: client.to_owned() };
        let echo = Echo { follower: self, hash, arrived: rx };
        settle(self.provider.store().write(write)).await?;
        Ok(echo)
    }

    /// The mirror of `room` after `after` (up to `limit` entries), waiting up to `wait` for new
    /// ones; only for local clients welcomed into or relaying to the room.
    pub async fn read_log(
        &self,
        room: &str,
        client: &str,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<LogEntry>, FollowerError> {
        let store = self.provider.store();
        if !store.mirror_reader(room, client).await? {
            return Err(FollowerError::NotReader { client: client.to_owned(), room: room.to_owned() });
        }
        let mut rx = self.slot(room).await?.seq.subscribe();
        if *rx.borrow() <= after {
            // A long-poll: running out of time means "nothing new yet"; the mirror is read below.
            let _ = tokio::time::timeout(wait, rx.wait_for(|seq| *seq > after)).await;
        }
        Ok(store.mirror_after(room, after, limit).await?)
    }
}

/// The awaited echo of a relayed message; dropping it stops waiting.
pub struct Echo<'a, S: Store> {
    follower: &'a Follower<S>,
    hash: Vec<u8>,
    arrived: oneshot::Receiver<()>,
}

impl<S: Store> Echo<'_, S> {
    /// Waits up to `wait` for the echo to be in the mirror; whether it arrived.
    pub async fn wait(mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, &mut self.arrived).await.is_ok_and(|r| r.is_ok())
    }
}

impl<S: Store> Drop for Echo<'_, S> {
    fn drop(&mut self) {
        self.follower.echoes().remove(&self.hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_rooms_hub_may_notify() {
        let room = "mimi://a.example/r/club";
        assert!(authorize_notify(room, "a.example", "c.example").is_ok());
        assert!(authorize_notify(room, "A.Example", "c.example").is_ok());
        assert!(matches!(authorize_notify(room, "b.example", "c.example"), Err(FollowerError::NotHub { .. })));
        // Our own rooms are never notified to us, and nonsense room URIs belong to nobody.
        assert!(authorize_notify(room, "a.example", "a.example").is_err());
        assert!(authorize_notify("mimi://a.example/u/alice", "a.example", "c.example").is_err());
        assert!(authorize_notify("https://a.example/r/x", "a.example", "c.example").is_err());
    }

    /// Lookups over fixed sets.
    struct Fixed {
        seen: Vec<Vec<u8>>,
    }

    impl IntakeLookups for Fixed {
        fn seen(&self, hash: &[u8]) -> impl Future<Output = Result<bool, StoreError>> + Send {
            std::future::ready(Ok(self.seen.iter().any(|h| h == hash)))
        }
        fn relayed_by(&self, _: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
            std::future::ready(Ok(None))
        }
        fn key_package_owner(&self, _: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
            std::future::ready(Ok(None))
        }
    }

    #[tokio::test]
    async fn an_empty_body_and_a_seen_one_plan_nothing() {
        let plan = plan_intake("mimi://a.example/r/x", 7, &[], &[], &Fixed { seen: vec![] }).await.unwrap();
        assert_eq!(plan, Intake::default());
    }
}
