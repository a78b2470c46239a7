//! Rendering a [`Report`]: a human table (default), JSON (the serde form of [`Report`]) and Markdown (to
//! paste into a hackathon report). Failures list what was sent and what came back, hex and decoded.
//! Also what the report files ([`super::html`], [`super::junit`]) share: the summary line, markup
//! escaping and the UTC timestamp.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// `N passed, N failed, N not applicable: OK|FAILED (...)`.
pub fn summary(report: &Report) -> String {
    let (pass, fail, na) = report.counts();
    let verdict = if report.required_failed() { "FAILED (a required check failed)" } else { "OK" };
    format!("{pass} passed, {fail} failed, {na} not applicable: {verdict}")
}

/// A failure's message or why a check was not applicable; empty for a pass.
pub fn detail(outcome: &Outcome) -> String {
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

/// `text` escaped for HTML or XML: `&`, `<`, `>` always, quotes and line breaks too in an attribute
/// value (`attribute`). Control characters XML 1.0 does not allow become U+FFFD.
pub fn escape_markup(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&#39;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' if attribute => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `time` in UTC as `YYYY-MM-DDTHH:MM:SS` (ISO 8601; the report files add `Z` where the format allows).
pub fn utc_timestamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian), after H. Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
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

    #[test]
    fn markup_is_escaped_and_timestamps_are_utc() {
        assert_eq!(escape_markup("a<b & \"c\"\n", false), "a&lt;b &amp; \"c\"\n");
        assert_eq!(escape_markup("'x'\n\u{1}", true), "&#39;x&#39;&#10;\u{fffd}");
        let at = |secs| utc_timestamp(UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(at(1_767_225_600 + 3_723), "2026-01-01T01:02:03");
    }
}
