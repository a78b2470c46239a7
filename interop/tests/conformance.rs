//! The conformance suite checks itself: `mimi-interop self-test` passes every check against our own
//! `mimi-ds`, and against deliberately broken hubs (a real `mimi-ds` behind a misbehaving mTLS proxy,
//! see `support`) exactly the matching checks fail, with a message saying what went wrong. Both through
//! the binary, so the JSON output and the exit code are tested too, and the `--html` and `--junit`
//! report files against the JSON report of the same run.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use std::path::Path;

use mimi_interop::suite::render::escape_markup;
use mimi_interop::suite::{info, CHECKS};
use support::{BrokenHub, Fault};

fn interop(args: Vec<String>) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mimi-interop")).args(args).output().expect("run mimi-interop")
}

fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// `--html FILE --junit FILE` in `dir`.
fn report_files(dir: &Path) -> Vec<String> {
    let path = |name: &str| dir.join(name).display().to_string();
    vec!["--html".into(), path("report.html"), "--junit".into(), path("report.xml")]
}

/// The JUnit file in `dir` says what the JSON `report` of the same run says: one testcase per result,
/// named by the check's id, classname its draft and section, a `<failure>` with the message for each
/// failure and a `<skipped>` with the reason for each check not applicable; the counts add up.
fn junit_matches(dir: &Path, report: &serde_json::Value) {
    let xml = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("not XML ({e}):\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let results = report["results"].as_array().unwrap();
    let count = |outcome: &str| results.iter().filter(|r| r["outcome"] == outcome).count().to_string();
    assert_eq!(root.attribute("tests"), Some(results.len().to_string().as_str()));
    assert_eq!(root.attribute("failures"), Some(count("fail").as_str()));
    assert_eq!(root.attribute("skipped"), Some(count("notApplicable").as_str()));
    let cases: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .flat_map(|suite| suite.children().filter(|n| n.has_tag_name("testcase")))
        .collect();
    assert_eq!(cases.len(), results.len());
    for (case, result) in cases.iter().zip(results) {
        let id = result["id"].as_str().unwrap();
        assert_eq!(case.attribute("name"), Some(id));
        let classname = case.attribute("classname").unwrap();
        assert_eq!(classname, info(id).unwrap().draft_section());
        assert!(classname.contains(result["section"].as_str().unwrap()), "{classname}");
        let child = |tag: &str| case.children().find(|n| n.has_tag_name(tag));
        match result["outcome"].as_str().unwrap() {
            "pass" => assert!(child("failure").is_none() && child("skipped").is_none(), "{id}"),
            "fail" => assert_eq!(child("failure").unwrap().attribute("message"), result["message"].as_str()),
            _ => assert_eq!(child("skipped").unwrap().attribute("message"), result["reason"].as_str()),
        }
    }
}

/// The HTML file in `dir` is one page without scripts or external assets, and shows each check of the
/// JSON `report` with its section and its (escaped) failure message or reason, and `sent`, a fragment
/// of a request body decoded to its JSON form.
fn html_matches(dir: &Path, report: &serde_json::Value, sent: &str) -> String {
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"));
    for result in report["results"].as_array().unwrap() {
        let id = result["id"].as_str().unwrap();
        assert!(html.contains(&format!("id=\"check-{id}\"")), "{id}");
        assert!(html.contains(&escape_markup(&info(id).unwrap().draft_section(), false)), "{id}");
        for why in [&result["message"], &result["reason"]] {
            if let Some(why) = why.as_str() {
                assert!(html.contains(&escape_markup(why, false)), "{id}: {why}");
            }
        }
    }
    assert!(html.contains(sent), "no decoded request body {sent:?}");
    html
}

#[test]
fn self_test_passes_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["self-test".into(), "--dir".into(), dir.path().display().to_string()];
    args.extend(["--format".into(), "json".into()]);
    args.extend(report_files(dir.path()));
    let output = interop(args);
    let report = json(&output);
    let results = report["results"].as_array().unwrap();
    let failed: Vec<_> = results.iter().filter(|r| r["outcome"] != "pass").collect();
    assert!(failed.is_empty(), "not passed: {failed:#?}");
    let ran: BTreeSet<&str> = results.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let all: BTreeSet<&str> = CHECKS.iter().map(|c| c.id).collect();
    assert_eq!(ran, all, "every registered check runs");
    assert!(output.status.success(), "exit code {:?}", output.status.code());
    junit_matches(dir.path(), &report);
    // bob's claims, decoded to the JSON form of KeyMaterialRequest, and the hub's answers
    let html = html_matches(dir.path(), &report, r#""requestingUser": "mimi://b.example/u/interop-bob""#);
    assert!(html.contains("KeyMaterialResponse, "), "a 200 answer named by its structure");
}

/// Runs `hub --bootstrap --only <only>` against a hub behind a proxy with `fault`; returns the failed
/// checks with their messages, and the ids that ran.
async fn against_broken_hub(fault: Fault, only: &str) -> (Vec<(String, String)>, BTreeSet<String>, Option<i32>) {
    against_broken("hub", fault, only).await
}

/// Runs `<role> --bootstrap --only <only>` against a `mimi-ds` (the hub or the follower under test)
/// behind a proxy with `fault`; as [`against_broken_hub`].
async fn against_broken(
    role: &str,
    fault: Fault,
    only: &str,
) -> (Vec<(String, String)>, BTreeSet<String>, Option<i32>) {
    let dir = tempfile::tempdir().unwrap();
    let (output, report) = run_against_broken(dir.path(), role, fault, only, Vec::new()).await;
    let results = report["results"].as_array().unwrap();
    let failed = results
        .iter()
        .filter(|r| r["outcome"] == "fail")
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r["message"].as_str().unwrap().to_owned()))
        .collect();
    let ran = results.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    for r in results.iter().filter(|r| r["outcome"] != "fail") {
        assert_eq!(r["outcome"], "pass", "{r:#?}");
    }
    (failed, ran, output.status.code())
}

