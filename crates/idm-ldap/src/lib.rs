//! idm's LDAPv3 protocol library, sans-IO.
//!
//! Three layers, each usable alone:
//! 1. [`ber`]: raw BER tag-length-value elements (nom for parsing, [`bytes::BytesMut`] for
//!    encoding), definite lengths only.
//! 2. [`proto`]: typed messages for every RFC 4511 operation, [`decode_message`] /
//!    [`encode_message`], controls ([`control`]), filters ([`filter`]) and DNs ([`dn`]).
//! 3. [`session`]: a per-connection state machine that answers requests through a
//!    [`Directory`] and returns [`Output`]s (responses, an action for the IO layer, audit
//!    events).
//!
//! The crate performs no IO, reads no clock and draws no randomness: `now` is an argument and
//! paged-results cookies are counters private to a session. Every decoder is total and bounded
//! by [`Limits`]. The server's tokio loop is expected to be a thin wrapper; see [`session`].
//!
//! [`MemDirectory`] is an in-memory [`Directory`] for tests, benches and fuzzing.

#![deny(clippy::indexing_slicing)]
#![warn(missing_docs)]

pub mod ber;
pub mod control;
pub mod directory;
pub mod dn;
mod entry;
mod error;
pub mod eval;
pub mod filter;
pub mod memdir;
pub mod proto;
pub mod schema;
pub mod search;
pub mod session;

/// Re-exported because [`bytes::BytesMut`] is part of the encoding API.
pub use bytes;

pub use control::{Control, PagedResults};
pub use directory::{BindOutcome, BoundIdentity, Directory, EntryId, RootDse, Timestamp};
pub use dn::{Dn, Rdn};
pub use entry::{Attribute, Entry, EntryView};
pub use error::{LdapError, ResultCode};
pub use filter::Filter;
pub use memdir::MemDirectory;
pub use proto::{LdapMessage, LdapResult, Limits, ProtocolOp, decode_message, encode_message};
pub use search::{Candidates, PreparedSearch};
pub use session::{Action, Event, Output, Session, SessionConfig};

#[cfg(test)]
mod planner_tests;
#[cfg(test)]
mod proto_tests;
#[cfg(test)]
mod session_tests;
