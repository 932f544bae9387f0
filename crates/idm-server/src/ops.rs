//! The whole-store operations behind the offline subcommands, shared by the admin socket (the
//! server running) and direct access to the data directory (the server stopped).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chrono::Utc;
use idm_mfa::{Password, hash_password};
use idm_model::PasswordCredential;
use idm_model::access::ADMIN;
use idm_model::api::Recovered;
use idm_model::audit::Actor;
use idm_model::change::Change;
use idm_model::export::Snapshot;
use idm_store::{BackupInfo, Store, VerifyReport};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::AppError;
use crate::hashpool::HashPool;
use crate::rng;

/// A request over the admin socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AdminRequest {
    RecoverAccount {
        name: String,
    },
    Backup {
        path: String,
    },
    Verify,
    Export {
        secrets: bool,
    },
    Import {
        json: String,
    },
    /// Publishes the next OIDC signing keys (see `oidc::keys`).
    RotateKeys,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AdminResponse {
    pub ok: bool,
    #[serde(default)]
    pub result: serde_json::Value,
    #[serde(default)]
    pub error: String,
}

/// Carries out one admin request. `pool` is the running server's argon2 threads (`None` when
/// the server is stopped and this process exits after the one request).
pub fn handle(
    store: &Store,
    cfg: &Config,
    pool: Option<&HashPool>,
    req: AdminRequest,
) -> Result<serde_json::Value, AppError> {
    match req {
        AdminRequest::RecoverAccount { name } => {
            serde_json::to_value(recover_account(store, cfg, pool, &name)?)
                .map_err(|e| AppError::Internal(e.to_string()))
        }
        AdminRequest::Backup { path } => {
            let info = backup(store, Path::new(&path))?;
            Ok(serde_json::json!({
                "path": path,
                "entries": info.entries,
                "audit_entries": info.audit_entries,
                "bytes": info.bytes,
                "sha256": info.sha256,
            }))
        }
        AdminRequest::Verify => {
            let r = verify(store)?;
            Ok(serde_json::json!({
                "entries": r.entries,
                "audit_entries": r.audit_entries,
                "problems": r.problems,
            }))
        }
        AdminRequest::Export { secrets } => Ok(serde_json::Value::String(export(store, secrets)?)),
        AdminRequest::Import { json } => {
            Ok(serde_json::json!({ "audit_seq": import(store, json.as_bytes())? }))
        }
        AdminRequest::RotateKeys => {
            let now = Utc::now();
            let retire_after = crate::oidc::keys::retire_after(store)?;
            let keys = crate::oidc::keys::rotate_keys(
                store,
                now,
                cfg.oidc.key_publish_secs,
                retire_after,
            )?;
            store.record(
                idm_model::audit::AuditEvent {
                    at: now,
                    actor: Actor::system("rotate-keys"),
                    action: "oauth2.rotate_keys".into(),
                    target: None,
                    outcome: idm_model::audit::Outcome::Success,
                    summary: keys
                        .iter()
                        .map(|k| {
                            format!(
                                "{} {} signs from {}{}",
                                k.alg,
                                k.kid,
                                k.activate_at,
                                if k.created { "" } else { " (already waiting)" }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                    source: None,
                },
                None,
            )?;
            serde_json::to_value(serde_json::json!({
                "keys": keys,
                "retired_keys_published_for_secs": retire_after,
            }))
            .map_err(|e| AppError::Internal(e.to_string()))
        }
    }
}

/// Gives a person a new random password and clears its lock and failure count; the password
/// is returned once and never stored in the clear. This is how the break-glass `admin`
/// account gets its password. The hash runs on `pool` when the server is running, like every
/// other argon2 call of the server (see `hashpool`), and on this thread otherwise.
pub fn recover_account(
    store: &Store,
    cfg: &Config,
    pool: Option<&HashPool>,
    name: &str,
) -> Result<Recovered, AppError> {
    let e = store
        .get_by_name(name)?
        .ok_or_else(|| AppError::NotFound(format!("no account named {name:?}")))?;
    if e.kind() != idm_model::EntryKind::Person {
        return Err(AppError::BadRequest(format!(
            "{name} is a {}; only persons have passwords",
            e.kind()
        )));
    }
    let password = rng::password()?;
    let salt = rng::array::<16>()?;
    let typed = Password::new(password.clone());
    let params = cfg.password.hash;
    let phc = match pool {
        Some(pool) => pool.run(move |h| h.hash(&typed, &salt, &params))?,
        None => hash_password(&typed, &salt, &params),
    }
    .map_err(|e| AppError::Internal(e.to_string()))?;
    let now = Utc::now();
    let actor = Actor::system("recover-account");
    let _ = store.apply(
        &Change::SetPassword {
            uuid: e.uuid(),
            credential: PasswordCredential { phc, set_at: now },
            reason: if name == ADMIN {
                "recover-account (break-glass account)".into()
            } else {
                "recover-account".into()
            },
        },
        &actor,
        now,
        None,
    )?;
    if e.lock().is_some() {
        let _ = store.apply(&Change::Unlock { uuid: e.uuid() }, &actor, now, None)?;
    } else {
        // Forgive recent failures as well, so the new password works at once.
        store.record(
            idm_model::audit::AuditEvent {
                at: now,
                actor: actor.clone(),
                action: "auth.reset_failures".into(),
                target: Some(idm_model::audit::Target {
                    uuid: Some(e.uuid()),
                    name: name.to_owned(),
                }),
                outcome: idm_model::audit::Outcome::Success,
                summary: "failure count cleared by recover-account".into(),
                source: None,
            },
            Some((e.uuid(), None)),
        )?;
    }
    Ok(Recovered {
        name: name.to_owned(),
        password,
    })
}

/// Writes a backup next to `path` and renames it into place, owner-only (it holds hashes).
pub fn backup(store: &Store, path: &Path) -> Result<BackupInfo, AppError> {
    let tmp = path.with_extension("partial");
    let io = |e: std::io::Error| AppError::BadRequest(format!("{}: {e}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    let result = (|| {
        let mut w = std::io::BufWriter::new(&mut f);
        let info = store.backup(&mut w, Utc::now())?;
        w.flush().map_err(io)?;
        drop(w);
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(info)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub fn verify(store: &Store) -> Result<VerifyReport, AppError> {
    Ok(store.verify()?)
}

pub fn export(store: &Store, secrets: bool) -> Result<String, AppError> {
    Ok(store.snapshot(secrets)?.to_json()?)
}

pub fn import(store: &Store, json: &[u8]) -> Result<u64, AppError> {
    let snap = Snapshot::from_json(json)?;
    for p in &snap.persons {
        for (label, key) in &p.ssh_keys {
            idm_ssh::SshPublicKey::parse(key, &idm_ssh::KeyPolicy::default())
                .map_err(|e| AppError::SshKey(format!("person {:?} key {label:?}: {e}", p.name)))?;
        }
    }
    let seq = store.import(&snap, &Actor::system("import"), Utc::now())?;
    store.ensure_builtins(Utc::now())?;
    Ok(seq)
}
