//! Sending an application message: `POST /submitMessage/{roomId}` (protocol-06 §5.4), follower → hub.
//!
//! The request carries a PrivateMessage and the sender's URI (the hub cannot see the sender inside the
//! ciphertext); the answer is a [`SubmitMessageResponse`], 200 for every protocol outcome (HTTP errors are for bodies that do not parse), with
//! a [`Frank`] when the room has a franking agent and the message a `frank_aad`. That the message is a
//! PrivateMessage is the hub's check (`notAllowed`), not the grammar's.

use openmls::prelude::MlsMessageIn;
use tls_codec::{TlsDeserialize, TlsSerialize, TlsSize};

use super::franking::Frank;
use super::{Body, IdentifierUri, Protocol};

/// `SubmitMessageRequest` (protocol-06 §5.4). The draft's `IdentifierURI` is read as `IdentifierUri`.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct SubmitMessageRequest {
    /// `protocol`: only `mls10`; the remaining fields are its select arm.
    pub protocol: Protocol,
    /// `appMessage`: a PrivateMessage holding an application message.
    pub app_message: MlsMessageIn,
    /// `sendingUri`: the sending user, an active participant of the room.
    pub sending_uri: IdentifierUri,
}

impl Body for SubmitMessageRequest {
    const NAME: &'static str = "SubmitMessageRequest";
}

/// `enum { accepted(0), notAllowed(1), epochTooOld(2), (255) } SubmitResponseCode;` (protocol-06 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum SubmitResponseCode {
    /// Accepted; will be distributed. (The response's select calls this case `success`.)
    Accepted = 0,
    /// Refused by policy, or nonsense such as an epoch newer than the hub's.
    NotAllowed = 1,
    /// The hub is already at a newer epoch.
    EpochTooOld = 2,
}

/// The `select (statusCode)` part of [`SubmitMessageResponse`], code first, then its data.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum SubmitMessageStatus {
    /// `accepted` (selected as `success` in the draft).
    #[tls_codec(discriminant = "SubmitResponseCode::Accepted")]
    Accepted {
        /// `accepted_timestamp`: hub acceptance time, milliseconds since the UNIX epoch.
        accepted_timestamp: u64,
        /// `frank`: written `optional Frank`, read as `optional<Frank>`.
        frank: Option<Frank>,
    },
    /// `notAllowed`: nothing follows.
    #[tls_codec(discriminant = "SubmitResponseCode::NotAllowed")]
    NotAllowed,
    /// `epochTooOld`.
    #[tls_codec(discriminant = "SubmitResponseCode::EpochTooOld")]
    EpochTooOld {
        /// `currentEpoch`: the hub's current epoch.
        current_epoch: u64,
    },
}

impl SubmitMessageStatus {
    /// The code this status is sent with.
    pub fn code(&self) -> SubmitResponseCode {
        match self {
            SubmitMessageStatus::Accepted { .. } => SubmitResponseCode::Accepted,
            SubmitMessageStatus::NotAllowed => SubmitResponseCode::NotAllowed,
            SubmitMessageStatus::EpochTooOld { .. } => SubmitResponseCode::EpochTooOld,
        }
    }
}

/// `SubmitMessageResponse` (protocol-06 §5.4).
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct SubmitMessageResponse {
    /// `protocol`: only `mls10`.
    pub protocol: Protocol,
    /// `statusCode` with its selected data.
    pub status: SubmitMessageStatus,
}

impl Body for SubmitMessageResponse {
    const NAME: &'static str = "SubmitMessageResponse";
}
