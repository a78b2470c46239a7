//! Builders for what a chat client sends (draft §5): text in plain, Markdown or HTML, replies,
//! reactions, edits, deletes, unlikes, expiring messages, attachments and multipart
//! alternatives with a plain-text fallback.
//!
//! Relations follow the draft's rules: an edit or delete names the *first* version in
//! `replaces` and keeps the original's `topicId`, `inReplyTo` and `expires` (only the body may
//! change); a reaction is a `reaction` part with `inReplyTo` set; an unlike replaces the
//! reaction with an empty body of the same disposition.
//!
//! ```
//! use mimi_content::builder::{MessageBuilder, TextFormat};
//! let msg = MessageBuilder::text(TextFormat::Markdown, "Hi **all**")
//!     .sender("mimi://a.example/u/alice")
//!     .room("mimi://a.example/r/team")
//!     .build()
//!     .unwrap();
//! let (bytes, id) = msg.encode_with_id(None, None).unwrap();
//! assert_eq!(mimi_content::MimiContent::decode(&bytes).unwrap(), msg);
//! assert_eq!(id.hash_algorithm(), 0x01);
//! ```

use crate::cbor::Value;
use crate::error::{ContentError, Violation};
use crate::extensions::{ExtensionKey, Extensions, ROOM_URI, SENDER_URI};
use crate::message::{Expiration, MimiContent};
use crate::message_id::MessageId;
use crate::part::{Disposition, ExternalPart, NestedPart, PartBody, PartSemantics};

/// Media type of plain text that every client must receive.
pub const TEXT_PLAIN: &str = "text/plain;charset=utf-8";
/// Media type of the draft's Markdown variant that every client must receive.
pub const TEXT_MARKDOWN: &str = "text/markdown;variant=GFM-MIMI";
/// Media type of HTML.
pub const TEXT_HTML: &str = "text/html;charset=utf-8";

/// The text flavours a client writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// `text/plain;charset=utf-8`.
    Plain,
    /// `text/markdown;variant=GFM-MIMI` (GFM without autolinks, with "No HTML").
    Markdown,
    /// `text/html;charset=utf-8`.
    Html,
}

impl TextFormat {
    /// The media type written into the part.
    pub fn content_type(self) -> &'static str {
        match self {
            TextFormat::Plain => TEXT_PLAIN,
            TextFormat::Markdown => TEXT_MARKDOWN,
            TextFormat::Html => TEXT_HTML,
        }
    }
}

/// A text part to render.
pub fn text_part(format: TextFormat, text: &str) -> NestedPart {
    NestedPart::single(Disposition::Render, "", format.content_type(), text.as_bytes())
}

/// What an attachment message points to (the fields of an ExternalPart a sender fills).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachment {
    /// Media type of the file.
    pub content_type: String,
    /// Where the (normally encrypted) file was uploaded.
    pub url: String,
    /// Size in octets (0 if unknown).
    pub size: u64,
    /// AEAD algorithm (1 = AES-128-GCM), or 0 if the file is not encrypted.
    pub enc_alg: u16,
    /// AEAD key.
    pub key: Vec<u8>,
    /// AEAD nonce.
    pub nonce: Vec<u8>,
    /// SHA-256 of the content at the URL (empty if not given).
    pub sha256: Vec<u8>,
    /// Epoch seconds after which the upload is gone (0 = never).
    pub expires: u32,
    /// A description for the receiver.
    pub description: String,
    /// A suggested file name.
    pub filename: String,
}

/// Builds one [`MimiContent`]. Start from one of the constructors, add what applies, then
/// [`MessageBuilder::build`].
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    replaces: Option<MessageId>,
    topic_id: Vec<u8>,
    expires: Option<Expiration>,
    in_reply_to: Option<MessageId>,
    extensions: Vec<(ExtensionKey, Value)>,
    body: NestedPart,
}

