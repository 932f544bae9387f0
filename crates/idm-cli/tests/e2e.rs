//! End-to-end tests: the real `idm-server` binary on a temporary data directory, driven by the
//! real `idm` CLI (and, for bulk setup, plain HTTPS). Every assertion reads back what the
//! server says; exit codes alone prove nothing.
//!
//! Needs `target/debug/idm-server`: `cargo build --bins -p idm-server -p idm-cli`, then
//! `cargo nextest run -p idm-cli --test e2e`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed step is a failed test"
)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{FAST_HASH, Home, STRONG, Server, names, strings};
use serde_json::Value;

/// A CA that has nothing to do with any test server.
const UNRELATED_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBjzCCATWgAwIBAgIUQhVRWMT0Gq3ha9N4w2aPpMA5GuwwCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRdW5yZWxhdGVkIHRlc3QgQ0EwIBcNMjYxMTIzMTU0MjMzWhgP
MjEyNjEwMzAxNTQyMzNaMBwxGjAYBgNVBAMMEXVucmVsYXRlZCB0ZXN0IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJjwqB7icuQLnxO9dwDB2RdT2ke+NDDkQ
E/WyUsjyWPRSU2GIlx+GnOzsBkbyeJXBoSq+/rHE1YhEWbynkqvTUKNTMFEwHQYD
VR0OBBYEFL59/SLXIBv0HBtRgnqZOfSATQg7MB8GA1UdIwQYMBaAFL59/SLXIBv0
HBtRgnqZOfSATQg7MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIh
AMrOxPV7Cjh6MtWsxu81yWkyooD9KslRcjWKmKLqfsdIAiAmur4eppyb/gYrDaB6
BPwCKYmFxnU/cmf9MHCCth3EWg==
-----END CERTIFICATE-----
";

const FORBIDDEN: &str = "error: not permitted (forbidden, HTTP 403)\n";
const BAD_LOGIN: &str = "error: invalid name or password (invalid_credentials, HTTP 401)\n";

/// The UUID in `created person NAME (UUID)`.
fn created_uuid(out: &str) -> String {
    let (_, rest) = out
        .split_once('(')
        .unwrap_or_else(|| panic!("no uuid in {out:?}"));
    let uuid = rest.trim_end().trim_end_matches(')');
    assert_eq!(uuid.len(), 36, "{out}");
    uuid.to_owned()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn set_of(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Audit entries (JSON) whose action is `action`.
fn audit_with<'a>(entries: &'a Value, action: &str) -> Vec<&'a Value> {
    entries["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries in {entries}"))
        .iter()
        .filter(|e| e["action"] == action)
        .collect()
}

/// Creates a person with a password (as whoever `home` is logged in as).
fn person_with_password(srv: &Server, home: &Home, name: &str, display: &str, password: &str) {
    srv.cli(home).args(["person", "create", name, display]).ok();
    let out = srv
        .cli(home)
        .args([
            "person",
            "credential",
            "set-password",
            name,
            "--password-stdin",
        ])
        .stdin(password)
        .ok();
    assert_eq!(out, format!("password set for {name}\n"));
}

// 1 ------------------------------------------------------------------------------------------

#[test]
fn walkthrough_admin_to_alice() {
    let srv = Server::start(Some(FAST_HASH));
    let admin = Home::new();
    let pw = srv.admin_password();
    srv.login(&admin, "admin", &pw);
    let me = srv.cli(&admin).arg("self").json();
    assert_eq!(me["name"], "admin");
    assert!(
        strings(&me["groups"]).contains(&"idm_admins".to_owned()),
        "{me}"
    );

    let out = srv
        .cli(&admin)
        .args([
            "person",
            "create",
            "alice",
            "Alice A",
            "--mail",
            "alice@example.com",
        ])
        .ok();
    assert!(out.starts_with("created person alice ("), "{out}");
    let out = srv.cli(&admin).args(["group", "create", "devs"]).ok();
    assert!(out.starts_with("created group devs ("), "{out}");
    let out = srv
        .cli(&admin)
        .args(["group", "add-members", "devs", "alice"])
        .ok();
    assert_eq!(out, "devs now has 1 direct members\n");
    let out = srv
        .cli(&admin)
        .args([
            "person",
            "credential",
            "set-password",
            "alice",
            "--password-stdin",
        ])
        .stdin(STRONG)
        .ok();
    assert_eq!(out, "password set for alice\n");

    // Alice, in her own cache directory.
    let alice = Home::new();
    srv.login(&alice, "alice", STRONG);
    let me = srv.cli(&alice).arg("self").json();
    assert_eq!(me["name"], "alice");
    assert_eq!(me["kind"], "person");
    assert_eq!(strings(&me["groups"]), vec!["devs"]);
    // The human form says the same.
    let text = srv.cli(&alice).arg("self").ok();
    assert!(text.lines().any(|l| l == "name:   alice"), "{text}");
    assert!(text.lines().any(|l| l == "groups: devs"), "{text}");
    // She may read herself, but not list everyone.
    let own = srv.cli(&alice).args(["person", "get", "alice"]).json();
    assert_eq!(own["mails"], serde_json::json!(["alice@example.com"]));
    assert_eq!(own["password_set"], true);
    let run = srv.cli(&alice).args(["person", "list"]).run();
    assert_eq!(run.code(), Some(1));
    assert_eq!(run.fails(), FORBIDDEN);
    let err = srv.cli(&alice).args(["person", "get", "admin"]).fails();
    assert_eq!(err, FORBIDDEN);

    // Admin's session is untouched by Alice's login (separate caches).
    let me = srv.cli(&admin).arg("self").json();
    assert_eq!(me["name"], "admin");

    // The token cache is private.
    let cache = alice.path().join("idm").join("tokens.json");
    let mode = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&cache), 0o600);
    assert_eq!(mode(cache.parent().unwrap()), 0o700);
    assert!(!std::fs::read_to_string(&cache).unwrap().contains(STRONG));

    // Alice may change her own password; the old one stops working.
    let new_pw = "Granite-Harbor-Lantern-77-Fjord";
    srv.cli(&alice)
        .args([
            "person",
            "credential",
            "set-password",
            "alice",
            "--password-stdin",
        ])
        .stdin(new_pw)
        .ok();
    let err = srv
        .cli(&Home::new())
        .args(["login", "-D", "alice", "--password-stdin"])
        .stdin(STRONG)
        .fails();
    assert_eq!(err, BAD_LOGIN);
    srv.login(&alice, "alice", new_pw);

    // Logging out ends the session on the server as well, not only in the cache.
    let api = srv.api("alice", new_pw);
    let (status, me) = api.call("GET", "/v1/self", None);
    assert_eq!((status, me["name"].as_str()), (200, Some("alice")));
    assert_eq!(api.call("POST", "/v1/logout", None).0, 204);
    let (status, body) = api.call("GET", "/v1/self", None);
    assert_eq!(status, 401, "a logged-out token still works: {body}");
    assert_eq!(body["code"], "unauthenticated");
    let out = srv.cli(&alice).arg("logout").ok();
    assert_eq!(out, format!("logged out alice at {}\n", srv.url()));
    let err = srv.cli(&alice).arg("self").fails();
    assert_eq!(err, "error: not logged in: run `idm login -D NAME`\n");
}

// 2 ------------------------------------------------------------------------------------------

