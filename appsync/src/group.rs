//! The MLS settings every MIMI room and client uses (docs/DESIGN.md §3), in one place so that clients,
//! the simulator, tests and benchmarks build identical groups:
//!
//! - ciphersuite 0x0001;
//! - leaf capabilities naming AppDataDictionary, AppDataUpdate and SelfRemove;
//! - `required_capabilities` naming AppDataDictionary and AppDataUpdate;
//! - handshakes as PublicMessages (`MIXED_PLAINTEXT_WIRE_FORMAT_POLICY`, in the create *and* the
//!   join configuration) so the hub can validate them, and the ratchet tree in Welcomes and
//!   GroupInfos;
//! - a GroupContext with the hub as external sender and the room state in the
//!   `app_data_dictionary`.

use std::collections::BTreeMap;

use openmls::component::ComponentId;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::*;
use openmls_traits::signatures::Signer;

use crate::error::Error;

/// The ciphersuite every MIMI client supports (0x0001 is required).
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// Leaf capabilities of every client.
pub fn leaf_capabilities() -> Capabilities {
    Capabilities::new(
        None,
        Some(&[CIPHERSUITE]),
        Some(&[ExtensionType::AppDataDictionary]),
        Some(&[ProposalType::AppDataUpdate, ProposalType::SelfRemove]),
        Some(&[CredentialType::Basic]),
    )
}

/// The GroupContext's `required_capabilities` of every room.
pub fn required_capabilities() -> RequiredCapabilitiesExtension {
    RequiredCapabilitiesExtension::new(
        &[ExtensionType::AppDataDictionary],
        &[ProposalType::AppDataUpdate],
        &[CredentialType::Basic],
    )
}

/// The configuration for joining a room (by Welcome or external commit).
pub fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build()
}

/// The GroupContext extensions of a new room: required capabilities, the hub as external
/// sender, and the room state (e.g. from [`crate::state::initial_dictionary`]).
pub fn room_extensions(
    dictionary: BTreeMap<ComponentId, Vec<u8>>,
    hub: ExternalSender,
) -> Result<Extensions<GroupContext>, Error> {
    let mut app_dict = AppDataDictionary::new();
    for (id, value) in dictionary {
        app_dict.insert(id, value);
    }
    Extensions::from_vec(vec![
        Extension::RequiredCapabilities(required_capabilities()),
        Extension::ExternalSenders(vec![hub]),
        Extension::AppDataDictionary(AppDataDictionaryExtension::new(app_dict)),
    ])
    .map_err(|e| Error::OpenMls(format!("room extensions: {e}")))
}

/// Creates a room's MLS group with `extensions` (see [`room_extensions`]), its creator the only
/// member.
pub fn create_room_group<P: OpenMlsProvider>(
    provider: &P,
    signer: &impl Signer,
    creator: CredentialWithKey,
    extensions: Extensions<GroupContext>,
) -> Result<MlsGroup, Error> {
    MlsGroup::builder()
        .ciphersuite(CIPHERSUITE)
        .with_capabilities(leaf_capabilities())
        .with_group_context_extensions(extensions)
        .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build(provider, signer, creator)
        .map_err(|e| Error::OpenMls(format!("creating the room group: {e}")))
}

/// A KeyPackage of a client with the MIMI leaf capabilities.
pub fn key_package<P: OpenMlsProvider>(
    provider: &P,
    signer: &impl Signer,
    credential: CredentialWithKey,
) -> Result<KeyPackage, Error> {
    KeyPackage::builder()
        .leaf_node_capabilities(leaf_capabilities())
        .build(CIPHERSUITE, provider, signer, credential)
        .map(|bundle| bundle.key_package().clone())
        .map_err(|e| Error::OpenMls(format!("building a KeyPackage: {e}")))
}

/// Joins a room by external commit from its GroupInfo, with the ratchet tree (when the GroupInfo
/// does not carry it) and the epoch's pending proposals the commit must include. Returns the
/// joined group, with the commit pending until the hub accepts it, and the commit bundle.
pub fn external_join<P: OpenMlsProvider>(
    provider: &P,
    signer: &impl Signer,
    joiner: CredentialWithKey,
    group_info: VerifiableGroupInfo,
    ratchet_tree: Option<RatchetTreeIn>,
    pending_proposals: Vec<PublicMessageIn>,
) -> Result<(MlsGroup, CommitMessageBundle), Error> {
    let fail = |e: &dyn std::fmt::Display| Error::OpenMls(format!("external commit: {e}"));
    let mut builder = MlsGroup::external_commit_builder().with_config(join_config()).with_proposals(pending_proposals);
    if let Some(tree) = ratchet_tree {
        builder = builder.with_ratchet_tree(tree);
    }
    builder
        .build_group(provider, group_info, joiner)
        .map_err(|e| fail(&e))?
        .leaf_node_parameters(LeafNodeParameters::builder().with_capabilities(leaf_capabilities()).build())
        .load_psks(provider.storage())
        .map_err(|e| fail(&e))?
        .build(provider.rand(), provider.crypto(), signer, |_| true)
        .map_err(|e| fail(&e))?
        .finalize(provider)
        .map_err(|e| fail(&e))
}
