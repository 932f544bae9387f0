//! The HTTPS JSON client of the `/v1` API, and [`CliError`], the one error every command
//! returns.
//!
//! All status and transport failures are turned into a `CliError` here, in one place, so every
//! command reports them the same way: the server's `Problem` as
//! `<message> (<code>, HTTP <status>)`, a 401 as the login to run, and a connection or TLS
//! failure with what to check.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use idm_model::Violation;
use idm_model::api::Problem;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ureq::http::{Method, Request, StatusCode, Uri};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Every failure of a command; `main` prints it as `error: <Display>` and exits 1.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    #[error("{}", server_line(message, code, *status, violations))]
    Server {
        status: u16,
        code: String,
        message: String,
        violations: Vec<Violation>,
    },
    #[error("not logged in: run `idm login -D NAME`")]
    NotLoggedIn,
    #[error(
        "the session of {name} is no longer valid (expired or logged out): run `idm login -D {name}`"
    )]
    SessionRejected { name: String },
    #[error(
        "the session of {name} expired at {}: run `idm login -D {name}`",
        crate::time::show(*expired_at)
    )]
    SessionExpired {
        name: String,
        expired_at: DateTime<Utc>,
    },
    #[error("IDM_TOKEN was not accepted: {message} (unauthenticated, HTTP 401)")]
    TokenRejected { message: String },
    #[error("cannot reach {url}: {detail} (is the server running? is --url/IDM_URL right?)")]
    Connect { url: String, detail: String },
    #[error("TLS failure talking to {url}: {detail} (is --ca/IDM_CA the server's CA?)")]
    Tls { url: String, detail: String },
    #[error("request to {url} failed: {detail}")]
    Http { url: String, detail: String },
    #[error("unexpected response from the server (HTTP {status}): {detail}")]
    BadResponse { status: u16, detail: String },
    #[error("bad server URL `{url}`: {why}")]
    BadUrl { url: String, why: &'static str },
    #[error("cannot read the CA file {}: {source}", path.display())]
    CaRead { path: PathBuf, source: io::Error },
    #[error("the CA file {} holds no usable PEM certificate{}", path.display(), detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    CaInvalid {
        path: PathBuf,
        detail: Option<String>,
    },
    #[error("token cache {}: {source}", path.display())]
    CacheIo { path: PathBuf, source: io::Error },
    #[error("token cache {} is unreadable ({source}); delete it and log in again", path.display())]
    CacheCorrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("no cache directory for the token cache (is $HOME set?)")]
    NoCacheDir,
    #[error("no terminal to prompt for the {what} on ({source}): pipe it in with --password-stdin")]
    NoTerminal {
        what: &'static str,
        source: io::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        source: io::Error,
    },
    #[error("{0}")]
    Input(String),
    #[error("logged out locally, but the server did not end the session: {0}")]
    LogoutIncomplete(Box<CliError>),
}

/// A bearer token: redacted in `Debug`, wiped when dropped.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[cfg_attr(test, derive(PartialEq, Eq))]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How a request authenticates, which also decides what a 401 means.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `POST /v1/auth` itself: a 401 there is a wrong name or password, said by the server.
    Login,
    /// No token at all: a 401 means "log in first".
    Missing,
    /// `IDM_TOKEN`, typically a service account's API token.
    Env(Secret),
    /// The cached session of `name`.
    Session { name: String, token: Secret },
}

/// One server, one way to authenticate.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    auth: Auth,
}

impl Client {
    /// `ca` is a PEM file of trusted roots; without it the webpki roots are trusted.
    pub fn new(url: &str, ca: Option<&Path>, auth: Auth) -> Result<Self, CliError> {
        let base = normalise_url(url)?;
        let tls = match ca {
            Some(path) => TlsConfig::builder()
                .root_certs(RootCerts::Specific(Arc::new(load_ca(path)?)))
                .build(),
            None => TlsConfig::builder().build(),
        };
        let mut config = ureq::Agent::config_builder();
        if is_loopback(&base) {
            // A server on this machine is never behind the proxy that *_PROXY names.
            config = config.proxy(None);
        }
        let config = config
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .user_agent(concat!("idm-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent: ureq::Agent::new_with_config(config),
            base,
            auth,
        })
    }

    pub fn get(&self, path: &str) -> Result<Value, CliError> {
        self.call::<()>(Method::GET, path, None)
    }

