//! The LDAP socket loop: read → decode → session → encode → write, one flush per batch of
//! pipelined requests, `TCP_NODELAY` on (a search's result messages go out together, so no
//! client waits on a delayed ACK), PROXY protocol from trusted peers, StartTLS upgrades.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use chrono::Utc;
use idm_ldap::{Action, Event, LdapMessage, ProtocolOp, Session, SessionConfig, decode_message};
use idm_model::audit::{Actor, AuditEvent, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::{Dir, LdapState, now_ts};
use crate::proxy_protocol;

/// How a listener speaks before any request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// TLS from the first byte (LDAPS).
    Ldaps,
    /// Plain until StartTLS; simple binds refused before it.
    StartTls,
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    async fn read_buf(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read_buf(buf).await,
            Conn::Tls(s) => s.read_buf(buf).await,
        }
    }

    async fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(b).await,
            Conn::Tls(s) => {
                s.write_all(b).await?;
                s.flush().await
            }
        }
    }
}

pub async fn serve(
    listener: TcpListener,
    mode: Mode,
    acceptor: TlsAcceptor,
    ldap: Arc<LdapState>,
    stop: watch::Receiver<bool>,
) {
    let max = ldap.app.config.ldap.max_connections;
    crate::serve::accept_loop(listener, max, stop, move |tcp, peer| {
        let (ldap, acceptor) = (ldap.clone(), acceptor.clone());
        async move {
            if let Err(e) = connection(tcp, peer, mode, acceptor, ldap).await {
                tracing::debug!(%peer, error = %e, "ldap connection ended with an error");
            }
        }
    })
    .await;
}

async fn connection(
    mut tcp: TcpStream,
    peer: SocketAddr,
    mode: Mode,
    acceptor: TlsAcceptor,
    ldap: Arc<LdapState>,
) -> std::io::Result<()> {
    let cfg = &ldap.app.config.ldap;
    let idle = Duration::from_secs(cfg.idle_timeout_secs.max(1));
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut source: IpAddr = peer.ip();

    if cfg.proxy_protocol_from.contains(&peer.ip()) {
        loop {
            match proxy_protocol::parse(&rbuf) {
                Ok(Some(h)) => {
                    if let Some(s) = h.source {
                        source = s.ip();
                    }
                    rbuf.advance(h.consumed);
                    break;
                }
                Ok(None) => {
                    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read_buf(&mut rbuf))
                        .await
                        .map_err(|_| std::io::Error::other("PROXY header timeout"))??;
                    if n == 0 {
                        return Ok(());
                    }
                }
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            }
        }
    }
    if !rbuf.is_empty() && mode == Mode::Ldaps {
        // Bytes after a PROXY header on an LDAPS port would be the TLS ClientHello, which the
        // acceptor must read itself; a proxy never sends them in the same segment in practice.
        return Err(std::io::Error::other("data before TLS handshake"));
    }
    let mut conn = match mode {
        Mode::Ldaps => {
            let tls = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                .await
                .map_err(|_| std::io::Error::other("TLS handshake timeout"))??;
            Conn::Tls(Box::new(tls))
        }
        Mode::StartTls => Conn::Plain(tcp),
    };
    let mut sc = SessionConfig::default();
    sc.tls_active = mode == Mode::Ldaps;
    sc.start_tls_available = mode == Mode::StartTls;
    sc.require_tls_for_bind = true;
    sc.max_size_limit = cfg.max_size_limit;
    sc.limits.max_message_size = cfg.max_message_bytes;
    let limits = sc.limits.clone();
    let mut session = Session::new(sc);
    let mut wbuf = BytesMut::with_capacity(8192);

    loop {
        // Answer every complete request in the buffer, then flush once.
        let mut action = None;
        loop {
            match decode_message(&rbuf, &limits) {
                Ok(None) => break,
                Ok(Some((msg, used))) => {
                    rbuf.advance(used);
                    let (s, out) = handle(session, msg, &ldap, source).await?;
                    session = s;
                    out.encode(&mut wbuf);
                    record(&ldap, &out.events, source);
                    if out.action.is_some() {
                        action = out.action;
                        break;
                    }
                }
                Err(e) => {
                    let out = session.decode_error(&e);
                    out.encode(&mut wbuf);
                    action = Some(Action::Close);
                    break;
                }
            }
        }
        if !wbuf.is_empty() {
            conn.write_all(&wbuf).await?;
            wbuf.clear();
        }
        match action {
            Some(Action::Close) => return Ok(()),
            Some(Action::StartTls) => {
                conn = match conn {
                    Conn::Plain(tcp) => {
                        let tls =
                            tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                                .await
                                .map_err(|_| {
                                    std::io::Error::other("StartTLS handshake timeout")
                                })??;
                        session.tls_established();
                        Conn::Tls(Box::new(tls))
                    }
                    tls @ Conn::Tls(_) => tls,
                };
                if !rbuf.is_empty() {
                    // Plaintext pipelined after StartTLS would be an injection attempt.
                    return Ok(());
                }
                continue;
            }
            _ => {}
        }
        let n = match tokio::time::timeout(idle, conn.read_buf(&mut rbuf)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
    }
}

