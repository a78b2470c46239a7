//! A provider in a child process, so that a test can kill it (SIGKILL) mid-traffic and start it
//! again on the same data directory.
//!
//! The test binary runs itself again with `--exact <child test>`: that test (a no-op unless its
//! environment variables are set) starts the provider, [`serve`]s until SIGTERM, and publishes
//! the address it listens on in a file, which [`spawn`] waits for.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mimi_client_sim::LocalProvider;

/// Runs the child test `test` of the current test binary with `envs`, and waits (at most 30 s)
/// until it has published its address in `addr_file`.
pub fn spawn(test: &str, envs: &[(&str, String)], addr_file: &Path) -> anyhow::Result<(Child, SocketAddr)> {
    let _ = std::fs::remove_file(addr_file);
    let child = Command::new(std::env::current_exe()?)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(addr_file) {
            return Ok((child, text.trim().parse()?));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!("child {test} did not start")
}

/// The child's side: publishes `provider`'s address in `addr_file` (atomically, by rename), serves
/// until SIGTERM or ctrl-c, then stops gracefully.
pub async fn serve(provider: LocalProvider, addr_file: &Path) -> anyhow::Result<()> {
    let tmp = addr_file.with_extension("tmp");
    std::fs::write(&tmp, provider.addr().to_string())?;
    std::fs::rename(&tmp, addr_file)?;
    mimi_ds::server::shutdown_signal().await;
    provider.stop().await?;
    Ok(())
}
