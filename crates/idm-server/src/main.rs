//! `idm-server`: with no arguments, serve with embedded defaults; subcommands administer the
//! data directory, through the running server's admin socket or, when it is stopped, directly.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use idm_server::config::{Config, LogFormat};
use idm_server::ops::{self, AdminRequest};
use idm_server::{admin, serve};

#[derive(Parser)]
#[command(name = "idm-server", version, about = "The idm identity server")]
struct Cli {
    /// TOML configuration file (environment variables IDM_* override it).
    #[arg(long, short, global = true, env = "IDM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve (the default).
    Run,
    /// Give a person a new random password, printed once; clears locks and failures.
    RecoverAccount {
        name: String,
        /// Print {"name":…,"password":…}.
        #[arg(long)]
        json: bool,
    },
    /// Write a consistent backup (secrets and audit log included) to FILE.
    Backup { file: PathBuf },
    /// Restore FILE into an empty data directory (the server must not be running on it).
    Restore { file: PathBuf },
    /// Check that indexes agree with entries and that the audit chain is unbroken.
    Verify,
    /// Print the canonical JSON of the whole model.
    Export {
        /// Include password hashes and token digests.
        #[arg(long)]
        secrets: bool,
    },
    /// Upsert the entries of a canonical JSON document (FILE, or - for stdin).
    Import { file: PathBuf },
    /// Publish new OIDC signing keys; they sign after `oidc.key_publish_secs`, and the old keys
    /// stay published until the longest token lifetime has passed.
    RotateKeys,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.cmd.unwrap_or(Cmd::Run) {
        Cmd::Run => {
            init_logging(cfg.log_format);
            let rt = match serve::runtime() {
                Ok(rt) => rt,
                Err(e) => return fail(&e.to_string()),
            };
            match rt.block_on(serve::run(cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e.to_string()),
            }
        }
        Cmd::Restore { file } => restore(&cfg, &file),
        Cmd::RecoverAccount { name, json } => {
            admin_op(&cfg, AdminRequest::RecoverAccount { name }, |v| {
                let name = v["name"].as_str().unwrap_or_default();
                let pw = v["password"].as_str().unwrap_or_default();
                if json {
                    println!("{}", serde_json::json!({ "name": name, "password": pw }));
                } else {
                    println!("new password for {name}: {pw}");
                }
            })
        }
        Cmd::Backup { file } => {
            let path = absolute(&file);
            admin_op(
                &cfg,
                AdminRequest::Backup {
                    path: path.display().to_string(),
                },
                |v| {
                    println!(
                        "backup written to {} ({} entries, {} audit entries, sha256 {})",
                        path.display(),
                        v["entries"],
                        v["audit_entries"],
                        v["sha256"].as_str().unwrap_or_default()
                    );
                },
            )
        }
        Cmd::Verify => {
            let mut problems = 0;
            let code = admin_op(&cfg, AdminRequest::Verify, |v| {
                let list = v["problems"].as_array().cloned().unwrap_or_default();
                problems = list.len();
                for p in &list {
                    println!("problem: {}", p.as_str().unwrap_or_default());
                }
                println!(
                    "verified {} entries and {} audit entries: {}",
                    v["entries"],
                    v["audit_entries"],
                    if list.is_empty() {
                        "ok"
                    } else {
                        "PROBLEMS FOUND"
                    }
                );
            });
            if problems > 0 {
                ExitCode::from(1)
            } else {
                code
            }
        }
        Cmd::Export { secrets } => admin_op(&cfg, AdminRequest::Export { secrets }, |v| {
            println!("{}", v.as_str().unwrap_or_default());
        }),
        Cmd::RotateKeys => admin_op(&cfg, AdminRequest::RotateKeys, |v| {
            for k in v["keys"].as_array().cloned().unwrap_or_default() {
                let at = k["activate_at"]
                    .as_i64()
                    .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default();
                println!(
                    "{} key {} {} signing from {at}",
                    k["alg"].as_str().unwrap_or_default(),
                    k["kid"].as_str().unwrap_or_default(),
                    if k["created"].as_bool().unwrap_or(false) {
                        "published,"
                    } else {
                        "already published,"
                    },
                );
            }
            println!(
                "old keys stay published for {} s after the switch",
                v["retired_keys_published_for_secs"]
            );
        }),
        Cmd::Import { file } => {
            let mut json = String::new();
            let read = if file.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut json)
            } else {
                std::fs::File::open(&file).and_then(|mut f| f.read_to_string(&mut json))
            };
            if let Err(e) = read {
                return fail(&format!("{}: {e}", file.display()));
            }
            admin_op(&cfg, AdminRequest::Import { json }, |_| {
                println!("import done")
            })
        }
    }
}

/// Sends the request to a running server, or performs it on the data directory directly.
fn admin_op(cfg: &Config, req: AdminRequest, show: impl FnOnce(&serde_json::Value)) -> ExitCode {
    match admin::call(&cfg.socket_path(), &req) {
        Ok(Some(resp)) if resp.ok => {
            show(&resp.result);
            ExitCode::SUCCESS
        }
        Ok(Some(resp)) => fail(&resp.error),
        Ok(None) => {
            let creates = matches!(req, AdminRequest::Import { .. });
            if !creates && !cfg.db_path().exists() {
                return fail(&format!(
                    "no database at {} (start the server once, or set IDM_DATA)",
                    cfg.db_path().display()
                ));
            }
            if let Err(e) = serve::ensure_data_dir(cfg) {
                return fail(&e.to_string());
            }
            let store = match serve::open_store(cfg) {
                Ok(s) => s,
                Err(e) => return fail(&e.to_string()),
            };
            if let Err(e) = store.ensure_builtins(chrono::Utc::now()) {
                return fail(&e.to_string());
            }
            match ops::handle(&store, cfg, None, req) {
                Ok(v) => {
                    show(&v);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.to_string()),
            }
        }
        Err(e) => fail(&format!(
            "admin socket {}: {e}",
            cfg.socket_path().display()
        )),
    }
}

fn restore(cfg: &Config, file: &Path) -> ExitCode {
    if let Err(e) = serve::ensure_data_dir(cfg) {
        return fail(&e.to_string());
    }
    let mut f = match std::fs::File::open(file) {
        Ok(f) => std::io::BufReader::new(f),
        Err(e) => return fail(&format!("{}: {e}", file.display())),
    };
    let store_cfg = idm_store::StoreConfig {
        id_range: cfg.posix,
        cache_bytes: cfg.store.cache_mib.saturating_mul(1024 * 1024),
    };
    match idm_store::restore_file(&cfg.db_path(), &mut f, store_cfg) {
        Ok(info) => {
            println!(
                "restored {} entries and {} audit entries into {}",
                info.entries,
                info.audit_entries,
                cfg.data_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(1)
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("IDM_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a terminal: escape codes in a log file or journal are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.init(),
    }
}
