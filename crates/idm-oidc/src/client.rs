//! A client's registration: what the server stores per relying party and passes in on
//! every request, and the pure rules that read it (redirect URI matching, scope maps,
//! claim maps, refresh policy).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::client_auth::SecretDigest;
use crate::error::OidcError;
use crate::jose::{Jwks, JwsAlg};
use crate::scope::ScopeSet;

/// Whether the client can keep a secret (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// A server-side application with a credential.
    Confidential,
    /// A browser or native application without one: PKCE always, refresh tokens only
    /// when DPoP-bound.
    Public,
}

/// Web or native application (OIDC Dynamic Registration `application_type`), which
/// decides whether RFC 8252 loopback redirect matching applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    /// Redirect URIs match exactly, always.
    #[default]
    Web,
    /// A native app: a public native client may redirect to a loopback IP literal on any
    /// port (RFC 8252 §7.3).
    Native,
}

/// How the client authenticates at the token, PAR, introspection and revocation
/// endpoints (OIDC Core §9). Exactly one method per client, so a stolen secret cannot be
/// replayed through a weaker channel than the one registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic {
        /// SHA-256 of the secret; the secret itself is never stored.
        secret_digest: SecretDigest,
    },
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost {
        /// SHA-256 of the secret.
        secret_digest: SecretDigest,
    },
    /// A JWT signed with one of the client's registered keys (RFC 7523 §2.2).
    PrivateKeyJwt {
        /// The client's public keys.
        jwks: Jwks,
    },
    /// Public clients: `client_id` only.
    None,
}

impl ClientAuthMethod {
    /// The discovery / registration name.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ClientSecretBasic { .. } => "client_secret_basic",
            Self::ClientSecretPost { .. } => "client_secret_post",
            Self::PrivateKeyJwt { .. } => "private_key_jwt",
            Self::None => "none",
        }
    }
}

/// When a refresh token is issued on the authorization code grant. Public clients get
/// one only if the tokens are DPoP-bound, whatever this says (a stolen bearer refresh
/// token of a public client is usable by anyone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshPolicy {
    /// Never.
    Disabled,
    /// Always (subject to the DPoP rule for public clients).
    #[default]
    Enabled,
    /// Only when `offline_access` was granted.
    RequireOfflineAccess,
}

/// How the `groups` claim names groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupsClaim {
    /// Group names: readable, but change on rename.
    #[default]
    Names,
    /// Group UUIDs: stable across renames.
    Uuids,
}

/// Token lifetimes in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenLifetimes {
    /// Access token (default 600 s).
    pub access: i64,
    /// ID token (default 600 s).
    pub id_token: i64,
    /// Authorization code (default 60 s).
    pub code: i64,
    /// A refresh token unused this long expires (default 1 day); each rotation restarts it.
    pub refresh_idle: i64,
    /// A refresh family expires this long after the code exchange whatever happens
    /// (default 30 days).
    pub refresh_absolute: i64,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access: 600,
            id_token: 600,
            code: 60,
            refresh_idle: 86_400,
            refresh_absolute: 30 * 86_400,
        }
    }
}

/// Per-client map from group to the scopes its members may receive. An empty map
/// restricts nothing; a non-empty map gives a user the union of the scopes of the mapped
/// groups they are in, and a user in none of them is refused (`access_denied`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeMap {
    /// Group name → scopes.
    pub entries: BTreeMap<String, ScopeSet>,
}

impl ScopeMap {
    /// The requested scopes this user may have. Pure: group names come in.
    pub fn permitted(
        &self,
        requested: &ScopeSet,
        user_groups: &[&str],
    ) -> Result<ScopeSet, OidcError> {
        if self.entries.is_empty() {
            return Ok(requested.clone());
        }
        let mut granted = ScopeSet::default();
        let mut member = false;
        for group in user_groups {
            if let Some(scopes) = self.entries.get(*group) {
                member = true;
                granted = granted.union(scopes);
            }
        }
        if !member {
            return Err(OidcError::AccessDenied(
                "user is in no group mapped for this client",
            ));
        }
        Ok(requested.intersection(&granted))
    }
}

