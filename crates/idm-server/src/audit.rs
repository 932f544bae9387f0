//! Authentication audit events, written by one thread in batches (group commit).
//!
//! Every redb commit is an fsync (about half a millisecond here). Written one transaction per
//! bind, audit capped API-token binds near 2,000 per second whatever the concurrency. One
//! writer that takes everything queued while the previous commit was on disk turns a burst of
//! decisions into one commit: throughput then grows with concurrency instead of being fixed by
//! the disk.
//!
//! Two ways in: [`AuditWriter::record`] waits until the event is durable (password decisions
//! and lockout state, which must survive a crash before the answer goes out), and
//! [`AuditWriter::submit`] only queues (API-token and anonymous binds: a crash may lose the
//! last batch of those events, never a committed change). Readers of the audit log call
//! [`AuditWriter::flush`] first, so they always see what was decided before they asked.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::error::AppError;
use idm_model::audit::AuditEvent;
use idm_store::Store;

pub use idm_store::AuthStateUpdate as AuthState;

// Flushes are rare; boxing every event to shrink them would cost an allocation per bind.
#[allow(clippy::large_enum_variant)]
enum Job {
    Event {
        event: AuditEvent,
        auth_state: AuthState,
        done: Option<SyncSender<Result<u64, String>>>,
    },
    Flush(SyncSender<()>),
}

/// Events that may wait for the writer; beyond that, submitters block until it catches up.
const QUEUE: usize = 8192;
/// At most this many events in one transaction, so one commit never grows without bound.
const BATCH: usize = 1024;

pub struct AuditWriter {
    tx: SyncSender<Job>,
}

impl AuditWriter {
    pub fn start(store: Arc<Store>) -> std::io::Result<AuditWriter> {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("idm-audit".into())
            .spawn(move || write_loop(&store, &rx))?;
        Ok(AuditWriter { tx })
    }

    /// Writes `event` (and the account's new state) and waits until it is on disk. Blocking.
    pub fn record(&self, event: AuditEvent, auth_state: AuthState) -> Result<u64, AppError> {
        let (done, wait) = sync_channel(1);
        self.send(Job::Event {
            event,
            auth_state,
            done: Some(done),
        })?;
        wait.recv()
            .map_err(|_| AppError::Internal("audit writer stopped".into()))?
            .map_err(|e| AppError::Internal(format!("audit: {e}")))
    }

    /// Queues `event` to be written with the next batch; returns at once unless the queue is
    /// full. Write errors are logged by the writer.
    pub fn submit(&self, event: AuditEvent) {
        if let Err(e) = self.send(Job::Event {
            event,
            auth_state: None,
            done: None,
        }) {
            tracing::error!(error = %e, "cannot queue an audit event");
        }
    }

    /// Waits until every event queued before this call is on disk. Blocking.
    pub fn flush(&self) -> Result<(), AppError> {
        let (done, wait) = sync_channel(1);
        self.send(Job::Flush(done))?;
        wait.recv()
            .map_err(|_| AppError::Internal("audit writer stopped".into()))
    }

    fn send(&self, job: Job) -> Result<(), AppError> {
        self.tx
            .send(job)
            .map_err(|_| AppError::Internal("audit writer stopped".into()))
    }
}

fn write_loop(store: &Store, rx: &Receiver<Job>) {
    // Ends when every sender is gone (the server stopped).
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut items = Vec::with_capacity(jobs.len());
        let mut waiters = Vec::with_capacity(jobs.len());
        let mut flushes = Vec::new();
        for job in jobs {
            match job {
                Job::Event {
                    event,
                    auth_state,
                    done,
                } => {
                    items.push((event, auth_state));
                    waiters.push(done);
                }
                Job::Flush(done) => flushes.push(done),
            }
        }
        if !items.is_empty() {
            let n = items.len();
            match store.record_many(items) {
                Ok(seqs) => {
                    for (w, seq) in waiters.into_iter().zip(seqs) {
                        if let Some(w) = w {
                            let _ = w.send(Ok(seq));
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, events = n, "cannot write audit events");
                    for w in waiters.into_iter().flatten() {
                        let _ = w.send(Err(e.to_string()));
                    }
                }
            }
        }
        // Flushes come after the events queued before them in the same batch: answered last.
        for f in flushes {
            let _ = f.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use idm_model::audit::{Actor, Outcome};
    use idm_store::{AuditFilter, StoreConfig};
    use uuid::Uuid;

    fn ev(name: &str) -> AuditEvent {
        AuditEvent {
            at: Utc::now(),
            actor: Actor {
                uuid: None,
                name: name.into(),
            },
            action: "auth.token".into(),
            target: None,
            outcome: Outcome::Success,
            summary: "test".into(),
            source: None,
        }
    }

    #[test]
    fn concurrent_events_are_all_written_in_order_and_chained() {
        let store = Arc::new(Store::in_memory(StoreConfig::default()).unwrap());
        let w = Arc::new(AuditWriter::start(store.clone()).unwrap());
        let before = store.counts().unwrap().audit_entries;
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    let mut seqs = Vec::new();
                    for i in 0..50 {
                        if i % 2 == 0 {
                            seqs.push(w.record(ev(&format!("t{t}-{i}")), None).unwrap());
                        } else {
                            w.submit(ev(&format!("t{t}-{i}")));
                        }
                    }
                    seqs
                })
            })
            .collect();
        let mut seqs: Vec<u64> = threads
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        w.flush().unwrap();
        assert_eq!(store.counts().unwrap().audit_entries, before + 400);
        // Within one thread, events keep their order.
        let all = store
            .audit(&AuditFilter {
                limit: 1000,
                ..Default::default()
            })
            .unwrap();
        for t in 0..8 {
            let mine: Vec<String> = all
                .iter()
                .rev()
                .map(|e| e.event.actor.name.clone())
                .filter(|n| n.starts_with(&format!("t{t}-")))
                .collect();
            let want: Vec<String> = (0..50).map(|i| format!("t{t}-{i}")).collect();
            assert_eq!(mine, want);
        }
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(
            seqs.len(),
            200,
            "every waited event got its own sequence number"
        );
        let r = store.verify().unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
    }

    #[test]
    fn record_stores_the_auth_state() {
        let store = Arc::new(Store::in_memory(StoreConfig::default()).unwrap());
        let w = AuditWriter::start(store.clone()).unwrap();
        let u = Uuid::from_u128(42);
        w.record(ev("a"), Some((u, Some(b"s".to_vec())))).unwrap();
        assert_eq!(store.auth_state(u).unwrap().as_deref(), Some(&b"s"[..]));
        w.record(ev("a"), Some((u, None))).unwrap();
        assert_eq!(store.auth_state(u).unwrap(), None);
    }
}
