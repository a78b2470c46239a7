//! Creating rooms and changing their membership and state, against the sequencing hub.
//!
//! [`Client::commit_with`] catches up with the room log, builds the commit from the room's
//! current state (with `mimi_appsync::ops::commit`, so app-data changes are computed by the same
//! reducer the hub runs) and submits it. The hub orders commits: of several built on the same
//! epoch, the first it accepts wins. So the commit stays pending until the hub answers:
//! - `success`: the commit is merged exactly at its position in the log (see [`crate::inbox`]);
//! - `wrongEpoch` (another commit won) or `invalidProposal` (a proposal the hub accepted is
//!   missing): the pending commit is cleared, the winner is processed from the log, and the
//!   commit is rebuilt and resubmitted, at most [`MAX_ATTEMPTS`] times;
//! - `notAllowed`: cleared and reported as [`ClientError::Refused`].
//!
//! Proposals (leaving, SelfRemove) go the same way as one bundle ([`Client::leave`]); another
//! member commits them.

use mimi_appsync::components::participant_list::{ParticipantListData, UserRolePair};
use mimi_appsync::components::room_metadata::RoomMetaData;
use mimi_appsync::group::{required_capabilities, CIPHERSUITE};
use mimi_appsync::ops::{self, LeaveVia, UserOperation};
use mimi_appsync::presets::RoomPolicy;
use mimi_appsync::state::initial_dictionary;
use mimi_appsync::uri::{ClientUri, UserUri};
use mimi_protocol::franking::{FrankingAgentData, FRANKING_AGENT_COMPONENT_ID};
use mimi_protocol::key_material::{ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialRequestTBS};
use mimi_protocol::update::{HandshakeBundle, UpdateRoomOutcome};
use mimi_protocol::{IdentifierUri, Protocol};
use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;

use crate::client::{Client, MAX_ATTEMPTS};
use crate::error::ClientError;
use crate::room::{member_room, Own, Room};

/// An attempt that lost a race: built on `built_on`, refused with `wrongEpoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostRace {
    /// The epoch the refused commit was built on.
    pub built_on: u64,
    /// The hub's current epoch in the refusal.
    pub current_epoch: u64,
}

/// How an accepted commit got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitReport {
    /// The epoch the accepted commit was built on (the room is at `epoch + 1` after it).
    pub epoch: u64,
    /// Earlier attempts refused with `wrongEpoch`, in order.
    pub lost: Vec<LostRace>,
}

impl<P: OpenMlsProvider> Client<P> {
    /// Creates room `mimi://<domain>/r/<name>` at this client's provider (its hub) with `policy`
    /// and this client's user as the only participant, with `creator_role`. Returns the room URI.
    pub async fn create_room(
        &mut self,
        name: &str,
        policy: &RoomPolicy,
        creator_role: u32,
    ) -> Result<String, ClientError> {
        self.create_room_with(name, policy, creator_role, false).await
    }

    /// [`Client::create_room`] with the hub as franking agent: the GroupContext carries the
    /// `franking_agent` component (0x0021) holding the hub's key and credential, so the hub
    /// franks every message (see [`crate::messages`]).
    pub async fn create_franking_room(
        &mut self,
        name: &str,
        policy: &RoomPolicy,
        creator_role: u32,
    ) -> Result<String, ClientError> {
        self.create_room_with(name, policy, creator_role, true).await
    }

    async fn create_room_with(
        &mut self,
        name: &str,
        policy: &RoomPolicy,
        creator_role: u32,
        franking: bool,
    ) -> Result<String, ClientError> {
        let room_id = format!("mimi://{}/r/{name}", self.uri().domain());
        let hub_sender = self.session.connection().hub_key().await?;
        let list = ParticipantListData {
            participants: vec![UserRolePair { user: self.uri().user().as_bytes().to_vec(), role_index: creator_role }],
        };
        let mut dictionary = initial_dictionary(&list, &policy.roles, None, &policy.base_policy, None)?;
        if franking {
            let agent = FrankingAgentData {
                franking_signature_key: hub_sender.signature_key.clone(),
                credential: hub_sender.credential.clone(),
            };
            let encoded = agent
                .tls_serialize_detached()
                .map_err(|e| ClientError::Protocol { what: "franking_agent".into(), why: e.to_string() })?;
            dictionary.insert(FRANKING_AGENT_COMPONENT_ID, encoded);
        }
        let hub: ExternalSender = hub_sender.into();
        let extensions = mimi_appsync::group::room_extensions(dictionary, hub)?;
        let mut group =
            mimi_appsync::group::create_room_group(&self.provider, &self.signer, self.credential.clone(), extensions)?;
        let group_info = group
            .export_group_info(self.provider.crypto(), &self.signer, true)
            .map_err(|e| ClientError::mls("export GroupInfo", e))?
            .tls_serialize_detached()
            .map_err(|e| ClientError::mls("encode GroupInfo", e))?;
        if let Err(e) = self.session.create_room(&room_id, group_info).await {
            let _ = group.delete(self.provider.storage());
            return Err(e);
        }
        self.rooms.insert(room_id.clone(), Room::new(group, 0));
        Ok(room_id)
    }

