//! End-to-end tests of `idm oauth2 …`: the real `idm-server` binary on a temporary data
//! directory, driven by the real `idm` CLI. Every assertion reads back what the server says.
//!
//! Needs `target/debug/idm-server`: `cargo build --bins -p idm-server -p idm-cli`, then
//! `cargo nextest run -p idm-cli --test oauth2`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed step is a failed test"
)]

mod common;

use common::{FAST_HASH, Home, STRONG, Server, names, strings};
use serde_json::{Value, json};

const FORBIDDEN: &str = "error: not permitted (forbidden, HTTP 403)\n";

/// The value of the `key:` line of a `key: value` block.
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key:?} line in:\n{text}"))
}

/// Creates a person with a password (as whoever `home` is logged in as).
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

#[test]
fn secrets_are_shown_once_and_can_be_reset() {
    let srv = Server::start(Some(FAST_HASH));
    let admin = srv.admin_home();
    let cli = || srv.cli(&admin);

    // Human create: the client_id, the secret, and that it is shown only now.
    let out = cli()
        .args([
            "oauth2",
            "create",
            "app",
            "The App",
            "--origin",
            "https://app.example.com",
        ])
        .ok();
    assert!(
        out.starts_with("created confidential OAuth2 client app ("),
        "{out}"
    );
    assert_eq!(field(&out, "client_id"), "app");
    let secret = field(&out, "secret").to_owned();
    assert!(secret.len() >= 43, "{out}");
    assert_eq!(out.matches(&secret).count(), 1, "{out}");
    assert!(out.contains("shown only now"), "{out}");

    // Shown once more, as exactly {"secret": …}; then never again.
    let out = cli()
        .args(["oauth2", "show-basic-secret", "app", "--json"])
        .ok();
    assert_eq!(out, format!("{{\"secret\": \"{secret}\"}}\n"));
    let err = cli()
        .args(["oauth2", "show-basic-secret", "app", "--json"])
        .fails();
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("reset-secret"), "{err}");
    assert!(err.contains("(not_found, HTTP 404)"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // A reset makes a new one: stdout is the secret alone; show-basic-secret has it once.
    let run = cli().args(["oauth2", "reset-secret", "app"]).run();
    assert!(run.stderr.contains("new secret of app"), "{}", run.stderr);
    let reset = run.ok();
    let reset = reset.trim_end_matches('\n');
    assert!(
        reset.len() >= 43 && !reset.contains(char::is_whitespace),
        "{reset:?}"
    );
    assert_ne!(reset, secret);
    let again = cli().args(["oauth2", "show-basic-secret", "app"]).ok();
    assert_eq!(again, format!("{reset}\n"));
    cli().args(["oauth2", "show-basic-secret", "app"]).fails();

    // --json of reset-secret is the API body.
    let v = cli().args(["oauth2", "reset-secret", "app"]).json();
    assert_eq!(v["client_id"], "app");
    let third = v["secret"].as_str().unwrap();
    assert!(third != reset && third != secret);

    // --json of create is the API body, which carries the secret.
    let v = cli()
        .args([
            "oauth2",
            "create",
            "svc",
            "Service",
            "--origin",
            "https://svc.example.com",
        ])
        .json();
    assert_eq!(v["name"], "svc");
    assert_eq!(v["kind"], "confidential");
    assert_eq!(v["has_secret"], true);
    let svc_secret = v["secret"].as_str().expect("a secret").to_owned();
    let shown = cli().args(["oauth2", "show-basic-secret", "svc"]).json();
    assert_eq!(shown, json!({ "secret": svc_secret }));

    // Public clients have none.
    let out = cli()
        .args([
            "oauth2",
            "create-public",
            "native",
            "Native App",
            "--origin",
            "http://127.0.0.1:8080",
        ])
        .ok();
    assert!(
        out.starts_with("created public OAuth2 client native ("),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1, "{out}");
    let v = cli().args(["oauth2", "get", "native"]).json();
    assert_eq!(v["kind"], "public");
    assert_eq!(v["has_secret"], false);
    assert_eq!(v["require_pkce"], true);
    assert!(v.get("secret").is_none(), "{v}");
    let err = cli().args(["oauth2", "reset-secret", "native"]).fails();
    assert_eq!(
        err,
        "error: public clients have no secret (bad_request, HTTP 400)\n"
    );
    // Public clients always use PKCE.
    let err = cli()
        .args(["oauth2", "require-pkce", "native", "off"])
        .fails();
    assert!(err.contains("PKCE") && err.contains("HTTP 400"), "{err}");

    // The list and delete.
    let list = cli().args(["oauth2", "list"]).json();
    assert_eq!(names(&list), ["app", "native", "svc"]);
    let table = cli().args(["oauth2", "list"]).ok();
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("NAME    KIND"), "{table}");
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("app     confidential  The App"),
        "{table}"
    );
    let out = cli().args(["oauth2", "delete", "svc"]).ok();
    assert_eq!(out, "deleted OAuth2 client svc\n");
    let err = cli().args(["oauth2", "get", "svc"]).fails();
    assert_eq!(
        err,
        "error: no OAuth2 client named \"svc\" (not_found, HTTP 404)\n"
    );
    assert_eq!(
        names(&cli().args(["oauth2", "list"]).json()),
        ["app", "native"]
    );
}

