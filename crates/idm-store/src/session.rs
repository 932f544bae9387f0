//! Bearer sessions, kept in the store (never only in one process's memory) so that several
//! server nodes can later share them, and swept once expired.

use chrono::{DateTime, Utc};
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Store;
use crate::error::Result;
use crate::tables::SESSIONS;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: Uuid,
    /// The authenticated account.
    pub account: Uuid,
    /// Hex SHA-256 of the session secret.
    pub digest: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub fn put_session(&self, s: &Session) -> Result<()> {
        let txn = self.db().begin_write()?;
        {
            let bytes = serde_json::to_vec(s)?;
            txn.open_table(SESSIONS)?
                .insert(s.id.as_u128(), bytes.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    pub fn session(&self, id: Uuid) -> Result<Option<Session>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(SESSIONS)?;
        match t.get(id.as_u128())? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
            None => Ok(None),
        }
    }

    pub fn delete_session(&self, id: Uuid) -> Result<bool> {
        let txn = self.db().begin_write()?;
        let existed = txn.open_table(SESSIONS)?.remove(id.as_u128())?.is_some();
        txn.commit()?;
        Ok(existed)
    }

    /// Removes sessions expired at `now`; returns how many. Like
    /// [`Store::sweep_ephemeral`], commits only when something expired.
    pub fn sweep_sessions(&self, now: DateTime<Utc>) -> Result<usize> {
        let expired = {
            let txn = self.db().begin_read()?;
            expired_sessions(&txn.open_table(SESSIONS)?, now)?
        };
        if expired.is_empty() {
            return Ok(0);
        }
        let txn = self.db().begin_write()?;
        let n;
        {
            let mut t = txn.open_table(SESSIONS)?;
            let expired = expired_sessions(&t, now)?;
            n = expired.len();
            for k in expired {
                t.remove(k)?;
            }
        }
        txn.commit()?;
        Ok(n)
    }
}

fn expired_sessions(
    t: &impl ReadableTable<u128, &'static [u8]>,
    now: DateTime<Utc>,
) -> Result<Vec<u128>> {
    let mut expired = Vec::new();
    for row in t.iter()? {
        let (k, v) = row?;
        let s: Session = serde_json::from_slice(v.value())?;
        if s.expires_at <= now {
            expired.push(k.value());
        }
    }
    Ok(expired)
}
