//! Search filters: the structure (RFC 4511 section 4.5.1.7), its BER codec and the RFC 4515
//! string form in both directions.
//!
//! Evaluation against entries lives in [`crate::eval`]; this module is only about syntax.
//! Both decoders bound nesting depth and the total number of filter items with
//! [`Limits`], since a filter is the one recursive structure a client controls.

use std::fmt::{self, Write as _};

use bytes::BytesMut;

use crate::LdapError;
use crate::ber::{self, OCTET_STRING, Reader, SEQUENCE, Tag, Tlv};
use crate::proto::Limits;

/// A search filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Filter {
    /// `(&…)`; empty is absolute true (RFC 4526).
    And(Vec<Filter>),
    /// `(|…)`; empty is absolute false (RFC 4526).
    Or(Vec<Filter>),
    /// `(!…)`.
    Not(Box<Filter>),
    /// `(attr=value)`.
    Equality {
        /// Attribute description.
        attr: String,
        /// Assertion value.
        value: Vec<u8>,
    },
    /// `(attr=initial*any*final)`.
    Substrings(Substrings),
    /// `(attr>=value)`.
    GreaterOrEqual {
        /// Attribute description.
        attr: String,
        /// Assertion value.
        value: Vec<u8>,
    },
    /// `(attr<=value)`.
    LessOrEqual {
        /// Attribute description.
        attr: String,
        /// Assertion value.
        value: Vec<u8>,
    },
    /// `(attr=*)`.
    Present(String),
    /// `(attr~=value)`.
    Approx {
        /// Attribute description.
        attr: String,
        /// Assertion value.
        value: Vec<u8>,
    },
    /// `(attr:dn:rule:=value)`.
    Extensible(ExtensibleMatch),
}

/// The SubstringFilter of RFC 4511.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Substrings {
    /// Attribute description.
    pub attr: String,
    /// The piece the value must start with.
    pub initial: Option<Vec<u8>>,
    /// Pieces that must appear in order.
    pub any: Vec<Vec<u8>>,
    /// The piece the value must end with.
    pub final_: Option<Vec<u8>>,
}

/// The MatchingRuleAssertion of RFC 4511.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtensibleMatch {
    /// matchingRule: OID or descriptor.
    pub rule: Option<String>,
    /// type: the attribute description.
    pub attr: Option<String>,
    /// matchValue.
    pub value: Vec<u8>,
    /// dnAttributes: also match the AVAs of the entry's DN.
    pub dn_attributes: bool,
}

impl Filter {
    /// Parses the RFC 4515 string form with default [`Limits`].
    pub fn parse(s: &str) -> Result<Self, LdapError> {
        Self::parse_with_limits(s, &Limits::default())
    }

    /// Parses the RFC 4515 string form. The outer parentheses may be omitted (`uid=x`), as
    /// `ldapsearch` allows; whitespace between list elements is skipped.
    pub fn parse_with_limits(s: &str, limits: &Limits) -> Result<Self, LdapError> {
        let mut p = StrParser {
            input: s.as_bytes(),
            pos: 0,
            limits,
            items: 0,
        };
        p.skip_ws();
        let f = if p.peek() == Some(b'(') {
            p.filter(0)?
        } else {
            p.count_item()?;
            p.item()?
        };
        p.skip_ws();
        if p.peek().is_some() {
            return Err(p.err("trailing characters after the filter"));
        }
        Ok(f)
    }

    /// `(objectClass=*)`, the conventional match-everything filter.
    #[must_use]
    pub fn match_all() -> Self {
        Filter::Present("objectClass".to_owned())
    }