/// Runs one request. Binds go to a blocking thread holding an argon2 slot; everything else is
/// answered in memory from the view, inline.
async fn handle(
    mut session: Session,
    msg: LdapMessage,
    ldap: &Arc<LdapState>,
    source: IpAddr,
) -> std::io::Result<(Session, idm_ldap::Output)> {
    let view = match ldap.current_fast() {
        Some(v) => v,
        None => {
            let l = ldap.clone();
            tokio::task::spawn_blocking(move || l.current())
                .await
                .map_err(std::io::Error::other)?
                .map_err(|e| std::io::Error::other(e.to_string()))?
        }
    };
    if let ProtocolOp::BindRequest(b) = &msg.op {
        // One decision at a time per account, as for API logins; the name as resolved, so
        // the DN and the bare name of one account share a lock.
        let resolved = view.resolve_bind_name(&b.name);
        let is_token = matches!(resolved, Some((_, idm_model::EntryKind::ServiceAccount, _)));
        let account = resolved.map_or_else(|| b.name.clone(), |(_, _, n)| n);
        let limited = if b.name.is_empty() {
            Ok(())
        } else if is_token {
            crate::auth::check_address(&ldap.app, source, "ldap")
        } else {
            crate::auth::check_rate(&ldap.app, &account, Some(source), "ldap")
        };
        if limited.is_err() {
            return Ok((session, busy(&msg)));
        }
        if is_token {
            // A service account's API token is a 256-bit secret checked by digest: no argon2,
            // no guess counter, one read of cached store pages and a queued audit event — a few
            // microseconds, answered inline like a search. A hand-off to the blocking pool
            // would cost more than the bind itself.
            let mut dir = Dir {
                view,
                app: &ldap.app,
                source: Some(source),
            };
            let out = session.handle(msg, now_ts(), &mut dir);
            return Ok((session, out));
        }
        let l = ldap.clone();
        return crate::auth::serialized(&ldap.app, &account, move || {
            let mut dir = Dir {
                view,
                app: &l.app,
                source: Some(source),
            };
            let out = session.handle(msg, now_ts(), &mut dir);
            (session, out)
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()));
    }
    let mut dir = Dir {
        view,
        app: &ldap.app,
        source: Some(source),
    };
    let out = session.handle(msg, now_ts(), &mut dir);
    Ok((session, out))
}

/// The answer to a bind refused by the rate limits: `busy` (51), so clients retry later.
fn busy(msg: &LdapMessage) -> idm_ldap::Output {
    let mut out = idm_ldap::Output::default();
    out.responses.push(LdapMessage {
        message_id: msg.message_id,
        op: ProtocolOp::BindResponse(idm_ldap::proto::BindResponse {
            result: idm_ldap::LdapResult {
                code: idm_ldap::ResultCode::Busy,
                matched_dn: String::new(),
                diagnostic_message: "too many attempts, try again later".into(),
                referral: Vec::new(),
            },
            server_sasl_creds: None,
        }),
        controls: Vec::new(),
    });
    out
}

/// Binds are audited where they are decided (password and token paths); anonymous binds and
/// protocol violations are recorded here.
fn record(ldap: &LdapState, events: &[Event], source: IpAddr) {
    for e in events {
        match e {
            Event::AnonymousBind => {
                let ev = AuditEvent {
                    at: Utc::now(),
                    actor: Actor {
                        uuid: None,
                        name: "anonymous".into(),
                    },
                    action: "auth.ldap_anonymous".into(),
                    target: None,
                    outcome: Outcome::Success,
                    summary: "ldap: anonymous bind".into(),
                    source: Some(source.to_string()),
                };
                ldap.app.audit.submit(ev);
            }
            Event::ProtocolViolation { reason } => {
                tracing::info!(%source, reason, "ldap protocol violation");
            }
            Event::Search {
                base,
                filter,
                entries,
                ..
            } => {
                tracing::debug!(%source, base, filter, entries, "ldap search");
            }
            _ => {}
        }
    }
}
