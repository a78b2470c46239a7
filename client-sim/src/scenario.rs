//! The scenario file format (TOML) and the built-in scenarios.
//!
//! A scenario names its users and their devices, then lists steps. Each step has an `actor`
//! (a user), optionally the `device` that acts (otherwise the user's first online client that
//! is in the room), an `op` with its fields, and an `expect`ed outcome:
//!
//! ```toml
//! name = "example"
//!
//! [[user]]
//! name = "alice"
//! devices = ["phone", "laptop"]
//!
//! [[user]]
//! name = "bob"
//! devices = ["phone"]
//!
//! [[step]]
//! actor = "alice"
//! op = "create_room"
//! room = "club"
//! preset = "cooperative"
//! role = "group_admin"
//!
//! [[step]]
//! actor = "alice"
//! op = "invite"
//! room = "club"
//! user = "bob"
//!
//! [[step]]
//! actor = "bob"
//! op = "change_role"
//! room = "club"
//! user = "bob"
//! role = "group_admin"
//! expect = "refused: notAllowed"
//! ```
//!
//! Expectations ([`Expect`]): `"ok"` (the default), `"refused"` (any protocol refusal),
//! `"refused: <outcome>"` (a refusal whose outcome starts with `<outcome>`, ignoring case, e.g.
//! `notAllowed` for a commit or message, `notAuthorized` for a groupInfo request),
//! `"not_member"` (the client is not, or no longer, in the room). Rooms are named by their
//! short name (`club` is `mimi://<domain>/r/club`, at the provider of the user who created it,
//! which is the room's hub), roles by their name in the room's preset
//! (`ordinary_user`, `group_admin`, …, `banned`), messages by the `label` given when sending.
//! See [`Op`] for every operation and its fields.

use serde::Deserialize;

use crate::error::ScenarioError;

/// A scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name, reported with any failure.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Reported with any failure; reserved for the random mode (built-in scenarios are
    /// deterministic).
    #[serde(default)]
    pub seed: u64,
    /// The users, registered before the first step.
    #[serde(rename = "user")]
    pub users: Vec<UserSpec>,
    /// The steps, in order.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// A user and its devices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// The user name (`mimi://<domain>/u/<name>`).
    pub name: String,
    /// Device names, registered in order.
    pub devices: Vec<String>,
    /// KeyPackages each device uploads (one is used per invitation).
    #[serde(default = "default_key_packages")]
    pub key_packages: usize,
    /// The provider the user lives at when the scenario runs across several federated
    /// providers: its domain or the domain's first label (`"b"` for `b.example`). By default
    /// users are placed round-robin in the order they are listed (the first user at the
    /// first provider). Ignored with a single provider.
    #[serde(default)]
    pub provider: Option<String>,
}

fn default_key_packages() -> usize {
    4
}

/// One step.
#[derive(Debug, Clone, Deserialize)]
pub struct Step {
    /// The acting user.
    pub actor: String,
    /// The acting (or affected) device; by default the user's first online member client.
    #[serde(default)]
    pub device: Option<String>,
    /// The expected outcome (default `"ok"`).
    #[serde(default)]
    pub expect: Expect,
    /// The operation.
    #[serde(flatten)]
    pub op: Op,
}

