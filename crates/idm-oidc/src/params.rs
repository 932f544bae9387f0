//! `application/x-www-form-urlencoded` parameters (query strings and form bodies), parsed
//! strictly and within limits.
//!
//! Strict because these parameters carry security decisions: a repeated parameter is
//! ambiguous (RFC 6749 §3.1 forbids it and a proxy and this server might pick different
//! copies), bad percent-encoding or invalid UTF-8 is refused instead of being replaced
//! with U+FFFD (two different inputs must not decode to the same value), and every size
//! is bounded so that a hostile request costs bounded memory. Empty values count as
//! absent (RFC 6749 §3.1) but still count as occurrences for duplicate detection.

use crate::error::OidcError;

/// Size limits for everything parsed from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest query string or form body, in bytes.
    pub max_input_bytes: usize,
    /// Most `name=value` pairs.
    pub max_params: usize,
    /// Longest parameter name.
    pub max_name_bytes: usize,
    /// Longest value of an ordinary parameter (after decoding).
    pub max_value_bytes: usize,
    /// Longest value of a parameter that carries a JWT or token (`client_assertion`,
    /// `id_token_hint`, `refresh_token`, `token`), and of JWS input in general.
    pub max_token_bytes: usize,
    /// Most space-separated values in `scope`, `prompt`, `acr_values`, `ui_locales`.
    pub max_list_values: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: 32 * 1024,
            max_params: 48,
            max_name_bytes: 64,
            max_value_bytes: 2048,
            max_token_bytes: 8192,
            max_list_values: 32,
        }
    }
}

/// Parameters that carry JWTs or tokens and so get [`Limits::max_token_bytes`].
const TOKEN_PARAMS: &[&str] = &[
    "client_assertion",
    "id_token_hint",
    "refresh_token",
    "token",
    "request",
    "logout_hint",
];

impl Limits {
    fn value_limit(&self, name: &str) -> usize {
        if TOKEN_PARAMS.contains(&name) {
            self.max_token_bytes
        } else {
            self.max_value_bytes
        }
    }
}

/// Parsed parameters, in request order, first occurrence kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
    duplicates: Vec<String>,
}

impl Params {
    /// Parses a query string (without `?`) or a form body. Fails on malformed encoding and
    /// on exceeded limits; repeated names are recorded (see [`Params::duplicates`]) so that
    /// the authorization endpoint can still decide whether it may redirect the error.
    pub fn parse(input: &[u8], limits: &Limits) -> Result<Self, OidcError> {
        if input.len() > limits.max_input_bytes {
            return Err(OidcError::TooLarge("request"));
        }
        let mut out = Self::default();
        let mut seen = 0usize;
        for segment in input.split(|&b| b == b'&') {
            if segment.is_empty() {
                continue;
            }
            seen += 1;
            if seen > limits.max_params {
                return Err(OidcError::TooLarge("parameter count"));
            }
            let (raw_name, raw_value) = match segment.iter().position(|&b| b == b'=') {
                Some(i) => (
                    segment.get(..i).unwrap_or_default(),
                    segment.get(i + 1..).unwrap_or_default(),
                ),
                None => (segment, &b""[..]),
            };
            let name = decode_component(raw_name, limits.max_name_bytes, "parameter name")?;
            if name.is_empty() {
                continue;
            }
            let value = decode_component(raw_value, limits.value_limit(&name), "parameter")?;
            // Empty values are stored too: absent for lookups, present for duplicate
            // detection, so that `a=&a=x` is a duplicate.
            if out.pairs.iter().any(|(n, _)| *n == name) {
                if !out.duplicates.contains(&name) {
                    out.duplicates.push(name);
                }
                continue;
            }
            out.pairs.push((name, value));
        }
        Ok(out)
    }

    /// Parses and refuses any repeated parameter — what every endpoint but the
    /// authorization endpoint wants.
    pub fn parse_strict(input: &[u8], limits: &Limits) -> Result<Self, OidcError> {
        let p = Self::parse(input, limits)?;
        p.reject_duplicates()?;
        Ok(p)
    }

    /// Fails with [`OidcError::DuplicateParameter`] if any name was repeated.
    pub fn reject_duplicates(&self) -> Result<(), OidcError> {
        match self.duplicates.first() {
            Some(name) => Err(OidcError::DuplicateParameter(name.clone())),
            None => Ok(()),
        }
    }

    /// Names that appeared more than once.
    #[must_use]
    pub fn duplicates(&self) -> &[String] {
        &self.duplicates
    }

    /// Whether `name` appeared more than once.
    #[must_use]
    pub fn is_duplicated(&self, name: &str) -> bool {
        self.duplicates.iter().any(|d| d == name)
    }

    /// The (non-empty) value of `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// All non-empty pairs in request order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Whether any parameter with a non-empty value was given.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl Params {
    /// The value of `name` as an owned string, if present and non-empty.
    pub(crate) fn owned(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }
}

