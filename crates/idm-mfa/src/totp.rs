//! TOTP (RFC 6238) for authenticator apps: SHA-1 by default because that is what every app
//! supports, 30 s steps, 6 digits, ±1 step of clock skew, and each step accepted at most once
//! per credential (the caller stores the last accepted step; a replayed code is refused).

use chrono::{DateTime, Utc};
use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::MfaError;

/// Shortest secret accepted: RFC 4226 asks for 128 bits and recommends 160.
pub const MIN_SECRET_BYTES: usize = 16;
pub const MAX_SECRET_BYTES: usize = 64;
/// Secret length the server draws for new credentials (160 bits, RFC 4226's recommendation).
pub const DEFAULT_SECRET_BYTES: usize = 20;
const MAX_URI_BYTES: usize = 2048;
const MAX_LABEL_CHARS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TotpAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl TotpAlgorithm {
    fn as_str(self) -> &'static str {
        match self {
            TotpAlgorithm::Sha1 => "SHA1",
            TotpAlgorithm::Sha256 => "SHA256",
            TotpAlgorithm::Sha512 => "SHA512",
        }
    }
}

/// The shared secret. Never logged; zeroized on drop. Serialisable because the server stores
/// it (TOTP needs the secret itself, not a hash, to compute codes).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

impl TotpSecret {
    pub fn new(bytes: Vec<u8>) -> Result<Self, MfaError> {
        if bytes.len() < MIN_SECRET_BYTES || bytes.len() > MAX_SECRET_BYTES {
            return Err(MfaError::InvalidTotp(format!(
                "secret must be {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes"
            )));
        }
        Ok(TotpSecret(bytes))
    }

    /// Base32 without padding, as authenticator apps and `oathtool --base32` take it.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    pub fn from_base32(s: &str) -> Result<Self, MfaError> {
        let cleaned: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = BASE32_NOPAD
            .decode(cleaned.as_bytes())
            .map_err(|e| MfaError::InvalidTotp(format!("secret is not base32: {e}")))?;
        TotpSecret::new(bytes)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totp {
    pub secret: TotpSecret,
    pub algorithm: TotpAlgorithm,
    pub digits: u32,
    pub period: u32,
}

/// What a verification found. `step` is what the caller stores as the last accepted step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an unread TOTP verdict lets everyone in or no one"]
pub enum TotpVerdict {
    Accepted {
        step: u64,
    },
    /// The code is right but its step was already used (or is older than the last used one).
    Replayed,
    Invalid,
}

impl Totp {
    /// SHA-1, 6 digits, 30 s: the parameters every authenticator app supports.
    pub fn new_default(secret: TotpSecret) -> Totp {
        Totp {
            secret,
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            period: 30,
        }
    }

    pub fn validate(&self) -> Result<(), MfaError> {
        if !(6..=8).contains(&self.digits) {
            return Err(MfaError::InvalidTotp("digits must be 6, 7 or 8".into()));
        }
        if !(15..=120).contains(&self.period) {
            return Err(MfaError::InvalidTotp(
                "period must be 15-120 seconds".into(),
            ));
        }
        Ok(())
    }

    /// The time step containing `unix_secs` (times before 1970 fall in step 0).
    pub fn step_at(&self, unix_secs: i64) -> u64 {
        u64::try_from(unix_secs).unwrap_or(0) / u64::from(self.period.max(1))
    }

    /// The code for a time step (RFC 4226 HOTP with the step as counter).
    pub fn code_for_step(&self, step: u64) -> String {
        let key = &self.secret.0;
        let msg = step.to_be_bytes();
        let mac: Vec<u8> = match self.algorithm {
            TotpAlgorithm::Sha1 => hmac_of::<Hmac<sha1::Sha1>>(key, &msg),
            TotpAlgorithm::Sha256 => hmac_of::<Hmac<sha2::Sha256>>(key, &msg),
            TotpAlgorithm::Sha512 => hmac_of::<Hmac<sha2::Sha512>>(key, &msg),
        };
        // Dynamic truncation (RFC 4226 §5.3); the MAC is at least 20 bytes, so the offset
        // (at most 15) plus 4 is always inside it.
        let offset = mac.last().map_or(0, |b| usize::from(b & 0x0f));
        let word = mac
            .get(offset..offset + 4)
            .map_or(0, |w| u32::from_be_bytes([w[0] & 0x7f, w[1], w[2], w[3]]));
        let modulus = 10u32.pow(self.digits.min(9));
        format!("{:0width$}", word % modulus, width = self.digits as usize)
    }

