//! The operator's commands on our users' devices: issue an enrollment code for a user
//! (`mimi-ds user add alice`), revoke or remove a device (`mimi-ds client revoke|remove <client
//! URI>`), list a user's devices (`mimi-ds client list alice`) or every user with its devices
//! (`mimi-ds user list`); and on rooms ([`rooms`]): list them (`mimi-ds room list`), show one
//! (`mimi-ds room show <room>`: epoch, members, participants and roles, policy, log size, each
//! peer's fanout position), export its log with the handshakes decoded (`mimi-ds room export`).
//!
//! Each command is an [`AdminRequest`], carried out by [`execute`] on a [`Store`]: one code path,
//! whether it runs inside the server or in the `mimi-ds` command. A redb file is open in one
//! process at a time, so the command reaches a running server through its admin socket
//! ([`socket`], a Unix socket of mode 0600 at `admin_socket`), where the server executes it on
//! its own store; when no server answers there, the command opens the store itself ([`perform`]).
//! A revocation through the socket takes effect at once: every request authenticates against the
//! store, and the device's tokens are gone from it. The same requests are served over HTTP, with
//! the hub console, on the admin listener ([`http`]); through a running server ([`execute_on`])
//! a room's view also carries what only the server knows (the submissions it refused).

pub mod decode;
pub mod http;
pub mod rooms;
pub mod socket;

use std::time::Duration;

use mimi_appsync::uri::{ClientUri, UserUri};
use serde::{Deserialize, Serialize};

use crate::auth::codes::new_code;
use crate::auth::{AuthRefusal, ClientStatus, Ending};
use crate::config::{Config, CODE_LIFETIME_SECS};
use crate::provider::{now_ms, Provider};
use crate::store::redb::RedbStore;
use crate::store::{settle, Store, StoreError, Write};

/// One operator's command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AdminRequest {
    /// Issue an enrollment code for a device of `user` (a name, or a user URI of our domain).
    AddUser {
        /// The user.
        user: String,
        /// How long the code is good, seconds (default: `enrollment_code_lifetime_secs`).
        lifetime_secs: Option<u64>,
    },
    /// Revoke a device (its tokens stop working at once; its name stays taken).
    RevokeClient {
        /// The client URI.
        client: String,
    },
    /// Remove a device (as revoked, and its name is free again).
    RemoveClient {
        /// The client URI.
        client: String,
    },
    /// List a user's registered devices.
    ListClients {
        /// The user (a name, or a user URI of our domain).
        user: String,
    },
    /// List every user with its registered devices.
    ListUsers,
    /// List the rooms (of this hub, and mirrored as a follower).
    ListRooms,
    /// Show one room.
    ShowRoom {
        /// The room URI.
        room: String,
    },
    /// Export a room's log, the handshakes decoded.
    ExportLog {
        /// The room URI.
        room: String,
    },
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum AdminAnswer {
    /// An enrollment code was issued.
    Code {
        /// The user URI.
        user: String,
        /// The code, to hand to the user (it is not kept).
        code: String,
        /// Expiry, milliseconds since the UNIX epoch.
        expires_ms: u64,
    },
    /// A device was revoked or removed.
    Ended {
        /// The client URI.
        client: String,
        /// `revoked` or `removed`.
        status: String,
    },
    /// A user's registered devices.
    Clients {
        /// The user URI.
        user: String,
        /// Its devices, in URI order.
        clients: Vec<DeviceEntry>,
    },
    /// Every user with its devices.
    Users {
        /// In user URI order.
        users: Vec<UserEntry>,
    },
    /// The rooms.
    Rooms {
        /// Hub rooms, then mirrors.
        rooms: Vec<rooms::RoomSummary>,
    },
    /// One room.
    Room(Box<rooms::RoomView>),
    /// A room's log.
    Log(Box<rooms::LogExport>),
}

/// One user in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    /// The user URI.
    pub user: String,
    /// Its devices, in URI order.
    pub clients: Vec<DeviceEntry>,
}

