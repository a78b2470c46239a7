//! [`Store`] in memory: the same semantics as [`super::redb::RedbStore`] without a file, so hub
//! tests run fast, and as the plain statement of what a back end does with each [`Write`] (a
//! reference for a back end on another database). Nothing is durable beyond the process; clones
//! share one state, so a provider can be "restarted" on a clone of the store it ran on.
//!
//! A write is applied under one lock, whole or not at all (every precondition is checked before
//! anything changes), in the order writes arrive; its ticket has resolved when
//! [`Store::write`] returns. What to write is decided by [`super::rules`] and, for our devices,
//! [`crate::auth::clients`], as for every back end.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use super::rules::{self, KeyPackageTerms};
use super::{
    ClaimScope, ClientRecord, ClientStatus, CodeRecord, ConsentState, KeyPackageClaim, Store, StoreError,
    StoredAbuseReport, StoredKeyPackage, StoredRoom, StoredToken, TokenRecord, Trim, Trimmed, Voucher, WelcomeDelivery,
    Write, WriteResult, WriteTicket,
};
use crate::auth::{self, Admission};
use crate::hub::admission::quota;
use crate::hub::{Checkpoint, LogEntry, QueueItem};

/// The in-memory store. Cloning shares the state.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<RwLock<State>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, State>, StoreError> {
        self.state.read().map_err(|_| poisoned())
    }
}

fn poisoned() -> StoreError {
    StoreError::Io("the memory store's lock is poisoned (a write panicked)".into())
}

/// Everything stored, keyed as the redb tables are.
#[derive(Default)]
struct State {
    /// room URI → latest checkpoint.
    rooms: BTreeMap<String, Checkpoint>,
    /// room URI → seq → log entry.
    logs: HashMap<String, BTreeMap<u64, LogEntry>>,
    /// client URI → queue position → queue item.
    queues: HashMap<String, BTreeMap<u64, Queued>>,
    /// client URI → the last position its queue ever had (never reused once trimmed).
    queue_heads: HashMap<String, u64>,
    /// Each Welcome once, however many queue items refer to it.
    welcomes: HashSet<Arc<StoredWelcome>>,
    /// token hash → the token's device and expiry.
    tokens: HashMap<Vec<u8>, TokenRecord>,
    /// client URI → the hashes of its tokens.
    client_tokens: HashMap<String, BTreeSet<Vec<u8>>>,
    /// client URI → its record, for every device ever registered.
    clients: HashMap<String, ClientRecord>,
    /// enrollment code hash → for whom, until when.
    codes: HashMap<Vec<u8>, CodeRecord>,
    /// user URI → its registered (active or revoked) clients, in URI order (the order claims serve
    /// them in).
    user_clients: BTreeMap<String, BTreeSet<String>>,
    /// user URI → how many rooms its clients created (counted against its quota).
    rooms_created: HashMap<String, usize>,
    /// (user URI, client URI) → KeyPackageRef → KeyPackage, in reference order.
    key_packages: HashMap<(String, String), BTreeMap<Vec<u8>, StoredKeyPackage>>,
    /// KeyPackageRef → client URI (kept after the claim).
    owners: HashMap<Vec<u8>, String>,
    /// (follower domain, room URI) → last log position it acknowledged.
    outbox: HashMap<(String, String), u64>,
    /// room URI → mirror seq → entry, for rooms whose hub is another provider.
    mirrors: HashMap<String, BTreeMap<u64, LogEntry>>,
    /// SHA-256 of the FanoutMessages taken in → when (ms).
    seen: HashMap<Vec<u8>, u64>,
    /// SHA-256 of a relayed MLSMessage → the local client that relayed it, and when (ms).
    relayed: HashMap<Vec<u8>, (String, u64)>,
    /// KeyPackageRef → the latest claim recorded for it.
    claims: HashMap<Vec<u8>, KeyPackageClaim>,
    /// (requester, target, [`rules::consent_room`]) → the consent recorded.
    consent: HashMap<(String, String, String), ConsentState>,
    /// (room URI, [`rules::abuse_report_key`]) → the report as first received.
    abuse: BTreeMap<(String, [u8; 32]), StoredAbuseReport>,
    /// (room URI, reporting user URI) → abuse reports kept (counted against its quota).
    abuse_counts: HashMap<(String, String), usize>,
}

