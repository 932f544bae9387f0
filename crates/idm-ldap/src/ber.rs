//! Layer 1: raw BER tag-length-value elements, the subset LDAP uses (RFC 4511 section 5.1).
//!
//! Only definite lengths are accepted. Parsing is written with nom's *streaming* primitives so
//! that "not enough bytes yet" is distinguishable from "wrong bytes": the message framer turns the
//! former into `Ok(None)`; inside an already-complete message the [`Reader`] turns it into
//! [`LdapError::Malformed`], because a truncated inner element can never be completed.
//!
//! Encoding writes into a caller-owned [`BytesMut`] and always produces the minimal definite
//! length form, so that what we emit is also valid DER where LDAP expects it.

use bytes::{BufMut, BytesMut};
use nom::error::{ErrorKind, ParseError};
use nom::number::streaming::be_u8;
use nom::{IResult, Needed, Parser};

use crate::LdapError;

/// The class bits of a BER identifier octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Universal types (INTEGER, OCTET STRING, SEQUENCE, …).
    Universal,
    /// `[APPLICATION n]`: LDAP protocol operations.
    Application,
    /// `[n]`: context-specific fields inside a structure.
    Context,
    /// `[PRIVATE n]`: unused by LDAP, accepted so that parsing stays total.
    Private,
}

/// A BER identifier: class, primitive/constructed bit and tag number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag {
    /// The class bits.
    pub class: Class,
    /// Whether the contents are themselves a series of TLVs.
    pub constructed: bool,
    /// The tag number (at most 28 bits; LDAP only uses numbers below 31).
    pub number: u32,
}

impl Tag {
    /// A universal primitive tag.
    #[must_use]
    pub const fn universal(number: u32) -> Self {
        Self {
            class: Class::Universal,
            constructed: false,
            number,
        }
    }

    /// An application-class tag (`[APPLICATION n]`).
    #[must_use]
    pub const fn application(number: u32, constructed: bool) -> Self {
        Self {
            class: Class::Application,
            constructed,
            number,
        }
    }

    /// A context-specific tag (`[n]`).
    #[must_use]
    pub const fn context(number: u32, constructed: bool) -> Self {
        Self {
            class: Class::Context,
            constructed,
            number,
        }
    }
}

/// BOOLEAN.
pub const BOOLEAN: Tag = Tag::universal(1);
/// INTEGER.
pub const INTEGER: Tag = Tag::universal(2);
/// OCTET STRING (LDAPString, LDAPDN, AttributeValue, …).
pub const OCTET_STRING: Tag = Tag::universal(4);
/// NULL.
pub const NULL: Tag = Tag::universal(5);
/// ENUMERATED.
pub const ENUMERATED: Tag = Tag::universal(10);
/// SEQUENCE / SEQUENCE OF (always constructed).
pub const SEQUENCE: Tag = Tag {
    class: Class::Universal,
    constructed: true,
    number: 16,
};
/// SET / SET OF (always constructed).
pub const SET: Tag = Tag {
    class: Class::Universal,
    constructed: true,
    number: 17,
};

/// One element: its tag and the contents octets (borrowed from the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The identifier.
    pub tag: Tag,
    /// The contents octets.
    pub value: &'a [u8],
}

/// A decoded identifier and length, before the contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The identifier.
    pub tag: Tag,
    /// The announced contents length.
    pub length: u64,
    /// How many octets the identifier and length took.
    pub header_len: usize,
}

/// Reads an identifier and a definite length.
///
/// `Ok(None)` means the header itself is incomplete. The contents are not looked at, which is
/// what lets the framer reject an oversized message before buffering it.
pub fn read_header(input: &[u8]) -> Result<Option<Header>, LdapError> {
    match header(input) {
        Ok((rest, (tag, length))) => Ok(Some(Header {
            tag,
            length,
            header_len: input.len().saturating_sub(rest.len()),
        })),
        Err(nom::Err::Incomplete(_)) => Ok(None),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.0),
    }
}

/// Reads one complete element. `Ok(None)` means more bytes are needed.
pub fn read_tlv(input: &[u8]) -> Result<Option<(Tlv<'_>, usize)>, LdapError> {
    match tlv(input) {
        Ok((rest, t)) => Ok(Some((t, input.len().saturating_sub(rest.len())))),
        Err(nom::Err::Incomplete(_)) => Ok(None),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.0),
    }
}

/// nom's error type for this module: a wrapper so that [`LdapError`] itself need not implement
/// nom's traits (they would leak into the public API).
#[derive(Debug)]
pub(crate) struct NomError(pub(crate) LdapError);

