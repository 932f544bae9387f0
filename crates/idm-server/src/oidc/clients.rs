//! OAuth2 clients as the protocol endpoints use them, kept in memory until the store changes.
//!
//! Building a client's [`ClientRegistration`] reads its record, the names of the groups in its
//! scope and claim maps and, for `client_credentials`, its service account and that account's
//! groups — and decodes all of it from JSON. A service asking for a token every few
//! milliseconds would pay that on every request, so [`ClientCache`] keeps the result, built
//! from one read transaction, until [`Store::generation`] (any entry: a group renamed or
//! deleted, a membership, the service account locked or expired) or
//! [`Store::clients_generation`] (any client written or deleted) moves. Both counters are read
//! before the read transaction, so a value built from older data is never filed under a newer
//! stamp.
//!
//! What is cached is never a decision that depends on the time: a service account's lock and
//! validity window are checked against `now` at every use ([`Client::service_claims`]).
//! Unknown `client_id`s are not cached (attacker-chosen names must not grow the map), nor are
//! unusable registrations (they are logged at each use, as before).
//!
//! The counters are per process: when several nodes share one database, a change made through
//! another node is seen here only after a change made through this one (the LDAP view has the
//! same limit); a shared change counter in the store is the fix when that backend arrives.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use idm_model::Entry;
use idm_model::oauth2::OAuth2Client;
use idm_oidc::{ClientRegistration, UserClaims};
use idm_store::{Reader, Store};

use super::claims::{ClientError, account_claims_in, registration_in};
use crate::error::AppError;

/// A registered client, ready for the protocol crate.
pub struct Client {
    /// The stored record.
    pub model: OAuth2Client,
    /// What `idm_oidc` checks requests against.
    pub reg: ClientRegistration,
    /// The service account behind `client_credentials`, if the client has one and it exists.
    service: Option<ServiceAccount>,
}

struct ServiceAccount {
    /// Without secrets: kept only for its lock and validity window.
    entry: Entry,
    claims: UserClaims,
}

impl Client {
    /// The service account's claims if it may act at `now` (not locked, not expired, already
    /// valid); `None` otherwise, or if there is none.
    pub fn service_claims(&self, now: DateTime<Utc>) -> Option<&UserClaims> {
        self.service
            .as_ref()
            .filter(|s| s.entry.account_usable(now).is_ok())
            .map(|s| &s.claims)
    }
}

/// Clients by `client_id`, valid for one pair of store generations.
#[derive(Default)]
pub struct ClientCache {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    stamp: Stamp,
    clients: HashMap<String, Arc<Client>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    entries: u64,
    clients: u64,
}

impl Stamp {
    fn of(store: &Store) -> Stamp {
        Stamp {
            entries: store.generation(),
            clients: store.clients_generation(),
        }
    }
}

impl ClientCache {
    /// The client if it is cached and current. Never touches the database: safe on the async
    /// threads.
    pub fn cached(&self, store: &Store, client_id: &str) -> Option<Arc<Client>> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        if inner.stamp != Stamp::of(store) {
            return None;
        }
        inner.clients.get(client_id).cloned()
    }

    /// The client registered under `client_id` (a UUID does not count), from the cache or else
    /// from one read transaction; `None` if there is no such client. Blocking.
    pub fn load(&self, store: &Store, client_id: &str) -> Result<Option<Arc<Client>>, ClientError> {
        if let Some(c) = self.cached(store, client_id) {
            return Ok(Some(c));
        }
        let stamp = Stamp::of(store);
        let Some(client) = read_client(store, client_id)? else {
            return Ok(None);
        };
        let client = Arc::new(client);
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.stamp != stamp {
            if Stamp::of(store) != stamp {
                // The store moved on while this was read: good for this request, not to keep.
                return Ok(Some(client));
            }
            inner.clients.clear();
            inner.stamp = stamp;
        }
        inner.clients.insert(client_id.to_owned(), client.clone());
        Ok(Some(client))
    }
}

