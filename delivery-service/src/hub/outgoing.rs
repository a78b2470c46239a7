//! What the hub sends of a log entry, written from the bytes it stored: the `FanoutMessage` of
//! protocol-06 §5.5 for followers' `/notify` and for the client API's room log.
//!
//! The log keeps each message as it was received (and validated), so the `FanoutMessage` is
//! written around those bytes, with no MLS message parsed or encoded again: the same encoding
//! [`LogEntry::to_fanout`] gives when encoded, byte for byte (the tests compare the two), at the
//! cost of a copy. The framing follows the entry's kind as in [`LogEntry::to_fanout`].

use tls_codec::Serialize as _;

use super::{EntryKind, LogEntry};
use mimi_protocol::ratchet_tree::RatchetTreeOption;

/// Appends `entry` as a `FanoutMessage`: its timestamp, its message, then the framing of its
/// kind (the frank of an application message; the further proposals of a proposal or commit).
pub fn write_fanout(entry: &LogEntry, out: &mut Vec<u8>) -> Result<(), tls_codec::Error> {
    entry.accepted_ms.tls_serialize(out)?;
    out.extend_from_slice(entry.message.as_slice());
    match entry.kind {
        EntryKind::Application => {
            entry.frank.tls_serialize(out)?;
        }
        EntryKind::Proposal | EntryKind::Commit => {
            // `MLSMessage moreProposals<V>` / `externalProposals<V>`: the length, then the messages.
            let len = entry.extra.iter().map(|m| m.as_slice().len()).sum();
            tls_codec::vlen::write_length(out, len)?;
            for m in &entry.extra {
                out.extend_from_slice(m.as_slice());
            }
        }
    }
    Ok(())
}

/// Appends what `peer` gets of `entry`, in order: the entry itself if `peer` is in
/// [`LogEntry::peers`], then the Welcome if it is in [`LogEntry::welcome_peers`] (framed
/// `distributionService`: the hub can always provide the tree). Returns how many
/// `FanoutMessage`s were written.
pub fn write_fanouts_for(entry: &LogEntry, peer: &str, out: &mut Vec<u8>) -> Result<usize, tls_codec::Error> {
    let named = |list: &[tls_codec::VLBytes]| list.iter().any(|p| p.as_slice() == peer.as_bytes());
    let mut written = 0;
    if named(&entry.peers) {
        write_fanout(entry, out)?;
        written += 1;
    }
    if named(&entry.welcome_peers) && !entry.welcome.as_slice().is_empty() {
        entry.accepted_ms.tls_serialize(out)?;
        out.extend_from_slice(entry.welcome.as_slice());
        RatchetTreeOption::DistributionService.tls_serialize(out)?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::admission::memory::TestRoom;
    use crate::hub::received::BundleBytes;
    use mimi_protocol::franking::Frank;
    use mimi_protocol::notify::FanoutMessage;
    use openmls::prelude::Ciphersuite;

    fn typed(entry: &LogEntry, peer: &str) -> Vec<u8> {
        FanoutMessage::encode_body(&entry.fanouts_for(peer).unwrap()).unwrap()
    }

    fn written(entry: &LogEntry, peer: &str) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let n = write_fanouts_for(entry, peer, &mut out).unwrap();
        (out, n)
    }

    #[test]
    fn fanouts_written_from_the_log_equal_the_typed_encoding() {
        let mut t = TestRoom::new();
        let bob = t.client("b.example", "bob", "phone");
        let d = t.decide_adds(&[&bob]);
        let body = BundleBytes::encode(&d.bundle).unwrap();
        let parts = BundleBytes::locate(&d.bundle, &body).unwrap();
        // A commit for b and c, its Welcome for b only.
        let mut commit = d.entry.clone();
        commit.peers = vec![b"b.example".to_vec().into(), b"c.example".to_vec().into()];
        commit.welcome = parts.welcome_message().unwrap().into();
        commit.welcome_peers = vec![b"b.example".to_vec().into()];
        assert_eq!(written(&commit, "b.example"), (typed(&commit, "b.example"), 2));
        assert_eq!(written(&commit, "c.example"), (typed(&commit, "c.example"), 1));
        assert_eq!(written(&commit, "d.example"), (Vec::new(), 0));
        // With stapled proposals (any MLSMessages will do for the framing; encoded without the
        // wire check, which would want proposals).
        commit.extra = vec![commit.message.clone(), commit.message.clone()];
        let mut out = Vec::new();
        write_fanout(&commit, &mut out).unwrap();
        assert_eq!(out, commit.to_fanout().unwrap().tls_serialize_detached().unwrap());
        // A proposal entry with more proposals: the same framing (encoded without the wire
        // check, which would want a proposal message).
        let mut proposal = commit.clone();
        proposal.kind = EntryKind::Proposal;
        let mut out = Vec::new();
        write_fanout(&proposal, &mut out).unwrap();
        assert_eq!(out, proposal.to_fanout().unwrap().tls_serialize_detached().unwrap());

        // An application message, with and without a frank.
        let mut app = t.message_entry(b"hello");
        app.peers = vec![b"b.example".to_vec().into()];
        assert_eq!(written(&app, "b.example").0, typed(&app, "b.example"));
        app.frank = Some(Frank {
            server_frank: [7; 32],
            franking_signature_ciphersuite: Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
            franking_integrity_signature: vec![1, 2, 3].into(),
        });
        assert_eq!(written(&app, "b.example").0, typed(&app, "b.example"));
        let mut single = Vec::new();
        write_fanout(&app, &mut single).unwrap();
        assert_eq!(single, FanoutMessage::encode_body(&[app.to_fanout().unwrap()]).unwrap());
    }
}