/// An operation and its fields (`op = "<name>"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Create a room at the actor's provider with a preset (`cooperative`,
    /// `strictly_administered`, `moderated`, `multi_organization`, `one_to_one`); the actor gets
    /// `role` (default `group_admin`); the actor's other online devices are added.
    CreateRoom {
        /// Short room name.
        room: String,
        /// The preset.
        preset: String,
        /// The creator's role.
        #[serde(default)]
        role: Option<String>,
    },
    /// Invite `user` (all its clients, one commit) with `role` (default `ordinary_user`).
    Invite {
        /// Room.
        room: String,
        /// The invitee.
        user: String,
        /// Its role.
        #[serde(default)]
        role: Option<String>,
    },
    /// Remove `user` and all its clients.
    Remove {
        /// Room.
        room: String,
        /// The user removed.
        user: String,
    },
    /// Ban `user` (role `banned`, all its clients removed).
    Ban {
        /// Room.
        room: String,
        /// The user banned.
        user: String,
    },
    /// Unban `user` to `role` (default `ordinary_user`).
    Unban {
        /// Room.
        room: String,
        /// The user unbanned.
        user: String,
        /// Its new role.
        #[serde(default)]
        role: Option<String>,
    },
    /// Change `user`'s role.
    ChangeRole {
        /// Room.
        room: String,
        /// Whose role.
        user: String,
        /// The new role.
        role: String,
    },
    /// Set fields of the room metadata (others unchanged).
    SetMetadata {
        /// Room.
        room: String,
        /// Display name.
        #[serde(default)]
        name: Option<String>,
        /// Subject.
        #[serde(default)]
        subject: Option<String>,
        /// A plain-text description (replaces all descriptions).
        #[serde(default)]
        description: Option<String>,
    },
    /// The actor leaves: proposals (Remove, or SelfRemove with `via = "self_remove"`) that
    /// user `by` commits (default: the first other user with an online client in the room).
    Leave {
        /// Room.
        room: String,
        /// `remove` (default) or `self_remove`.
        #[serde(default)]
        via: Option<String>,
        /// The committing user.
        #[serde(default)]
        by: Option<String>,
    },
    /// A new device `new_device` of the actor registers and joins by external commit.
    AddDevice {
        /// Room.
        room: String,
        /// The new device's name.
        new_device: String,
    },
    /// `device` removes itself (SelfRemove) and another online client of the actor commits.
    RemoveDevice {
        /// Room.
        room: String,
    },
    /// An existing device joins by external commit (e.g. a banned user trying to come back).
    Join {
        /// Room.
        room: String,
    },
    /// A key update (commits any pending proposals too).
    KeyUpdate {
        /// Room.
        room: String,
    },
    /// `device` goes offline: it neither reads nor acts.
    Offline,
    /// `device` comes back and catches up from its cursors.
    Online,
    /// `device` loses its MLS state and resyncs every room by external commit.
    LoseState,
    /// A plain-text message.
    Send {
        /// Room.
        room: String,
        /// The text.
        text: String,
        /// A name for later references.
        #[serde(default)]
        label: Option<String>,
    },
    /// A reply to message `to`.
    Reply {
        /// Room.
        room: String,
        /// The label of the message answered.
        to: String,
        /// The text.
        text: String,
        /// A name for later references.
        #[serde(default)]
        label: Option<String>,
    },
    /// A reaction to message `to`.
    React {
        /// Room.
        room: String,
        /// The label of the message reacted to.
        to: String,
        /// The reaction (an emoji).
        reaction: String,
        /// A name for later references.
        #[serde(default)]
        label: Option<String>,
    },
    /// An edit of message `to` (the actor's own).
    Edit {
        /// Room.
        room: String,
        /// The label of the message edited.
        to: String,
        /// The new text.
        text: String,
        /// A name for the new version.
        #[serde(default)]
        label: Option<String>,
    },
    /// The deletion of message `to`.
    Delete {
        /// Room.
        room: String,
        /// The label of the message deleted.
        to: String,
    },
    /// A file shared by reference.
    Attachment {
        /// Room.
        room: String,
        /// Where the file is.
        url: String,
        /// Its media type (default `application/octet-stream`).
        #[serde(default)]
        content_type: Option<String>,
        /// Its size in octets.
        #[serde(default)]
        size: u64,
        /// A name for later references.
        #[serde(default)]
        label: Option<String>,
    },
}

