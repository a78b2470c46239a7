//! Random mode: seeded, reproducible interleavings of operations from many
//! actors, run concurrently against one provider or several federated ones, with the
//! [`Checker`] invariants after every round.
//!
//! # Rounds
//! The run is a sequence of rounds. Between rounds one device may go offline or come back
//! online (churn). A round plans a handful of actions from a ChaCha8 RNG seeded with the run's
//! seed, each claiming the users it touches (the actor, a target, a committer), so no two
//! actions of a round share a user; then it runs them all at once, each in its own tokio task.
//! Per room a round is one of:
//! - **commits**: one operation chosen by weight (invite, remove, ban, unban, role change,
//!   room metadata, key update, add own device by external commit, remove own device by a
//!   sibling's commit, lose state and resync, or a join that must be refused) plus up to two
//!   key updates by other users' clients *racing* it for the same epoch: losers get
//!   `wrongEpoch`, clear their pending commit, process the winner and retry (the client
//!   library's recovery, see [`mimi_client::commit`]);
//! - **messages**: up to three senders at once, each sending one of the MIMI content kinds
//!   (text, reply, reaction, edit, delete, attachment reference);
//! - **exclusive**: leave the room or remove one's own device by SelfRemove (proposals, then
//!   another member's commit; nothing else in the room meanwhile, since openmls refuses to
//!   encrypt while proposals are pending).
//!
//! Commits and messages are not mixed in one room within a round, so every message's epoch is
//! one the checker has observed the members of. Different rooms proceed concurrently.
//!
//! # The model
//! Every room uses the `cooperative` preset (room-policy-03 A.1). The model keeps each room's
//! participant list (user → role) and predicts each operation's outcome from the actor's role:
//! an ordinary user may invite (as ordinary user), remove ordinary users, change the room
//! name and subject, add and remove its own devices and leave; only a group admin may ban,
//! unban, change others' roles, invite as admin, remove admins and change the description;
//! nobody may change their own role; a banned or unlisted user's join is refused. A refusal
//! the model predicts must happen, and an operation it allows must succeed. After a successful
//! operation the model applies it, and after every round the participant list of every room,
//! as the clients have it, must equal the model's.
//!
//! # Checks
//! After each round every online client joins its Welcomes and catches up with its rooms;
//! sent messages are recorded in hub order (with several providers, in the order a member at
//! the hub's provider received them, since log positions are per provider), and the
//! [`Checker`] runs over every room (agreement, consistency, exactly-once delivery in hub
//! order); across providers the checks are retried until the hub's fanout has arrived, for at
//! most [`SETTLE_TIMEOUT`]. Any failure is a [`RandomError`] naming the seed and step.
//!
//! KeyPackages: each invited user's clients upload one fresh KeyPackage right before the
//! invitation claims it, so no client holds an unclaimed KeyPackage when it loses its state (a
//! stale one would be claimed later and its Welcome could not be joined).

use std::collections::{BTreeMap, BTreeSet};

use mimi_appsync::components::roles::BANNED_ROLE;
use mimi_appsync::ops::LeaveVia;
use mimi_appsync::presets::administered_roles::{GROUP_ADMIN, ORDINARY_USER};
use mimi_appsync::presets::{self, RoomPolicy};
use mimi_appsync::uri::{ClientUri, UserUri};
use mimi_client::{Client, ClientError, Connection, Delivered, SentMessage};
use mimi_content::builder::{Attachment, MessageBuilder, TextFormat};
use rand_chacha::rand_core::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use tokio::task::JoinSet;

use crate::checker::{CheckFailure, Checker, Positions};
use crate::error::RandomError;
use crate::runner::{SETTLE_POLL, SETTLE_TIMEOUT};
use crate::user::User;

/// The most devices a user gets (including ones added by external commit).
const MAX_DEVICES: usize = 4;

/// Messages remembered per room for replies, reactions, edits and deletes.
const RECENT_MESSAGES: usize = 16;

/// What a random run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomConfig {
    /// The RNG seed: the same seed against fresh providers plans the same operations.
    pub seed: u64,
    /// Steps to run (each action and each churn event is one step).
    pub steps: usize,
    /// Users (spread round-robin over the providers).
    pub users: usize,
    /// Fewest devices per user at the start.
    pub clients_min: usize,
    /// Most devices per user at the start.
    pub clients_max: usize,
    /// Rooms (created by the first users, so with several providers the hubs differ).
    pub rooms: usize,
    /// Most actions per round.
    pub max_parallel: usize,
    /// Print every action, its predicted outcome and what happened to stderr (to see what led
    /// to a failure; `mimi-sim random --trace`).
    pub trace: bool,
}

impl Default for RandomConfig {
    fn default() -> Self {
        RandomConfig {
            seed: 1,
            steps: 2000,
            users: 6,
            clients_min: 2,
            clients_max: 3,
            rooms: 3,
            max_parallel: 5,
            trace: false,
        }
    }
}

/// What a finished random run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RandomReport {
    /// The seed.
    pub seed: u64,
    /// Steps run.
    pub steps: usize,
    /// Rounds (each followed by the checks).
    pub rounds: usize,
    /// Operations refused as the model predicted.
    pub refused: usize,
    /// Rounds in which two or more commits raced in one room.
    pub racing_rounds: usize,
    /// Commit attempts that lost a race (`wrongEpoch`) and were retried.
    pub lost_races: usize,
    /// Messages sent and checked.
    pub messages: usize,
    /// Devices taken offline (and later brought back).
    pub offline: usize,
    /// The most actions run at once.
    pub max_parallel: usize,
    /// Providers the users lived at.
    pub providers: usize,
    /// Operations run, by kind.
    pub ops: BTreeMap<String, usize>,
}

/// A message content kind.
#[derive(Debug, Clone)]
enum Content {
    /// Plain text.
    Text,
    /// A reply to an earlier message.
    Reply(SentMessage),
    /// A reaction to an earlier message.
    React(SentMessage),
    /// An edit of an own earlier message.
    Edit(SentMessage),
    /// The deletion of an own earlier message.
    Delete(SentMessage),
    /// An attachment reference.
    Attachment,
}

