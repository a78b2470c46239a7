//! Finding a user's internal URI: `POST /identifierQuery/{domain}` (protocol-06 §5.8), local provider →
//! target provider, never through a hub; idempotent and safe.
//!
//! An [`IdentifierRequest`] holds query elements that must all match (AND); the [`IdentifierResponse`]
//! has a code, the matching URIs and the profiles the target's policy lets it reveal.

use openmls::extensions::AppDataDictionary;
use tls_codec::{TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use super::{Body, IdentifierUri, Utf8String};

/// `SearchIdentifierType` (protocol-06 §5.8): which identifier a query element matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum SearchIdentifierType {
    /// The entire handle URI, exactly.
    Handle = 1,
    /// The nickname or handle user part, exactly.
    Nick = 2,
    /// An RFC 5322 `addr-spec`, exactly.
    Email = 3,
    /// An international phone number with `+`, exactly.
    Phone = 4,
    /// A case-insensitive substring of any name field.
    PartialName = 5,
    /// A substring of any searchable profile field.
    WholeProfile = 6,
    /// An OIDC UserInfo standard claim, exactly.
    OidcStdClaim = 7,
    /// A vCard property, exactly.
    VcardField = 8,
}

/// `SearchIdentifierType searchType` with the data its `select` adds (the draft writes `select(type)`).
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum SearchField {
    /// `handle`.
    #[tls_codec(discriminant = "SearchIdentifierType::Handle")]
    Handle,
    /// `nick`.
    #[tls_codec(discriminant = "SearchIdentifierType::Nick")]
    Nick,
    /// `email`.
    #[tls_codec(discriminant = "SearchIdentifierType::Email")]
    Email,
    /// `phone`.
    #[tls_codec(discriminant = "SearchIdentifierType::Phone")]
    Phone,
    /// `partialName`.
    #[tls_codec(discriminant = "SearchIdentifierType::PartialName")]
    PartialName,
    /// `wholeProfile`.
    #[tls_codec(discriminant = "SearchIdentifierType::WholeProfile")]
    WholeProfile,
    /// `oidcStdClaim`, naming the claim.
    #[tls_codec(discriminant = "SearchIdentifierType::OidcStdClaim")]
    OidcStdClaim {
        /// `claimName`.
        claim_name: VLBytes,
    },
    /// `vcardField`, naming the property.
    #[tls_codec(discriminant = "SearchIdentifierType::VcardField")]
    VcardField {
        /// `propertyName`.
        property_name: VLBytes,
    },
}

/// `QueryElement` (protocol-06 §5.8).
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct QueryElement {
    /// `searchType` and its selected data.
    pub search: SearchField,
    /// `searchValue`: a UTF-8 string.
    pub search_value: Utf8String,
}

/// `IdentifierRequest` (protocol-06 §5.8).
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct IdentifierRequest {
    /// `query_elements`: all must match.
    pub query_elements: Vec<QueryElement>,
    /// `id_request_extensions`.
    pub id_request_extensions: AppDataDictionary,
}

impl Body for IdentifierRequest {
    const NAME: &'static str = "IdentifierRequest";
}

/// `IdentifierQueryCode` (protocol-06 §5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum IdentifierQueryCode {
    /// At least one result.
    Success = 0,
    /// Acceptable query, no result.
    NotFound = 1,
    /// The fields must match exactly for any result.
    Ambiguous = 2,
    /// Not allowed by the provider.
    Forbidden = 3,
    /// A queried field is not supported.
    UnsupportedField = 4,
}

/// `enum { reserved(0), oidcStdClaim(7), vcardField(8), (255) } FieldSource;` (protocol-06 §5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum FieldSource {
    /// An OIDC standard claim.
    OidcStdClaim = 7,
    /// A vCard property.
    VcardField = 8,
}

/// `ProfileField` (protocol-06 §5.8).
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct ProfileField {
    /// `fieldSource`.
    pub field_source: FieldSource,
    /// `fieldName` (`string`, UTF-8).
    pub field_name: Utf8String,
    /// `fieldValue`.
    pub field_value: VLBytes,
}

/// `UserProfile` (protocol-06 §5.8).
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct UserProfile {
    /// `stableUri`: the user's internal URI.
    pub stable_uri: IdentifierUri,
    /// `fields`: the profile fields the policy reveals.
    pub fields: Vec<ProfileField>,
}

/// `IdentifierResponse` (protocol-06 §5.8).
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct IdentifierResponse {
    /// `responseCode`.
    pub response_code: IdentifierQueryCode,
    /// `uri`: matching user URIs.
    pub uri: Vec<IdentifierUri>,
    /// `foundProfiles`.
    pub found_profiles: Vec<UserProfile>,
    /// `id_response_extensions`.
    pub id_response_extensions: AppDataDictionary,
}

impl Body for IdentifierResponse {
    const NAME: &'static str = "IdentifierResponse";
}
