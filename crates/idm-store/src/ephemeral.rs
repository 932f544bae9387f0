//! Short-lived protocol state with expiry: authorization codes, SSO sessions, refresh-token
//! families, remembered consent, signing keys, replay caches. Kept in the store (never only in
//! one process) so that several server nodes can share it later, and swept when expired.
//!
//! [`Store::update_ephemeral`] reads and rewrites one record in a single write transaction —
//! the primitive that makes "use a code once" and "rotate a refresh token" race-free.

use chrono::{DateTime, Utc};
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::error::Result;
use crate::tables::EPHEMERAL;

/// The key spaces. The number is part of the stored key: never reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    AuthorizationCode = 1,
    SsoSession = 2,
    RefreshToken = 3,
    RefreshFamily = 4,
    Consent = 5,
    SigningKey = 6,
    ReplayJti = 7,
    ParRequest = 8,
    DpopNonce = 9,
    RevokedToken = 10,
    LoginFlow = 11,
    PendingSecret = 12,
    /// One-time credential-reset tokens (by digest).
    CredentialReset = 13,
    /// Enrolment and WebAuthn ceremonies in progress, and reset sessions.
    MfaCeremony = 14,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    expires_at: i64,
    data: serde_json::Value,
}

/// A record and its expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<T> {
    pub value: T,
    pub expires_at: DateTime<Utc>,
}

impl Store {
    pub fn put_ephemeral<T: Serialize>(
        &self,
        kind: Kind,
        key: &str,
        value: &T,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let bytes = serde_json::to_vec(&Stored {
            expires_at: expires_at.timestamp(),
            data: serde_json::to_value(value)?,
        })?;
        let txn = self.db().begin_write()?;
        txn.open_table(EPHEMERAL)?
            .insert((kind as u8, key), bytes.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// The record if present and not expired at `now`.
    pub fn get_ephemeral<T: for<'de> Deserialize<'de>>(
        &self,
        kind: Kind,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Record<T>>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(EPHEMERAL)?;
        let Some(v) = t.get((kind as u8, key))? else {
            return Ok(None);
        };
        decode(v.value(), now)
    }

    pub fn delete_ephemeral(&self, kind: Kind, key: &str) -> Result<bool> {
        let txn = self.db().begin_write()?;
        let existed = txn
            .open_table(EPHEMERAL)?
            .remove((kind as u8, key))?
            .is_some();
        txn.commit()?;
        Ok(existed)
    }

    /// Reads one record (None if absent or expired), lets `f` decide its new state — keep,
    /// replace (with an expiry) or delete — and returns `f`'s answer, all in one transaction.
    pub fn update_ephemeral<T, R>(
        &self,
        kind: Kind,
        key: &str,
        now: DateTime<Utc>,
        f: impl FnOnce(Option<Record<T>>) -> (Update<T>, R),
    ) -> Result<R>
    where
        T: Serialize + for<'de> Deserialize<'de>,
    {
        let txn = self.db().begin_write()?;
        let r;
        {
            let mut t = txn.open_table(EPHEMERAL)?;
            let current = match t.get((kind as u8, key))? {
                Some(v) => decode(v.value(), now)?,
                None => None,
            };
            let (update, out) = f(current);
            r = out;
            match update {
                Update::Keep => {}
                Update::Delete => {
                    t.remove((kind as u8, key))?;
                }
                Update::Put(value, expires_at) => {
                    let bytes = serde_json::to_vec(&Stored {
                        expires_at: expires_at.timestamp(),
                        data: serde_json::to_value(&value)?,
                    })?;
                    t.insert((kind as u8, key), bytes.as_slice())?;
                }
            }
        }
        txn.commit()?;
        Ok(r)
    }

    /// Every live record of a kind (signing keys, a person's SSO sessions); small kinds only.
    pub fn list_ephemeral<T: for<'de> Deserialize<'de>>(
        &self,
        kind: Kind,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, Record<T>)>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(EPHEMERAL)?;
        let k = kind as u8;
        let mut out = Vec::new();
        for row in t.range((k, "")..(k + 1, ""))? {
            let (key, v) = row?;
            if let Some(r) = decode(v.value(), now)? {
                out.push((key.value().1.to_owned(), r));
            }
        }
        Ok(out)
    }

    /// Removes every record expired at `now`; returns how many. Looks in a read transaction
    /// first and opens a write transaction (a durable commit) only when something expired, so
    /// the periodic sweep of an idle server writes nothing.
    pub fn sweep_ephemeral(&self, now: DateTime<Utc>) -> Result<usize> {
        let dead = {
            let txn = self.db().begin_read()?;
            expired_keys(&txn.open_table(EPHEMERAL)?, now)?
        };
        if dead.is_empty() {
            return Ok(0);
        }
        let txn = self.db().begin_write()?;
        let n;
        {
            let mut t = txn.open_table(EPHEMERAL)?;
            // Looked up again: a record may have been replaced since the read.
            let dead = expired_keys(&t, now)?;
            n = dead.len();
            for (kind, key) in dead {
                t.remove((kind, key.as_str()))?;
            }
        }
        txn.commit()?;
        Ok(n)
    }
}

/// Only the expiry of a stored record (`data` is skipped, not decoded).
#[derive(Deserialize)]
struct Expiry {
    expires_at: i64,
}

fn expired_keys(
    t: &impl ReadableTable<(u8, &'static str), &'static [u8]>,
    now: DateTime<Utc>,
) -> Result<Vec<(u8, String)>> {
    let mut dead = Vec::new();
    for row in t.iter()? {
        let (k, v) = row?;
        let s: Expiry = serde_json::from_slice(v.value())?;
        if s.expires_at <= now.timestamp() {
            let (kind, key) = k.value();
            dead.push((kind, key.to_owned()));
        }
    }
    Ok(dead)
}

/// What [`Store::update_ephemeral`] does with the record.
pub enum Update<T> {
    Keep,
    Delete,
    Put(T, DateTime<Utc>),
}

fn decode<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<Record<T>>> {
    let s: Stored = serde_json::from_slice(bytes)?;
    if s.expires_at <= now.timestamp() {
        return Ok(None);
    }
    let expires_at = DateTime::from_timestamp(s.expires_at, 0).unwrap_or(now);
    Ok(Some(Record {
        value: serde_json::from_value(s.data)?,
        expires_at,
    }))
}
