//! The bytes of a request's MLS messages as received, so that the hub stores and forwards what
//! it validated without encoding it again.
//!
//! The wire decoder accepts a body only if re-encoding the decoded value reproduces it (see
//! [`mimi_protocol`]), so a decoded structure's parts sit in the body back to back, each exactly
//! as long as its encoding ([`tls_codec::Size`], which measures without encoding). That lets the
//! hub locate each message of a decoded `UpdateRequest` or `SubmitMessageRequest` in the body it
//! came in: the hub parses a request once, and what it logs, fans out and serves to readers are
//! slices of the received bytes. In-process callers that have no body encode the request once
//! ([`BundleBytes::encode`]).

use openmls::prelude::tls_codec::{Serialize as _, Size};
use openmls::prelude::MlsMessageIn;

use mimi_protocol::client_api::KeyPackageUpload;
use mimi_protocol::notify::{FanoutFraming, FanoutMessage};
use mimi_protocol::submit::SubmitMessageRequest;
use mimi_protocol::update::{GroupInfoOption, HandshakeBundle, HandshakeBundleContent};

/// `ProtocolVersion mls10` and `WireFormat mls_welcome`: what an MLSMessage holding a Welcome
/// starts with (RFC 9420 §6), before the Welcome itself.
const WELCOME_MESSAGE_HEADER: [u8; 4] = [0, 1, 0, 3];

/// A body does not hold the structure it was decoded into (a caller passed mismatched bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {what} is not the encoding of the decoded request ({found} bytes where {expected} were expected)")]
pub struct Mismatch {
    /// What was located.
    pub what: &'static str,
    /// Bytes the decoded value encodes to.
    pub expected: usize,
    /// Bytes there were.
    pub found: usize,
}

/// The encodings of a handshake bundle's parts, as slices of the `UpdateRequest` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleBytes<'a> {
    /// `proposalOrCommit` (an MLSMessage).
    pub message: &'a [u8],
    /// `moreProposals` (MLSMessages), for a proposal bundle.
    pub more: Vec<&'a [u8]>,
    /// The bare Welcome, for a commit that has one.
    pub welcome: Option<&'a [u8]>,
    /// The bare GroupInfo, for a commit with `groupInfoOption` `full`.
    pub group_info: Option<&'a [u8]>,
}

/// Cuts `len` bytes off the front of `rest`.
fn take<'a>(rest: &mut &'a [u8], len: usize, what: &'static str) -> Result<&'a [u8], Mismatch> {
    if rest.len() < len {
        return Err(Mismatch { what, expected: len, found: rest.len() });
    }
    let (head, tail) = rest.split_at(len);
    *rest = tail;
    Ok(head)
}

impl<'a> BundleBytes<'a> {
    /// Locates the parts of `bundle` in `body`, the `UpdateRequest` body it was decoded from
    /// (an `UpdateRequest` is exactly its bundle).
    pub fn locate(bundle: &HandshakeBundle, body: &'a [u8]) -> Result<Self, Mismatch> {
        let whole = bundle.tls_serialized_len();
        if whole != body.len() {
            return Err(Mismatch { what: "UpdateRequest", expected: whole, found: body.len() });
        }
        let mut rest = body;
        let message = take(&mut rest, bundle.proposal_or_commit.tls_serialized_len(), "proposalOrCommit")?;
        let mut located = BundleBytes { message, more: Vec::new(), welcome: None, group_info: None };
        match &bundle.content {
            HandshakeBundleContent::Commit { welcome, group_info_option, .. } => {
                // `optional<Welcome>`: a presence byte, then the Welcome.
                take(&mut rest, 1, "welcome")?;
                if let Some(w) = welcome {
                    located.welcome = Some(take(&mut rest, w.tls_serialized_len(), "welcome")?);
                }
                // `GroupInfoOption`: the representation byte, then its data.
                take(&mut rest, 1, "groupInfoOption")?;
                if let GroupInfoOption::Full { group_info } = group_info_option {
                    located.group_info = Some(take(&mut rest, group_info.tls_serialized_len(), "groupInfo")?);
                }
            }
            HandshakeBundleContent::Proposal { more_proposals } => {
                located.more = elements(&mut rest, more_proposals, "moreProposals")?;
            }
        }
        Ok(located)
    }

    /// Encodes `bundle` (once) for in-process callers that have no received body.
    pub fn encode(bundle: &HandshakeBundle) -> Result<Vec<u8>, tls_codec::Error> {
        bundle.tls_serialize_detached()
    }

    /// The Welcome as an MLSMessage (as queued for local joiners and fanned out), built from the
    /// received bare Welcome.
    pub fn welcome_message(&self) -> Option<Vec<u8>> {
        self.welcome.map(|w| [&WELCOME_MESSAGE_HEADER[..], w].concat())
    }
}

