//! MIMI identifiers as this project uses them (docs/DESIGN.md §3, identity convention).
//!
//! A client (MLS member) is named by the identity of its Basic credential, the UTF-8 client URI
//! `mimi://<domain>/d/<user>/<device>`; the user (participant) it belongs to is
//! `mimi://<domain>/u/<user>`. The participant list stores user URIs; the hub and the clients map
//! every leaf credential to a [`ClientUri`] and from there to its [`UserUri`] before applying room
//! policy. Parsing is strict and allocation-bounded: both sides must agree on what is valid.

use std::fmt;

use crate::error::Error;

/// Longest URI accepted, in bytes.
pub const MAX_URI_LEN: usize = 1024;

const SCHEME: &str = "mimi://";

/// A MIMI user URI, `mimi://<domain>/u/<user>`: one participant of a room.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserUri {
    /// The full URI text.
    uri: String,
    /// Byte length of `<domain>` (it starts right after the scheme).
    domain_len: usize,
}

/// A MIMI client URI, `mimi://<domain>/d/<user>/<device>`: one MLS member (a device of a user).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientUri {
    /// The full URI text.
    uri: String,
    /// Byte length of `<domain>`.
    domain_len: usize,
    /// Byte length of `<user>` (it starts after `<domain>/d/`).
    user_len: usize,
}

/// Checks one path segment (or the domain): non-empty, no `/`, no whitespace or control characters.
fn check_segment(kind: &'static str, uri: &str, seg: &str) -> Result<(), Error> {
    if seg.is_empty() {
        return Err(invalid(kind, uri, "empty segment"));
    }
    if seg.chars().any(|c| c == '/' || c.is_whitespace() || c.is_control()) {
        return Err(invalid(kind, uri, "segment contains '/', whitespace or a control character"));
    }
    Ok(())
}

fn invalid(kind: &'static str, uri: &str, reason: &'static str) -> Error {
    Error::InvalidUri { kind, uri: uri.chars().take(MAX_URI_LEN).collect(), reason }
}

/// Splits `mimi://<domain>/<kind_letter>/<rest>` into (domain, rest).
fn split<'a>(kind: &'static str, uri: &'a str, letter: &str) -> Result<(&'a str, &'a str), Error> {
    if uri.len() > MAX_URI_LEN {
        return Err(invalid(kind, uri, "too long"));
    }
    let tail = uri.strip_prefix(SCHEME).ok_or_else(|| invalid(kind, uri, "scheme is not mimi://"))?;
    let (domain, path) = tail.split_once('/').ok_or_else(|| invalid(kind, uri, "no path"))?;
    check_segment(kind, uri, domain)?;
    let rest = path
        .strip_prefix(letter)
        .and_then(|p| p.strip_prefix('/'))
        .ok_or_else(|| invalid(kind, uri, "wrong path kind"))?;
    Ok((domain, rest))
}

impl UserUri {
    /// Parses `mimi://<domain>/u/<user>`.
    pub fn parse(uri: &str) -> Result<Self, Error> {
        let (domain, user) = split("user", uri, "u")?;
        check_segment("user", uri, user)?;
        Ok(Self { uri: uri.to_owned(), domain_len: domain.len() })
    }

    /// Parses UTF-8 bytes (as stored in the participant list).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(bytes).map_err(|_| Error::InvalidUri {
            kind: "user",
            uri: String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_URI_LEN)]).into_owned(),
            reason: "not UTF-8",
        })?;
        Self::parse(text)
    }

    /// Builds the URI of `user` at `domain`.
    pub fn new(domain: &str, user: &str) -> Result<Self, Error> {
        Self::parse(&format!("{SCHEME}{domain}/u/{user}"))
    }

    /// The provider domain of this user.
    pub fn domain(&self) -> &str {
        &self.uri[SCHEME.len()..SCHEME.len() + self.domain_len]
    }

    /// The user name (the segment after `/u/`).
    pub fn name(&self) -> &str {
        &self.uri[SCHEME.len() + self.domain_len + 3..]
    }

    /// The URI text.
    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// The URI as bytes, as stored in `UserRolePair.user`.
    pub fn as_bytes(&self) -> &[u8] {
        self.uri.as_bytes()
    }

    /// The URI of this user's device `device`.
    pub fn client(&self, device: &str) -> Result<ClientUri, Error> {
        ClientUri::new(self.domain(), self.name(), device)
    }
}

