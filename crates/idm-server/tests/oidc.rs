//! OpenID Connect end to end: the real `idm-server` binary, a real relying-party library
//! (`openidconnect`, with the workspace's ureq as its HTTP client and the test CA as its only
//! root), and a browser (cookies, no automatic redirects) driven through the server's own login
//! and consent pages. The FAPI-style client's DPoP proofs and `private_key_jwt` assertions are
//! built here by hand with `p256`, independently of `idm-oidc`.
//!
//! The server's issuer is `https://idm.example.com`; every request to it goes to the test
//! server's port on localhost (see [`send`] and [`Browser::url`]). Nothing listens on the
//! relying party's redirect URI: the tests read the `Location` header.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed step is a failed test"
)]

mod common;

use std::collections::BTreeMap;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::{ORIGIN, Opts, Server, agent_with};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreProviderMetadata,
    CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IntrospectionUrl,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, RevocationUrl, Scope, TokenIntrospectionResponse, TokenResponse,
};
use p256::ecdsa::signature::Signer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "ochre-violin-47-tundra";
/// The relying party's origin. Nothing listens there.
const RP: &str = "http://127.0.0.1:47123";

fn redirect_uri() -> String {
    format!("{RP}/cb")
}

/// A server with a group `app_users`, a person `alice` in it with a password, and a confidential
/// client `webapp` (consent page, refresh tokens) whose scope map admits `app_users`.
struct World {
    srv: Server,
    secret: String,
    /// For the relying-party library and raw back-channel calls.
    rp: ureq::Agent,
}

fn world(opts: Opts) -> World {
    let srv = Server::start(opts);
    srv.api("POST", "/v1/group", Some(json!({"name": "app_users"})));
    srv.api(
        "POST",
        "/v1/person",
        Some(json!({"name": "alice", "display_name": "Alice Liddell", "mails": ["alice@example.com"]})),
    );
    srv.api(
        "PUT",
        "/v1/person/alice/password",
        Some(json!({ "password": PASSWORD })),
    );
    srv.api(
        "POST",
        "/v1/group/app_users/members",
        Some(json!({"members": ["alice"]})),
    );
    let secret = new_client(&srv, "webapp", &[]);
    let rp = agent_with(&srv.ca(), false);
    World { srv, secret, rp }
}

/// Registers a confidential client with the test redirect URI, a post-logout URI and a scope
/// map for `app_users`; `patch` adds settings. Returns the secret.
fn new_client(srv: &Server, name: &str, patch: &[(&str, Value)]) -> String {
    let c = srv.api(
        "POST",
        "/v1/oauth2",
        Some(json!({"name": name, "display_name": format!("App {name}"), "origin": RP})),
    );
    let secret = c["secret"].as_str().expect("a secret").to_owned();
    let mut body = json!({
        "add_redirect_uris": [redirect_uri()],
        "add_post_logout_redirect_uris": [format!("{RP}/bye")],
    });
    for (k, v) in patch {
        body[*k] = v.clone();
    }
    srv.api("PATCH", &format!("/v1/oauth2/{name}"), Some(body));
    srv.api(
        "PUT",
        &format!("/v1/oauth2/{name}/scope_map/app_users"),
        Some(json!({"scopes": ["openid", "profile", "email", "groups", "offline_access"]})),
    );
    secret
}

