//! Applying one [`Write`] inside the writer's batch transaction: the fences (appends by
//! position, checkpoints by the durable log), Welcome storage and queue numbering, KeyPackage
//! claims and their records, consent, abuse reports, follower intake, the outbox cursors, and our
//! devices' registrations, tokens, enrollment codes and ends.
//!
//! Every precondition of a write is checked before anything of it is written, so a failed write
//! leaves no trace in the transaction the other writes of its batch commit in. What to write is
//! decided by [`crate::store::rules`] and, for our devices, [`crate::auth::clients`]; this module
//! only reads and writes tables.

use std::collections::{BTreeMap, HashMap};

use redb::ReadableTable;
use sha2::{Digest, Sha256};
use tls_codec::Deserialize as _;

use super::schema::{
    corrupt, encode, io, last_seq, AbuseRecord, ClaimRecord, ClientEntry, CodeEntry, KeyPackageRecord, QueueRecord,
    TokenEntry, WelcomeRecord, ABUSE, ABUSE_COUNTS, CLIENTS, CLIENT_TOKENS, CODES, CONSENT, FENCES, KEY_PACKAGES,
    KP_CLAIMS, KP_OWNERS, LOG, MIRROR, OUTBOX, QUEUE, QUEUE_HEADS, QUEUE_TIMES, RELAYED, RELAYED_TIMES, ROOMS,
    ROOMS_CREATED, SEEN, SEEN_TIMES, TOKENS, USER_CLIENTS, WELCOMES, WELCOME_REFS,
};
use crate::auth::{self, Admission};
use crate::hub::admission::quota;
use crate::hub::LogEntry;
use crate::store::rules::{self, KeyPackageTerms};
use crate::store::{
    ClaimScope, ClientRecord, ClientStatus, ConsentState, StoreError, StoredKeyPackage, StoredToken, TokenRecord,
    Voucher, WelcomeDelivery, Write, WriteResult,
};

/// The last log position of each room the writer has touched: appends are fenced on it without
/// a range seek each. Only the writer appends, so it stays exact as long as every batch it
/// describes committed (the writer clears it when one does not).
pub(super) type LastSeqs = HashMap<String, u64>;

