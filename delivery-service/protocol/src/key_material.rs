//! Claiming key material: `POST /keyMaterial/{targetUser}` (protocol-06 §5.2).
//!
//! A requester's provider asks — always through the hub of the room the KeyPackages are for — for one
//! KeyPackage per client of a target user. The request is signed by the requesting client
//! (`SignWithLabel(requesterSignatureKey, "KeyMaterialRequestTBS", …)`); the response carries a user-level
//! [`KeyMaterialUserCode`] and one [`ClientKeyMaterial`] per client.
//!
//! `KeyPackage` here is the bare RFC 9420 struct (not wrapped in an MLSMessage), as the draft writes it.

use std::io::{Read, Write};

use openmls::prelude::{Capabilities, Credential, KeyPackageIn, RequiredCapabilitiesExtension, SignaturePublicKey};
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::signatures::Signer;
use openmls_traits::types::{SignatureScheme, VerifiableCiphersuite};
use tls_codec::{Deserialize, Serialize, Size, TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use super::labeled::{sign_with_label, verify_with_label};
use super::{Body, IdentifierUri, Protocol, WireError};

/// Label of the request signature.
pub const KEY_MATERIAL_REQUEST_LABEL: &str = "KeyMaterialRequestTBS";

/// `KeyMaterialRequestTBS` (protocol-06 §5.2): the request without its signature; what the requester
/// signs.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyMaterialRequestTBS {
    /// `protocol`: only `mls10`; the remaining fields are its select arm.
    pub protocol: Protocol,
    /// `requestingUser`: the user on whose behalf KeyPackages are claimed.
    pub requesting_user: IdentifierUri,
    /// `targetUser`: the user whose clients' KeyPackages are claimed.
    pub target_user: IdentifierUri,
    /// `roomId`: the room the KeyPackages will be used in (consent may be per room).
    pub room_id: IdentifierUri,
    /// `acceptableCiphersuites`: suites the requester accepts. Kept as raw 16-bit codes so unknown or
    /// GREASE values decode.
    pub acceptable_ciphersuites: Vec<VerifiableCiphersuite>,
    /// `requiredCapabilities`: what every returned KeyPackage must support (the room's
    /// `required_capabilities`).
    pub required_capabilities: RequiredCapabilitiesExtension,
    /// `requesterSignatureKey`: key the signature verifies under.
    pub requester_signature_key: SignaturePublicKey,
    /// `requesterCredential`: the requesting client's credential.
    pub requester_credential: Credential,
}

/// `KeyMaterialRequest` (protocol-06 §5.2): [`KeyMaterialRequestTBS`] followed by
/// `opaque key_material_request_signature<V>`. Declared as TBS + signature, which is byte-identical to
/// the draft's flat struct.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyMaterialRequest {
    /// Every field but the signature.
    pub tbs: KeyMaterialRequestTBS,
    /// `key_material_request_signature`: `SignWithLabel(requesterSignatureKey, "KeyMaterialRequestTBS",
    /// KeyMaterialRequestTBS)`.
    pub key_material_request_signature: VLBytes,
}

impl Body for KeyMaterialRequest {
    const NAME: &'static str = "KeyMaterialRequest";
}

impl KeyMaterialRequest {
    /// Signs `tbs` with the requesting client's key.
    pub fn sign(tbs: KeyMaterialRequestTBS, signer: &impl Signer) -> Result<Self, WireError> {
        let key_material_request_signature =
            sign_with_label(signer, KEY_MATERIAL_REQUEST_LABEL, "KeyMaterialRequestTBS", &tbs)?;
        Ok(Self { tbs, key_material_request_signature })
    }

    /// Verifies the signature under `requesterSignatureKey`. The draft does not say which signature scheme
    /// applies (there is no single ciphersuite field); the caller passes the one of the requester's
    /// credential or of the room.
    pub fn verify(&self, crypto: &impl OpenMlsCrypto, scheme: SignatureScheme) -> Result<(), WireError> {
        verify_with_label(
            crypto,
            scheme,
            self.tbs.requester_signature_key.as_slice(),
            KEY_MATERIAL_REQUEST_LABEL,
            "KeyMaterialRequestTBS",
            &self.tbs,
            self.key_material_request_signature.as_slice(),
        )
    }
}

/// `KeyMaterialUserCode` (protocol-06 §5.2): the outcome for the target user as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum KeyMaterialUserCode {
    /// Every client returned a KeyPackage.
    Success = 0,
    /// Some clients did.
    PartialSuccess = 1,
    /// The requested protocol is not supported.
    IncompatibleProtocol = 2,
    /// No client has material compatible with the request.
    NoCompatibleMaterial = 3,
    /// No such user.
    UserUnknown = 4,
    /// The target has not consented (may be used as a privacy catch-all).
    NoConsent = 5,
    /// The target has not consented for this room.
    NoConsentForThisRoom = 6,
    /// The user was deleted.
    UserDeleted = 7,
}