    /// Sends a request to `path` (below the server URL, query included) and returns the JSON
    /// body, or `Value::Null` for an empty one (204).
    pub fn call<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.base);
        let mut req = Request::builder()
            .method(method)
            .uri(&url)
            .header("accept", "application/json");
        match &self.auth {
            Auth::Env(t) | Auth::Session { token: t, .. } => {
                req = req.header("authorization", format!("Bearer {}", t.expose()));
            }
            Auth::Login | Auth::Missing => {}
        }
        let http_err = |e: ureq::http::Error| CliError::Http {
            url: url.clone(),
            detail: e.to_string(),
        };
        let sent = match body {
            Some(b) => {
                let bytes = serde_json::to_vec(b).map_err(|e| CliError::Input(e.to_string()))?;
                let req = req
                    .header("content-type", "application/json")
                    .body(bytes)
                    .map_err(http_err)?;
                self.agent.run(req)
            }
            None => self.agent.run(req.body(()).map_err(http_err)?),
        };
        let mut resp = sent.map_err(|e| transport_error(&self.base, e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| transport_error(&self.base, e))?;
        if !resp.status().is_success() {
            return Err(error_from_response(status, &text, &self.auth));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| CliError::BadResponse {
            status,
            detail: format!("body is not JSON: {e}"),
        })
    }
}

/// Turns a JSON body into the `idm_model::api` type the endpoint documents.
pub fn decode<T: DeserializeOwned>(v: Value) -> Result<T, CliError> {
    serde_json::from_value(v).map_err(|e| CliError::BadResponse {
        status: 200,
        detail: format!("{e} (is the server the same version as this CLI?)"),
    })
}

/// Maps an error status and its body to a `CliError`: the server's `Problem` when the body is
/// one, otherwise the status's reason; a 401 becomes what to do about it.
pub fn error_from_response(status: u16, body: &str, auth: &Auth) -> CliError {
    let problem = serde_json::from_str::<Problem>(body).ok();
    if status == 401 {
        match auth {
            Auth::Missing => return CliError::NotLoggedIn,
            Auth::Session { name, .. } => {
                return CliError::SessionRejected { name: name.clone() };
            }
            Auth::Env(_) => {
                return CliError::TokenRejected {
                    message: problem.map_or_else(|| "rejected".to_owned(), |p| p.message),
                };
            }
            Auth::Login => {}
        }
    }
    match problem {
        Some(p) => CliError::Server {
            status,
            code: p.code,
            message: p.message,
            violations: p.violations,
        },
        None => {
            let first_line = body.lines().next().unwrap_or("").trim();
            let message = if first_line.is_empty() {
                StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("error")
                    .to_owned()
            } else {
                first_line.chars().take(200).collect()
            };
            CliError::Server {
                status,
                code: "http".to_owned(),
                message,
                violations: Vec::new(),
            }
        }
    }
}

/// The cache key and request prefix for a server: the URL without trailing slashes. Only
/// `https` is accepted, except `http` to a loopback address, where nothing crosses a network.
pub fn normalise_url(url: &str) -> Result<String, CliError> {
    let bad = |why| CliError::BadUrl {
        url: url.to_owned(),
        why,
    };
    let trimmed = url.trim().trim_end_matches('/');
    let uri: Uri = trimmed
        .parse()
        .map_err(|_| bad("not a URL (e.g. https://idm.example.com:8443)"))?;
    uri.host().ok_or_else(|| bad("no host"))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if is_loopback(trimmed) => {}
        Some("http") => return Err(bad("plain http would send passwords and tokens in clear")),
        _ => return Err(bad("must start with https://")),
    }
    if uri.query().is_some() {
        return Err(bad("must not have a query"));
    }
    Ok(trimmed.to_owned())
}

fn is_loopback(url: &str) -> bool {
    url.parse::<Uri>()
        .ok()
        .is_some_and(|u| matches!(u.host(), Some("localhost" | "127.0.0.1" | "[::1]" | "::1")))
}

/// Every certificate in a PEM file (a CA bundle may hold several).
fn load_ca(path: &Path) -> Result<Vec<Certificate<'static>>, CliError> {
    let pem = std::fs::read(path).map_err(|source| CliError::CaRead {
        path: path.to_owned(),
        source,
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(CliError::CaInvalid {
                    path: path.to_owned(),
                    detail: Some(e.to_string()),
                });
            }
        }
    }
    if certs.is_empty() {
        return Err(CliError::CaInvalid {
            path: path.to_owned(),
            detail: None,
        });
    }
    Ok(certs)
}