/// Applies one write inside the batch transaction `tx`; what it stores is stamped `now_ms` (when
/// age matters for retention).
pub(super) fn apply(
    tx: &redb::WriteTransaction,
    w: &Write,
    last_seqs: &mut LastSeqs,
    now_ms: u64,
) -> Result<WriteResult, StoreError> {
    match w {
        Write::CreateRoom { checkpoint: cp, creator } => {
            let room = String::from_utf8_lossy(cp.room_id.as_slice()).into_owned();
            let mut rooms = tx.open_table(ROOMS).map_err(io)?;
            if rooms.get(room.as_str()).map_err(io)?.is_some() {
                return Err(StoreError::Room { room, why: "already exists" });
            }
            if let Some(creator) = creator {
                let mut created = tx.open_table(ROOMS_CREATED).map_err(io)?;
                let held = created.get(creator.user.as_str()).map_err(io)?.map_or(0, |v| v.value());
                let held = usize::try_from(held).unwrap_or(usize::MAX);
                quota::rooms(&creator.user, held, creator.max_rooms)?;
                created.insert(creator.user.as_str(), held as u64 + 1).map_err(io)?;
            }
            rooms.insert(room.as_str(), encode(cp.as_ref())?.as_slice()).map_err(io)?;
            put_fence(tx, &room, cp)?;
        }
        Write::Checkpoint(cp) => {
            let room = String::from_utf8_lossy(cp.room_id.as_slice()).into_owned();
            let mut rooms = tx.open_table(ROOMS).map_err(io)?;
            if rooms.get(room.as_str()).map_err(io)?.is_none() {
                return Err(StoreError::Room { room, why: "does not exist" });
            }
            let last = last_seq(&tx.open_table(LOG).map_err(io)?, &room)?;
            rules::check_checkpoint(&room, last, cp.seq)?;
            rooms.insert(room.as_str(), encode(cp.as_ref())?.as_slice()).map_err(io)?;
            put_fence(tx, &room, cp)?;
        }
        Write::Append { room, entries, queue, claims_used } => {
            let mut log = tx.open_table(LOG).map_err(io)?;
            let last = match last_seqs.get(room) {
                Some(last) => *last,
                None => {
                    // First append to this room since the writer started: check it exists.
                    if tx.open_table(ROOMS).map_err(io)?.get(room.as_str()).map_err(io)?.is_none() {
                        return Err(StoreError::Room { room: room.clone(), why: "does not exist" });
                    }
                    last_seq(&log, room)?
                }
            };
            rules::check_follows(room, entries, last)?;
            if !claims_used.is_empty() {
                spend_claims(tx, room, claims_used)?;
            }
            if !queue.is_empty() {
                enqueue(tx, queue, now_ms)?;
            }
            return append_entries(&mut log, room, entries, last, last_seqs);
        }
        Write::Mirror { room, entries, queue, seen } => {
            let mut mirror = tx.open_table(MIRROR).map_err(io)?;
            rules::check_follows(room, entries, last_seq(&mirror, room)?)?;
            if !queue.is_empty() {
                enqueue(tx, queue, now_ms)?;
            }
            let mut seen_table = tx.open_table(SEEN).map_err(io)?;
            let mut seen_times = tx.open_table(SEEN_TIMES).map_err(io)?;
            for hash in seen {
                if seen_table.insert(hash.as_slice(), ()).map_err(io)?.is_none() {
                    seen_times.insert((now_ms, hash.as_slice()), ()).map_err(io)?;
                }
            }
            for e in entries {
                mirror.insert((room.as_str(), e.seq), encode(e)?.as_slice()).map_err(io)?;
            }
        }
        Write::Relayed { hash, client } => {
            if tx.open_table(RELAYED).map_err(io)?.insert(hash.as_slice(), client.as_str()).map_err(io)?.is_none() {
                tx.open_table(RELAYED_TIMES).map_err(io)?.insert((now_ms, hash.as_slice()), ()).map_err(io)?;
            }
        }
        Write::Consent { requester, target, room, operation } => {
            let mut t = tx.open_table(CONSENT).map_err(io)?;
            let key = (requester.as_str(), target.as_str(), rules::consent_room(room.as_deref()));
            let current = t.get(key).map_err(io)?.and_then(|v| ConsentState::from_byte(v.value()));
            match ConsentState::after(current, *operation) {
                Some(state) => t.insert(key, state.to_byte()).map_err(io)?,
                None => t.remove(key).map_err(io)?,
            };
        }
        Write::KeyPackageClaims { references, scope } => record_claims(tx, references, scope)?,
        Write::RegisterClient { client, user, voucher, token, now_ms } => {
            register(tx, client, user, voucher, token.as_ref(), *now_ms)?
        }
        Write::IssueToken { client, token, replaces, now_ms } => {
            let existing = read_client(tx, client)?;
            let replaced = match replaces {
                Some(hash) => Some(read_token(tx, hash)?),
                None => None,
            };
            auth::admit_token(client, existing.as_ref(), replaced.as_ref().map(Option::as_ref), *now_ms)?;
            let expired = |t: &TokenRecord| !auth::tokens::is_live(t.expires_ms, *now_ms);
            let mut stale = client_tokens(tx, client, expired)?;
            stale.extend(replaces.iter().cloned());
            delete_tokens(tx, client, &stale)?;
            insert_token(tx, client, token)?;
        }
        Write::AddEnrollmentCode { hash, code, now_ms } => {
            let mut codes = tx.open_table(CODES).map_err(io)?;
            let mut expired = Vec::new();
            for row in codes.iter().map_err(io)? {
                let (k, v) = row.map_err(io)?;
                if auth::codes::is_expired(&CodeEntry::decode(v.value())?, *now_ms) {
                    expired.push(k.value().to_vec());
                }
            }
            for k in expired {
                codes.remove(k.as_slice()).map_err(io)?;
            }
            codes.insert(hash.as_slice(), encode(&CodeEntry::new(code))?.as_slice()).map_err(io)?;
        }
        Write::EndClient { client, ending, now_ms } => {
            let existing = read_client(tx, client)?;
            let record = auth::admit_ending(client, existing.as_ref(), *ending, *now_ms)?;
            let tokens = client_tokens(tx, client, |_| true)?;
            delete_tokens(tx, client, &tokens)?;
            {
                let mut kps = tx.open_table(KEY_PACKAGES).map_err(io)?;
                let user = record.user.as_str();
                let mut unclaimed = Vec::new();
                for row in kps.range((user, client.as_str(), &[][..])..).map_err(io)? {
                    let (k, _) = row.map_err(io)?;
                    let (u, c, r) = k.value();
                    if u != user || c != client {
                        break;
                    }
                    unclaimed.push(r.to_vec());
                }
                for r in unclaimed {
                    kps.remove((user, client.as_str(), r.as_slice())).map_err(io)?;
                }
            }
            if record.status == ClientStatus::Removed {
                tx.open_table(USER_CLIENTS).map_err(io)?.remove((record.user.as_str(), client.as_str())).map_err(io)?;
            }
            tx.open_table(CLIENTS)
                .map_err(io)?
                .insert(client.as_str(), encode(&ClientEntry::new(&record))?.as_slice())
                .map_err(io)?;
        }
        Write::PutKeyPackages { key_packages: kps, max_per_client, now_secs } => {
            let mut table = tx.open_table(KEY_PACKAGES).map_err(io)?;
            let mut owners = tx.open_table(KP_OWNERS).map_err(io)?;
            // Every client's count is checked before anything is written: a refused upload
            // leaves no trace. The rows read are the client's own, at most its cap of good ones.
            let mut adding: BTreeMap<(&str, &str), usize> = BTreeMap::new();
            for kp in kps {
                *adding.entry((kp.user.as_str(), kp.client.as_str())).or_default() += 1;
            }
            let mut expired: Vec<(&str, &str, Vec<u8>)> = Vec::new();
            for (&(user, client), n) in &adding {
                let mut held = 0;
                for row in table.range((user, client, &[][..])..).map_err(io)? {
                    let (k, v) = row.map_err(io)?;
                    let (u, c, r) = k.value();
                    if u != user || c != client {
                        break;
                    }
                    if rules::is_expired(key_package_terms(v.value())?.not_after, *now_secs) {
                        expired.push((user, client, r.to_vec()));
                    } else {
                        held += 1;
                    }
                }
                quota::key_packages(client, held, *n, *max_per_client)?;
            }
            for (user, client, reference) in &expired {
                table.remove((*user, *client, reference.as_slice())).map_err(io)?;
            }
            for kp in kps {
                let record = KeyPackageRecord {
                    key_package: kp.key_package.clone().into(),
                    last_resort: kp.last_resort as u8,
                    not_after: kp.not_after,
                };
                table
                    .insert(
                        (kp.user.as_str(), kp.client.as_str(), kp.reference.as_slice()),
                        encode(&record)?.as_slice(),
                    )
                    .map_err(io)?;
                owners.insert(kp.reference.as_slice(), kp.client.as_str()).map_err(io)?;
            }
        }
        Write::ClaimKeyPackages { user, now_secs, scope } => {
            let (claimed, exhausted) = claim(tx, user, *now_secs)?;
            if let Some(scope) = scope {
                let references: Vec<Vec<u8>> = claimed.iter().map(|k| k.reference.clone()).collect();
                record_claims(tx, &references, scope)?;
            }
            return Ok(WriteResult::Claimed { claimed, exhausted });
        }
        Write::AbuseReport { report: r, counted_as, max_per_reporter } => {
            let mut t = tx.open_table(ABUSE).map_err(io)?;
            let hash = rules::abuse_report_key(&r.report);
            if t.get((r.room.as_str(), hash.as_slice())).map_err(io)?.is_none() {
                let mut counts = tx.open_table(ABUSE_COUNTS).map_err(io)?;
                let key = (r.room.as_str(), counted_as.as_str());
                let held = counts.get(key).map_err(io)?.map_or(0, |v| v.value());
                let held = usize::try_from(held).unwrap_or(usize::MAX);
                quota::abuse_reports(counted_as, &r.room, held, *max_per_reporter)?;
                counts.insert(key, held as u64 + 1).map_err(io)?;
                let record = AbuseRecord {
                    reporter: r.reporter.as_bytes().to_vec().into(),
                    received_ms: r.received_ms,
                    report: r.report.clone().into(),
                };
                t.insert((r.room.as_str(), hash.as_slice()), encode(&record)?.as_slice()).map_err(io)?;
            }
        }
        Write::Trim(trim) => return super::trim::trim(tx, trim).map(WriteResult::Trimmed),
        Write::AdvanceOutbox { peer, room, seq } => {
            let mut t = tx.open_table(OUTBOX).map_err(io)?;
            let current = t.get((peer.as_str(), room.as_str())).map_err(io)?.map(|v| v.value()).unwrap_or(0);
            if rules::outbox_advances(current, *seq) {
                t.insert((peer.as_str(), room.as_str()), *seq).map_err(io)?;
            }
        }
    }
    Ok(WriteResult::Done)
}