    /// An equality filter.
    #[must_use]
    pub fn eq(attr: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Filter::Equality {
            attr: attr.into(),
            value: value.into(),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('(')?;
        match self {
            Filter::And(list) | Filter::Or(list) => {
                f.write_char(if matches!(self, Filter::And(_)) {
                    '&'
                } else {
                    '|'
                })?;
                for item in list {
                    write!(f, "{item}")?;
                }
            }
            Filter::Not(inner) => write!(f, "!{inner}")?,
            Filter::Equality { attr, value } => write!(f, "{attr}={}", Escaped(value))?,
            Filter::GreaterOrEqual { attr, value } => write!(f, "{attr}>={}", Escaped(value))?,
            Filter::LessOrEqual { attr, value } => write!(f, "{attr}<={}", Escaped(value))?,
            Filter::Approx { attr, value } => write!(f, "{attr}~={}", Escaped(value))?,
            Filter::Present(attr) => write!(f, "{attr}=*")?,
            Filter::Substrings(s) => {
                write!(f, "{}=", s.attr)?;
                if let Some(i) = &s.initial {
                    write!(f, "{}", Escaped(i))?;
                }
                f.write_char('*')?;
                for a in &s.any {
                    write!(f, "{}*", Escaped(a))?;
                }
                if let Some(fi) = &s.final_ {
                    write!(f, "{}", Escaped(fi))?;
                }
            }
            Filter::Extensible(m) => {
                if let Some(a) = &m.attr {
                    f.write_str(a)?;
                }
                if m.dn_attributes {
                    f.write_str(":dn")?;
                }
                if let Some(r) = &m.rule {
                    write!(f, ":{r}")?;
                }
                write!(f, ":={}", Escaped(&m.value))?;
            }
        }
        f.write_char(')')
    }
}

/// Escapes an assertion value for the string form (RFC 4515 section 3): the specials `*()\` and
/// NUL, plus every byte outside printable ASCII so that any octets survive a round trip.
#[must_use]
pub fn escape_value(value: &[u8]) -> String {
    Escaped(value).to_string()
}

struct Escaped<'a>(&'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            match b {
                b'*' | b'(' | b')' | b'\\' => write!(f, "\\{b:02x}")?,
                0x20..=0x7e => f.write_char(char::from(b))?,
                _ => write!(f, "\\{b:02x}")?,
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// BER

const AND: Tag = Tag::context(0, true);
const OR: Tag = Tag::context(1, true);
const NOT: Tag = Tag::context(2, true);
const EQUALITY: Tag = Tag::context(3, true);
const SUBSTRINGS: Tag = Tag::context(4, true);
const GREATER_OR_EQUAL: Tag = Tag::context(5, true);
const LESS_OR_EQUAL: Tag = Tag::context(6, true);
const PRESENT: Tag = Tag::context(7, false);
const APPROX: Tag = Tag::context(8, true);
const EXTENSIBLE: Tag = Tag::context(9, true);

/// Decodes one filter element, with its depth and the running item count checked.
pub(crate) fn decode_filter(
    tlv: Tlv<'_>,
    limits: &Limits,
    depth: usize,
    items: &mut usize,
) -> Result<Filter, LdapError> {
    if depth >= limits.max_filter_depth {
        return Err(LdapError::LimitExceeded {
            what: "filter nesting levels",
            limit: limits.max_filter_depth,
        });
    }
    *items += 1;
    if *items > limits.max_filter_items {
        return Err(LdapError::LimitExceeded {
            what: "filter items",
            limit: limits.max_filter_items,
        });
    }
    let v = tlv.value;
    Ok(match tlv.tag {
        AND | OR => {
            let mut r = Reader::new(v);
            let mut list = Vec::new();
            while !r.is_empty() {
                list.push(decode_filter(r.next_tlv()?, limits, depth + 1, items)?);
            }
            if tlv.tag == AND {
                Filter::And(list)
            } else {
                Filter::Or(list)
            }
        }
        NOT => {
            let mut r = Reader::new(v);
            let inner = decode_filter(r.next_tlv()?, limits, depth + 1, items)?;
            r.finish("not filter")?;
            Filter::Not(Box::new(inner))
        }
        EQUALITY | GREATER_OR_EQUAL | LESS_OR_EQUAL | APPROX => {
            let (attr, value) = decode_ava(v)?;
            match tlv.tag {
                EQUALITY => Filter::Equality { attr, value },
                GREATER_OR_EQUAL => Filter::GreaterOrEqual { attr, value },
                LESS_OR_EQUAL => Filter::LessOrEqual { attr, value },
                _ => Filter::Approx { attr, value },
            }
        }
        SUBSTRINGS => Filter::Substrings(decode_substrings(v, limits)?),
        PRESENT => Filter::Present(ber::decode_string(v, "attribute description")?),
        EXTENSIBLE => Filter::Extensible(decode_extensible(v)?),
        _ => return Err(LdapError::Malformed("unknown filter choice")),
    })
}

/// Decodes an AttributeValueAssertion's contents.
pub(crate) fn decode_ava(v: &[u8]) -> Result<(String, Vec<u8>), LdapError> {
    let mut r = Reader::new(v);
    let attr = r.string("attribute description")?;
    let value = r.octets("assertion value")?.to_vec();
    r.finish("AttributeValueAssertion")?;
    Ok((attr, value))
}

fn decode_substrings(v: &[u8], limits: &Limits) -> Result<Substrings, LdapError> {
    let mut r = Reader::new(v);
    let attr = r.string("attribute description")?;
    let mut pieces = Reader::new(r.expect(SEQUENCE, "substrings must be a SEQUENCE")?);
    r.finish("SubstringFilter")?;
    let mut s = Substrings {
        attr,
        initial: None,
        any: Vec::new(),
        final_: None,
    };
    let mut count = 0;
    while !pieces.is_empty() {
        count += 1;
        if count > limits.max_values {
            return Err(LdapError::LimitExceeded {
                what: "substring pieces",
                limit: limits.max_values,
            });
        }
        let t = pieces.next_tlv()?;
        let first = count == 1;
        match t.tag {
            // initial must come first, final last, each at most once.
            t0 if t0 == Tag::context(0, false) && first => s.initial = Some(t.value.to_vec()),
            t1 if t1 == Tag::context(1, false) && s.final_.is_none() => {
                s.any.push(t.value.to_vec())
            }
            t2 if t2 == Tag::context(2, false) && s.final_.is_none() => {
                s.final_ = Some(t.value.to_vec());
            }
            _ => return Err(LdapError::Malformed("misplaced substring piece")),
        }
    }
    if count == 0 {
        return Err(LdapError::Malformed("empty substring filter"));
    }
    Ok(s)
}

fn decode_extensible(v: &[u8]) -> Result<ExtensibleMatch, LdapError> {
    let mut r = Reader::new(v);
    let rule = r
        .optional(Tag::context(1, false))?
        .map(|v| ber::decode_string(v, "matching rule"))
        .transpose()?;
    let attr = r
        .optional(Tag::context(2, false))?
        .map(|v| ber::decode_string(v, "attribute description"))
        .transpose()?;
    let value = r.expect(Tag::context(3, false), "matchValue")?.to_vec();
    let dn_attributes = match r.optional(Tag::context(4, false))? {
        Some(b) => ber::decode_boolean(b)?,
        None => false,
    };
    r.finish("MatchingRuleAssertion")?;
    Ok(ExtensibleMatch {
        rule,
        attr,
        value,
        dn_attributes,
    })
}

/// Encodes a filter element.
pub(crate) fn encode_filter(f: &Filter, out: &mut BytesMut) {
    match f {
        Filter::And(list) | Filter::Or(list) => {
            let tag = if matches!(f, Filter::And(_)) { AND } else { OR };
            ber::put_tlv(out, tag, |out| {
                for item in list {
                    encode_filter(item, out);
                }
            });
        }
        Filter::Not(inner) => ber::put_tlv(out, NOT, |out| encode_filter(inner, out)),
        Filter::Equality { attr, value } => encode_ava(out, EQUALITY, attr, value),
        Filter::GreaterOrEqual { attr, value } => encode_ava(out, GREATER_OR_EQUAL, attr, value),
        Filter::LessOrEqual { attr, value } => encode_ava(out, LESS_OR_EQUAL, attr, value),
        Filter::Approx { attr, value } => encode_ava(out, APPROX, attr, value),
        Filter::Present(attr) => ber::put_octets(out, PRESENT, attr.as_bytes()),
        Filter::Substrings(s) => ber::put_tlv(out, SUBSTRINGS, |out| {
            ber::put_octets(out, OCTET_STRING, s.attr.as_bytes());
            ber::put_tlv(out, SEQUENCE, |out| {
                if let Some(i) = &s.initial {
                    ber::put_octets(out, Tag::context(0, false), i);
                }
                for a in &s.any {
                    ber::put_octets(out, Tag::context(1, false), a);
                }
                if let Some(fi) = &s.final_ {
                    ber::put_octets(out, Tag::context(2, false), fi);
                }
            });
        }),
        Filter::Extensible(m) => ber::put_tlv(out, EXTENSIBLE, |out| {
            if let Some(r) = &m.rule {
                ber::put_octets(out, Tag::context(1, false), r.as_bytes());
            }
            if let Some(a) = &m.attr {
                ber::put_octets(out, Tag::context(2, false), a.as_bytes());
            }
            ber::put_octets(out, Tag::context(3, false), &m.value);
            if m.dn_attributes {
                ber::put_boolean(out, Tag::context(4, false), true);
            }
        }),
    }
}

/// Encodes an AttributeValueAssertion under `tag`.
pub(crate) fn encode_ava(out: &mut BytesMut, tag: Tag, attr: &str, value: &[u8]) {
    ber::put_tlv(out, tag, |out| {
        ber::put_octets(out, OCTET_STRING, attr.as_bytes());
        ber::put_octets(out, OCTET_STRING, value);
    });
}

// ---------------------------------------------------------------------------------------------
// RFC 4515 string form

struct StrParser<'a> {
    input: &'a [u8],
    pos: usize,
    limits: &'a Limits,
    items: usize,
}

impl StrParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn err(&self, reason: &'static str) -> LdapError {
        LdapError::InvalidFilter {
            position: self.pos,
            reason,
        }
    }

