//! The admin socket: a Unix socket in the data directory, owner-only, through which the
//! offline subcommands reach a running server (which holds the database open), as kanidmd's
//! does. One request per connection: JSON in until EOF, JSON out.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use idm_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::config::Config;
use crate::hashpool::HashPool;
use crate::ops::{self, AdminRequest, AdminResponse};

/// Largest request (an import document) accepted over the socket.
const MAX_REQUEST: u64 = 512 * 1024 * 1024;

pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    // A socket left by a crashed server would make bind fail; nothing else lives at this path.
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// Serves the admin socket. `keys_changed` is notified after a key rotation so that the running
/// server reloads its signing keys at once.
pub async fn serve(
    listener: UnixListener,
    store: Arc<Store>,
    cfg: Arc<Config>,
    pool: Arc<HashPool>,
    keys_changed: Arc<tokio::sync::Notify>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (store, cfg, pool, keys) = (
            store.clone(),
            cfg.clone(),
            pool.clone(),
            keys_changed.clone(),
        );
        tokio::spawn(async move {
            if let Err(e) = connection(stream, store, cfg, pool, keys).await {
                tracing::warn!(error = %e, "admin socket connection failed");
            }
        });
    }
}

async fn connection(
    mut s: UnixStream,
    store: Arc<Store>,
    cfg: Arc<Config>,
    pool: Arc<HashPool>,
    keys_changed: Arc<tokio::sync::Notify>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    (&mut s).take(MAX_REQUEST).read_to_end(&mut buf).await?;
    let resp = match serde_json::from_slice::<AdminRequest>(&buf) {
        Ok(req) => {
            tracing::info!(op = ?std::mem::discriminant(&req), "admin socket request");
            match tokio::task::spawn_blocking(move || ops::handle(&store, &cfg, Some(&pool), req))
                .await
            {
                Ok(Ok(v)) => AdminResponse {
                    ok: true,
                    result: v,
                    error: String::new(),
                },
                Ok(Err(e)) => AdminResponse {
                    ok: false,
                    result: serde_json::Value::Null,
                    error: e.to_string(),
                },
                Err(e) => AdminResponse {
                    ok: false,
                    result: serde_json::Value::Null,
                    error: e.to_string(),
                },
            }
        }
        Err(e) => AdminResponse {
            ok: false,
            result: serde_json::Value::Null,
            error: format!("bad request: {e}"),
        },
    };
    if matches!(&resp, AdminResponse { ok: true, .. }) && rotation_of(&buf) {
        keys_changed.notify_one();
    }
    let out = serde_json::to_vec(&resp).map_err(std::io::Error::other)?;
    s.write_all(&out).await?;
    s.shutdown().await
}

fn rotation_of(request: &[u8]) -> bool {
    matches!(
        serde_json::from_slice::<AdminRequest>(request),
        Ok(AdminRequest::RotateKeys)
    )
}

/// Sends one request to a running server; `Ok(None)` when no server answers on the socket.
pub fn call(path: &Path, req: &AdminRequest) -> std::io::Result<Option<AdminResponse>> {
    use std::io::{Read, Write};
    let mut s = match std::os::unix::net::UnixStream::connect(path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let body = serde_json::to_vec(req).map_err(std::io::Error::other)?;
    s.write_all(&body)?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let resp = serde_json::from_slice(&out).map_err(std::io::Error::other)?;
    Ok(Some(resp))
}
