//! The contract every [`Store`] back end keeps, as checks that run against any of them.
//!
//! Each property is a `pub async fn` taking a factory of empty stores (`fresh`: every call gives
//! a new, empty store); [`everything_survives_a_reopen`] takes a factory that opens the same
//! store again instead (`reopen`: it is called again only after the previous handle is
//! dropped). [`run_all`] runs them all; within this crate, `contract_tests!` defines one test
//! per property for a back end. The checks panic on a broken property, like any test.
//!
//! Built with `cfg(test)` or the `contract-tests` feature, so a back end in another crate can
//! run the same suite from its tests.

use std::ops::RangeInclusive;

use sha2::{Digest, Sha256};

use super::{
    settle, ClaimScope, ClientRecord, ClientStatus, CodeRecord, Compacted, ConsentState, Ending, KeyPackageClaim,
    Retention, RoomCreator, Store, StoreError, StoredAbuseReport, StoredKeyPackage, StoredToken, TokenRecord, Trim,
    Trimmed, Voucher, WelcomeDelivery, Write, WriteResult, WriteTicket,
};
use crate::auth::AuthRefusal;
use crate::hub::{Checkpoint, EntryKind, LogEntry};
use mimi_protocol::consent::ConsentOperation;

/// Calls `$crate::store::contract::$callback!` with `($($args)*)` and every property that needs
/// only fresh stores: the one list both [`run_all`] and `contract_tests!` use.
macro_rules! with_properties {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::store::contract::$callback! { ($($args)*)
            appends_are_fenced_by_position,
            concurrent_writes_are_applied_in_order,
            checkpoints_are_refused_beyond_the_durable_log,
            rooms_restart_from_checkpoint_pending_and_tail,
            claims_are_single_use,
            key_packages_are_held_to_the_clients_cap,
            rooms_are_held_to_their_creators_cap,
            abuse_reports_are_held_to_the_reporters_cap,
            claims_are_recorded_with_their_scope_and_spent_by_the_append_using_them,
            welcomes_are_queued_once_per_client_in_order,
            mirror_intake_is_all_or_nothing,
            outbox_cursors_never_move_backwards,
            consent_follows_its_transitions,
            abuse_reports_are_kept_once_per_body,
            registrations_tokens_and_key_package_owners,
            registration_is_admitted_by_its_voucher_and_a_code_enrols_once,
            tokens_expire_are_renewed_and_end_with_their_device,
            an_ended_device_is_neither_served_nor_listed_and_a_removed_name_is_free,
            queue_items_go_once_read_past_or_expired_and_their_welcome_with_the_last,
            dedup_and_echo_records_go_after_their_window,
            room_logs_are_compacted_behind_checkpoint_delivery_and_retention,
            mirrors_are_compacted_by_age_and_keep_their_last_entry,
            a_retention_pass_stops_at_its_budget,
            devices_and_mirrors_are_listed_for_the_operator,
        }
    };
}
#[cfg(test)]
pub(crate) use with_properties;

/// Runs each property on `$fresh` in turn (for [`run_all`]).
macro_rules! call_properties {
    (($fresh:ident) $($property:ident),* $(,)?) => {
        $( $property(&$fresh).await; )*
    };
}
pub(crate) use call_properties;

/// One `#[tokio::test]` per property (for `contract_tests!`).
#[cfg(test)]
macro_rules! property_tests {
    (($fresh:expr) $($property:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $property() {
                $crate::store::contract::$property(&$fresh).await;
            }
        )*
    };
}
#[cfg(test)]
pub(crate) use property_tests;

/// Defines, in the calling module, one test per contract property for a back end: `fresh` is
/// an expression giving a factory of empty stores, `reopen` one giving a factory that opens one
/// store again (each is evaluated anew for each test).
#[cfg(test)]
macro_rules! contract_tests {
    (fresh: $fresh:expr, reopen: $reopen:expr $(,)?) => {
        $crate::store::contract::with_properties!(property_tests!($fresh));

        #[tokio::test]
        async fn everything_survives_a_reopen() {
            $crate::store::contract::everything_survives_a_reopen(&$reopen).await;
        }
    };
}
#[cfg(test)]
pub(crate) use contract_tests;

/// Runs every property: those on fresh stores from `fresh`, then [`everything_survives_a_reopen`]
/// on `reopen`.
pub async fn run_all<S: Store>(fresh: impl Fn() -> S, reopen: impl Fn() -> S) {
    with_properties!(call_properties!(fresh));
    everything_survives_a_reopen(&reopen).await;
}

const ROOM: &str = "mimi://a.example/r/x";
const BOB: &str = "mimi://a.example/u/bob";

/// An application message at `seq` (its message byte is `seq`).
pub fn entry(seq: u64) -> LogEntry {
    LogEntry {
        seq,
        epoch: 0,
        accepted_ms: seq,
        kind: EntryKind::Application,
        message: vec![seq as u8].into(),
        extra: vec![],
        sender: Vec::new().into(),
        peers: vec![b"b.example".to_vec().into()],
        group_info: Vec::new().into(),
        welcome: Vec::new().into(),
        welcome_peers: vec![],
        frank: None,
    }
}

/// A checkpoint of `room` at `seq`, without pending proposals.
pub fn checkpoint(room: &str, seq: u64) -> Checkpoint {
    Checkpoint {
        room_id: room.as_bytes().to_vec().into(),
        group_id: vec![1].into(),
        seq,
        storage: vec![],
        pending_seqs: vec![],
        group_info: Vec::new().into(),
        departed: vec![],
    }
}

/// Creates `room` with an empty checkpoint.
pub fn create(room: &str) -> Write {
    Write::create_room(checkpoint(room, 0))
}

/// A plain append of the entries `seqs` to `room`.
pub fn append(room: &str, seqs: RangeInclusive<u64>) -> Write {
    Write::Append { room: room.into(), entries: seqs.map(entry).collect(), queue: vec![], claims_used: vec![] }
}

/// A KeyPackage of `client` (a client of Bob's) with reference `[reference; 32]`.
pub fn key_package(client: &str, reference: u8, last_resort: bool, not_after: u64) -> StoredKeyPackage {
    StoredKeyPackage {
        reference: vec![reference; 32],
        client: client.into(),
        user: BOB.into(),
        key_package: vec![reference],
        last_resort,
        not_after,
    }
}

/// A Welcome for `clients` of `room`, whose bytes are `byte` repeated.
pub fn welcome(room: &str, after_seq: u64, byte: u8, clients: &[&str]) -> WelcomeDelivery {
    WelcomeDelivery {
        room: room.into(),
        after_seq,
        welcome: vec![byte; 100],
        ratchet_tree: vec![byte; 10],
        clients: clients.iter().map(|c| c.to_string()).collect(),
    }
}

/// Awaits a write that must succeed.
async fn ok<S: Store>(s: &S, w: Write) -> WriteResult {
    let what = format!("{w:?}");
    settle(s.write(w)).await.unwrap_or_else(|e| panic!("{what:.200}: {e}"))
}

