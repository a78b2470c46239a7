//! `/groupInfo`: the GroupInfo, tree and pending proposals for an external joiner, encrypted to
//! the requester and signed with the hub's key. Who may have it is decided by
//! [`crate::hub::admission::group_info`].
//!
//! Exporting a room's tree and room state costs the size of the group, so it is done once per
//! handshake state ([`GroupInfoExport`], published with the room's readers) and every request
//! until the next commit or proposal only encrypts and signs the encoded result; the room's
//! decision lock is taken only to read the group for that first export.

use std::sync::Arc;

use mimi_appsync::state::RoomState;
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{MlsMessageIn, RatchetTreeIn};

use super::{Provider, ProviderError};
use crate::hub::admission::{self, GroupInfoRefusal};
use crate::store::Store;
use mimi_protocol::group_info::{
    GroupInfoRatchetTreeTBE, GroupInfoRequest, GroupInfoResponse, GroupInfoStatus, PendingProposal,
};
use mimi_protocol::ratchet_tree::RatchetTreeOption;
use mimi_protocol::{Body as _, Protocol, WireError};

impl<S: Store> Provider<S> {
    /// `/groupInfo`: the GroupInfo, tree and pending proposals for an external joiner, encrypted
    /// to the requester and signed with the hub's key. The request must be validly signed, and
    /// its credential's user a listed participant allowed to have clients, or preauthorised, or
    /// its credential the calling provider's;
    /// anything else gets `notAuthorized` (an unknown room too, so existence is not revealed).
    ///
    /// `peer`: the mTLS-authenticated provider that asks (`None` on the client API); a request
    /// under its provider credential `mimi://<peer>` is that provider's, served while it hosts a
    /// participant (a follower building its copy of the room).
    pub async fn group_info(
        &self,
        room_id: &str,
        request: &GroupInfoRequest,
        peer: Option<&str>,
    ) -> Result<GroupInfoResponse, ProviderError> {
        let not_authorized = || GroupInfoResponse {
            version: Protocol::Mls10,
            room_id: room_id.as_bytes().to_vec().into(),
            status: GroupInfoStatus::NotAuthorized,
        };
        let refuse = |refusal: GroupInfoRefusal| {
            tracing::info!(room = room_id, %refusal, "groupInfo not authorised");
            not_authorized()
        };
        let requester = match admission::check_group_info_request(&self.crypto, request, peer) {
            Ok(requester) => requester,
            Err(refusal) => return Ok(refuse(refusal)),
        };
        let export = match self.group_info_export(room_id).await {
            Ok(export) => export,
            Err(ProviderError::UnknownRoom(_)) => {
                tracing::info!(room = room_id, %requester, "groupInfo of an unknown room");
                return Ok(not_authorized());
            }
            Err(e) => return Err(e),
        };
        if let Err(refusal) = admission::authorize_group_info(&export.state, &requester) {
            return Ok(refuse(refusal));
        }
        let plaintext = export.plaintext.as_ref().map_err(|stale| ProviderError::Forbidden(stale.to_string()))?;
        let hub_sender = self.hub_external_sender();
        GroupInfoResponse::seal_and_sign_encoded(
            &self.crypto,
            &self.hub_key,
            request,
            room_id.as_bytes(),
            hub_sender,
            plaintext,
        )
        .map_err(|e| match e {
            // Sealing to the requester's `groupInfoPublicKey` fails for a key that is none.
            WireError::Crypto { operation: "hpke seal", .. } => ProviderError::BadRequest(e.to_string()),
            e => ProviderError::internal("groupInfo response", e),
        })
    }

    /// What a `/groupInfo` answer needs of `room_id` in its current handshake state, computed
    /// once per state (under the room's lock only to read the group, the rest after it) and
    /// shared by every request until the next commit or proposal.
    async fn group_info_export(&self, room_id: &str) -> Result<Arc<GroupInfoExport>, ProviderError> {
        let published = self.cell(room_id)?.published.borrow().group_info.clone();
        if let Some(export) = published.get() {
            return Ok(export.clone());
        }
        let (once, state, group_info, ratchet_tree, pending) = {
            let slot = self.lock(room_id).await?;
            // The state may have moved on while we waited for the lock: its own export.
            let once = slot.published.borrow().group_info.clone();
            if let Some(export) = once.get() {
                return Ok(export.clone());
            }
            let room = &slot.room;
            let state = mimi_appsync::adapter::room_state(room.group())
                .map_err(|e| ProviderError::internal("room state", e))?;
            let group_info = admission::current_group_info(room)?;
            let ratchet_tree = RatchetTreeIn::from(room.group().export_ratchet_tree());
            (once, state, group_info, ratchet_tree, room.pending_seqs())
        };
        let plaintext = match group_info {
            Err(stale) => Err(stale),
            Ok(group_info) => {
                let mut pending_proposals = Vec::new();
                for seq in pending {
                    for entry in self.store.log_after(room_id, seq - 1, 1).await? {
                        for m in std::iter::once(&entry.message).chain(&entry.extra) {
                            // Validated when accepted: a logged proposal that no longer decodes is corrupt.
                            let proposal = MlsMessageIn::tls_deserialize_exact(m.as_slice())
                                .map_err(|e| ProviderError::internal("a logged proposal", e))?;
                            pending_proposals.push(PendingProposal { proposal, hub_accepted_time: entry.accepted_ms });
                        }
                    }
                }
                let tbe = GroupInfoRatchetTreeTBE {
                    group_info,
                    ratchet_tree_option: RatchetTreeOption::Full { ratchet_tree },
                    pending_proposals,
                };
                Ok(tbe.encode().map_err(|e| ProviderError::internal("groupInfo plaintext", e))?)
            }
        };
        let export = Arc::new(GroupInfoExport { state, plaintext });
        // A concurrent request may have set it first: either is the same state's.
        let _ = once.set(export.clone());
        Ok(export)
    }
}

/// What every `/groupInfo` answer for one handshake state of a room shares: the room state
/// (who may have it) and the encoded `GroupInfoRatchetTreeTBE` (or why there is none: no
/// GroupInfo for the current epoch), which each answer only encrypts and signs.
#[derive(Debug)]
pub(crate) struct GroupInfoExport {
    state: RoomState,
    plaintext: Result<Vec<u8>, GroupInfoRefusal>,
}
