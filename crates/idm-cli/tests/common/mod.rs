//! The end-to-end harness: a real `idm-server` process on a temporary data directory and an
//! HTTPS port the kernel picks, and the real `idm` binary run against it with its own token
//! cache, so that tests can run in parallel without sharing anything.

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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// Cheap argon2 so that the debug-build server hashes quickly; for tests that do not care.
pub const FAST_HASH: &str = "[password.hash]\nm_cost_kib = 1024\nt_cost = 1\np_cost = 1\n";

/// A password the default policy accepts for any of the test accounts.
pub const STRONG: &str = "Quartz-Violin-Meadow-42-Ember";

/// How long the server gets to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one CLI or offline subcommand may run before it is killed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// The `idm` binary under test.
pub fn idm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_idm"))
}

/// `idm-server`, built next to `idm` (`cargo build --bins`).
pub fn server_bin() -> PathBuf {
    let idm = idm_bin();
    let dir = idm.parent().expect("the idm binary has a directory");
    let p = dir.join(format!("idm-server{}", std::env::consts::EXE_SUFFIX));
    if !p.is_file() {
        panic!(
            "{} is missing: run cargo build --bins (the e2e tests need the idm-server binary)",
            p.display()
        );
    }
    p
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Run {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The server the command talked to (pid and stderr log), described when it fails.
    server: Option<(u32, PathBuf)>,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert!(
            self.status.success(),
            "`{}` failed ({}):\nstderr:\n{}\nstdout:\n{}{}",
            self.what,
            self.status,
            self.stderr,
            self.stdout,
            self.server_note()
        );
        self.stdout
    }

    /// Whether the server is still there, and what it logged: a CLI failure is often only
    /// the symptom.
    fn server_note(&self) -> String {
        let Some((pid, log)) = &self.server else {
            return String::new();
        };
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_owned))
            });
        let alive = match state.as_deref() {
            Some("Z" | "X") | None => "HAS EXITED (killed from outside, or crashed)",
            Some(_) => "is running",
        };
        format!(
            "\nidm-server (pid {pid}) {alive}; its stderr:\n{}",
            read_log(log)
        )
    }

    /// Asserts a non-zero exit and returns stderr.
    #[track_caller]
    pub fn fails(self) -> String {
        assert!(
            !self.status.success(),
            "`{}` should have failed but succeeded:\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self.stderr
    }

    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs `cmd` to completion with `stdin` fed in, killing it after [`COMMAND_TIMEOUT`].
fn run_command(mut cmd: Command, stdin: Option<&[u8]>, what: String) -> Run {
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
        // The command may exit without reading everything; that is its business.
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
        nap = (nap * 2).min(Duration::from_millis(20));
    };
    let stdout = String::from_utf8(out.join().expect("stdout reader")).expect("stdout is UTF-8");
    let stderr = String::from_utf8(err.join().expect("stderr reader")).expect("stderr is UTF-8");
    Run {
        what,
        status,
        stdout,
        stderr,
        server: None,
    }
}