/// The relying-party library's HTTP client: the workspace's ureq, the issuer's URLs sent to the
/// test server's port.
fn send(
    agent: &ureq::Agent,
    port: u16,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, ureq::Error> {
    let (mut parts, body) = req.into_parts();
    let url = parts
        .uri
        .to_string()
        .replacen(ORIGIN, &format!("https://localhost:{port}"), 1);
    parts.uri = url.parse().expect("URL");
    let mut resp = if body.is_empty() {
        agent.run(ureq::http::Request::from_parts(parts, ()))?
    } else {
        agent.run(ureq::http::Request::from_parts(parts, body))?
    };
    let mut out = openidconnect::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    let body = resp.body_mut().read_to_vec()?;
    Ok(out.body(body).expect("response"))
}

/// A browser: a cookie jar, no automatic redirects, the issuer's origin mapped to the server.
struct Browser {
    agent: ureq::Agent,
    base: String,
    cookies: BTreeMap<String, String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    headers: ureq::http::HeaderMap,
    body: String,
}

impl Page {
    /// The value of a hidden form field.
    fn field(&self, name: &str) -> String {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&needle)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + needle.len();
        let end = self.body[start..].find('"').expect("closing quote");
        self.body[start..start + end].to_owned()
    }

    fn location_params(&self) -> BTreeMap<String, String> {
        let loc = self.location.as_deref().expect("a Location header");
        let query = loc.split_once('?').map_or("", |(_, q)| q);
        form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

impl Browser {
    fn new(srv: &Server) -> Browser {
        Browser {
            agent: agent_with(&srv.ca(), false),
            base: format!("https://localhost:{}", srv.https_port),
            cookies: BTreeMap::new(),
        }
    }

    fn url(&self, u: &str) -> String {
        if let Some(rest) = u.strip_prefix(ORIGIN) {
            format!("{}{rest}", self.base)
        } else if u.starts_with('/') {
            format!("{}{u}", self.base)
        } else {
            panic!("the browser only visits the server, not {u}")
        }
    }

    fn get(&mut self, u: &str) -> Page {
        self.request("GET", u, None)
    }

    fn post_form(&mut self, u: &str, pairs: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.request("POST", u, Some(body))
    }

    fn request(&mut self, method: &str, u: &str, body: Option<String>) -> Page {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(u));
        if !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            b = b.header("cookie", c.join("; "));
        }
        let mut resp = match body {
            Some(body) => self.agent.run(
                b.header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .expect("request"),
            ),
            None => self.agent.run(b.body(()).expect("request")),
        }
        .unwrap_or_else(|e| panic!("{method} {u}: {e}"));
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().expect("cookie header");
            assert!(
                v.contains("Secure") && v.contains("HttpOnly") && v.contains("SameSite=Lax"),
                "{v}"
            );
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').expect("name=value");
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
        Page {
            status: resp.status().as_u16(),
            location: resp
                .headers()
                .get("location")
                .map(|v| v.to_str().expect("location").to_owned()),
            headers: resp.headers().clone(),
            body: resp.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    /// From the login page to the first page after a correct password.
    fn log_in(&mut self, login_page: &Page) -> Page {
        assert_eq!(login_page.status, 303, "{}", login_page.body);
        let loc = login_page.location.clone().expect("to the login page");
        assert!(loc.starts_with("/ui/login?flow="), "{loc}");
        let form = self.get(&loc);
        assert_eq!(form.status, 200, "{}", form.body);
        let (flow, csrf) = (form.field("flow"), form.field("csrf"));
        self.post_form(
            "/ui/login",
            &[
                ("flow", &flow),
                ("csrf", &csrf),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
    }
}

/// A back-channel form POST; returns status, headers and JSON body.
fn post(
    w: &World,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
    extra: &[(&str, &str)],
) -> (u16, ureq::http::HeaderMap, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut b = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("https://localhost:{}{path}", w.srv.https_port))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let cred =
            base64ct::Base64::encode_string(format!("{}:{}", enc(id), enc(secret)).as_bytes());
        b = b.header("authorization", format!("Basic {cred}"));
    }
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    let mut resp = w.rp.run(b.body(body).expect("request")).expect("POST");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let v = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, v)
}

/// A GET with headers to the server; status, headers, body text.
fn get(w: &World, path: &str, headers: &[(&str, &str)]) -> (u16, ureq::http::HeaderMap, String) {
    let mut b = ureq::http::Request::builder()
        .method("GET")
        .uri(format!("https://localhost:{}{path}", w.srv.https_port));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut resp = w.rp.run(b.body(()).expect("request")).expect("GET");
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    (
        status,
        h,
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn jwt_payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWS");
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(part).expect("base64url")).expect("JSON")
}

fn audit_has(w: &World, needle: &str) -> bool {
    w.srv
        .audit(200)
        .iter()
        .any(|e| e.to_string().contains(needle))
}

/// A relying party configured from discovery.
fn discovered(
    w: &World,
    client_id: &str,
    secret: &str,
) -> CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointSet,
    openidconnect::EndpointSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
> {
    let http = |r| send(&w.rp, w.srv.https_port, r);
    let meta = CoreProviderMetadata::discover(&IssuerUrl::new(ORIGIN.to_owned()).unwrap(), &http)
        .expect("discovery");
    CoreClient::from_provider_metadata(
        meta,
        ClientId::new(client_id.to_owned()),
        Some(ClientSecret::new(secret.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri()).unwrap())
    .set_revocation_url(RevocationUrl::new(format!("{ORIGIN}/oauth2/revoke")).unwrap())
    .set_introspection_url(IntrospectionUrl::new(format!("{ORIGIN}/oauth2/introspect")).unwrap())
}

#[test]
fn authorization_code_flow_with_a_real_relying_party() {
    let w = world(Opts::default());
    let http = |r| send(&w.rp, w.srv.https_port, r);

    // Discovery: what the library read.
    let (status, _, doc) = get(&w, "/.well-known/openid-configuration", &[]);
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["issuer"], ORIGIN);
    assert_eq!(doc["token_endpoint"], format!("{ORIGIN}/oauth2/token"));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    let client = discovered(&w, "webapp", &w.secret);

    // Authorization code + PKCE, through the login form and the consent page.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("groups".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let mut b = Browser::new(&w.srv);
    let start = b.get(auth_url.as_str());
    assert_eq!(start.status, 303, "{}", start.body);
    let login = b.get(start.location.as_deref().unwrap());
    assert_eq!(login.status, 200);
    assert!(login.body.contains("autocomplete=\"current-password\""));
    assert!(
        login.body.contains("App webapp"),
        "the page names the client"
    );
    assert!(
        login.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let (flow, csrf) = (login.field("flow"), login.field("csrf"));
    // A wrong password and an unknown name get the same single message.
    for user in ["alice", "nobody"] {
        let again = b.post_form(
            "/ui/login",
            &[
                ("flow", &flow),
                ("csrf", &csrf),
                ("username", user),
                ("password", "not-the-password-123"),
            ],
        );
        assert_eq!(again.status, 401, "{}", again.body);
        assert!(
            again.body.contains("Invalid name or password"),
            "{}",
            again.body
        );
        assert!(!b.cookies.contains_key("__Host-idm_sso"));
    }
    let consent = b.post_form(
        "/ui/login",
        &[
            ("flow", &flow),
            ("csrf", &csrf),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("Allow"), "{}", consent.body);
    assert!(b.cookies.contains_key("__Host-idm_sso"));
    let back = b.post_form(
        "/ui/consent",
        &[
            ("flow", &consent.field("flow")),
            ("csrf", &consent.field("csrf")),
            ("decision", "allow"),
        ],
    );
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(
        back.location
            .as_deref()
            .unwrap()
            .starts_with(&redirect_uri())
    );
    let params = back.location_params();
    assert_eq!(params["state"], *state.secret());
    assert_eq!(params["iss"], ORIGIN, "RFC 9207 iss");
    assert!(
        !b.cookies.contains_key("__Host-idm_flow"),
        "the flow ends with the code"
    );

    // Code exchange, ID token validated against the JWKS with the nonce.
    let tokens: CoreTokenResponse = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request(&http)
        .expect("code exchange");
    let verifier = client.id_token_verifier();
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token.claims(&verifier, &nonce).expect("valid ID token");
    assert_eq!(claims.issuer().as_str(), ORIGIN);
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some("alice")
    );
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    assert_eq!(claims.email_verified(), Some(false), "mail is not verified");
    let sub = claims.subject().as_str().to_owned();
    let alice = w.srv.api("GET", "/v1/person/alice", None);
    assert_eq!(sub, alice["uuid"].as_str().unwrap(), "sub is the UUID");
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    let raw_id = jwt_payload(&id_token.to_string());
    assert_eq!(raw_id["groups"], json!(["app_users"]));
    assert_eq!(raw_id["amr"], json!(["pwd"]));
    assert_eq!(raw_id["principal_type"], "person");
    assert_eq!(raw_id["tenant"], "idm.example.com");
    let access = jwt_payload(tokens.access_token().secret());
    assert_eq!(access["client_id"], "webapp");
    assert!(access["cnf"].is_null(), "a bearer token");

    // Userinfo.
    let info: openidconnect::core::CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request(&http)
        .expect("userinfo");
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("alice"));

    // Introspection, then revocation of the access token.
    let intro = client
        .introspect(tokens.access_token())
        .request(&http)
        .expect("introspection");
    assert!(intro.active());
    client
        .revoke_token(tokens.access_token().into())
        .unwrap()
        .request(&http)
        .expect("revocation");
    let intro = client
        .introspect(tokens.access_token())
        .request(&http)
        .unwrap();
    assert!(!intro.active(), "revoked");
    let (status, h, _) = get(
        &w,
        "/oauth2/userinfo",
        &[(
            "authorization",
            &format!("Bearer {}", tokens.access_token().secret()),
        )],
    );
    assert_eq!(status, 401);
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // Refresh: a new refresh token each time.
    let refresh = tokens.refresh_token().expect("a refresh token").clone();
    let refreshed = client
        .exchange_refresh_token(&refresh)
        .unwrap()
        .request(&http)
        .expect("refresh");
    let rotated = refreshed.refresh_token().expect("rotated").clone();
    assert_ne!(rotated.secret(), refresh.secret());
    refreshed
        .id_token()
        .expect("an ID token")
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .expect("refreshed ID token verifies");
    // Revoking the refresh token ends the family.
    client
        .revoke_token(rotated.clone().into())
        .unwrap()
        .request(&http)
        .unwrap();
    let err = client
        .exchange_refresh_token(&rotated)
        .unwrap()
        .request(&http)
        .expect_err("revoked refresh token");
    assert_invalid_grant(err);

    // Single sign-on: a second authorization goes straight to the code (consent remembered),
    // and that family shows refresh reuse detection.
    let (challenge, verifier2) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, nonce2) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let again = b.get(auth_url.as_str());
    assert_eq!(again.status, 303);
    let code = again.location_params()["code"].clone();
    let tokens2 = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier2)
        .request(&http)
        .unwrap();
    tokens2
        .id_token()
        .unwrap()
        .claims(&verifier, &nonce2)
        .expect("SSO ID token");
    let first = tokens2.refresh_token().unwrap().clone();
    let second = client
        .exchange_refresh_token(&first)
        .unwrap()
        .request(&http)
        .unwrap()
        .refresh_token()
        .unwrap()
        .clone();
    assert_invalid_grant(
        client
            .exchange_refresh_token(&first)
            .unwrap()
            .request(&http)
            .expect_err("reuse"),
    );
    assert_invalid_grant(
        client
            .exchange_refresh_token(&second)
            .unwrap()
            .request(&http)
            .expect_err("the family is revoked after reuse"),
    );
    assert!(audit_has(&w, "refresh token reuse detected"));
    assert!(audit_has(&w, "authorization_code grant to webapp"));
    assert!(audit_has(&w, "oidc: password accepted"));

    // prompt=login: a new login even with a session.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_prompt(openidconnect::core::CoreAuthPrompt::Login)
        .set_pkce_challenge(challenge)
        .url();
    let relogin = b.get(auth_url.as_str());
    assert_eq!(relogin.status, 303);
    assert!(
        relogin
            .location
            .as_deref()
            .unwrap()
            .starts_with("/ui/login?flow="),
        "{:?}",
        relogin.location
    );

    // RP-initiated logout with the ID token as hint: back to the registered URI with state.
    let hint = tokens2.id_token().unwrap().to_string();
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", &hint)
        .append_pair("post_logout_redirect_uri", &format!("{RP}/bye"))
        .append_pair("state", "s-1")
        .finish();
    let out = b.get(&format!("/oauth2/logout?{q}"));
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(
        out.location.as_deref(),
        Some(&*format!("{RP}/bye?state=s-1"))
    );
    assert!(
        !b.cookies.contains_key("__Host-idm_sso"),
        "session cookie cleared"
    );
    assert!(audit_has(&w, "signed out"));
    // Signed out: prompt=none now gets login_required at the client.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_prompt(openidconnect::core::CoreAuthPrompt::None)
        .set_pkce_challenge(challenge)
        .url();
    let none = b.get(auth_url.as_str());
    assert_eq!(none.status, 303);
    assert_eq!(none.location_params()["error"], "login_required");

    // Key rotation with the default publish delay: the next key is in the JWKS at once, but
    // tokens are still signed with the current one.
    let kid_of = |jwt: &str| -> String {
        let h = jwt.split('.').next().unwrap();
        let h: Value = serde_json::from_slice(&Base64UrlUnpadded::decode_vec(h).unwrap()).unwrap();
        h["kid"].as_str().unwrap().to_owned()
    };
    let old_kid = kid_of(&hint);
    let out = w.srv.offline(&["rotate-keys"]);
    assert!(out.contains("ES256 key"), "{out}");
    let jwks = wait_for_keys(&w, 2);
    assert!(jwks.iter().any(|k| k["kid"] == old_kid.as_str()));
    let (code, verifier, _) = code_for(&w, "webapp", "");
    let (_, _, t) = post(
        &w,
        "/oauth2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri()),
            ("code_verifier", &verifier),
        ],
        Some(("webapp", &w.secret)),
        &[],
    );
    assert_eq!(
        kid_of(t["id_token"].as_str().unwrap()),
        old_kid,
        "not yet switched"
    );
    assert!(audit_has(&w, "signs from"));
}

