//! Scopes: a validated, ordered, de-duplicated set of scope tokens (RFC 6749 §3.3).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::OidcError;
use crate::params::{Limits, split_list};

/// The OpenID Connect scope that makes a request an OIDC request (ID token, userinfo).
pub const OPENID: &str = "openid";
/// Name, preferred_username, updated_at.
pub const PROFILE: &str = "profile";
/// Email and email_verified.
pub const EMAIL: &str = "email";
/// The `groups` claim.
pub const GROUPS: &str = "groups";
/// Asks for a refresh token (OIDC Core §11), when the client's policy demands it.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Longest single scope token.
const MAX_SCOPE_TOKEN: usize = 128;

/// A set of scope tokens. Ordered so that the `scope` string it renders is stable (tests,
/// caches and consent comparisons see the same string for the same set).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// Parses a space-delimited `scope` value. Each token must be RFC 6749 `scope-token`
    /// characters (%x21 / %x23-5B / %x5D-7E).
    pub fn parse(value: &str, limits: &Limits) -> Result<Self, OidcError> {
        let mut set = BTreeSet::new();
        for token in split_list(value, limits, "scope")? {
            if !is_scope_token(token) {
                return Err(OidcError::InvalidParameter("scope"));
            }
            set.insert(token.to_owned());
        }
        Ok(Self(set))
    }

    /// Builds a set from trusted tokens (configuration, tests); invalid tokens are refused.
    pub fn from_tokens<I, S>(tokens: I) -> Result<Self, OidcError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut set = BTreeSet::new();
        for t in tokens {
            let t = t.into();
            if !is_scope_token(&t) {
                return Err(OidcError::InvalidParameter("scope"));
            }
            set.insert(t);
        }
        Ok(Self(set))
    }

    /// Whether the set holds `scope`.
    #[must_use]
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// Whether every scope of `self` is in `other`.
    #[must_use]
    pub fn is_subset(&self, other: &Self) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes of `self` that are not in `other`.
    #[must_use]
    pub fn difference(&self, other: &Self) -> Self {
        Self(self.0.difference(&other.0).cloned().collect())
    }

    /// The scopes in both.
    #[must_use]
    pub fn intersection(&self, other: &Self) -> Self {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// The scopes in either.
    #[must_use]
    pub fn union(&self, other: &Self) -> Self {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Number of scopes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The space-delimited wire form.
    #[must_use]
    pub fn to_scope_string(&self) -> String {
        let mut s = String::new();
        for (i, t) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(t);
        }
        s
    }
}

fn is_scope_token(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= MAX_SCOPE_TOKEN
        && t.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

impl TryFrom<String> for ScopeSet {
    type Error = OidcError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(
            &s,
            &Limits {
                max_list_values: usize::MAX,
                ..Limits::default()
            },
        )
    }
}

impl From<ScopeSet> for String {
    fn from(s: ScopeSet) -> Self {
        s.to_scope_string()
    }
}

impl core::fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.to_scope_string())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn parses_dedups_and_orders() {
        let s = ScopeSet::parse("profile openid  profile email", &Limits::default()).unwrap();
        assert_eq!(s.to_scope_string(), "email openid profile");
        assert!(s.contains("openid"));
    }

    #[test]
    fn refuses_bad_characters() {
        assert!(ScopeSet::parse("open\"id", &Limits::default()).is_err());
        assert!(ScopeSet::parse("a\\b", &Limits::default()).is_err());
        assert!(ScopeSet::parse("\u{e9}", &Limits::default()).is_err());
    }

    #[test]
    fn serde_as_string() {
        let s = ScopeSet::from_tokens(["openid", "email"]).unwrap();
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, "\"email openid\"");
        let back: ScopeSet = serde_json::from_str(&j).unwrap();
        assert_eq!(back, s);
    }
}
