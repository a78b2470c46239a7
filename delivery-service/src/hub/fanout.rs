//! From a log entry to what is sent: the `FanoutMessage` of protocol-06 §5.5, framed by the
//! entry's kind (DESIGN §3). The log stores the received bytes; this re-reads them, so what
//! followers and clients get is byte for byte what the hub accepted.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::MlsMessageIn;

use super::entry::{EntryKind, LogEntry};
use crate::wire::notify::{FanoutFraming, FanoutMessage};

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
            EntryKind::Application => FanoutFraming::Application { frank: None },
            EntryKind::Proposal => FanoutFraming::Proposal { more_proposals: extra },
            EntryKind::Commit => FanoutFraming::Commit { external_proposals: extra },
        };
        Ok(FanoutMessage { timestamp: self.accepted_ms, message, framing })
    }

    /// The submitting client's URI ("" for hub-originated entries).
    pub fn sender_uri(&self) -> &str {
        std::str::from_utf8(self.sender.as_slice()).unwrap_or("")
    }
}
