//! Receiver-side helpers: which parts of a message to show, and a plain-text summary for
//! notifications (draft §4.6 and §7).
//!
//! Selection follows the draft's suggested processing: from the root, resolve every
//! `chooseOne` to the first alternative the client can show (preferring its languages), drop a
//! `singleUnit` whose parts are not all understood, keep what can be shown of a `processAll`;
//! then list the remaining parts in order, skipping any part that an earlier one references
//! with a `cid:<partIndex>@local.invalid` URI (it is shown inside that part).

use crate::builder::{TEXT_HTML, TEXT_MARKDOWN};
use crate::message::MimiContent;
use crate::part::{Disposition, NestedPart, PartBody, PartSemantics};

/// What a client can present.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    media_types: Vec<String>,
    languages: Vec<String>,
}

impl Capabilities {
    /// A client that renders the given media types (`type/subtype`, `type/*`, or with
    /// parameters that must then match, e.g. `text/markdown;variant=GFM-MIMI`).
    pub fn new<S: AsRef<str>>(media_types: impl IntoIterator<Item = S>) -> Self {
        Capabilities {
            media_types: media_types.into_iter().map(|s| s.as_ref().to_ascii_lowercase()).collect(),
            languages: Vec::new(),
        }
    }

    /// The types every MIMI client must receive (§7): plain text, GFM-MIMI Markdown and
    /// nested MIMI content.
    pub fn required() -> Self {
        Capabilities::new(["text/plain", TEXT_MARKDOWN, crate::MEDIA_TYPE])
    }

    /// Adds preferred languages (RFC 5646 tags, most preferred first).
    pub fn with_languages<S: AsRef<str>>(mut self, languages: impl IntoIterator<Item = S>) -> Self {
        self.languages = languages.into_iter().map(|s| s.as_ref().to_ascii_lowercase()).collect();
        self
    }

    /// Whether a part of this media type can be shown.
    pub fn can_render(&self, content_type: &str) -> bool {
        let (essence, params) = split_media_type(content_type);
        self.media_types.iter().any(|supported| {
            let (s_essence, s_params) = split_media_type(supported);
            let essence_ok = match s_essence.strip_suffix("/*") {
                Some(top) => essence.split('/').next() == Some(top),
                None => s_essence == essence,
            };
            essence_ok && s_params.iter().all(|p| params.contains(p))
        })
    }

    fn language_rank(&self, language: &str) -> usize {
        let tags: Vec<String> = language.split(',').map(|t| t.trim().to_ascii_lowercase()).collect();
        self.languages
            .iter()
            .position(|want| tags.iter().any(|t| t == want || t.starts_with(&format!("{want}-"))))
            .unwrap_or(self.languages.len())
    }
}

/// `type/subtype` in lower case and the parameters as `name=value` strings.
fn split_media_type(ct: &str) -> (String, Vec<String>) {
    let mut it = ct.split(';');
    let essence = it.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = it.map(|p| p.trim().to_ascii_lowercase().replace(' ', "")).filter(|p| !p.is_empty()).collect();
    (essence, params)
}

/// A part chosen for display, with its implied partIndex.
#[derive(Debug, Clone, Copy)]
pub struct Selected<'a> {
    /// Depth-first pre-order index (what `cid:` URIs name).
    pub part_index: usize,
    /// The part.
    pub part: &'a NestedPart,
}

/// The parts to show, in order (see the module docs). Empty if nothing can be shown.
pub fn select<'a>(root: &'a NestedPart, caps: &Capabilities) -> Vec<Selected<'a>> {
    let indexed = root.preorder();
    let index_of = |p: &NestedPart| indexed.iter().find(|ip| std::ptr::eq(ip.part, p)).map(|ip| ip.index).unwrap_or(0);
    let mut chosen = Vec::new();
    collect(root, caps, &mut chosen);
    let mut out: Vec<Selected<'a>> = Vec::new();
    let mut referenced: Vec<usize> = Vec::new();
    for part in chosen {
        let part_index = index_of(part);
        if referenced.contains(&part_index) {
            continue;
        }
        if let PartBody::Single(s) = &part.body {
            referenced.extend(cid_references(&s.content));
        }
        out.push(Selected { part_index, part });
    }
    out
}

