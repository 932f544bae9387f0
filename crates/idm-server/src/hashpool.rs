//! A fixed set of threads for argon2 work.
//!
//! Every argon2id call allocates its whole memory cost (19 MiB by default). Run on tokio's
//! blocking pool, those allocations land in whichever of glibc's per-thread arenas the thread
//! uses, and each arena keeps its freed 19 MiB: under a burst of binds the resident size grew to
//! hundreds of MiB and stayed there. Running all argon2 calls on as many threads as there are
//! cores keeps that memory to one block per thread, and bounds the concurrency at the same time.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use crate::error::AppError;

type Job = Box<dyn FnOnce() + Send>;

pub struct HashPool {
    tx: SyncSender<Job>,
}

/// Jobs that may wait for a thread; beyond that, senders block (they are blocking threads).
const QUEUE: usize = 1024;

impl HashPool {
    pub fn new(threads: usize) -> std::io::Result<HashPool> {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx: Arc<Mutex<Receiver<Job>>> = rx.clone();
            std::thread::Builder::new()
                .name(format!("idm-argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the pool was dropped
                        }
                    }
                })?;
        }
        Ok(HashPool { tx })
    }

    /// Runs `f` on a pool thread and waits for it. Call from blocking code only.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let (rtx, rrx) = sync_channel(1);
        self.tx
            .send(Box::new(move || {
                let _ = rtx.send(f());
            }))
            .map_err(|_| AppError::Internal("argon2 pool stopped".into()))?;
        rrx.recv()
            .map_err(|_| AppError::Internal("argon2 job lost".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_and_returns_results() {
        let p = HashPool::new(2).unwrap();
        let handles: Vec<_> = (0..8u64)
            .map(|i| {
                let p = Arc::new(p.tx.clone());
                std::thread::spawn(move || {
                    let pool = HashPool { tx: (*p).clone() };
                    pool.run(move || i * 2).unwrap()
                })
            })
            .collect();
        let mut out: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        out.sort_unstable();
        assert_eq!(out, vec![0, 2, 4, 6, 8, 10, 12, 14]);
        let name = p
            .run(|| std::thread::current().name().map(str::to_owned))
            .unwrap();
        assert!(name.unwrap().starts_with("idm-argon2-"));
    }
}