    fn expect(&mut self, c: u8, reason: &'static str) -> Result<(), LdapError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(reason))
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn count_item(&mut self) -> Result<(), LdapError> {
        self.items += 1;
        if self.items > self.limits.max_filter_items {
            return Err(LdapError::LimitExceeded {
                what: "filter items",
                limit: self.limits.max_filter_items,
            });
        }
        Ok(())
    }

    /// `filter = "(" filtercomp ")"`
    fn filter(&mut self, depth: usize) -> Result<Filter, LdapError> {
        if depth >= self.limits.max_filter_depth {
            return Err(LdapError::LimitExceeded {
                what: "filter nesting levels",
                limit: self.limits.max_filter_depth,
            });
        }
        self.count_item()?;
        self.expect(b'(', "expected '('")?;
        let f = match self.peek() {
            Some(b'&') => {
                self.pos += 1;
                Filter::And(self.list(depth)?)
            }
            Some(b'|') => {
                self.pos += 1;
                Filter::Or(self.list(depth)?)
            }
            Some(b'!') => {
                self.pos += 1;
                self.skip_ws();
                let inner = self.filter(depth + 1)?;
                self.skip_ws();
                Filter::Not(Box::new(inner))
            }
            _ => self.item()?,
        };
        self.expect(b')', "expected ')'")?;
        Ok(f)
    }

    fn list(&mut self, depth: usize) -> Result<Vec<Filter>, LdapError> {
        let mut list = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() != Some(b'(') {
                return Ok(list);
            }
            list.push(self.filter(depth + 1)?);
        }
    }

