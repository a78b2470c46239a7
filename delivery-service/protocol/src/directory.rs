//! The endpoint directory, `GET /.well-known/mimi-protocol-directory` (protocol-06 §5.1).
//!
//! A JSON document mapping each endpoint to an HTTPS URL template, like ACME's directory. Peers are always
//! called through it, never by a guessed path. Our templates are the draft's example with its typos fixed:
//! `/v1/update/{roomId}` has the slash the example lacks, and every template carries exactly one variable.
//! A variable (a room, user or download URI, or a domain) is substituted **percent-encoded as one path
//! segment**: every byte except the RFC 3986 unreserved characters is escaped, including `/` and `:`, so
//! `mimi://a.example/r/clubhouse` becomes `mimi%3A%2F%2Fa.example%2Fr%2Fclubhouse`. The figures' habit of
//! stripping `mimi://` into several segments is not normative and is not used.
//!
//! Ambiguity in the draft: the consent endpoints are keyed `{targetUser}`/`{requesterUser}` in
//! the directory example but `{targetDomain}`/`{requesterDomain}` in §5.7; we follow the directory example.
//! Besides the draft's keys, our document carries `"mimiDrafts"`, the pinned draft versions ([`crate::PINNED_DRAFTS`]);
//! unknown keys from peers are ignored.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

use super::WireError;

/// Largest directory document we parse from a peer.
pub const MAX_DIRECTORY_LEN: usize = 64 * 1024;

/// Path of the directory document on every provider.
pub const DIRECTORY_PATH: &str = "/.well-known/mimi-protocol-directory";

/// Bytes left unescaped in a path segment: RFC 3986 `unreserved` (ALPHA / DIGIT / `-` / `.` / `_` / `~`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The endpoints of protocol-06 §5, one per directory key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST …/keyMaterial/{targetUser}` (§5.2).
    KeyMaterial,
    /// `POST …/update/{roomId}` (§5.3).
    Update,
    /// `POST …/notify/{roomId}` (§5.5).
    Notify,
    /// `POST …/submitMessage/{roomId}` (§5.4).
    SubmitMessage,
    /// `POST …/groupInfo/{roomId}` (§5.6).
    GroupInfo,
    /// `POST …/requestConsent/{targetUser}` (§5.7).
    RequestConsent,
    /// `POST …/updateConsent/{requesterUser}` (§5.7).
    UpdateConsent,
    /// `POST …/identifierQuery/{domain}` (§5.8).
    IdentifierQuery,
    /// `POST …/reportAbuse/{roomId}` (§5.9).
    ReportAbuse,
    /// `GET …/proxyDownload/{downloadUrl}` (§5.10).
    ProxyDownload,
}

impl Endpoint {
    /// Every endpoint, in directory order.
    pub const ALL: [Endpoint; 10] = [
        Endpoint::KeyMaterial,
        Endpoint::Update,
        Endpoint::Notify,
        Endpoint::SubmitMessage,
        Endpoint::GroupInfo,
        Endpoint::RequestConsent,
        Endpoint::UpdateConsent,
        Endpoint::IdentifierQuery,
        Endpoint::ReportAbuse,
        Endpoint::ProxyDownload,
    ];

    /// The directory key (also the path's endpoint segment).
    pub fn key(self) -> &'static str {
        match self {
            Endpoint::KeyMaterial => "keyMaterial",
            Endpoint::Update => "update",
            Endpoint::Notify => "notify",
            Endpoint::SubmitMessage => "submitMessage",
            Endpoint::GroupInfo => "groupInfo",
            Endpoint::RequestConsent => "requestConsent",
            Endpoint::UpdateConsent => "updateConsent",
            Endpoint::IdentifierQuery => "identifierQuery",
            Endpoint::ReportAbuse => "reportAbuse",
            Endpoint::ProxyDownload => "proxyDownload",
        }
    }

    /// The template variable, braces included.
    pub fn variable(self) -> &'static str {
        match self {
            Endpoint::KeyMaterial | Endpoint::RequestConsent => "{targetUser}",
            Endpoint::UpdateConsent => "{requesterUser}",
            Endpoint::IdentifierQuery => "{domain}",
            Endpoint::ProxyDownload => "{downloadUrl}",
            Endpoint::Update
            | Endpoint::Notify
            | Endpoint::SubmitMessage
            | Endpoint::GroupInfo
            | Endpoint::ReportAbuse => "{roomId}",
        }
    }

    /// Our path template, e.g. `/v1/update/{roomId}`.
    pub fn path_template(self) -> String {
        format!("/v1/{}/{}", self.key(), self.variable())
    }
}