/// Writes `entries` of `room` after position `last` (checked here) and remembers the new last.
/// The writer calls this directly, with a log table it keeps open, for a run of plain appends.
pub(super) fn append_entries(
    log: &mut redb::Table<(&str, u64), &[u8]>,
    room: &str,
    entries: &[LogEntry],
    last: u64,
    last_seqs: &mut LastSeqs,
) -> Result<WriteResult, StoreError> {
    rules::check_follows(room, entries, last)?;
    for e in entries {
        log.insert((room, e.seq), encode(e)?.as_slice()).map_err(io)?;
    }
    last_seqs.insert(room.to_owned(), entries.last().map_or(last, |e| e.seq));
    Ok(WriteResult::Done)
}

/// Registers `client` of `user` if [`auth::admit_registration`] admits it (module docs of
/// [`crate::auth::clients`]): records it active, spends the code, stores the token.
fn register(
    tx: &redb::WriteTransaction,
    client: &str,
    user: &str,
    voucher: &Voucher,
    token: Option<&StoredToken>,
    now_ms: u64,
) -> Result<(), StoreError> {
    let existing = read_client(tx, client)?;
    let code = match voucher {
        Voucher::Code { hash } => match tx.open_table(CODES).map_err(io)?.get(hash.as_slice()).map_err(io)? {
            Some(v) => Some(CodeEntry::decode(v.value())?),
            None => None,
        },
        _ => None,
    };
    let device_token = match voucher {
        Voucher::Device { token_hash } => read_token(tx, token_hash)?,
        _ => None,
    };
    let admission = auth::admit_registration(
        client,
        user,
        voucher,
        token.is_none(),
        existing.as_ref(),
        code.as_ref(),
        device_token.as_ref(),
        now_ms,
    )?;
    if admission == Admission::AlreadyRegistered {
        return Ok(());
    }
    if let Voucher::Code { hash } = voucher {
        tx.open_table(CODES).map_err(io)?.remove(hash.as_slice()).map_err(io)?;
    }
    let record = ClientRecord { user: user.to_owned(), status: ClientStatus::Active, since_ms: now_ms };
    tx.open_table(CLIENTS).map_err(io)?.insert(client, encode(&ClientEntry::new(&record))?.as_slice()).map_err(io)?;
    tx.open_table(USER_CLIENTS).map_err(io)?.insert((user, client), ()).map_err(io)?;
    if let Some(token) = token {
        insert_token(tx, client, token)?;
    }
    Ok(())
}

