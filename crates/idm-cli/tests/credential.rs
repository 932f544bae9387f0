//! End-to-end tests of the credential commands: the real `idm-server` and the real `idm` CLI.
//! `idm person credential status|create-reset-token|remove-totp|remove-passkey`, `idm group
//! set-credential-policy|clear-credential-policy`.
//!
//! Enrolment happens in the browser, which these tests do not drive: second factors to remove
//! are put in place by exporting the model, adding them to a person and importing it again
//! (`idm-server export --secrets` / `import -`, through the admin socket).
//!
//! Needs `target/debug/idm-server`: `cargo build --bins -p idm-server -p idm-cli`, then
//! `cargo nextest run -p idm-cli --test credential`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed step is a failed test"
)]

mod common;

use chrono::{DateTime, Utc};
use common::{FAST_HASH, Home, STRONG, Server};
use serde_json::{Value, json};

const ORIGIN: &str = "https://idm.example.test";
const FORBIDDEN: &str = "error: not permitted (forbidden, HTTP 403)\n";

/// A server whose configured origin differs from the address the tests connect to, so that
/// reset links are seen to use the origin.
fn server() -> Server {
    Server::start(Some(&format!("origin = \"{ORIGIN}\"\n{FAST_HASH}")))
}

fn person_with_password(srv: &Server, home: &Home, name: &str) {
    srv.cli(home).args(["person", "create", name, name]).ok();
    srv.cli(home)
        .args([
            "person",
            "credential",
            "set-password",
            name,
            "--password-stdin",
        ])
        .stdin(STRONG)
        .ok();
}

fn status(srv: &Server, home: &Home, name: &str) -> Value {
    srv.cli(home)
        .args(["person", "credential", "status", name])
        .json()
}

