//! Load mode: N rooms × U users × C clients per user across P providers, a
//! target message rate and churn, reporting throughput, end-to-end latency percentiles
//! (hdrhistogram), errors and peak memory, with a progress bar and a JSON summary
//! ([`LoadReport`]). A long run (a soak) also samples store size and memory over time ([`Watch`]).
//!
//! # Building rooms
//! Room `i` has users `r<i>u<j>` (user `j` at provider `(i + j) mod P`), each with `C` devices;
//! every client registers and uploads one KeyPackage. User 0 creates the room (cooperative
//! preset) and invites the others in batches of at most [`LoadConfig::batch`] clients per
//! commit (one participant-list update per user, all Adds in the same commit: large adds are
//! super-linear in openmls, spec notes §6.1). Rooms are built concurrently.
//!
//! Only *active* clients (the creator's and those of the last invited users, up to
//! [`LoadConfig::active`] per room) join from their Welcome and take part; the others stay
//! *passive*: leaves in the tree (so commits, Welcomes and the hub's state have the room's
//! full size) that never read. Joining a 10 000-leaf tree costs about 1.3 s per client
//! (openmls#2224) and every member processes every later commit, so a 10 000-client room
//! with all clients live in one process is out of reach; its latency is measured over the
//! sampled active receivers. Active clients are invited last, so they join from the final
//! Welcome. Trees are not warmed (every member committing once), so commits stay O(n).
//!
//! # Messages
//! Every active client runs its own task: it sends plain-text MIMI messages at its share of
//! [`LoadConfig::rate`], long-polls its room log, and records for every message of another
//! client the time from the sender's submission to its own decryption. With churn, a client
//! goes offline for one to three seconds at random (exponential gaps, on average
//! [`LoadConfig::churn`] events per second over all active clients); what it catches up with
//! after coming back counts as delivered but not in the latency histogram. At the end every
//! client drains its room so delivered and expected deliveries can be compared.
//!
//! Clients share one HTTPS connection per [`CLIENTS_PER_CONNECTION`] clients (HTTP/2 limits
//! concurrent streams per connection, and every client keeps a long poll open).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mimi_appsync::ops::{self, UserOperation};
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN, administered_roles::ORDINARY_USER};
use mimi_appsync::uri::UserUri;
use mimi_client::{Client, ClientError, Connection};
use mimi_content::builder::{MessageBuilder, TextFormat};
use rand_chacha::rand_core::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::progress::{bar, Bar};
use crate::user::User;

/// Clients per HTTPS connection.
pub const CLIENTS_PER_CONNECTION: usize = 64;

/// Rooms built at once.
const ROOMS_IN_PARALLEL: usize = 16;

/// Registrations (and joins) in flight at once.
const IN_FLIGHT: usize = 32;

/// Why a load run failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Building a room failed.
    #[error("building room {room}: {source}")]
    Build {
        /// The room index.
        room: usize,
        /// The failure.
        source: Box<ClientError>,
    },
    /// A task panicked.
    #[error("load task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The configuration cannot be run.
    #[error("load configuration: {0}")]
    Config(String),
}

/// Where a provider's client API listens (to open further connections to it).
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The provider's domain.
    pub domain: String,
    /// Its address.
    pub addr: SocketAddr,
    /// The CA file its certificate chains to.
    pub ca: PathBuf,
}

impl Endpoint {
    /// A new HTTPS connection (its own pool).
    pub fn connect(&self) -> Result<Connection, ClientError> {
        Connection::new(&self.domain, self.addr, &self.ca)
    }
}

/// What a load run does.
#[derive(Debug, Clone, Serialize)]
pub struct LoadConfig {
    /// Rooms.
    pub rooms: usize,
    /// Users per room (the first creates it).
    pub users: usize,
    /// Clients per user.
    pub clients: usize,
    /// Target messages per second over all rooms.
    pub rate: f64,
    /// Offline events per second over all active clients.
    pub churn: f64,
    /// How long messages are sent.
    pub duration: Duration,
    /// Active clients per room (`None`: all).
    pub active: Option<usize>,
    /// Most clients added per commit.
    pub batch: usize,
    /// Seed of the send and churn timing.
    pub seed: u64,
    /// What to sample during the messaging phase (a soak run), if anything.
    pub watch: Watch,
}