/// One device in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEntry {
    /// The client URI.
    pub client: String,
    /// `active` or `revoked`.
    pub status: String,
    /// Since when, milliseconds since the UNIX epoch.
    pub since_ms: u64,
}

impl std::fmt::Display for AdminAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminAnswer::Code { user, code, expires_ms } => {
                writeln!(f, "enrollment code for {user} (one device, expires at {} UNIX time):", expires_ms / 1000)?;
                write!(f, "{code}")
            }
            AdminAnswer::Ended { client, status } => write!(f, "{client} {status}"),
            AdminAnswer::Clients { user, clients } if clients.is_empty() => write!(f, "{user} has no devices"),
            AdminAnswer::Clients { clients, .. } => {
                let lines: Vec<String> =
                    clients.iter().map(|c| format!("{} {} since {}", c.client, c.status, c.since_ms / 1000)).collect();
                write!(f, "{}", lines.join("\n"))
            }
            AdminAnswer::Users { users } if users.is_empty() => write!(f, "no users"),
            AdminAnswer::Users { users } => {
                let mut lines = Vec::new();
                for u in users {
                    lines.push(u.user.clone());
                    lines.extend(
                        u.clients.iter().map(|c| format!("  {} {} since {}", c.client, c.status, c.since_ms / 1000)),
                    );
                }
                write!(f, "{}", lines.join("\n"))
            }
            AdminAnswer::Rooms { rooms } if rooms.is_empty() => write!(f, "no rooms"),
            AdminAnswer::Rooms { rooms } => {
                let lines: Vec<String> = rooms
                    .iter()
                    .map(|r| {
                        let members = r.members.map_or_else(|| "-".to_owned(), |m| m.to_string());
                        format!("{} {} epoch {} members {} log {}", r.room, r.role, r.epoch, members, r.log_head)
                    })
                    .collect();
                write!(f, "{}", lines.join("\n"))
            }
            AdminAnswer::Room(view) => rooms::write_view(f, view),
            AdminAnswer::Log(log) => {
                write!(f, "{}", serde_json::to_string_pretty(log).map_err(|_| std::fmt::Error)?)
            }
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The command names something that is not ours or not a user or client.
    #[error("{0}")]
    BadRequest(String),
    /// The command names a room this provider does not have.
    #[error("{0}")]
    NotFound(String),
    /// A room's stored state does not rebuild.
    #[error("room state: {0}")]
    Room(String),
    /// The device's records do not admit it (e.g. no such device).
    #[error(transparent)]
    Refused(AuthRefusal),
    /// The store failed (or, opened by the command, is in use by a server that did not answer on
    /// its admin socket).
    #[error("{0}")]
    Store(StoreError),
    /// The running server refused or failed the command; its reason.
    #[error("the server answered: {0}")]
    Server(String),
    /// The admin socket could not be used.
    #[error("admin socket {path}: {why}")]
    Socket {
        /// The socket's path.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// Randomness for a code failed.
    #[error("enrollment code randomness: {0}")]
    Randomness(String),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Auth(refusal) => AdminError::Refused(refusal),
            e => AdminError::Store(e),
        }
    }
}

