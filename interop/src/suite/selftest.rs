//! `mimi-interop self-test`: the whole suite against our own `mimi-ds`, started in-process
//! (`mimi_client_sim::local`, one development CA for the provider and the suite): first as the hub
//! (the suite plays follower `b.example`, bootstrapping the room through the client API), then as a
//! follower (the suite plays hub `b.example`). Every check must pass.

use std::path::Path;

use mimi_client_sim::local::federation_configs;
use mimi_client_sim::LocalProvider;

use super::hub::{Bootstrap, HubRun};
use super::net::{Credentials, Target};
use super::{follower, hub, Report, Selection, SuiteError};

/// The provider under test.
pub const PROVIDER_DOMAIN: &str = "a.example";
/// The domain the suite plays.
pub const SUITE_DOMAIN: &str = "b.example";

/// Runs the selected checks against a `mimi-ds` started under `dir` (certificates, store).
pub async fn run(dir: &Path, selection: &Selection) -> Result<Report, SuiteError> {
    let configs = federation_configs(dir, &[PROVIDER_DOMAIN, SUITE_DOMAIN])?;
    let provider = LocalProvider::start_with(configs[0].clone()).await?;
    let suite = &configs[1];
    let credentials = Credentials {
        ca: suite.tls.ca.clone(),
        cert: suite.tls.cert.clone(),
        key: suite.tls.key.clone(),
        our_domain: SUITE_DOMAIN.to_owned(),
    };
    let target = Target { domain: PROVIDER_DOMAIN.to_owned(), addr: provider.addr() };
    let mut report = Report::new(format!("self-test: mimi-ds {PROVIDER_DOMAIN} in-process"));
    let hub_run = HubRun {
        target: target.clone(),
        credentials: credentials.clone(),
        listen: suite.listen,
        bootstrap: Bootstrap::ClientApi,
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
    let stopped = provider.stop().await;
    report.extend(hub_result?);
    if let Some(result) = follower_result {
        report.extend(result?);
    }
    stopped?;
    Ok(report)
}