/// Per-client custom claims from group membership: claim name → group → values. A user
/// gets, for each claim, the sorted union of the values of their groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimMap {
    /// Claim name → group name → values.
    pub entries: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// Claim names a claim map may not set: registered JWT / OIDC claims and the
/// application-profile claims, whose meaning must not vary per client.
const RESERVED_CLAIMS: &[&str] = &[
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
    "at_hash",
    "c_hash",
    "cnf",
    "client_id",
    "scope",
    "typ",
    "tenant",
    "principal_type",
    "roles",
    "assurance",
    "groups",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
    "active",
    "token_type",
];

impl ClaimMap {
    /// The custom claims for a user in `user_groups`. Pure.
    #[must_use]
    pub fn claims(&self, user_groups: &[&str]) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for (claim, by_group) in &self.entries {
            let values: BTreeSet<&String> = user_groups
                .iter()
                .filter_map(|g| by_group.get(*g))
                .flatten()
                .collect();
            if !values.is_empty() {
                out.insert(claim.clone(), values.into_iter().cloned().collect());
            }
        }
        out
    }

    fn validate(&self) -> Result<(), OidcError> {
        for name in self.entries.keys() {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
            if !ok || RESERVED_CLAIMS.contains(&name.as_str()) {
                return Err(OidcError::InvalidRegistration(
                    "claim map names a reserved or malformed claim",
                ));
            }
        }
        Ok(())
    }
}

/// Everything the server stores about a client and passes in with each request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRegistration {
    /// The `client_id`.
    pub client_id: String,
    /// Confidential or public.
    pub kind: ClientKind,
    /// Web or native.
    #[serde(default)]
    pub application_type: ApplicationType,
    /// Token endpoint authentication.
    pub auth_method: ClientAuthMethod,
    /// Redirect URIs, matched exactly (plus the RFC 8252 loopback rule for native public
    /// clients).
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the user back, matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes the client may request at all.
    pub allowed_scopes: ScopeSet,
    /// Authorization requests must come through PAR.
    #[serde(default)]
    pub require_par: bool,
    /// Tokens must be DPoP-bound.
    #[serde(default)]
    pub require_dpop: bool,
    /// PKCE required (always true in effect for public clients).
    #[serde(default = "default_true")]
    pub pkce_required: bool,
    /// ID and access token signing algorithm.
    #[serde(default = "default_alg")]
    pub signing_alg: JwsAlg,
    /// A first-party application: no consent screen.
    #[serde(default)]
    pub first_party: bool,
    /// Token lifetimes.
    #[serde(default)]
    pub lifetimes: TokenLifetimes,
    /// Refresh token policy.
    #[serde(default)]
    pub refresh: RefreshPolicy,
    /// Names or UUIDs in the `groups` claim.
    #[serde(default)]
    pub groups_claim: GroupsClaim,
    /// Group → allowed scopes.
    #[serde(default)]
    pub scope_map: ScopeMap,
    /// Group → custom claim values.
    #[serde(default)]
    pub claim_map: ClaimMap,
    /// May use the `client_credentials` grant (confidential clients only); the server
    /// passes the client's service account as the subject.
    #[serde(default)]
    pub allow_client_credentials: bool,
    /// The access token `aud`; the client's own `client_id` when unset.
    #[serde(default)]
    pub access_token_audience: Option<String>,
}

fn default_true() -> bool {
    true
}

fn default_alg() -> JwsAlg {
    JwsAlg::ES256
}

/// Longest `client_id`.
const MAX_CLIENT_ID: usize = 255;
/// Longest registered URI.
const MAX_URI: usize = 2048;

impl ClientRegistration {
    /// A confidential web client with `client_secret_basic` and the defaults: PKCE on,
    /// ES256, scopes `openid profile email`, refresh tokens enabled.
    #[must_use]
    pub fn confidential(
        client_id: &str,
        secret_digest: SecretDigest,
        redirect_uris: Vec<String>,
    ) -> Self {
        Self {
            client_id: client_id.to_owned(),
            kind: ClientKind::Confidential,
            application_type: ApplicationType::Web,
            auth_method: ClientAuthMethod::ClientSecretBasic { secret_digest },
            redirect_uris,
            post_logout_redirect_uris: Vec::new(),
            allowed_scopes: default_scopes(),
            require_par: false,
            require_dpop: false,
            pkce_required: true,
            signing_alg: JwsAlg::ES256,
            first_party: false,
            lifetimes: TokenLifetimes::default(),
            refresh: RefreshPolicy::Enabled,
            groups_claim: GroupsClaim::Names,
            scope_map: ScopeMap::default(),
            claim_map: ClaimMap::default(),
            allow_client_credentials: false,
            access_token_audience: None,
        }
    }