impl MessageBuilder {
    /// A message with the given body and no relations.
    pub fn new(body: NestedPart) -> Self {
        MessageBuilder {
            replaces: None,
            topic_id: Vec::new(),
            expires: None,
            in_reply_to: None,
            extensions: Vec::new(),
            body,
        }
    }

    /// A text message.
    pub fn text(format: TextFormat, text: &str) -> Self {
        MessageBuilder::new(text_part(format, text))
    }

    /// A text reply to one exact version of a message.
    pub fn reply(to: MessageId, format: TextFormat, text: &str) -> Self {
        MessageBuilder::text(format, text).in_reply_to(to)
    }

    /// A reaction (usually one emoji) to one exact version of a message.
    pub fn reaction(to: MessageId, reaction: &str) -> Self {
        MessageBuilder::new(NestedPart::single(Disposition::Reaction, "", TEXT_PLAIN, reaction.as_bytes()))
            .in_reply_to(to)
    }

    /// An edit of `original` (any version of it) whose first version has ID `first_version`:
    /// same relations and expiry, new body.
    pub fn edit(original: &MimiContent, first_version: MessageId, body: NestedPart) -> Self {
        MessageBuilder::related_to(original, first_version, body)
    }

    /// A delete (retraction) of `original`, whose first version has ID `first_version`.
    pub fn delete(original: &MimiContent, first_version: MessageId) -> Self {
        MessageBuilder::related_to(original, first_version, NestedPart::null(original.nested_part.disposition))
    }

    /// Withdraws a reaction: `replaces` names it, the body is empty with the reaction's
    /// disposition.
    pub fn unlike(reaction: &MimiContent, reaction_id: MessageId) -> Self {
        MessageBuilder::delete(reaction, reaction_id)
    }

    fn related_to(original: &MimiContent, first_version: MessageId, body: NestedPart) -> Self {
        MessageBuilder {
            replaces: Some(first_version),
            topic_id: original.topic_id.clone(),
            expires: original.expires,
            in_reply_to: original.in_reply_to,
            extensions: Vec::new(),
            body,
        }
    }

    /// A file shared by reference (an ExternalPart with disposition `attachment`).
    pub fn attachment(a: Attachment) -> Self {
        MessageBuilder::new(attachment_part(a))
    }

    /// Alternatives in order of preference (`chooseOne`); the receiver shows the first it can.
    /// Needs at least two parts, checked by [`MessageBuilder::build`].
    pub fn alternatives(parts: Vec<NestedPart>) -> Self {
        MessageBuilder::new(NestedPart::multi(Disposition::Render, PartSemantics::ChooseOne, parts))
    }

    /// Rich content with a plain-text fallback for receivers that cannot show it.
    pub fn with_fallback(rich: NestedPart, fallback: &str) -> Self {
        MessageBuilder::alternatives(vec![rich, text_part(TextFormat::Plain, fallback)])
    }

    /// Sets extension 1, the sender's user URI.
    pub fn sender(self, uri: &str) -> Self {
        self.extension(ExtensionKey::Int(SENDER_URI), Value::Text(uri.to_owned()))
    }

    /// Sets extension 2, the room URI.
    pub fn room(self, uri: &str) -> Self {
        self.extension(ExtensionKey::Int(ROOM_URI), Value::Text(uri.to_owned()))
    }

    /// Sets any extension (checked by [`MessageBuilder::build`]).
    pub fn extension(mut self, key: ExtensionKey, value: Value) -> Self {
        self.extensions.push((key, value));
        self
    }

    /// Sets the topic (thread) ID.
    pub fn topic(mut self, topic_id: impl Into<Vec<u8>>) -> Self {
        self.topic_id = topic_id.into();
        self
    }

    /// Answers one exact version of a message.
    pub fn in_reply_to(mut self, id: MessageId) -> Self {
        self.in_reply_to = Some(id);
        self
    }

