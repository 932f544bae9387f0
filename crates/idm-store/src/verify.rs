//! `verify`: every index agrees with the entries, and the audit chain is unbroken.

use std::collections::BTreeSet;

use idm_model::audit::{GENESIS, verify_chain};
use idm_model::{Entry, validate};
use redb::{ReadTransaction, ReadableMultimapTable, ReadableTable};
use uuid::Uuid;

use crate::audit;
use crate::error::Result;
use crate::read::{Reader, kind_code};
use crate::record;
use crate::tables::*;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub entries: usize,
    pub audit_entries: usize,
    /// Empty when everything agrees.
    pub problems: Vec<String>,
}

pub(crate) fn verify(txn: &ReadTransaction) -> Result<VerifyReport> {
    let mut r = VerifyReport::default();
    let mut entries = Vec::new();
    for row in txn.open_table(ENTRIES)?.iter()? {
        let (k, v) = row?;
        match record::decode_entry(v.value()) {
            Ok(e) if e.uuid().as_u128() == k.value() => entries.push(e),
            Ok(e) => r.problems.push(format!(
                "record {} holds entry {}",
                Uuid::from_u128(k.value()),
                e.uuid()
            )),
            Err(e) => r
                .problems
                .push(format!("record {}: {e}", Uuid::from_u128(k.value()))),
        }
    }
    r.entries = entries.len();
    let mut expect_names = 0u64;
    let mut expect_mails = 0u64;
    let mut expect_ids = 0u64;
    let mut expect_members = 0u64;
    for e in &entries {
        let u = e.uuid();
        if txn.uuid_by_name(e.name())? != Some(u) {
            r.problems.push(format!("name index misses {:?}", e.name()));
        }
        expect_names += 1;
        for m in e.mails() {
            expect_mails += 1;
            if txn.uuid_by_mail(&validate::mail_key(m))? != Some(u) {
                r.problems.push(format!("mail index misses {m:?}"));
            }
        }
        for id in e.posix_ids() {
            expect_ids += 1;
            if txn.uuid_by_posix_id(id)? != Some(u) {
                r.problems
                    .push(format!("POSIX index misses {id} of {:?}", e.name()));
            }
        }
        if txn
            .open_table(KINDS)?
            .get((kind_code(e.kind()), u.as_u128()))?
            .is_none()
        {
            r.problems.push(format!("kind index misses {:?}", e.name()));
        }
        if let Entry::Group(g) = e {
            let indexed: BTreeSet<Uuid> = txn.members(u)?.into_iter().collect();
            if indexed != g.members {
                r.problems
                    .push(format!("member index of {:?} disagrees", g.name));
            }
            for m in &g.members {
                expect_members += 1;
                if !txn.member_of(*m)?.contains(&u) {
                    r.problems
                        .push(format!("memberOf index misses {:?} in {m}", g.name));
                }
            }
        }
        let closure = txn.closure(u)?;
        let indexed: BTreeSet<Uuid> = txn.member_of_transitive(u)?.into_iter().collect();
        if closure != indexed {
            r.problems
                .push(format!("transitive memberOf of {:?} disagrees", e.name()));
        }
    }
    // No index row may point at nothing.
    let count = |n: u64, what: &str, r: &mut VerifyReport, expect: u64| {
        if n != expect {
            r.problems
                .push(format!("{what} index has {n} rows, expected {expect}"));
        }
    };
    count(
        redb::ReadableTableMetadata::len(&txn.open_table(NAMES)?)?,
        "name",
        &mut r,
        expect_names,
    );
    count(
        redb::ReadableTableMetadata::len(&txn.open_table(MAILS)?)?,
        "mail",
        &mut r,
        expect_mails,
    );
    count(
        redb::ReadableTableMetadata::len(&txn.open_table(POSIX_IDS)?)?,
        "POSIX id",
        &mut r,
        expect_ids,
    );
    count(
        redb::ReadableTableMetadata::len(&txn.open_table(KINDS)?)?,
        "kind",
        &mut r,
        entries.len() as u64,
    );
    count(
        multimap_rows(txn, MEMBERS)?,
        "member",
        &mut r,
        expect_members,
    );
    count(
        multimap_rows(txn, MEMBER_OF)?,
        "memberOf",
        &mut r,
        expect_members,
    );
    // Audit chain from the first entry to the recorded head.
    let all = audit::all(txn)?;
    r.audit_entries = all.len();
    match verify_chain(GENESIS, 1, &all) {
        Ok(last) => {
            let head = audit::head(txn)?;
            if head.hash != last || head.seq != all.len() as u64 {
                r.problems
                    .push("audit head does not match the last entry".into());
            }
        }
        Err((seq, why)) => r
            .problems
            .push(format!("audit chain broken at {seq}: {why}")),
    }
    Ok(r)
}

fn multimap_rows(
    txn: &ReadTransaction,
    def: redb::MultimapTableDefinition<u128, u128>,
) -> Result<u64> {
    let t = txn.open_multimap_table(def)?;
    let mut n = 0u64;
    for row in t.iter()? {
        let (_, values) = row?;
        n += values.len();
    }
    Ok(n)
}
