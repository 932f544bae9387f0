//! The public documents — the JWK Set and the discovery document — rendered once per key set
//! and served as bytes.
//!
//! Both change only when the signing keys do (discovery lists the algorithms there are keys
//! for) or with the configuration (fixed while the server runs), so [`super::OidcState`]
//! renders them whenever it installs a key set and every request is a copy of a reference
//! to the same bytes. Each carries a strong `ETag` (a hash of the body) next to the crate's
//! `Cache-Control: public, max-age=300`, and a request whose `If-None-Match` names it gets a
//! bodiless 304.

use axum::body::{Body, Bytes};
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use idm_oidc::{HttpResponse, KeySet, Provider};
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// The documents for one key set.
pub struct Published {
    pub jwks: Document,
    pub discovery: Document,
}

impl Published {
    /// Renders both documents for `keys`.
    pub fn render(provider: &Provider, keys: &KeySet) -> Result<Published, AppError> {
        Ok(Published {
            jwks: Document::new(keys.jwks_response())?,
            discovery: Document::new(provider.discovery_response(keys))?,
        })
    }
}

/// One rendered response: status 200, its headers and body, and its entity tag.
pub struct Document {
    headers: Vec<(HeaderName, HeaderValue)>,
    etag: HeaderValue,
    body: Bytes,
}

impl Document {
    fn new(r: HttpResponse) -> Result<Document, AppError> {
        if r.status != 200 {
            return Err(AppError::Internal(format!(
                "public document rendered with status {}",
                r.status
            )));
        }
        let headers = r
            .headers
            .iter()
            .map(|(n, v)| {
                Ok((
                    HeaderName::from_bytes(n.as_bytes())
                        .map_err(|e| AppError::Internal(format!("header {n}: {e}")))?,
                    HeaderValue::from_str(v)
                        .map_err(|e| AppError::Internal(format!("header {n}: {e}")))?,
                ))
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        // 128 bits of the body's SHA-256: an identity for the body, not a secret.
        let digest = Sha256::digest(r.body.as_bytes());
        let etag = format!("\"{}\"", hex::encode(digest.get(..16).unwrap_or_default()));
        Ok(Document {
            headers,
            etag: HeaderValue::from_str(&etag)
                .map_err(|e| AppError::Internal(format!("ETag: {e}")))?,
            body: Bytes::from(r.body),
        })
    }

    /// The response to a GET (or HEAD) with these request headers: 304 if `If-None-Match`
    /// names this version, else 200 with the body.
    pub fn respond(&self, request: &HeaderMap) -> Response {
        let fresh = request
            .get_all(IF_NONE_MATCH)
            .iter()
            .any(|v| matches_etag(v.as_bytes(), self.etag.as_bytes()));
        let mut res = if fresh {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            Response::new(Body::from(self.body.clone()))
        };
        let h = res.headers_mut();
        for (n, v) in &self.headers {
            // A 304 repeats the caching headers, not the representation's type.
            if !(fresh && n == axum::http::header::CONTENT_TYPE) {
                h.insert(n.clone(), v.clone());
            }
        }
        h.insert(ETAG, self.etag.clone());
        res
    }
}

/// `If-None-Match` (RFC 9110 §13.1.2): `*`, or a list of entity tags compared weakly (a `W/`
/// prefix is ignored).
fn matches_etag(header: &[u8], etag: &[u8]) -> bool {
    header.split(|b| *b == b',').any(|t| {
        let t = t.trim_ascii();
        t == b"*" || t.strip_prefix(b"W/").unwrap_or(t) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match() {
        let e = br#""abc""#;
        assert!(matches_etag(br#""abc""#, e));
        assert!(matches_etag(br#"W/"abc""#, e));
        assert!(matches_etag(br#""x", "abc""#, e));
        assert!(matches_etag(b"*", e));
        assert!(!matches_etag(br#""abd""#, e));
        assert!(!matches_etag(b"abc", e));
        assert!(!matches_etag(b"", e));
    }

    #[test]
    fn documents_are_served_as_rendered_with_an_etag() {
        let p =
            Provider::new(idm_oidc::ProviderConfig::new("https://idm.example.com", "t").unwrap())
                .unwrap();
        let mut rng = crate::rng::crypto_rng().unwrap();
        let keys = KeySet::new(vec![
            idm_oidc::SigningKey::generate_es256("k1", &mut rng).unwrap(),
        ])
        .unwrap();
        let docs = Published::render(&p, &keys).unwrap();
        let r = docs.jwks.respond(&HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["cache-control"], "public, max-age=300");
        let etag = r.headers()["etag"].clone();
        assert_eq!(etag.len(), 34);
        let mut cond = HeaderMap::new();
        cond.insert(IF_NONE_MATCH, etag.clone());
        let r = docs.jwks.respond(&cond);
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers()["etag"], etag);
        assert_eq!(r.headers()["cache-control"], "public, max-age=300");
        // Another document, another tag.
        let d = docs.discovery.respond(&cond);
        assert_eq!(d.status(), StatusCode::OK);
        assert_ne!(d.headers()["etag"], etag);
    }
}
