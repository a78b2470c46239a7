//! Rooms of this hub: creating them, deciding on handshakes and application messages (the
//! sequencer and the admission rules decide; this persists and answers), and reading the log.
//!
//! Every request is parsed once, at the HTTP edge: the entry the hub logs, fans out and serves
//! holds the MLS messages as they were received ([`crate::hub::received`]).

use std::sync::Arc;
use std::time::Duration;

use mimi_appsync::uri::ClientUri;
use openmls::prelude::tls_codec::Size as _;
use openmls::prelude::MlsMessageIn;
use tokio::sync::watch;

use super::{entry_bytes, now_ms, Provider, ProviderError, Published, Slot, Submitter};
use crate::hub::admission::{self, HandshakeRefusal};
use crate::hub::received::{app_message_bytes, encode_message, BundleBytes};
use crate::hub::{Accepted, LogAccess, LogEntry, Room};
use crate::store::{settle, Compacted, RoomCreator, Store, StoreError, WelcomeDelivery, Write};
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageStatus};
use mimi_protocol::update::{HandshakeBundle, HandshakeBundleContent, UpdateRoomOutcome, UpdateRoomResponse};

/// A room is checkpointed once the log bytes written since its last checkpoint reach the size of
/// that checkpoint (at least this much): the checkpoint's cost is then at most the log's, so the
/// disk cost of a commit tracks its own size, not the group's, and replay after a restart reads
/// at most about twice the checkpoint.
const MIN_CHECKPOINT_INTERVAL_BYTES: u64 = 256 * 1024;
/// ... or once this many entries were appended, whichever comes first (bounds replay time).
const MAX_CHECKPOINT_INTERVAL_ENTRIES: u64 = 50_000;

/// Whether `slot` is due a checkpoint: once the log since the last one is as large as a
/// checkpoint (at least [`MIN_CHECKPOINT_INTERVAL_BYTES`]), so checkpoints cost at most as much
/// as the log they cover, or after [`MAX_CHECKPOINT_INTERVAL_ENTRIES`].
fn checkpoint_due(slot: &Slot) -> bool {
    slot.log_bytes >= slot.checkpoint_bytes.max(MIN_CHECKPOINT_INTERVAL_BYTES)
        || slot.room.seq() - slot.checkpointed >= MAX_CHECKPOINT_INTERVAL_ENTRIES
}

fn not_allowed(why: impl std::fmt::Display) -> UpdateRoomResponse {
    UpdateRoomResponse { error_description: why.to_string().into(), outcome: UpdateRoomOutcome::NotAllowed }
}

/// The draft's name of a refused handshake's response code (protocol-06 §5.3), for the metrics.
fn update_code(outcome: &UpdateRoomOutcome) -> &'static str {
    match outcome {
        UpdateRoomOutcome::Success { .. } => "success",
        UpdateRoomOutcome::WrongEpoch { .. } => "wrongEpoch",
        UpdateRoomOutcome::NotAllowed => "notAllowed",
        UpdateRoomOutcome::InvalidProposal { .. } => "invalidProposal",
    }
}

/// The draft's name of a refused message's response code (protocol-06 §5.4), for the metrics.
fn submit_code(status: &SubmitMessageStatus) -> &'static str {
    match status {
        SubmitMessageStatus::Accepted { .. } => "accepted",
        SubmitMessageStatus::NotAllowed => "notAllowed",
        SubmitMessageStatus::EpochTooOld { .. } => "epochTooOld",
    }
}

/// A request's bytes do not match its decoded value: the HTTP edge handed over the wrong body.
fn mismatch(e: crate::hub::received::Mismatch) -> ProviderError {
    ProviderError::internal("locating the received messages", e)
}