impl<I> ParseError<I> for NomError {
    fn from_error_kind(_input: I, _kind: ErrorKind) -> Self {
        Self(LdapError::Malformed("invalid BER element"))
    }

    fn append(_input: I, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

fn fail<'a, T>(e: LdapError) -> IResult<&'a [u8], T, NomError> {
    Err(nom::Err::Failure(NomError(e)))
}

/// nom parser for an identifier and length (streaming: `Incomplete` when short).
fn header(input: &[u8]) -> IResult<&[u8], (Tag, u64), NomError> {
    let (mut input, first) = be_u8(input)?;
    let class = match first >> 6 {
        0 => Class::Universal,
        1 => Class::Application,
        2 => Class::Context,
        _ => Class::Private,
    };
    let constructed = first & 0x20 != 0;
    let mut number = u32::from(first & 0x1f);
    if number == 0x1f {
        // High tag number form: base-128 digits, most significant first.
        number = 0;
        let mut digits = 0u8;
        loop {
            let (rest, b) = be_u8(input)?;
            input = rest;
            digits += 1;
            if digits > 4 || (digits == 1 && b == 0x80) {
                return fail(LdapError::Malformed("tag number too long"));
            }
            number = (number << 7) | u32::from(b & 0x7f);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let (input, first_len) = be_u8(input)?;
    let length = match first_len {
        0..=0x7f => u64::from(first_len),
        0x80 => return fail(LdapError::IndefiniteLength),
        _ => {
            let count = usize::from(first_len & 0x7f);
            if count > 8 {
                return fail(LdapError::Malformed("length field longer than 8 octets"));
            }
            let (rest, bytes) = nom::bytes::streaming::take(count).parse(input)?;
            let length = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            return Ok((
                rest,
                (
                    Tag {
                        class,
                        constructed,
                        number,
                    },
                    length,
                ),
            ));
        }
    };
    Ok((
        input,
        (
            Tag {
                class,
                constructed,
                number,
            },
            length,
        ),
    ))
}

/// nom parser for a whole element (streaming).
fn tlv(input: &[u8]) -> IResult<&[u8], Tlv<'_>, NomError> {
    let (rest, (tag, length)) = header(input)?;
    let Ok(length) = usize::try_from(length) else {
        return fail(LdapError::Malformed(
            "element length does not fit in memory",
        ));
    };
    if rest.len() < length {
        return Err(nom::Err::Incomplete(Needed::new(length - rest.len())));
    }
    let (value, rest) = rest.split_at(length);
    Ok((rest, Tlv { tag, value }))
}

/// Walks the elements inside a complete constructed value.
///
/// Everything it reads is already in memory, so a short element is malformed, not incomplete.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(contents: &'a [u8]) -> Self {
        Self { rest: contents }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element, whatever its tag.
    pub(crate) fn next_tlv(&mut self) -> Result<Tlv<'a>, LdapError> {
        match tlv(self.rest) {
            Ok((rest, t)) => {
                self.rest = rest;
                Ok(t)
            }
            Err(nom::Err::Incomplete(_)) => Err(LdapError::Malformed("truncated element")),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.0),
        }
    }

    /// The tag of the next element, without consuming it.
    pub(crate) fn peek_tag(&self) -> Option<Tag> {
        header(self.rest).ok().map(|(_, (tag, _))| tag)
    }

    /// The contents of the next element, which must carry `tag`.
    pub(crate) fn expect(&mut self, tag: Tag, what: &'static str) -> Result<&'a [u8], LdapError> {
        let t = self.next_tlv()?;
        if t.tag == tag {
            Ok(t.value)
        } else {
            Err(LdapError::Malformed(what))
        }
    }

    /// The contents of the next element if it carries `tag`; nothing is consumed otherwise.
    pub(crate) fn optional(&mut self, tag: Tag) -> Result<Option<&'a [u8]>, LdapError> {
        if self.peek_tag() == Some(tag) {
            Ok(Some(self.next_tlv()?.value))
        } else {
            Ok(None)
        }
    }

    /// Fails with [`LdapError::TrailingData`] if anything is left.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), LdapError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(LdapError::TrailingData(what))
        }
    }

    // Typed helpers for the universal types LDAP uses.

    pub(crate) fn integer(&mut self, what: &'static str) -> Result<i64, LdapError> {
        decode_integer(self.expect(INTEGER, what)?)
    }

    pub(crate) fn enumerated(&mut self, what: &'static str) -> Result<i64, LdapError> {
        decode_integer(self.expect(ENUMERATED, what)?)
    }

    pub(crate) fn boolean(&mut self, what: &'static str) -> Result<bool, LdapError> {
        decode_boolean(self.expect(BOOLEAN, what)?)
    }

    pub(crate) fn octets(&mut self, what: &'static str) -> Result<&'a [u8], LdapError> {
        self.expect(OCTET_STRING, what)
    }

    pub(crate) fn string(&mut self, what: &'static str) -> Result<String, LdapError> {
        decode_string(self.expect(OCTET_STRING, what)?, what)
    }
}