/// The directory document (protocol-06 §5.1): one URL template per endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    /// Template for [`Endpoint::KeyMaterial`].
    pub key_material: String,
    /// Template for [`Endpoint::Update`].
    pub update: String,
    /// Template for [`Endpoint::Notify`].
    pub notify: String,
    /// Template for [`Endpoint::SubmitMessage`].
    pub submit_message: String,
    /// Template for [`Endpoint::GroupInfo`].
    pub group_info: String,
    /// Template for [`Endpoint::RequestConsent`].
    pub request_consent: String,
    /// Template for [`Endpoint::UpdateConsent`].
    pub update_consent: String,
    /// Template for [`Endpoint::IdentifierQuery`].
    pub identifier_query: String,
    /// Template for [`Endpoint::ReportAbuse`].
    pub report_abuse: String,
    /// Template for [`Endpoint::ProxyDownload`].
    pub proxy_download: String,
    /// Pinned draft versions (ours: [`crate::PINNED_DRAFTS`]); absent in other implementations' documents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mimi_drafts: Vec<String>,
}

impl Directory {
    /// Our directory for a provider reachable at `base_url` (`https://host[:port]`, no trailing slash).
    pub fn ours(base_url: &str) -> Self {
        let base = base_url.trim_end_matches('/');
        let t = |e: Endpoint| format!("{base}{}", e.path_template());
        Directory {
            key_material: t(Endpoint::KeyMaterial),
            update: t(Endpoint::Update),
            notify: t(Endpoint::Notify),
            submit_message: t(Endpoint::SubmitMessage),
            group_info: t(Endpoint::GroupInfo),
            request_consent: t(Endpoint::RequestConsent),
            update_consent: t(Endpoint::UpdateConsent),
            identifier_query: t(Endpoint::IdentifierQuery),
            report_abuse: t(Endpoint::ReportAbuse),
            proxy_download: t(Endpoint::ProxyDownload),
            mimi_drafts: crate::PINNED_DRAFTS.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    /// The template for `endpoint`.
    pub fn template(&self, endpoint: Endpoint) -> &str {
        match endpoint {
            Endpoint::KeyMaterial => &self.key_material,
            Endpoint::Update => &self.update,
            Endpoint::Notify => &self.notify,
            Endpoint::SubmitMessage => &self.submit_message,
            Endpoint::GroupInfo => &self.group_info,
            Endpoint::RequestConsent => &self.request_consent,
            Endpoint::UpdateConsent => &self.update_consent,
            Endpoint::IdentifierQuery => &self.identifier_query,
            Endpoint::ReportAbuse => &self.report_abuse,
            Endpoint::ProxyDownload => &self.proxy_download,
        }
    }

    /// Parses a peer's document: at most [`MAX_DIRECTORY_LEN`] bytes, every template `https://`, with its
    /// endpoint's variable exactly once.
    pub fn from_json(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_DIRECTORY_LEN {
            return Err(WireError::TooLarge { what: "directory", len: bytes.len(), limit: MAX_DIRECTORY_LEN });
        }
        let directory: Directory =
            serde_json::from_slice(bytes).map_err(|e| WireError::Directory(format!("invalid JSON: {e}")))?;
        for endpoint in Endpoint::ALL {
            let template = directory.template(endpoint);
            if !template.starts_with("https://") {
                return Err(WireError::Directory(format!("{}: template is not an https URL", endpoint.key())));
            }
            if template.matches(endpoint.variable()).count() != 1 {
                return Err(WireError::Directory(format!(
                    "{}: template must contain {} exactly once",
                    endpoint.key(),
                    endpoint.variable()
                )));
            }
        }
        Ok(directory)
    }

    /// Serializes the document as served.
    pub fn to_json(&self) -> String {
        // A struct of strings always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The URL for calling `endpoint` about `value` (a room or user URI, a domain, a download URL),
    /// substituted as one percent-encoded path segment.
    pub fn url(&self, endpoint: Endpoint, value: &str) -> String {
        self.template(endpoint).replacen(endpoint.variable(), &encode_path_segment(value), 1)
    }
}

/// Percent-encodes `value` as one path segment (everything but RFC 3986 unreserved characters escaped).
pub fn encode_path_segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// Decodes one received path segment back to the URI it carries. The server side of [`Directory::url`];
/// rejects invalid UTF-8 and a segment that still contains a raw `/`.
pub fn decode_path_segment(segment: &str) -> Result<String, WireError> {
    if segment.contains('/') {
        return Err(WireError::Directory("path variable spans more than one segment".to_owned()));
    }
    percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| WireError::Directory("path variable is not UTF-8 after percent-decoding".to_owned()))
}
