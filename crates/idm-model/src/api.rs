//! Request and response bodies of the `/v1` admin API, shared by the server and the CLI so the
//! two cannot drift apart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::AuditEntry;
use crate::credential::{CredentialClass, CredentialPolicy, MfaType, WebauthnKind};
use crate::entry::{EntryKind, Lock, PosixAccount, TokenAccess};
use crate::error::Violation;

pub use crate::change::{PersonPatch, PosixPatch, ServiceAccountPatch};

/// The body of every error response: a stable machine `code`, a human `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRequest {
    pub name: String,
    pub password: String,
    /// A TOTP or backup code, for accounts that hold a second factor or whose policy needs
    /// one (passkey-only accounts sign in through the browser).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl std::fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRequest")
            .field("name", &self.name)
            .field("password", &"***")
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhoAmI {
    pub uuid: Uuid,
    pub name: String,
    pub kind: EntryKind,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonCreate {
    pub name: String,
    pub display_name: String,
    #[serde(default)]
    pub mails: Vec<String>,
    #[serde(default)]
    pub legal_name: Option<String>,
}

/// A reference to another entry, with its name resolved for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRef {
    pub uuid: Uuid,
    pub name: String,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SshKeyView {
    pub label: String,
    pub algorithm: String,
    pub fingerprint: String,
    #[serde(default)]
    pub comment: Option<String>,
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersonView {
    pub uuid: Uuid,
    pub name: String,
    pub display_name: String,
    #[serde(default)]
    pub legal_name: Option<String>,
    pub mails: Vec<String>,
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub expire_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub lock: Option<Lock>,
    #[serde(default)]
    pub posix: Option<PosixAccount>,
    pub ssh_keys: Vec<SshKeyView>,
    pub password_set: bool,
    /// Direct group memberships.
    pub groups: Vec<EntryRef>,
    /// Every group, nested membership included.
    pub groups_transitive: Vec<EntryRef>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddSshKey {
    pub label: String,
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockRequest {
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupCreate {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPosix {
    #[serde(default)]
    pub gid_number: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupView {
    pub uuid: Uuid,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub gid_number: Option<u32>,
    /// The rules this group sets for how its members (direct and nested) log in.
    #[serde(default)]
    pub credential_policy: Option<CredentialPolicy>,
    pub members: Vec<EntryRef>,
    pub groups: Vec<EntryRef>,
    pub builtin: bool,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

/// Members named by name or UUID.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Members {
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountCreate {
    pub name: String,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiTokenView {
    pub id: Uuid,
    pub label: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub expire_at: Option<DateTime<Utc>>,
    pub access: TokenAccess,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceAccountView {
    pub uuid: Uuid,
    pub name: String,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub expire_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub lock: Option<Lock>,
    pub api_tokens: Vec<ApiTokenView>,
    pub groups: Vec<EntryRef>,
    pub groups_transitive: Vec<EntryRef>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenCreate {
    pub label: String,
    #[serde(default)]
    pub expire_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub read_write: bool,
}

/// The only time a token's secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiTokenCreated {
    pub id: Uuid,
    pub token: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
}

/// The one-time output of `recover-account`.
#[derive(Serialize, Deserialize)]
pub struct Recovered {
    pub name: String,
    pub password: String,
}

impl std::fmt::Debug for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recovered")
            .field("name", &self.name)
            .field("password", &"***")
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub persons: u64,
    pub service_accounts: u64,
    pub groups: u64,
    pub audit_entries: u64,
    pub uptime_secs: u64,
}

/// `POST /v1/oauth2`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Create {
    pub name: String,
    pub display_name: String,
    pub origin: String,
    #[serde(default)]
    pub public: bool,
}

/// `PATCH /v1/oauth2/{id}`: every field optional; lists are edited by add/remove.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Patch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_post_logout_redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_post_logout_redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_par: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_dpop: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_pkce: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_offline_access: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_party: Option<bool>,
    /// `ES256`, `RS256` or `PS256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetimes: Option<crate::oauth2::Lifetimes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_claim: Option<crate::oauth2::GroupsClaim>,
    /// A service account name for `client_credentials`; empty string clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// JWKS JSON for `private_key_jwt`; empty string clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
}

/// `PUT /v1/oauth2/{id}/scope_map/{group}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeMap {
    pub scopes: Vec<String>,
}

/// `PUT /v1/oauth2/{id}/claim_map/{claim}/{group}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMap {
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuth2View {
    pub uuid: Uuid,
    pub name: String,
    pub display_name: String,
    pub kind: crate::oauth2::ClientKind,
    pub origin: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub has_secret: bool,
    pub has_jwks: bool,
    /// Group name → scopes.
    pub scope_maps: std::collections::BTreeMap<String, Vec<String>>,
    /// Claim → group name → values.
    pub claim_maps:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<String>>>,
    pub require_par: bool,
    pub require_dpop: bool,
    pub require_pkce: bool,
    pub require_offline_access: bool,
    pub signing_alg: crate::oauth2::SigningAlg,
    pub first_party: bool,
    pub lifetimes: crate::oauth2::Lifetimes,
    pub groups_claim: crate::oauth2::GroupsClaim,
    #[serde(default)]
    pub service_account: Option<String>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

/// A client secret, shown once (on create, reset, or the first `show-basic-secret` after).
#[derive(Serialize, Deserialize)]
pub struct ClientSecret {
    pub client_id: String,
    pub secret: String,
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecret")
            .field("client_id", &self.client_id)
            .field("secret", &"***")
            .finish()
    }
}

/// `GET /v1/person/{id}/credential`: what a person can log in with, the credential policy
/// that applies to them, and whether the first meets the second. Never carries a secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialStatus {
    pub uuid: Uuid,
    pub name: String,
    /// When the password was set; `None` when the person has none.
    #[serde(default)]
    pub password_set_at: Option<DateTime<Utc>>,
    pub totp: Vec<TotpView>,
    /// Passkeys and security keys.
    pub webauthn: Vec<WebauthnView>,
    /// `None` when the person has no backup codes.
    #[serde(default)]
    pub backup_codes: Option<BackupCodesView>,
    pub policy: EffectivePolicyView,
    /// Whether the person can log in the way their policy requires with what they hold now.
    /// `false` means they cannot log in at all until they enrol (or an administrator changes
    /// their groups or the policies).
    pub policy_met: bool,
    /// Plain sentences for people: why the policy is not met and what to do about it.
    #[serde(default)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpView {
    pub label: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebauthnView {
    pub label: String,
    pub kind: WebauthnKind,
    /// The authenticator model, when it attested one.
    #[serde(default)]
    pub aaguid: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub last_used: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCodesView {
    /// Unused codes.
    pub remaining: usize,
    pub generated_at: DateTime<Utc>,
}

/// The rules that apply to one person: the strictest of all their groups' policies, at least
/// `password_mfa` for members of `idm_admins`; none for the break-glass `admin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectivePolicyView {
    pub min_class: CredentialClass,
    /// The shortest password accepted: the server's minimum or a group's, whichever is larger.
    pub min_password_length: usize,
    /// The second factors that may be used and registered (empty: none).
    pub allowed_mfa: Vec<MfaType>,
    /// `None`: any authenticator model may be registered.
    #[serde(default)]
    pub aaguid_allow_list: Option<Vec<Uuid>>,
    /// The break-glass `admin`: no credential policy applies.
    pub exempt: bool,
    /// The groups (direct or nested) whose policies were combined.
    #[serde(default)]
    pub from_groups: Vec<String>,
    /// Whether any credentials at all could meet these rules; `false` when the groups'
    /// policies contradict each other.
    pub satisfiable: bool,
}

/// `POST /v1/person/{id}/credential/reset_token`; an empty body takes the default lifetime.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetTokenCreate {
    /// Seconds the token stays valid (60 to 604800; default 86400).
    #[serde(default)]
    pub ttl_secs: Option<i64>,
}

/// A one-time credential-reset link, shown once: whoever holds it may set up the person's
/// credentials.
#[derive(Serialize, Deserialize)]
pub struct ResetTokenCreated {
    pub token: String,
    /// The page that redeems it: the server's origin + `/ui/reset?token=…`.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for ResetTokenCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetTokenCreated")
            .field("token", &"***")
            .field("url", &"***")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The answer to `PUT`/`DELETE /v1/group/{id}/credential_policy`: the group, and who among its
/// members (nested included) cannot log in as their policy now requires until they enrol.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialPolicyChanged {
    pub group: GroupView,
    #[serde(default)]
    pub members_policy_not_met: Vec<EntryRef>,
}