/// Gives `name` a TOTP authenticator and a WebAuthn credential the way enrolment would leave
/// them, by export, edit and import.
fn enrol_by_import(srv: &Server, name: &str, totp: &str, webauthn: &[(&str, &str)]) {
    let mut doc: Value = serde_json::from_str(&srv.admin(&["export", "--secrets"]).ok()).unwrap();
    let person = doc["persons"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in the export"));
    let creds = person["credentials"].as_object_mut().unwrap();
    creds.insert(
        "totp".into(),
        json!([{
            "label": totp,
            "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            "algorithm": "sha1",
            "digits": 6,
            "period": 30,
            "created_at": "2026-01-01T00:00:00Z"
        }]),
    );
    let keys: Vec<Value> = webauthn
        .iter()
        .map(|(label, kind)| {
            json!({
                "label": label,
                "kind": kind,
                "credential_id": format!("cred-{label}"),
                "aaguid": "cb69481e-8ff7-4039-93ec-0a2729a154a8",
                "created_at": "2026-01-02T00:00:00Z",
                "state": "{}"
            })
        })
        .collect();
    creds.insert("webauthn".into(), Value::Array(keys));
    let out = srv
        .admin_with_stdin(&["import", "-"], Some(&doc.to_string()))
        .ok();
    assert_eq!(out, "import done\n");
}

#[test]
fn status_and_group_policies() {
    let srv = server();
    let admin = srv.admin_home();
    person_with_password(&srv, &admin, "alice");

    // A password-only person with no policy: fine.
    let human = srv
        .cli(&admin)
        .args(["person", "credential", "status", "alice"])
        .ok();
    assert!(
        human.starts_with(
            "name:                alice\n\
             policy:              password (no group sets one)\n\
             min password length: 12\n\
             second factors:      totp, passkey, security_key, backup_code\n\
             authenticators:      any\n\
             policy met:          yes\n\
             \n\
             TYPE      LABEL  CREATED               LAST USED  DETAILS\n\
             password         "
        ),
        "{human}"
    );
    assert_eq!(human.lines().count(), 9, "{human}");
    let v = status(&srv, &admin, "alice");
    assert_eq!(v["policy_met"], true);
    assert!(v["password_set_at"].is_string(), "{v}");
    assert_eq!(
        (v["totp"].clone(), v["webauthn"].clone()),
        (json!([]), json!([]))
    );
    assert_eq!(v["backup_codes"], Value::Null);
    assert_eq!(v["policy"]["exempt"], false);

    // password_mfa on a group alice is in: she cannot log in until she enrols, and both the
    // policy change and her status say so.
    srv.cli(&admin).args(["group", "create", "devs"]).ok();
    srv.cli(&admin)
        .args(["group", "add-members", "devs", "alice"])
        .ok();
    let run = srv
        .cli(&admin)
        .args([
            "group",
            "set-credential-policy",
            "devs",
            "--min-class",
            "password_mfa",
            "--min-password-length",
            "16",
        ])
        .run();
    assert_eq!(
        run.stderr,
        "warning: 1 member of devs cannot log in until they enrol: alice \
         (see `idm person credential status NAME`)\n"
    );
    assert_eq!(
        run.ok(),
        "credential policy of devs: password_mfa; passwords 16+; second factors any; \
         authenticators any\n"
    );
    let human = srv
        .cli(&admin)
        .args(["person", "credential", "status", "alice"])
        .ok();
    assert!(
        human.contains("policy:              password_mfa (from devs)\n"),
        "{human}"
    );
    assert!(
        human.contains("policy met:          NO: cannot log in until they enrol\n"),
        "{human}"
    );
    assert!(
        human.contains(
            "note: alice cannot log in until they enrol: their policy requires password_mfa \
             (a password and a second factor) and they hold only a password; they need a TOTP \
             authenticator, a passkey or a security key (create a reset token so they can \
             enrol)\n"
        ),
        "{human}"
    );
    let v = status(&srv, &admin, "alice");
    assert_eq!(v["policy_met"], false);
    assert_eq!(v["policy"]["min_class"], "password_mfa");
    assert_eq!(v["policy"]["min_password_length"], 16);
    assert_eq!(v["policy"]["from_groups"], json!(["devs"]));
    let group = srv.cli(&admin).args(["group", "get", "devs"]).ok();
    assert!(
        group.contains(
            "credential policy: password_mfa; passwords 16+; second factors any; \
             authenticators any\n"
        ),
        "{group}"
    );
    let g = srv.cli(&admin).args(["group", "get", "devs"]).json();
    assert_eq!(g["credential_policy"]["min_class"], "password_mfa");

    // A policy nobody could meet is refused, with the server's reason.
    let err = srv
        .cli(&admin)
        .args([
            "group",
            "set-credential-policy",
            "devs",
            "--min-class",
            "passkey",
            "--allow-mfa",
            "totp",
        ])
        .fails();
    assert!(
        err.contains("min_class passkey needs passkey among allowed_mfa"),
        "{err}"
    );
    assert!(err.contains("(invalid, HTTP 422)"), "{err}");

    // Only idm_admins may set or clear policies: not people admins, not group admins.
    for (name, group) in [("pa", "idm_people_admins"), ("ga", "idm_group_admins")] {
        person_with_password(&srv, &admin, name);
        srv.cli(&admin)
            .args(["group", "add-members", group, name])
            .ok();
        let home = Home::new();
        srv.login(&home, name, STRONG);
        let err = srv
            .cli(&home)
            .args([
                "group",
                "set-credential-policy",
                "devs",
                "--min-class",
                "password",
            ])
            .fails();
        assert_eq!(err, FORBIDDEN, "{name}");
        let err = srv
            .cli(&home)
            .args(["group", "clear-credential-policy", "devs"])
            .fails();
        assert_eq!(err, FORBIDDEN, "{name}");
    }
    let v = status(&srv, &admin, "alice");
    assert_eq!(v["policy"]["min_class"], "password_mfa");

    let out = srv
        .cli(&admin)
        .args(["group", "clear-credential-policy", "devs"])
        .ok();
    assert_eq!(out, "credential policy of devs removed\n");
    assert_eq!(status(&srv, &admin, "alice")["policy_met"], true);

    let audit = srv
        .cli(&admin)
        .args(["audit", "list", "--target", "devs"])
        .json();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| *a == "group.set_credential_policy")
        .collect();
    assert_eq!(actions.len(), 2, "{audit}");
}

