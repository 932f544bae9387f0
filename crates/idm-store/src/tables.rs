//! Every redb table of the store, in one place, with versioned names.
//!
//! Keys are UUIDs as `u128` (fixed width, ordered), values JSON (self-describing, so records can
//! be migrated and inspected). A table's name changes when its key or value layout does.

use redb::{MultimapTableDefinition, TableDefinition};

/// UUID → `{"v": schema, "entry": Entry}`.
pub const ENTRIES: TableDefinition<u128, &[u8]> = TableDefinition::new("entries-v1");
/// (kind, UUID) → (): lists one kind without reading the others.
pub const KINDS: TableDefinition<(u8, u128), ()> = TableDefinition::new("kinds-v1");
/// Login name → UUID, unique across persons, service accounts and groups.
pub const NAMES: TableDefinition<&str, u128> = TableDefinition::new("names-v1");
/// Case-folded mail → UUID.
pub const MAILS: TableDefinition<&str, u128> = TableDefinition::new("mails-v1");
/// Live POSIX id → owner.
pub const POSIX_IDS: TableDefinition<u32, u128> = TableDefinition::new("posix-ids-v1");
/// POSIX ids of deleted entries → former owner; never handed out again.
pub const RETIRED_POSIX_IDS: TableDefinition<u32, u128> =
    TableDefinition::new("retired-posix-ids-v1");
/// Group → direct member.
pub const MEMBERS: MultimapTableDefinition<u128, u128> = MultimapTableDefinition::new("members-v1");
/// Entry → group it is directly in.
pub const MEMBER_OF: MultimapTableDefinition<u128, u128> =
    MultimapTableDefinition::new("member-of-v1");
/// Entry → every group it is in, nesting included.
pub const MEMBER_OF_TRANSITIVE: MultimapTableDefinition<u128, u128> =
    MultimapTableDefinition::new("member-of-transitive-v1");
/// UUID → Tombstone JSON.
pub const TOMBSTONES: TableDefinition<u128, &[u8]> = TableDefinition::new("tombstones-v1");
/// API token id → service account UUID.
pub const API_TOKEN_IDS: TableDefinition<u128, u128> = TableDefinition::new("api-token-ids-v1");
/// Store-wide values (schema version, POSIX counter, audit head).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta-v1");
/// Audit sequence number → AuditEntry JSON.
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit-v1");
/// Actor name or UUID → audit sequence numbers.
pub const AUDIT_BY_ACTOR: MultimapTableDefinition<&str, u64> =
    MultimapTableDefinition::new("audit-by-actor-v1");
/// Target name or UUID → audit sequence numbers.
pub const AUDIT_BY_TARGET: MultimapTableDefinition<&str, u64> =
    MultimapTableDefinition::new("audit-by-target-v1");
/// (time in µs, sequence number) → (): time-range queries.
pub const AUDIT_BY_TIME: TableDefinition<(i64, u64), ()> = TableDefinition::new("audit-by-time-v1");
/// Session id → Session JSON (bearer sessions; later OIDC sessions and codes).
pub const SESSIONS: TableDefinition<u128, &[u8]> = TableDefinition::new("sessions-v1");
/// Account UUID → opaque authentication state (lockout counters), owned by the server.
pub const AUTH_STATE: TableDefinition<u128, &[u8]> = TableDefinition::new("auth-state-v1");

pub const META_SCHEMA: &str = "schema_version";
pub const META_POSIX_NEXT: &str = "posix_next";
pub const META_AUDIT_HEAD: &str = "audit_head";

/// OAuth2 client UUID → OAuth2Client JSON.
pub const OAUTH2_CLIENTS: TableDefinition<u128, &[u8]> = TableDefinition::new("oauth2-clients-v1");
/// client_id → UUID.
pub const OAUTH2_CLIENT_NAMES: TableDefinition<&str, u128> =
    TableDefinition::new("oauth2-client-names-v1");
/// (kind, key) → `{"expires_at": unix seconds, "data": …}`: authorization codes, SSO sessions,
/// refresh tokens and families, consents, replay caches — each kind its own key space, swept
/// when expired.
pub const EPHEMERAL: TableDefinition<(u8, &str), &[u8]> = TableDefinition::new("ephemeral-v1");
