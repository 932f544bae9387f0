//! The commands, one module per area, and what they share: [`Ctx`] (server, output mode, the
//! moment the command started), path building and reading secrets from the user.

pub mod account;
pub mod audit;
pub mod auth;
pub mod credential;
pub mod group;
pub mod oauth2;
pub mod person;
pub mod service_account;

use std::io::{BufRead, IsTerminal, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::cache::TokenCache;
use crate::client::{Auth, CliError, Client, Secret, decode, normalise_url};
use crate::output;

/// Where the server's first start writes its development CA, relative to where it runs.
pub const DEV_CA: &str = "idm-data/tls/ca.pem";

/// Everything a command needs besides its own arguments.
#[derive(Debug)]
pub struct Ctx {
    /// The server URL, normalised: also the token cache's key.
    pub url: String,
    pub ca: Option<PathBuf>,
    pub json: bool,
    /// When the command started: relative times and session expiry are measured from it.
    pub now: DateTime<Utc>,
    /// `IDM_TOKEN`, which wins over the cached session.
    pub env_token: Option<Secret>,
    /// The token cache; `None` when the user has no cache directory.
    pub cache: Option<TokenCache>,
}

impl Ctx {
    pub fn new(
        url: &str,
        ca: Option<PathBuf>,
        json: bool,
        now: DateTime<Utc>,
        env_token: Option<Secret>,
        cache: Option<TokenCache>,
    ) -> Result<Self, CliError> {
        Ok(Ctx {
            url: normalise_url(url)?,
            ca,
            json,
            now,
            env_token,
            cache,
        })
    }

    /// A client that authenticates with `IDM_TOKEN`, else the cached session for this server.
    pub fn client(&self) -> Result<Client, CliError> {
        let auth = match &self.env_token {
            Some(t) => Auth::Env(t.clone()),
            None => match self.cache()?.get(&self.url)? {
                Some(s) if s.expires_at <= self.now => {
                    return Err(CliError::SessionExpired {
                        name: s.name,
                        expired_at: s.expires_at,
                    });
                }
                Some(s) => Auth::Session {
                    name: s.name,
                    token: s.token,
                },
                None => Auth::Missing,
            },
        };
        self.client_with(auth)
    }

    pub fn client_with(&self, auth: Auth) -> Result<Client, CliError> {
        Client::new(&self.url, self.ca.as_deref(), auth)
    }

    pub fn cache(&self) -> Result<&TokenCache, CliError> {
        self.cache.as_ref().ok_or(CliError::NoCacheDir)
    }

    /// Prints `v` as JSON under `--json`, else as `render` makes of its typed form.
    pub fn show<T: DeserializeOwned>(
        &self,
        v: Value,
        render: impl FnOnce(T, &Ctx) -> String,
    ) -> Result<(), CliError> {
        if self.json {
            return print(&format!("{}\n", output::json(&v)));
        }
        let typed = decode(v)?;
        print(&render(typed, self))
    }

    /// Confirms a change: the response body under `--json` (nothing for a 204), else `message`.
    pub fn done(&self, v: Value, message: &str) -> Result<(), CliError> {
        if self.json {
            if v.is_null() {
                return Ok(());
            }
            return print(&format!("{}\n", output::json(&v)));
        }
        print(&format!("{message}\n"))
    }
}

/// The CA to trust: `--ca`/`IDM_CA`, else the dev CA under `cwd` if the server made one there,
/// else none (the webpki roots).
pub fn resolve_ca(flag: Option<PathBuf>, cwd: &Path) -> Option<PathBuf> {
    flag.or_else(|| {
        let dev = cwd.join(DEV_CA);
        dev.is_file().then_some(dev)
    })
}

/// Writes to stdout; a closed pipe (`idm person list | head -1`) ends output quietly instead
/// of panicking as `print!` would.
pub fn print(s: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Io {
            context: "cannot write to stdout",
            source: e,
        }),
        _ => Ok(()),
    }
}

/// One path segment: a name, UUID or label, percent-encoded so that any character is taken
/// literally by the server and `.`/`..` cannot climb the path.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let only_dots = !s.is_empty() && s.bytes().all(|b| b == b'.');
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') || (b == b'.' && !only_dots)
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a query value (same rules as a path segment).
pub fn query_value(s: &str) -> String {
    seg(s)
}

/// A password typed on the terminal without echo.
pub fn prompt_secret(prompt: &str, what: &'static str) -> Result<Zeroizing<String>, CliError> {
    let s = rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|source| CliError::NoTerminal { what, source })?;
    non_empty(s, what)
}

/// The first line of stdin, without its line ending (other whitespace is part of a password).
pub fn read_secret_stdin(what: &'static str) -> Result<Zeroizing<String>, CliError> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|source| CliError::Io {
            context: "cannot read stdin",
            source,
        })?;
    let len = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(len);
    non_empty(line, what)
}

/// All of stdin, trimmed: for an SSH public key given as `-`.
pub fn read_stdin_all() -> Result<String, CliError> {
    if std::io::stdin().is_terminal() {
        eprintln!("reading from stdin; end with Ctrl-D");
    }
    let mut s = String::new();
    std::io::stdin()
        .lock()
        .read_to_string(&mut s)
        .map_err(|source| CliError::Io {
            context: "cannot read stdin",
            source,
        })?;
    Ok(s.trim().to_owned())
}