fn seqs(entries: &[LogEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

/// An open registration of `client` with a token (hash `token`) that never expires.
fn register(client: &str, user: &str, token: &[u8]) -> Write {
    registration(client, user, Voucher::Open, Some(token), 1)
}

/// A registration of `client` at `now_ms` presenting `voucher`, with a token (hash `token`) that
/// never expires, if given.
fn registration(client: &str, user: &str, voucher: Voucher, token: Option<&[u8]>, now_ms: u64) -> Write {
    Write::RegisterClient {
        client: client.into(),
        user: user.into(),
        voucher,
        token: token.map(|t| StoredToken { hash: t.to_vec(), expires_ms: u64::MAX }),
        now_ms,
    }
}

/// The client a token (by hash) authenticates, as the store has it.
async fn token_client<S: Store>(s: &S, token: &[u8]) -> Option<String> {
    s.token(token).await.unwrap().map(|t| t.client)
}

/// A write that must be refused with `refusal`.
async fn refused<S: Store>(s: &S, w: Write, refusal: AuthRefusal) {
    let what = format!("{w:?}");
    match settle(s.write(w)).await {
        Err(StoreError::Auth(r)) => assert_eq!(r, refusal, "{what:.200}"),
        other => panic!("{what:.200}: {other:?}, expected the refusal {refusal}"),
    }
}

fn claim_scope(provider: &str, room: &str) -> ClaimScope {
    ClaimScope { provider: provider.into(), room: room.into(), requester: "b.example".into() }
}

/// The references served by a claim (their first byte) and the exhausted clients.
fn claimed(result: WriteResult) -> (Vec<u8>, Vec<String>) {
    match result {
        WriteResult::Claimed { claimed, exhausted } => (claimed.iter().map(|k| k.reference[0]).collect(), exhausted),
        other => panic!("a claim answers with what it claimed, not {other:?}"),
    }
}

/// An append names the position it follows: a second append for the same position fails with
/// [`StoreError::Conflict`] and changes nothing (not the log, not the queues, not the claims).
pub async fn appends_are_fenced_by_position<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    assert!(matches!(settle(s.write(append(ROOM, 1..=1))).await, Err(StoreError::Room { .. })), "no such room");
    ok(&s, create(ROOM)).await;
    ok(&s, append(ROOM, 1..=2)).await;
    let conflict = settle(s.write(append(ROOM, 2..=2))).await;
    assert!(matches!(conflict, Err(StoreError::Conflict { last: 2, expected: 1, .. })), "{conflict:?}");
    assert!(matches!(settle(s.write(append(ROOM, 4..=4))).await, Err(StoreError::Conflict { .. })), "a gap");
    let gap_inside =
        Write::Append { room: ROOM.into(), entries: vec![entry(3), entry(5)], queue: vec![], claims_used: vec![] };
    assert!(matches!(settle(s.write(gap_inside)).await, Err(StoreError::Conflict { .. })), "a gap inside");

    // A losing append with a Welcome and a claim to spend leaves no trace.
    ok(&s, Write::KeyPackageClaims { references: vec![vec![7; 32]], scope: claim_scope("c.example", ROOM) }).await;
    let carol = "mimi://a.example/d/carol/phone";
    let loser = Write::Append {
        room: ROOM.into(),
        entries: vec![LogEntry { message: vec![0xee].into(), ..entry(2) }],
        queue: vec![welcome(ROOM, 2, 1, &[carol])],
        claims_used: vec![vec![7; 32]],
    };
    assert!(matches!(settle(s.write(loser)).await, Err(StoreError::Conflict { last: 2, expected: 1, .. })));
    assert_eq!(s.log_after(ROOM, 0, 10).await.unwrap(), vec![entry(1), entry(2)]);
    assert!(s.queue_after(carol, 0, 10).await.unwrap().is_empty());
    assert!(!s.key_package_claim(&[7; 32]).await.unwrap().unwrap().used);

    // The log goes on from where it was; other rooms are fenced on their own.
    ok(&s, append(ROOM, 3..=3)).await;
    assert_eq!(seqs(&s.log_after(ROOM, 0, 10).await.unwrap()), [1, 2, 3]);
    let other = "mimi://a.example/r/y";
    ok(&s, create(other)).await;
    ok(&s, append(other, 1..=1)).await;
    assert_eq!(s.log_after(other, 0, 10).await.unwrap(), vec![entry(1)]);
}

/// Writes queued concurrently (before any is awaited, from several threads) are applied in the
/// order each writer queued them and are all durable when their tickets resolve; a failing
/// write fails alone, not the writes committed with it.
pub async fn concurrent_writes_are_applied_in_order<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let rooms = ["mimi://a.example/r/a", "mimi://a.example/r/b", "mimi://a.example/r/c"];
    for room in rooms {
        ok(&s, create(room)).await;
    }
    ok(&s, append(rooms[0], 1..=2)).await;
    // 500 appends to one room queued at once: all land, in order.
    let tickets: Vec<_> = (3..503).map(|i| s.write(append(rooms[0], i..=i))).collect();
    for t in tickets {
        settle(t).await.unwrap();
    }
    let all = s.log_after(rooms[0], 0, 10_000).await.unwrap();
    assert_eq!(seqs(&all), (1..503).collect::<Vec<_>>());
    assert_eq!(all[9], entry(10));
    assert_eq!(s.log_after(rooms[0], 500, 10).await.unwrap().len(), 2);
    assert_eq!(seqs(&s.log_after(rooms[0], 100, 3).await.unwrap()), [101, 102, 103], "paged");

    // Three threads, one per room, each queueing its appends (and cursor moves) in order.
    let per_thread: Vec<Vec<WriteTicket>> = std::thread::scope(|scope| {
        let threads: Vec<_> = rooms[1..]
            .iter()
            .map(|room| {
                let s = &s;
                scope.spawn(move || {
                    let mut tickets = Vec::new();
                    for i in 1..=200 {
                        tickets.push(s.write(append(room, i..=i)));
                        if i % 50 == 0 {
                            tickets.push(s.write(Write::AdvanceOutbox {
                                peer: "b.example".into(),
                                room: room.to_string(),
                                seq: i,
                            }));
                        }
                    }
                    tickets
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().expect("writer thread")).collect()
    });
    for t in per_thread.into_iter().flatten() {
        settle(t).await.unwrap();
    }
    for room in &rooms[1..] {
        assert_eq!(seqs(&s.log_after(room, 0, 1000).await.unwrap()), (1..=200).collect::<Vec<_>>(), "{room}");
        assert_eq!(s.outbox_cursor("b.example", room).await.unwrap(), 200);
    }

    // Queued together: a conflicting append fails alone.
    let tickets = [
        s.write(append(rooms[1], 201..=201)),
        s.write(append(rooms[1], 201..=201)),
        s.write(append(rooms[1], 202..=202)),
    ];
    let [first, second, third] = tickets;
    settle(first).await.unwrap();
    assert!(matches!(settle(second).await, Err(StoreError::Conflict { last: 201, expected: 200, .. })));
    settle(third).await.unwrap();
    assert_eq!(s.log_after(rooms[1], 199, 10).await.unwrap(), vec![entry(200), entry(201), entry(202)]);
}

/// A room is created once; a checkpoint needs its room and is refused while it is ahead of the
/// durable log (also when queued behind appends that then failed), and taken at or before its end.
pub async fn checkpoints_are_refused_beyond_the_durable_log<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let cp = |seq| Write::Checkpoint(Box::new(checkpoint(ROOM, seq)));
    assert!(matches!(settle(s.write(cp(0))).await, Err(StoreError::Room { .. })), "no such room");
    ok(&s, create(ROOM)).await;
    assert!(matches!(settle(s.write(create(ROOM))).await, Err(StoreError::Room { .. })), "a room is created once");
    ok(&s, append(ROOM, 1..=3)).await;
    let ahead = settle(s.write(cp(4))).await;
    assert!(matches!(ahead, Err(StoreError::Conflict { last: 3, expected: 4, .. })), "{ahead:?}");
    assert_eq!(s.rooms().await.unwrap()[0].checkpoint.seq, 0, "the refused checkpoint changed nothing");
    ok(&s, cp(3)).await;
    assert_eq!(s.rooms().await.unwrap()[0].checkpoint.seq, 3);
    // Queued behind the appends it covers: taken.
    let (a, c) = (s.write(append(ROOM, 4..=5)), s.write(cp(5)));
    settle(a).await.unwrap();
    settle(c).await.unwrap();
    // Queued behind an append that failed: refused.
    let (a, c) = (s.write(append(ROOM, 9..=9)), s.write(cp(6)));
    assert!(settle(a).await.is_err());
    assert!(matches!(settle(c).await, Err(StoreError::Conflict { last: 5, expected: 6, .. })));
    let rooms = s.rooms().await.unwrap();
    assert_eq!((rooms[0].checkpoint.seq, rooms[0].tail.len()), (5, 0));
    // An older checkpoint is not refused (the caller decides which is newer).
    ok(&s, cp(4)).await;
    assert_eq!(seqs(&s.rooms().await.unwrap()[0].tail), [5]);
}

/// What a restart (every room) and a reload (one room) read: a room's latest checkpoint, the
/// entries its pending proposals name, and the log after it.
pub async fn rooms_restart_from_checkpoint_pending_and_tail<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    assert!(s.rooms().await.unwrap().is_empty());
    let (x, y) = ("mimi://a.example/r/x", "mimi://a.example/r/y");
    ok(&s, create(y)).await;
    ok(&s, create(x)).await;
    let proposal = |seq| LogEntry { kind: EntryKind::Proposal, ..entry(seq) };
    let entries = vec![entry(1), entry(2), proposal(3), proposal(4), entry(5), entry(6)];
    ok(&s, Write::Append { room: x.into(), entries: entries.clone(), queue: vec![], claims_used: vec![] }).await;
    let cp = Checkpoint { pending_seqs: vec![3, 4], group_info: vec![5].into(), ..checkpoint(x, 5) };
    ok(&s, Write::Checkpoint(Box::new(cp.clone()))).await;
    ok(&s, append(y, 1..=2)).await;

    let mut rooms = s.rooms().await.unwrap();
    rooms.sort_by(|a, b| a.checkpoint.room_id.as_slice().cmp(b.checkpoint.room_id.as_slice()));
    assert_eq!(rooms.len(), 2);
    assert_eq!(rooms[0].checkpoint, cp);
    assert_eq!(rooms[0].pending, entries[2..4]);
    assert_eq!(rooms[0].tail, vec![entry(6)]);
    assert_eq!(rooms[1].checkpoint, checkpoint(y, 0));
    assert!(rooms[1].pending.is_empty());
    assert_eq!(rooms[1].tail, vec![entry(1), entry(2)]);
    // One room alone reads as it does among all of them; an unknown room is none.
    for all in &rooms {
        let id = String::from_utf8(all.checkpoint.room_id.as_slice().to_vec()).unwrap();
        let one = s.room(&id).await.unwrap().expect("the room");
        assert_eq!(
            (one.checkpoint, one.pending, one.tail),
            (all.checkpoint.clone(), all.pending.clone(), all.tail.clone())
        );
    }
    assert!(s.room("mimi://a.example/r/none").await.unwrap().is_none());
}

/// Everything written is read back after the store is closed and opened again (a restart),
/// and the fence is where it was.
pub async fn everything_survives_a_reopen<S: Store>(reopen: &impl Fn() -> S) {
    let carol = "mimi://a.example/d/carol/phone";
    let mirrored = "mimi://b.example/r/m";
    let report = StoredAbuseReport {
        room: ROOM.into(),
        reporter: "provider b.example".into(),
        received_ms: 9,
        report: vec![1, 2],
    };
    {
        let s = reopen();
        ok(&s, create(ROOM)).await;
        ok(&s, append(ROOM, 1..=2)).await;
        let tickets: Vec<_> = (3..503).map(|i| s.write(append(ROOM, i..=i))).collect();
        for t in tickets {
            settle(t).await.unwrap();
        }
        let ahead = Checkpoint { seq: 503, ..checkpoint(ROOM, 0) };
        assert!(matches!(settle(s.write(Write::Checkpoint(Box::new(ahead)))).await, Err(StoreError::Conflict { .. })));
        ok(&s, Write::Checkpoint(Box::new(checkpoint(ROOM, 500)))).await;
        ok(&s, register(carol, "mimi://a.example/u/carol", b"token")).await;
        let code = CodeRecord { user: "mimi://a.example/u/carol".into(), expires_ms: 1_000 };
        ok(&s, Write::AddEnrollmentCode { hash: b"code".to_vec(), code, now_ms: 1 }).await;
        let expiring = StoredToken { hash: b"expiring".to_vec(), expires_ms: 500 };
        ok(&s, Write::IssueToken { client: carol.into(), token: expiring, replaces: None, now_ms: 1 }).await;
        let kp = StoredKeyPackage { user: "mimi://a.example/u/carol".into(), ..key_package(carol, 3, false, 100) };
        ok(&s, Write::put_key_packages(vec![kp])).await;
        let mirror = Write::Mirror {
            room: mirrored.into(),
            entries: vec![entry(1)],
            queue: vec![welcome(mirrored, 1, 4, &[carol])],
            seen: vec![vec![5; 32]],
        };
        ok(&s, mirror).await;
        ok(&s, Write::AdvanceOutbox { peer: "b.example".into(), room: ROOM.into(), seq: 7 }).await;
        ok(&s, Write::KeyPackageClaims { references: vec![vec![6; 32]], scope: claim_scope("c.example", ROOM) }).await;
        let consent = Write::Consent {
            requester: BOB.into(),
            target: "mimi://a.example/u/carol".into(),
            room: None,
            operation: ConsentOperation::Grant,
        };
        ok(&s, consent).await;
        ok(&s, Write::abuse_report(report.clone())).await;
        ok(&s, Write::Relayed { hash: vec![8; 32], client: carol.into() }).await;
    }
    let s = reopen();
    let rooms = s.rooms().await.unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].checkpoint.seq, 500);
    assert_eq!(seqs(&rooms[0].tail), [501, 502]);
    assert_eq!(s.log_after(ROOM, 0, 1000).await.unwrap().len(), 502);
    assert_eq!(token_client(&s, b"token").await.as_deref(), Some(carol));
    assert_eq!(s.token(b"expiring").await.unwrap(), Some(TokenRecord { client: carol.into(), expires_ms: 500 }));
    let carol_record =
        ClientRecord { user: "mimi://a.example/u/carol".into(), status: ClientStatus::Active, since_ms: 1 };
    assert_eq!(s.client(carol).await.unwrap(), Some(carol_record.clone()));
    assert_eq!(s.clients_of("mimi://a.example/u/carol").await.unwrap(), vec![(carol.to_owned(), carol_record)]);
    // The code is still there: it enrols carol's laptop (once).
    let laptop = "mimi://a.example/d/carol/laptop";
    let by_code =
        || registration(laptop, "mimi://a.example/u/carol", Voucher::Code { hash: b"code".to_vec() }, None, 2);
    ok(&s, by_code()).await;
    refused(&s, by_code(), AuthRefusal::BadCode).await;
    assert_eq!(s.key_package_owner(&[3; 32]).await.unwrap().as_deref(), Some(carol));
    assert_eq!(s.mirror_last(mirrored).await.unwrap(), 1);
    assert_eq!(s.queue_after(carol, 0, 10).await.unwrap(), vec![welcome(mirrored, 1, 4, &[carol]).item(1)]);
    assert!(s.seen(&[5; 32]).await.unwrap());
    assert_eq!(s.relayed_by(&[8; 32]).await.unwrap().as_deref(), Some(carol));
    assert_eq!(s.outbox_cursor("b.example", ROOM).await.unwrap(), 7);
    assert_eq!(
        s.key_package_claim(&[6; 32]).await.unwrap(),
        Some(KeyPackageClaim { scope: claim_scope("c.example", ROOM), used: false })
    );
    assert_eq!(s.consent(BOB, "mimi://a.example/u/carol", None).await.unwrap(), Some(ConsentState::Granted));
    assert_eq!(s.abuse_reports(ROOM).await.unwrap(), vec![report]);
    assert!(s.user_exists("mimi://a.example/u/carol").await.unwrap());
    // The fence is where it was, and so are the queue positions.
    assert!(matches!(settle(s.write(append(ROOM, 502..=502))).await, Err(StoreError::Conflict { last: 502, .. })));
    ok(&s, append(ROOM, 503..=503)).await;
    let w = Write::Mirror {
        room: mirrored.into(),
        entries: vec![entry(2)],
        queue: vec![welcome(mirrored, 2, 9, &[carol])],
        seen: vec![],
    };
    ok(&s, w).await;
    assert_eq!(s.queue_after(carol, 1, 10).await.unwrap(), vec![welcome(mirrored, 2, 9, &[carol]).item(2)]);
    let (served, _) = claimed(
        ok(&s, Write::ClaimKeyPackages { user: "mimi://a.example/u/carol".into(), now_secs: 50, scope: None }).await,
    );
    assert_eq!(served, [3]);
}

