//! Server configuration: embedded defaults, an optional TOML file, and environment overrides
//! (`IDM_DATA`, `IDM_ORIGIN`, `IDM_HTTPS_BIND`, `IDM_HTTP_BIND`, `IDM_LOG_FORMAT`, …), in that
//! order of precedence.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use idm_mfa::{HashParams, LockoutPolicy, PasswordPolicy};
use idm_model::posix::IdRange;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the database, TLS material and admin socket live.
    pub data_dir: PathBuf,
    /// The public origin (`https://idm.example.com`); the issuer of tokens later.
    pub origin: String,
    pub https: HttpsConfig,
    pub ldap: LdapConfig,
    pub password: PasswordConfig,
    pub lockout: LockoutPolicy,
    pub rate_limit: RateLimitConfig,
    pub posix: IdRange,
    pub store: StoreSettings,
    /// The OAuth2 / OpenID Connect provider.
    pub oidc: OidcConfig,
    /// Lifetime of an admin API session from `/v1/auth`.
    pub session_ttl_secs: i64,
    /// `text` or `json`.
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpsConfig {
    pub bind: SocketAddr,
    /// PEM certificate chain and key; when both are absent a dev CA and certificate are made
    /// in `<data_dir>/tls/` on first start.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Most simultaneous connections; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// A plain-HTTP listener for a TLS-terminating reverse proxy (`IDM_HTTP_BIND`; off by
    /// default). It answers only requests from `trusted_proxies` that say
    /// `X-Forwarded-Proto: https` (or `Forwarded: proto=https`); everything else but `/health/*`
    /// gets 403. The issuer stays `origin`.
    pub plain_http_bind: Option<SocketAddr>,
    /// Peers whose `X-Forwarded-For` / `X-Forwarded-Proto` / `Forwarded` headers are believed,
    /// on either listener. The client address for rate limits and audit comes from them.
    pub trusted_proxies: Vec<IpAddr>,
}

/// The OAuth2 / OpenID Connect provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The `tenant` claim of every token; the origin's host name when unset.
    pub tenant: Option<String>,
    /// A single sign-on session unused this long ends.
    pub sso_idle_secs: i64,
    /// A single sign-on session ends this long after the login, used or not.
    pub sso_max_secs: i64,
    /// After `idm-server rotate-keys`, how long the next signing keys are published in the
    /// JWKS before they sign (relying parties cache the JWKS; the server says `max-age=300`).
    pub key_publish_secs: i64,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            tenant: None,
            sso_idle_secs: 3600,
            sso_max_secs: 36_000,
            key_publish_secs: 900,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// The database page cache in MiB: bounds resident memory. LDAP and cached OIDC clients
    /// answer from memory of their own, so the cache mostly serves the admin API and the audit
    /// writer; pages it misses come from the OS page cache. 16 MiB keeps a 10,000-person
    /// server at about 29 MiB after LDAP searches (64 MiB: 85–98 MiB); raise it for large
    /// directories managed through the API.
    pub cache_mib: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings { cache_mib: 16 }
    }
}

