//! The little schema knowledge matching needs: each attribute's syntax, the normalization that
//! its equality rule implies, the extensible-match rules we implement, which attributes are
//! operational, and the subschema entry we publish.
//!
//! The table is fixed on purpose: idm's directory is a projection of its own identity model, so the
//! set of attributes is known in advance. Unknown attributes default to case-ignore strings,
//! which is what RFC 4519 gives most naming attributes and what clients expect.
//!
//! Indexes must use [`Syntax::normalize`] for their keys: the planner looks values up in that
//! form, and the full filter evaluation compares in that form, so both agree.

use std::cmp::Ordering;

use crate::dn::Dn;
use crate::entry::{Attribute, Entry};

/// How values of an attribute are compared (the syntax and its equality/ordering/substring rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Syntax {
    /// Directory String / IA5 with caseIgnoreMatch: case-folded, insignificant spaces removed.
    CaseIgnoreString,
    /// IA5 / Directory String with caseExactMatch (RFC 2307 `memberUid`, `homeDirectory`, …).
    CaseExactString,
    /// INTEGER with integerMatch / integerOrderingMatch (`uidNumber`, `gidNumber`, …).
    Integer,
    /// DN with distinguishedNameMatch (`member`, `memberOf`, …): compared in normalized form.
    Dn,
    /// Octet string with octetStringMatch (`userPassword`, certificates).
    OctetString,
}

/// The syntax of an attribute description (options such as `;binary` are ignored).
#[must_use]
pub fn syntax_of(attr: &str) -> Syntax {
    let base = attr.split(';').next().unwrap_or(attr);
    let is = |list: &[&str]| list.iter().any(|a| a.eq_ignore_ascii_case(base));
    if is(INTEGER_ATTRS) {
        Syntax::Integer
    } else if is(DN_ATTRS) {
        Syntax::Dn
    } else if is(CASE_EXACT_ATTRS) {
        Syntax::CaseExactString
    } else if is(OCTET_ATTRS) {
        Syntax::OctetString
    } else {
        Syntax::CaseIgnoreString
    }
}

/// Whether an attribute is operational: returned only when asked for by name or with `+`.
#[must_use]
pub fn is_operational(attr: &str) -> bool {
    let base = attr.split(';').next().unwrap_or(attr);
    OPERATIONAL_ATTRS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(base))
}

impl Syntax {
    /// The syntax whose equality rule an extensibleMatch `matchingRule` names (by OID or
    /// descriptor); `None` if we do not implement that rule.
    #[must_use]
    pub fn from_matching_rule(rule: &str) -> Option<Syntax> {
        MATCHING_RULES
            .iter()
            .find(|(oid, name, _)| *oid == rule || name.eq_ignore_ascii_case(rule))
            .map(|(_, _, s)| *s)
    }

    /// The normalized form used for equality (and index keys); `None` if the value is not valid
    /// for the syntax, which makes a filter term on it Undefined.
    #[must_use]
    pub fn normalize(self, value: &[u8]) -> Option<Vec<u8>> {
        match self {
            Syntax::CaseIgnoreString => Some(fold_string(value, true, true)),
            Syntax::CaseExactString => Some(fold_string(value, false, true)),
            Syntax::Integer => normalize_integer(value),
            Syntax::Dn => {
                let s = std::str::from_utf8(value).ok()?;
                Some(Dn::parse(s).ok()?.to_normalized_string().into_bytes())
            }
            Syntax::OctetString => Some(value.to_vec()),
        }
    }

    /// Orders two *normalized* values; `None` where the syntax has no ordering rule (DNs).
    #[must_use]
    pub fn compare(self, a: &[u8], b: &[u8]) -> Option<Ordering> {
        match self {
            Syntax::Integer => Some(compare_integers(a, b)),
            Syntax::Dn => None,
            Syntax::CaseIgnoreString | Syntax::CaseExactString | Syntax::OctetString => {
                Some(a.cmp(b))
            }
        }
    }

    /// The form substring pieces are compared in; `None` where the syntax has no substrings rule.
    ///
    /// Pieces keep their inner spaces' positions (only runs are collapsed) and are not trimmed,
    /// because a piece's boundary spaces are significant inside the value.
    #[must_use]
    pub fn substring_piece(self, piece: &[u8]) -> Option<Vec<u8>> {
        match self {
            Syntax::CaseIgnoreString => Some(fold_string(piece, true, false)),
            Syntax::CaseExactString => Some(fold_string(piece, false, false)),
            Syntax::OctetString => Some(piece.to_vec()),
            Syntax::Integer | Syntax::Dn => None,
        }
    }
}