impl<S: Store> Provider<S> {
    /// Creates a room whose hub is this provider, from its creator's GroupInfo (with the tree).
    /// The creator's user may have created at most
    /// [`Quotas::rooms_per_user`](crate::hub::admission::Quotas) rooms here: beyond it,
    /// `ProviderError::Quota` (429) and nothing is stored.
    pub async fn create_room(
        &self,
        creator: &ClientUri,
        room_id: &str,
        group_info: &[u8],
    ) -> Result<(), ProviderError> {
        let refused = |r: admission::CreateRefusal| match r {
            admission::CreateRefusal::NotOurs { .. } => ProviderError::BadRequest(r.to_string()),
            admission::CreateRefusal::Exists(_) | admission::CreateRefusal::NotSoleMember => {
                ProviderError::Forbidden(r.to_string())
            }
        };
        admission::check_new_room(&self.domain, room_id, self.slot(room_id).is_ok()).map_err(refused)?;
        let room = Room::create(room_id, &self.crypto, group_info, &self.hub_signature_key())?;
        admission::check_creator(&room, creator)?.map_err(refused)?;
        let checkpoint = room.checkpoint()?;
        let checkpoint_bytes = checkpoint.tls_serialized_len() as u64;
        // The store counts the room for its creator's user in the transaction that creates it,
        // so two racing creations cannot both pass the cap.
        let creator_quota =
            RoomCreator { user: creator.user().as_str().to_owned(), max_rooms: self.quotas.rooms_per_user };
        let write = Write::CreateRoom { checkpoint: Box::new(checkpoint), creator: Some(creator_quota) };
        match settle(self.store.write(write)).await {
            // Created meanwhile by a concurrent request for the same URI.
            Err(StoreError::Room { .. }) => {
                return Err(refused(admission::CreateRefusal::Exists(room_id.to_owned())));
            }
            Err(StoreError::Quota(refusal)) => return Err(self.quota_refused(refusal)),
            other => other?,
        };
        let published = Arc::new(watch::channel(Published::of(&room)).0);
        let slot = Slot { room, checkpointed: 0, checkpoint_bytes, log_bytes: 0, published, broken: false };
        self.rooms.write().map_err(|_| ProviderError::poisoned("room table"))?.insert(room_id.to_owned(), slot.cell());
        tracing::info!(room = room_id, creator = %creator, "room created");
        Ok(())
    }

    /// `/update` from an authenticated submitter: as [`Provider::update`], but the handshake's
    /// sender (the member or joining client that signed it) must be the submitting client, or a
    /// client of the submitting provider: a provider acts only for its own clients. For
    /// in-process callers; the HTTP edge calls [`Provider::update_received`].
    pub async fn update_from(
        &self,
        room_id: &str,
        bundle: &HandshakeBundle,
        submitter: &Submitter,
    ) -> Result<UpdateRoomResponse, ProviderError> {
        let body = BundleBytes::encode(bundle).map_err(|e| ProviderError::BadRequest(e.to_string()))?;
        self.update_received(room_id, bundle, &body, submitter).await
    }

    /// `/update` as received: `bundle` decoded from `body` (an `UpdateRequest`), submitted by
    /// `submitter`. The accepted entry holds the messages as received.
    pub async fn update_received(
        &self,
        room_id: &str,
        bundle: &HandshakeBundle,
        body: &[u8],
        submitter: &Submitter,
    ) -> Result<UpdateRoomResponse, ProviderError> {
        let bytes = BundleBytes::locate(bundle, body).map_err(mismatch)?;
        self.decide_and_persist(room_id, bundle, &bytes, Some(submitter)).await
    }

    /// `/update`: decides on a handshake bundle; an accepted one is durable before the answer.
    /// For in-process callers that vouch for the sender themselves (tests, benchmarks).
    pub async fn update(&self, room_id: &str, bundle: &HandshakeBundle) -> Result<UpdateRoomResponse, ProviderError> {
        let body = BundleBytes::encode(bundle).map_err(|e| ProviderError::BadRequest(e.to_string()))?;
        let bytes = BundleBytes::locate(bundle, &body).map_err(mismatch)?;
        self.decide_and_persist(room_id, bundle, &bytes, None).await
    }