/// A claim serves one KeyPackage per client of the user, each at most once unless it is
/// last-resort (served again when nothing else is left, never deleted); expired ones are
/// skipped and deleted; clients with nothing left are listed.
pub async fn claims_are_single_use<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let (phone, pc) = ("mimi://a.example/d/bob/phone", "mimi://a.example/d/bob/pc");
    for c in [phone, pc] {
        ok(&s, register(c, BOB, c.as_bytes())).await;
    }
    let kps =
        vec![key_package(phone, 1, false, 100), key_package(phone, 2, true, 1000), key_package(phone, 3, false, 5)];
    ok(&s, Write::put_key_packages(kps.clone())).await;
    let claim = |now_secs| Write::ClaimKeyPackages { user: BOB.into(), now_secs, scope: None };
    // Expired #3 is dropped, #1 is served once, then the last-resort #2 again and again;
    // the pc has nothing.
    match ok(&s, claim(50)).await {
        WriteResult::Claimed { claimed, exhausted } => {
            assert_eq!(claimed, vec![kps[0].clone()], "served as uploaded");
            assert_eq!(exhausted, vec![pc.to_owned()]);
        }
        other => panic!("a claim answers with what it claimed, not {other:?}"),
    }
    assert_eq!(claimed(ok(&s, claim(50)).await), (vec![2], vec![pc.to_owned()]));
    assert_eq!(claimed(ok(&s, claim(50)).await), (vec![2], vec![pc.to_owned()]));
    // #3 was deleted, not just skipped: at a time it was good, it is not served either.
    assert_eq!(claimed(ok(&s, claim(1)).await), (vec![2], vec![pc.to_owned()]));
    assert_eq!(s.key_package_owner(&[1; 32]).await.unwrap().as_deref(), Some(phone), "kept after the claim");
    assert_eq!(token_client(&s, phone.as_bytes()).await.as_deref(), Some(phone));

    // One per client per claim; another user's KeyPackages (even a URI prefix) are not touched.
    ok(&s, Write::put_key_packages(vec![key_package(pc, 4, false, 100), key_package(pc, 5, false, 100)])).await;
    let bobby = "mimi://a.example/d/bobby/phone";
    ok(&s, register(bobby, "mimi://a.example/u/bobby", b"bobby")).await;
    ok(
        &s,
        Write::put_key_packages(vec![StoredKeyPackage {
            user: "mimi://a.example/u/bobby".into(),
            ..key_package(bobby, 9, false, 100)
        }]),
    )
    .await;
    let (mut served, exhausted) = claimed(ok(&s, claim(50)).await);
    served.sort();
    assert_eq!((served, exhausted), (vec![2, 4], vec![]));
    let (mut served, _) = claimed(ok(&s, claim(50)).await);
    served.sort();
    assert_eq!(served, [2, 5]);
    assert_eq!(claimed(ok(&s, claim(50)).await), (vec![2], vec![pc.to_owned()]));
    let bobby_claim = Write::ClaimKeyPackages { user: "mimi://a.example/u/bobby".into(), now_secs: 50, scope: None };
    assert_eq!(claimed(ok(&s, bobby_claim).await), (vec![9], vec![]));
    // A user without clients: nothing, and nobody exhausted.
    let nobody = Write::ClaimKeyPackages { user: "mimi://a.example/u/nobody".into(), now_secs: 50, scope: None };
    assert_eq!(claimed(ok(&s, nobody).await), (vec![], vec![]));
}