/// Cuts a TLS-PL vector of `items` (its MLS varint length, then the items) off the front of
/// `rest`; returns each item's bytes.
fn elements<'a, T: Size>(rest: &mut &'a [u8], items: &[T], what: &'static str) -> Result<Vec<&'a [u8]>, Mismatch> {
    let (_, prefix) =
        tls_codec::vlen::read_length(&mut &rest[..]).map_err(|_| Mismatch { what, expected: 1, found: rest.len() })?;
    take(rest, prefix, what)?;
    items.iter().map(|item| take(rest, item.tls_serialized_len(), what)).collect()
}

/// The encodings of a `KeyPackageUpload`'s KeyPackages (MLSMessages), as slices of the body it
/// was decoded from.
pub fn key_package_bytes<'a>(upload: &KeyPackageUpload, body: &'a [u8]) -> Result<Vec<&'a [u8]>, Mismatch> {
    let whole = upload.tls_serialized_len();
    if whole != body.len() {
        return Err(Mismatch { what: "KeyPackageUpload", expected: whole, found: body.len() });
    }
    elements(&mut &body[..], &upload.key_packages, "keyPackages")
}

/// The encoding of a `SubmitMessageRequest`'s `appMessage`, as a slice of the body it was
/// decoded from.
pub fn app_message_bytes<'a>(request: &SubmitMessageRequest, body: &'a [u8]) -> Result<&'a [u8], Mismatch> {
    let whole = request.tls_serialized_len();
    if whole != body.len() {
        return Err(Mismatch { what: "SubmitMessageRequest", expected: whole, found: body.len() });
    }
    let mut rest = body;
    take(&mut rest, request.protocol.tls_serialized_len(), "protocol")?;
    take(&mut rest, request.app_message.tls_serialized_len(), "appMessage")
}

/// The encodings of one `FanoutMessage` of a `/notify` body, as slices of that body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutBytes<'a> {
    /// The whole FanoutMessage (what a follower remembers having taken in).
    pub whole: &'a [u8],
    /// Its `message` (an MLSMessage).
    pub message: &'a [u8],
    /// Its `moreProposals` or `externalProposals` (MLSMessages), for a proposal or commit.
    pub extra: Vec<&'a [u8]>,
}

/// Locates each of `messages` in `body`, the concatenation they were decoded from.
pub fn locate_fanouts<'a>(messages: &[FanoutMessage], body: &'a [u8]) -> Result<Vec<FanoutBytes<'a>>, Mismatch> {
    let mut rest = body;
    let mut located = Vec::with_capacity(messages.len());
    for m in messages {
        let whole = take(&mut rest, m.tls_serialized_len(), "FanoutMessage")?;
        let mut inner = whole;
        take(&mut inner, m.timestamp.tls_serialized_len(), "timestamp")?;
        let message = take(&mut inner, m.message.tls_serialized_len(), "message")?;
        let extra = match &m.framing {
            FanoutFraming::Proposal { more_proposals: list } | FanoutFraming::Commit { external_proposals: list } => {
                elements(&mut inner, list, "moreProposals")?
            }
            FanoutFraming::Application { .. } | FanoutFraming::Welcome { .. } => Vec::new(),
        };
        located.push(FanoutBytes { whole, message, extra });
    }
    if !rest.is_empty() {
        return Err(Mismatch { what: "/notify body", expected: body.len() - rest.len(), found: body.len() });
    }
    Ok(located)
}

/// Encodes one MLS message (once) for in-process callers that have no received body.
pub fn encode_message(message: &MlsMessageIn) -> Result<Vec<u8>, tls_codec::Error> {
    message.tls_serialize_detached()
}

#[cfg(test)]
mod tests {
    use openmls::prelude::{MlsMessageOut, ProtocolVersion};

    use super::*;
    use crate::hub::admission::memory::{to_in, TestRoom};
    use mimi_protocol::update::UpdateRequest;
    use mimi_protocol::{Body, IdentifierUri, Protocol, DEFAULT_MAX_BODY_LEN};

    #[test]
    fn a_commits_parts_are_the_received_bytes() {
        let mut t = TestRoom::new();
        let bob = t.client("b.example", "bob", "phone");
        let d = t.decide_adds(&[&bob]);
        let body = UpdateRequest { bundle: d.bundle.clone() }.encode().unwrap();
        let decoded = UpdateRequest::decode(&body, DEFAULT_MAX_BODY_LEN).unwrap();
        let parts = BundleBytes::locate(&decoded.bundle, &body).unwrap();
        assert_eq!(parts.message, decoded.bundle.proposal_or_commit.tls_serialize_detached().unwrap());
        let HandshakeBundleContent::Commit {
            welcome: Some(welcome),
            group_info_option: GroupInfoOption::Full { group_info },
            ..
        } = &decoded.bundle.content
        else {
            panic!("a commit with Welcome and GroupInfo")
        };
        assert_eq!(parts.welcome.unwrap(), welcome.tls_serialize_detached().unwrap());
        assert_eq!(parts.group_info.unwrap(), group_info.tls_serialize_detached().unwrap());
        assert!(parts.more.is_empty());
        // The Welcome MLSMessage is byte for byte what openmls makes of it.
        let message = MlsMessageOut::from_welcome(welcome.clone(), ProtocolVersion::Mls10);
        assert_eq!(parts.welcome_message().unwrap(), message.tls_serialize_detached().unwrap());
        // In-process callers encode once and get the same.
        assert_eq!(BundleBytes::encode(&decoded.bundle).unwrap(), body);
        // Bytes of something else are refused, not misread.
        assert!(BundleBytes::locate(&decoded.bundle, &body[1..]).is_err());
    }

