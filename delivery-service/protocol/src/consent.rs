//! Explicit consent: `POST /requestConsent/{targetUser}` and `POST /updateConsent/{requesterUser}`
//! (protocol-06 §5.7), provider → provider, never through a hub.
//!
//! Both carry a [`ConsentEntry`]: `request`/`cancel` go from the requester's provider to the target's,
//! `grant`/`revoke` the other way; a `grant` may bring the target's KeyPackages for an immediate Add.
//! Answers are HTTP codes only (201/404/5xx). The entry is unsigned: only mTLS authenticates it (spec
//! notes §8 item 12). `RoomId` is undefined in the draft and read as [`IdentifierUri`].

use std::io::{Read, Write};

use openmls::extensions::AppDataDictionary;
use openmls::prelude::KeyPackageIn;
use tls_codec::{Deserialize, Serialize, Size, TlsDeserialize, TlsSerialize, TlsSize};

use super::{Body, IdentifierUri};

/// `enum { cancel(0), request(1), grant(2), revoke(3), (255) } ConsentOperation;` (protocol-06 §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum ConsentOperation {
    /// Withdraw an earlier request (same scope).
    Cancel = 0,
    /// Ask the target for consent.
    Request = 1,
    /// The target consents; KeyPackages may follow.
    Grant = 2,
    /// The target revokes or preemptively denies consent.
    Revoke = 3,
}

/// `struct { IdentifierUri requesterUri; IdentifierUri targetUri; optional<RoomId> roomId; }
/// ConsentScope;` (protocol-06 §5.7): what a consent decision applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct ConsentScope {
    /// `requesterUri`: the user who will later claim KeyPackages.
    pub requester_uri: IdentifierUri,
    /// `targetUri`: the user whose consent it is.
    pub target_uri: IdentifierUri,
    /// `roomId`: present when consent is for one room only.
    pub room_id: Option<IdentifierUri>,
}

/// The operation and, for `grant`, its KeyPackages.
#[derive(Debug, Clone, PartialEq)]
pub enum Consent {
    /// `cancel`.
    Cancel,
    /// `request`.
    Request,
    /// `grant`, with `clientKeyPackages` (bare RFC 9420 KeyPackages, possibly none).
    Grant {
        /// `clientKeyPackages`.
        client_key_packages: Vec<KeyPackageIn>,
    },
    /// `revoke`.
    Revoke,
}

impl Consent {
    /// The operation code this is sent with.
    pub fn operation(&self) -> ConsentOperation {
        match self {
            Consent::Cancel => ConsentOperation::Cancel,
            Consent::Request => ConsentOperation::Request,
            Consent::Grant { .. } => ConsentOperation::Grant,
            Consent::Revoke => ConsentOperation::Revoke,
        }
    }
}

/// `ConsentEntry` (protocol-06 §5.7): `consentOperation`, the three scope fields, the KeyPackages of a
/// `grant`, then `consent_extensions`. The scope sits between the code and its data, so the codec is
/// written by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentEntry {
    /// `consentOperation` with, for `grant`, its KeyPackages.
    pub consent: Consent,
    /// `requesterUri`, `targetUri`, `roomId`.
    pub scope: ConsentScope,
    /// `consent_extensions`: an app-data dictionary for extensions (usually empty).
    pub consent_extensions: AppDataDictionary,
}

impl Body for ConsentEntry {
    const NAME: &'static str = "ConsentEntry";
}

impl Size for ConsentEntry {
    fn tls_serialized_len(&self) -> usize {
        let key_packages = match &self.consent {
            Consent::Grant { client_key_packages } => client_key_packages.tls_serialized_len(),
            Consent::Cancel | Consent::Request | Consent::Revoke => 0,
        };
        self.consent.operation().tls_serialized_len()
            + self.scope.tls_serialized_len()
            + key_packages
            + self.consent_extensions.tls_serialized_len()
    }
}

impl Serialize for ConsentEntry {
    fn tls_serialize<W: Write>(&self, writer: &mut W) -> Result<usize, tls_codec::Error> {
        let mut written = self.consent.operation().tls_serialize(writer)?;
        written += self.scope.tls_serialize(writer)?;
        if let Consent::Grant { client_key_packages } = &self.consent {
            written += client_key_packages.tls_serialize(writer)?;
        }
        written += self.consent_extensions.tls_serialize(writer)?;
        Ok(written)
    }
}

impl Deserialize for ConsentEntry {
    fn tls_deserialize<R: Read>(bytes: &mut R) -> Result<Self, tls_codec::Error> {
        let operation = ConsentOperation::tls_deserialize(bytes)?;
        let scope = ConsentScope::tls_deserialize(bytes)?;
        let consent = match operation {
            ConsentOperation::Cancel => Consent::Cancel,
            ConsentOperation::Request => Consent::Request,
            ConsentOperation::Grant => {
                Consent::Grant { client_key_packages: Vec::<KeyPackageIn>::tls_deserialize(bytes)? }
            }
            ConsentOperation::Revoke => Consent::Revoke,
        };
        let consent_extensions = AppDataDictionary::tls_deserialize(bytes)?;
        Ok(Self { consent, scope, consent_extensions })
    }
}
