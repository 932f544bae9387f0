//! Distinguished names (RFC 4514): parse, format with escapes, normalize, compare by ancestry.
//!
//! A [`Dn`] keeps what the client wrote (attribute-type case, value bytes) so that it can be echoed
//! back unchanged; [`Dn::normalize`] produces the comparison form in which `UID=Alice , dc=Example`
//! and `uid=alice,dc=example` are equal. Scope checks and index keys always use the normalized
//! form; entries cache theirs (see [`crate::Entry`]).
//!
//! The parser is lenient where real clients are sloppy (spaces around `=`, `,` and `+`, unescaped
//! `=`, `"`, `<`, `>`, `;` inside values) and strict where ambiguity would change meaning
//! (separators, escapes, attribute type syntax).

use std::fmt::{self, Write as _};
use std::str::FromStr;

use crate::LdapError;
use crate::schema::Syntax;

/// A distinguished name: RDNs from the most specific (leftmost) to the root.
///
/// The empty DN (no RDNs) names the root DSE.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dn {
    rdns: Vec<Rdn>,
}

/// A relative distinguished name: one or more attribute-value assertions joined by `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rdn {
    avas: Vec<Ava>,
}

/// One `type=value` pair of an RDN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ava {
    /// The attribute type as written (a descriptor such as `uid` or a numeric OID).
    pub attr: String,
    /// The value octets (escapes resolved). Usually UTF-8, but `\XX` escapes may produce any bytes.
    pub value: Vec<u8>,
    /// The value was written as `#hex`, so `value` holds a BER encoding, not the string itself.
    pub ber: bool,
}

impl Dn {
    /// The root DN (empty string).
    #[must_use]
    pub fn root() -> Self {
        Self::default()
    }

    /// Parses the RFC 4514 string form.
    pub fn parse(s: &str) -> Result<Self, LdapError> {
        Parser::new(s).dn()
    }

    /// Builds a DN from RDNs, most specific first.
    #[must_use]
    pub fn from_rdns(rdns: Vec<Rdn>) -> Self {
        Self { rdns }
    }

    /// RDNs, most specific first.
    #[must_use]
    pub fn rdns(&self) -> &[Rdn] {
        &self.rdns
    }

    /// Whether this is the root DN.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.rdns.is_empty()
    }

    /// Number of RDNs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rdns.len()
    }

    /// Whether there are no RDNs (same as [`Dn::is_root`]).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rdns.is_empty()
    }

    /// The leftmost RDN.
    #[must_use]
    pub fn rdn(&self) -> Option<&Rdn> {
        self.rdns.first()
    }

    /// The DN one level up; `None` for the root.
    #[must_use]
    pub fn parent(&self) -> Option<Dn> {
        let (_, rest) = self.rdns.split_first()?;
        Some(Dn {
            rdns: rest.to_vec(),
        })
    }

    /// A child of this DN.
    #[must_use]
    pub fn child(&self, rdn: Rdn) -> Dn {
        let mut rdns = Vec::with_capacity(self.rdns.len() + 1);
        rdns.push(rdn);
        rdns.extend(self.rdns.iter().cloned());
        Dn { rdns }
    }

    /// The comparison form: attribute types lower-cased, values normalized by their attribute's
    /// equality rule (see [`crate::schema::syntax_of`]), `#hex` values decoded where they hold a
    /// string, the AVAs of each RDN sorted.
    #[must_use]
    pub fn normalize(&self) -> Dn {
        Dn {
            rdns: self.rdns.iter().map(Rdn::normalize).collect(),
        }
    }

    /// The normalized string form (what indexes on DN-valued attributes store).
    #[must_use]
    pub fn to_normalized_string(&self) -> String {
        self.normalize().to_string()
    }

    /// Whether `self` is strictly below `ancestor` (compared in normalized form).
    #[must_use]
    pub fn is_descendant_of(&self, ancestor: &Dn) -> bool {
        self.len() > ancestor.len() && self.normalize().ends_with(&ancestor.normalize())
    }

    /// Whether `self` equals `other` in normalized form.
    #[must_use]
    pub fn equivalent(&self, other: &Dn) -> bool {
        self.len() == other.len() && self.normalize() == other.normalize()
    }

    /// Whether the RDNs of `suffix` are the last RDNs of `self`, compared structurally: call it on
    /// normalized DNs. Used by the search scope checks, which have both forms cached.
    #[must_use]
    pub fn ends_with(&self, suffix: &Dn) -> bool {
        self.rdns.len() >= suffix.rdns.len()
            && self
                .rdns
                .iter()
                .rev()
                .zip(suffix.rdns.iter().rev())
                .all(|(a, b)| a == b)
    }
}

