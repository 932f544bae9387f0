//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
//!
//! The server's handler: [`EndSessionRequest::parse`] → [`EndSessionRequest::verify_hint`]
//! → look up the client by [`EndSessionRequest::client_id_to_look_up`] →
//! [`Provider::end_session`] → end the session (after asking the user when
//! [`Logout::confirm_with_user`]) → [`Logout::redirect_response`] or a "signed out" page.
//! Every error here is shown to the user: the post-logout redirect is only followed once
//! it matched a registration exactly.

use crate::claims::{ID_TOKEN_TYP, IdTokenClaims, JwtCheck, verify_own_jwt};
use crate::client::ClientRegistration;
use crate::error::OidcError;
use crate::http::HttpResponse;
use crate::jose::KeySet;
use crate::params::{Limits, Params, encode_pairs};
use crate::provider::Provider;

/// An end-session request (query or form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndSessionRequest {
    /// A previously issued ID token.
    pub id_token_hint: Option<String>,
    /// The client, when no hint is given (or to confirm the hint's).
    pub client_id: Option<String>,
    /// Where to send the user afterwards.
    pub post_logout_redirect_uri: Option<String>,
    /// Echoed on the redirect.
    pub state: Option<String>,
    /// For the server's confirmation page.
    pub logout_hint: Option<String>,
    /// For the server's pages.
    pub ui_locales: Option<String>,
}

/// What a verified `id_token_hint` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    /// The user.
    pub subject: String,
    /// The login session, if the token carried `sid`.
    pub session_id: Option<String>,
    /// The token's audience: the client.
    pub client_id: String,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Logout {
    /// The user to log out, if known from the hint.
    pub subject: Option<String>,
    /// The session to end, if known from the hint.
    pub session_id: Option<String>,
    /// The client that asked.
    pub client_id: Option<String>,
    /// Without a valid `id_token_hint` anyone can link to the logout URL, so the server
    /// must ask the user before ending the session (logout CSRF).
    pub confirm_with_user: bool,
    /// The validated post-logout redirect with `state` appended.
    pub redirect: Option<String>,
}

impl Logout {
    /// The 303 to the post-logout redirect URI, if there is one.
    #[must_use]
    pub fn redirect_response(&self) -> Option<HttpResponse> {
        self.redirect.as_ref().map(|location| {
            let mut r = HttpResponse::empty(303);
            r.push_header("Location", location.clone());
            r.push_header("Cache-Control", "no-store".to_owned());
            r
        })
    }
}

impl EndSessionRequest {
    /// Parses a query string or form body. Repeated parameters are refused.
    pub fn parse(input: &[u8], limits: &Limits) -> Result<Self, OidcError> {
        let p = Params::parse_strict(input, limits)?;
        Ok(Self {
            id_token_hint: p.owned("id_token_hint"),
            client_id: p.owned("client_id"),
            post_logout_redirect_uri: p.owned("post_logout_redirect_uri"),
            state: p.owned("state"),
            logout_hint: p.owned("logout_hint"),
            ui_locales: p.owned("ui_locales"),
        })
    }

    /// Verifies the `id_token_hint`: our signature (current, next or retired key), our
    /// issuer, ID token type — but not expiry, since logging out with an expired ID token
    /// is the normal case.
    pub fn verify_hint(
        &self,
        provider: &Provider,
        keys: &KeySet,
        now: i64,
    ) -> Result<Option<IdTokenHint>, OidcError> {
        let Some(hint) = &self.id_token_hint else {
            return Ok(None);
        };
        let check = JwtCheck {
            typ: ID_TOKEN_TYP,
            issuer: provider.issuer(),
            now,
            skew: provider.config().clock_skew,
            check_exp: false,
            max_bytes: provider.config().limits.max_token_bytes,
        };
        let claims: IdTokenClaims = verify_own_jwt(hint, keys, &check).map_err(OidcError::Jws)?;
        Ok(Some(IdTokenHint {
            subject: claims.sub,
            session_id: claims.sid,
            client_id: claims.aud,
        }))
    }

    /// The client to look up: the hint's audience, else `client_id`.
    #[must_use]
    pub fn client_id_to_look_up<'a>(&'a self, hint: Option<&'a IdTokenHint>) -> Option<&'a str> {
        hint.map(|h| h.client_id.as_str())
            .or(self.client_id.as_deref())
    }
}