impl KeyMaterialUserCode {
    /// Whether `clients` may be populated with this code: MUST for `success`/`partialSuccess`, MAY for
    /// `noCompatibleMaterial`, MUST NOT otherwise (protocol-06 §5.2).
    pub fn allows_clients(self) -> bool {
        matches!(
            self,
            KeyMaterialUserCode::Success
                | KeyMaterialUserCode::PartialSuccess
                | KeyMaterialUserCode::NoCompatibleMaterial
        )
    }
}

/// `KeyMaterialClientCode` (protocol-06 §5.2): the outcome for one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum KeyMaterialClientCode {
    /// A KeyPackage follows.
    Success = 0,
    /// The client has no KeyPackage left.
    KeyMaterialExhausted = 1,
    /// The client has KeyPackages, but none fits the request; its capabilities may follow.
    NothingCompatible = 2,
}

/// The `select (clientStatus)` part of [`ClientKeyMaterial`].
// Values live briefly between decode and use; boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ClientKeyMaterialStatus {
    /// `success`: the claimed KeyPackage.
    Success {
        /// `keyPackage`.
        key_package: KeyPackageIn,
    },
    /// `keyMaterialExhausted`: nothing follows.
    KeyMaterialExhausted,
    /// `nothingCompatible`: optionally, what the client supports.
    NothingCompatible {
        /// `clientCapabilities`.
        client_capabilities: Option<Capabilities>,
    },
}

impl ClientKeyMaterialStatus {
    /// The code this status is sent with.
    pub fn code(&self) -> KeyMaterialClientCode {
        match self {
            ClientKeyMaterialStatus::Success { .. } => KeyMaterialClientCode::Success,
            ClientKeyMaterialStatus::KeyMaterialExhausted => KeyMaterialClientCode::KeyMaterialExhausted,
            ClientKeyMaterialStatus::NothingCompatible { .. } => KeyMaterialClientCode::NothingCompatible,
        }
    }
}

/// `ClientKeyMaterial` (protocol-06 §5.2): `clientStatus`, `clientUri`, then data selected by the status.
/// The URI sits between the code and its data, so the codec is written by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientKeyMaterial {
    /// `clientUri`: the client this entry is about.
    pub client_uri: IdentifierUri,
    /// `clientStatus` with its selected data.
    pub status: ClientKeyMaterialStatus,
}

impl Size for ClientKeyMaterial {
    fn tls_serialized_len(&self) -> usize {
        let data = match &self.status {
            ClientKeyMaterialStatus::Success { key_package } => key_package.tls_serialized_len(),
            ClientKeyMaterialStatus::KeyMaterialExhausted => 0,
            ClientKeyMaterialStatus::NothingCompatible { client_capabilities } => {
                client_capabilities.tls_serialized_len()
            }
        };
        self.status.code().tls_serialized_len() + self.client_uri.tls_serialized_len() + data
    }
}

impl Serialize for ClientKeyMaterial {
    fn tls_serialize<W: Write>(&self, writer: &mut W) -> Result<usize, tls_codec::Error> {
        let mut written = self.status.code().tls_serialize(writer)?;
        written += self.client_uri.tls_serialize(writer)?;
        written += match &self.status {
            ClientKeyMaterialStatus::Success { key_package } => key_package.tls_serialize(writer)?,
            ClientKeyMaterialStatus::KeyMaterialExhausted => 0,
            ClientKeyMaterialStatus::NothingCompatible { client_capabilities } => {
                client_capabilities.tls_serialize(writer)?
            }
        };
        Ok(written)
    }
}

impl Deserialize for ClientKeyMaterial {
    fn tls_deserialize<R: Read>(bytes: &mut R) -> Result<Self, tls_codec::Error> {
        let code = KeyMaterialClientCode::tls_deserialize(bytes)?;
        let client_uri = IdentifierUri::tls_deserialize(bytes)?;
        let status = match code {
            KeyMaterialClientCode::Success => {
                ClientKeyMaterialStatus::Success { key_package: KeyPackageIn::tls_deserialize(bytes)? }
            }
            KeyMaterialClientCode::KeyMaterialExhausted => ClientKeyMaterialStatus::KeyMaterialExhausted,
            KeyMaterialClientCode::NothingCompatible => ClientKeyMaterialStatus::NothingCompatible {
                client_capabilities: Option::<Capabilities>::tls_deserialize(bytes)?,
            },
        };
        Ok(Self { client_uri, status })
    }
}

/// `KeyMaterialResponse` (protocol-06 §5.2).
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyMaterialResponse {
    /// `protocol`: only `mls10`.
    pub protocol: Protocol,
    /// `userStatus`: the outcome for the target user.
    pub user_status: KeyMaterialUserCode,
    /// `userUri`: the target user.
    pub user_uri: IdentifierUri,
    /// `clients`: one entry per client; only allowed for some codes (see
    /// [`KeyMaterialUserCode::allows_clients`]).
    pub clients: Vec<ClientKeyMaterial>,
}

impl Body for KeyMaterialResponse {
    const NAME: &'static str = "KeyMaterialResponse";

    fn check(&self) -> Result<(), WireError> {
        if !self.clients.is_empty() && !self.user_status.allows_clients() {
            return Err(WireError::Inconsistent {
                what: Self::NAME,
                rule: "clients MUST NOT be populated for this userStatus",
            });
        }
        Ok(())
    }
}