/// Polls the JWKS until it holds `n` keys (a rotation through the admin socket is picked up
/// asynchronously).
fn wait_for_keys(w: &World, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let (_, h, body) = get(w, "/oauth2/jwks", &[]);
        assert_eq!(h["cache-control"], "public, max-age=300");
        let keys = serde_json::from_str::<Value>(&body).unwrap()["keys"]
            .as_array()
            .unwrap()
            .clone();
        if keys.len() == n {
            return keys;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the JWKS never held {n} keys");
}

fn assert_invalid_grant<E: std::error::Error + 'static>(
    err: RequestTokenError<E, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
) {
    match err {
        RequestTokenError::ServerResponse(r) => {
            assert_eq!(*r.error(), CoreErrorResponseType::InvalidGrant, "{r:?}")
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

/// A code for `webapp` through a fresh login; returns (code, verifier, browser).
fn code_for(w: &World, client_id: &str, extra: &str) -> (String, String, Browser) {
    let verifier = PkceCodeVerifier::new("v".repeat(20) + &"x".repeat(30));
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
    let q = format!(
        "response_type=code&client_id={client_id}&redirect_uri={}&scope=openid+profile&state=st&nonce=n1&code_challenge={}&code_challenge_method=S256{extra}",
        form_urlencoded::byte_serialize(redirect_uri().as_bytes()).collect::<String>(),
        challenge.as_str()
    );
    let mut b = Browser::new(&w.srv);
    let start = b.get(&format!("/oauth2/authorize?{q}"));
    let mut after = b.log_in(&start);
    if after.status == 200 {
        // The consent page.
        after = b.post_form(
            "/ui/consent",
            &[
                ("flow", &after.field("flow")),
                ("csrf", &after.field("csrf")),
                ("decision", "allow"),
            ],
        );
    }
    assert_eq!(after.status, 303, "{}", after.body);
    let code = after.location_params()["code"].clone();
    (code, verifier.secret().clone(), b)
}

#[test]
fn authorization_errors_replays_and_forgeries() {
    let w = world(Opts::default());
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let challenge =
        PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new("a".repeat(50)));
    let authorize = |redirect: &str, extra: &str| {
        format!(
            "/oauth2/authorize?response_type=code&client_id=webapp&redirect_uri={}&scope=openid&state=st&code_challenge={}&code_challenge_method=S256{extra}",
            enc(redirect),
            challenge.as_str()
        )
    };
    let mut b = Browser::new(&w.srv);

    // A redirect URI that is not registered: an error page, never a redirect.
    let p = b.get(&authorize("https://evil.example/cb", ""));
    assert_eq!(p.status, 400);
    assert!(p.location.is_none());
    assert!(p.body.contains("redirect_uri mismatch"), "{}", p.body);
    assert!(audit_has(&w, "authorization request refused"));
    // An unknown client: the same.
    let p = b.get(&authorize(&redirect_uri(), "").replace("client_id=webapp", "client_id=nope"));
    assert_eq!(p.status, 400);
    assert!(p.location.is_none());
    // PKCE plain: back to the client, refused for profile safety.
    let p = b.get(
        &authorize(&redirect_uri(), "")
            .replace("code_challenge_method=S256", "code_challenge_method=plain"),
    );
    assert_eq!(p.status, 303);
    let e = p.location_params();
    assert_eq!(e["error"], "invalid_request");
    assert_eq!(e["error_class"], "rejected_for_profile_safety");
    assert_eq!(e["state"], "st");
    assert_eq!(e["iss"], ORIGIN);
    // The implicit flow.
    let p =
        b.get(&authorize(&redirect_uri(), "").replace("response_type=code", "response_type=token"));
    assert_eq!(p.location_params()["error"], "unsupported_response_type");
    assert!(audit_has(&w, "implicit_flow (rejected_for_profile_safety)"));

    // The login form without its CSRF token is refused, and logs no one in.
    let start = b.get(&authorize(&redirect_uri(), ""));
    let form = b.get(start.location.as_deref().unwrap());
    let flow = form.field("flow");
    let p = b.post_form(
        "/ui/login",
        &[
            ("flow", &flow),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(!b.cookies.contains_key("__Host-idm_sso"));
    // Nor with the flow cookie of another browser.
    let mut other = Browser::new(&w.srv);
    let p = other.post_form(
        "/ui/login",
        &[
            ("flow", &flow),
            ("csrf", &form.field("csrf")),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(!other.cookies.contains_key("__Host-idm_sso"));

    // Code replay: the second exchange fails and the first access token is revoked.
    let (code, verifier, _) = code_for(&w, "webapp", "");
    let exchange = |code: &str, verifier: &str, client: (&str, &str)| {
        post(
            &w,
            "/oauth2/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &redirect_uri()),
                ("code_verifier", verifier),
            ],
            Some(client),
            &[],
        )
    };
    let (s, h, first) = exchange(&code, &verifier, ("webapp", &w.secret));
    assert_eq!(s, 200, "{first}");
    assert_eq!(h["cache-control"], "no-store");
    let at = first["access_token"].as_str().unwrap().to_owned();
    let introspect = |token: &str| {
        post(
            &w,
            "/oauth2/introspect",
            &[("token", token)],
            Some(("webapp", &w.secret)),
            &[],
        )
        .2
    };
    assert_eq!(introspect(&at)["active"], true);
    let (s, _, replay) = exchange(&code, &verifier, ("webapp", &w.secret));
    assert_eq!(s, 400);
    assert_eq!(replay["error"], "invalid_grant");
    assert_eq!(
        introspect(&at)["active"],
        false,
        "tokens from a replayed code are revoked"
    );
    let rt = first["refresh_token"].as_str().unwrap();
    let (_, _, r) = post(
        &w,
        "/oauth2/token",
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some(("webapp", &w.secret)),
        &[],
    );
    assert_eq!(
        r["error"], "invalid_grant",
        "the code's refresh family is revoked too"
    );
    assert!(audit_has(&w, "authorization code used twice"));

    // response_mode=form_post: an auto-submitting form to the redirect URI, under a strict CSP.
    let (_, _, mut b3) = code_for(&w, "webapp", "");
    let fp = b3.get(&authorize(&redirect_uri(), "&response_mode=form_post"));
    assert_eq!(fp.status, 200, "{}", fp.body);
    assert!(
        fp.body.contains(&format!("action=\"{}\"", redirect_uri())),
        "{}",
        fp.body
    );
    assert!(fp.body.contains("name=\"code\""));
    assert!(fp.body.contains("name=\"iss\""));
    let csp = fp.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");

    // A wrong PKCE verifier.
    let (code, _, _) = code_for(&w, "webapp", "");
    let (s, _, e) = exchange(&code, &"b".repeat(50), ("webapp", &w.secret));
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));

    // A code presented by another client; it stays usable by its own.
    let other_secret = new_client(&w.srv, "other", &[]);
    let (code, verifier, _) = code_for(&w, "webapp", "");
    let (s, _, e) = exchange(&code, &verifier, ("other", &other_secret));
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _, _) = exchange(&code, &verifier, ("webapp", &w.secret));
    assert_eq!(s, 200);
    // A wrong secret: 401 invalid_client with a Basic challenge.
    let (s, h, e) = exchange(&code, &verifier, ("webapp", "wrong"));
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    assert!(h["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    // Out-of-profile grants.
    let (s, _, e) = post(
        &w,
        "/oauth2/token",
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
        Some(("webapp", &w.secret)),
        &[],
    );
    assert_eq!(s, 400);
    assert_eq!(e["error"], "unsupported_grant_type");
    assert_eq!(e["error_class"], "rejected_for_profile_safety");

    // Forged tokens at userinfo.
    let (code, verifier, _) = code_for(&w, "webapp", "");
    let (_, _, t) = exchange(&code, &verifier, ("webapp", &w.secret));
    let at = t["access_token"].as_str().unwrap();
    let userinfo = |token: &str| {
        get(
            &w,
            "/oauth2/userinfo",
            &[("authorization", &format!("Bearer {token}"))],
        )
    };
    assert_eq!(userinfo(at).0, 200);
    let parts: Vec<&str> = at.split('.').collect();
    let none_header = Base64UrlUnpadded::encode_string(br#"{"alg":"none","typ":"at+jwt"}"#);
    let alg_none = format!("{none_header}.{}.", parts[1]);
    let (s, h, _) = userinfo(&alg_none);
    assert_eq!(s, 401);
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let mut claims = jwt_payload(at);
    claims["sub"] = json!("00000000-0000-4000-8000-000000000000");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        Base64UrlUnpadded::encode_string(claims.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(userinfo(&tampered).0, 401);
    let (s, h, _) = get(&w, "/oauth2/userinfo", &[]);
    assert_eq!(s, 401);
    assert_eq!(h["www-authenticate"], "Bearer realm=\"idm\"");

    // Logout asking to return somewhere unregistered: an error page, no redirect.
    let q = format!(
        "client_id=webapp&post_logout_redirect_uri={}",
        enc("https://evil.example/bye")
    );
    let p = b.get(&format!("/oauth2/logout?{q}"));
    assert_eq!(p.status, 400);
    assert!(p.location.is_none());
    assert!(
        p.body.contains("post_logout_redirect_uri mismatch"),
        "{}",
        p.body
    );
    // Without an id_token_hint the person is asked first (logout CSRF).
    let (_, _, mut b2) = code_for(&w, "webapp", "");
    let q = format!(
        "client_id=webapp&post_logout_redirect_uri={}",
        enc(&format!("{RP}/bye"))
    );
    let ask = b2.get(&format!("/oauth2/logout?{q}"));
    assert_eq!(ask.status, 200);
    assert!(
        b2.cookies.contains_key("__Host-idm_sso"),
        "not signed out yet"
    );
    let forged = b2.post_form(
        "/ui/logout",
        &[("csrf", "x"), ("redirect", "https://evil.example/")],
    );
    assert_eq!(forged.status, 403);
    let done = b2.post_form(
        "/ui/logout",
        &[
            ("csrf", &ask.field("csrf")),
            ("redirect", &ask.field("redirect")),
        ],
    );
    assert_eq!(done.status, 303);
    assert_eq!(done.location.as_deref(), Some(&*format!("{RP}/bye")));
    assert!(!b2.cookies.contains_key("__Host-idm_sso"));
}

// ---- FAPI-style client: PAR + private_key_jwt + DPoP, built by hand with p256 ----

struct EcKey {
    sk: p256::ecdsa::SigningKey,
    x: String,
    y: String,
}

impl EcKey {
    fn new(seed: u8) -> EcKey {
        let mut scalar = [0x42u8; 32];
        scalar[31] = seed;
        let sk = p256::ecdsa::SigningKey::from_slice(&scalar).unwrap();
        let point = sk.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        EcKey {
            x: Base64UrlUnpadded::encode_string(&bytes[1..33]),
            y: Base64UrlUnpadded::encode_string(&bytes[33..65]),
            sk,
        }
    }

    fn jwk(&self) -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y})
    }

    /// RFC 7638 thumbprint.
    fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.x, self.y
        );
        Base64UrlUnpadded::encode_string(&Sha256::digest(canonical.as_bytes()))
    }

    /// A compact JWS with ES256 (fixed-size r||s signature).
    fn sign(&self, header: &Value, payload: &Value) -> String {
        let input = format!(
            "{}.{}",
            Base64UrlUnpadded::encode_string(header.to_string().as_bytes()),
            Base64UrlUnpadded::encode_string(payload.to_string().as_bytes())
        );
        let sig: p256::ecdsa::Signature = self.sk.sign(input.as_bytes());
        format!(
            "{input}.{}",
            Base64UrlUnpadded::encode_string(&sig.to_bytes())
        )
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}-{}", now(), N.fetch_add(1, Ordering::Relaxed))
}

fn assertion(client_key: &EcKey, client_id: &str) -> String {
    client_key.sign(
        &json!({"alg": "ES256", "typ": "JWT", "kid": "k1"}),
        &json!({
            "iss": client_id, "sub": client_id, "aud": ORIGIN,
            "iat": now(), "exp": now() + 60, "jti": unique("assert"),
        }),
    )
}

fn dpop_proof(
    key: &EcKey,
    method: &str,
    url: &str,
    nonce: Option<&str>,
    token: Option<&str>,
) -> String {
    let mut claims = json!({"jti": unique("dpop"), "htm": method, "htu": url, "iat": now()});
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    if let Some(t) = token {
        claims["ath"] = json!(Base64UrlUnpadded::encode_string(&Sha256::digest(
            t.as_bytes()
        )));
    }
    key.sign(
        &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk()}),
        &claims,
    )
}

