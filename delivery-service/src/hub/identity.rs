//! Identities a handshake asserts, checked against the group the hub holds.
//!
//! openmls validates a handshake's signatures, tree and proposals, but leaves what a credential
//! *means* to the application (`StagedCommit::credentials_to_verify`). For a MIMI room a leaf's
//! credential names a client URI (`mimi://<domain>/d/<user>/<device>`), and the hub holds every
//! member to the identity it was admitted with:
//!
//! - **A leaf keeps its client.** An Update proposal, or a commit's path, may replace a member's
//!   leaf (new keys, new capabilities, even a new credential), but the new credential must name
//!   the same client URI as the leaf it replaces ([`check_leaf_changes`], [`check_update`]).
//!   Otherwise a member could turn into another domain's client and send as it.
//! - **A committed GroupInfo is the committer's and the group's.** The GroupInfo a committer
//!   attaches for the new epoch (kept by the hub and handed to external joiners) must be signed by
//!   the committer's leaf after the commit, name that leaf as its signer, and carry exactly the
//!   GroupContext the hub computed by merging the commit ([`check_group_info`]). Its extensions
//!   are the committer's word: `external_pub` cannot be checked without the epoch's secrets, and
//!   a `ratchet_tree` extension is checked by the joiner against the GroupContext's tree hash.
//!
//! A Welcome is checked against its commit in [`super::admission::welcome`]. Each check is a
//! plain function of the group before the commit, the staged commit and the bytes received.

use mimi_appsync::adapter::client_of;
use mimi_appsync::uri::ClientUri;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::tls_codec::{Serialize as _, Size as _};
use openmls::prelude::*;
use openmls_traits::crypto::OpenMlsCrypto;

/// Why the hub refuses a handshake for the identities it asserts; answered as `notAllowed` with
/// this text as `errorDescription`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityRefusal {
    /// A leaf's new credential names another client than the leaf it replaces.
    #[error("leaf {leaf} of {client} may not change its credential to {new}")]
    LeafChanged {
        /// The leaf index.
        leaf: u32,
        /// The client the leaf belongs to.
        client: String,
        /// What the new credential names (empty if no client).
        new: String,
    },
    /// A leaf the handshake refers to is not in the group, or names no client.
    #[error("leaf {leaf} is not a client's leaf of the group")]
    NoSuchLeaf {
        /// The leaf index.
        leaf: u32,
    },
    /// The committed GroupInfo is for another group or epoch than the commit produces.
    #[error("the GroupInfo's GroupContext is not the one the commit produces")]
    GroupInfoContext,
    /// The committed GroupInfo names another signer than the committer's leaf.
    #[error("the GroupInfo is signed as leaf {signer}, the committer is leaf {committer}")]
    GroupInfoSigner {
        /// The signer the GroupInfo names.
        signer: u32,
        /// The committer's leaf after the commit.
        committer: u32,
    },
    /// The committed GroupInfo's signature does not verify under the committer's key.
    #[error("the GroupInfo's signature does not verify under the committer's key")]
    GroupInfoSignature,
    /// The GroupInfo cannot be taken apart (not an RFC 9420 GroupInfo).
    #[error("the GroupInfo is malformed: {0}")]
    GroupInfoMalformed(String),
}

/// The client a credential names, if any (as text, for answers).
fn named(credential: &Credential) -> Option<ClientUri> {
    client_of(credential, &|| "leaf".into()).ok()
}

/// The client of leaf `leaf` of `group`.
fn client_at(group: &PublicGroup, leaf: LeafNodeIndex) -> Result<ClientUri, IdentityRefusal> {
    group.leaf(leaf).and_then(|node| named(node.credential())).ok_or(IdentityRefusal::NoSuchLeaf { leaf: leaf.u32() })
}

/// A leaf node replacing leaf `leaf` of `group` must name the same client.
fn same_client(group: &PublicGroup, leaf: LeafNodeIndex, new: &LeafNode) -> Result<(), IdentityRefusal> {
    let client = client_at(group, leaf)?;
    match named(new.credential()) {
        Some(c) if c == client => Ok(()),
        other => Err(IdentityRefusal::LeafChanged {
            leaf: leaf.u32(),
            client: client.to_string(),
            new: other.map(|c| c.to_string()).unwrap_or_default(),
        }),
    }
}

