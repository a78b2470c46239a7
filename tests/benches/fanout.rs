//! The fanout bench: end-to-end fanout latency and delivered
//! messages/s across three federated providers, for the machine it runs on.
//!
//! **Setup.** Three `mimi-ds` providers (`a.example`, the hub; `b.example`, `c.example`) start
//! in this process with [`LocalProvider::start_federation`]: loopback sockets, real mutual TLS
//! from one development CA, real redb files in a temporary directory, the hub's durable outbox
//! fanning out with `/notify`. One room at `a.example` holds `MIMI_BENCH_SUBMITTERS` submitting
//! clients per provider (default 2, i.e. 6) and one reading client per provider, all real
//! openmls clients of `mimi_client_sim` talking only to their own provider's client API.
//!
//! **Run.** Every submitter sends `MIMI_BENCH_MESSAGES` text messages (default 300) one after
//! the other ([`Client::send_built`]: catch up, encrypt, `submitMessage`; a follower's client is
//! relayed to the hub and answered once the echo is in its provider's mirror), all submitters at
//! once. Each reader long-polls its room log ([`Client::sync`], i.e. `GET …/log?wait=1`) and
//! notes when each message became readable (decrypted) in its inbox. The first
//! `MIMI_BENCH_WARMUP` messages per submitter (default 20) are left out of the figures.
//!
//! **Figures.**
//! - *Fanout latency, hub accept → follower inbox*: for the messages of the hub's own submitters,
//!   from the moment their `submitMessage` was answered (the hub accepted durably) to the moment
//!   the reader at `b.example` / `c.example` had it: p50, p99, max (hdrhistogram, µs). Messages
//!   from followers' submitters are load here: their answer comes only after the fanout to their
//!   own provider, so it is no hub-accept time.
//! - *Delivered messages/s*: messages accepted per second over the run (first send to last
//!   answer), and deliveries per second to the three readers (each message once per reader, first
//!   send to the last reader done).
//!
//! Run (release): `cargo bench -p mimi-tests --bench fanout`. Knobs (environment):
//! `MIMI_BENCH_SUBMITTERS=2` (per provider), `MIMI_BENCH_MESSAGES=300` (per submitter),
//! `MIMI_BENCH_WARMUP=20`. The last line printed is a JSON summary
//! (`{"bench":"mimi-tests-fanout",...}`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_client_sim::{Client, Connection, LocalProvider};
use mimi_content::builder::{MessageBuilder, TextFormat};
use serde_json::json;
use tokio::sync::Mutex;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const DOMAINS: [&str; 3] = ["a.example", "b.example", "c.example"];
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.trim().replace('_', "").parse().ok()).unwrap_or(default)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

/// When each message (by its encoded content) was answered at its submitter, and whether that
/// submitter is a client of the hub.
type Sent = HashMap<Vec<u8>, (Instant, bool)>;

fn main() -> Res<()> {
    let per_provider = env_usize("MIMI_BENCH_SUBMITTERS", 2).max(1);
    let messages = env_usize("MIMI_BENCH_MESSAGES", 300).max(1);
    let warmup = env_usize("MIMI_BENCH_WARMUP", 20).min(messages.saturating_sub(1));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(per_provider, messages, warmup))
}