    /// Disappears `seconds` after the receiver reads it.
    pub fn expires_after_reading(mut self, seconds: u32) -> Self {
        self.expires = Some(Expiration { relative: true, time: seconds });
        self
    }

    /// Disappears at `epoch_seconds`, read or not.
    pub fn expires_at(mut self, epoch_seconds: u32) -> Self {
        self.expires = Some(Expiration { relative: false, time: epoch_seconds });
        self
    }

    /// Sets the body's language tags (e.g. `"en"` or `"en,fr"`).
    pub fn language(mut self, language: &str) -> Self {
        self.body.language = language.to_owned();
        self
    }

    /// Builds with a fresh random salt from the operating system.
    pub fn build(self) -> Result<MimiContent, ContentError> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt)
            .map_err(|e| ContentError::invalid(Violation::Nonsensical(format!("no randomness for the salt: {e}"))))?;
        self.build_with_salt(salt)
    }

    /// Builds with the given salt (for tests and reproducible vectors; real messages need a
    /// random one). Checks the whole message by encoding it.
    pub fn build_with_salt(self, salt: [u8; 16]) -> Result<MimiContent, ContentError> {
        let mut extensions = Extensions::new();
        for (k, v) in self.extensions {
            extensions.insert(k, v)?;
        }
        let msg = MimiContent {
            salt,
            replaces: self.replaces,
            topic_id: self.topic_id,
            expires: self.expires,
            in_reply_to: self.in_reply_to,
            extensions,
            nested_part: self.body,
        };
        msg.encode()?;
        Ok(msg)
    }
}

