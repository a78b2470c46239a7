//! Handshakes a dishonest member or provider would send: real openmls objects, validly signed, that
//! assert something the hub must not believe. The tests of the hub's trust rules and the
//! conformance suite's trust checks submit them and expect a refusal that changes nothing.
//!
//! - [`commit_as`], [`propose_update_as`]: a member replaces its own leaf with one whose credential
//!   names another client (same signature key, so every MLS signature verifies).
//! - [`commit_with_leaf_extensions`]: a member's commit whose path leaf carries other LeafNode
//!   extensions, e.g. none, so it no longer advertises the components the room requires.
//! - [`with_welcome`]: a commit bundle carrying another Welcome (or none).
//! - [`with_group_info`], [`with_group_info_bytes`]: a commit bundle carrying another GroupInfo, or
//!   its own GroupInfo with bytes changed ([`GroupInfoEdit`]).

use mimi_protocol::update::{GroupInfoOption, HandshakeBundle, HandshakeBundleContent};
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _, Size as _};
use openmls::prelude::*;

use crate::client::TestClient;
use crate::error::mls;
use crate::KitError;

/// `client`'s own leaf with the credential of `impostor` (a client URI) and `client`'s key.
fn impostor_leaf(client: &TestClient, impostor: &str) -> LeafNodeParameters {
    let credential = BasicCredential::new(impostor.as_bytes().to_vec()).into();
    LeafNodeParameters::builder()
        .with_credential_with_key(CredentialWithKey {
            credential,
            signature_key: client.credential.signature_key.clone(),
        })
        .build()
}

/// A commit by `client` whose update path gives its leaf the credential of `impostor`; pending at
/// `client` until merged or cleared.
pub fn commit_as(client: &mut TestClient, impostor: &str) -> Result<CommitMessageBundle, KitError> {
    let parameters = impostor_leaf(client, impostor);
    commit_with_leaf(client, parameters, "impostor commit")
}

/// A commit by `client` whose update path gives its leaf `extensions` (an empty set drops the
/// `app_data_dictionary` with its `app_components` and `safe_aad` lists); pending at `client`
/// until merged or cleared.
pub fn commit_with_leaf_extensions(
    client: &mut TestClient,
    extensions: Extensions<LeafNode>,
) -> Result<CommitMessageBundle, KitError> {
    let parameters = LeafNodeParameters::builder().with_extensions(extensions).build();
    commit_with_leaf(client, parameters, "commit with leaf extensions")
}

/// A self-update commit by `client` whose update path carries `parameters` (`what` names it in
/// errors); pending at `client` until merged or cleared.
fn commit_with_leaf(
    client: &mut TestClient,
    parameters: LeafNodeParameters,
    what: &'static str,
) -> Result<CommitMessageBundle, KitError> {
    let TestClient { uri, provider, signer, group, .. } = client;
    let group = group.as_mut().ok_or_else(|| KitError::NotInRoom { what: "commit", client: uri.to_string() })?;
    group
        .commit_builder()
        .leaf_node_parameters(parameters)
        .force_self_update(true)
        .load_psks(provider.storage())
        .map_err(mls("PSKs"))?
        .build(provider.rand(), provider.crypto(), signer, |_| true)
        .map_err(mls(what))?
        .stage_commit(provider)
        .map_err(mls(what))
}

/// An Update proposal by `client` giving its leaf the credential of `impostor`.
pub fn propose_update_as(client: &mut TestClient, impostor: &str) -> Result<MlsMessageOut, KitError> {
    let parameters = impostor_leaf(client, impostor);
    let TestClient { uri, provider, signer, group, .. } = client;
    let group = group.as_mut().ok_or_else(|| KitError::NotInRoom { what: "propose", client: uri.to_string() })?;
    let (message, _) = group.propose_self_update(provider, signer, parameters).map_err(mls("impostor Update"))?;
    Ok(message)
}

/// `bundle` (a commit) carrying `welcome` instead of its own.
pub fn with_welcome(bundle: &HandshakeBundle, welcome: Option<Welcome>) -> Result<HandshakeBundle, KitError> {
    let mut bundle = bundle.clone();
    match &mut bundle.content {
        HandshakeBundleContent::Commit { welcome: w, .. } => *w = welcome,
        HandshakeBundleContent::Proposal { .. } => {
            return Err(KitError::Unexpected { what: "Welcome swap", expected: "a commit bundle" })
        }
    }
    Ok(bundle)
}

/// `bundle` (a commit) carrying `group_info` (a GroupInfo MLSMessage) as its GroupInfo.
pub fn with_group_info(bundle: &HandshakeBundle, group_info: &MlsMessageOut) -> Result<HandshakeBundle, KitError> {
    let MlsMessageBodyIn::GroupInfo(group_info) = crate::prelude::to_in(group_info).extract() else {
        return Err(KitError::Unexpected { what: "GroupInfo swap", expected: "a GroupInfo" });
    };
    replace_group_info(bundle, group_info)
}

/// Which bytes of a GroupInfo [`with_group_info_bytes`] changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupInfoEdit {
    /// The `signer` leaf index (incremented): signed by the committer, naming another leaf.
    Signer,
    /// The last byte of the signature.
    Signature,
}

/// `bundle` (a commit) with its own GroupInfo's bytes changed by `edit`.
pub fn with_group_info_bytes(bundle: &HandshakeBundle, edit: GroupInfoEdit) -> Result<HandshakeBundle, KitError> {
    let HandshakeBundleContent::Commit { group_info_option: GroupInfoOption::Full { group_info }, .. } =
        &bundle.content
    else {
        return Err(KitError::Unexpected { what: "GroupInfo edit", expected: "a commit bundle with a full GroupInfo" });
    };
    let mut bytes = group_info.tls_serialize_detached().map_err(mls("GroupInfo encoding"))?;
    // RFC 9420 §12.4.3: `uint32 signer` comes right before `opaque signature<V>`; edit its last
    // byte, or the signature's.
    let from_end = match edit {
        GroupInfoEdit::Signature => 1,
        GroupInfoEdit::Signer => group_info.signature().tls_serialized_len() + 1,
    };
    let at = bytes
        .len()
        .checked_sub(from_end)
        .ok_or(KitError::Unexpected { what: "GroupInfo edit", expected: "a GroupInfo longer than its signature" })?;
    bytes[at] = match edit {
        GroupInfoEdit::Signature => bytes[at] ^ 0x01,
        GroupInfoEdit::Signer => bytes[at].wrapping_add(1),
    };
    let edited = VerifiableGroupInfo::tls_deserialize_exact(bytes).map_err(mls("GroupInfo decoding"))?;
    replace_group_info(bundle, edited)
}

fn replace_group_info(bundle: &HandshakeBundle, group_info: VerifiableGroupInfo) -> Result<HandshakeBundle, KitError> {
    let mut bundle = bundle.clone();
    match &mut bundle.content {
        HandshakeBundleContent::Commit { group_info_option, .. } => {
            *group_info_option = GroupInfoOption::Full { group_info };
        }
        HandshakeBundleContent::Proposal { .. } => {
            return Err(KitError::Unexpected { what: "GroupInfo swap", expected: "a commit bundle" })
        }
    }
    Ok(bundle)
}
