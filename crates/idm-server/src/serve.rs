//! Starting the server: data directory, store, TLS, the HTTPS listener and the admin socket.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use chrono::Utc;
use hyper_util::rt::{TokioIo, TokioTimer};
use idm_store::{Store, StoreConfig, StoreError};
use tokio::net::TcpListener;
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

/// Runs until SIGINT or SIGTERM.
pub async fn run(cfg: Config) -> Result<(), ServeError> {
    let started = std::time::Instant::now();
    ensure_data_dir(&cfg)?;
    let store = Arc::new(open_store(&cfg)?);
    store.ensure_builtins(Utc::now())?;
    let tls = tls::server_config(&cfg)?;
    let cfg = Arc::new(cfg);
    let state = AppState::new(store.clone(), cfg.clone());

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
    tokio::spawn(admin::serve(sock, store.clone(), cfg.clone()));
    tokio::spawn(sweep_sessions(store.clone()));

    let (stop_tx, stop_rx) = watch::channel(false);
    let acceptor = TlsAcceptor::from(tls);
    let mut ldap_lines = Vec::new();
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
    serve_https(
        listener,
        acceptor,
        http::app(state),
        cfg.https.max_connections,
        stop_rx,
    )
    .await;
    let _ = std::fs::remove_file(cfg.socket_path());
    tracing::info!("idm-server stopped");
    Ok(())
}

async fn serve_https(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: axum::Router,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
) {
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
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let svc = app.map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                req
            });
            let svc = hyper_util::service::TowerToHyperService::new(svc);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(tls), svc);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    // Let in-flight requests finish, briefly.
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        slots.acquire_many(u32::try_from(max_connections).unwrap_or(u32::MAX)),
    )
    .await;
}

async fn sweep_sessions(store: Arc<Store>) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.sweep_sessions(Utc::now())).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(expired = n, "swept sessions"),
            Ok(Err(e)) => tracing::warn!(error = %e, "session sweep failed"),
            _ => {}
        }
    }
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
