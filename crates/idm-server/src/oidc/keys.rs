//! The provider's signing keys: made at first start, kept in the store, rotated on demand.
//!
//! Each key is one `EphemeralKind::SigningKey` record under its `kid`, in one of three states:
//! - **next**: published in the JWKS, not yet signing. `idm-server rotate-keys` makes one per
//!   algorithm in use; it becomes active `oidc.key_publish_secs` later (default 15 minutes, three
//!   times the JWKS `max-age`), so relying parties have fetched it before they see it in a token.
//! - **active**: signs. One per algorithm: ES256 always (made at first start); RS256 and PS256
//!   only once a client asks for them (RSA key generation takes seconds).
//! - **retired**: the public half only (the private key is erased from the record when it
//!   retires), still published and accepted, until the longest token lifetime of any client has
//!   passed; the record then expires and the store's sweeper removes it.
//!
//! Private keys are stored as PKCS#8 PEM and never leave through any endpoint; the in-memory
//! copies are zeroized on drop (`idm_oidc::SigningKey`, and the PEM strings here).
//!
//! Every server node runs the same [`plan`] against the store (a background check each minute),
//! so transitions happen once whichever node sees them first.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use idm_oidc::{Jwk, JwsAlg, KeySet, SigningKey};
use idm_store::{EphemeralKind, Store, Update};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::error::AppError;
use crate::rng;

/// RSA modulus size for RS256/PS256 keys.
pub const RSA_BITS: usize = 2048;

/// Expiry of records that do not expire (active and next keys): a hundred years.
const FOREVER_SECS: i64 = 100 * 365 * 86_400;

/// Retired keys stay published at least this long after the longest token lifetime, for
/// clock skew between the server and relying parties.
const RETIRE_MARGIN_SECS: i64 = 300;

/// A signing key as stored.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredKey {
    pub kid: String,
    pub alg: JwsAlg,
    pub created_at: i64,
    pub state: KeyState,
    /// PKCS#8 PEM of the private key; empty once retired. Zeroized on drop.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pem: String,
    /// The public JWK.
    pub public: Jwk,
}

impl Drop for StoredKey {
    fn drop(&mut self) {
        self.pem.zeroize();
    }
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum KeyState {
    /// Published; signs from `activate_at`.
    Next { activate_at: i64 },
    /// Signs.
    Active,
    /// Published and accepted until `drop_at`, never signs.
    Retired { drop_at: i64 },
}

/// A change [`plan`] asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The key stops signing; its private half is erased; it stays published until `drop_at`.
    Retire { kid: String, drop_at: i64 },
    /// The next key starts signing.
    Activate { kid: String },
}

/// What `rotate-keys` did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotatedKey {
    pub kid: String,
    pub alg: String,
    /// Unix seconds from which it signs.
    pub activate_at: i64,
    /// `false` when a next key for this algorithm was already waiting (nothing new was made).
    pub created: bool,
}

impl StoredKey {
    /// A new key for `alg` (RSA: slow).
    pub fn generate(alg: JwsAlg, state: KeyState, now: i64) -> Result<StoredKey, AppError> {
        let kid = format!(
            "{}-{}",
            alg.as_str().to_ascii_lowercase(),
            rng::token::<12>()?
        );
        let mut r = rng::crypto_rng()?;
        let key = match alg {
            JwsAlg::ES256 => SigningKey::generate_es256(&kid, &mut r),
            _ => SigningKey::generate_rsa(&kid, alg, RSA_BITS, &mut r),
        }
        .map_err(|e| AppError::Internal(format!("signing key generation: {e}")))?;
        let pem = key
            .to_pkcs8_pem()
            .map_err(|e| AppError::Internal(format!("signing key export: {e}")))?;
        Ok(StoredKey {
            kid,
            alg,
            created_at: now,
            state,
            pem: pem.as_str().to_owned(),
            public: key.verifying_key().to_jwk(),
        })
    }

    fn signing_key(&self) -> Result<SigningKey, AppError> {
        SigningKey::from_pkcs8_pem(&self.kid, self.alg, &self.pem)
            .map_err(|e| AppError::Internal(format!("signing key {}: {e}", self.kid)))
    }

