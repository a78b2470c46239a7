//! Runs a [`Scenario`] against one provider, or against several federated ones.
//!
//! The [`Runner`] registers the scenario's users, then for each step: resolves the names it
//! uses (users, devices, rooms, roles, message labels), performs the operation through the
//! acting client, compares the outcome with the step's expectation, lets every online client
//! catch up (Welcomes, then every room it is in), records sent messages where their senders
//! located them, and runs the [`Checker`] over every room. Offline devices are left alone: they
//! are neither synced nor checked until they come back online.
//!
//! Across federated providers ([`Runner::federated`]) each user lives at one provider (round-robin
//! in the order the scenario lists them, or its `provider` field) and every client only talks to
//! its own provider; a room's hub is the provider of the user who created it. The hub's fanout
//! to followers is asynchronous, so after a step the runner syncs and checks again (every
//! [`SETTLE_POLL`], for at most [`SETTLE_TIMEOUT`]) until the checks hold, and reports the last
//! failure if they never do. The checker then compares deliveries by content, not by log
//! position ([`Positions::PerProvider`]).

use std::collections::BTreeMap;
use std::time::Duration;

use mimi_appsync::components::room_metadata::RichDescription;
use mimi_appsync::ops::LeaveVia;
use mimi_appsync::presets::{self, RoomPolicy};
use mimi_appsync::uri::{ClientUri, UserUri};
use mimi_client::{Client, ClientError, Connection, SentMessage};
use mimi_content::builder::Attachment;

use crate::checker::{CheckFailure, Checker, Positions};
use crate::error::ScenarioError;
use crate::scenario::{Expect, Op, Scenario, Step, UserSpec};
use crate::user::User;

/// What a finished run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The scenario.
    pub scenario: String,
    /// Steps run.
    pub steps: usize,
    /// Of which expected (and got) a refusal.
    pub refused: usize,
    /// Messages sent and checked.
    pub messages: usize,
    /// Providers the users lived at.
    pub providers: usize,
}

/// Across providers: how long a step may take to reach every provider before the failing
/// check is reported.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

/// Across providers: the pause between syncs while a step has not reached every provider.
pub const SETTLE_POLL: Duration = Duration::from_millis(20);

/// A room of the scenario.
#[derive(Debug)]
struct RoomInfo {
    /// Its URI.
    uri: String,
    /// Its policy (to resolve role names).
    policy: RoomPolicy,
}

/// A scenario in progress against one provider or several federated ones.
#[derive(Debug)]
pub struct Runner {
    /// The scenario.
    scenario: Scenario,
    /// The providers.
    connections: Vec<Connection>,
    /// Users by name.
    users: BTreeMap<String, User>,
    /// Rooms by short name.
    rooms: BTreeMap<String, RoomInfo>,
    /// Sent messages by label.
    messages: BTreeMap<String, SentMessage>,
    /// The invariants.
    checker: Checker,
    /// Steps run so far.
    done: usize,
    /// Refusals seen (expected).
    refused: usize,
    /// The message sent by the current step: room, sending client, message.
    pending_sent: Option<(String, ClientUri, SentMessage)>,
}

/// The room policy preset called `name`.
pub fn preset(name: &str) -> Option<RoomPolicy> {
    Some(match name {
        "cooperative" => presets::cooperative(),
        "strictly_administered" => presets::strictly_administered(),
        "moderated" => presets::moderated(),
        "multi_organization" => presets::multi_organization(),
        "one_to_one" => presets::one_to_one(),
        _ => return None,
    })
}

/// The index of the role called `name` in `policy`.
fn role_index(policy: &RoomPolicy, name: &str) -> Option<u32> {
    policy.roles.roles.iter().find(|r| r.role_name == name.as_bytes()).map(|r| r.role_index)
}

/// The outcome of an operation as an expectation would spell it.
fn outcome(result: &Result<(), ClientError>) -> String {
    match result {
        Ok(()) => "ok".into(),
        Err(ClientError::Refused { outcome, .. }) => format!("refused: {outcome}"),
        Err(ClientError::NotInRoom(_)) => "not_member".into(),
        Err(e) => format!("error: {e}"),
    }
}

/// Whether `result` is what `expect` describes (refusal outcomes compared case-insensitively:
/// `notAuthorized` matches the `NotAuthorized` a groupInfo refusal reports).
fn meets(expect: &Expect, result: &Result<(), ClientError>) -> bool {
    match (expect, result) {
        (Expect::Ok, Ok(())) => true,
        (Expect::Refused(prefix), Err(ClientError::Refused { outcome, .. })) => {
            outcome.to_lowercase().starts_with(&prefix.to_lowercase())
        }
        (Expect::NotMember, Err(ClientError::NotInRoom(_))) => true,
        _ => false,
    }
}