/// An Update proposal (standalone or in a commit) of a member keeps its client.
pub fn check_update(group: &PublicGroup, proposal: &QueuedProposal) -> Result<(), IdentityRefusal> {
    match (proposal.proposal(), proposal.sender()) {
        (Proposal::Update(update), Sender::Member(leaf)) => same_client(group, *leaf, update.leaf_node()),
        _ => Ok(()),
    }
}

/// Every leaf a commit of `sender` replaces keeps its client: the Updates it carries and the
/// committer's own leaf if the commit has a path. An external commit's path leaf is a new leaf
/// (whose client the room's policy judges) and replaces nothing.
pub fn check_leaf_changes(group: &PublicGroup, sender: &Sender, staged: &StagedCommit) -> Result<(), IdentityRefusal> {
    for proposal in staged.queued_proposals() {
        check_update(group, proposal)?;
    }
    match (sender, staged.update_path_leaf_node()) {
        (Sender::Member(leaf), Some(new)) => same_client(group, *leaf, new),
        _ => Ok(()),
    }
}

/// The committer's leaf index and signature key after `staged` is merged into `group`: a member
/// keeps its leaf (with the path's new key, if any); an external joiner takes the leftmost free
/// leaf with its path's key.
fn committer_after(
    group: &PublicGroup,
    sender: &Sender,
    staged: &StagedCommit,
) -> Result<(LeafNodeIndex, SignaturePublicKey), IdentityRefusal> {
    let malformed = || IdentityRefusal::GroupInfoMalformed("the committer has no leaf after the commit".into());
    let (leaf, node) = match sender {
        Sender::Member(leaf) => (*leaf, staged.update_path_leaf_node().or_else(|| group.leaf(*leaf))),
        Sender::NewMemberCommit => {
            let leaf = group.ext_commit_sender_index(staged).map_err(|_| malformed())?;
            (leaf, staged.update_path_leaf_node())
        }
        _ => return Err(malformed()),
    };
    let node = node.ok_or_else(malformed)?;
    Ok((leaf, node.signature_key().clone()))
}

/// The `signer` field of an encoded GroupInfo. openmls does not expose it: it is the `uint32`
/// right before the trailing signature (RFC 9420 §12.4.3: `GroupInfoTBS` ends with `signer`,
/// then `opaque signature<V>`).
fn signer_of(group_info: &VerifiableGroupInfo, encoded: &[u8]) -> Result<u32, IdentityRefusal> {
    let signature_len = group_info.signature().tls_serialized_len();
    let end = encoded
        .len()
        .checked_sub(signature_len)
        .filter(|&end| end >= 4)
        .ok_or_else(|| IdentityRefusal::GroupInfoMalformed("shorter than its signature".into()))?;
    let mut signer = [0u8; 4];
    signer.copy_from_slice(&encoded[end - 4..end]);
    Ok(u32::from_be_bytes(signer))
}

/// The GroupInfo a commit of `sender` carries for the new epoch (`group_info`, received as
/// `encoded`) is the committer's and describes the group after `staged` (module docs). `group`:
/// the hub's group before the commit.
pub fn check_group_info(
    crypto: &impl OpenMlsCrypto,
    group: &PublicGroup,
    sender: &Sender,
    staged: &StagedCommit,
    group_info: &VerifiableGroupInfo,
    encoded: &[u8],
) -> Result<(), IdentityRefusal> {
    let context = |c: &GroupContext| c.tls_serialize_detached().ok();
    if context(group_info.group_context()).is_none()
        || context(group_info.group_context()) != context(staged.group_context())
    {
        return Err(IdentityRefusal::GroupInfoContext);
    }
    let (committer, key) = committer_after(group, sender, staged)?;
    let signer = signer_of(group_info, encoded)?;
    if signer != committer.u32() {
        return Err(IdentityRefusal::GroupInfoSigner { signer, committer: committer.u32() });
    }
    let scheme = group.ciphersuite().signature_algorithm();
    let key = OpenMlsSignaturePublicKey::from_signature_key(key, scheme);
    group_info.clone().verify(crypto, &key).map(|_| ()).map_err(|_| IdentityRefusal::GroupInfoSignature)
}
