//! Controls (RFC 4511 section 4.1.11) and the typed ones we implement.
//!
//! A [`Control`] is kept generic on the wire so that unknown controls survive decoding: the
//! session needs their OID and criticality to decide between ignoring them and answering
//! unavailableCriticalExtension.

use bytes::BytesMut;

use crate::LdapError;
use crate::ber::{self, BOOLEAN, OCTET_STRING, Reader, SEQUENCE};
use crate::proto::Limits;

/// Well-known OIDs.
pub mod oid {
    /// Simple Paged Results control (RFC 2696).
    pub const PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
    /// ManageDsaIT control (RFC 3296): accepted and ignored, we have no referral objects.
    pub const MANAGE_DSA_IT: &str = "2.16.840.1.113730.3.4.2";
    /// "Who am I?" extended operation (RFC 4532).
    pub const WHO_AM_I: &str = "1.3.6.1.4.1.4203.1.11.3";
    /// StartTLS extended operation (RFC 4511 section 4.14).
    pub const START_TLS: &str = "1.3.6.1.4.1.1466.20037";
    /// Notice of Disconnection unsolicited notification (RFC 4511 section 4.4.1).
    pub const NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";
}

/// A control as carried on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// controlType.
    pub oid: String,
    /// criticality (DEFAULT FALSE, so `false` is not encoded).
    pub criticality: bool,
    /// controlValue, if present.
    pub value: Option<Vec<u8>>,
}

/// The Simple Paged Results control value (RFC 2696):
/// `realSearchControlValue ::= SEQUENCE { size INTEGER (0..maxInt), cookie OCTET STRING }`.
///
/// In a request `size` is the page size wanted; in a response it is the server's estimate of
/// the total (0 = unknown). An empty cookie starts a search (request) or ends it (response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagedResults {
    /// Page size (request) or result-set size estimate (response).
    pub size: u32,
    /// The opaque cookie.
    pub cookie: Vec<u8>,
}

impl PagedResults {
    /// Reads the typed value out of a generic control with the paged-results OID.
    pub fn from_control(control: &Control) -> Result<Self, LdapError> {
        let bad = LdapError::InvalidControlValue {
            oid: oid::PAGED_RESULTS,
        };
        let value = control.value.as_deref().ok_or_else(|| bad.clone())?;
        let parse = || -> Result<Self, LdapError> {
            let mut outer = Reader::new(value);
            let seq = outer.expect(SEQUENCE, "paged results value")?;
            outer.finish("paged results value")?;
            let mut r = Reader::new(seq);
            let size = ber::decode_max_int(r.integer("page size")?, "page size")?;
            let cookie = r.octets("cookie")?.to_vec();
            r.finish("paged results value")?;
            Ok(Self { size, cookie })
        };
        parse().map_err(|_| bad)
    }

    /// Wraps the typed value in a generic control.
    #[must_use]
    pub fn to_control(&self, criticality: bool) -> Control {
        let mut out = BytesMut::new();
        ber::put_tlv(&mut out, SEQUENCE, |out| {
            ber::put_integer(out, ber::INTEGER, i64::from(self.size));
            ber::put_octets(out, OCTET_STRING, &self.cookie);
        });
        Control {
            oid: oid::PAGED_RESULTS.to_owned(),
            criticality,
            value: Some(out.to_vec()),
        }
    }
}

/// Decodes the contents of `[0] Controls`.
pub(crate) fn decode_controls(contents: &[u8], limits: &Limits) -> Result<Vec<Control>, LdapError> {
    let mut r = Reader::new(contents);
    let mut controls = Vec::new();
    while !r.is_empty() {
        if controls.len() >= limits.max_controls {
            return Err(LdapError::LimitExceeded {
                what: "controls",
                limit: limits.max_controls,
            });
        }
        let mut c = Reader::new(r.expect(SEQUENCE, "Control must be a SEQUENCE")?);
        let oid = c.string("controlType")?;
        let criticality = match c.optional(BOOLEAN)? {
            Some(v) => ber::decode_boolean(v)?,
            None => false,
        };
        let value = c.optional(OCTET_STRING)?.map(<[u8]>::to_vec);
        c.finish("Control")?;
        controls.push(Control {
            oid,
            criticality,
            value,
        });
    }
    Ok(controls)
}

/// Encodes the controls as the contents of `[0] Controls`.
pub(crate) fn encode_controls(controls: &[Control], out: &mut BytesMut) {
    for c in controls {
        ber::put_tlv(out, SEQUENCE, |out| {
            ber::put_octets(out, OCTET_STRING, c.oid.as_bytes());
            if c.criticality {
                ber::put_boolean(out, BOOLEAN, true);
            }
            if let Some(v) = &c.value {
                ber::put_octets(out, OCTET_STRING, v);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paged_results_round_trip() {
        let p = PagedResults {
            size: 500,
            cookie: b"abc".to_vec(),
        };
        let c = p.to_control(true);
        assert_eq!(
            c.value.as_deref().unwrap(),
            &[
                0x30, 0x09, 0x02, 0x02, 0x01, 0xf4, 0x04, 0x03, b'a', b'b', b'c'
            ]
        );
        assert_eq!(PagedResults::from_control(&c).unwrap(), p);
        let broken = Control {
            oid: oid::PAGED_RESULTS.into(),
            criticality: false,
            value: Some(vec![0x30, 0x03, 0x02, 0x01, 0xff]),
        };
        assert!(PagedResults::from_control(&broken).is_err());
        let missing = Control {
            value: None,
            ..broken
        };
        assert!(PagedResults::from_control(&missing).is_err());
    }
}
