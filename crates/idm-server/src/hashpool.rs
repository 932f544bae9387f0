//! A fixed set of threads for argon2 work, each with its own argon2 memory.
//!
//! Every argon2id call needs its whole memory cost (19 MiB by default). Allocated per call, that
//! memory either stays in glibc's per-thread arenas (on tokio's blocking pool the resident size
//! grew to hundreds of MiB under a burst of binds and stayed there) or, with a fixed mmap
//! threshold, is mapped and unmapped every time, and faulting its pages in cost a third of a
//! bind's CPU. So every argon2 call runs here: as many threads as there are cores, each owning
//! one [`PasswordHasher`] that allocates its memory on first use and reuses it for every later
//! call. Memory stays at one buffer per thread, with no page faults per login, and the threads
//! bound argon2's concurrency at the same time. A thread zeroes its buffer when it finds no job
//! waiting (see [`PasswordHasher::wipe`]): a busy thread does not pay for that on every login,
//! and an idle one does not keep the last login's memory.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, TryLockError};

use idm_mfa::{HashParams, PasswordHasher};

use crate::error::AppError;

type Job = Box<dyn FnOnce(&mut PasswordHasher) + Send>;

pub struct HashPool {
    tx: SyncSender<Job>,
}

/// Jobs that may wait for a thread; beyond that, senders block (they are blocking threads).
const QUEUE: usize = 1024;

impl HashPool {
    /// Starts `threads` threads whose hashers keep memory for `params` (the configured cost;
    /// a stored hash asking for more borrows memory for that call only).
    pub fn new(threads: usize, params: HashParams) -> std::io::Result<HashPool> {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx: Arc<Mutex<Receiver<Job>>> = rx.clone();
            std::thread::Builder::new()
                .name(format!("idm-argon2-{i}"))
                .spawn(move || {
                    let mut hasher = PasswordHasher::new(&params);
                    while let Some(job) = next_job(&rx, &mut hasher) {
                        job(&mut hasher);
                    }
                })?;
        }
        Ok(HashPool { tx })
    }

    /// Runs `f` with a pool thread's hasher and waits for it. Call from blocking code only.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let (rtx, rrx) = sync_channel(1);
        self.tx
            .send(Box::new(move |hasher: &mut PasswordHasher| {
                let _ = rtx.send(f(hasher));
            }))
            .map_err(|_| AppError::Internal("argon2 pool stopped".into()))?;
        rrx.recv()
            .map_err(|_| AppError::Internal("argon2 job lost".into()))
    }
}

/// The next job, or `None` once the pool was dropped. Wipes the hasher before waiting: a
/// thread that finds the receiver taken is not needed either (another one is already waiting).
fn next_job(rx: &Mutex<Receiver<Job>>, hasher: &mut PasswordHasher) -> Option<Job> {
    let queued = match rx.try_lock() {
        Ok(r) => r.try_recv().ok(),
        Err(TryLockError::WouldBlock) => None,
        Err(TryLockError::Poisoned(_)) => return None,
    };
    if queued.is_some() {
        return queued;
    }
    hasher.wipe();
    rx.lock().ok()?.recv().ok()
}

#[cfg(test)]
mod tests {
    use idm_mfa::{Password, Verified};

    use super::*;

    const FAST: HashParams = HashParams {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };

    #[test]
    fn runs_jobs_and_returns_results() {
        let p = HashPool::new(2, FAST).unwrap();
        let handles: Vec<_> = (0..8u64)
            .map(|i| {
                let p = Arc::new(p.tx.clone());
                std::thread::spawn(move || {
                    let pool = HashPool { tx: (*p).clone() };
                    pool.run(move |_| i * 2).unwrap()
                })
            })
            .collect();
        let mut out: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        out.sort_unstable();
        assert_eq!(out, vec![0, 2, 4, 6, 8, 10, 12, 14]);
        let name = p
            .run(|_| std::thread::current().name().map(str::to_owned))
            .unwrap();
        assert!(name.unwrap().starts_with("idm-argon2-"));
    }

    #[test]
    fn each_thread_keeps_one_hasher() {
        let p = HashPool::new(1, FAST).unwrap();
        let phc = p
            .run(|h| h.hash(&Password::from("pw"), &[7; 16], &FAST))
            .unwrap()
            .unwrap();
        for _ in 0..3 {
            let phc = phc.clone();
            let (v, kept) = p
                .run(move |h| {
                    let v = h.verify(&Password::from("pw"), &phc, &FAST);
                    (v, h.retained_bytes())
                })
                .unwrap();
            assert_eq!(
                v,
                Ok(Verified {
                    ok: true,
                    needs_rehash: false
                })
            );
            // The memory of the first call is still there: reused, not allocated again.
            assert_eq!(kept, 64 * 1024);
        }
    }
}
