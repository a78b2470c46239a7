//! A user with several devices. User-level actions (create a room, invite or remove a user)
//! are done through whichever of the user's clients is online; the others learn of them from
//! the room log like any member.

use mimi_appsync::presets::RoomPolicy;
use mimi_appsync::uri::UserUri;

use crate::api::Connection;
use crate::client::{Client, CommitReport};
use crate::error::ClientError;

/// One of a user's devices and whether it is online.
#[derive(Debug)]
struct Device {
    /// The client.
    client: Client,
    /// Offline devices are not used for actions (and a driver does not sync them).
    online: bool,
}

/// A user and its clients.
#[derive(Debug)]
pub struct User {
    /// `mimi://<domain>/u/<name>`.
    uri: UserUri,
    /// The devices, in registration order.
    devices: Vec<Device>,
}

impl User {
    /// Registers `name` with one client per entry of `devices` at the provider, each uploading
    /// `key_packages` KeyPackages.
    pub async fn register(
        connection: &Connection,
        name: &str,
        devices: &[&str],
        key_packages: usize,
    ) -> Result<User, ClientError> {
        let mut out = Vec::with_capacity(devices.len());
        for device in devices {
            let client = Client::register(connection, name, device).await?;
            client.upload_key_packages(key_packages).await?;
            out.push(Device { client, online: true });
        }
        let uri = UserUri::new(connection.domain(), name)?;
        Ok(User { uri, devices: out })
    }

    /// The user's URI.
    pub fn uri(&self) -> &UserUri {
        &self.uri
    }

    /// Adds a device registered elsewhere (e.g. one that joins rooms by external commit).
    pub fn add_device(&mut self, client: Client) {
        self.devices.push(Device { client, online: true });
    }

    /// Takes the last device out of the user (e.g. to drive it from its own task).
    pub fn take_client(&mut self) -> Option<Client> {
        self.devices.pop().map(|d| d.client)
    }

    /// The clients, in registration order.
    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.devices.iter().map(|d| &d.client)
    }

    /// The clients, mutably.
    pub fn clients_mut(&mut self) -> impl Iterator<Item = &mut Client> {
        self.devices.iter_mut().map(|d| &mut d.client)
    }

    /// The online clients, mutably.
    pub fn online_mut(&mut self) -> impl Iterator<Item = &mut Client> {
        self.devices.iter_mut().filter(|d| d.online).map(|d| &mut d.client)
    }

    /// Device `index`.
    pub fn client_mut(&mut self, index: usize) -> Option<&mut Client> {
        self.devices.get_mut(index).map(|d| &mut d.client)
    }

    /// Marks device `index` online or offline.
    pub fn set_online(&mut self, index: usize, online: bool) {
        if let Some(d) = self.devices.get_mut(index) {
            d.online = online;
        }
    }

    /// The first online client (that is a member of `room`, if given).
    fn acting(&mut self, room: Option<&str>) -> Result<&mut Client, ClientError> {
        self.devices
            .iter_mut()
            .filter(|d| d.online && room.is_none_or(|r| d.client.is_member(r)))
            .map(|d| &mut d.client)
            .next()
            .ok_or_else(|| ClientError::NotInRoom(format!("{} (no online client)", room.unwrap_or("any room"))))
    }

    /// Creates room `name` with `policy`, this user holding `role`, then invites the user's other
    /// online devices by adding them (their Welcomes wait in their queues).
    pub async fn create_room(&mut self, name: &str, policy: &RoomPolicy, role: u32) -> Result<String, ClientError> {
        let room = self.acting(None)?.create_room(name, policy, role).await?;
        let user = self.uri.clone();
        let acting = self.acting(Some(&room))?;
        let me = acting.uri().clone();
        let others = acting.claim_key_packages(&room, &user).await?;
        let others: Vec<_> = others.into_iter().filter(|kp| !credential_is(kp, me.as_bytes())).collect();
        if !others.is_empty() {
            let acting = self.acting(Some(&room))?;
            acting
                .commit_with(&room, "add own devices", |_| Ok(mimi_appsync::ops::add_own_device(others.clone())))
                .await?;
        }
        Ok(room)
    }

    /// Invites `user` (all its clients) with `role`, through an online member client.
    pub async fn invite(&mut self, room: &str, user: &UserUri, role: u32) -> Result<CommitReport, ClientError> {
        self.acting(Some(room))?.invite_user(room, user, role).await
    }

    /// Removes `user` (all its clients), through an online member client.
    pub async fn remove(&mut self, room: &str, user: &UserUri) -> Result<CommitReport, ClientError> {
        self.acting(Some(room))?.remove_user(room, user).await
    }

    /// Every online client joins what waits in its queue and catches up with `room`.
    pub async fn sync(&mut self, room: &str) -> Result<(), ClientError> {
        for client in self.online_mut() {
            client.accept_welcomes(std::time::Duration::ZERO).await?;
            if client.is_member(room) {
                client.catch_up(room).await?;
            }
        }
        Ok(())
    }
}

/// Whether a KeyPackage's credential identity is `identity`.
fn credential_is(kp: &openmls::prelude::KeyPackage, identity: &[u8]) -> bool {
    openmls::prelude::BasicCredential::try_from(kp.leaf_node().credential().clone())
        .is_ok_and(|c| c.identity() == identity)
}
