//! OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414): advertises exactly what
//! this crate implements — relying parties and conformance suites take the document at
//! its word, so an over-claim is a bug and an under-claim silently disables features.

use serde::Serialize;

use crate::http::HttpResponse;
use crate::jose::{KeySet, SUPPORTED_ALGS};
use crate::provider::Provider;

/// The discovery document.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveryDocument {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub pushed_authorization_request_endpoint: String,
    pub require_pushed_authorization_requests: bool,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub end_session_endpoint: String,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub dpop_signing_alg_values_supported: Vec<&'static str>,
    pub prompt_values_supported: Vec<&'static str>,
    pub claims_supported: Vec<&'static str>,
    pub claim_types_supported: Vec<&'static str>,
    pub authorization_response_iss_parameter_supported: bool,
    pub claims_parameter_supported: bool,
    pub request_parameter_supported: bool,
    /// OIDC Discovery defaults this to `true`; it must be said explicitly. (PAR's
    /// `request_uri` is separate and advertised by its endpoint.)
    pub request_uri_parameter_supported: bool,
    pub frontchannel_logout_supported: bool,
    pub backchannel_logout_supported: bool,
}

const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

impl Provider {
    /// The discovery document for the current keys.
    #[must_use]
    pub fn discovery_document(&self, keys: &KeySet) -> DiscoveryDocument {
        let c = self.config();
        let e = &c.endpoints;
        let all_algs: Vec<&'static str> = SUPPORTED_ALGS.iter().map(|a| a.as_str()).collect();
        DiscoveryDocument {
            issuer: c.issuer.clone(),
            authorization_endpoint: e.authorization.clone(),
            token_endpoint: e.token.clone(),
            userinfo_endpoint: e.userinfo.clone(),
            jwks_uri: e.jwks.clone(),
            pushed_authorization_request_endpoint: e.par.clone(),
            require_pushed_authorization_requests: false,
            revocation_endpoint: e.revocation.clone(),
            introspection_endpoint: e.introspection.clone(),
            end_session_endpoint: e.end_session.clone(),
            scopes_supported: c.scopes_supported.clone(),
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query", "form_post"],
            grant_types_supported: vec![
                "authorization_code",
                "refresh_token",
                "client_credentials",
            ],
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: keys
                .algs()
                .into_iter()
                .map(|a| a.as_str())
                .collect(),
            token_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            token_endpoint_auth_signing_alg_values_supported: all_algs.clone(),
            revocation_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            introspection_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            code_challenge_methods_supported: vec!["S256"],
            dpop_signing_alg_values_supported: all_algs,
            prompt_values_supported: vec!["none", "login", "consent", "select_account"],
            claims_supported: vec![
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "azp",
                "sid",
                "acr",
                "amr",
                "at_hash",
                "name",
                "preferred_username",
                "updated_at",
                "email",
                "email_verified",
                "groups",
                "tenant",
                "principal_type",
                "roles",
                "scope",
                "assurance",
            ],
            claim_types_supported: vec!["normal"],
            authorization_response_iss_parameter_supported: true,
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            frontchannel_logout_supported: false,
            backchannel_logout_supported: false,
        }
    }

    /// `/.well-known/openid-configuration`: JSON, cacheable for a few minutes.
    pub fn discovery_response(&self, keys: &KeySet) -> HttpResponse {
        let mut r = HttpResponse::json(200, &self.discovery_document(keys));
        r.headers.retain(|(n, _)| *n == "Content-Type");
        r.push_header("Cache-Control", "public, max-age=300".to_owned());
        r
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::authorize::tests::provider;
    use crate::jose::test_keys::*;

    #[test]
    fn advertises_the_profile() {
        let keys = KeySet::new(vec![es256("e", 1)]).unwrap();
        let r = provider().discovery_response(&keys);
        let d: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(d["issuer"], "https://idm.example.com");
        assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            d["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            d["id_token_signing_alg_values_supported"],
            serde_json::json!(["ES256"])
        );
        assert_eq!(d["authorization_response_iss_parameter_supported"], true);
        assert_eq!(d["request_uri_parameter_supported"], false);
        assert!(
            d["grant_types_supported"]
                .as_array()
                .unwrap()
                .iter()
                .all(|g| g != "implicit" && g != "password")
        );
        assert_eq!(r.header("Cache-Control"), Some("public, max-age=300"));
    }
}