/// Whether the part (tree) can be shown at all.
fn presentable(p: &NestedPart, caps: &Capabilities) -> bool {
    match &p.body {
        PartBody::Null => true,
        PartBody::Single(s) => caps.can_render(&s.content_type),
        // An external part can always be offered as a download or a link.
        PartBody::External(_) => true,
        PartBody::Multi(m) => match m.part_semantics {
            PartSemantics::ChooseOne | PartSemantics::ProcessAll => m.parts.iter().any(|c| presentable(c, caps)),
            PartSemantics::SingleUnit => m.parts.iter().all(|c| presentable(c, caps)),
        },
    }
}

fn collect<'a>(p: &'a NestedPart, caps: &Capabilities, out: &mut Vec<&'a NestedPart>) {
    match &p.body {
        PartBody::Multi(m) => match m.part_semantics {
            PartSemantics::ChooseOne => {
                let best = m
                    .parts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| presentable(c, caps))
                    .min_by_key(|(i, c)| (caps.language_rank(&c.language), *i));
                if let Some((_, c)) = best {
                    collect(c, caps, out);
                }
            }
            PartSemantics::SingleUnit => {
                if m.parts.iter().all(|c| presentable(c, caps)) {
                    m.parts.iter().for_each(|c| collect(c, caps, out));
                }
            }
            PartSemantics::ProcessAll => {
                m.parts.iter().filter(|c| presentable(c, caps)).for_each(|c| collect(c, caps, out));
            }
        },
        _ if presentable(p, caps) => out.push(p),
        _ => {}
    }
}

/// partIndexes named by `cid:<n>@local.invalid` in a container part's text.
fn cid_references(content: &[u8]) -> Vec<usize> {
    let text = String::from_utf8_lossy(content);
    text.match_indices("cid:")
        .filter_map(|(at, _)| {
            let rest = &text[at + 4..];
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            rest[digits.len()..].starts_with("@local.invalid").then(|| digits.parse().ok()).flatten()
        })
        .collect()
}

/// A one-line plain-text summary of what the message shows, at most `max_chars` characters,
/// for notifications and chat lists.
pub fn summary(msg: &MimiContent, caps: &Capabilities, max_chars: usize) -> String {
    let root = &msg.nested_part;
    let text = if matches!(root.body, PartBody::Null) {
        if root.disposition == Disposition::Reaction {
            "(reaction removed)".to_owned()
        } else {
            "(message deleted)".to_owned()
        }
    } else {
        let pieces: Vec<String> =
            select(root, caps).iter().map(|s| part_text(s.part)).filter(|t| !t.is_empty()).collect();
        let body = if pieces.is_empty() { "(unsupported content)".to_owned() } else { pieces.join(" ") };
        match root.disposition {
            Disposition::Reaction => format!("reacted {body}"),
            _ if msg.replaces.is_some() => format!("(edited) {body}"),
            _ => body,
        }
    };
    truncate(&collapse_whitespace(&text), max_chars)
}

fn part_text(p: &NestedPart) -> String {
    match &p.body {
        PartBody::Null => String::new(),
        PartBody::External(x) => {
            let name =
                [&x.filename, &x.description, &x.url].into_iter().find(|s| !s.is_empty()).cloned().unwrap_or_default();
            match p.disposition.effective() {
                Disposition::Session => format!("[join: {name}]"),
                _ => format!("[attachment: {name}]"),
            }
        }
        PartBody::Single(s) => {
            let (essence, _) = split_media_type(&s.content_type);
            let text = String::from_utf8_lossy(&s.content);
            if essence == "text/markdown" {
                strip_markdown(&text)
            } else if essence == split_media_type(TEXT_HTML).0 {
                strip_html(&text)
            } else if essence.starts_with("text/") {
                text.into_owned()
            } else if essence.starts_with("image/") {
                "[image]".to_owned()
            } else {
                format!("[{essence}]")
            }
        }
        PartBody::Multi(_) => String::new(),
    }
}

/// Removes Markdown emphasis and heading marks and turns `[text](url)` into `text`.
fn strip_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find("](").and_then(|close| after[close..].find(')').map(|end| (close, close + end))) {
            Some((close, end)) => {
                out.push_str(&after[..close]);
                rest = &after[end + 1..];
            }
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.lines()
        .map(|l| l.trim_start_matches('#').trim_start())
        .collect::<Vec<_>>()
        .join(" ")
        .replace(['*', '_', '~', '`'], "")
        .replace("&lt;", "<")
}

