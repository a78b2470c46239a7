//! The store contract on real redb files, and what only the redb back end has: the format
//! record, Welcomes stored once on disk, and batches sharing one transaction.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::schema::{
    encode, QueueRecordV6, WelcomeRecord, FORMAT_KEY, LOG, META, OUTBOX, QUEUE, RELAYED, ROOMS, SEEN, WELCOMES,
};
use super::*;
use crate::store::contract::{self, append, checkpoint, entry};
use crate::store::{settle, Retention, Trim, Trimmed, WelcomeDelivery, Write, WriteResult};
use sha2::{Digest, Sha256};

/// Fresh stores, each on its own file in one temporary directory.
fn fresh_files() -> impl Fn() -> RedbStore {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    move || RedbStore::open(&dir.path().join(format!("{}.redb", n.fetch_add(1, Ordering::Relaxed))), 64).unwrap()
}

/// The same file, opened again each time.
fn one_file() -> impl Fn() -> RedbStore {
    let dir = tempfile::tempdir().unwrap();
    move || RedbStore::open(&dir.path().join("store.redb"), 64).unwrap()
}

contract::contract_tests!(fresh: fresh_files(), reopen: one_file());

/// How many records a table holds, and their values' total size.
fn value_sizes<K: redb::Key + 'static>(s: &RedbStore, table: TableDefinition<K, &[u8]>) -> (usize, usize) {
    let tx = s.inner.db.db().unwrap().begin_read().unwrap();
    let t = tx.open_table(table).unwrap();
    let sizes: Vec<usize> = t.iter().unwrap().map(|r| r.unwrap().1.value().len()).collect();
    (sizes.len(), sizes.iter().sum())
}

