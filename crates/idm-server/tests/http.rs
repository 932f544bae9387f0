//! The HTTP layer in process (`app(state).oneshot(req)` over an in-memory store): status codes
//! and problem JSON for malformed, unauthenticated, forbidden and conflicting requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Utc;
use idm_server::config::Config;
use idm_server::http::app;
use idm_server::ops;
use idm_server::state::AppState;
use idm_store::{Store, StoreConfig};
use tower::ServiceExt;

fn state() -> AppState {
    let store = Store::in_memory(StoreConfig::default()).unwrap();
    store.ensure_builtins(Utc::now()).unwrap();
    let mut cfg = Config::default();
    cfg.password.hash = idm_mfa::HashParams {
        m_cost_kib: 1024,
        t_cost: 1,
        p_cost: 1,
    };
    cfg.https.max_body_bytes = 4096;
    AppState::new(Arc::new(store), Arc::new(cfg)).unwrap()
}

async fn call(
    st: &AppState,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if body.is_some() {
        b = b.header(header::CONTENT_TYPE, "application/json");
    }
    let req = b
        .body(body.map_or(Body::empty(), |s| Body::from(s.to_owned())))
        .unwrap();
    let res = app(st.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, v)
}

async fn admin_token(st: &AppState) -> String {
    let r = ops::recover_account(&st.store, &st.config, Some(&st.hash_pool), "admin").unwrap();
    let body = serde_json::json!({"name": "admin", "password": r.password}).to_string();
    let (s, v) = call(st, "POST", "/v1/auth", None, Some(&body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn errors_are_problem_json_with_stable_codes() {
    let st = state();
    let t = admin_token(&st).await;

    let (s, v) = call(&st, "GET", "/v1/person", None, None).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    let (s, _) = call(&st, "GET", "/v1/person", Some("idm_garbage"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, v) = call(&st, "POST", "/v1/person", Some(&t), Some("{not json")).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    let (s, v) = call(
        &st,
        "POST",
        "/v1/person",
        Some(&t),
        Some(r#"{"name":"a","display_name":"A","extra":1}"#),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["message"].as_str().unwrap().contains("extra"), "{v}");

    let (s, v) = call(
        &st,
        "POST",
        "/v1/person",
        Some(&t),
        Some(r#"{"name":"Bad Name","display_name":"A"}"#),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid"))
    );
    assert_eq!(v["violations"][0]["field"], "name");

    let (s, _) = call(
        &st,
        "POST",
        "/v1/person",
        Some(&t),
        Some(r#"{"name":"alice","display_name":"A"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = call(
        &st,
        "POST",
        "/v1/group",
        Some(&t),
        Some(r#"{"name":"alice"}"#),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );

    let big = format!(r#"{{"name":"bob","display_name":"{}"}}"#, "x".repeat(5000));
    let (s, v) = call(&st, "POST", "/v1/person", Some(&t), Some(&big)).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large"))
    );

    let (s, v) = call(
        &st,
        "PUT",
        "/v1/person/alice/password",
        Some(&t),
        Some(r#"{"password":"alice12345678"}"#),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password_policy"))
    );

    let (s, v) = call(&st, "DELETE", "/v1/group/idm_admins", Some(&t), None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = call(&st, "GET", "/v1/nothing", Some(&t), None).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn sessions_end_at_logout_and_status_hides_counts_from_strangers() {
    let st = state();
    let t = admin_token(&st).await;
    let (s, v) = call(&st, "GET", "/status", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["persons"], 0);
    let (_, v) = call(&st, "GET", "/status", Some(&t), None).await;
    assert_eq!(v["persons"], 1);
    let (s, v) = call(&st, "GET", "/v1/self", Some(&t), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "idm_admins")
    );
    let (s, _) = call(&st, "POST", "/v1/logout", Some(&t), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(&st, "GET", "/v1/self", Some(&t), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_rehashes_when_parameters_change() {
    let st = state();
    let t = admin_token(&st).await;
    let (s, _) = call(
        &st,
        "POST",
        "/v1/person",
        Some(&t),
        Some(r#"{"name":"alice","display_name":"Alice"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let pw = r#"{"password":"ochre-violin-47-tundra"}"#;
    let (s, v) = call(&st, "PUT", "/v1/person/alice/password", Some(&t), Some(pw)).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let phc = |st: &AppState| match st.store.get_by_name("alice").unwrap().unwrap() {
        idm_model::Entry::Person(p) => p.credentials.password.unwrap().phc,
        _ => unreachable!(),
    };
    assert!(
        phc(&st).starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
        "{}",
        phc(&st)
    );

    // Same store, stronger parameters: the next successful login stores a new hash.
    let mut cfg = (*st.config).clone();
    cfg.password.hash.m_cost_kib = 2048;
    let st2 = AppState::new(st.store.clone(), Arc::new(cfg)).unwrap();
    let login = r#"{"name":"alice","password":"ochre-violin-47-tundra"}"#;
    let (s, v) = call(&st2, "POST", "/v1/auth", None, Some(login)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        phc(&st2).starts_with("$argon2id$v=19$m=2048,t=1,p=1$"),
        "{}",
        phc(&st2)
    );
    let (s, _) = call(&st2, "POST", "/v1/auth", None, Some(login)).await;
    assert_eq!(s, StatusCode::OK);
    // A wrong password does not rehash and is audited as a failure.
    let bad = r#"{"name":"alice","password":"wrong-wrong-wrong-1"}"#;
    let (s, v) = call(&st2, "POST", "/v1/auth", None, Some(bad)).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    let audit = st2
        .store
        .audit(&idm_store::AuditFilter {
            target: Some("alice".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(audit[0].event.action, "auth.password");
    assert_eq!(audit[0].event.outcome, idm_model::audit::Outcome::Failure);
    assert!(audit.iter().any(|e| e.event.summary.contains("rehash")));
}

/// The plain-HTTP listener's rule, in process: only a trusted proxy forwarding an HTTPS request
/// gets through (health checks always do); a spoofed `X-Forwarded-*` from anyone else is ignored.
#[tokio::test]
async fn plain_http_listener_serves_only_trusted_proxies() {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;
    use idm_server::http::forwarded::PlainHttp;

    let mut cfg = (*state().config).clone();
    cfg.https.trusted_proxies = vec!["10.0.0.1".parse().unwrap()];
    let st = AppState::new(state().store.clone(), Arc::new(cfg)).unwrap();
    let send = |peer: &str, path: &str, proto: Option<&str>| {
        let mut b = Request::builder().uri(path);
        if let Some(p) = proto {
            b = b.header("x-forwarded-proto", p);
        }
        let mut req = b.body(Body::empty()).unwrap();
        let peer: SocketAddr = peer.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(PlainHttp);
        app(st.clone()).oneshot(req)
    };
    let discovery = "/.well-known/openid-configuration";
    let ok = send("10.0.0.1:5000", discovery, Some("https"))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let untrusted = send("192.0.2.9:5000", discovery, Some("https"))
        .await
        .unwrap();
    assert_eq!(untrusted.status(), StatusCode::FORBIDDEN);
    let plain = send("10.0.0.1:5000", discovery, Some("http"))
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::FORBIDDEN);
    let none = send("10.0.0.1:5000", discovery, None).await.unwrap();
    assert_eq!(none.status(), StatusCode::FORBIDDEN);
    let health = send("192.0.2.9:5000", "/health/live", None).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

/// Discovery and JWKS in process: the issuer is the origin, endpoints live under `/oauth2/`, the
/// JWKS holds one public ES256 key and no private member, and is cacheable.
#[tokio::test]
async fn discovery_and_jwks_in_process() {
    let st = state();
    let (s, d) = call(&st, "GET", "/.well-known/openid-configuration", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["issuer"], "https://localhost:8443");
    assert_eq!(d["jwks_uri"], "https://localhost:8443/oauth2/jwks");
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    let req = Request::builder()
        .uri("/oauth2/jwks")
        .body(Body::empty())
        .unwrap();
    let res = app(st.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.headers()[header::CACHE_CONTROL], "public, max-age=300");
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let jwks: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], "ES256");
    assert!(keys[0].get("d").is_none(), "no private key material");
    // The same key after a restart (kept in the store).
    let again = AppState::new(st.store.clone(), st.config.clone()).unwrap();
    assert_eq!(
        again.oidc.keys().jwks().keys[0].kid,
        st.oidc.keys().jwks().keys[0].kid
    );
}

/// The one mapping from a stored client to the protocol crate's registration: scope maps by the
/// group's current name, allowed scopes their union, the secret digest as `client_secret_basic`,
/// a registered JWKS as `private_key_jwt`, `client_credentials` only with a service account.
#[tokio::test]
async fn client_registration_mapping() {
    use idm_oidc::{ClientAuthMethod, RefreshPolicy};
    let st = state();
    let t = admin_token(&st).await;
    let j = |v: serde_json::Value| v.to_string();
    let (s, _) = call(
        &st,
        "POST",
        "/v1/group",
        Some(&t),
        Some(&j(serde_json::json!({"name": "staff"}))),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let create = serde_json::json!({"name": "wiki", "display_name": "Wiki", "origin": "https://wiki.example.com"});
    let (s, v) = call(&st, "POST", "/v1/oauth2", Some(&t), Some(&j(create))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let patch = serde_json::json!({"add_redirect_uris": ["https://wiki.example.com/cb"], "require_offline_access": true});
    let (s, v) = call(&st, "PATCH", "/v1/oauth2/wiki", Some(&t), Some(&j(patch))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let map = serde_json::json!({"scopes": ["openid", "email", "offline_access"]});
    let (s, v) = call(
        &st,
        "PUT",
        "/v1/oauth2/wiki/scope_map/staff",
        Some(&t),
        Some(&j(map)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let c = st.store.oauth2_client("wiki").unwrap().unwrap();
    let reg = idm_server::oidc::registration(&st.store, &c).unwrap();
    assert_eq!(reg.client_id, "wiki");
    assert_eq!(
        reg.allowed_scopes.to_scope_string(),
        "email offline_access openid"
    );
    assert!(reg.scope_map.entries.contains_key("staff"));
    assert!(matches!(
        reg.auth_method,
        ClientAuthMethod::ClientSecretBasic { .. }
    ));
    assert_eq!(reg.refresh, RefreshPolicy::RequireOfflineAccess);
    assert!(!reg.allow_client_credentials);

    // A registered JWKS switches the client to private_key_jwt.
    let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}]});
    let patch = serde_json::json!({"jwks": jwks.to_string()});
    let (s, v) = call(&st, "PATCH", "/v1/oauth2/wiki", Some(&t), Some(&j(patch))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let c = st.store.oauth2_client("wiki").unwrap().unwrap();
    let reg = idm_server::oidc::registration(&st.store, &c).unwrap();
    assert!(matches!(
        reg.auth_method,
        ClientAuthMethod::PrivateKeyJwt { .. }
    ));
}

/// A `client_credentials` grant by a cached client is answered in memory: with the one blocking
/// thread of the runtime taken, it still completes, while a grant that needs the store (a wrong
/// secret is audited) waits for that thread. Client changes show at once.
#[test]
fn cached_client_credentials_grant_needs_no_blocking_thread() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let st = state();
        let t = admin_token(&st).await;
        let j = |v: serde_json::Value| v.to_string();
        for (path, body) in [
            ("/v1/service_account", serde_json::json!({"name": "robot", "display_name": "Robot"})),
            ("/v1/group", serde_json::json!({"name": "api_users"})),
        ] {
            let (s, v) = call(&st, "POST", path, Some(&t), Some(&j(body))).await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
        }
        let create = serde_json::json!({"name": "batch", "display_name": "Batch", "origin": "https://batch.example.com"});
        let (s, v) = call(&st, "POST", "/v1/oauth2", Some(&t), Some(&j(create))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let secret = v["secret"].as_str().unwrap().to_owned();
        let patch = serde_json::json!({"service_account": "robot"});
        let (s, v) = call(&st, "PATCH", "/v1/oauth2/batch", Some(&t), Some(&j(patch))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let map = serde_json::json!({"scopes": ["api.read"]});
        let path = "/v1/oauth2/batch/scope_map/api_users";
        let (s, v) = call(&st, "PUT", path, Some(&t), Some(&j(map))).await;
        assert_eq!(s, StatusCode::OK, "{v}");

        let grant = |secret: &str| {
            use base64ct::Encoding;
            let basic = base64ct::Base64::encode_string(format!("batch:{secret}").as_bytes());
            let req = Request::builder()
                .method("POST")
                .uri("/oauth2/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::AUTHORIZATION, format!("Basic {basic}"))
                .body(Body::from("grant_type=client_credentials"))
                .unwrap();
            app(st.clone()).oneshot(req)
        };
        // The first grant reads the client (on the blocking thread) and caches it.
        assert_eq!(grant(&secret).await.unwrap().status(), StatusCode::OK);

        let (release, wait) = std::sync::mpsc::channel::<()>();
        let blocker = tokio::task::spawn_blocking(move || wait.recv());
        let fast = tokio::time::timeout(std::time::Duration::from_secs(10), grant(&secret))
            .await
            .expect("answered without a blocking thread")
            .unwrap();
        assert_eq!(fast.status(), StatusCode::OK);
        assert_eq!(fast.headers()[header::CACHE_CONTROL], "no-store");
        let bytes = axum::body::to_bytes(fast.into_body(), 1 << 20).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["scope"], "api.read");
        assert_eq!(v["token_type"], "Bearer");
        // A wrong secret goes the blocking way (the failure is audited): it waits.
        let mut slow = Box::pin(grant("wrong"));
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(200), &mut slow)
                .await
                .is_err(),
            "a refusal waits for the blocking thread"
        );
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        assert_eq!(slow.await.unwrap().status(), StatusCode::UNAUTHORIZED);

        // Locking the service account takes effect on the next grant.
        let lock = serde_json::json!({"reason": "test"});
        let (s, v) = call(&st, "POST", "/v1/account/robot/lock", Some(&t), Some(&j(lock))).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        assert_eq!(grant(&secret).await.unwrap().status(), StatusCode::BAD_REQUEST);
    });
}
