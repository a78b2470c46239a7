//! A new room: its URI must name this hub, it must not exist yet, and its creator must be the
//! group's only member (the creator's GroupInfo itself is checked by
//! [`Room::create`](crate::hub::Room::create)).

use mimi_appsync::uri::ClientUri;

use super::Internal;
use crate::hub::Room;

/// Why a room is not created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateRefusal {
    /// The URI does not name a room of this hub (400).
    #[error("a room of this hub is named {prefix}<name>")]
    NotOurs {
        /// `mimi://<our domain>/r/`.
        prefix: String,
    },
    /// The room exists (403).
    #[error("room {0} exists")]
    Exists(String),
    /// The group has other members than the creating client (403).
    #[error("the creating client must be the group's only member")]
    NotSoleMember,
}

/// Checks the URI of a room to be created at the hub of `ours`; `exists`: whether we have it.
pub fn check_new_room(ours: &str, room_id: &str, exists: bool) -> Result<(), CreateRefusal> {
    let prefix = format!("mimi://{ours}/r/");
    if !room_id.starts_with(&prefix) || room_id.len() == prefix.len() {
        return Err(CreateRefusal::NotOurs { prefix });
    }
    if exists {
        return Err(CreateRefusal::Exists(room_id.to_owned()));
    }
    Ok(())
}

/// Checks that `creator` is the only member of the group of the new `room`.
pub fn check_creator(room: &Room, creator: &ClientUri) -> Result<Result<(), CreateRefusal>, Internal> {
    // `Room::create` read the same state already, so failing here is the hub's fault.
    let state =
        mimi_appsync::adapter::room_state(room.group()).map_err(|e| Internal::new("the new room's state", e))?;
    Ok(if state.members.as_slice() == std::slice::from_ref(creator) {
        Ok(())
    } else {
        Err(CreateRefusal::NotSoleMember)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::admission::memory::TestRoom;

    #[test]
    fn rooms_are_named_under_the_hub_and_created_once() {
        assert_eq!(check_new_room("a.example", "mimi://a.example/r/club", false), Ok(()));
        let not_ours = CreateRefusal::NotOurs { prefix: "mimi://a.example/r/".into() };
        assert_eq!(check_new_room("a.example", "mimi://b.example/r/club", false), Err(not_ours.clone()));
        assert_eq!(check_new_room("a.example", "mimi://a.example/r/", false), Err(not_ours.clone()));
        assert_eq!(check_new_room("a.example", "mimi://a.example/u/alice", false), Err(not_ours));
        assert_eq!(
            check_new_room("a.example", "mimi://a.example/r/club", true),
            Err(CreateRefusal::Exists("mimi://a.example/r/club".into()))
        );
    }

    #[test]
    fn the_creator_is_the_only_member() {
        let t = TestRoom::new();
        assert_eq!(check_creator(&t.room, &t.alice.uri), Ok(Ok(())));
        let alice_pc = ClientUri::parse("mimi://a.example/d/alice/pc").unwrap();
        assert_eq!(check_creator(&t.room, &alice_pc), Ok(Err(CreateRefusal::NotSoleMember)));
    }
}