#[test]
fn person_commands() {
    let srv = Server::start(Some(FAST_HASH));
    let admin = srv.admin_home();
    let cli = || srv.cli(&admin);

    let out = cli()
        .args([
            "person",
            "create",
            "bob",
            "Bob B",
            "--mail",
            "bob@example.com",
            "--mail",
            "b@example.org",
            "--legalname",
            "Robert Bee",
        ])
        .ok();
    assert!(out.starts_with("created person bob ("), "{out}");
    let uuid = created_uuid(&out);

    let bob = cli().args(["person", "get", "bob"]).json();
    assert_eq!(bob["uuid"], uuid.as_str());
    assert_eq!(bob["name"], "bob");
    assert_eq!(bob["display_name"], "Bob B");
    assert_eq!(bob["legal_name"], "Robert Bee");
    assert_eq!(
        bob["mails"],
        serde_json::json!(["bob@example.com", "b@example.org"])
    );
    assert_eq!(bob["password_set"], false);
    assert_eq!(bob["posix"], Value::Null);
    assert_eq!(bob["lock"], Value::Null);
    assert_eq!(bob["expire_at"], Value::Null);
    assert_eq!(bob["ssh_keys"], serde_json::json!([]));
    assert_eq!(bob["groups"], serde_json::json!([]));
    assert_eq!(bob["groups_transitive"], serde_json::json!([]));
    assert!(bob["created_at"].is_string() && bob["modified_at"].is_string());
    // By UUID as well as by name.
    let by_uuid = cli().args(["person", "get", &uuid]).json();
    assert_eq!(by_uuid["name"], "bob");
    // The human form.
    let text = cli().args(["person", "get", "bob"]).ok();
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key}:")))
            .map(|l| l[key.len() + 1..].trim().to_owned())
            .unwrap_or_else(|| panic!("no {key} in\n{text}"))
    };
    assert_eq!(line("name"), "bob");
    assert_eq!(line("display name"), "Bob B");
    assert_eq!(line("mail"), "bob@example.com, b@example.org");
    assert_eq!(line("status"), "active");
    assert_eq!(line("password"), "not set");

    cli().args(["person", "create", "carol", "Carol C"]).ok();
    let list = cli().args(["person", "list"]).json();
    assert_eq!(sorted(names(&list)), vec!["admin", "bob", "carol"]);
    let table = cli().args(["person", "list"]).ok();
    assert!(table.lines().next().unwrap().starts_with("NAME"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("bob ") && l.contains("bob@example.com")),
        "{table}"
    );

    // Names and mail addresses are unique.
    let err = cli().args(["person", "create", "bob", "Other"]).fails();
    assert!(
        err.contains("(conflict, HTTP 409)") && err.contains("bob"),
        "{err}"
    );
    let err = cli()
        .args([
            "person",
            "create",
            "dave",
            "Dave",
            "--mail",
            "BOB@example.com",
        ])
        .fails();
    assert!(err.contains("(conflict, HTTP 409)"), "{err}");
    let err = cli().args(["person", "create", "Bad Name", "X"]).fails();
    assert!(err.contains("(invalid, HTTP 422)"), "{err}");

    // Update every attribute.
    let out = cli()
        .args([
            "person",
            "update",
            "bob",
            "--displayname",
            "Bobby",
            "--mail",
            "bobby@example.com",
            "--expire-at",
            "2031-01-02",
        ])
        .ok();
    assert_eq!(out, "updated person bob\n");
    let bob = cli().args(["person", "get", "bob"]).json();
    assert_eq!(bob["display_name"], "Bobby");
    assert_eq!(bob["mails"], serde_json::json!(["bobby@example.com"]));
    assert_eq!(bob["expire_at"], "2031-01-02T00:00:00Z");
    assert_eq!(bob["legal_name"], "Robert Bee");
    // The replaced address is free again.
    cli()
        .args(["person", "update", "carol", "--mail", "bob@example.com"])
        .ok();
    let carol = cli().args(["person", "get", "carol"]).json();
    assert_eq!(carol["mails"], serde_json::json!(["bob@example.com"]));
    // Rename keeps the UUID; the old name is gone.
    cli()
        .args(["person", "update", "bob", "--newname", "robert"])
        .ok();
    let robert = cli().args(["person", "get", "robert"]).json();
    assert_eq!(robert["uuid"], uuid.as_str());
    assert_eq!(robert["name"], "robert");
    let err = cli().args(["person", "get", "bob"]).fails();
    assert_eq!(
        err,
        "error: no person named \"bob\" (not_found, HTTP 404)\n"
    );
    // Clearing.
    cli()
        .args([
            "person",
            "update",
            "robert",
            "--expire-at",
            "never",
            "--legalname",
            "",
        ])
        .ok();
    let robert = cli().args(["person", "get", "robert"]).json();
    assert_eq!(robert["expire_at"], Value::Null);
    assert_eq!(robert["legal_name"], Value::Null);
    assert_eq!(robert["display_name"], "Bobby");
    let err = cli().args(["person", "update", "robert"]).fails();
    assert!(err.contains("required"), "{err}");

    // POSIX: ids allocated from 10000 up, the personal gid equal to the uid.
    let out = cli().args(["person", "posix", "set", "robert"]).ok();
    assert_eq!(
        out,
        "POSIX attributes of robert: uid 10000 gid 10000 shell /bin/bash home /home/robert\n"
    );
    let carol = cli()
        .args(["person", "posix", "set", "carol", "--shell", "/bin/zsh"])
        .json();
    assert_eq!(carol["posix"]["uid_number"], 10001);
    assert_eq!(carol["posix"]["gid_number"], 10001);
    assert_eq!(carol["posix"]["login_shell"], "/bin/zsh");
    assert_eq!(carol["posix"]["home_directory"], "/home/carol");
    // Changing the home keeps the ids.
    cli()
        .args(["person", "posix", "set", "robert", "--home", "/srv/robert"])
        .ok();
    let posix = cli().args(["person", "posix", "show", "robert"]).json();
    assert_eq!(
        posix,
        serde_json::json!({
            "uid_number": 10000,
            "gid_number": 10000,
            "login_shell": "/bin/bash",
            "home_directory": "/srv/robert"
        })
    );
    let text = cli().args(["person", "posix", "show", "robert"]).ok();
    assert!(text.lines().any(|l| l == "uid:   10000"), "{text}");
    let err = cli()
        .args(["person", "posix", "set", "robert", "--gidnumber", "10001"])
        .fails();
    assert!(
        err.contains("POSIX id 10001 is already in use (conflict, HTTP 409)"),
        "{err}"
    );

    // Passwords: the policy says why.
    let err = cli()
        .args([
            "person",
            "credential",
            "set-password",
            "robert",
            "--password-stdin",
        ])
        .stdin("short1!")
        .fails();
    assert!(err.contains("(password_policy, HTTP 422)"), "{err}");
    assert!(err.contains("12"), "{err}");
    let err = cli()
        .args([
            "person",
            "credential",
            "set-password",
            "robert",
            "--password-stdin",
        ])
        .stdin("aaaaaaaaaaaaaaaaaaaa")
        .fails();
    assert!(err.contains("(password_policy, HTTP 422)"), "{err}");
    let err = cli()
        .args([
            "person",
            "credential",
            "set-password",
            "robert",
            "--password-stdin",
        ])
        .stdin("robert-Quartz-Violin-42")
        .fails();
    assert!(err.contains("(password_policy, HTTP 422)"), "{err}");
    assert_eq!(
        cli().args(["person", "get", "robert"]).json()["password_set"],
        false
    );
    cli()
        .args([
            "person",
            "credential",
            "set-password",
            "robert",
            "--password-stdin",
        ])
        .stdin(STRONG)
        .ok();
    assert_eq!(
        cli().args(["person", "get", "robert"]).json()["password_set"],
        true
    );
    srv.login(&Home::new(), "robert", STRONG);

    // Delete: her session ends with her, and a new carol does not inherit it.
    cli()
        .args([
            "person",
            "credential",
            "set-password",
            "carol",
            "--password-stdin",
        ])
        .stdin(STRONG)
        .ok();
    let carol_home = Home::new();
    srv.login(&carol_home, "carol", STRONG);
    let out = cli().args(["person", "delete", "carol"]).ok();
    assert_eq!(out, "deleted person carol\n");
    let err = srv.cli(&carol_home).arg("self").fails();
    assert!(
        err.contains("the session of carol is no longer valid"),
        "{err}"
    );
    let new_carol = cli().args(["person", "create", "carol", "Carol Two"]).ok();
    assert!(
        new_carol.starts_with("created person carol ("),
        "{new_carol}"
    );
    let err = srv.cli(&carol_home).arg("self").fails();
    assert!(
        err.contains("the session of carol is no longer valid"),
        "{err}"
    );
    let new_carol = cli().args(["person", "get", "carol"]).json();
    assert_eq!(new_carol["password_set"], false);
    assert_eq!(
        new_carol["posix"],
        Value::Null,
        "the new carol got the old one's ids"
    );
    let out = cli().args(["person", "delete", "carol"]).ok();
    assert_eq!(out, "deleted person carol\n");
    let err = cli().args(["person", "get", "carol"]).fails();
    assert_eq!(
        err,
        "error: no person named \"carol\" (not_found, HTTP 404)\n"
    );
    let err = cli().args(["person", "delete", "carol"]).fails();
    assert!(err.contains("(not_found, HTTP 404)"), "{err}");
    let list = cli().args(["person", "list"]).json();
    assert_eq!(sorted(names(&list)), vec!["admin", "robert"]);
    // The built-in admin cannot be deleted.
    let err = cli().args(["person", "delete", "admin"]).fails();
    assert!(err.contains("(conflict, HTTP 409)"), "{err}");
}

