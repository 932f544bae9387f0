//! OAuth2/OpenID Connect client registrations (relying parties), as admins manage them.
//!
//! Groups in scope and claim maps are held by UUID so that renaming a group never silently
//! changes who may log in. The client secret is never stored: only its SHA-256 digest (the
//! secret is 256 random bits, so a slow hash would only cap throughput).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ModelError;
use crate::validate;

pub const MAX_REDIRECT_URIS: usize = 32;
pub const MAX_URI_LEN: usize = 2048;
pub const MAX_SCOPES: usize = 64;
pub const MAX_CLAIM_VALUES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// Has a secret or a registered key: web back ends, services.
    Confidential,
    /// Cannot keep a secret: native and single-page apps; PKCE always, no secret.
    Public,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlg {
    ES256,
    RS256,
    PS256,
}

impl SigningAlg {
    pub fn parse(s: &str) -> Result<SigningAlg, ModelError> {
        match s {
            "ES256" => Ok(SigningAlg::ES256),
            "RS256" => Ok(SigningAlg::RS256),
            "PS256" => Ok(SigningAlg::PS256),
            _ => Err(ModelError::invalid(
                "signing_alg",
                "must be ES256, RS256 or PS256",
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupsClaim {
    #[default]
    Names,
    Uuids,
}

/// Lifetimes in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lifetimes {
    pub access_token: i64,
    pub id_token: i64,
    pub refresh_token: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            access_token: 600,
            id_token: 600,
            refresh_token: 8 * 3600,
        }
    }
}

impl Lifetimes {
    pub fn validate(&self) -> Result<(), ModelError> {
        let ok = |v: i64, lo: i64, hi: i64| (lo..=hi).contains(&v);
        if !ok(self.access_token, 30, 86_400)
            || !ok(self.id_token, 30, 86_400)
            || !ok(self.refresh_token, 60, 90 * 86_400)
        {
            return Err(ModelError::invalid(
                "lifetimes",
                "access and ID tokens 30 s to 1 day; refresh tokens 1 min to 90 days",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuth2Client {
    pub uuid: Uuid,
    /// The `client_id`.
    pub name: String,
    pub display_name: String,
    pub kind: ClientKind,
    /// The application's origin (shown on the consent page; a landing URL).
    pub origin: String,
    /// Exact redirect URIs; for public native clients, loopback URIs match on any port.
    #[serde(default)]
    pub redirect_uris: BTreeSet<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: BTreeSet<String>,
    /// Hex SHA-256 of the client secret (confidential clients using a secret).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret_digest: String,
    /// A registered JWKS for `private_key_jwt`, as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// Group UUID → scopes members may get. Empty map: nobody may log in.
    #[serde(default)]
    pub scope_maps: BTreeMap<Uuid, BTreeSet<String>>,
    /// Claim name → group UUID → values members get.
    #[serde(default)]
    pub claim_maps: BTreeMap<String, BTreeMap<Uuid, Vec<String>>>,
    #[serde(default)]
    pub require_par: bool,
    #[serde(default)]
    pub require_dpop: bool,
    /// PKCE for confidential clients (always on for public ones).
    #[serde(default = "yes")]
    pub require_pkce: bool,
    /// Refresh tokens only when `offline_access` was requested.
    #[serde(default)]
    pub require_offline_access: bool,
    pub signing_alg: SigningAlg,
    /// First-party clients skip the consent page.
    #[serde(default)]
    pub first_party: bool,
    #[serde(default)]
    pub lifetimes: Lifetimes,
    #[serde(default)]
    pub groups_claim: GroupsClaim,
    /// The service account whose rights `client_credentials` tokens carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

fn yes() -> bool {
    true
}

/// The scopes the server knows; custom ones are allowed in scope maps too.
pub const STANDARD_SCOPES: [&str; 5] = ["openid", "profile", "email", "groups", "offline_access"];

pub fn scope(field: &str, s: &str) -> Result<String, ModelError> {
    if s.is_empty() || s.len() > 64 {
        return Err(ModelError::invalid(field, "a scope is 1-64 characters"));
    }
    // RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E
    if !s
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    {
        return Err(ModelError::invalid(
            field,
            format!("{s:?} has a character a scope may not contain"),
        ));
    }
    Ok(s.to_owned())
}

/// A redirect URI: absolute, no fragment; `https`, or `http` only for loopback hosts (RFC 8252
/// §7.3), or a private-use scheme with a dot (RFC 8252 §7.1, `com.example.app:/cb`).
pub fn redirect_uri(field: &str, u: &str) -> Result<String, ModelError> {
    if u.is_empty() || u.len() > MAX_URI_LEN {
        return Err(ModelError::invalid(field, "must be 1-2048 characters"));
    }
    if u.contains('#') {
        return Err(ModelError::invalid(field, "must not contain a fragment"));
    }
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ModelError::invalid(field, "must not contain spaces"));
    }
    let Some((scheme, rest)) = u.split_once(':') else {
        return Err(ModelError::invalid(field, "must be an absolute URI"));
    };
    match scheme {
        "https" => {
            if !rest.starts_with("//") || rest.len() <= 2 {
                return Err(ModelError::invalid(field, "must name a host"));
            }
        }
        "http" => {
            let host = rest
                .strip_prefix("//")
                .and_then(|r| r.split(['/', '?']).next())
                .unwrap_or("");
            let host_only = if let Some(h) = host.strip_prefix('[') {
                h.split(']')
                    .next()
                    .map(|h| format!("[{h}]"))
                    .unwrap_or_default()
            } else {
                host.split(':').next().unwrap_or("").to_owned()
            };
            if !matches!(host_only.as_str(), "127.0.0.1" | "[::1]" | "localhost") {
                return Err(ModelError::invalid(
                    field,
                    "http is only allowed for loopback (127.0.0.1, [::1], localhost)",
                ));
            }
        }
        s if s.contains('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')) => {}
        _ => {
            return Err(ModelError::invalid(
                field,
                "must be https, loopback http, or a reverse-domain private scheme",
            ));
        }
    }
    Ok(u.to_owned())
}

impl OAuth2Client {
    pub fn validate(&self) -> Result<(), ModelError> {
        validate::name("name", &self.name)?;
        validate::display_name(&self.display_name)?;
        redirect_uri("origin", &self.origin)?;
        if self.redirect_uris.len() > MAX_REDIRECT_URIS
            || self.post_logout_redirect_uris.len() > MAX_REDIRECT_URIS
        {
            return Err(ModelError::invalid(
                "redirect_uris",
                format!("at most {MAX_REDIRECT_URIS}"),
            ));
        }
        for u in &self.redirect_uris {
            redirect_uri("redirect_uris", u)?;
        }
        for u in &self.post_logout_redirect_uris {
            redirect_uri("post_logout_redirect_uris", u)?;
        }
        for scopes in self.scope_maps.values() {
            if scopes.len() > MAX_SCOPES {
                return Err(ModelError::invalid("scope_maps", "too many scopes"));
            }
            for s in scopes {
                scope("scope_maps", s)?;
            }
        }
        for (claim, map) in &self.claim_maps {
            if claim.is_empty()
                || claim.len() > 64
                || !claim
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
            {
                return Err(ModelError::invalid(
                    "claim_maps",
                    "claim names are [A-Za-z0-9_.:-]",
                ));
            }
            if RESERVED_CLAIMS.contains(&claim.as_str()) {
                return Err(ModelError::invalid(
                    "claim_maps",
                    format!("{claim} is a standard claim and cannot be mapped"),
                ));
            }
            for v in map.values() {
                if v.len() > MAX_CLAIM_VALUES {
                    return Err(ModelError::invalid("claim_maps", "too many values"));
                }
            }
        }
        self.lifetimes.validate()?;
        if self.kind == ClientKind::Public && !self.secret_digest.is_empty() {
            return Err(ModelError::invalid("kind", "public clients have no secret"));
        }
        Ok(())
    }
}

/// Claims the server sets itself; claim maps may not override them.
pub const RESERVED_CLAIMS: [&str; 22] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "azp",
    "sid",
    "acr",
    "amr",
    "scope",
    "client_id",
    "cnf",
    "groups",
    "tenant",
    "principal_type",
    "roles",
    "assurance",
    "email",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_rules() {
        assert!(redirect_uri("r", "https://app.example.com/cb").is_ok());
        assert!(redirect_uri("r", "http://127.0.0.1:8080/cb").is_ok());
        assert!(redirect_uri("r", "http://[::1]/cb").is_ok());
        assert!(redirect_uri("r", "com.example.app:/oauth").is_ok());
        assert!(redirect_uri("r", "http://app.example.com/cb").is_err());
        assert!(redirect_uri("r", "https://app.example.com/cb#x").is_err());
        assert!(redirect_uri("r", "javascript:alert(1)").is_err());
        assert!(redirect_uri("r", "https:").is_err());
        assert!(scope("s", "openid").is_ok());
        assert!(scope("s", "a b").is_err());
        assert!(scope("s", "a\"b").is_err());
    }
}