/// The subschema entry published at `dn` (RFC 4512 section 4.2), describing the attributes and
/// object classes idm serves. Clients mostly use it to learn syntaxes (e.g. that `uidNumber` is an
/// integer), so it lists those and the object classes of RFC 2307 and inetOrgPerson.
#[must_use]
pub fn subschema_entry(dn: Dn) -> Entry {
    let attribute_types = ATTRIBUTE_TYPES
        .iter()
        .map(|(oid, name, syntax, single)| {
            let (syntax_oid, eq) = match syntax_of(name) {
                Syntax::Integer => ("1.3.6.1.4.1.1466.115.121.1.27", "integerMatch"),
                Syntax::Dn => ("1.3.6.1.4.1.1466.115.121.1.12", "distinguishedNameMatch"),
                Syntax::CaseExactString => ("1.3.6.1.4.1.1466.115.121.1.26", "caseExactIA5Match"),
                Syntax::OctetString => ("1.3.6.1.4.1.1466.115.121.1.40", "octetStringMatch"),
                Syntax::CaseIgnoreString => ("1.3.6.1.4.1.1466.115.121.1.15", "caseIgnoreMatch"),
            };
            let syntax_oid = if syntax.is_empty() {
                syntax_oid
            } else {
                syntax
            };
            let single = if *single { " SINGLE-VALUE" } else { "" };
            let usage = if is_operational(name) {
                " NO-USER-MODIFICATION USAGE directoryOperation"
            } else {
                ""
            };
            format!("( {oid} NAME '{name}' EQUALITY {eq} SYNTAX {syntax_oid}{single}{usage} )")
                .into_bytes()
        })
        .collect();
    let object_classes = OBJECT_CLASSES
        .iter()
        .map(|d| d.as_bytes().to_vec())
        .collect();
    Entry::new(
        dn,
        vec![
            Attribute::new("objectClass", ["top", "subentry", "subschema"]),
            Attribute::new("cn", ["subschema"]),
            Attribute {
                description: "attributeTypes".into(),
                values: attribute_types,
            },
            Attribute {
                description: "objectClasses".into(),
                values: object_classes,
            },
            Attribute::new(
                "matchingRules",
                MATCHING_RULES
                    .iter()
                    .map(|(oid, name, _)| format!("( {oid} NAME '{name}' )")),
            ),
        ],
    )
}

/// Case folding and insignificant-space handling (a pragmatic subset of RFC 4518): runs of
/// whitespace become one space, and with `trim` leading/trailing spaces go. Non-UTF-8 values are
/// compared as bytes.
fn fold_string(value: &[u8], ignore_case: bool, trim: bool) -> Vec<u8> {
    let Ok(s) = std::str::from_utf8(value) else {
        return value.to_vec();
    };
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space && (!trim || !out.is_empty()) {
            out.push(' ');
        }
        pending_space = false;
        if ignore_case {
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else {
                out.extend(c.to_lowercase());
            }
        } else {
            out.push(c);
        }
    }
    if pending_space && !trim {
        out.push(' ');
    }
    out.into_bytes()
}

/// Canonical decimal form: optional `-`, no leading zeros, no `-0`.
fn normalize_integer(value: &[u8]) -> Option<Vec<u8>> {
    let s = std::str::from_utf8(value).ok()?.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    let mut out = Vec::with_capacity(digits.len() + 1);
    if digits.is_empty() {
        out.push(b'0');
        return Some(out);
    }
    if neg {
        out.push(b'-');
    }
    out.extend_from_slice(digits.as_bytes());
    Some(out)
}