/// The record of device `client`.
fn read_client(tx: &redb::WriteTransaction, client: &str) -> Result<Option<ClientRecord>, StoreError> {
    let clients = tx.open_table(CLIENTS).map_err(io)?;
    let Some(v) = clients.get(client).map_err(io)? else { return Ok(None) };
    ClientEntry::decode(v.value()).map(Some)
}

/// The record of the token with hash `hash`.
fn read_token(tx: &redb::WriteTransaction, hash: &[u8]) -> Result<Option<TokenRecord>, StoreError> {
    let tokens = tx.open_table(TOKENS).map_err(io)?;
    let Some(v) = tokens.get(hash).map_err(io)? else { return Ok(None) };
    TokenEntry::decode(v.value()).map(Some)
}

/// The hashes of `client`'s tokens whose records `select` picks.
fn client_tokens(
    tx: &redb::WriteTransaction,
    client: &str,
    select: impl Fn(&TokenRecord) -> bool,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let index = tx.open_table(CLIENT_TOKENS).map_err(io)?;
    let tokens = tx.open_table(TOKENS).map_err(io)?;
    let mut out = Vec::new();
    for row in index.range((client, &[][..])..).map_err(io)? {
        let (k, _) = row.map_err(io)?;
        let (c, hash) = k.value();
        if c != client {
            break;
        }
        let selected = match tokens.get(hash).map_err(io)? {
            Some(v) => select(&TokenEntry::decode(v.value())?),
            // An index row without its token: dropped with the others.
            None => true,
        };
        if selected {
            out.push(hash.to_vec());
        }
    }
    Ok(out)
}