impl ClientUri {
    /// Parses `mimi://<domain>/d/<user>/<device>`.
    pub fn parse(uri: &str) -> Result<Self, Error> {
        let (domain, rest) = split("client", uri, "d")?;
        let (user, device) = rest.split_once('/').ok_or_else(|| invalid("client", uri, "no device segment"))?;
        check_segment("client", uri, user)?;
        check_segment("client", uri, device)?;
        Ok(Self { uri: uri.to_owned(), domain_len: domain.len(), user_len: user.len() })
    }

    /// Parses UTF-8 bytes (a Basic credential identity).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(bytes).map_err(|_| Error::InvalidUri {
            kind: "client",
            uri: String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_URI_LEN)]).into_owned(),
            reason: "not UTF-8",
        })?;
        Self::parse(text)
    }

    /// Builds the URI of `device` of `user` at `domain`.
    pub fn new(domain: &str, user: &str, device: &str) -> Result<Self, Error> {
        Self::parse(&format!("{SCHEME}{domain}/d/{user}/{device}"))
    }

    /// The provider domain of this client.
    pub fn domain(&self) -> &str {
        &self.uri[SCHEME.len()..SCHEME.len() + self.domain_len]
    }

    /// The user name segment.
    fn user_name(&self) -> &str {
        let start = SCHEME.len() + self.domain_len + 3;
        &self.uri[start..start + self.user_len]
    }

    /// The device segment.
    pub fn device(&self) -> &str {
        &self.uri[SCHEME.len() + self.domain_len + 3 + self.user_len + 1..]
    }

    /// The user this client belongs to, `mimi://<domain>/u/<user>`.
    pub fn user(&self) -> UserUri {
        let uri = format!("{SCHEME}{}/u/{}", self.domain(), self.user_name());
        UserUri { uri, domain_len: self.domain_len }
    }

    /// The URI text.
    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// The URI as bytes, as used for the Basic credential identity.
    pub fn as_bytes(&self) -> &[u8] {
        self.uri.as_bytes()
    }
}

impl fmt::Display for UserUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

impl fmt::Display for ClientUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_maps_to_user() {
        let c = ClientUri::parse("mimi://a.example/d/alice/phone").unwrap();
        assert_eq!(c.domain(), "a.example");
        assert_eq!(c.device(), "phone");
        assert_eq!(c.user().as_str(), "mimi://a.example/u/alice");
        assert_eq!(c.user(), UserUri::parse("mimi://a.example/u/alice").unwrap());
        assert_eq!(c.user().name(), "alice");
        assert_eq!(c.user().client("phone").unwrap(), c);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "https://a.example/u/alice",
            "mimi://a.example/d/alice",
            "mimi://a.example/d/alice/",
            "mimi://a.example/d//phone",
            "mimi:///d/alice/phone",
            "mimi://a.example/d/alice/phone/x",
            "mimi://a.example/u/alice",
            "mimi://a.example/d/al ice/phone",
        ] {
            assert!(ClientUri::parse(bad).is_err(), "{bad:?} accepted as client");
        }
        for bad in [
            "mimi://a.example/u/",
            "mimi://a.example/u/alice/x",
            "mimi://a.example/d/alice/phone",
            "mimi://a.example/r/room",
        ] {
            assert!(UserUri::parse(bad).is_err(), "{bad:?} accepted as user");
        }
        assert!(UserUri::from_bytes(&[0xff, 0xfe]).is_err());
        let long = format!("mimi://a.example/u/{}", "x".repeat(MAX_URI_LEN));
        assert!(UserUri::parse(&long).is_err());
    }
}
