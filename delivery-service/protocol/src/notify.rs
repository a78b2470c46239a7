//! Fanout: `POST /notify/{roomId}` (protocol-06 §5.5), hub → follower.
//!
//! Each accepted message goes out as a [`FanoutMessage`]; one body may hold several for the same room,
//! concatenated ([`FanoutMessage::decode_body`]), answered 201 without a body. There is no
//! length prefix per message: each is self-delimiting, so a receiver parses them in turn.
//!
//! Framing: the draft selects on `message.wire_format` with content-type
//! case names. We select on what a non-member can see: PrivateMessage → `optional<Frank>`, Welcome →
//! `RatchetTreeOption`, PublicMessage proposal → `moreProposals`, PublicMessage commit →
//! `externalProposals` (hub-regenerated proposals stapled to an external commit). The draft's
//! `select (protocol)` has no protocol field to select on; the room's protocol (mls10) is implied.

use std::io::{Read, Write};

use openmls::prelude::MlsMessageIn;
use tls_codec::{Deserialize, Serialize, Size};

use super::codec::decode_concatenation;
use super::franking::Frank;
use super::mls_message::{require_public_proposals, MessageKind};
use super::ratchet_tree::RatchetTreeOption;
use super::{encode_concatenation, Body, WireError};

/// Default cap on the number of FanoutMessages in one `/notify` body.
pub const DEFAULT_MAX_FANOUT_MESSAGES: usize = 1024;

/// The fields selected by the kind of [`FanoutMessage::message`].
#[derive(Debug, Clone, PartialEq)]
pub enum FanoutFraming {
    /// A PrivateMessage (application): the hub's frank, if any.
    Application {
        /// `frank`: written `optional Frank`, read as `optional<Frank>`.
        frank: Option<Frank>,
    },
    /// A Welcome: how the joiner gets the tree.
    Welcome {
        /// `ratchetTreeOption`.
        ratchet_tree_option: RatchetTreeOption,
    },
    /// A PublicMessage proposal: the originating bundle's `moreProposals`.
    Proposal {
        /// `moreProposals`: equal to those of the originating `HandshakeBundle`.
        more_proposals: Vec<MlsMessageIn>,
    },
    /// A PublicMessage commit: replacement proposals stapled to an external commit.
    Commit {
        /// `externalProposals`: the hub's proposals for the new epoch (usually empty).
        external_proposals: Vec<MlsMessageIn>,
    },
}

impl FanoutFraming {
    fn expected_kind(&self) -> MessageKind {
        match self {
            FanoutFraming::Application { .. } => MessageKind::Private,
            FanoutFraming::Welcome { .. } => MessageKind::Welcome,
            FanoutFraming::Proposal { .. } => MessageKind::PublicProposal,
            FanoutFraming::Commit { .. } => MessageKind::PublicCommit,
        }
    }
}

/// `FanoutMessage` (protocol-06 §5.5).
#[derive(Debug, Clone, PartialEq)]
pub struct FanoutMessage {
    /// `timestamp`: hub acceptance time, milliseconds since the UNIX epoch.
    pub timestamp: u64,
    /// `message`: a PrivateMessage (application), a PublicMessage proposal or commit, or a Welcome.
    pub message: MlsMessageIn,
    /// The fields selected by the message's kind.
    pub framing: FanoutFraming,
}

impl FanoutMessage {
    /// Decodes a `/notify` body: one or more concatenated FanoutMessages, at most `max_count` and
    /// `max_len` bytes in all. All or nothing: any bad message rejects the whole body.
    pub fn decode_body(bytes: &[u8], max_len: usize, max_count: usize) -> Result<Vec<Self>, WireError> {
        decode_concatenation(bytes, max_len, max_count)
    }

    /// Encodes a `/notify` body from several messages.
    pub fn encode_body(messages: &[Self]) -> Result<Vec<u8>, WireError> {
        encode_concatenation(messages)
    }
}

impl Body for FanoutMessage {
    const NAME: &'static str = "FanoutMessage";

    fn check(&self) -> Result<(), WireError> {
        let kind = MessageKind::of(&self.message);
        let expected = self.framing.expected_kind();
        if kind != expected {
            return Err(WireError::UnexpectedWireFormat {
                what: Self::NAME,
                expected: expected.name(),
                found: kind.name().to_owned(),
            });
        }
        match &self.framing {
            FanoutFraming::Proposal { more_proposals: list } | FanoutFraming::Commit { external_proposals: list } => {
                require_public_proposals(list, Self::NAME)
            }
            FanoutFraming::Application { .. } | FanoutFraming::Welcome { .. } => Ok(()),
        }
    }
}

impl Size for FanoutMessage {
    fn tls_serialized_len(&self) -> usize {
        self.timestamp.tls_serialized_len()
            + self.message.tls_serialized_len()
            + match &self.framing {
                FanoutFraming::Application { frank } => frank.tls_serialized_len(),
                FanoutFraming::Welcome { ratchet_tree_option } => ratchet_tree_option.tls_serialized_len(),
                FanoutFraming::Proposal { more_proposals: list }
                | FanoutFraming::Commit { external_proposals: list } => list.tls_serialized_len(),
            }
    }
}

impl Serialize for FanoutMessage {
    fn tls_serialize<W: Write>(&self, writer: &mut W) -> Result<usize, tls_codec::Error> {
        let mut written = self.timestamp.tls_serialize(writer)?;
        written += self.message.tls_serialize(writer)?;
        written += match &self.framing {
            FanoutFraming::Application { frank } => frank.tls_serialize(writer)?,
            FanoutFraming::Welcome { ratchet_tree_option } => ratchet_tree_option.tls_serialize(writer)?,
            FanoutFraming::Proposal { more_proposals: list } | FanoutFraming::Commit { external_proposals: list } => {
                list.tls_serialize(writer)?
            }
        };
        Ok(written)
    }
}

impl Deserialize for FanoutMessage {
    fn tls_deserialize<R: Read>(bytes: &mut R) -> Result<Self, tls_codec::Error> {
        let timestamp = u64::tls_deserialize(bytes)?;
        let message = MlsMessageIn::tls_deserialize(bytes)?;
        let framing = match MessageKind::of(&message) {
            MessageKind::Private => FanoutFraming::Application { frank: Option::<Frank>::tls_deserialize(bytes)? },
            MessageKind::Welcome => {
                FanoutFraming::Welcome { ratchet_tree_option: RatchetTreeOption::tls_deserialize(bytes)? }
            }
            MessageKind::PublicProposal => {
                FanoutFraming::Proposal { more_proposals: Vec::<MlsMessageIn>::tls_deserialize(bytes)? }
            }
            MessageKind::PublicCommit => {
                FanoutFraming::Commit { external_proposals: Vec::<MlsMessageIn>::tls_deserialize(bytes)? }
            }
            other => {
                return Err(tls_codec::Error::DecodingError(format!(
                    "message must be a PrivateMessage, a PublicMessage proposal or commit, or a Welcome; found a {}",
                    other.name()
                )))
            }
        };
        Ok(Self { timestamp, message, framing })
    }
}