    async fn decide_and_persist(
        &self,
        room_id: &str,
        bundle: &HandshakeBundle,
        bytes: &BundleBytes<'_>,
        submitter: Option<&Submitter>,
    ) -> Result<UpdateRoomResponse, ProviderError> {
        let mut slot = self.lock(room_id).await?;
        let refuse = |refusal: HandshakeRefusal, epoch: u64| {
            self.metrics.refused.increment(1);
            self.count_refusal(room_id);
            self.count_hub_refusal(update_code(&UpdateRoomOutcome::NotAllowed));
            tracing::info!(room = room_id, epoch, %refusal, "handshake refused by the hub's rules");
            not_allowed(refusal)
        };
        if let Some(submitter) = submitter {
            if let Err(refusal) = admission::admit_submitter(&slot.room, submitter, bundle) {
                return Ok(refuse(refusal, slot.room.epoch()));
            }
        }
        let decision = slot.room.decide_received(&self.crypto, bundle, bytes, now_ms());
        let Some((mut entry, accepted)) = decision.accepted else {
            self.metrics.refused.increment(1);
            self.count_refusal(room_id);
            self.count_hub_refusal(update_code(&decision.response.outcome));
            tracing::info!(room = room_id, epoch = slot.room.epoch(), outcome = ?decision.response.outcome,
                reason = %decision.response.error_description, "handshake refused");
            return Ok(decision.response);
        };
        if let Err(refusal) = admission::quota::admit_accepted(&slot.room, &accepted, &self.quotas) {
            self.count_quota_refusal(refusal.quota);
            return Ok(refuse(refusal.into(), slot.room.epoch()));
        }
        let welcome = match &bundle.content {
            HandshakeBundleContent::Commit { welcome, .. } => welcome.as_ref(),
            HandshakeBundleContent::Proposal { .. } => None,
        };
        if let Err(refusal) = admission::check_welcome(&self.crypto, &accepted, welcome)? {
            return Ok(refuse(refusal.into(), slot.room.epoch()));
        }
        let mut claims_used = Vec::new();
        if let Some(submitter) = submitter {
            let admitted = admission::admit_handshake(
                &self.crypto,
                &self.store,
                room_id,
                submitter,
                entry.sender_uri(),
                &accepted,
            )
            .await?;
            match admitted {
                Ok(used) => claims_used = used,
                Err(refusal) => return Ok(refuse(refusal, slot.room.epoch())),
            }
        }
        let queue = match (&bundle.content, &accepted, bytes.welcome_message()) {
            (HandshakeBundleContent::Commit { welcome: Some(welcome), .. }, Accepted::Commit { .. }, Some(message)) => {
                let routing =
                    admission::welcome_routing(&self.domain, entry.sender_uri(), welcome, &self.store).await?;
                if !routing.remote.is_empty() {
                    entry.welcome = message.clone().into();
                    entry.welcome_peers = routing.remote.into_iter().map(|d| d.into_bytes().into()).collect();
                }
                if routing.local.is_empty() {
                    Vec::new()
                } else {
                    // One delivery for all local joiners: the store keeps the Welcome once.
                    vec![WelcomeDelivery {
                        room: room_id.to_owned(),
                        after_seq: entry.seq,
                        welcome: message,
                        ratchet_tree: Vec::new(),
                        clients: routing.local,
                    }]
                }
            }
            _ => Vec::new(),
        };
        self.persist_and_apply(&mut slot, entry, accepted, queue, claims_used).await?;
        Ok(decision.response)
    }

    /// `/submitMessage` for a message from `sender` (a local client, or the `sendingUri` a
    /// follower vouches for). For in-process callers; the HTTP edge calls
    /// [`Provider::submit_message_received`].
    pub async fn submit_message(
        &self,
        room_id: &str,
        message: &MlsMessageIn,
        sender: &str,
    ) -> Result<SubmitMessageStatus, ProviderError> {
        let encoded = encode_message(message).map_err(|e| ProviderError::BadRequest(e.to_string()))?;
        self.decide_message(room_id, message, &encoded, sender).await
    }

    /// `/submitMessage` as received: `request` decoded from `body`; the accepted entry holds the
    /// message as received.
    pub async fn submit_message_received(
        &self,
        room_id: &str,
        request: &SubmitMessageRequest,
        body: &[u8],
        sender: &str,
    ) -> Result<SubmitMessageStatus, ProviderError> {
        let encoded = app_message_bytes(request, body).map_err(mismatch)?;
        self.decide_message(room_id, &request.app_message, encoded, sender).await
    }

