//! How a test room comes about and grows.
//!
//! [`RoomSetup`] is what the creator puts in the GroupContext (`mimi_appsync::group::room_extensions`):
//! required capabilities, the hub as the external sender (its signature key, credential
//! `mimi://<hub domain>`), and the initial app-data dictionary: a participant list with the creator's
//! user in a role, the policy's roles and base policy, optionally room metadata.
//!
//! Large rooms are grown with [`Invitee`]s and [`invite_all`]: one commit adding many clients together
//! with the participant-list update that room policy requires for them (a client of an unlisted user is
//! refused). [`lightweight_members`] makes invitees that are nothing but a KeyPackage (no client keeps
//! their private parts), for rooms of thousands where a real client per member would cost too much.

use mimi_appsync::components::participant_list::{ParticipantListData, ParticipantListUpdate, UserRolePair};
use mimi_appsync::components::room_metadata::RoomMetaData;
use mimi_appsync::components::PARTICIPANT_LIST;
use mimi_appsync::group::CIPHERSUITE;
use mimi_appsync::ops::UserOperation;
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN, RoomPolicy};
use mimi_appsync::state::initial_dictionary;
use mimi_appsync::uri::{ClientUri, UserUri};
use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

use crate::error::{mls, KitError};

/// The GroupContext of a new room.
#[derive(Debug, Clone)]
pub struct RoomSetup {
    /// The hub's domain: its external-sender credential is `mimi://<hub_domain>`.
    pub hub_domain: String,
    /// The hub's signature public key.
    pub hub_key: Vec<u8>,
    /// Roles and base policy.
    pub policy: RoomPolicy,
    /// The creator's user's role.
    pub creator_role: u32,
    /// Room metadata, if any.
    pub metadata: Option<RoomMetaData>,
}

impl RoomSetup {
    /// A cooperative room (Appendix A) whose creator is `group_admin`, hub `hub_domain` with key
    /// `hub_key`, no metadata.
    pub fn cooperative(hub_domain: &str, hub_key: &[u8]) -> RoomSetup {
        RoomSetup {
            hub_domain: hub_domain.to_owned(),
            hub_key: hub_key.to_vec(),
            policy: presets::cooperative(),
            creator_role: GROUP_ADMIN,
            metadata: None,
        }
    }

    /// The GroupContext extensions for a room created by a client of `creator`.
    pub fn extensions(&self, creator: &UserUri) -> Result<Extensions<GroupContext>, KitError> {
        let list = ParticipantListData {
            participants: vec![UserRolePair { user: creator.as_bytes().to_vec(), role_index: self.creator_role }],
        };
        let dictionary =
            initial_dictionary(&list, &self.policy.roles, None, &self.policy.base_policy, self.metadata.as_ref())?;
        let hub = ExternalSender::new(
            self.hub_key.clone().into(),
            BasicCredential::new(format!("mimi://{}", self.hub_domain).into_bytes()).into(),
        );
        Ok(mimi_appsync::group::room_extensions(dictionary, hub)?)
    }
}

/// A client to add: its URI and a KeyPackage of it.
#[derive(Debug, Clone)]
pub struct Invitee {
    /// The client.
    pub uri: ClientUri,
    /// Its KeyPackage.
    pub key_package: KeyPackage,
}

/// One commit's worth of adds: every invitee's KeyPackage, and one participant-list update listing
/// their users with `role` (a user's invitees must stand together, e.g. a user's devices in a row).
pub fn invite_all(invitees: &[Invitee], role: u32) -> Result<UserOperation, KitError> {
    let mut added_participants: Vec<UserRolePair> = Vec::with_capacity(invitees.len());
    for invitee in invitees {
        let user = invitee.uri.user().as_bytes().to_vec();
        if added_participants.last().is_none_or(|last| last.user != user) {
            added_participants.push(UserRolePair { user, role_index: role });
        }
    }
    let update = ParticipantListUpdate { added_participants, ..Default::default() };
    let bytes = update.tls_serialize_detached().map_err(mls("participant-list update"))?;
    Ok(UserOperation {
        app_data: vec![AppDataUpdateProposal::update(PARTICIPANT_LIST, bytes)],
        adds: invitees.iter().map(|i| i.key_package.clone()).collect(),
        removes: Vec::new(),
    })
}

/// `count` invitees that are only a KeyPackage: clients `mimi://<domain>/d/<prefix><i>/phone` for
/// `i` in `0..count`, in that order, made on every available core (one crypto provider per thread).
pub fn lightweight_members(domain: &str, prefix: &str, count: usize) -> Result<Vec<Invitee>, KitError> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(1);
    std::thread::scope(|s| -> Result<Vec<Invitee>, KitError> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> Result<Vec<(usize, Invitee)>, KitError> {
                    let provider = OpenMlsRustCrypto::default();
                    (t..count)
                        .step_by(threads)
                        .map(|i| {
                            let uri = ClientUri::new(domain, &format!("{prefix}{i}"), "phone")?;
                            let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm())
                                .map_err(mls("signature key"))?;
                            let credential = CredentialWithKey {
                                credential: BasicCredential::new(uri.as_bytes().to_vec()).into(),
                                signature_key: signer.to_public_vec().into(),
                            };
                            let key_package = mimi_appsync::group::key_package(&provider, &signer, credential)?;
                            Ok((i, Invitee { uri, key_package }))
                        })
                        .collect()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(count);
        for h in handles {
            let made = h.join().map_err(|_| KitError::Mls {
                what: "lightweight members",
                why: "a KeyPackage thread panicked".into(),
            })?;
            all.extend(made?);
        }
        all.sort_by_key(|(i, _)| *i);
        Ok(all.into_iter().map(|(_, invitee)| invitee).collect())
    })
}