    pub fn code_at(&self, now: DateTime<Utc>) -> String {
        self.code_for_step(self.step_at(now.timestamp()))
    }

    /// Checks `code` against the steps around `now` (± `skew`), refusing a step at or before
    /// `last_step` so a code cannot be used twice.
    pub fn verify(
        &self,
        code: &str,
        now: DateTime<Utc>,
        last_step: Option<u64>,
        skew: u64,
    ) -> TotpVerdict {
        let code = code.trim();
        if code.len() != self.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return TotpVerdict::Invalid;
        }
        let current = self.step_at(now.timestamp());
        let mut found = None;
        // Every candidate is computed and compared, so timing does not reveal which matched.
        for step in current.saturating_sub(skew)..=current.saturating_add(skew) {
            let expected = self.code_for_step(step);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
                found = Some(step);
            }
        }
        match found {
            Some(step) if last_step.is_some_and(|l| step <= l) => TotpVerdict::Replayed,
            Some(step) => TotpVerdict::Accepted { step },
            None => TotpVerdict::Invalid,
        }
    }

    /// The `otpauth://totp/…` URI (Google Authenticator key-URI format) for enrolment.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
            pct(issuer),
            pct(account),
            self.secret.to_base32(),
            pct(issuer),
            self.algorithm.as_str(),
            self.digits,
            self.period
        )
    }

    /// Parses an `otpauth://totp/` URI; returns the credential, issuer and account.
    pub fn parse_otpauth_uri(uri: &str) -> Result<(Totp, Option<String>, String), MfaError> {
        let bad = |m: &str| MfaError::InvalidTotp(format!("otpauth URI: {m}"));
        if uri.len() > MAX_URI_BYTES {
            return Err(bad("too long"));
        }
        let rest = uri
            .strip_prefix("otpauth://totp/")
            .ok_or_else(|| bad("must start with otpauth://totp/"))?;
        let (label, query) = rest.split_once('?').ok_or_else(|| bad("no parameters"))?;
        let label = unpct(label).ok_or_else(|| bad("bad percent-encoding in label"))?;
        if label.chars().count() > MAX_LABEL_CHARS {
            return Err(bad("label too long"));
        }
        let (label_issuer, account) = match label.split_once(':') {
            Some((i, a)) => (Some(i.trim().to_owned()), a.trim().to_owned()),
            None => (None, label.trim().to_owned()),
        };
        let mut secret = None;
        let mut issuer = None;
        let mut algorithm = TotpAlgorithm::Sha1;
        let mut digits = 6;
        let mut period = 30;
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = unpct(v).ok_or_else(|| bad("bad percent-encoding"))?;
            match k {
                "secret" if secret.is_none() => secret = Some(TotpSecret::from_base32(&v)?),
                "issuer" if issuer.is_none() => issuer = Some(v.trim().to_owned()),
                "algorithm" => {
                    algorithm = match v.to_ascii_uppercase().as_str() {
                        "SHA1" => TotpAlgorithm::Sha1,
                        "SHA256" => TotpAlgorithm::Sha256,
                        "SHA512" => TotpAlgorithm::Sha512,
                        _ => return Err(bad("unknown algorithm")),
                    }
                }
                "digits" => digits = v.parse().map_err(|_| bad("digits"))?,
                "period" => period = v.parse().map_err(|_| bad("period"))?,
                "secret" | "issuer" => return Err(bad("duplicate parameter")),
                _ => {}
            }
        }
        let totp = Totp {
            secret: secret.ok_or_else(|| bad("no secret"))?,
            algorithm,
            digits,
            period,
        };
        totp.validate()?;
        if let (Some(a), Some(b)) = (&label_issuer, &issuer)
            && a != b
        {
            return Err(bad("issuer in label and parameter differ"));
        }
        Ok((totp, issuer.or(label_issuer), account))
    }

    /// The enrolment URI as a QR code in SVG, for the self-service page.
    pub fn qr_svg(uri: &str) -> Result<String, MfaError> {
        let code = qrcode::QrCode::new(uri.as_bytes())
            .map_err(|e| MfaError::InvalidTotp(format!("QR code: {e}")))?;
        Ok(code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build())
    }
}

