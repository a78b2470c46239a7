//! `mimi-interop`: the interop tool.
//!
//! - `mimi-interop hub --url https://host:port --domain hub.example --ca ca.pem --cert ours.pem --key
//!   ours.key --our-domain follower.example --listen 0.0.0.0:9443 [--bootstrap | --room URI [--hub-user
//!   URI]] [--exhausted-user URI] [--last-resort-user URI] [--no-consent-user URI]`: the conformance
//!   suite against a hub (the suite plays follower `--our-domain`; the hub must reach that domain at
//!   `--listen`). `mimi-interop hub --config target.toml` takes the same keys from a file (the flags
//!   still work and win over it; format in [`mimi_interop::target`]). On start it prints (to
//!   stderr) the `[peers]` entry the hub needs to reach the suite.
//! - `mimi-interop follower ... [--bootstrap | --user URI]`: against a follower (the suite plays the hub).
//! - `mimi-interop self-test`: both against our own `mimi-ds` started in-process; every check must pass.
//! - `mimi-interop list`: the checks with their draft sections.
//! - Every suite command takes `--format table|json|markdown`, `--only ID|PREFIX` and `--skip ID|PREFIX`
//!   (repeatable or comma-separated), `--html FILE` and `--junit FILE` (the report also written as one
//!   self-contained HTML page with every request and answer, and as JUnit XML for CI), and exits 1 when a
//!   required check failed, 2 when the suite could not run (or a report file could not be written).
//! - `mimi-interop vectors --write DIR` regenerates the published known-answer vectors;
//!   `mimi-interop vectors --check DIR` compares stored ones with our code and exits non-zero on any
//!   difference (see `interop/vectors/README.md`).
//! - `mimi-interop decode <Struct> <hex|FILE|->` prints any structure of the vectors as its JSON form
//!   (the vectors' `fields`, embedded MLS objects with their encoding under `"tls"`);
//!   `mimi-interop encode <Struct> <JSON FILE|->` gives the exact bytes back (hex, or `--binary`);
//!   `mimi-interop decode --list` names the structures. Bytes that do not decode exit 1 with the
//!   structure and the byte offset.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use mimi_interop::suite::follower::{FollowerBootstrap, FollowerRun};
use mimi_interop::suite::hub::{Bootstrap, HubRun, ProbeUsers};
use mimi_interop::suite::net::{Credentials, Target};
use mimi_interop::suite::render::{render, Format};
use mimi_interop::suite::{self, Report, Selection};
use mimi_interop::target::{PeerTarget, RoomSource, TargetFile};
use mimi_interop::{inspect, vectors};

/// MIMI interop tool (draft-ietf-mimi-protocol-06, room-policy-04, content-09).
#[derive(Debug, Parser)]
#[command(name = "mimi-interop", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Known-answer vectors: write them, or check stored ones against our code.
    Vectors(VectorsArgs),
    /// Check a hub: the suite plays a follower provider.
    Hub(HubArgs),
    /// Check a follower: the suite plays the hub.
    Follower(FollowerArgs),
    /// Run every check against our own mimi-ds started in-process.
    SelfTest(SelfTestArgs),
    /// List every check: id, draft section, role, required or optional, what it verifies.
    List,
    /// Decode a structure and print its JSON form (as in the vectors' `fields`).
    Decode(DecodeArgs),
    /// Encode a structure from its JSON form (as `decode` prints it).
    Encode(EncodeArgs),
}

#[derive(Debug, Args)]
struct DecodeArgs {
    /// List the structure names and exit.
    #[arg(long)]
    list: bool,
    /// The structure, as named in the vectors' `struct` (see --list).
    #[arg(required_unless_present = "list")]
    structure: Option<String>,
    /// The bytes: hex, a path to a binary file, or `-` for standard input (hex or binary).
    #[arg(required_unless_present = "list")]
    input: Option<String>,
}

