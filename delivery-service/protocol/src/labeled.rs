//! RFC 9420 §5.1.2 `SignWithLabel`/`VerifyWithLabel` and §5.1.3 `EncryptWithLabel`/`DecryptWithLabel`,
//! which protocol-06 uses for `KeyMaterialRequest`, `GroupInfoRequest`/`GroupInfoResponse` and franking.
//!
//! Signing uses openmls' own `SignContent` (label prefixed with `"MLS 1.0 "`) and any
//! [`Signer`]; verifying and HPKE go through the provider's [`OpenMlsCrypto`], so the hub and clients use
//! the same primitives as their MLS stack.

use openmls::prelude::SignContent;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::signatures::Signer;
use openmls_traits::types::{CryptoError, HpkeCiphertext, HpkeConfig, SignatureScheme};
use tls_codec::{Serialize, TlsSerialize, TlsSize, VLBytes};

use super::WireError;

/// RFC 9420 prefix of every label.
const LABEL_PREFIX: &str = "MLS 1.0 ";

/// `struct { opaque label<V>; opaque context<V>; } EncryptContext;` (RFC 9420 §5.1.3), the HPKE `info`.
#[derive(Debug, Clone, TlsSerialize, TlsSize)]
struct EncryptContext {
    /// `"MLS 1.0 " + Label`.
    label: VLBytes,
    /// The caller's context (for GroupInfo: the room ID).
    context: VLBytes,
}

/// Serializes `tbs` and signs it with `SignWithLabel(signer, label, tbs)`.
pub fn sign_with_label<T: Serialize>(
    signer: &impl Signer,
    label: &'static str,
    what: &'static str,
    tbs: &T,
) -> Result<VLBytes, WireError> {
    let content = tbs.tls_serialize_detached().map_err(|source| WireError::Encode { what, source })?;
    let sign_content = SignContent::new(label, content.into());
    let payload = sign_content.tls_serialize_detached().map_err(|source| WireError::Encode { what, source })?;
    signer.sign(&payload).map(VLBytes::from).map_err(|_| WireError::Crypto {
        what,
        operation: "sign",
        source: CryptoError::CryptoLibraryError,
    })
}

/// Checks `signature` over `tbs` with `VerifyWithLabel(public_key, label, tbs)`.
pub fn verify_with_label<T: Serialize>(
    crypto: &impl OpenMlsCrypto,
    scheme: SignatureScheme,
    public_key: &[u8],
    label: &'static str,
    what: &'static str,
    tbs: &T,
    signature: &[u8],
) -> Result<(), WireError> {
    let content = tbs.tls_serialize_detached().map_err(|source| WireError::Encode { what, source })?;
    let sign_content = SignContent::new(label, content.into());
    let payload = sign_content.tls_serialize_detached().map_err(|source| WireError::Encode { what, source })?;
    crypto.verify_signature(scheme, &payload, public_key, signature).map_err(|_| WireError::BadSignature { what })
}

/// `EncryptWithLabel(public_key, label, context, plaintext)` = `SealBase(pk, EncryptContext, "", pt)`.
pub fn encrypt_with_label(
    crypto: &impl OpenMlsCrypto,
    config: HpkeConfig,
    public_key: &[u8],
    label: &'static str,
    context: &[u8],
    plaintext: &[u8],
    what: &'static str,
) -> Result<HpkeCiphertext, WireError> {
    let info = encrypt_context(label, context, what)?;
    crypto.hpke_seal(config, public_key, &info, &[], plaintext).map_err(|source| WireError::Crypto {
        what,
        operation: "hpke seal",
        source,
    })
}

/// `DecryptWithLabel(private_key, label, context, kem_output, ciphertext)` = `OpenBase(…)`.
pub fn decrypt_with_label(
    crypto: &impl OpenMlsCrypto,
    config: HpkeConfig,
    private_key: &[u8],
    label: &'static str,
    context: &[u8],
    ciphertext: &HpkeCiphertext,
    what: &'static str,
) -> Result<Vec<u8>, WireError> {
    let info = encrypt_context(label, context, what)?;
    crypto.hpke_open(config, ciphertext, private_key, &info, &[]).map_err(|source| WireError::Crypto {
        what,
        operation: "hpke open",
        source,
    })
}

fn encrypt_context(label: &str, context: &[u8], what: &'static str) -> Result<Vec<u8>, WireError> {
    let full_label = format!("{LABEL_PREFIX}{label}");
    EncryptContext { label: full_label.into_bytes().into(), context: context.into() }
        .tls_serialize_detached()
        .map_err(|source| WireError::Encode { what, source })
}