    /// A public client (`none` authentication, PKCE always).
    #[must_use]
    pub fn public(
        client_id: &str,
        application_type: ApplicationType,
        redirect_uris: Vec<String>,
    ) -> Self {
        Self {
            kind: ClientKind::Public,
            application_type,
            auth_method: ClientAuthMethod::None,
            ..Self::confidential(client_id, SecretDigest::from_bytes([0; 32]), redirect_uris)
        }
    }

    /// Checks the registration for contradictions. The server calls it when a client is
    /// created or changed; request handling relies on the rules it enforces.
    pub fn validate(&self) -> Result<(), OidcError> {
        use OidcError::InvalidRegistration as Bad;
        if self.client_id.is_empty()
            || self.client_id.len() > MAX_CLIENT_ID
            || !self.client_id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Bad("client_id must be 1-255 visible ASCII characters"));
        }
        match (self.kind, &self.auth_method) {
            (ClientKind::Public, ClientAuthMethod::None) => {}
            (ClientKind::Public, _) => return Err(Bad("public clients authenticate with none")),
            (ClientKind::Confidential, ClientAuthMethod::None) => {
                return Err(Bad("confidential clients need a credential"));
            }
            (ClientKind::Confidential, ClientAuthMethod::PrivateKeyJwt { jwks })
                if jwks.keys().is_empty() =>
            {
                return Err(Bad("private_key_jwt needs at least one key"));
            }
            (ClientKind::Confidential, _) => {}
        }
        if self.kind == ClientKind::Public && self.allow_client_credentials {
            return Err(Bad("public clients cannot use client_credentials"));
        }
        if self.redirect_uris.is_empty() && !self.allow_client_credentials {
            return Err(Bad("at least one redirect URI"));
        }
        for uri in &self.redirect_uris {
            validate_redirect_uri(uri, self.application_type)?;
        }
        for uri in &self.post_logout_redirect_uris {
            validate_redirect_uri(uri, self.application_type)?;
        }
        if self.scope_map.entries.keys().any(String::is_empty) {
            return Err(Bad("scope map has an empty group name"));
        }
        self.claim_map.validate()?;
        let l = &self.lifetimes;
        if !(60..=86_400).contains(&l.access)
            || !(60..=86_400).contains(&l.id_token)
            || !(10..=600).contains(&l.code)
            || l.refresh_idle < 60
            || l.refresh_absolute < l.refresh_idle
        {
            return Err(Bad("token lifetimes out of range"));
        }
        Ok(())
    }

    /// PKCE is required for public clients always, for confidential ones unless turned off.
    #[must_use]
    pub fn pkce_required(&self) -> bool {
        self.kind == ClientKind::Public || self.pkce_required
    }

    /// Whether `uri` is one of the registered redirect URIs: exact string comparison (no
    /// prefix, wildcard, case folding or trailing-slash leniency — each of those has been
    /// an open redirect somewhere), except that a native public client registered with a
    /// loopback IP literal may use any port (RFC 8252 §7.3; path and query still exact).
    #[must_use]
    pub fn redirect_uri_allowed(&self, uri: &str) -> bool {
        if self.redirect_uris.iter().any(|r| r == uri) {
            return true;
        }
        if self.kind == ClientKind::Public
            && self.application_type == ApplicationType::Native
            && let Some((host, rest)) = loopback_parts(uri)
        {
            return self
                .redirect_uris
                .iter()
                .filter_map(|r| loopback_parts(r))
                .any(|(h, p)| h == host && p == rest);
        }
        false
    }

    /// Whether `uri` is a registered post-logout redirect URI (exact match only).
    #[must_use]
    pub fn post_logout_uri_allowed(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }

    /// The access token audience.
    #[must_use]
    pub fn access_token_audience(&self) -> &str {
        self.access_token_audience
            .as_deref()
            .unwrap_or(&self.client_id)
    }
}

