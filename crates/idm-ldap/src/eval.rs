//! Filter evaluation against an [`EntryView`], with the three-valued logic of RFC 4511
//! section 4.5.1.7: a term on a value that does not fit the attribute's syntax, or an ordering
//! test on a syntax without ordering, is *Undefined*, and only entries for which the whole
//! filter is TRUE are returned.
//!
//! Values are compared in the normalized form of [`Syntax::normalize`]; that is what makes
//! `(uid=ALICE)`, `(uidNumber=0042)` and `(member=UID=a, dc=x)` match what clients expect.

use crate::LdapError;
use crate::entry::EntryView;
use crate::filter::{ExtensibleMatch, Filter, Substrings};
use crate::schema::{Syntax, syntax_of};

/// The result of evaluating a filter (RFC 4511 section 4.5.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    /// The entry matches.
    True,
    /// The entry does not match.
    False,
    /// The server cannot tell (wrong syntax, unsupported rule): treated as no match, but
    /// `(!Undefined)` stays Undefined, which is why this is not a bool.
    Undefined,
}

impl Truth {
    fn not(self) -> Self {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Undefined => Truth::Undefined,
        }
    }

    fn from_bool(b: bool) -> Self {
        if b { Truth::True } else { Truth::False }
    }
}

impl Filter {
    /// Evaluates the filter against an entry. Attributes are fetched from the view one term at
    /// a time, so a directory that renders values on demand renders only what the filter tests.
    #[must_use]
    pub fn evaluate<E: EntryView + ?Sized>(&self, entry: &E) -> Truth {
        match self {
            Filter::And(list) => {
                let mut result = Truth::True;
                for f in list {
                    match f.evaluate(entry) {
                        Truth::False => return Truth::False,
                        Truth::Undefined => result = Truth::Undefined,
                        Truth::True => {}
                    }
                }
                result
            }
            Filter::Or(list) => {
                let mut result = Truth::False;
                for f in list {
                    match f.evaluate(entry) {
                        Truth::True => return Truth::True,
                        Truth::Undefined => result = Truth::Undefined,
                        Truth::False => {}
                    }
                }
                result
            }
            Filter::Not(inner) => inner.evaluate(entry).not(),
            Filter::Equality { attr, value } | Filter::Approx { attr, value } => {
                equality(entry, attr, syntax_of(attr), value)
            }
            Filter::GreaterOrEqual { attr, value } => ordering(entry, attr, value, true),
            Filter::LessOrEqual { attr, value } => ordering(entry, attr, value, false),
            Filter::Present(attr) => Truth::from_bool(entry.has_attribute(attr)),
            Filter::Substrings(s) => substrings(entry, s),
            Filter::Extensible(m) => extensible(entry, m),
        }
    }

    /// Whether the filter is TRUE for the entry.
    #[must_use]
    pub fn matches<E: EntryView + ?Sized>(&self, entry: &E) -> bool {
        self.evaluate(entry) == Truth::True
    }

