//! Last-resort KeyPackages: the one rule deciding whether an uploaded KeyPackage may be served
//! again once a client has no single-use one left.
//!
//! Two encodings mark a KeyPackage last-resort, and either suffices:
//! - mls-extensions-10: the `last_resort_key_package` component (ID 0x0004, empty `data`) in the
//!   `app_data_dictionary` extension of the KeyPackage itself (not of its LeafNode);
//! - the older `last_resort` KeyPackage extension (type 0x000a), which openmls 0.9 writes
//!   (`KeyPackageBuilder::mark_as_last_resort`) and is the only form it reads
//!   (`KeyPackage::last_resort`).
//!
//! Every other component of that dictionary (GREASE, private-range, unknown) is ignored here;
//! the KeyPackage's bytes are stored and served as uploaded.

use openmls::component::ComponentId;
use openmls::prelude::{ExtensionType, KeyPackage};

/// `last_resort_key_package` (mls-extensions-10, component registry): a KeyPackage
/// `app_data_dictionary` entry with this ID and empty `data` marks the KeyPackage last-resort.
pub const LAST_RESORT_KEY_PACKAGE_COMPONENT_ID: ComponentId = 0x0004;

/// Why a KeyPackage's last-resort marker is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LastResortError {
    /// The `last_resort_key_package` component carries data; mls-extensions-10 defines it with
    /// an empty `data` field.
    #[error("the last_resort_key_package component (0x0004) carries {0} bytes of data, it must be empty")]
    ComponentWithData(usize),
}

/// Whether `key_package` is last-resort: it carries the `last_resort_key_package` component in
/// its own `app_data_dictionary`, or the older `last_resort` extension (module docs).
pub fn is_last_resort(key_package: &KeyPackage) -> Result<bool, LastResortError> {
    let component = key_package
        .extensions()
        .app_data_dictionary()
        .and_then(|extension| extension.dictionary().get(&LAST_RESORT_KEY_PACKAGE_COMPONENT_ID));
    match component {
        Some([]) => Ok(true),
        Some(data) => Err(LastResortError::ComponentWithData(data.len())),
        None => Ok(key_package.extensions().contains(ExtensionType::LastResort)),
    }
}

#[cfg(test)]
mod tests {
    use openmls::prelude::tls_codec::Serialize as _;
    use openmls::prelude::{
        AppDataDictionary, AppDataDictionaryExtension, BasicCredential, Capabilities, Ciphersuite, CredentialWithKey,
        Extension, Extensions,
    };
    use openmls_basic_credential::SignatureKeyPair;
    use openmls_rust_crypto::OpenMlsRustCrypto;

    use super::*;

    const CS: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

    /// A KeyPackage of `mimi://a.example/d/bob/phone` with these KeyPackage extensions, marked with
    /// the older extension if `legacy_marker`; its leaf lists both extension types.
    fn key_package(extensions: Vec<Extension>, legacy_marker: bool) -> KeyPackage {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
        let credential = CredentialWithKey {
            credential: BasicCredential::new(b"mimi://a.example/d/bob/phone".to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        let capabilities = Capabilities::new(
            None,
            Some(&[CS]),
            Some(&[ExtensionType::AppDataDictionary, ExtensionType::LastResort]),
            None,
            None,
        );
        let mut builder = KeyPackage::builder()
            .leaf_node_capabilities(capabilities)
            .key_package_extensions(Extensions::from_vec(extensions).unwrap());
        if legacy_marker {
            builder = builder.mark_as_last_resort();
        }
        builder.build(CS, &provider, &signer, credential).unwrap().key_package().clone()
    }

    fn dictionary(entries: &[(ComponentId, &[u8])]) -> Extension {
        let mut dictionary = AppDataDictionary::new();
        for (id, data) in entries {
            dictionary.insert(*id, data.to_vec());
        }
        Extension::AppDataDictionary(AppDataDictionaryExtension::new(dictionary))
    }

    #[test]
    fn the_component_form_marks_last_resort() {
        let marker = dictionary(&[(0x0004, b"")]);
        // extension_type 0x0006, extension_data<V> = component_data<V> = [{0x0004, data<V> = empty}]
        assert_eq!(marker.tls_serialize_detached().unwrap(), [0x00, 0x06, 0x04, 0x03, 0x00, 0x04, 0x00]);
        let kp = key_package(vec![marker], false);
        assert!(!kp.last_resort(), "openmls 0.9 reads only the extension");
        assert_eq!(is_last_resort(&kp), Ok(true));
    }

    #[test]
    fn the_older_extension_marks_last_resort() {
        let kp = key_package(vec![], true);
        // extension_type 0x000a, empty extension_data
        let marker = Extension::LastResort(Default::default());
        assert_eq!(marker.tls_serialize_detached().unwrap(), [0x00, 0x0a, 0x00]);
        assert!(kp.extensions().iter().any(|e| e == &marker));
        assert_eq!(is_last_resort(&kp), Ok(true));
    }

    #[test]
    fn other_components_neither_mark_nor_spoil_it() {
        // A GREASE, a private-range and an unassigned component, without the marker.
        let others: [(ComponentId, &[u8]); 3] = [(0x0A0A, b"\xde\xad"), (0x1234, b"x"), (0x8123, b"\x01\x02")];
        assert_eq!(is_last_resort(&key_package(vec![dictionary(&others)], false)), Ok(false));
        assert_eq!(is_last_resort(&key_package(vec![], false)), Ok(false));
        // The same with the marker among them.
        let mut with_marker = others.to_vec();
        with_marker.push((0x0004, b""));
        assert_eq!(is_last_resort(&key_package(vec![dictionary(&with_marker)], false)), Ok(true));
        // A marker with data is malformed, whatever the extension says.
        let bad = key_package(vec![dictionary(&[(0x0004, b"\x00")])], true);
        assert_eq!(is_last_resort(&bad), Err(LastResortError::ComponentWithData(1)));
    }
}
