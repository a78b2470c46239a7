//! A user with several devices. User-level actions (create a room, invite or remove a user)
//! are done through whichever of the user's clients is online; the others learn of them from
//! the room log like any member.

use mimi_appsync::components::room_metadata::RoomMetaData;
use mimi_appsync::ops::LeaveVia;
use mimi_appsync::presets::RoomPolicy;
use mimi_appsync::uri::UserUri;
use mimi_client::{Client, ClientError, CommitReport, Connection};

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

    /// The online clients.
    pub fn online(&self) -> impl Iterator<Item = &Client> {
        self.devices.iter().filter(|d| d.online).map(|d| &d.client)
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

    /// The first online client of this user that is a member of `room` (the one user-level
    /// actions go through).
    pub fn online_member(&mut self, room: &str) -> Result<&mut Client, ClientError> {
        self.acting(Some(room))
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

    /// Bans `user` (role `banned`, all its clients removed), through an online member client.
    pub async fn ban(&mut self, room: &str, user: &UserUri) -> Result<CommitReport, ClientError> {
        self.acting(Some(room))?.ban_user(room, user).await
    }

    /// Unbans `user` to `role`, through an online member client.
    pub async fn unban(&mut self, room: &str, user: &UserUri, role: u32) -> Result<CommitReport, ClientError> {
        self.acting(Some(room))?.unban_user(room, user, role).await
    }

    /// Changes `user`'s role (this user's own included), through an online member client.
    pub async fn change_role(&mut self, room: &str, user: &UserUri, role: u32) -> Result<CommitReport, ClientError> {
        self.acting(Some(room))?.change_role(room, user, role).await
    }

    /// Changes the room metadata with `edit`, through an online member client.
    pub async fn set_room_metadata(
        &mut self,
        room: &str,
        edit: impl Fn(&mut RoomMetaData),
    ) -> Result<CommitReport, ClientError> {
        self.acting(Some(room))?.set_room_metadata(room, edit).await
    }

    /// Proposes leaving `room` (the user and all its clients, see [`Client::leave`]) through an
    /// online member client; another member must commit.
    pub async fn leave(&mut self, room: &str, via: LeaveVia) -> Result<(), ClientError> {
        self.acting(Some(room))?.leave(room, via).await
    }

    /// The index of the device named `device`.
    pub fn device_index(&self, device: &str) -> Option<usize> {
        self.devices.iter().position(|d| d.client.uri().device() == device)
    }

    /// The device named `device`.
    pub fn device_mut(&mut self, device: &str) -> Result<&mut Client, ClientError> {
        let index = self.device_index(device).ok_or_else(|| self.no_device(device))?;
        Ok(&mut self.devices[index].client)
    }

    fn no_device(&self, device: &str) -> ClientError {
        ClientError::Protocol { what: self.uri.to_string(), why: format!("no device {device}") }
    }

    /// Whether device `index` is online.
    pub fn is_online(&self, index: usize) -> bool {
        self.devices.get(index).is_some_and(|d| d.online)
    }

    /// Takes device `device` offline: it neither reads nor acts until [`User::go_online`].
    pub fn go_offline(&mut self, device: &str) -> Result<(), ClientError> {
        let index = self.device_index(device).ok_or_else(|| self.no_device(device))?;
        self.set_online(index, false);
        Ok(())
    }

    /// Brings device `device` back online: it joins what waits in its queue and catches up with
    /// every room it is in from its cursors.
    pub async fn go_online(&mut self, device: &str) -> Result<(), ClientError> {
        let index = self.device_index(device).ok_or_else(|| self.no_device(device))?;
        self.set_online(index, true);
        self.devices[index].client.catch_up_all().await
    }

    /// Registers a new device `device` at `connection` and joins `room` with it by external
    /// commit (no other client of the user is involved). Returns the epoch joined.
    pub async fn add_device_external(
        &mut self,
        connection: &Connection,
        device: &str,
        room: &str,
    ) -> Result<u64, ClientError> {
        let mut client = Client::register(connection, self.uri.name(), device).await?;
        let epoch = client.join_external(room).await?;
        self.add_device(client);
        Ok(epoch)
    }

    /// Removes device `device` from `room`: the device proposes its own removal by SelfRemove
    /// and another online member client of this user commits it (the user stays listed).
    pub async fn remove_device(&mut self, room: &str, device: &str) -> Result<CommitReport, ClientError> {
        let index = self.device_index(device).ok_or_else(|| self.no_device(device))?;
        let committer = self
            .devices
            .iter()
            .position(|d| d.online && d.client.uri().device() != device && d.client.is_member(room))
            .ok_or_else(|| ClientError::NotInRoom(format!("{room} (no other online client of {})", self.uri)))?;
        self.devices[index].client.self_remove(room).await?;
        let report = self.devices[committer].client.key_update(room).await?;
        self.devices[index].client.catch_up(room).await?;
        Ok(report)
    }

    /// Device `device` loses its MLS state ([`Client::lose_state`]) and resyncs every room it
    /// was in by external commit under the same URI ([`Client::resync`]).
    pub async fn lose_state_and_resync(&mut self, device: &str) -> Result<Vec<String>, ClientError> {
        let client = self.device_mut(device)?;
        let rooms = client.lose_state();
        for room in &rooms {
            client.resync(room).await?;
        }
        Ok(rooms)
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