impl Provider {
    /// Validates an end-session request with the verified hint and the looked-up client.
    pub fn end_session(
        &self,
        request: &EndSessionRequest,
        hint: Option<&IdTokenHint>,
        client: Option<&ClientRegistration>,
    ) -> Result<Logout, OidcError> {
        if let (Some(h), Some(id)) = (hint, &request.client_id)
            && h.client_id != *id
        {
            return Err(OidcError::InvalidParameter("client_id"));
        }
        let wanted = request.client_id_to_look_up(hint);
        let client = match (wanted, client) {
            (Some(id), Some(c)) if c.client_id == id => Some(c),
            (Some(_), _) => return Err(OidcError::UnknownClient),
            (None, _) => None,
        };
        let redirect = match (&request.post_logout_redirect_uri, client) {
            (None, _) => None,
            (Some(_), None) => return Err(OidcError::MissingParameter("client_id")),
            (Some(uri), Some(c)) if c.post_logout_uri_allowed(uri) => Some(match &request.state {
                Some(state) => {
                    let sep = if uri.contains('?') { '&' } else { '?' };
                    format!("{uri}{sep}{}", encode_pairs([("state", state.as_str())]))
                }
                None => uri.clone(),
            }),
            (Some(_), Some(_)) => return Err(OidcError::RedirectUriMismatch),
        };
        Ok(Logout {
            subject: hint.map(|h| h.subject.clone()),
            session_id: hint.and_then(|h| h.session_id.clone()),
            client_id: client.map(|c| c.client_id.clone()),
            confirm_with_user: hint.is_none(),
            redirect,
        })
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::authorize::tests::{client, provider};
    use crate::claims::{Assurance, PrincipalType, ProfileClaims, ScopedClaims};
    use crate::jose::test_keys::*;
    use crate::jose::{JwsAlg, sign_jwt};

    fn id_token(exp: i64, key_seed: u8) -> String {
        let claims = IdTokenClaims {
            iss: "https://idm.example.com".to_owned(),
            sub: "user-1".to_owned(),
            aud: "app".to_owned(),
            exp,
            iat: exp - 600,
            auth_time: None,
            nonce: None,
            azp: None,
            sid: Some("sess-1".to_owned()),
            acr: None,
            amr: None,
            at_hash: None,
            scoped: ScopedClaims::default(),
            profile: ProfileClaims {
                tenant: "acme".to_owned(),
                principal_type: PrincipalType::Person,
                roles: vec![],
                scope: "openid".to_owned(),
                assurance: Assurance::Password,
            },
            custom: Default::default(),
        };
        sign_jwt(&es256("es", key_seed), ID_TOKEN_TYP, &claims, &mut rng()).unwrap()
    }

    fn app() -> ClientRegistration {
        let mut c = client();
        c.post_logout_redirect_uris = vec!["https://app.example.com/bye".to_owned()];
        c
    }

    fn parse(q: &str) -> EndSessionRequest {
        EndSessionRequest::parse(q.as_bytes(), &Limits::default()).unwrap()
    }

    #[test]
    fn expired_hint_is_fine_and_redirect_is_exact() {
        let p = provider();
        let keys = KeySet::new(vec![es256("es", 1)]).unwrap();
        let q = format!(
            "id_token_hint={}&post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye&state=s+1",
            id_token(1000, 1)
        );
        let req = parse(&q);
        let hint = req.verify_hint(&p, &keys, 5000).unwrap();
        assert_eq!(req.client_id_to_look_up(hint.as_ref()), Some("app"));
        let out = p.end_session(&req, hint.as_ref(), Some(&app())).unwrap();
        assert_eq!(out.subject.as_deref(), Some("user-1"));
        assert_eq!(out.session_id.as_deref(), Some("sess-1"));
        assert!(!out.confirm_with_user);
        assert_eq!(
            out.redirect.as_deref(),
            Some("https://app.example.com/bye?state=s+1")
        );
        assert_eq!(out.redirect_response().unwrap().status, 303);

        let bad = parse(&q.replace("%2Fbye", "%2Fbye%2F"));
        assert_eq!(
            p.end_session(&bad, hint.as_ref(), Some(&app())),
            Err(OidcError::RedirectUriMismatch)
        );
    }

    #[test]
    fn hint_signature_checked() {
        let p = provider();
        let keys = KeySet::new(vec![es256("es", 1)]).unwrap();
        let req = parse(&format!("id_token_hint={}", id_token(1000, 2)));
        assert!(req.verify_hint(&p, &keys, 5000).is_err());
        let rs = KeySet::new(vec![rsa("es", JwsAlg::RS256)]).unwrap();
        let req = parse(&format!("id_token_hint={}", id_token(1000, 1)));
        assert!(req.verify_hint(&p, &rs, 5000).is_err());
    }

    #[test]
    fn without_hint() {
        let p = provider();
        let req =
            parse("client_id=app&post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye");
        let out = p.end_session(&req, None, Some(&app())).unwrap();
        assert!(out.confirm_with_user);
        assert_eq!(out.redirect.as_deref(), Some("https://app.example.com/bye"));
        // A redirect without any way to know the client.
        let req = parse("post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye");
        assert!(p.end_session(&req, None, None).is_err());
        // Plain logout.
        let out = p.end_session(&parse(""), None, None).unwrap();
        assert!(out.redirect.is_none() && out.confirm_with_user);
        // client_id disagreeing with the hint.
        let hint = IdTokenHint {
            subject: "u".to_owned(),
            session_id: None,
            client_id: "app".to_owned(),
        };
        assert!(
            p.end_session(&parse("client_id=other"), Some(&hint), Some(&app()))
                .is_err()
        );
    }
}
