//! The crate's one error enum, plus the precise validation [`Violation`] it carries.

use serde::{Deserialize, Serialize};

/// Which field broke which rule. Serialisable so the API can return it as-is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The field path, e.g. `name`, `mails[1]`, `posix.login_shell`.
    pub field: String,
    /// The rule, as a sentence a human can act on.
    pub rule: String,
}

impl Violation {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelError {
    #[error("invalid {0}")]
    Invalid(Violation),
    #[error("malformed canonical JSON: {0}")]
    Json(String),
    #[error("unsupported profile_version {found} (this build reads {supported})")]
    ProfileVersion { found: u32, supported: u32 },
    #[error("{0}")]
    Inconsistent(String),
    #[error("malformed API token")]
    MalformedToken,
}

impl ModelError {
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        ModelError::Invalid(Violation::new(field, rule))
    }
}