/// `ssh-keygen -q -t TYPE … -f PATH`; `None` when ssh-keygen is not installed.
fn keygen(dir: &Path, name: &str, args: &[&str], comment: &str) -> Option<(String, String)> {
    let path = dir.join(name);
    let st = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", comment, "-f"])
        .arg(&path)
        .args(args)
        .status();
    match st {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("ssh-keygen: {e}"),
        Ok(s) => assert!(s.success(), "ssh-keygen {args:?} failed"),
    }
    let pubfile = path.with_extension("pub");
    let line = std::fs::read_to_string(&pubfile).unwrap().trim().to_owned();
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&pubfile)
        .output()
        .unwrap();
    assert!(out.status.success());
    let fp = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(fp.starts_with("SHA256:"), "{fp}");
    Some((line, fp))
}

#[test]
fn person_ssh_keys() {
    let srv = Server::start(Some(FAST_HASH));
    let keys = srv.scratch().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let Some((ed, ed_fp)) = keygen(&keys, "ed", &["-t", "ed25519"], "alice@laptop") else {
        eprintln!("NOTICE: ssh-keygen is not installed; skipping person_ssh_keys");
        return;
    };
    let (ec, ec_fp) = keygen(&keys, "ec", &["-t", "ecdsa", "-b", "256"], "alice@phone").unwrap();
    let (weak_rsa, _) = keygen(&keys, "rsa", &["-t", "rsa", "-b", "1024"], "old").unwrap();
    let admin = srv.admin_home();
    let cli = || srv.cli(&admin);
    cli().args(["person", "create", "alice", "Alice A"]).ok();

    let out = cli()
        .args(["person", "ssh", "add-publickey", "alice", "laptop", &ed])
        .ok();
    assert_eq!(
        out,
        format!("added ssh-ed25519 key laptop ({ed_fp}) to alice\n")
    );
    // From stdin with `-`.
    let k = cli()
        .args(["person", "ssh", "add-publickey", "alice", "phone", "-"])
        .stdin(&ec)
        .json();
    assert_eq!(k["label"], "phone");
    assert_eq!(k["fingerprint"], ec_fp.as_str());
    assert_eq!(k["algorithm"], "ecdsa-sha2-nistp256");
    assert_eq!(k["comment"], "alice@phone");

    let list = cli()
        .args(["person", "ssh", "list-publickeys", "alice"])
        .json();
    let by_label: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["label"].as_str().unwrap().to_owned(),
                k["fingerprint"].as_str().unwrap().to_owned(),
                k["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        by_label,
        vec![
            ("laptop".to_owned(), ed_fp.clone(), ed.clone()),
            ("phone".to_owned(), ec_fp.clone(), ec.clone()),
        ]
    );
    let table = cli()
        .args(["person", "ssh", "list-publickeys", "alice"])
        .ok();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("laptop") && l.contains(&ed_fp) && l.ends_with("alice@laptop")),
        "{table}"
    );
    let person = cli().args(["person", "get", "alice"]).json();
    assert_eq!(person["ssh_keys"].as_array().unwrap().len(), 2);

    // The same key twice, or a label twice, is a conflict.
    let err = cli()
        .args(["person", "ssh", "add-publickey", "alice", "again", &ed])
        .fails();
    assert!(err.contains("(conflict, HTTP 409)"), "{err}");
    let err = cli()
        .args(["person", "ssh", "add-publickey", "alice", "laptop", &ec])
        .fails();
    assert!(err.contains("(conflict, HTTP 409)"), "{err}");
    // Invalid keys are refused with their own code.
    let err = cli()
        .args([
            "person",
            "ssh",
            "add-publickey",
            "alice",
            "junk",
            "ssh-ed25519 AAAAnot-base64!! x@y",
        ])
        .fails();
    assert!(err.starts_with("error: invalid SSH public key: "), "{err}");
    assert!(err.contains("(invalid_ssh_key, HTTP 422)"), "{err}");
    let err = cli()
        .args(["person", "ssh", "add-publickey", "alice", "old", &weak_rsa])
        .fails();
    assert!(err.contains("(invalid_ssh_key, HTTP 422)"), "{err}");
    assert!(err.contains("1024"), "{err}");

    let out = cli()
        .args(["person", "ssh", "delete-publickey", "alice", "laptop"])
        .ok();
    assert_eq!(out, "deleted SSH key laptop of alice\n");
    let list = cli()
        .args(["person", "ssh", "list-publickeys", "alice"])
        .json();
    assert_eq!(names_of_labels(&list), vec!["phone"]);
    let err = cli()
        .args(["person", "ssh", "delete-publickey", "alice", "laptop"])
        .fails();
    assert!(err.contains("(not_found, HTTP 404)"), "{err}");
}

fn names_of_labels(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|k| k["label"].as_str().unwrap().to_owned())
        .collect()
}

// 3 ------------------------------------------------------------------------------------------

#[test]
fn posix_ids_are_never_reused() {
    let srv = Server::start(Some(FAST_HASH));
    let admin = srv.admin_home();
    let cli = || srv.cli(&admin);
    cli().args(["person", "create", "bob", "Bob"]).ok();
    let bob = cli().args(["person", "posix", "set", "bob"]).json();
    let n = bob["posix"]["uid_number"].as_u64().unwrap();
    assert_eq!(bob["posix"]["gid_number"].as_u64(), Some(n));
    cli().args(["person", "delete", "bob"]).ok();

    cli().args(["person", "create", "carol", "Carol"]).ok();
    let carol = cli().args(["person", "posix", "set", "carol"]).json();
    assert_eq!(carol["posix"]["uid_number"].as_u64(), Some(n + 1));
    assert_eq!(carol["posix"]["gid_number"].as_u64(), Some(n + 1));

    let err = cli()
        .args([
            "person",
            "posix",
            "set",
            "carol",
            "--gidnumber",
            &n.to_string(),
        ])
        .fails();
    assert!(err.contains("never reused"), "{err}");
    assert!(err.contains("(conflict, HTTP 409)"), "{err}");
    // Not for a group either.
    cli().args(["group", "create", "g"]).ok();
    let err = cli()
        .args(["group", "posix", "set", "g", "--gidnumber", &n.to_string()])
        .fails();
    assert!(err.contains("never reused"), "{err}");
    // Carol still has her id.
    let carol = cli().args(["person", "get", "carol"]).json();
    assert_eq!(carol["posix"]["uid_number"].as_u64(), Some(n + 1));
    // And the next allocation moves on.
    let g = cli().args(["group", "posix", "set", "g"]).json();
    assert_eq!(g["gid_number"].as_u64(), Some(n + 2));

    // Also across a restart.
    let mut srv = srv;
    srv.restart();
    let admin = srv.admin_home();
    srv.cli(&admin)
        .args(["person", "create", "dave", "Dave"])
        .ok();
    let dave = srv
        .cli(&admin)
        .args(["person", "posix", "set", "dave"])
        .json();
    assert_eq!(dave["posix"]["uid_number"].as_u64(), Some(n + 3));
}

// 4 ------------------------------------------------------------------------------------------

