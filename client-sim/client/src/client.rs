//! [`Client`]: one device of a user, an openmls 0.9 client with its own signer and MLS storage,
//! registered at its provider and talking to it over the client API ([`crate::api`]).
//!
//! This file holds the client's state and lifecycle (registration with what the provider accepts,
//! renewing its token, KeyPackages, losing state)
//! and what checks read of each room. The rest of its behaviour is split by concern:
//! [`crate::commit`] (rooms and membership changes against the sequencing hub), [`crate::join`]
//! (external joins and resync), [`crate::messages`] (MIMI content messages, franking, abuse
//! reports) and [`crate::inbox`] (reading the room log and the Welcome queue).
//!
//! # Identity and group settings
//! The credential is Basic with the client URI `mimi://<domain>/d/<user>/<device>` as identity,
//! the URI the provider assigned at registration. Every group is created and joined with
//! `MIXED_PLAINTEXT_WIRE_FORMAT_POLICY` (so the hub can validate handshakes), the ratchet tree in
//! Welcomes and GroupInfos, and leaf capabilities naming AppDataDictionary, AppDataUpdate and
//! SelfRemove. A room created here lists the hub's key in `external_senders`, requires
//! AppDataDictionary/AppDataUpdate, and starts with a participant list holding the creator's user
//! with the given role and the roles and base policy of a preset from `mimi_appsync::presets`.
//!
//! # Storage
//! The client is generic over openmls' provider (crypto, randomness and the storage provider that
//! keeps groups, proposals and KeyPackage private keys): [`Client::register`] uses
//! `OpenMlsRustCrypto` (in memory), [`Client::register_with_provider`] takes any other. The
//! client's own bookkeeping (room cursors, own submissions not yet located in the log, the
//! transcript) is kept in memory.
//!
//! Limits: one ciphersuite (0x0001); a client that lost its state rejoins under the same URI
//! only through [`Client::resync`], which starts reading the log at its head (its old leaf still
//! lets it read): from the start, its earlier submissions would look like own entries. For the
//! same reason a *removed* client that had submitted anything cannot rejoin by
//! [`Client::join_external`] under its old URI (a new device can); a request whose answer is lost
//! while the server keeps running may be processed after the doubt was resolved (the request
//! timeout is longer than any server-side wait, so this needs a hung server).

use std::collections::BTreeMap;

use mimi_appsync::group::CIPHERSUITE;
use mimi_appsync::uri::{ClientUri, UserUri};
use mimi_protocol::client_api::KeyPackageUpload;
use mimi_protocol::mls_message::reparse;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

use crate::api::{Connection, Enrollment, Session};
use crate::error::ClientError;
use crate::messages::Delivered;
use crate::room::Room;

/// Attempts a commit or message makes against racing commits before giving up.
pub const MAX_ATTEMPTS: usize = 64;

/// One client (device) of a user at its provider.
pub struct Client<P: OpenMlsProvider = OpenMlsRustCrypto> {
    /// The authenticated API session (carries the client URI).
    pub(crate) session: Session,
    /// Crypto and the client's own MLS storage.
    pub(crate) provider: P,
    /// The signature key.
    pub(crate) signer: SignatureKeyPair,
    /// Credential and public key.
    pub(crate) credential: CredentialWithKey,
    /// Rooms by URI.
    pub(crate) rooms: BTreeMap<String, Room>,
    /// The last Welcome-queue position processed.
    pub(crate) queue_cursor: u64,
}

impl<P: OpenMlsProvider> std::fmt::Debug for Client<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("uri", self.uri()).field("rooms", &self.rooms.keys()).finish_non_exhaustive()
    }
}

impl Client {
    /// Registers `user`'s `device` at a provider with open registration and makes a fresh client
    /// for it, with its MLS state in memory.
    pub async fn register(connection: &Connection, user: &str, device: &str) -> Result<Client, ClientError> {
        Client::register_with_provider(connection, user, device, OpenMlsRustCrypto::default()).await
    }

    /// Registers `user`'s `device` presenting `how` (an enrollment code, a login, another device's
    /// session) and makes a fresh client for it, with its MLS state in memory.
    pub async fn enroll(
        connection: &Connection,
        user: &str,
        device: &str,
        how: Enrollment<'_>,
    ) -> Result<Client, ClientError> {
        let session = connection.enroll(user, device, how).await?;
        Client::from_session(session, OpenMlsRustCrypto::default())
    }
}

impl<P: OpenMlsProvider> Client<P> {
    /// Registers `user`'s `device` at the provider and makes a fresh client for it that keeps its
    /// MLS state in `provider`'s storage.
    pub async fn register_with_provider(
        connection: &Connection,
        user: &str,
        device: &str,
        provider: P,
    ) -> Result<Client<P>, ClientError> {
        let session = connection.register(user, device).await?;
        Client::from_session(session, provider)
    }

