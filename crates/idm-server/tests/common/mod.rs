//! A small harness for end-to-end tests of the server: the real `idm-server` binary on a
//! temporary data directory with ports the kernel picks, the admin API over HTTPS with the
//! break-glass admin's session, and external commands run with a timeout.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test harness: a failed step is a failed test"
)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

pub const SERVER: &str = env!("CARGO_BIN_EXE_idm-server");

/// Cheap argon2 (the debug-build server hashes in milliseconds), unless
/// [`Opts::shipped_argon2`].
pub const TEST_ARGON2: &str = "[password.hash]\nm_cost_kib = 1024\nt_cost = 1\np_cost = 1\n";

/// A soft lockout that tests making many binds (some with wrong passwords) from 127.0.0.1
/// never reach.
pub const TEST_CONFIG: &str = "\
     [lockout]\nmax_failures = 1000\n";

/// Rate limits those tests never reach, unless a test brings its own `[rate_limit]` table.
const TEST_RATE_LIMITS: &str = "[rate_limit]\nip_burst = 100000\nip_refill_secs = 0.001\n\
     account_burst = 100000\naccount_refill_secs = 0.001\n";

/// The public origin of test servers, hence the suffix `dc=idm,dc=example,dc=com`.
pub const ORIGIN: &str = "https://idm.example.com";
pub const BASE: &str = "dc=idm,dc=example,dc=com";

const START_TIMEOUT: Duration = Duration::from_secs(30);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// What to start.
#[derive(Default, Clone)]
pub struct Opts {
    /// TOML appended to [`TEST_CONFIG`] (e.g. an `[ldap]` table).
    pub extra_toml: String,
    /// Hash with the shipped argon2 cost (19 MiB, t = 2) instead of [`TEST_ARGON2`].
    pub shipped_argon2: bool,
    /// Also serve the plain StartTLS-only LDAP listener.
    pub starttls: bool,
    /// Also serve the plain-HTTP listener for reverse proxies (`IDM_HTTP_BIND`).
    pub plain_http: bool,
    /// Serve HTTPS on this port of 127.0.0.1 with the origin `https://localhost:<port>`
    /// (instead of [`ORIGIN`] on a port the kernel picks): a browser's WebAuthn needs the page's
    /// origin, port included, to be the server's. Pick it with [`free_port`].
    pub localhost_port: Option<u16>,
}

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    dir: TempDir,
    pub https_port: u16,
    pub ldaps_port: u16,
    /// The StartTLS listener, when asked for.
    pub ldap_port: Option<u16>,
    /// The plain-HTTP listener for reverse proxies, when asked for.
    pub http_port: Option<u16>,
    /// The suffix the server announced.
    pub base: String,
    /// The server's public origin (and OIDC issuer).
    pub origin: String,
    agent: ureq::Agent,
    admin_token: String,
}

