//! The admission rules' facts ([`HubFacts`]) read from the store, and the store's records in the
//! hub's terms.
//!
//! These reads are the only store reads a room's decision makes while the room's lock is held
//! (see [`HubFacts`]): point lookups of a KeyPackageRef's claim or owner, and of consent.

use crate::hub::admission::{self, ConsentState, HubFacts, KeyPackageClaim};
use crate::store::{self, Store, StoreError};

impl<S: Store> HubFacts for S {
    type Error = StoreError;

    fn key_package_claim(&self, reference: &[u8]) -> Result<Option<KeyPackageClaim>, StoreError> {
        Ok(Store::key_package_claim(self, reference)?
            .map(|c| KeyPackageClaim { scope: from_store(c.scope), used: c.used }))
    }

    fn key_package_owner(&self, reference: &[u8]) -> Result<Option<String>, StoreError> {
        Store::key_package_owner(self, reference)
    }

    fn consent(&self, requester: &str, target: &str, room: Option<&str>) -> Result<Option<ConsentState>, StoreError> {
        Ok(Store::consent(self, requester, target, room)?.map(|s| match s {
            store::ConsentState::Requested => ConsentState::Requested,
            store::ConsentState::Granted => ConsentState::Granted,
            store::ConsentState::Revoked => ConsentState::Revoked,
        }))
    }
}

/// A claim scope as the store records it.
pub(super) fn to_store(scope: admission::ClaimScope) -> store::ClaimScope {
    store::ClaimScope { provider: scope.provider, room: scope.room, requester: scope.requester }
}

fn from_store(scope: store::ClaimScope) -> admission::ClaimScope {
    admission::ClaimScope { provider: scope.provider, room: scope.room, requester: scope.requester }
}
