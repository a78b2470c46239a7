//! Franking (protocol-06 §5.4.1): the hub binds an accepted application message to its sender, room and
//! acceptance time, so that a recipient can later report it as abuse verifiably.
//!
//! The client puts `franking_tag = HMAC_SHA256(salt, application_data)` into the PrivateMessage's
//! authenticated data as [`FrankAAD`] (SafeAAD component 0x0020). The hub computes
//! `server_frank = HMAC_SHA256(hub_key, franking_tag || ServerFrankingContext)` and signs
//! [`FrankingIntegrityTBS`] with the key published in the `franking_agent` component (0x0021,
//! [`FrankingAgentData`]). The resulting [`Frank`] travels in `SubmitMessageResponse` and
//! `FanoutMessage`, and back to the hub in an `AbuseReport`.

use openmls::prelude::{Ciphersuite, Credential, SignaturePublicKey};
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::signatures::Signer;
use openmls_traits::types::HashType;
use tls_codec::{Serialize, TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use super::labeled::{sign_with_label, verify_with_label};
use super::{IdentifierUri, WireError};

/// Label of the franking integrity signature.
pub const FRANKING_INTEGRITY_LABEL: &str = "FrankingIntegrityTBS";

/// SafeAAD component ID of [`FrankAAD`] (protocol-06 §10).
pub const FRANK_AAD_COMPONENT_ID: u16 = 0x0020;

/// GroupContext component ID of `franking_agent` ([`FrankingAgentData`]); IANA calls it
/// `franking_signature_key` (protocol-06 §10, spec notes §8 item 11).
pub const FRANKING_AGENT_COMPONENT_ID: u16 = 0x0021;

/// `struct { uint8 server_frank[32]; CipherSuite franking_signature_ciphersuite; opaque
/// franking_integrity_signature<V>; } Frank;` (protocol-06 §5.4).
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
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

/// `FrankingAgentData` (protocol-06 §5.4.1): the `franking_agent` component value, the hub's franking
/// signature key and credential.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct FrankingAgentData {
    /// `franking_signature_key`.
    pub franking_signature_key: SignaturePublicKey,
    /// `credential`: its domain must be the hub's.
    pub credential: Credential,
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