#[test]
fn fapi_client_with_par_private_key_jwt_and_dpop() {
    let w = world(Opts::default());
    let client_key = EcKey::new(1);
    let dpop_key = EcKey::new(2);
    let mut jwk = client_key.jwk();
    jwk["kid"] = json!("k1");
    jwk["use"] = json!("sig");
    jwk["alg"] = json!("ES256");
    new_client(
        &w.srv,
        "fapi",
        &[
            ("jwks", json!(json!({"keys": [jwk]}).to_string())),
            ("require_par", json!(true)),
            ("require_dpop", json!(true)),
            ("first_party", json!(true)),
        ],
    );
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let verifier = "f".repeat(64);
    let challenge =
        PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
    let par_url = format!("{ORIGIN}/oauth2/par");
    let token_url = format!("{ORIGIN}/oauth2/token");

    // Without PAR the client is refused (back to its redirect URI).
    let mut b = Browser::new(&w.srv);
    let direct = b.get(&format!(
        "/oauth2/authorize?response_type=code&client_id=fapi&redirect_uri={}&scope=openid&code_challenge={}&code_challenge_method=S256",
        enc(&redirect_uri()),
        challenge.as_str()
    ));
    assert_eq!(direct.status, 303);
    assert_eq!(
        direct.location_params()["error_class"],
        "invalid_profile_usage"
    );

    // PAR with a DPoP proof: the first one lacks the server nonce.
    let par_form = |assertion: &str| {
        vec![
            ("response_type", "code".to_owned()),
            ("client_id", "fapi".to_owned()),
            ("redirect_uri", redirect_uri()),
            ("scope", "openid profile".to_owned()),
            ("state", "fapi-state".to_owned()),
            ("nonce", "fapi-nonce".to_owned()),
            ("code_challenge", challenge.as_str().to_owned()),
            ("code_challenge_method", "S256".to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", assertion.to_owned()),
        ]
    };
    let form = par_form(&assertion(&client_key, "fapi"));
    let form_ref: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let proof = dpop_proof(&dpop_key, "POST", &par_url, None, None);
    let (s, h, e) = post(&w, "/oauth2/par", &form_ref, None, &[("dpop", &proof)]);
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("use_dpop_nonce")),
        "{e}"
    );
    let nonce = h["dpop-nonce"].to_str().unwrap().to_owned();
    let form = par_form(&assertion(&client_key, "fapi"));
    let form_ref: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let proof = dpop_proof(&dpop_key, "POST", &par_url, Some(&nonce), None);
    let (s, _, pushed) = post(&w, "/oauth2/par", &form_ref, None, &[("dpop", &proof)]);
    assert_eq!(s, 201, "{pushed}");
    let request_uri = pushed["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    // A replayed assertion is refused.
    let (s, _, e) = post(
        &w,
        "/oauth2/par",
        &form_ref,
        None,
        &[(
            "dpop",
            &dpop_proof(&dpop_key, "POST", &par_url, Some(&nonce), None),
        )],
    );
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_client")),
        "{e}"
    );

    // The browser brings only client_id and request_uri; first-party: no consent page.
    let authorize = format!(
        "/oauth2/authorize?client_id=fapi&request_uri={}",
        enc(&request_uri)
    );
    let start = b.get(&authorize);
    let back = b.log_in(&start);
    assert_eq!(back.status, 303, "{}", back.body);
    let params = back.location_params();
    assert_eq!(params["state"], "fapi-state");
    let code = params["code"].clone();
    // The request_uri was used up.
    let again = b.get(&authorize);
    assert_eq!(again.status, 400);
    assert!(again.location.is_none());

    // Token request: private_key_jwt + DPoP; without the proof the client is refused.
    let token_form = |code: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect_uri()),
            ("code_verifier", verifier.clone()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", assertion(&client_key, "fapi")),
        ]
    };
    let form = token_form(&code);
    let form_ref: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let proof = dpop_proof(&dpop_key, "POST", &token_url, Some(&nonce), None);
    let (s, h, tokens) = post(&w, "/oauth2/token", &form_ref, None, &[("dpop", &proof)]);
    assert_eq!(s, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP");
    assert!(h.contains_key("dpop-nonce"));
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    let payload = jwt_payload(&at);
    assert_eq!(
        payload["cnf"]["jkt"],
        dpop_key.thumbprint(),
        "bound to the DPoP key"
    );
    assert!(tokens["refresh_token"].is_string());
    // The same proof again is a replay.
    let form = token_form(&code);
    let form_ref: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, _, e) = post(&w, "/oauth2/token", &form_ref, None, &[("dpop", &proof)]);
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{e}"
    );
    // And the refresh token needs a proof by the same key.
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh_form = [
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", rt),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
        ),
        ("client_assertion", assertion(&client_key, "fapi")),
    ];
    let form_ref: Vec<(&str, &str)> = refresh_form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, _, e) = post(&w, "/oauth2/token", &form_ref, None, &[]);
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{e}"
    );

    // Userinfo: the bound token as a bearer token is refused; with a proof it works.
    let userinfo = format!("{ORIGIN}/oauth2/userinfo");
    let (s, _, _) = get(
        &w,
        "/oauth2/userinfo",
        &[("authorization", &format!("Bearer {at}"))],
    );
    assert_eq!(s, 401);
    let (s, h, _) = get(
        &w,
        "/oauth2/userinfo",
        &[("authorization", &format!("DPoP {at}"))],
    );
    assert_eq!(s, 401, "DPoP scheme without a proof");
    assert!(h["www-authenticate"].to_str().unwrap().starts_with("DPoP"));
    let proof = dpop_proof(&dpop_key, "GET", &userinfo, None, Some(&at));
    let (s, _, body) = get(
        &w,
        "/oauth2/userinfo",
        &[("authorization", &format!("DPoP {at}")), ("dpop", &proof)],
    );
    assert_eq!(s, 200, "{body}");
    let info: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["preferred_username"], "alice");
    let (s, _, _) = get(
        &w,
        "/oauth2/userinfo",
        &[("authorization", &format!("DPoP {at}")), ("dpop", &proof)],
    );
    assert_eq!(s, 401, "a replayed proof");
    // A proof by another key does not fit the token.
    let thief = EcKey::new(3);
    let proof = dpop_proof(&thief, "GET", &userinfo, None, Some(&at));
    let (s, _, _) = get(
        &w,
        "/oauth2/userinfo",
        &[("authorization", &format!("DPoP {at}")), ("dpop", &proof)],
    );
    assert_eq!(s, 401);
}

