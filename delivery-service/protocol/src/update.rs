//! Changing a room: `POST /update/{roomId}` (protocol-06 §5.3), follower → hub.
//!
//! The body is an [`UpdateRequest`] holding a [`HandshakeBundle`]: a proposal or commit plus what goes
//! with it (for a commit: the Welcome, the GroupInfo and how to get the ratchet tree; for a proposal: more
//! proposals). The hub answers 200 with an [`UpdateRoomResponse`] for every protocol outcome (HTTP errors are
//! for bodies that do not parse).
//!
//! Handshakes must be PublicMessages so the hub can validate them (openmls has no
//! SemiPrivateMessage, the draft's other option). A PrivateMessage handshake cannot even be framed — its content type is hidden — so
//! decoding reports it as [`WireError::UnexpectedWireFormat`], which the API maps to `notAllowed`.

use std::io::{Read, Write};

use openmls::ciphersuite::hash_ref::ProposalRef;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::{CommitMessageBundle, MlsMessageIn, MlsMessageOut, Welcome};
use tls_codec::{Deserialize, Serialize, Size, TlsDeserialize, TlsSerialize, TlsSize};

use super::codec::decode_exact;
use super::mls_message::{reencode, reparse, require_public_proposals, MessageKind};
use super::ratchet_tree::{PartialGroupInfo, RatchetTreeOption};
use super::{Body, Utf8String, WireError};

/// `enum { reserved(0), full(1), partial(2), (255) } GroupInfoRepresentation;` (protocol-06 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum GroupInfoRepresentation {
    /// The whole GroupInfo (without the tree).
    Full = 1,
    /// A [`PartialGroupInfo`] from which the hub rebuilds it.
    Partial = 2,
}

/// `GroupInfoOption` (protocol-06 §5.3): the committer's GroupInfo for the new epoch, whole or partial,
/// in both cases without the `ratchet_tree` extension.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum GroupInfoOption {
    /// `full`: the bare RFC 9420 GroupInfo (not wrapped in an MLSMessage).
    #[tls_codec(discriminant = "GroupInfoRepresentation::Full")]
    Full {
        /// `groupInfo`.
        group_info: VerifiableGroupInfo,
    },
    /// `partial`: what the hub needs to rebuild the signed GroupInfo from its tracked state.
    #[tls_codec(discriminant = "GroupInfoRepresentation::Partial")]
    Partial {
        /// `partialGroupInfo`.
        partial_group_info: PartialGroupInfo,
    },
}

impl GroupInfoOption {
    /// The representation code this option is sent with.
    pub fn representation(&self) -> GroupInfoRepresentation {
        match self {
            GroupInfoOption::Full { .. } => GroupInfoRepresentation::Full,
            GroupInfoOption::Partial { .. } => GroupInfoRepresentation::Partial,
        }
    }
}

/// The `select (proposalOrCommit.content.content_type)` part of a [`HandshakeBundle`].
// Values live briefly between decode and use; boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum HandshakeBundleContent {
    /// `case commit`.
    Commit {
        /// `welcome`: the Welcome for added members (bare RFC 9420 Welcome, without the tree), if any.
        welcome: Option<Welcome>,
        /// `groupInfoOption`: the new epoch's GroupInfo.
        group_info_option: GroupInfoOption,
        /// `ratchetTreeOption`: how joiners get the tree.
        ratchet_tree_option: RatchetTreeOption,
    },
    /// `case proposal`.
    Proposal {
        /// `moreProposals`: further proposals sent together, each a PublicMessage.
        more_proposals: Vec<MlsMessageIn>,
    },
}

/// `HandshakeBundle` (protocol-06 §5.3): a proposal or commit with its companions. The draft's struct
/// lacks the closing `};` of its select; the intended grammar is used.
#[derive(Debug, Clone, PartialEq)]
pub struct HandshakeBundle {
    /// `proposalOrCommit`: a PublicMessage carrying a proposal or commit.
    pub proposal_or_commit: MlsMessageIn,
    /// The fields selected by the message's content type.
    pub content: HandshakeBundleContent,
}

impl HandshakeBundle {
    /// A commit openmls built, as the bundle a committer sends: the commit, its Welcome (if it adds
    /// clients) and the new epoch's whole GroupInfo, with the ratchet tree left to the hub
    /// (`RatchetTreeOption::DistributionService`). The GroupInfo is required: without one the hub could
    /// not serve external joiners, so a commit built without it is refused here.
    pub fn from_commit(bundle: &CommitMessageBundle) -> Result<Self, WireError> {
        let group_info = bundle.group_info().ok_or(WireError::Inconsistent {
            what: "HandshakeBundle",
            rule: "a commit is sent with the new epoch's GroupInfo",
        })?;
        Ok(HandshakeBundle {
            proposal_or_commit: reparse(bundle.commit())?,
            content: HandshakeBundleContent::Commit {
                welcome: bundle.welcome().cloned(),
                group_info_option: GroupInfoOption::Full { group_info: reencode(group_info, "GroupInfo")? },
                ratchet_tree_option: RatchetTreeOption::DistributionService,
            },
        })
    }