/// Stores `token` of `client` (record and index).
fn insert_token(tx: &redb::WriteTransaction, client: &str, token: &StoredToken) -> Result<(), StoreError> {
    let record = TokenRecord { client: client.to_owned(), expires_ms: token.expires_ms };
    tx.open_table(TOKENS)
        .map_err(io)?
        .insert(token.hash.as_slice(), encode(&TokenEntry::new(&record))?.as_slice())
        .map_err(io)?;
    tx.open_table(CLIENT_TOKENS).map_err(io)?.insert((client, token.hash.as_slice()), ()).map_err(io)?;
    Ok(())
}

/// Deletes the tokens `hashes` of `client` (records and index).
fn delete_tokens(tx: &redb::WriteTransaction, client: &str, hashes: &[Vec<u8>]) -> Result<(), StoreError> {
    let mut tokens = tx.open_table(TOKENS).map_err(io)?;
    let mut index = tx.open_table(CLIENT_TOKENS).map_err(io)?;
    for hash in hashes {
        tokens.remove(hash.as_slice()).map_err(io)?;
        index.remove((client, hash.as_slice())).map_err(io)?;
    }
    Ok(())
}

/// Records `references` as unused claims of `scope`.
fn record_claims(tx: &redb::WriteTransaction, references: &[Vec<u8>], scope: &ClaimScope) -> Result<(), StoreError> {
    let mut t = tx.open_table(KP_CLAIMS).map_err(io)?;
    let record = encode(&ClaimRecord::new(scope))?;
    for r in references {
        t.insert(r.as_slice(), record.as_slice()).map_err(io)?;
    }
    Ok(())
}

/// Marks the claims of `references` for `room` used (a claim recorded for another room, e.g. a
/// last-resort KeyPackage claimed again meanwhile, is left alone).
fn spend_claims(tx: &redb::WriteTransaction, room: &str, references: &[Vec<u8>]) -> Result<(), StoreError> {
    let mut t = tx.open_table(KP_CLAIMS).map_err(io)?;
    // Read and check everything before writing anything.
    let mut spent = Vec::with_capacity(references.len());
    for r in references {
        let record = match t.get(r.as_slice()).map_err(io)? {
            Some(v) => ClaimRecord::tls_deserialize_exact(v.value()).map_err(corrupt("key_package_claims"))?,
            None => continue,
        };
        if record.room.as_slice() == room.as_bytes() {
            spent.push((r, encode(&ClaimRecord { used: 1, ..record })?));
        }
    }
    for (r, record) in spent {
        t.insert(r.as_slice(), record.as_slice()).map_err(io)?;
    }
    Ok(())
}

/// Stores each Welcome of `queue` once (unless stored already) and appends a queue record
/// referring to it for each of its clients, numbering each client's records on from the last
/// position its queue ever had; counts the Welcome's records and indexes each by `now_ms`.
fn enqueue(tx: &redb::WriteTransaction, queue: &[WelcomeDelivery], now_ms: u64) -> Result<(), StoreError> {
    let mut welcomes = tx.open_table(WELCOMES).map_err(io)?;
    let mut refs = tx.open_table(WELCOME_REFS).map_err(io)?;
    let mut q = tx.open_table(QUEUE).map_err(io)?;
    let mut heads = tx.open_table(QUEUE_HEADS).map_err(io)?;
    let mut times = tx.open_table(QUEUE_TIMES).map_err(io)?;
    for delivery in queue {
        let record = WelcomeRecord {
            welcome: delivery.welcome.as_slice().into(),
            ratchet_tree: delivery.ratchet_tree.as_slice().into(),
        };
        let record = encode(&record)?;
        let key = Sha256::digest(&record);
        if welcomes.get(key.as_slice()).map_err(io)?.is_none() {
            welcomes.insert(key.as_slice(), record.as_slice()).map_err(io)?;
        }
        let held = refs.get(key.as_slice()).map_err(io)?.map_or(0, |v| v.value());
        refs.insert(key.as_slice(), held + delivery.clients.len() as u64).map_err(io)?;
        let queued = encode(&QueueRecord {
            room: delivery.room.as_bytes().into(),
            after_seq: delivery.after_seq,
            welcome: key.as_slice().into(),
            queued_ms: now_ms,
        })?;
        for client in &delivery.clients {
            let last = heads.get(client.as_str()).map_err(io)?.map_or(0, |v| v.value());
            q.insert((client.as_str(), last + 1), queued.as_slice()).map_err(io)?;
            heads.insert(client.as_str(), last + 1).map_err(io)?;
            times.insert((now_ms, client.as_str(), last + 1), ()).map_err(io)?;
        }
    }
    Ok(())
}

