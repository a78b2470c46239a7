//! The admission rules' facts ([`HubFacts`]) read from the store.
//!
//! These reads are the only store reads a room's decision makes while the room's lock is held
//! (see [`HubFacts`]): point lookups of a KeyPackageRef's claim or owner, and of consent.

use std::future::Future;

use crate::hub::admission::{ConsentState, HubFacts, KeyPackageClaim};
use crate::store::{Store, StoreError};

impl<S: Store> HubFacts for S {
    type Error = StoreError;

    fn key_package_claim(
        &self,
        reference: &[u8],
    ) -> impl Future<Output = Result<Option<KeyPackageClaim>, StoreError>> + Send {
        Store::key_package_claim(self, reference)
    }

    fn key_package_owner(&self, reference: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        Store::key_package_owner(self, reference)
    }

    fn consent(
        &self,
        requester: &str,
        target: &str,
        room: Option<&str>,
    ) -> impl Future<Output = Result<Option<ConsentState>, StoreError>> + Send {
        Store::consent(self, requester, target, room)
    }
}
