//! The target file of `mimi-interop hub --config target.toml`: the hub under test and the suite's
//! own identity in a file, instead of a dozen flags on every run.
//!
//! Every key is optional in the file and is the flag of the same name (`our_domain` is
//! `--our-domain`); a flag given on the command line wins over the file's key ([`TargetFile::over`]).
//! `--bootstrap` and `--room` choose how the room is made: when either flag is given, the file's
//! `bootstrap`, `room` and `hub_user` are ignored. Relative paths are taken relative to the working
//! directory, as `mimi-ds` takes them.
//!
//! ```toml
//! # the hub under test
//! url = "https://127.0.0.1:8443"        # --url: where it listens
//! domain = "your-hub.example"           # --domain: its certificate must name it
//! ca = "pki/ca.pem"                     # --ca: the CA its certificate chains to
//! # the suite: the follower provider it plays
//! our_domain = "interop.example"        # --our-domain
//! cert = "pki/interop.example.pem"      # --cert: naming our_domain, from a CA the hub trusts
//! key = "pki/interop.example.key"       # --key
//! listen = "0.0.0.0:9443"               # --listen: where the hub reaches us (default 127.0.0.1:9443)
//! # the room: bootstrap = true (a mimi-ds hub) or an existing room and one of its hub's users
//! room = "mimi://your-hub.example/r/interop"   # --room
//! hub_user = "mimi://your-hub.example/u/alice" # --hub-user
//! exhausted_user = "mimi://your-hub.example/u/ex"     # --exhausted-user
//! last_resort_user = "mimi://your-hub.example/u/lr"   # --last-resort-user
//! no_consent_user = "mimi://other.example/u/nc"       # --no-consent-user
//! ```
//!
//! [`HubTarget::peer_entry`] is what the hub under test must add to its configuration to reach
//! the suite (`mimi-interop hub` prints it on start).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the suite's server listens unless told otherwise.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9443);
/// Largest target file read.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Why the target file or the flags do not make a run.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than 64 KiB.
    #[error("{} is {len} bytes, more than a target file may be", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// The file is not TOML of the expected keys (the parser names the key and line).
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A key needed for the run is given neither as a flag nor in the file.
    #[error("`{key}` is needed: give --{flag} or set `{key}` in --config")]
    Missing {
        /// The key.
        key: &'static str,
        /// The flag.
        flag: &'static str,
    },
    /// Two keys that exclude each other are both set.
    #[error("{0}")]
    Conflict(String),
}

/// The keys of a target file; also what the command-line flags give, so that the two merge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// Base URL of the implementation under test (`https://host:port`).
    pub url: Option<String>,
    /// Its domain.
    pub domain: Option<String>,
    /// The CA its certificate chains to.
    pub ca: Option<PathBuf>,
    /// The suite's certificate.
    pub cert: Option<PathBuf>,
    /// Its private key.
    pub key: Option<PathBuf>,
    /// The domain the suite plays.
    pub our_domain: Option<String>,
    /// Where the suite's server listens.
    pub listen: Option<SocketAddr>,
    /// The hub is a `mimi-ds`: make the room through its client API.
    pub bootstrap: Option<bool>,
    /// A room of the hub the suite's users are invited into.
    pub room: Option<String>,
    /// A hub-local user with KeyPackages.
    pub hub_user: Option<String>,
    /// A hub-local user whose KeyPackages can be used up.
    pub exhausted_user: Option<String>,
    /// A hub-local user with a last-resort KeyPackage.
    pub last_resort_user: Option<String>,
    /// A user of another provider refusing the suite's users for lack of consent.
    pub no_consent_user: Option<String>,
}

/// The implementation under test and the suite's identity, every key present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTarget {
    /// Base URL of the implementation under test.
    pub url: String,
    /// Its domain.
    pub domain: String,
    /// The CA its certificate chains to.
    pub ca: PathBuf,
    /// The suite's certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The domain the suite plays.
    pub our_domain: String,
    /// Where the suite's server listens.
    pub listen: SocketAddr,
}

/// How the room of a hub run is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomSource {
    /// Through a `mimi-ds` hub's client API.
    Bootstrap,
    /// An existing room, with a hub-local user with KeyPackages if given.
    Room {
        /// The room.
        room: String,
        /// The hub-local user.
        hub_user: Option<String>,
    },
    /// None: the room checks are not applicable.
    None,
}

