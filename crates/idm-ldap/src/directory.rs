//! The [`Directory`] trait: what the session needs from the data behind it.
//!
//! The server implements it over its store; [`crate::MemDirectory`] implements it in memory for
//! tests, benches and fuzzing. The trait is deliberately small and synchronous: a search is a
//! handful of index lookups plus entry fetches, and the IO layer decides where that runs.
//!
//! Access control is the directory's: the session passes the bound identity to
//! [`Directory::entry`], which returns the entry *as that identity may see it* (or nothing). The
//! filter is then evaluated on that view, so a filter can never test an attribute the client
//! could not read.
//!
//! Entries come back as the directory's own [`Directory::Entry`] type, anything implementing
//! [`EntryView`]: a borrowed [`Entry`] for a directory that stores entries whole, or a small
//! handle that renders attributes on demand for one that stores them compactly. The session
//! never needs an entry in any other form.

use std::borrow::Cow;

use crate::dn::Dn;
use crate::entry::{Attribute, Entry, EntryView};

/// A point in time: milliseconds since the Unix epoch. The session never reads a clock; the IO
/// layer passes `now` into every call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// From milliseconds since the epoch.
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + ms`, saturating.
    #[must_use]
    pub const fn plus_millis(self, ms: u64) -> Self {
        Self(self.0.saturating_add(ms))
    }
}

/// The directory's own identifier of an entry. Opaque to the session; ordered so that candidate
/// sets can be intersected and results come out in a stable order. 128 bits holds a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(pub u128);

/// Who the connection is bound as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BoundIdentity {
    /// Not bound, or bound anonymously, or after a failed bind (RFC 4513 section 5.1).
    #[default]
    Anonymous,
    /// A successful simple bind.
    User {
        /// The bound entry's DN (what WhoAmI reports).
        dn: String,
        /// The directory's handle for the principal (for access decisions).
        id: EntryId,
    },
}

/// The directory's answer to a simple bind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindOutcome {
    /// The credentials are valid.
    Success {
        /// The DN the name resolved to.
        dn: String,
        /// The principal's handle.
        id: EntryId,
    },
    /// Unknown name, wrong password, locked or disabled account: all look the same on the wire
    /// (invalidCredentials); `reason` is for the audit event only.
    InvalidCredentials {
        /// Why, for the audit log.
        reason: String,
    },
    /// The directory could not decide (store unavailable): answered with `unavailable`.
    Unavailable {
        /// Why, for the audit log.
        reason: String,
    },
}

/// What the root DSE publishes that only the directory knows. The session adds what only it
/// knows: supported controls, extensions and the LDAP version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootDse {
    /// namingContexts: the suffixes served.
    pub naming_contexts: Vec<String>,
    /// vendorName.
    pub vendor_name: String,
    /// vendorVersion.
    pub vendor_version: String,
    /// subschemaSubentry: the DN of the subschema entry.
    pub subschema_dn: String,
    /// Anything else to publish (e.g. `defaultNamingContext`).
    pub extra: Vec<Attribute>,
}

impl RootDse {
    /// A root DSE for the given suffixes with idm's vendor name and `cn=subschema`.
    #[must_use]
    pub fn new(naming_contexts: Vec<String>) -> Self {
        Self {
            naming_contexts,
            vendor_name: "idm".to_owned(),
            vendor_version: String::new(),
            subschema_dn: "cn=subschema".to_owned(),
            extra: Vec::new(),
        }
    }
}

/// The data behind a [`crate::Session`].
///
/// Contract for the search methods, which the planner relies on to only ever *narrow* the
/// candidate set (the full filter is always evaluated on what comes back):
/// - [`Directory::lookup_eq`] returns a superset of the entries having a value of `attr` whose
///   normalized form ([`crate::schema::Syntax::normalize`] of [`crate::schema::syntax_of`]`(attr)`)
///   equals `value`, or `None` if `attr` is not indexed. Extra ids are harmless; missing ids lose
///   results.
/// - [`Directory::all_ids`] returns every entry.
/// - [`Directory::entry`] returns the entry as `who` may see it, or `None` if it does not exist
///   or is invisible to `who`.
pub trait Directory {
    /// An entry as this directory hands it out: a borrowed or owned [`Entry`], or a handle into
    /// the directory's own storage that renders attributes when asked.
    type Entry<'a>: EntryView
    where
        Self: 'a;

    /// Checks a simple bind. `name` is what the client sent: an entry DN, `uid=NAME,<base>`, or a
    /// bare name; resolving it is the directory's job, as are hashing, lockout and rate limits.
    fn bind(&mut self, name: &str, password: &[u8], now: Timestamp) -> BindOutcome;

    /// What the root DSE publishes.
    fn root_dse(&self) -> RootDse;

    /// The subschema entry at `dn` (the root DSE's `subschemaSubentry`), as `who` may see it.
    fn subschema(&self, dn: Dn, who: &BoundIdentity) -> Option<Entry> {
        let _ = who;
        Some(crate::schema::subschema_entry(dn))
    }

    /// Candidate entries for `attr` (lower-cased) equal to `value` (normalized), or `None` if
    /// the attribute is not indexed. Ascending order without duplicates is cheapest (the
    /// planner then borrows the list as is); anything else is sorted first.
    fn lookup_eq(&self, attr: &str, value: &[u8]) -> Option<Cow<'_, [EntryId]>>;

    /// How many ids [`Directory::lookup_eq`] would return (an estimate is fine), or `None` if
    /// not indexed. The planner fetches the most selective terms of an AND first and stops once
    /// the candidate set is small, so that `(&(objectClass=posixAccount)(uid=x))` never
    /// materializes the objectClass posting list. Override it when counting is cheaper than
    /// fetching.
    fn count_eq(&self, attr: &str, value: &[u8]) -> Option<usize> {
        self.lookup_eq(attr, value).map(|ids| ids.len())
    }

    /// The entry with the normalized DN `dn`, if any (visible or not).
    fn lookup_dn(&self, dn: &Dn) -> Option<EntryId>;

    /// Every entry id (the fallback when no index narrows a search).
    fn all_ids(&self) -> Vec<EntryId>;

    /// The entry as `who` may see it: `None` if it does not exist or `who` may not see it;
    /// attributes `who` may not read are left out.
    fn entry(&self, id: EntryId, who: &BoundIdentity) -> Option<Self::Entry<'_>>;

    /// Whether `deadline` has passed. The session asks this every few candidates during a
    /// search with a time limit; a server implementation reads its clock here (the session never
    /// does), so the default never times out.
    fn deadline_passed(&self, deadline: Timestamp) -> bool {
        let _ = deadline;
        false
    }
}