/// A message to send, with the label to remember it by.
enum Outgoing<'a> {
    /// Plain text.
    Text(&'a str),
    /// A reply.
    Reply(&'a SentMessage, &'a str),
    /// A reaction.
    React(&'a SentMessage, &'a str),
    /// An edit.
    Edit(&'a SentMessage, &'a str),
    /// A delete.
    Delete(&'a SentMessage),
    /// An attachment.
    Attachment(Attachment),
}

/// The provider of the `index`th user `spec` among `connections` (see [`UserSpec::provider`]).
fn home<'c>(
    scenario: &str,
    connections: &'c [Connection],
    index: usize,
    spec: &UserSpec,
) -> Result<&'c Connection, ScenarioError> {
    match (&spec.provider, connections) {
        (_, [only]) => Ok(only),
        (Some(name), _) => connections
            .iter()
            .find(|c| c.domain() == name || c.domain().split('.').next() == Some(name.as_str()))
            .ok_or_else(|| ScenarioError::Invalid {
                scenario: scenario.to_owned(),
                step: None,
                why: format!("user {}: no provider {name:?}", spec.name),
            }),
        (None, _) => connections.get(index % connections.len().max(1)).ok_or_else(|| ScenarioError::Invalid {
            scenario: scenario.to_owned(),
            step: None,
            why: "no provider to run against".into(),
        }),
    }
}

impl Runner {
    /// Registers the scenario's users at `connection`.
    pub async fn new(scenario: Scenario, connection: Connection) -> Result<Runner, ScenarioError> {
        Runner::federated(scenario, vec![connection]).await
    }

    /// Registers the scenario's users at federated providers, each user at one of
    /// `connections` (see [`UserSpec::provider`]); with one connection this is [`Runner::new`].
    pub async fn federated(scenario: Scenario, connections: Vec<Connection>) -> Result<Runner, ScenarioError> {
        let mut users = BTreeMap::new();
        for (index, spec) in scenario.users.iter().enumerate() {
            let connection = home(&scenario.name, &connections, index, spec)?;
            let devices: Vec<&str> = spec.devices.iter().map(String::as_str).collect();
            let user = User::register(connection, &spec.name, &devices, spec.key_packages)
                .await
                .map_err(|source| ScenarioError::Setup { scenario: scenario.name.clone(), source: Box::new(source) })?;
            users.insert(spec.name.clone(), user);
        }
        let positions = if connections.len() > 1 { Positions::PerProvider } else { Positions::Shared };
        Ok(Runner {
            scenario,
            connections,
            users,
            rooms: BTreeMap::new(),
            messages: BTreeMap::new(),
            checker: Checker::with_positions(positions),
            done: 0,
            refused: 0,
            pending_sent: None,
        })
    }

    /// Runs every remaining step, checking after each.
    pub async fn run(&mut self) -> Result<RunReport, ScenarioError> {
        while self.done < self.scenario.steps.len() {
            self.step().await?;
        }
        Ok(RunReport {
            scenario: self.scenario.name.clone(),
            steps: self.done,
            refused: self.refused,
            messages: self.rooms.values().map(|r| self.checker.sent(&r.uri).count()).sum(),
            providers: self.connections.len(),
        })
    }