#[test]
fn idm_admins_floor_and_break_glass_admin() {
    let srv = server();
    let admin = srv.admin_home();
    person_with_password(&srv, &admin, "root2");
    srv.cli(&admin)
        .args(["group", "add-members", "idm_admins", "root2"])
        .ok();
    let v = status(&srv, &admin, "root2");
    assert_eq!(v["policy"]["min_class"], "password_mfa", "{v}");
    assert_eq!(v["policy"]["from_groups"], json!(["idm_admins"]));
    assert_eq!(v["policy_met"], false);
    let g = srv.cli(&admin).args(["group", "get", "idm_admins"]).json();
    assert_eq!(g["credential_policy"], Value::Null, "no group policy");

    let v = status(&srv, &admin, "admin");
    assert_eq!(v["policy"]["exempt"], true);
    assert_eq!(v["policy"]["min_class"], "password");
    assert_eq!(v["policy_met"], true);
    let human = srv
        .cli(&admin)
        .args(["person", "credential", "status", "admin"])
        .ok();
    assert!(
        human.contains("policy:              none (break-glass account, exempt)\n"),
        "{human}"
    );
    assert!(
        human.ends_with("note: admin is the break-glass account: no credential policy applies\n"),
        "{human}"
    );
}

#[test]
fn reset_tokens() {
    let srv = server();
    let admin = srv.admin_home();
    person_with_password(&srv, &admin, "dave");

    let before = Utc::now();
    let out = srv
        .cli(&admin)
        .args([
            "person",
            "credential",
            "create-reset-token",
            "dave",
            "--ttl",
            "1h",
        ])
        .ok();
    let (head, url) = out.trim_end().split_once('\n').unwrap();
    let prefix = format!("{ORIGIN}/ui/reset?token=");
    let token = url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("not a reset URL on {ORIGIN}: {out}"));
    assert!(token.len() >= 43, "{token}");
    let expiry = head
        .strip_prefix("one-time credential-reset link for dave, valid until ")
        .and_then(|r| r.strip_suffix(':'))
        .unwrap_or_else(|| panic!("{out}"));
    let expiry: DateTime<Utc> = expiry.parse().unwrap();
    let ttl = (expiry - before).num_seconds();
    assert!((3590..=3610).contains(&ttl), "{ttl}");

    let v = srv
        .cli(&admin)
        .args(["person", "credential", "create-reset-token", "dave"])
        .json();
    let second = v["token"].as_str().unwrap().to_owned();
    assert_ne!(second, token);
    assert!(v["url"].as_str().unwrap().starts_with(&prefix), "{v}");
    let expiry: DateTime<Utc> = serde_json::from_value(v["expires_at"].clone()).unwrap();
    assert!(
        (expiry - Utc::now()).num_seconds() > 86_000,
        "default is a day"
    );

    // The server's bounds: a minute to a week.
    for ttl in ["30s", "8d", "59"] {
        let err = srv
            .cli(&admin)
            .args([
                "person",
                "credential",
                "create-reset-token",
                "dave",
                "--ttl",
                ttl,
            ])
            .fails();
        assert_eq!(
            err, "error: the lifetime must be 60 to 604800 seconds (bad_request, HTTP 400)\n",
            "{ttl}"
        );
    }
    srv.cli(&admin)
        .args([
            "person",
            "credential",
            "create-reset-token",
            "dave",
            "--ttl",
            "7d",
        ])
        .ok();

    // Persons only; never the break-glass account.
    srv.cli(&admin)
        .args(["service-account", "create", "ci", "CI"])
        .ok();
    let err = srv
        .cli(&admin)
        .args(["person", "credential", "create-reset-token", "ci"])
        .fails();
    assert!(
        err.starts_with("error: ci is a service account: only persons have passwords"),
        "{err}"
    );
    assert!(err.ends_with("(bad_request, HTTP 400)\n"), "{err}");
    let err = srv
        .cli(&admin)
        .args(["person", "credential", "create-reset-token", "admin"])
        .fails();
    assert!(
        err.starts_with("error: admin is the break-glass account"),
        "{err}"
    );
    let err = srv
        .cli(&admin)
        .args(["person", "credential", "create-reset-token", "nobody"])
        .fails();
    assert!(err.ends_with("(not_found, HTTP 404)\n"), "{err}");

    // Audited, and the token appears nowhere in the audit log.
    let audit = srv
        .cli(&admin)
        .args(["audit", "list", "--target", "dave"])
        .json();
    let made: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "credential.reset_token.create")
        .collect();
    assert_eq!(made.len(), 3, "{audit}");
    assert_eq!(made[0]["actor"]["name"], "admin");
    let text = audit.to_string();
    assert!(!text.contains(token) && !text.contains(&second));
}

