//! OpenSSH keys for idm, as pure functions over strings.
//!
//! Users paste public keys into the admin API or the self-service pages; the server stores
//! them and later renders `authorized_keys` lines (for `AuthorizedKeysCommand`) or signs
//! certificates. Everything that can go wrong with a pasted key — options smuggled in front
//! of it, a type label that lies about the key inside, weak RSA, DSA — is refused here, at
//! the one place where keys enter, so that the rest of the server only ever sees keys that
//! `sshd` will accept.
//!
//! The crate is sans-IO: no files, clocks or randomness (see `ARCHITECTURE.md`). Certificates
//! will live in a sibling module.

mod error;
mod public_key;

pub use error::SshError;
pub use public_key::{KeyPolicy, MAX_COMMENT_CHARS, MAX_LINE_BYTES, MAX_RSA_BITS, SshPublicKey};