/// An upload is held to its cap of unexpired KeyPackages per client: beyond it the write is
/// refused whole ([`StoreError::Quota`]) and nothing of it is stored (nor are the client's expired
/// KeyPackages deleted); an upload that fits deletes the client's expired ones. Other clients'
/// KeyPackages do not count.
pub async fn key_packages_are_held_to_the_clients_cap<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let (phone, pc) = ("mimi://a.example/d/bob/phone", "mimi://a.example/d/bob/pc");
    for c in [phone, pc] {
        ok(&s, register(c, BOB, c.as_bytes())).await;
    }
    let put = |kps: Vec<StoredKeyPackage>| Write::PutKeyPackages { key_packages: kps, max_per_client: 2, now_secs: 50 };
    ok(&s, put(vec![key_package(phone, 1, false, 100), key_package(phone, 2, false, 10)])).await;
    ok(&s, put(vec![key_package(pc, 3, false, 100), key_package(pc, 4, false, 100)])).await;
    // #2 has expired: the phone holds one, so one more fits, two do not.
    let refused =
        settle(s.write(put(vec![key_package(phone, 5, false, 100), key_package(phone, 6, false, 100)]))).await;
    assert!(matches!(refused, Err(StoreError::Quota(ref q)) if q.would_hold == 3 && q.cap == 2), "{refused:?}");
    assert_eq!(s.key_package_owner(&[5; 32]).await.unwrap(), None, "nothing of a refused upload is stored");
    let claim = |now_secs| Write::ClaimKeyPackages { user: BOB.into(), now_secs, scope: None };
    // At a time #2 was good, the refused upload left it in place.
    let (mut served, _) = claimed(ok(&s, claim(5)).await);
    served.sort();
    assert_eq!(served, [1, 3]);
    // At 50 #2 has expired: two fit, and the upload deletes #2.
    ok(&s, put(vec![key_package(phone, 7, false, 100), key_package(phone, 8, false, 100)])).await;
    let refused = settle(s.write(put(vec![key_package(phone, 9, false, 100)]))).await;
    assert!(matches!(refused, Err(StoreError::Quota(_))), "{refused:?}");
    let (mut served, _) = claimed(ok(&s, claim(5)).await);
    served.sort();
    assert_eq!(served, [4, 7], "#2 was deleted by the upload that was let in");
}

/// A room created for a user is counted for it: beyond its cap the creation is refused
/// ([`StoreError::Quota`]) and the room does not exist; a room not created (it existed) is not
/// counted; other users and uncounted creations are not held to it.
pub async fn rooms_are_held_to_their_creators_cap<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let by = |user: &str, room: &str| Write::CreateRoom {
        checkpoint: Box::new(checkpoint(room, 0)),
        creator: Some(RoomCreator { user: user.into(), max_rooms: 2 }),
    };
    let (alice, bob) = ("mimi://a.example/u/alice", "mimi://a.example/u/bob");
    ok(&s, by(alice, "mimi://a.example/r/1")).await;
    assert!(matches!(settle(s.write(by(alice, "mimi://a.example/r/1"))).await, Err(StoreError::Room { .. })));
    ok(&s, by(alice, "mimi://a.example/r/2")).await;
    let refused = settle(s.write(by(alice, "mimi://a.example/r/3"))).await;
    assert!(matches!(refused, Err(StoreError::Quota(ref q)) if q.would_hold == 3), "{refused:?}");
    assert!(s.room("mimi://a.example/r/3").await.unwrap().is_none(), "the refused room does not exist");
    ok(&s, by(bob, "mimi://a.example/r/3")).await;
    ok(&s, create("mimi://a.example/r/4")).await;
}

/// A new abuse report is counted for its reporter and room: beyond the cap it is refused
/// ([`StoreError::Quota`]) and not kept; a byte-identical repeat of a kept one is neither counted
/// nor refused; other reporters and rooms have their own counts.
pub async fn abuse_reports_are_held_to_the_reporters_cap<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let other = "mimi://a.example/r/other";
    let report = |room: &str, body: &[u8]| StoredAbuseReport {
        room: room.into(),
        reporter: "provider b.example".into(),
        received_ms: 1,
        report: body.to_vec(),
    };
    let by = |who: &str, room: &str, body: &[u8]| Write::AbuseReport {
        report: report(room, body),
        counted_as: who.into(),
        max_per_reporter: 2,
    };
    let (bob, carol) = ("mimi://b.example/u/bob", "mimi://b.example/u/carol");
    ok(&s, by(bob, ROOM, b"1")).await;
    ok(&s, by(bob, ROOM, b"2")).await;
    ok(&s, by(bob, ROOM, b"1")).await;
    let refused = settle(s.write(by(bob, ROOM, b"3"))).await;
    assert!(matches!(refused, Err(StoreError::Quota(ref q)) if q.would_hold == 3), "{refused:?}");
    assert_eq!(s.abuse_reports(ROOM).await.unwrap().len(), 2, "the refused report is not kept");
    ok(&s, by(carol, ROOM, b"3")).await;
    ok(&s, by(bob, other, b"3")).await;
    assert_eq!(s.abuse_reports(ROOM).await.unwrap().len(), 3);
}

/// A claim through the hub for one of its rooms is recorded with its scope (relayed, or with a
/// local claim in the same write), and marked used by an append of that room that names it in
/// `claims_used` — not by another room's, and not by a failed append.
pub async fn claims_are_recorded_with_their_scope_and_spent_by_the_append_using_them<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let (r1, r2) = ("mimi://a.example/r/one", "mimi://a.example/r/two");
    let scope = |room: &str| claim_scope("c.example", room);
    for room in [r1, r2] {
        ok(&s, create(room)).await;
    }
    // A relayed claim for r1, and a local one (our Bob) for r2 recorded with the claim itself.
    ok(&s, Write::KeyPackageClaims { references: vec![vec![7; 32]], scope: scope(r1) }).await;
    let bob = "mimi://a.example/d/bob/phone";
    ok(&s, register(bob, BOB, &[1])).await;
    ok(&s, Write::put_key_packages(vec![key_package(bob, 8, false, 100)])).await;
    let local = ClaimScope { provider: "a.example".into(), ..scope(r2) };
    ok(&s, Write::ClaimKeyPackages { user: BOB.into(), now_secs: 50, scope: Some(local.clone()) }).await;
    let claim = async |r: u8| s.key_package_claim(&[r; 32]).await.unwrap();
    assert_eq!(claim(7).await, Some(KeyPackageClaim { scope: scope(r1), used: false }));
    assert_eq!(claim(8).await, Some(KeyPackageClaim { scope: local, used: false }));
    assert_eq!(claim(9).await, None);
    // An append of r2 naming #7 (claimed for r1) leaves it unused; r1's append spends it.
    let append = |room: &str, seq: u64| Write::Append {
        room: room.into(),
        entries: vec![entry(seq)],
        queue: vec![],
        claims_used: vec![vec![7; 32]],
    };
    ok(&s, append(r2, 1)).await;
    assert!(!claim(7).await.unwrap().used);
    ok(&s, append(r1, 1)).await;
    assert!(claim(7).await.unwrap().used);
    // A failed append (fence) spends nothing.
    ok(&s, Write::KeyPackageClaims { references: vec![vec![7; 32]], scope: scope(r1) }).await;
    assert!(settle(s.write(append(r1, 5))).await.is_err());
    assert!(!claim(7).await.unwrap().used, "a claimed-again KeyPackage is fresh, and the failed append spent nothing");
    // A claim without a scope records nothing.
    ok(&s, Write::put_key_packages(vec![key_package(bob, 10, false, 100)])).await;
    ok(&s, Write::ClaimKeyPackages { user: BOB.into(), now_secs: 50, scope: None }).await;
    assert_eq!(claim(10).await, None);
}

/// A Welcome goes into the queue of each client it is for, numbered on from that client's last
/// item (also several in one write), read back whole; `queue_after` pages.
pub async fn welcomes_are_queued_once_per_client_in_order<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let mirrored = "mimi://b.example/r/other";
    ok(&s, create(ROOM)).await;
    ok(&s, append(ROOM, 1..=1)).await;
    // Carol already has a Welcome queued (an earlier room): hers is numbered on after it.
    let carol = "mimi://a.example/d/carol/phone";
    let small = welcome(mirrored, 3, 1, &[carol]);
    ok(&s, Write::Mirror { room: mirrored.into(), entries: vec![], queue: vec![small.clone()], seen: vec![] }).await;

    let mut clients: Vec<String> = (0..10).map(|i| format!("mimi://a.example/d/u{i}/phone")).collect();
    clients.push(carol.into());
    let big = WelcomeDelivery {
        room: ROOM.into(),
        after_seq: 2,
        welcome: (0..4096).map(|i| (i * 7 % 251) as u8).collect(),
        ratchet_tree: vec![9; 1000],
        clients: clients.clone(),
    };
    ok(&s, Write::Append { room: ROOM.into(), entries: vec![entry(2)], queue: vec![big.clone()], claims_used: vec![] })
        .await;
    // The same Welcome taken in again (as a follower would), for another client.
    let dave = "mimi://a.example/d/dave/pc";
    let again = WelcomeDelivery { room: mirrored.into(), clients: vec![dave.into()], ..big.clone() };
    ok(&s, Write::Mirror { room: mirrored.into(), entries: vec![], queue: vec![again.clone()], seen: vec![] }).await;

    for client in &clients[..10] {
        assert_eq!(s.queue_after(client, 0, 10).await.unwrap(), vec![big.item(1)], "{client}");
    }
    assert_eq!(s.queue_after(carol, 0, 10).await.unwrap(), vec![small.item(1), big.item(2)]);
    assert_eq!(s.queue_after(carol, 1, 10).await.unwrap(), vec![big.item(2)]);
    assert_eq!(s.queue_after(carol, 0, 1).await.unwrap(), vec![small.item(1)]);
    assert!(s.queue_after(carol, 2, 10).await.unwrap().is_empty());
    assert_eq!(s.queue_after(dave, 0, 10).await.unwrap(), vec![again.item(1)]);
    assert!(s.queue_after("mimi://a.example/d/nobody/pc", 0, 10).await.unwrap().is_empty());

    // Two Welcomes for one client in one write: numbered in order.
    let erin = "mimi://a.example/d/erin/phone";
    let (first, second) = (welcome(ROOM, 3, 2, &[erin]), welcome(ROOM, 3, 3, &[erin, carol]));
    let w = Write::Append {
        room: ROOM.into(),
        entries: vec![entry(3)],
        queue: vec![first.clone(), second.clone()],
        claims_used: vec![],
    };
    ok(&s, w).await;
    assert_eq!(s.queue_after(erin, 0, 10).await.unwrap(), vec![first.item(1), second.item(2)]);
    assert_eq!(s.queue_after(carol, 2, 10).await.unwrap(), vec![second.item(3)]);
}

