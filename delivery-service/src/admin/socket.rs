//! The admin socket: how `mimi-ds user|client|room ...` reaches a running server (Unix only).
//!
//! A Unix stream socket at `admin_socket` (default `<data_dir>/admin.sock`), created by the server
//! when it starts with mode 0600 (only the user the server runs as may connect; file permissions
//! are the authentication), and removed when it stops. One request per connection: the command
//! sends one line of JSON ([`AdminRequest`]), the server answers one line, `{"ok": answer}` or
//! `{"error": "reason"}`, and closes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{execute_on, AdminAnswer, AdminError, AdminRequest};
use crate::provider::Provider;
use crate::store::Store;

/// Longest request line read.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// Time a connection gets to send its request, and the command to get its answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The answer line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    Ok(AdminAnswer),
    Error(String),
}

/// Binds the admin socket at `path` with mode 0600. A socket file left behind by a server that
/// is gone is replaced; one a server still answers on is an error.
#[cfg(unix)]
pub async fn bind(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "exists and is not a socket"));
        }
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "a running server answers on it"));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Connecting needs write permission on the socket: with the usual umask nobody else has it
    // even before the mode is set.
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves commands on `listener` for `provider` (executed on its store, see [`execute`]) until
/// the task is dropped. Codes are good for `code_lifetime` unless a command says otherwise.
#[cfg(unix)]
pub async fn serve<S: Store>(listener: tokio::net::UnixListener, provider: Arc<Provider<S>>, code_lifetime: Duration) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "admin socket: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let provider = provider.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &provider, code_lifetime).await {
                tracing::warn!(error = %e, "admin socket: connection failed");
            }
        });
    }
}

/// Reads one request from `stream`, executes it and writes the reply.
#[cfg(unix)]
async fn answer<S: Store>(
    stream: tokio::net::UnixStream,
    provider: &Provider<S>,
    code_lifetime: Duration,
) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt as _;
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST_BYTES));
    tokio::time::timeout(TIMEOUT, reader.read_line(&mut line)).await.map_err(std::io::Error::other)??;
    let reply = match serde_json::from_str::<AdminRequest>(&line) {
        Ok(request) => match execute_on(provider, code_lifetime, &request).await {
            Ok(answer) => Reply::Ok(answer),
            Err(e) => {
                tracing::info!(?request, error = %e, "admin command refused");
                Reply::Error(e.to_string())
            }
        },
        Err(e) => Reply::Error(format!("not an admin request: {e}")),
    };
    let mut out = serde_json::to_vec(&reply).map_err(std::io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
}

/// Sends `request` to the server answering at `path`: `None` if none does (no socket, or nobody
/// listening on it), else its answer or refusal.
#[cfg(unix)]
pub async fn send(path: &Path, request: &AdminRequest) -> Result<Option<Result<AdminAnswer, AdminError>>, AdminError> {
    let failed = |why: String| AdminError::Socket { path: path.display().to_string(), why };
    let mut stream = match tokio::net::UnixStream::connect(path).await {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Ok(None)
        }
        Err(e) => return Err(failed(e.to_string())),
    };
    let mut line = serde_json::to_vec(request).map_err(|e| failed(e.to_string()))?;
    line.push(b'\n');
    let exchange = async {
        stream.write_all(&line).await?;
        let mut reply = String::new();
        BufReader::new(&mut stream).read_line(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    let reply = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| failed("no answer in time".into()))?
        .map_err(|e| failed(e.to_string()))?;
    match serde_json::from_str::<Reply>(&reply) {
        Ok(Reply::Ok(answer)) => Ok(Some(Ok(answer))),
        Ok(Reply::Error(why)) => Ok(Some(Err(AdminError::Server(why)))),
        Err(e) => Err(failed(format!("unreadable answer: {e}"))),
    }
}