#[test]
fn files_of_another_format_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    // A new file records this build's format and opens again.
    let fresh = dir.path().join("fresh.redb");
    drop(RedbStore::open(&fresh, 1).unwrap());
    drop(RedbStore::open(&fresh, 1).unwrap());
    let format_of = |path: &Path| {
        let db = Database::create(path).unwrap();
        let tx = db.begin_read().unwrap();
        let meta = tx.open_table(META).ok()?;
        let v = meta.get(FORMAT_KEY).unwrap().map(|v| v.value());
        v
    };
    assert_eq!(format_of(&fresh), Some(FORMAT_VERSION));

    // A file from before the record (tables, no `meta`): format 1, refused, left as it was.
    let old = dir.path().join("old.redb");
    {
        let db = Database::create(&old).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(ROOMS).unwrap().insert("mimi://a.example/r/x", &[1u8][..]).unwrap();
        tx.commit().unwrap();
    }
    let e = RedbStore::open(&old, 1).err().unwrap();
    assert!(matches!(e, StoreError::Format { found: 1, expected: FORMAT_VERSION, .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.starts_with(&format!("store format 1, this build reads {FORMAT_VERSION}; ")), "{text}");
    assert!(text.contains("old.redb") && text.contains("an older mimi-ds"), "{text}");
    assert_eq!(format_of(&old), None, "no format record was added");

    // A file of a newer format: refused.
    let newer = dir.path().join("newer.redb");
    {
        let db = Database::create(&newer).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(META).unwrap().insert(FORMAT_KEY, FORMAT_VERSION + 1).unwrap();
        tx.commit().unwrap();
    }
    let e = RedbStore::open(&newer, 1).err().unwrap();
    assert!(e.to_string().contains("a newer mimi-ds"), "{e}");
    assert_eq!(format_of(&newer), Some(FORMAT_VERSION + 1));
}

#[tokio::test]
async fn a_welcome_for_many_clients_is_stored_once_and_read_back_whole_by_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    let s = RedbStore::open(&path, 64).unwrap();
    let (room, mirrored) = ("mimi://a.example/r/big", "mimi://b.example/r/other");
    settle(s.write(Write::create_room(checkpoint(room, 0)))).await.unwrap();
    settle(s.write(append(room, 1..=1))).await.unwrap();
    // Carol already has a Welcome queued (an earlier room): hers is numbered on after it.
    let carol = "mimi://a.example/d/carol/phone";
    let small = WelcomeDelivery {
        room: mirrored.into(),
        after_seq: 3,
        welcome: vec![1, 2, 3],
        ratchet_tree: vec![],
        clients: vec![carol.into()],
    };
    let w = Write::Mirror { room: mirrored.into(), entries: vec![], queue: vec![small.clone()], seen: vec![] };
    settle(s.write(w)).await.unwrap();
    let size_before = std::fs::metadata(&path).unwrap().len();

    const CLIENTS: usize = 100;
    let welcome: Vec<u8> = (0..256 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut clients: Vec<String> = (0..CLIENTS - 1).map(|i| format!("mimi://a.example/d/u{i}/phone")).collect();
    clients.push(carol.into());
    let big = WelcomeDelivery {
        room: room.into(),
        after_seq: 2,
        welcome: welcome.clone(),
        ratchet_tree: vec![9; 1000],
        clients: clients.clone(),
    };
    let w = Write::Append { room: room.into(), entries: vec![entry(2)], queue: vec![big.clone()], claims_used: vec![] };
    settle(s.write(w)).await.unwrap();
    // The same Welcome taken in again (as a follower would) is not stored a second time.
    let again =
        WelcomeDelivery { room: mirrored.into(), clients: vec!["mimi://a.example/d/dave/pc".into()], ..big.clone() };
    let w = Write::Mirror { room: mirrored.into(), entries: vec![], queue: vec![again.clone()], seen: vec![] };
    settle(s.write(w)).await.unwrap();

    let (welcomes, welcome_bytes) = value_sizes(&s, WELCOMES);
    assert_eq!(welcomes, 2, "the big Welcome once, and Carol's small one");
    assert!(welcome_bytes < welcome.len() + 2000, "{welcome_bytes} bytes of Welcomes");
    let (queued, queue_bytes) = value_sizes(&s, QUEUE);
    assert_eq!(queued, 1 + CLIENTS + 1);
    assert!(queue_bytes < queued * 200, "queue records refer to their Welcome: {queue_bytes} bytes");
    let growth = std::fs::metadata(&path).unwrap().len() - size_before;
    // A copy each would be over 25 MiB; redb grows the file in steps (1 MiB here).
    let copies = (CLIENTS * welcome.len()) as u64;
    assert!(growth < copies / 5, "the file grew {growth} bytes for {CLIENTS} joiners");

    // Every client reads exactly the item it would have read with a copy of its own, also
    // after a restart.
    drop(s);
    let s = RedbStore::open(&path, 1).unwrap();
    for client in &clients[..CLIENTS - 1] {
        assert_eq!(s.queue_after(client, 0, 10).await.unwrap(), vec![big.item(1)], "{client}");
    }
    assert_eq!(s.queue_after(carol, 0, 10).await.unwrap(), vec![small.item(1), big.item(2)]);
    assert_eq!(s.queue_after(carol, 1, 10).await.unwrap(), vec![big.item(2)]);
    assert_eq!(s.queue_after("mimi://a.example/d/dave/pc", 0, 10).await.unwrap(), vec![again.item(1)]);
}

#[tokio::test]
async fn writes_queued_together_share_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let s = RedbStore::open(&dir.path().join("t.redb"), 256).unwrap();
    let room = "mimi://a.example/r/x";
    settle(s.write(Write::create_room(checkpoint(room, 0)))).await.unwrap();
    let before = s.commits();
    assert_eq!(before, 1);
    // Hold the file's write lock while 500 appends are queued: the writer takes at most one of
    // them before it waits for the lock, then the rest in batches of up to 256.
    let db = s.inner.db.db().unwrap();
    let held = db.begin_write().unwrap();
    let tickets: Vec<_> = (1..=500).map(|i| s.write(append(room, i..=i))).collect();
    held.abort().unwrap();
    for t in tickets {
        settle(t).await.unwrap();
    }
    let batches = s.commits() - before;
    assert!((2..=3).contains(&batches), "500 writes in {batches} transactions");
    assert_eq!(s.log_after(room, 0, 1000).await.unwrap().len(), 500);

    // With group commit disabled, each write is a transaction of its own.
    let single = RedbStore::open(&dir.path().join("single.redb"), 1).unwrap();
    settle(single.write(Write::create_room(checkpoint(room, 0)))).await.unwrap();
    let db = single.inner.db.db().unwrap();
    let held = db.begin_write().unwrap();
    let tickets: Vec<_> = (1..=20).map(|i| single.write(append(room, i..=i))).collect();
    held.abort().unwrap();
    for t in tickets {
        settle(t).await.unwrap();
    }
    assert_eq!(single.commits(), 21);
}

