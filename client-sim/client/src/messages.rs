//! Sending MIMI content messages (draft-ietf-mimi-content) and what the client keeps of the ones
//! it receives; franking and abuse reports.
//!
//! A message is encrypted at the room's current epoch; when the hub answers `epochTooOld` (a
//! commit was accepted meanwhile), the client catches up and encrypts it again.
//!
//! # Franking
//! In a room whose GroupContext carries a `franking_agent` (created with
//! [`Client::create_franking_room`], naming the hub), every message goes out with the franking
//! tag over its content in the authenticated data (protocol-06 §5.4.1); the hub's frank comes
//! back with the message in the log, and [`Client::abuse_report`] turns a delivered message into
//! an `AbuseReport` for [`crate::api::Session::report_abuse`].

use std::time::Duration;

use mimi_appsync::uri::ClientUri;
use mimi_content::builder::{text_part, Attachment, MessageBuilder, TextFormat};
use mimi_content::{MessageId, MimiContent};
use mimi_protocol::abuse::{AbuseReport, AbuseType, AbusiveMessage};
use mimi_protocol::franking::{FrankAAD, FrankingAgentData};
use mimi_protocol::mls_message::reparse;
use mimi_protocol::notify::FanoutFraming;
use mimi_protocol::safe_aad;
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageStatus};
use mimi_protocol::{IdentifierUri, Protocol};
use openmls::prelude::*;

use crate::client::{Client, MAX_ATTEMPTS};
use crate::error::ClientError;
use crate::inbox::check_aad;
use crate::room::{member_room, Own};

/// One application message as a client has it: its log position, who sent it, and the
/// plaintext (MIMI content, CBOR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Position in the room log (hub order).
    pub seq: u64,
    /// The sending client.
    pub sender: ClientUri,
    /// The MLS epoch it was sent in (who was a member to receive it).
    pub epoch: u64,
    /// The decrypted plaintext.
    pub content: Vec<u8>,
}

/// A MIMI content message as sent: the content and its message ID.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The message.
    pub content: MimiContent,
    /// Its ID (draft §4.1, over the sender's user URI and the room URI).
    pub id: MessageId,
}

impl SentMessage {
    /// The ID of the message's first version (what an edit or delete names in `replaces`).
    pub fn first_version(&self) -> MessageId {
        self.content.replaces.unwrap_or(self.id)
    }
}

impl<P: OpenMlsProvider> Client<P> {
    /// Sends a MIMI content message (encrypted at the current epoch; re-encrypted after catching
    /// up if the hub says `epochTooOld`).
    pub async fn send(&mut self, room_id: &str, content: &MimiContent) -> Result<(), ClientError> {
        let plaintext = content.encode()?;
        for _ in 0..MAX_ATTEMPTS {
            self.catch_up(room_id).await?;
            let Client { rooms, provider, signer, session, .. } = self;
            let room = member_room(rooms, room_id)?;
            let epoch = room.group.epoch().as_u64();
            let framed = safe_aad::framing_required(room.group.extensions());
            if FrankingAgentData::of_group(room.group.extensions()).is_some() {
                let wire = |source| ClientError::Wire { what: "frank_aad".into(), source };
                let tag = FrankAAD::compute(provider.crypto(), &content.salt, &plaintext).map_err(wire)?;
                if framed {
                    // openmls writes the staged items as the whole SafeAAD.
                    let item = tag.safe_aad_item().map_err(wire)?;
                    room.group.set_safe_aad(vec![item]).map_err(|e| ClientError::mls("safe AAD", e))?;
                } else {
                    room.group.set_aad(tag.authenticated_data().map_err(wire)?);
                }
            }
            let message =
                room.group.create_message(provider, signer, &plaintext).map_err(|e| ClientError::mls("encrypt", e))?;
            let app_message = reparse(&message).map_err(ClientError::wire("message"))?;
            // The room's Safe AAD framing, as the hub will check it.
            if let Ok(message) = app_message.clone().try_into_protocol_message() {
                check_aad(&room.group, &message)?;
            }
            let request = SubmitMessageRequest {
                protocol: Protocol::Mls10,
                app_message,
                sending_uri: IdentifierUri::new(session.client().as_str()),
            };
            match session.submit_message(room_id, &request).await {
                Ok(r) => match r.status {
                    SubmitMessageStatus::Accepted { .. } => {
                        room.own.push_back(Own::Message { content: plaintext, epoch, in_doubt: false });
                        return Ok(());
                    }
                    SubmitMessageStatus::EpochTooOld { .. } => {}
                    SubmitMessageStatus::NotAllowed => {
                        return Err(ClientError::Refused { what: "submitMessage".into(), outcome: "notAllowed".into() })
                    }
                },
                Err(e) => {
                    if e.is_in_doubt() {
                        room.own.push_back(Own::Message { content: plaintext, epoch, in_doubt: true });
                    }
                    return Err(e);
                }
            }
        }
        Err(ClientError::TooManyRetries { what: "submitMessage".into(), attempts: MAX_ATTEMPTS })
    }

