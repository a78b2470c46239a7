//! This provider's users and clients: KeyPackage uploads and claims (`/keyMaterial`,
//! rate-limited per requester and per (requester, target), consent-checked, recorded for the hub's
//! rooms), consent decisions and the Welcome queues. The rules are in
//! [`crate::hub::admission::key_material`]; this gathers the facts, stores and answers.
//! Registration and authentication are in `clients.rs`.

use std::collections::hash_map::Entry;
use std::time::Duration;

use mimi_appsync::uri::{ClientUri, UserUri};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{MlsMessageBodyIn, MlsMessageIn};
use tokio::sync::watch;

use super::{now_ms, Provider, ProviderError, Submitter};
use crate::hub::admission::{self, ClaimRequester, KeyMaterialPlan, UploadRefusal};
use crate::hub::QueueItem;
use crate::store::{settle, ClaimScope, Store, StoredKeyPackage, Write, WriteResult};
use mimi_protocol::consent::ConsentEntry;
use mimi_protocol::key_material::{
    ClientKeyMaterial, ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialResponse, KeyMaterialUserCode,
};
use mimi_protocol::{IdentifierUri, Protocol};

impl<S: Store> Provider<S> {
    /// Validates and stores KeyPackages uploaded by `client` (each an MLSMessage). Each must be
    /// valid, unexpired, and carry a credential naming `client`; the client may keep at most
    /// [`Quotas::key_packages_per_client`](crate::hub::admission::Quotas) unexpired ones (the
    /// store counts them in the transaction that would write: beyond it the upload is refused
    /// whole, `ProviderError::Quota`, and nothing is stored).
    pub async fn upload_key_packages(&self, client: &ClientUri, packages: &[Vec<u8>]) -> Result<usize, ProviderError> {
        let mut stored = Vec::with_capacity(packages.len());
        for (i, bytes) in packages.iter().enumerate() {
            let valid = admission::check_key_package(&self.crypto, client, i, bytes)?.map_err(|r| match r {
                UploadRefusal::Invalid { .. } => ProviderError::BadRequest(r.to_string()),
                UploadRefusal::NotOwn { .. } => ProviderError::Forbidden(r.to_string()),
            })?;
            stored.push(StoredKeyPackage {
                reference: valid.reference,
                client: client.as_str().to_owned(),
                user: client.user().as_str().to_owned(),
                key_package: bytes.clone(),
                last_resort: valid.last_resort,
                not_after: valid.not_after,
            });
        }
        let n = stored.len();
        let write = Write::PutKeyPackages {
            key_packages: stored,
            max_per_client: self.quotas.key_packages_per_client,
            now_secs: now_ms() / 1000,
        };
        settle(self.store.write(write)).await.map_err(|e| self.counted(e.into()))?;
        Ok(n)
    }

    /// Claims one KeyPackage per client of a local user (single use, last resort kept) for
    /// `requester`, within its claim limits (see [`Provider::admit_claim`]). Returns (claimed,
    /// clients with nothing left).
    pub async fn claim_key_packages(
        &self,
        requester: &ClaimRequester,
        user: &UserUri,
    ) -> Result<(Vec<StoredKeyPackage>, Vec<String>), ProviderError> {
        self.admit_claim(requester, user)?;
        self.claim_key_packages_for(user, None).await
    }

    /// Counts a claim by `requester` for `target` against the claim limits (per requester, per
    /// (requester, target), and for a peer per domain and in all), or refuses it with
    /// `RateLimited` (429), counting nothing. Every claim served here or forwarded from here is
    /// counted once, before anything is claimed or sent.
    pub fn admit_claim(&self, requester: &ClaimRequester, target: &UserUri) -> Result<(), ProviderError> {
        self.claims
            .lock()
            .map_err(|_| ProviderError::poisoned("claim limiter"))?
            .admit(requester, target.as_str(), now_ms())
            .map_err(|e| {
                tracing::info!(%requester, target = %target, refusal = %e, "claim rate limited");
                ProviderError::RateLimited(e.to_string())
            })
    }

    /// Claims one KeyPackage per client of a local user (already admitted by the limits),
    /// recording the claimed refs as claims of `scope` (for a room of this hub) in the same
    /// transaction.
    async fn claim_key_packages_for(
        &self,
        user: &UserUri,
        scope: Option<ClaimScope>,
    ) -> Result<(Vec<StoredKeyPackage>, Vec<String>), ProviderError> {
        let now = now_ms();
        let write = Write::ClaimKeyPackages { user: user.as_str().to_owned(), now_secs: now / 1000, scope };
        match settle(self.store.write(write)).await? {
            WriteResult::Claimed { claimed, exhausted } => Ok((claimed, exhausted)),
            WriteResult::Done | WriteResult::Trimmed(_) => Ok((Vec::new(), Vec::new())),
        }
    }

    /// Checks a `KeyMaterialRequest`'s signature and that its credential names a client of
    /// `requestingUser` (and, if given, the authenticated local client `requester`). Returns the
    /// signing client.
    pub fn verify_key_material_request(
        &self,
        request: &KeyMaterialRequest,
        requester: Option<&ClientUri>,
    ) -> Result<ClientUri, ProviderError> {
        admission::verify_key_material_request(&self.crypto, request, requester)
            .map_err(|r| ProviderError::Forbidden(r.to_string()))
    }