/// A Welcome as every queue item for it carries it.
#[derive(PartialEq, Eq, Hash)]
struct StoredWelcome {
    welcome: Vec<u8>,
    ratchet_tree: Vec<u8>,
}

/// A queue item (its position is the key's).
struct Queued {
    room: String,
    after_seq: u64,
    welcome: Arc<StoredWelcome>,
    /// When it was queued (ms).
    queued_ms: u64,
}

fn last_key<V>(map: Option<&BTreeMap<u64, V>>) -> u64 {
    map.and_then(|m| m.last_key_value()).map_or(0, |(k, _)| *k)
}

/// Up to `limit` entries after `after` of a log-shaped map.
fn entries_after(map: Option<&BTreeMap<u64, LogEntry>>, after: u64, limit: usize) -> Vec<LogEntry> {
    let Some(map) = map else { return Vec::new() };
    map.range(after.saturating_add(1)..).take(limit).map(|(_, e)| e.clone()).collect()
}

impl State {
    /// `room` as [`Store::rooms`] reads it: `checkpoint`, its pending proposals' entries, the log
    /// after it.
    fn stored_room(&self, room: &str, checkpoint: &Checkpoint) -> Result<StoredRoom, StoreError> {
        let log = self.logs.get(room);
        let pending = checkpoint
            .pending_seqs
            .iter()
            .map(|seq| {
                log.and_then(|l| l.get(seq)).cloned().ok_or_else(|| StoreError::Corrupt {
                    table: "room_log",
                    why: format!("{room}: pending entry {seq} missing"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tail = entries_after(log, checkpoint.seq, usize::MAX);
        Ok(StoredRoom { checkpoint: checkpoint.clone(), pending, tail })
    }

    /// Applies one write, whole or not at all; what it stores is stamped `now_ms` (when age
    /// matters for retention).
    fn apply(&mut self, w: Write, now_ms: u64) -> Result<WriteResult, StoreError> {
        match w {
            Write::CreateRoom { checkpoint: cp, creator } => {
                let room = String::from_utf8_lossy(cp.room_id.as_slice()).into_owned();
                if self.rooms.contains_key(&room) {
                    return Err(StoreError::Room { room, why: "already exists" });
                }
                if let Some(creator) = creator {
                    let held = self.rooms_created.get(&creator.user).copied().unwrap_or(0);
                    quota::rooms(&creator.user, held, creator.max_rooms)?;
                    self.rooms_created.insert(creator.user, held + 1);
                }
                self.rooms.insert(room, *cp);
            }
            Write::Checkpoint(cp) => {
                let room = String::from_utf8_lossy(cp.room_id.as_slice()).into_owned();
                if !self.rooms.contains_key(&room) {
                    return Err(StoreError::Room { room, why: "does not exist" });
                }
                rules::check_checkpoint(&room, last_key(self.logs.get(&room)), cp.seq)?;
                self.rooms.insert(room, *cp);
            }
            Write::Append { room, entries, queue, claims_used } => {
                if !self.rooms.contains_key(&room) {
                    return Err(StoreError::Room { room, why: "does not exist" });
                }
                rules::check_follows(&room, &entries, last_key(self.logs.get(&room)))?;
                for r in &claims_used {
                    // A claim recorded for another room (claimed again meanwhile) is left alone.
                    if let Some(claim) = self.claims.get_mut(r).filter(|c| c.scope.room == room) {
                        claim.used = true;
                    }
                }
                self.enqueue(queue, now_ms);
                self.logs.entry(room).or_default().extend(entries.into_iter().map(|e| (e.seq, e)));
            }
            Write::Mirror { room, entries, queue, seen } => {
                rules::check_follows(&room, &entries, last_key(self.mirrors.get(&room)))?;
                self.enqueue(queue, now_ms);
                for hash in seen {
                    self.seen.entry(hash).or_insert(now_ms);
                }
                self.mirrors.entry(room).or_default().extend(entries.into_iter().map(|e| (e.seq, e)));
            }
            Write::Relayed { hash, client } => {
                let stamp = self.relayed.get(&hash).map_or(now_ms, |(_, at)| *at);
                self.relayed.insert(hash, (client, stamp));
            }
            Write::Trim(trim) => return Ok(WriteResult::Trimmed(self.trim(&trim))),
            Write::Consent { requester, target, room, operation } => {
                let key = (requester, target, rules::consent_room(room.as_deref()).to_owned());
                match ConsentState::after(self.consent.get(&key).copied(), operation) {
                    Some(state) => self.consent.insert(key, state),
                    None => self.consent.remove(&key),
                };
            }
            Write::KeyPackageClaims { references, scope } => self.record_claims(references, &scope),
            Write::RegisterClient { client, user, voucher, token, now_ms } => {
                let code = match &voucher {
                    Voucher::Code { hash } => self.codes.get(hash),
                    _ => None,
                };
                let device_token = match &voucher {
                    Voucher::Device { token_hash } => self.tokens.get(token_hash),
                    _ => None,
                };
                let existing = self.clients.get(&client);
                if auth::admit_registration(
                    &client,
                    &user,
                    &voucher,
                    token.is_none(),
                    existing,
                    code,
                    device_token,
                    now_ms,
                )? == Admission::AlreadyRegistered
                {
                    return Ok(WriteResult::Done);
                }
                if let Voucher::Code { hash } = &voucher {
                    self.codes.remove(hash);
                }
                let record = ClientRecord { user: user.clone(), status: ClientStatus::Active, since_ms: now_ms };
                self.clients.insert(client.clone(), record);
                self.user_clients.entry(user).or_default().insert(client.clone());
                if let Some(token) = token {
                    self.insert_token(client, token);
                }
            }
            Write::IssueToken { client, token, replaces, now_ms } => {
                let replaced = replaces.as_ref().map(|hash| self.tokens.get(hash));
                auth::admit_token(&client, self.clients.get(&client), replaced, now_ms)?;
                let tokens = &self.tokens;
                let mut stale: Vec<Vec<u8>> = self
                    .client_tokens
                    .get(&client)
                    .into_iter()
                    .flatten()
                    .filter(|h| tokens.get(*h).is_none_or(|t| !auth::tokens::is_live(t.expires_ms, now_ms)))
                    .cloned()
                    .collect();
                stale.extend(replaces);
                self.delete_tokens(&client, &stale);
                self.insert_token(client, token);
            }
            Write::AddEnrollmentCode { hash, code, now_ms } => {
                self.codes.retain(|_, c| !auth::codes::is_expired(c, now_ms));
                self.codes.insert(hash, code);
            }
            Write::EndClient { client, ending, now_ms } => {
                let record = auth::admit_ending(&client, self.clients.get(&client), ending, now_ms)?;
                let tokens: Vec<Vec<u8>> = self.client_tokens.get(&client).into_iter().flatten().cloned().collect();
                self.delete_tokens(&client, &tokens);
                self.key_packages.remove(&(record.user.clone(), client.clone()));
                if record.status == ClientStatus::Removed {
                    if let Some(clients) = self.user_clients.get_mut(&record.user) {
                        clients.remove(&client);
                    }
                }
                self.clients.insert(client, record);
            }
            Write::PutKeyPackages { key_packages: kps, max_per_client, now_secs } => {
                // Checked for every client first: a refused upload leaves no trace.
                let mut adding: BTreeMap<(String, String), usize> = BTreeMap::new();
                for kp in &kps {
                    *adding.entry((kp.user.clone(), kp.client.clone())).or_default() += 1;
                }
                for (key, n) in &adding {
                    let held = self
                        .key_packages
                        .get(key)
                        .map_or(0, |k| k.values().filter(|k| !rules::is_expired(k.not_after, now_secs)).count());
                    quota::key_packages(&key.1, held, *n, max_per_client)?;
                }
                for key in adding.keys() {
                    if let Some(kps) = self.key_packages.get_mut(key) {
                        kps.retain(|_, k| !rules::is_expired(k.not_after, now_secs));
                    }
                }
                for kp in kps {
                    self.owners.insert(kp.reference.clone(), kp.client.clone());
                    let client = self.key_packages.entry((kp.user.clone(), kp.client.clone())).or_default();
                    client.insert(kp.reference.clone(), kp);
                }
            }
            Write::ClaimKeyPackages { user, now_secs, scope } => {
                let (claimed, exhausted) = self.claim(&user, now_secs);
                if let Some(scope) = scope {
                    self.record_claims(claimed.iter().map(|k| k.reference.clone()).collect(), &scope);
                }
                return Ok(WriteResult::Claimed { claimed, exhausted });
            }
            Write::AbuseReport { report, counted_as, max_per_reporter } => {
                let key = (report.room.clone(), rules::abuse_report_key(&report.report));
                if !self.abuse.contains_key(&key) {
                    let count = (report.room.clone(), counted_as);
                    let held = self.abuse_counts.get(&count).copied().unwrap_or(0);
                    quota::abuse_reports(&count.1, &count.0, held, max_per_reporter)?;
                    self.abuse_counts.insert(count, held + 1);
                    self.abuse.insert(key, report);
                }
            }
            Write::AdvanceOutbox { peer, room, seq } => {
                let cursor = self.outbox.entry((peer, room)).or_insert(0);
                if rules::outbox_advances(*cursor, seq) {
                    *cursor = seq;
                }
            }
        }
        Ok(WriteResult::Done)
    }

    /// Stores `token` of `client` (record and index).
    fn insert_token(&mut self, client: String, token: StoredToken) {
        self.client_tokens.entry(client.clone()).or_default().insert(token.hash.clone());
        self.tokens.insert(token.hash, TokenRecord { client, expires_ms: token.expires_ms });
    }

    /// Deletes the tokens `hashes` of `client` (records and index).
    fn delete_tokens(&mut self, client: &str, hashes: &[Vec<u8>]) {
        for hash in hashes {
            self.tokens.remove(hash);
            if let Some(index) = self.client_tokens.get_mut(client) {
                index.remove(hash);
            }
        }
    }

    /// Records `references` as unused claims of `scope`.
    fn record_claims(&mut self, references: Vec<Vec<u8>>, scope: &ClaimScope) {
        for r in references {
            self.claims.insert(r, KeyPackageClaim { scope: scope.clone(), used: false });
        }
    }

    /// Holds each Welcome of `queue` once and appends an item referring to it to each of its
    /// clients' queues.
    fn enqueue(&mut self, queue: Vec<WelcomeDelivery>, now_ms: u64) {
        for delivery in queue {
            let body = StoredWelcome { welcome: delivery.welcome, ratchet_tree: delivery.ratchet_tree };
            let welcome = match self.welcomes.get(&body) {
                Some(held) => held.clone(),
                None => {
                    let held = Arc::new(body);
                    self.welcomes.insert(held.clone());
                    held
                }
            };
            for client in delivery.clients {
                let head = self.queue_heads.entry(client.clone()).or_insert(0);
                *head += 1;
                let item = Queued {
                    room: delivery.room.clone(),
                    after_seq: delivery.after_seq,
                    welcome: welcome.clone(),
                    queued_ms: now_ms,
                };
                self.queues.entry(client).or_default().insert(*head, item);
            }
        }
    }

    /// Claims one KeyPackage per registered client of `user` (see [`rules::pick_key_package`]):
    /// what was served, and the clients with nothing left.
    /// One retention pass ([`Write::Trim`]), in the order the redb store takes: queue items read
    /// past, then expired ones, deduplication and echo records, room logs, mirrors.
    fn trim(&mut self, trim: &Trim) -> Trimmed {
        let mut done = Trimmed::default();
        let mut left = trim.budget as u64;
        let take = |left: &mut u64| {
            let ok = *left > 0;
            *left = left.saturating_sub(1);
            ok
        };
        let queue_cutoff = trim.cutoff(trim.retention.queue_ttl_ms);
        let mut doomed: Vec<(String, u64)> = Vec::new();
        for (client, through) in &trim.read_past {
            let q = self.queues.get(client).into_iter().flat_map(|q| q.range(..=through));
            doomed.extend(q.map(|(seq, _)| (client.clone(), *seq)));
        }
        let mut expired: Vec<(u64, String, u64)> = self
            .queues
            .iter()
            .flat_map(|(c, q)| q.iter().map(move |(seq, i)| (i.queued_ms, c.clone(), *seq)))
            .filter(|(at, _, _)| rules::is_past(*at, queue_cutoff))
            .collect();
        expired.sort();
        doomed.extend(expired.into_iter().map(|(_, c, seq)| (c, seq)));
        for (client, seq) in doomed {
            let Some(q) = self.queues.get_mut(&client) else { continue };
            if !q.contains_key(&seq) || !take(&mut left) {
                continue;
            }
            if let Some(item) = q.remove(&seq) {
                done.queue_items += 1;
                // The set's own reference and this item's: the last item of this Welcome.
                if Arc::strong_count(&item.welcome) == 2 {
                    self.welcomes.remove(&item.welcome);
                    done.welcomes += 1;
                    left = left.saturating_sub(1);
                }
            }
        }
        let dedup = trim.cutoff(trim.retention.dedup_window_ms);
        let mut by_age: Vec<(u64, Vec<u8>)> =
            self.seen.iter().filter(|(_, at)| rules::is_past(**at, dedup)).map(|(h, at)| (*at, h.clone())).collect();
        by_age.sort();
        for (_, hash) in by_age {
            if take(&mut left) {
                self.seen.remove(&hash);
                done.seen += 1;
            }
        }
        let mut by_age: Vec<(u64, Vec<u8>)> = self
            .relayed
            .iter()
            .filter(|(_, (_, at))| rules::is_past(*at, dedup))
            .map(|(h, (_, at))| (*at, h.clone()))
            .collect();
        by_age.sort();
        for (_, hash) in by_age {
            if take(&mut left) {
                self.relayed.remove(&hash);
                done.relayed += 1;
            }
        }
        let logs = trim.cutoff(trim.retention.log_retention_ms);
        for (room, checkpoint) in &self.rooms {
            let fence = rules::LogFence::of(checkpoint);
            let Some(log) = self.logs.get_mut(room) else { continue };
            let outbox = &self.outbox;
            let delivered =
                |e: &LogEntry| e.all_peers().all(|p| outbox.get(&(p, room.clone())).is_some_and(|c| *c >= e.seq));
            while let Some((&seq, e)) = log.first_key_value() {
                if !rules::log_entry_compactable(fence, seq, e.accepted_ms, logs, delivered(e)) || !take(&mut left) {
                    break;
                }
                log.remove(&seq);
                done.log_entries += 1;
            }
        }
        for mirror in self.mirrors.values_mut() {
            let last = last_key(Some(mirror));
            while let Some((&seq, e)) = mirror.first_key_value() {
                if !rules::mirror_entry_compactable(seq, last, e.accepted_ms, logs) || !take(&mut left) {
                    break;
                }
                mirror.remove(&seq);
                done.mirror_entries += 1;
            }
        }
        done.more = left == 0;
        done
    }

    fn claim(&mut self, user: &str, now_secs: u64) -> (Vec<StoredKeyPackage>, Vec<String>) {
        let (mut claimed, mut exhausted) = (Vec::new(), Vec::new());
        let clients = self.user_clients.get(user).cloned().unwrap_or_default();
        // A revoked device is not served.
        let active = |c: &String| self.clients.get(c).is_some_and(|r| r.status == ClientStatus::Active);
        let clients: Vec<String> = clients.into_iter().filter(active).collect();
        for client in clients {
            let Some(kps) = self.key_packages.get_mut(&(user.to_owned(), client.clone())) else {
                exhausted.push(client);
                continue;
            };
            let references: Vec<Vec<u8>> = kps.keys().cloned().collect();
            let terms = kps.values().map(|k| KeyPackageTerms { last_resort: k.last_resort, not_after: k.not_after });
            let pick = rules::pick_key_package(terms, now_secs);
            let served = pick.served.and_then(|i| kps.get(&references[i]).cloned());
            for i in pick.expired {
                kps.remove(&references[i]);
            }
            if let (true, Some(i)) = (pick.delete_served, pick.served) {
                kps.remove(&references[i]);
            }
            match served {
                Some(kp) => claimed.push(kp),
                None => exhausted.push(client),
            }
        }
        (claimed, exhausted)
    }
}

impl Store for MemoryStore {
    fn write(&self, write: Write) -> WriteTicket {
        let (reply, ticket) = tokio::sync::oneshot::channel();
        let result = match self.state.write() {
            Ok(mut state) => state.apply(write, crate::provider::now_ms()),
            Err(_) => Err(poisoned()),
        };
        let _ = reply.send(result);
        ticket
    }

    async fn rooms(&self) -> Result<Vec<StoredRoom>, StoreError> {
        let state = self.read()?;
        state.rooms.iter().map(|(room, checkpoint)| state.stored_room(room, checkpoint)).collect()
    }

    async fn room(&self, room: &str) -> Result<Option<StoredRoom>, StoreError> {
        let state = self.read()?;
        state.rooms.get(room).map(|checkpoint| state.stored_room(room, checkpoint)).transpose()
    }

    async fn log_after(&self, room: &str, after: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        Ok(entries_after(self.read()?.logs.get(room), after, limit))
    }

    async fn queue_after(&self, client: &str, after: u64, limit: usize) -> Result<Vec<QueueItem>, StoreError> {
        let state = self.read()?;
        let Some(q) = state.queues.get(client) else { return Ok(Vec::new()) };
        let items = q.range(after.saturating_add(1)..).take(limit).map(|(seq, item)| QueueItem {
            seq: *seq,
            room: item.room.as_bytes().to_vec().into(),
            after_seq: item.after_seq,
            welcome: item.welcome.welcome.clone().into(),
            ratchet_tree: item.welcome.ratchet_tree.clone().into(),
        });
        Ok(items.collect())
    }

    async fn token(&self, token_hash: &[u8]) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.read()?.tokens.get(token_hash).cloned())
    }

    async fn client(&self, client: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.read()?.clients.get(client).cloned())
    }

    async fn clients_of(&self, user: &str) -> Result<Vec<(String, ClientRecord)>, StoreError> {
        let state = self.read()?;
        let clients = state.user_clients.get(user).into_iter().flatten();
        clients
            .map(|c| {
                let record = state.clients.get(c).cloned().ok_or_else(|| StoreError::Corrupt {
                    table: "clients",
                    why: format!("{c} is a client of {user} without a record"),
                })?;
                Ok((c.clone(), record))
            })
            .collect()
    }

    async fn key_package_owner(&self, reference: &[u8]) -> Result<Option<String>, StoreError> {
        Ok(self.read()?.owners.get(reference).cloned())
    }

    async fn outbox_cursor(&self, peer: &str, room: &str) -> Result<u64, StoreError> {
        Ok(self.read()?.outbox.get(&(peer.to_owned(), room.to_owned())).copied().unwrap_or(0))
    }

    async fn mirror_after(&self, room: &str, after: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        Ok(entries_after(self.read()?.mirrors.get(room), after, limit))
    }

    async fn mirror_last(&self, room: &str) -> Result<u64, StoreError> {
        Ok(last_key(self.read()?.mirrors.get(room)))
    }

    async fn seen(&self, hash: &[u8]) -> Result<bool, StoreError> {
        Ok(self.read()?.seen.contains_key(hash))
    }

    async fn relayed_by(&self, hash: &[u8]) -> Result<Option<String>, StoreError> {
        Ok(self.read()?.relayed.get(hash).map(|(client, _)| client.clone()))
    }

    async fn key_package_claim(&self, reference: &[u8]) -> Result<Option<KeyPackageClaim>, StoreError> {
        Ok(self.read()?.claims.get(reference).cloned())
    }

    async fn consent(
        &self,
        requester: &str,
        target: &str,
        room: Option<&str>,
    ) -> Result<Option<ConsentState>, StoreError> {
        let key = (requester.to_owned(), target.to_owned(), rules::consent_room(room).to_owned());
        Ok(self.read()?.consent.get(&key).copied())
    }

    async fn user_exists(&self, user: &str) -> Result<bool, StoreError> {
        Ok(self.read()?.user_clients.get(user).is_some_and(|c| !c.is_empty()))
    }

    async fn abuse_reports(&self, room: &str) -> Result<Vec<StoredAbuseReport>, StoreError> {
        let state = self.read()?;
        let reports = state.abuse.range((room.to_owned(), [0; 32])..=(room.to_owned(), [0xff; 32]));
        Ok(reports.map(|(_, r)| r.clone()).collect())
    }

    async fn devices(&self) -> Result<Vec<(String, String, ClientRecord)>, StoreError> {
        let state = self.read()?;
        let mut out = Vec::new();
        for (user, clients) in &state.user_clients {
            for client in clients {
                let record = state.clients.get(client).cloned().ok_or_else(|| StoreError::Corrupt {
                    table: "clients",
                    why: format!("{client} is a client of {user} without a record"),
                })?;
                out.push((user.clone(), client.clone(), record));
            }
        }
        Ok(out)
    }

    async fn mirrored_rooms(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let state = self.read()?;
        let mut rooms: Vec<(String, u64)> = state
            .mirrors
            .iter()
            .filter(|(_, entries)| !entries.is_empty())
            .map(|(room, entries)| (room.clone(), last_key(Some(entries))))
            .collect();
        rooms.sort();
        Ok(rooms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::{self, append, checkpoint};
    use crate::store::settle;

    contract::contract_tests!(fresh: MemoryStore::new, reopen: {
        let store = MemoryStore::new();
        move || store.clone()
    });

    /// What a back end in another crate runs (the tests above are the same checks, one each).
    #[tokio::test]
    async fn run_all_runs_the_whole_contract() {
        let store = MemoryStore::new();
        contract::run_all(MemoryStore::new, move || store.clone()).await;
    }

    #[tokio::test]
    async fn a_ticket_has_resolved_when_the_write_returns() {
        let s = MemoryStore::new();
        let room = "mimi://a.example/r/x";
        let mut ticket = s.write(Write::create_room(checkpoint(room, 0)));
        assert_eq!(ticket.try_recv().unwrap().unwrap(), WriteResult::Done);
        let mut ticket = s.write(append(room, 2..=2));
        assert!(matches!(ticket.try_recv().unwrap(), Err(StoreError::Conflict { .. })));
        settle(s.write(append(room, 1..=1))).await.unwrap();
    }

    #[tokio::test]
    async fn a_welcome_for_many_clients_is_held_once() {
        let s = MemoryStore::new();
        let clients: Vec<String> = (0..100).map(|i| format!("mimi://a.example/d/u{i}/phone")).collect();
        let delivery = WelcomeDelivery {
            room: "mimi://b.example/r/m".into(),
            after_seq: 1,
            welcome: vec![7; 64 * 1024],
            ratchet_tree: vec![],
            clients: clients.clone(),
        };
        let w =
            Write::Mirror { room: delivery.room.clone(), entries: vec![], queue: vec![delivery.clone()], seen: vec![] };
        settle(s.write(w)).await.unwrap();
        // The same Welcome again, for another client, is not held a second time either.
        let again = WelcomeDelivery { clients: vec!["mimi://a.example/d/dave/pc".into()], ..delivery.clone() };
        let w = Write::Mirror { room: delivery.room.clone(), entries: vec![], queue: vec![again], seen: vec![] };
        settle(s.write(w)).await.unwrap();
        let state = s.read().unwrap();
        assert_eq!(state.welcomes.len(), 1);
        let held = state.welcomes.iter().next().unwrap();
        // One reference per queue item, plus the set's own.
        assert_eq!(Arc::strong_count(held), clients.len() + 2);
    }
}