/// One planned operation. `actor` and `target` are user indices, `device` a device index of
/// the actor.
#[derive(Debug, Clone)]
enum Op {
    /// Create a room.
    CreateRoom { actor: usize, name: String },
    /// Invite `target` with `role`.
    Invite { actor: usize, room: usize, target: usize, role: u32 },
    /// Remove `target`.
    Remove { actor: usize, room: usize, target: usize },
    /// Ban `target`.
    Ban { actor: usize, room: usize, target: usize },
    /// Unban `target` to ordinary user.
    Unban { actor: usize, room: usize, target: usize },
    /// Change `target`'s role (the actor's own included).
    ChangeRole { actor: usize, room: usize, target: usize, role: u32 },
    /// Change the room name and subject, and the description if `description`; `stamp` makes
    /// the new values differ from any earlier ones (setting a field to its current value is
    /// no change, which any participant may make).
    Metadata { actor: usize, room: usize, description: bool, stamp: u64 },
    /// A key update by one device.
    KeyUpdate { actor: usize, room: usize, device: usize },
    /// A new device joins by external commit.
    AddDevice { actor: usize, room: usize, name: String },
    /// Device `device` is removed by a commit of another device of the same user.
    RemoveDevice { actor: usize, room: usize, device: usize },
    /// Device `device` proposes SelfRemove; another device of the user commits.
    SelfRemove { actor: usize, room: usize, device: usize },
    /// The actor leaves; `committer` (another user) commits the proposals.
    Leave { actor: usize, room: usize, via: LeaveVia, committer: usize },
    /// Device `device` loses its state and resyncs every room it was in.
    LoseState { actor: usize, device: usize },
    /// Device `device` of a user not allowed in the room tries an external join.
    Join { actor: usize, room: usize, device: usize },
    /// Device `device` sends a message.
    Send { actor: usize, room: usize, device: usize, content: Box<Content> },
}

impl Op {
    fn kind(&self) -> &'static str {
        match self {
            Op::CreateRoom { .. } => "create_room",
            Op::Invite { .. } => "invite",
            Op::Remove { .. } => "remove",
            Op::Ban { .. } => "ban",
            Op::Unban { .. } => "unban",
            Op::ChangeRole { .. } => "change_role",
            Op::Metadata { .. } => "set_metadata",
            Op::KeyUpdate { .. } => "key_update",
            Op::AddDevice { .. } => "add_device",
            Op::RemoveDevice { .. } => "remove_device",
            Op::SelfRemove { .. } => "self_remove",
            Op::Leave { .. } => "leave",
            Op::LoseState { .. } => "lose_state",
            Op::Join { .. } => "join",
            Op::Send { content, .. } => match **content {
                Content::Text => "send_text",
                Content::Reply(_) => "send_reply",
                Content::React(_) => "send_reaction",
                Content::Edit(_) => "send_edit",
                Content::Delete(_) => "send_delete",
                Content::Attachment => "send_attachment",
            },
        }
    }

    /// Whether the operation commits (for counting racing rounds).
    fn commits(&self) -> bool {
        !matches!(self, Op::Send { .. } | Op::Join { .. } | Op::CreateRoom { .. })
    }

    fn room(&self) -> Option<usize> {
        match self {
            Op::CreateRoom { .. } | Op::LoseState { .. } => None,
            Op::Invite { room, .. }
            | Op::Remove { room, .. }
            | Op::Ban { room, .. }
            | Op::Unban { room, .. }
            | Op::ChangeRole { room, .. }
            | Op::Metadata { room, .. }
            | Op::KeyUpdate { room, .. }
            | Op::AddDevice { room, .. }
            | Op::RemoveDevice { room, .. }
            | Op::SelfRemove { room, .. }
            | Op::Leave { room, .. }
            | Op::Join { room, .. }
            | Op::Send { room, .. } => Some(*room),
        }
    }
}

/// A planned action: the operation, whether the model expects it to succeed, and the users it
/// claims for the round.
#[derive(Debug, Clone)]
struct Planned {
    /// The operation.
    op: Op,
    /// `true`: must succeed; `false`: must be refused by the provider.
    allowed: bool,
    /// The users it needs to itself.
    users: Vec<usize>,
    /// Readable description (with user and room names) for reports.
    what: String,
}

/// What a successful action produced.
#[derive(Debug, Default)]
struct Done {
    /// Commit attempts lost to races.
    lost: usize,
    /// A sent message: room URI, sender, message.
    sent: Option<(String, ClientUri, SentMessage)>,
    /// A created room's URI.
    created: Option<String>,
}

/// What a round does in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Commits (one operation and racing key updates).
    Commits,
    /// Messages.
    Messages,
    /// One proposal-and-commit operation alone.
    Exclusive,
}

/// The model of one room.
#[derive(Debug, Clone)]
struct RoomModel {
    /// The room URI.
    uri: String,
    /// Participants: user index → role index.
    participants: BTreeMap<usize, u32>,
    /// Recent messages with their sender's user index.
    recent: Vec<(usize, SentMessage)>,
}

impl RoomModel {
    fn role(&self, user: usize) -> Option<u32> {
        self.participants.get(&user).copied()
    }

    fn admins(&self) -> usize {
        self.participants.values().filter(|r| **r == GROUP_ADMIN).count()
    }
}

/// Names a role for descriptions.
fn role_name(role: u32) -> &'static str {
    match role {
        ORDINARY_USER => "ordinary_user",
        GROUP_ADMIN => "group_admin",
        BANNED_ROLE => "banned",
        _ => "other",
    }
}

/// A random run in progress.
pub struct RandomRun {
    /// What to do.
    config: RandomConfig,
    /// The seeded RNG every choice comes from.
    rng: ChaCha8Rng,
    /// The providers.
    connections: Vec<Connection>,
    /// Users by index (taken out while an action of the round holds them).
    users: Vec<Option<User>>,
    /// Each user's provider (index into `connections`).
    homes: Vec<usize>,
    /// Devices added so far per user (for unique device names).
    added: Vec<usize>,
    /// The rooms.
    rooms: Vec<RoomModel>,
    /// The invariants.
    checker: Checker,
    /// Clients with a KeyPackage uploaded and not yet claimed.
    key_packages: BTreeSet<ClientUri>,
    /// Messages sent in the current round, not yet recorded with the checker.
    unrecorded: Vec<(String, ClientUri, SentMessage)>,
    /// Steps so far.
    step: usize,
    /// The report so far.
    report: RandomReport,
}

impl std::fmt::Debug for RandomRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomRun").field("config", &self.config).field("step", &self.step).finish_non_exhaustive()
    }
}

