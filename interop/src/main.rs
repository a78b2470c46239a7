//! `mimi-interop`: the interop tool. Today: `mimi-interop vectors --write DIR` regenerates the published
//! known-answer vectors, `mimi-interop vectors --check DIR` compares stored ones with our code and exits
//! non-zero on any difference (see `interop/vectors/README.md`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use mimi_interop::vectors;

/// MIMI interop tool (draft-ietf-mimi-protocol-06, room-policy-03, content-09).
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

fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    let Command::Vectors(args) = cli.command;
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
