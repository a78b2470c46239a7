//! The readable `fields` of vectors: draft field names, bytes as lowercase hex, enums as `"name(value)"`,
//! u64 as JSON integers. Embedded MLS objects are summarised (wire format, group id, epoch, content and
//! proposal types, credential identity, length).
//!
//! Each summary also carries the object's own encoding under [`EMBEDDED`] (`"tls"`: lowercase hex), so
//! that the JSON form is lossless and `mimi-interop encode` can rebuild the exact bytes. The published
//! files leave those keys out ([`published`]): there the bytes are inside the entry's `hex`.

use mimi_protocol::mls_message::PublicContent;
use openmls::messages::proposals_in::ProposalOrRefIn;
use openmls::prelude::{
    BasicCredential, Ciphersuite, ContentType, Credential, KeyPackageIn, MlsMessageBodyIn, MlsMessageIn, ProposalType,
    ProtocolMessage, SignaturePublicKey,
};
use serde_json::{json, Value as Json};
use tls_codec::Serialize;

/// The key under which a summary carries the summarised object's encoding (and the prefix of keys that
/// carry the encoding of a field whose rendering is lossy, such as `tls_group_info_extensions`).
pub const EMBEDDED: &str = "tls";

/// `fields` as published: without the [`EMBEDDED`] encodings, which the entry's `hex` already holds.
pub fn published(mut fields: Json) -> Json {
    strip_embedded(&mut fields);
    fields
}

fn strip_embedded(value: &mut Json) {
    match value {
        Json::Object(map) => {
            map.retain(|key, _| !key.starts_with(EMBEDDED));
            map.values_mut().for_each(strip_embedded);
        }
        Json::Array(items) => items.iter_mut().for_each(strip_embedded),
        _ => {}
    }
}

/// Adds the encoding of `value` under [`EMBEDDED`] to the summary object `summary`.
fn embed(mut summary: Json, value: &impl Serialize) -> Json {
    // Encoding an object that was decoded (or built) cannot fail; an empty string would not decode back.
    summary[EMBEDDED] = json!(value.tls_serialize_detached().map(hex::encode).unwrap_or_default());
    summary
}

/// A type name of openmls' `Debug` form (`AppDataUpdate`, `Custom(…)`) in the draft's snake case
/// (`app_data_update`, `custom`).
pub fn snake_case(debug: &str) -> String {
    let name = debug.split('(').next().unwrap_or_default();
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A code's `Debug` form (`PartialSuccess`) as the draft's lower camel case (`partialSuccess`).
pub fn lower_camel(debug: &str) -> String {
    let mut chars = debug.chars();
    chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// An MLS proposal type as `"name(value)"`.
pub fn proposal_type(t: ProposalType) -> Json {
    named(&snake_case(&format!("{t:?}")), u16::from(t))
}

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
    let summary = match BasicCredential::try_from(credential.clone()) {
        Ok(basic) => json!({
            "credential_type": named("basic", 1),
            "identity": String::from_utf8_lossy(basic.identity()),
        }),
        Err(_) => json!({ "credential_type": format!("{:?}", credential.credential_type()) }),
    };
    embed(summary, credential)
}

/// A signature public key as hex.
pub fn signature_key(key: &SignaturePublicKey) -> Json {
    hex(key.as_slice())
}

/// What a PublicMessage's (unauthenticated) content says: the proposal type of a proposal, the proposal
/// types of a commit's proposals by value (`"reference"` for a ProposalRef)
/// ([`mimi_protocol::mls_message::public_content`]).
fn public_content(message: &MlsMessageIn) -> Option<(&'static str, Json)> {
    match mimi_protocol::mls_message::public_content(message)? {
        PublicContent::Proposal(p) => Some(("proposal_type", proposal_type(p.proposal_type()))),
        PublicContent::Commit(proposals) => {
            let types = proposals.iter().map(|p| match p {
                ProposalOrRefIn::Proposal(p) => proposal_type(p.proposal_type()),
                ProposalOrRefIn::Reference(_) => json!("reference"),
            });
            Some(("proposals", Json::Array(types.collect())))
        }
    }
}

/// A summary of an `MLSMessage`: wire format, and for Public- and PrivateMessages the group id and
/// epoch, for PublicMessages the content type and the proposal types.
pub fn mls_message(message: &MlsMessageIn) -> Json {
    let length = len(message);
    let summary = match message.clone().extract() {
        MlsMessageBodyIn::PublicMessage(public) => {
            let protocol = ProtocolMessage::from(public);
            let content = match protocol.content_type() {
                ContentType::Application => named("application", 1),
                ContentType::Proposal => named("proposal", 2),
                ContentType::Commit => named("commit", 3),
            };
            let mut summary = json!({
                "wire_format": named("mls_public_message", 1),
                "group_id": hex(protocol.group_id().as_slice()),
                "content_type": content,
                "epoch": protocol.epoch().as_u64(),
            });
            if let Some((key, value)) = public_content(message) {
                summary[key] = value;
            }
            summary["length"] = json!(length);
            summary
        }
        MlsMessageBodyIn::PrivateMessage(private) => {
            let protocol = ProtocolMessage::from(private);
            json!({
                "wire_format": named("mls_private_message", 2),
                "group_id": hex(protocol.group_id().as_slice()),
                "epoch": protocol.epoch().as_u64(),
                "length": length,
            })
        }
        MlsMessageBodyIn::Welcome(_) => json!({ "wire_format": named("mls_welcome", 3), "length": length }),
        MlsMessageBodyIn::GroupInfo(_) => json!({ "wire_format": named("mls_group_info", 4), "length": length }),
        MlsMessageBodyIn::KeyPackage(kp) => {
            json!({ "wire_format": named("mls_key_package", 5), "keyPackage": key_package(&kp), "length": length })
        }
    };
    embed(summary, message)
}

/// A summary of a bare KeyPackage.
pub fn key_package(kp: &KeyPackageIn) -> Json {
    let summary = json!({
        "KeyPackage": { "credential": credential(&kp.unverified_credential().credential) },
        "length": len(kp),
    });
    embed(summary, kp)
}

/// A summary of any other embedded MLS structure: its name and encoded length.
pub fn opaque(name: &str, value: &impl Serialize) -> Json {
    json!({ name: embed(json!({ "length": len(value) }), value) })
}