impl RandomRun {
    /// Registers `config.users` users with their devices at `connections` (round-robin).
    pub async fn new(config: RandomConfig, connections: Vec<Connection>) -> Result<RandomRun, RandomError> {
        let seed = config.seed;
        let setup = |source| RandomError::Setup { seed, source: Box::new(source) };
        if connections.is_empty() || config.users < 2 || config.clients_min == 0 {
            return Err(setup(ClientError::Protocol {
                what: "random".into(),
                why: "needs a provider, two users and one device each".into(),
            }));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut users = Vec::with_capacity(config.users);
        let mut homes = Vec::with_capacity(config.users);
        for i in 0..config.users {
            let home = i % connections.len();
            let span = config.clients_max.max(config.clients_min) - config.clients_min + 1;
            let count = config.clients_min + below(&mut rng, span);
            let names: Vec<String> = (0..count).map(|d| format!("d{d}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let user = User::register(&connections[home], &format!("user{i}"), &names, 0).await.map_err(setup)?;
            users.push(Some(user));
            homes.push(home);
        }
        let positions = if connections.len() > 1 { Positions::PerProvider } else { Positions::Shared };
        let report = RandomReport { seed, providers: connections.len(), ..RandomReport::default() };
        Ok(RandomRun {
            added: vec![0; config.users],
            config,
            rng,
            connections,
            users,
            homes,
            rooms: Vec::new(),
            checker: Checker::with_positions(positions),
            key_packages: BTreeSet::new(),
            unrecorded: Vec::new(),
            step: 0,
            report,
        })
    }

    /// Runs until `config.steps` steps are done, checking after every round.
    pub async fn run(&mut self) -> Result<RandomReport, RandomError> {
        while self.step < self.config.steps {
            self.churn().await?;
            if self.step >= self.config.steps {
                break;
            }
            self.round().await?;
        }
        self.report.steps = self.step;
        self.report.messages = self.rooms.iter().map(|r| self.checker.sent(&r.uri).count()).sum();
        Ok(self.report.clone())
    }

    /// The report so far.
    pub fn report(&self) -> &RandomReport {
        &self.report
    }

    fn user(&self, u: usize) -> Result<&User, RandomError> {
        self.users[u].as_ref().ok_or_else(|| self.internal(format!("user{u} is held by an action")))
    }

    fn user_mut(&mut self, u: usize) -> Result<&mut User, RandomError> {
        let internal = self.internal(format!("user{u} is held by an action"));
        self.users[u].as_mut().ok_or(internal)
    }

    fn internal(&self, why: String) -> RandomError {
        RandomError::Internal { seed: self.config.seed, step: self.step, why }
    }

    fn below(&mut self, n: usize) -> usize {
        below(&mut self.rng, n)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len())].clone())
    }

    /// One device goes offline or comes back online (one step), a third of the time.
    async fn churn(&mut self) -> Result<(), RandomError> {
        if self.rooms.is_empty() || !self.chance(33) {
            return Ok(());
        }
        let u = self.below(self.users.len());
        let user = self.user(u)?;
        let count = user.clients().count();
        let device = self.below(count);
        let (trace, step) = (self.config.trace, self.step + 1);
        let user = self.user_mut(u)?;
        let name = match user.client_mut(device) {
            Some(c) => c.uri().device().to_owned(),
            None => return Ok(()),
        };
        if user.is_online(device) {
            // Keep one device of every user online.
            if user.online().count() < 2 {
                return Ok(());
            }
            user.go_offline(&name).map_err(|e| self.unexpected(&format!("user{u}/{name} goes offline"), true, e))?;
            self.report.offline += 1;
            if trace {
                eprintln!("step {step}: user{u}/{name} goes offline");
            }
        } else {
            if trace {
                eprintln!("step {step}: user{u}/{name} comes online");
            }
            let result = user.go_online(&name).await;
            result.map_err(|e| self.sync_error(&format!("user{u}/{name}"), e))?;
        }
        self.step += 1;
        Ok(())
    }

    /// Plans a round, runs its actions concurrently, checks the outcomes against the model,
    /// syncs every online client and runs the checks.
    async fn round(&mut self) -> Result<(), RandomError> {
        let planned = self.plan().await?;
        if planned.is_empty() {
            self.step += 1; // nothing possible (e.g. every room emptied): still a step
            return Ok(());
        }
        let first_step = self.step + 1;
        self.step += planned.len();
        self.report.rounds += 1;
        self.report.max_parallel = self.report.max_parallel.max(planned.len());
        let mut commits_per_room: BTreeMap<usize, usize> = BTreeMap::new();
        for p in &planned {
            *self.report.ops.entry(p.op.kind().to_owned()).or_default() += 1;
            if let (true, Some(room)) = (p.op.commits(), p.op.room()) {
                *commits_per_room.entry(room).or_default() += 1;
            }
        }
        if commits_per_room.values().any(|n| *n >= 2) {
            self.report.racing_rounds += 1;
        }

        let mut tasks = JoinSet::new();
        for (index, p) in planned.iter().enumerate() {
            let mut held = BTreeMap::new();
            for &u in &p.users {
                let user = self.users[u].take().ok_or_else(|| self.internal(format!("user{u} claimed twice")))?;
                held.insert(u, user);
            }
            let op = p.op.clone();
            let rooms: Vec<String> = self.rooms.iter().map(|r| r.uri.clone()).collect();
            let connection = self.connections[self.homes[op_actor(&op)]].clone();
            tasks.spawn(async move {
                let result = perform(&op, &mut held, &rooms, &connection).await;
                (index, held, result)
            });
        }
        let mut results = Vec::with_capacity(planned.len());
        while let Some(joined) = tasks.join_next().await {
            let (index, held, result) =
                joined.map_err(|e| RandomError::Task { seed: self.config.seed, step: self.step, source: e })?;
            for (u, user) in held {
                self.users[u] = Some(user);
            }
            results.push((index, result));
        }
        results.sort_by_key(|(index, _)| *index);
        for (index, result) in results {
            let p = &planned[index];
            if self.config.trace {
                let outcome = match &result {
                    Ok(_) => "ok".to_owned(),
                    Err(e) => format!("error: {e}"),
                };
                let predicted = if p.allowed { "allowed" } else { "refused" };
                eprintln!("step {}: {} (predicted {predicted}): {outcome}", first_step + index, p.what);
            }
            self.settle_keypackages(p, &result)?;
            match (p.allowed, result) {
                (true, Ok(done)) => self.apply(p, done)?,
                (false, Err(ClientError::Refused { .. })) => self.report.refused += 1,
                (_, Err(e)) => return Err(self.unexpected_at(first_step + index, &p.what, p.allowed, e)),
                (false, Ok(_)) => {
                    return Err(RandomError::Unexpected {
                        seed: self.config.seed,
                        step: first_step + index,
                        op: p.what.clone(),
                        expected: "refused".into(),
                        got: "ok".into(),
                    })
                }
            }
        }
        self.sync_all().await?;
        self.settle_and_check(&planned).await
    }