fn read_client(store: &Store, client_id: &str) -> Result<Option<Client>, ClientError> {
    let txn = store.read().map_err(AppError::from)?;
    let Some(model) = txn
        .oauth2_client(client_id)
        .map_err(AppError::from)?
        .filter(|c| c.name == client_id)
    else {
        return Ok(None);
    };
    let reg = registration_in(&txn, &model)?;
    let service = match model.service_account {
        Some(uuid) => account_claims_in(&txn, uuid)?.map(|(entry, claims)| ServiceAccount {
            entry: entry.without_secrets(),
            claims,
        }),
        None => None,
    };
    Ok(Some(Client {
        model,
        reg,
        service,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use idm_model::audit::Actor;
    use idm_model::change::Change;
    use idm_model::oauth2::{ClientKind, Lifetimes, SigningAlg};
    use idm_model::{Group, ServiceAccount as SaEntry};
    use uuid::Uuid;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn actor() -> Actor {
        Actor::system("test")
    }

    fn change(store: &Store, c: Change) {
        let _ = store.apply(&c, &actor(), t0(), None).unwrap();
    }

    const SA: u128 = 0x5a;
    const GROUP: u128 = 0x6b;

    fn world() -> (Store, OAuth2Client) {
        let store = Store::in_memory(Default::default()).unwrap();
        let apply = |c: Change| change(&store, c);
        apply(Change::CreateServiceAccount(service_account()));
        apply(Change::CreateGroup(Group {
            uuid: Uuid::from_u128(GROUP),
            name: "api_users".into(),
            ..group_template()
        }));
        apply(Change::AddMembers {
            group: Uuid::from_u128(GROUP),
            members: vec![Uuid::from_u128(SA)],
        });
        let client = OAuth2Client {
            uuid: Uuid::from_u128(0x77),
            name: "batch".into(),
            display_name: "Batch".into(),
            kind: ClientKind::Confidential,
            origin: "https://batch.example.com".into(),
            redirect_uris: Default::default(),
            post_logout_redirect_uris: Default::default(),
            secret_digest: "ab".repeat(32),
            jwks: None,
            scope_maps: [(Uuid::from_u128(GROUP), ["api.read".to_owned()].into())].into(),
            claim_maps: Default::default(),
            require_par: false,
            require_dpop: false,
            require_pkce: true,
            require_offline_access: false,
            signing_alg: SigningAlg::ES256,
            first_party: false,
            lifetimes: Lifetimes::default(),
            groups_claim: Default::default(),
            service_account: Some(Uuid::from_u128(SA)),
            created_at: t0(),
            modified_at: t0(),
        };
        store
            .put_oauth2_client(&client, true, "created", &actor(), t0(), None)
            .unwrap();
        (store, client)
    }

    fn service_account() -> SaEntry {
        serde_json::from_value(serde_json::json!({
            "uuid": Uuid::from_u128(SA),
            "name": "robot",
            "display_name": "Robot",
            "created_at": t0(),
            "modified_at": t0(),
        }))
        .unwrap()
    }

    fn group_template() -> Group {
        serde_json::from_value(serde_json::json!({
            "uuid": Uuid::from_u128(GROUP),
            "name": "g",
            "created_at": t0(),
            "modified_at": t0(),
        }))
        .unwrap()
    }

    #[test]
    fn cached_until_an_entry_or_a_client_changes() {
        let (store, mut model) = world();
        let cache = ClientCache::default();
        assert!(
            cache.cached(&store, "batch").is_none(),
            "nothing cached yet"
        );
        let a = cache.load(&store, "batch").unwrap().unwrap();
        assert_eq!(a.reg.client_id, "batch");
        assert!(a.reg.scope_map.entries.contains_key("api_users"));
        let claims = a.service_claims(t0()).unwrap();
        assert_eq!(claims.preferred_username.as_deref(), Some("robot"));
        assert_eq!(claims.groups.len(), 1);
        let b = cache.cached(&store, "batch").unwrap();
        assert!(Arc::ptr_eq(&a, &b), "served from memory");
        // Unknown clients and client UUIDs are not clients (and are not cached).
        assert!(cache.load(&store, "nobody").unwrap().is_none());
        let by_uuid = Uuid::from_u128(0x77).to_string();
        assert!(cache.load(&store, &by_uuid).unwrap().is_none());

        // An entry change invalidates: the service account renamed, then out of the group,
        // then the group deleted (which also drops it from the scope map).
        let patch = |v: serde_json::Value| Change::UpdateServiceAccount {
            uuid: Uuid::from_u128(SA),
            patch: serde_json::from_value(v).unwrap(),
        };
        change(
            &store,
            patch(serde_json::json!({"display_name": "Robot 2"})),
        );
        assert!(cache.cached(&store, "batch").is_none());
        let c = cache.load(&store, "batch").unwrap().unwrap();
        assert_eq!(
            c.service_claims(t0()).unwrap().name.as_deref(),
            Some("Robot 2")
        );
        change(
            &store,
            Change::RemoveMembers {
                group: Uuid::from_u128(GROUP),
                members: vec![Uuid::from_u128(SA)],
            },
        );
        let c = cache.load(&store, "batch").unwrap().unwrap();
        assert!(c.service_claims(t0()).unwrap().groups.is_empty());
        change(
            &store,
            Change::Delete {
                uuid: Uuid::from_u128(GROUP),
            },
        );
        let c = cache.load(&store, "batch").unwrap().unwrap();
        assert!(c.reg.scope_map.entries.is_empty());
        model.scope_maps.clear();

        // A client change invalidates: the new secret digest is what authenticates.
        model.secret_digest = "cd".repeat(32);
        store
            .put_oauth2_client(&model, false, "secret reset", &actor(), t0(), None)
            .unwrap();
        assert!(cache.cached(&store, "batch").is_none());
        let d = cache.load(&store, "batch").unwrap().unwrap();
        assert_eq!(d.model.secret_digest, "cd".repeat(32));

        // A deleted client is gone at once.
        store
            .delete_oauth2_client(model.uuid, &actor(), t0(), None)
            .unwrap();
        assert!(cache.cached(&store, "batch").is_none());
        assert!(cache.load(&store, "batch").unwrap().is_none());
    }

    #[test]
    fn service_account_lock_and_validity_are_checked_at_each_use() {
        let (store, _) = world();
        let cache = ClientCache::default();
        // Expiry is a time, decided per use from the cached entry.
        change(
            &store,
            Change::UpdateServiceAccount {
                uuid: Uuid::from_u128(SA),
                patch: serde_json::from_value(
                    serde_json::json!({"expire_at": t0() + Duration::hours(1)}),
                )
                .unwrap(),
            },
        );
        let c = cache.load(&store, "batch").unwrap().unwrap();
        assert!(c.service_claims(t0()).is_some());
        assert!(c.service_claims(t0() + Duration::hours(1)).is_none());
        // A lock is a change: the next load sees it.
        change(
            &store,
            Change::Lock {
                uuid: Uuid::from_u128(SA),
                reason: "test".into(),
            },
        );
        let c = cache.load(&store, "batch").unwrap().unwrap();
        assert!(c.service_claims(t0()).is_none());
    }
}