    /// Runs the next step, then syncs and checks.
    pub async fn step(&mut self) -> Result<(), ScenarioError> {
        let index = self.done;
        let step = self.scenario.steps[index].clone();
        let number = index + 1;
        let result = self.execute(number, &step).await?;
        if !meets(&step.expect, &result) {
            return Err(ScenarioError::Unexpected {
                scenario: self.scenario.name.clone(),
                seed: self.scenario.seed,
                step: number,
                op: step.op.name().into(),
                expected: step.expect.to_string(),
                got: outcome(&result),
            });
        }
        if matches!(step.expect, Expect::Refused(_)) {
            self.refused += 1;
        }
        self.done = number;
        self.sync_all().await?;
        self.record_sent(&step, &result)?;
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        loop {
            match self.check() {
                Ok(()) => return Ok(()),
                // Across providers the step may not have reached every provider yet.
                Err(_) if self.connections.len() > 1 && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(SETTLE_POLL).await;
                    self.sync_all().await?;
                }
                Err(failure) => {
                    return Err(ScenarioError::Check {
                        scenario: self.scenario.name.clone(),
                        seed: self.scenario.seed,
                        step: number,
                        op: step.op.name().into(),
                        failure: Box::new(failure),
                    })
                }
            }
        }
    }

    /// Checks every room over every online client.
    pub fn check(&mut self) -> Result<(), CheckFailure> {
        let online: Vec<&Client> = self.users.values().flat_map(User::online).collect();
        for room in self.rooms.values() {
            self.checker.check(&room.uri, &online)?;
        }
        Ok(())
    }

    /// The user called `name` (e.g. to inject a fault into one of its clients).
    pub fn user_mut(&mut self, name: &str) -> Option<&mut User> {
        self.users.get_mut(name)
    }

    /// The URI of the room called `short`.
    pub fn room_uri(&self, short: &str) -> Option<&str> {
        self.rooms.get(short).map(|r| r.uri.as_str())
    }

    fn invalid(&self, step: usize, why: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid { scenario: self.scenario.name.clone(), step: Some(step), why: why.into() }
    }

    fn room(&self, step: usize, short: &str) -> Result<&RoomInfo, ScenarioError> {
        self.rooms.get(short).ok_or_else(|| self.invalid(step, format!("no room {short:?} created yet")))
    }

    fn role(&self, step: usize, room: &str, name: Option<&str>) -> Result<u32, ScenarioError> {
        let name = name.unwrap_or("ordinary_user");
        let info = self.room(step, room)?;
        role_index(&info.policy, name).ok_or_else(|| self.invalid(step, format!("room {room} has no role {name:?}")))
    }

    fn user_uri(&self, step: usize, name: &str) -> Result<UserUri, ScenarioError> {
        self.users.get(name).map(|u| u.uri().clone()).ok_or_else(|| self.invalid(step, format!("no user {name:?}")))
    }

    /// The connection to the provider user `name` lives at.
    fn connection_of(&self, step: usize, name: &str) -> Result<Connection, ScenarioError> {
        let domain = self.user_uri(step, name)?.domain().to_owned();
        let found = self.connections.iter().find(|c| c.domain() == domain).cloned();
        found.ok_or_else(|| self.invalid(step, format!("no provider {domain} for {name}")))
    }

    fn message(&self, step: usize, label: &str) -> Result<&SentMessage, ScenarioError> {
        self.messages.get(label).ok_or_else(|| self.invalid(step, format!("no message labelled {label:?}")))
    }

    /// The acting user.
    fn actor(&mut self, step: usize, name: &str) -> Result<&mut User, ScenarioError> {
        let invalid = self.invalid(step, format!("no user {name:?}"));
        self.users.get_mut(name).ok_or(invalid)
    }

    /// The step's named device (required by the operation).
    fn device_name<'s>(&self, number: usize, step: &'s Step) -> Result<&'s str, ScenarioError> {
        step.device.as_deref().ok_or_else(|| self.invalid(number, format!("{} needs a device", step.op.name())))
    }

    /// The acting client: the named device (which must be online) or the user's first online
    /// member client of `room`.
    fn acting(
        &mut self,
        number: usize,
        step: &Step,
        room: &str,
    ) -> Result<Result<&mut Client, ClientError>, ScenarioError> {
        let actor = step.actor.clone();
        let offline = self.invalid(number, format!("{actor}'s device {:?} is offline or unknown", step.device));
        let user = self.actor(number, &actor)?;
        Ok(match &step.device {
            Some(device) => match user.device_index(device) {
                Some(i) if user.is_online(i) => user.device_mut(device),
                _ => return Err(offline),
            },
            None => user.online_member(room),
        })
    }

    /// Performs the step's operation; the outer error is a broken scenario, the inner one the
    /// operation's outcome.
    async fn execute(&mut self, number: usize, step: &Step) -> Result<Result<(), ClientError>, ScenarioError> {
        let room = match step.op.room() {
            Some(short) if !matches!(step.op, Op::CreateRoom { .. }) => Some(self.room(number, short)?.uri.clone()),
            _ => None,
        };
        let room = room.as_deref().unwrap_or_default();
        Ok(match &step.op {
            Op::CreateRoom { room: short, preset: name, role } => {
                let policy = preset(name).ok_or_else(|| self.invalid(number, format!("no preset {name:?}")))?;
                let role_name = role.as_deref().unwrap_or("group_admin");
                let role = role_index(&policy, role_name)
                    .ok_or_else(|| self.invalid(number, format!("preset {name} has no role {role_name:?}")))?;
                let created = self.actor(number, &step.actor)?.create_room(short, &policy, role).await;
                created.map(|uri| {
                    self.rooms.insert(short.clone(), RoomInfo { uri, policy });
                })
            }
            Op::Invite { room: short, user, role } => {
                let (user, role) = (self.user_uri(number, user)?, self.role(number, short, role.as_deref())?);
                match self.acting(number, step, room)? {
                    Ok(c) => c.invite_user(room, &user, role).await.map(drop),
                    Err(e) => Err(e),
                }
            }
            Op::Remove { user, .. } => {
                let user = self.user_uri(number, user)?;
                match self.acting(number, step, room)? {
                    Ok(c) => c.remove_user(room, &user).await.map(drop),
                    Err(e) => Err(e),
                }
            }
            Op::Ban { user, .. } => {
                let user = self.user_uri(number, user)?;
                match self.acting(number, step, room)? {
                    Ok(c) => c.ban_user(room, &user).await.map(drop),
                    Err(e) => Err(e),
                }
            }
            Op::Unban { room: short, user, role } => {
                let (user, role) = (self.user_uri(number, user)?, self.role(number, short, role.as_deref())?);
                match self.acting(number, step, room)? {
                    Ok(c) => c.unban_user(room, &user, role).await.map(drop),
                    Err(e) => Err(e),
                }
            }
            Op::ChangeRole { room: short, user, role } => {
                let (user, role) = (self.user_uri(number, user)?, self.role(number, short, Some(role))?);
                match self.acting(number, step, room)? {
                    Ok(c) => c.change_role(room, &user, role).await.map(drop),
                    Err(e) => Err(e),
                }
            }
            Op::SetMetadata { name, subject, description, .. } => {
                let edit = |m: &mut mimi_appsync::components::room_metadata::RoomMetaData| {
                    if let Some(name) = name {
                        m.room_name.string = name.as_bytes().to_vec();
                    }
                    if let Some(subject) = subject {
                        m.room_subject.string = subject.as_bytes().to_vec();
                    }
                    if let Some(d) = description {
                        m.room_descriptions =
                            vec![RichDescription { description_content: d.as_bytes().to_vec(), ..Default::default() }];
                    }
                };
                match self.acting(number, step, room)? {
                    Ok(c) => c.set_room_metadata(room, edit).await.map(drop),
                    Err(e) => Err(e),
                }
            }
            Op::Leave { via, by, .. } => {
                let via = match via.as_deref() {
                    None | Some("remove") => LeaveVia::Remove,
                    Some("self_remove") => LeaveVia::SelfRemove,
                    Some(other) => return Err(self.invalid(number, format!("leave via {other:?}"))),
                };
                let committer = match by {
                    Some(by) => by.clone(),
                    None => self
                        .users
                        .iter()
                        .find(|(name, u)| **name != step.actor && u.online().any(|c| c.is_member(room)))
                        .map(|(name, _)| name.clone())
                        .ok_or_else(|| self.invalid(number, "nobody else online in the room to commit the leave"))?,
                };
                let left = match self.acting(number, step, room)? {
                    Ok(c) => c.leave(room, via).await,
                    Err(e) => Err(e),
                };
                match left {
                    Ok(()) => match self.actor(number, &committer)?.online_member(room) {
                        Ok(c) => c.key_update(room).await.map(drop),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                }
            }
            Op::AddDevice { new_device, .. } => {
                let connection = self.connection_of(number, &step.actor)?;
                self.actor(number, &step.actor)?.add_device_external(&connection, new_device, room).await.map(drop)
            }
            Op::RemoveDevice { .. } => {
                let device = self.device_name(number, step)?.to_owned();
                self.actor(number, &step.actor)?.remove_device(room, &device).await.map(drop)
            }
            Op::Join { .. } => match self.acting(number, step, room)? {
                Ok(c) => c.join_external(room).await.map(drop),
                Err(e) => Err(e),
            },
            Op::KeyUpdate { .. } => match self.acting(number, step, room)? {
                Ok(c) => c.key_update(room).await.map(drop),
                Err(e) => Err(e),
            },
            Op::Offline => {
                let device = self.device_name(number, step)?.to_owned();
                self.actor(number, &step.actor)?.go_offline(&device)
            }
            Op::Online => {
                let device = self.device_name(number, step)?.to_owned();
                self.actor(number, &step.actor)?.go_online(&device).await
            }
            Op::LoseState => {
                let device = self.device_name(number, step)?.to_owned();
                self.actor(number, &step.actor)?.lose_state_and_resync(&device).await.map(drop)
            }
            Op::Send { text, label, .. } => self.send(number, step, room, label, Outgoing::Text(text)).await?,
            Op::Reply { to, text, label, .. } => {
                let to = self.message(number, to)?.clone();
                self.send(number, step, room, label, Outgoing::Reply(&to, text)).await?
            }
            Op::React { to, reaction, label, .. } => {
                let to = self.message(number, to)?.clone();
                self.send(number, step, room, label, Outgoing::React(&to, reaction)).await?
            }
            Op::Edit { to, text, label, .. } => {
                let to = self.message(number, to)?.clone();
                self.send(number, step, room, label, Outgoing::Edit(&to, text)).await?
            }
            Op::Delete { to, .. } => {
                let to = self.message(number, to)?.clone();
                self.send(number, step, room, &None, Outgoing::Delete(&to)).await?
            }
            Op::Attachment { url, content_type, size, label, .. } => {
                let attachment = Attachment {
                    content_type: content_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
                    url: url.clone(),
                    size: *size,
                    ..Default::default()
                };
                self.send(number, step, room, label, Outgoing::Attachment(attachment)).await?
            }
        })
    }

    /// Sends a message through the acting client and remembers it by `label`.
    async fn send(
        &mut self,
        number: usize,
        step: &Step,
        room: &str,
        label: &Option<String>,
        outgoing: Outgoing<'_>,
    ) -> Result<Result<(), ClientError>, ScenarioError> {
        let client = match self.acting(number, step, room)? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let sent = match outgoing {
            Outgoing::Text(text) => client.send_built(room, text_builder(text)).await,
            Outgoing::Reply(to, text) => client.send_reply(room, to.id, text).await,
            Outgoing::React(to, reaction) => client.send_reaction(room, to.id, reaction).await,
            Outgoing::Edit(original, text) => client.send_edit(room, original, text).await,
            Outgoing::Delete(original) => client.send_delete(room, original).await,
            Outgoing::Attachment(a) => client.send_attachment(room, a).await,
        };
        let sender = client.uri().clone();
        Ok(sent.map(|message| {
            self.pending_sent = Some((room.to_owned(), sender, message.clone()));
            if let Some(label) = label {
                self.messages.insert(label.clone(), message);
            }
        }))
    }

    /// Every online client accepts its Welcomes and catches up with every room it is in.
    async fn sync_all(&mut self) -> Result<(), ScenarioError> {
        for user in self.users.values_mut() {
            for client in user.online_mut() {
                let synced = client.catch_up_all().await;
                if let Err(source) = synced {
                    return Err(ScenarioError::Sync {
                        scenario: self.scenario.name.clone(),
                        seed: self.scenario.seed,
                        step: self.done,
                        client: client.uri().to_string(),
                        source: Box::new(source),
                    });
                }
            }
        }
        Ok(())
    }

    /// After a send step: the message as its sender located it in the log, for the checker.
    fn record_sent(&mut self, step: &Step, result: &Result<(), ClientError>) -> Result<(), ScenarioError> {
        let Some((room, sender, message)) = self.pending_sent.take() else { return Ok(()) };
        if result.is_err() {
            return Ok(());
        }
        let bytes = message.content.encode().map_err(|e| self.invalid(self.done, e.to_string()))?;
        let client = self
            .users
            .values()
            .flat_map(User::clients)
            .find(|c| *c.uri() == sender)
            .ok_or_else(|| self.invalid(self.done, format!("sender {sender} vanished")))?;
        let own = client
            .transcript(&room)
            .ok()
            .and_then(|t| t.iter().rev().find(|d| d.sender == sender && d.content == bytes).cloned())
            .ok_or_else(|| {
                self.invalid(self.done, format!("{} by {sender}: not in the sender's own transcript", step.op.name()))
            })?;
        self.checker.record_sent(&room, own);
        Ok(())
    }
}

/// A plain-text message.
fn text_builder(text: &str) -> mimi_content::builder::MessageBuilder {
    mimi_content::builder::MessageBuilder::text(mimi_content::builder::TextFormat::Plain, text)
}

/// Runs `scenario` against the provider at `connection`.
pub async fn run_scenario(scenario: Scenario, connection: Connection) -> Result<RunReport, ScenarioError> {
    Runner::new(scenario, connection).await?.run().await
}

/// Runs `scenario` against the federated providers at `connections` (see [`Runner::federated`]).
pub async fn run_scenario_federated(
    scenario: Scenario,
    connections: Vec<Connection>,
) -> Result<RunReport, ScenarioError> {
    Runner::federated(scenario, connections).await?.run().await
}