async fn run(per_provider: usize, messages: usize, warmup: usize) -> Res<()> {
    let dir = tempfile::tempdir()?;
    let providers = LocalProvider::start_federation(dir.path(), &DOMAINS).await?;
    let conns: Vec<Connection> = providers.iter().map(|p| p.connect()).collect::<Result<_, _>>()?;

    // The room: its creator (a submitter at the hub), the other submitters and one reader per
    // provider, all invited by the creator.
    let mut submitters = Vec::new();
    for (p, conn) in conns.iter().enumerate() {
        for i in 0..per_provider {
            submitters.push(Client::register(conn, &format!("s{p}x{i}"), "d").await?);
        }
    }
    let mut readers = Vec::new();
    for conn in &conns {
        readers.push(Client::register(conn, "reader", "d").await?);
    }
    for c in submitters.iter().chain(&readers) {
        c.upload_key_packages(2).await?;
    }
    let room = submitters[0].create_room("fanout", &presets::cooperative(), GROUP_ADMIN).await?;
    let invitees: Vec<_> = submitters[1..].iter().chain(&readers).map(|c| c.uri().user()).collect();
    for user in &invitees {
        submitters[0].invite_user(&room, user, GROUP_ADMIN).await?;
    }
    for c in submitters[1..].iter_mut().chain(readers.iter_mut()) {
        c.await_welcome(&room, STEP_TIMEOUT).await?;
        c.catch_up(&room).await?;
    }
    println!(
        "fanout bench: room {room} with {} submitters ({per_provider} per provider) and {} readers, \
         {messages} messages per submitter ({warmup} warm-up)",
        submitters.len(),
        readers.len()
    );

    let sent: Arc<Mutex<Sent>> = Arc::new(Mutex::new(HashMap::new()));
    let total = submitters.len() * messages;
    let start = Instant::now();
    let mut reading = Vec::new();
    for (p, mut reader) in readers.into_iter().enumerate() {
        let room = room.clone();
        reading.push(tokio::spawn(async move {
            let mut seen: HashMap<Vec<u8>, Instant> = HashMap::with_capacity(total);
            let mut at = reader.transcript(&room)?.len();
            while seen.len() < total {
                reader.sync(&room, Duration::from_secs(1)).await?;
                let now = Instant::now();
                let transcript = reader.transcript(&room)?;
                for d in &transcript[at..] {
                    seen.entry(d.content.clone()).or_insert(now);
                }
                at = transcript.len();
            }
            Res::Ok((p, seen, Instant::now()))
        }));
    }
    let mut sending = Vec::new();
    for (i, mut submitter) in submitters.into_iter().enumerate() {
        let (room, sent) = (room.clone(), sent.clone());
        let at_hub = i < per_provider;
        sending.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(messages);
            for n in 0..messages {
                let text = format!("bench {i} {n}");
                let message = submitter.send_built(&room, MessageBuilder::text(TextFormat::Plain, &text)).await?;
                let answered = Instant::now();
                if n >= warmup {
                    mine.push((message.content.encode()?, (answered, at_hub)));
                }
            }
            sent.lock().await.extend(mine);
            Res::Ok(Instant::now())
        }));
    }
    let mut last_answer = start;
    for task in sending {
        last_answer = last_answer.max(task.await??);
    }
    let accept_secs = (last_answer - start).as_secs_f64();
    let mut arrivals = Vec::new();
    let mut last_read = start;
    for task in reading {
        let (p, seen, done) = task.await??;
        last_read = last_read.max(done);
        arrivals.push((p, seen));
    }
    let deliver_secs = (last_read - start).as_secs_f64();

    // Latency from the hub's answer to each follower reader's inbox, for the hub's submitters.
    let sent = sent.lock().await;
    let mut latency = histogram();
    let mut per_follower = Vec::new();
    for (p, seen) in &arrivals {
        let mut h = histogram();
        for (content, (answered, at_hub)) in sent.iter() {
            if !at_hub || *p == 0 {
                continue;
            }
            let arrived = seen.get(content).ok_or("a message never reached a reader")?;
            let d = micros(arrived.saturating_duration_since(*answered));
            h.record(d)?;
            latency.record(d)?;
        }
        if *p != 0 {
            per_follower.push((DOMAINS[*p], h));
        }
    }
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    for (domain, h) in &per_follower {
        println!(
            "  hub accept -> inbox at {domain}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
            h.len(),
            ms(h, 0.5),
            ms(h, 0.99),
            h.max() as f64 / 1000.0
        );
    }
    println!(
        "  hub accept -> follower inbox (both): n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        latency.len(),
        ms(&latency, 0.5),
        ms(&latency, 0.99),
        latency.max() as f64 / 1000.0
    );
    let accepted_rate = total as f64 / accept_secs;
    let delivered_rate = (total * arrivals.len()) as f64 / deliver_secs;
    println!(
        "  accepted: {total} messages in {accept_secs:.2} s = {accepted_rate:.0} msg/s; delivered to {} readers \
         on 3 providers: {} in {deliver_secs:.2} s = {delivered_rate:.0} deliveries/s",
        arrivals.len(),
        total * arrivals.len()
    );
    for p in providers {
        p.stop().await?;
    }
    println!(
        "{}",
        json!({
            "bench": "mimi-tests-fanout",
            "submitters": per_provider * DOMAINS.len(),
            "messages_per_submitter": messages,
            "warmup": warmup,
            "latency_samples": latency.len(),
            "latency_p50_ms": ms(&latency, 0.5),
            "latency_p99_ms": ms(&latency, 0.99),
            "latency_max_ms": latency.max() as f64 / 1000.0,
            "accepted_msgs_per_s": accepted_rate,
            "deliveries_per_s": delivered_rate,
        })
    );
    Ok(())
}
