//! How entries are laid out as stored records, and how old layouts are upgraded.
//!
//! A record is `{"v": N, "entry": …}`. On start-up every record older than [`SCHEMA_VERSION`]
//! is passed through the migrations in order, all in one transaction, so a crash mid-migration
//! leaves the old data intact.

use idm_model::Entry;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

/// The record layout this build writes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct RecordOut<'a> {
    v: u32,
    entry: &'a Entry,
}

#[derive(Deserialize)]
struct RecordIn {
    v: u32,
    entry: serde_json::Value,
}

pub fn encode_entry(e: &Entry) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(&RecordOut {
        v: SCHEMA_VERSION,
        entry: e,
    })?)
}

#[derive(Deserialize)]
struct RecordTyped {
    v: u32,
    entry: Entry,
}

pub fn decode_entry(bytes: &[u8]) -> Result<Entry> {
    // The common case in one pass: a current record straight into `Entry` (going through
    // `serde_json::Value` first doubled the cost of every lookup).
    if let Ok(r) = serde_json::from_slice::<RecordTyped>(bytes)
        && r.v == SCHEMA_VERSION
    {
        return Ok(r.entry);
    }
    let r: RecordIn = serde_json::from_slice(bytes)?;
    if r.v != SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "record of schema version {} read before migration",
            r.v
        )));
    }
    Ok(serde_json::from_value(r.entry)?)
}

/// One upgrade step: rewrites a record's `entry` value from version `from` to `from + 1`.
pub struct Migration {
    pub from: u32,
    pub apply: fn(&mut serde_json::Value) -> Result<()>,
}

/// The upgrade steps, oldest first. Version 1 is the first released layout, so there are none
/// yet; a layout change adds a step here and bumps [`SCHEMA_VERSION`].
pub const MIGRATIONS: &[Migration] = &[];

/// Brings one stored record up to [`SCHEMA_VERSION`]; `None` when it already is.
pub fn upgrade(bytes: &[u8], migrations: &[Migration]) -> Result<Option<Vec<u8>>> {
    let mut r: RecordIn = serde_json::from_slice(bytes)?;
    if r.v == SCHEMA_VERSION {
        return Ok(None);
    }
    if r.v > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: r.v,
            supported: SCHEMA_VERSION,
        });
    }
    while r.v < SCHEMA_VERSION {
        let step = migrations
            .iter()
            .find(|m| m.from == r.v)
            .ok_or_else(|| StoreError::Corrupt(format!("no migration from version {}", r.v)))?;
        (step.apply)(&mut r.entry)?;
        r.v += 1;
    }
    let entry: Entry = serde_json::from_value(r.entry)?;
    Ok(Some(encode_entry(&entry)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rename_display(v: &mut serde_json::Value) -> Result<()> {
        // A pretend version-0 layout that called the field `displayname`.
        if let Some(obj) = v.as_object_mut()
            && let Some(d) = obj.remove("displayname")
        {
            obj.insert("display_name".into(), d);
        }
        Ok(())
    }

    #[test]
    fn upgrades_old_records_and_refuses_newer_ones() {
        let v0 = br#"{"v":0,"entry":{"kind":"group","uuid":"00000000-0000-0000-0000-000000000001","name":"g","created_at":"2026-01-01T00:00:00Z","modified_at":"2026-01-01T00:00:00Z"}}"#;
        let steps = [Migration {
            from: 0,
            apply: rename_display,
        }];
        let up = upgrade(v0, &steps).unwrap().unwrap();
        assert_eq!(decode_entry(&up).unwrap().name(), "g");
        assert!(upgrade(&up, &steps).unwrap().is_none());
        assert!(upgrade(v0, &[]).is_err());
        let v9 = br#"{"v":9,"entry":{}}"#;
        assert!(matches!(
            upgrade(v9, &steps),
            Err(StoreError::SchemaTooNew { found: 9, .. })
        ));
    }
}