    async fn decide_message(
        &self,
        room_id: &str,
        message: &MlsMessageIn,
        encoded: &[u8],
        sender: &str,
    ) -> Result<SubmitMessageStatus, ProviderError> {
        // Application messages are pipelined: decided and queued for the writer under the room
        // lock (so log order is decision order), answered only once durable, with the lock
        // released meanwhile so the next message of the room can be decided. They change nothing
        // in the room but its log position; if the write fails, the room is reloaded from the
        // store before its next decision.
        let (ticket, entry, status, notify) = {
            let mut slot = self.lock(room_id).await?;
            let decision = slot.room.decide_message_received(message, encoded, sender, now_ms());
            let mut status = decision.status;
            let Some(mut entry) = decision.accepted else {
                self.metrics.messages_refused.increment(1);
                self.count_refusal(room_id);
                self.count_hub_refusal(submit_code(&status));
                return Ok(status);
            };
            let frank = self
                .franker
                .frank(&self.crypto, &self.hub_key, &slot.room, &entry, message)
                .map_err(|e| ProviderError::internal("franking", e))?;
            if let (Some(f), SubmitMessageStatus::Accepted { frank, .. }) = (&frank, &mut status) {
                *frank = Some(f.clone());
            }
            entry.frank = frank;
            let write = Write::Append {
                room: room_id.to_owned(),
                entries: vec![entry.clone()],
                queue: Vec::new(),
                claims_used: Vec::new(),
            };
            let ticket = self.store.write(write);
            if let Err(e) = slot.room.apply(&entry, Accepted::Application) {
                slot.broken = true;
                return Err(e.into());
            }
            // Paced like handshakes (by the bytes since the last checkpoint): retention compacts
            // the log only behind a checkpoint, so a room of messages alone needs them too.
            slot.log_bytes += entry_bytes(&entry);
            if checkpoint_due(&slot) {
                self.checkpoint_behind(&mut slot);
            }
            (ticket, entry, status, slot.published.clone())
        };
        if let Err(e) = settle(ticket).await {
            self.slot(room_id)?.lock().await.broken = true;
            return Err(e.into());
        }
        notify.send_modify(|p| p.seq = p.seq.max(entry.seq));
        self.appended.send_modify(|n| *n += 1);
        self.metrics.messages.increment(1);
        Ok(status)
    }

    /// Queues a checkpoint behind the pipelined appends it covers (the store refuses it if any of
    /// them failed), without waiting: a failed checkpoint loses nothing (the log has it all), it
    /// only lengthens replay, so its outcome is only logged.
    fn checkpoint_behind(&self, slot: &mut Slot) {
        let room = slot.room.id().to_owned();
        match slot.room.checkpoint() {
            Ok(checkpoint) => {
                slot.checkpoint_bytes = checkpoint.tls_serialized_len() as u64;
                let ticket = self.store.write(Write::Checkpoint(Box::new(checkpoint)));
                tokio::spawn(async move {
                    if let Err(e) = settle(ticket).await {
                        tracing::warn!(room = %room, error = %e, "checkpoint failed");
                    }
                });
                slot.checkpointed = slot.room.seq();
                slot.log_bytes = 0;
            }
            Err(e) => tracing::error!(room = %room, error = %e, "checkpoint not made"),
        }
    }