impl Server {
    pub fn start(opts: Opts) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("idm.toml");
        let rate = if opts.extra_toml.contains("[rate_limit]") {
            ""
        } else {
            TEST_RATE_LIMITS
        };
        let argon2 = if opts.shipped_argon2 { "" } else { TEST_ARGON2 };
        std::fs::write(
            &config,
            format!("{argon2}\n{TEST_CONFIG}\n{rate}\n{}\n", opts.extra_toml),
        )
        .expect("write config");
        let log = File::create(dir.path().join("server.log")).expect("log file");
        let (origin, https_bind, want_base) = match opts.localhost_port {
            Some(p) => (
                format!("https://localhost:{p}"),
                format!("127.0.0.1:{p}"),
                "dc=localhost",
            ),
            None => (ORIGIN.to_owned(), "127.0.0.1:0".to_owned(), BASE),
        };
        let mut cmd = Command::new(SERVER);
        cmd.env("IDM_DATA", dir.path().join("data"))
            .env("IDM_CONFIG", &config)
            .env("IDM_ORIGIN", &origin)
            .env("IDM_HTTPS_BIND", &https_bind)
            .env("IDM_LDAPS_BIND", "127.0.0.1:0")
            .env(
                "IDM_LDAP_STARTTLS_BIND",
                if opts.starttls { "127.0.0.1:0" } else { "off" },
            )
            .env(
                "IDM_HTTP_BIND",
                if opts.plain_http {
                    "127.0.0.1:0"
                } else {
                    "off"
                },
            )
            // Request lines are debug-level; tests read them (e.g. that no secret is logged).
            .env("IDM_LOG", "info,idm_server=debug")
            .env("IDM_LOG_FORMAT", "text")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = cmd.spawn().expect("spawn idm-server");
        let want = 2 + usize::from(opts.starttls) + usize::from(opts.plain_http);
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            for _ in 0..want {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if tx.send(line).is_err() {
                    return;
                }
            }
            // Keep reading (and dropping) so the server never sees a closed stdout.
            let mut sink = Vec::new();
            let _ = r.read_to_end(&mut sink);
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut lines = Vec::new();
        while lines.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => lines.push(l),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "idm-server printed {lines:?} and then nothing; log:\n{}",
                        std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
                    );
                }
            }
        }
        let port_of = |prefix: &str| -> Option<u16> {
            lines.iter().find_map(|l| {
                let rest = l.strip_prefix(prefix)?;
                let addr = rest.split_whitespace().next()?;
                addr.rsplit(':').next()?.parse().ok()
            })
        };
        let https_port = port_of("idm-server listening on https://").expect("https line");
        let ldaps_port = port_of("idm-server ldaps on ldaps://").expect("ldaps line");
        let ldap_port = port_of("idm-server ldap on ldap://");
        assert_eq!(ldap_port.is_some(), opts.starttls, "{lines:?}");
        let http_port = port_of("idm-server plain http on http://");
        assert_eq!(http_port.is_some(), opts.plain_http, "{lines:?}");
        let base = lines
            .iter()
            .find_map(|l| l.split_once(" base ").map(|(_, b)| b.trim().to_owned()))
            .expect("the base DN");
        assert_eq!(
            base, want_base,
            "the suffix comes from the origin's host name"
        );

        let agent = agent(&dir.path().join("data/tls/ca.pem"));
        let mut srv = Server {
            child,
            dir,
            https_port,
            ldaps_port,
            ldap_port,
            http_port,
            base,
            origin,
            agent,
            admin_token: String::new(),
        };
        let out = srv.offline(&["recover-account", "admin", "--json"]);
        let rec: Value = serde_json::from_str(&out).expect("recover-account JSON");
        let (status, v) = srv.call_as(
            None,
            "POST",
            "/v1/auth",
            Some(&json!({"name": "admin", "password": rec["password"]})),
        );
        assert_eq!(status, 200, "admin login: {v}");
        srv.admin_token = v["token"].as_str().expect("token").to_owned();
        srv
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `kB` line of the server's `/proc/PID/status` (e.g. `VmRSS`), in KiB.
    pub fn status_kib(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in /proc/PID/status"))
    }

    /// Names of the server's threads (`/proc/PID/task/*/comm`).
    pub fn thread_names(&self) -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .expect("/proc/PID/task")
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|n| n.trim().to_owned())
            .collect()
    }

    /// The temporary directory (config, data, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The development CA that signed the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("data/tls/ca.pem")
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// An `idm-server` subcommand on this data directory (through the admin socket).
    pub fn offline(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(SERVER);
        cmd.args(args)
            .env("IDM_DATA", self.dir.path().join("data"))
            .env("IDM_CONFIG", self.dir.path().join("idm.toml"));
        run(cmd, None).ok()
    }

    /// Sends a request with a bearer token (or none); returns the status and JSON body.
    pub fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("https://localhost:{}{path}", self.https_port);
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("accept", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = match body {
            Some(b) => self.agent.run(
                req.header("content-type", "application/json")
                    .body(serde_json::to_vec(b).expect("serialise"))
                    .expect("request"),
            ),
            None => self.agent.run(req.body(()).expect("request")),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().expect("response body");
        let v = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {url}: {e}: {text}"))
        };
        (status, v)
    }

    /// The admin's session token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// As admin; asserts a 2xx answer.
    #[track_caller]
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call_as(Some(&self.admin_token), method, path, body.as_ref());
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {v}"
        );
        v
    }

    /// The newest audit entries (as admin).
    pub fn audit(&self, limit: usize) -> Vec<Value> {
        let v = self.api("GET", &format!("/v1/audit?limit={limit}"), None);
        v["entries"].as_array().expect("entries").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent(ca: &Path) -> ureq::Agent {
    agent_with(ca, true)
}

/// An HTTPS agent trusting only the test CA; `follow_redirects: false` returns 3xx answers as they
/// are (a browser test reads `Location` itself).
pub fn agent_with(ca: &Path, follow_redirects: bool) -> ureq::Agent {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let pem = std::fs::read(ca).expect("read the CA");
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    assert!(!certs.is_empty(), "no certificate in the CA file");
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::Specific(Arc::new(certs)))
        .build();
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .tls_config(tls)
            .proxy(None)
            .http_status_as_error(false)
            .max_redirects(if follow_redirects { 10 } else { 0 })
            .max_redirects_will_error(follow_redirects)
            .timeout_global(Some(Duration::from_secs(30)))
            .build(),
    )
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Run {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert!(
            self.status.success(),
            "`{}` failed ({}):\nstderr:\n{}\nstdout:\n{}",
            self.what,
            self.status,
            self.stderr,
            self.stdout
        );
        self.stdout
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code(self, want: i32) -> Run {
        assert_eq!(
            self.status.code(),
            Some(want),
            "`{}` exited with {} instead of {want}:\nstderr:\n{}\nstdout:\n{}",
            self.what,
            self.status,
            self.stderr,
            self.stdout
        );
        self
    }
}

/// Runs `cmd` to completion with `stdin` fed in, killing it after a minute.
pub fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Run {
    let what = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let _ = pipe.write_all(input);
    }
    let out = reader(child.stdout.take().expect("stdout is piped"));
    let err = reader(child.stderr.take().expect("stderr is piped"));
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let mut nap = Duration::from_millis(1);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for a command") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`{what}` did not finish within {COMMAND_TIMEOUT:?}; stderr so far:\n{}",
                String::from_utf8_lossy(&err.join().unwrap_or_default())
            );
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10));
    };
    Run {
        what,
        status,
        stdout: String::from_utf8_lossy(&out.join().expect("stdout reader")).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().expect("stderr reader")).into_owned(),
    }
}

fn reader(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick, released again).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// Whether `prog` is on `PATH` (or, with a slash, exists).
pub fn have(prog: &str) -> bool {
    if prog.contains('/') {
        return Path::new(prog).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}
