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
    AppState::new(Arc::new(store), Arc::new(cfg))
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
    let r = ops::recover_account(&st.store, &st.config, "admin").unwrap();
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
    let st2 = AppState::new(st.store.clone(), Arc::new(cfg));
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
