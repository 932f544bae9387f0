//! Starting the server: data directory, store, TLS, the HTTPS listener and the admin socket.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use chrono::Utc;
use hyper_util::rt::{TokioIo, TokioTimer};
use idm_store::{Store, StoreConfig, StoreError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::Config;
use crate::ldap::LdapState;
use crate::ldap::listener::Mode;
use crate::state::AppState;
use crate::{admin, http, ldap, tls};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("another idm-server is already using the data directory {0}")]
    InUse(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
    #[error("LDAP directory: {0}")]
    Ldap(String),
    #[error("OpenID Connect provider: {0}")]
    Oidc(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Creates the data directory owner-only (it will hold hashes, keys and the admin socket).
pub fn ensure_data_dir(cfg: &Config) -> Result<(), ServeError> {
    let d = &cfg.data_dir;
    let err = |source| ServeError::DataDir {
        path: d.display().to_string(),
        source,
    };
    if !d.exists() {
        std::fs::create_dir_all(d).map_err(err)?;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

pub fn open_store(cfg: &Config) -> Result<Store, ServeError> {
    let store_cfg = StoreConfig {
        id_range: cfg.posix,
        cache_bytes: cfg.store.cache_mib.saturating_mul(1024 * 1024),
    };
    match Store::open(&cfg.db_path(), store_cfg) {
        Ok(s) => Ok(s),
        Err(StoreError::InUse) => Err(ServeError::InUse(cfg.data_dir.display().to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Most threads tokio's blocking pool may run per core (see [`runtime`]).
const BLOCKING_THREADS_PER_CORE: usize = 8;
/// Fewest blocking threads, whatever the core count.
const MIN_BLOCKING_THREADS: usize = 16;
/// An idle blocking thread exits after this long (tokio's default is 10 s).
const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(2);

/// The server's runtime: a worker thread per core, and a bounded blocking pool.
///
/// tokio's default allows 512 blocking threads. Each request that runs store work hands a task
/// to that pool; on a busy core a finished thread is often not back in the idle list when the
/// next task arrives, so a burst of requests grew the pool to hundreds of threads, and their
/// stacks and malloc arenas kept the process at ≈ 35 MiB after the burst (12 MiB before).
/// Beyond the cap, tasks wait in tokio's queue: nothing in the server waits on another
/// blocking task (argon2 runs on its own threads, `hashpool`, behind a semaphore taken in async
/// code), so the cap can delay but not deadlock. Store writes serialise on redb's one writer
/// anyway; reads take microseconds.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(
            cores
                .saturating_mul(BLOCKING_THREADS_PER_CORE)
                .max(MIN_BLOCKING_THREADS),
        )
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .build()
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(cfg: Config) -> Result<(), ServeError> {
    let started = std::time::Instant::now();
    ensure_data_dir(&cfg)?;
    let store = Arc::new(open_store(&cfg)?);
    store.ensure_builtins(Utc::now())?;
    let tls = tls::server_config(&cfg)?;
    let cfg = Arc::new(cfg);
    let (s2, c2) = (store.clone(), cfg.clone());
    let state = tokio::task::spawn_blocking(move || AppState::new(s2, c2))
        .await
        .map_err(|e| ServeError::Oidc(e.to_string()))?
        .map_err(|e| ServeError::Oidc(e.to_string()))?;

    let listener = TcpListener::bind(cfg.https.bind)
        .await
        .map_err(|source| ServeError::Bind {
            addr: cfg.https.bind.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: cfg.https.bind.to_string(),
        source,
    })?;
    let sock = admin::bind(&cfg.socket_path()).map_err(|source| ServeError::DataDir {
        path: cfg.socket_path().display().to_string(),
        source,
    })?;
    let keys_changed = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(admin::serve(
        sock,
        store.clone(),
        cfg.clone(),
        state.hash_pool.clone(),
        keys_changed.clone(),
    ));
    tokio::spawn(sweep_sessions(store.clone()));
    tokio::spawn(check_keys(state.clone(), keys_changed));

    let (stop_tx, stop_rx) = watch::channel(false);
    let acceptor = TlsAcceptor::from(tls);
    let mut ldap_lines = Vec::new();
    if let Some(addr) = cfg.https.plain_http_bind {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let local = l.local_addr().map_err(|source| ServeError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        ldap_lines.push(format!(
            "idm-server plain http on http://{local} for trusted proxies"
        ));
        tokio::spawn(serve_plain_http(
            l,
            http::app(state.clone()),
            cfg.https.max_connections,
            stop_rx.clone(),
        ));
    }
    if cfg.ldap.ldaps_bind.is_some() || cfg.ldap.starttls_bind.is_some() {
        let st = state.clone();
        let ldap = tokio::task::spawn_blocking(move || LdapState::new(st))
            .await
            .map_err(|e| ServeError::Ldap(e.to_string()))?
            .map_err(|e| ServeError::Ldap(e.to_string()))?;
        let ldap = Arc::new(ldap);
        for (addr, mode, scheme) in [
            (cfg.ldap.ldaps_bind, Mode::Ldaps, "ldaps"),
            (cfg.ldap.starttls_bind, Mode::StartTls, "ldap"),
        ] {
            let Some(addr) = addr else { continue };
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Bind {
                    addr: addr.to_string(),
                    source,
                })?;
            let local = l.local_addr().map_err(|source| ServeError::Bind {
                addr: addr.to_string(),
                source,
            })?;
            ldap_lines.push(format!(
                "idm-server {scheme} on {scheme}://{local} base {}",
                ldap.base
            ));
            tokio::spawn(ldap::listener::serve(
                l,
                mode,
                acceptor.clone(),
                ldap.clone(),
                stop_rx.clone(),
            ));
        }
    }
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    tracing::info!(
        https = %local,
        ca = %cfg.tls_dir().join("ca.pem").display(),
        startup_ms = started.elapsed().as_millis() as u64,
        "idm-server ready"
    );
    // Machine-readable lines for scripts and tests that bind port 0. Written once, errors
    // ignored: a closed stdout must never take the server down.
    {
        use std::io::Write;
        let mut lines = format!("idm-server listening on https://{local}\n");
        for l in ldap_lines {
            lines.push_str(&l);
            lines.push('\n');
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(lines.as_bytes());
        let _ = out.flush();
    }
    let writer = state.audit.clone();
    serve_https(
        listener,
        acceptor,
        http::app(state),
        cfg.https.max_connections,
        stop_rx,
    )
    .await;
    // Queued audit events reach the disk before the process ends.
    match tokio::task::spawn_blocking(move || writer.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "audit flush at shutdown failed"),
        Err(e) => tracing::error!(error = %e, "audit flush at shutdown failed"),
    }
    let _ = std::fs::remove_file(cfg.socket_path());
    tracing::info!("idm-server stopped");
    Ok(())
}

/// Accepts connections until `stop`, at most `max_connections` at a time, and runs `handle`
/// for each on its own task; then waits briefly for the ones in flight. Every listener (HTTPS,
/// plain HTTP behind a proxy, LDAP) is this loop plus its own per-connection handler.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stop.changed() => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        // Responses go out in one write each; never wait for a delayed ACK.
        let _ = tcp.set_nodelay(true);
        let fut = handle(tcp, peer);
        tokio::spawn(async move {
            let _permit = permit;
            fut.await;
        });
    }
    // Let in-flight requests finish, briefly.
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        slots.acquire_many(u32::try_from(max_connections).unwrap_or(u32::MAX)),
    )
    .await;
}

/// Serves HTTP/1.1 on one connection (TLS or plain), marking requests with the peer address
/// and, for the proxy listener, as plain HTTP.
async fn serve_http1<IO>(io: IO, peer: SocketAddr, app: axum::Router, plain: bool)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = app.map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
        if plain {
            req.extensions_mut().insert(http::forwarded::PlainHttp);
        }
        req
    });
    let svc = hyper_util::service::TowerToHyperService::new(svc);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(io), svc);
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

async fn serve_https(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: axum::Router,
    max_connections: usize,
    stop: watch::Receiver<bool>,
) {
    accept_loop(listener, max_connections, stop, move |tcp, peer| {
        let (acceptor, app) = (acceptor.clone(), app.clone());
        async move {
            match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => serve_http1(tls, peer, app, false).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => {}
            }
        }
    })
    .await;
}