/// INTEGER / ENUMERATED contents: two's complement, big endian, 1 to 8 octets.
pub(crate) fn decode_integer(v: &[u8]) -> Result<i64, LdapError> {
    let Some((&first, _)) = v.split_first() else {
        return Err(LdapError::Malformed("empty INTEGER"));
    };
    if v.len() > 8 {
        return Err(LdapError::Malformed("INTEGER out of range"));
    }
    let init: i64 = if first & 0x80 != 0 { -1 } else { 0 };
    Ok(v.iter().fold(init, |acc, b| (acc << 8) | i64::from(*b)))
}

/// A non-negative INTEGER that must fit `0..=i32::MAX` (LDAP's `maxInt`).
pub(crate) fn decode_max_int(v: i64, what: &'static str) -> Result<u32, LdapError> {
    if (0..=i64::from(i32::MAX)).contains(&v) {
        u32::try_from(v).map_err(|_| LdapError::Malformed(what))
    } else {
        Err(LdapError::Malformed(what))
    }
}

/// BOOLEAN contents: one octet, zero is FALSE (BER accepts any non-zero as TRUE).
pub(crate) fn decode_boolean(v: &[u8]) -> Result<bool, LdapError> {
    match v {
        [b] => Ok(*b != 0),
        _ => Err(LdapError::Malformed("BOOLEAN must be one octet")),
    }
}