#[test]
fn groups_nesting_and_cycles() {
    let srv = Server::start(Some(FAST_HASH));
    let admin = srv.admin_home();
    let cli = || srv.cli(&admin);
    cli().args(["person", "create", "alice", "Alice"]).ok();
    cli().args(["person", "create", "bob", "Bob"]).ok();

    let out = cli()
        .args(["group", "create", "devs", "--description", "Developers"])
        .ok();
    assert!(out.starts_with("created group devs ("), "{out}");
    let devs = cli().args(["group", "get", "devs"]).json();
    assert_eq!(devs["name"], "devs");
    assert_eq!(devs["description"], "Developers");
    assert_eq!(devs["members"], serde_json::json!([]));
    assert_eq!(devs["builtin"], false);
    assert_eq!(devs["gid_number"], Value::Null);
    cli().args(["group", "create", "staff"]).ok();
    let err = cli().args(["group", "create", "devs"]).fails();
    assert!(err.contains("(conflict, HTTP 409)"), "{err}");

    let list = cli().args(["group", "list"]).json();
    let all: BTreeSet<String> = names(&list).into_iter().collect();
    let custom: BTreeSet<String> = all
        .iter()
        .filter(|n| !n.starts_with("idm_"))
        .cloned()
        .collect();
    assert_eq!(custom, set_of(&["devs", "staff"]));
    // The built-ins (more may come with new features).
    assert!(
        all.is_superset(&set_of(&[
            "idm_admins",
            "idm_people_admins",
            "idm_group_admins",
            "idm_service_account_admins",
            "idm_account_read_priv",
        ])),
        "{all:?}"
    );
    for g in list.as_array().unwrap() {
        assert_eq!(
            g["builtin"],
            g["name"].as_str().unwrap().starts_with("idm_"),
            "{g}"
        );
    }

    let out = cli()
        .args(["group", "add-members", "devs", "alice", "bob"])
        .ok();
    assert_eq!(out, "devs now has 2 direct members\n");
    let members = cli().args(["group", "list-members", "devs"]).json();
    assert_eq!(names(&members), vec!["alice", "bob"]);
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["kind"] == "person")
    );
    let err = cli()
        .args(["group", "add-members", "devs", "nobody"])
        .fails();
    assert!(err.contains("(not_found, HTTP 404)"), "{err}");

    // Nesting: devs in staff makes alice a member of staff, transitively.
    cli().args(["group", "add-members", "staff", "devs"]).ok();
    let members = cli().args(["group", "list-members", "staff"]).json();
    assert_eq!(names(&members), vec!["devs"]);
    assert_eq!(members[0]["kind"], "group");
    let alice = cli().args(["person", "get", "alice"]).json();
    assert_eq!(names(&alice["groups"]), vec!["devs"]);
    assert_eq!(names(&alice["groups_transitive"]), vec!["devs", "staff"]);
    let devs = cli().args(["group", "get", "devs"]).json();
    assert_eq!(names(&devs["groups"]), vec!["staff"]);

    // Cycles are refused, directly or through nesting.
    let err = cli()
        .args(["group", "add-members", "devs", "staff"])
        .fails();
    assert!(err.contains("(conflict, HTTP 409)"), "{err}");
    assert!(err.contains("cycle"), "{err}");
    // A group in itself is refused as invalid before any cycle search.
    let err = cli().args(["group", "add-members", "devs", "devs"]).fails();
    assert!(
        err.contains("(invalid, HTTP 422)") && err.contains("cannot contain itself"),
        "{err}"
    );
    cli().args(["group", "create", "all"]).ok();
    cli().args(["group", "add-members", "all", "staff"]).ok();
    let err = cli().args(["group", "add-members", "devs", "all"]).fails();
    assert!(err.contains("cycle"), "{err}");
    let alice = cli().args(["person", "get", "alice"]).json();
    assert_eq!(
        names(&alice["groups_transitive"]),
        vec!["all", "devs", "staff"]
    );

    // Removing.
    let out = cli().args(["group", "remove-members", "devs", "bob"]).ok();
    assert_eq!(out, "devs now has 1 direct members\n");
    let bob = cli().args(["person", "get", "bob"]).json();
    assert_eq!(bob["groups"], serde_json::json!([]));
    assert_eq!(bob["groups_transitive"], serde_json::json!([]));

    // POSIX gid.
    let out = cli().args(["group", "posix", "set", "devs"]).ok();
    assert_eq!(out, "devs has gid 10000\n");
    let staff = cli()
        .args(["group", "posix", "set", "staff", "--gidnumber", "5000"])
        .json();
    assert_eq!(staff["gid_number"], 5000);
    let err = cli()
        .args(["group", "posix", "set", "all", "--gidnumber", "5000"])
        .fails();
    assert!(err.contains("already in use"), "{err}");
    let alice = cli().args(["person", "posix", "set", "alice"]).json();
    assert_eq!(
        alice["posix"]["uid_number"], 10001,
        "ids are shared with groups"
    );
    let table = cli().args(["group", "list"]).ok();
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["devs", "10000", "1", "Developers"]),
        "{table}"
    );

    // Deleting a group takes it out of its members' memberships and its parents' members.
    let out = cli().args(["group", "delete", "devs"]).ok();
    assert_eq!(out, "deleted group devs\n");
    let err = cli().args(["group", "get", "devs"]).fails();
    assert_eq!(
        err,
        "error: no group named \"devs\" (not_found, HTTP 404)\n"
    );
    let alice = cli().args(["person", "get", "alice"]).json();
    assert_eq!(alice["groups"], serde_json::json!([]));
    assert_eq!(alice["groups_transitive"], serde_json::json!([]));
    let staff = cli().args(["group", "list-members", "staff"]).json();
    assert_eq!(staff, serde_json::json!([]));

    // Deleting a person takes it out of its groups.
    cli()
        .args(["group", "add-members", "staff", "alice", "bob"])
        .ok();
    cli().args(["person", "delete", "bob"]).ok();
    let staff = cli().args(["group", "list-members", "staff"]).json();
    assert_eq!(names(&staff), vec!["alice"]);
    let all = cli().args(["group", "get", "all"]).json();
    assert_eq!(names(&all["members"]), vec!["staff"]);

    // Built-in groups stay.
    let err = cli().args(["group", "delete", "idm_admins"]).fails();
    assert!(err.contains("(conflict, HTTP 409)"), "{err}");

    // The store agrees with itself after all that.
    let out = srv.admin(&["verify"]).ok();
    assert!(out.trim_end().ends_with(": ok"), "{out}");
}

// 5 ------------------------------------------------------------------------------------------

#[test]
fn service_accounts_and_api_tokens() {
    let srv = Server::start(Some(FAST_HASH));
    let admin = srv.admin_home();
    let cli = || srv.cli(&admin);
    cli().args(["person", "create", "alice", "Alice"]).ok();

    let out = cli()
        .args([
            "service-account",
            "create",
            "robot",
            "Robot",
            "--description",
            "CI",
        ])
        .ok();
    assert!(out.starts_with("created service account robot ("), "{out}");
    let ro = cli()
        .args([
            "service-account",
            "api-token",
            "generate",
            "robot",
            "reader",
        ])
        .json();
    let ro_id = ro["id"].as_str().unwrap().to_owned();
    let ro_token = ro["token"].as_str().unwrap().to_owned();
    assert!(ro_token.len() > 40, "{ro}");

    // A token user has no login and no cache.
    let nobody = Home::new();
    let as_ro = || srv.cli(&nobody).env("IDM_TOKEN", &ro_token);
    let me = as_ro().arg("self").json();
    assert_eq!(me["name"], "robot");
    assert_eq!(me["kind"], "service_account");
    assert_eq!(me["groups"], serde_json::json!([]));
    assert_eq!(as_ro().args(["person", "list"]).fails(), FORBIDDEN);

    cli()
        .args(["group", "add-members", "idm_account_read_priv", "robot"])
        .ok();
    let list = as_ro().args(["person", "list"]).json();
    assert_eq!(sorted(names(&list)), vec!["admin", "alice"]);
    let err = as_ro().args(["person", "create", "eve", "Eve"]).fails();
    assert_eq!(
        err,
        "error: this token is read-only (forbidden, HTTP 403)\n"
    );

    // A read-write token writes what its account's groups allow, and no more.
    let rw = cli()
        .args([
            "service-account",
            "api-token",
            "generate",
            "robot",
            "writer",
            "--rw",
        ])
        .json();
    let rw_id = rw["id"].as_str().unwrap().to_owned();
    let rw_token = rw["token"].as_str().unwrap().to_owned();
    let as_rw = || srv.cli(&nobody).env("IDM_TOKEN", &rw_token);
    assert_eq!(
        as_rw().args(["person", "create", "eve", "Eve"]).fails(),
        FORBIDDEN
    );
    cli()
        .args(["group", "add-members", "idm_people_admins", "robot"])
        .ok();
    let out = as_rw().args(["person", "create", "eve", "Eve"]).ok();
    assert!(out.starts_with("created person eve ("), "{out}");
    let eve = cli().args(["person", "get", "eve"]).json();
    assert_eq!(eve["display_name"], "Eve");
    // Still nothing for the read-only token, whatever the account may do.
    let err = as_ro().args(["person", "create", "mallory", "M"]).fails();
    assert_eq!(
        err,
        "error: this token is read-only (forbidden, HTTP 403)\n"
    );
    let audit = cli().args(["audit", "list", "--actor", "robot"]).json();
    let creates = audit_with(&audit, "person.create");
    assert_eq!(creates.len(), 1, "{audit}");
    assert_eq!(creates[0]["target"]["name"], "eve");

    // Tokens are listed without secrets.
    let listed = cli()
        .args(["service-account", "api-token", "list", "robot"])
        .json();
    let mut seen: Vec<(String, String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert!(t.get("token").is_none() && t.get("digest").is_none(), "{t}");
            (
                t["id"].as_str().unwrap().to_owned(),
                t["label"].as_str().unwrap().to_owned(),
                t["access"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        seen,
        vec![
            (ro_id.clone(), "reader".to_owned(), "read_only".to_owned()),
            (rw_id.clone(), "writer".to_owned(), "read_write".to_owned()),
        ]
    );
    let table = cli()
        .args(["service-account", "api-token", "list", "robot"])
        .ok();
    assert!(
        !table.contains(&ro_token) && !table.contains(&rw_token),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&ro_id) && l.contains("reader") && l.contains("read-only")),
        "{table}"
    );
    let sa = cli().args(["service-account", "get", "robot"]).json();
    assert_eq!(sa["description"], "CI");
    assert_eq!(
        sorted(names(&sa["groups"])),
        vec!["idm_account_read_priv", "idm_people_admins"]
    );
    let dump = srv.admin(&["export"]).ok();
    assert!(
        !dump.contains(&ro_token[ro_token.len() - 20..]),
        "secret in export"
    );

    // Destroyed tokens stop working at once; the other one goes on.
    let out = cli()
        .args(["service-account", "api-token", "destroy", "robot", &ro_id])
        .ok();
    assert_eq!(out, format!("destroyed API token {ro_id} of robot\n"));
    let err = as_ro().args(["person", "list"]).fails();
    assert_eq!(
        err,
        "error: IDM_TOKEN was not accepted: not authenticated (unauthenticated, HTTP 401)\n"
    );
    assert_eq!(
        sorted(names(&as_rw().args(["person", "list"]).json())),
        vec!["admin", "alice", "eve"]
    );
    let listed = cli()
        .args(["service-account", "api-token", "list", "robot"])
        .json();
    assert_eq!(names_of_labels(&listed), vec!["writer"]);
    // A garbage token is a 401 too.
    let err = srv
        .cli(&nobody)
        .env("IDM_TOKEN", "not-a-token")
        .args(["person", "list"])
        .fails();
    assert!(err.contains("(unauthenticated, HTTP 401)"), "{err}");
    // Deleting the account ends its tokens.
    cli().args(["service-account", "delete", "robot"]).ok();
    let err = as_rw().arg("self").fails();
    assert!(err.contains("(unauthenticated, HTTP 401)"), "{err}");
}

