//! Franking (protocol-06 §5.4.1): the hub binds an accepted application message to its sender, room and
//! acceptance time, so that a recipient can later report it as abuse verifiably.
//!
//! The client puts `franking_tag = HMAC_SHA256(salt, application_data)` into the PrivateMessage's
//! authenticated data as [`FrankAAD`] (SafeAAD component 0x0020). The hub computes
//! `server_frank = HMAC_SHA256(hub_key, franking_tag || ServerFrankingContext)` and signs
//! [`FrankingIntegrityTBS`] with the key published in the `franking_agent` component (0x0021,
//! [`FrankingAgentData`]). The resulting [`Frank`] travels in `SubmitMessageResponse` and
//! `FanoutMessage`, and back to the hub in an `AbuseReport`.
//!
//! Authenticated data: the client writes the SafeAAD structure of mls-extensions (openmls'
//! [`SafeAad`], items sorted by component ID) with the `frank_aad` item as the PrivateMessage's
//! `authenticated_data` ([`FrankAAD::authenticated_data`]); the hub reads the SafeAAD prefix of
//! whatever authenticated data it finds ([`FrankAAD::from_authenticated_data`]), so both the -09
//! layout (safe items first, then anything) and the -10 one (the whole AAD is a SafeAAD) work. In a
//! room whose GroupContext holds `safe_aad` the -10 layout is required ([`crate::safe_aad`]); the
//! client stages the item ([`FrankAAD::safe_aad_item`]) and openmls writes the SafeAAD.

use openmls::framing::{SafeAad, SafeAadItem};
use openmls::prelude::{Ciphersuite, Credential, Extensions, GroupContext, SignaturePublicKey};
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::signatures::Signer;
use openmls_traits::types::HashType;
use tls_codec::{Deserialize, DeserializeBytes, Serialize, TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use super::labeled::{sign_with_label, verify_with_label};
use super::{IdentifierUri, WireError};

/// Label of the franking integrity signature.
pub const FRANKING_INTEGRITY_LABEL: &str = "FrankingIntegrityTBS";

/// SafeAAD component ID of [`FrankAAD`] (protocol-06 §10).
pub const FRANK_AAD_COMPONENT_ID: u16 = 0x0020;

/// GroupContext component ID of `franking_agent` ([`FrankingAgentData`]); IANA calls it
/// `franking_signature_key` (protocol-06 §10); the two names denote the same component.
pub const FRANKING_AGENT_COMPONENT_ID: u16 = 0x0021;

/// `struct { uint8 server_frank[32]; CipherSuite franking_signature_ciphersuite; opaque
/// franking_integrity_signature<V>; } Frank;` (protocol-06 §5.4).
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct Frank {
    /// `server_frank`: HMAC of the franking tag and context under the hub's key.
    pub server_frank: [u8; 32],
    /// `franking_signature_ciphersuite`: whose signature algorithm made the signature.
    pub franking_signature_ciphersuite: Ciphersuite,
    /// `franking_integrity_signature`: `SignWithLabel(franking key, "FrankingIntegrityTBS", …)`.
    pub franking_integrity_signature: VLBytes,
}

/// `struct { uint8 franking_tag[32]; } FrankAAD;` (protocol-06 §5.4.1): the client's commitment, carried
/// in the message's authenticated data.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct FrankAAD {
    /// `franking_tag`: `HMAC_SHA256(salt, application_data)`.
    pub franking_tag: [u8; 32],
}

impl FrankAAD {
    /// The client's side: `franking_tag = HMAC_SHA256(salt, application_data)`, with `salt` the
    /// MIMI content's 16-byte salt and `application_data` the encoded content.
    pub fn compute(crypto: &impl OpenMlsCrypto, salt: &[u8], application_data: &[u8]) -> Result<Self, WireError> {
        let mac = crypto.hmac(HashType::Sha2_256, salt, application_data).map_err(|source| WireError::Crypto {
            what: "FrankAAD",
            operation: "hmac",
            source,
        })?;
        let franking_tag = mac
            .as_slice()
            .try_into()
            .map_err(|_| WireError::Inconsistent { what: "FrankAAD", rule: "HMAC-SHA256 is 32 bytes" })?;
        Ok(Self { franking_tag })
    }

    /// This tag as the SafeAAD item `frank_aad` (0x0020): what a client stages with openmls'
    /// `MlsGroup::set_safe_aad` in a room that frames its AAD as Safe AAD (`crate::safe_aad`).
    pub fn safe_aad_item(&self) -> Result<SafeAadItem, WireError> {
        let bytes = self.tls_serialize_detached().map_err(|source| WireError::Encode { what: "FrankAAD", source })?;
        Ok(SafeAadItem::new(FRANK_AAD_COMPONENT_ID, bytes))
    }