/// What a long run (a soak) samples during its messaging phase, every `every_secs` (and at its
/// start and end): the counters, the size of the providers' store files and resident memory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Watch {
    /// Seconds between samples (0: none are taken).
    pub every_secs: u64,
    /// Store files whose sizes are summed (the providers' redb files).
    pub stores: Vec<PathBuf>,
    /// A provider process whose resident memory is sampled (`None`: the providers run in this
    /// process, whose memory is sampled anyway).
    pub pid: Option<u32>,
}

/// One sample of a soak run (see [`Watch`]).
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since messages started.
    pub secs: u64,
    /// Messages sent, accepted and delivered, and errors, so far.
    pub sent: u64,
    /// Accepted so far.
    pub accepted: u64,
    /// Delivered so far.
    pub delivered: u64,
    /// Errors so far.
    pub errors: u64,
    /// The watched store files' total size, bytes.
    pub store_bytes: u64,
    /// The watched provider process's resident memory (VmRSS), KiB.
    pub provider_rss_kib: Option<u64>,
    /// This process's resident memory (VmRSS), KiB.
    pub sim_rss_kib: u64,
}

impl Sample {
    /// One line for a terminal.
    pub fn line(&self) -> String {
        let provider = self.provider_rss_kib.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        format!(
            "t={:>5}s sent={} accepted={} delivered={} errors={} store={:.2} MiB provider_rss={} sim_rss={:.1} MiB",
            self.secs,
            self.sent,
            self.accepted,
            self.delivered,
            self.errors,
            self.store_bytes as f64 / (1024.0 * 1024.0),
            provider,
            self.sim_rss_kib as f64 / 1024.0
        )
    }
}

