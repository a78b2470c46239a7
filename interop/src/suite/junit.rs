//! `--junit FILE`: a [`Report`] as JUnit XML, the format CI systems (GitLab, Jenkins, ...) read test
//! results from: `<testsuites>` with one `<testsuite>` per role under test (`hub`, `follower`), one
//! `<testcase>` per check (`name` = the check's id, `classname` = its draft and section), a
//! `<failure>` with the failure's message (the exchanges it shows in the element's text) for a failed
//! check, a `<skipped>` with the reason for a check that was not applicable. The suite does not time
//! its checks, so there are no `time` attributes.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::render::{escape_markup, utc_timestamp};
use super::{CheckResult, Outcome, Report, Role};

fn attr(value: &str) -> String {
    escape_markup(value, true)
}

/// (tests, failures, skipped) of `results`.
fn counts<'a>(results: impl Iterator<Item = &'a CheckResult>) -> (usize, usize, usize) {
    results.fold((0, 0, 0), |(tests, failures, skipped), r| match r.outcome {
        Outcome::Pass => (tests + 1, failures, skipped),
        Outcome::Fail { .. } => (tests + 1, failures + 1, skipped),
        Outcome::NotApplicable { .. } => (tests + 1, failures, skipped + 1),
    })
}

/// Renders `report` as a JUnit XML document, its suites stamped `now`.
pub fn render(report: &Report, now: SystemTime) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (tests, failures, skipped) = counts(report.results.iter());
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">",
        attr(&format!("MIMI conformance: {}", report.target))
    );
    for role in [Role::Hub, Role::Follower] {
        let results: Vec<&CheckResult> = report.results.iter().filter(|r| r.check.role == role).collect();
        if results.is_empty() {
            continue;
        }
        let name = match role {
            Role::Hub => "hub",
            Role::Follower => "follower",
        };
        let (tests, failures, skipped) = counts(results.iter().copied());
        let _ = writeln!(
            out,
            "  <testsuite name=\"mimi-interop {name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" timestamp=\"{}\">",
            utc_timestamp(now)
        );
        let _ = writeln!(out, "    <properties>");
        for (key, value) in [
            ("target", report.target.clone()),
            ("tool", format!("mimi-interop {}", env!("CARGO_PKG_VERSION"))),
            ("drafts", report.drafts.join(", ")),
        ] {
            let _ = writeln!(out, "      <property name=\"{key}\" value=\"{}\"/>", attr(&value));
        }
        let _ = writeln!(out, "    </properties>");
        for r in results {
            testcase(&mut out, r);
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    let _ = writeln!(out, "</testsuites>");
    out
}

fn testcase(out: &mut String, r: &CheckResult) {
    let open = format!("    <testcase name=\"{}\" classname=\"{}\"", attr(r.check.id), attr(&r.check.draft_section()));
    match &r.outcome {
        Outcome::Pass => {
            let _ = writeln!(out, "{open}/>");
        }
        Outcome::Fail { message, exchanges } => {
            let kind = if r.check.required { "required" } else { "optional" };
            let mut details = format!("{}: {message}\n", r.check.title);
            for e in exchanges {
                let _ = write!(
                    details,
                    "\nsent: {}\n  hex: {}\n  decoded: {}\nreceived: HTTP {}\n  hex: {}\n  decoded: {}\n",
                    e.request, e.request_hex, e.request_decoded, e.status, e.response_hex, e.response_decoded
                );
            }
            let _ = writeln!(
                out,
                "{open}>\n      <failure message=\"{}\" type=\"{kind}\">{}</failure>\n    </testcase>",
                attr(message),
                escape_markup(&details, false)
            );
        }
        Outcome::NotApplicable { reason } => {
            let _ = writeln!(out, "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>", attr(reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_xml_with_failures_and_skips() {
        let mut report = Report::new("hub \"x\" <a.example>");
        report.record("hub.directory", Outcome::Pass);
        report.record("hub.update.wrong-epoch", Outcome::fail("expected <wrongEpoch> & got\nsuccess\u{1}"));
        report.record("follower.notify.dedup", Outcome::NotApplicable { reason: "no <room>".into() });
        let xml = render(&report, SystemTime::UNIX_EPOCH);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!((root.attribute("tests"), root.attribute("failures")), (Some("3"), Some("1")));
        let suites: Vec<_> = root.children().filter(|n| n.has_tag_name("testsuite")).collect();
        assert_eq!(suites.len(), 2);
        let failure = doc.descendants().find(|n| n.has_tag_name("failure")).unwrap();
        assert_eq!(failure.attribute("message"), Some("expected <wrongEpoch> & got\nsuccess\u{fffd}"));
        assert_eq!(failure.parent().unwrap().attribute("classname"), Some("draft-ietf-mimi-protocol-06 §5.3"));
        let skipped = doc.descendants().find(|n| n.has_tag_name("skipped")).unwrap();
        assert_eq!(skipped.attribute("message"), Some("no <room>"));
        assert_eq!(suites[1].attribute("skipped"), Some("1"));
    }
}
