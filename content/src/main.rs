//! `mimi-content`: decode, encode and identify MIMI content messages from the command line.
//!
//! `decode --lenient` also accepts the non-deterministic CBOR some peers send and lists each
//! deviation (offset and kind) with the deterministic re-encoding; the message ID is computed over
//! the bytes as given.
//!
//! Input files may hold raw CBOR or hex (white space ignored), so bytes pasted from another
//! implementation's logs work as they are. `-` reads standard input.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use mimi_content::{json, render, DecodeLimits, MimiContent, Received, Value};

#[derive(Parser)]
#[command(name = "mimi-content", version, about = "MIMI content (draft-ietf-mimi-content-09) codec")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Readable JSON of the typed message (lossless; `encode` reads it back).
    Json,
    /// CBOR diagnostic notation of the raw bytes.
    Edn,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a message (strictly, unless --lenient) and print it.
    Decode {
        /// File with CBOR or hex, or `-` for standard input.
        file: String,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Also accept non-deterministic CBOR (indefinite lengths, long heads, unsorted map keys)
        /// and list each deviation; the message ID stays over the bytes as given.
        #[arg(long)]
        lenient: bool,
        /// Sender user URI for the message ID (default: extension 1).
        #[arg(long)]
        sender: Option<String>,
        /// Room URI for the message ID (default: extension 2).
        #[arg(long)]
        room: Option<String>,
    },
    /// Encode the JSON form of a message to deterministic CBOR.
    Encode {
        /// JSON file (as printed by `decode`), or `-`.
        file: String,
        /// Print hex instead of writing binary CBOR.
        #[arg(long)]
        hex: bool,
    },
    /// Print the message ID of a message.
    Id {
        /// Sender user URI (default: extension 1).
        #[arg(long)]
        sender: Option<String>,
        /// Room URI (default: extension 2).
        #[arg(long)]
        room: Option<String>,
        /// File with CBOR or hex, or `-`.
        file: String,
    },
}

fn read_input(file: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if file == "-" {
        std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
    } else {
        buf = std::fs::read(file).with_context(|| format!("reading {file}"))?;
    }
    Ok(buf)
}

/// Raw CBOR, or hex text if the file is nothing but hex digits and white space.
fn read_message(file: &str) -> Result<Vec<u8>> {
    let raw = read_input(file)?;
    let is_hex = !raw.is_empty() && raw.iter().all(|b| b.is_ascii_hexdigit() || b.is_ascii_whitespace());
    if is_hex {
        let digits: String = raw.iter().filter(|b| !b.is_ascii_whitespace()).map(|&b| b as char).collect();
        return hex::decode(&digits).with_context(|| format!("{file} looks like hex but is not"));
    }
    Ok(raw)
}

/// Writes to standard output; a closed pipe (e.g. `| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other.context("writing standard output")?),
    }
}

fn emit(line: &str) -> Result<()> {
    write_stdout(format!("{line}\n").as_bytes())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Decode { file, format, lenient, sender, room } => {
            let bytes = read_message(&file)?;
            let limits = DecodeLimits::default();
            let (msg, deviations, canonical) = if lenient {
                let l = MimiContent::decode_lenient(&bytes, &limits)?;
                (l.content, Some(l.deviations), l.canonical)
            } else {
                (MimiContent::decode(&bytes)?, None, bytes.clone())
            };
            match format {
                Format::Edn => {
                    for d in deviations.iter().flatten() {
                        emit(&format!("# deviation at {d}"))?;
                    }
                    emit(&Value::from_cbor(&canonical, 64)?.diagnostic())?;
                }
                Format::Json => {
                    // Over the bytes as given, also when they were not deterministic.
                    let (sender, room) = (sender.as_deref(), room.as_deref());
                    let id = if lenient {
                        Received::decode_lenient(&bytes, sender, room, &limits).map(|r| r.received.id)
                    } else {
                        Received::decode(&bytes, sender, room, &limits).map(|r| r.id)
                    };
                    let id = id.map(|id| id.to_hex()).ok();
                    let mut out = serde_json::json!({
                        "messageId": id,
                        "size": bytes.len(),
                        "summary": render::summary(&msg, &render::Capabilities::required(), 120),
                        "message": json::to_json(&msg),
                    });
                    if let Some(deviations) = &deviations {
                        out["deviations"] = deviations
                            .iter()
                            .map(|d| serde_json::json!({ "offset": d.offset, "kind": d.kind.to_string() }))
                            .collect();
                        out["canonical"] = hex::encode(&canonical).into();
                    }
                    emit(&serde_json::to_string_pretty(&out)?)?;
                }
            }
        }
        Command::Encode { file, hex: as_hex } => {
            let text = read_input(&file)?;
            let j: serde_json::Value = serde_json::from_slice(&text).with_context(|| format!("{file} is not JSON"))?;
            let bytes = json::from_json(&j)?.encode()?;
            if as_hex {
                emit(&hex::encode(bytes))?;
            } else {
                write_stdout(&bytes)?;
            }
        }
        Command::Id { sender, room, file } => {
            let bytes = read_message(&file)?;
            let r = Received::decode(&bytes, sender.as_deref(), room.as_deref(), &DecodeLimits::default())?;
            if sender.is_none() && room.is_none() {
                eprintln!("note: URIs taken from extensions 1 and 2");
            }
            emit(&r.id.to_hex())?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            // Exit code 2: the input is not valid MIMI content (as opposed to I/O or usage errors).
            if e.downcast_ref::<mimi_content::ContentError>().is_some() {
                return ExitCode::from(2);
            }
            ExitCode::FAILURE
        }
    }
}
