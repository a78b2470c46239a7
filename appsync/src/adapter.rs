//! openmls glue: from a processed commit to a policy decision, identically for clients
//! (`MlsGroup`, through `MlsGroup::public_group()`) and the hub (`PublicGroup`).
//!
//! Flow on receipt of a commit (client or hub):
//! 1. `process_message` returns `StagedCommitMessage`, or `UnresolvedAppDataCommit` when the
//!    commit carries AppDataUpdates;
//! 2. for the latter, [`resolve_commit`] runs the reducer ([`crate::reducer::fill_updater`]) and
//!    lets the caller stage the commit with the computed entries;
//! 3. [`check_staged_commit`] describes the staged commit ([`describe_commit`]), evaluates it
//!    against the state before it ([`room_state`]) and cross-checks that the dictionary openmls
//!    staged is the one the policy engine derived;
//! 4. the caller merges only if the verdict is `Allowed`.
//!
//! A committer can run step 3 on its own pending commit before sending it.
//!
//! A standalone proposal (not part of a commit) is checked with [`check_public_proposal`] before
//! the hub stores and forwards it.

use openmls::prelude::tls_codec::{Deserialize, DeserializeBytes, Serialize, VLBytes};
use openmls::prelude::*;

use crate::error::Error;
use crate::policy::{
    evaluate, evaluate_proposal, Actor, CommitDescription, OtherProposal, ProposalKind, Proposed, Verdict,
};
use crate::reducer;
use crate::state::{dictionary_of, RoomState};
use crate::uri::ClientUri;

/// The client URI of a Basic credential.
pub fn client_of(credential: &Credential, whom: &dyn Fn() -> String) -> Result<ClientUri, Error> {
    let basic = BasicCredential::try_from(credential.clone())
        .map_err(|e| Error::InvalidCredential { whom: whom(), reason: e.to_string() })?;
    ClientUri::from_bytes(basic.identity())
        .map_err(|e| Error::InvalidCredential { whom: whom(), reason: e.to_string() })
}

/// The identity of a Basic credential (for external senders, whose identity need not be a
/// client URI).
fn identity_of(credential: &Credential) -> Vec<u8> {
    BasicCredential::try_from(credential.clone())
        .map(|b| b.identity().to_vec())
        .unwrap_or_else(|_| credential.serialized_content().to_vec())
}

/// The room state of a group (the hub's `PublicGroup`, or `MlsGroup::public_group()`).
pub fn room_state(group: &PublicGroup) -> Result<RoomState, Error> {
    let members = group
        .members()
        .map(|m| client_of(&m.credential, &|| format!("leaf {}", m.index.u32())))
        .collect::<Result<Vec<_>, _>>()?;
    RoomState::from_group_context(group.group_context(), members)
}

/// The credential of external sender `index` of the group's `external_senders` extension.
fn external_sender_identity(group: &PublicGroup, index: &SenderExtensionIndex) -> Result<Vec<u8>, Error> {
    let codec = |e: tls_codec::Error| Error::OpenMls(format!("external sender: {e}"));
    let index_bytes = index.tls_serialize_detached().map_err(codec)?;
    let i = u32::tls_deserialize_exact_bytes(&index_bytes).map_err(codec)? as usize;
    let sender = group
        .group_context()
        .extensions()
        .external_senders()
        .and_then(|senders| senders.get(i))
        .ok_or_else(|| Error::OpenMls(format!("no external sender {i}")))?;
    // ExternalSender's fields are crate-private in openmls 0.9; read them from its encoding.
    let bytes = sender.tls_serialize_detached().map_err(codec)?;
    let (_signature_key, mut rest) = VLBytes::tls_deserialize_bytes(&bytes).map_err(codec)?;
    let credential = Credential::tls_deserialize(&mut rest).map_err(codec)?;
    Ok(identity_of(&credential))
}

/// The actor behind a proposal or commit sender. `committer` is the commit's committer, which
/// is the proposer of the proposals an external commit carries inline (`None` for standalone
/// proposals, which never have that sender).
fn actor_of(
    group: &PublicGroup,
    sender: &Sender,
    committer: Option<&Actor>,
    proposal: &Proposal,
) -> Result<Actor, Error> {
    match sender {
        Sender::Member(index) => {
            let leaf = group.leaf(*index).ok_or_else(|| Error::OpenMls(format!("no leaf {}", index.u32())))?;
            Ok(Actor::Member(client_of(leaf.credential(), &|| format!("leaf {}", index.u32()))?))
        }
        Sender::External(index) => Ok(Actor::External { identity: external_sender_identity(group, index)? }),
        Sender::NewMemberCommit => {
            committer.cloned().ok_or_else(|| Error::OpenMls("NewMemberCommit sender outside a commit".into()))
        }
        Sender::NewMemberProposal => match proposal {
            Proposal::Add(add) => Ok(Actor::NewMember(client_of(add.key_package().leaf_node().credential(), &|| {
                "new member proposal".into()
            })?)),
            _ => Err(Error::OpenMls("NewMemberProposal that is not an Add".into())),
        },
    }
}

