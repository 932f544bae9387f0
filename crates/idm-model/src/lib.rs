//! The canonical identity model of idm.
//!
//! Everything else in the workspace — the redb store, the admin API, LDAP, OIDC, exports —
//! speaks these types, so that fixtures, provisioning, migration and tests share one source of
//! truth. The crate is pure: no clock, no randomness, no IO. Callers pass `now` and freshly
//! drawn UUIDs and bytes in.

pub mod access;
pub mod api;
pub mod audit;
pub mod change;
pub mod credential;
pub mod entry;
pub mod error;
pub mod export;
pub mod oauth2;
pub mod posix;
pub mod token;
pub mod validate;

pub use entry::{
    ApiToken, Entry, EntryKind, Group, Lock, PasswordCredential, Person, PosixAccount,
    ServiceAccount, TokenAccess, Tombstone,
};
pub use error::{ModelError, Violation};

/// Version of the canonical JSON profile written by [`export`]; bump on incompatible changes.
pub const PROFILE_VERSION: u32 = 1;
