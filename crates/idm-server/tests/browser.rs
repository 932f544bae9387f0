//! Strong authentication end to end, in a real browser: passkeys enrolled on the profile page
//! and used for username-less sign-in, password + TOTP (codes from Debian's `oathtool`) with
//! replay refused, a step-up for `acr_values`, a group's passkey-only policy, backup codes —
//! each through the OAuth2 authorization code flow, with the ID token's `amr`, `acr` and
//! `assurance` checked. The browser half is `tests/browser/mfa.test.mjs` (`node --test`,
//! playwright-core driving Debian's headless Chromium with a CDP virtual authenticator); this
//! file starts the server on `https://localhost:<port>` (WebAuthn needs the page's origin to be
//! the server's), prepares the people, the client and the policy through the admin API and the
//! offline import, runs node, and verifies every ID token it brought back against the JWKS with
//! the `openidconnect` crate.
//!
//! A credential-reset link too: an administrator's one-time link for a person with no
//! credentials at all in a passkey-only group, opened in the browser (the page, loaded twice,
//! uses nothing up; the button opens the profile for enrolment only), a passkey registered with
//! it, the link refused the second time, and the passkey's sign-in; then the audit trail and
//! the server's log, neither of which may hold the token.
//!
//! Without Chromium, node, the npm packages (`npm ci` in tests/browser) or oathtool the browser
//! test is skipped with a message, unless `IDM_REQUIRE_BROWSER=1` (as in CI), which makes a
//! missing tool a failure. The API login with a TOTP code needs only oathtool.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed step is a failed test"
)]

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Opts, Server, agent_with, free_port, have};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, Nonce};
use serde_json::{Value, json};

