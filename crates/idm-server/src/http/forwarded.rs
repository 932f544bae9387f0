//! Running behind a TLS-terminating reverse proxy.
//!
//! The optional plain-HTTP listener (`https.plain_http_bind`) serves only what a trusted proxy
//! (`https.trusted_proxies`) forwards from an HTTPS client: a request from any other peer, or one
//! that does not say `X-Forwarded-Proto: https` (or `Forwarded: proto=https`), gets 403 — except
//! `/health/*`, for the proxy's own health checks. On either listener, a trusted proxy's
//! `Forwarded` / `X-Forwarded-For` header gives the client address used for rate limits and
//! audit; anyone else's is ignored. The issuer and every URL the server publishes stay the
//! configured https origin.

use std::net::IpAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Marks a request that arrived on the plain-HTTP listener.
#[derive(Debug, Clone, Copy)]
pub struct PlainHttp;

/// The client address a trusted proxy reported.
#[derive(Debug, Clone, Copy)]
pub struct ForwardedFor(pub IpAddr);

/// The middleware: refuses what the plain listener must not serve, and records the forwarded
/// client address.
pub async fn forwarded(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let proxies = &st.config.https.trusted_proxies;
    let trusted = peer.is_some_and(|p| proxies.contains(&p));
    if req.extensions().get::<PlainHttp>().is_some() {
        let health = req.uri().path().starts_with("/health/");
        let https = trusted
            && forwarded_proto(req.headers()).is_some_and(|p| p.eq_ignore_ascii_case("https"));
        if !https && !health {
            return (
                StatusCode::FORBIDDEN,
                "this listener serves only HTTPS requests forwarded by a trusted proxy\n",
            )
                .into_response();
        }
    }
    if trusted && let Some(ip) = forwarded_client(req.headers(), proxies) {
        req.extensions_mut().insert(ForwardedFor(ip));
    }
    next.run(req).await
}

/// The scheme the client used, per `Forwarded: proto=` (RFC 7239) or `X-Forwarded-Proto`
/// (first hop).
pub fn forwarded_proto(headers: &HeaderMap) -> Option<String> {
    if let Some(first) = forwarded_elements(headers).into_iter().next()
        && let Some(p) = param(&first, "proto")
    {
        return Some(p);
    }
    headers
        .get("x-forwarded-proto")?
        .to_str()
        .ok()?
        .split(',')
        .next()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The client address: the rightmost address in `Forwarded: for=` (else `X-Forwarded-For`) that
/// is not itself a trusted proxy — what the nearest untrusted hop connected from.
pub fn forwarded_client(headers: &HeaderMap, proxies: &[IpAddr]) -> Option<IpAddr> {
    let from_forwarded: Vec<IpAddr> = forwarded_elements(headers)
        .iter()
        .filter_map(|e| param(e, "for"))
        .filter_map(|v| parse_node(&v))
        .collect();
    let chain = if from_forwarded.is_empty() {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| parse_node(s.trim()))
            .collect()
    } else {
        from_forwarded
    };
    chain
        .iter()
        .rev()
        .find(|ip| !proxies.contains(ip))
        .or_else(|| chain.first())
        .copied()
}

fn forwarded_elements(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn param(element: &str, name: &str) -> Option<String> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`, `2001:db8::1`.
fn parse_node(v: &str) -> Option<IpAddr> {
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (host, port) = v.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn client_address_from_the_chain() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 198.51.100.2, 10.0.0.1")]);
        // The rightmost hop that is not a trusted proxy: a spoofed leftmost entry is ignored.
        assert_eq!(
            forwarded_client(&h, &[proxy]),
            Some("198.51.100.2".parse().unwrap())
        );
        let h = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=https;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(
            forwarded_client(&h, &[proxy]),
            Some("2001:db8:cafe::17".parse().unwrap())
        );
        assert_eq!(forwarded_proto(&h).as_deref(), Some("https"));
        let h = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-for", "192.0.2.7:555"),
        ]);
        assert_eq!(forwarded_proto(&h).as_deref(), Some("https"));
        assert_eq!(
            forwarded_client(&h, &[]),
            Some("192.0.2.7".parse().unwrap())
        );
        assert_eq!(
            forwarded_client(&headers(&[("x-forwarded-for", "junk")]), &[]),
            None
        );
    }
}
