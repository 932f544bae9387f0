//! What every request handler shares.

use std::sync::Arc;
use std::time::Instant;

use idm_store::Store;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::ratelimit::RateLimiter;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub config: Arc<Config>,
    /// Bounds concurrent argon2 work so memory stays flat under a login storm.
    pub hashers: Arc<Semaphore>,
    pub ip_limiter: Arc<RateLimiter<std::net::IpAddr>>,
    pub account_limiter: Arc<RateLimiter<String>>,
    pub started: Instant,
}

impl AppState {
    pub fn new(store: Arc<Store>, config: Arc<Config>) -> AppState {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let rl = &config.rate_limit;
        AppState {
            ip_limiter: Arc::new(RateLimiter::new(rl.ip_burst, rl.ip_refill_secs)),
            account_limiter: Arc::new(RateLimiter::new(rl.account_burst, rl.account_refill_secs)),
            store,
            hashers: Arc::new(Semaphore::new(workers)),
            started: Instant::now(),
            config,
        }
    }
}