/// Everything a hub run needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubTarget {
    /// The hub and the suite's identity.
    pub peer: PeerTarget,
    /// How the room is made.
    pub room: RoomSource,
    /// A hub-local user whose KeyPackages can be used up.
    pub exhausted_user: Option<String>,
    /// A hub-local user with a last-resort KeyPackage.
    pub last_resort_user: Option<String>,
    /// A user of another provider refusing the suite's users for lack of consent.
    pub no_consent_user: Option<String>,
}

impl TargetFile {
    /// Reads a target file.
    pub fn load(path: &Path) -> Result<TargetFile, TargetError> {
        let read_err = |source| TargetError::Read { path: path.to_owned(), source };
        let len = std::fs::metadata(path).map_err(read_err)?.len();
        if len > MAX_FILE_BYTES {
            return Err(TargetError::TooLarge { path: path.to_owned(), len });
        }
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        TargetFile::parse(&text, path)
    }

    /// Parses a target file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<TargetFile, TargetError> {
        toml::from_str(text).map_err(|e| TargetError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().replace('\n', " | "),
        })
    }

    /// These keys (the flags) over `file`'s: each key set here wins. The room keys (`bootstrap`,
    /// `room`, `hub_user`) go together: if `bootstrap` or `room` is set here, all three are taken
    /// from here.
    pub fn over(self, file: TargetFile) -> TargetFile {
        let room_here = self.bootstrap.is_some() || self.room.is_some();
        let (bootstrap, room, hub_user) = if room_here {
            (self.bootstrap, self.room, self.hub_user)
        } else {
            (file.bootstrap, file.room, self.hub_user.or(file.hub_user))
        };
        TargetFile {
            url: self.url.or(file.url),
            domain: self.domain.or(file.domain),
            ca: self.ca.or(file.ca),
            cert: self.cert.or(file.cert),
            key: self.key.or(file.key),
            our_domain: self.our_domain.or(file.our_domain),
            listen: self.listen.or(file.listen),
            bootstrap,
            room,
            hub_user,
            exhausted_user: self.exhausted_user.or(file.exhausted_user),
            last_resort_user: self.last_resort_user.or(file.last_resort_user),
            no_consent_user: self.no_consent_user.or(file.no_consent_user),
        }
    }

    /// The implementation under test and the suite's identity; every key but `listen` is needed.
    pub fn peer(&self) -> Result<PeerTarget, TargetError> {
        fn needed<T: Clone>(value: &Option<T>, key: &'static str, flag: &'static str) -> Result<T, TargetError> {
            value.clone().ok_or(TargetError::Missing { key, flag })
        }
        Ok(PeerTarget {
            url: needed(&self.url, "url", "url")?,
            domain: needed(&self.domain, "domain", "domain")?,
            ca: needed(&self.ca, "ca", "ca")?,
            cert: needed(&self.cert, "cert", "cert")?,
            key: needed(&self.key, "key", "key")?,
            our_domain: needed(&self.our_domain, "our_domain", "our-domain")?,
            listen: self.listen.unwrap_or(DEFAULT_LISTEN),
        })
    }

    /// Everything a hub run needs.
    pub fn hub(&self) -> Result<HubTarget, TargetError> {
        let room = match (self.bootstrap.unwrap_or(false), &self.room) {
            (true, Some(room)) => {
                return Err(TargetError::Conflict(format!("`bootstrap` and `room` ({room}) exclude each other")))
            }
            (true, None) => RoomSource::Bootstrap,
            (false, Some(room)) => RoomSource::Room { room: room.clone(), hub_user: self.hub_user.clone() },
            (false, None) => RoomSource::None,
        };
        Ok(HubTarget {
            peer: self.peer()?,
            room,
            exhausted_user: self.exhausted_user.clone(),
            last_resort_user: self.last_resort_user.clone(),
            no_consent_user: self.no_consent_user.clone(),
        })
    }
}

