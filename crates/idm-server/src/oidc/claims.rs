//! From the store's records to what `idm_oidc` takes: a client's registration and a user's
//! claims, current at every request (renames and membership changes show up in the next token,
//! not only after a new login). A person's claims are read for each request; client
//! registrations and service accounts are kept by [`super::clients`] until the store changes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use idm_model::oauth2::{self as model, OAuth2Client};
use idm_model::{Entry, EntryKind};
use idm_oidc::{
    ApplicationType, ClaimMap, ClientAuthMethod, ClientKind, ClientRegistration, GroupRef,
    GroupsClaim, Jwks, JwsAlg, OidcError, PrincipalType, RefreshPolicy, ScopeMap, ScopeSet,
    SecretDigest, TokenLifetimes, UserClaims,
};
use idm_store::{Reader, Store};
use uuid::Uuid;

use crate::error::AppError;

/// A refresh family lives at most this long after the code exchange, however often it rotates
/// (the client's `refresh_token` lifetime is the idle timeout of each token).
const REFRESH_ABSOLUTE_SECS: i64 = 30 * 86_400;

/// Why a client cannot be used as registered.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Store(#[from] AppError),
    #[error("client registration is not usable: {0}")]
    Invalid(OidcError),
}

/// The one mapping from a stored [`OAuth2Client`] to the [`ClientRegistration`] the protocol
/// crate checks requests against:
/// - scope and claim maps by group *name* (resolved from the stored UUIDs now; a deleted group
///   drops out); `allowed_scopes` is the union of the mapped scopes;
/// - authentication: a registered JWKS → `private_key_jwt`; a secret digest →
///   `client_secret_basic` (the crate allows one method per client so a secret cannot be
///   replayed through another channel); public → `none`;
/// - refresh tokens always, or only with `offline_access` (`require_offline_access`); public
///   clients get them only when DPoP-bound (the crate's rule);
/// - `client_credentials` for confidential clients with a service account;
/// - public clients with loopback or private-scheme redirect URIs are native apps (RFC 8252
///   loopback port matching).
pub fn registration(store: &Store, c: &OAuth2Client) -> Result<ClientRegistration, ClientError> {
    let txn = store.read().map_err(AppError::from)?;
    registration_in(&txn, c)
}