/// A value in KiB from a `/proc/<pid>/status` line (`VmRSS:`, `VmHWM:`): 0 if unknown.
fn proc_status_kib(pid: &str, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Watch {
    /// A sample now, `secs` into the messaging phase, with the counters of `shared`.
    fn sample(&self, secs: u64, shared: &Shared) -> Sample {
        Sample {
            secs,
            sent: shared.sent.load(Ordering::Relaxed),
            accepted: shared.accepted.load(Ordering::Relaxed),
            delivered: shared.delivered.load(Ordering::Relaxed),
            errors: shared.errors.load(Ordering::Relaxed),
            store_bytes: self.stores.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum(),
            provider_rss_kib: self.pid.map(|pid| proc_status_kib(&pid.to_string(), "VmRSS:")),
            sim_rss_kib: proc_status_kib("self", "VmRSS:"),
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Deliveries measured.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// The JSON summary of a load run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The configuration.
    pub config: LoadConfig,
    /// Providers used.
    pub providers: usize,
    /// Whether the providers ran in this process (then peak memory includes them).
    pub providers_in_process: bool,
    /// Clients registered (all rooms).
    pub clients: usize,
    /// Active clients (joined, sending and receiving).
    pub active_clients: usize,
    /// Seconds to register one room's clients and upload their KeyPackages (the slowest room;
    /// rooms register concurrently).
    pub register_secs: f64,
    /// Seconds from the start until every room is created and all its batches of adds are
    /// committed (registration included).
    pub create_secs: f64,
    /// Seconds for the active clients to join from their Welcomes and catch up.
    pub join_secs: f64,
    /// Commits of adds made (all rooms).
    pub add_commits: usize,
    /// Seconds of sending.
    pub send_secs: f64,
    /// Messages submitted.
    pub sent: u64,
    /// Messages accepted by the hub.
    pub accepted: u64,
    /// Messages decrypted by receivers (each receiver counted).
    pub delivered: u64,
    /// Deliveries expected: every accepted message × the active clients of its room but the sender.
    pub expected_deliveries: u64,
    /// Accepted messages per second.
    pub throughput_msgs_per_s: f64,
    /// Deliveries per second.
    pub throughput_deliveries_per_s: f64,
    /// Send → decrypt latency over the receivers measured.
    pub latency: Latency,
    /// How latency was sampled.
    pub latency_sampling: String,
    /// Offline events.
    pub churn_events: u64,
    /// Failed sends and syncs.
    pub errors: u64,
    /// The first few error messages.
    pub error_samples: Vec<String>,
    /// Peak resident memory of this process (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// What the peak memory covers.
    pub memory_note: String,
    /// The samples taken during the messaging phase ([`Watch`]).
    pub samples: Vec<Sample>,
}

/// Counters shared by the client tasks.
#[derive(Debug, Default)]
struct Shared {
    /// Submission time of each message by its plaintext.
    sent_at: Mutex<HashMap<Vec<u8>, Instant>>,
    sent: AtomicU64,
    accepted: AtomicU64,
    delivered: AtomicU64,
    errors: AtomicU64,
    churn: AtomicU64,
    error_samples: Mutex<Vec<String>>,
}

impl Shared {
    fn error(&self, e: &ClientError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut samples) = self.error_samples.lock() {
            if samples.len() < 10 {
                samples.push(e.to_string());
            }
        }
    }
}

/// A built room: its URI and its active clients.
struct Built {
    room: String,
    active: Vec<Client>,
    add_commits: usize,
}

/// Peak resident set size of this process (VmHWM from /proc/self/status), KiB (0 if unknown).
pub fn peak_rss_kib() -> u64 {
    proc_status_kib("self", "VmHWM:")
}

/// Runs a load test against the providers at `endpoints`; `in_process` tells the report
/// whether they share this process; `progress` shows progress bars.
pub async fn run_load(
    config: LoadConfig,
    endpoints: Vec<Endpoint>,
    in_process: bool,
    progress: bool,
) -> Result<LoadReport, LoadError> {
    if endpoints.is_empty() || config.rooms == 0 || config.users < 2 || config.clients == 0 || config.batch == 0 {
        return Err(LoadError::Config("needs a provider, a room, two users, a client each and a batch size".into()));
    }
    let total = config.rooms * config.users * config.clients;

    // Registration and room building, rooms in parallel.
    let started = Instant::now();
    let registered = bar(total as u64, "register", progress);
    let built_bar = bar(config.rooms as u64, "build rooms", progress);
    let mut tasks = JoinSet::new();
    let mut built = Vec::with_capacity(config.rooms);
    let mut register_secs = 0f64;
    for i in 0..config.rooms {
        if tasks.len() >= ROOMS_IN_PARALLEL {
            if let Some(done) = tasks.join_next().await {
                let (room, b, secs): (usize, Result<Built, ClientError>, f64) = done?;
                built.push(b.map_err(|e| LoadError::Build { room, source: Box::new(e) })?);
                register_secs = f64::max(register_secs, secs);
                built_bar.inc(1);
            }
        }
        let (config, endpoints, registered) = (config.clone(), endpoints.clone(), registered.clone());
        tasks.spawn(async move {
            let mut secs = 0.0;
            let b = build_room(i, &config, &endpoints, &registered, &mut secs).await;
            (i, b, secs)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (room, b, secs) = done?;
        built.push(b.map_err(|e| LoadError::Build { room, source: Box::new(e) })?);
        register_secs = f64::max(register_secs, secs);
        built_bar.inc(1);
    }
    registered.finish_and_clear();
    built_bar.finish_and_clear();
    let create_secs = started.elapsed().as_secs_f64();

    // Joins: every active client takes its Welcome and catches up.
    let joined_at = Instant::now();
    let active_total: usize = built.iter().map(|b| b.active.len()).sum();
    let join_bar = bar(active_total as u64, "join", progress);
    let mut rooms: Vec<(String, Vec<Client>)> = Vec::new();
    let mut join_tasks = JoinSet::new();
    let mut add_commits = 0;
    for (r, b) in built.into_iter().enumerate() {
        add_commits += b.add_commits;
        rooms.push((b.room.clone(), Vec::new()));
        for client in b.active {
            if join_tasks.len() >= IN_FLIGHT {
                collect_join(&mut join_tasks, &mut rooms, &join_bar).await?;
            }
            let room = b.room.clone();
            join_tasks.spawn(async move {
                let mut client = client;
                let result = join(&mut client, &room).await;
                (r, client, result)
            });
        }
    }
    while !join_tasks.is_empty() {
        collect_join(&mut join_tasks, &mut rooms, &join_bar).await?;
    }
    join_bar.finish_and_clear();
    let join_secs = joined_at.elapsed().as_secs_f64();

    // Messages.
    let shared = Arc::new(Shared::default());
    let active_clients: usize = rooms.iter().map(|(_, c)| c.len()).sum();
    let interval =
        if config.rate > 0.0 { Some(Duration::from_secs_f64(active_clients as f64 / config.rate)) } else { None };
    let churn_gap = (config.churn > 0.0).then(|| active_clients as f64 / config.churn);
    let send_started = Instant::now();
    let end = send_started + config.duration;
    let mut expected_per_room: Vec<(String, u64)> = Vec::new();
    let mut drivers = JoinSet::new();
    let mut seed = ChaCha8Rng::seed_from_u64(config.seed);
    let empty = new_histogram()?;
    for (room, clients) in rooms {
        expected_per_room.push((room.clone(), clients.len().saturating_sub(1) as u64));
        for client in clients {
            let plan = Drive { room: room.clone(), interval, churn_gap, end, seed: seed.next_u64() };
            drivers.spawn(drive(client, plan, shared.clone(), empty.clone()));
        }
    }
    let send_bar = bar(config.duration.as_secs().max(1), "messages", progress);
    let ticker = {
        let (shared, send_bar) = (shared.clone(), send_bar.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                send_bar.set_position(send_started.elapsed().as_secs());
                send_bar.set_message(format!(
                    "sent {} delivered {} errors {}",
                    shared.sent.load(Ordering::Relaxed),
                    shared.delivered.load(Ordering::Relaxed),
                    shared.errors.load(Ordering::Relaxed)
                ));
            }
        })
    };
    // A soak's samples, printed as they are taken.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = (config.watch.every_secs > 0).then(|| {
        let (watch, shared, samples) = (config.watch.clone(), shared.clone(), samples.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(watch.every_secs));
            loop {
                ticks.tick().await;
                let sample = watch.sample(send_started.elapsed().as_secs(), &shared);
                println!("{}", sample.line());
                if let Ok(mut s) = samples.lock() {
                    s.push(sample);
                }
            }
        })
    });
    let mut histogram = new_histogram()?;
    let mut accepted_per_room: HashMap<String, u64> = HashMap::new();
    while let Some(done) = drivers.join_next().await {
        let (room, accepted, h) = done?;
        *accepted_per_room.entry(room).or_default() += accepted;
        histogram.add(&h).map_err(|e| LoadError::Config(format!("histogram: {e:?}")))?;
    }
    ticker.abort();
    if let Some(sampler) = sampler {
        sampler.abort();
        let last = config.watch.sample(send_started.elapsed().as_secs(), &shared);
        println!("{}", last.line());
        if let Ok(mut s) = samples.lock() {
            s.push(last);
        }
    }
    send_bar.finish_and_clear();
    let send_secs = config.duration.as_secs_f64();
    let expected_deliveries = expected_per_room
        .iter()
        .map(|(room, receivers)| accepted_per_room.get(room).copied().unwrap_or(0) * receivers)
        .sum();
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    let latency = Latency {
        count: histogram.len(),
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        max_ms: histogram.max() as f64 / 1000.0,
    };
    let accepted = shared.accepted.load(Ordering::Relaxed);
    let delivered = shared.delivered.load(Ordering::Relaxed);
    let sampled = config.active.is_some_and(|a| a < config.users * config.clients);
    Ok(LoadReport {
        providers: endpoints.len(),
        providers_in_process: in_process,
        clients: total,
        active_clients,
        register_secs,
        create_secs,
        join_secs,
        add_commits,
        send_secs,
        sent: shared.sent.load(Ordering::Relaxed),
        accepted,
        delivered,
        expected_deliveries,
        throughput_msgs_per_s: accepted as f64 / send_secs.max(f64::EPSILON),
        throughput_deliveries_per_s: delivered as f64 / send_secs.max(f64::EPSILON),
        latency,
        latency_sampling: if sampled {
            format!(
                "{active_clients} active clients of {total}: latency measured at the active receivers only \
                 (the others are passive leaves that never read)"
            )
        } else {
            "every client is a receiver".into()
        },
        churn_events: shared.churn.load(Ordering::Relaxed),
        errors: shared.errors.load(Ordering::Relaxed),
        error_samples: shared.error_samples.lock().map(|s| s.clone()).unwrap_or_default(),
        peak_rss_kib: peak_rss_kib(),
        memory_note: if in_process {
            "peak of this process, which also runs the providers (and every simulated client)".into()
        } else {
            "peak of the simulator process only (simulated clients); the providers run elsewhere".into()
        },
        samples: samples.lock().map(|s| s.clone()).unwrap_or_default(),
        config,
    })
}