/// Carries out `request` on `store` at `now_ms`, for our `domain`; an enrollment code is good for
/// `code_lifetime` unless the request says otherwise.
pub async fn execute<S: Store>(
    store: &S,
    domain: &str,
    code_lifetime: Duration,
    request: &AdminRequest,
    now_ms: u64,
) -> Result<AdminAnswer, AdminError> {
    match request {
        AdminRequest::AddUser { user, lifetime_secs } => {
            let user = our_user(domain, user)?;
            let lifetime = match lifetime_secs {
                Some(secs) if !CODE_LIFETIME_SECS.contains(secs) => {
                    return Err(AdminError::BadRequest(format!(
                        "a code's lifetime of {secs} s is not between {} and {}",
                        CODE_LIFETIME_SECS.start(),
                        CODE_LIFETIME_SECS.end()
                    )))
                }
                Some(secs) => Duration::from_secs(*secs),
                None => code_lifetime,
            };
            let code = new_code(&user, now_ms, lifetime).map_err(|e| AdminError::Randomness(e.to_string()))?;
            let expires_ms = code.record.expires_ms;
            settle(store.write(Write::AddEnrollmentCode { hash: code.hash, code: code.record, now_ms })).await?;
            tracing::info!(user = %user, "enrollment code issued");
            Ok(AdminAnswer::Code { user: user.to_string(), code: code.code, expires_ms })
        }
        AdminRequest::RevokeClient { client } | AdminRequest::RemoveClient { client } => {
            let client = our_client(domain, client)?;
            let ending =
                if matches!(request, AdminRequest::RevokeClient { .. }) { Ending::Revoke } else { Ending::Remove };
            let write = Write::EndClient { client: client.as_str().to_owned(), ending, now_ms };
            settle(store.write(write)).await?;
            let status = match ending {
                Ending::Revoke => ClientStatus::Revoked,
                Ending::Remove => ClientStatus::Removed,
            };
            tracing::warn!(client = %client, status = status.name(), "client ended by the operator");
            Ok(AdminAnswer::Ended { client: client.to_string(), status: status.name().to_owned() })
        }
        AdminRequest::ListClients { user } => {
            let user = our_user(domain, user)?;
            let clients = store.clients_of(user.as_str()).await?;
            let clients = clients
                .into_iter()
                .map(|(client, r)| DeviceEntry { client, status: r.status.name().to_owned(), since_ms: r.since_ms })
                .collect();
            Ok(AdminAnswer::Clients { user: user.to_string(), clients })
        }
        AdminRequest::ListUsers => {
            let mut users: Vec<UserEntry> = Vec::new();
            for (user, client, r) in store.devices().await? {
                let entry = DeviceEntry { client, status: r.status.name().to_owned(), since_ms: r.since_ms };
                match users.last_mut() {
                    Some(last) if last.user == user => last.clients.push(entry),
                    _ => users.push(UserEntry { user, clients: vec![entry] }),
                }
            }
            Ok(AdminAnswer::Users { users })
        }
        AdminRequest::ListRooms => Ok(AdminAnswer::Rooms { rooms: rooms::list_rooms(store).await? }),
        AdminRequest::ShowRoom { room } => Ok(AdminAnswer::Room(Box::new(rooms::show_room(store, room).await?))),
        AdminRequest::ExportLog { room } => Ok(AdminAnswer::Log(Box::new(rooms::export_log(store, room).await?))),
    }
}

/// [`execute`] by the running server `provider`, adding what only it knows to a room's view
/// (its refusals since it started): what the admin socket and the admin listener run.
pub async fn execute_on<S: Store>(
    provider: &Provider<S>,
    code_lifetime: Duration,
    request: &AdminRequest,
) -> Result<AdminAnswer, AdminError> {
    let mut answer = execute(provider.store(), provider.domain(), code_lifetime, request, now_ms()).await?;
    if let AdminAnswer::Room(view) = &mut answer {
        if view.role == "hub" {
            view.refused = Some(provider.refusals(&view.room));
        }
    }
    Ok(answer)
}

/// A user of `domain`, named by its name or its URI.
fn our_user(domain: &str, user: &str) -> Result<UserUri, AdminError> {
    let uri = if user.starts_with("mimi://") { UserUri::parse(user) } else { UserUri::new(domain, user) };
    let uri = uri.map_err(|e| AdminError::BadRequest(format!("`{user}` is not a user name or URI: {e}")))?;
    if uri.domain() != domain {
        return Err(AdminError::BadRequest(format!("{uri} is not a user of {domain}")));
    }
    Ok(uri)
}

/// A client URI of `domain`.
fn our_client(domain: &str, client: &str) -> Result<ClientUri, AdminError> {
    let uri = ClientUri::parse(client).map_err(|e| AdminError::BadRequest(format!("`{client}`: {e}")))?;
    if uri.domain() != domain {
        return Err(AdminError::BadRequest(format!("{uri} is not a client of {domain}")));
    }
    Ok(uri)
}