pub(crate) fn decode_string(v: &[u8], what: &'static str) -> Result<String, LdapError> {
    String::from_utf8(v.to_vec()).map_err(|_| LdapError::InvalidUtf8(what))
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Writes an identifier.
pub(crate) fn put_tag(out: &mut BytesMut, tag: Tag) {
    let class_bits: u8 = match tag.class {
        Class::Universal => 0x00,
        Class::Application => 0x40,
        Class::Context => 0x80,
        Class::Private => 0xc0,
    };
    let pc = if tag.constructed { 0x20 } else { 0 };
    if tag.number < 0x1f {
        // The number fits in five bits here.
        out.put_u8(class_bits | pc | (tag.number as u8));
    } else {
        out.put_u8(class_bits | pc | 0x1f);
        let mut digits = [0u8; 5];
        let mut n = tag.number;
        let mut count = 0;
        for d in digits.iter_mut().rev() {
            *d = (n & 0x7f) as u8;
            n >>= 7;
            count += 1;
            if n == 0 {
                break;
            }
        }
        let start = digits.len() - count;
        let last = digits.len() - 1;
        for (i, d) in digits.iter().enumerate().skip(start) {
            out.put_u8(if i == last { *d } else { *d | 0x80 });
        }
    }
}

/// Writes a minimal definite length.
pub(crate) fn put_len(out: &mut BytesMut, len: usize) {
    if len < 0x80 {
        out.put_u8(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or(&[]);
        out.put_u8(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// Writes a constructed (or primitive) element whose contents `body` writes.
///
/// One length octet is reserved up front; only contents of 128 octets or more need the contents
/// moved to make room for a long-form length, so small leaves cost no copy at all.
pub(crate) fn put_tlv(out: &mut BytesMut, tag: Tag, body: impl FnOnce(&mut BytesMut)) {
    put_tag(out, tag);
    let len_pos = out.len();
    out.put_u8(0);
    let start = out.len();
    body(out);
    let len = out.len() - start;
    if len < 0x80 {
        if let Some(b) = out.get_mut(len_pos) {
            *b = len as u8;
        }
        return;
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or(&[]);
    let extra = significant.len();
    out.put_bytes(0, extra);
    out.copy_within(start..start + len, start + extra);
    if let Some(slot) = out.get_mut(len_pos..start + extra)
        && let Some((first, rest)) = slot.split_first_mut()
    {
        *first = 0x80 | extra as u8;
        rest.copy_from_slice(significant);
    }
}

/// Writes a primitive element with the given contents.
pub(crate) fn put_octets(out: &mut BytesMut, tag: Tag, value: &[u8]) {
    put_tag(out, tag);
    put_len(out, value.len());
    out.extend_from_slice(value);
}

/// Writes an INTEGER or ENUMERATED in its minimal two's complement form.
pub(crate) fn put_integer(out: &mut BytesMut, tag: Tag, value: i64) {
    let bytes = value.to_be_bytes();
    // Drop leading octets that only repeat the sign.
    let mut skip = 0;
    while skip < 7 {
        let (Some(&b), Some(&next)) = (bytes.get(skip), bytes.get(skip + 1)) else {
            break;
        };
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        skip += 1;
    }
    put_octets(out, tag, bytes.get(skip..).unwrap_or(&[0]));
}

/// Writes a BOOLEAN (TRUE as 0xFF, as DER requires).
pub(crate) fn put_boolean(out: &mut BytesMut, tag: Tag, value: bool) {
    put_octets(out, tag, &[if value { 0xff } else { 0x00 }]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut b = BytesMut::new();
        f(&mut b);
        b.to_vec()
    }

    #[test]
    fn integers_are_minimal_and_round_trip() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x02, 0x01, 0x00]),
            (127, &[0x02, 0x01, 0x7f]),
            (128, &[0x02, 0x02, 0x00, 0x80]),
            (256, &[0x02, 0x02, 0x01, 0x00]),
            (-1, &[0x02, 0x01, 0xff]),
            (-128, &[0x02, 0x01, 0x80]),
            (-129, &[0x02, 0x02, 0xff, 0x7f]),
            (i64::from(i32::MAX), &[0x02, 0x04, 0x7f, 0xff, 0xff, 0xff]),
        ];
        for (v, bytes) in cases {
            assert_eq!(enc(|b| put_integer(b, INTEGER, *v)), *bytes, "{v}");
            let (t, n) = read_tlv(bytes).unwrap().unwrap();
            assert_eq!(n, bytes.len());
            assert_eq!(decode_integer(t.value).unwrap(), *v);
        }
        for v in [i64::MIN, i64::MAX, 1 << 40, -(1 << 40)] {
            let bytes = enc(|b| put_integer(b, INTEGER, v));
            let (t, _) = read_tlv(&bytes).unwrap().unwrap();
            assert_eq!(decode_integer(t.value).unwrap(), v);
        }
    }

    #[test]
    fn long_lengths_move_contents() {
        for len in [0usize, 1, 127, 128, 255, 256, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let bytes = enc(|b| put_tlv(b, SEQUENCE, |b| b.extend_from_slice(&payload)));
            let (t, n) = read_tlv(&bytes).unwrap().unwrap();
            assert_eq!(n, bytes.len());
            assert_eq!(t.tag, SEQUENCE);
            assert_eq!(t.value, &payload[..]);
            // Same as the direct primitive writer.
            assert_eq!(bytes, enc(|b| put_octets(b, SEQUENCE, &payload)));
        }
    }

    #[test]
    fn high_tag_numbers_round_trip() {
        for n in [0u32, 30, 31, 127, 128, 16_383, 16_384, (1 << 28) - 1] {
            let tag = Tag::application(n, true);
            let bytes = enc(|b| put_octets(b, tag, b"x"));
            let (t, _) = read_tlv(&bytes).unwrap().unwrap();
            assert_eq!(t.tag, tag);
        }
    }

    #[test]
    fn header_edge_cases() {
        assert_eq!(read_header(&[]).unwrap(), None);
        assert_eq!(read_header(&[0x30]).unwrap(), None);
        assert_eq!(read_header(&[0x30, 0x84, 0x00]).unwrap(), None);
        assert_eq!(
            read_header(&[0x30, 0x80]).unwrap_err(),
            LdapError::IndefiniteLength
        );
        assert!(read_header(&[0x30, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
        let h = read_header(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff])
            .unwrap()
            .unwrap();
        assert_eq!(h.length, 0x7fff_ffff);
        assert_eq!(h.header_len, 6);
        assert_eq!(read_tlv(&[0x04, 0x03, b'a']).unwrap(), None);
    }

    #[test]
    fn reader_reports_truncation_and_trailing_data() {
        let mut r = Reader::new(&[0x04, 0x03, b'a']);
        assert_eq!(
            r.next_tlv().unwrap_err(),
            LdapError::Malformed("truncated element")
        );
        let r = Reader::new(&[0x05, 0x00]);
        assert!(matches!(r.finish("x"), Err(LdapError::TrailingData("x"))));
        assert!(decode_boolean(&[]).is_err());
        assert!(decode_integer(&[]).is_err());
        assert!(decode_integer(&[0; 9]).is_err());
    }
}
