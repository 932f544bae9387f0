//! The OAuth2 / OpenID Connect provider, wired: `idm_oidc` (sans-IO) decides, this module looks
//! things up in the store, calls it with the clock and the RNG, stores what it returns and
//! renders its responses.
//!
//! | route | handler |
//! | --- | --- |
//! | `/.well-known/openid-configuration`, `/oauth2/jwks` | [`endpoints::discovery`], [`endpoints::jwks`] |
//! | `/oauth2/authorize` (GET, POST) | [`flow::authorize_get`], [`flow::authorize_post`] |
//! | `/ui/login` (GET, POST), `/ui/consent` (POST) | [`flow::login_get`], [`flow::login_post`], [`flow::consent_post`] |
//! | `/oauth2/par`, `/oauth2/token` | [`endpoints::par`], [`endpoints::token`] |
//! | `/oauth2/introspect`, `/oauth2/revoke` | [`endpoints::introspect`], [`endpoints::revoke`] |
//! | `/oauth2/userinfo` (GET, POST) | [`endpoints::userinfo`] |
//! | `/oauth2/logout` (GET, POST), `/ui/logout` | [`flow::logout_get`], [`flow::logout_post`], [`flow::ui_logout_get`], [`flow::ui_logout_post`] |
//!
//! State lives in the store's ephemeral records (see `idm_store::ephemeral`), never only in this
//! process: codes, SSO sessions, login flows, refresh families, consent, PAR requests, DPoP
//! nonces, replay caches, revoked access-token IDs and the signing keys. What this process keeps
//! is derived and rebuilt on change: the key set with its rendered JWKS and discovery documents
//! ([`published`]), and client registrations with their service accounts ([`clients`]).

pub mod claims;
pub mod clients;
pub mod endpoints;
pub mod flow;
pub mod keys;
pub mod published;
pub mod session;

use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use idm_model::audit::{Actor, AuditEvent, Outcome, Target};
use idm_oidc::{Endpoints, HttpResponse, JwsAlg, KeySet, Provider, ProviderConfig};
use idm_store::Store;

use crate::config::Config;
use crate::error::AppError;
use clients::ClientCache;
use published::Published;

pub use claims::{registration, user_claims};

/// What the OIDC handlers share: the provider (configuration only), the current keys with the
/// documents rendered from them, and the cached client registrations.
pub struct OidcState {
    pub provider: Provider,
    /// The key set and the JWKS and discovery documents rendered for it, swapped together.
    current: RwLock<Current>,
    /// Client registrations and their service accounts, until the store changes.
    pub clients: ClientCache,
    /// The stored keys the current key set was built from (`kid:state`), to rebuild only on
    /// change.
    fingerprint: RwLock<String>,
    /// One RSA key generation at a time.
    rsa_generation: std::sync::Mutex<()>,
    pub sso_idle_secs: i64,
    pub sso_max_secs: i64,
    pub key_publish_secs: i64,
}

impl OidcState {
    /// The provider for the configured origin, with the stored keys (an ES256 key is made on
    /// first start). Blocking.
    pub fn new(store: &Store, cfg: &Config) -> Result<OidcState, AppError> {
        let issuer = cfg.issuer();
        let mut pc = ProviderConfig::new(issuer, cfg.tenant())
            .map_err(|e| AppError::Internal(format!("OIDC provider: {e}")))?;
        pc.endpoints = Endpoints::under(&format!("{issuer}/oauth2"));
        let provider =
            Provider::new(pc).map_err(|e| AppError::Internal(format!("OIDC provider: {e}")))?;
        let now = Utc::now();
        keys::ensure_es256(store, now)?;
        keys::advance(store, now, keys::retire_after(store)?)?;
        let stored = keys::load(store, now)?;
        let current = Current::new(&provider, keys::key_set(&stored)?)?;
        Ok(OidcState {
            provider,
            current: RwLock::new(current),
            clients: ClientCache::default(),
            fingerprint: RwLock::new(fingerprint(&stored)),
            rsa_generation: std::sync::Mutex::new(()),
            sso_idle_secs: cfg.oidc.sso_idle_secs,
            sso_max_secs: cfg.oidc.sso_max_secs,
            key_publish_secs: cfg.oidc.key_publish_secs,
        })
    }