/// A follower's intake of one `/notify` body (mirror entries, Welcomes, seen hashes) is taken
/// whole or not at all, fenced like an append; relayed messages are remembered with their client.
pub async fn mirror_intake_is_all_or_nothing<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let room = "mimi://b.example/r/m";
    let (carol, dave) = ("mimi://a.example/d/carol/phone", "mimi://a.example/d/dave/pc");
    let hash = |b: u8| Sha256::digest([b]).to_vec();
    assert_eq!(s.mirror_last(room).await.unwrap(), 0);
    assert!(!s.seen(&hash(1)).await.unwrap());
    let intake = Write::Mirror {
        room: room.into(),
        entries: vec![entry(1), entry(2)],
        queue: vec![welcome(room, 1, 1, &[carol])],
        seen: vec![hash(1), hash(2)],
    };
    ok(&s, intake).await;
    assert_eq!(s.mirror_last(room).await.unwrap(), 2);
    assert_eq!(s.mirror_after(room, 0, 10).await.unwrap(), vec![entry(1), entry(2)]);
    assert_eq!(s.mirror_after(room, 1, 10).await.unwrap(), vec![entry(2)]);
    assert_eq!(s.mirror_after(room, 0, 1).await.unwrap(), vec![entry(1)]);
    assert!(s.seen(&hash(1)).await.unwrap() && s.seen(&hash(2)).await.unwrap());
    assert_eq!(s.queue_after(carol, 0, 10).await.unwrap(), vec![welcome(room, 1, 1, &[carol]).item(1)]);
    assert!(s.log_after(room, 0, 10).await.unwrap().is_empty(), "the mirror is not a hub log");

    // A body that does not follow the mirror: nothing of it is taken in.
    let late = Write::Mirror {
        room: room.into(),
        entries: vec![entry(4)],
        queue: vec![welcome(room, 4, 2, &[dave])],
        seen: vec![hash(3)],
    };
    assert!(matches!(settle(s.write(late)).await, Err(StoreError::Conflict { last: 2, expected: 3, .. })));
    assert_eq!(s.mirror_last(room).await.unwrap(), 2);
    assert!(!s.seen(&hash(3)).await.unwrap());
    assert!(s.queue_after(dave, 0, 10).await.unwrap().is_empty());
    let replay = Write::Mirror { room: room.into(), entries: vec![entry(2)], queue: vec![], seen: vec![hash(3)] };
    assert!(matches!(settle(s.write(replay)).await, Err(StoreError::Conflict { .. })));
    assert!(!s.seen(&hash(3)).await.unwrap());

    // A body without entries is taken in at the current position; other mirrors are their own.
    ok(&s, Write::Mirror { room: room.into(), entries: vec![], queue: vec![], seen: vec![hash(3)] }).await;
    assert!(s.seen(&hash(3)).await.unwrap());
    assert_eq!(s.mirror_last("mimi://b.example/r/other").await.unwrap(), 0);
    ok(&s, Write::Mirror { room: room.into(), entries: vec![entry(3)], queue: vec![], seen: vec![] }).await;
    assert_eq!(s.mirror_last(room).await.unwrap(), 3);

    // A relayed message: its echo is the client's own.
    let erin = "mimi://a.example/d/erin/phone";
    ok(&s, Write::Relayed { hash: hash(9), client: erin.into() }).await;
    assert_eq!(s.relayed_by(&hash(9)).await.unwrap().as_deref(), Some(erin));
    assert_eq!(s.relayed_by(&hash(8)).await.unwrap(), None);
}

/// A follower's outbox cursor per (peer, room) moves only forward.
pub async fn outbox_cursors_never_move_backwards<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let advance = |seq| Write::AdvanceOutbox { peer: "b.example".into(), room: ROOM.into(), seq };
    assert_eq!(s.outbox_cursor("b.example", ROOM).await.unwrap(), 0);
    for (seq, after) in [(5, 5), (3, 5), (5, 5), (0, 5), (7, 7)] {
        ok(&s, advance(seq)).await;
        assert_eq!(s.outbox_cursor("b.example", ROOM).await.unwrap(), after, "after an acknowledgment of {seq}");
    }
    assert_eq!(s.outbox_cursor("c.example", ROOM).await.unwrap(), 0, "per peer");
    assert_eq!(s.outbox_cursor("b.example", "mimi://a.example/r/y").await.unwrap(), 0, "per room");
}

/// Consent per (requester, target, room or any room) moves as [`ConsentState::after`] says,
/// from every state by every operation.
pub async fn consent_follows_its_transitions<S: Store>(fresh: &impl Fn() -> S) {
    use ConsentOperation::*;
    let s = fresh();
    let carol = "mimi://a.example/u/carol";
    let consent = |target: &str, room, operation| Write::Consent {
        requester: BOB.into(),
        target: target.into(),
        room,
        operation,
    };
    let starts: [(Option<ConsentState>, Option<ConsentOperation>); 4] = [
        (None, None),
        (Some(ConsentState::Requested), Some(Request)),
        (Some(ConsentState::Granted), Some(Grant)),
        (Some(ConsentState::Revoked), Some(Revoke)),
    ];
    for (i, (start, setup)) in starts.into_iter().enumerate() {
        for (j, operation) in [Cancel, Request, Grant, Revoke].into_iter().enumerate() {
            let target = format!("mimi://a.example/u/t{i}{j}");
            for room in [None, Some(ROOM.to_owned())] {
                if let Some(setup) = setup {
                    ok(&s, consent(target.as_str(), room.clone(), setup)).await;
                }
                assert_eq!(s.consent(BOB, &target, room.as_deref()).await.unwrap(), start);
                ok(&s, consent(target.as_str(), room.clone(), operation)).await;
                let expected = ConsentState::after(start, operation);
                assert_eq!(
                    s.consent(BOB, &target, room.as_deref()).await.unwrap(),
                    expected,
                    "{start:?} {operation:?} {room:?}"
                );
            }
        }
    }
    // The scopes are distinct: direction, room and any room.
    ok(&s, consent(carol, None, Revoke)).await;
    ok(&s, consent(carol, Some(ROOM.into()), Grant)).await;
    assert_eq!(s.consent(BOB, carol, None).await.unwrap(), Some(ConsentState::Revoked));
    assert_eq!(s.consent(BOB, carol, Some(ROOM)).await.unwrap(), Some(ConsentState::Granted));
    assert_eq!(s.consent(BOB, carol, Some("mimi://a.example/r/y")).await.unwrap(), None);
    assert_eq!(s.consent(carol, BOB, None).await.unwrap(), None);
    // A request keeps a decision; a cancel withdraws only a request.
    ok(&s, consent(carol, None, Request)).await;
    ok(&s, consent(carol, None, Cancel)).await;
    assert_eq!(s.consent(BOB, carol, None).await.unwrap(), Some(ConsentState::Revoked));
}

/// An abuse report is kept once per distinct body and room (the first reception's reporter and
/// time stay); a room's reports are read in the order of their bodies' SHA-256.
pub async fn abuse_reports_are_kept_once_per_body<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let other = "mimi://a.example/r/y";
    let report = |room: &str, reporter: &str, ms, body: &[u8]| StoredAbuseReport {
        room: room.into(),
        reporter: reporter.into(),
        received_ms: ms,
        report: body.to_vec(),
    };
    assert!(s.abuse_reports(ROOM).await.unwrap().is_empty());
    let first = report(ROOM, "provider b.example", 1, b"spam");
    ok(&s, Write::abuse_report(first.clone())).await;
    ok(&s, Write::abuse_report(report(ROOM, "client mimi://a.example/d/carol/phone", 2, b"spam"))).await;
    assert_eq!(s.abuse_reports(ROOM).await.unwrap(), vec![first.clone()]);
    let bodies: [&[u8]; 4] = [b"scam", b"abuse", b"flood", b"spam!"];
    for (i, body) in bodies.into_iter().enumerate() {
        ok(&s, Write::abuse_report(report(ROOM, "provider c.example", 10 + i as u64, body))).await;
    }
    ok(&s, Write::abuse_report(report(other, "provider b.example", 3, b"spam"))).await;
    let kept = s.abuse_reports(ROOM).await.unwrap();
    assert_eq!(kept.len(), 1 + bodies.len());
    assert!(kept.contains(&first));
    let hashes: Vec<Vec<u8>> = kept.iter().map(|r| Sha256::digest(&r.report).to_vec()).collect();
    assert!(hashes.windows(2).all(|w| w[0] < w[1]), "in the order of their bodies' SHA-256");
    assert_eq!(s.abuse_reports(other).await.unwrap(), vec![report(other, "provider b.example", 3, b"spam")]);
    assert!(s.abuse_reports("mimi://a.example/r").await.unwrap().is_empty(), "a room URI prefix is another room");
}