    /// Makes `entry` durable (with its Welcome for local clients `queue` and the claims it uses,
    /// `claims_used`, in one transaction), then applies it, checkpoints if due and wakes readers.
    async fn persist_and_apply(
        &self,
        slot: &mut Slot,
        entry: LogEntry,
        accepted: Accepted,
        queue: Vec<WelcomeDelivery>,
        claims_used: Vec<Vec<u8>>,
    ) -> Result<(), ProviderError> {
        let room_id = slot.room.id().to_owned();
        let clients: Vec<String> = queue.iter().flat_map(|d| d.clients.iter().cloned()).collect();
        let write = Write::Append { room: room_id.clone(), entries: vec![entry.clone()], queue, claims_used };
        // Broken until applied: if this future is dropped while the write is in flight (the entry
        // durable or not), the room is reloaded from its log on next use instead of deciding on
        // a state the log may have left behind.
        slot.broken = true;
        if let Err(e) = settle(self.store.write(write)).await {
            // Pipelined messages before this entry may have failed too; reload to be sure.
            return Err(e.into());
        }
        let commit = matches!(accepted, Accepted::Commit { .. });
        let handshake = !matches!(accepted, Accepted::Application);
        match &accepted {
            Accepted::Commit { .. } => self.metrics.commits.increment(1),
            Accepted::Proposals(_) => self.metrics.proposals.increment(1),
            Accepted::Application => self.metrics.messages.increment(1),
        }
        if let Err(e) = slot.room.apply(&entry, accepted) {
            // Durable but not applied: the room in memory is behind its log; it stays broken
            // and is reloaded.
            return Err(e.into());
        }
        slot.broken = false;
        slot.log_bytes += entry_bytes(&entry);
        if checkpoint_due(slot) {
            // A failed checkpoint loses nothing (the log has it all); it only lengthens replay.
            match slot.room.checkpoint() {
                Ok(cp) => {
                    let size = cp.tls_serialized_len() as u64;
                    match settle(self.store.write(Write::Checkpoint(Box::new(cp)))).await {
                        Ok(_) => {
                            slot.checkpointed = slot.room.seq();
                            slot.checkpoint_bytes = size;
                            slot.log_bytes = 0;
                            self.metrics.checkpoints.increment(1);
                            tracing::debug!(room = %room_id, seq = slot.checkpointed, bytes = size, "checkpoint written");
                        }
                        Err(e) => tracing::warn!(room = %room_id, error = %e, "checkpoint failed"),
                    }
                }
                Err(e) => tracing::error!(room = %room_id, error = %e, "checkpoint not made"),
            }
        }
        let seq = slot.room.seq();
        // A commit may change who reads the log: readers see it with the commit's position. Any
        // handshake changes what `/groupInfo` answers.
        let readers = commit.then(|| Arc::new(slot.room.readers()));
        slot.published.send_modify(|p| {
            p.seq = p.seq.max(seq);
            if let Some(readers) = readers {
                p.readers = readers;
            }
            if handshake {
                p.group_info = Arc::default();
            }
        });
        self.appended.send_modify(|n| *n += 1);
        self.wake_queues(clients.iter().map(String::as_str));
        tracing::debug!(room = %room_id, seq = entry.seq, epoch = entry.epoch, kind = ?entry.kind, "accepted");
        Ok(())
    }

    /// The room log after `after` (up to `limit` entries), waiting up to `wait` for new ones,
    /// as far as `client` may read it ([`Room::log_access`]): a member all of it, a removed
    /// client up to the commit that removed it (an empty page after that), anyone else 403.
    ///
    /// Readers never take the room's decision lock (a commit holds it across its durable write):
    /// they read what the room published after its last durable append ([`Published`]) and then
    /// the store.
    pub async fn read_log(
        &self,
        room_id: &str,
        client: &ClientUri,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<LogEntry>, ProviderError> {
        let mut rx = self.cell(room_id)?.published.subscribe();
        let (mut access, newest) = {
            let p = rx.borrow();
            (p.readers.access(client.as_str()), p.seq)
        };
        if access == LogAccess::All && newest <= after {
            // A long-poll: running out of time, or the room's announcer going away, both mean
            // "nothing new yet"; the log is read below either way.
            let _ = tokio::time::timeout(wait, rx.wait_for(|p| p.seq > after)).await;
            // The client may have been removed meanwhile: what follows its removal is not its.
            access = rx.borrow().readers.access(client.as_str());
        }
        match access {
            LogAccess::Denied => Err(ProviderError::Forbidden(format!("{client} is not in {room_id}"))),
            // A removed client reads up to the commit that removed it, and no further.
            LogAccess::Through(last) if after >= last => Ok(Vec::new()),
            LogAccess::Through(last) => {
                // More entries than fit in memory are never asked for: saturating is exact here.
                let limit = limit.min(usize::try_from(last - after).unwrap_or(usize::MAX));
                Ok(Compacted::check(room_id, after, self.store.log_after(room_id, after, limit).await?)?)
            }
            LogAccess::All => Ok(Compacted::check(room_id, after, self.store.log_after(room_id, after, limit).await?)?),
        }
    }
}
