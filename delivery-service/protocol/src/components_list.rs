//! Component negotiation of mls-extensions-10 ("Negotiating Extensions and Components"): the
//! `app_components` (0x0001) and `safe_aad` (0x0002) components of an `app_data_dictionary`, both a
//! [`ComponentsList`].
//!
//! ```text
//! struct { ComponentID component_ids<V>; } ComponentsList;
//! ComponentsList app_components;   // 0x0001
//! ComponentsList safe_aad;         // 0x0002
//! ```
//!
//! In a LeafNode's `app_data_dictionary` a list names what the leaf *supports* (all components,
//! or the components that use Safe AAD); in the GroupContext's it names what every member must
//! *support*. -10 makes `app_components` mandatory to advertise, and `safe_aad` mandatory to
//! understand, for every implementation advertising `app_data_dictionary`. The draft requires no
//! order and no uniqueness of a list's IDs; we write them sorted and unique, and read any order.
//! GREASE IDs, which -10 allows in a LeafNode's lists, are ignored, and so is any ID a leaf lists
//! that the room does not require.
//!
//! The structure is openmls' own ([`ComponentsList`], re-exported here), decoded strictly through
//! [`Body`] (all bytes, canonical). [`check_leaf`] is the one rule deciding whether a leaf may be
//! in a room: it must list every component the room requires, in both lists. Whole-AAD framing,
//! which the GroupContext's `safe_aad` switches on, is [`crate::safe_aad`].

use openmls::component::ComponentId;
pub use openmls::component::ComponentsList;
use openmls::prelude::{AppDataDictionary, Extensions, GroupContext, LeafNode};

use super::{Body, WireError};

/// `app_components` (mls-extensions-10, component registry): the components a leaf supports
/// (LeafNode) or every member must support (GroupContext).
pub const APP_COMPONENTS_COMPONENT_ID: ComponentId = 0x0001;

/// `safe_aad` (mls-extensions-10, component registry): the Safe AAD components a leaf supports
/// (LeafNode) or every member must support (GroupContext); in the GroupContext its presence also
/// frames the whole `authenticated_data` as one `SafeAAD` ([`crate::safe_aad`]).
pub const SAFE_AAD_COMPONENT_ID: ComponentId = 0x0002;

impl Body for ComponentsList {
    const NAME: &'static str = "ComponentsList";
}

/// Whether `id` is a GREASE component ID (mls-extensions-10 registry: 0x0A0A, 0x1A1A, …, and, as in
/// RFC 9420 §13.5, on to 0xEAEA).
pub fn is_grease(id: ComponentId) -> bool {
    id & 0x0f0f == 0x0a0a && (id >> 12) == ((id >> 4) & 0x0f) && id != 0xfafa
}

/// The encoded `ComponentsList` of `ids`, sorted and without duplicates.
pub fn encode(ids: &[ComponentId]) -> Result<Vec<u8>, WireError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ComponentsList::new(ids).encode()
}

/// The `ComponentsList` stored under `list` (0x0001 or 0x0002) in `dictionary`: `None` if absent,
/// an error if it does not decode (all bytes, canonically).
pub fn listed(
    dictionary: Option<&AppDataDictionary>,
    list: ComponentId,
) -> Result<Option<Vec<ComponentId>>, WireError> {
    match dictionary.and_then(|d| d.get(&list)) {
        None => Ok(None),
        Some(bytes) => ComponentsList::decode(bytes, bytes.len()).map(|l| Some(l.into_ids())),
    }
}

/// The components a room requires under `list` (0x0001 or 0x0002): its GroupContext's entry,
/// without GREASE IDs; `None` if the room has no such entry.
pub fn required(
    group_context: &Extensions<GroupContext>,
    list: ComponentId,
) -> Result<Option<Vec<ComponentId>>, WireError> {
    let dictionary = group_context.app_data_dictionary().map(|e| e.dictionary());
    Ok(listed(dictionary, list)?.map(|ids| ids.into_iter().filter(|id| !is_grease(*id)).collect()))
}