// 6 ------------------------------------------------------------------------------------------

#[test]
fn lock_and_unlock_are_enforced_and_audited() {
    let srv = Server::start(Some(FAST_HASH));
    let admin = srv.admin_home();
    let cli = || srv.cli(&admin);
    person_with_password(&srv, &admin, "alice", "Alice A", STRONG);
    let alice = Home::new();
    srv.login(&alice, "alice", STRONG);

    let out = cli()
        .args(["account", "lock", "alice", "--reason", "left"])
        .ok();
    assert_eq!(out, "locked alice\n");
    let p = cli().args(["person", "get", "alice"]).json();
    assert_eq!(p["lock"]["reason"], "left");
    assert_eq!(p["lock"]["actor"], "admin");
    let text = cli().args(["person", "get", "alice"]).ok();
    assert!(
        text.lines().any(|l| l.starts_with("status:")
            && l.contains("locked by admin")
            && l.ends_with(": left")),
        "{text}"
    );

    // Her running session ends, and the right password no longer logs her in.
    let err = srv.cli(&alice).arg("self").fails();
    assert_eq!(
        err,
        "error: the session of alice is no longer valid (expired or logged out): \
         run `idm login -D alice`\n"
    );
    let err = srv
        .cli(&Home::new())
        .args(["login", "-D", "alice", "--password-stdin"])
        .stdin(STRONG)
        .fails();
    assert!(err.contains("(account_disabled, HTTP 401)"), "{err}");
    assert!(err.contains("locked"), "{err}");
    // Nobody locks themselves out.
    let err = cli()
        .args(["account", "lock", "admin", "--reason", "oops"])
        .fails();
    assert!(err.contains("(forbidden, HTTP 403)"), "{err}");

    let out = cli().args(["account", "unlock", "alice"]).ok();
    assert_eq!(out, "unlocked alice\n");
    assert_eq!(
        cli().args(["person", "get", "alice"]).json()["lock"],
        Value::Null
    );
    srv.login(&alice, "alice", STRONG);
    assert_eq!(srv.cli(&alice).arg("self").json()["name"], "alice");

    let audit = cli().args(["audit", "list", "--target", "alice"]).json();
    for (action, summary_has) in [("account.lock", "left"), ("account.unlock", "")] {
        let hits = audit_with(&audit, action);
        assert_eq!(hits.len(), 1, "{action}: {audit}");
        assert_eq!(hits[0]["actor"]["name"], "admin");
        assert_eq!(hits[0]["outcome"], "success");
        assert_eq!(hits[0]["target"]["name"], "alice");
        assert!(
            hits[0]["summary"].as_str().unwrap().contains(summary_has),
            "{}",
            hits[0]
        );
    }
    let logins = audit_with(&audit, "auth.password");
    assert!(
        logins
            .iter()
            .any(|e| e["outcome"] == "denied" && e["summary"].as_str().unwrap().contains("locked")),
        "{audit}"
    );
    assert_eq!(
        logins.iter().filter(|e| e["outcome"] == "success").count(),
        2,
        "{audit}"
    );
    // The human listing is oldest first, as `idm audit list --help` says.
    let table = cli().args(["audit", "list", "--target", "alice"]).ok();
    let seqs: Vec<u64> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert!(seqs.len() >= 6, "{table}");
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "not oldest first:\n{table}"
    );
    let lock_line = table.lines().find(|l| l.contains("account.lock")).unwrap();
    assert!(
        lock_line.contains(" admin ") && lock_line.contains("success"),
        "{lock_line}"
    );
}

// 7 ------------------------------------------------------------------------------------------

#[test]
fn soft_lockout_after_repeated_failures() {
    let config = format!(
        "{FAST_HASH}\n[lockout]\nmax_failures = 3\nwindow_secs = 60\nlockout_secs = 2\n\n\
         [rate_limit]\nip_burst = 1000\nip_refill_secs = 0.01\naccount_burst = 1000\n\
         account_refill_secs = 0.01\n"
    );
    let srv = Server::start(Some(&config));
    let admin = srv.admin_home();
    person_with_password(&srv, &admin, "alice", "Alice A", STRONG);
    let attempt = |name: &str, pw: &str| {
        srv.cli(&Home::new())
            .args(["login", "-D", name, "--password-stdin"])
            .stdin(pw)
            .run()
    };

    // Unknown name and wrong password look exactly alike.
    let unknown = attempt("nosuchuser", "Wrong-Guess-Number-1").fails();
    let wrong1 = attempt("alice", "Wrong-Guess-Number-1").fails();
    assert_eq!(unknown, BAD_LOGIN);
    assert_eq!(wrong1, unknown);
    attempt("alice", "Wrong-Guess-Number-2").fails();
    let t3 = Instant::now();
    attempt("alice", "Wrong-Guess-Number-3").fails();
    // Locked now: even the right password gets the same answer as a wrong one.
    let locked = attempt("alice", STRONG);
    let elapsed = t3.elapsed();
    assert!(
        !locked.status.success(),
        "the right password worked during the soft lockout ({elapsed:?} after the 3rd failure \
         started; lockout_secs = 2)"
    );
    assert_eq!(locked.fails(), wrong1);

    let audit = srv
        .cli(&admin)
        .args(["audit", "list", "--target", "alice"])
        .json();
    let auth = audit_with(&audit, "auth.password");
    let failures: Vec<&str> = auth
        .iter()
        .filter(|e| e["outcome"] == "failure")
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert_eq!(failures.len(), 3, "{audit}");
    assert!(
        failures.iter().any(|s| s.contains("soft lockout until")),
        "{failures:?}"
    );
    let denied: Vec<&str> = auth
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert_eq!(denied.len(), 1, "{audit}");
    assert!(
        denied[0].contains("too many failures") && denied[0].contains("locked until"),
        "{denied:?}"
    );
    let unknown_audit = srv
        .cli(&admin)
        .args(["audit", "list", "--target", "nosuchuser"])
        .json();
    let u = audit_with(&unknown_audit, "auth.password");
    assert_eq!(u.len(), 1, "{unknown_audit}");
    assert_eq!(u[0]["outcome"], "failure");

    // The lock is soft: it ends by itself.
    std::thread::sleep(Duration::from_millis(2500));
    srv.login(&Home::new(), "alice", STRONG);
    // A success forgives the earlier failures: a new wrong guess starts a fresh count.
    attempt("alice", "Wrong-Guess-Number-4").fails();
    let audit = srv
        .cli(&admin)
        .args(["audit", "list", "--target", "alice", "--limit", "1"])
        .json();
    let last = audit["entries"][0]["summary"].as_str().unwrap();
    // (The summary may name the protocol first, e.g. `api: wrong password; …`.)
    assert!(
        last.ends_with("wrong password; 2 attempts left before lockout"),
        "{audit}"
    );

    // recover-account (through the running server's admin socket) lifts a soft lockout at once.
    attempt("alice", "Wrong-Guess-Number-5").fails();
    attempt("alice", "Wrong-Guess-Number-6").fails();
    assert_eq!(
        attempt("alice", STRONG).fails(),
        BAD_LOGIN,
        "should be locked again"
    );
    let recovered = srv.recover("alice");
    srv.login(&Home::new(), "alice", &recovered);
}