fn hmac_of<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so new_from_slice cannot fail here.
    match <M as KeyInit>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unpct(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let h = b.get(i + 1..i + 3)?;
            let h = std::str::from_utf8(h).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(if c == b'+' { b' ' } else { c });
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn rfc(algorithm: TotpAlgorithm) -> Totp {
        // RFC 6238 Appendix B seeds: the ASCII "12345678901234567890" repeated to the hash size.
        let seed: &[u8] = match algorithm {
            TotpAlgorithm::Sha1 => b"12345678901234567890",
            TotpAlgorithm::Sha256 => b"12345678901234567890123456789012",
            TotpAlgorithm::Sha512 => {
                b"1234567890123456789012345678901234567890123456789012345678901234"
            }
        };
        Totp {
            secret: TotpSecret::new(seed.to_vec()).unwrap(),
            algorithm,
            digits: 8,
            period: 30,
        }
    }

    #[test]
    fn rfc6238_appendix_b() {
        let table: [(i64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (t, s1, s256, s512) in table {
            assert_eq!(rfc(TotpAlgorithm::Sha1).code_at(at(t)), s1, "sha1 {t}");
            assert_eq!(
                rfc(TotpAlgorithm::Sha256).code_at(at(t)),
                s256,
                "sha256 {t}"
            );
            assert_eq!(
                rfc(TotpAlgorithm::Sha512).code_at(at(t)),
                s512,
                "sha512 {t}"
            );
        }
    }

    #[test]
    fn skew_and_replay() {
        let t = Totp::new_default(TotpSecret::new(vec![7; 20]).unwrap());
        let now = at(1_800_000_015);
        let step = t.step_at(now.timestamp());
        let code = t.code_for_step(step);
        assert_eq!(
            t.verify(&code, now, None, 1),
            TotpVerdict::Accepted { step }
        );
        assert_eq!(t.verify(&code, now, Some(step), 1), TotpVerdict::Replayed);
        let prev = t.code_for_step(step - 1);
        assert_eq!(
            t.verify(&prev, now, None, 1),
            TotpVerdict::Accepted { step: step - 1 }
        );
        // Once a later step was used, an earlier code is a replay too.
        assert_eq!(t.verify(&prev, now, Some(step), 1), TotpVerdict::Replayed);
        let old = t.code_for_step(step - 2);
        assert_eq!(t.verify(&old, now, None, 1), TotpVerdict::Invalid);
        assert_eq!(t.verify("12345", now, None, 1), TotpVerdict::Invalid);
        assert_eq!(t.verify("abcdef", now, None, 1), TotpVerdict::Invalid);
    }

    #[test]
    fn otpauth_round_trip() {
        let t = Totp::new_default(TotpSecret::new((0u8..20).collect()).unwrap());
        let uri = t.otpauth_uri("idm example", "alice@example.com");
        assert!(
            uri.starts_with("otpauth://totp/idm%20example:alice@example.com?secret="),
            "{uri}"
        );
        let (back, issuer, account) = Totp::parse_otpauth_uri(&uri).unwrap();
        assert_eq!(back, t);
        assert_eq!(issuer.as_deref(), Some("idm example"));
        assert_eq!(account, "alice@example.com");
        assert!(Totp::qr_svg(&uri).unwrap().starts_with("<?xml"));
        assert!(Totp::parse_otpauth_uri("otpauth://hotp/x?secret=AAAA").is_err());
        assert!(
            Totp::parse_otpauth_uri("otpauth://totp/x?secret=AAAAAAAAAAAAAAAAAAAAAAAAAA&digits=12")
                .is_err()
        );
        assert!(TotpSecret::new(vec![1; 10]).is_err());
        assert_eq!(format!("{:?}", t.secret), "TotpSecret(***)");
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = Totp::parse_otpauth_uri(&s);
            let _ = Totp::parse_otpauth_uri(&format!("otpauth://totp/{s}"));
        }

        #[test]
        fn uri_round_trips(secret in proptest::collection::vec(any::<u8>(), 16..40),
                           issuer in "[a-zA-Z0-9 .:&?=%-]{1,20}", account in "[a-zA-Z0-9@.+ -]{1,30}") {
            let t = Totp::new_default(TotpSecret::new(secret).unwrap());
            let issuer = issuer.replace(':', "");
            let (back, i, a) = Totp::parse_otpauth_uri(&t.otpauth_uri(&issuer, &account)).unwrap();
            prop_assert_eq!(back, t);
            prop_assert_eq!(i.unwrap(), issuer.trim());
            prop_assert_eq!(a, account.trim());
        }
    }
}