/// Keeps how far `room`'s log may be compacted under its new checkpoint `cp`.
fn put_fence(tx: &redb::WriteTransaction, room: &str, cp: &crate::hub::Checkpoint) -> Result<(), StoreError> {
    let fence = rules::LogFence::of(cp);
    tx.open_table(FENCES)
        .map_err(io)?
        .insert(room, (fence.checkpoint_seq, fence.first_pending.unwrap_or(0)))
        .map_err(io)?;
    Ok(())
}

/// Claims one KeyPackage per registered client of `user` (see [`rules::pick_key_package`]):
/// what was served, and the clients with nothing left.
fn claim(
    tx: &redb::WriteTransaction,
    user: &str,
    now_secs: u64,
) -> Result<(Vec<StoredKeyPackage>, Vec<String>), StoreError> {
    let clients: Vec<String> = {
        let uc = tx.open_table(USER_CLIENTS).map_err(io)?;
        let records = tx.open_table(CLIENTS).map_err(io)?;
        let range = uc.range((user, "")..).map_err(io)?;
        let mut out = Vec::new();
        for row in range {
            let (k, _) = row.map_err(io)?;
            let (u, c) = k.value();
            if u != user {
                break;
            }
            // A revoked device is not served.
            let record = records.get(c).map_err(io)?.map(|v| ClientEntry::decode(v.value())).transpose()?;
            if record.is_some_and(|r| r.status == ClientStatus::Active) {
                out.push(c.to_owned());
            }
        }
        out
    };
    let mut table = tx.open_table(KEY_PACKAGES).map_err(io)?;
    let (mut claimed, mut exhausted) = (Vec::new(), Vec::new());
    for client in clients {
        // Looked at one by one, reading only each record's terms, and no further than the pick
        // needs (`ClaimScan`): the first good single-use KeyPackage ends the scan, so a claim
        // reads a client's whole directory only when it holds nothing but expired and
        // last-resort ones. Only the served record is decoded whole.
        let mut scan = rules::ClaimScan::new(now_secs);
        let mut references: Vec<Vec<u8>> = Vec::new();
        for row in table.range((user, client.as_str(), &[][..])..).map_err(io)? {
            let (k, v) = row.map_err(io)?;
            let (u, c, r) = k.value();
            if u != user || c != client {
                break;
            }
            references.push(r.to_vec());
            if !scan.offer(key_package_terms(v.value())?) {
                break;
            }
        }
        let pick = scan.finish();
        let served = match pick.served {
            Some(i) => {
                let key = (user, client.as_str(), references[i].as_slice());
                let bytes = table.get(key).map_err(io)?.map(|v| v.value().to_vec());
                let bytes = bytes.ok_or_else(|| StoreError::Io("a KeyPackage read a moment ago is gone".into()))?;
                Some(KeyPackageRecord::tls_deserialize_exact(&bytes).map_err(corrupt("key_packages"))?)
            }
            None => None,
        };
        let mut delete: Vec<usize> = pick.expired;
        if pick.delete_served {
            delete.extend(pick.served);
        }
        for i in delete {
            table.remove((user, client.as_str(), references[i].as_slice())).map_err(io)?;
        }
        match (pick.served, served) {
            (Some(i), Some(rec)) => claimed.push(StoredKeyPackage {
                reference: references[i].clone(),
                client: client.clone(),
                user: user.to_owned(),
                key_package: rec.key_package.as_slice().to_vec(),
                last_resort: rec.last_resort != 0,
                not_after: rec.not_after,
            }),
            _ => exhausted.push(client),
        }
    }
    Ok((claimed, exhausted))
}

/// What a claim or an upload looks at in a stored KeyPackage record, read from its fixed-size
/// tail (`last_resort` u8, `not_after` u64 after the KeyPackage's bytes) without copying the
/// KeyPackage.
fn key_package_terms(record: &[u8]) -> Result<KeyPackageTerms, StoreError> {
    let corrupt = || StoreError::Corrupt { table: "key_packages", why: "record shorter than its terms".into() };
    let tail = record.len().checked_sub(9).filter(|&n| n > 0).ok_or_else(corrupt)?;
    let not_after: [u8; 8] = record[tail + 1..].try_into().map_err(|_| corrupt())?;
    Ok(KeyPackageTerms { last_resort: record[tail] != 0, not_after: u64::from_be_bytes(not_after) })
}
