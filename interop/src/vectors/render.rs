//! The readable `fields` of vectors: draft field names, bytes as lowercase hex, enums as `"name(value)"`,
//! u64 as JSON integers. Embedded MLS objects are summarised (kind, epoch, credential identity, length);
//! their bytes are inside the entry's `hex`.

use openmls::prelude::{
    BasicCredential, Ciphersuite, ContentType, Credential, KeyPackageIn, MlsMessageBodyIn, MlsMessageIn,
    ProtocolMessage, SignaturePublicKey,
};
use serde_json::{json, Value as Json};
use tls_codec::Serialize;

/// `"name(value)"`.
pub fn named(name: &str, value: impl std::fmt::Display) -> Json {
    json!(format!("{name}({value})"))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> Json {
    json!(hex::encode(bytes))
}

/// The encoded length of any TLS value, for summaries.
fn len(value: &impl Serialize) -> usize {
    value.tls_serialized_len()
}

/// A ciphersuite as `"MLS_128_…(1)"`.
pub fn ciphersuite(cs: Ciphersuite) -> Json {
    named(&format!("{cs:?}"), u16::from(cs))
}

/// A credential: type and (for Basic) the identity text.
pub fn credential(credential: &Credential) -> Json {
    match BasicCredential::try_from(credential.clone()) {
        Ok(basic) => json!({
            "credential_type": named("basic", 1),
            "identity": String::from_utf8_lossy(basic.identity()),
        }),
        Err(_) => json!({ "credential_type": format!("{:?}", credential.credential_type()) }),
    }
}

/// A signature public key as hex.
pub fn signature_key(key: &SignaturePublicKey) -> Json {
    hex(key.as_slice())
}

/// A summary of an `MLSMessage`: wire format, and for PublicMessages content type, epoch and sender.
pub fn mls_message(message: &MlsMessageIn) -> Json {
    let length = len(message);
    match message.clone().extract() {
        MlsMessageBodyIn::PublicMessage(public) => {
            let protocol = ProtocolMessage::from(public);
            let content = match protocol.content_type() {
                ContentType::Application => named("application", 1),
                ContentType::Proposal => named("proposal", 2),
                ContentType::Commit => named("commit", 3),
            };
            json!({
                "wire_format": named("mls_public_message", 1),
                "content_type": content,
                "epoch": protocol.epoch().as_u64(),
                "length": length,
            })
        }
        MlsMessageBodyIn::PrivateMessage(private) => {
            let protocol = ProtocolMessage::from(private);
            json!({
                "wire_format": named("mls_private_message", 2),
                "epoch": protocol.epoch().as_u64(),
                "length": length,
            })
        }
        MlsMessageBodyIn::Welcome(_) => json!({ "wire_format": named("mls_welcome", 3), "length": length }),
        MlsMessageBodyIn::GroupInfo(_) => json!({ "wire_format": named("mls_group_info", 4), "length": length }),
        MlsMessageBodyIn::KeyPackage(kp) => {
            json!({ "wire_format": named("mls_key_package", 5), "keyPackage": key_package(&kp), "length": length })
        }
    }
}

/// A summary of a bare KeyPackage.
pub fn key_package(kp: &KeyPackageIn) -> Json {
    json!({
        "KeyPackage": { "credential": credential(&kp.unverified_credential().credential) },
        "length": len(kp),
    })
}

/// A summary of any other embedded MLS structure: its name and encoded length.
pub fn opaque(name: &str, value: &impl Serialize) -> Json {
    json!({ name: { "length": len(value) } })
}