    #[test]
    fn a_proposal_bundles_messages_are_the_received_bytes() {
        let mut t = TestRoom::new();
        let cathy = t.client("c.example", "cathy", "phone");
        let commit = t.decide_adds(&[&cathy]).bundle.proposal_or_commit;
        let group_info = to_in(&t.group_info());
        // The framing arithmetic holds for any MLSMessages (the decoder's kind checks do not run
        // on a bundle built in process).
        let bundle = HandshakeBundle {
            proposal_or_commit: commit.clone(),
            content: HandshakeBundleContent::Proposal { more_proposals: vec![commit.clone(), group_info.clone()] },
        };
        let body = BundleBytes::encode(&bundle).unwrap();
        let parts = BundleBytes::locate(&bundle, &body).unwrap();
        let commit_bytes = commit.tls_serialize_detached().unwrap();
        let group_info_bytes = group_info.tls_serialize_detached().unwrap();
        assert_eq!(parts.message, commit_bytes);
        assert_eq!(parts.more, vec![&commit_bytes[..], &group_info_bytes[..]]);
        assert_eq!((parts.welcome, parts.group_info), (None, None));
    }

    #[test]
    fn an_application_message_is_the_received_bytes() {
        let t = TestRoom::new();
        let message = to_in(&t.group_info());
        let request = SubmitMessageRequest {
            protocol: Protocol::Mls10,
            app_message: message.clone(),
            sending_uri: IdentifierUri::new("mimi://a.example/d/alice/phone"),
        };
        let body = request.encode().unwrap();
        assert_eq!(app_message_bytes(&request, &body).unwrap(), encode_message(&message).unwrap());
        assert!(app_message_bytes(&request, &body[..body.len() - 1]).is_err());
    }

    #[test]
    fn fanout_messages_are_the_received_bytes() {
        use crate::hub::outgoing::write_fanouts_for;
        let mut t = TestRoom::new();
        let bob = t.client("b.example", "bob", "phone");
        let d = t.decide_adds(&[&bob]);
        let body = BundleBytes::encode(&d.bundle).unwrap();
        let mut commit = d.entry.clone();
        commit.peers = vec![b"b.example".to_vec().into()];
        commit.extra = vec![commit.message.clone()];
        commit.welcome = BundleBytes::locate(&d.bundle, &body).unwrap().welcome_message().unwrap().into();
        commit.welcome_peers = vec![b"b.example".to_vec().into()];
        let mut app = t.message_entry(b"hi");
        app.peers = vec![b"b.example".to_vec().into()];
        let mut notify = Vec::new();
        write_fanouts_for(&commit, "b.example", &mut notify).unwrap();
        write_fanouts_for(&app, "b.example", &mut notify).unwrap();
        // Decoded without the wire checks (the stapled "proposal" is a commit here).
        let mut rest = &notify[..];
        let mut messages = Vec::new();
        while !rest.is_empty() {
            messages.push(<FanoutMessage as tls_codec::Deserialize>::tls_deserialize(&mut rest).unwrap());
        }
        let located = locate_fanouts(&messages, &notify).unwrap();
        assert_eq!(located.len(), 3);
        for (m, l) in messages.iter().zip(&located) {
            assert_eq!(l.whole, m.tls_serialize_detached().unwrap());
            assert_eq!(l.message, m.message.tls_serialize_detached().unwrap());
        }
        assert_eq!(located[0].extra, vec![commit.message.as_slice()]);
        assert_eq!(located[1].message, commit.welcome.as_slice());
        assert!(located[1].extra.is_empty() && located[2].extra.is_empty());
        assert_eq!(located[2].message, app.message.as_slice());
        assert!(locate_fanouts(&messages, &notify[..notify.len() - 1]).is_err());
        assert!(locate_fanouts(&messages[..2], &notify).is_err(), "bytes left over");
    }

    #[test]
    fn uploaded_key_packages_are_the_received_bytes() {
        let t = TestRoom::new();
        let kp =
            |c: &crate::hub::admission::memory::TestClient| to_in(&MlsMessageOut::from(c.issue_key_package().unwrap()));
        let bob = t.client("a.example", "bob", "phone");
        let upload = KeyPackageUpload { key_packages: vec![kp(&bob), kp(&bob), kp(&t.alice)] };
        let body = upload.encode().unwrap();
        let located = key_package_bytes(&upload, &body).unwrap();
        let expected: Vec<Vec<u8>> = upload.key_packages.iter().map(|m| encode_message(m).unwrap()).collect();
        assert_eq!(located, expected.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let none = KeyPackageUpload { key_packages: Vec::new() };
        assert_eq!(key_package_bytes(&none, &none.encode().unwrap()).unwrap(), Vec::<&[u8]>::new());
        assert!(key_package_bytes(&upload, &body[1..]).is_err());
    }
}