impl Op {
    /// The operation's name as written in scenarios.
    pub fn name(&self) -> &'static str {
        match self {
            Op::CreateRoom { .. } => "create_room",
            Op::Invite { .. } => "invite",
            Op::Remove { .. } => "remove",
            Op::Ban { .. } => "ban",
            Op::Unban { .. } => "unban",
            Op::ChangeRole { .. } => "change_role",
            Op::SetMetadata { .. } => "set_metadata",
            Op::Leave { .. } => "leave",
            Op::AddDevice { .. } => "add_device",
            Op::RemoveDevice { .. } => "remove_device",
            Op::Join { .. } => "join",
            Op::KeyUpdate { .. } => "key_update",
            Op::Offline => "offline",
            Op::Online => "online",
            Op::LoseState => "lose_state",
            Op::Send { .. } => "send",
            Op::Reply { .. } => "reply",
            Op::React { .. } => "react",
            Op::Edit { .. } => "edit",
            Op::Delete { .. } => "delete",
            Op::Attachment { .. } => "attachment",
        }
    }

    /// The room the operation is about, if any.
    pub fn room(&self) -> Option<&str> {
        match self {
            Op::CreateRoom { room, .. }
            | Op::Invite { room, .. }
            | Op::Remove { room, .. }
            | Op::Ban { room, .. }
            | Op::Unban { room, .. }
            | Op::ChangeRole { room, .. }
            | Op::SetMetadata { room, .. }
            | Op::Leave { room, .. }
            | Op::AddDevice { room, .. }
            | Op::RemoveDevice { room }
            | Op::Join { room }
            | Op::KeyUpdate { room }
            | Op::Send { room, .. }
            | Op::Reply { room, .. }
            | Op::React { room, .. }
            | Op::Edit { room, .. }
            | Op::Delete { room, .. }
            | Op::Attachment { room, .. } => Some(room),
            Op::Offline | Op::Online | Op::LoseState => None,
        }
    }
}

/// The outcome a step expects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Expect {
    /// Success.
    #[default]
    Ok,
    /// A protocol refusal whose outcome starts with the given text (any refusal if empty).
    Refused(String),
    /// The client is not in the room.
    NotMember,
}

impl std::str::FromStr for Expect {
    type Err = String;

    fn from_str(s: &str) -> Result<Expect, String> {
        match s.trim() {
            "ok" => Ok(Expect::Ok),
            "refused" => Ok(Expect::Refused(String::new())),
            "not_member" => Ok(Expect::NotMember),
            other => match other.strip_prefix("refused:") {
                Some(outcome) => Ok(Expect::Refused(outcome.trim().to_owned())),
                None => Err(format!("unknown expectation {other:?} (ok, refused, refused: <outcome>, not_member)")),
            },
        }
    }
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Expect, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Ok => f.write_str("ok"),
            Expect::Refused(o) if o.is_empty() => f.write_str("refused"),
            Expect::Refused(o) => write!(f, "refused: {o}"),
            Expect::NotMember => f.write_str("not_member"),
        }
    }
}

impl Scenario {
    /// Parses a scenario from TOML; `origin` (a file name) is used in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Scenario, ScenarioError> {
        toml::from_str(text).map_err(|source| ScenarioError::Parse { origin: origin.to_owned(), source })
    }

    /// The built-in scenario `name` (see [`BUILTIN`]).
    pub fn builtin(name: &str) -> Result<Scenario, ScenarioError> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).ok_or_else(|| ScenarioError::Invalid {
            scenario: name.to_owned(),
            step: None,
            why: format!(
                "no built-in scenario {name:?} (have: {})",
                BUILTIN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        })?;
        Scenario::parse(name, text)
    }
}

/// The built-in scenarios (`client-sim/scenarios/*.toml`), by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("membership", include_str!("../scenarios/membership.toml")),
    ("roles", include_str!("../scenarios/roles.toml")),
    ("devices", include_str!("../scenarios/devices.toml")),
    ("messages", include_str!("../scenarios/messages.toml")),
];