    /// After an action: clients whose KeyPackage the action claimed (or tried to) hold none.
    fn settle_keypackages(&mut self, p: &Planned, result: &Result<Done, ClientError>) -> Result<(), RandomError> {
        let claimer = match &p.op {
            Op::Invite { target, .. } => *target,
            Op::CreateRoom { actor, .. } => *actor,
            _ => return Ok(()),
        };
        let refused_claim = matches!(result, Err(ClientError::Refused { what, .. }) if what.starts_with("keyMaterial"));
        if !refused_claim {
            let uris: Vec<ClientUri> = self.user(claimer)?.clients().map(|c| c.uri().clone()).collect();
            for uri in uris {
                self.key_packages.remove(&uri);
            }
        }
        Ok(())
    }

    /// Applies a successful action to the model.
    fn apply(&mut self, p: &Planned, done: Done) -> Result<(), RandomError> {
        self.report.lost_races += done.lost;
        if let Some(sent) = done.sent {
            if let Op::Send { actor, room, .. } = p.op {
                let recent = &mut self.rooms[room].recent;
                recent.push((actor, sent.2.clone()));
                if recent.len() > RECENT_MESSAGES {
                    recent.remove(0);
                }
            }
            self.unrecorded.push(sent);
        }
        match p.op {
            Op::CreateRoom { actor, .. } => {
                let uri = done.created.ok_or_else(|| self.internal("room created without URI".into()))?;
                let participants = BTreeMap::from([(actor, GROUP_ADMIN)]);
                self.rooms.push(RoomModel { uri, participants, recent: Vec::new() });
            }
            Op::Invite { room, target, role, .. } => {
                self.rooms[room].participants.insert(target, role);
            }
            Op::Remove { room, target, .. } => {
                self.rooms[room].participants.remove(&target);
            }
            Op::Ban { room, target, .. } => {
                self.rooms[room].participants.insert(target, BANNED_ROLE);
            }
            Op::Unban { room, target, .. } => {
                self.rooms[room].participants.insert(target, ORDINARY_USER);
            }
            Op::ChangeRole { room, target, role, .. } => {
                self.rooms[room].participants.insert(target, role);
            }
            Op::Leave { actor, room, .. } => {
                self.rooms[room].participants.remove(&actor);
            }
            Op::AddDevice { actor, .. } => self.added[actor] += 1,
            _ => {}
        }
        Ok(())
    }

    fn unexpected(&self, what: &str, allowed: bool, e: ClientError) -> RandomError {
        self.unexpected_at(self.step, what, allowed, e)
    }

    fn unexpected_at(&self, step: usize, what: &str, allowed: bool, e: ClientError) -> RandomError {
        let got = match &e {
            ClientError::Refused { outcome, .. } => format!("refused: {outcome}"),
            other => format!("error: {other}"),
        };
        RandomError::Unexpected {
            seed: self.config.seed,
            step,
            op: what.to_owned(),
            expected: if allowed { "ok".into() } else { "refused".into() },
            got,
        }
    }

    fn sync_error(&self, client: &str, e: ClientError) -> RandomError {
        RandomError::Sync { seed: self.config.seed, step: self.step, client: client.to_owned(), source: Box::new(e) }
    }

    /// Every online client joins its Welcomes and catches up with every room it is in.
    async fn sync_all(&mut self) -> Result<(), RandomError> {
        let (seed, step) = (self.config.seed, self.step);
        for user in self.users.iter_mut().flatten() {
            for client in user.online_mut() {
                if let Err(e) = client.catch_up_all().await {
                    let client = client.uri().to_string();
                    return Err(RandomError::Sync { seed, step, client, source: Box::new(e) });
                }
            }
        }
        Ok(())
    }

