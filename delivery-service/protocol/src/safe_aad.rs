//! Safe AAD framing of mls-extensions-10 ("Safe Additional Authenticated Data (AAD)"): "If the `safe_aad` component in the
//! `app_data_dictionary` extension is present in the GroupContext …, the entire
//! `authenticated_data` field is framed as a `SafeAAD` struct such that the elements of
//! `aad_items` are sorted in increasing numerical order of the `component_id`."
//!
//! ```text
//! struct { ComponentID component_id; opaque aad_item_data<V>; } SafeAADItem;
//! struct { SafeAADItem aad_items<V>; } SafeAAD;
//! ```
//!
//! The structure is openmls' [`SafeAad`] (its decoder refuses items out of order or repeated);
//! [`check_framing`] is the one rule the hub (at `submitMessage`, and a follower on the hub's
//! application entries) and our clients (before sending and on receipt) apply: in a room whose
//! GroupContext holds `safe_aad`, the `authenticated_data` must be exactly one `SafeAAD`, canonical,
//! with nothing after it. Items the room's list does not name are allowed: -10 makes the list the
//! components every member must *understand*, not the only ones that may appear. In a room without
//! `safe_aad` nothing is required (openmls 0.9, implementing -09, lets safe items be followed by
//! other bytes; [`crate::franking::FrankAAD::from_authenticated_data`] reads such a prefix).

use openmls::framing::SafeAad;
use openmls::prelude::{Extensions, GroupContext};

use super::components_list::SAFE_AAD_COMPONENT_ID;
use super::{Body, WireError};

impl Body for SafeAad {
    const NAME: &'static str = "SafeAAD";
}

/// Whether a room with these GroupContext extensions frames every `authenticated_data` as one
/// `SafeAAD`: its `app_data_dictionary` holds `safe_aad` (0x0002), even with an empty list (or a
/// value that is no `ComponentsList`: present is present).
pub fn framing_required(group_context: &Extensions<GroupContext>) -> bool {
    group_context.app_data_dictionary().is_some_and(|d| d.dictionary().get(&SAFE_AAD_COMPONENT_ID).is_some())
}

/// Checks `authenticated_data` against the room's framing rule: when [`framing_required`], it must
/// be exactly one canonical `SafeAAD` (items strictly increasing, nothing after it), which is
/// returned; otherwise anything goes (`None`).
pub fn check_framing(
    group_context: &Extensions<GroupContext>,
    authenticated_data: &[u8],
) -> Result<Option<SafeAad>, WireError> {
    if !framing_required(group_context) {
        return Ok(None);
    }
    SafeAad::decode(authenticated_data, authenticated_data.len()).map(Some)
}

#[cfg(test)]
mod tests {
    use openmls::component::ComponentId;
    use openmls::prelude::{AppDataDictionary, AppDataDictionaryExtension, Extension};

    use super::*;

    fn context(entries: &[(ComponentId, &[u8])]) -> Extensions<GroupContext> {
        let mut d = AppDataDictionary::new();
        for (id, v) in entries {
            d.insert(*id, v.to_vec());
        }
        Extensions::single(Extension::AppDataDictionary(AppDataDictionaryExtension::new(d))).unwrap()
    }

    /// `SAFE`: a SafeAAD with items 0x0020 (2 bytes) and 0x8001 (empty), as bytes.
    const SAFE: [u8; 10] = [0x08, 0x00, 0x20, 0x02, 0xab, 0xcd, 0x80, 0x01, 0x00, 0x00];

    #[test]
    fn a_safe_aad_room_takes_exactly_one_safe_aad() {
        // safe_aad (0x0002) = ComponentsList [0x0020]
        let room = context(&[(0x0002, &[0x02, 0x00, 0x20])]);
        assert!(framing_required(&room));
        let aad = check_framing(&room, &SAFE[..9]).unwrap().unwrap();
        assert_eq!(aad.get(0x0020), Some(&[0xab, 0xcd][..]));
        // An item the list does not name is allowed.
        let with_private = [0x07, 0x00, 0x20, 0x00, 0x80, 0x01, 0x01, 0xff];
        assert!(check_framing(&room, &with_private).unwrap().is_some());
        // The empty SafeAAD (one zero byte) is the AAD of a message without safe items.
        assert!(check_framing(&room, &[0x00]).unwrap().unwrap().items().is_empty());
        // Refused: bytes after the SafeAAD, no AAD at all, items out of order or repeated,
        // a non-minimal length.
        assert!(matches!(check_framing(&room, &SAFE), Err(WireError::TrailingData { trailing: 1, .. })));
        assert!(check_framing(&room, &[]).is_err());
        let unsorted = [0x08, 0x80, 0x01, 0x00, 0x00, 0x20, 0x02, 0xab, 0xcd];
        assert!(check_framing(&room, &unsorted).is_err());
        let repeated = [0x06, 0x00, 0x20, 0x00, 0x00, 0x20, 0x00];
        assert!(check_framing(&room, &repeated).is_err());
        assert!(check_framing(&room, &[0x40, 0x00]).is_err());
    }

    #[test]
    fn other_rooms_take_anything() {
        for room in [context(&[]), context(&[(0x0001, &[0x00])]), Extensions::empty()] {
            assert!(!framing_required(&room));
            assert_eq!(check_framing(&room, &SAFE).unwrap(), None);
            assert_eq!(check_framing(&room, b"not a SafeAAD").unwrap(), None);
        }
        // An empty list still switches framing on; a malformed one too.
        assert!(framing_required(&context(&[(0x0002, &[0x00])])));
        assert!(framing_required(&context(&[(0x0002, &[0x05])])));
    }
}
