//! Consent as data: what the user already agreed to (stored by the server per user and
//! client) and what must still be asked.

use serde::{Deserialize, Serialize};

use crate::client::ClientRegistration;
use crate::scope::ScopeSet;

/// Scopes a user has agreed to release to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedConsent {
    /// The client.
    pub client_id: String,
    /// The agreed scopes.
    pub scopes: ScopeSet,
}

impl RememberedConsent {
    /// The record to store after the user approved `approved` (merged with what was
    /// remembered before, so consent only grows until the user revokes it).
    #[must_use]
    pub fn after_approval(client_id: &str, previous: Option<&Self>, approved: &ScopeSet) -> Self {
        let scopes = match previous {
            Some(p) if p.client_id == client_id => p.scopes.union(approved),
            _ => approved.clone(),
        };
        Self {
            client_id: client_id.to_owned(),
            scopes,
        }
    }
}

/// The scopes to ask the user about: none for a first-party client; all of them when the
/// request says `prompt=consent`; otherwise those not already remembered for this client.
#[must_use]
pub fn scopes_needing_consent(
    client: &ClientRegistration,
    scopes: &ScopeSet,
    remembered: Option<&RememberedConsent>,
    prompt_consent: bool,
) -> ScopeSet {
    if prompt_consent {
        return scopes.clone();
    }
    if client.first_party {
        return ScopeSet::default();
    }
    match remembered {
        Some(r) if r.client_id == client.client_id => scopes.difference(&r.scopes),
        _ => scopes.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::client_auth::SecretDigest;

    #[test]
    fn consent_rules() {
        let mut c =
            ClientRegistration::confidential("c", SecretDigest::from_bytes([0; 32]), vec![]);
        let s = ScopeSet::from_tokens(["openid", "email"]).unwrap();
        assert_eq!(scopes_needing_consent(&c, &s, None, false), s);
        let r = RememberedConsent::after_approval(
            "c",
            None,
            &ScopeSet::from_tokens(["openid"]).unwrap(),
        );
        assert_eq!(
            scopes_needing_consent(&c, &s, Some(&r), false).to_scope_string(),
            "email"
        );
        let r2 = RememberedConsent::after_approval("c", Some(&r), &s);
        assert!(scopes_needing_consent(&c, &s, Some(&r2), false).is_empty());
        assert_eq!(scopes_needing_consent(&c, &s, Some(&r2), true), s);
        let other = RememberedConsent::after_approval("other", None, &s);
        assert_eq!(scopes_needing_consent(&c, &s, Some(&other), false), s);
        c.first_party = true;
        assert!(scopes_needing_consent(&c, &s, None, false).is_empty());
    }
}