    /// Proposals openmls built, as one bundle: the first is `proposalOrCommit`, the others its
    /// `moreProposals`. At least one is required.
    pub fn from_proposals(proposals: &[MlsMessageOut]) -> Result<Self, WireError> {
        let (first, more) = proposals.split_first().ok_or(WireError::Empty { what: "HandshakeBundle" })?;
        Ok(HandshakeBundle {
            proposal_or_commit: reparse(first)?,
            content: HandshakeBundleContent::Proposal {
                more_proposals: more.iter().map(reparse).collect::<Result<_, _>>()?,
            },
        })
    }

    /// The kind of `proposal_or_commit` that `content` requires.
    fn expected_kind(&self) -> MessageKind {
        match self.content {
            HandshakeBundleContent::Commit { .. } => MessageKind::PublicCommit,
            HandshakeBundleContent::Proposal { .. } => MessageKind::PublicProposal,
        }
    }

    /// Checks that the framing fits the message and that `moreProposals` are PublicMessage proposals.
    fn check_framing(&self, what: &'static str) -> Result<(), WireError> {
        let kind = MessageKind::of(&self.proposal_or_commit);
        let expected = self.expected_kind();
        if kind != expected {
            return Err(WireError::UnexpectedWireFormat { what, expected: expected.name(), found: kind.name().into() });
        }
        if let HandshakeBundleContent::Proposal { more_proposals } = &self.content {
            require_public_proposals(more_proposals, what)?;
        }
        Ok(())
    }
}

impl Size for HandshakeBundle {
    fn tls_serialized_len(&self) -> usize {
        self.proposal_or_commit.tls_serialized_len()
            + match &self.content {
                HandshakeBundleContent::Commit { welcome, group_info_option, ratchet_tree_option } => {
                    welcome.tls_serialized_len()
                        + group_info_option.tls_serialized_len()
                        + ratchet_tree_option.tls_serialized_len()
                }
                HandshakeBundleContent::Proposal { more_proposals } => more_proposals.tls_serialized_len(),
            }
    }
}

impl Serialize for HandshakeBundle {
    fn tls_serialize<W: Write>(&self, writer: &mut W) -> Result<usize, tls_codec::Error> {
        let mut written = self.proposal_or_commit.tls_serialize(writer)?;
        written += match &self.content {
            HandshakeBundleContent::Commit { welcome, group_info_option, ratchet_tree_option } => {
                welcome.tls_serialize(writer)?
                    + group_info_option.tls_serialize(writer)?
                    + ratchet_tree_option.tls_serialize(writer)?
            }
            HandshakeBundleContent::Proposal { more_proposals } => more_proposals.tls_serialize(writer)?,
        };
        Ok(written)
    }
}

impl Deserialize for HandshakeBundle {
    fn tls_deserialize<R: Read>(bytes: &mut R) -> Result<Self, tls_codec::Error> {
        let proposal_or_commit = MlsMessageIn::tls_deserialize(bytes)?;
        let content = match MessageKind::of(&proposal_or_commit) {
            MessageKind::PublicCommit => HandshakeBundleContent::Commit {
                welcome: Option::<Welcome>::tls_deserialize(bytes)?,
                group_info_option: GroupInfoOption::tls_deserialize(bytes)?,
                ratchet_tree_option: RatchetTreeOption::tls_deserialize(bytes)?,
            },
            MessageKind::PublicProposal => {
                HandshakeBundleContent::Proposal { more_proposals: Vec::<MlsMessageIn>::tls_deserialize(bytes)? }
            }
            other => {
                return Err(tls_codec::Error::DecodingError(format!(
                    "proposalOrCommit must be a PublicMessage proposal or commit, found a {}",
                    other.name()
                )))
            }
        };
        Ok(Self { proposal_or_commit, content })
    }
}

/// `UpdateRequest` (protocol-06 §5.3): `select (room.protocol) { case mls10: HandshakeBundle bundle; }`.
/// The protocol is the room's and is not on the wire, so the body is exactly the bundle.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct UpdateRequest {
    /// `bundle`.
    pub bundle: HandshakeBundle,
}

impl Body for UpdateRequest {
    const NAME: &'static str = "UpdateRequest";

    fn check(&self) -> Result<(), WireError> {
        self.bundle.check_framing(Self::NAME)
    }

    /// As the default, but a body whose leading MLSMessage is not a PublicMessage proposal or commit is
    /// reported as [`WireError::UnexpectedWireFormat`] (→ `notAllowed`), not as a grammar error.
    fn decode(bytes: &[u8], max_len: usize) -> Result<Self, WireError> {
        decode_exact::<Self>(bytes, max_len).map_err(|error| match error {
            WireError::Decode { .. } => match MlsMessageIn::tls_deserialize(&mut &bytes[..]) {
                Ok(message) => match MessageKind::of(&message) {
                    MessageKind::PublicCommit | MessageKind::PublicProposal => error,
                    kind => WireError::UnexpectedWireFormat {
                        what: Self::NAME,
                        expected: "PublicMessage proposal or commit",
                        found: kind.name().to_owned(),
                    },
                },
                Err(_) => error,
            },
            other => other,
        })
    }
}