/// Concurrent wrong guesses must be counted like sequential ones: with `max_failures = 3`, no
/// more than three passwords may be tried before the lock.
///
/// Password decisions for one account are serialised (`auth::serialized`), so simultaneous
/// guesses are counted one after another: an attacker gets `max_failures` guesses per lockout,
/// not (parallel requests) × `max_failures`.
#[test]
fn concurrent_wrong_passwords_are_all_counted() {
    const ATTEMPTS: usize = 16;
    let config = format!(
        "{FAST_HASH}\n[lockout]\nmax_failures = 3\nwindow_secs = 600\nlockout_secs = 600\n\n\
         [rate_limit]\nip_burst = 1000\nip_refill_secs = 0.01\naccount_burst = 1000\n\
         account_refill_secs = 0.01\n"
    );
    let srv = Server::start(Some(&config));
    let admin = srv.admin_home();
    person_with_password(&srv, &admin, "alice", "Alice A", STRONG);
    let barrier = std::sync::Barrier::new(ATTEMPTS);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..ATTEMPTS)
            .map(|i| {
                let (srv, barrier) = (&srv, &barrier);
                s.spawn(move || {
                    let api = common::Api::anonymous(srv);
                    let body = serde_json::json!({
                        "name": "alice",
                        "password": format!("Wrong-Guess-Number-{i}"),
                    });
                    barrier.wait();
                    api.call("POST", "/v1/auth", Some(&body)).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    // The lock is in place now, whichever way the count went.
    let err = srv
        .cli(&Home::new())
        .args(["login", "-D", "alice", "--password-stdin"])
        .stdin(STRONG)
        .fails();
    assert_eq!(err, BAD_LOGIN);
    let audit = srv
        .cli(&admin)
        .args(["audit", "list", "--target", "alice", "--limit", "1000"])
        .json();
    let auth = audit_with(&audit, "auth.password");
    assert_eq!(auth.len(), ATTEMPTS + 1, "{audit}");
    let verified = auth.iter().filter(|e| e["outcome"] == "failure").count();
    assert!(
        verified <= 3,
        "{verified} of {ATTEMPTS} simultaneous wrong passwords were verified with \
         max_failures = 3: the lockout count loses concurrent updates (summaries: {:#?})",
        auth.iter()
            .map(|e| e["summary"].as_str().unwrap())
            .collect::<Vec<_>>()
    );
}

// 8 ------------------------------------------------------------------------------------------

#[test]
fn authentication_is_rate_limited_per_address() {
    let config = format!("{FAST_HASH}\n[rate_limit]\nip_burst = 3\nip_refill_secs = 60\n");
    let srv = Server::start(Some(&config));
    let pw = srv.admin_password();
    let admin = Home::new();
    let attempt = |home: &Home, name: &str, pw: &str| {
        srv.cli(home)
            .args(["login", "-D", name, "--password-stdin"])
            .stdin(pw)
            .run()
    };
    attempt(&admin, "admin", &pw).ok();
    assert_eq!(
        attempt(&Home::new(), "ghost1", "x-Wrong-Password-1").fails(),
        BAD_LOGIN
    );
    assert_eq!(
        attempt(&Home::new(), "ghost2", "x-Wrong-Password-2").fails(),
        BAD_LOGIN
    );
    // Successes do not count: an application binding for many users from one address is not
    // throttled by them.
    for _ in 0..3 {
        attempt(&Home::new(), "admin", &pw).ok();
    }
    assert_eq!(
        attempt(&Home::new(), "ghost3", "x-Wrong-Password-3").fails(),
        BAD_LOGIN
    );
    // After three failures from this address, any attempt, whatever the name and password, is
    // refused.
    let started = Instant::now();
    let err = attempt(&Home::new(), "admin", &pw).fails();
    assert_eq!(
        err,
        "error: too many attempts, try again later (rate_limited, HTTP 429)\n"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "429 should be quick"
    );
    // Only authentication is limited: the session from the first login goes on working.
    assert_eq!(srv.cli(&admin).arg("self").json()["name"], "admin");
    assert_eq!(
        sorted(names(&srv.cli(&admin).args(["person", "list"]).json())),
        vec!["admin"]
    );
}

// 9 ------------------------------------------------------------------------------------------

#[test]
fn delegated_admins_cannot_escalate() {
    let srv = Server::start(Some(FAST_HASH));
    let admin_pw = srv.admin_password();
    let admin = Home::new();
    srv.login(&admin, "admin", &admin_pw);
    person_with_password(&srv, &admin, "pat", "Pat P", STRONG);
    person_with_password(&srv, &admin, "pam", "Pam P", STRONG);
    srv.cli(&admin)
        .args(["group", "add-members", "idm_people_admins", "pat", "pam"])
        .ok();
    let pat = Home::new();
    srv.login(&pat, "pat", STRONG);
    let cli = || srv.cli(&pat);
    assert_eq!(
        strings(&cli().arg("self").json()["groups"]),
        vec!["idm_people_admins"]
    );

    // What the delegation is for.
    let out = cli().args(["person", "create", "carl", "Carl C"]).ok();
    assert!(out.starts_with("created person carl ("), "{out}");
    cli()
        .args([
            "person",
            "credential",
            "set-password",
            "carl",
            "--password-stdin",
        ])
        .stdin(STRONG)
        .ok();
    srv.login(&Home::new(), "carl", STRONG);
    cli()
        .args(["person", "update", "carl", "--displayname", "Carl"])
        .ok();

    // What it is not for.
    let err = cli()
        .args([
            "person",
            "credential",
            "set-password",
            "admin",
            "--password-stdin",
        ])
        .stdin("Pat-Owns-This-Now-7781")
        .fails();
    assert!(err.contains("(forbidden, HTTP 403)"), "{err}");
    assert!(err.contains("idm_admins"), "{err}");
    let err = cli()
        .args(["group", "add-members", "idm_admins", "pat"])
        .fails();
    assert!(err.contains("(forbidden, HTTP 403)"), "{err}");
    let err = cli()
        .args(["group", "add-members", "idm_people_admins", "carl"])
        .fails();
    assert!(err.contains("(forbidden, HTTP 403)"), "{err}");
    let err = cli()
        .args([
            "person",
            "credential",
            "set-password",
            "pam",
            "--password-stdin",
        ])
        .stdin("Pat-Owns-This-Now-7781")
        .fails();
    assert!(err.contains("(forbidden, HTTP 403)"), "{err}");
    let err = cli()
        .args(["account", "lock", "admin", "--reason", "mine"])
        .fails();
    assert!(err.contains("(forbidden, HTTP 403)"), "{err}");
    let err = cli().args(["person", "delete", "pam"]).fails();
    assert!(err.contains("(forbidden, HTTP 403)"), "{err}");
    let err = cli().args(["group", "create", "shadow_admins"]).fails();
    assert_eq!(err, FORBIDDEN);
    let err = cli().args(["audit", "list"]).fails();
    assert_eq!(err, FORBIDDEN);

    // Nothing changed: admin's password still works, pat is still only a people admin.
    srv.login(&Home::new(), "admin", &admin_pw);
    srv.login(&Home::new(), "pam", STRONG);
    assert_eq!(
        strings(&cli().arg("self").json()["groups"]),
        vec!["idm_people_admins"]
    );
    let admins = srv
        .cli(&admin)
        .args(["group", "list-members", "idm_admins"])
        .json();
    assert_eq!(names(&admins), vec!["admin"]);
    let audit = srv
        .cli(&admin)
        .args(["audit", "list", "--actor", "pat"])
        .json();
    let changes: BTreeSet<String> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] != "auth.password")
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        changes,
        set_of(&["person.create", "credential.set_password", "person.update"]),
        "{audit}"
    );
}