    /// The current key set.
    pub fn keys(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys
            .clone()
    }

    /// The JWKS and discovery documents of the current key set.
    pub fn published(&self) -> Arc<Published> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .published
            .clone()
    }

    /// Carries out due key transitions and reloads the key set if the stored keys changed
    /// (a rotation through the admin socket, another node). Blocking; run each minute.
    pub fn refresh_keys(&self, store: &Store, now: DateTime<Utc>) -> Result<(), AppError> {
        keys::advance(store, now, keys::retire_after(store)?)?;
        let stored = keys::load(store, now)?;
        let fp = fingerprint(&stored);
        if *self.fingerprint.read().unwrap_or_else(|p| p.into_inner()) == fp {
            return Ok(());
        }
        let current = Current::new(&self.provider, keys::key_set(&stored)?)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = current;
        *self.fingerprint.write().unwrap_or_else(|p| p.into_inner()) = fp;
        tracing::info!("signing keys reloaded");
        Ok(())
    }

    /// Makes sure there is an active key for `alg` (RSA keys are made the first time a client
    /// needs one: seconds of work). Blocking.
    pub fn ensure_alg(&self, store: &Store, alg: JwsAlg) -> Result<(), AppError> {
        if self.keys().signing_key(alg).is_ok() {
            return Ok(());
        }
        let _one = self
            .rsa_generation
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if self.keys().signing_key(alg).is_ok() {
            return Ok(());
        }
        keys::ensure_alg(store, alg, Utc::now())?;
        self.refresh_keys(store, Utc::now())
    }
}

/// A key set and what is published for it.
struct Current {
    keys: Arc<KeySet>,
    published: Arc<Published>,
}

impl Current {
    fn new(provider: &Provider, keys: KeySet) -> Result<Current, AppError> {
        let published = Published::render(provider, &keys)?;
        Ok(Current {
            keys: Arc::new(keys),
            published: Arc::new(published),
        })
    }
}

fn fingerprint(keys: &[keys::StoredKey]) -> String {
    let mut parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{}:{:?}", k.kid, k.state))
        .collect();
    parts.sort();
    parts.join(",")
}

/// Turns the protocol crate's response into an HTTP response, verbatim.
pub fn into_response(r: HttpResponse) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (name, value) in &r.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            builder = builder.header(n, v);
        }
    }
    builder.body(Body::from(r.body)).unwrap_or_else(|_| {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        res
    })
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    Utc::now().timestamp()
}

/// A time from unix seconds (for store expiries).
pub fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// One audit record for an OIDC event. Never carries tokens, codes or secrets.
pub struct Audit<'a> {
    pub action: &'a str,
    pub actor: Actor,
    pub target: Option<Target>,
    pub outcome: Outcome,
    pub summary: String,
    pub source: Option<std::net::IpAddr>,
}

impl Audit<'_> {
    /// Writes the record (one transaction); a failure is logged, not passed on, so that an
    /// audit hiccup never turns a completed protocol step into an error the client retries.
    pub fn record(self, store: &Store) {
        let ev = AuditEvent {
            at: Utc::now(),
            actor: self.actor,
            action: self.action.to_owned(),
            target: self.target,
            outcome: self.outcome,
            summary: self.summary,
            source: self.source.map(|s| s.to_string()),
        };
        if let Err(e) = store.record(ev, None) {
            tracing::error!(error = %e, action = self.action, "audit record failed");
        }
    }
}

/// The audit actor for a client.
pub fn client_actor(client_id: &str) -> Actor {
    Actor {
        uuid: None,
        name: format!("oauth2:{}", truncate(client_id, 64)),
    }
}

/// Cuts untrusted text for logs and audit summaries.
pub fn truncate(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
