//! The `mimi-ds` binary. Only `--version` and `--help` exist so far; `serve` and `dev-pki` come with the
//! server (DESIGN §6).

use clap::Parser;

/// MIMI hub delivery service: one provider, hub for its own rooms and follower for others.
#[derive(Parser, Debug)]
#[command(name = "mimi-ds", version = mimi_ds::LONG_VERSION, long_version = mimi_ds::LONG_VERSION)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    println!("mimi-ds {}: no command given; see --help", mimi_ds::LONG_VERSION);
}