const PASSWORD: &str = "ochre-violin-47-tundra";
const CLIENT: &str = "webapp";
const POLICY_GROUP: &str = "passkey_only";
/// Who gets the credential-reset link: no password, no credentials, a passkey-only group.
const RESET_PERSON: &str = "grace";
/// Grace's group, its policy set through `PUT /v1/group/{id}/credential_policy`.
const RESET_GROUP: &str = "passkey_first";
/// The whole `node --test` run, Chromium included.
const NODE_TIMEOUT: Duration = Duration::from_secs(300);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium() -> String {
    std::env::var("IDM_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// `false` (after saying why) when a tool is missing and the test should be skipped; panics
/// instead under `IDM_REQUIRE_BROWSER=1`.
fn tools_present(needs_browser: bool) -> bool {
    let mut missing = Vec::new();
    if !have("oathtool") {
        missing.push("oathtool (Debian: oathtool)".to_owned());
    }
    if needs_browser {
        if !have("node") {
            missing.push("node".to_owned());
        }
        if !have(&chromium()) {
            missing.push(format!("{} (Debian: chromium)", chromium()));
        }
        let pw = browser_dir().join("node_modules/playwright-core/package.json");
        if !pw.is_file() {
            missing.push(format!(
                "playwright-core (npm ci --prefix {})",
                browser_dir().display()
            ));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!("missing: {}", missing.join(", "));
    if std::env::var("IDM_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("IDM_REQUIRE_BROWSER=1 but {why}");
    }
    eprintln!("skipped: {why} (set IDM_REQUIRE_BROWSER=1 to make this a failure)");
    false
}

fn person(srv: &Server, name: &str) -> String {
    let v = srv.api(
        "POST",
        "/v1/person",
        Some(json!({"name": name, "display_name": name, "mails": [format!("{name}@example.com")]})),
    );
    srv.api(
        "PUT",
        &format!("/v1/person/{name}/password"),
        Some(json!({ "password": PASSWORD })),
    );
    v["uuid"].as_str().expect("uuid").to_owned()
}

/// Sets a group's credential policy through the offline import (the running server's admin
/// socket): the group as exported, with the policy added.
fn set_policy_by_import(srv: &Server, group: &str, policy: Value) {
    let export: Value = serde_json::from_str(&srv.offline(&["export"])).expect("export JSON");
    let mut g = export["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["name"] == group)
        .expect("the group is exported")
        .clone();
    g["credential_policy"] = policy.clone();
    let doc = json!({
        "profile_version": export["profile_version"],
        "posix_next": export["posix_next"],
        "groups": [g],
    });
    let file = srv.dir().join("policy-import.json");
    std::fs::write(&file, doc.to_string()).expect("write the import");
    srv.offline(&["import", file.to_str().expect("UTF-8 path")]);
    let after: Value = serde_json::from_str(&srv.offline(&["export"])).expect("export JSON");
    let g = after["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["name"] == group)
        .expect("the group is still there");
    assert_eq!(g["credential_policy"], policy, "the import set the policy");
}

/// Runs `node --test` on the browser scenarios with `envs`, killing the whole process group
/// after [`NODE_TIMEOUT`]. Returns the exit status's success and what node printed.
fn run_node(envs: &[(&str, String)]) -> (bool, String) {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("node");
    cmd.current_dir(browser_dir())
        .args([
            "--test",
            "--test-reporter=spec",
            &format!("--test-timeout={}", NODE_TIMEOUT.as_millis()),
            "mfa.test.mjs",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start node");
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = read(Box::new(child.stdout.take().expect("stdout")));
    let err = read(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + NODE_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for node") {
            break Some(s);
        }
        if Instant::now() > deadline {
            // node, its test-file process and Chromium: the whole group.
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = format!(
        "{}\n--- stderr ---\n{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    match status {
        Some(s) => (s.success(), text),
        None => (
            false,
            format!("node --test ran over {NODE_TIMEOUT:?}\n{text}"),
        ),
    }
}

fn amr(claims: &openidconnect::core::CoreIdTokenClaims) -> Vec<String> {
    claims
        .auth_method_refs()
        .map(|v| v.iter().map(|a| a.to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn passkeys_totp_step_up_policy_and_backup_codes_in_a_browser() {
    if !tools_present(true) {
        return;
    }
    let started = Instant::now();
    let srv = Server::start(Opts {
        localhost_port: Some(free_port()),
        ..Opts::default()
    });
    // The application: the browser test listens at its redirect URI.
    let rp = format!("http://127.0.0.1:{}", free_port());
    let mut people = BTreeMap::new();
    for name in ["alice", "bob", "carol", "dave", "frank"] {
        people.insert(name, person(&srv, name));
    }
    srv.api("POST", "/v1/group", Some(json!({"name": "app_users"})));
    srv.api(
        "POST",
        "/v1/group/app_users/members",
        Some(json!({"members": ["alice", "bob", "carol", "dave", "frank"]})),
    );
    let c = srv.api(
        "POST",
        "/v1/oauth2",
        Some(json!({"name": CLIENT, "display_name": "Web app", "origin": rp})),
    );
    let secret = c["secret"].as_str().expect("a secret").to_owned();
    srv.api(
        "PATCH",
        &format!("/v1/oauth2/{CLIENT}"),
        Some(json!({"add_redirect_uris": [format!("{rp}/cb")], "first_party": true})),
    );
    srv.api(
        "PUT",
        &format!("/v1/oauth2/{CLIENT}/scope_map/app_users"),
        Some(json!({"scopes": ["openid", "profile"]})),
    );
    // The passkey-only group; carol joins it in the browser test once she has a passkey.
    srv.api("POST", "/v1/group", Some(json!({"name": POLICY_GROUP})));
    set_policy_by_import(&srv, POLICY_GROUP, json!({"min_class": "passkey"}));
    let reset = reset_link(&srv, &mut people);

    let tokens_out = srv.dir().join("tokens.json");
    let artifacts = srv.dir().join("browser");
    std::fs::create_dir_all(&artifacts).unwrap();
    let (ok, output) = run_node(&[
        ("IDM_URL", srv.origin.clone()),
        ("IDM_CLIENT_ID", CLIENT.to_owned()),
        ("IDM_CLIENT_SECRET", secret.clone()),
        ("IDM_REDIRECT_URI", format!("{rp}/cb")),
        ("IDM_PASSWORD", PASSWORD.to_owned()),
        ("IDM_ADMIN_TOKEN", srv.admin_token().to_owned()),
        ("IDM_PEOPLE", serde_json::to_string(&people).unwrap()),
        ("IDM_POLICY_GROUP", POLICY_GROUP.to_owned()),
        ("IDM_RESET_PERSON", RESET_PERSON.to_owned()),
        ("IDM_RESET_URL", reset.url.clone()),
        ("IDM_TOKENS_OUT", tokens_out.display().to_string()),
        ("IDM_ARTIFACTS", artifacts.display().to_string()),
        ("IDM_CHROMIUM", chromium()),
        // node's fetch (token endpoint, admin API) trusts the test CA.
        ("NODE_EXTRA_CA_CERTS", srv.ca().display().to_string()),
    ]);
    if !ok {
        // Keep the screenshots and pages for a look.
        let keep = std::env::temp_dir().join(format!("idm-browser-{}", std::process::id()));
        let _ = Command::new("cp")
            .args(["-r"])
            .arg(&artifacts)
            .arg(&keep)
            .status();
        panic!(
            "the browser scenarios failed (screenshots and pages kept in {}):\n{output}\n--- server log ---\n{}",
            keep.display(),
            srv.log()
        );
    }
    eprintln!("{output}");

    // Every ID token the browser test received verifies against the JWKS, for this client
    // and nonce, and says how the person signed in.
    let tokens: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&tokens_out).expect("tokens file"))
            .expect("tokens JSON");
    let (_, jwks) = srv.call_as(None, "GET", "/oauth2/jwks", None);
    let jwks: CoreJsonWebKeySet = serde_json::from_value(jwks).expect("JWKS");
    let verifier = CoreIdTokenVerifier::new_confidential_client(
        ClientId::new(CLIENT.to_owned()),
        ClientSecret::new(secret.clone()),
        IssuerUrl::new(srv.origin.clone()).unwrap(),
        jwks,
    )
    // The client's default algorithm (discovery lists it first).
    .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let expect: &[(&str, &str, &[&str], &str)] = &[
        ("a_passkey", "alice", &["user", "mfa"], "phishing_resistant"),
        ("b_totp", "bob", &["pwd", "otp", "mfa"], "mfa"),
        ("e_backup_code", "bob", &["pwd", "otp", "mfa"], "mfa"),
        ("c_step_up", "dave", &["pwd", "otp", "mfa"], "mfa"),
        ("c_sso", "dave", &["pwd", "otp", "mfa"], "mfa"),
        (
            "d_password_passkey",
            "carol",
            &["pwd", "user", "mfa"],
            "phishing_resistant",
        ),
        ("d_passkey", "carol", &["user", "mfa"], "phishing_resistant"),
        (
            "g_security_key",
            "frank",
            &["pwd", "user", "mfa"],
            "phishing_resistant",
        ),
        (
            "g_renamed",
            "frank",
            &["pwd", "user", "mfa"],
            "phishing_resistant",
        ),
        ("g_password", "frank", &["pwd"], "password"),
        (
            "h_reset_passkey",
            RESET_PERSON,
            &["user", "mfa"],
            "phishing_resistant",
        ),
    ];
    for (name, who, amr_has, assurance) in expect {
        let t = &tokens[*name];
        let id: CoreIdToken = t["id_token"].as_str().unwrap().parse().expect("a JWS");
        let nonce = Nonce::new(t["nonce"].as_str().unwrap().to_owned());
        let claims = id
            .claims(&verifier, &nonce)
            .unwrap_or_else(|e| panic!("{name}: the ID token does not verify: {e}"));
        assert_eq!(claims.subject().as_str(), people[who], "{name}");
        let amr = amr(claims);
        for a in *amr_has {
            assert!(amr.contains(&(*a).to_owned()), "{name}: amr {amr:?}");
        }
        let acr = claims.auth_context_ref().map(|a| a.to_string());
        let raw = jwt_payload(t["id_token"].as_str().unwrap());
        assert_eq!(raw["assurance"], *assurance, "{name}");
        match *assurance {
            "phishing_resistant" => {
                let hw = amr.contains(&"hwk".to_owned());
                assert!(hw || amr.contains(&"swk".to_owned()), "{name}: {amr:?}");
                assert_eq!(
                    acr.as_deref(),
                    Some(if hw { "phrh" } else { "phr" }),
                    "{name}"
                );
            }
            "mfa" => assert_eq!(acr.as_deref(), Some("urn:idm:acr:mfa"), "{name}"),
            _ => assert_eq!(acr.as_deref(), Some("urn:idm:acr:password"), "{name}"),
        }
    }

    // The server's side of it: the replayed code and the used backup code are audited, and the
    // passkey-only account cannot get an API session with its password.
    let audit = srv
        .audit(500)
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>();
    assert!(
        audit.iter().any(|e| e.contains("TOTP code already used")),
        "the replay is audited"
    );
    assert!(
        audit.iter().any(|e| e.contains("backup code (9 left)")),
        "the backup code is audited"
    );
    assert!(
        audit
            .iter()
            .any(|e| e.contains(r#"WebAuthn \"yubikey\" accepted"#)),
        "a login with a renamed key is audited under its new name"
    );
    let (status, v) = srv.call_as(
        None,
        "POST",
        "/v1/auth",
        Some(&json!({"name": "carol", "password": PASSWORD})),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (401, Some("mfa_required")),
        "{v}"
    );
    check_reset_trail(&srv, &reset);
    eprintln!("browser scenarios took {:?}", started.elapsed());
}

/// A credential-reset link as the admin API made it.
struct ResetLink {
    token: String,
    url: String,
}

/// Grace, with no password and no credentials, in a group whose passkey-only policy is set
/// through the API (she does not meet it), and a ten-minute reset link for her.
fn reset_link(srv: &Server, people: &mut BTreeMap<&str, String>) -> ResetLink {
    let v = srv.api(
        "POST",
        "/v1/person",
        Some(json!({"name": RESET_PERSON, "display_name": "Grace"})),
    );
    people.insert(RESET_PERSON, v["uuid"].as_str().expect("uuid").to_owned());
    srv.api(
        "POST",
        "/v1/group/app_users/members",
        Some(json!({"members": [RESET_PERSON]})),
    );
    srv.api("POST", "/v1/group", Some(json!({"name": RESET_GROUP})));
    srv.api(
        "POST",
        &format!("/v1/group/{RESET_GROUP}/members"),
        Some(json!({"members": [RESET_PERSON]})),
    );
    let changed = srv.api(
        "PUT",
        &format!("/v1/group/{RESET_GROUP}/credential_policy"),
        Some(json!({"min_class": "passkey"})),
    );
    assert_eq!(
        changed["group"]["credential_policy"]["min_class"], "passkey",
        "{changed}"
    );
    let unmet = changed["members_policy_not_met"].to_string();
    assert!(unmet.contains(RESET_PERSON), "{changed}");
    let status = srv.api(
        "GET",
        &format!("/v1/person/{RESET_PERSON}/credential"),
        None,
    );
    assert_eq!(status["policy_met"], false, "{status}");

    let before = chrono::Utc::now();
    let (code, v) = srv.call_as(
        Some(srv.admin_token()),
        "POST",
        &format!("/v1/person/{RESET_PERSON}/credential/reset_token"),
        Some(&json!({"ttl_secs": 600})),
    );
    assert_eq!(code, 201, "{v}");
    let token = v["token"].as_str().expect("a token").to_owned();
    let url = v["url"].as_str().expect("a URL").to_owned();
    // The server's configured origin: the page the browser loads, WebAuthn's origin.
    assert_eq!(url, format!("{}/ui/reset?token={token}", srv.origin));
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(v["expires_at"].clone()).expect("expires_at");
    let ttl = (expires - before).num_seconds();
    assert!((590..=610).contains(&ttl), "expires in {ttl} s");
    ResetLink { token, url }
}

/// After the browser: the link's making and its (single) use are audited for grace, she now
/// meets her policy, and the token is in neither the audit trail nor the server's log.
fn check_reset_trail(srv: &Server, reset: &ResetLink) {
    let audit = srv.audit(10_000);
    let about_grace = |action: &str| {
        audit
            .iter()
            .filter(|e| e["action"] == action && e["target"]["name"] == RESET_PERSON)
            .count()
    };
    assert_eq!(about_grace("credential.reset_token.create"), 1);
    assert_eq!(about_grace("credential.reset_token.use"), 1, "used once");
    let all = serde_json::to_string(&audit).unwrap();
    assert!(!all.contains(&reset.token), "the token is in the audit log");
    let log = srv.log();
    assert!(log.contains("/ui/reset"), "the log records requests");
    assert!(
        !log.contains(&reset.token),
        "the token is in the server log"
    );
    let status = srv.api(
        "GET",
        &format!("/v1/person/{RESET_PERSON}/credential"),
        None,
    );
    assert_eq!(status["policy_met"], true, "{status}");
}

fn jwt_payload(token: &str) -> Value {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let part = token.split('.').nth(1).expect("a JWS");
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(part).expect("base64url")).expect("JSON")
}

/// A TOTP code from Debian's oathtool, `ahead` 30-second steps from now.
fn oathtool(secret: &str, ahead: i64) -> String {
    let at = chrono::Utc::now().timestamp() + 30 * ahead;
    let out = common::run(
        {
            let mut c = Command::new("oathtool");
            c.args(["--totp", "-b", "-N", &format!("@{at}"), secret]);
            c
        },
        None,
    )
    .ok();
    out.trim().to_owned()
}

/// Forms and cookies without a browser (no JavaScript needed for a password and a code).
struct Forms {
    agent: ureq::Agent,
    base: String,
    cookies: BTreeMap<String, String>,
}

impl Forms {
    fn request(&mut self, method: &str, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            b = b.header("cookie", c.join("; "));
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut resp = if method == "GET" {
            self.agent.run(b.body(()).unwrap())
        } else {
            self.agent.run(
                b.header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .unwrap(),
            )
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap_or_default())
    }
}

/// The text between `before` and the next `after` in `page`.
fn between<'a>(page: &'a str, before: &str, after: &str) -> &'a str {
    let start = page
        .find(before)
        .unwrap_or_else(|| panic!("no {before:?} in {page}"))
        + before.len();
    let end = page[start..].find(after).expect("the end");
    &page[start..start + end]
}

#[test]
fn api_login_of_a_totp_holder_needs_a_code_from_oathtool() {
    if !tools_present(false) {
        return;
    }
    let srv = Server::start(Opts::default());
    person(&srv, "erin");
    // An authenticator app, enrolled on the profile page with plain forms.
    let mut f = Forms {
        agent: agent_with(&srv.ca(), false),
        base: format!("https://localhost:{}", srv.https_port),
        cookies: BTreeMap::new(),
    };
    let (status, page) = f.request("GET", "/ui/profile/login", &[]);
    assert_eq!(status, 200, "{page}");
    let csrf = between(&page, "name=\"csrf\" value=\"", "\"").to_owned();
    let (status, page) = f.request(
        "POST",
        "/ui/profile/login",
        &[
            ("csrf", &csrf),
            ("username", "erin"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(status, 303, "{page}");
    let (status, page) = f.request("GET", "/ui/profile/totp", &[]);
    assert_eq!(status, 200, "{page}");
    let secret = between(&page, "<code id=\"totp-secret\">", "<").to_owned();
    let csrf = between(&page, "name=\"csrf\" value=\"", "\"").to_owned();
    let (status, page) = f.request(
        "POST",
        "/ui/profile/totp",
        &[
            ("csrf", &csrf),
            ("label", "phone"),
            ("code", &oathtool(&secret, 0)),
        ],
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("The authenticator app was added."), "{page}");

    let login = |code: Option<&str>| {
        let mut body = json!({"name": "erin", "password": PASSWORD});
        if let Some(c) = code {
            body["code"] = json!(c);
        }
        srv.call_as(None, "POST", "/v1/auth", Some(&body))
    };
    let (status, v) = login(None);
    assert_eq!(
        (status, v["code"].as_str()),
        (401, Some("mfa_required")),
        "{v}"
    );
    let (status, v) = login(Some("000000"));
    assert_eq!(status, 401, "a wrong code: {v}");
    assert_ne!(v["code"], "mfa_required", "{v}");
    // The enrolment used the current step; the next one is within the accepted skew.
    let code = oathtool(&secret, 1);
    let (status, v) = login(Some(&code));
    assert_eq!(status, 200, "{v}");
    let token = v["token"].as_str().expect("a session token").to_owned();
    let (status, me) = srv.call_as(Some(&token), "GET", "/v1/self", None);
    assert_eq!((status, me["name"].as_str()), (200, Some("erin")), "{me}");
    let (status, v) = login(Some(&code));
    assert_eq!(status, 401, "the same code twice: {v}");
}
