//! HTTP as data: the headers this crate reads, and the responses it asks the server to send.
//!
//! The crate never touches a socket or a web framework; the server turns a
//! [`HttpResponse`] into its framework's response verbatim (status, every header, body).
//! Headers such as `Cache-Control: no-store` on token responses are part of the returned
//! value precisely so that a handler cannot forget them.

use serde::Serialize;

use crate::error::OidcError;

/// A response for the server to send as is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Headers in order; names are canonical ASCII.
    pub headers: Vec<(&'static str, String)>,
    /// The body (JSON, HTML or empty).
    pub body: String,
}

impl HttpResponse {
    /// An empty-bodied response.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// A JSON response that must not be cached: every JSON answer of an OAuth endpoint
    /// carries tokens, token metadata or errors about them (RFC 6749 §5.1, RFC 7662 §2.2).
    pub fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> Self {
        // Serialising our own plain structs cannot fail; fall back to a fixed error body
        // rather than panic if it ever did.
        let (status, body) = match serde_json::to_string(body) {
            Ok(b) => (status, b),
            Err(_) => (
                500,
                r#"{"error":"server_error","error_description":"internal error"}"#.to_owned(),
            ),
        };
        Self {
            status,
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("Cache-Control", "no-store".to_owned()),
                ("Pragma", "no-cache".to_owned()),
            ],
            body,
        }
    }

    /// Appends a header.
    pub fn push_header(&mut self, name: &'static str, value: String) {
        self.headers.push((name, value));
    }

    /// The first value of a header, by case-insensitive name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The request headers this crate reads. Build it with [`RequestHeaders::from_pairs`] from
/// all of the request's headers, which refuses a repeated `Authorization` or `DPoP` header
/// (RFC 9449 §4.3 allows exactly one DPoP header; two `Authorization` headers are
/// ambiguous).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHeaders {
    /// `Authorization`.
    pub authorization: Option<String>,
    /// `DPoP`.
    pub dpop: Option<String>,
}

/// Longest header value accepted for `Authorization` and `DPoP`.
const MAX_HEADER_BYTES: usize = 8192;

impl RequestHeaders {
    /// Picks the headers of interest out of all of a request's headers. Names compare
    /// case-insensitively; values must be visible ASCII (which JWTs, base64 and the auth
    /// schemes are).
    pub fn from_pairs<'a, I>(pairs: I) -> Result<Self, OidcError>
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let mut out = Self::default();
        for (name, value) in pairs {
            let slot = if name.eq_ignore_ascii_case("authorization") {
                &mut out.authorization
            } else if name.eq_ignore_ascii_case("dpop") {
                &mut out.dpop
            } else {
                continue;
            };
            if slot.is_some() {
                return Err(OidcError::DuplicateParameter(name.to_ascii_lowercase()));
            }
            if value.len() > MAX_HEADER_BYTES {
                return Err(OidcError::TooLarge("header"));
            }
            let text = core::str::from_utf8(value)
                .ok()
                .filter(|s| s.bytes().all(|b| (0x20..0x7f).contains(&b)))
                .ok_or(OidcError::Malformed("header value is not visible ASCII"))?;
            *slot = Some(text.trim().to_owned());
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_dpop_header_refused() {
        let r = RequestHeaders::from_pairs([("DPoP", &b"a"[..]), ("dpop", &b"b"[..])]);
        assert!(matches!(r, Err(OidcError::DuplicateParameter(_))));
    }

    #[test]
    fn picks_headers_case_insensitively() {
        let h = RequestHeaders::from_pairs([
            ("AUTHORIZATION", &b"Basic eA=="[..]),
            ("Content-Type", &b"x"[..]),
        ])
        .unwrap();
        assert_eq!(h.authorization.as_deref(), Some("Basic eA=="));
        assert_eq!(h.dpop, None);
    }

    #[test]
    fn control_characters_refused() {
        let r = RequestHeaders::from_pairs([("Authorization", &b"Bearer a\x01"[..])]);
        assert!(matches!(r, Err(OidcError::Malformed(_))));
    }
}
