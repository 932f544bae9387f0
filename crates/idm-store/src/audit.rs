//! The append-only, hash-chained audit log and its indexes.

use chrono::{DateTime, Utc};
use idm_model::audit::{AuditEntry, AuditEvent, GENESIS};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::tables::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Head {
    pub seq: u64,
    pub hash: String,
}

pub(crate) fn head<R: HeadReader>(r: &R) -> Result<Head> {
    match r.head_bytes()? {
        Some(b) => Ok(serde_json::from_slice(&b)?),
        None => Ok(Head {
            seq: 0,
            hash: GENESIS.to_owned(),
        }),
    }
}

pub(crate) trait HeadReader {
    fn head_bytes(&self) -> Result<Option<Vec<u8>>>;
}

impl HeadReader for ReadTransaction {
    fn head_bytes(&self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .open_table(META)?
            .get(META_AUDIT_HEAD)?
            .map(|v| v.value().to_vec()))
    }
}

impl HeadReader for WriteTransaction {
    fn head_bytes(&self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .open_table(META)?
            .get(META_AUDIT_HEAD)?
            .map(|v| v.value().to_vec()))
    }
}

/// Seals `event` onto the chain inside the caller's transaction; returns its sequence number.
pub(crate) fn append(txn: &WriteTransaction, event: AuditEvent) -> Result<u64> {
    let h = head(txn)?;
    let entry = AuditEntry::seal(h.seq + 1, event, &h.hash);
    insert_sealed(txn, &entry)?;
    Ok(entry.seq)
}

/// Stores an already sealed entry with its indexes and moves the head to it (also used by
/// restore, which must keep the original hashes).
pub(crate) fn insert_sealed(txn: &WriteTransaction, entry: &AuditEntry) -> Result<()> {
    let bytes = serde_json::to_vec(entry)?;
    txn.open_table(AUDIT)?.insert(entry.seq, bytes.as_slice())?;
    {
        let mut by_actor = txn.open_multimap_table(AUDIT_BY_ACTOR)?;
        by_actor.insert(entry.event.actor.name.as_str(), entry.seq)?;
        if let Some(u) = entry.event.actor.uuid {
            by_actor.insert(u.to_string().as_str(), entry.seq)?;
        }
    }
    if let Some(t) = &entry.event.target {
        let mut by_target = txn.open_multimap_table(AUDIT_BY_TARGET)?;
        by_target.insert(t.name.as_str(), entry.seq)?;
        if let Some(u) = t.uuid {
            by_target.insert(u.to_string().as_str(), entry.seq)?;
        }
    }
    txn.open_table(AUDIT_BY_TIME)?
        .insert((entry.event.at.timestamp_micros(), entry.seq), ())?;
    let head = Head {
        seq: entry.seq,
        hash: entry.hash.clone(),
    };
    let hb = serde_json::to_vec(&head)?;
    txn.open_table(META)?
        .insert(META_AUDIT_HEAD, hb.as_slice())?;
    Ok(())
}

/// Which audit entries to return; all conditions must hold. Newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Actor name or UUID.
    pub actor: Option<String>,
    /// Target name or UUID.
    pub target: Option<String>,
    pub limit: usize,
}

pub(crate) fn query(txn: &ReadTransaction, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
    let limit = if f.limit == 0 {
        100
    } else {
        f.limit.min(10_000)
    };
    // Candidate sequence numbers from the most selective index given, newest first.
    let candidates: Box<dyn Iterator<Item = Result<u64>>> = if let Some(a) = &f.actor {
        let t = txn.open_multimap_table(AUDIT_BY_ACTOR)?;
        let v: Vec<u64> = t
            .get(a.as_str())?
            .map(|r| r.map(|g| g.value()))
            .collect::<std::result::Result<_, _>>()?;
        Box::new(v.into_iter().rev().map(Ok))
    } else if let Some(tg) = &f.target {
        let t = txn.open_multimap_table(AUDIT_BY_TARGET)?;
        let v: Vec<u64> = t
            .get(tg.as_str())?
            .map(|r| r.map(|g| g.value()))
            .collect::<std::result::Result<_, _>>()?;
        Box::new(v.into_iter().rev().map(Ok))
    } else {
        let t = txn.open_table(AUDIT_BY_TIME)?;
        let lo = f.since.map(|s| s.timestamp_micros()).unwrap_or(i64::MIN);
        let hi = f.until.map(|s| s.timestamp_micros()).unwrap_or(i64::MAX);
        let v: Vec<u64> = t
            .range((lo, 0u64)..=(hi, u64::MAX))?
            .rev()
            .take(limit)
            .map(|r| r.map(|(k, _)| k.value().1))
            .collect::<std::result::Result<_, _>>()?;
        Box::new(v.into_iter().map(Ok))
    };
    let table = txn.open_table(AUDIT)?;
    let mut out = Vec::new();
    for seq in candidates {
        let seq = seq?;
        let Some(v) = table.get(seq)? else {
            return Err(StoreError::Corrupt(format!(
                "audit index names missing entry {seq}"
            )));
        };
        let e: AuditEntry = serde_json::from_slice(v.value())?;
        if f.since.is_some_and(|s| e.event.at < s) || f.until.is_some_and(|u| e.event.at > u) {
            continue;
        }
        if let Some(tg) = &f.target {
            let hit = e
                .event
                .target
                .as_ref()
                .is_some_and(|t| t.name == *tg || t.uuid.is_some_and(|u| u.to_string() == *tg));
            if !hit {
                continue;
            }
        }
        out.push(e);
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// Every audit entry in order (for verify and backup).
pub(crate) fn all(txn: &ReadTransaction) -> Result<Vec<AuditEntry>> {
    let t = txn.open_table(AUDIT)?;
    let mut out =
        Vec::with_capacity(usize::try_from(redb::ReadableTableMetadata::len(&t)?).unwrap_or(0));
    for row in t.iter()? {
        let (_, v) = row?;
        out.push(serde_json::from_slice(v.value())?);
    }
    Ok(out)
}
