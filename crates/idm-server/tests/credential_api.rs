//! The credential admin API in process (`app(state).oneshot(req)` over an in-memory store):
//! credential status and `policy_met`, reset tokens, removing second factors, group credential
//! policies. Second factors are put in place through the store, as enrolment in the browser
//! would leave them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use idm_model::audit::Actor;
use idm_model::change::Change;
use idm_model::credential::{TotpCredential, WebauthnCredential, WebauthnKind};
use idm_server::config::Config;
use idm_server::http::app;
use idm_server::oidc::session;
use idm_server::state::AppState;
use idm_server::{mfa, ops};
use idm_store::{Store, StoreConfig};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

const STRONG: &str = "Quartz-Violin-Meadow-42-Ember";
const ORIGIN: &str = "https://idm.example.test";

fn state() -> AppState {
    let store = Store::in_memory(StoreConfig::default()).unwrap();
    store.ensure_builtins(Utc::now()).unwrap();
    let mut cfg = Config {
        origin: ORIGIN.into(),
        ..Config::default()
    };
    cfg.password.hash = idm_mfa::HashParams {
        m_cost_kib: 1024,
        t_cost: 1,
        p_cost: 1,
    };
    AppState::new(Arc::new(store), Arc::new(cfg)).unwrap()
}

async fn call(
    st: &AppState,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if body.is_some() {
        b = b.header(header::CONTENT_TYPE, "application/json");
    }
    let req = b
        .body(body.map_or(Body::empty(), |v| Body::from(v.to_string())))
        .unwrap();
    let res = app(st.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn login(st: &AppState, name: &str, password: &str) -> String {
    let req = Request::builder()
        .method("POST")
        .uri("/v1/auth")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"name": name, "password": password}).to_string(),
        ))
        .unwrap();
    let res = app(st.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "login of {name}");
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

async fn admin_token(st: &AppState) -> String {
    let r = ops::recover_account(&st.store, &st.config, Some(&st.hash_pool), "admin").unwrap();
    login(st, "admin", &r.password).await
}

