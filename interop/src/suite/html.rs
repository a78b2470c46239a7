//! `--html FILE`: a [`Report`] as one self-contained HTML page to hand around after an interop event:
//! inline CSS, no scripts, no external assets. A summary on top (counts, target, date, tool version,
//! drafts), an overview table, then each check with its draft section, pass / fail / skip and why,
//! the evidence of a failure, and every request the suite sent or its server received since the
//! previous result, with the answer ([`Traffic`]), each body as hex and decoded to the JSON form
//! `mimi-interop decode` prints ([`crate::inspect`]). A body that does not decode as its structure is
//! shown as hex only, saying so.

use std::fmt::Write as _;
use std::time::SystemTime;

use mimi_protocol::notify::{FanoutMessage, DEFAULT_MAX_FANOUT_MESSAGES};
use mimi_protocol::{Body as _, DEFAULT_MAX_BODY_LEN};
use serde_json::Value as Json;

use super::render::{detail, escape_markup, summary, utc_timestamp};
use super::{CheckResult, Exchange, Outcome, Report, Traffic};
use crate::inspect;

/// Longest body shown as hex, in bytes (the rest is counted, not shown).
pub const MAX_HTML_HEX_BYTES: usize = 64 * 1024;

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 110em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin: 0; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.pass { color: #126b12; font-weight: bold; } .fail { color: #b00020; font-weight: bold; }
.skip { color: #777; font-weight: bold; }
section.check { border: 1px solid #ccc; border-left: 6px solid #ccc; padding: .6em 1em; margin: 1em 0; }
section.check.pass { border-left-color: #2e9d2e; font-weight: normal; color: inherit; }
section.check.fail { border-left-color: #d0021b; font-weight: normal; color: inherit; }
section.check.skip { border-left-color: #aaa; font-weight: normal; color: inherit; }
.exchange { border-top: 1px dashed #ccc; margin-top: .6em; padding-top: .4em; }
pre { background: #f7f7f7; padding: .5em; overflow-x: auto; white-space: pre-wrap; word-break: break-all;
      max-height: 40em; overflow-y: auto; font-size: .85em; }
.note { color: #8a5a00; } .reason { white-space: pre-wrap; } code { font-size: .95em; }
";

/// `text` escaped for an element's content.
fn text(value: &str) -> String {
    escape_markup(value, false)
}

/// `value` escaped for an attribute.
fn attr(value: &str) -> String {
    escape_markup(value, true)
}

/// The CSS class and the word for an outcome.
fn verdict(outcome: &Outcome) -> (&'static str, &'static str) {
    match outcome {
        Outcome::Pass => ("pass", "pass"),
        Outcome::Fail { .. } => ("fail", "fail"),
        Outcome::NotApplicable { .. } => ("skip", "skip (not applicable)"),
    }
}

/// The element id of a check's section.
fn anchor(result: &CheckResult) -> String {
    format!("check-{}", result.check.id)
}

/// Renders `report` as a complete HTML document, dated `now`.
pub fn render(report: &Report, now: SystemTime) -> String {
    let mut out = String::new();
    let title = format!("MIMI conformance: {}", report.target);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        text(&title),
        text(&title)
    );
    let (pass, fail, skip) = report.counts();
    let verdict_class = if report.required_failed() { "fail" } else { "pass" };
    let _ = writeln!(out, "<table class=\"summary\">");
    for (name, value) in [
        ("target", text(&report.target)),
        ("date", format!("{}Z", utc_timestamp(now))),
        ("tool", format!("mimi-interop {}", env!("CARGO_PKG_VERSION"))),
        ("drafts", text(&report.drafts.join(", "))),
        (
            "checks",
            format!("{} run: {pass} passed, {fail} failed, {skip} skipped (not applicable)", report.results.len()),
        ),
        ("verdict", format!("<span class=\"{verdict_class}\">{}</span>", text(&summary(report)))),
    ] {
        let _ = writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>");
    }
    let _ = writeln!(out, "</table>");
    overview(&mut out, report);
    for result in &report.results {
        check_section(&mut out, result);
    }
    let _ = writeln!(out, "</body>\n</html>");
    out
}

fn overview(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "<table class=\"overview\">\n<tr><th>check</th><th>draft and section</th><th>result</th><th>required</th><th>what it verifies, or why it failed or was skipped</th></tr>"
    );
    for r in &report.results {
        let (class, word) = verdict(&r.outcome);
        let shown = match detail(&r.outcome) {
            d if d.is_empty() => r.check.title.to_owned(),
            d => d,
        };
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#{}\"><code>{}</code></a></td><td>{}</td><td class=\"{class}\">{word}</td><td>{}</td><td>{}</td></tr>",
            attr(&anchor(r)),
            text(r.check.id),
            text(&r.check.draft_section()),
            if r.check.required { "required" } else { "optional" },
            text(&shown)
        );
    }
    let _ = writeln!(out, "</table>");
}

fn check_section(out: &mut String, r: &CheckResult) {
    let (class, word) = verdict(&r.outcome);
    let _ = writeln!(
        out,
        "<section class=\"check {class}\" id=\"{}\">\n<h2><code>{}</code>: <span class=\"{class}\">{word}</span></h2>",
        attr(&anchor(r)),
        text(r.check.id)
    );
    let _ = writeln!(
        out,
        "<p>{} ({}, {})</p>",
        text(r.check.title),
        text(&r.check.draft_section()),
        if r.check.required { "required" } else { "optional" }
    );
    match &r.outcome {
        Outcome::Pass => {}
        Outcome::Fail { message, exchanges } => {
            let _ = writeln!(out, "<p class=\"reason\"><strong>Failure:</strong> {}</p>", text(message));
            if !exchanges.is_empty() {
                let _ = writeln!(out, "<h3>What the failure shows</h3>");
                for e in exchanges {
                    evidence(out, e);
                }
            }
        }
        Outcome::NotApplicable { reason } => {
            let _ = writeln!(out, "<p class=\"reason\"><strong>Skipped:</strong> {}</p>", text(reason));
        }
    }
    if r.traffic.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"note\">No request was sent or received between the previous result and this one: this check judges requests shown under an earlier check.</p>"
        );
    } else {
        let _ = writeln!(out, "<h3>Requests sent and received since the previous result ({})</h3>", r.traffic.len());
        for t in &r.traffic {
            traffic(out, t);
        }
    }
    let _ = writeln!(out, "</section>");
}

/// A failure's exchange, as the table and Markdown reports show it.
fn evidence(out: &mut String, e: &Exchange) {
    let _ = writeln!(
        out,
        "<div class=\"exchange\">\n<p>sent: <code>{}</code></p>\n<pre class=\"hex\">{}</pre>\n<pre>{}</pre>\n<p>received: HTTP {}</p>\n<pre class=\"hex\">{}</pre>\n<pre>{}</pre>\n</div>",
        text(&e.request),
        text(&e.request_hex),
        text(&e.request_decoded),
        e.status,
        text(&e.response_hex),
        text(&e.response_decoded)
    );
}

fn traffic(out: &mut String, t: &Traffic) {
    let (request, sent, answer, received) = if t.received {
        ("&larr; the suite's server received", "request", "&rarr; the suite answered", "answer")
    } else {
        ("&rarr; the suite sent", "sent", "&larr; answer", "received")
    };
    let _ = writeln!(out, "<div class=\"exchange\">\n<p>{request} <code>{}</code></p>", text(&t.request));
    body(out, sent, t.request_struct, &t.request_body, None);
    match &t.error {
        Some(error) if !t.received => {
            let _ = writeln!(out, "<p>&larr; no answer: {}</p>", text(error));
        }
        error => {
            let _ = writeln!(out, "<p>{answer}: HTTP {}</p>", t.status);
            if let Some(error) = error {
                let _ = writeln!(out, "<p class=\"note\">{}</p>", text(error));
            }
            body(out, received, t.response_struct, &t.response_body, Some(t.status));
        }
    }
    let _ = writeln!(out, "</div>");
}

/// How a body is shown besides its hex.
#[derive(Debug, Clone, PartialEq)]
enum Decoded {
    /// The JSON form of its structure (or a JSON document, e.g. the directory).
    Json(Json),
    /// Text (an error answer).
    Text(String),
    /// Hex only, and why.
    HexOnly(String),
}

/// `bytes` as the JSON form of `structure`; a `/notify` body of several `FanoutMessage`s becomes an
/// array of their forms.
pub fn decode_json(structure: &str, bytes: &[u8]) -> Result<Json, crate::Error> {
    let found = inspect::find(structure)?;
    if structure == FanoutMessage::NAME {
        let messages = FanoutMessage::decode_body(bytes, DEFAULT_MAX_BODY_LEN, DEFAULT_MAX_FANOUT_MESSAGES)?;
        if messages.len() > 1 {
            let forms: Result<Vec<Json>, crate::Error> = messages.iter().map(|m| found.decode(&m.encode()?)).collect();
            return forms.map(Json::Array);
        }
    }
    found.decode(bytes)
}

/// How `bytes` are shown: as `structure` (for an answer, only a 200 one), else as JSON or text when
/// they are, else hex only.
fn decoded(structure: Option<&str>, bytes: &[u8], status: Option<u16>) -> Decoded {
    let as_text = || {
        if let Ok(json) = serde_json::from_slice::<Json>(bytes) {
            return Some(Decoded::Json(json));
        }
        std::str::from_utf8(bytes)
            .ok()
            .filter(|t| !t.chars().any(|c| c.is_control() && !c.is_whitespace()))
            .map(|t| Decoded::Text(t.to_owned()))
    };
    match structure {
        Some(s) if status.is_none_or(|code| code == 200) => match decode_json(s, bytes) {
            Ok(json) => Decoded::Json(json),
            Err(e) => Decoded::HexOnly(format!("does not decode as {s} ({e}): shown as hex only")),
        },
        _ => as_text().unwrap_or_else(|| {
            Decoded::HexOnly(match (structure, status) {
                (Some(s), Some(code)) => format!("an HTTP {code} answer, not a {s}, and not text: shown as hex only"),
                _ => "no protocol structure is expected here and it is not text: shown as hex only".to_owned(),
            })
        }),
    }
}

fn body(out: &mut String, what: &str, structure: Option<&str>, bytes: &[u8], status: Option<u16>) {
    if bytes.is_empty() {
        let _ = writeln!(out, "<p>{what}: empty body</p>");
        return;
    }
    let named = match structure {
        Some(s) if status.is_none_or(|code| code == 200) => format!("{s}, "),
        _ => String::new(),
    };
    let _ = writeln!(out, "<p>{what}: {}{} bytes</p>", text(&named), bytes.len());
    match decoded(structure, bytes, status) {
        Decoded::Json(json) => {
            let pretty = serde_json::to_string_pretty(&json).unwrap_or_default();
            let _ = writeln!(out, "<pre class=\"json\">{}</pre>", text(&pretty));
        }
        Decoded::Text(body) => {
            let _ = writeln!(out, "<pre class=\"text\">{}</pre>", text(&body));
        }
        Decoded::HexOnly(why) => {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", text(&why));
        }
    }
    let shown = &bytes[..bytes.len().min(MAX_HTML_HEX_BYTES)];
    let more = match bytes.len() - shown.len() {
        0 => String::new(),
        n => format!(" (first {} bytes; {n} more not shown)", shown.len()),
    };
    let _ =
        writeln!(out, "<details><summary>hex{more}</summary><pre class=\"hex\">{}</pre></details>", hex::encode(shown));
}

#[cfg(test)]
mod tests {
    use super::*;
    use mimi_protocol::directory::Endpoint;

    #[test]
    fn escapes_reasons_and_falls_back_to_hex() {
        let mut report = Report::new("hub <x.example>");
        let (request_struct, response_struct) = crate::suite::net::body_structures(Endpoint::Update);
        report.log.push(Traffic {
            request: "POST https://x.example/v1/update/r".into(),
            received: false,
            request_struct,
            request_body: vec![0xff, 0x00],
            status: 500,
            response_struct,
            response_body: b"oops <b>".to_vec(),
            error: None,
        });
        report.record("hub.update.accepts-commit", Outcome::fail("expected <success>, got \"notAllowed\" & more"));
        report.record("hub.directory", Outcome::NotApplicable { reason: "a <reason>".into() });
        let html = render(&report, SystemTime::UNIX_EPOCH);
        assert!(html.contains("expected &lt;success&gt;, got \"notAllowed\" &amp; more"), "{html}");
        assert!(html.contains("a &lt;reason&gt;") && html.contains("hub &lt;x.example&gt;"));
        assert!(!html.contains("<success>") && !html.contains("<reason>") && !html.contains("<b>"));
        assert!(html.contains("does not decode as UpdateRequest"), "{html}");
        assert!(html.contains("ff00") && html.contains("oops &lt;b&gt;"));
        assert!(html.contains("1970-01-01T00:00:00Z") && html.contains(env!("CARGO_PKG_VERSION")));
        assert!(html.contains("draft-ietf-mimi-protocol-06 §5.3"));
        assert!(!html.contains("<script"));
    }
}