fn reader(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// One user's side of the CLI: a private cache directory (`XDG_CACHE_HOME`, and `HOME`).
pub struct Home {
    dir: TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for Home {
    fn default() -> Self {
        Home::new()
    }
}

/// A running (or stopped, restartable) `idm-server` on its own data directory.
pub struct Server {
    root: TempDir,
    data: PathBuf,
    config: Option<PathBuf>,
    child: Option<Child>,
    port: u16,
    log: PathBuf,
    starts: AtomicUsize,
}

impl Server {
    /// A fresh data directory with the server started on it.
    pub fn start(config_toml: Option<&str>) -> Server {
        let mut s = Server::prepare(config_toml);
        s.launch();
        s
    }

    /// A fresh (not yet existing) data directory and config, the server not started: for
    /// restore and import into an empty directory.
    pub fn prepare(config_toml: Option<&str>) -> Server {
        let root = tempfile::tempdir().expect("temp dir");
        let data = root.path().join("data");
        let config = config_toml.map(|text| {
            let p = root.path().join("idm.toml");
            std::fs::write(&p, text).expect("write config");
            p
        });
        let log = root.path().join("server.log");
        Server {
            root,
            data,
            config,
            child: None,
            port: 0,
            log,
            starts: AtomicUsize::new(0),
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// A scratch directory that lives as long as the server (for backups, exports, keys).
    pub fn scratch(&self) -> &Path {
        self.root.path()
    }

    pub fn port(&self) -> u16 {
        assert!(self.child.is_some(), "the server is not running");
        self.port
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port())
    }

    pub fn ca(&self) -> PathBuf {
        self.data.join("tls").join("ca.pem")
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the server on the data directory and waits for its listening line.
    pub fn launch(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let n = self.starts.fetch_add(1, Ordering::Relaxed);
        let log = self.root.path().join(format!("server-{n}.log"));
        self.log = log.clone();
        let stderr = File::create(&log).expect("create server log");
        let mut cmd = self.server_command();
        // No fixed ports: LDAPS would listen on 127.0.0.1:3636 by default, which parallel
        // tests would share; LDAP is not under test here.
        cmd.env("IDM_HTTPS_BIND", "127.0.0.1:0")
            .env("IDM_LDAPS_BIND", "off")
            .env("IDM_LDAP_STARTTLS_BIND", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server_bin().display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Keep draining after the listening line so the server never blocks on stdout.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more; keep reading anyway.
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let prefix = "idm-server listening on https://";
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix(prefix) {
                        let port = addr
                            .rsplit(':')
                            .next()
                            .and_then(|p| p.trim().parse::<u16>().ok())
                            .unwrap_or_else(|| panic!("bad listening line {line:?}"));
                        break port;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!(
                            "idm-server exited ({status}) before listening; stderr:\n{}",
                            read_log(&log)
                        );
                    }
                    if Instant::now() >= deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!(
                            "idm-server did not print its listening line within \
                             {START_TIMEOUT:?}; stderr:\n{}",
                            read_log(&log)
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.kill();
                    let status = child.wait();
                    panic!(
                        "idm-server closed stdout before listening ({status:?}); stderr:\n{}",
                        read_log(&log)
                    );
                }
            }
        };
        self.port = port;
        self.child = Some(child);
    }

    /// Stops the server gracefully (SIGTERM), as an operator would, and waits for it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let termed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    assert!(
                        status.success() || !termed,
                        "idm-server exited with {status} on SIGTERM; stderr:\n{}",
                        read_log(&self.log)
                    );
                    return;
                }
                Ok(None) if termed && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "idm-server did not stop on SIGTERM; stderr:\n{}",
                        read_log(&self.log)
                    );
                }
            }
        }
    }

    /// Stops and starts again on the same data directory (the port changes).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// The server's stderr so far (its current or last run).
    pub fn log(&self) -> String {
        read_log(&self.log)
    }

    /// `idm-server` with this data directory and config, for subcommands.
    fn server_command(&self) -> Command {
        let mut cmd = Command::new(server_bin());
        cmd.env("IDM_DATA", &self.data)
            .env("IDM_LOG", "warn")
            .env_remove("IDM_HTTPS_BIND")
            .env_remove("IDM_ORIGIN")
            .env_remove("IDM_LOG_FORMAT")
            .current_dir(self.root.path());
        match &self.config {
            Some(c) => cmd.env("IDM_CONFIG", c),
            None => cmd.env_remove("IDM_CONFIG"),
        };
        cmd
    }

    /// Runs an `idm-server` subcommand (through the admin socket while the server runs,
    /// directly on the data directory when it is stopped).
    pub fn admin(&self, args: &[&str]) -> Run {
        self.admin_with_stdin(args, None)
    }

    pub fn admin_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = self.server_command();
        cmd.args(args);
        run_command(
            cmd,
            stdin.map(str::as_bytes),
            format!("idm-server {}", args.join(" ")),
        )
    }

    /// `recover-account NAME --json`: the account's new password.
    pub fn recover(&self, name: &str) -> String {
        let out = self.admin(&["recover-account", name, "--json"]).ok();
        let v: Value = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("recover-account printed {out:?}: {e}"));
        assert_eq!(v["name"], name, "{out}");
        let pw = v["password"].as_str().expect("a password").to_owned();
        assert!(pw.len() >= 16, "recovered password is short: {pw:?}");
        pw
    }

    /// A new password for `admin`.
    pub fn admin_password(&self) -> String {
        self.recover("admin")
    }

    /// The `idm` CLI against this server, with `home`'s token cache.
    pub fn cli<'a>(&self, home: &'a Home) -> Cli<'a> {
        Cli {
            home,
            server: self.child.as_ref().map(|c| (c.id(), self.log.clone())),
            url: self.url(),
            ca: Some(self.ca()),
            args: Vec::new(),
            envs: Vec::new(),
            stdin: None,
        }
    }

    /// Logs `home` in as `name` with the CLI.
    #[track_caller]
    pub fn login(&self, home: &Home, name: &str, password: &str) {
        let out = self
            .cli(home)
            .args(["login", "-D", name, "--password-stdin"])
            .stdin(password)
            .ok();
        assert!(
            out.starts_with(&format!("logged in as {name} at {} until ", self.url())),
            "{out}"
        );
    }

    /// A new `Home` logged in as `admin` (with a fresh recovered password).
    pub fn admin_home(&self) -> Home {
        let home = Home::new();
        let pw = self.admin_password();
        self.login(&home, "admin", &pw);
        home
    }

    /// A direct HTTPS client, for setup that would be slow one CLI process at a time.
    pub fn api(&self, name: &str, password: &str) -> Api {
        Api::login(self, name, password)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn read_log(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| format!("(no log at {}: {e})", p.display()))
}