#[test]
fn client_credentials_and_the_reverse_proxy_listener() {
    let w = world(Opts {
        plain_http: true,
        extra_toml: "[https]\ntrusted_proxies = [\"127.0.0.1\"]\n\n[oidc]\nkey_publish_secs = 0\n"
            .into(),
        ..Opts::default()
    });
    w.srv.api(
        "POST",
        "/v1/service_account",
        Some(json!({"name": "robot", "display_name": "Batch robot"})),
    );
    let secret = new_client(&w.srv, "batch", &[("service_account", json!("robot"))]);
    w.srv.api(
        "PUT",
        "/v1/oauth2/batch/scope_map/app_users",
        Some(json!({"scopes": ["openid", "api.read"]})),
    );
    let robot = w.srv.api("GET", "/v1/service_account/robot", None);
    let before = w.srv.audit(1000).len();
    for _ in 0..3 {
        let (s, h, t) = post(
            &w,
            "/oauth2/token",
            &[("grant_type", "client_credentials")],
            Some(("batch", &secret)),
            &[],
        );
        assert_eq!(s, 200, "{t}");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(t["scope"], "api.read");
        assert!(t.get("refresh_token").is_none() && t.get("id_token").is_none());
        let at = jwt_payload(t["access_token"].as_str().unwrap());
        assert_eq!(at["sub"], robot["uuid"]);
        assert_eq!(at["principal_type"], "service");
    }
    assert_eq!(
        w.srv.audit(1000).len(),
        before,
        "client_credentials writes nothing per token"
    );

    // Served from memory (the client and its service account are cached), yet every change
    // shows on the next request.
    let grant = |secret: &str, scope: Option<&str>| {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let (s, _, t) = post(&w, "/oauth2/token", &form, Some(("batch", secret)), &[]);
        (s, t)
    };
    // A locked service account gets nothing; unlocked, it does again.
    w.srv.api(
        "POST",
        "/v1/account/robot/lock",
        Some(json!({"reason": "compromised"})),
    );
    let (s, e) = grant(&secret, None);
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{e}"
    );
    w.srv.api("POST", "/v1/account/robot/unlock", None);
    assert_eq!(grant(&secret, None).0, 200);
    // A scope added to the client's scope map may be asked for at once.
    assert_eq!(grant(&secret, Some("api.write")).0, 400);
    w.srv.api(
        "PUT",
        "/v1/oauth2/batch/scope_map/app_users",
        Some(json!({"scopes": ["openid", "api.read", "api.write"]})),
    );
    let (s, t) = grant(&secret, Some("api.write"));
    assert_eq!((s, t["scope"].as_str()), (200, Some("api.write")), "{t}");
    // After a secret reset the old secret is refused (and audited), the new one works.
    let reset = w.srv.api("POST", "/v1/oauth2/batch/reset_secret", None);
    let new_secret = reset["secret"].as_str().unwrap().to_owned();
    let (s, e) = grant(&secret, None);
    assert_eq!(
        (s, e["error"].as_str()),
        (401, Some("invalid_client")),
        "{e}"
    );
    assert!(audit_has(&w, "client authentication failed"));
    let secret = new_secret;
    assert_eq!(grant(&secret, None).0, 200);
    // A wrong secret for a cached client is refused too.
    assert_eq!(grant("not-the-secret", None).0, 401);

    // JWKS and discovery: rendered once, with an entity tag for conditional requests.
    for path in ["/oauth2/jwks", "/.well-known/openid-configuration"] {
        let (s, h, body) = get(&w, path, &[]);
        assert_eq!(s, 200);
        assert_eq!(h["cache-control"], "public, max-age=300");
        assert_eq!(h["content-type"], "application/json");
        assert!(serde_json::from_str::<Value>(&body).is_ok());
        let etag = h["etag"].to_str().unwrap().to_owned();
        let (s, h304, body) = get(&w, path, &[("if-none-match", &etag)]);
        assert_eq!((s, body.as_str()), (304, ""));
        assert_eq!(h304["etag"].to_str().unwrap(), etag);
        assert_eq!(get(&w, path, &[("if-none-match", "\"other\"")]).0, 200);
    }
    let jwks_etag = get(&w, "/oauth2/jwks", &[]).1["etag"].clone();
    // Rotation without a publish delay (`oidc.key_publish_secs = 0`): the new key signs at once;
    // tokens signed by the old one stay valid while it is published as retired.
    let token = || {
        let (_, _, t) = post(
            &w,
            "/oauth2/token",
            &[("grant_type", "client_credentials")],
            Some(("batch", &secret)),
            &[],
        );
        t["access_token"].as_str().unwrap().to_owned()
    };
    let kid = |jwt: &str| -> String {
        let h = jwt.split('.').next().unwrap();
        let h: Value = serde_json::from_slice(&Base64UrlUnpadded::decode_vec(h).unwrap()).unwrap();
        h["kid"].as_str().unwrap().to_owned()
    };
    let before_rotation = token();
    w.srv.offline(&["rotate-keys"]);
    wait_for_keys(&w, 2);
    let after_rotation = token();
    assert_ne!(kid(&before_rotation), kid(&after_rotation));
    assert_ne!(
        get(&w, "/oauth2/jwks", &[]).1["etag"],
        jwks_etag,
        "new keys, a new JWKS version"
    );
    for t in [&before_rotation, &after_rotation] {
        let (_, _, v) = post(
            &w,
            "/oauth2/introspect",
            &[("token", t)],
            Some(("batch", &secret)),
            &[],
        );
        assert_eq!(v["active"], true, "{v}");
    }

    // A client without a service account may not.
    let (s, _, e) = post(
        &w,
        "/oauth2/token",
        &[("grant_type", "client_credentials")],
        Some(("webapp", &w.secret)),
        &[],
    );
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{e}"
    );

    // The plain-HTTP listener: only what a trusted proxy forwards from HTTPS.
    let port = w.srv.http_port.expect("plain listener");
    let plain = |path: &str, headers: &[(&str, &str)]| {
        let mut b = ureq::http::Request::builder()
            .method("GET")
            .uri(format!("http://127.0.0.1:{port}{path}"));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut r = w.rp.run(b.body(()).unwrap()).unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    };
    assert_eq!(plain("/.well-known/openid-configuration", &[]).0, 403);
    assert_eq!(
        plain(
            "/.well-known/openid-configuration",
            &[("x-forwarded-proto", "http")]
        )
        .0,
        403
    );
    assert_eq!(plain("/health/live", &[]).0, 200);
    let (s, doc) = plain(
        "/.well-known/openid-configuration",
        &[("x-forwarded-proto", "https")],
    );
    assert_eq!(s, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["issuer"], ORIGIN, "the issuer stays the https origin");
    let (s, _) = plain(
        "/.well-known/openid-configuration",
        &[("forwarded", "for=198.51.100.1;proto=https")],
    );
    assert_eq!(s, 200);
    // The forwarded client address is the one audited.
    let body = r#"{"name":"alice","password":"wrong-password-xyz"}"#;
    let mut r =
        w.rp.run(
            ureq::http::Request::builder()
                .method("POST")
                .uri(format!("http://127.0.0.1:{port}/v1/auth"))
                .header("content-type", "application/json")
                .header("x-forwarded-proto", "https")
                .header("x-forwarded-for", "203.0.113.77")
                .body(body)
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        401,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    assert!(
        w.srv
            .audit(20)
            .iter()
            .any(|e| e["source"] == "203.0.113.77"),
        "audit source from X-Forwarded-For"
    );
}

