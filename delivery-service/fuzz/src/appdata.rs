//! The decoders of the `appdata` target, and the framing of its commit input.
//!
//! The first byte chooses what the rest is (`selector % 8`):
//! - 0..=4: one component value as a dictionary entry holds it ([`COMPONENTS`] order: participant list,
//!   room metadata, roles, preauthorization, base policy), decoded with `Component::decode`. That
//!   decoder refuses non-canonical input, so what it accepts must re-encode to the input.
//! - 5: a dictionary and one commit's AppDataUpdate proposals ([`encode_commit`] framing), run through
//!   `reducer::reduce` (which decodes each payload: whole components, `ParticipantListUpdate`s) and
//!   `RoomState::new` (which decodes every MIMI entry of the dictionary). No panic.
//! - 6, 7: a user URI (`UserUri::from_bytes`) and a client URI (`ClientUri::from_bytes`), as the hub
//!   reads them from participant lists and credentials: no panic, and what is accepted keeps its bytes.

use std::collections::BTreeMap;

use mimi_appsync::components::base_policy::BaseRoomPolicy;
use mimi_appsync::components::participant_list::ParticipantListData;
use mimi_appsync::components::preauth::PreAuthData;
use mimi_appsync::components::roles::RoleData;
use mimi_appsync::components::room_metadata::RoomMetaData;
use mimi_appsync::components::{
    Component, BASE_ROOM_POLICY, PARTICIPANT_LIST, PREAUTH_LIST, ROLES_LIST, ROOM_METADATA,
};
use mimi_appsync::reducer::reduce;
use mimi_appsync::state::RoomState;
use mimi_appsync::uri::{ClientUri, UserUri};
use openmls::component::ComponentId;
use openmls::prelude::AppDataUpdateProposal;

/// The selector of each component value, in [`COMPONENTS`] order.
pub const COMPONENTS: [ComponentId; 5] = [PARTICIPANT_LIST, ROOM_METADATA, ROLES_LIST, PREAUTH_LIST, BASE_ROOM_POLICY];
/// Selector of a dictionary plus a commit's proposals.
pub const COMMIT: u8 = 5;
/// Selector of a user URI.
pub const USER_URI: u8 = 6;
/// Selector of a client URI.
pub const CLIENT_URI: u8 = 7;

/// The component IDs a commit input can name, by the low 3 bits of an ID byte: the five MIMI
/// components, a private-range one, a GREASE one and one that is none of these.
pub const IDS: [ComponentId; 8] =
    [PARTICIPANT_LIST, ROOM_METADATA, ROLES_LIST, PREAUTH_LIST, BASE_ROOM_POLICY, 0x8001, 0x0a0a, 0x0024];
/// Bit of an operation byte marking a `remove` (no payload follows).
pub const REMOVE: u8 = 0x80;

/// The selector byte of a component value.
pub fn component_selector(id: ComponentId) -> Option<u8> {
    COMPONENTS.iter().position(|c| *c == id).and_then(|i| u8::try_from(i).ok())
}

fn id_byte(id: ComponentId) -> Option<u8> {
    IDS.iter().position(|c| *c == id).and_then(|i| u8::try_from(i).ok())
}

/// A commit input: the old dictionary and the proposals in commit order (`None` = remove).
pub type Commit = (Vec<(ComponentId, Vec<u8>)>, Vec<(ComponentId, Option<Vec<u8>>)>);

/// Frames a commit input (without the selector): a count byte and that many dictionary entries
/// (ID byte, u16 length, value), then proposals to the end (operation byte: [`REMOVE`] or the ID
/// byte; for an update a u16 length and the payload). IDs must be in [`IDS`], lengths fit u16.
pub fn encode_commit(
    dictionary: &[(ComponentId, Vec<u8>)],
    proposals: &[(ComponentId, Option<Vec<u8>>)],
) -> Option<Vec<u8>> {
    let mut out = vec![u8::try_from(dictionary.len()).ok()?];
    for (id, value) in dictionary {
        out.push(id_byte(*id)?);
        out.extend_from_slice(&u16::try_from(value.len()).ok()?.to_be_bytes());
        out.extend_from_slice(value);
    }
    for (id, payload) in proposals {
        match payload {
            None => out.push(REMOVE | id_byte(*id)?),
            Some(bytes) => {
                out.push(id_byte(*id)?);
                out.extend_from_slice(&u16::try_from(bytes.len()).ok()?.to_be_bytes());
                out.extend_from_slice(bytes);
            }
        }
    }
    Some(out)
}

/// Reads what [`encode_commit`] writes; a truncated tail is ignored.
pub fn decode_commit(data: &[u8]) -> Commit {
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        *rest = tail;
        Some(head)
    }
    fn value(rest: &mut &[u8]) -> Option<Vec<u8>> {
        let len = take(rest, 2)?;
        Some(take(rest, usize::from(u16::from_be_bytes([len[0], len[1]])))?.to_vec())
    }
    let mut rest = data;
    let mut dictionary = Vec::new();
    let mut proposals = Vec::new();
    let count = take(&mut rest, 1).map_or(0, |c| c[0]);
    for _ in 0..count {
        let Some(id) = take(&mut rest, 1) else { break };
        let Some(bytes) = value(&mut rest) else { break };
        dictionary.push((IDS[usize::from(id[0] & 7)], bytes));
    }
    while let Some(op) = take(&mut rest, 1) {
        let id = IDS[usize::from(op[0] & 7)];
        if op[0] & REMOVE != 0 {
            proposals.push((id, None));
        } else {
            let Some(bytes) = value(&mut rest) else { break };
            proposals.push((id, Some(bytes)));
        }
    }
    (dictionary, proposals)
}

fn component<C: Component>(data: &[u8]) {
    if let Ok(value) = C::decode(data) {
        let again = value.encode().expect("a decoded component encodes");
        assert_eq!(again, data, "component {:#06x}: accepted a non-canonical encoding", C::ID);
    }
}

fn commit(data: &[u8]) {
    let (entries, proposals) = decode_commit(data);
    let dictionary: BTreeMap<ComponentId, Vec<u8>> = entries.into_iter().collect();
    let proposals: Vec<AppDataUpdateProposal> = proposals
        .into_iter()
        .map(|(id, payload)| match payload {
            Some(bytes) => AppDataUpdateProposal::update(id, bytes),
            None => AppDataUpdateProposal::remove(id),
        })
        .collect();
    let _ = reduce(|id| dictionary.get(&id).map(Vec::as_slice), &proposals);
    let _ = RoomState::new(dictionary, Vec::new());
}

fn user_uri(data: &[u8]) {
    if let Ok(user) = UserUri::from_bytes(data) {
        assert_eq!(user.as_bytes(), data);
        let _ = (user.domain(), user.name());
    }
}

fn client_uri(data: &[u8]) {
    if let Ok(client) = ClientUri::from_bytes(data) {
        assert_eq!(client.as_bytes(), data);
        let _ = (client.domain(), client.device());
        let user = client.user();
        assert!(UserUri::parse(user.as_str()).is_ok(), "the user of a valid client URI is not a valid user URI");
    }
}

/// Runs the decoder chosen by the first byte on the rest.
pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    match selector % 8 {
        0 => component::<ParticipantListData>(rest),
        1 => component::<RoomMetaData>(rest),
        2 => component::<RoleData>(rest),
        3 => component::<PreAuthData>(rest),
        4 => component::<BaseRoomPolicy>(rest),
        COMMIT => commit(rest),
        USER_URI => user_uri(rest),
        _ => client_uri(rest),
    }
}