    /// `item = simple / present / substring / extensible`
    fn item(&mut self) -> Result<Filter, LdapError> {
        let attr = self.descr();
        if self.peek() == Some(b':') {
            return self.extensible(attr);
        }
        if attr.is_empty() {
            return Err(self.err("expected an attribute description"));
        }
        let op = match self.peek() {
            Some(b'=') => {
                self.pos += 1;
                b'='
            }
            Some(c @ (b'~' | b'>' | b'<')) => {
                self.pos += 1;
                self.expect(b'=', "expected '=' after '~', '>' or '<'")?;
                c
            }
            _ => return Err(self.err("expected a filter type")),
        };
        let mut pieces = vec![self.value(op == b'=')?];
        while self.peek() == Some(b'*') {
            self.pos += 1;
            pieces.push(self.value(true)?);
        }
        Ok(match (op, pieces.as_slice()) {
            (b'=', [value]) => Filter::Equality {
                attr,
                value: value.clone(),
            },
            // `(a=*)`, and `(a=**)` which constrains nothing either.
            (b'=', [..]) if pieces.iter().all(Vec::is_empty) => Filter::Present(attr),
            (b'=', [first, middle @ .., last]) => Filter::Substrings(Substrings {
                attr,
                initial: (!first.is_empty()).then(|| first.clone()),
                // Empty pieces between two stars (`a**b`) carry no constraint.
                any: middle.iter().filter(|p| !p.is_empty()).cloned().collect(),
                final_: (!last.is_empty()).then(|| last.clone()),
            }),
            (b'~', [value]) => Filter::Approx {
                attr,
                value: value.clone(),
            },
            (b'>', [value]) => Filter::GreaterOrEqual {
                attr,
                value: value.clone(),
            },
            (b'<', [value]) => Filter::LessOrEqual {
                attr,
                value: value.clone(),
            },
            _ => return Err(self.err("'*' is only allowed in '=' filters")),
        })
    }