    /// When the store may forget the record.
    fn expires_at(&self, now: i64) -> DateTime<Utc> {
        let at = match self.state {
            KeyState::Retired { drop_at } => drop_at,
            _ => now.saturating_add(FOREVER_SECS),
        };
        DateTime::from_timestamp(at, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// The transitions due at `now`: each next key whose time has come becomes active, and the
/// active key of its algorithm retires until `now + retire_after`. Pure, so that the schedule is
/// a table test.
#[must_use]
pub fn plan(keys: &[StoredKey], now: i64, retire_after: i64) -> Vec<Transition> {
    let mut out = Vec::new();
    for next in keys {
        let KeyState::Next { activate_at } = next.state else {
            continue;
        };
        if activate_at > now {
            continue;
        }
        for old in keys
            .iter()
            .filter(|k| k.alg == next.alg && k.state == KeyState::Active)
        {
            out.push(Transition::Retire {
                kid: old.kid.clone(),
                drop_at: now.saturating_add(retire_after),
            });
        }
        out.push(Transition::Activate {
            kid: next.kid.clone(),
        });
    }
    out
}

/// Builds the key set: one active key per algorithm (the newest, should two nodes have made
/// one each; the others are kept as retired so their tokens verify), the next keys, and the
/// retired public keys.
pub fn key_set(keys: &[StoredKey]) -> Result<KeySet, AppError> {
    let mut active: BTreeMap<JwsAlg, &StoredKey> = BTreeMap::new();
    let mut demoted = Vec::new();
    for k in keys.iter().filter(|k| k.state == KeyState::Active) {
        match active.get(&k.alg) {
            Some(cur) if (cur.created_at, &cur.kid) >= (k.created_at, &k.kid) => demoted.push(k),
            Some(cur) => {
                demoted.push(*cur);
                active.insert(k.alg, k);
            }
            None => {
                active.insert(k.alg, k);
            }
        }
    }
    let signing = active
        .values()
        .map(|k| k.signing_key())
        .collect::<Result<Vec<_>, _>>()?;
    let mut set = KeySet::new(signing).map_err(|e| AppError::Internal(format!("key set: {e}")))?;
    let mut next_seen: BTreeSet<JwsAlg> = BTreeSet::new();
    for k in keys {
        let r = match k.state {
            KeyState::Next { .. } if next_seen.insert(k.alg) => k.signing_key().and_then(|s| {
                set.add_next(s)
                    .map_err(|e| AppError::Internal(format!("key set: {e}")))
            }),
            KeyState::Next { .. } | KeyState::Active => continue,
            KeyState::Retired { .. } => add_public(&mut set, k),
        };
        if let Err(e) = r {
            tracing::warn!(kid = %k.kid, error = %e, "signing key left out of the key set");
        }
    }
    for k in demoted {
        if let Err(e) = add_public(&mut set, k) {
            tracing::warn!(kid = %k.kid, error = %e, "signing key left out of the key set");
        }
    }
    Ok(set)
}

fn add_public(set: &mut KeySet, k: &StoredKey) -> Result<(), AppError> {
    let vk = k
        .public
        .to_verifying_key()
        .map_err(|e| AppError::Internal(format!("stored public key {}: {e}", k.kid)))?;
    set.add_retired(vk)
        .map_err(|e| AppError::Internal(format!("key set: {e}")))
}

/// Every stored key.
pub fn load(store: &Store, now: DateTime<Utc>) -> Result<Vec<StoredKey>, AppError> {
    Ok(store
        .list_ephemeral::<StoredKey>(EphemeralKind::SigningKey, now)?
        .into_iter()
        .map(|(_, r)| r.value)
        .collect())
}

fn put(store: &Store, key: &StoredKey, now: i64) -> Result<(), AppError> {
    store.put_ephemeral(
        EphemeralKind::SigningKey,
        &key.kid,
        key,
        key.expires_at(now),
    )?;
    Ok(())
}

/// Carries out the due transitions (see [`plan`]); returns whether anything changed. Each
/// transition is one read-modify-write, idempotent, so nodes racing here do no harm.
pub fn advance(store: &Store, now: DateTime<Utc>, retire_after: i64) -> Result<bool, AppError> {
    let keys = load(store, now)?;
    let todo = plan(&keys, now.timestamp(), retire_after);
    for t in &todo {
        let (kid, new_state) = match t {
            Transition::Retire { kid, drop_at } => (kid, KeyState::Retired { drop_at: *drop_at }),
            Transition::Activate { kid } => (kid, KeyState::Active),
        };
        store.update_ephemeral::<StoredKey, ()>(EphemeralKind::SigningKey, kid, now, |cur| {
            match cur {
                Some(r) => {
                    let mut k = r.value;
                    k.state = new_state;
                    if matches!(new_state, KeyState::Retired { .. }) {
                        k.pem.zeroize();
                        k.pem.clear();
                    }
                    let exp = k.expires_at(now.timestamp());
                    (Update::Put(k, exp), ())
                }
                None => (Update::Keep, ()),
            }
        })?;
        tracing::info!(?t, "signing key transition");
    }
    Ok(!todo.is_empty())
}

/// Makes sure an active ES256 key exists (first start).
pub fn ensure_es256(store: &Store, now: DateTime<Utc>) -> Result<(), AppError> {
    ensure_alg(store, JwsAlg::ES256, now).map(|_| ())
}

/// Makes sure an active key for `alg` exists, generating one if not (seconds for RSA: call it
/// off the async threads).
pub fn ensure_alg(store: &Store, alg: JwsAlg, now: DateTime<Utc>) -> Result<bool, AppError> {
    let keys = load(store, now)?;
    if keys
        .iter()
        .any(|k| k.alg == alg && k.state == KeyState::Active)
    {
        return Ok(false);
    }
    let key = StoredKey::generate(alg, KeyState::Active, now.timestamp())?;
    put(store, &key, now.timestamp())?;
    tracing::info!(kid = %key.kid, %alg, "made a signing key");
    Ok(true)
}

/// `idm-server rotate-keys`: for every algorithm with an active key, publishes a next key that
/// starts signing `publish_secs` from now (at once when 0; the running server picks it up within
/// a minute). The retired key stays published for `retire_after` seconds after that.
pub fn rotate_keys(
    store: &Store,
    now: DateTime<Utc>,
    publish_secs: i64,
    retire_after: i64,
) -> Result<Vec<RotatedKey>, AppError> {
    let keys = load(store, now)?;
    let mut algs: Vec<JwsAlg> = keys
        .iter()
        .filter(|k| k.state == KeyState::Active)
        .map(|k| k.alg)
        .collect();
    if algs.is_empty() {
        algs.push(JwsAlg::ES256);
    }
    algs.sort();
    algs.dedup();
    let t = now.timestamp();
    let mut out = Vec::new();
    for alg in algs {
        let pending = keys.iter().find_map(|k| match k.state {
            KeyState::Next { activate_at } if k.alg == alg => Some((k, activate_at)),
            _ => None,
        });
        if let Some((pending, activate_at)) = pending {
            out.push(RotatedKey {
                kid: pending.kid.clone(),
                alg: alg.to_string(),
                activate_at,
                created: false,
            });
            continue;
        }
        let activate_at = t.saturating_add(publish_secs.max(0));
        let key = StoredKey::generate(alg, KeyState::Next { activate_at }, t)?;
        put(store, &key, t)?;
        out.push(RotatedKey {
            kid: key.kid.clone(),
            alg: alg.to_string(),
            activate_at,
            created: true,
        });
    }
    if publish_secs <= 0 {
        advance(store, now, retire_after)?;
    }
    Ok(out)
}

/// How long a retired key must stay published: the longest access or ID token lifetime of any
/// client, plus a margin.
pub fn retire_after(store: &Store) -> Result<i64, AppError> {
    let longest = store
        .oauth2_clients()?
        .iter()
        .map(|c| c.lifetimes.access_token.max(c.lifetimes.id_token))
        .max()
        .unwrap_or(0)
        .max(idm_oidc::TokenLifetimes::default().access);
    Ok(longest + RETIRE_MARGIN_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, alg: JwsAlg, state: KeyState) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            alg,
            created_at: 0,
            state,
            pem: String::new(),
            public: Jwk::default(),
        }
    }

    #[test]
    fn schedule() {
        let keys = vec![
            key("a", JwsAlg::ES256, KeyState::Active),
            key("b", JwsAlg::ES256, KeyState::Next { activate_at: 100 }),
            key("r", JwsAlg::RS256, KeyState::Active),
        ];
        // Before its time the next key only waits.
        assert!(plan(&keys, 99, 50).is_empty());
        assert_eq!(
            plan(&keys, 100, 50),
            vec![
                Transition::Retire {
                    kid: "a".into(),
                    drop_at: 150
                },
                Transition::Activate { kid: "b".into() },
            ]
        );
        // After the switch nothing more happens until the next rotation.
        let after = vec![
            key("a", JwsAlg::ES256, KeyState::Retired { drop_at: 150 }),
            key("b", JwsAlg::ES256, KeyState::Active),
            key("r", JwsAlg::RS256, KeyState::Active),
        ];
        assert!(plan(&after, 1000, 50).is_empty());
    }

    #[test]
    fn rotation_in_the_store() {
        let store = Store::in_memory(Default::default()).unwrap();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        ensure_es256(&store, t0).unwrap();
        let first = key_set(&load(&store, t0).unwrap()).unwrap();
        let old_kid = first.signing_key(JwsAlg::ES256).unwrap().kid().to_owned();

        let r = rotate_keys(&store, t0, 900, 1200).unwrap();
        assert_eq!(r.len(), 1);
        assert!(r[0].created);
        // A second call finds the waiting key instead of making another.
        assert!(!rotate_keys(&store, t0, 900, 1200).unwrap()[0].created);
        let set = key_set(&load(&store, t0).unwrap()).unwrap();
        assert_eq!(set.signing_key(JwsAlg::ES256).unwrap().kid(), old_kid);
        assert_eq!(
            set.jwks().keys.len(),
            2,
            "the next key is published before it signs"
        );

        let t1 = t0 + chrono::Duration::seconds(900);
        assert!(advance(&store, t1, 1200).unwrap());
        let set = key_set(&load(&store, t1).unwrap()).unwrap();
        assert_ne!(set.signing_key(JwsAlg::ES256).unwrap().kid(), old_kid);
        assert!(
            set.find(&old_kid).is_some(),
            "the retired key still verifies"
        );
        let stored = load(&store, t1).unwrap();
        let retired = stored.iter().find(|k| k.kid == old_kid).unwrap();
        assert!(
            retired.pem.is_empty(),
            "a retired key keeps no private half"
        );

        let t2 = t1 + chrono::Duration::seconds(1200);
        let set = key_set(&load(&store, t2).unwrap()).unwrap();
        assert!(
            set.find(&old_kid).is_none(),
            "dropped after the longest token lifetime"
        );
        assert_eq!(set.jwks().keys.len(), 1);
    }
}