/// Decodes one form-urlencoded component: `+` is a space, `%XX` a byte; the result must
/// be UTF-8. Bounded by `limit` decoded bytes.
pub(crate) fn decode_component(
    raw: &[u8],
    limit: usize,
    what: &'static str,
) -> Result<String, OidcError> {
    let mut out = Vec::with_capacity(raw.len().min(limit));
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        let decoded = match b {
            b'+' => b' ',
            b'%' => {
                let hi = bytes.next().and_then(|&h| hex_value(h));
                let lo = bytes.next().and_then(|&l| hex_value(l));
                match (hi, lo) {
                    (Some(h), Some(l)) => (h << 4) | l,
                    _ => return Err(OidcError::Malformed("bad percent-encoding")),
                }
            }
            other => other,
        };
        if out.len() >= limit {
            return Err(OidcError::TooLarge(what));
        }
        out.push(decoded);
    }
    String::from_utf8(out).map_err(|_| OidcError::Malformed("parameter is not UTF-8"))
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits a space-delimited list parameter (`scope`, `prompt`, `acr_values`), bounded.
pub(crate) fn split_list<'a>(
    value: &'a str,
    limits: &Limits,
    what: &'static str,
) -> Result<Vec<&'a str>, OidcError> {
    let items: Vec<&str> = value.split(' ').filter(|s| !s.is_empty()).collect();
    if items.len() > limits.max_list_values {
        return Err(OidcError::TooLarge(what));
    }
    Ok(items)
}

/// Encodes pairs as `application/x-www-form-urlencoded`.
pub(crate) fn encode_pairs<'a, I>(pairs: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (n, v) in pairs {
        s.append_pair(n, v);
    }
    s.finish()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<Params, OidcError> {
        Params::parse(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn decodes_plus_and_percent() {
        let p = parse("a=b+c&d=%2F%c3%a9&e").unwrap();
        assert_eq!(p.get("a"), Some("b c"));
        assert_eq!(p.get("d"), Some("/\u{e9}"));
        assert_eq!(p.get("e"), None);
    }

    #[test]
    fn duplicates_are_recorded_and_strict_refuses() {
        let p = parse("a=1&b=2&a=3").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert!(p.is_duplicated("a"));
        assert!(matches!(
            Params::parse_strict(b"a=1&a=1", &Limits::default()),
            Err(OidcError::DuplicateParameter(n)) if n == "a"
        ));
        // An empty occurrence still counts.
        assert!(parse("a=&a=x").unwrap().is_duplicated("a"));
        assert!(parse("a=x&a=").unwrap().is_duplicated("a"));
    }

    #[test]
    fn malformed_encoding_refused() {
        assert!(matches!(parse("a=%zz"), Err(OidcError::Malformed(_))));
        assert!(matches!(parse("a=%4"), Err(OidcError::Malformed(_))));
        assert!(matches!(parse("a=%ff"), Err(OidcError::Malformed(_))));
    }

    #[test]
    fn limits_enforced() {
        let limits = Limits {
            max_params: 2,
            max_value_bytes: 4,
            ..Limits::default()
        };
        assert!(matches!(
            Params::parse(b"a=1&b=2&c=3", &limits),
            Err(OidcError::TooLarge(_))
        ));
        assert!(matches!(
            Params::parse(b"a=12345", &limits),
            Err(OidcError::TooLarge(_))
        ));
        // Token-bearing parameters get the larger limit.
        assert!(Params::parse(b"token=12345", &limits).is_ok());
        let big = vec![b'a'; Limits::default().max_input_bytes + 1];
        assert!(matches!(
            Params::parse(&big, &Limits::default()),
            Err(OidcError::TooLarge(_))
        ));
    }

    proptest! {
        #[test]
        fn never_panics(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Params::parse(&input, &Limits::default());
        }

        #[test]
        fn form_urlencoded_round_trip(
            pairs in proptest::collection::btree_map("[a-z_]{1,12}", "\\PC{1,40}", 0..10)
        ) {
            let encoded = encode_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let parsed = Params::parse_strict(encoded.as_bytes(), &Limits::default()).unwrap();
            for (k, v) in &pairs {
                prop_assert_eq!(parsed.get(k), Some(v.as_str()));
            }
            prop_assert_eq!(parsed.iter().count(), pairs.len());
        }

        #[test]
        fn duplicates_always_detected(
            name in "[a-z]{1,8}",
            a in "[a-zA-Z0-9]{0,8}",
            b in "[a-zA-Z0-9]{0,8}",
            prefix in proptest::collection::btree_map("[A-Z]{1,4}", "[a-z]{1,4}", 0..4),
        ) {
            let mut pairs: Vec<(String, String)> = prefix.into_iter().collect();
            pairs.push((name.clone(), a));
            pairs.push((name.clone(), b));
            let encoded = encode_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let parsed = Params::parse(encoded.as_bytes(), &Limits::default()).unwrap();
            prop_assert!(parsed.is_duplicated(&name));
            prop_assert!(parsed.reject_duplicates().is_err());
        }
    }
}
