//! Our own devices at the client API: registration (with what the provider's
//! [`Authority`](crate::auth::Authority) accepts, or a current token of another device of the same
//! user), authentication of each request's bearer credential (one of our tokens, or a login the
//! authority issues, which registers its device on first use), and renewing a token. The
//! decisions are [`crate::auth`]'s; the store applies them in one write each; this is the edge.

use std::sync::Arc;
use std::time::Duration;

use mimi_appsync::uri::ClientUri;

use super::{now_ms, Provider, ProviderError};
use crate::auth::tokens::{check_token, new_token, token_hash, NewToken};
use crate::auth::{registration_voucher, Authority, ClientStatus, Login, Voucher};
use crate::store::{settle, Store, Write};

/// Who a client-API request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The device.
    pub client: ClientUri,
    /// The hash of our token it presented (`None`: it presented a login).
    pub token_hash: Option<Vec<u8>>,
}

impl<S: Store> Provider<S> {
    /// Sets how new devices are let in (default: [`crate::auth::EnrollmentCodes`]).
    pub fn with_authority(mut self, authority: Arc<dyn Authority>) -> Self {
        self.authority = authority;
        self
    }

    /// Sets how long a bearer token is valid (default [`crate::auth::tokens::DEFAULT_TOKEN_LIFETIME`]).
    pub fn with_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// The configured name of the registration mode (`codes`, `jwt`, `open`).
    pub fn registration_mode(&self) -> &'static str {
        self.authority.name()
    }

    /// Registers `device` of the local user `user`, presenting an enrollment code or a bearer
    /// credential (a login, or the token of one of the user's current devices), or neither (open
    /// registration). Returns the client URI and its first token. A device name that is taken is
    /// refused, and a refusal changes nothing.
    pub async fn register_client(
        &self,
        user: &str,
        device: &str,
        code: Option<&str>,
        bearer: Option<&str>,
    ) -> Result<(ClientUri, NewToken), ProviderError> {
        let client =
            ClientUri::new(&self.domain, user, device).map_err(|e| ProviderError::BadRequest(e.to_string()))?;
        let now = now_ms();
        let voucher = registration_voucher(self.authority.as_ref(), &client, code, bearer, now)?;
        let token = new_token(now, self.token_lifetime).map_err(|e| ProviderError::internal("token randomness", e))?;
        let write = Write::RegisterClient {
            client: client.as_str().to_owned(),
            user: client.user().as_str().to_owned(),
            voucher,
            token: Some(token.stored.clone()),
            now_ms: now,
        };
        settle(self.store.write(write)).await?;
        Ok((client, token))
    }

    /// The device a bearer credential authenticates: a login the authority issues (its device
    /// registered on first use), else one of our tokens, which must be live (revoking or removing
    /// a device deletes its tokens).
    pub async fn authenticate(&self, bearer: &str) -> Result<Authenticated, ProviderError> {
        let now = now_ms();
        if let Some(login) = self.authority.login(bearer, now) {
            let login = login?;
            self.register_login(&login, now).await?;
            return Ok(Authenticated { client: login.client, token_hash: None });
        }
        let hash = token_hash(bearer);
        let record = self.store.token(&hash).await?;
        let client = check_token(record.as_ref(), now)?;
        // Registered as a client URI: one that no longer parses is corrupt state, not a bad token.
        let client = ClientUri::parse(client).map_err(|e| ProviderError::internal("a registered client's URI", e))?;
        Ok(Authenticated { client, token_hash: Some(hash) })
    }

    /// A verified login's device, registered if it is not yet (a revoked device, or one removed
    /// after the login was issued, is refused).
    async fn register_login(&self, login: &Login, now: u64) -> Result<(), ProviderError> {
        let client = login.client.as_str();
        if self.store.client(client).await?.is_some_and(|r| r.status == ClientStatus::Active) {
            return Ok(());
        }
        let write = Write::RegisterClient {
            client: client.to_owned(),
            user: login.client.user().as_str().to_owned(),
            voucher: Voucher::Login { issued_at_ms: login.issued_at_ms },
            token: None,
            now_ms: now,
        };
        settle(self.store.write(write)).await?;
        tracing::info!(client, "client registered by its login");
        Ok(())
    }

    /// A new token for the authenticated device; the token it presented (if one of ours) stops
    /// working in the same write.
    pub async fn renew_token(&self, caller: &Authenticated) -> Result<NewToken, ProviderError> {
        let now = now_ms();
        let token = new_token(now, self.token_lifetime).map_err(|e| ProviderError::internal("token randomness", e))?;
        let write = Write::IssueToken {
            client: caller.client.as_str().to_owned(),
            token: token.stored.clone(),
            replaces: caller.token_hash.clone(),
            now_ms: now,
        };
        settle(self.store.write(write)).await?;
        Ok(token)
    }
}