/// How a command was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// By the running server, through its admin socket.
    Server,
    /// On the store, opened by the command (no server answered on the socket).
    Store,
}

/// Carries out `request` for the provider `config` describes: through the admin socket if a
/// server answers there, else on the store opened here.
pub async fn perform(config: &Config, request: &AdminRequest) -> Result<(AdminAnswer, Via), AdminError> {
    #[cfg(unix)]
    if let Some(answer) = socket::send(&config.admin_socket_path(), request).await? {
        return Ok((answer?, Via::Server));
    }
    let store = RedbStore::open(&config.store_path(), 1).map_err(|e| match e {
        StoreError::Io(why) => AdminError::Store(StoreError::Io(format!(
            "{why} (is a mimi-ds serving {} without answering on its admin socket {}?)",
            config.store_path().display(),
            config.admin_socket_path().display()
        ))),
        e => AdminError::Store(e),
    })?;
    let answer = execute(&store, &config.domain, config.enrollment_code_lifetime, request, now_ms()).await?;
    Ok((answer, Via::Store))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{StoredToken, Voucher};
    use crate::store::memory::MemoryStore;

    #[tokio::test]
    async fn commands_issue_codes_end_devices_and_list_them_for_our_domain_only() {
        let store = MemoryStore::new();
        let day = Duration::from_secs(86_400);
        let add = AdminRequest::AddUser { user: "alice".into(), lifetime_secs: None };
        let AdminAnswer::Code { user, code, expires_ms } =
            execute(&store, "a.example", day, &add, 1_000).await.unwrap()
        else {
            panic!("a code")
        };
        assert_eq!((user.as_str(), expires_ms), ("mimi://a.example/u/alice", 86_401_000));
        let phone = "mimi://a.example/d/alice/phone";
        let register = Write::RegisterClient {
            client: phone.into(),
            user: user.clone(),
            voucher: Voucher::Code { hash: crate::auth::codes::code_hash(&code) },
            token: Some(StoredToken { hash: vec![1], expires_ms: u64::MAX }),
            now_ms: 2_000,
        };
        settle(store.write(register)).await.unwrap();
        let list = AdminRequest::ListClients { user: "mimi://a.example/u/alice".into() };
        let listed = execute(&store, "a.example", day, &list, 3_000).await.unwrap();
        let entry = DeviceEntry { client: phone.into(), status: "active".into(), since_ms: 2_000 };
        assert_eq!(listed, AdminAnswer::Clients { user: user.clone(), clients: vec![entry] });
        let revoke = AdminRequest::RevokeClient { client: phone.into() };
        let ended = execute(&store, "a.example", day, &revoke, 4_000).await.unwrap();
        assert_eq!(ended, AdminAnswer::Ended { client: phone.into(), status: "revoked".into() });
        assert_eq!(store.token(&[1]).await.unwrap(), None);
        let remove = AdminRequest::RemoveClient { client: phone.into() };
        execute(&store, "a.example", day, &remove, 5_000).await.unwrap();
        assert!(matches!(
            execute(&store, "a.example", day, &remove, 6_000).await,
            Err(AdminError::Refused(AuthRefusal::UnknownClient { .. }))
        ));
        let listed = execute(&store, "a.example", day, &list, 7_000).await.unwrap();
        assert_eq!(listed, AdminAnswer::Clients { user, clients: vec![] });
        for bad in [
            AdminRequest::RevokeClient { client: "mimi://b.example/d/bob/phone".into() },
            AdminRequest::AddUser { user: "mimi://b.example/u/bob".into(), lifetime_secs: None },
            AdminRequest::AddUser { user: "alice".into(), lifetime_secs: Some(1) },
            AdminRequest::ListClients { user: "not/a name".into() },
        ] {
            assert!(
                matches!(execute(&store, "a.example", day, &bad, 0).await, Err(AdminError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }
}