/// One `idm` invocation being put together.
pub struct Cli<'a> {
    home: &'a Home,
    server: Option<(u32, PathBuf)>,
    url: String,
    ca: Option<PathBuf>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    stdin: Option<String>,
}

impl Cli<'_> {
    pub fn arg(mut self, a: impl AsRef<str>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Replaces `--url`.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Replaces `--ca`.
    pub fn ca(mut self, ca: impl Into<PathBuf>) -> Self {
        self.ca = Some(ca.into());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.envs.push((k.to_owned(), v.to_owned()));
        self
    }

    /// The line fed to stdin (a newline is added).
    pub fn stdin(mut self, s: &str) -> Self {
        self.stdin = Some(format!("{s}\n"));
        self
    }

    /// Stdin exactly as given.
    pub fn stdin_raw(mut self, s: &str) -> Self {
        self.stdin = Some(s.to_owned());
        self
    }

    pub fn run(self) -> Run {
        let mut cmd = Command::new(idm_bin());
        cmd.arg("--url").arg(&self.url);
        if let Some(ca) = &self.ca {
            cmd.arg("--ca").arg(ca);
        }
        cmd.args(&self.args)
            .env_remove("IDM_URL")
            .env_remove("IDM_CA")
            .env_remove("IDM_TOKEN")
            .env("XDG_CACHE_HOME", self.home.path())
            .env("HOME", self.home.path())
            .current_dir(self.home.path());
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        let what = format!("idm {}", self.args.join(" "));
        let mut run = run_command(cmd, self.stdin.as_deref().map(str::as_bytes), what);
        run.server = self.server;
        run
    }

    #[track_caller]
    pub fn ok(self) -> String {
        self.run().ok()
    }

    #[track_caller]
    pub fn fails(self) -> String {
        self.run().fails()
    }

    /// With `--json`: asserts success and parses stdout.
    #[track_caller]
    pub fn json(self) -> Value {
        let out = self.arg("--json").ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }
}

/// A minimal HTTPS client of the `/v1` API with a session token.
pub struct Api {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Api {
    fn agent(server: &Server) -> ureq::Agent {
        use ureq::tls::{PemItem, RootCerts, TlsConfig};
        let pem = std::fs::read(server.ca()).expect("read the CA");
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
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .proxy(None)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build();
        ureq::Agent::new_with_config(config)
    }

    pub fn login(server: &Server, name: &str, password: &str) -> Api {
        let mut api = Api {
            agent: Api::agent(server),
            base: server.url(),
            token: String::new(),
        };
        let (status, v) = api.call(
            "POST",
            "/v1/auth",
            Some(&serde_json::json!({"name": name, "password": password})),
        );
        assert_eq!(status, 200, "login of {name} failed: {v}");
        api.token = v["token"].as_str().expect("a token").to_owned();
        api
    }

    /// A client without a token (for `/v1/auth`) on `server`.
    pub fn anonymous(server: &Server) -> Api {
        Api {
            agent: Api::agent(server),
            base: server.url(),
            token: String::new(),
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Sends a request; returns the status and the JSON body (`Null` when empty).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("accept", "application/json");
        if !self.token.is_empty() {
            req = req.header("authorization", format!("Bearer {}", self.token));
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

    #[track_caller]
    pub fn create_person(&self, name: &str, display_name: &str) -> Value {
        let (status, v) = self.call(
            "POST",
            "/v1/person",
            Some(&serde_json::json!({"name": name, "display_name": display_name})),
        );
        assert_eq!(status, 201, "create {name}: {v}");
        v
    }
}

/// The `name` fields of a JSON array of objects, in order.
pub fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| {
            x["name"]
                .as_str()
                .unwrap_or_else(|| panic!("no name in {x}"))
                .to_owned()
        })
        .collect()
}

/// A JSON array of strings as a vector.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| {
            x.as_str()
                .unwrap_or_else(|| panic!("not a string: {x}"))
                .to_owned()
        })
        .collect()
}