/// `enum { success(0), wrongEpoch(1), notAllowed(2), invalidProposal(3), (255) } UpdateResponseCode;`
/// (protocol-06 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum UpdateResponseCode {
    /// Accepted; will be distributed.
    Success = 0,
    /// Built on an epoch other than the hub's.
    WrongEpoch = 1,
    /// Refused by policy or authorization.
    NotAllowed = 2,
    /// Some proposals are invalid.
    InvalidProposal = 3,
}

/// The `select (responseCode)` part of [`UpdateRoomResponse`].
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateRoomOutcome {
    /// `success`.
    Success {
        /// `accepted_timestamp`: hub acceptance time, milliseconds since the UNIX epoch.
        accepted_timestamp: u64,
    },
    /// `wrongEpoch`.
    WrongEpoch {
        /// `currentEpoch`: the hub's current epoch for the group.
        current_epoch: u64,
    },
    /// `notAllowed`: nothing follows.
    NotAllowed,
    /// `invalidProposal`.
    InvalidProposal {
        /// `invalidProposals`: references of the offending proposals.
        invalid_proposals: Vec<ProposalRef>,
    },
}

impl UpdateRoomOutcome {
    /// The code this outcome is sent with.
    pub fn code(&self) -> UpdateResponseCode {
        match self {
            UpdateRoomOutcome::Success { .. } => UpdateResponseCode::Success,
            UpdateRoomOutcome::WrongEpoch { .. } => UpdateResponseCode::WrongEpoch,
            UpdateRoomOutcome::NotAllowed => UpdateResponseCode::NotAllowed,
            UpdateRoomOutcome::InvalidProposal { .. } => UpdateResponseCode::InvalidProposal,
        }
    }
}

/// `UpdateRoomResponse` (protocol-06 §5.3): `responseCode`, `errorDescription`, then data selected by the
/// code. The description sits between the code and its data, so the codec is written by hand. `string` is
/// UTF-8 in `opaque<V>` ([`Utf8String`]).
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRoomResponse {
    /// `errorDescription`: human-readable detail (empty on success).
    pub error_description: Utf8String,
    /// `responseCode` with its selected data.
    pub outcome: UpdateRoomOutcome,
}

impl Body for UpdateRoomResponse {
    const NAME: &'static str = "UpdateRoomResponse";
}

impl Size for UpdateRoomResponse {
    fn tls_serialized_len(&self) -> usize {
        self.outcome.code().tls_serialized_len()
            + self.error_description.tls_serialized_len()
            + match &self.outcome {
                UpdateRoomOutcome::Success { accepted_timestamp } => accepted_timestamp.tls_serialized_len(),
                UpdateRoomOutcome::WrongEpoch { current_epoch } => current_epoch.tls_serialized_len(),
                UpdateRoomOutcome::NotAllowed => 0,
                UpdateRoomOutcome::InvalidProposal { invalid_proposals } => invalid_proposals.tls_serialized_len(),
            }
    }
}

impl Serialize for UpdateRoomResponse {
    fn tls_serialize<W: Write>(&self, writer: &mut W) -> Result<usize, tls_codec::Error> {
        let mut written = self.outcome.code().tls_serialize(writer)?;
        written += self.error_description.tls_serialize(writer)?;
        written += match &self.outcome {
            UpdateRoomOutcome::Success { accepted_timestamp } => accepted_timestamp.tls_serialize(writer)?,
            UpdateRoomOutcome::WrongEpoch { current_epoch } => current_epoch.tls_serialize(writer)?,
            UpdateRoomOutcome::NotAllowed => 0,
            UpdateRoomOutcome::InvalidProposal { invalid_proposals } => invalid_proposals.tls_serialize(writer)?,
        };
        Ok(written)
    }
}

impl Deserialize for UpdateRoomResponse {
    fn tls_deserialize<R: Read>(bytes: &mut R) -> Result<Self, tls_codec::Error> {
        let code = UpdateResponseCode::tls_deserialize(bytes)?;
        let error_description = Utf8String::tls_deserialize(bytes)?;
        let outcome = match code {
            UpdateResponseCode::Success => {
                UpdateRoomOutcome::Success { accepted_timestamp: u64::tls_deserialize(bytes)? }
            }
            UpdateResponseCode::WrongEpoch => {
                UpdateRoomOutcome::WrongEpoch { current_epoch: u64::tls_deserialize(bytes)? }
            }
            UpdateResponseCode::NotAllowed => UpdateRoomOutcome::NotAllowed,
            UpdateResponseCode::InvalidProposal => {
                UpdateRoomOutcome::InvalidProposal { invalid_proposals: Vec::<ProposalRef>::tls_deserialize(bytes)? }
            }
        };
        Ok(Self { error_description, outcome })
    }
}
