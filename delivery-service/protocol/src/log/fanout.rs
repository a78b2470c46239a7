//! From a log entry to what is sent: the `FanoutMessage` of protocol-06 §5.5, framed by the
//! entry's kind (see [`crate::notify`]). The log stores the received bytes; this re-reads them, so what
//! followers and clients get is byte for byte what the hub accepted. A commit's Welcome for
//! remote joiners follows the commit, framed `RatchetTreeOption` (`distributionService`: every
//! handshake is a PublicMessage, so the hub can always provide the tree; our clients put it in
//! the Welcome's GroupInfo anyway).

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::MlsMessageIn;

use super::{EntryKind, LogEntry};
use crate::notify::{FanoutFraming, FanoutMessage};
use crate::ratchet_tree::RatchetTreeOption;

impl LogEntry {
    /// The entry as a `FanoutMessage`.
    pub fn to_fanout(&self) -> Result<FanoutMessage, tls_codec::Error> {
        let message = MlsMessageIn::tls_deserialize_exact(self.message.as_slice())?;
        let extra = self
            .extra
            .iter()
            .map(|m| MlsMessageIn::tls_deserialize_exact(m.as_slice()))
            .collect::<Result<Vec<_>, _>>()?;
        let framing = match self.kind {
            EntryKind::Application => FanoutFraming::Application { frank: self.frank.clone() },
            EntryKind::Proposal => FanoutFraming::Proposal { more_proposals: extra },
            EntryKind::Commit => FanoutFraming::Commit { external_proposals: extra },
        };
        Ok(FanoutMessage { timestamp: self.accepted_ms, message, framing })
    }

    /// Whether the entry goes to `peer` at all (as an entry or as a Welcome).
    pub fn goes_to(&self, peer: &str) -> bool {
        let named = |list: &[tls_codec::VLBytes]| list.iter().any(|p| p.as_slice() == peer.as_bytes());
        named(&self.peers) || named(&self.welcome_peers)
    }

    /// Every provider the entry goes to.
    pub fn all_peers(&self) -> impl Iterator<Item = String> + '_ {
        self.peers.iter().chain(&self.welcome_peers).map(|p| String::from_utf8_lossy(p.as_slice()).into_owned())
    }

    /// What `peer` gets of this entry, in order: the entry itself if `peer` is in
    /// [`LogEntry::peers`], then the Welcome if it is in [`LogEntry::welcome_peers`].
    pub fn fanouts_for(&self, peer: &str) -> Result<Vec<FanoutMessage>, tls_codec::Error> {
        let named = |list: &[tls_codec::VLBytes]| list.iter().any(|p| p.as_slice() == peer.as_bytes());
        let mut out = Vec::new();
        if named(&self.peers) {
            out.push(self.to_fanout()?);
        }
        if named(&self.welcome_peers) && !self.welcome.as_slice().is_empty() {
            out.push(FanoutMessage {
                timestamp: self.accepted_ms,
                message: MlsMessageIn::tls_deserialize_exact(self.welcome.as_slice())?,
                framing: FanoutFraming::Welcome { ratchet_tree_option: RatchetTreeOption::DistributionService },
            });
        }
        Ok(out)
    }

    /// The submitting client's URI ("" for hub-originated entries).
    pub fn sender_uri(&self) -> &str {
        std::str::from_utf8(self.sender.as_slice()).unwrap_or("")
    }
}