/// A person with a password; returns their UUID.
async fn person(st: &AppState, admin: &str, name: &str) -> Uuid {
    let (s, v) = call(
        st,
        "POST",
        "/v1/person",
        admin,
        Some(json!({"name": name, "display_name": name})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = call(
        st,
        "PUT",
        &format!("/v1/person/{name}/password"),
        admin,
        Some(json!({"password": STRONG})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    st.store.resolve(name).unwrap().unwrap().uuid()
}

async fn group(st: &AppState, admin: &str, name: &str, members: &[&str]) {
    let (s, v) = call(st, "POST", "/v1/group", admin, Some(json!({"name": name}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    if !members.is_empty() {
        let (s, v) = call(
            st,
            "POST",
            &format!("/v1/group/{name}/members"),
            admin,
            Some(json!({"members": members})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// What the browser's enrolment would leave behind.
fn enrol_totp(st: &AppState, uuid: Uuid, label: &str) {
    let credential = TotpCredential {
        label: label.into(),
        secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into(),
        algorithm: "sha1".into(),
        digits: 6,
        period: 30,
        created_at: t0(),
        last_step: None,
    };
    let _ = st
        .store
        .apply(
            &Change::SetTotp {
                uuid,
                credential,
                replace: false,
            },
            &Actor::system("test"),
            Utc::now(),
            None,
        )
        .unwrap();
}

fn enrol_webauthn(st: &AppState, uuid: Uuid, label: &str, kind: WebauthnKind) {
    let credential = WebauthnCredential {
        label: label.into(),
        kind,
        credential_id: format!("id-{label}"),
        aaguid: Some(Uuid::from_u128(0xcb69481e_8ff7_4039_93ec_0a2729a154a8)),
        created_at: t0(),
        last_used: None,
        state: "{}".into(),
    };
    let _ = st
        .store
        .apply(
            &Change::SetWebauthn {
                uuid,
                credential,
                replace: false,
            },
            &Actor::system("test"),
            Utc::now(),
            None,
        )
        .unwrap();
}

async fn audit_actions(st: &AppState, admin: &str) -> Vec<Value> {
    let (s, v) = call(st, "GET", "/v1/audit?limit=1000", admin, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["entries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn status_follows_group_policy() {
    let st = state();
    let admin = admin_token(&st).await;
    person(&st, &admin, "alice").await;

    let (s, v) = call(&st, "GET", "/v1/person/alice/credential", &admin, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["password_set_at"].is_string(), "{v}");
    assert_eq!(v["totp"], json!([]));
    assert_eq!(v["webauthn"], json!([]));
    assert_eq!(v["backup_codes"], Value::Null);
    assert_eq!(v["policy"]["min_class"], "password");
    assert_eq!(v["policy"]["min_password_length"], 12);
    assert_eq!(
        v["policy"]["allowed_mfa"],
        json!(["totp", "passkey", "security_key", "backup_code"])
    );
    assert_eq!(v["policy"]["exempt"], false);
    assert_eq!(v["policy"]["satisfiable"], true);
    assert_eq!(v["policy_met"], true);
    assert_eq!(v["notes"], json!([]));

    // Alice reads her own status (before she has a second factor or a policy: a password is
    // all she needs to log in here), not others'.
    let own = login(&st, "alice", STRONG).await;
    let (s, v) = call(&st, "GET", "/v1/person/alice/credential", &own, None).await;
    assert_eq!((s, v["name"].as_str()), (StatusCode::OK, Some("alice")));
    let (s, _) = call(&st, "GET", "/v1/person/admin/credential", &own, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    group(&st, &admin, "devs", &["alice"]).await;
    let (s, v) = call(
        &st,
        "PUT",
        "/v1/group/devs/credential_policy",
        &admin,
        Some(json!({"min_class": "password_mfa", "min_password_length": 16})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["group"]["credential_policy"]["min_class"], "password_mfa");
    assert_eq!(v["members_policy_not_met"][0]["name"], "alice", "{v}");

    let (_, v) = call(&st, "GET", "/v1/person/alice/credential", &admin, None).await;
    assert_eq!(v["policy"]["min_class"], "password_mfa");
    assert_eq!(v["policy"]["min_password_length"], 16);
    assert_eq!(v["policy"]["from_groups"], json!(["devs"]));
    assert_eq!(v["policy_met"], false);
    let note = v["notes"][0].as_str().unwrap();
    assert!(
        note.starts_with("alice cannot log in until they enrol"),
        "{note}"
    );

    // A TOTP authenticator meets it; the group answer no longer lists alice.
    let alice = st.store.resolve("alice").unwrap().unwrap().uuid();
    enrol_totp(&st, alice, "phone");
    let (_, v) = call(&st, "GET", "/v1/person/alice/credential", &admin, None).await;
    assert_eq!(v["policy_met"], true, "{v}");
    assert_eq!(v["totp"][0]["label"], "phone");
    let (s, v) = call(
        &st,
        "DELETE",
        "/v1/group/devs/credential_policy",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["group"]["credential_policy"], Value::Null);
    assert_eq!(v["members_policy_not_met"], json!([]));

    let actions = audit_actions(&st, &admin).await;
    let set: Vec<_> = actions
        .iter()
        .filter(|e| e["action"] == "group.set_credential_policy")
        .collect();
    assert_eq!(set.len(), 2, "{actions:?}");
}

#[tokio::test]
async fn admins_floor_and_break_glass_exemption() {
    let st = state();
    let admin = admin_token(&st).await;
    person(&st, &admin, "root2").await;
    let (s, v) = call(
        &st,
        "POST",
        "/v1/group/idm_admins/members",
        &admin,
        Some(json!({"members": ["root2"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = call(&st, "GET", "/v1/person/root2/credential", &admin, None).await;
    assert_eq!(v["policy"]["min_class"], "password_mfa");
    assert_eq!(v["policy"]["from_groups"], json!(["idm_admins"]));
    assert_eq!(v["policy_met"], false);

    let (_, v) = call(&st, "GET", "/v1/person/admin/credential", &admin, None).await;
    assert_eq!(v["policy"]["exempt"], true);
    assert_eq!(v["policy"]["min_class"], "password");
    assert_eq!(v["policy_met"], true);
    assert_eq!(
        v["notes"],
        json!(["admin is the break-glass account: no credential policy applies"])
    );
}

#[tokio::test]
async fn policies_are_validated_and_only_idm_admins_set_them() {
    let st = state();
    let admin = admin_token(&st).await;
    person(&st, &admin, "pa").await;
    person(&st, &admin, "bob").await;
    let (s, _) = call(
        &st,
        "POST",
        "/v1/group/idm_people_admins/members",
        &admin,
        Some(json!({"members": ["pa"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    group(&st, &admin, "devs", &["bob"]).await;
    group(&st, &admin, "ops", &["bob"]).await;
    let put = |token: String, group: &'static str, body: Value| {
        let st = st.clone();
        async move {
            call(
                &st,
                "PUT",
                &format!("/v1/group/{group}/credential_policy"),
                &token,
                Some(body),
            )
            .await
        }
    };

    let pa = login(&st, "pa", STRONG).await;
    let (s, v) = put(pa.clone(), "devs", json!({"min_class": "password_mfa"})).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (s, _) = call(&st, "DELETE", "/v1/group/devs/credential_policy", &pa, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, v) = put(admin.clone(), "devs", json!({"min_class": "strong"})).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    let (s, v) = put(admin.clone(), "devs", json!({"min_clas": "passkey"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = put(admin.clone(), "devs", json!({"min_password_length": 1000})).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid"))
    );
    assert_eq!(v["violations"][0]["field"], "credential_policy");
    let (s, v) = put(
        admin.clone(),
        "devs",
        json!({"min_class": "passkey", "allowed_mfa": ["totp"]}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().contains("passkey"), "{v}");
    let (s, v) = put(admin.clone(), "bob", json!({"min_class": "password"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    // Contradicting another group's policy for a shared member: refused.
    let (s, v) = put(admin.clone(), "devs", json!({"min_class": "passkey"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = put(
        admin.clone(),
        "ops",
        json!({"min_class": "password", "allowed_mfa": ["totp", "security_key"]}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("bob"), "{v}");
    let (s, v) = put(
        admin.clone(),
        "ops",
        json!({"min_class": "password", "allowed_mfa": ["passkey", "totp"],
               "aaguid_allow_list": ["cb69481e-8ff7-4039-93ec-0a2729a154a8"]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = call(&st, "GET", "/v1/person/bob/credential", &admin, None).await;
    assert_eq!(v["policy"]["min_class"], "passkey");
    assert_eq!(v["policy"]["allowed_mfa"], json!(["totp", "passkey"]));
    assert_eq!(
        v["policy"]["aaguid_allow_list"],
        json!(["cb69481e-8ff7-4039-93ec-0a2729a154a8"])
    );
    assert_eq!(v["policy"]["from_groups"], json!(["devs", "ops"]));
}

#[tokio::test]
async fn removing_second_factors() {
    let st = state();
    let admin = admin_token(&st).await;
    let carol = person(&st, &admin, "carol").await;
    group(&st, &admin, "secure", &["carol"]).await;
    let (s, _) = call(
        &st,
        "PUT",
        "/v1/group/secure/credential_policy",
        &admin,
        Some(json!({"min_class": "password_mfa"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    enrol_totp(&st, carol, "Phone");
    enrol_webauthn(&st, carol, "yubikey", WebauthnKind::SecurityKey);

    let (s, v) = call(
        &st,
        "DELETE",
        "/v1/person/carol/credential/totp/tablet",
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    assert_eq!(
        v["message"],
        "carol has no TOTP authenticator labelled \"tablet\" (has: Phone)"
    );

    // Labels compare case-insensitively; the security key still meets the policy.
    let (s, v) = call(
        &st,
        "DELETE",
        "/v1/person/carol/credential/totp/phone",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["totp"], json!([]));
    assert_eq!(v["policy_met"], true);
    assert_eq!(v["webauthn"][0]["kind"], "security_key");
    assert_eq!(
        v["webauthn"][0]["aaguid"],
        "cb69481e-8ff7-4039-93ec-0a2729a154a8"
    );

    // The last second factor may go too (a lost device); the answer says what that means.
    let (s, v) = call(
        &st,
        "DELETE",
        "/v1/person/carol/credential/webauthn/yubikey",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["webauthn"], json!([]));
    assert_eq!(v["policy_met"], false);
    assert!(
        v["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("carol cannot log in until they enrol"),
        "{v}"
    );
    let (s, v) = call(
        &st,
        "DELETE",
        "/v1/person/carol/credential/webauthn/yubikey",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        v["message"],
        "carol has no passkey or security key labelled \"yubikey\" (has: none)"
    );

    let actions = audit_actions(&st, &admin).await;
    for a in ["credential.totp.remove", "credential.webauthn.remove"] {
        let e = actions.iter().find(|e| e["action"] == a).unwrap();
        assert_eq!(e["actor"]["name"], "admin");
        assert_eq!(e["target"]["name"], "carol");
    }

    // Persons only.
    let (s, v) = call(
        &st,
        "DELETE",
        "/v1/person/secure/credential/totp/x",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("secure is a group")
    );
}

#[tokio::test]
async fn reset_tokens() {
    let st = state();
    let admin = admin_token(&st).await;
    let dave = person(&st, &admin, "dave").await;
    person(&st, &admin, "pa").await;
    let (s, _) = call(
        &st,
        "POST",
        "/v1/group/idm_people_admins/members",
        &admin,
        Some(json!({"members": ["pa"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = call(
        &st,
        "POST",
        "/v1/service_account",
        &admin,
        Some(json!({"name": "ci", "display_name": "CI"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // No body: the default lifetime (a day).
    let before = Utc::now();
    let (s, v) = call(
        &st,
        "POST",
        "/v1/person/dave/credential/reset_token",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let token = v["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 43, "{token}");
    assert_eq!(
        v["url"],
        format!("{ORIGIN}/ui/reset?token={token}").as_str()
    );
    let expires: DateTime<Utc> = serde_json::from_value(v["expires_at"].clone()).unwrap();
    let ttl = (expires - before).num_seconds();
    assert!((86_390..=86_410).contains(&ttl), "{ttl}");

    // The token is stored (by digest) and redeems once, for dave.
    let grant = mfa::redeem_reset_token(&st.store, &token, Utc::now())
        .unwrap()
        .unwrap();
    assert_eq!(grant.person, dave);
    assert_eq!(grant.created_by, "admin");
    assert!(
        mfa::redeem_reset_token(&st.store, &token, Utc::now())
            .unwrap()
            .is_none()
    );

    // Bounds.
    for bad in [0, 59, 7 * 86_400 + 1, -5] {
        let (s, v) = call(
            &st,
            "POST",
            "/v1/person/dave/credential/reset_token",
            &admin,
            Some(json!({"ttl_secs": bad})),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert_eq!(v["message"], "the lifetime must be 60 to 604800 seconds");
    }
    let (s, v) = call(
        &st,
        "POST",
        "/v1/person/dave/credential/reset_token",
        &admin,
        Some(json!({"ttl_secs": 1800})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let second = v["token"].as_str().unwrap().to_owned();

    // People admins may, for persons without write rights; not for themselves or admins.
    let pa = login(&st, "pa", STRONG).await;
    let (s, v) = call(
        &st,
        "POST",
        "/v1/person/dave/credential/reset_token",
        &pa,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _) = call(
        &st,
        "POST",
        "/v1/person/pa/credential/reset_token",
        &pa,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    for (who, start) in [
        ("ci", "ci is a service account"),
        ("idm_admins", "idm_admins is a group"),
        ("admin", "admin is the break-glass account"),
    ] {
        let (s, v) = call(
            &st,
            "POST",
            &format!("/v1/person/{who}/credential/reset_token"),
            &admin,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{who}: {v}");
        assert!(v["message"].as_str().unwrap().starts_with(start), "{v}");
    }
    let (s, _) = call(
        &st,
        "POST",
        "/v1/person/nobody/credential/reset_token",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Audited, without the token.
    let actions = audit_actions(&st, &admin).await;
    let made: Vec<_> = actions
        .iter()
        .filter(|e| e["action"] == "credential.reset_token.create")
        .collect();
    assert_eq!(made.len(), 3, "{actions:?}");
    assert_eq!(made[0]["target"]["name"], "dave");
    let all = serde_json::to_string(&actions).unwrap();
    assert!(!all.contains(&token) && !all.contains(&second));
}

/// A group's `min_password_length` applies when an admin (or the person) sets a password
/// through the API, on top of the server's own password rule.
#[tokio::test]
async fn group_minimum_password_length_applies_to_api_password_changes() {
    let st = state();
    let admin = admin_token(&st).await;
    person(&st, &admin, "gina").await;
    group(&st, &admin, "long-passwords", &["gina"]).await;
    let (s, v) = call(
        &st,
        "PUT",
        "/v1/group/long-passwords/credential_policy",
        &admin,
        Some(json!({"min_password_length": 40})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        &st,
        "PUT",
        "/v1/person/gina/password",
        &admin,
        Some(json!({"password": STRONG})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["code"], "password_policy");
    assert!(v["message"].as_str().unwrap().contains("40"), "{v}");
    let long = "correct horse battery staple, twice over: ok!";
    let (s, v) = call(
        &st,
        "PUT",
        "/v1/person/gina/password",
        &admin,
        Some(json!({ "password": long })),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
}

/// A credential-reset session ends [`session::RESET_MAX_SECS`] after the link was used, even
/// when it is in use: restarting its idle timer must not give it a login session's lifetime.
#[tokio::test]
async fn a_reset_session_keeps_its_short_lifetime_when_used() {
    let st = state();
    let admin = admin_token(&st).await;
    let dave = person(&st, &admin, "dave").await;
    let now = Utc::now().timestamp();
    let (idle, max) = (st.oidc.sso_idle_secs, st.oidc.sso_max_secs);
    assert!(max > session::RESET_MAX_SECS && idle > 300, "the defaults");
    let open = |at: i64| {
        let (found, cookie) =
            session::create_sso(&st.store, dave, &[], at, idle, session::RESET_MAX_SECS).unwrap();
        assert!(found.session.reset, "no login methods: a reset session");
        cookie
    };
    let headers = |cookie: &str| {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            header::COOKIE,
            format!("{}={cookie}", session::SSO_COOKIE).parse().unwrap(),
        );
        h
    };
    let profile = |cookie: String| {
        let req = Request::builder()
            .uri("/ui/profile")
            .header(header::COOKIE, format!("{}={cookie}", session::SSO_COOKIE))
            .body(Body::empty())
            .unwrap();
        let app = app(st.clone());
        async move {
            let res = app.oneshot(req).await.unwrap();
            let status = res.status();
            let location = res.headers().get(header::LOCATION).cloned();
            let body = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            (
                status,
                location,
                String::from_utf8_lossy(&body).into_owned(),
            )
        }
    };

    // Opened 35 minutes ago, and used five minutes later (the idle timer restarted then).
    let old = open(now - 2100);
    let found = session::find_sso(&st.store, &headers(&old), now - 1800, idle, max).unwrap();
    assert!(found.is_some(), "live five minutes in");
    assert!(
        session::find_sso(&st.store, &headers(&old), now, idle, max)
            .unwrap()
            .is_none(),
        "over at thirty minutes"
    );
    let (status, location, _) = profile(old).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.unwrap(), "/ui/profile/login");

    // A fresh one opens the profile, for enrolment.
    let (status, _, page) = profile(open(now)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("You opened a credential-reset link"),
        "{page}"
    );
}