    /// `[":dn"] [":" matchingrule] ":=" assertionvalue` after an optional attribute.
    fn extensible(&mut self, attr: String) -> Result<Filter, LdapError> {
        let mut dn_attributes = false;
        let mut rule = None;
        loop {
            self.expect(b':', "expected ':'")?;
            if self.peek() == Some(b'=') {
                self.pos += 1;
                break;
            }
            let at = self.pos;
            let token = self.descr();
            if token.is_empty() {
                return Err(self.err("expected 'dn' or a matching rule"));
            }
            if token.eq_ignore_ascii_case("dn") && !dn_attributes && rule.is_none() {
                dn_attributes = true;
            } else if rule.is_none() {
                rule = Some(token);
            } else {
                return Err(LdapError::InvalidFilter {
                    position: at,
                    reason: "unexpected component in extensible match",
                });
            }
        }
        if attr.is_empty() && rule.is_none() {
            return Err(self.err("extensible match needs an attribute or a matching rule"));
        }
        let value = self.value(false)?;
        Ok(Filter::Extensible(ExtensibleMatch {
            rule,
            attr: (!attr.is_empty()).then_some(attr),
            value,
            dn_attributes,
        }))
    }

    /// Attribute descriptions and matching-rule names: letters, digits, `-`, `.`, `;`, `_`.
    fn descr(&mut self) -> String {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || b"-.;_".contains(&c)) {
            self.pos += 1;
        }
        let bytes = self.input.get(start..self.pos).unwrap_or_default();
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// An assertion value up to `)` (or `*` when `stop_at_star`), resolving `\XX` escapes and
    /// the RFC 1960 style `\*`, `\(`, `\)`, `\\`.
    fn value(&mut self, stop_at_star: bool) -> Result<Vec<u8>, LdapError> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b')') => return Ok(out),
                Some(b'*') if stop_at_star => return Ok(out),
                Some(b'*') => return Err(self.err("unescaped '*'")),
                Some(b'(') => return Err(self.err("unescaped '('")),
                Some(0) => return Err(self.err("NUL must be escaped")),
                Some(b'\\') => {
                    self.pos += 1;
                    let hi = self.peek().and_then(hex_digit);
                    let lo = self.input.get(self.pos + 1).copied().and_then(hex_digit);
                    match (hi, lo, self.peek()) {
                        (Some(hi), Some(lo), _) => {
                            out.push((hi << 4) | lo);
                            self.pos += 2;
                        }
                        (_, _, Some(c @ (b'*' | b'(' | b')' | b'\\'))) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip_ber(f: &Filter) -> Filter {
        let mut out = BytesMut::new();
        encode_filter(f, &mut out);
        let (tlv, used) = ber::read_tlv(&out).unwrap().unwrap();
        assert_eq!(used, out.len());
        decode_filter(tlv, &Limits::default(), 0, &mut 0).unwrap()
    }

    #[test]
    fn rfc4515_examples() {
        let cases = [
            "(cn=Babs Jensen)",
            "(!(cn=Tim Howes))",
            "(&(objectClass=Person)(|(sn=Jensen)(cn=Babs J*)))",
            "(o=univ*of*mich*)",
            "(seeAlso=)",
            "(cn:caseExactMatch:=Fred Flintstone)",
            "(cn:=Betty Rubble)",
            "(sn:dn:2.4.6.8.10:=Barney Rubble)",
            "(o:dn:=Ace Industry)",
            "(:1.2.3:=Wilma Flintstone)",
            "(:DN:2.4.6.8.10:=Dino)",
            "(o=Parens R Us \\28for all your parenthetical needs\\29)",
            "(cn=*\\2a*)",
            "(filename=C:\\5cMyFile)",
            "(bin=\\00\\00\\00\\04)",
            "(sn=Lu\\c4\\8di\\c4\\87)",
            "(1.3.6.1.4.1.1466.0=\\04\\02\\48\\69)",
            "(&)",
            "(|)",
            "(uidNumber>=1000)",
            "(cn~=jensen)",
        ];
        for s in cases {
            let f = Filter::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            let printed = f.to_string();
            assert_eq!(Filter::parse(&printed).unwrap(), f, "{s} -> {printed}");
            assert_eq!(round_trip_ber(&f), f);
        }
        assert_eq!(
            Filter::parse("(o=univ*of*mich*)").unwrap(),
            Filter::Substrings(Substrings {
                attr: "o".into(),
                initial: Some(b"univ".to_vec()),
                any: vec![b"of".to_vec(), b"mich".to_vec()],
                final_: None,
            })
        );
        assert_eq!(
            Filter::parse("(sn=Lu\\c4\\8di\\c4\\87)").unwrap(),
            Filter::eq("sn", "Lučić")
        );
        assert_eq!(
            Filter::parse("(:DN:2.4.6.8.10:=Dino)").unwrap(),
            Filter::Extensible(ExtensibleMatch {
                rule: Some("2.4.6.8.10".into()),
                attr: None,
                value: b"Dino".to_vec(),
                dn_attributes: true,
            })
        );
        assert_eq!(Filter::parse("uid=x").unwrap(), Filter::eq("uid", "x"));
        assert_eq!(
            Filter::parse(" (& (a=b) (c=*) ) ").unwrap().to_string(),
            "(&(a=b)(c=*))"
        );
    }

    #[test]
    fn rejects_bad_filters() {
        for bad in [
            "",
            "(",
            "()",
            "(cn)",
            "(cn=a",
            "(cn=a))",
            "(=a)",
            "(cn>=a*)",
            "(cn=a\\zz)",
            "(cn=a(b)",
            "(:=x)",
            "(cn:dn:a:b:=x)",
            "(!(a=b)(c=d))",
            "(cn=\\",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let deep = "(!".repeat(40) + "(a=b)" + &")".repeat(40);
        assert!(matches!(
            Filter::parse(&deep),
            Err(LdapError::LimitExceeded { .. })
        ));
        let wide = format!("(|{})", "(a=b)".repeat(2000));
        assert!(matches!(
            Filter::parse(&wide),
            Err(LdapError::LimitExceeded { .. })
        ));
        // The BER decoder applies the same limits.
        let ok = Limits {
            max_filter_depth: 100,
            ..Limits::default()
        };
        let f = Filter::parse_with_limits(&deep, &ok).unwrap();
        let mut out = BytesMut::new();
        encode_filter(&f, &mut out);
        let (tlv, _) = ber::read_tlv(&out).unwrap().unwrap();
        assert!(decode_filter(tlv, &Limits::default(), 0, &mut 0).is_err());
    }

    #[test]
    fn ber_bytes_match_rfc_structure() {
        // (&(objectClass=posixAccount)(uid=a))
        let f = Filter::parse("(&(objectClass=posixAccount)(uid=a))").unwrap();
        let mut out = BytesMut::new();
        encode_filter(&f, &mut out);
        let expected: &[u8] = &[
            0xa0, 0x27, 0xa3, 0x1b, 0x04, 0x0b, b'o', b'b', b'j', b'e', b'c', b't', b'C', b'l',
            b'a', b's', b's', 0x04, 0x0c, b'p', b'o', b's', b'i', b'x', b'A', b'c', b'c', b'o',
            b'u', b'n', b't', 0xa3, 0x08, 0x04, 0x03, b'u', b'i', b'd', 0x04, 0x01, b'a',
        ];
        assert_eq!(&out[..], expected);
        // (objectClass=*) is a primitive [7].
        let mut out = BytesMut::new();
        encode_filter(&Filter::match_all(), &mut out);
        assert_eq!(&out[..2], &[0x87, 0x0b]);
    }

    pub(crate) fn arb_attr() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9-]{0,6}(;[a-z]{1,3})?"
    }

    fn arb_value() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..8)
    }

    fn arb_piece() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 1..6)
    }

    /// Filters in the canonical form the string syntax can express.
    pub(crate) fn arb_filter() -> impl Strategy<Value = Filter> {
        let leaf = prop_oneof![
            (arb_attr(), arb_value()).prop_map(|(attr, value)| Filter::Equality { attr, value }),
            (arb_attr(), arb_value())
                .prop_map(|(attr, value)| Filter::GreaterOrEqual { attr, value }),
            (arb_attr(), arb_value()).prop_map(|(attr, value)| Filter::LessOrEqual { attr, value }),
            (arb_attr(), arb_value()).prop_map(|(attr, value)| Filter::Approx { attr, value }),
            arb_attr().prop_map(Filter::Present),
            (
                arb_attr(),
                prop::option::of(arb_piece()),
                prop::collection::vec(arb_piece(), 0..3),
                prop::option::of(arb_piece())
            )
                .prop_filter("not a present filter", |(_, i, a, f)| {
                    i.is_some() || !a.is_empty() || f.is_some()
                })
                .prop_map(
                    |(attr, initial, any, final_)| Filter::Substrings(Substrings {
                        attr,
                        initial,
                        any,
                        final_
                    })
                ),
            (
                prop::option::of("[a-zA-Z][a-zA-Z0-9]{0,5}|[0-9]{1,2}(\\.[0-9]{1,2}){1,3}"),
                prop::option::of(arb_attr()),
                arb_value(),
                any::<bool>()
            )
                .prop_filter("needs attr or rule", |(r, a, _, _)| r.is_some()
                    || a.is_some())
                .prop_filter("rule must not be 'dn'", |(r, _, _, _)| {
                    !r.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("dn"))
                })
                .prop_map(|(rule, attr, value, dn_attributes)| Filter::Extensible(
                    ExtensibleMatch {
                        rule,
                        attr,
                        value,
                        dn_attributes
                    }
                )),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::And),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::Or),
                inner.prop_map(|f| Filter::Not(Box::new(f))),
            ]
        })
    }

    proptest! {
        #[test]
        fn string_form_round_trips(f in arb_filter()) {
            let s = f.to_string();
            prop_assert_eq!(Filter::parse(&s).unwrap(), f.clone(), "{}", s);
            prop_assert_eq!(round_trip_ber(&f), f);
        }

        #[test]
        fn string_parser_never_panics(s in "[()&|!=*~<>:a-c\\\\0-9 ]{0,30}") {
            if let Ok(f) = Filter::parse(&s) {
                prop_assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
            }
        }
    }
}
