//! Franking at the hub (protocol-06 §5.4.1, §5.9), without I/O: whether an accepted application
//! message gets a frank, the frank itself, and whether an abuse report's franks are ours.
//!
//! **Keys.** The franking agent of a room is its hub: the `franking_agent` component (0x0021)
//! a franking room carries in its GroupContext is the hub's external-sender key with the hub's
//! credential (`mimi://<domain>`), the same pair `GET /client/v1/hubKey` hands to a creating
//! client (`ExternalSender` and `FrankingAgentData` have the same fields). The signature label
//! `"FrankingIntegrityTBS"` keeps franking signatures apart from the hub's other signatures. The
//! symmetric `hub_key` of `server_frank` is derived from the hub's signature key pair
//! ([`derive_mac_key`]), so it lives exactly as long as that key (which survives restarts): a
//! report is verifiable for as long as the hub keeps its key, and no second secret has to be
//! stored. Rotation means a new hub key, which the draft wants done with a ReInit anyway.
//!
//! **When a message is franked** ([`Franker::frank`]): the room's GroupContext carries a
//! `franking_agent` that is this hub (a component naming another key is not ours to sign for, so
//! nothing is franked), and the PrivateMessage's authenticated data starts with a SafeAAD holding
//! a `frank_aad`. The context binds the sending *user* (the user of the submitting client: MIMI
//! content carries the user URI as `senderUri`), the room and the acceptance time.
//!
//! **Reports** ([`Franker::check_report`]): every reported message must decode as MIMI content
//! naming its sender and this room; from its salt and bytes the franking tag is recomputed, from
//! tag and context `server_frank`, which must equal the frank's, and the frank's integrity
//! signature must verify under our key. The sender must be the report's `allegedAbuserUri`.

use mimi_appsync::uri::ClientUri;
use mimi_content::MimiContent;
use openmls::prelude::{Ciphersuite, MlsMessageIn, ProtocolMessage, PublicGroup, SignaturePublicKey};
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::signatures::Signer;
use openmls_traits::types::HashType;

use super::{LogEntry, Room};
use mimi_protocol::abuse::AbuseReport;
use mimi_protocol::franking::{server_frank, Frank, FrankAAD, FrankingAgentData, ServerFrankingContext};
use mimi_protocol::{IdentifierUri, WireError};

/// Label of the `hub_key` derivation (HMAC-SHA256 keyed with the encoded hub key pair).
const MAC_KEY_LABEL: &[u8] = b"MIMI franking hub_key v1";

/// Why an abuse report is refused (nothing is stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbuseRefusal {
    /// The report lists no message.
    #[error("the report lists no message")]
    NoMessages,
    /// A reported message is not MIMI content naming its sender and room.
    #[error("message {index}: {why}")]
    Content {
        /// Position in `messages`.
        index: usize,
        /// What is missing or malformed.
        why: String,
    },
    /// A reported message belongs to another room than the one reported to.
    #[error("message {index} is of room {found}, not {room}")]
    OtherRoom {
        /// Position in `messages`.
        index: usize,
        /// The room in the content.
        found: String,
        /// The room reported to.
        room: String,
    },
    /// A reported message's sender is not the alleged abuser.
    #[error("message {index} was sent by {sender}, not by the alleged abuser {alleged}")]
    OtherSender {
        /// Position in `messages`.
        index: usize,
        /// The sender in the content.
        sender: String,
        /// `allegedAbuserUri`.
        alleged: String,
    },
    /// The frank does not match the message, its sender, room and timestamp, or is not ours.
    #[error("message {index}: the frank does not verify ({why})")]
    Frank {
        /// Position in `messages`.
        index: usize,
        /// Which check failed.
        why: &'static str,
    },
}

/// `hub_key` of `server_frank`, derived from `secret` (the encoded hub signature key pair).
pub fn derive_mac_key(crypto: &impl OpenMlsCrypto, secret: &[u8]) -> Result<[u8; 32], WireError> {
    let mac = crypto.hmac(HashType::Sha2_256, secret, MAC_KEY_LABEL).map_err(|source| WireError::Crypto {
        what: "franking hub_key",
        operation: "hmac",
        source,
    })?;
    mac.as_slice()
        .try_into()
        .map_err(|_| WireError::Inconsistent { what: "franking hub_key", rule: "HMAC-SHA256 is 32 bytes" })
}