    /// Claims one KeyPackage for each client of `user` (signed `KeyMaterialRequest` for `room`).
    pub async fn claim_key_packages(&self, room: &str, user: &UserUri) -> Result<Vec<KeyPackage>, ClientError> {
        let tbs = KeyMaterialRequestTBS {
            protocol: Protocol::Mls10,
            requesting_user: IdentifierUri::new(self.uri().user().as_str()),
            target_user: IdentifierUri::new(user.as_str()),
            room_id: IdentifierUri::new(room),
            acceptable_ciphersuites: vec![CIPHERSUITE.into()],
            required_capabilities: required_capabilities(),
            requester_signature_key: self.credential.signature_key.clone(),
            requester_credential: self.credential.credential.clone(),
        };
        let request = KeyMaterialRequest::sign(tbs, &self.signer)
            .map_err(|source| ClientError::Wire { what: "keyMaterial".into(), source })?;
        let response = self.session.key_material(&request).await?;
        if !response.user_status.allows_clients() {
            return Err(ClientError::Refused {
                what: format!("keyMaterial for {user}"),
                outcome: format!("{:?}", response.user_status),
            });
        }
        let mut out = Vec::new();
        for client in response.clients {
            if let ClientKeyMaterialStatus::Success { key_package } = client.status {
                out.push(
                    key_package
                        .validate(self.provider.crypto(), ProtocolVersion::Mls10)
                        .map_err(|e| ClientError::mls("claimed KeyPackage", e))?,
                );
            }
        }
        if out.is_empty() {
            return Err(ClientError::Refused {
                what: format!("keyMaterial for {user}"),
                outcome: "no KeyPackage".into(),
            });
        }
        Ok(out)
    }

    /// Invites `user` with `role`: claims its clients' KeyPackages and adds them all in one commit
    /// with the participant-list update.
    pub async fn invite_user(&mut self, room: &str, user: &UserUri, role: u32) -> Result<CommitReport, ClientError> {
        let key_packages = self.claim_key_packages(room, user).await?;
        self.commit_with(room, "invite", |_| Ok(ops::invite_user(user, role, key_packages.clone())?)).await
    }

