//! The PROXY protocol (v1 text and v2 binary, HAProxy's spec), so that a load balancer in front
//! of the LDAP listener keeps client addresses for rate limits and audit. Accepted only from
//! configured trusted peers; anyone else's header is a protocol error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// v1 headers are at most 107 bytes including CRLF.
const V1_MAX: usize = 107;
/// Largest v2 payload accepted (addresses plus TLVs we skip).
const V2_MAX_PAYLOAD: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("not a PROXY protocol header")]
    NotProxy,
    #[error("malformed PROXY header: {0}")]
    Malformed(&'static str),
}

/// A parsed header: the original client, when the proxy told us one (`LOCAL`/`UNKNOWN` do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    pub source: Option<SocketAddr>,
    pub consumed: usize,
}

/// Parses a header at the start of `buf`; `Ok(None)` means more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf.get(..n) == V2_SIGNATURE.get(..n) {
        if buf.len() < 16 {
            return Ok(None);
        }
        return parse_v2(buf);
    }
    let n = buf.len().min(6);
    if buf.get(..n) == b"PROXY ".get(..n) {
        if buf.len() < 6 {
            return Ok(None);
        }
        return parse_v1(buf);
    }
    Err(ProxyError::NotProxy)
}

fn parse_v1(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    let limit = buf.len().min(V1_MAX);
    let Some(end) = buf
        .get(..limit)
        .and_then(|b| b.windows(2).position(|w| w == b"\r\n"))
    else {
        return if buf.len() >= V1_MAX {
            Err(ProxyError::Malformed("v1 header longer than 107 bytes"))
        } else {
            Ok(None)
        };
    };
    let line = std::str::from_utf8(buf.get(..end).unwrap_or_default())
        .map_err(|_| ProxyError::Malformed("v1 header is not ASCII"))?;
    let parts: Vec<&str> = line.split(' ').collect();
    let consumed = end + 2;
    match parts.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(Some(ProxyHeader {
            source: None,
            consumed,
        })),
        ["PROXY", fam @ ("TCP4" | "TCP6"), src, _dst, sport, _dport] => {
            let ip: IpAddr = src
                .parse()
                .map_err(|_| ProxyError::Malformed("v1 source address"))?;
            if (*fam == "TCP4") != ip.is_ipv4() {
                return Err(ProxyError::Malformed("v1 address family mismatch"));
            }
            let port: u16 = sport
                .parse()
                .map_err(|_| ProxyError::Malformed("v1 source port"))?;
            Ok(Some(ProxyHeader {
                source: Some(SocketAddr::new(ip, port)),
                consumed,
            }))
        }
        _ => Err(ProxyError::Malformed("v1 header fields")),
    }
}

fn parse_v2(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    let byte = |i: usize| buf.get(i).copied().ok_or(ProxyError::Malformed("short"));
    let ver_cmd = byte(12)?;
    let fam = byte(13)?;
    let len = usize::from(u16::from_be_bytes([byte(14)?, byte(15)?]));
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::Malformed("v2 version"));
    }
    if len > V2_MAX_PAYLOAD {
        return Err(ProxyError::Malformed("v2 payload too long"));
    }
    let total = 16 + len;
    let Some(payload) = buf.get(16..total) else {
        return Ok(None);
    };
    let source = match ver_cmd & 0x0f {
        0 => None, // LOCAL: the proxy's own health check
        1 => match fam {
            0x11 | 0x12 => {
                let a = payload
                    .get(..12)
                    .ok_or(ProxyError::Malformed("v2 IPv4 addresses"))?;
                let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
                Some(SocketAddr::new(
                    IpAddr::V4(ip),
                    u16::from_be_bytes([a[8], a[9]]),
                ))
            }
            0x21 | 0x22 => {
                let a = payload
                    .get(..36)
                    .ok_or(ProxyError::Malformed("v2 IPv6 addresses"))?;
                let mut octets = [0u8; 16];
                octets.copy_from_slice(a.get(..16).unwrap_or(&[0u8; 16]));
                let port = u16::from_be_bytes([a[32], a[33]]);
                Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port))
            }
            0x00 => None,
            _ => return Err(ProxyError::Malformed("v2 address family")),
        },
        _ => return Err(ProxyError::Malformed("v2 command")),
    };
    Ok(Some(ProxyHeader {
        source,
        consumed: total,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn v1() {
        let h = b"PROXY TCP4 192.0.2.7 10.0.0.1 56324 636\r\nrest";
        let p = parse(h).unwrap().unwrap();
        assert_eq!(p.source, Some("192.0.2.7:56324".parse().unwrap()));
        assert_eq!(&h[p.consumed..], b"rest");
        assert_eq!(parse(b"PROXY TCP4 192.0.2.7").unwrap(), None);
        assert_eq!(parse(b"PRO").unwrap(), None);
        assert!(parse(b"PROXY TCP4 ::1 ::1 1 2\r\n").is_err());
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap().unwrap().source, None);
        assert_eq!(parse(b"0\x84\x00").unwrap_err(), ProxyError::NotProxy);
        assert!(parse(&[b'P', b'R', b'O', b'X', b'Y', b' '].repeat(30)).is_err());
    }

    #[test]
    fn v2() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend([
            0x21, 0x11, 0, 12, 198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0x02, 0x7c,
        ]);
        h.extend(b"after");
        let p = parse(&h).unwrap().unwrap();
        assert_eq!(p.source, Some("198.51.100.9:8080".parse().unwrap()));
        assert_eq!(&h[p.consumed..], b"after");
        assert_eq!(parse(&h[..20]).unwrap(), None);
        let mut local = V2_SIGNATURE.to_vec();
        local.extend([0x20, 0x00, 0, 0]);
        assert_eq!(parse(&local).unwrap().unwrap().source, None);
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&b);
            let mut s = V2_SIGNATURE.to_vec();
            s.extend(&b);
            if let Ok(Some(h)) = parse(&s) { prop_assert!(h.consumed <= s.len()); }
            let mut t = b"PROXY ".to_vec();
            t.extend(&b);
            let _ = parse(&t);
        }
    }
}
