//! What kind of MLS message an embedded `MLSMessage` is, as far as a non-member can tell.
//!
//! `HandshakeBundle` and `FanoutMessage` select their trailing fields on the embedded message. A hub sees
//! the wire format of every message, and the content type of a PublicMessage only (a PrivateMessage's
//! content type is encrypted) — so the framing is chosen by wire format and, for PublicMessage, by content
//! type (the draft's selects name content types, which a hub cannot see in a PrivateMessage).
//!
//! openmls builds outgoing messages as `MlsMessageOut` while the wire structures hold the incoming types;
//! [`reparse`] (and [`reencode`] for bare objects) goes from one to the other through their encoding.
//!
//! [`public_content`] reads what a PublicMessage proposes or commits (unauthenticated, as anyone who
//! sees the message can): what `mimi-interop decode` summarises and the operator's log export shows.

use openmls::messages::proposals_in::{AddProposalIn, ProposalIn, ProposalOrRefIn};
use openmls::prelude::{ContentType, Credential, KeyPackageIn, MlsMessageIn, MlsMessageOut, Sender, WireFormat};
use tls_codec::{Deserialize, Serialize, VLBytes};

use super::WireError;

/// The classes of `MLSMessage` that decide protocol-06 framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A PublicMessage carrying a proposal.
    PublicProposal,
    /// A PublicMessage carrying a commit.
    PublicCommit,
    /// A PublicMessage carrying application data (forbidden by RFC 9420 §6.2; never framed).
    PublicApplication,
    /// A PrivateMessage (content type hidden).
    Private,
    /// A Welcome.
    Welcome,
    /// A GroupInfo.
    GroupInfo,
    /// A KeyPackage.
    KeyPackage,
    /// Any other wire format openmls may know (e.g. draft extensions).
    Other,
}

impl MessageKind {
    /// Classifies `message`. For a PublicMessage this reads the (unauthenticated) content type from a
    /// copy of the message.
    pub fn of(message: &MlsMessageIn) -> Self {
        let wire_format = message.wire_format();
        if wire_format == WireFormat::PublicMessage {
            match message.clone().try_into_protocol_message().map(|m| m.content_type()) {
                Ok(ContentType::Proposal) => MessageKind::PublicProposal,
                Ok(ContentType::Commit) => MessageKind::PublicCommit,
                Ok(ContentType::Application) => MessageKind::PublicApplication,
                Err(_) => MessageKind::Other,
            }
        } else if wire_format == WireFormat::PrivateMessage {
            MessageKind::Private
        } else if wire_format == WireFormat::Welcome {
            MessageKind::Welcome
        } else if wire_format == WireFormat::GroupInfo {
            MessageKind::GroupInfo
        } else if wire_format == WireFormat::KeyPackage {
            MessageKind::KeyPackage
        } else {
            MessageKind::Other
        }
    }

    /// A short name for errors.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::PublicProposal => "PublicMessage proposal",
            MessageKind::PublicCommit => "PublicMessage commit",
            MessageKind::PublicApplication => "PublicMessage application message",
            MessageKind::Private => "PrivateMessage",
            MessageKind::Welcome => "Welcome",
            MessageKind::GroupInfo => "GroupInfo",
            MessageKind::KeyPackage => "KeyPackage",
            MessageKind::Other => "message of another wire format",
        }
    }
}

/// Checks that every message in `messages` is a PublicMessage proposal, as `moreProposals`,
/// `externalProposals` and `pending_proposals` require (a SemiPrivateMessage would also do, but openmls and
/// therefore this hub do not implement it).
pub(crate) fn require_public_proposals<'a>(
    messages: impl IntoIterator<Item = &'a MlsMessageIn>,
    what: &'static str,
) -> Result<(), WireError> {
    for message in messages {
        let kind = MessageKind::of(message);
        if kind != MessageKind::PublicProposal {
            return Err(WireError::UnexpectedWireFormat {
                what,
                expected: "PublicMessage proposal",
                found: kind.name().to_owned(),
            });
        }
    }
    Ok(())
}

/// An outgoing MLS message as the incoming type the wire structures hold, through its encoding.
pub fn reparse(message: &MlsMessageOut) -> Result<MlsMessageIn, WireError> {
    reencode(message, "MLSMessage")
}

/// `value` (an object openmls built) as the type `T` that decodes its encoding, e.g. a `GroupInfo` as a
/// `VerifiableGroupInfo`; `what` names the structure in errors. The whole encoding must be one `T`.
pub fn reencode<T: Deserialize>(value: &impl Serialize, what: &'static str) -> Result<T, WireError> {
    let bytes = value.tls_serialize_detached().map_err(|source| WireError::Encode { what, source })?;
    let mut rest = bytes.as_slice();
    let decoded = T::tls_deserialize(&mut rest).map_err(|source| WireError::Decode {
        what,
        offset: bytes.len() - rest.len(),
        source,
    })?;
    if !rest.is_empty() {
        return Err(WireError::TrailingData { what, trailing: rest.len() });
    }
    Ok(decoded)
}

/// The content of a PublicMessage (RFC 9420 §6), as far as it is readable without the group: the
/// proposal of a proposal message, the proposals (by value or reference) of a commit.
#[derive(Debug, Clone)]
pub enum PublicContent {
    /// A proposal message's proposal.
    Proposal(ProposalIn),
    /// A commit's proposals, in commit order.
    Commit(Vec<ProposalOrRefIn>),
}

/// What the PublicMessage `message` proposes or commits, read from its encoding after the
/// FramedContent fields that precede the content; `None` for other messages (and application
/// content) or an encoding that does not parse. Nothing is verified: the hub verified what it
/// logged, and a summary needs no more.
pub fn public_content(message: &MlsMessageIn) -> Option<PublicContent> {
    if message.wire_format() != WireFormat::PublicMessage {
        return None;
    }
    let bytes = message.tls_serialize_detached().ok()?;
    let mut rest = bytes.get(4..)?; // version, wire_format
    VLBytes::tls_deserialize(&mut rest).ok()?; // group_id
    u64::tls_deserialize(&mut rest).ok()?; // epoch
    Sender::tls_deserialize(&mut rest).ok()?;
    VLBytes::tls_deserialize(&mut rest).ok()?; // authenticated_data
    match u8::tls_deserialize(&mut rest).ok()? {
        2 => Some(PublicContent::Proposal(ProposalIn::tls_deserialize(&mut rest).ok()?)),
        3 => Some(PublicContent::Commit(Vec::<ProposalOrRefIn>::tls_deserialize(&mut rest).ok()?)),
        _ => None,
    }
}

/// The (unverified) credential of the KeyPackage an Add proposal carries: who it adds.
pub fn added_credential(add: &AddProposalIn) -> Option<Credential> {
    // `Add` is one KeyPackage: its encoding is the KeyPackage's.
    let key_package: KeyPackageIn = reencode(add, "Add").ok()?;
    Some(key_package.unverified_credential().credential)
}
