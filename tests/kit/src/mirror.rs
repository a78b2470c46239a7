//! [`HubMirror`]: the hub's side of a room as a test sees it without a provider: an openmls
//! `PublicGroup` (never a member) bootstrapped from the creator's GroupInfo and fed the same messages as
//! the members, deciding on them with the policy checks of `mimi_appsync::adapter`
//! (`check_public_proposal`, `check_public_commit`) exactly as a hub does before sequencing.
//!
//! Its answers separate the hub's decision from a failure of the harness: `Ok(Err(refusal))` is the hub
//! refusing, `Err(KitError)` is something that should not happen.

use mimi_appsync::adapter::{check_public_commit, check_public_proposal, room_state};
use mimi_appsync::policy::{Refusal, Verdict};
use mimi_appsync::state::RoomState;
use mimi_protocol::mls_message::reparse;
use openmls::group::ProposalStore;
use openmls::prelude::*;
use openmls_rust_crypto::OpenMlsRustCrypto;

use crate::error::{mls, KitError};

/// A hub-side `PublicGroup` of a room and the provider holding its proposal store.
pub struct HubMirror {
    provider: OpenMlsRustCrypto,
    group: PublicGroup,
}

impl std::fmt::Debug for HubMirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubMirror").field("epoch", &self.group.group_context().epoch()).finish_non_exhaustive()
    }
}

impl HubMirror {
    /// The hub of the room whose GroupInfo (with the ratchet tree) is `group_info`.
    pub fn from_group_info(group_info: &MlsMessageOut) -> Result<HubMirror, KitError> {
        let MlsMessageBodyIn::GroupInfo(group_info) = reparse(group_info)?.extract() else {
            return Err(KitError::Unexpected { what: "hub bootstrap", expected: "a GroupInfo" });
        };
        let tree = group_info
            .extensions()
            .ratchet_tree()
            .ok_or(KitError::Unexpected { what: "hub bootstrap", expected: "a GroupInfo with the ratchet tree" })?
            .ratchet_tree()
            .clone();
        let provider = OpenMlsRustCrypto::default();
        let (group, _) =
            PublicGroup::from_external(provider.crypto(), provider.storage(), tree, group_info, ProposalStore::new())
                .map_err(mls("hub bootstrap"))?;
        Ok(HubMirror { provider, group })
    }

    /// The hub's group.
    pub fn group(&self) -> &PublicGroup {
        &self.group
    }

    /// The room state as the hub decodes it.
    pub fn state(&self) -> Result<RoomState, KitError> {
        Ok(room_state(&self.group)?)
    }

    /// A standalone proposal: processed and checked against room policy; stored for the next commit if
    /// allowed. `Ok(Err(_))`: refused (and stored nowhere).
    pub fn propose(&mut self, proposal: &MlsMessageOut) -> Result<Result<(), mimi_appsync::Error>, KitError> {
        let message = protocol_message(proposal)?;
        let processed = self.group.process_message(self.provider.crypto(), message).map_err(mls("hub process"))?;
        let ProcessedMessageContent::ProposalMessage(queued) = processed.into_content() else {
            return Err(KitError::Unexpected { what: "hub proposal", expected: "a proposal" });
        };
        if let Err(refusal) = check_public_proposal(&self.group, &queued) {
            return Ok(Err(refusal));
        }
        self.group.add_proposal(self.provider.storage(), *queued).map_err(mls("hub store proposal"))?;
        Ok(Ok(()))
    }

    /// How many proposals the hub holds for the next commit.
    pub fn queued(&self) -> Result<usize, KitError> {
        Ok(self.group.queued_proposals(self.provider.storage()).map_err(mls("hub proposals"))?.len())
    }

    /// Drops every stored proposal (after the commit that was to carry them was refused).
    pub fn discard_proposals(&mut self) -> Result<(), KitError> {
        let queued = self.group.queued_proposals(self.provider.storage()).map_err(mls("hub proposals"))?;
        for (proposal_ref, _) in queued {
            self.group.remove_proposal(self.provider.storage(), &proposal_ref).map_err(mls("hub drop proposal"))?;
        }
        Ok(())
    }

    /// A commit: processed, resolved and checked against room policy; merged if allowed. Returns the
    /// proposals it carried, or the hub's refusal (nothing merged).
    pub fn commit(&mut self, commit: &MlsMessageOut) -> Result<Result<Vec<QueuedProposal>, Refusal>, KitError> {
        let message = protocol_message(commit)?;
        let processed = self.group.process_message(self.provider.crypto(), message).map_err(mls("hub process"))?;
        let checked = check_public_commit(&self.group, self.provider.crypto(), processed)?;
        if let Verdict::NotAllowed(refusal) = checked.verdict {
            return Ok(Err(refusal));
        }
        let proposals = checked.staged.queued_proposals().cloned().collect();
        self.group.merge_commit(self.provider.storage(), *checked.staged).map_err(mls("hub merge"))?;
        Ok(Ok(proposals))
    }
}

/// An outgoing handshake as the `ProtocolMessage` a receiver processes.
pub(crate) fn protocol_message(message: &MlsMessageOut) -> Result<ProtocolMessage, KitError> {
    reparse(message)?
        .try_into_protocol_message()
        .map_err(|_| KitError::Unexpected { what: "handshake", expected: "a PublicMessage or PrivateMessage" })
}