fn default_scopes() -> ScopeSet {
    ScopeSet::from_tokens(["openid", "profile", "email"]).unwrap_or_default()
}

/// Splits `http://127.0.0.1[:port]/rest` or `http://[::1][:port]/rest` into host and the
/// path-and-query after the port. Anything else (including `localhost`, which RFC 8252
/// §8.3 advises against because it may resolve elsewhere) is not a loopback redirect.
fn loopback_parts(uri: &str) -> Option<(&'static str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let (host, after_host) = if let Some(r) = rest.strip_prefix("127.0.0.1") {
        ("127.0.0.1", r)
    } else if let Some(r) = rest.strip_prefix("[::1]") {
        ("[::1]", r)
    } else {
        return None;
    };
    let path = match after_host.strip_prefix(':') {
        Some(port_and_path) => {
            let digits = port_and_path.bytes().take_while(u8::is_ascii_digit).count();
            let (port, path) = port_and_path.split_at_checked(digits)?;
            let port: u32 = port.parse().ok()?;
            if !(1..=65_535).contains(&port) {
                return None;
            }
            path
        }
        None => after_host,
    };
    if uri.contains('#') || !(path.is_empty() || path.starts_with('/') || path.starts_with('?')) {
        return None;
    }
    Some((host, path))
}

fn validate_redirect_uri(uri: &str, app: ApplicationType) -> Result<(), OidcError> {
    use OidcError::InvalidRegistration as Bad;
    if uri.is_empty() || uri.len() > MAX_URI || !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Bad(
            "redirect URI must be visible ASCII, at most 2048 bytes",
        ));
    }
    if uri.contains('#') {
        return Err(Bad("redirect URI must not have a fragment"));
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(Bad("redirect URI must be absolute"));
    };
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err(Bad("redirect URI scheme is malformed"));
    }
    match scheme {
        "https" if rest.starts_with("//") && rest.len() > 2 => Ok(()),
        "http" if loopback_parts(uri).is_some() || is_localhost(rest) => Ok(()),
        "http" => Err(Bad("http redirect URIs only for loopback")),
        // Private-use URI schemes (RFC 8252 §7.1): reverse domain names, native apps only.
        _ if app == ApplicationType::Native && scheme.contains('.') => Ok(()),
        _ => Err(Bad("redirect URI scheme not allowed")),
    }
}

