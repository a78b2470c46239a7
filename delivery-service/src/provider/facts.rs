//! The admission rules' facts ([`HubFacts`]) read from the store.
//!
//! These reads are the only store reads a room's decision makes while the room's lock is held
//! (see [`HubFacts`]): point lookups of a KeyPackageRef's claim or owner, of consent, and of one
//! of our devices' record.

use std::future::Future;

use crate::hub::admission::{ConsentState, HubFacts, KeyPackageClaim};
use crate::store::{ClientStatus, Store, StoreError};

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

    async fn is_registered_client(&self, client: &str) -> Result<bool, StoreError> {
        Ok(Store::client(self, client).await?.is_some_and(|r| r.status == ClientStatus::Active))
    }
}
