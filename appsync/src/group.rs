//! The MLS settings every MIMI room and client uses (docs/DESIGN.md §3), in one place so that clients,
//! the simulator, tests and benchmarks build identical groups:
//!
//! - ciphersuite 0x0001;
//! - leaf capabilities naming AppDataDictionary, AppDataUpdate and SelfRemove;
//! - in every leaf (KeyPackages, the creator's, external joins; commits keep the leaf's
//!   extensions), an `app_data_dictionary` advertising, as mls-extensions-10 requires of whoever
//!   advertises that extension, the components we implement (`app_components`, 0x0001: see
//!   [`supported_components`]) and the Safe AAD components we understand (`safe_aad`, 0x0002:
//!   `frank_aad`);
//! - `required_capabilities` naming AppDataDictionary and AppDataUpdate;
//! - handshakes as PublicMessages (`MIXED_PLAINTEXT_WIRE_FORMAT_POLICY`, in the create *and* the
//!   join configuration) so the hub can validate them, and the ratchet tree in Welcomes and
//!   GroupInfos;
//! - a GroupContext with the hub as external sender and the room state in the
//!   `app_data_dictionary`, which also names what every member must support
//!   ([`required_components`] as `app_components`) and frames every message's authenticated data
//!   as one `SafeAAD` (`safe_aad`: `frank_aad` in a franked room, else empty;
//!   `mimi_protocol::safe_aad`).

use std::collections::BTreeMap;

use openmls::component::ComponentId;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::*;
use openmls_traits::signatures::Signer;

use mimi_protocol::components_list::{self, APP_COMPONENTS_COMPONENT_ID, SAFE_AAD_COMPONENT_ID};
use mimi_protocol::franking::{FRANKING_AGENT_COMPONENT_ID, FRANK_AAD_COMPONENT_ID};
use mimi_protocol::last_resort::LAST_RESORT_KEY_PACKAGE_COMPONENT_ID;

use crate::components::{BASE_ROOM_POLICY, PARTICIPANT_LIST, PREAUTH_LIST, ROLES_LIST, ROOM_METADATA};
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

/// Every component this implementation understands, as our leaves advertise it in
/// `app_components` (mls-extensions-10): the two lists themselves, `last_resort_key_package`, and
/// the MIMI components `frank_aad`, `franking_agent`, `participant_list`, `room_metadata`,
/// `roles_list`, `preauth_list` and `base_room_policy` (docs/DESIGN.md §3.1).
pub fn supported_components() -> Vec<ComponentId> {
    vec![
        APP_COMPONENTS_COMPONENT_ID,
        SAFE_AAD_COMPONENT_ID,
        LAST_RESORT_KEY_PACKAGE_COMPONENT_ID,
        FRANK_AAD_COMPONENT_ID,
        FRANKING_AGENT_COMPONENT_ID,
        PARTICIPANT_LIST,
        ROOM_METADATA,
        ROLES_LIST,
        PREAUTH_LIST,
        BASE_ROOM_POLICY,
    ]
}

/// The components every member of a room we create must support (its GroupContext's
/// `app_components`): the two lists, the room state the hub enforces (`participant_list`,
/// `room_metadata`, `roles_list`, `preauth_list`, `base_room_policy`), and `franking_agent` if the
/// room is franked; in increasing order.
pub fn required_components(franked: bool) -> Vec<ComponentId> {
    let mut ids = vec![
        APP_COMPONENTS_COMPONENT_ID,
        SAFE_AAD_COMPONENT_ID,
        PARTICIPANT_LIST,
        ROOM_METADATA,
        ROLES_LIST,
        PREAUTH_LIST,
        BASE_ROOM_POLICY,
    ];
    if franked {
        ids.push(FRANKING_AGENT_COMPONENT_ID);
        ids.sort_unstable();
    }
    ids
}

fn encode_list(ids: &[ComponentId]) -> Result<Vec<u8>, Error> {
    components_list::encode(ids).map_err(|e| Error::OpenMls(format!("ComponentsList: {e}")))
}

/// The LeafNode extensions of every leaf our clients make: an `app_data_dictionary` with
/// `app_components` = [`supported_components`] and `safe_aad` = `frank_aad`.
pub fn leaf_extensions() -> Result<Extensions<LeafNode>, Error> {
    let mut dictionary = AppDataDictionary::new();
    dictionary.insert(APP_COMPONENTS_COMPONENT_ID, encode_list(&supported_components())?);
    dictionary.insert(SAFE_AAD_COMPONENT_ID, encode_list(&[FRANK_AAD_COMPONENT_ID])?);
    Extensions::single(Extension::AppDataDictionary(AppDataDictionaryExtension::new(dictionary)))
        .map_err(|e| Error::OpenMls(format!("leaf extensions: {e}")))
}

/// The configuration for joining a room (by Welcome or external commit).
pub fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build()
}

/// The GroupContext extensions of a new room: required capabilities, the hub as external
/// sender, and the room state (e.g. from [`crate::state::initial_dictionary`]) with the
/// `app_components` every member must support ([`required_components`]) and `safe_aad`
/// (`frank_aad` if the room is franked, i.e. `dictionary` holds `franking_agent`; else empty).
pub fn room_extensions(
    mut dictionary: BTreeMap<ComponentId, Vec<u8>>,
    hub: ExternalSender,
) -> Result<Extensions<GroupContext>, Error> {
    let franked = dictionary.contains_key(&FRANKING_AGENT_COMPONENT_ID);
    dictionary.insert(APP_COMPONENTS_COMPONENT_ID, encode_list(&required_components(franked))?);
    let safe: &[ComponentId] = if franked { &[FRANK_AAD_COMPONENT_ID] } else { &[] };
    dictionary.insert(SAFE_AAD_COMPONENT_ID, encode_list(safe)?);
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
        .with_leaf_node_extensions(leaf_extensions()?)
        .map_err(|e| Error::OpenMls(format!("the creator's leaf: {e}")))?
        .with_group_context_extensions(extensions)
        .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build(provider, signer, creator)
        .map_err(|e| Error::OpenMls(format!("creating the room group: {e}")))
}