/// A proposal by `sender`, as room policy sees it. `group` is the group the proposal applies to.
fn proposed(
    group: &PublicGroup,
    sender: &Sender,
    committer: Option<&Actor>,
    proposal: &Proposal,
) -> Result<Proposed<ProposalKind>, Error> {
    let proposer = actor_of(group, sender, committer, proposal)?;
    let item = match proposal {
        Proposal::Add(add) => {
            ProposalKind::Add(client_of(add.key_package().leaf_node().credential(), &|| "added client".into())?)
        }
        Proposal::Remove(remove) => {
            let index = remove.removed();
            let leaf = group.leaf(index).ok_or_else(|| Error::OpenMls(format!("no leaf {}", index.u32())))?;
            ProposalKind::Remove(client_of(leaf.credential(), &|| format!("leaf {}", index.u32()))?)
        }
        Proposal::SelfRemove if matches!(proposer, Actor::Member(_)) => ProposalKind::SelfRemove,
        Proposal::SelfRemove => return Err(Error::OpenMls(format!("SelfRemove by {}", proposer.describe()))),
        Proposal::AppDataUpdate(adu) => ProposalKind::AppData((**adu).clone()),
        Proposal::GroupContextExtensions(_) => ProposalKind::Other(OtherProposal::GroupContextExtensions),
        Proposal::ReInit(_) => ProposalKind::Other(OtherProposal::ReInit),
        Proposal::Update(_)
        | Proposal::PreSharedKey(_)
        | Proposal::ExternalInit(_)
        | Proposal::AppEphemeral(_)
        | Proposal::Custom(_) => ProposalKind::Ungoverned,
    };
    Ok(Proposed { proposer, item })
}

/// Describes a staged commit for the policy engine. `group` is the group *before* the commit,
/// `sender` and `credential` those of the processed commit message.
pub fn describe_commit(
    group: &PublicGroup,
    sender: &Sender,
    credential: &Credential,
    staged: &StagedCommit,
) -> Result<CommitDescription, Error> {
    let committer_client = client_of(credential, &|| "committer".into())?;
    let committer = match sender {
        Sender::Member(_) => Actor::Member(committer_client),
        Sender::NewMemberCommit => Actor::NewMember(committer_client),
        _ => return Err(Error::OpenMls("commit from a non-member sender".into())),
    };
    let mut out = CommitDescription::new(committer.clone());
    for qp in staged.queued_proposals() {
        let Proposed { proposer, item } = proposed(group, qp.sender(), Some(&committer), qp.proposal())?;
        out.push(proposer, item);
    }
    Ok(out)
}

/// Hub side, for a standalone proposal (a proposal message that `PublicGroup::process_message`
/// returned as `ProposalMessage` or `ExternalJoinProposalMessage`): decides, before the hub stores
/// it with `PublicGroup::add_proposal` and fans it out, whether room policy lets its sender
/// propose it ([`crate::policy::proposal`]). `Err(Error::NotAllowed)` means refuse the proposal;
/// any other error means it cannot be attributed to a client. Clients can run the same check
/// on `MlsGroup::public_group()`.
pub fn check_public_proposal(group: &PublicGroup, proposal: &QueuedProposal) -> Result<(), Error> {
    let before = room_state(group)?;
    let proposed = proposed(group, proposal.sender(), None, proposal.proposal())?;
    evaluate_proposal(&before, &proposed).map_err(Error::NotAllowed)
}

/// Decides on a staged commit: describe, evaluate against the state before, and check that the
/// dictionary openmls staged equals the one the policy engine derived.
pub fn check_staged_commit(
    group: &PublicGroup,
    sender: &Sender,
    credential: &Credential,
    staged: &StagedCommit,
) -> Result<Verdict, Error> {
    let before = room_state(group)?;
    let description = describe_commit(group, sender, credential, staged)?;
    let verdict = evaluate(&before, &description);
    if let Verdict::Allowed(after) = &verdict {
        if after.dictionary != dictionary_of(staged.group_context()) {
            return Err(Error::OpenMls("staged app_data_dictionary differs from the reducer's result".into()));
        }
    }
    Ok(verdict)
}

/// A received commit, staged, with the policy decision on it.
#[derive(Debug)]
pub struct CheckedCommit {
    /// The staged commit: merge it only if `verdict` is `Allowed`.
    pub staged: Box<StagedCommit>,
    /// The decision.
    pub verdict: Verdict,
}

/// Resolves a processed commit message (running the reducer for `UnresolvedAppDataCommit`),
/// stages it with `stage`, and checks it. `group` is the group the message was processed with.
pub fn resolve_commit<E: std::fmt::Display>(
    group: &PublicGroup,
    processed: ProcessedMessage,
    stage: impl FnOnce(UnresolvedAppDataCommit, Option<AppDataUpdates>) -> Result<StagedCommit, E>,
) -> Result<CheckedCommit, Error> {
    let sender = processed.sender().clone();
    let credential = processed.credential().clone();
    let staged = match processed.into_content() {
        ProcessedMessageContent::StagedCommitMessage(staged) => staged,
        ProcessedMessageContent::UnresolvedAppDataCommit(unresolved) => {
            let mut updater = group.app_data_dictionary_updater();
            reducer::fill_updater(&mut updater, unresolved.app_data_update_proposals())?;
            let changes = updater.changes();
            Box::new(stage(*unresolved, changes).map_err(|e| Error::OpenMls(e.to_string()))?)
        }
        _ => return Err(Error::OpenMls("not a commit".into())),
    };
    let verdict = check_staged_commit(group, &sender, &credential, &staged)?;
    Ok(CheckedCommit { staged, verdict })
}

/// Hub side: [`resolve_commit`] for a `PublicGroup`.
pub fn check_public_commit(
    group: &PublicGroup,
    crypto: &impl OpenMlsCrypto,
    processed: ProcessedMessage,
) -> Result<CheckedCommit, Error> {
    resolve_commit(group, processed, |u, changes| group.stage_app_data_commit(crypto, u, changes))
}

/// Client side: [`resolve_commit`] for an `MlsGroup`.
pub fn check_member_commit<Provider: OpenMlsProvider>(
    group: &MlsGroup,
    provider: &Provider,
    processed: ProcessedMessage,
) -> Result<CheckedCommit, Error> {
    resolve_commit(group.public_group(), processed, |u, changes| group.stage_app_data_commit(provider, u, changes))
}