    /// A fresh client (new signature key, no rooms) for a device registered with `session`,
    /// keeping its MLS state in `provider`'s storage.
    pub fn from_session(session: Session, provider: P) -> Result<Client<P>, ClientError> {
        let signer =
            SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).map_err(|e| ClientError::mls("key", e))?;
        let credential = CredentialWithKey {
            credential: BasicCredential::new(session.client().as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Ok(Client { session, provider, signer, credential, rooms: BTreeMap::new(), queue_cursor: 0 })
    }

    /// Renews the session's token (before it expires, [`Session::expires_ms`]); the old one
    /// stops working.
    pub async fn renew_session(&mut self) -> Result<(), ClientError> {
        self.session = self.session.renew().await?;
        Ok(())
    }

    /// The API session (for reading a room log raw, e.g. in checks).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The client's URI.
    pub fn uri(&self) -> &ClientUri {
        self.session.client()
    }

    pub(crate) fn room(&self, id: &str) -> Result<&Room, ClientError> {
        self.rooms.get(id).ok_or_else(|| ClientError::NotInRoom(id.to_owned()))
    }

    /// Makes `count` KeyPackages (private parts kept in this client's storage) and uploads them.
    pub async fn upload_key_packages(&self, count: usize) -> Result<(), ClientError> {
        let mut key_packages = Vec::with_capacity(count);
        for _ in 0..count {
            let key_package = mimi_appsync::group::key_package(&self.provider, &self.signer, self.credential.clone())?;
            key_packages.push(reparse(&MlsMessageOut::from(key_package)).map_err(ClientError::wire("KeyPackage"))?);
        }
        self.session.upload_key_packages(&KeyPackageUpload { key_packages }).await
    }

    /// Loses all MLS state: fresh storage, so every group, pending proposal and KeyPackage
    /// private key is gone. What a device keeps outside its MLS store stays: the signature key
    /// and credential, the API session and the Welcome-queue cursor. Returns the rooms it was
    /// in, to [`Client::resync`] (KeyPackages it uploaded earlier are now useless: an
    /// invitation claiming one cannot be joined).
    pub fn lose_state(&mut self) -> Vec<String>
    where
        P: Default,
    {
        self.provider = P::default();
        let rooms = self.rooms.iter().filter(|(_, r)| r.group.is_active() && !r.evicted).map(|(id, _)| id.clone());
        let rooms = rooms.collect();
        self.rooms.clear();
        rooms
    }

    /// The rooms this client is (or was) in.
    pub fn rooms(&self) -> impl Iterator<Item = &str> {
        self.rooms.keys().map(String::as_str)
    }

    /// Whether the client is an active member of `room_id`.
    pub fn is_member(&self, room_id: &str) -> bool {
        self.rooms.get(room_id).is_some_and(|r| r.group.is_active() && !r.evicted)
    }

    /// The room's current epoch as this client sees it.
    pub fn epoch(&self, room_id: &str) -> Result<u64, ClientError> {
        Ok(self.room(room_id)?.group.epoch().as_u64())
    }

    /// The epoch authenticator (equal across members that agree on the epoch's state).
    pub fn epoch_authenticator(&self, room_id: &str) -> Result<Vec<u8>, ClientError> {
        Ok(self.room(room_id)?.group.epoch_authenticator().as_slice().to_vec())
    }

    /// The MLS members, as client URIs, in leaf order.
    pub fn members(&self, room_id: &str) -> Result<Vec<ClientUri>, ClientError> {
        let group = &self.room(room_id)?.group;
        group
            .members()
            .map(|m| Ok(mimi_appsync::adapter::client_of(&m.credential, &|| format!("leaf {}", m.index))?))
            .collect()
    }

    /// The participant list: users with their role index, in list order.
    pub fn participants(&self, room_id: &str) -> Result<Vec<(UserUri, u32)>, ClientError> {
        let state = mimi_appsync::adapter::room_state(self.room(room_id)?.group.public_group())?;
        state.participants.participants.iter().map(|p| Ok((UserUri::from_bytes(&p.user)?, p.role_index))).collect()
    }

    /// The application messages of the room, in hub order (own messages included once their log
    /// position is known).
    pub fn transcript(&self, room_id: &str) -> Result<&[Delivered], ClientError> {
        Ok(&self.room(room_id)?.transcript)
    }

    /// The room-log position processed so far.
    pub fn cursor(&self, room_id: &str) -> Result<u64, ClientError> {
        Ok(self.room(room_id)?.cursor)
    }

    /// The epoch this client (its current membership) joined `room_id` at: messages of earlier
    /// epochs are not for it.
    pub fn joined_epoch(&self, room_id: &str) -> Result<u64, ClientError> {
        Ok(self.room(room_id)?.joined_epoch)
    }

    /// The transcript, mutably: only for fault injection, to show that a checker notices a
    /// dropped, duplicated or reordered delivery.
    pub fn transcript_mut(&mut self, room_id: &str) -> Result<&mut Vec<Delivered>, ClientError> {
        Ok(&mut self.rooms.get_mut(room_id).ok_or_else(|| ClientError::NotInRoom(room_id.to_owned()))?.transcript)
    }
}