impl PeerTarget {
    /// The `[peers]` entry with which a `mimi-ds` under test reaches the suite: its domain at
    /// `https://<listen address>`. An unspecified listen address (`0.0.0.0`, `::`) is shown as
    /// `127.0.0.1`, with a comment saying to put an address the other side reaches instead.
    pub fn peer_entry(&self) -> String {
        let (host, note) = if self.listen.ip().is_unspecified() {
            let note = format!(
                "\n# the suite listens on every address ({}): use one the hub reaches instead of 127.0.0.1",
                self.listen
            );
            ("127.0.0.1".to_owned(), note)
        } else {
            match self.listen {
                SocketAddr::V4(a) => (a.ip().to_string(), String::new()),
                SocketAddr::V6(a) => (format!("[{}]", a.ip()), String::new()),
            }
        };
        format!("[peers]\n\"{}\" = \"https://{host}:{}\"{note}", self.our_domain, self.listen.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
url = "https://127.0.0.1:8443"
domain = "hub.example"
ca = "pki/ca.pem"
cert = "pki/interop.example.pem"
key = "pki/interop.example.key"
our_domain = "interop.example"
listen = "0.0.0.0:9443"
room = "mimi://hub.example/r/interop"
hub_user = "mimi://hub.example/u/alice"
no_consent_user = "mimi://c.example/u/nc"
"#;

    fn file() -> TargetFile {
        TargetFile::parse(FILE, Path::new("target.toml")).unwrap()
    }

    #[test]
    fn the_file_alone_makes_a_run() {
        let hub = TargetFile::default().over(file()).hub().unwrap();
        assert_eq!(hub.peer.url, "https://127.0.0.1:8443");
        assert_eq!(hub.peer.domain, "hub.example");
        assert_eq!(hub.peer.cert, Path::new("pki/interop.example.pem"));
        assert_eq!(hub.peer.listen.to_string(), "0.0.0.0:9443");
        assert_eq!(
            hub.room,
            RoomSource::Room {
                room: "mimi://hub.example/r/interop".into(),
                hub_user: Some("mimi://hub.example/u/alice".into())
            }
        );
        assert_eq!(hub.no_consent_user.as_deref(), Some("mimi://c.example/u/nc"));
        assert_eq!(hub.exhausted_user, None);
        assert!(hub.peer.peer_entry().starts_with("[peers]\n\"interop.example\" = \"https://127.0.0.1:9443\"\n# "));
    }

    #[test]
    fn flags_override_the_file() {
        let flags = TargetFile {
            url: Some("https://10.0.0.2:443".into()),
            our_domain: Some("other.example".into()),
            listen: Some("127.0.0.1:9555".parse().unwrap()),
            exhausted_user: Some("mimi://hub.example/u/ex".into()),
            ..TargetFile::default()
        };
        let hub = flags.over(file()).hub().unwrap();
        assert_eq!(hub.peer.url, "https://10.0.0.2:443");
        assert_eq!(hub.peer.our_domain, "other.example");
        assert_eq!(hub.peer.domain, "hub.example", "a key without a flag stays the file's");
        assert_eq!(hub.exhausted_user.as_deref(), Some("mimi://hub.example/u/ex"));
        assert_eq!(hub.peer.peer_entry(), "[peers]\n\"other.example\" = \"https://127.0.0.1:9555\"");

        // --bootstrap replaces the file's room and its user.
        let hub = TargetFile { bootstrap: Some(true), ..TargetFile::default() }.over(file()).hub().unwrap();
        assert_eq!(hub.room, RoomSource::Bootstrap);
        // --room replaces the file's room; --hub-user alone only the user.
        let flags = TargetFile { room: Some("mimi://hub.example/r/x".into()), ..TargetFile::default() };
        assert_eq!(
            flags.over(file()).hub().unwrap().room,
            RoomSource::Room { room: "mimi://hub.example/r/x".into(), hub_user: None }
        );
        let flags = TargetFile { hub_user: Some("mimi://hub.example/u/bob".into()), ..TargetFile::default() };
        let RoomSource::Room { hub_user, .. } = flags.over(file()).hub().unwrap().room else { panic!("room") };
        assert_eq!(hub_user.as_deref(), Some("mimi://hub.example/u/bob"));
    }

    #[test]
    fn errors_name_the_key() {
        let err = TargetFile::parse("url = \"x\"\nhub = \"y\"", Path::new("t.toml")).unwrap_err().to_string();
        assert!(err.starts_with("t.toml: ") && err.contains("unknown field `hub`"), "{err}");
        let err = TargetFile::parse("listen = \"nowhere\"", Path::new("t.toml")).unwrap_err().to_string();
        assert!(err.contains("listen"), "{err}");
        let missing = TargetFile { url: None, ..file() };
        assert_eq!(missing.hub().unwrap_err().to_string(), "`url` is needed: give --url or set `url` in --config");
        let missing = TargetFile { our_domain: None, ..file() };
        assert!(missing.hub().unwrap_err().to_string().contains("--our-domain"));
        let both = TargetFile { bootstrap: Some(true), ..file() };
        assert!(matches!(both.hub(), Err(TargetError::Conflict(_))));
        assert_eq!(TargetFile { listen: None, ..file() }.peer().unwrap().listen, DEFAULT_LISTEN);
    }
}