/// [`registration`] inside a transaction the caller holds (so that a client, its groups and its
/// service account come from one read).
pub fn registration_in(
    txn: &impl Reader,
    c: &OAuth2Client,
) -> Result<ClientRegistration, ClientError> {
    let group_name = |u: &Uuid| -> Result<Option<String>, AppError> {
        Ok(match txn.entry(*u)? {
            Some(Entry::Group(g)) => Some(g.name),
            _ => None,
        })
    };
    let invalid = ClientError::Invalid;
    let mut scope_map = ScopeMap::default();
    let mut allowed = ScopeSet::default();
    for (g, scopes) in &c.scope_maps {
        let set = ScopeSet::from_tokens(scopes.iter().map(String::as_str)).map_err(invalid)?;
        allowed = allowed.union(&set);
        if let Some(name) = group_name(g)? {
            scope_map.entries.insert(name, set);
        }
    }
    let mut claim_map = ClaimMap::default();
    for (claim, by_group) in &c.claim_maps {
        let mut m = BTreeMap::new();
        for (g, values) in by_group {
            if let Some(name) = group_name(g)? {
                m.insert(name, values.clone());
            }
        }
        if !m.is_empty() {
            claim_map.entries.insert(claim.clone(), m);
        }
    }
    let auth_method = match (c.kind, &c.jwks, c.secret_digest.as_str()) {
        (model::ClientKind::Public, _, _) => ClientAuthMethod::None,
        (_, Some(jwks), _) => ClientAuthMethod::PrivateKeyJwt {
            jwks: Jwks::from_json(jwks).map_err(invalid)?,
        },
        (_, None, digest) if !digest.is_empty() => {
            let bytes: [u8; 32] = hex::decode(digest)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(ClientError::Invalid(OidcError::InvalidRegistration(
                    "stored secret digest is not 32 bytes of hex",
                )))?;
            ClientAuthMethod::ClientSecretBasic {
                secret_digest: SecretDigest::from_bytes(bytes),
            }
        }
        _ => {
            return Err(ClientError::Invalid(OidcError::InvalidRegistration(
                "confidential client without a secret or a JWKS",
            )));
        }
    };
    let kind = match c.kind {
        model::ClientKind::Confidential => ClientKind::Confidential,
        model::ClientKind::Public => ClientKind::Public,
    };
    let application_type = if kind == ClientKind::Public
        && c.redirect_uris.iter().any(|u| !u.starts_with("https://"))
    {
        ApplicationType::Native
    } else {
        ApplicationType::Web
    };
    let l = &c.lifetimes;
    let refresh_idle = l.refresh_token.max(60);
    let reg = ClientRegistration {
        client_id: c.name.clone(),
        kind,
        application_type,
        auth_method,
        redirect_uris: c.redirect_uris.iter().cloned().collect(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.iter().cloned().collect(),
        allowed_scopes: allowed,
        require_par: c.require_par,
        require_dpop: c.require_dpop,
        pkce_required: c.require_pkce,
        signing_alg: match c.signing_alg {
            model::SigningAlg::ES256 => JwsAlg::ES256,
            model::SigningAlg::RS256 => JwsAlg::RS256,
            model::SigningAlg::PS256 => JwsAlg::PS256,
        },
        first_party: c.first_party,
        lifetimes: TokenLifetimes {
            // The crate's floor is 60 s; the model allows 30.
            access: l.access_token.max(60),
            id_token: l.id_token.max(60),
            code: TokenLifetimes::default().code,
            refresh_idle,
            refresh_absolute: REFRESH_ABSOLUTE_SECS.max(refresh_idle),
        },
        refresh: if c.require_offline_access {
            RefreshPolicy::RequireOfflineAccess
        } else {
            RefreshPolicy::Enabled
        },
        groups_claim: match c.groups_claim {
            model::GroupsClaim::Names => GroupsClaim::Names,
            model::GroupsClaim::Uuids => GroupsClaim::Uuids,
        },
        scope_map,
        claim_map,
        allow_client_credentials: c.service_account.is_some() && kind == ClientKind::Confidential,
        access_token_audience: None,
    };
    reg.validate().map_err(invalid)?;
    Ok(reg)
}

/// A user's (or service account's) current claims; `None` if the account is gone or not usable
/// now (locked, expired, not yet valid).
pub fn user_claims(
    store: &Store,
    uuid: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<UserClaims>, AppError> {
    let txn = store.read()?;
    Ok(account_claims_in(&txn, uuid)?
        .filter(|(e, _)| e.account_usable(now).is_ok())
        .map(|(_, claims)| claims))
}

/// An account's entry and its claims, whether or not it is usable now (the caller decides with
/// `Entry::account_usable`, which depends on the time); `None` if it is gone or a group.
pub fn account_claims_in(
    txn: &impl Reader,
    uuid: Uuid,
) -> Result<Option<(Entry, UserClaims)>, AppError> {
    let Some(e) = txn.entry(uuid)? else {
        return Ok(None);
    };
    let principal_type = match e.kind() {
        EntryKind::Person => PrincipalType::Person,
        EntryKind::ServiceAccount => PrincipalType::Service,
        EntryKind::Group => return Ok(None),
    };
    let mut groups = Vec::new();
    for g in txn.member_of_transitive(uuid)? {
        if let Some(ge) = txn.entry(g)? {
            groups.push(GroupRef {
                name: ge.name().to_owned(),
                uuid: g.to_string(),
            });
        }
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    let (name, email) = match &e {
        Entry::Person(p) => (Some(p.display_name.clone()), p.mails.first().cloned()),
        Entry::ServiceAccount(s) => (Some(s.display_name.clone()), None),
        Entry::Group(_) => (None, None),
    };
    let claims = UserClaims {
        subject: uuid.to_string(),
        principal_type,
        name,
        preferred_username: Some(e.name().to_owned()),
        updated_at: Some(e.modified_at().timestamp()),
        email,
        // Mail addresses are not verified by idm (yet): say so rather than guess.
        email_verified: false,
        groups,
        roles: Vec::new(),
    };
    Ok(Some((e, claims)))
}

/// The claims of a token's subject (a UUID string), for a client: `None` if the subject is
/// gone, unusable, or no longer admitted by the client's scope map (an empty scope map admits
/// nobody, unlike the crate's, which restricts nothing).
pub fn subject_claims(
    store: &Store,
    subject: &str,
    client: &OAuth2Client,
    now: DateTime<Utc>,
) -> Result<Option<UserClaims>, AppError> {
    let Ok(uuid) = Uuid::parse_str(subject) else {
        return Ok(None);
    };
    let Some(u) = user_claims(store, uuid, now)? else {
        return Ok(None);
    };
    if u.principal_type == PrincipalType::Person && client.scope_maps.is_empty() {
        return Ok(None);
    }
    Ok(Some(u))
}