/// A KeyPackage of a client with the MIMI leaf capabilities and [`leaf_extensions`].
pub fn key_package<P: OpenMlsProvider>(
    provider: &P,
    signer: &impl Signer,
    credential: CredentialWithKey,
) -> Result<KeyPackage, Error> {
    KeyPackage::builder()
        .leaf_node_capabilities(leaf_capabilities())
        .leaf_node_extensions(leaf_extensions()?)
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
        .leaf_node_parameters(
            LeafNodeParameters::builder()
                .with_capabilities(leaf_capabilities())
                .with_extensions(leaf_extensions()?)
                .build(),
        )
        .load_psks(provider.storage())
        .map_err(|e| fail(&e))?
        .build(provider.rand(), provider.crypto(), signer, |_| true)
        .map_err(|e| fail(&e))?
        .finalize(provider)
        .map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use mimi_protocol::components_list::check_leaf;
    use openmls::prelude::tls_codec::Serialize as _;
    use openmls_basic_credential::SignatureKeyPair;
    use openmls_rust_crypto::OpenMlsRustCrypto;

    use super::*;

    /// The `app_data_dictionary` LeafNode extension every leaf of ours carries, byte for byte.
    const LEAF_DICTIONARY: [u8; 34] = [
        0x00, 0x06, // extension_type app_data_dictionary
        0x1f, // extension_data<V>: 31 bytes
        0x1e, // component_data<V>: 30 bytes
        0x00, 0x01, 0x15, 0x14, // app_components, data<V> 21 bytes = component_ids<V> 20 bytes:
        0x00, 0x01, 0x00, 0x02, 0x00, 0x04, 0x00, 0x20, 0x00, 0x21, // 0x0001 0x0002 0x0004 0x0020 0x0021
        0x00, 0x22, 0x00, 0x23, 0x00, 0x25, 0x00, 0x26, 0x00, 0x27, // 0x0022 0x0023 0x0025 0x0026 0x0027
        0x00, 0x02, 0x03, 0x02, 0x00, 0x20, // safe_aad, data<V> 3 bytes = component_ids<V> [0x0020]
    ];

    fn client(name: &str) -> (OpenMlsRustCrypto, SignatureKeyPair, CredentialWithKey) {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
        let credential = CredentialWithKey {
            credential: BasicCredential::new(format!("mimi://a.example/d/{name}/phone").into_bytes()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        (provider, signer, credential)
    }

    fn dictionary_extension(leaf: &LeafNode) -> Vec<u8> {
        let extension = leaf.extensions().iter().find(|e| e.extension_type() == ExtensionType::AppDataDictionary);
        extension.expect("an app_data_dictionary").tls_serialize_detached().unwrap()
    }

    #[test]
    fn our_key_packages_advertise_the_components_we_implement() {
        let (provider, signer, credential) = client("bob");
        let kp = key_package(&provider, &signer, credential).unwrap();
        let expected = &LEAF_DICTIONARY[..];
        assert_eq!(dictionary_extension(kp.leaf_node()), expected);
        let encoded = kp.tls_serialize_detached().unwrap();
        assert!(encoded.windows(expected.len()).any(|w| w == expected), "the KeyPackage carries it on the wire");
        let dictionary = kp.leaf_node().extensions().app_data_dictionary().map(|e| e.dictionary());
        let listed = |id| components_list::listed(dictionary, id).unwrap().unwrap();
        assert_eq!(listed(APP_COMPONENTS_COMPONENT_ID), supported_components());
        assert_eq!(listed(SAFE_AAD_COMPONENT_ID), [FRANK_AAD_COMPONENT_ID]);
    }

    #[test]
    fn our_rooms_require_what_our_leaves_support_and_commits_keep_it() {
        let (provider, signer, credential) = client("alice");
        let hub = ExternalSender::new(
            SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap().to_public_vec().into(),
            BasicCredential::new(b"mimi://a.example".to_vec()).into(),
        );
        for franked in [false, true] {
            let mut dictionary = BTreeMap::new();
            if franked {
                dictionary.insert(FRANKING_AGENT_COMPONENT_ID, vec![0x01]);
            }
            let extensions = room_extensions(dictionary, hub.clone()).unwrap();
            let required = |id| components_list::required(&extensions, id).unwrap().unwrap();
            assert_eq!(required(APP_COMPONENTS_COMPONENT_ID), required_components(franked));
            let safe = if franked { vec![FRANK_AAD_COMPONENT_ID] } else { vec![] };
            assert_eq!(required(SAFE_AAD_COMPONENT_ID), safe);
            assert!(mimi_protocol::safe_aad::framing_required(&extensions));
            let mut group = create_room_group(&provider, &signer, credential.clone(), extensions.clone()).unwrap();
            let own = group.own_leaf_node().unwrap().clone();
            assert_eq!(dictionary_extension(&own), LEAF_DICTIONARY);
            assert_eq!(check_leaf(&extensions, &own), Ok(()));
            // A commit with a path makes a new leaf with the same extensions.
            group.self_update(&provider, &signer, LeafNodeParameters::default()).unwrap();
            group.merge_pending_commit(&provider).unwrap();
            let after = group.own_leaf_node().unwrap();
            assert_ne!(after.encryption_key(), own.encryption_key());
            assert_eq!(dictionary_extension(after), LEAF_DICTIONARY);
        }
    }
}