    /// Sends a plain-text MIMI message.
    pub async fn send_text(&mut self, room_id: &str, text: &str) -> Result<(), ClientError> {
        self.send_built(room_id, MessageBuilder::text(TextFormat::Plain, text)).await.map(drop)
    }

    /// Sends the message `builder` describes, with this client's user as sender (extension 1)
    /// and the room (extension 2), and returns it with its message ID (what replies, reactions,
    /// edits and deletes refer to).
    pub async fn send_built(&mut self, room_id: &str, builder: MessageBuilder) -> Result<SentMessage, ClientError> {
        let content = builder.sender(self.uri().user().as_str()).room(room_id).build()?;
        let (_, id) = content.encode_with_id(None, None)?;
        self.send(room_id, &content).await?;
        Ok(SentMessage { content, id })
    }

    /// Sends a plain-text reply to message `to`.
    pub async fn send_reply(&mut self, room_id: &str, to: MessageId, text: &str) -> Result<SentMessage, ClientError> {
        self.send_built(room_id, MessageBuilder::reply(to, TextFormat::Plain, text)).await
    }

    /// Sends a reaction (e.g. one emoji) to message `to`.
    pub async fn send_reaction(
        &mut self,
        room_id: &str,
        to: MessageId,
        reaction: &str,
    ) -> Result<SentMessage, ClientError> {
        self.send_built(room_id, MessageBuilder::reaction(to, reaction)).await
    }

    /// Sends an edit of `original` (any version of it) with a new plain-text body.
    pub async fn send_edit(
        &mut self,
        room_id: &str,
        original: &SentMessage,
        text: &str,
    ) -> Result<SentMessage, ClientError> {
        let builder =
            MessageBuilder::edit(&original.content, original.first_version(), text_part(TextFormat::Plain, text));
        self.send_built(room_id, builder).await
    }

    /// Sends the deletion (retraction) of `original` (any version of it).
    pub async fn send_delete(&mut self, room_id: &str, original: &SentMessage) -> Result<SentMessage, ClientError> {
        self.send_built(room_id, MessageBuilder::delete(&original.content, original.first_version())).await
    }

    /// Sends a file by reference (an ExternalPart with disposition `attachment`).
    pub async fn send_attachment(&mut self, room_id: &str, attachment: Attachment) -> Result<SentMessage, ClientError> {
        self.send_built(room_id, MessageBuilder::attachment(attachment)).await
    }

    /// An abuse report by this client's user about the message it received at log position `seq`
    /// of `room_id`: its content from the transcript, the hub's frank and acceptance time from the
    /// log entry, the sender named in the content as the alleged abuser.
    pub async fn abuse_report(&self, room_id: &str, seq: u64, note: &str) -> Result<AbuseReport, ClientError> {
        let bad = |why: String| ClientError::Protocol { what: "abuse report".into(), why };
        let delivered = self
            .room(room_id)?
            .transcript
            .iter()
            .find(|d| d.seq == seq)
            .ok_or_else(|| bad(format!("no message at {seq} in {room_id}")))?;
        let content = MimiContent::decode(&delivered.content).map_err(|e| bad(e.to_string()))?;
        let sender = content.extensions.sender_uri().ok_or_else(|| bad("the content names no sender".into()))?;
        let page = self.session.read_log(room_id, seq.saturating_sub(1), Duration::ZERO).await?;
        let entry = page.entries.into_iter().find(|e| e.seq == seq).ok_or_else(|| bad(format!("no entry {seq}")))?;
        let FanoutFraming::Application { frank: Some(frank) } = entry.fanout.framing else {
            return Err(bad(format!("the message at {seq} carries no frank")));
        };
        Ok(AbuseReport {
            reporting_user: IdentifierUri::new(self.uri().user().as_str()),
            alleged_abuser_uri: IdentifierUri::new(sender),
            reason_code: AbuseType(0),
            note: note.into(),
            messages: vec![AbusiveMessage {
                message_content: delivered.content.clone().into(),
                frank,
                accepted_timestamp: entry.fanout.timestamp,
            }],
            abuse_extensions: Default::default(),
        })
    }
}