fn non_empty(s: Zeroizing<String>, what: &str) -> Result<Zeroizing<String>, CliError> {
    if s.is_empty() {
        return Err(CliError::Input(format!("empty {what}")));
    }
    Ok(s)
}

/// `a, b, c`, or empty for none (shown as `-`).
pub fn join<I: IntoIterator<Item = S>, S: AsRef<str>>(items: I) -> String {
    items
        .into_iter()
        .map(|s| s.as_ref().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An account's state at `now`, as the server's `account_usable` decides it.
pub fn account_status(
    lock: Option<&idm_model::Lock>,
    valid_from: Option<DateTime<Utc>>,
    expire_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> String {
    if let Some(l) = lock {
        return format!(
            "locked by {} at {}: {}",
            l.actor,
            crate::time::show(l.at),
            l.reason
        );
    }
    if valid_from.is_some_and(|f| now < f) {
        return "not yet valid".to_owned();
    }
    if expire_at.is_some_and(|u| now >= u) {
        return "expired".to_owned();
    }
    "active".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_literal() {
        assert_eq!(seg("alice"), "alice");
        assert_eq!(seg("first.last"), "first.last");
        assert_eq!(seg("my key/1"), "my%20key%2F1");
        assert_eq!(seg(".."), "%2E%2E");
        assert_eq!(seg("a?b#c%"), "a%3Fb%23c%25");
        assert_eq!(seg("zoë"), "zo%C3%AB");
        assert_eq!(
            query_value("2026-01-01T00:00:00+01:00"),
            "2026-01-01T00%3A00%3A00%2B01%3A00"
        );
    }

    #[test]
    fn ca_falls_back_to_the_dev_ca() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve_ca(None, dir.path()), None);
        let flag = PathBuf::from("/etc/idm/ca.pem");
        assert_eq!(
            resolve_ca(Some(flag.clone()), dir.path()),
            Some(flag.clone())
        );

        let dev = dir.path().join(DEV_CA);
        std::fs::create_dir_all(dev.parent().unwrap()).unwrap();
        std::fs::write(&dev, "pem").unwrap();
        assert_eq!(resolve_ca(None, dir.path()), Some(dev));
        assert_eq!(resolve_ca(Some(flag.clone()), dir.path()), Some(flag));
    }

    fn ctx_with_cache(dir: &Path, env_token: Option<&str>) -> Ctx {
        let now = crate::time::parse_time("2026-06-01").unwrap();
        let cache = TokenCache::at(dir.join("tokens.json"));
        let env_token = env_token.map(|t| Secret::new(t.to_owned()));
        Ctx::new(
            "https://idm.test:8443/",
            None,
            false,
            now,
            env_token,
            Some(cache),
        )
        .unwrap()
    }

    fn cache_session(ctx: &Ctx, expires: &str) {
        let session = crate::cache::Session {
            name: "admin".into(),
            token: Secret::new("cached".into()),
            expires_at: crate::time::parse_time(expires).unwrap(),
        };
        ctx.cache().unwrap().put(&ctx.url, session).unwrap();
    }

    #[test]
    fn expired_sessions_are_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx_with_cache(dir.path(), None);
        cache_session(&ctx, "2026-05-31");
        let e = ctx.client().unwrap_err();
        assert_eq!(
            e.to_string(),
            "the session of admin expired at 2026-05-31T00:00:00Z: run `idm login -D admin`"
        );
    }

    #[test]
    fn idm_token_wins_over_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx_with_cache(dir.path(), Some("from-env"));
        cache_session(&ctx, "2026-05-31");
        // The expired cached session is not even looked at.
        assert!(ctx.client().is_ok());
        assert!(ctx_with_cache(dir.path(), None).client().is_err());
    }

    #[test]
    fn sessions_are_keyed_by_the_normalised_url() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx_with_cache(dir.path(), None);
        assert_eq!(ctx.url, "https://idm.test:8443");
        cache_session(&ctx, "2026-07-01");
        assert!(ctx.client().is_ok());
        let stored = ctx.cache().unwrap().get("https://idm.test:8443").unwrap();
        assert_eq!(stored.map(|s| s.name), Some("admin".to_owned()));
    }

    #[test]
    fn no_cache_dir_is_a_clear_error() {
        let now = crate::time::parse_time("2026-06-01").unwrap();
        let ctx = Ctx::new("https://idm.test", None, false, now, None, None).unwrap();
        assert!(matches!(ctx.client(), Err(CliError::NoCacheDir)));
    }

    #[test]
    fn status_follows_lock_and_validity() {
        let t = |s| crate::time::parse_time(s).unwrap();
        let now = t("2026-06-01");
        assert_eq!(account_status(None, None, None, now), "active");
        assert_eq!(
            account_status(None, Some(t("2026-07-01")), None, now),
            "not yet valid"
        );
        assert_eq!(
            account_status(None, None, Some(t("2026-06-01")), now),
            "expired"
        );
        assert_eq!(
            account_status(None, Some(t("2026-01-01")), Some(t("2027-01-01")), now),
            "active"
        );
        let lock = idm_model::Lock {
            reason: "left".into(),
            actor: "admin".into(),
            at: t("2026-05-01"),
        };
        assert_eq!(
            account_status(Some(&lock), None, None, now),
            "locked by admin at 2026-05-01T00:00:00Z: left"
        );
    }
}