/// Why a leaf may not be in a room (see [`check_leaf`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LeafComponentsError {
    /// The leaf does not list components the room requires.
    #[error("the leaf's {} list lacks the required component(s) {}", list_name(*.list), hex_ids(.missing))]
    Missing {
        /// The list: `app_components` (0x0001) or `safe_aad` (0x0002).
        list: ComponentId,
        /// The required IDs it lacks, in the room's order.
        missing: Vec<ComponentId>,
    },
    /// The leaf's or the room's list does not decode.
    #[error("{whose} {} list: {source}", list_name(*.list))]
    Malformed {
        /// `"the leaf's"` or `"the room's"`.
        whose: &'static str,
        /// Which list.
        list: ComponentId,
        /// The decoding error.
        source: WireError,
    },
}

fn list_name(list: ComponentId) -> &'static str {
    match list {
        APP_COMPONENTS_COMPONENT_ID => "app_components",
        SAFE_AAD_COMPONENT_ID => "safe_aad",
        _ => "components",
    }
}

fn hex_ids(ids: &[ComponentId]) -> String {
    ids.iter().map(|id| format!("{id:#06x}")).collect::<Vec<_>>().join(", ")
}

/// Whether `leaf` may be a member of a room with these GroupContext extensions: for each of
/// `app_components` and `safe_aad` the room lists, the leaf's own list of that name (in its
/// `app_data_dictionary`) holds every component the room's does. A room without either entry
/// requires nothing (rooms of peers that do not advertise keep working with them).
pub fn check_leaf(group_context: &Extensions<GroupContext>, leaf: &LeafNode) -> Result<(), LeafComponentsError> {
    for list in [APP_COMPONENTS_COMPONENT_ID, SAFE_AAD_COMPONENT_ID] {
        let required = required(group_context, list).map_err(|source| LeafComponentsError::Malformed {
            whose: "the room's",
            list,
            source,
        })?;
        let Some(required) = required.filter(|r| !r.is_empty()) else { continue };
        let supported = listed(leaf.extensions().app_data_dictionary().map(|e| e.dictionary()), list)
            .map_err(|source| LeafComponentsError::Malformed { whose: "the leaf's", list, source })?
            .unwrap_or_default();
        let missing: Vec<ComponentId> = required.into_iter().filter(|id| !supported.contains(id)).collect();
        if !missing.is_empty() {
            return Err(LeafComponentsError::Missing { list, missing });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use openmls::prelude::tls_codec::Serialize as _;
    use openmls::prelude::{AppDataDictionaryExtension, Extension};

    use super::*;

    #[test]
    fn components_list_bytes() {
        // component_ids<V>: one length byte (6), then three u16, sorted and deduplicated.
        assert_eq!(encode(&[0x0022, 0x0001, 0x0002, 0x0022]).unwrap(), [0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x22]);
        assert_eq!(encode(&[]).unwrap(), [0x00]);
        let decoded = ComponentsList::decode(&[0x04, 0x0a, 0x0a, 0x00, 0x20], 5).unwrap();
        assert_eq!(decoded.ids(), [0x0a0a, 0x0020], "any order is read as written");
        // An odd length, a truncated list, trailing bytes and a non-minimal length are refused.
        assert!(matches!(ComponentsList::decode(&[0x01, 0x00], 2), Err(WireError::Decode { .. })));
        assert!(matches!(ComponentsList::decode(&[0x04, 0x00, 0x01], 3), Err(WireError::Decode { .. })));
        assert!(matches!(ComponentsList::decode(&[0x00, 0x00], 2), Err(WireError::TrailingData { trailing: 1, .. })));
        assert!(ComponentsList::decode(&[0x40, 0x02, 0x00, 0x01], 4).is_err());
    }

    #[test]
    fn grease_ids() {
        for g in [0x0a0a, 0x1a1a, 0x7a7a, 0xeaea] {
            assert!(is_grease(g), "{g:#x}");
        }
        for n in [0x0001, 0x0a1a, 0xfafa, 0x8000] {
            assert!(!is_grease(n), "{n:#x}");
        }
    }

    fn dictionary(entries: &[(ComponentId, Vec<u8>)]) -> AppDataDictionaryExtension {
        let mut d = AppDataDictionary::new();
        for (id, v) in entries {
            d.insert(*id, v.clone());
        }
        AppDataDictionaryExtension::new(d)
    }

    fn context(entries: &[(ComponentId, Vec<u8>)]) -> Extensions<GroupContext> {
        Extensions::single(Extension::AppDataDictionary(dictionary(entries))).unwrap()
    }

    #[test]
    fn the_rooms_lists_are_read_from_the_group_context() {
        let gc = context(&[(0x0001, encode(&[0x0001, 0x0022, 0x3a3a]).unwrap()), (0x0002, vec![0x00])]);
        // The extension: type 0x0006, extension_data<V> (5) = component_data<V> (4) = [{0x0002,
        // data<V> = an empty ComponentsList}].
        let bytes = Extension::AppDataDictionary(dictionary(&[(0x0002, vec![0x00])])).tls_serialize_detached().unwrap();
        assert_eq!(bytes, [0x00, 0x06, 0x05, 0x04, 0x00, 0x02, 0x01, 0x00]);
        assert_eq!(required(&gc, 0x0001).unwrap(), Some(vec![0x0001, 0x0022]), "GREASE is not required");
        assert_eq!(required(&gc, 0x0002).unwrap(), Some(vec![]));
        assert_eq!(required(&context(&[]), 0x0001).unwrap(), None);
        assert!(required(&context(&[(0x0001, vec![0x03, 0, 1, 0])]), 0x0001).is_err());
    }

    /// The leaf of a KeyPackage whose LeafNode `app_data_dictionary` holds `entries`.
    fn leaf(entries: &[(ComponentId, Vec<u8>)]) -> LeafNode {
        use openmls::prelude::{
            BasicCredential, Capabilities, Ciphersuite, CredentialWithKey, ExtensionType, KeyPackage,
        };
        use openmls_basic_credential::SignatureKeyPair;
        const CS: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
        let provider = openmls_rust_crypto::OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
        let credential = CredentialWithKey {
            credential: BasicCredential::new(b"mimi://a.example/d/bob/phone".to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        let capabilities = Capabilities::new(None, Some(&[CS]), Some(&[ExtensionType::AppDataDictionary]), None, None);
        let mut builder = KeyPackage::builder().leaf_node_capabilities(capabilities);
        if !entries.is_empty() {
            builder = builder
                .leaf_node_extensions(Extensions::single(Extension::AppDataDictionary(dictionary(entries))).unwrap());
        }
        builder.build(CS, &provider, &signer, credential).unwrap().key_package().leaf_node().clone()
    }

    #[test]
    fn a_leaf_must_list_what_the_room_requires() {
        let room =
            context(&[(0x0001, encode(&[0x0001, 0x0002, 0x0022]).unwrap()), (0x0002, encode(&[0x0020]).unwrap())]);
        // Listed among GREASE and unknown IDs, in any order: fine.
        // component_ids<V> (10 bytes): 0x0a0a 0x0022 0x7777 0x0002 0x0001
        let app = vec![0x0a, 0x0a, 0x0a, 0x00, 0x22, 0x77, 0x77, 0x00, 0x02, 0x00, 0x01];
        let good = leaf(&[(0x0001, app.clone()), (0x0002, vec![0x04, 0x1a, 0x1a, 0x00, 0x20]), (0x2a2a, vec![1])]);
        assert_eq!(check_leaf(&room, &good), Ok(()));
        // A room that requires nothing takes any leaf, a plain openmls one included.
        assert_eq!(check_leaf(&context(&[]), &leaf(&[])), Ok(()));
        assert_eq!(check_leaf(&context(&[(0x0001, vec![0x00])]), &leaf(&[])), Ok(()));
        // A leaf without the dictionary, or without a component, or without the Safe AAD item.
        let missing =
            |list, missing: &[ComponentId]| Err(LeafComponentsError::Missing { list, missing: missing.to_vec() });
        assert_eq!(check_leaf(&room, &leaf(&[])), missing(0x0001, &[0x0001, 0x0002, 0x0022]));
        let no_list = leaf(&[(0x0001, encode(&[0x0001, 0x0002]).unwrap()), (0x0002, encode(&[0x0020]).unwrap())]);
        assert_eq!(check_leaf(&room, &no_list), missing(0x0001, &[0x0022]));
        let no_frank = leaf(&[(0x0001, app)]);
        let refusal = check_leaf(&room, &no_frank).unwrap_err();
        assert_eq!(refusal.to_string(), "the leaf's safe_aad list lacks the required component(s) 0x0020");
        // A list that is no ComponentsList.
        let bad = leaf(&[(0x0001, vec![0x03, 0x00, 0x01, 0x00])]);
        assert!(matches!(check_leaf(&room, &bad), Err(LeafComponentsError::Malformed { whose: "the leaf's", .. })));
    }
}