/// The ExternalPart of an attachment.
pub fn attachment_part(a: Attachment) -> NestedPart {
    NestedPart {
        disposition: Disposition::Attachment,
        language: String::new(),
        body: PartBody::External(ExternalPart {
            content_type: a.content_type,
            url: a.url,
            expires: a.expires,
            size: a.size,
            enc_alg: a.enc_alg,
            key: a.key,
            nonce: a.nonce,
            aad: Vec::new(),
            hash_alg: if a.sha256.is_empty() { 0 } else { 1 },
            content_hash: a.sha256,
            description: a.description,
            filename: a.filename,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "mimi://example.com/u/alice-smith";
    const BOB: &str = "mimi://example.com/u/bob-jones";
    const CATHY: &str = "mimi://example.com/u/cathy-washington";
    const ROOM: &str = "mimi://example.com/r/engineering_team";

    fn vector(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/vectors/{name}.hex", env!("CARGO_MANIFEST_DIR"));
        hex::decode(std::fs::read_to_string(path).unwrap().trim()).unwrap()
    }

    fn salt(h: &str) -> [u8; 16] {
        hex::decode(h).unwrap().try_into().unwrap()
    }

    fn id(name: &str) -> MessageId {
        crate::Received::decode(&vector(name), None, None, &Default::default()).unwrap().id
    }

    #[test]
    fn builders_reproduce_the_drafts_examples() {
        let original =
            MessageBuilder::text(TextFormat::Markdown, "Hi everyone, we just shipped release 2.0. __Good  work__!")
                .sender(ALICE)
                .room(ROOM)
                .build_with_salt(salt("5eed9406c2545547ab6f09f20a18b003"))
                .unwrap();
        assert_eq!(original.encode().unwrap(), vector("original"));

        let reaction = MessageBuilder::reaction(id("original"), "❤")
            .room(ROOM)
            .sender(CATHY)
            .build_with_salt(salt("d37bc0e6a8b4f04e9e6382375f587bf6"))
            .unwrap();
        assert_eq!(reaction.encode().unwrap(), vector("reaction"));

        let reply = crate::MimiContent::decode(&vector("reply")).unwrap();
        let edit = MessageBuilder::edit(
            &reply,
            id("reply"),
            text_part(TextFormat::Markdown, "Right on! _Congratulations_ y'all!"),
        )
        .sender(BOB)
        .room(ROOM)
        .build_with_salt(salt("b8c2e6d8800ecf45df39be6c45f4c042"))
        .unwrap();
        assert_eq!(edit.encode().unwrap(), vector("edit"));

        let delete = MessageBuilder::delete(&reply, id("reply"))
            .sender(BOB)
            .room(ROOM)
            .build_with_salt(salt("0a590d73b2c7761c39168be5ebf7f2e6"))
            .unwrap();
        assert_eq!(delete.encode().unwrap(), vector("delete"));

        let unlike = MessageBuilder::unlike(&reaction, id("reaction"))
            .sender(CATHY)
            .room(ROOM)
            .build_with_salt(salt("c5ba86dc9fd272e58ca52ec805b79199"))
            .unwrap();
        assert_eq!(unlike.encode().unwrap(), vector("unlike"));

        let expiring = MessageBuilder::text(
            TextFormat::Markdown,
            "__*VPN GOING DOWN*__ I'm rebooting the VPN in ten minutes unless anyone objects.",
        )
        .expires_at(1644390004)
        .sender(ALICE)
        .room(ROOM)
        .build_with_salt(salt("33be993eb39f418f9295afc2ae160d2d"))
        .unwrap();
        assert_eq!(expiring.encode().unwrap(), vector("expiring"));

        let attachment = MessageBuilder::attachment(Attachment {
            content_type: "video/mp4".into(),
            url: "https://example.com/storage/8ksB4bSrrRE.mp4".into(),
            size: 708234961,
            enc_alg: 1,
            key: hex::decode("21399320958a6f4c745dde670d95e0d8").unwrap(),
            nonce: hex::decode("c86cf2c33f21527d1dd76f5b").unwrap(),
            sha256: hex::decode("9ab17a8cf0890baaae7ee016c7312fcc080ba46498389458ee44f0276e783163").unwrap(),
            expires: 0,
            description: "2 hours of key signing video".into(),
            filename: "bigfile.mp4".into(),
        })
        .language("en")
        .sender(BOB)
        .room(ROOM)
        .build_with_salt(salt("18fac6371e4e53f1aeaf8a013155c166"))
        .unwrap();
        assert_eq!(attachment.encode().unwrap(), vector("attachment"));

        let multipart = MessageBuilder::alternatives(vec![
            text_part(TextFormat::Markdown, "# Welcome!"),
            NestedPart::single(
                Disposition::Render,
                "",
                "application/vnd.examplevendor-fancy-im-message",
                hex::decode("dc861ebaa718fd7c3ca159f71a2001").unwrap(),
            ),
        ])
        .sender(ALICE)
        .room(ROOM)
        .build_with_salt(salt("261c953e178af653fe3d42641b91d814"))
        .unwrap();
        assert_eq!(multipart.encode().unwrap(), vector("multipart-1"));
    }

    #[test]
    fn build_refuses_invalid_messages() {
        let one_part = MessageBuilder::alternatives(vec![text_part(TextFormat::Plain, "x")]).build();
        assert!(matches!(one_part.unwrap_err().violation(), Violation::TooFewParts(1)));
        let bad_key =
            MessageBuilder::text(TextFormat::Plain, "x").extension(ExtensionKey::Int(1), Value::Integer(5)).build();
        assert!(matches!(bad_key.unwrap_err().violation(), Violation::ExtensionNotText(1)));
        let fallback = MessageBuilder::with_fallback(text_part(TextFormat::Html, "<b>x</b>"), "x").build().unwrap();
        assert!(matches!(&fallback.nested_part.body, PartBody::Multi(m) if m.parts.len() == 2));
        let a = MessageBuilder::text(TextFormat::Plain, "x").build().unwrap();
        let b = MessageBuilder::text(TextFormat::Plain, "x").build().unwrap();
        assert_ne!(a.salt, b.salt, "salts are random");
    }
}