#[derive(Debug, Args)]
struct EncodeArgs {
    /// The structure, as named in the vectors' `struct`.
    structure: String,
    /// The JSON form: a file, or `-` for standard input.
    input: String,
    /// Write the bytes themselves instead of hex.
    #[arg(long)]
    binary: bool,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct VectorsArgs {
    /// Regenerate every vector file into DIR.
    #[arg(long, value_name = "DIR")]
    write: Option<PathBuf>,
    /// Compare the vector files in DIR with a fresh generation and decode every entry; exit 1 on any
    /// difference.
    #[arg(long, value_name = "DIR")]
    check: Option<PathBuf>,
}

/// Output and selection, common to every suite command.
#[derive(Debug, Args)]
struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Run only these checks (ids or prefixes such as `hub.update`).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Skip these checks (ids or prefixes).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Also write the report as one self-contained HTML page: every check with its section, result and
    /// reason, and every request it sent with the answer, as hex and decoded.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Also write the report as JUnit XML (one testcase per check, classname = its draft section).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

impl OutputArgs {
    fn selection(&self) -> Result<Selection> {
        let selection = Selection { only: self.only.clone(), skip: self.skip.clone() };
        let unknown = selection.unknown_patterns();
        anyhow::ensure!(unknown.is_empty(), "no check matches {unknown:?}; `mimi-interop list` shows them");
        Ok(selection)
    }
}

/// The implementation under test and the suite's identity (each needed, as a flag or, for `hub`,
/// in its --config file).
#[derive(Debug, Args)]
struct PeerArgs {
    /// Base URL of the implementation under test (https://host:port); the host is resolved once.
    #[arg(long)]
    url: Option<String>,
    /// Its domain (its certificate must name it).
    #[arg(long)]
    domain: Option<String>,
    /// CA certificate(s) its certificate chains to (PEM).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// The suite's certificate (PEM), naming --our-domain, chaining to a CA the other side trusts.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// The domain the suite plays.
    #[arg(long)]
    our_domain: Option<String>,
    /// Where the suite's own server listens (the other side must reach --our-domain there)
    /// [default: 127.0.0.1:9443].
    #[arg(long)]
    listen: Option<SocketAddr>,
}

impl PeerArgs {
    /// The flags as target-file keys (see [`TargetFile::over`]).
    fn keys(&self) -> TargetFile {
        TargetFile {
            url: self.url.clone(),
            domain: self.domain.clone(),
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            our_domain: self.our_domain.clone(),
            listen: self.listen,
            ..TargetFile::default()
        }
    }
}

/// The target resolved and the suite's credentials.
async fn resolve(peer: &PeerTarget) -> Result<(Target, Credentials)> {
    let target = Target::resolve(&peer.url, &peer.domain).await?;
    let credentials = Credentials {
        ca: peer.ca.clone(),
        cert: peer.cert.clone(),
        key: peer.key.clone(),
        our_domain: peer.our_domain.clone(),
    };
    Ok((target, credentials))
}

#[derive(Debug, Args)]
struct HubArgs {
    /// A target file holding any of these options as keys of the same name (`our_domain` for
    /// --our-domain); the options given on the command line win over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    peer: PeerArgs,
    /// The hub is a mimi-ds: make the room through its client API at --url.
    #[arg(long, conflicts_with = "room")]
    bootstrap: bool,
    /// A room of the hub into which our users interop-bob and interop-dave will be invited.
    #[arg(long)]
    room: Option<String>,
    /// A hub-local user with KeyPackages (for the keyMaterial checks).
    #[arg(long)]
    hub_user: Option<String>,
    /// A hub-local user with at most 4 KeyPackages per client and no last-resort one: claimed until
    /// used up (hub.keymaterial.exhausted; --bootstrap registers one).
    #[arg(long)]
    exhausted_user: Option<String>,
    /// A hub-local user with a few single-use KeyPackages and one marked last_resort
    /// (hub.keymaterial.last-resort; --bootstrap registers one).
    #[arg(long)]
    last_resort_user: Option<String>,
    /// A user of another provider your hub reaches, whose provider refuses --our-domain's users for lack
    /// of consent (hub.keymaterial.no-consent).
    #[arg(long)]
    no_consent_user: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct FollowerArgs {
    #[command(flatten)]
    peer: PeerArgs,
    /// The follower is a mimi-ds: register its users through its client API at --url.
    #[arg(long, conflicts_with = "user")]
    bootstrap: bool,
    /// A user of the follower with KeyPackages.
    #[arg(long)]
    user: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct SelfTestArgs {
    /// Directory for the certificates and the store (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

fn vectors_command(args: VectorsArgs) -> Result<ExitCode> {
    if let Some(dir) = args.write {
        for (file, count) in vectors::write(&dir)? {
            println!("wrote {} ({count} entries)", dir.join(file).display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(dir) = args.check else {
        return Ok(ExitCode::FAILURE);
    };
    let mut failed = false;
    for report in vectors::check(&dir)? {
        if report.problems.is_empty() {
            println!("ok   {} ({} entries)", dir.join(report.file).display(), report.entries);
        } else {
            failed = true;
            println!("FAIL {} ({} problems)", dir.join(report.file).display(), report.problems.len());
            for problem in &report.problems {
                println!("     {problem}");
            }
        }
    }
    if failed {
        println!("regenerate with: cargo run -p mimi-interop -- vectors --write {}", dir.display());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn read_stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
    Ok(buf)
}

/// The bytes named by a `decode` argument: standard input (hex or binary), a file (binary), or hex.
fn decode_input(input: &str) -> Result<Vec<u8>> {
    if input == "-" {
        return inspect::bytes_of_input(&read_stdin()?).context("standard input looks like hex but is not");
    }
    if Path::new(input).is_file() {
        return std::fs::read(input).with_context(|| format!("reading {input}"));
    }
    match inspect::hex_text(input.as_bytes()) {
        Some(bytes) => bytes.with_context(|| format!("{input:?} is not valid hex")),
        None => anyhow::bail!("{input:?} is neither a file nor hex"),
    }
}

/// Writes `bytes` to standard output; a closed pipe (`| head`) is not an error.
fn print_out(bytes: &[u8]) -> Result<()> {
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing standard output"),
    }
}

/// Runs `decode` or `encode`; bytes or JSON that are not the structure exit 1.
fn inspect_command(command: Command) -> Result<ExitCode> {
    let outcome = match command {
        Command::Decode(DecodeArgs { list: true, .. }) => {
            let names: Vec<_> = inspect::structures().iter().map(|s| s.name).collect();
            return print_out(format!("{}\n", names.join("\n")).as_bytes()).map(|()| ExitCode::SUCCESS);
        }
        Command::Decode(DecodeArgs { structure: Some(name), input: Some(input), .. }) => {
            let structure = inspect::find(&name)?;
            let bytes = decode_input(&input)?;
            structure.decode(&bytes).map(|json| {
                if structure.encode(&json).ok().as_deref() != Some(&bytes[..]) {
                    eprintln!("mimi-interop: warning: this JSON does not encode back to the same bytes (a text field is not UTF-8?)");
                }
                format!("{}\n", serde_json::to_string_pretty(&json).unwrap_or_default()).into_bytes()
            })
        }
        Command::Encode(args) => {
            let structure = inspect::find(&args.structure)?;
            let text = if args.input == "-" {
                read_stdin()?
            } else {
                std::fs::read(&args.input).with_context(|| format!("reading {}", args.input))?
            };
            let json: serde_json::Value =
                serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", args.input))?;
            structure.encode(&json).map(|bytes| {
                if args.binary {
                    bytes
                } else {
                    format!("{}\n", hex::encode(bytes)).into_bytes()
                }
            })
        }
        _ => anyhow::bail!(
            "usage: mimi-interop decode --list | decode <Struct> <hex|FILE|-> | encode <Struct> <JSON FILE|->"
        ),
    };
    match outcome {
        Ok(out) => print_out(&out).map(|()| ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("mimi-interop: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints `report`, writes the report files asked for, and gives the exit code.
fn finish(report: &Report, output: &OutputArgs) -> Result<ExitCode> {
    print!("{}", render(report, output.format));
    let now = SystemTime::now();
    if let Some(path) = &output.html {
        std::fs::write(path, suite::html::render(report, now))
            .with_context(|| format!("writing the HTML report {}", path.display()))?;
    }
    if let Some(path) = &output.junit {
        std::fs::write(path, suite::junit::render(report, now))
            .with_context(|| format!("writing the JUnit report {}", path.display()))?;
    }
    Ok(if report.required_failed() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

async fn suite_command(command: Command) -> Result<ExitCode> {
    match command {
        Command::Vectors(_) | Command::List | Command::Decode(_) | Command::Encode(_) => Ok(ExitCode::FAILURE),
        Command::Hub(args) => {
            let selection = args.output.selection()?;
            let flags = TargetFile {
                bootstrap: args.bootstrap.then_some(true),
                room: args.room,
                hub_user: args.hub_user,
                exhausted_user: args.exhausted_user,
                last_resort_user: args.last_resort_user,
                no_consent_user: args.no_consent_user,
                ..args.peer.keys()
            };
            let file = match &args.config {
                Some(path) => TargetFile::load(path)?,
                None => TargetFile::default(),
            };
            let hub = flags.over(file).hub()?;
            eprintln!(
                "mimi-interop: the hub under test reaches the suite ({}) with this entry in its configuration:\n{}",
                hub.peer.our_domain,
                hub.peer.peer_entry()
            );
            let (target, credentials) = resolve(&hub.peer).await?;
            let bootstrap = match hub.room {
                RoomSource::Bootstrap => Bootstrap::ClientApi,
                RoomSource::Room { room, hub_user } => Bootstrap::Room { room, hub_user },
                RoomSource::None => Bootstrap::None,
            };
            let users = ProbeUsers {
                exhausted: hub.exhausted_user,
                last_resort: hub.last_resort_user,
                no_consent: hub.no_consent_user,
            };
            let run = HubRun { target, credentials, listen: hub.peer.listen, bootstrap, users, selection };
            let report = suite::hub::run(run).await?;
            finish(&report, &args.output)
        }
        Command::Follower(args) => {
            let selection = args.output.selection()?;
            let peer = args.peer.keys().peer()?;
            let (target, credentials) = resolve(&peer).await?;
            let bootstrap = match (args.bootstrap, args.user) {
                (true, _) => FollowerBootstrap::ClientApi,
                (false, Some(user)) => FollowerBootstrap::User(user),
                (false, None) => anyhow::bail!("give --bootstrap (a mimi-ds follower) or --user URI"),
            };
            let run = FollowerRun { target, credentials, listen: peer.listen, bootstrap, selection };
            let report = suite::follower::run(run).await?;
            finish(&report, &args.output)
        }
        Command::SelfTest(args) => {
            let selection = args.output.selection()?;
            let temp = tempfile::tempdir().context("temporary directory")?;
            let dir = args.dir.unwrap_or_else(|| temp.path().to_owned());
            let report = suite::selftest::run(&dir, &selection).await?;
            finish(&report, &args.output)
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MIMI_INTEROP_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Vectors(args) => vectors_command(args),
        command @ (Command::Decode(_) | Command::Encode(_)) => inspect_command(command),
        Command::List => {
            for c in suite::CHECKS {
                let required = if c.required { "required" } else { "optional" };
                println!("{:<32} {:<18} {:<8} {required}  {}", c.id, c.section, format!("{:?}", c.role), c.title);
            }
            Ok(ExitCode::SUCCESS)
        }
        command => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("tokio runtime")
            .and_then(|runtime| runtime.block_on(suite_command(command))),
    };
    result.unwrap_or_else(|e| {
        eprintln!("mimi-interop: {e:#}");
        ExitCode::from(2)
    })
}