    /// Rejects filters we cannot evaluate meaningfully: extensibleMatch with a matching rule we
    /// do not implement, or with neither rule nor attribute. The session answers these with
    /// inappropriateMatching instead of silently returning nothing.
    pub fn validate(&self) -> Result<(), LdapError> {
        match self {
            Filter::And(list) | Filter::Or(list) => list.iter().try_for_each(Filter::validate),
            Filter::Not(inner) => inner.validate(),
            Filter::Extensible(m) => match (&m.rule, &m.attr) {
                (None, None) => Err(LdapError::IncompleteExtensibleMatch),
                (Some(rule), _) if Syntax::from_matching_rule(rule).is_none() => {
                    Err(LdapError::UnsupportedMatchingRule(rule.clone()))
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

fn equality<E: EntryView + ?Sized>(entry: &E, attr: &str, syntax: Syntax, value: &[u8]) -> Truth {
    let Some(assertion) = syntax.normalize(value) else {
        return Truth::Undefined;
    };
    if let Some(hit) = entry.has_value(attr, &assertion) {
        return Truth::from_bool(hit);
    }
    let Some(a) = entry.attribute(attr) else {
        return Truth::False;
    };
    Truth::from_bool(
        a.values
            .iter()
            .any(|v| syntax.normalize(v).is_some_and(|n| n == assertion)),
    )
}

fn ordering<E: EntryView + ?Sized>(entry: &E, attr: &str, value: &[u8], greater: bool) -> Truth {
    let syntax = syntax_of(attr);
    let Some(assertion) = syntax.normalize(value) else {
        return Truth::Undefined;
    };
    if syntax.compare(&assertion, &assertion).is_none() {
        return Truth::Undefined;
    }
    let Some(a) = entry.attribute(attr) else {
        return Truth::False;
    };
    Truth::from_bool(a.values.iter().any(|v| {
        syntax
            .normalize(v)
            .and_then(|n| syntax.compare(&n, &assertion))
            .is_some_and(|o| if greater { o.is_ge() } else { o.is_le() })
    }))
}

fn substrings<E: EntryView + ?Sized>(entry: &E, s: &Substrings) -> Truth {
    let syntax = syntax_of(&s.attr);
    // Outer None: the syntax has no substrings rule; inner None: the piece is absent.
    let optional_piece = |p: &Option<Vec<u8>>| match p {
        None => Some(None),
        Some(p) => syntax.substring_piece(p).map(Some),
    };
    let (Some(initial), Some(any), Some(final_)) = (
        optional_piece(&s.initial),
        s.any
            .iter()
            .map(|p| syntax.substring_piece(p))
            .collect::<Option<Vec<_>>>(),
        optional_piece(&s.final_),
    ) else {
        return Truth::Undefined;
    };
    let Some(a) = entry.attribute(&s.attr) else {
        return Truth::False;
    };
    Truth::from_bool(a.values.iter().any(|v| {
        syntax
            .normalize(v)
            .is_some_and(|v| substring_match(&v, initial.as_deref(), &any, final_.as_deref()))
    }))
}

/// Whether `value` starts with `initial`, then contains each of `any` in order without overlap,
/// then ends with `final_`.
fn substring_match(
    value: &[u8],
    initial: Option<&[u8]>,
    any: &[Vec<u8>],
    final_: Option<&[u8]>,
) -> bool {
    let mut rest = value;
    if let Some(i) = initial {
        match rest.strip_prefix(i) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    let mut end = rest;
    if let Some(f) = final_ {
        match rest.strip_suffix(f) {
            Some(r) => end = r,
            None => return false,
        }
    }
    let mut rest = end;
    for piece in any {
        match find(rest, piece) {
            Some(at) => rest = rest.get(at + piece.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    true
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn extensible<E: EntryView + ?Sized>(entry: &E, m: &ExtensibleMatch) -> Truth {
    let syntax = match (&m.rule, &m.attr) {
        (Some(rule), _) => match Syntax::from_matching_rule(rule) {
            Some(s) => s,
            None => return Truth::Undefined,
        },
        (None, Some(attr)) => syntax_of(attr),
        (None, None) => return Truth::Undefined,
    };
    let Some(assertion) = syntax.normalize(&m.value) else {
        return Truth::Undefined;
    };
    let hit = |v: &[u8]| syntax.normalize(v).is_some_and(|n| n == assertion);
    let in_attributes = entry
        .select(&mut |d| {
            m.attr
                .as_deref()
                .is_none_or(|want| d.eq_ignore_ascii_case(want))
        })
        .iter()
        .any(|a| a.values.iter().any(|v| hit(v)));
    let in_dn = m.dn_attributes
        && entry.dn().rdns().iter().any(|rdn| {
            rdn.avas().iter().any(|ava| {
                m.attr
                    .as_deref()
                    .is_none_or(|want| ava.attr.eq_ignore_ascii_case(want))
                    && hit(&ava.value)
            })
        });
    Truth::from_bool(in_attributes || in_dn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dn::Dn;
    use crate::entry::Entry;

    fn person() -> Entry {
        Entry::new(
            Dn::parse("uid=Alice,ou=People,dc=example,dc=com").unwrap(),
            vec![],
        )
        .with("objectClass", ["top", "person", "posixAccount"])
        .with("uid", ["alice"])
        .with("cn", ["Alice  Liddell"])
        .with("uidNumber", ["1000"])
        .with("memberOf", ["cn=Admins,ou=Groups,dc=example,dc=com"])
        .with("memberUid", ["Bob"])
    }

    fn t(filter: &str) -> Truth {
        Filter::parse(filter).unwrap().evaluate(&person())
    }

    #[test]
    fn equality_by_syntax() {
        assert_eq!(t("(uid=ALICE)"), Truth::True);
        assert_eq!(t("(cn=alice liddell)"), Truth::True);
        assert_eq!(t("(objectclass=POSIXACCOUNT)"), Truth::True);
        assert_eq!(t("(uidNumber=01000)"), Truth::True);
        assert_eq!(t("(uidNumber=x)"), Truth::Undefined);
        assert_eq!(
            t("(memberOf=CN=admins, ou=groups,dc=EXAMPLE,dc=com)"),
            Truth::True
        );
        assert_eq!(t("(memberUid=bob)"), Truth::False);
        assert_eq!(t("(memberUid=Bob)"), Truth::True);
        assert_eq!(t("(mail=x)"), Truth::False);
    }

    #[test]
    fn logic_is_three_valued() {
        assert_eq!(t("(!(uidNumber=x))"), Truth::Undefined);
        assert_eq!(t("(|(uidNumber=x)(uid=alice))"), Truth::True);
        assert_eq!(t("(&(uidNumber=x)(uid=alice))"), Truth::Undefined);
        assert_eq!(t("(&(uidNumber=x)(uid=bob))"), Truth::False);
        assert_eq!(t("(&)"), Truth::True);
        assert_eq!(t("(|)"), Truth::False);
        assert_eq!(t("(&(uidNumber=*)(!(uidNumber=0)))"), Truth::True);
    }

    #[test]
    fn ordering_and_substrings() {
        assert_eq!(t("(uidNumber>=999)"), Truth::True);
        assert_eq!(t("(uidNumber>=1001)"), Truth::False);
        assert_eq!(t("(uidNumber<=1000)"), Truth::True);
        assert_eq!(t("(uidNumber<=-5)"), Truth::False);
        assert_eq!(t("(memberOf>=a)"), Truth::Undefined);
        assert_eq!(t("(cn=ali*)"), Truth::True);
        assert_eq!(t("(cn=*LIDD*)"), Truth::True);
        assert_eq!(t("(cn=a*e l*l)"), Truth::True);
        assert_eq!(t("(cn=*ell)"), Truth::True);
        assert_eq!(t("(cn=*ll*ll*)"), Truth::False);
        assert_eq!(t("(uidNumber=1*)"), Truth::Undefined);
        assert!(substring_match(b"aXa", Some(b"a"), &[], Some(b"a")));
        assert!(!substring_match(b"a", Some(b"a"), &[], Some(b"a")));
    }

    #[test]
    fn extensible_rules() {
        assert_eq!(t("(cn:caseExactMatch:=Alice Liddell)"), Truth::True);
        assert_eq!(t("(cn:2.5.13.5:=alice liddell)"), Truth::False);
        assert_eq!(t("(cn:caseIgnoreMatch:=ALICE LIDDELL)"), Truth::True);
        assert_eq!(t("(uidNumber:integerMatch:=001000)"), Truth::True);
        assert_eq!(t("(uid:=alice)"), Truth::True);
        assert_eq!(t("(:caseIgnoreMatch:=ALICE)"), Truth::True);
        assert_eq!(t("(ou:dn:=people)"), Truth::True);
        assert_eq!(t("(ou:=people)"), Truth::False);
        assert_eq!(t("(cn:1.2.840.113556.1.4.803:=2)"), Truth::Undefined);
        assert!(matches!(
            Filter::parse("(&(cn:1.2.840.113556.1.4.803:=2))")
                .unwrap()
                .validate(),
            Err(LdapError::UnsupportedMatchingRule(_))
        ));
        assert!(
            Filter::parse("(cn:caseExactMatch:=x)")
                .unwrap()
                .validate()
                .is_ok()
        );
    }

    /// A view that can test `memberUid` membership but never lists it, as a directory keeping
    /// large groups compactly would.
    struct Shortcut(Entry);

    impl EntryView for Shortcut {
        fn dn_string(&self) -> std::borrow::Cow<'_, str> {
            EntryView::dn_string(&self.0)
        }
        fn dn(&self) -> std::borrow::Cow<'_, Dn> {
            EntryView::dn(&self.0)
        }
        fn in_scope(&self, base: &Dn, scope: crate::proto::SearchScope) -> bool {
            self.0.in_scope(base, scope)
        }
        fn attribute(&self, d: &str) -> Option<std::borrow::Cow<'_, crate::Attribute>> {
            assert!(!d.eq_ignore_ascii_case("memberUid"), "listed memberUid");
            self.0.attribute(d)
        }
        fn has_attribute(&self, d: &str) -> bool {
            self.0.get(d).is_some()
        }
        fn has_value(&self, d: &str, assertion: &[u8]) -> Option<bool> {
            d.eq_ignore_ascii_case("memberUid")
                .then(|| assertion == b"Bob" || assertion == b"Carol")
        }
        fn select(&self, wanted: &mut dyn FnMut(&str) -> bool) -> Vec<crate::Attribute> {
            self.0.select(wanted)
        }
    }

    #[test]
    fn equality_uses_the_view_shortcut() {
        let e = Shortcut(person());
        let t = |f: &str| Filter::parse(f).unwrap().evaluate(&e);
        assert_eq!(t("(memberUid=Carol)"), Truth::True);
        assert_eq!(t("(memberUid= Bob )"), Truth::True);
        assert_eq!(t("(!(memberUid=Dave))"), Truth::True);
        assert_eq!(t("(memberUid=*)"), Truth::True);
        assert_eq!(t("(&(uid=alice)(memberUid=Bob))"), Truth::True);
    }
}
