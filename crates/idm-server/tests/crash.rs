//! A crash (SIGKILL) in the middle of a stream of writes loses no acknowledged write and
//! leaves a database that opens and verifies. Runs the real server, many times.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ureq::tls::{PemItem, RootCerts, TlsConfig};

const SERVER: &str = env!("CARGO_BIN_EXE_idm-server");

const CHEAP_HASH: &str = "[password.hash]\nm_cost_kib = 1024\nt_cost = 1\np_cost = 1\n";

fn start(dir: &Path) -> (Child, u16) {
    let mut child = Command::new(SERVER)
        .env("IDM_DATA", dir.join("data"))
        .env("IDM_HTTPS_BIND", "127.0.0.1:0")
        .env("IDM_LDAPS_BIND", "127.0.0.1:0")
        .env("IDM_CONFIG", dir.join("idm.toml"))
        .env("IDM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn idm-server");
    let out = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).expect("read");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no listening line: {line:?}"));
    (child, port)
}

fn offline(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(SERVER)
        .args(args)
        .env("IDM_DATA", dir.join("data"))
        .env("IDM_CONFIG", dir.join("idm.toml"))
        .output()
        .expect("run idm-server");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn agent(dir: &Path) -> ureq::Agent {
    let pem = std::fs::read(dir.join("data/tls/ca.pem")).expect("ca");
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::Specific(Arc::new(certs)))
        .build();
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .tls_config(tls)
            .proxy(None)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build(),
    )
}

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("idm.toml"), CHEAP_HASH).expect("config");
    let mut acked: Vec<String> = Vec::new();
    let rounds = 12;
    for round in 0..rounds {
        let (mut child, port) = start(dir.path());
        if round == 0 {
            let (ok, out, err) = offline(dir.path(), &["recover-account", "admin", "--json"]);
            assert!(ok, "{err}");
            std::fs::write(dir.path().join("pw.json"), out).expect("pw");
        }
        let pw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("pw.json")).expect("pw"))
                .expect("json");
        let a = agent(dir.path());
        let base = format!("https://localhost:{port}");
        let tok: serde_json::Value = a
            .post(&format!("{base}/v1/auth"))
            .send_json(serde_json::json!({"name": "admin", "password": pw["password"]}))
            .expect("auth")
            .body_mut()
            .read_json()
            .expect("auth json");
        let token = tok["token"].as_str().expect("token").to_owned();

        // Write a stream of persons; kill the server at a varying moment while writes fly.
        let stop = Arc::new(AtomicBool::new(false));
        let kill_after = Duration::from_millis(40 + (round as u64 * 37) % 200);
        let writer = {
            let stop = stop.clone();
            let (a, base, token) = (a.clone(), base.clone(), token.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("r{round}p{i}");
                    let r = a
                        .post(&format!("{base}/v1/person"))
                        .header("authorization", &format!("Bearer {token}"))
                        .send_json(serde_json::json!({"name": name, "display_name": "Crash Test"}));
                    match r {
                        Ok(resp) if resp.status() == 201 => mine.push(name),
                        _ => break,
                    }
                    i += 1;
                }
                mine
            })
        };
        let t = Instant::now();
        while t.elapsed() < kill_after {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        stop.store(true, Ordering::Relaxed);
        let mine = writer.join().expect("writer");
        acked.extend(mine);

        // Offline: the database opens, verifies, and holds every acknowledged write.
        let (ok, out, err) = offline(dir.path(), &["verify"]);
        assert!(ok, "round {round}: verify failed: {out}{err}");
        assert!(out.contains(": ok"), "{out}");
        let (ok, out, err) = offline(dir.path(), &["export"]);
        assert!(ok, "{err}");
        let snap: serde_json::Value = serde_json::from_str(&out).expect("export json");
        let names: std::collections::BTreeSet<&str> = snap["persons"]
            .as_array()
            .expect("persons")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for n in &acked {
            assert!(
                names.contains(n.as_str()),
                "round {round}: acknowledged {n} lost"
            );
        }
    }
    assert!(
        acked.len() > rounds,
        "too few writes were acknowledged to mean anything"
    );
}