/// Drops HTML tags and decodes the common entities.
fn strip_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> MimiContent {
        let path = format!("{}/tests/vectors/{name}.hex", env!("CARGO_MANIFEST_DIR"));
        MimiContent::decode(&hex::decode(std::fs::read_to_string(path).unwrap().trim()).unwrap()).unwrap()
    }

    #[test]
    fn media_type_matching() {
        let caps = Capabilities::new(["text/plain", "image/*", "text/markdown;variant=GFM-MIMI"]);
        assert!(caps.can_render("text/plain;charset=utf-8"));
        assert!(caps.can_render("Image/PNG"));
        assert!(caps.can_render("text/markdown; variant=GFM-MIMI"));
        assert!(!caps.can_render("text/markdown;variant=CommonMark"));
        assert!(!caps.can_render("text/html"));
    }

    #[test]
    fn choose_one_takes_the_first_renderable_alternative() {
        let m = vector("multipart-1");
        let basic = select(&m.nested_part, &Capabilities::required());
        assert_eq!(basic.iter().map(|s| s.part_index).collect::<Vec<_>>(), [1]);
        let fancy = select(&m.nested_part, &Capabilities::new(["application/vnd.examplevendor-fancy-im-message"]));
        assert_eq!(fancy.iter().map(|s| s.part_index).collect::<Vec<_>>(), [2]);
        assert!(select(&m.nested_part, &Capabilities::new(["image/png"])).is_empty());
    }

    #[test]
    fn nested_example_honours_language_and_cid_references() {
        let m = vector("multipart-3");
        // A client for HTML and GIF, preferring French: the GIF branch, French HTML; the GIF
        // itself (part 5) is referenced from the HTML and not listed again.
        let caps = Capabilities::new(["text/html", "image/gif"]).with_languages(["fr"]);
        let sel = select(&m.nested_part, &caps);
        assert_eq!(sel.iter().map(|s| s.part_index).collect::<Vec<_>>(), [4]);
        // PNG only: the first branch's processAll still offers the HTML (GIF unsupported).
        let caps = Capabilities::new(["text/html", "image/png"]);
        assert_eq!(select(&m.nested_part, &caps).iter().map(|s| s.part_index).collect::<Vec<_>>(), [3]);
        // No HTML at all: nothing in either branch but the images.
        let caps = Capabilities::new(["image/png"]);
        assert_eq!(select(&m.nested_part, &caps).iter().map(|s| s.part_index).collect::<Vec<_>>(), [10]);
    }

    #[test]
    fn process_all_keeps_every_reaction() {
        let m = vector("multipart-2");
        assert_eq!(select(&m.nested_part, &Capabilities::required()).len(), 3);
        assert_eq!(summary(&m, &Capabilities::required(), 80), "reacted ❤ 🥳 🤞");
    }

    #[test]
    fn summaries_read_like_a_notification() {
        let caps = Capabilities::required();
        assert_eq!(summary(&vector("original"), &caps, 100), "Hi everyone, we just shipped release 2.0. Good work!");
        assert_eq!(summary(&vector("mention"), &caps, 100), "Kudos to @Alice Smith for making the release happen!");
        assert_eq!(
            summary(&vector("mention-html"), &Capabilities::new(["text/html"]), 100),
            "Kudos to @Alice Smith for making the release happen!"
        );
        assert_eq!(summary(&vector("reaction"), &caps, 100), "reacted ❤");
        assert_eq!(summary(&vector("delete"), &caps, 100), "(message deleted)");
        assert_eq!(summary(&vector("unlike"), &caps, 100), "(reaction removed)");
        assert_eq!(summary(&vector("edit"), &caps, 100), "(edited) Right on! Congratulations y'all!");
        assert_eq!(summary(&vector("attachment"), &caps, 100), "[attachment: bigfile.mp4]");
        assert_eq!(summary(&vector("conferencing"), &caps, 100), "[join: Join the Foo 118 conference]");
        assert_eq!(summary(&vector("original"), &caps, 12), "Hi everyone…");
    }
}