/// Equality of two MACs without an early exit.
fn same_mac(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The hub as franking agent: its public franking key and credential, and the `hub_key`.
#[derive(Debug, Clone)]
pub struct Franker {
    /// The `franking_agent` value of rooms this hub franks.
    agent: FrankingAgentData,
    /// `hub_key` of `server_frank`.
    mac_key: [u8; 32],
    /// Whose signature algorithm signs franks.
    ciphersuite: Ciphersuite,
}

impl Franker {
    /// The franking agent with signature key `agent` (and its credential) and `hub_key`
    /// `mac_key`, signing with `ciphersuite`'s algorithm.
    pub fn new(agent: FrankingAgentData, mac_key: [u8; 32], ciphersuite: Ciphersuite) -> Self {
        Franker { agent, mac_key, ciphersuite }
    }

    /// The `franking_agent` component value a room must carry to be franked by this hub.
    pub fn agent(&self) -> &FrankingAgentData {
        &self.agent
    }

    /// Whether `group`'s GroupContext names this hub as franking agent.
    pub fn franks(&self, group: &PublicGroup) -> bool {
        FrankingAgentData::of_group(group.group_context().extensions()).is_some_and(|a| a == self.agent)
    }

    /// The frank of application `message` of `room` (in its current state), accepted as `entry`
    /// (which names the sending client and the acceptance time); `None` if the room or message is
    /// not franked (module docs). `signer` is the franking (hub) key.
    pub fn frank(
        &self,
        crypto: &impl OpenMlsCrypto,
        signer: &impl Signer,
        room: &Room,
        entry: &LogEntry,
        message: &MlsMessageIn,
    ) -> Result<Option<Frank>, WireError> {
        if !self.franks(room.group()) {
            return Ok(None);
        }
        let Ok(ProtocolMessage::PrivateMessage(private)) = message.clone().try_into_protocol_message() else {
            return Ok(None);
        };
        let Some(aad) = FrankAAD::from_authenticated_data(private.aad()) else { return Ok(None) };
        let Ok(client) = ClientUri::parse(entry.sender_uri()) else { return Ok(None) };
        let context = ServerFrankingContext {
            sender_uri: IdentifierUri::new(client.user().as_str()),
            room_uri: IdentifierUri::new(room.id()),
            accepted_timestamp: entry.accepted_ms,
        };
        Frank::issue(crypto, signer, self.ciphersuite, &self.mac_key, &aad.franking_tag, context).map(Some)
    }

    /// Checks an abuse report sent for `room` (module docs).
    pub fn check_report(
        &self,
        crypto: &impl OpenMlsCrypto,
        room: &str,
        report: &AbuseReport,
    ) -> Result<(), AbuseRefusal> {
        if report.messages.is_empty() {
            return Err(AbuseRefusal::NoMessages);
        }
        let key: &SignaturePublicKey = &self.agent.franking_signature_key;
        for (index, m) in report.messages.iter().enumerate() {
            let bytes = m.message_content.as_slice();
            let content = MimiContent::decode(bytes)
                .map_err(|e| AbuseRefusal::Content { index, why: format!("not MIMI content: {e}") })?;
            let missing = |what: &str| AbuseRefusal::Content { index, why: format!("no {what}") };
            let sender = content.extensions.sender_uri().ok_or_else(|| missing("senderUri"))?;
            let found = content.extensions.room_uri().ok_or_else(|| missing("roomUri"))?;
            if found != room {
                return Err(AbuseRefusal::OtherRoom { index, found: found.to_owned(), room: room.to_owned() });
            }
            if sender != report.alleged_abuser_uri.as_str() {
                return Err(AbuseRefusal::OtherSender {
                    index,
                    sender: sender.to_owned(),
                    alleged: report.alleged_abuser_uri.as_str().to_owned(),
                });
            }
            let frank_error = |why| AbuseRefusal::Frank { index, why };
            let tag = FrankAAD::compute(crypto, &content.salt, bytes).map_err(|_| frank_error("franking tag"))?;
            let context = ServerFrankingContext {
                sender_uri: IdentifierUri::new(sender),
                room_uri: IdentifierUri::new(room),
                accepted_timestamp: m.accepted_timestamp,
            };
            let expected = server_frank(crypto, &self.mac_key, &tag.franking_tag, &context)
                .map_err(|_| frank_error("server_frank"))?;
            if !same_mac(&expected, &m.frank.server_frank) {
                return Err(frank_error("server_frank differs: other content, sender, room or time"));
            }
            m.frank.verify(crypto, key, context).map_err(|_| frank_error("integrity signature"))?;
        }
        Ok(())
    }
}