#[test]
fn urls_maps_and_settings() {
    let srv = Server::start(Some(FAST_HASH));
    let admin = srv.admin_home();
    let cli = || srv.cli(&admin);
    cli()
        .args([
            "oauth2",
            "create",
            "app",
            "App",
            "--origin",
            "https://app.example.com",
        ])
        .ok();
    let get = || cli().args(["oauth2", "get", "app"]).json();

    // Redirect URLs.
    let out = cli()
        .args([
            "oauth2",
            "add-redirect-url",
            "app",
            "https://app.example.com/cb",
        ])
        .ok();
    assert_eq!(
        out,
        "added redirect URL https://app.example.com/cb to app\n"
    );
    let v = cli()
        .args([
            "oauth2",
            "add-redirect-url",
            "app",
            "http://127.0.0.1:9000/cb",
        ])
        .json();
    assert_eq!(
        strings(&v["redirect_uris"]),
        ["http://127.0.0.1:9000/cb", "https://app.example.com/cb"]
    );
    assert_eq!(
        strings(&get()["redirect_uris"]),
        ["http://127.0.0.1:9000/cb", "https://app.example.com/cb"]
    );
    let err = cli()
        .args([
            "oauth2",
            "add-redirect-url",
            "app",
            "http://app.example.com/cb",
        ])
        .fails();
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("(invalid, HTTP 422)"), "{err}");
    assert!(err.contains("loopback"), "{err}");
    let out = cli()
        .args([
            "oauth2",
            "remove-redirect-url",
            "app",
            "http://127.0.0.1:9000/cb",
        ])
        .ok();
    assert_eq!(
        out,
        "removed redirect URL http://127.0.0.1:9000/cb from app\n"
    );
    assert_eq!(
        strings(&get()["redirect_uris"]),
        ["https://app.example.com/cb"]
    );
    let err = cli()
        .args([
            "oauth2",
            "remove-redirect-url",
            "app",
            "https://never.example.com/cb",
        ])
        .fails();
    assert!(err.contains("(not_found, HTTP 404)"), "{err}");

    // Post-logout URLs.
    cli()
        .args([
            "oauth2",
            "add-post-logout-url",
            "app",
            "https://app.example.com/bye",
        ])
        .ok();
    assert_eq!(
        strings(&get()["post_logout_redirect_uris"]),
        ["https://app.example.com/bye"]
    );
    cli()
        .args([
            "oauth2",
            "remove-post-logout-url",
            "app",
            "https://app.example.com/bye",
        ])
        .ok();
    assert_eq!(get()["post_logout_redirect_uris"], json!([]));

    // Scope and claim maps by group name; deleting the group removes it from both.
    cli().args(["group", "create", "devs"]).ok();
    cli().args(["group", "create", "ops"]).ok();
    let out = cli()
        .args([
            "oauth2",
            "update-scope-map",
            "app",
            "devs",
            "openid",
            "profile",
        ])
        .ok();
    assert_eq!(out, "scope map of app for devs: openid profile\n");
    cli()
        .args(["oauth2", "update-scope-map", "app", "ops", "openid"])
        .ok();
    cli()
        .args([
            "oauth2",
            "update-claim-map",
            "app",
            "role",
            "devs",
            "dev",
            "editor",
        ])
        .ok();
    let v = get();
    assert_eq!(
        v["scope_maps"],
        json!({"devs": ["openid", "profile"], "ops": ["openid"]})
    );
    assert_eq!(
        v["claim_maps"],
        json!({"role": {"devs": ["dev", "editor"]}})
    );
    let text = cli().args(["oauth2", "get", "app"]).ok();
    assert_eq!(
        field(&text, "scope maps"),
        "devs: openid profile; ops: openid"
    );
    assert_eq!(field(&text, "claim maps"), "role for devs: dev, editor");
    assert_eq!(field(&text, "redirect urls"), "https://app.example.com/cb");
    let err = cli()
        .args(["oauth2", "update-scope-map", "app", "nobody", "openid"])
        .fails();
    assert!(err.contains("(not_found, HTTP 404)"), "{err}");
    let err = cli()
        .args(["oauth2", "update-scope-map", "app", "devs", "bad\"scope"])
        .fails();
    assert!(err.contains("(invalid, HTTP 422)"), "{err}");

    cli().args(["group", "delete", "devs"]).ok();
    let v = get();
    assert_eq!(v["scope_maps"], json!({"ops": ["openid"]}));
    assert_eq!(v["claim_maps"], json!({}));

    let out = cli()
        .args(["oauth2", "delete-scope-map", "app", "ops"])
        .ok();
    assert_eq!(out, "deleted the scope map of app for ops\n");
    assert_eq!(get()["scope_maps"], json!({}));
    cli()
        .args([
            "oauth2",
            "update-claim-map",
            "app",
            "role",
            "ops",
            "operator",
        ])
        .ok();
    let out = cli()
        .args(["oauth2", "delete-claim-map", "app", "role", "ops"])
        .ok();
    assert_eq!(out, "deleted claim role of app for ops\n");
    assert_eq!(get()["claim_maps"], json!({}));

    // Token lifetimes: only the given ones change.
    let before = get()["lifetimes"].clone();
    assert_eq!(
        before,
        json!({"access_token": 600, "id_token": 600, "refresh_token": 28800})
    );
    let out = cli()
        .args(["oauth2", "set-token-lifetime", "app", "--access", "300"])
        .ok();
    assert_eq!(
        out,
        "token lifetimes of app: access 300 s, id 600 s, refresh 28800 s\n"
    );
    assert_eq!(
        get()["lifetimes"],
        json!({"access_token": 300, "id_token": 600, "refresh_token": 28800})
    );
    cli()
        .args([
            "oauth2",
            "set-token-lifetime",
            "app",
            "--id",
            "120",
            "--refresh",
            "3600",
        ])
        .ok();
    assert_eq!(
        get()["lifetimes"],
        json!({"access_token": 300, "id_token": 120, "refresh_token": 3600})
    );
    let err = cli()
        .args(["oauth2", "set-token-lifetime", "app", "--access", "5"])
        .fails();
    assert!(err.contains("(invalid, HTTP 422)"), "{err}");
    assert_eq!(get()["lifetimes"]["access_token"], 300);

    // Switches.
    let out = cli().args(["oauth2", "require-par", "app", "on"]).ok();
    assert_eq!(out, "app: require PAR on\n");
    assert_eq!(get()["require_par"], true);
    cli().args(["oauth2", "require-par", "app", "off"]).ok();
    assert_eq!(get()["require_par"], false);
    for (sub, key) in [
        ("require-dpop", "require_dpop"),
        ("require-offline-access", "require_offline_access"),
        ("set-first-party", "first_party"),
    ] {
        assert_eq!(get()[key], false, "{key}");
        cli().args(["oauth2", sub, "app", "on"]).ok();
        assert_eq!(get()[key], true, "{key}");
    }
    cli().args(["oauth2", "require-pkce", "app", "off"]).ok();
    assert_eq!(get()["require_pkce"], false);

    // Signing algorithm, groups claim, service account, JWKS.
    cli()
        .args(["oauth2", "set-signing-alg", "app", "RS256"])
        .ok();
    assert_eq!(get()["signing_alg"], "RS256");
    cli()
        .args(["oauth2", "set-groups-claim", "app", "uuids"])
        .ok();
    assert_eq!(get()["groups_claim"], "uuids");
    cli()
        .args(["service-account", "create", "robot", "Robot"])
        .ok();
    let out = cli()
        .args(["oauth2", "set-service-account", "app", "robot"])
        .ok();
    assert_eq!(out, "app: service account robot\n");
    assert_eq!(get()["service_account"], "robot");
    let err = cli()
        .args(["oauth2", "set-service-account", "app", "ghost"])
        .fails();
    assert!(err.contains("(not_found, HTTP 404)"), "{err}");
    let out = cli()
        .args(["oauth2", "set-service-account", "app", ""])
        .ok();
    assert_eq!(out, "app: no service account\n");
    assert_eq!(get()["service_account"], Value::Null);

    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]});
    let file = admin.path().join("jwks.json");
    std::fs::write(&file, jwks.to_string()).unwrap();
    assert_eq!(get()["has_jwks"], false);
    cli()
        .args(["oauth2", "set-jwks", "app"])
        .arg(file.to_str().unwrap())
        .ok();
    assert_eq!(get()["has_jwks"], true);
    let out = cli()
        .args(["oauth2", "set-jwks", "app", "-"])
        .stdin_raw(&jwks.to_string())
        .ok();
    assert_eq!(out, "app: JWKS set\n");
    let err = cli()
        .args(["oauth2", "set-jwks", "app", "-"])
        .stdin_raw("{\"not\": \"keys\"}")
        .fails();
    assert!(err.contains("(bad_request, HTTP 400)"), "{err}");
    let err = cli()
        .args(["oauth2", "set-jwks", "app", "-"])
        .stdin_raw("nope")
        .fails();
    assert!(err.starts_with("error: stdin is not JSON: "), "{err}");

    // The human form of everything.
    let text = cli().args(["oauth2", "get", "app"]).ok();
    for (key, want) in [
        ("name", "app"),
        ("display name", "App"),
        ("kind", "confidential"),
        ("origin", "https://app.example.com"),
        ("post-logout urls", "-"),
        ("secret", "set"),
        ("jwks", "set"),
        ("scope maps", "-"),
        ("claim maps", "-"),
        ("require par", "off"),
        ("require dpop", "on"),
        ("require pkce", "off"),
        ("require offline access", "on"),
        ("first party", "on"),
        ("signing alg", "RS256"),
        ("token lifetimes", "access 300 s, id 120 s, refresh 3600 s"),
        ("groups claim", "uuids"),
        ("service account", "-"),
    ] {
        assert_eq!(field(&text, key), want, "{key} in:\n{text}");
    }
    // Values are aligned as in `idm person get`: after the longest key and one blank.
    let width = "require offline access: ".len();
    assert_eq!(text.lines().count(), 22, "{text}");
    for line in text.lines() {
        let (key, value) = line.split_at(width);
        assert!(key.trim_end().ends_with(':'), "misaligned: {line:?}");
        assert!(!value.starts_with(' '), "misaligned: {line:?}");
    }
}