    /// Records the round's messages and runs the checks; across providers, retried (with a
    /// sync) until they hold or [`SETTLE_TIMEOUT`] passes.
    async fn settle_and_check(&mut self, planned: &[Planned]) -> Result<(), RandomError> {
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        loop {
            let result = self.record_sent().and_then(|()| self.check());
            match result {
                Ok(()) => return Ok(()),
                Err(_) if self.connections.len() > 1 && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(SETTLE_POLL).await;
                    self.sync_all().await?;
                }
                Err(failure) => {
                    let ops = planned.iter().map(|p| p.what.as_str()).collect::<Vec<_>>().join("; ");
                    return Err(RandomError::Check {
                        seed: self.config.seed,
                        step: self.step,
                        ops,
                        failure: Box::new(failure),
                    });
                }
            }
        }
    }

    fn online_clients(&self) -> Vec<&Client> {
        self.users.iter().flatten().flat_map(User::online).collect()
    }

    /// Records the round's messages with the checker, in hub order: with one provider by the
    /// log position the sender found its message at; with several, in the order of a member
    /// at the hub's provider (or any online member), once it has them all.
    fn record_sent(&mut self) -> Result<(), CheckFailure> {
        if self.unrecorded.is_empty() {
            return Ok(());
        }
        let mut located: BTreeMap<String, Vec<(usize, Delivered)>> = BTreeMap::new();
        {
            let online = self.online_clients();
            let all: Vec<&Client> = self.users.iter().flatten().flat_map(User::clients).collect();
            for (room, sender, message) in &self.unrecorded {
                let fail = |what: &str, got: String| CheckFailure {
                    room: room.clone(),
                    client: Some(sender.to_string()),
                    what: what.to_owned(),
                    expected: format!("message by {sender} located"),
                    got,
                };
                let bytes = message.content.encode().map_err(|e| fail("encoding a sent message", e.to_string()))?;
                let find = |c: &Client| {
                    c.transcript(room).ok().and_then(|t| {
                        t.iter()
                            .enumerate()
                            .rev()
                            .find(|(_, d)| d.sender == *sender && d.content == bytes)
                            .map(|(i, d)| (i, d.clone()))
                    })
                };
                let own = all.iter().find(|c| c.uri() == sender).and_then(|c| find(c));
                let Some((_, own)) = own else {
                    return Err(fail("sent message in the sender's own transcript", "missing".into()));
                };
                let order = if self.connections.len() == 1 {
                    own.seq as usize
                } else {
                    let hub = room.strip_prefix("mimi://").and_then(|r| r.split('/').next()).unwrap_or_default();
                    let members = online.iter().filter(|c| c.is_member(room));
                    let mut members: Vec<&&Client> = members.collect();
                    members.sort_by_key(|c| c.uri().domain() != hub);
                    let reference = members.first().ok_or_else(|| fail("a member to order by", "none".into()))?;
                    match find(reference) {
                        Some((i, _)) => i,
                        None => {
                            return Err(fail(
                                &format!("sent message at the reference member {}", reference.uri()),
                                "not yet received".into(),
                            ))
                        }
                    }
                };
                located.entry(room.clone()).or_default().push((order, own));
            }
        }
        for (room, mut messages) in located {
            messages.sort_by_key(|(order, _)| *order);
            for (_, m) in messages {
                self.checker.record_sent(&room, m);
            }
        }
        self.unrecorded.clear();
        Ok(())
    }

    /// The checker over every room, and the model's participant lists against the clients'.
    fn check(&mut self) -> Result<(), CheckFailure> {
        let online: Vec<&Client> = self.users.iter().flatten().flat_map(User::online).collect();
        let names: Vec<UserUri> = self.users.iter().flatten().map(|u| u.uri().clone()).collect();
        for room in &self.rooms {
            self.checker.check(&room.uri, &online)?;
            let Some(member) = online.iter().find(|c| c.is_member(&room.uri)) else { continue };
            let fail = |expected: String, got: String| CheckFailure {
                room: room.uri.clone(),
                client: Some(member.uri().to_string()),
                what: "participant list against the model".into(),
                expected,
                got,
            };
            let got: BTreeMap<String, u32> = member
                .participants(&room.uri)
                .map_err(|e| fail("readable".into(), e.to_string()))?
                .into_iter()
                .map(|(u, r)| (u.to_string(), r))
                .collect();
            let want: BTreeMap<String, u32> =
                room.participants.iter().map(|(u, r)| (names[*u].to_string(), *r)).collect();
            if got != want {
                return Err(fail(format!("{want:?}"), format!("{got:?}")));
            }
        }
        Ok(())
    }

    /// Devices of user `u` that are online and members of `room`.
    fn online_members(&self, u: usize, room: &str) -> Vec<usize> {
        let Some(user) = &self.users[u] else { return Vec::new() };
        user.clients().enumerate().filter(|(i, c)| user.is_online(*i) && c.is_member(room)).map(|(i, _)| i).collect()
    }

    /// Devices of user `u` that are members of `room` (online or not).
    fn members(&self, u: usize, room: &str) -> Vec<usize> {
        let Some(user) = &self.users[u] else { return Vec::new() };
        user.clients().enumerate().filter(|(_, c)| c.is_member(room)).map(|(i, _)| i).collect()
    }

    fn name(&self, u: usize) -> String {
        match &self.users[u] {
            Some(user) => user.uri().to_string(),
            None => format!("user{u}"),
        }
    }

    fn device_name(&self, u: usize, d: usize) -> String {
        self.users[u].as_ref().and_then(|user| user.clients().nth(d)).map(|c| c.uri().to_string()).unwrap_or_default()
    }

    /// Plans the next round: per room (in random order) a mode and its actions, until
    /// `max_parallel` actions; creates the rooms first. Uploads the KeyPackages invitations
    /// will claim.
    async fn plan(&mut self) -> Result<Vec<Planned>, RandomError> {
        let mut planned: Vec<Planned> = Vec::new();
        let mut claimed: BTreeSet<usize> = BTreeSet::new();
        if self.rooms.len() < self.config.rooms {
            let actor = self.rooms.len() % self.users.len();
            let name = format!("room{}", self.rooms.len());
            let what = format!("{} creates {name} (cooperative)", self.name(actor));
            planned.push(Planned { op: Op::CreateRoom { actor, name }, allowed: true, users: vec![actor], what });
            self.upload_key_packages(actor).await?;
            return Ok(planned);
        }
        let budget = 1 + self.below(self.config.max_parallel.max(1));
        let mut order: Vec<usize> = (0..self.rooms.len()).collect();
        shuffle(&mut self.rng, &mut order);
        let mut modes: BTreeMap<usize, Mode> = BTreeMap::new();
        for r in order {
            if planned.len() >= budget {
                break;
            }
            if modes.contains_key(&r) {
                continue;
            }
            let roll = self.below(100);
            let mode = if roll < 40 {
                Mode::Messages
            } else if roll < 92 {
                Mode::Commits
            } else {
                Mode::Exclusive
            };
            modes.insert(r, mode);
            match mode {
                Mode::Messages => self.plan_messages(r, &mut claimed, &mut planned, budget),
                Mode::Commits => self.plan_commits(r, &mut claimed, &mut planned, &mut modes, budget),
                Mode::Exclusive => self.plan_exclusive(r, &mut claimed, &mut planned),
            }
        }
        let targets: Vec<usize> = planned
            .iter()
            .filter_map(|p| match p.op {
                Op::Invite { target, .. } => Some(target),
                _ => None,
            })
            .collect();
        for target in targets {
            self.upload_key_packages(target).await?;
        }
        Ok(planned)
    }

    /// Every client of user `u` without one uploads a KeyPackage.
    async fn upload_key_packages(&mut self, u: usize) -> Result<(), RandomError> {
        let (seed, step) = (self.config.seed, self.step);
        let Some(user) = &self.users[u] else { return Ok(()) };
        for client in user.clients() {
            if self.key_packages.contains(client.uri()) {
                continue;
            }
            client.upload_key_packages(1).await.map_err(|e| RandomError::Setup { seed, source: Box::new(e) })?;
            self.key_packages.insert(client.uri().clone());
        }
        let _ = step;
        Ok(())
    }

    /// Users not claimed yet with an online member device in room `r`, and those devices.
    fn free_actors(&self, r: usize, claimed: &BTreeSet<usize>) -> Vec<(usize, Vec<usize>)> {
        let uri = &self.rooms[r].uri;
        (0..self.users.len())
            .filter(|u| !claimed.contains(u))
            .map(|u| (u, self.online_members(u, uri)))
            .filter(|(_, d)| !d.is_empty())
            .collect()
    }

    fn plan_messages(&mut self, r: usize, claimed: &mut BTreeSet<usize>, planned: &mut Vec<Planned>, budget: usize) {
        let mut actors = self.free_actors(r, claimed);
        shuffle(&mut self.rng, &mut actors);
        let senders = 1 + self.below(3);
        for (u, devices) in actors.into_iter().take(senders) {
            if planned.len() >= budget {
                break;
            }
            let Some(device) = self.pick(&devices) else { continue };
            let recent = self.rooms[r].recent.clone();
            let own: Vec<SentMessage> = recent.iter().filter(|(s, _)| *s == u).map(|(_, m)| m.clone()).collect();
            let any: Vec<SentMessage> = recent.iter().map(|(_, m)| m.clone()).collect();
            let content = match self.below(6) {
                1 if !any.is_empty() => self.pick(&any).map(Content::Reply),
                2 if !any.is_empty() => self.pick(&any).map(Content::React),
                3 if !own.is_empty() => self.pick(&own).map(Content::Edit),
                4 if !own.is_empty() => self.pick(&own).map(Content::Delete),
                5 => Some(Content::Attachment),
                _ => None,
            }
            .unwrap_or(Content::Text);
            let op = Op::Send { actor: u, room: r, device, content: Box::new(content) };
            let what = format!("{} sends {} in {}", self.device_name(u, device), op.kind(), self.rooms[r].uri);
            claimed.insert(u);
            planned.push(Planned { op, allowed: true, users: vec![u], what });
        }
    }

    fn plan_commits(
        &mut self,
        r: usize,
        claimed: &mut BTreeSet<usize>,
        planned: &mut Vec<Planned>,
        modes: &mut BTreeMap<usize, Mode>,
        budget: usize,
    ) {
        let mut actors = self.free_actors(r, claimed);
        shuffle(&mut self.rng, &mut actors);
        let mut primary_done = false;
        // The primary operation: the first actor for which one can be planned.
        for (u, devices) in actors.clone() {
            if let Some(p) = self.plan_primary(r, u, &devices, claimed, modes) {
                for &v in &p.users {
                    claimed.insert(v);
                }
                planned.push(p);
                primary_done = true;
                break;
            }
        }
        // A join that must be refused (a user not listed, or banned), sometimes.
        if self.chance(10) && planned.len() < budget {
            let outsiders: Vec<usize> = (0..self.users.len())
                .filter(|u| !claimed.contains(u))
                .filter(|u| self.rooms[r].role(*u).is_none_or(|role| role == BANNED_ROLE))
                .filter(|u| self.members(*u, &self.rooms[r].uri).is_empty())
                .collect();
            if let Some(u) = self.pick(&outsiders) {
                let online: Vec<usize> = self.users[u]
                    .as_ref()
                    .map(|user| (0..user.clients().count()).filter(|i| user.is_online(*i)).collect())
                    .unwrap_or_default();
                if let Some(device) = self.pick(&online) {
                    let what = format!(
                        "{} (not allowed in) joins {} by external commit",
                        self.device_name(u, device),
                        self.rooms[r].uri
                    );
                    claimed.insert(u);
                    planned.push(Planned {
                        op: Op::Join { actor: u, room: r, device },
                        allowed: false,
                        users: vec![u],
                        what,
                    });
                }
            }
        }
        // Racing key updates by other users' clients.
        let racers = if primary_done { self.below(3) } else { 1 + self.below(2) };
        let actors: Vec<(usize, Vec<usize>)> = actors.into_iter().filter(|(u, _)| !claimed.contains(u)).collect();
        for (u, devices) in actors.into_iter().take(racers) {
            if planned.len() >= budget {
                break;
            }
            let Some(device) = self.pick(&devices) else { continue };
            let what = format!("{} key update in {}", self.device_name(u, device), self.rooms[r].uri);
            claimed.insert(u);
            planned.push(Planned {
                op: Op::KeyUpdate { actor: u, room: r, device },
                allowed: true,
                users: vec![u],
                what,
            });
        }
    }

    /// One weighted operation by user `u` (with online member `devices`) in room `r`.
    fn plan_primary(
        &mut self,
        r: usize,
        u: usize,
        devices: &[usize],
        claimed: &BTreeSet<usize>,
        modes: &mut BTreeMap<usize, Mode>,
    ) -> Option<Planned> {
        let room = self.rooms[r].clone();
        let role = room.role(u)?;
        let admin = role == GROUP_ADMIN;
        let others: Vec<usize> = (0..self.users.len()).filter(|v| *v != u && !claimed.contains(v)).collect();
        let unlisted: Vec<usize> = others.iter().copied().filter(|v| room.role(*v).is_none()).collect();
        let listed: Vec<usize> =
            others.iter().copied().filter(|v| matches!(room.role(*v), Some(ORDINARY_USER | GROUP_ADMIN))).collect();
        let banned: Vec<usize> = others.iter().copied().filter(|v| room.role(*v) == Some(BANNED_ROLE)).collect();
        let device_count = self.users[u].as_ref().map(|x| x.clients().count()).unwrap_or(0);
        let all_members = self.members(u, &room.uri);

        // (weight, kind)
        let mut choices: Vec<(usize, u8)> = vec![(3, 0)];
        if !unlisted.is_empty() {
            choices.push((6, 1));
        }
        if !listed.is_empty() || !banned.is_empty() {
            choices.push((1, 2));
        }
        if !listed.is_empty() {
            choices.push((2, 3));
            choices.push((2, 5));
        }
        if !banned.is_empty() {
            choices.push((3, 4));
        }
        choices.push((1, 6)); // own role change: always refused
        choices.push((2, 7));
        if device_count < MAX_DEVICES {
            choices.push((2, 8));
        }
        if all_members.len() >= 2 {
            choices.push((1, 9));
        }
        choices.push((1, 10));
        let total: usize = choices.iter().map(|(w, _)| w).sum();
        let mut roll = self.below(total);
        let kind = choices
            .iter()
            .find(|(w, _)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map(|(_, k)| *k)?;
        let me = self.name(u);
        let uri = room.uri.clone();
        let device = self.pick(devices)?;
        let p = |op: Op, allowed: bool, users: Vec<usize>, what: String| Some(Planned { op, allowed, users, what });
        match kind {
            1 => {
                let target = self.pick(&unlisted)?;
                let as_admin = self.chance(25);
                let role = if as_admin { GROUP_ADMIN } else { ORDINARY_USER };
                let what = format!("{me} invites {} to {uri} as {}", self.name(target), role_name(role));
                p(Op::Invite { actor: u, room: r, target, role }, admin || !as_admin, vec![u, target], what)
            }
            2 => {
                let pool: Vec<usize> = listed.iter().chain(&banned).copied().collect();
                let target = self.pick(&pool)?;
                let trole = room.role(target)?;
                let allowed = admin || trole == ORDINARY_USER;
                let what = format!("{me} removes {} ({}) from {uri}", self.name(target), role_name(trole));
                p(Op::Remove { actor: u, room: r, target }, allowed, vec![u, target], what)
            }
            3 => {
                let target = self.pick(&listed)?;
                let what = format!("{me} bans {} from {uri}", self.name(target));
                p(Op::Ban { actor: u, room: r, target }, admin, vec![u, target], what)
            }
            4 => {
                let target = self.pick(&banned)?;
                let what = format!("{me} unbans {} in {uri}", self.name(target));
                p(Op::Unban { actor: u, room: r, target }, admin, vec![u, target], what)
            }
            5 => {
                let target = self.pick(&listed)?;
                let to = if room.role(target)? == GROUP_ADMIN { ORDINARY_USER } else { GROUP_ADMIN };
                let what = format!("{me} makes {} {} in {uri}", self.name(target), role_name(to));
                p(Op::ChangeRole { actor: u, room: r, target, role: to }, admin, vec![u, target], what)
            }
            6 => {
                let to = if admin { ORDINARY_USER } else { GROUP_ADMIN };
                let what = format!("{me} changes its own role to {} in {uri}", role_name(to));
                p(Op::ChangeRole { actor: u, room: r, target: u, role: to }, false, vec![u], what)
            }
            7 => {
                let description = self.chance(30);
                let what = format!("{me} sets the metadata of {uri} (description: {description})");
                let stamp = self.rng.next_u64();
                p(Op::Metadata { actor: u, room: r, description, stamp }, admin || !description, vec![u], what)
            }
            8 => {
                let name = format!("x{}", self.added[u]);
                let what = format!("{me} adds device {name} to {uri} by external commit");
                p(Op::AddDevice { actor: u, room: r, name }, true, vec![u], what)
            }
            9 => {
                // An offline device's own view may be stale (removed while offline): the victims are
                // the devices in the acting device's member list.
                let listed = self.users[u].as_ref()?.clients().nth(device)?.members(&uri).ok()?;
                let victims: Vec<usize> = all_members
                    .iter()
                    .copied()
                    .filter(|d| *d != device)
                    .filter(|d| {
                        self.users[u]
                            .as_ref()
                            .and_then(|x| x.clients().nth(*d))
                            .is_some_and(|c| listed.contains(c.uri()))
                    })
                    .collect();
                let victim = self.pick(&victims)?;
                let what = format!(
                    "{} removes sibling {} from {uri}",
                    self.device_name(u, device),
                    self.device_name(u, victim)
                );
                p(Op::RemoveDevice { actor: u, room: r, device: victim }, true, vec![u], what)
            }
            10 => {
                // Lose state: every room of the device must be free of messages this round.
                let client = self.users[u].as_ref()?.clients().nth(device)?;
                if self.key_packages.contains(client.uri()) {
                    return None;
                }
                let rooms: Vec<usize> =
                    (0..self.rooms.len()).filter(|i| client.is_member(&self.rooms[*i].uri)).collect();
                if rooms.iter().any(|i| modes.get(i).is_some_and(|m| *m != Mode::Commits)) {
                    return None;
                }
                for i in rooms {
                    modes.insert(i, Mode::Commits);
                }
                let what = format!("{} loses its state and resyncs", client.uri());
                p(Op::LoseState { actor: u, device }, true, vec![u], what)
            }
            _ => {
                let what = format!("{} key update in {uri}", self.device_name(u, device));
                p(Op::KeyUpdate { actor: u, room: r, device }, true, vec![u], what)
            }
        }
    }

    /// Leave, or remove an own device by SelfRemove, alone in room `r`.
    fn plan_exclusive(&mut self, r: usize, claimed: &mut BTreeSet<usize>, planned: &mut Vec<Planned>) {
        let room = self.rooms[r].clone();
        let mut actors = self.free_actors(r, claimed);
        shuffle(&mut self.rng, &mut actors);
        for (u, devices) in actors.clone() {
            let role = room.role(u);
            if self.chance(50) && devices.len() >= 2 {
                let Some(device) = self.pick(&devices) else { continue };
                let what = format!("{} removes itself from {} by SelfRemove", self.device_name(u, device), room.uri);
                claimed.insert(u);
                planned.push(Planned {
                    op: Op::SelfRemove { actor: u, room: r, device },
                    allowed: true,
                    users: vec![u],
                    what,
                });
                return;
            }
            // The last admin does not leave (the commit would be refused with the proposals
            // already accepted, blocking the room).
            if role == Some(GROUP_ADMIN) && room.admins() < 2 {
                continue;
            }
            let Some((committer, _)) = actors.iter().find(|(v, _)| *v != u).cloned() else { continue };
            let via = if self.chance(50) { LeaveVia::Remove } else { LeaveVia::SelfRemove };
            let what = format!("{} leaves {} (via {via:?}), {} commits", self.name(u), room.uri, self.name(committer));
            claimed.insert(u);
            claimed.insert(committer);
            planned.push(Planned {
                op: Op::Leave { actor: u, room: r, via, committer },
                allowed: true,
                users: vec![u, committer],
                what,
            });
            return;
        }
    }
}