/// Removes expired admin sessions and expired OIDC records (codes, SSO sessions, login flows,
/// refresh families, replay caches, retired keys, ...) every five minutes.
async fn sweep_sessions(store: Arc<Store>) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        let s = store.clone();
        let swept = tokio::task::spawn_blocking(move || {
            let now = Utc::now();
            Ok::<_, StoreError>((s.sweep_sessions(now)?, s.sweep_ephemeral(now)?))
        })
        .await;
        match swept {
            Ok(Ok((sessions, ephemeral))) if sessions + ephemeral > 0 => {
                tracing::info!(sessions, ephemeral, "swept expired records")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "sweep failed"),
            _ => {}
        }
    }
}

/// Each minute, and at once after `rotate-keys` on the admin socket: carries out due signing-key
/// transitions (a next key starts signing, a retired
/// one is dropped) and reloads the key set when the stored keys changed (a rotation through the
/// admin socket, another node); makes RSA keys that clients now ask for.
async fn check_keys(st: AppState, changed: Arc<tokio::sync::Notify>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = changed.notified() => {}
        }
        let st2 = st.clone();
        let r = tokio::task::spawn_blocking(move || {
            st2.oidc.refresh_keys(&st2.store, Utc::now())?;
            for c in st2.store.oauth2_clients()? {
                let alg = match c.signing_alg {
                    idm_model::oauth2::SigningAlg::ES256 => continue,
                    idm_model::oauth2::SigningAlg::RS256 => idm_oidc::JwsAlg::RS256,
                    idm_model::oauth2::SigningAlg::PS256 => idm_oidc::JwsAlg::PS256,
                };
                st2.oidc.ensure_alg(&st2.store, alg)?;
            }
            Ok::<_, crate::error::AppError>(())
        })
        .await;
        match r {
            Ok(Err(e)) => tracing::warn!(error = %e, "signing key check failed"),
            Err(e) => tracing::warn!(error = %e, "signing key check failed"),
            Ok(Ok(())) => {}
        }
    }
}

/// The plain-HTTP listener for a TLS-terminating reverse proxy: the same routes; requests are
/// marked so that `http::forwarded` refuses what did not come through a trusted proxy.
async fn serve_plain_http(
    listener: TcpListener,
    app: axum::Router,
    max_connections: usize,
    stop: watch::Receiver<bool>,
) {
    accept_loop(listener, max_connections, stop, move |tcp, peer| {
        serve_http1(tcp, peer, app.clone(), true)
    })
    .await;
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_blocking_pool_runs_more_tasks_than_threads() {
        let rt = runtime().unwrap();
        let threads = rt.block_on(async {
            let tasks: Vec<_> = (0..200)
                .map(|_| {
                    tokio::task::spawn_blocking(|| {
                        std::thread::sleep(Duration::from_millis(1));
                        std::thread::current().id()
                    })
                })
                .collect();
            let mut seen = std::collections::HashSet::new();
            for t in tasks {
                seen.insert(t.await.unwrap());
            }
            seen.len()
        });
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let cap = (cores * BLOCKING_THREADS_PER_CORE).max(MIN_BLOCKING_THREADS);
        assert!(
            threads <= cap,
            "{threads} blocking threads for a cap of {cap}"
        );
    }
}