#[test]
fn only_oauth2_admins_manage_clients_and_it_is_audited() {
    let srv = Server::start(Some(FAST_HASH));
    let admin = srv.admin_home();
    person_with_password(&srv, &admin, "nora");
    person_with_password(&srv, &admin, "olga");
    person_with_password(&srv, &admin, "pete");
    srv.cli(&admin)
        .args(["group", "add-members", "idm_oauth2_admins", "olga"])
        .ok();
    srv.cli(&admin)
        .args(["group", "add-members", "idm_people_admins", "pete"])
        .ok();
    srv.cli(&admin)
        .args([
            "oauth2",
            "create",
            "wiki",
            "Wiki",
            "--origin",
            "https://wiki.example.com",
        ])
        .ok();

    // In no admin group: nothing, not even the list.
    let nora = Home::new();
    srv.login(&nora, "nora", STRONG);
    let run = srv.cli(&nora).args(["oauth2", "list"]).run();
    assert_eq!(run.code(), Some(1));
    assert_eq!(run.fails(), FORBIDDEN);
    assert_eq!(
        srv.cli(&nora).args(["oauth2", "get", "wiki"]).fails(),
        FORBIDDEN
    );
    assert_eq!(
        srv.cli(&nora)
            .args([
                "oauth2",
                "create",
                "x",
                "X",
                "--origin",
                "https://x.example.com"
            ])
            .fails(),
        FORBIDDEN
    );
    // Another admin group is not enough either.
    let pete = Home::new();
    srv.login(&pete, "pete", STRONG);
    assert_eq!(srv.cli(&pete).args(["oauth2", "list"]).fails(), FORBIDDEN);
    assert_eq!(
        srv.cli(&pete)
            .args(["oauth2", "require-par", "wiki", "on"])
            .fails(),
        FORBIDDEN
    );

    // idm_oauth2_admins: the whole life of a client.
    let olga = Home::new();
    srv.login(&olga, "olga", STRONG);
    let cli = || srv.cli(&olga);
    assert_eq!(names(&cli().args(["oauth2", "list"]).json()), ["wiki"]);
    let v = cli()
        .args([
            "oauth2",
            "create",
            "chat",
            "Chat",
            "--origin",
            "https://chat.example.com",
        ])
        .json();
    assert!(v["secret"].is_string(), "{v}");
    cli()
        .args([
            "oauth2",
            "add-redirect-url",
            "chat",
            "https://chat.example.com/oidc/cb",
        ])
        .ok();
    cli().args(["oauth2", "require-par", "chat", "on"]).ok();
    cli().args(["oauth2", "reset-secret", "chat"]).ok();
    cli().args(["oauth2", "require-par", "wiki", "on"]).ok();
    assert_eq!(
        names(&cli().args(["oauth2", "list"]).json()),
        ["chat", "wiki"]
    );
    cli().args(["oauth2", "delete", "wiki"]).ok();
    assert_eq!(names(&cli().args(["oauth2", "list"]).json()), ["chat"]);
    // OAuth2 rights are not person rights.
    let err = cli().args(["person", "create", "zed", "Zed"]).fails();
    assert_eq!(err, FORBIDDEN);

    // The audit trail names each change, by whom.
    let audit = srv
        .cli(&admin)
        .args(["audit", "list", "--target", "chat"])
        .json();
    let mut entries = audit["entries"].as_array().unwrap().clone();
    entries.sort_by_key(|e| e["seq"].as_u64());
    let actions: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"]["name"].as_str().unwrap(),
                e["summary"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("oauth2.create", "olga", "created confidential client"),
            (
                "oauth2.update",
                "olga",
                "added redirect URL https://chat.example.com/oidc/cb"
            ),
            ("oauth2.update", "olga", "require_par=true"),
            ("oauth2.update", "olga", "secret reset"),
        ],
        "{audit}"
    );
    let table = srv
        .cli(&admin)
        .args(["audit", "list", "--target", "chat"])
        .ok();
    assert!(
        table
            .lines()
            .any(|l| l.contains(" olga ") && l.contains(" oauth2.create ") && l.contains(" chat ")),
        "{table}"
    );
    assert_eq!(
        table
            .lines()
            .filter(|l| l.contains(" oauth2.update "))
            .count(),
        3,
        "{table}"
    );
    let wiki = srv
        .cli(&admin)
        .args(["audit", "list", "--target", "wiki"])
        .json();
    let wiki_actions: Vec<&str> = wiki["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in ["oauth2.create", "oauth2.update", "oauth2.delete"] {
        assert!(wiki_actions.contains(&want), "{want} missing: {wiki}");
    }
}