/// Registrations answer `token` and `user_exists` (a user, not a prefix of one); an uploaded
/// KeyPackage's owner is kept after it is claimed.
pub async fn registrations_tokens_and_key_package_owners<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let phone = "mimi://a.example/d/bob/phone";
    assert_eq!(s.token(b"t1").await.unwrap(), None);
    assert!(!s.user_exists(BOB).await.unwrap());
    ok(&s, register(phone, BOB, b"t1")).await;
    assert_eq!(token_client(&s, b"t1").await.as_deref(), Some(phone));
    assert_eq!(s.token(b"t1").await.unwrap(), Some(TokenRecord { client: phone.into(), expires_ms: u64::MAX }));
    assert!(s.user_exists(BOB).await.unwrap());
    assert!(!s.user_exists("mimi://a.example/u/bo").await.unwrap());
    assert!(!s.user_exists("mimi://a.example/u/bobby").await.unwrap());
    assert!(!s.user_exists("mimi://a.example/u/alice").await.unwrap());
    // A new token for the same client (registering it again is refused, and changes nothing).
    refused(&s, register(phone, BOB, b"t2"), AuthRefusal::Exists { client: phone.into() }).await;
    assert_eq!(s.token(b"t2").await.unwrap(), None);
    let t2 = StoredToken { hash: b"t2".to_vec(), expires_ms: u64::MAX };
    ok(&s, Write::IssueToken { client: phone.into(), token: t2, replaces: None, now_ms: 2 }).await;
    assert_eq!(token_client(&s, b"t2").await.as_deref(), Some(phone));
    assert_eq!(token_client(&s, b"t1").await.as_deref(), Some(phone), "a token renewed nothing else");
    let pc = "mimi://a.example/d/bob/pc";
    ok(&s, register(pc, BOB, b"t3")).await;
    assert_eq!(token_client(&s, b"t3").await.as_deref(), Some(pc));

    assert_eq!(s.key_package_owner(&[1; 32]).await.unwrap(), None);
    ok(&s, Write::put_key_packages(vec![key_package(phone, 1, false, 100), key_package(pc, 2, true, 100)])).await;
    assert_eq!(s.key_package_owner(&[1; 32]).await.unwrap().as_deref(), Some(phone));
    assert_eq!(s.key_package_owner(&[2; 32]).await.unwrap().as_deref(), Some(pc));
    ok(&s, Write::ClaimKeyPackages { user: BOB.into(), now_secs: 50, scope: None }).await;
    assert_eq!(s.key_package_owner(&[1; 32]).await.unwrap().as_deref(), Some(phone), "kept after the claim");
}

/// A registration is admitted by its voucher, checked in the write that registers: an enrollment
/// code for the device's user, unexpired and unspent, which the registration spends (one device
/// per code, also when registrations race with it); a live token of another device of the same
/// user; a login (whose first use finds an active device registered already). Then the name
/// must be free. A refusal changes nothing: no device, no token, the code unspent.
pub async fn registration_is_admitted_by_its_voucher_and_a_code_enrols_once<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let (phone, laptop, tablet) =
        ("mimi://a.example/d/bob/phone", "mimi://a.example/d/bob/laptop", "mimi://a.example/d/bob/tablet");
    let code = |hash: &[u8]| Voucher::Code { hash: hash.to_vec() };
    let add_code = |hash: &[u8], user: &str, expires_ms| Write::AddEnrollmentCode {
        hash: hash.to_vec(),
        code: CodeRecord { user: user.into(), expires_ms },
        now_ms: 1,
    };
    ok(&s, add_code(b"bob", BOB, 100)).await;
    ok(&s, add_code(b"alice", "mimi://a.example/u/alice", 100)).await;
    ok(&s, add_code(b"old", BOB, 10)).await;
    // Unknown, another user's, expired: refused, nothing registered.
    refused(&s, registration(phone, BOB, code(b"nope"), Some(b"t1"), 5), AuthRefusal::BadCode).await;
    refused(&s, registration(phone, BOB, code(b"alice"), Some(b"t1"), 5), AuthRefusal::BadCode).await;
    refused(&s, registration(phone, BOB, code(b"old"), Some(b"t1"), 10), AuthRefusal::BadCode).await;
    assert_eq!(s.client(phone).await.unwrap(), None);
    assert_eq!(s.token(b"t1").await.unwrap(), None);
    assert!(!s.user_exists(BOB).await.unwrap());
    // Two registrations racing with one code: exactly one device is enrolled.
    let first = s.write(registration(phone, BOB, code(b"bob"), Some(b"t1"), 5));
    let second = s.write(registration(laptop, BOB, code(b"bob"), Some(b"t2"), 5));
    let (first, second) = (settle(first).await, settle(second).await);
    assert!(first.is_ok(), "{first:?}");
    assert!(matches!(second, Err(StoreError::Auth(AuthRefusal::BadCode))), "{second:?}");
    assert_eq!(s.client(phone).await.unwrap().map(|r| r.status), Some(ClientStatus::Active));
    assert_eq!(s.client(laptop).await.unwrap(), None);
    assert_eq!(s.token(b"t2").await.unwrap(), None);
    refused(&s, registration(laptop, BOB, code(b"bob"), Some(b"t2"), 6), AuthRefusal::BadCode).await;

    // A taken name is refused after a valid code, which stays unspent.
    ok(&s, add_code(b"bob2", BOB, 100)).await;
    refused(&s, registration(phone, BOB, code(b"bob2"), Some(b"t9"), 7), AuthRefusal::Exists { client: phone.into() })
        .await;
    assert_eq!(token_client(&s, b"t1").await.as_deref(), Some(phone), "the device keeps its token");
    assert_eq!(s.token(b"t9").await.unwrap(), None);
    ok(&s, registration(laptop, BOB, code(b"bob2"), Some(b"t2"), 7)).await;

    // Another device's token: of the same user, live.
    let device = |hash: &[u8]| Voucher::Device { token_hash: hash.to_vec() };
    ok(&s, register("mimi://a.example/d/alice/phone", "mimi://a.example/u/alice", b"ta")).await;
    let other_user = AuthRefusal::OtherUser { owner: "mimi://a.example/d/alice/phone".into(), user: BOB.into() };
    refused(&s, registration(tablet, BOB, device(b"ta"), Some(b"t3"), 8), other_user).await;
    refused(&s, registration(tablet, BOB, device(b"nope"), Some(b"t3"), 8), AuthRefusal::UnknownToken).await;
    assert_eq!(s.client(tablet).await.unwrap(), None);
    ok(&s, registration(tablet, BOB, device(b"t1"), Some(b"t3"), 8)).await;
    assert_eq!(token_client(&s, b"t3").await.as_deref(), Some(tablet));
    let listed: Vec<String> = s.clients_of(BOB).await.unwrap().into_iter().map(|(c, _)| c).collect();
    assert_eq!(listed, [laptop, phone, tablet]);

    // A login: its first use registers (no token), finds an active device registered already; an
    // explicit registration with it (for a token) finds the name taken.
    let login = Voucher::Login { issued_at_ms: 9 };
    let watch = "mimi://a.example/d/bob/watch";
    ok(&s, registration(watch, BOB, login.clone(), None, 9)).await;
    ok(&s, registration(watch, BOB, login.clone(), None, 10)).await;
    assert_eq!(s.client(watch).await.unwrap().map(|r| r.since_ms), Some(9), "the second use wrote nothing");
    refused(&s, registration(watch, BOB, login, Some(b"t4"), 10), AuthRefusal::Exists { client: watch.into() }).await;
    assert_eq!(s.token(b"t4").await.unwrap(), None);
}