/// The acting user of an operation (whose provider a new device registers at).
fn op_actor(op: &Op) -> usize {
    match op {
        Op::CreateRoom { actor, .. }
        | Op::Invite { actor, .. }
        | Op::Remove { actor, .. }
        | Op::Ban { actor, .. }
        | Op::Unban { actor, .. }
        | Op::ChangeRole { actor, .. }
        | Op::Metadata { actor, .. }
        | Op::KeyUpdate { actor, .. }
        | Op::AddDevice { actor, .. }
        | Op::RemoveDevice { actor, .. }
        | Op::SelfRemove { actor, .. }
        | Op::Leave { actor, .. }
        | Op::LoseState { actor, .. }
        | Op::Join { actor, .. }
        | Op::Send { actor, .. } => *actor,
    }
}

/// A uniform choice in `0..n` (0 if `n` is 0).
fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (rng.next_u64() % n as u64) as usize
    }
}

/// Fisher–Yates with the run's RNG.
fn shuffle<T>(rng: &mut ChaCha8Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i + 1);
        items.swap(i, j);
    }
}

/// Runs one operation with the users it holds.
async fn perform(
    op: &Op,
    held: &mut BTreeMap<usize, User>,
    rooms: &[String],
    connection: &Connection,
) -> Result<Done, ClientError> {
    let missing = |u: usize| ClientError::Protocol { what: "random".into(), why: format!("user{u} not held") };
    let no_device = |d: usize| ClientError::Protocol { what: "random".into(), why: format!("no device {d}") };
    let room_uri = |r: usize| rooms.get(r).cloned().unwrap_or_default();
    let commit = |report: mimi_client::CommitReport| Done { lost: report.lost.len(), ..Done::default() };
    let uri_of =
        |held: &BTreeMap<usize, User>, u: usize| held.get(&u).map(|x| x.uri().clone()).ok_or_else(|| missing(u));
    match op {
        Op::CreateRoom { actor, name } => {
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            let room = user.create_room(name, &policy(), GROUP_ADMIN).await?;
            Ok(Done { created: Some(room), ..Done::default() })
        }
        Op::Invite { actor, room, target, role } => {
            let target = uri_of(held, *target)?;
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            user.invite(&room_uri(*room), &target, *role).await.map(commit)
        }
        Op::Remove { actor, room, target } => {
            let target = uri_of(held, *target)?;
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            user.remove(&room_uri(*room), &target).await.map(commit)
        }
        Op::Ban { actor, room, target } => {
            let target = uri_of(held, *target)?;
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            user.ban(&room_uri(*room), &target).await.map(commit)
        }
        Op::Unban { actor, room, target } => {
            let target = uri_of(held, *target)?;
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            user.unban(&room_uri(*room), &target, ORDINARY_USER).await.map(commit)
        }
        Op::ChangeRole { actor, room, target, role } => {
            let target = uri_of(held, *target)?;
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            user.change_role(&room_uri(*room), &target, *role).await.map(commit)
        }
        Op::Metadata { actor, room, description, stamp } => {
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            let (room, description) = (room_uri(*room), *description);
            let stamp = format!("by {} ({stamp:016x})", user.uri());
            let report = user
                .set_room_metadata(&room, |m| {
                    m.room_name.string = format!("named {stamp}").into_bytes();
                    m.room_subject.string = format!("subject {stamp}").into_bytes();
                    if description {
                        m.room_descriptions = vec![mimi_appsync::components::room_metadata::RichDescription {
                            description_content: format!("described {stamp}").into_bytes(),
                            ..Default::default()
                        }];
                    }
                })
                .await?;
            Ok(commit(report))
        }
        Op::KeyUpdate { actor, room, device } => {
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            let client = user.client_mut(*device).ok_or_else(|| no_device(*device))?;
            client.key_update(&room_uri(*room)).await.map(commit)
        }
        Op::AddDevice { actor, room, name } => {
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            user.add_device_external(connection, name, &room_uri(*room)).await.map(|_| Done::default())
        }
        Op::RemoveDevice { actor, room, device } => {
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            let room = room_uri(*room);
            let victim = user.client_mut(*device).ok_or_else(|| no_device(*device))?.uri().clone();
            let committer = user.online_mut().find(|c| c.is_member(&room) && *c.uri() != victim);
            let committer = committer.ok_or_else(|| ClientError::NotInRoom(room.clone()))?;
            committer.remove_own_device(&room, &victim).await.map(commit)
        }
        Op::SelfRemove { actor, room, device } => {
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            let name = user.client_mut(*device).ok_or_else(|| no_device(*device))?.uri().device().to_owned();
            user.remove_device(&room_uri(*room), &name).await.map(commit)
        }
        Op::Leave { actor, room, via, committer } => {
            let room = room_uri(*room);
            held.get_mut(actor).ok_or_else(|| missing(*actor))?.leave(&room, *via).await?;
            let committer = held.get_mut(committer).ok_or_else(|| missing(*committer))?;
            committer.online_member(&room)?.key_update(&room).await.map(commit)
        }
        Op::LoseState { actor, device } => {
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            let name = user.client_mut(*device).ok_or_else(|| no_device(*device))?.uri().device().to_owned();
            user.lose_state_and_resync(&name).await.map(|_| Done::default())
        }
        Op::Join { actor, room, device } => {
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            let client = user.client_mut(*device).ok_or_else(|| no_device(*device))?;
            client.join_external(&room_uri(*room)).await.map(|_| Done::default())
        }
        Op::Send { actor, room, device, content } => {
            let user = held.get_mut(actor).ok_or_else(|| missing(*actor))?;
            let client = user.client_mut(*device).ok_or_else(|| no_device(*device))?;
            let room = room_uri(*room);
            let text = format!("{} says hello", client.uri());
            let sent = match content.as_ref() {
                Content::Text => client.send_built(&room, MessageBuilder::text(TextFormat::Plain, &text)).await?,
                Content::Reply(to) => client.send_reply(&room, to.id, &text).await?,
                Content::React(to) => client.send_reaction(&room, to.id, "\u{1f44d}").await?,
                Content::Edit(original) => client.send_edit(&room, original, &format!("{text}, edited")).await?,
                Content::Delete(original) => client.send_delete(&room, original).await?,
                Content::Attachment => {
                    let attachment = Attachment {
                        content_type: "image/png".into(),
                        url: format!("https://files.example/{}.png", client.uri().device()),
                        size: 1024,
                        ..Default::default()
                    };
                    client.send_attachment(&room, attachment).await?
                }
            };
            Ok(Done { sent: Some((room, client.uri().clone(), sent)), ..Done::default() })
        }
    }
}

/// The room policy of every random room.
fn policy() -> RoomPolicy {
    presets::cooperative()
}

/// Runs a random run against `connections` (see [`RandomRun`]).
pub async fn run_random(config: RandomConfig, connections: Vec<Connection>) -> Result<RandomReport, RandomError> {
    RandomRun::new(config, connections).await?.run().await
}