    /// Removes `user` from the participant list and all of its clients from the group.
    pub async fn remove_user(&mut self, room: &str, user: &UserUri) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "remove", |g| Ok(ops::remove_user(g.public_group(), user)?)).await
    }

    /// Commits a key update (an empty commit with an update path).
    pub async fn key_update(&mut self, room: &str) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "key update", |_| Ok(UserOperation::default())).await
    }

    /// Builds a commit from `build` (called with the caught-up group on every attempt) and gets
    /// it accepted, recovering from lost races (module docs).
    pub async fn commit_with(
        &mut self,
        room_id: &str,
        what: &str,
        mut build: impl FnMut(&MlsGroup) -> Result<UserOperation, ClientError>,
    ) -> Result<CommitReport, ClientError> {
        let mut lost = Vec::new();
        for _ in 0..MAX_ATTEMPTS {
            self.catch_up(room_id).await?;
            let Client { rooms, provider, signer, session, .. } = self;
            let room = member_room(rooms, room_id)?;
            let epoch = room.group.epoch().as_u64();
            let op = build(&room.group)?;
            let bundle = ops::commit(&mut room.group, provider, signer, op)?;
            let bundle = HandshakeBundle::from_commit(&bundle).map_err(ClientError::wire("commit"))?;
            let answer = session.update(room_id, bundle).await;
            let response = match answer {
                Ok(r) => r,
                Err(e) if e.is_in_doubt() => {
                    room.own.push_back(Own::Commit { merged: false, in_doubt: true });
                    return Err(e);
                }
                Err(e) => {
                    room.clear_pending(provider)?;
                    return Err(e);
                }
            };
            match response.outcome {
                UpdateRoomOutcome::Success { .. } => {
                    room.own.push_back(Own::Commit { merged: false, in_doubt: false });
                    // Merged at its log position; if the provider is unreachable right now, the
                    // next catch-up does it. The commit is accepted either way.
                    match self.catch_up(room_id).await {
                        Err(e) if !e.is_in_doubt() => return Err(e),
                        _ => return Ok(CommitReport { epoch, lost }),
                    }
                }
                UpdateRoomOutcome::WrongEpoch { current_epoch } => {
                    room.clear_pending(provider)?;
                    lost.push(LostRace { built_on: epoch, current_epoch });
                }
                UpdateRoomOutcome::InvalidProposal { .. } => room.clear_pending(provider)?,
                UpdateRoomOutcome::NotAllowed => {
                    room.clear_pending(provider)?;
                    return Err(ClientError::Refused {
                        what: what.to_owned(),
                        outcome: format!("notAllowed: {}", response.error_description),
                    });
                }
            }
        }
        Err(ClientError::TooManyRetries { what: what.to_owned(), attempts: MAX_ATTEMPTS })
    }

    /// Bans `user`: its role becomes `banned` and all its clients are removed, in one commit.
    pub async fn ban_user(&mut self, room: &str, user: &UserUri) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "ban", |g| Ok(ops::ban_user(g.public_group(), user)?)).await
    }

    /// Unbans `user` to `role` (its clients are not re-added; they join again by external commit
    /// or are invited).
    pub async fn unban_user(&mut self, room: &str, user: &UserUri, role: u32) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "unban", |g| Ok(ops::unban_user(g.public_group(), user, role)?)).await
    }

    /// Changes `user`'s role (own role included).
    pub async fn change_role(&mut self, room: &str, user: &UserUri, role: u32) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "change role", |g| Ok(ops::change_role(g.public_group(), user, role)?)).await
    }

    /// Replaces the room metadata with the current one as changed by `edit` (the room URI is
    /// filled in while unset).
    pub async fn set_room_metadata(
        &mut self,
        room: &str,
        edit: impl Fn(&mut RoomMetaData),
    ) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "set room metadata", |g| {
            let mut metadata = mimi_appsync::adapter::room_state(g.public_group())?.metadata;
            if metadata.room_uri.uri.is_empty() {
                metadata.room_uri.uri = room.as_bytes().to_vec();
            }
            edit(&mut metadata);
            Ok(ops::set_room_metadata(&metadata)?)
        })
        .await
    }

    /// Removes `device`, another client of this client's user, by a commit of this client.
    pub async fn remove_own_device(&mut self, room: &str, device: &ClientUri) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "remove own device", |g| Ok(ops::remove_own_device(g.public_group(), device)?)).await
    }

    /// Leaves the room: proposes the removal of this client's user from the participant list
    /// and of all its clients, this one by `via` (`mimi_appsync::ops::leave`). A member cannot
    /// commit its own removal: another member commits the proposals (any commit does, e.g.
    /// [`Client::key_update`]); until then nobody in the room can send messages (openmls
    /// refuses to encrypt while proposals are pending).
    pub async fn leave(&mut self, room: &str, via: LeaveVia) -> Result<(), ClientError> {
        self.propose(room, "leave", |group, provider, signer, me| Ok(ops::leave(group, provider, signer, me, via)?))
            .await
    }

    /// Proposes the removal of this device only, by SelfRemove (the user stays listed); another
    /// member commits it, as for [`Client::leave`].
    pub async fn self_remove(&mut self, room: &str) -> Result<(), ClientError> {
        self.propose(room, "self remove", |group, provider, signer, _| {
            Ok(vec![group
                .leave_group_via_self_remove(provider, signer)
                .map_err(|e| ClientError::mls("SelfRemove proposal", e))?])
        })
        .await
    }

    /// Sends the proposals `build` makes (called with the caught-up group on every attempt) as
    /// one bundle (`moreProposals`, one log position); on `wrongEpoch` they are dropped and
    /// rebuilt after catching up.
    async fn propose(
        &mut self,
        room_id: &str,
        what: &str,
        mut build: impl FnMut(&mut MlsGroup, &P, &SignatureKeyPair, &ClientUri) -> Result<Vec<MlsMessageOut>, ClientError>,
    ) -> Result<(), ClientError> {
        for _ in 0..MAX_ATTEMPTS {
            self.catch_up(room_id).await?;
            let Client { rooms, provider, signer, session, .. } = self;
            let room = member_room(rooms, room_id)?;
            let messages = build(&mut room.group, provider, signer, session.client())?;
            let bundle = HandshakeBundle::from_proposals(&messages).map_err(ClientError::wire(what))?;
            let response = match session.update(room_id, bundle).await {
                Ok(r) => r,
                Err(e) => {
                    if e.is_in_doubt() {
                        room.own.push_back(Own::Proposals { in_doubt: true });
                    } else {
                        room.clear_proposals(provider)?;
                    }
                    return Err(e);
                }
            };
            match response.outcome {
                UpdateRoomOutcome::Success { .. } => {
                    room.own.push_back(Own::Proposals { in_doubt: false });
                    return match self.catch_up(room_id).await {
                        Err(e) if !e.is_in_doubt() => Err(e),
                        _ => Ok(()),
                    };
                }
                UpdateRoomOutcome::WrongEpoch { .. } => room.clear_proposals(provider)?,
                UpdateRoomOutcome::NotAllowed | UpdateRoomOutcome::InvalidProposal { .. } => {
                    room.clear_proposals(provider)?;
                    let outcome = match response.outcome {
                        UpdateRoomOutcome::NotAllowed => "notAllowed",
                        _ => "invalidProposal",
                    };
                    return Err(ClientError::Refused {
                        what: what.to_owned(),
                        outcome: format!("{outcome}: {}", response.error_description),
                    });
                }
            }
        }
        Err(ClientError::TooManyRetries { what: what.to_owned(), attempts: MAX_ATTEMPTS })
    }
}