impl Rdn {
    /// An RDN with one AVA.
    #[must_use]
    pub fn new(attr: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            avas: vec![Ava {
                attr: attr.into(),
                value: value.into(),
                ber: false,
            }],
        }
    }

    /// An RDN from several AVAs; `None` if `avas` is empty.
    #[must_use]
    pub fn from_avas(avas: Vec<Ava>) -> Option<Self> {
        if avas.is_empty() {
            None
        } else {
            Some(Self { avas })
        }
    }

    /// The AVAs in the order written.
    #[must_use]
    pub fn avas(&self) -> &[Ava] {
        &self.avas
    }

    fn normalize(&self) -> Rdn {
        let mut avas: Vec<Ava> = self.avas.iter().map(Ava::normalize).collect();
        avas.sort();
        avas.dedup();
        Rdn { avas }
    }
}

impl Ava {
    fn normalize(&self) -> Ava {
        let attr = self.attr.to_ascii_lowercase();
        let syntax = crate::schema::syntax_of(&attr);
        let (value, ber) = if self.ber {
            match ber_string_contents(&self.value) {
                Some(s) => (s.to_vec(), false),
                None => (self.value.clone(), true),
            }
        } else {
            (self.value.clone(), false)
        };
        let value = if ber {
            value
        } else {
            // A value that does not fit its syntax (e.g. `uidNumber=abc`) is kept as written:
            // it still names *something*, and byte equality is the only sound comparison left.
            let folded = match syntax {
                Syntax::Dn => Syntax::CaseIgnoreString.normalize(&value),
                other => other.normalize(&value),
            };
            folded.unwrap_or(value)
        };
        Ava { attr, value, ber }
    }
}

/// Escapes an attribute value for the string form of a DN (RFC 4514 section 2.4).
#[must_use]
pub fn escape_value(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    let last = value.len().saturating_sub(1);
    let mut index = 0;
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            let at_start = index == 0;
            let at_end = index + c.len_utf8() - 1 == last;
            match c {
                '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                    out.push('\\');
                    out.push(c);
                }
                ' ' if at_start || at_end => out.push_str("\\ "),
                '#' if at_start => out.push_str("\\#"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\{b:02x}");
                    }
                }
                c => out.push(c),
            }
            index += c.len_utf8();
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\{b:02x}");
            index += 1;
        }
    }
    out
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            write!(f, "{rdn}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Rdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, ava) in self.avas.iter().enumerate() {
            if i > 0 {
                f.write_char('+')?;
            }
            write!(f, "{ava}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Ava {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.attr)?;
        f.write_char('=')?;
        if self.ber {
            f.write_char('#')?;
            for b in &self.value {
                write!(f, "{b:02x}")?;
            }
            Ok(())
        } else {
            f.write_str(&escape_value(&self.value))
        }
    }
}