#[test]
fn removing_second_factors() {
    let srv = server();
    let admin = srv.admin_home();
    person_with_password(&srv, &admin, "carol");

    // Nothing to remove: a clear not-found.
    let err = srv
        .cli(&admin)
        .args(["person", "credential", "remove-totp", "carol", "phone"])
        .fails();
    assert_eq!(
        err,
        "error: carol has no TOTP authenticator labelled \"phone\" (has: none) \
         (not_found, HTTP 404)\n"
    );
    let err = srv
        .cli(&admin)
        .args(["person", "credential", "remove-passkey", "carol", "yubikey"])
        .fails();
    assert_eq!(
        err,
        "error: carol has no passkey or security key labelled \"yubikey\" (has: none) \
         (not_found, HTTP 404)\n"
    );

    srv.cli(&admin).args(["group", "create", "secure"]).ok();
    srv.cli(&admin)
        .args(["group", "add-members", "secure", "carol"])
        .ok();
    srv.cli(&admin)
        .args([
            "group",
            "set-credential-policy",
            "secure",
            "--min-class",
            "password_mfa",
        ])
        .ok();
    enrol_by_import(
        &srv,
        "carol",
        "phone",
        &[("yubikey", "security_key"), ("laptop", "passkey")],
    );
    let v = status(&srv, &admin, "carol");
    assert_eq!(v["policy_met"], true, "{v}");
    assert_eq!(v["totp"][0]["label"], "phone");
    assert_eq!(v["webauthn"][1]["kind"], "passkey");
    let human = srv
        .cli(&admin)
        .args(["person", "credential", "status", "carol"])
        .ok();
    assert!(
        human.contains(
            "security_key  yubikey  2026-01-02T00:00:00Z  never      \
             aaguid cb69481e-8ff7-4039-93ec-0a2729a154a8\n"
        ),
        "{human}"
    );

    let err = srv
        .cli(&admin)
        .args(["person", "credential", "remove-passkey", "carol", "tablet"])
        .fails();
    assert_eq!(
        err,
        "error: carol has no passkey or security key labelled \"tablet\" (has: yubikey, \
         laptop) (not_found, HTTP 404)\n"
    );

    // Removing what leaves the policy met: no warning.
    let run = srv
        .cli(&admin)
        .args(["person", "credential", "remove-totp", "carol", "phone"])
        .run();
    assert_eq!(run.stderr, "");
    assert_eq!(run.ok(), "removed TOTP authenticator phone of carol\n");
    let run = srv
        .cli(&admin)
        .args(["person", "credential", "remove-passkey", "carol", "laptop"])
        .run();
    assert_eq!(run.stderr, "");
    assert_eq!(run.ok(), "removed passkey/security key laptop of carol\n");

    // The last second factor goes too (a lost key), with a warning that says what it means.
    let run = srv
        .cli(&admin)
        .args(["person", "credential", "remove-passkey", "carol", "YubiKey"])
        .run();
    assert!(
        run.stderr.starts_with(
            "warning: carol cannot log in until they enrol: their policy requires password_mfa"
        ),
        "{}",
        run.stderr
    );
    run.ok();
    let v = status(&srv, &admin, "carol");
    assert_eq!(v["webauthn"], json!([]));
    assert_eq!(v["policy_met"], false);

    let audit = srv
        .cli(&admin)
        .args(["audit", "list", "--target", "carol"])
        .json();
    let removed: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.ends_with(".remove"))
        .collect();
    assert_eq!(
        removed
            .iter()
            .filter(|a| **a == "credential.webauthn.remove")
            .count(),
        2,
        "{audit}"
    );
    assert!(removed.contains(&"credential.totp.remove"), "{audit}");
}