/// A token works for its device until it expires (the store keeps its expiry); a renewal stores a
/// new token and deletes the one it replaces (a live token of the same device) and the device's
/// expired ones, in one write; revoking or removing the device deletes all its tokens, and a
/// revoked device gets no new one.
pub async fn tokens_expire_are_renewed_and_end_with_their_device<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let (phone, pc) = ("mimi://a.example/d/bob/phone", "mimi://a.example/d/bob/pc");
    let token = |hash: &[u8], expires_ms| StoredToken { hash: hash.to_vec(), expires_ms };
    let issue = |client: &str, t: StoredToken, replaces: Option<&[u8]>, now_ms| Write::IssueToken {
        client: client.into(),
        token: t,
        replaces: replaces.map(<[u8]>::to_vec),
        now_ms,
    };
    let first = Write::RegisterClient {
        client: phone.into(),
        user: BOB.into(),
        voucher: Voucher::Open,
        token: Some(token(b"t1", 100)),
        now_ms: 1,
    };
    ok(&s, first).await;
    ok(&s, register(pc, BOB, b"pc")).await;
    assert_eq!(s.token(b"t1").await.unwrap(), Some(TokenRecord { client: phone.into(), expires_ms: 100 }));
    ok(&s, issue(phone, token(b"t2", 50), None, 10)).await;
    // Renewing with another device's token, or an expired one, or an unknown one: refused.
    refused(&s, issue(phone, token(b"t3", 200), Some(b"pc"), 20), AuthRefusal::UnknownToken).await;
    refused(&s, issue(phone, token(b"t3", 200), Some(b"t2"), 50), AuthRefusal::ExpiredToken).await;
    refused(&s, issue(phone, token(b"t3", 200), Some(b"zz"), 20), AuthRefusal::UnknownToken).await;
    assert_eq!(s.token(b"t3").await.unwrap(), None);
    // A renewal at 60: t1 replaced, t2 expired; both gone, t3 there.
    ok(&s, issue(phone, token(b"t3", 200), Some(b"t1"), 60)).await;
    assert_eq!(s.token(b"t1").await.unwrap(), None);
    assert_eq!(s.token(b"t2").await.unwrap(), None);
    assert_eq!(token_client(&s, b"t3").await.as_deref(), Some(phone));
    assert_eq!(token_client(&s, b"pc").await.as_deref(), Some(pc), "another device's token is left alone");
    // Revoked: every token of the device is gone at once, and no new one is given.
    ok(&s, issue(phone, token(b"t4", 300), None, 70)).await;
    ok(&s, Write::EndClient { client: phone.into(), ending: Ending::Revoke, now_ms: 80 }).await;
    assert_eq!(s.token(b"t3").await.unwrap(), None);
    assert_eq!(s.token(b"t4").await.unwrap(), None);
    refused(&s, issue(phone, token(b"t5", 300), None, 90), AuthRefusal::Revoked { client: phone.into() }).await;
    assert_eq!(s.token(b"t5").await.unwrap(), None);
    assert_eq!(token_client(&s, b"pc").await.as_deref(), Some(pc));
    ok(&s, Write::EndClient { client: pc.into(), ending: Ending::Remove, now_ms: 90 }).await;
    assert_eq!(s.token(b"pc").await.unwrap(), None);
    refused(&s, issue(pc, token(b"t6", 300), None, 95), AuthRefusal::UnknownClient { client: pc.into() }).await;
}

/// A revoked device keeps its name (a registration of it is refused) but is neither served by
/// claims nor a registered client; a removed one also leaves its user's clients and frees its
/// name, and a login issued before the removal does not bring it back. Ending a device deletes
/// its unclaimed KeyPackages; the user's other devices are untouched.
pub async fn an_ended_device_is_neither_served_nor_listed_and_a_removed_name_is_free<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let (phone, pc, ghost) =
        ("mimi://a.example/d/bob/phone", "mimi://a.example/d/bob/pc", "mimi://a.example/d/bob/ghost");
    for c in [phone, pc, ghost] {
        ok(&s, register(c, BOB, c.as_bytes())).await;
    }
    let kps = vec![
        key_package(phone, 1, false, 100),
        key_package(pc, 2, false, 100),
        key_package(pc, 3, true, 100),
        key_package(ghost, 4, false, 100),
        key_package(ghost, 5, true, 100),
    ];
    ok(&s, Write::put_key_packages(kps)).await;
    let claim = || Write::ClaimKeyPackages { user: BOB.into(), now_secs: 50, scope: None };
    let end = |client: &str, ending, now_ms| Write::EndClient { client: client.into(), ending, now_ms };
    refused(
        &s,
        end("mimi://a.example/d/bob/none", Ending::Revoke, 5),
        AuthRefusal::UnknownClient { client: "mimi://a.example/d/bob/none".into() },
    )
    .await;
    ok(&s, end(ghost, Ending::Revoke, 10)).await;
    ok(&s, end(ghost, Ending::Revoke, 11)).await;
    let revoked = ClientRecord { user: BOB.into(), status: ClientStatus::Revoked, since_ms: 10 };
    assert_eq!(s.client(ghost).await.unwrap(), Some(revoked.clone()), "revoking again changes nothing");
    refused(&s, register(ghost, BOB, b"again"), AuthRefusal::Exists { client: ghost.into() }).await;
    let login = |issued_at_ms| registration(ghost, BOB, Voucher::Login { issued_at_ms }, None, 12);
    refused(&s, login(12), AuthRefusal::Revoked { client: ghost.into() }).await;
    // Claims serve the others, not the revoked device (nor list it as exhausted).
    let (mut served, exhausted) = claimed(ok(&s, claim()).await);
    served.sort();
    assert_eq!((served, exhausted), (vec![1, 2], vec![]));
    assert_eq!(claimed(ok(&s, claim()).await), (vec![3], vec![phone.to_owned()]));
    let statuses: Vec<(String, ClientStatus)> =
        s.clients_of(BOB).await.unwrap().into_iter().map(|(c, r)| (c, r.status)).collect();
    assert_eq!(
        statuses,
        vec![
            (ghost.into(), ClientStatus::Revoked),
            (pc.into(), ClientStatus::Active),
            (phone.into(), ClientStatus::Active)
        ]
    );
    // Removed: out of the listing, its KeyPackages deleted (not served even after a re-registration).
    ok(&s, end(ghost, Ending::Remove, 20)).await;
    let listed: Vec<String> = s.clients_of(BOB).await.unwrap().into_iter().map(|(c, _)| c).collect();
    assert_eq!(listed, [pc, phone]);
    assert_eq!(s.client(ghost).await.unwrap().map(|r| (r.status, r.since_ms)), Some((ClientStatus::Removed, 20)));
    refused(&s, login(20), AuthRefusal::LoginBeforeRemoval { client: ghost.into() }).await;
    assert_eq!(s.client(ghost).await.unwrap().map(|r| r.status), Some(ClientStatus::Removed));
    ok(&s, register(ghost, BOB, b"new ghost")).await;
    assert_eq!(claimed(ok(&s, claim()).await), (vec![3], vec![ghost.to_owned(), phone.to_owned()]));
    // Removing a device with unclaimed KeyPackages deletes them; another user's are untouched.
    ok(&s, end(pc, Ending::Remove, 30)).await;
    assert_eq!(claimed(ok(&s, claim()).await), (vec![], vec![ghost.to_owned(), phone.to_owned()]));
    assert!(s.user_exists(BOB).await.unwrap());
    ok(&s, end(phone, Ending::Remove, 31)).await;
    ok(&s, end(ghost, Ending::Remove, 31)).await;
    assert!(!s.user_exists(BOB).await.unwrap(), "a user whose devices are all removed has none");
    assert_eq!(s.key_package_owner(&[4; 32]).await.unwrap().as_deref(), Some(ghost), "owners are kept for routing");
}

/// An hour, in milliseconds.
const HOUR_MS: u64 = 3_600_000;

/// A retention pass at `now_ms` with the windows given (queue TTL, dedup window, log retention)
/// and the queue positions read past; returns what it deleted.
async fn trim_pass<S: Store>(
    s: &S,
    now_ms: u64,
    read_past: &[(&str, u64)],
    (queue_ttl_ms, dedup_window_ms, log_retention_ms): (u64, u64, u64),
    budget: usize,
) -> Trimmed {
    let trim = Trim {
        now_ms,
        read_past: read_past.iter().map(|(c, p)| (c.to_string(), *p)).collect(),
        retention: Retention { queue_ttl_ms, dedup_window_ms, log_retention_ms },
        budget,
    };
    match ok(s, Write::Trim(trim)).await {
        WriteResult::Trimmed(t) => t,
        other => panic!("a retention pass answers with what it deleted, not {other:?}"),
    }
}

/// Retention deletes a client's queue items once it read past them, and every item after the
/// queue TTL; a Welcome goes with the last queue item referring to it, and a queue position is
/// never used twice.
pub async fn queue_items_go_once_read_past_or_expired_and_their_welcome_with_the_last<S: Store>(
    fresh: &impl Fn() -> S,
) {
    let s = fresh();
    let (carol, dave) = ("mimi://a.example/d/carol/phone", "mimi://a.example/d/dave/pc");
    let (w1, w2) = (welcome(ROOM, 1, 1, &[carol, dave]), welcome(ROOM, 2, 2, &[carol]));
    ok(&s, create(ROOM)).await;
    ok(&s, Write::Append { room: ROOM.into(), entries: vec![entry(1)], queue: vec![w1.clone()], claims_used: vec![] })
        .await;
    ok(&s, Write::Append { room: ROOM.into(), entries: vec![entry(2)], queue: vec![w2.clone()], claims_used: vec![] })
        .await;
    let now = crate::provider::now_ms();
    let windows = (HOUR_MS, HOUR_MS, HOUR_MS);
    assert_eq!(trim_pass(&s, now, &[], windows, 1000).await, Trimmed::default(), "nothing read past or expired");

    let t = trim_pass(&s, now, &[(carol, 1)], windows, 1000).await;
    assert_eq!((t.queue_items, t.welcomes), (1, 0), "Dave's item still refers to the Welcome");
    assert_eq!(s.queue_after(carol, 0, 10).await.unwrap(), vec![w2.item(2)]);
    assert_eq!(s.queue_after(dave, 0, 10).await.unwrap(), vec![w1.item(1)]);

    let t = trim_pass(&s, now, &[(dave, 1)], windows, 1000).await;
    assert_eq!((t.queue_items, t.welcomes), (1, 1), "the Welcome goes with its last item");
    assert!(s.queue_after(dave, 0, 10).await.unwrap().is_empty());

    let w3 = welcome(ROOM, 3, 3, &[dave]);
    ok(&s, Write::Append { room: ROOM.into(), entries: vec![entry(3)], queue: vec![w3.clone()], claims_used: vec![] })
        .await;
    assert_eq!(s.queue_after(dave, 0, 10).await.unwrap(), vec![w3.item(2)], "position 1 is not used again");

    // Past the TTL every item goes, read or not, with its Welcome.
    let t = trim_pass(&s, now + 1000, &[], (0, HOUR_MS, HOUR_MS), 1000).await;
    assert_eq!((t.queue_items, t.welcomes), (2, 2));
    assert!(s.queue_after(carol, 0, 10).await.unwrap().is_empty());
    assert!(s.queue_after(dave, 0, 10).await.unwrap().is_empty());
    assert_eq!(s.log_after(ROOM, 0, 10).await.unwrap().len(), 3, "queue retention leaves the log alone");
}