impl FromStr for Dn {
    type Err = LdapError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The contents of a BER-encoded string value (OCTET STRING, UTF8String, PrintableString,
/// IA5String, T61String, BMP is not decoded), if `ber` is exactly one such element.
fn ber_string_contents(ber: &[u8]) -> Option<&[u8]> {
    let (t, used) = crate::ber::read_tlv(ber).ok()??;
    let string_types = [4u32, 12, 19, 20, 22];
    (used == ber.len()
        && t.tag.class == crate::ber::Class::Universal
        && !t.tag.constructed
        && string_types.contains(&t.tag.number))
    .then_some(t.value)
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            input: s.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn err(&self, reason: &'static str) -> LdapError {
        LdapError::InvalidDn {
            position: self.pos,
            reason,
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn dn(mut self) -> Result<Dn, LdapError> {
        self.skip_spaces();
        if self.peek().is_none() {
            return Ok(Dn::root());
        }
        let mut rdns = Vec::new();
        loop {
            let mut avas = vec![self.ava()?];
            while self.peek() == Some(b'+') {
                self.pos += 1;
                avas.push(self.ava()?);
            }
            rdns.push(Rdn { avas });
            match self.peek() {
                None => break,
                Some(b',') => self.pos += 1,
                Some(_) => return Err(self.err("expected ',' or '+' after a value")),
            }
        }
        Ok(Dn { rdns })
    }

    fn ava(&mut self) -> Result<Ava, LdapError> {
        self.skip_spaces();
        let attr = self.attribute_type()?;
        self.skip_spaces();
        if self.peek() != Some(b'=') {
            return Err(self.err("expected '='"));
        }
        self.pos += 1;
        self.skip_spaces();
        if self.peek() == Some(b'#') {
            self.pos += 1;
            let value = self.hex_string()?;
            self.skip_spaces();
            return Ok(Ava {
                attr,
                value,
                ber: true,
            });
        }
        let value = self.string_value()?;
        Ok(Ava {
            attr,
            value,
            ber: false,
        })
    }

    /// `descr` (ALPHA *(ALPHA / DIGIT / "-")) or `numericoid`.
    fn attribute_type(&mut self) -> Result<String, LdapError> {
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() => {
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'-') {
                    self.pos += 1;
                }
            }
            Some(c) if c.is_ascii_digit() => loop {
                let digits = self.pos;
                while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                    self.pos += 1;
                }
                if self.pos == digits {
                    return Err(self.err("empty OID component"));
                }
                if self.peek() == Some(b'.') {
                    self.pos += 1;
                } else {
                    break;
                }
            },
            _ => return Err(self.err("expected an attribute type")),
        }
        let bytes = self.input.get(start..self.pos).unwrap_or_default();
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn hex_string(&mut self) -> Result<Vec<u8>, LdapError> {
        let mut out = Vec::new();
        while let Some(hi) = self.peek().and_then(hex_digit) {
            let lo = self
                .input
                .get(self.pos + 1)
                .copied()
                .and_then(hex_digit)
                .ok_or_else(|| self.err("odd number of hex digits"))?;
            out.push((hi << 4) | lo);
            self.pos += 2;
        }
        if out.is_empty() {
            return Err(self.err("expected hex digits after '#'"));
        }
        Ok(out)
    }

    /// A string value up to an unescaped `,`, `+` or the end. Unescaped trailing spaces are
    /// insignificant (RFC 4514 requires a significant one to be escaped).
    fn string_value(&mut self) -> Result<Vec<u8>, LdapError> {
        let mut out = Vec::new();
        let mut significant = 0;
        while let Some(c) = self.peek() {
            match c {
                b',' | b'+' => break,
                b'\\' => {
                    self.pos += 1;
                    let Some(next) = self.peek() else {
                        return Err(self.err("dangling escape"));
                    };
                    if let (Some(hi), Some(lo)) = (
                        hex_digit(next),
                        self.input.get(self.pos + 1).copied().and_then(hex_digit),
                    ) {
                        out.push((hi << 4) | lo);
                        self.pos += 2;
                    } else if b" \"#+,;<=>\\".contains(&next) {
                        out.push(next);
                        self.pos += 1;
                    } else {
                        return Err(self.err("invalid escape"));
                    }
                    significant = out.len();
                }
                0 => return Err(self.err("NUL must be escaped")),
                _ => {
                    out.push(c);
                    self.pos += 1;
                    if c != b' ' {
                        significant = out.len();
                    }
                }
            }
        }
        out.truncate(significant);
        Ok(out)
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dn(s: &str) -> Dn {
        Dn::parse(s).unwrap()
    }

    #[test]
    fn parses_rfc4514_examples() {
        let d = dn("UID=jsmith,DC=example,DC=net");
        assert_eq!(d.len(), 3);
        assert_eq!(d.to_string(), "UID=jsmith,DC=example,DC=net");

        let d = dn("OU=Sales+CN=J.  Smith,DC=example,DC=net");
        assert_eq!(d.rdn().unwrap().avas().len(), 2);
        assert_eq!(d.rdn().unwrap().avas()[1].value, b"J.  Smith");

        let d = dn("CN=James \\\"Jim\\\" Smith\\, III,DC=example,DC=net");
        assert_eq!(
            d.rdn().unwrap().avas()[0].value,
            b"James \"Jim\" Smith, III"
        );
        assert_eq!(
            d.to_string(),
            "CN=James \\\"Jim\\\" Smith\\, III,DC=example,DC=net"
        );

        let d = dn("CN=Before\\0dAfter,DC=example,DC=net");
        assert_eq!(d.rdn().unwrap().avas()[0].value, b"Before\rAfter");
        assert_eq!(d.to_string(), "CN=Before\\0dAfter,DC=example,DC=net");

        let d = dn("1.3.6.1.4.1.1466.0=#04024869");
        assert!(d.rdn().unwrap().avas()[0].ber);
        assert_eq!(d.to_string(), "1.3.6.1.4.1.1466.0=#04024869");
        // Decoded, then case-folded: unknown attribute types compare case-insensitively.
        assert_eq!(d.normalize().rdn().unwrap().avas()[0].value, b"hi");

        let d = dn("CN=Lu\\C4\\8Di\\C4\\87");
        assert_eq!(
            d.rdn().unwrap().avas()[0].value,
            "Lučić".as_bytes().to_vec()
        );
        assert_eq!(d.to_string(), "CN=Lučić");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "=x",
            "cn",
            "cn=a,",
            "cn=a\\",
            "cn=a\\zz",
            "1..2=x",
            "cn=#",
            "cn=#abc",
            "cn=a,,dc=b",
            "-cn=a",
        ] {
            assert!(Dn::parse(bad).is_err(), "{bad:?} parsed");
        }
        assert!(Dn::parse("").unwrap().is_root());
    }

    #[test]
    fn normalization_ignores_case_and_insignificant_spaces() {
        let a = dn("UID=Alice , DC=Example,  dc=COM");
        let b = dn("uid=alice,dc=example,dc=com");
        assert!(a.equivalent(&b));
        assert_eq!(a.to_normalized_string(), "uid=alice,dc=example,dc=com");
        // Multi-valued RDN order does not matter.
        assert!(dn("cn=a+ou=b,dc=x").equivalent(&dn("OU=B+CN=A,dc=x")));
        // Case-exact attributes keep case.
        assert!(!dn("memberUid=Alice").equivalent(&dn("memberUid=alice")));
        // Integers compare by value.
        assert!(dn("uidNumber=0010,dc=x").equivalent(&dn("uidnumber=10,dc=x")));
        // An escaped trailing space is part of the value, but caseIgnoreMatch ignores it
        // (RFC 4518 insignificant space handling).
        assert_ne!(dn("cn=a\\ "), dn("cn=a"));
        assert!(dn("cn=a\\ ").equivalent(&dn("cn=a")));
        assert!(!dn("cn=a\\ b").equivalent(&dn("cn=ab")));
    }

    #[test]
    fn ancestry() {
        let base = dn("dc=example,dc=com");
        let user = dn("uid=a,ou=People,DC=Example,dc=com");
        assert!(user.is_descendant_of(&base));
        assert!(!base.is_descendant_of(&user));
        assert!(!base.is_descendant_of(&base));
        assert!(base.is_descendant_of(&Dn::root()));
        assert_eq!(
            user.parent().unwrap().to_string(),
            "ou=People,DC=Example,dc=com"
        );
        assert_eq!(Dn::root().parent(), None);
        assert_eq!(
            base.child(Rdn::new("ou", "Groups")).to_string(),
            "ou=Groups,dc=example,dc=com"
        );
    }

    #[test]
    fn escapes_special_positions() {
        assert_eq!(escape_value(b" a "), "\\ a\\ ");
        assert_eq!(escape_value(b" "), "\\ ");
        assert_eq!(escape_value(b"#a#"), "\\#a#");
        assert_eq!(escape_value(b"a\0b"), "a\\00b");
        assert_eq!(escape_value(b"\xff"), "\\ff");
        assert_eq!(escape_value(b"a,b+c=d"), "a\\,b\\+c\\=d");
    }

    fn arb_ava() -> impl Strategy<Value = Ava> {
        let attr = prop_oneof![
            "[a-zA-Z][a-zA-Z0-9-]{0,8}",
            "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}",
        ];
        (
            attr,
            prop::collection::vec(any::<u8>(), 0..12),
            any::<bool>(),
        )
            .prop_map(|(attr, value, ber)| Ava {
                attr,
                ber: ber && !value.is_empty(),
                value,
            })
    }

    pub(crate) fn arb_dn() -> impl Strategy<Value = Dn> {
        prop::collection::vec(
            prop::collection::vec(arb_ava(), 1..3).prop_map(|avas| Rdn { avas }),
            0..5,
        )
        .prop_map(Dn::from_rdns)
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(d in arb_dn()) {
            let s = d.to_string();
            let back = Dn::parse(&s).unwrap();
            prop_assert_eq!(&back, &d, "{}", s);
            // Normalization is idempotent and stable through the string form.
            let n = d.normalize();
            prop_assert_eq!(n.normalize(), n.clone());
            prop_assert_eq!(Dn::parse(&n.to_string()).unwrap().normalize(), n);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            if let Ok(d) = Dn::parse(&s) {
                let again = Dn::parse(&d.to_string()).unwrap();
                prop_assert_eq!(again, d);
            }
        }
    }
}
