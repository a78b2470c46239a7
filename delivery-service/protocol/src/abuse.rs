//! Abuse reports: `POST /reportAbuse/{roomId}` (protocol-06 §5.9), to the hub only; answered with an
//! HTTP code, no body.
//!
//! Each reported message comes with the [`Frank`] the hub issued, so the hub can recompute the franking
//! tag from the content's salt, sender and room, recompute `server_frank` and verify its own signature
//! (see [`super::franking`]). Unsigned: the draft defines no signature over it, so only mTLS authenticates the report.

use openmls::extensions::AppDataDictionary;
use tls_codec::{TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use super::franking::Frank;
use super::{Body, IdentifierUri, Utf8String};

/// `AbusiveMessage` (protocol-06 §5.9).
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct AbusiveMessage {
    /// `message_content`: the decrypted content (e.g. a MIMI content message).
    pub message_content: VLBytes,
    /// `frank`: as received in the fanout.
    pub frank: Frank,
    /// `accepted_timestamp`: as received in the fanout.
    pub accepted_timestamp: u64,
}

/// `enum { reserved(0), (255) } AbuseType;` (protocol-06 §5.9). No reason code is assigned yet (the draft
/// looks for a taxonomy), so the raw value is carried rather than rejecting every report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct AbuseType(pub u8);

/// `AbuseReport` (protocol-06 §5.9).
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct AbuseReport {
    /// `reportingUser`: the reporter (may be empty: the draft calls it optional).
    pub reporting_user: IdentifierUri,
    /// `allegedAbuserUri`.
    pub alleged_abuser_uri: IdentifierUri,
    /// `reasonCode`.
    pub reason_code: AbuseType,
    /// `note`: a human-readable UTF-8 string, possibly empty.
    pub note: Utf8String,
    /// `messages`: the allegedly abusive messages.
    pub messages: Vec<AbusiveMessage>,
    /// `abuse_extensions`.
    pub abuse_extensions: AppDataDictionary,
}

impl Body for AbuseReport {
    const NAME: &'static str = "AbuseReport";
}
