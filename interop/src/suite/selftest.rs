//! `mimi-interop self-test`: the whole suite against our own `mimi-ds`, started in-process
//! (`mimi_client_sim::local`, one development CA for the providers and the suite): first as the hub
//! (the suite plays follower `b.example`, bootstrapping the room through the client API), then as a
//! follower (the suite plays hub `b.example`). Every check must pass.
//!
//! For `hub.keymaterial.no-consent` a second `mimi-ds`, `c.example`, runs with `consent = "required"`;
//! its user `interop-carol` has KeyPackages and has granted nothing, so a claim the hub forwards to it
//! for the suite's users comes back `noConsent`.

use std::path::Path;

use mimi_client_sim::local::federation_configs;
use mimi_client_sim::{Connection, LocalProvider};
use mimi_ds::config::ConsentPolicy;

use super::hub::{Bootstrap, HubRun, ProbeUsers};
use super::net::{Credentials, Target};
use super::{follower, hub, Report, Selection, SuiteError};

/// The provider under test.
pub const PROVIDER_DOMAIN: &str = "a.example";
/// The domain the suite plays.
pub const SUITE_DOMAIN: &str = "b.example";
/// A third provider, requiring consent for claims by other providers' users.
pub const CONSENT_DOMAIN: &str = "c.example";

/// Runs the selected checks against a `mimi-ds` started under `dir` (certificates, store).
pub async fn run(dir: &Path, selection: &Selection) -> Result<Report, SuiteError> {
    let configs = federation_configs(dir, &[PROVIDER_DOMAIN, SUITE_DOMAIN, CONSENT_DOMAIN])?;
    let provider = LocalProvider::start_with(configs[0].clone()).await?;
    let mut consenting = configs[2].clone();
    consenting.consent = ConsentPolicy::Required;
    let consenting = match LocalProvider::start_with(consenting).await {
        Ok(p) => p,
        Err(e) => {
            let _ = provider.stop().await;
            return Err(e.into());
        }
    };
    let result = run_with(&configs, &provider, &consenting, selection).await;
    let stopped = (provider.stop().await, consenting.stop().await);
    let report = result?;
    stopped.0?;
    stopped.1?;
    Ok(report)
}

/// A user of `provider` with KeyPackages: `interop-carol`, registered through its client API.
async fn carol(provider: &LocalProvider) -> Result<String, SuiteError> {
    let connection = Connection::new(provider.domain(), provider.addr(), provider.ca())?;
    let carol = super::bootstrap_client(&connection, "interop-carol", "d1").await?;
    carol.upload_key_packages(2).await?;
    Ok(carol.uri().user().to_string())
}

/// The hub checks, then (if they could run) the follower checks, against the started providers.
async fn run_with(
    configs: &[mimi_ds::config::Config],
    provider: &LocalProvider,
    consenting: &LocalProvider,
    selection: &Selection,
) -> Result<Report, SuiteError> {
    let no_consent = carol(consenting).await?;
    let suite = &configs[1];
    let credentials = Credentials {
        ca: suite.tls.ca.clone(),
        cert: suite.tls.cert.clone(),
        key: suite.tls.key.clone(),
        our_domain: SUITE_DOMAIN.to_owned(),
    };
    let target = Target { domain: PROVIDER_DOMAIN.to_owned(), addr: provider.addr() };
    let mut report = Report::new(format!(
        "self-test: mimi-ds {PROVIDER_DOMAIN} in-process ({CONSENT_DOMAIN} requiring consent as a target provider)"
    ));
    let hub_run = HubRun {
        target: target.clone(),
        credentials: credentials.clone(),
        listen: suite.listen,
        bootstrap: Bootstrap::ClientApi,
        users: ProbeUsers { no_consent: Some(no_consent), ..ProbeUsers::default() },
        selection: selection.clone(),
    };
    let hub_result = hub::run(hub_run).await;
    let follower_result = match &hub_result {
        Ok(_) => {
            let run = follower::FollowerRun {
                target,
                credentials,
                listen: suite.listen,
                bootstrap: follower::FollowerBootstrap::ClientApi,
                selection: selection.clone(),
            };
            Some(follower::run(run).await)
        }
        Err(_) => None,
    };
    report.extend(hub_result?);
    if let Some(result) = follower_result {
        report.extend(result?);
    }
    Ok(report)
}