    /// Validates KeyPackages claimed from provider `domain` for a Welcome routed there later:
    /// each must be valid and belong to a client of `domain` (else that provider answered
    /// unusably). Returns their KeyPackageRefs.
    pub fn remote_key_package_refs(
        &self,
        domain: &str,
        response: &KeyMaterialResponse,
    ) -> Result<Vec<Vec<u8>>, ProviderError> {
        admission::remote_key_package_refs(&self.crypto, domain, response)?
            .map_err(|bad| ProviderError::Peer { peer: bad.domain.clone(), why: bad.to_string() })
    }

    /// `/keyMaterial` for a local target user: one single-use KeyPackage per client, with the
    /// draft's user and client codes. Checked in this order, nothing claimed before the last:
    /// the request's signature (its credential must name a client of `requestingUser`, and the
    /// calling client on the client API), the claim limits of its requester, the target's
    /// consent (for every claim a peer makes and every requester of another domain). `caller`:
    /// an authenticated local client (client API), or the peer provider that asked, which the
    /// relay has already let through ([`crate::federation::relay::route_key_material`]). If we
    /// are the hub of the request's room, the claimed refs are recorded as claims for that room
    /// by the caller's provider (see [`crate::hub::admission::add_is_vouched`]).
    pub async fn key_material(
        &self,
        request: &KeyMaterialRequest,
        caller: &Submitter,
    ) -> Result<KeyMaterialResponse, ProviderError> {
        let requester = match caller {
            Submitter::Client(c) => Some(c),
            Submitter::Peer(_) => None,
        };
        let respond = |user_status, clients| KeyMaterialResponse {
            protocol: Protocol::Mls10,
            user_status,
            user_uri: request.tbs.target_user.clone(),
            clients,
        };
        let signer = self.verify_key_material_request(request, requester)?;
        if let Ok(target) = UserUri::parse(request.tbs.target_user.as_str()) {
            self.admit_claim(&ClaimRequester::of(caller, &signer.user()), &target)?;
        }
        let (target, scope) =
            match admission::plan_key_material(&self.domain, self.consent, request, caller, &self.store).await? {
                KeyMaterialPlan::Answer(code) => return Ok(respond(code, Vec::new())),
                KeyMaterialPlan::Claim { target, scope } => (target, scope),
            };
        let (claimed, exhausted) = self.claim_key_packages_for(&target, scope).await?;
        let code = admission::key_material_code(claimed.len(), exhausted.len());
        if code == KeyMaterialUserCode::UserUnknown {
            return Ok(respond(code, Vec::new()));
        }
        let mut clients = Vec::new();
        for kp in &claimed {
            // Validated when uploaded: one that no longer decodes is corrupt state.
            let key_package = match MlsMessageIn::tls_deserialize_exact(&kp.key_package).map(|m| m.extract()) {
                Ok(MlsMessageBodyIn::KeyPackage(k)) => k,
                _ => {
                    return Err(ProviderError::internal("a stored KeyPackage", format!("of {} is corrupt", kp.client)))
                }
            };
            clients.push(ClientKeyMaterial {
                client_uri: IdentifierUri::new(kp.client.as_str()),
                status: ClientKeyMaterialStatus::Success { key_package },
            });
        }
        for client in &exhausted {
            clients.push(ClientKeyMaterial {
                client_uri: IdentifierUri::new(client.as_str()),
                status: ClientKeyMaterialStatus::KeyMaterialExhausted,
            });
        }
        tracing::info!(target = %target, claimed = claimed.len(), exhausted = exhausted.len(), "key material claimed");
        Ok(respond(code, clients))
    }

    /// Records a consent operation (`requestConsent`, `updateConsent` or a local user's
    /// decision, checked by the caller); durable when it returns.
    pub async fn record_consent(&self, entry: &ConsentEntry) -> Result<(), ProviderError> {
        let write = Write::Consent {
            requester: entry.scope.requester_uri.as_str().to_owned(),
            target: entry.scope.target_uri.as_str().to_owned(),
            room: entry.scope.room_id.as_ref().map(|r| r.as_str().to_owned()),
            operation: entry.consent.operation(),
        };
        settle(self.store.write(write)).await?;
        tracing::info!(scope = ?entry.scope, operation = ?entry.consent.operation(), "consent recorded");
        Ok(())
    }

    /// The client's queue after `after`, waiting up to `wait` for new items.
    pub async fn read_queue(
        &self,
        client: &ClientUri,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<QueueItem>, ProviderError> {
        let mut rx = {
            let mut queues = self.queues.lock().map_err(|_| ProviderError::poisoned("queue announcers"))?;
            match queues.entry(client.as_str().to_owned()) {
                Entry::Occupied(e) => e.get().subscribe(),
                Entry::Vacant(e) => e.insert(watch::channel(0).0).subscribe(),
            }
        };
        self.note_queue_read(client.as_str(), after);
        let items = self.store.queue_after(client.as_str(), after, limit).await?;
        if !items.is_empty() || wait.is_zero() {
            return Ok(items);
        }
        // A long-poll: running out of time means "nothing new yet"; the queue is read again.
        let _ = tokio::time::timeout(wait, rx.changed()).await;
        Ok(self.store.queue_after(client.as_str(), after, limit).await?)
    }
}