fn is_localhost(rest: &str) -> bool {
    rest.strip_prefix("//localhost")
        .is_some_and(|r| r.is_empty() || r.starts_with(['/', ':', '?']))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn web() -> ClientRegistration {
        ClientRegistration::confidential(
            "web",
            SecretDigest::from_bytes([1; 32]),
            vec!["https://app.example.com/cb".to_owned()],
        )
    }

    fn native() -> ClientRegistration {
        ClientRegistration::public(
            "cli",
            ApplicationType::Native,
            vec![
                "http://127.0.0.1/callback".to_owned(),
                "http://[::1]:8080/cb?x=1".to_owned(),
                "com.example.app:/oauth".to_owned(),
            ],
        )
    }

    #[test]
    fn exact_match_only() {
        let c = web();
        assert!(c.redirect_uri_allowed("https://app.example.com/cb"));
        for attempt in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb/../evil",
            "https://app.example.com/cbx",
            "https://app.example.com/c",
            "https://APP.example.com/cb",
            "HTTPS://app.example.com/cb",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/cb#f",
            "https://app.example.com.evil.com/cb",
            "https://app.example.com:443/cb",
            "https://*.example.com/cb",
            "http://app.example.com/cb",
            "",
        ] {
            assert!(!c.redirect_uri_allowed(attempt), "{attempt}");
        }
    }

    #[test]
    fn loopback_any_port_for_native_public() {
        let c = native();
        assert!(c.redirect_uri_allowed("http://127.0.0.1/callback"));
        assert!(c.redirect_uri_allowed("http://127.0.0.1:51004/callback"));
        assert!(c.redirect_uri_allowed("http://127.0.0.1:1/callback"));
        assert!(c.redirect_uri_allowed("http://[::1]/cb?x=1"));
        assert!(c.redirect_uri_allowed("http://[::1]:9/cb?x=1"));
        for attempt in [
            "http://127.0.0.1:51004/callback/",
            "http://127.0.0.1:51004/Callback",
            "http://127.0.0.1:0/callback",
            "http://127.0.0.1:65536/callback",
            "http://127.0.0.1:80x/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1.evil.com/callback",
            "http://127.0.0.1@evil.com/callback",
            "http://localhost:5000/callback",
            "http://[::1]:9/callback",
            "http://127.0.0.1:9/cb?x=1",
            "https://127.0.0.1:443/callback",
            "http://127.0.0.1:5/callback#x",
        ] {
            assert!(!c.redirect_uri_allowed(attempt), "{attempt}");
        }
        assert!(c.redirect_uri_allowed("com.example.app:/oauth"));
    }

    #[test]
    fn loopback_rule_not_for_web_or_confidential() {
        let mut c = web();
        c.redirect_uris = vec!["http://127.0.0.1/cb".to_owned()];
        assert!(c.redirect_uri_allowed("http://127.0.0.1/cb"));
        assert!(!c.redirect_uri_allowed("http://127.0.0.1:9999/cb"));
        c.application_type = ApplicationType::Native;
        assert!(!c.redirect_uri_allowed("http://127.0.0.1:9999/cb"));
    }

    #[test]
    fn validation() {
        web().validate().unwrap();
        native().validate().unwrap();
        let mut c = web();
        c.redirect_uris = vec!["https://a.example/cb#frag".to_owned()];
        assert!(c.validate().is_err());
        c.redirect_uris = vec!["http://a.example/cb".to_owned()];
        assert!(c.validate().is_err());
        c.redirect_uris = vec!["javascript:alert(1)".to_owned()];
        assert!(c.validate().is_err());
        let mut c = native();
        c.auth_method = ClientAuthMethod::ClientSecretPost {
            secret_digest: SecretDigest::from_bytes([0; 32]),
        };
        assert!(c.validate().is_err());
        let mut c = web();
        c.claim_map
            .entries
            .insert("sub".to_owned(), BTreeMap::new());
        assert!(c.validate().is_err());
        let mut c = web();
        c.lifetimes.code = 3600;
        assert!(c.validate().is_err());
    }

    #[test]
    fn pkce_always_for_public() {
        let mut c = native();
        c.pkce_required = false;
        assert!(c.pkce_required());
        let mut c = web();
        c.pkce_required = false;
        assert!(!c.pkce_required());
    }

    #[test]
    fn scope_map() {
        let mut m = ScopeMap::default();
        let requested = ScopeSet::from_tokens(["openid", "email", "admin"]).unwrap();
        assert_eq!(m.permitted(&requested, &[]).unwrap(), requested);
        m.entries.insert(
            "staff".to_owned(),
            ScopeSet::from_tokens(["openid", "email"]).unwrap(),
        );
        m.entries.insert(
            "admins".to_owned(),
            ScopeSet::from_tokens(["admin"]).unwrap(),
        );
        assert_eq!(
            m.permitted(&requested, &["staff"])
                .unwrap()
                .to_scope_string(),
            "email openid"
        );
        assert_eq!(
            m.permitted(&requested, &["staff", "admins"]).unwrap(),
            requested
        );
        assert!(matches!(
            m.permitted(&requested, &["other"]),
            Err(OidcError::AccessDenied(_))
        ));
    }

    #[test]
    fn claim_map() {
        let mut m = ClaimMap::default();
        let mut by_group = BTreeMap::new();
        by_group.insert("staff".to_owned(), vec!["read".to_owned()]);
        by_group.insert(
            "admins".to_owned(),
            vec!["write".to_owned(), "read".to_owned()],
        );
        m.entries.insert("permissions".to_owned(), by_group);
        let c = m.claims(&["staff", "admins"]);
        assert_eq!(
            c["permissions"],
            vec!["read".to_owned(), "write".to_owned()]
        );
        assert!(m.claims(&["nobody"]).is_empty());
    }

    #[test]
    fn serde_round_trip() {
        let c = native();
        let j = serde_json::to_string(&c).unwrap();
        let back: ClientRegistration = serde_json::from_str(&j).unwrap();
        assert_eq!(back, c);
    }
}