/// Transport failures, sorted into "cannot connect" and "TLS"; rustls reports a bad
/// certificate as an `InvalidData` IO error from the stream.
fn transport_error(url: &str, e: ureq::Error) -> CliError {
    let url = url.to_owned();
    match e {
        ureq::Error::Io(io) if io.kind() == io::ErrorKind::InvalidData => CliError::Tls {
            url,
            detail: io.to_string(),
        },
        ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_) => CliError::Tls {
            url,
            detail: e.to_string(),
        },
        ureq::Error::Io(io) => CliError::Connect {
            url,
            detail: io.to_string(),
        },
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Timeout(_) => {
            CliError::Connect {
                url,
                detail: e.to_string(),
            }
        }
        other => CliError::Http {
            url,
            detail: other.to_string(),
        },
    }
}

fn server_line(message: &str, code: &str, status: u16, violations: &[Violation]) -> String {
    let mut line = format!("{message} ({code}, HTTP {status})");
    for (i, v) in violations.iter().enumerate() {
        line.push_str(if i == 0 { ": " } else { "; " });
        line.push_str(&v.to_string());
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(code: &str, message: &str) -> String {
        serde_json::json!({"code": code, "message": message}).to_string()
    }

    fn session() -> Auth {
        Auth::Session {
            name: "admin".into(),
            token: Secret::new("t0k3n".into()),
        }
    }

    #[test]
    fn server_problems_print_message_code_and_status() {
        let e = error_from_response(404, &problem("not_found", "no person alice"), &session());
        assert_eq!(e.to_string(), "no person alice (not_found, HTTP 404)");

        let body = serde_json::json!({
            "code": "password_policy",
            "message": "password is too short: at least 12 characters",
            "violations": [{"field": "password", "rule": "at least 12 characters"}]
        })
        .to_string();
        let e = error_from_response(422, &body, &session());
        assert_eq!(
            e.to_string(),
            "password is too short: at least 12 characters (password_policy, HTTP 422): \
             password: at least 12 characters"
        );
    }

    #[test]
    fn non_problem_bodies_fall_back_to_the_status() {
        let e = error_from_response(502, "", &session());
        assert_eq!(e.to_string(), "Bad Gateway (http, HTTP 502)");
        let e = error_from_response(500, "<html>oops\n</html>", &session());
        assert_eq!(e.to_string(), "<html>oops (http, HTTP 500)");
    }

    #[test]
    fn unauthenticated_says_what_to_do() {
        let body = problem("unauthenticated", "no valid token");
        assert_eq!(
            error_from_response(401, &body, &Auth::Missing).to_string(),
            "not logged in: run `idm login -D NAME`"
        );
        assert_eq!(
            error_from_response(401, &body, &session()).to_string(),
            "the session of admin is no longer valid (expired or logged out): \
             run `idm login -D admin`"
        );
        assert_eq!(
            error_from_response(401, &body, &Auth::Env(Secret::new("x".into()))).to_string(),
            "IDM_TOKEN was not accepted: no valid token (unauthenticated, HTTP 401)"
        );
        // A failed login is the server's word: wrong name or password, not "log in first".
        let body = problem("unauthenticated", "invalid name or password");
        assert_eq!(
            error_from_response(401, &body, &Auth::Login).to_string(),
            "invalid name or password (unauthenticated, HTTP 401)"
        );
    }

    #[test]
    fn forbidden_and_rate_limits_pass_through() {
        let e = error_from_response(403, &problem("forbidden", "not permitted"), &session());
        assert_eq!(e.to_string(), "not permitted (forbidden, HTTP 403)");
        let e = error_from_response(429, &problem("rate_limited", "slow down"), &Auth::Login);
        assert_eq!(e.to_string(), "slow down (rate_limited, HTTP 429)");
    }

    #[test]
    fn transport_errors_say_what_to_check() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let e = transport_error("https://localhost:8443", ureq::Error::Io(refused));
        assert!(matches!(e, CliError::Connect { .. }), "{e:?}");
        assert!(e.to_string().contains("is the server running?"), "{e}");

        let bad_cert = io::Error::new(
            io::ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer",
        );
        let e = transport_error("https://localhost:8443", ureq::Error::Io(bad_cert));
        assert_eq!(
            e.to_string(),
            "TLS failure talking to https://localhost:8443: invalid peer certificate: \
             UnknownIssuer (is --ca/IDM_CA the server's CA?)"
        );
        let e = transport_error("https://x", ureq::Error::HostNotFound);
        assert!(matches!(e, CliError::Connect { .. }));
    }

    #[test]
    fn urls_are_https_or_loopback_http() {
        assert_eq!(
            normalise_url("https://idm.example.com:8443/").unwrap(),
            "https://idm.example.com:8443"
        );
        assert_eq!(
            normalise_url("https://idm.example.com/idm//").unwrap(),
            "https://idm.example.com/idm"
        );
        assert_eq!(
            normalise_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalise_url("http://localhost:1").unwrap(),
            "http://localhost:1"
        );
        for bad in [
            "http://idm.example.com",
            "idm.example.com",
            "ftp://x",
            "https://",
            "https://x/?a=b",
        ] {
            assert!(normalise_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ca_files_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        assert!(matches!(load_ca(&missing), Err(CliError::CaRead { .. })));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a pem\n").unwrap();
        let e = load_ca(&empty).unwrap_err();
        assert!(
            e.to_string().contains("holds no usable PEM certificate"),
            "{e}"
        );
    }

    #[test]
    fn ca_files_may_hold_several_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle.pem");
        // The PEM layer only decodes base64; rustls checks the DER when it connects.
        let block = "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n";
        std::fs::write(&bundle, format!("{block}junk between\n{block}")).unwrap();
        assert_eq!(load_ca(&bundle).unwrap().len(), 2);
    }

    /// A one-request HTTP/1.1 stand-in for the server on loopback: answers with `status` and
    /// `body` and hands back the raw request it received.
    fn serve_once(status: u16, body: &'static str) -> (String, std::thread::JoinHandle<String>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = stream.read(&mut buf).unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length || n == 0 {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
            String::from_utf8(request).unwrap()
        });
        (url, handle)
    }

    #[test]
    fn requests_carry_the_bearer_token_and_json_body() {
        let (url, server) = serve_once(200, r#"{"ok":true}"#);
        let client = Client::new(&url, None, session()).unwrap();
        let patch = idm_model::api::PersonPatch {
            expire_at: Some(None),
            ..Default::default()
        };
        let v = client
            .call(Method::PATCH, "/v1/person/alice", Some(&patch))
            .unwrap();
        assert_eq!(v, serde_json::json!({"ok": true}));
        let request = server.join().unwrap();
        let lower = request.to_ascii_lowercase();
        assert!(
            request.starts_with("PATCH /v1/person/alice HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            lower.contains("authorization: bearer t0k3n\r\n"),
            "{request}"
        );
        assert!(
            lower.contains("content-type: application/json\r\n"),
            "{request}"
        );
        assert!(request.ends_with(r#"{"expire_at":null}"#), "{request}");
    }

    #[test]
    fn empty_success_is_null_and_anonymous_requests_have_no_token() {
        let (url, server) = serve_once(204, "");
        let client = Client::new(&url, None, Auth::Missing).unwrap();
        let v = client.call::<()>(Method::POST, "/v1/logout", None).unwrap();
        assert_eq!(v, Value::Null);
        let request = server.join().unwrap();
        assert!(
            !request.to_ascii_lowercase().contains("authorization"),
            "{request}"
        );
    }

    #[test]
    fn error_statuses_come_back_as_problems() {
        let (url, server) = serve_once(401, r#"{"code":"unauthenticated","message":"no"}"#);
        let client = Client::new(&url, None, Auth::Missing).unwrap();
        let e = client.get("/v1/self").unwrap_err();
        assert!(matches!(e, CliError::NotLoggedIn), "{e:?}");
        server.join().unwrap();

        let (url, server) = serve_once(409, r#"{"code":"conflict","message":"name taken"}"#);
        let client = Client::new(&url, None, session()).unwrap();
        let e = client.get("/v1/person").unwrap_err();
        assert_eq!(e.to_string(), "name taken (conflict, HTTP 409)");
        server.join().unwrap();
    }

    #[test]
    fn nobody_listening_is_a_connect_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::new(&format!("http://127.0.0.1:{port}"), None, session()).unwrap();
        let e = client.get("/v1/self").unwrap_err();
        assert!(matches!(e, CliError::Connect { .. }), "{e:?}");
        assert!(e.to_string().contains("is the server running?"), "{e}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let auth = session();
        let shown = format!("{auth:?}");
        assert!(!shown.contains("t0k3n"), "{shown}");
        assert!(shown.contains("***"));
    }
}
