//! Rendering a [`Report`]: a human table (default), JSON (the serde form of [`Report`]) and Markdown (to
//! paste into a hackathon report). Failures list what was sent and what came back, hex and decoded.

use std::fmt::Write as _;

use super::{Outcome, Report};

/// Output format of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Format {
    /// Aligned text table, failure details below it.
    #[default]
    Table,
    /// The report as one JSON document.
    Json,
    /// A Markdown table, failure details as sections.
    Markdown,
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => table(report),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")),
        Format::Markdown => markdown(report),
    }
}

fn summary(report: &Report) -> String {
    let (pass, fail, na) = report.counts();
    let verdict = if report.required_failed() { "FAILED (a required check failed)" } else { "OK" };
    format!("{pass} passed, {fail} failed, {na} not applicable: {verdict}")
}

fn detail(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Pass => String::new(),
        Outcome::Fail { message, .. } => message.clone(),
        Outcome::NotApplicable { reason } => reason.clone(),
    }
}

fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "MIMI conformance: {}", report.target);
    let _ = writeln!(out, "drafts: {}", report.drafts.join(", "));
    let id_width = report.results.iter().map(|r| r.check.id.len()).max().unwrap_or(5).max(5);
    let section_width = report.results.iter().map(|r| r.check.section.chars().count()).max().unwrap_or(7).max(7);
    let _ = writeln!(
        out,
        "{:<id_width$}  {:<section_width$}  {:<6}  {:<8}  detail",
        "check", "section", "result", "required"
    );
    for r in &report.results {
        let required = if r.check.required { "required" } else { "optional" };
        let detail = match detail(&r.outcome) {
            d if d.is_empty() => r.check.title.to_owned(),
            d => d,
        };
        let _ = writeln!(
            out,
            "{:<id_width$}  {:<section_width$}  {:<6}  {:<8}  {detail}",
            r.check.id,
            r.check.section,
            r.outcome.label(),
            required
        );
    }
    for r in &report.results {
        if let Outcome::Fail { message, exchanges } = &r.outcome {
            let _ = writeln!(out, "\n{} ({}): {message}", r.check.id, r.check.section);
            for e in exchanges {
                let _ = writeln!(out, "  sent:     {}", e.request);
                let _ = writeln!(out, "    hex:     {}", e.request_hex);
                let _ = writeln!(out, "    decoded: {}", e.request_decoded);
                let _ = writeln!(out, "  received: HTTP {}", e.status);
                let _ = writeln!(out, "    hex:     {}", e.response_hex);
                let _ = writeln!(out, "    decoded: {}", e.response_decoded);
            }
        }
    }
    let _ = writeln!(out, "\n{}", summary(report));
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## MIMI conformance: {}\n", cell(&report.target));
    let _ = writeln!(out, "Drafts: {}\n", report.drafts.join(", "));
    let _ = writeln!(out, "| check | section | result | required | detail |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for r in &report.results {
        let required = if r.check.required { "yes" } else { "no" };
        let detail = match detail(&r.outcome) {
            d if d.is_empty() => r.check.title.to_owned(),
            d => d,
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {required} | {} |",
            r.check.id,
            r.check.section,
            r.outcome.label(),
            cell(&detail)
        );
    }
    for r in &report.results {
        if let Outcome::Fail { message, exchanges } = &r.outcome {
            let _ = writeln!(out, "\n### `{}` failed\n\n{}\n", r.check.id, cell(message));
            for e in exchanges {
                let _ = writeln!(out, "- sent: `{}`", cell(&e.request));
                let _ = writeln!(out, "  - hex: `{}`", e.request_hex);
                let _ = writeln!(out, "  - decoded: `{}`", cell(&e.request_decoded));
                let _ = writeln!(out, "- received: HTTP {}", e.status);
                let _ = writeln!(out, "  - hex: `{}`", e.response_hex);
                let _ = writeln!(out, "  - decoded: `{}`", cell(&e.response_decoded));
            }
        }
    }
    let _ = writeln!(out, "\n{}", summary(report));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::Exchange;

    fn sample() -> Report {
        let mut report = Report::new("hub x.example");
        report.record("hub.directory", Outcome::Pass);
        report.record(
            "hub.update.wrong-epoch",
            Outcome::fail_with(
                "expected wrongEpoch(3), got success",
                Exchange {
                    request: "POST https://x.example/v1/update/r".into(),
                    request_hex: "0102".into(),
                    request_decoded: "UpdateRequest { .. }".into(),
                    status: 200,
                    response_hex: "00".into(),
                    response_decoded: "UpdateRoomResponse { .. }".into(),
                },
            ),
        );
        report.record("hub.groupinfo.member", Outcome::NotApplicable { reason: "no room".into() });
        report
    }

    #[test]
    fn every_format_shows_each_check_and_the_failure() {
        let report = sample();
        for format in [Format::Table, Format::Markdown, Format::Json] {
            let text = render(&report, format);
            for id in ["hub.directory", "hub.update.wrong-epoch", "hub.groupinfo.member"] {
                assert!(text.contains(id), "{format:?} lacks {id}");
            }
            assert!(text.contains("expected wrongEpoch(3), got success"), "{format:?}");
            assert!(text.contains("0102"), "{format:?} lacks the request hex");
        }
        let json: serde_json::Value = serde_json::from_str(&render(&report, Format::Json)).unwrap();
        assert_eq!(json["results"][1]["outcome"], "fail");
        assert_eq!(json["results"][1]["exchanges"][0]["status"], 200);
        assert!(render(&report, Format::Table).contains("1 passed, 1 failed, 1 not applicable: FAILED"));
    }
}
