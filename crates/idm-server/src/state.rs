//! What every request handler shares.

use std::sync::Arc;
use std::time::Instant;

use idm_store::Store;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::error::AppError;
use crate::oidc::OidcState;
use crate::ratelimit::RateLimiter;

/// The shared state: one `Arc`, so that the several clones axum makes per request (the routed
/// service, each middleware, the `State` extractor) are one reference count each, not one per
/// field (measured: ≈ 8% of the CPU of a JWKS request went to cloning and dropping the fields).
/// Fields are reached through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub store: Arc<Store>,
    pub config: Arc<Config>,
    /// Bounds concurrent argon2 work so memory stays flat under a login storm.
    pub hashers: Arc<Semaphore>,
    /// Writes authentication audit events in batches (see `audit`).
    pub audit: Arc<crate::audit::AuditWriter>,
    /// The threads every argon2 call runs on (see `hashpool`).
    pub hash_pool: Arc<crate::hashpool::HashPool>,
    pub ip_limiter: Arc<RateLimiter<std::net::IpAddr>>,
    pub account_limiter: Arc<RateLimiter<String>>,
    /// One password decision at a time per account name, so parallel guesses cannot all read
    /// the same failure count before any of them records a failure.
    pub account_locks: Arc<AccountLocks>,
    /// The OAuth2 / OpenID Connect provider and its signing keys.
    pub oidc: Arc<OidcState>,
    pub started: Instant,
}

/// Per-name async locks, created on demand and dropped when nobody holds or waits for them.
#[derive(Default)]
pub struct AccountLocks {
    map: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl AccountLocks {
    pub async fn lock(self: &Arc<Self>, name: &str) -> AccountGuard {
        let key = name.to_ascii_lowercase();
        let m = match self.map.lock() {
            Ok(mut map) => map.entry(key.clone()).or_default().clone(),
            // A poisoned map only means a panic elsewhere; a fresh lock still serialises
            // everyone who gets it from here on.
            Err(p) => p.into_inner().entry(key.clone()).or_default().clone(),
        };
        let guard = m.clone().lock_owned().await;
        AccountGuard {
            locks: self.clone(),
            key,
            lock: m,
            _guard: Some(guard),
        }
    }
}

pub struct AccountGuard {
    locks: Arc<AccountLocks>,
    key: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    _guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for AccountGuard {
    fn drop(&mut self) {
        self._guard = None;
        if let Ok(mut map) = self.locks.map.lock() {
            // The map's copy and ours: nobody else waits, so the entry can go.
            if Arc::strong_count(&self.lock) <= 2 {
                map.remove(&self.key);
            }
        }
    }
}

impl AppState {
    /// The shared state; loads (on first start: makes) the OIDC signing keys. Blocking.
    pub fn new(store: Arc<Store>, config: Arc<Config>) -> Result<AppState, AppError> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let rl = &config.rate_limit;
        let oidc = Arc::new(OidcState::new(&store, &config)?);
        Ok(AppState(Arc::new(Shared {
            oidc,
            ip_limiter: Arc::new(RateLimiter::new(rl.ip_burst, rl.ip_refill_secs)),
            account_limiter: Arc::new(RateLimiter::new(rl.account_burst, rl.account_refill_secs)),
            account_locks: Arc::new(AccountLocks::default()),
            audit: Arc::new(
                crate::audit::AuditWriter::start(store.clone())
                    .map_err(|e| AppError::Internal(format!("audit thread: {e}")))?,
            ),
            store,
            hashers: Arc::new(Semaphore::new(workers)),
            hash_pool: Arc::new(
                crate::hashpool::HashPool::new(workers, config.password.hash)
                    .map_err(|e| AppError::Internal(format!("argon2 threads: {e}")))?,
            ),
            started: Instant::now(),
            config,
        })))
    }
}
