//! Server-rendered pages (login, consent, errors, logout) and the headers every page gets.

pub mod factors;
pub mod mfa_pages;
pub mod pages;
pub mod profile;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use maud::Markup;

/// The pages' Content-Security-Policy: the inline stylesheet, our one script file (passkeys)
/// and requests back to us; no inline scripts, no frames. (No `form-action`: browsers apply it
/// to the redirect after a form POST, and the login form's answer redirects to the
/// application.)
pub const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
     style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

/// The passkey script for the pages (`/ui/webauthn.js`).
pub const WEBAUTHN_JS: &str = include_str!("../../assets/webauthn.js");

/// `GET /ui/webauthn.js`.
pub async fn webauthn_js() -> Response {
    let mut res = Response::new(Body::from(WEBAUTHN_JS));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// A page with its status, security headers and any `Set-Cookie` values.
pub fn page(status: StatusCode, markup: Markup, cookies: &[String]) -> Response {
    let mut res = Response::new(Body::from(markup.into_string()));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    add_cookies(&mut res, cookies);
    res
}

/// An error page (never a redirect).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, pages::error(title, message), &[])
}

/// Appends `Set-Cookie` headers.
pub fn add_cookies(res: &mut Response, cookies: &[String]) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

/// A 303 See Other to a path of ours.
pub fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    add_cookies(&mut res, cookies);
    res
}

/// A JSON answer for the pages' script (ceremony options), never cached.
pub fn json(body: String, cookies: &[String]) -> Response {
    let mut res = Response::new(Body::from(body));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    add_cookies(&mut res, cookies);
    res
}

/// A short text answer for the pages' script, which shows it to the person.
pub fn plain(status: StatusCode, msg: &str) -> Response {
    let mut res = Response::new(Body::from(msg.to_owned()));
    *res.status_mut() = status;
    res
}