/// A retention pass on `s` at `now_ms`: queue positions read past, and every window `window_ms`.
async fn trim(s: &RedbStore, now_ms: u64, read_past: &[(&str, u64)], window_ms: u64) -> Trimmed {
    let retention = Retention { queue_ttl_ms: window_ms, dedup_window_ms: window_ms, log_retention_ms: window_ms };
    let read_past = read_past.iter().map(|(c, p)| (c.to_string(), *p)).collect();
    match settle(s.write(Write::Trim(Trim { now_ms, read_past, retention, budget: 1000 }))).await.unwrap() {
        WriteResult::Trimmed(t) => t,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_format_6_file_is_migrated_and_what_it_held_is_trimmed_like_new_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("six.redb");
    const ROOM: &str = "mimi://a.example/r/x";
    let (carol, dave) = ("mimi://a.example/d/carol/phone", "mimi://a.example/d/dave/pc");
    let hash = |b: u8| Sha256::digest([b]).to_vec();
    let welcome = encode(&WelcomeRecord { welcome: vec![7; 50].into(), ratchet_tree: vec![8; 5].into() }).unwrap();
    let key = Sha256::digest(&welcome).to_vec();
    {
        // What a format-6 build wrote: its tables, its queue records, no retention tables.
        let db = Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(META).unwrap().insert(FORMAT_KEY, 6).unwrap();
        let cp = crate::hub::Checkpoint { pending_seqs: vec![2], ..checkpoint(ROOM, 2) };
        tx.open_table(ROOMS).unwrap().insert(ROOM, encode(&cp).unwrap().as_slice()).unwrap();
        for seq in [1, 2] {
            tx.open_table(LOG).unwrap().insert((ROOM, seq), encode(&entry(seq)).unwrap().as_slice()).unwrap();
        }
        tx.open_table(OUTBOX).unwrap().insert(("b.example", ROOM), 2).unwrap();
        tx.open_table(WELCOMES).unwrap().insert(key.as_slice(), welcome.as_slice()).unwrap();
        let orphan = encode(&WelcomeRecord { welcome: vec![1].into(), ratchet_tree: vec![].into() }).unwrap();
        tx.open_table(WELCOMES).unwrap().insert(Sha256::digest(&orphan).as_slice(), orphan.as_slice()).unwrap();
        let record = QueueRecordV6 { room: ROOM.as_bytes().into(), after_seq: 1, welcome: key.clone().into() };
        let record = encode(&record).unwrap();
        for (client, seq) in [(carol, 1), (carol, 2), (dave, 1)] {
            tx.open_table(QUEUE).unwrap().insert((client, seq), record.as_slice()).unwrap();
        }
        tx.open_table(SEEN).unwrap().insert(hash(1).as_slice(), ()).unwrap();
        tx.open_table(RELAYED).unwrap().insert(hash(2).as_slice(), carol).unwrap();
        tx.commit().unwrap();
    }
    let s = RedbStore::open(&path, 16).unwrap();
    let read = |r: &redb::ReadOnlyTable<&str, u64>| r.get(FORMAT_KEY).unwrap().map(|v| v.value());
    let format = read(&s.inner.db.db().unwrap().begin_read().unwrap().open_table(META).unwrap());
    assert_eq!(format, Some(FORMAT_VERSION));
    assert_eq!(value_sizes(&s, WELCOMES).0, 1, "the Welcome no queue record referred to is gone");
    let items = s.queue_after(carol, 0, 10).await.unwrap();
    assert_eq!(
        items.iter().map(|i| (i.seq, i.welcome.as_slice().to_vec())).collect::<Vec<_>>(),
        [(1, vec![7; 50]), (2, vec![7; 50])]
    );
    let now = crate::provider::now_ms();
    // Migrated records count from the migration; log entry 1 (accepted at 1 ms) is old, and the
    // fence taken from the checkpoint keeps its pending proposal 2.
    let t = trim(&s, now, &[], 3_600_000).await;
    assert_eq!(t, Trimmed { log_entries: 1, ..Trimmed::default() });
    let t = trim(&s, now, &[(carol, 2)], 3_600_000).await;
    assert_eq!((t.queue_items, t.welcomes), (2, 0), "Dave's record still refers to the Welcome");
    let t = trim(&s, now, &[(dave, 1)], 3_600_000).await;
    assert_eq!((t.queue_items, t.welcomes), (1, 1));
    let w = WelcomeDelivery {
        room: ROOM.into(),
        after_seq: 3,
        welcome: vec![3],
        ratchet_tree: vec![],
        clients: vec![carol.into()],
    };
    settle(s.write(Write::Append {
        room: ROOM.into(),
        entries: vec![entry(3)],
        queue: vec![w.clone()],
        claims_used: vec![],
    }))
    .await
    .unwrap();
    assert_eq!(s.queue_after(carol, 0, 10).await.unwrap(), vec![w.item(3)], "positions go on after the old ones");
    let t = trim(&s, now + 1000, &[], 0).await;
    assert_eq!((t.seen, t.relayed, t.queue_items, t.welcomes), (1, 1, 1, 1));
    assert!(!s.seen(&hash(1)).await.unwrap());
    assert_eq!(contract_seqs(&s.log_after(ROOM, 0, 10).await.unwrap()), vec![2, 3]);
}

fn contract_seqs(entries: &[crate::hub::LogEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}