/// A group admin manages ordinary groups, but a group nested into `idm_admins` is as good as
/// `idm_admins` itself: its membership is the admins' business. (Before the fix in
/// idm-model/src/access.rs, a group admin could make any account a full admin this way.)
#[test]
fn group_admins_cannot_fill_groups_nested_into_admins() {
    let srv = Server::start(Some(FAST_HASH));
    let admin = srv.admin_home();
    person_with_password(&srv, &admin, "gary", "Gary G", STRONG);
    srv.cli(&admin)
        .args(["person", "create", "carl", "Carl C"])
        .ok();
    srv.cli(&admin)
        .args(["group", "add-members", "idm_group_admins", "gary"])
        .ok();
    srv.cli(&admin).args(["group", "create", "ops"]).ok();
    srv.cli(&admin)
        .args(["group", "add-members", "idm_admins", "ops"])
        .ok();
    let gary = Home::new();
    srv.login(&gary, "gary", STRONG);
    let cli = || srv.cli(&gary);

    // Ordinary groups are gary's to manage.
    cli().args(["group", "create", "devs"]).ok();
    let out = cli().args(["group", "add-members", "devs", "carl"]).ok();
    assert_eq!(out, "devs now has 1 direct members\n");
    cli().args(["group", "remove-members", "devs", "carl"]).ok();

    // The admins' groups are not, directly or nested.
    let err = cli()
        .args(["group", "add-members", "idm_admins", "carl"])
        .fails();
    assert!(err.contains("(forbidden, HTTP 403)"), "{err}");
    let err = cli().args(["group", "add-members", "ops", "carl"]).fails();
    assert!(err.contains("(forbidden, HTTP 403)"), "{err}");
    assert!(err.contains("idm_admins"), "{err}");
    let err = cli().args(["group", "add-members", "ops", "gary"]).fails();
    assert!(err.contains("(forbidden, HTTP 403)"), "{err}");
    // Nor can gary hang a group he controls under the admins' group.
    let err = cli().args(["group", "add-members", "ops", "devs"]).fails();
    assert!(err.contains("(forbidden, HTTP 403)"), "{err}");
    let err = cli().args(["group", "delete", "ops"]).fails();
    assert!(err.contains("(forbidden, HTTP 403)"), "{err}");

    let carl = srv.cli(&admin).args(["person", "get", "carl"]).json();
    assert_eq!(carl["groups_transitive"], serde_json::json!([]), "{carl}");
    assert_eq!(
        names(
            &srv.cli(&admin)
                .args(["group", "list-members", "ops"])
                .json()
        ),
        Vec::<String>::new()
    );
    // An admin may.
    srv.cli(&admin)
        .args(["group", "add-members", "ops", "carl"])
        .ok();
    let carl = srv.cli(&admin).args(["person", "get", "carl"]).json();
    assert_eq!(names(&carl["groups_transitive"]), vec!["idm_admins", "ops"]);
}

// 10 -----------------------------------------------------------------------------------------

#[test]
fn concurrent_membership_changes_are_all_kept() {
    const THREADS: usize = 8;
    const EACH: usize = 10;
    let srv = Server::start(Some(FAST_HASH));
    let pw = srv.admin_password();
    let admin = Home::new();
    srv.login(&admin, "admin", &pw);
    srv.cli(&admin).args(["group", "create", "big"]).ok();
    let api = srv.api("admin", &pw);
    let mut expected = Vec::new();
    for i in 0..THREADS {
        for j in 0..EACH {
            let name = format!("m{i}_{j}");
            api.create_person(&name, &format!("Member {i} {j}"));
            expected.push(name);
        }
    }
    std::thread::scope(|s| {
        for i in 0..THREADS {
            let (srv, admin) = (&srv, &admin);
            s.spawn(move || {
                for j in 0..EACH {
                    let out = srv
                        .cli(admin)
                        .args(["group", "add-members", "big", &format!("m{i}_{j}")])
                        .ok();
                    assert!(out.starts_with("big now has "), "{out}");
                }
            });
        }
    });
    let members = srv
        .cli(&admin)
        .args(["group", "list-members", "big"])
        .json();
    assert_eq!(sorted(names(&members)), sorted(expected));
    let m = srv.cli(&admin).args(["person", "get", "m7_9"]).json();
    assert_eq!(names(&m["groups"]), vec!["big"]);
    let audit = srv
        .cli(&admin)
        .args(["audit", "list", "--target", "big", "--limit", "1000"])
        .json();
    assert_eq!(
        audit_with(&audit, "group.add_members").len(),
        THREADS * EACH
    );
    let out = srv.admin(&["verify"]).ok();
    assert!(out.trim_end().ends_with(": ok"), "{out}");
}

// 11 -----------------------------------------------------------------------------------------

#[test]
fn backup_restore_and_export_with_the_real_binaries() {
    let mut srv = Server::start(Some(FAST_HASH));
    let admin_pw = srv.admin_password();
    let admin = Home::new();
    srv.login(&admin, "admin", &admin_pw);
    let cli = || srv.cli(&admin);
    person_with_password(&srv, &admin, "alice", "Alice A", STRONG);
    cli().args(["person", "posix", "set", "alice"]).ok();
    cli().args(["group", "create", "devs"]).ok();
    cli().args(["group", "add-members", "devs", "alice"]).ok();
    cli()
        .args(["service-account", "create", "robot", "Robot"])
        .ok();
    cli()
        .args(["group", "add-members", "idm_account_read_priv", "robot"])
        .ok();
    let token = cli()
        .args(["service-account", "api-token", "generate", "robot", "ci"])
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let backup = srv.scratch().join("idm.backup");
    let backup_s = backup.to_str().unwrap();
    let out = srv.admin(&["backup", backup_s]).ok();
    assert!(
        out.starts_with(&format!("backup written to {backup_s} (")),
        "{out}"
    );
    assert!(
        out.contains(" entries, ") && out.contains("sha256 "),
        "{out}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the backup holds password hashes");
    }
    let export_a = srv.admin(&["export", "--secrets"]).ok();
    assert!(
        export_a.contains("$argon2id$"),
        "secrets missing from the export"
    );
    let plain = srv.admin(&["export"]).ok();
    assert!(
        !plain.contains("$argon2id$"),
        "secrets in an export without --secrets"
    );
    let doc: Value = serde_json::from_str(&export_a).unwrap();
    assert!(
        names(&doc["persons"]).contains(&"alice".to_owned()),
        "{doc}"
    );
    // Restoring over the live data is refused.
    let err = srv.admin(&["restore", backup_s]).fails();
    assert!(err.contains("empty data directory"), "{err}");
    srv.stop();
    // …and over the stopped, non-empty one too.
    let err = srv.admin(&["restore", backup_s]).fails();
    assert!(
        err.contains("already exists") && err.contains("empty data directory"),
        "{err}"
    );

    let mut restored = Server::prepare(Some(FAST_HASH));
    let out = restored.admin(&["restore", backup_s]).ok();
    assert!(out.starts_with("restored "), "{out}");
    assert!(
        out.trim_end()
            .ends_with(&format!("into {}", restored.data_dir().display())),
        "{out}"
    );
    let export_b = restored.admin(&["export", "--secrets"]).ok();
    assert!(
        export_a == export_b,
        "the restored export differs:\n{export_a}\n---\n{export_b}"
    );
    let out = restored.admin(&["verify"]).ok();
    assert!(
        out.starts_with("verified ") && out.trim_end().ends_with(": ok"),
        "{out}"
    );

    restored.launch();
    let alice = Home::new();
    restored.login(&alice, "alice", STRONG);
    let me = restored.cli(&alice).arg("self").json();
    assert_eq!(strings(&me["groups"]), vec!["devs"]);
    restored.login(&Home::new(), "admin", &admin_pw);
    let people = restored
        .cli(&Home::new())
        .env("IDM_TOKEN", &token)
        .args(["person", "list"])
        .json();
    assert_eq!(sorted(names(&people)), vec!["admin", "alice"]);
    let p = restored.cli(&alice).args(["person", "get", "alice"]).json();
    assert_eq!(p["posix"]["uid_number"], 10000);

    // Damaged backups are refused before anything is written.
    let bytes = std::fs::read(&backup).unwrap();
    let truncated = srv.scratch().join("truncated.backup");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let mut flipped_bytes = bytes.clone();
    let at = bytes.len() - 50;
    flipped_bytes[at] ^= 0x01;
    let flipped = srv.scratch().join("flipped.backup");
    std::fs::write(&flipped, &flipped_bytes).unwrap();
    for (file, why) in [(&truncated, "truncated"), (&flipped, "checksum")] {
        let target = Server::prepare(Some(FAST_HASH));
        let err = target.admin(&["restore", file.to_str().unwrap()]).fails();
        assert!(
            err.starts_with("error: ") && err.contains(why),
            "{why}: {err}"
        );
        assert!(
            !target.data_dir().join("idm.redb").exists(),
            "{why}: idm.redb left behind"
        );
        let left: Vec<_> = std::fs::read_dir(target.data_dir())
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{why}: left behind {left:?}");
    }
}