/// Runs `<role> --bootstrap --only <only> --format json <extra>` against a `mimi-ds` behind a proxy
/// with `fault` (certificates and store under `dir`); returns the output and its JSON report.
async fn run_against_broken(
    dir: &Path,
    role: &str,
    fault: Fault,
    only: &str,
    extra: Vec<String>,
) -> (std::process::Output, serde_json::Value) {
    let broken = BrokenHub::start(dir, fault).await.unwrap();
    let mut args = vec![
        role.to_owned(),
        "--url".into(),
        format!("https://127.0.0.1:{}", broken.proxy.port()),
        "--domain".into(),
        "a.example".into(),
        "--ca".into(),
        broken.suite.tls.ca.display().to_string(),
        "--cert".into(),
        broken.suite.tls.cert.display().to_string(),
        "--key".into(),
        broken.suite.tls.key.display().to_string(),
        "--our-domain".into(),
        "b.example".into(),
        "--listen".into(),
        broken.suite.listen.to_string(),
        "--bootstrap".into(),
        "--only".into(),
        only.into(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(extra);
    let output = tokio::task::spawn_blocking(move || interop(args)).await.unwrap();
    broken.stop().await.unwrap();
    // Shown with --nocapture: what an implementer would read.
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));
    let report = json(&output);
    (output, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_files_show_a_failed_and_a_skipped_check() {
    let dir = tempfile::tempdir().unwrap();
    // No third provider behind this hub: the no-consent check is not applicable.
    let only = "hub.mtls,hub.keymaterial.no-consent";
    let files = report_files(dir.path());
    let (output, report) = run_against_broken(dir.path(), "hub", Fault::IgnoreHost, only, files).await;
    assert_eq!(output.status.code(), Some(1));
    let outcomes: Vec<(&str, &str)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("hub.mtls.required", "pass"),
            ("hub.mtls.from-binding", "pass"),
            ("hub.mtls.host-binding", "fail"),
            ("hub.keymaterial.no-consent", "notApplicable"),
        ]
    );
    junit_matches(dir.path(), &report);
    let xml = std::fs::read_to_string(dir.path().join("report.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc.descendants().find(|n| n.has_tag_name("failure")).unwrap();
    assert_eq!(failure.parent().unwrap().attribute("name"), Some("hub.mtls.host-binding"));
    assert!(failure.attribute("message").unwrap().contains("Host: b.example"));
    assert_eq!(failure.attribute("type"), Some("required"));
    // The claim sent with the wrong Host, decoded: a KeyMaterialRequest for an unknown user.
    let html = html_matches(dir.path(), &report, r#""targetUser": "mimi://a.example/u/interop-nobody-"#);
    assert!(html.contains("<span class=\"fail\">"), "the verdict says failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_accepting_two_commits_per_epoch_fails_the_epoch_checks() {
    let (failed, ran, code) = against_broken_hub(Fault::SecondCommit, "hub.update").await;
    let ids: Vec<&str> = failed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["hub.update.one-commit-per-epoch", "hub.update.wrong-epoch"], "{failed:#?}");
    assert!(failed[0].1.contains("second commit for epoch") && failed[0].1.contains("was accepted"), "{}", failed[0].1);
    assert!(failed[1].1.contains("must get wrongEpoch"), "{}", failed[1].1);
    assert_eq!(ran.len(), 5, "{ran:?}");
    assert_eq!(code, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_serving_a_key_package_twice_fails_no_reuse_exhausted_and_last_resort() {
    // No third provider behind this hub: the no-consent check would not be applicable.
    let only = "hub.keymaterial.codes,hub.keymaterial.no-reuse,hub.keymaterial.exhausted,hub.keymaterial.last-resort";
    let (failed, ran, code) = against_broken_hub(Fault::ReplayKeyMaterial, only).await;
    let ids: Vec<&str> = failed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["hub.keymaterial.no-reuse", "hub.keymaterial.exhausted", "hub.keymaterial.last-resort"],
        "{failed:#?}"
    );
    assert!(failed[0].1.contains("returned the same KeyPackage"), "{}", failed[0].1);
    // The exhausted user's one KeyPackage comes back instead of keyMaterialExhausted.
    assert!(failed[1].1.contains("claim 2 for mimi://a.example/u/interop-erin served again"), "{}", failed[1].1);
    assert!(failed[1].1.contains("instead of reporting keyMaterialExhausted"), "{}", failed[1].1);
    // The last-resort user's single-use KeyPackage is the one replayed.
    assert!(failed[2].1.contains("not marked last_resort"), "{}", failed[2].1);
    assert!(ran.contains("hub.keymaterial.codes"));
    assert_eq!(code, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_ignoring_mtls_fails_the_mtls_check() {
    let (failed, ran, code) = against_broken_hub(Fault::IgnoreMtls, "hub.mtls").await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].0, "hub.mtls.required");
    assert!(failed[0].1.contains("without a client certificate got HTTP"), "{}", failed[0].1);
    assert!(ran.contains("hub.mtls.from-binding") && ran.contains("hub.mtls.host-binding"));
    assert_eq!(code, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_ignoring_host_fails_the_host_check() {
    let (failed, ran, code) = against_broken_hub(Fault::IgnoreHost, "hub.mtls").await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].0, "hub.mtls.host-binding");
    assert!(failed[0].1.contains("Host: b.example") && failed[0].1.contains("answered HTTP 200"), "{}", failed[0].1);
    assert_eq!(ran.len(), 3, "{ran:?}");
    assert_eq!(code, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_refusing_group_info_by_http_status_fails_not_authorized() {
    let (failed, ran, code) = against_broken_hub(Fault::GroupInfoRefusedByStatus, "hub.groupinfo").await;
    let ids: Vec<&str> = failed.iter().map(|(id, _)| id.as_str()).collect();
    // mimi-ds answers notAuthorized for a room it does not have too (hiding which rooms exist).
    assert_eq!(ids, ["hub.groupinfo.unknown-room", "hub.groupinfo.not-authorized"], "{failed:#?}");
    assert!(
        failed[0].1.contains("expected noSuchRoom or notAuthorized (or HTTP 404), got HTTP 403"),
        "{}",
        failed[0].1
    );
    assert!(
        failed[1].1.contains("the non-participant mimi://b.example/d/interop-mallory/d1")
            && failed[1].1.contains("must be answered notAuthorized: HTTP 403"),
        "{}",
        failed[1].1
    );
    assert!(ran.contains("hub.groupinfo.member"), "{ran:?}");
    assert_eq!(code, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_serving_claims_for_other_domains_fails_the_key_material_trust_checks() {
    let only = "hub.trust.requester-domain,hub.trust.keymaterial-foreign-room";
    let (failed, ran, code) = against_broken_hub(Fault::ServeForeignClaims, only).await;
    let ids: Vec<&str> = failed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["hub.trust.requester-domain", "hub.trust.keymaterial-foreign-room"], "{failed:#?}");
    assert!(
        failed[0].1.contains("requestingUser mimi://interop-third.example/u/interop-mallory")
            && failed[0].1.contains("must be refused, but the hub served a KeyPackage"),
        "{}",
        failed[0].1
    );
    assert!(
        failed[1].1.contains("naming a room of interop-third.example") && failed[1].1.contains("served a KeyPackage"),
        "{}",
        failed[1].1
    );
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert_eq!(code, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_accepting_messages_for_another_domains_sender_fails_sending_uri_domain() {
    let (failed, ran, code) = against_broken_hub(Fault::AcceptForeignSender, "hub.trust.sending-uri-domain").await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].0, "hub.trust.sending-uri-domain");
    assert!(
        failed[0].1.contains("with the sendingUri mimi://a.example/d/interop-alice/d1")
            && failed[0].1.contains("must be refused, but the hub answered Accepted"),
        "{}",
        failed[0].1
    );
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(code, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_keeping_reports_filed_for_another_domains_user_fails_reporter_domain() {
    let (failed, ran, code) = against_broken_hub(Fault::KeepForeignReports, "hub.trust.reporter-domain").await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].0, "hub.trust.reporter-domain");
    assert!(
        failed[0].1.contains("reportingUser mimi://a.example/u/interop-mallory")
            && failed[0].1.contains("must be refused, but the hub answered HTTP 201"),
        "{}",
        failed[0].1
    );
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(code, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_recording_consent_for_another_domains_party_fails_consent_parties() {
    let (failed, ran, code) = against_broken_hub(Fault::RecordForeignConsent, "hub.trust.consent-parties").await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].0, "hub.trust.consent-parties");
    assert!(
        failed[0].1.contains("requestConsent from b.example")
            && failed[0].1.contains("requesterUri mimi://interop-third.example/u/interop-mallory")
            && failed[0].1.contains("answered HTTP 201"),
        "{}",
        failed[0].1
    );
    assert_eq!(ran.len(), 1, "{ran:?}");
    // An optional check: its failure is reported, the run still succeeds.
    assert_eq!(code, Some(0));
}

/// Runs `only` against a hub that answers `success` where it refused for `reason`; the one check
/// must fail, saying what was accepted, and the run exits with `code` (0 for an optional check).
async fn lying_about(reason: &'static str, only: &str, accepted: &str, exit: i32) {
    let (failed, ran, code) = against_broken_hub(Fault::AcceptRefusedUpdate(reason), only).await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].0, only);
    assert!(failed[0].1.contains(accepted) && failed[0].1.contains("must be refused"), "{}", failed[0].1);
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(code, Some(exit));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_letting_a_leaf_take_another_clients_credential_fails_leaf_identity() {
    let turned = "mimi://b.example/d/interop-bob/d1's leaf into mimi://a.example/d/interop-alice/d1";
    lying_about("may not change its credential", "hub.trust.leaf-identity", turned, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_taking_a_welcome_for_clients_the_commit_does_not_add_fails_welcome_matches_adds() {
    let what = "carrying a Welcome for a KeyPackage it does not add";
    lying_about("the Welcome names", "hub.trust.welcome-matches-adds", what, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_keeping_a_group_info_it_did_not_verify_fails_group_info_verified() {
    let what = "carrying the current epoch's GroupInfo instead of the new one";
    lying_about("the GroupInfo's GroupContext", "hub.trust.group-info-verified", what, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_admitting_an_unlisted_joiner_fails_external_join_listed() {
    let what = "an external commit by mimi://b.example/d/interop-mallory/d1";
    lying_about("ClientOfUnlistedUser", "hub.trust.external-join-listed", what, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_taking_a_leaf_without_the_rooms_components_fails_leaf_components() {
    let what = "a commit giving mimi://b.example/d/interop-bob/d1's leaf no app_components";
    lying_about("app_components list lacks", "hub.trust.leaf-components", what, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_taking_in_fanout_that_does_not_validate_fails_refuses_invalid_fanout() {
    let (failed, ran, code) =
        against_broken("follower", Fault::AcceptInvalidFanout, "follower.trust.refuses-invalid-fanout").await;
    let ids: Vec<&str> = failed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["follower.trust.refuses-invalid-fanout"], "{failed:#?}");
    assert!(failed[0].1.contains("must be refused with a 4xx, got 201"), "{}", failed[0].1);
    assert_eq!(ran.len(), 1, "{ran:?}");
    // An optional check: its failure is reported, the run still succeeds.
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_serving_its_mirror_to_a_non_member_fails_mirror_members_only() {
    let (failed, ran, code) =
        against_broken("follower", Fault::ServeMirrorToAnyone, "follower.trust.mirror-members-only").await;
    let ids: Vec<&str> = failed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["follower.trust.mirror-members-only"], "{failed:#?}");
    assert!(failed[0].1.contains("was never a member") && failed[0].1.contains("was served"), "{}", failed[0].1);
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_against_a_closed_hub_says_it_needs_open_registration() {
    let dir = tempfile::tempdir().unwrap();
    let configs = mimi_client_sim::local::federation_configs(dir.path(), &["a.example", "b.example"]).unwrap();
    // A hub as `mimi-ds serve` runs by default: devices need enrollment codes.
    let closed = mimi_ds::config::Config { registration: mimi_ds::config::Registration::Codes, ..configs[0].clone() };
    let hub = mimi_client_sim::LocalProvider::start_with(closed).await.unwrap();
    let suite = &configs[1];
    let args = vec![
        "hub".to_owned(),
        "--url".into(),
        format!("https://127.0.0.1:{}", hub.addr().port()),
        "--domain".into(),
        "a.example".into(),
        "--ca".into(),
        suite.tls.ca.display().to_string(),
        "--cert".into(),
        suite.tls.cert.display().to_string(),
        "--key".into(),
        suite.tls.key.display().to_string(),
        "--our-domain".into(),
        "b.example".into(),
        "--listen".into(),
        suite.listen.to_string(),
        "--bootstrap".into(),
    ];
    let output = tokio::task::spawn_blocking(move || interop(args)).await.unwrap();
    hub.stop().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("a.example refused to register interop-alice (HTTP 401"), "{stderr}");
    assert!(stderr.contains("registration = \"open\""), "{stderr}");
}