/// RS256 for a relying party that only does RSA: the key is made the first time it is needed,
/// published, and advertised.
#[test]
fn rs256_client_gets_an_rsa_key_when_it_needs_one() {
    let w = world(Opts::default());
    w.srv.api(
        "PATCH",
        "/v1/oauth2/webapp",
        Some(json!({"signing_alg": "RS256", "first_party": true})),
    );
    let (code, verifier, _) = code_for(&w, "webapp", "");
    // The first RS256 token makes the RSA key (off the async threads).
    let (s, _, t) = post(
        &w,
        "/oauth2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri()),
            ("code_verifier", &verifier),
        ],
        Some(("webapp", &w.secret)),
        &[],
    );
    assert_eq!(s, 200, "{t}");
    let id = t["id_token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(
        &Base64UrlUnpadded::decode_vec(id.split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    // The relying party verifies it against the JWKS, now with the RSA key.
    let client = discovered(&w, "webapp", &w.secret);
    let id_token: openidconnect::core::CoreIdToken = id.parse().unwrap();
    id_token
        .claims(&client.id_token_verifier(), &Nonce::new("n1".into()))
        .expect("RS256 ID token verifies");
    let (_, _, doc) = get(&w, "/.well-known/openid-configuration", &[]);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["ES256", "RS256"])
    );
}
