//! Joining a room without a Welcome: by external commit ([`Client::join_external`]), and rejoining
//! under the same URI after losing all MLS state ([`Client::resync`]).
//!
//! The GroupInfo comes from the room's hub (through the client's own provider, which relays the
//! request when the hub is another provider): the request is signed, the answer encrypted to a
//! fresh HPKE key and signed by the hub (protocol-06 §5.6). The external commit is then submitted
//! like any other and retried when it loses a race.

use std::time::Duration;

use mimi_appsync::group::CIPHERSUITE;
use mimi_protocol::group_info::{GroupInfoRequest, GroupInfoStatus};
use mimi_protocol::ratchet_tree::RatchetTreeOption;
use mimi_protocol::update::{HandshakeBundle, UpdateRoomOutcome};
use mimi_protocol::DEFAULT_MAX_BODY_LEN;
use openmls::prelude::tls_codec::VLBytes;
use openmls::prelude::*;

use crate::client::{Client, MAX_ATTEMPTS};
use crate::error::ClientError;
use crate::room::{Own, Room};

impl<P: OpenMlsProvider> Client<P> {
    /// Joins `room_id` by external commit: requests the GroupInfo (signed request, answer
    /// encrypted to a fresh HPKE key and signed by the hub), builds the external commit with the
    /// tree and the epoch's pending proposals, and submits it; retried on lost races. Returns
    /// the epoch joined. The room's hub may be another provider (the client's own relays the
    /// request): the answer's signature is checked under its `hub_sender`, and that sender must
    /// be in the room's `external_senders` (from the GroupInfo, which a member signed).
    pub async fn join_external(&mut self, room_id: &str) -> Result<u64, ClientError> {
        self.join_external_after(room_id, 0).await
    }

    /// [`Client::join_external`], reading the room log after position `after` once joined
    /// (everything up to it predates the join).
    async fn join_external_after(&mut self, room_id: &str, after: u64) -> Result<u64, ClientError> {
        if self.is_member(room_id) {
            return Err(ClientError::Protocol { what: "external join".into(), why: format!("already in {room_id}") });
        }
        for _ in 0..MAX_ATTEMPTS {
            let mut ikm = [0u8; 32];
            getrandom::fill(&mut ikm).map_err(|e| ClientError::mls("randomness", e))?;
            let keys = self
                .provider
                .crypto()
                .derive_hpke_keypair(CIPHERSUITE.hpke_config(), &ikm)
                .map_err(|e| ClientError::mls("HPKE key", e))?;
            let request = GroupInfoRequest::sign(
                CIPHERSUITE,
                self.credential.credential.clone(),
                self.credential.signature_key.clone(),
                keys.public.clone().into(),
                VLBytes::new(Vec::new()),
                &self.signer,
            )
            .map_err(|source| ClientError::Wire { what: "groupInfo".into(), source })?;
            let response = self.session.group_info(room_id, &request).await?;
            // The room's hub may be another provider than ours (the request was relayed), so
            // the signer is the response's `hub_sender`; it is trusted only once the GroupInfo,
            // signed by a member, lists it in `external_senders` (checked below).
            let hub_sender = match &response.status {
                GroupInfoStatus::Success(s) => ExternalSender::from(s.hub_sender.clone()),
                other => return Err(ClientError::Refused { what: "groupInfo".into(), outcome: format!("{other:?}") }),
            };
            let tbe = response
                .verify_and_open(self.provider.crypto(), &keys.private, DEFAULT_MAX_BODY_LEN)
                .map_err(|source| ClientError::Wire { what: "groupInfo".into(), source })?;
            let RatchetTreeOption::Full { ratchet_tree } = tbe.ratchet_tree_option else {
                return Err(ClientError::Protocol { what: "groupInfo".into(), why: "no ratchet tree".into() });
            };
            let mut proposals = Vec::new();
            for p in tbe.pending_proposals {
                match p.proposal.extract() {
                    MlsMessageBodyIn::PublicMessage(m) => proposals.push(m),
                    _ => {
                        return Err(ClientError::Protocol {
                            what: "groupInfo".into(),
                            why: "a pending proposal is not a PublicMessage".into(),
                        })
                    }
                }
            }
            let (mut group, bundle) = mimi_appsync::group::external_join(
                &self.provider,
                &self.signer,
                self.credential.clone(),
                tbe.group_info,
                Some(ratchet_tree),
                proposals,
            )?;
            if !group.extensions().external_senders().is_some_and(|senders| senders.contains(&hub_sender)) {
                let _ = group.delete(self.provider.storage());
                return Err(ClientError::Protocol {
                    what: "groupInfo".into(),
                    why: "signed by a key the room does not list in external_senders".into(),
                });
            }
            let bundle = HandshakeBundle::from_commit(&bundle).map_err(ClientError::wire("external commit"))?;
            let answer = self.session.update(room_id, bundle).await;
            let outcome = match answer {
                Ok(r) => r,
                Err(e) => {
                    let _ = group.delete(self.provider.storage());
                    return Err(e);
                }
            };
            match outcome.outcome {
                UpdateRoomOutcome::Success { .. } => {
                    group.merge_pending_commit(&self.provider).map_err(|e| ClientError::mls("merge", e))?;
                    let joined = group.epoch().as_u64();
                    let mut room = Room::new(group, after);
                    room.own.push_back(Own::Commit { merged: true, in_doubt: false });
                    self.rooms.insert(room_id.to_owned(), room);
                    self.catch_up(room_id).await?;
                    return Ok(joined);
                }
                UpdateRoomOutcome::WrongEpoch { .. } | UpdateRoomOutcome::InvalidProposal { .. } => {
                    group.delete(self.provider.storage()).map_err(|e| ClientError::mls("delete group", e))?;
                }
                UpdateRoomOutcome::NotAllowed => {
                    let _ = group.delete(self.provider.storage());
                    return Err(ClientError::Refused {
                        what: "external join".into(),
                        outcome: format!("notAllowed: {}", outcome.error_description),
                    });
                }
            }
        }
        Err(ClientError::TooManyRetries { what: "external join".into(), attempts: MAX_ATTEMPTS })
    }

    /// Rejoins `room_id` after [`Client::lose_state`] by external commit under the same URI.
    /// The old leaf is still in the group with the same signature key, so openmls puts a Remove
    /// of it into the external commit (RFC 9420 resync). The log is read from its current head
    /// on: positions before it include the old incarnation's own submissions, which cannot be
    /// told apart any more. Returns the epoch joined.
    pub async fn resync(&mut self, room_id: &str) -> Result<u64, ClientError> {
        let mut head = 0;
        loop {
            let page = self.session.read_log(room_id, head, Duration::ZERO).await?;
            if page.next_after == head {
                break;
            }
            head = page.next_after;
        }
        self.join_external_after(room_id, head).await
    }
}