    /// The PrivateMessage `authenticated_data` carrying this tag: a SafeAAD whose only item is
    /// `frank_aad` (0x0020); what a client sets with `MlsGroup::set_aad` in a room without
    /// `safe_aad` (where openmls writes the AAD as given).
    pub fn authenticated_data(&self) -> Result<Vec<u8>, WireError> {
        let aad = SafeAad::from_items(vec![self.safe_aad_item()?])
            .map_err(|_| WireError::Inconsistent { what: "SafeAAD", rule: "one item is sorted" })?;
        aad.tls_serialize_detached().map_err(|source| WireError::Encode { what: "SafeAAD", source })
    }

    /// The `frank_aad` item of a message's `authenticated_data`, if it starts with a well-formed
    /// SafeAAD holding one; `None` otherwise (such a message is simply not franked).
    pub fn from_authenticated_data(aad: &[u8]) -> Option<Self> {
        let (safe, _rest) = SafeAad::tls_deserialize_bytes(aad).ok()?;
        Self::tls_deserialize_exact(safe.get(FRANK_AAD_COMPONENT_ID)?).ok()
    }
}

/// `FrankingAgentData` (protocol-06 §5.4.1): the `franking_agent` component value, the hub's franking
/// signature key and credential.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct FrankingAgentData {
    /// `franking_signature_key`.
    pub franking_signature_key: SignaturePublicKey,
    /// `credential`: its domain must be the hub's.
    pub credential: Credential,
}

impl FrankingAgentData {
    /// The `franking_agent` component of a GroupContext's `app_data_dictionary`, if present and
    /// well-formed (a malformed one counts as absent: nothing is franked).
    pub fn of_group(extensions: &Extensions<GroupContext>) -> Option<Self> {
        let bytes = extensions.app_data_dictionary()?.dictionary().get(&FRANKING_AGENT_COMPONENT_ID)?;
        Self::tls_deserialize_exact(bytes).ok()
    }
}

/// `ServerFrankingContext` (protocol-06 §5.4.1): what the frank binds the message to.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct ServerFrankingContext {
    /// `sender_uri`: the sending user (not sent to followers; recovered from the content).
    pub sender_uri: IdentifierUri,
    /// `room_uri`: the room.
    pub room_uri: IdentifierUri,
    /// `accepted_timestamp`: hub acceptance time, milliseconds since the UNIX epoch.
    pub accepted_timestamp: u64,
}

/// `FrankingIntegrityTBS` (protocol-06 §5.4.1): what the franking signature covers.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct FrankingIntegrityTBS {
    /// `server_frank`.
    pub server_frank: [u8; 32],
    /// `franking_signature_ciphersuite`.
    pub franking_signature_ciphersuite: Ciphersuite,
    /// `context`.
    pub context: ServerFrankingContext,
}

/// `server_frank = HMAC_SHA256(hub_key, franking_tag || context)`.
pub fn server_frank(
    crypto: &impl OpenMlsCrypto,
    hub_key: &[u8],
    franking_tag: &[u8; 32],
    context: &ServerFrankingContext,
) -> Result<[u8; 32], WireError> {
    let mut message = franking_tag.to_vec();
    context
        .tls_serialize(&mut message)
        .map_err(|source| WireError::Encode { what: "ServerFrankingContext", source })?;
    let mac = crypto.hmac(HashType::Sha2_256, hub_key, &message).map_err(|source| WireError::Crypto {
        what: "Frank",
        operation: "hmac",
        source,
    })?;
    mac.as_slice().try_into().map_err(|_| WireError::Inconsistent { what: "Frank", rule: "HMAC-SHA256 is 32 bytes" })
}

impl Frank {
    /// The hub's side: computes `server_frank` and signs it with the franking key.
    pub fn issue(
        crypto: &impl OpenMlsCrypto,
        signer: &impl Signer,
        franking_signature_ciphersuite: Ciphersuite,
        hub_key: &[u8],
        franking_tag: &[u8; 32],
        context: ServerFrankingContext,
    ) -> Result<Self, WireError> {
        let server_frank = server_frank(crypto, hub_key, franking_tag, &context)?;
        let tbs = FrankingIntegrityTBS { server_frank, franking_signature_ciphersuite, context };
        let franking_integrity_signature =
            sign_with_label(signer, FRANKING_INTEGRITY_LABEL, "FrankingIntegrityTBS", &tbs)?;
        Ok(Self { server_frank, franking_signature_ciphersuite, franking_integrity_signature })
    }

    /// A receiver's side: verifies the integrity signature for `context` under the room's
    /// `franking_signature_key` (checking that key's credential is the hub's is the caller's job).
    pub fn verify(
        &self,
        crypto: &impl OpenMlsCrypto,
        franking_signature_key: &SignaturePublicKey,
        context: ServerFrankingContext,
    ) -> Result<(), WireError> {
        let tbs = FrankingIntegrityTBS {
            server_frank: self.server_frank,
            franking_signature_ciphersuite: self.franking_signature_ciphersuite,
            context,
        };
        verify_with_label(
            crypto,
            self.franking_signature_ciphersuite.signature_algorithm(),
            franking_signature_key.as_slice(),
            FRANKING_INTEGRITY_LABEL,
            "FrankingIntegrityTBS",
            &tbs,
            self.franking_integrity_signature.as_slice(),
        )
    }
}
