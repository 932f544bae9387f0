//! The provider: configuration plus the entry points the server's handlers call.
//!
//! [`Provider`] holds only configuration (issuer, endpoint URLs, tenant, limits, time
//! windows); keys ([`crate::KeySet`]) rotate independently and are passed per call, and
//! everything per-request is an argument. The endpoint methods live next to their types
//! (`authorize.rs`, `token.rs`, `resource.rs`, `logout.rs`, `discovery.rs`).

use crate::client::ClientRegistration;
use crate::client_auth::{self, AssertionPolicy, AuthenticatedClient, ClientCredentials};
use crate::dpop::{self, DpopCheck, DpopPolicy, DpopProof};
use crate::error::OidcError;
use crate::params::Limits;

/// The endpoint URLs, as published in discovery and compared in `aud` and DPoP `htu`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `authorization_endpoint`.
    pub authorization: String,
    /// `token_endpoint`.
    pub token: String,
    /// `userinfo_endpoint`.
    pub userinfo: String,
    /// `jwks_uri`.
    pub jwks: String,
    /// `pushed_authorization_request_endpoint`.
    pub par: String,
    /// `revocation_endpoint`.
    pub revocation: String,
    /// `introspection_endpoint`.
    pub introspection: String,
    /// `end_session_endpoint`.
    pub end_session: String,
}

impl Endpoints {
    /// The default layout under the issuer: `/authorize`, `/token`, `/userinfo`, `/jwks`,
    /// `/par`, `/revoke`, `/introspect`, `/logout`.
    #[must_use]
    pub fn under(issuer: &str) -> Self {
        let at = |p: &str| format!("{issuer}{p}");
        Self {
            authorization: at("/authorize"),
            token: at("/token"),
            userinfo: at("/userinfo"),
            jwks: at("/jwks"),
            par: at("/par"),
            revocation: at("/revoke"),
            introspection: at("/introspect"),
            end_session: at("/logout"),
        }
    }
}

/// Provider configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// The issuer identifier: `https://host[/path]`, no query, fragment or trailing slash
    /// (compared byte for byte by relying parties, RFC 9207 and OIDC Discovery §3).
    pub issuer: String,
    /// Endpoint URLs.
    pub endpoints: Endpoints,
    /// The `tenant` claim of every token.
    pub tenant: String,
    /// Request size limits.
    pub limits: Limits,
    /// DPoP proof time window.
    pub dpop: DpopPolicy,
    /// How long a pushed authorization request lives (RFC 9126 suggests a short time).
    pub par_lifetime: i64,
    /// Longest accepted client assertion lifetime (`exp - now`), which also bounds how
    /// long the server keeps its `jti`.
    pub assertion_max_lifetime: i64,
    /// Tolerated clock difference for `iat`/`nbf`/`exp` of client assertions and tokens.
    pub clock_skew: i64,
    /// Scopes advertised in discovery.
    pub scopes_supported: Vec<String>,
}

impl ProviderConfig {
    /// Defaults for an issuer and tenant: endpoints under the issuer, 60 s PAR lifetime,
    /// 300 s maximum assertion lifetime, 30 s skew.
    pub fn new(issuer: &str, tenant: &str) -> Result<Self, OidcError> {
        validate_issuer(issuer)?;
        Ok(Self {
            issuer: issuer.to_owned(),
            endpoints: Endpoints::under(issuer),
            tenant: tenant.to_owned(),
            limits: Limits::default(),
            dpop: DpopPolicy::default(),
            par_lifetime: 60,
            assertion_max_lifetime: 300,
            clock_skew: 30,
            scopes_supported: ["openid", "profile", "email", "groups", "offline_access"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// The OpenID provider: configuration and the endpoint operations.
#[derive(Debug, Clone)]
pub struct Provider {
    config: ProviderConfig,
}

impl Provider {
    /// A provider from a checked configuration.
    pub fn new(config: ProviderConfig) -> Result<Self, OidcError> {
        validate_issuer(&config.issuer)?;
        if config.par_lifetime <= 0 || config.assertion_max_lifetime <= 0 || config.clock_skew < 0 {
            return Err(OidcError::InvalidConfig("lifetimes must be positive"));
        }
        Ok(Self { config })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The issuer.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// Checks the presented credentials against the client's registration. On success
    /// with `private_key_jwt`, the server must then refuse a reused assertion `jti`
    /// ([`AuthenticatedClient::assertion`]). If no client is registered under
    /// [`ClientCredentials::client_id`], answer [`ClientCredentials::unknown_client_error`]
    /// instead of calling this.
    pub fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
        client: &ClientRegistration,
        now: i64,
    ) -> Result<AuthenticatedClient, OidcError> {
        let e = &self.config.endpoints;
        let audiences = [
            self.config.issuer.as_str(),
            e.token.as_str(),
            e.par.as_str(),
        ];
        let policy = AssertionPolicy {
            audiences: &audiences,
            max_lifetime: self.config.assertion_max_lifetime,
            skew: self.config.clock_skew,
            max_bytes: self.config.limits.max_token_bytes,
        };
        client_auth::authenticate(credentials, client, &policy, now)
    }

    /// Verifies a DPoP proof (RFC 9449 §4.3) for a request to this server. The server must
    /// then refuse a reused [`DpopProof::jti`] until [`DpopProof::replay_until`].
    pub fn verify_dpop(
        &self,
        proof: &str,
        check: &DpopCheck<'_>,
        now: i64,
    ) -> Result<DpopProof, OidcError> {
        dpop::verify_proof(
            proof,
            check,
            &self.config.dpop,
            self.config.limits.max_token_bytes,
            now,
        )
    }
}

fn validate_issuer(issuer: &str) -> Result<(), OidcError> {
    let bad = OidcError::InvalidConfig(
        "issuer must be https://host[/path] without query, fragment or trailing slash",
    );
    let rest = if let Some(r) = issuer.strip_prefix("https://") {
        r
    } else if let Some(r) = issuer.strip_prefix("http://") {
        // Plain HTTP only for local development.
        let host = r.split(['/', ':']).next().unwrap_or_default();
        let loopback_v6 = r
            .strip_prefix("[::1]")
            .is_some_and(|t| t.is_empty() || t.starts_with([':', '/']));
        if !matches!(host, "localhost" | "127.0.0.1") && !loopback_v6 {
            return Err(bad);
        }
        r
    } else {
        return Err(bad);
    };
    if rest.is_empty()
        || rest.starts_with('/')
        || issuer.ends_with('/')
        || issuer.contains(['?', '#', ' '])
        || !issuer.is_ascii()
    {
        return Err(bad);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn issuer_rules() {
        assert!(ProviderConfig::new("https://idm.example.com", "t").is_ok());
        assert!(ProviderConfig::new("https://idm.example.com/realms/a", "t").is_ok());
        assert!(ProviderConfig::new("http://localhost:8443", "t").is_ok());
        assert!(ProviderConfig::new("http://[::1]:8443", "t").is_ok());
        for bad in [
            "https://idm.example.com/",
            "http://idm.example.com",
            "https://idm.example.com?x",
            "https://idm.example.com#x",
            "https://",
            "idm.example.com",
        ] {
            assert!(ProviderConfig::new(bad, "t").is_err(), "{bad}");
        }
        let c = ProviderConfig::new("https://idm.example.com", "t").unwrap();
        assert_eq!(c.endpoints.token, "https://idm.example.com/token");
    }
}