/// The read-only LDAP directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapConfig {
    /// LDAPS listener; `None` turns LDAP off.
    pub ldaps_bind: Option<SocketAddr>,
    /// Optional plain listener that only allows StartTLS (no simple bind before TLS).
    pub starttls_bind: Option<SocketAddr>,
    /// The directory suffix; by default made from the origin's host name
    /// (`idm.example.com` → `dc=idm,dc=example,dc=com`).
    pub base_dn: Option<String>,
    pub max_connections: usize,
    /// A connection idle this long is closed.
    pub idle_timeout_secs: u64,
    /// Largest LDAP message accepted.
    pub max_message_bytes: usize,
    /// Most entries one non-paged search returns.
    pub max_size_limit: u32,
    /// Peers allowed to send a PROXY protocol (v1/v2) header with the client's real address.
    pub proxy_protocol_from: Vec<std::net::IpAddr>,
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig {
            ldaps_bind: Some(SocketAddr::from(([127, 0, 0, 1], 3636))),
            starttls_bind: None,
            base_dn: None,
            max_connections: 1024,
            idle_timeout_secs: 300,
            max_message_bytes: 256 * 1024,
            max_size_limit: 10_000,
            proxy_protocol_from: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordConfig {
    pub hash: HashParams,
    pub policy: PasswordPolicy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Authentication attempts per source address: burst, then one per `ip_refill_secs`.
    pub ip_burst: u32,
    pub ip_refill_secs: f64,
    /// Authentication attempts per account name.
    pub account_burst: u32,
    pub account_refill_secs: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("idm-data"),
            origin: "https://localhost:8443".into(),
            https: HttpsConfig::default(),
            ldap: LdapConfig::default(),
            password: PasswordConfig::default(),
            lockout: LockoutPolicy::default(),
            rate_limit: RateLimitConfig::default(),
            posix: IdRange::default(),
            store: StoreSettings::default(),
            oidc: OidcConfig::default(),
            session_ttl_secs: 3600,
            log_format: LogFormat::Text,
        }
    }
}

