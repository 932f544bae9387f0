//! Search execution: the index-aware planner, scope checks, attribute selection.
//!
//! The planner turns a filter into a candidate set using whatever equality indexes the
//! [`Directory`] has; it never decides membership. Every candidate is fetched *as the bound
//! identity sees it* and the full filter is evaluated on it, so a planner bug or a sloppy index
//! can only cost time or lose results, never add results, and the planned search is equivalent
//! to evaluating the filter on every entry (a property test checks exactly that).

use std::borrow::Cow;

use crate::directory::{BoundIdentity, Directory, EntryId};
use crate::dn::Dn;
use crate::entry::{Attribute, EntryView};
use crate::filter::Filter;
use crate::proto::SearchScope;
use crate::schema::{is_operational, syntax_of};

/// Which entries a filter can possibly match, as far as the indexes tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidates {
    /// No index applies: every entry is a candidate.
    All,
    /// Only these entries (sorted, no duplicates) can match.
    Ids(Vec<EntryId>),
}

/// Plans a filter: equality terms on indexed attributes become id sets; `&` intersects them,
/// most selective first, and stops fetching once few candidates remain; `|` unites them when
/// every branch is indexed; anything else (negation, presence, ranges, substrings) contributes no
/// restriction.
///
/// A term whose assertion value is invalid for its syntax (`uidNumber=abc`) is Undefined for
/// every entry, so it plans to the empty set.
pub fn plan<D: Directory + ?Sized>(filter: &Filter, dir: &D) -> Candidates {
    match filter {
        Filter::Equality { attr, value } | Filter::Approx { attr, value } => {
            let Some((attr, value)) = index_key(attr, value) else {
                return Candidates::Ids(Vec::new());
            };
            match dir.lookup_eq(&attr, &value) {
                Some(ids) => Candidates::Ids(sorted(ids).into_owned()),
                None => Candidates::All,
            }
        }
        Filter::And(list) => plan_and(list, dir),
        Filter::Or(list) => {
            let mut acc = Vec::new();
            for f in list {
                match plan(f, dir) {
                    Candidates::All => return Candidates::All,
                    Candidates::Ids(ids) => acc.extend(ids),
                }
            }
            acc.sort_unstable();
            acc.dedup();
            Candidates::Ids(acc)
        }
        _ => Candidates::All,
    }
}

/// An AND stops fetching index lists once this few candidates remain: evaluating a handful of
/// entries is cheaper than fetching a large posting list only to intersect with it.
const SMALL_ENOUGH: usize = 16;

/// What an AND branch can contribute, with its (estimated) size.
enum Source {
    /// An id set already computed (a nested AND/OR).
    Fetched(Vec<EntryId>),
    /// An indexed equality term, not fetched yet.
    Term { attr: String, value: Vec<u8> },
}

fn plan_and<D: Directory + ?Sized>(list: &[Filter], dir: &D) -> Candidates {
    let mut sources: Vec<(usize, Source)> = Vec::new();
    for f in list {
        match f {
            Filter::Equality { attr, value } | Filter::Approx { attr, value } => {
                let Some((attr, value)) = index_key(attr, value) else {
                    return Candidates::Ids(Vec::new());
                };
                if let Some(count) = dir.count_eq(&attr, &value) {
                    sources.push((count, Source::Term { attr, value }));
                }
            }
            _ => {
                if let Candidates::Ids(ids) = plan(f, dir) {
                    sources.push((ids.len(), Source::Fetched(ids)));
                }
            }
        }
    }
    sources.sort_by_key(|(size, _)| *size);
    let mut acc: Option<Vec<EntryId>> = None;
    for (_, source) in sources {
        if acc.as_ref().is_some_and(|a| a.len() <= SMALL_ENOUGH) {
            break;
        }
        match (&mut acc, source) {
            (None, Source::Fetched(ids)) => acc = Some(ids),
            (None, Source::Term { attr, value }) => {
                if let Some(ids) = dir.lookup_eq(&attr, &value) {
                    acc = Some(sorted(ids).into_owned());
                }
            }
            (Some(a), Source::Fetched(ids)) => a.retain(|id| ids.binary_search(id).is_ok()),
            (Some(a), Source::Term { attr, value }) => {
                if let Some(ids) = dir.lookup_eq(&attr, &value) {
                    let ids = sorted(ids);
                    a.retain(|id| ids.binary_search(id).is_ok());
                }
            }
        }
    }
    acc.map_or(Candidates::All, Candidates::Ids)
}

/// The index key of an equality term: lower-cased attribute and normalized value; `None` when
/// the value is invalid for the attribute's syntax.
fn index_key(attr: &str, value: &[u8]) -> Option<(String, Vec<u8>)> {
    let normalized = syntax_of(attr).normalize(value)?;
    Some((attr.to_ascii_lowercase(), normalized))
}

