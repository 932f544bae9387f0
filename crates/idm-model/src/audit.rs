//! The audit trail: who did what to whom, when, and with what outcome — hash-chained.
//!
//! Each entry carries SHA-256 over the previous entry's hash and its own content, so removing,
//! reordering or editing any entry breaks every hash after it ([`verify_chain`]). Summaries are
//! written by the code that makes the change and never contain secrets.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Uuid>,
    pub name: String,
}

impl Actor {
    /// Changes made by the server itself (bootstrap, migrations, the offline subcommands).
    pub fn system(what: &str) -> Self {
        Actor {
            uuid: None,
            name: format!("system:{what}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Uuid>,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

/// An event before it is sealed into the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// Dotted verb, e.g. `person.create`, `auth.password`, `group.add_members`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    pub outcome: Outcome,
    pub summary: String,
    /// The client address, where the event came over the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// The hashed content of an entry: everything but its own hash, in a fixed field order.
#[derive(Serialize)]
struct Sealed<'a> {
    seq: u64,
    prev_hash: &'a str,
    event: &'a AuditEvent,
}

impl AuditEntry {
    pub fn seal(seq: u64, event: AuditEvent, prev_hash: &str) -> AuditEntry {
        let hash = content_hash(seq, &event, prev_hash);
        AuditEntry {
            seq,
            event,
            prev_hash: prev_hash.to_owned(),
            hash,
        }
    }

    pub fn hash_is_valid(&self) -> bool {
        content_hash(self.seq, &self.event, &self.prev_hash) == self.hash
    }
}

fn content_hash(seq: u64, event: &AuditEvent, prev_hash: &str) -> String {
    let sealed = Sealed {
        seq,
        prev_hash,
        event,
    };
    // Serialising a plain struct of strings and numbers cannot fail; an empty buffer would
    // only make the check fail loudly later, never silently pass.
    let bytes = serde_json::to_vec(&sealed).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(&bytes);
    hex::encode(h.finalize())
}

/// Checks that `entries` (in sequence order, starting after `prev`) form an unbroken chain.
/// Returns the last hash, or the first broken sequence number and why.
pub fn verify_chain<'a>(
    prev: &str,
    first_seq: u64,
    entries: impl IntoIterator<Item = &'a AuditEntry>,
) -> Result<String, (u64, &'static str)> {
    let mut prev = prev.to_owned();
    for (expected_seq, e) in (first_seq..).zip(entries) {
        if e.seq != expected_seq {
            return Err((e.seq, "sequence gap"));
        }
        if e.prev_hash != prev {
            return Err((e.seq, "previous hash does not match"));
        }
        if !e.hash_is_valid() {
            return Err((e.seq, "content hash does not match"));
        }
        prev = e.hash.clone();
    }
    Ok(prev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: i64) -> AuditEvent {
        AuditEvent {
            at: DateTime::from_timestamp(1_700_000_000 + i, 0).unwrap(),
            actor: Actor::system("test"),
            action: "person.create".into(),
            target: Some(Target {
                uuid: None,
                name: format!("p{i}"),
            }),
            outcome: Outcome::Success,
            summary: "created".into(),
            source: None,
        }
    }

    #[test]
    fn chain_detects_tampering() {
        let mut prev = GENESIS.to_owned();
        let mut chain = Vec::new();
        for i in 0..5 {
            let e = AuditEntry::seal(i as u64 + 1, ev(i), &prev);
            prev = e.hash.clone();
            chain.push(e);
        }
        assert_eq!(verify_chain(GENESIS, 1, &chain).unwrap(), prev);

        let mut edited = chain.clone();
        edited[2].event.summary = "nothing happened".into();
        assert_eq!(
            verify_chain(GENESIS, 1, &edited),
            Err((3, "content hash does not match"))
        );

        let mut dropped = chain.clone();
        dropped.remove(1);
        assert_eq!(verify_chain(GENESIS, 1, &dropped), Err((3, "sequence gap")));
    }
}