impl Default for HttpsConfig {
    fn default() -> Self {
        HttpsConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8443)),
            cert: None,
            key: None,
            max_connections: 4096,
            max_body_bytes: 1024 * 1024,
            plain_http_bind: None,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            ip_burst: 30,
            ip_refill_secs: 1.0,
            account_burst: 10,
            account_refill_secs: 6.0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: &'static str, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, then the file (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut c = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: p.to_owned(),
                    message: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        c.apply_env(|k| std::env::var(k).ok())?;
        c.validate()?;
        Ok(c)
    }

    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("IDM_DATA") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("IDM_ORIGIN") {
            self.origin = v;
        }
        if let Some(v) = get("IDM_HTTPS_BIND") {
            self.https.bind = v.parse().map_err(|e| ConfigError::Env {
                name: "IDM_HTTPS_BIND",
                message: format!("{e} (expected ADDRESS:PORT)"),
            })?;
        }
        if let Some(v) = get("IDM_HTTP_BIND") {
            self.https.plain_http_bind = parse_optional_addr("IDM_HTTP_BIND", &v)?;
        }
        if let Some(v) = get("IDM_LDAPS_BIND") {
            self.ldap.ldaps_bind = parse_optional_addr("IDM_LDAPS_BIND", &v)?;
        }
        if let Some(v) = get("IDM_LDAP_STARTTLS_BIND") {
            self.ldap.starttls_bind = parse_optional_addr("IDM_LDAP_STARTTLS_BIND", &v)?;
        }
        if let Some(v) = get("IDM_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                _ => {
                    return Err(ConfigError::Env {
                        name: "IDM_LOG_FORMAT",
                        message: "expected text or json".into(),
                    });
                }
            };
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.origin.starts_with("https://") && !self.origin.starts_with("http://localhost") {
            return Err(ConfigError::Invalid(format!(
                "origin {:?} must be an https:// URL",
                self.origin
            )));
        }
        if self.https.cert.is_some() != self.https.key.is_some() {
            return Err(ConfigError::Invalid(
                "https.cert and https.key go together".into(),
            ));
        }
        if self.session_ttl_secs < 60 || self.session_ttl_secs > 86_400 {
            return Err(ConfigError::Invalid(
                "session_ttl_secs must be between 60 and 86400".into(),
            ));
        }
        if self.lockout.max_failures == 0 {
            return Err(ConfigError::Invalid(
                "lockout.max_failures must be at least 1".into(),
            ));
        }
        if self.password.policy.min_length < 8 {
            return Err(ConfigError::Invalid(
                "password.policy.min_length must be at least 8".into(),
            ));
        }
        self.posix
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(b) = &self.ldap.base_dn
            && (b.is_empty() || !b.contains('='))
        {
            return Err(ConfigError::Invalid(format!(
                "ldap.base_dn {b:?} is not a DN"
            )));
        }
        let o = &self.oidc;
        if o.sso_idle_secs < 60 || o.sso_max_secs < o.sso_idle_secs || o.sso_max_secs > 90 * 86_400
        {
            return Err(ConfigError::Invalid(
                "oidc.sso_idle_secs must be at least 60 and at most oidc.sso_max_secs (at most 90 days)"
                    .into(),
            ));
        }
        if !(0..=7 * 86_400).contains(&o.key_publish_secs) {
            return Err(ConfigError::Invalid(
                "oidc.key_publish_secs must be between 0 and 604800".into(),
            ));
        }
        if o.tenant
            .as_ref()
            .is_some_and(|t| t.is_empty() || t.len() > 255)
        {
            return Err(ConfigError::Invalid(
                "oidc.tenant must be 1-255 characters".into(),
            ));
        }
        if self.rate_limit.ip_burst == 0 || self.rate_limit.account_burst == 0 {
            return Err(ConfigError::Invalid(
                "rate_limit bursts must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The host part of the origin (`https://idm.example.com:8443/` → `idm.example.com`).
    pub fn origin_host(&self) -> Option<&str> {
        self.origin
            .split("://")
            .nth(1)
            .and_then(|r| r.split(['/', ':']).next())
            .filter(|h| !h.is_empty())
    }

    /// The OIDC issuer: the origin without a trailing slash.
    pub fn issuer(&self) -> &str {
        self.origin.trim_end_matches('/')
    }

    /// The `tenant` claim: configured, or the origin's host name.
    pub fn tenant(&self) -> &str {
        self.oidc
            .tenant
            .as_deref()
            .or_else(|| self.origin_host())
            .unwrap_or("localhost")
    }

    /// The LDAP suffix: configured, or one `dc=` per label of the origin's host name.
    pub fn ldap_base_dn(&self) -> String {
        if let Some(b) = &self.ldap.base_dn {
            return b.clone();
        }
        let host = self.origin_host().unwrap_or("localhost");
        if host.parse::<std::net::IpAddr>().is_ok() {
            return "dc=localhost".into();
        }
        host.split('.')
            .filter(|l| !l.is_empty())
            .map(|l| format!("dc={l}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(idm_store::DB_FILE)
    }

    pub fn socket_path(&self) -> PathBuf {
        self.data_dir.join("admin.sock")
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }
}

/// `off` (or empty) disables a listener; anything else must be ADDRESS:PORT.
fn parse_optional_addr(name: &'static str, v: &str) -> Result<Option<SocketAddr>, ConfigError> {
    if v.is_empty() || v == "off" {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|e| ConfigError::Env {
        name,
        message: format!("{e} (expected ADDRESS:PORT or off)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file() {
        let mut c: Config = toml::from_str(
            r#"
            data_dir = "/var/lib/idm"
            origin = "https://idm.example.com"
            [https]
            bind = "0.0.0.0:443"
            [lockout]
            max_failures = 3
            "#,
        )
        .unwrap();
        assert_eq!(c.lockout.max_failures, 3);
        c.apply_env(|k| match k {
            "IDM_HTTPS_BIND" => Some("127.0.0.1:9443".into()),
            "IDM_DATA" => Some("/tmp/x".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.https.bind.port(), 9443);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.origin, "https://idm.example.com");
        c.validate().unwrap();
        assert_eq!(c.ldap_base_dn(), "dc=idm,dc=example,dc=com");
        c.apply_env(|k| (k == "IDM_LDAPS_BIND").then(|| "off".into()))
            .unwrap();
        assert_eq!(c.ldap.ldaps_bind, None);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(toml::from_str::<Config>("nonsense = 1").is_err());
        let mut c = Config::default();
        assert!(
            c.apply_env(|k| (k == "IDM_HTTPS_BIND").then(|| "nope".into()))
                .is_err()
        );
        c.origin = "ftp://x".into();
        assert!(c.validate().is_err());
    }
}