/// Deduplication records of FanoutMessages taken in and echo records of relayed messages go once
/// older than the window, not before.
pub async fn dedup_and_echo_records_go_after_their_window<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let hash = |b: u8| Sha256::digest([b]).to_vec();
    let erin = "mimi://a.example/d/erin/phone";
    ok(&s, Write::Mirror { room: "mimi://b.example/r/m".into(), entries: vec![], queue: vec![], seen: vec![hash(1)] })
        .await;
    ok(&s, Write::Relayed { hash: hash(2), client: erin.into() }).await;
    let now = crate::provider::now_ms();
    let t = trim_pass(&s, now, &[], (HOUR_MS, HOUR_MS, HOUR_MS), 1000).await;
    assert_eq!((t.seen, t.relayed), (0, 0));
    assert!(s.seen(&hash(1)).await.unwrap());
    assert_eq!(s.relayed_by(&hash(2)).await.unwrap().as_deref(), Some(erin));
    let t = trim_pass(&s, now + 1000, &[], (HOUR_MS, 0, HOUR_MS), 1000).await;
    assert_eq!((t.seen, t.relayed), (1, 1));
    assert!(!s.seen(&hash(1)).await.unwrap());
    assert_eq!(s.relayed_by(&hash(2)).await.unwrap(), None);
}

/// A room's log is compacted from its beginning, stopping at its checkpoint's own entry, its first
/// pending proposal, the first entry younger than the retention, and the first entry a peer it
/// names has not acknowledged. The room still restarts, appends go on, and a read from a cursor
/// older than what is kept sees the gap ([`Compacted::check`]).
pub async fn room_logs_are_compacted_behind_checkpoint_delivery_and_retention<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    ok(&s, create(ROOM)).await;
    ok(&s, append(ROOM, 1..=10)).await;
    ok(&s, Write::Checkpoint(Box::new(Checkpoint { pending_seqs: vec![8], ..checkpoint(ROOM, 9) }))).await;
    // Each entry names b.example, which acknowledged nothing yet.
    assert_eq!(trim_pass(&s, 100, &[], (HOUR_MS, HOUR_MS, 0), 1000).await.log_entries, 0);
    ok(&s, Write::AdvanceOutbox { peer: "b.example".into(), room: ROOM.into(), seq: 5 }).await;
    // Entry n was accepted at n ms: a retention of 97 ms at 100 ms keeps what came after 3 ms.
    assert_eq!(trim_pass(&s, 100, &[], (HOUR_MS, HOUR_MS, 97), 1000).await.log_entries, 3);
    assert_eq!(trim_pass(&s, 100, &[], (HOUR_MS, HOUR_MS, 0), 1000).await.log_entries, 2, "up to the cursor");
    ok(&s, Write::AdvanceOutbox { peer: "b.example".into(), room: ROOM.into(), seq: 10 }).await;
    assert_eq!(trim_pass(&s, 100, &[], (HOUR_MS, HOUR_MS, 0), 1000).await.log_entries, 2, "up to the pending 8");
    assert_eq!(seqs(&s.log_after(ROOM, 0, 100).await.unwrap()), vec![8, 9, 10]);
    let stored = s.room(ROOM).await.unwrap().expect("the room restarts");
    assert_eq!((seqs(&stored.pending), seqs(&stored.tail)), (vec![8], vec![10]));
    let old = Compacted::check(ROOM, 3, s.log_after(ROOM, 3, 100).await.unwrap());
    assert_eq!(old, Err(Compacted { room: ROOM.into(), after: 3, first: 8 }));
    assert!(Compacted::check(ROOM, 7, s.log_after(ROOM, 7, 100).await.unwrap()).is_ok());

    ok(&s, Write::Checkpoint(Box::new(checkpoint(ROOM, 10)))).await;
    assert_eq!(trim_pass(&s, 100, &[], (HOUR_MS, HOUR_MS, 0), 1000).await.log_entries, 2);
    assert_eq!(seqs(&s.log_after(ROOM, 0, 100).await.unwrap()), vec![10], "the checkpoint's entry stays");
    ok(&s, append(ROOM, 11..=11)).await;
    assert!(matches!(settle(s.write(append(ROOM, 11..=11))).await, Err(StoreError::Conflict { last: 11, .. })));
    assert_eq!(seqs(&s.log_after(ROOM, 0, 100).await.unwrap()), vec![10, 11]);
}

/// A follower's mirror is compacted by age from its beginning, never its last entry, and its
/// numbering goes on.
pub async fn mirrors_are_compacted_by_age_and_keep_their_last_entry<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let room = "mimi://b.example/r/m";
    let other = "mimi://c.example/r/n";
    for r in [room, other] {
        ok(&s, Write::Mirror { room: r.into(), entries: (1..=3).map(entry).collect(), queue: vec![], seen: vec![] })
            .await;
    }
    assert_eq!(trim_pass(&s, 100, &[], (HOUR_MS, HOUR_MS, 99), 1000).await.mirror_entries, 2, "entry 1 of each");
    assert_eq!(trim_pass(&s, 100, &[], (HOUR_MS, HOUR_MS, 0), 1000).await.mirror_entries, 2, "entry 2 of each");
    for r in [room, other] {
        assert_eq!(s.mirror_last(r).await.unwrap(), 3);
        assert_eq!(seqs(&s.mirror_after(r, 0, 10).await.unwrap()), vec![3]);
    }
    ok(&s, Write::Mirror { room: room.into(), entries: vec![entry(4)], queue: vec![], seen: vec![] }).await;
    assert_eq!(seqs(&s.mirror_after(room, 0, 10).await.unwrap()), vec![3, 4]);
}

/// A pass deletes at most its budget, and says when more is due.
pub async fn a_retention_pass_stops_at_its_budget<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    let room = "mimi://b.example/r/m";
    ok(&s, Write::Mirror { room: room.into(), entries: (1..=5).map(entry).collect(), queue: vec![], seen: vec![] })
        .await;
    let t = trim_pass(&s, 100, &[], (HOUR_MS, HOUR_MS, 0), 3).await;
    assert_eq!((t.mirror_entries, t.more), (3, true));
    let t = trim_pass(&s, 100, &[], (HOUR_MS, HOUR_MS, 0), 3).await;
    assert_eq!((t.mirror_entries, t.more), (1, false));
    assert_eq!(seqs(&s.mirror_after(room, 0, 10).await.unwrap()), vec![5]);
}

/// The operator's listings: every registered device of every user in (user, client) order (a
/// removed device is not listed, a revoked one is), and every mirrored room with its last
/// position (hub logs are not mirrors).
pub async fn devices_and_mirrors_are_listed_for_the_operator<S: Store>(fresh: &impl Fn() -> S) {
    let s = fresh();
    assert!(s.devices().await.unwrap().is_empty());
    assert!(s.mirrored_rooms().await.unwrap().is_empty());
    let alice = "mimi://a.example/u/alice";
    let (phone, pc, old) = ("mimi://a.example/d/bob/phone", "mimi://a.example/d/bob/pc", "mimi://a.example/d/bob/old");
    let laptop = "mimi://a.example/d/alice/laptop";
    for (c, user) in [(phone, BOB), (pc, BOB), (old, BOB), (laptop, alice)] {
        ok(&s, register(c, user, c.as_bytes())).await;
    }
    ok(&s, Write::EndClient { client: pc.into(), ending: Ending::Revoke, now_ms: 5 }).await;
    ok(&s, Write::EndClient { client: old.into(), ending: Ending::Remove, now_ms: 6 }).await;
    let listed: Vec<(String, String, ClientStatus)> =
        s.devices().await.unwrap().into_iter().map(|(u, c, r)| (u, c, r.status)).collect();
    assert_eq!(
        listed,
        vec![
            (alice.into(), laptop.into(), ClientStatus::Active),
            (BOB.into(), pc.into(), ClientStatus::Revoked),
            (BOB.into(), phone.into(), ClientStatus::Active),
        ]
    );

    ok(&s, create(ROOM)).await;
    ok(&s, append(ROOM, 1..=3)).await;
    let mirror = |room: &str, seqs: RangeInclusive<u64>| Write::Mirror {
        room: room.into(),
        entries: seqs.map(entry).collect(),
        queue: vec![],
        seen: vec![],
    };
    for (room, seqs) in
        [("mimi://c.example/r/z", 1..=2), ("mimi://b.example/r/m", 1..=4), ("mimi://b.example/r/n", 1..=1)]
    {
        ok(&s, mirror(room, seqs)).await;
    }
    assert_eq!(
        s.mirrored_rooms().await.unwrap(),
        vec![
            ("mimi://b.example/r/m".into(), 4),
            ("mimi://b.example/r/n".into(), 1),
            ("mimi://c.example/r/z".into(), 2)
        ]
    );
}
