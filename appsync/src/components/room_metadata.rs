//! `room_metadata` (0x0023): the room's human-readable data (protocol-06 §7.6).
//!
//! An AppDataUpdate `update` (`RoomMetaUpdate`) carries a whole [`RoomMetaData`] that replaces
//! the old value. Each changed field needs its own capability (room-policy-04 §8.2); the policy
//! engine compares old and new values field by field with [`RoomMetaData::changed_fields`].

use tls_codec::{TlsDeserializeBytes, TlsSerialize, TlsSize};

use super::{check_utf8, Component, ROOM_METADATA};
use crate::reducer::Invalid;

/// A URI: protocol-06 §7.6 / room-policy-04 §A `Uri` (may be empty where a field is unset).
#[derive(Debug, Clone, PartialEq, Eq, Default, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Uri {
    /// The URI text, UTF-8.
    pub uri: Vec<u8>,
}

/// Text: protocol-06 §7.6 `UTF8String` ("a sequence of valid UTF8 without nulls").
#[derive(Debug, Clone, PartialEq, Eq, Default, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct UTF8String {
    /// The text.
    pub string: Vec<u8>,
}

/// One description: protocol-06 §7.6 `RichDescription`.
#[derive(Debug, Clone, PartialEq, Eq, Default, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct RichDescription {
    /// Media type; empty means `text/plain;charset=utf-8`.
    pub media_type: Vec<u8>,
    /// BCP 47 language tag (may be empty).
    pub language_tag: Vec<u8>,
    /// The description itself, in `media_type`.
    pub description_content: Vec<u8>,
}

/// The component data and update: protocol-06 §7.6 `RoomMetaData` (= `RoomMetaUpdate`).
#[derive(Debug, Clone, PartialEq, Eq, Default, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct RoomMetaData {
    /// The room's URI (`mimi://<hub>/r/<room>`); fixed once set.
    pub room_uri: Uri,
    /// Display name.
    pub room_name: UTF8String,
    /// Descriptions, e.g. one per language.
    pub room_descriptions: Vec<RichDescription>,
    /// An https URI of the avatar image.
    pub room_avatar: Uri,
    /// Current subject.
    pub room_subject: UTF8String,
    /// Current mood.
    pub room_mood: UTF8String,
}

/// A field of [`RoomMetaData`], for authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataField {
    /// `room_uri`.
    Uri,
    /// `room_name` (`canChangeRoomName`).
    Name,
    /// `room_descriptions` (`canChangeRoomDescription`).
    Description,
    /// `room_avatar` (`canChangeRoomAvatar`).
    Avatar,
    /// `room_subject` (`canChangeRoomSubject`).
    Subject,
    /// `room_mood` (`canChangeRoomMood`).
    Mood,
}

impl Component for RoomMetaData {
    const ID: u16 = ROOM_METADATA;

    fn validate(&self) -> Result<(), Invalid> {
        check_utf8(self.room_uri.uri.as_slice(), "room_uri")?;
        check_utf8(self.room_name.string.as_slice(), "room_name")?;
        check_utf8(self.room_avatar.uri.as_slice(), "room_avatar")?;
        check_utf8(self.room_subject.string.as_slice(), "room_subject")?;
        check_utf8(self.room_mood.string.as_slice(), "room_mood")?;
        for d in &self.room_descriptions {
            check_utf8(d.media_type.as_slice(), "media_type")?;
            check_utf8(d.language_tag.as_slice(), "language_tag")?;
        }
        Ok(())
    }
}

impl RoomMetaData {
    /// Which fields differ between `self` (old) and `new`.
    pub fn changed_fields(&self, new: &RoomMetaData) -> Vec<MetadataField> {
        let mut out = Vec::new();
        if self.room_uri != new.room_uri {
            out.push(MetadataField::Uri);
        }
        if self.room_name != new.room_name {
            out.push(MetadataField::Name);
        }
        if self.room_descriptions != new.room_descriptions {
            out.push(MetadataField::Description);
        }
        if self.room_avatar != new.room_avatar {
            out.push(MetadataField::Avatar);
        }
        if self.room_subject != new.room_subject {
            out.push(MetadataField::Subject);
        }
        if self.room_mood != new.room_mood {
            out.push(MetadataField::Mood);
        }
        out
    }

    /// Convenience: metadata with a room URI and a name, other fields empty.
    pub fn named(room_uri: &str, name: &str) -> Self {
        Self {
            room_uri: Uri { uri: room_uri.as_bytes().to_vec() },
            room_name: UTF8String { string: name.as_bytes().to_vec() },
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_changed_fields() {
        let old = RoomMetaData::named("mimi://a.example/r/club", "Club");
        let bytes = old.encode().unwrap();
        assert_eq!(RoomMetaData::decode(&bytes).unwrap(), old);
        let mut new = old.clone();
        new.room_subject.string = b"today".to_vec();
        new.room_descriptions.push(RichDescription::default());
        assert_eq!(old.changed_fields(&new), vec![MetadataField::Description, MetadataField::Subject]);
    }

    #[test]
    fn rejects_nul_and_bad_utf8() {
        let mut m = RoomMetaData::named("mimi://a.example/r/club", "Cl\0ub");
        assert!(RoomMetaData::decode(&m.encode().unwrap()).is_err());
        m.room_name.string = vec![0xff];
        assert!(RoomMetaData::decode(&m.encode().unwrap()).is_err());
    }
}