fn new_histogram() -> Result<Histogram<u64>, LoadError> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| LoadError::Config(format!("histogram: {e:?}")))
}

async fn collect_join(
    tasks: &mut JoinSet<(usize, Client, Result<(), ClientError>)>,
    rooms: &mut [(String, Vec<Client>)],
    bar: &Bar,
) -> Result<(), LoadError> {
    if let Some(done) = tasks.join_next().await {
        let (r, client, result) = done?;
        result.map_err(|e| LoadError::Build { room: r, source: Box::new(e) })?;
        rooms[r].1.push(client);
        bar.inc(1);
    }
    Ok(())
}

/// An active client joins `room` from its Welcome (if not a member yet) and catches up.
async fn join(client: &mut Client, room: &str) -> Result<(), ClientError> {
    if !client.is_member(room) {
        client.await_welcome(room, Duration::from_secs(120)).await?;
    }
    client.catch_up(room).await
}

/// Registers room `i`'s users, creates the room and adds everyone in batches. Returns the
/// active clients (not joined yet, except the creator).
async fn build_room(
    i: usize,
    config: &LoadConfig,
    endpoints: &[Endpoint],
    registered: &Bar,
    register_secs: &mut f64,
) -> Result<Built, ClientError> {
    let started = Instant::now();
    let devices: Vec<String> = (0..config.clients).map(|d| format!("d{d}")).collect();
    let per_connection = (CLIENTS_PER_CONNECTION / config.clients).max(1);
    let mut connections: HashMap<(usize, usize), Connection> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut users: Vec<Option<User>> = (0..config.users).map(|_| None).collect();
    for j in 0..config.users {
        let provider = (i + j) % endpoints.len();
        let key = (provider, j / per_connection);
        let connection = match connections.get(&key) {
            Some(c) => c.clone(),
            None => {
                let c = endpoints[provider].connect()?;
                connections.insert(key, c.clone());
                c
            }
        };
        if tasks.len() >= IN_FLIGHT {
            if let Some(done) = tasks.join_next().await {
                let (j, user): (usize, Result<User, ClientError>) = done.map_err(task_error)?;
                users[j] = Some(user?);
                registered.inc(config.clients as u64);
            }
        }
        let devices = devices.clone();
        tasks.spawn(async move {
            let names: Vec<&str> = devices.iter().map(String::as_str).collect();
            (j, User::register(&connection, &format!("r{i}u{j}"), &names, 1).await)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (j, user) = done.map_err(task_error)?;
        users[j] = Some(user?);
        registered.inc(config.clients as u64);
    }
    let mut users: Vec<User> = users.into_iter().flatten().collect();
    *register_secs = started.elapsed().as_secs_f64();

    let mut creator = users.remove(0);
    let room = creator.create_room(&format!("load{i}"), &presets::cooperative(), GROUP_ADMIN).await?;
    let mut add_commits = usize::from(config.clients > 1);
    // Passive users first, the active ones last (they join from the final Welcome).
    let per_batch = (config.batch / config.clients).max(1);
    let uris: Vec<UserUri> = users.iter().map(|u| u.uri().clone()).collect();
    for chunk in uris.chunks(per_batch) {
        let committer = creator.online_member(&room)?;
        let mut claimed = Vec::with_capacity(chunk.len());
        for user in chunk {
            claimed.push((user.clone(), committer.claim_key_packages(&room, user).await?));
        }
        committer
            .commit_with(&room, "batch invite", |_| {
                let mut op = UserOperation::default();
                for (user, key_packages) in &claimed {
                    let one = ops::invite_user(user, ORDINARY_USER, key_packages.clone())?;
                    op.app_data.extend(one.app_data);
                    op.adds.extend(one.adds);
                }
                Ok(op)
            })
            .await?;
        add_commits += 1;
    }
    let active_users = match config.active {
        Some(a) => a.div_ceil(config.clients).clamp(1, config.users),
        None => config.users,
    };
    let mut active: Vec<Client> = Vec::new();
    while let Some(c) = creator.take_client() {
        active.push(c);
    }
    for mut user in users.into_iter().skip(config.users - active_users) {
        while let Some(c) = user.take_client() {
            active.push(c);
        }
    }
    Ok(Built { room, active, add_commits })
}

fn task_error(e: tokio::task::JoinError) -> ClientError {
    ClientError::Protocol { what: "registration task".into(), why: e.to_string() }
}

/// What one client task does.
struct Drive {
    room: String,
    /// Time between this client's messages (`None`: it only receives).
    interval: Option<Duration>,
    /// Mean seconds between this client's offline events (`None`: no churn).
    churn_gap: Option<f64>,
    end: Instant,
    seed: u64,
}

/// Exponentially distributed seconds with mean `mean`.
fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> Duration {
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    Duration::from_secs_f64(-mean * (1.0 - u).ln())
}

/// One active client: sends at its rate, receives, churns; returns its room, the messages the
/// hub accepted from it and its latency histogram (µs).
async fn drive(
    mut client: Client,
    plan: Drive,
    shared: Arc<Shared>,
    mut histogram: Histogram<u64>,
) -> (String, u64, Histogram<u64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let room = plan.room.clone();
    let me = client.uri().clone();
    let start = Instant::now();
    let mut next_send = plan.interval.map(|i| start + i.mul_f64((rng.next_u64() % 1000) as f64 / 1000.0));
    let mut next_offline = plan.churn_gap.map(|g| start + exponential(&mut rng, g));
    let mut seen = client.transcript(&room).map(|t| t.len()).unwrap_or(0);
    let mut accepted = 0;
    let measure = |client: &Client, seen: &mut usize, record: bool, histogram: &mut Histogram<u64>| {
        let Ok(transcript) = client.transcript(&room) else { return };
        let now = Instant::now();
        for d in transcript.iter().skip(*seen).filter(|d| d.sender != me) {
            shared.delivered.fetch_add(1, Ordering::Relaxed);
            if record {
                let at = shared.sent_at.lock().ok().and_then(|m| m.get(&d.content).copied());
                if let Some(at) = at {
                    let _ = histogram.record(now.duration_since(at).as_micros() as u64);
                }
            }
        }
        *seen = transcript.len();
    };
    while Instant::now() < plan.end {
        let now = Instant::now();
        if let (Some(at), Some(gap)) = (next_offline, plan.churn_gap) {
            if now >= at {
                shared.churn.fetch_add(1, Ordering::Relaxed);
                let away = Duration::from_millis(1000 + rng.next_u64() % 2000);
                tokio::time::sleep(away).await;
                if let Err(e) = client.catch_up(&room).await {
                    shared.error(&e);
                }
                measure(&client, &mut seen, false, &mut histogram);
                next_offline = Some(Instant::now() + exponential(&mut rng, gap));
                continue;
            }
        }
        if let (Some(at), Some(interval)) = (next_send, plan.interval) {
            if now >= at {
                let built = MessageBuilder::text(TextFormat::Plain, "load")
                    .sender(me.user().as_str())
                    .room(&room)
                    .build()
                    .map_err(ClientError::from)
                    .and_then(|c| Ok((c.encode()?, c)));
                match built {
                    Ok((bytes, content)) => {
                        if let Ok(mut m) = shared.sent_at.lock() {
                            m.insert(bytes, Instant::now());
                        }
                        shared.sent.fetch_add(1, Ordering::Relaxed);
                        match client.send(&room, &content).await {
                            Ok(()) => {
                                accepted += 1;
                                shared.accepted.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => shared.error(&e),
                        }
                    }
                    Err(e) => shared.error(&e),
                }
                // Behind schedule by more than one interval: do not burst to catch up.
                next_send = Some((at + interval).max(Instant::now()));
                measure(&client, &mut seen, true, &mut histogram);
                continue;
            }
        }
        let until_send = next_send.map(|at| at.saturating_duration_since(now)).unwrap_or(Duration::from_secs(1));
        let wait = if until_send >= Duration::from_secs(1) { Duration::from_secs(1) } else { Duration::ZERO };
        match client.sync(&room, wait).await {
            Ok(0) if wait.is_zero() => tokio::time::sleep(until_send.min(Duration::from_millis(20))).await,
            Ok(_) => {}
            Err(e) => {
                shared.error(&e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        measure(&client, &mut seen, true, &mut histogram);
    }
    // Drain: what was sent until the end reaches everyone (a follower may lag the hub).
    for _ in 0..3 {
        if let Err(e) = client.catch_up(&room).await {
            shared.error(&e);
        }
        measure(&client, &mut seen, true, &mut histogram);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    (plan.room, accepted, histogram)
}