/// Compares canonical integers of any length.
fn compare_integers(a: &[u8], b: &[u8]) -> Ordering {
    let (an, ad) = match a.split_first() {
        Some((b'-', d)) => (true, d),
        _ => (false, a),
    };
    let (bn, bd) = match b.split_first() {
        Some((b'-', d)) => (true, d),
        _ => (false, b),
    };
    let magnitude = ad.len().cmp(&bd.len()).then_with(|| ad.cmp(bd));
    match (an, bn) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

const INTEGER_ATTRS: &[&str] = &[
    "uidNumber",
    "gidNumber",
    "shadowLastChange",
    "shadowMin",
    "shadowMax",
    "shadowWarning",
    "shadowInactive",
    "shadowExpire",
    "shadowFlag",
    "supportedLDAPVersion",
];

const DN_ATTRS: &[&str] = &[
    "member",
    "memberOf",
    "uniqueMember",
    "manager",
    "owner",
    "seeAlso",
    "secretary",
    "roleOccupant",
    "entryDN",
    "subschemaSubentry",
    "creatorsName",
    "modifiersName",
    "namingContexts",
    "distinguishedName",
];

const CASE_EXACT_ATTRS: &[&str] = &[
    "memberUid",
    "homeDirectory",
    "loginShell",
    "nisNetgroupTriple",
];

const OCTET_ATTRS: &[&str] = &[
    "userPassword",
    "userCertificate",
    "jpegPhoto",
    "sshPublicKey",
];

const OPERATIONAL_ATTRS: &[&str] = &[
    "createTimestamp",
    "modifyTimestamp",
    "creatorsName",
    "modifiersName",
    "entryUUID",
    "entryDN",
    "entryCSN",
    "subschemaSubentry",
    "structuralObjectClass",
    "hasSubordinates",
    "numSubordinates",
    "pwdChangedTime",
    "pwdAccountLockedTime",
    // The root DSE's attributes are operational too (RFC 4512 section 5.1, USAGE
    // dSAOperation): `ldapsearch -b "" -s base +` lists them, a plain read shows objectClass.
    "namingContexts",
    "supportedLDAPVersion",
    "supportedControl",
    "supportedExtension",
    "supportedFeatures",
    "supportedSASLMechanisms",
    "altServer",
    "vendorName",
    "vendorVersion",
];

/// (OID, descriptor, syntax whose equality the rule is).
const MATCHING_RULES: &[(&str, &str, Syntax)] = &[
    (
        "2.5.13.0",
        "objectIdentifierMatch",
        Syntax::CaseIgnoreString,
    ),
    ("2.5.13.1", "distinguishedNameMatch", Syntax::Dn),
    ("2.5.13.2", "caseIgnoreMatch", Syntax::CaseIgnoreString),
    ("2.5.13.5", "caseExactMatch", Syntax::CaseExactString),
    ("2.5.13.14", "integerMatch", Syntax::Integer),
    ("2.5.13.17", "octetStringMatch", Syntax::OctetString),
    (
        "1.3.6.1.4.1.1466.109.114.1",
        "caseExactIA5Match",
        Syntax::CaseExactString,
    ),
    (
        "1.3.6.1.4.1.1466.109.114.2",
        "caseIgnoreIA5Match",
        Syntax::CaseIgnoreString,
    ),
    ("1.3.6.1.1.16.2", "uuidMatch", Syntax::CaseIgnoreString),
];

/// (OID, name, syntax OID override or "", single-valued).
const ATTRIBUTE_TYPES: &[(&str, &str, &str, bool)] = &[
    (
        "2.5.4.0",
        "objectClass",
        "1.3.6.1.4.1.1466.115.121.1.38",
        false,
    ),
    ("2.5.4.3", "cn", "", false),
    ("2.5.4.4", "sn", "", false),
    ("2.5.4.42", "givenName", "", false),
    ("2.16.840.1.113730.3.1.241", "displayName", "", true),
    ("2.5.4.13", "description", "", false),
    ("0.9.2342.19200300.100.1.1", "uid", "", false),
    ("0.9.2342.19200300.100.1.3", "mail", "", false),
    ("2.5.4.35", "userPassword", "", false),
    ("1.3.6.1.1.1.1.0", "uidNumber", "", true),
    ("1.3.6.1.1.1.1.1", "gidNumber", "", true),
    ("1.3.6.1.1.1.1.2", "gecos", "", true),
    ("1.3.6.1.1.1.1.3", "homeDirectory", "", true),
    ("1.3.6.1.1.1.1.4", "loginShell", "", true),
    ("1.3.6.1.1.1.1.12", "memberUid", "", false),
    ("2.5.4.31", "member", "", false),
    ("1.2.840.113556.1.2.102", "memberOf", "", false),
    ("1.3.6.1.4.1.24552.500.1.1.1.13", "sshPublicKey", "", false),
    ("1.3.6.1.1.16.4", "entryUUID", "1.3.6.1.1.16.1", true),
    ("1.3.6.1.1.20", "entryDN", "", true),
    ("2.5.18.10", "subschemaSubentry", "", true),
];

const OBJECT_CLASSES: &[&str] = &[
    "( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )",
    "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY ( userPassword $ description ) )",
    "( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL )",
    "( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL MAY ( displayName $ givenName $ mail $ uid ) )",
    "( 1.3.6.1.1.1.2.0 NAME 'posixAccount' SUP top AUXILIARY MUST ( cn $ uid $ uidNumber $ gidNumber $ homeDirectory ) MAY ( userPassword $ loginShell $ gecos $ description ) )",
    "( 1.3.6.1.1.1.2.2 NAME 'posixGroup' SUP top STRUCTURAL MUST ( cn $ gidNumber ) MAY ( userPassword $ memberUid $ description ) )",
    "( 2.5.6.9 NAME 'groupOfNames' SUP top STRUCTURAL MUST cn MAY ( member $ description ) )",
    "( 2.5.6.5 NAME 'organizationalUnit' SUP top STRUCTURAL MUST ou )",
    "( 1.3.6.1.4.1.24552.500.1.1.2.0 NAME 'ldapPublicKey' SUP top AUXILIARY MAY ( sshPublicKey $ uid ) )",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntaxes() {
        assert_eq!(syntax_of("UIDNUMBER"), Syntax::Integer);
        assert_eq!(syntax_of("memberOf"), Syntax::Dn);
        assert_eq!(syntax_of("memberUid"), Syntax::CaseExactString);
        assert_eq!(syntax_of("cn;lang-en"), Syntax::CaseIgnoreString);
        assert_eq!(syntax_of("userPassword"), Syntax::OctetString);
        assert!(is_operational("EntryUUID"));
        assert!(!is_operational("cn"));
        assert!(is_operational("namingContexts"));
    }

    #[test]
    fn normalization() {
        let ci = Syntax::CaseIgnoreString;
        assert_eq!(ci.normalize(b"  Hello   World ").unwrap(), b"hello world");
        assert_eq!(ci.normalize("ÄBC".as_bytes()).unwrap(), "äbc".as_bytes());
        assert_eq!(
            Syntax::CaseExactString.normalize(b" Ab  c").unwrap(),
            b"Ab c"
        );
        let int = Syntax::Integer;
        assert_eq!(int.normalize(b"007").unwrap(), b"7");
        assert_eq!(int.normalize(b"-0").unwrap(), b"0");
        assert_eq!(int.normalize(b"-012").unwrap(), b"-12");
        assert_eq!(int.normalize(b"1a"), None);
        assert_eq!(int.normalize(b""), None);
        assert_eq!(Syntax::Dn.normalize(b"UID=A, dc=X").unwrap(), b"uid=a,dc=x");
        assert_eq!(Syntax::Dn.normalize(b"not a dn"), None);
    }

    #[test]
    fn integer_ordering() {
        let c = |a: &[u8], b: &[u8]| compare_integers(a, b);
        assert_eq!(c(b"9", b"10"), Ordering::Less);
        assert_eq!(c(b"-9", b"-10"), Ordering::Greater);
        assert_eq!(c(b"-1", b"0"), Ordering::Less);
        assert_eq!(c(b"123", b"123"), Ordering::Equal);
    }

    #[test]
    fn matching_rules_by_oid_and_name() {
        assert_eq!(
            Syntax::from_matching_rule("2.5.13.5"),
            Some(Syntax::CaseExactString)
        );
        assert_eq!(
            Syntax::from_matching_rule("CASEIGNOREMATCH"),
            Some(Syntax::CaseIgnoreString)
        );
        assert_eq!(Syntax::from_matching_rule("1.2.840.113556.1.4.803"), None);
    }

    #[test]
    fn subschema_lists_definitions() {
        let e = subschema_entry(Dn::parse("cn=subschema").unwrap());
        let at = e.get("attributeTypes").unwrap();
        assert!(at.values.iter().any(|v| v.starts_with(b"( 1.3.6.1.1.1.1.0 NAME 'uidNumber' EQUALITY integerMatch")));
    }
}