/// Ascending without duplicates, borrowing when the directory already delivered it so.
fn sorted(ids: Cow<'_, [EntryId]>) -> Cow<'_, [EntryId]> {
    if ids.is_sorted_by(|a, b| a < b) {
        ids
    } else {
        let mut v = ids.into_owned();
        v.sort_unstable();
        v.dedup();
        Cow::Owned(v)
    }
}

/// Whether an entry with normalized DN `dn` is within `scope` of the normalized `base`.
#[must_use]
pub fn in_scope(dn: &Dn, base: &Dn, scope: SearchScope) -> bool {
    match scope {
        SearchScope::BaseObject => dn.len() == base.len() && dn.ends_with(base),
        SearchScope::SingleLevel => dn.len() == base.len() + 1 && dn.ends_with(base),
        SearchScope::WholeSubtree => dn.ends_with(base),
        SearchScope::SubordinateSubtree => dn.len() > base.len() && dn.ends_with(base),
    }
}

/// A planned search that yields matching entries one candidate at a time, so that the caller
/// can stop at a size limit, check a deadline between steps, or park it between pages.
#[derive(Debug, Clone)]
pub struct PreparedSearch {
    base: Dn,
    scope: SearchScope,
    filter: Filter,
    ids: Vec<EntryId>,
    next: usize,
}

/// One step of a [`PreparedSearch`]; `E` is the directory's [`Directory::Entry`].
#[derive(Debug)]
pub enum Step<E> {
    /// The candidate matched.
    Match(E),
    /// The candidate was invisible, out of scope or did not match.
    Skip,
    /// No candidates left.
    Done,
}

impl PreparedSearch {
    /// Plans a search below the normalized DN `base`. `base_id` is the base entry's id when
    /// known: a base-scope search then has exactly one candidate.
    pub fn new<D: Directory + ?Sized>(
        dir: &D,
        base: Dn,
        base_id: Option<EntryId>,
        scope: SearchScope,
        filter: Filter,
    ) -> Self {
        let ids = match (scope, base_id) {
            (SearchScope::BaseObject, Some(id)) => vec![id],
            (SearchScope::BaseObject, None) => Vec::new(),
            _ => match plan(&filter, dir) {
                Candidates::Ids(ids) => ids,
                Candidates::All => {
                    let mut ids = dir.all_ids();
                    ids.sort_unstable();
                    ids
                }
            },
        };
        Self {
            base,
            scope,
            filter,
            ids,
            next: 0,
        }
    }

    /// Examines the next candidate.
    pub fn step<'d, D: Directory + ?Sized>(
        &mut self,
        dir: &'d D,
        who: &BoundIdentity,
    ) -> Step<D::Entry<'d>> {
        let Some(&id) = self.ids.get(self.next) else {
            return Step::Done;
        };
        self.next += 1;
        match dir.entry(id, who) {
            Some(e) if e.in_scope(&self.base, self.scope) && self.filter.matches(&e) => {
                Step::Match(e)
            }
            _ => Step::Skip,
        }
    }

    /// The next matching entry, however many candidates that takes.
    pub fn next_match<'d, D: Directory + ?Sized>(
        &mut self,
        dir: &'d D,
        who: &BoundIdentity,
    ) -> Option<D::Entry<'d>> {
        loop {
            match self.step(dir, who) {
                Step::Match(e) => return Some(e),
                Step::Skip => {}
                Step::Done => return None,
            }
        }
    }

    /// How many candidates the planner left (before scope and filter checks).
    #[must_use]
    pub fn candidate_count(&self) -> usize {
        self.ids.len()
    }

    /// Candidates not yet examined.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.ids.len().saturating_sub(self.next)
    }
}

/// Runs a whole search: at most `limit` matching entries, in id order.
pub fn search<'d, D: Directory + ?Sized>(
    dir: &'d D,
    who: &BoundIdentity,
    base: &Dn,
    scope: SearchScope,
    filter: &Filter,
    limit: usize,
) -> Vec<D::Entry<'d>> {
    let base = base.normalize();
    let base_id = dir.lookup_dn(&base);
    let mut prepared = PreparedSearch::new(dir, base, base_id, scope, filter.clone());
    let mut out = Vec::new();
    while out.len() < limit {
        match prepared.next_match(dir, who) {
            Some(e) => out.push(e),
            None => break,
        }
    }
    out
}

/// The attributes of `entry` a search returns for the selectors `requested` (RFC 4511 section
/// 4.5.1.8): none listed or `*` means all user attributes, `+` all operational ones, `1.1`
/// (alone) none, any other selector that attribute by name (case-insensitive). With
/// `types_only`, values are dropped. Only the selected attributes are taken from the view, so
/// a directory rendering on demand renders nothing else.
#[must_use]
pub fn select_attributes<E: EntryView>(
    entry: E,
    requested: &[String],
    types_only: bool,
) -> Vec<Attribute> {
    let all_user = requested.is_empty() || requested.iter().any(|r| r == "*");
    let all_operational = requested.iter().any(|r| r == "+");
    let mut wanted = |description: &str| {
        (if is_operational(description) {
            all_operational
        } else {
            all_user
        }) || requested
            .iter()
            .any(|r| description.eq_ignore_ascii_case(r))
    };
    let mut out = entry.into_selected(&mut wanted);
    if types_only {
        for a in &mut out {
            a.values.clear();
        }
    }
    out
}