/// POSIX ids are never handed out again, and that must survive a backup and restore.
///
/// An id an entry gives up while it lives (here a group's gid changed with `--gidnumber`) is
/// retired, and the backup and export carry `retired_posix_ids`, so it stays retired after a
/// restore.
#[test]
fn retired_posix_ids_survive_backup_and_restore() {
    let mut srv = Server::start(Some(FAST_HASH));
    let admin_pw = srv.admin_password();
    let admin = Home::new();
    srv.login(&admin, "admin", &admin_pw);
    let cli = || srv.cli(&admin);
    cli().args(["group", "create", "g"]).ok();
    cli().args(["group", "create", "h"]).ok();
    let g = cli().args(["group", "posix", "set", "g"]).json();
    let old = g["gid_number"].as_u64().unwrap().to_string();
    cli()
        .args(["group", "posix", "set", "g", "--gidnumber", "50000"])
        .ok();
    let err = cli()
        .args(["group", "posix", "set", "h", "--gidnumber", &old])
        .fails();
    assert!(err.contains("never reused"), "{err}");

    let backup = srv.scratch().join("idm.backup");
    srv.admin(&["backup", backup.to_str().unwrap()]).ok();
    srv.stop();
    let mut restored = Server::prepare(Some(FAST_HASH));
    restored.admin(&["restore", backup.to_str().unwrap()]).ok();
    restored.launch();
    let admin = Home::new();
    restored.login(&admin, "admin", &admin_pw);
    let run = restored
        .cli(&admin)
        .args(["group", "posix", "set", "h", "--gidnumber", &old])
        .run();
    assert!(
        !run.status.success(),
        "after a restore, retired gid {old} was handed out again: {}",
        run.stdout
    );
    assert!(run.stderr.contains("never reused"), "{}", run.stderr);
}

// 12 -----------------------------------------------------------------------------------------

#[test]
fn offline_subcommands_with_the_server_stopped() {
    let mut srv = Server::start(Some(FAST_HASH));
    let admin = srv.admin_home();
    person_with_password(&srv, &admin, "alice", "Alice A", STRONG);
    srv.cli(&admin).args(["group", "create", "devs"]).ok();
    srv.cli(&admin)
        .args(["group", "add-members", "devs", "alice"])
        .ok();
    srv.stop();

    // Straight on the data directory.
    let new_pw = srv.recover("alice");
    let err = srv.admin(&["recover-account", "nobody"]).fails();
    assert!(err.contains("nobody"), "{err}");
    let err = srv.admin(&["recover-account", "devs"]).fails();
    assert!(err.contains("only persons have passwords"), "{err}");
    let export = srv.admin(&["export", "--secrets"]).ok();
    let out = srv.admin(&["verify"]).ok();
    assert!(out.trim_end().ends_with(": ok"), "{out}");

    srv.launch();
    let alice = Home::new();
    srv.login(&alice, "alice", &new_pw);
    let err = srv
        .cli(&Home::new())
        .args(["login", "-D", "alice", "--password-stdin"])
        .stdin(STRONG)
        .fails();
    assert_eq!(err, BAD_LOGIN, "the old password still works");
    let audit = srv
        .cli(&srv.admin_home())
        .args(["audit", "list", "--target", "alice"])
        .json();
    let set = audit_with(&audit, "credential.set_password");
    assert!(
        set.iter()
            .any(|e| e["actor"]["name"] == "system:recover-account"),
        "{audit}"
    );
    srv.stop();

    // Import into a fresh directory gives back the same model, secrets included.
    let file = srv.scratch().join("export.json");
    std::fs::write(&file, &export).unwrap();
    let fresh = Server::prepare(Some(FAST_HASH));
    let err = fresh.admin(&["verify"]).fails();
    assert!(err.contains("no database"), "{err}");
    let out = fresh.admin(&["import", file.to_str().unwrap()]).ok();
    assert_eq!(out, "import done\n");
    let again = fresh.admin(&["export", "--secrets"]).ok();
    assert!(
        export == again,
        "import then export differs:\n{export}\n---\n{again}"
    );
    // From stdin as well.
    let fresh2 = Server::prepare(Some(FAST_HASH));
    fresh2
        .admin_with_stdin(&["import", "-"], Some(&export))
        .ok();
    assert!(export == fresh2.admin(&["export", "--secrets"]).ok());
    let mut fresh = fresh;
    fresh.launch();
    fresh.login(&Home::new(), "alice", &new_pw);
}

// 13 -----------------------------------------------------------------------------------------

#[test]
fn errors_say_what_went_wrong() {
    let srv = Server::start(Some(FAST_HASH));
    let admin = srv.admin_home();

    let run = srv
        .cli(&admin)
        .url("https://localhost:1")
        .args(["person", "list"])
        .run();
    assert_eq!(run.code(), Some(1));
    let err = run.fails();
    assert!(
        err.starts_with("error: cannot reach https://localhost:1: "),
        "{err}"
    );
    assert!(err.contains("is the server running?"), "{err}");

    let run = srv.cli(&admin).args(["person", "get", "nosuch"]).run();
    assert_eq!(run.code(), Some(1));
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.fails(),
        "error: no person named \"nosuch\" (not_found, HTTP 404)\n"
    );
    let err = srv.cli(&admin).args(["group", "get", "admin"]).fails();
    assert_eq!(
        err,
        "error: no group named \"admin\" (not_found, HTTP 404)\n"
    );

    let other_ca = srv.scratch().join("unrelated-ca.pem");
    std::fs::write(&other_ca, UNRELATED_CA).unwrap();
    let run = srv.cli(&admin).ca(&other_ca).args(["person", "list"]).run();
    assert_eq!(run.code(), Some(1));
    let err = run.fails();
    assert!(
        err.starts_with(&format!("error: TLS failure talking to {}: ", srv.url())),
        "{err}"
    );
    assert!(err.contains("is --ca/IDM_CA the server's CA?"), "{err}");
    let not_pem = srv.scratch().join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let err = srv
        .cli(&admin)
        .ca(&not_pem)
        .args(["person", "list"])
        .fails();
    assert!(err.contains("holds no usable PEM certificate"), "{err}");
    let err = srv
        .cli(&admin)
        .ca(srv.scratch().join("missing.pem"))
        .args(["person", "list"])
        .fails();
    assert!(err.contains("cannot read the CA file"), "{err}");

    let err = srv
        .cli(&admin)
        .url(format!("http://example.com:{}", srv.port()))
        .args(["person", "list"])
        .fails();
    assert!(err.contains("plain http"), "{err}");
    let err = srv.cli(&Home::new()).args(["person", "list"]).fails();
    assert_eq!(err, "error: not logged in: run `idm login -D NAME`\n");
    let err = srv
        .cli(&Home::new())
        .args(["login", "-D", "admin", "--password-stdin"])
        .stdin("")
        .fails();
    assert!(err.contains("empty password"), "{err}");
    // The policy applies to admin's own password too.
    let err = srv
        .cli(&admin)
        .args([
            "person",
            "credential",
            "set-password",
            "admin",
            "--password-stdin",
        ])
        .stdin("admin")
        .fails();
    assert!(err.contains("(password_policy, HTTP 422)"), "{err}");
}
