//! WebAuthn (passkeys and security keys): a thin, typed wrapper over webauthn-rs-core 0.6.2.
//!
//! Four calls, two ceremonies: [`Webauthn::start_registration`] →
//! [`Webauthn::finish_registration`] makes a [`StoredCredential`];
//! [`Webauthn::start_authentication`] → [`Webauthn::finish_authentication`] checks one. Each
//! `start_*` returns the JSON options for the browser's `navigator.credentials.create()` /
//! `.get()` and a pending state (a serde value) that the server stores, keyed by the login
//! session, and removes before it calls `finish_*`, so a response is tried once.
//!
//! What this module adds to the library, which does none of it:
//! - **Expiry.** webauthn-rs never expires a pending state; ours carry `issued_at` and
//!   `expires_at` and `finish_*` refuses them after that, with the `now` argument.
//! - **Storage and updates.** webauthn-rs never changes a stored credential; the result of an
//!   authentication carries the updated [`StoredCredential`] (counter, backup flags,
//!   `last_used`) and says when it must be written.
//! - **Cloned authenticators.** A signature counter that did not advance is not an error to
//!   log and forget: it is [`AuthenticationOutcome::CounterRegressed`], which the server
//!   refuses and audits.
//! - **Username-less login.** The user handle in the response is parsed
//!   ([`Webauthn::parse_authentication_response`]) so the server can find the user before it
//!   hands over that user's credentials, and it is checked against the credential's owner.
//! - **An AAGUID allow-list** per registration, and bounded, total parsing of the browser's
//!   JSON (size caps from [`ResponseLimits`]; serde_json's own nesting limit; never a panic).
//!
//! # Why `WebauthnCore::new_unsafe_experts_only` is safe here
//! The "unsafe" constructor is the library's only one; the safe wrapper (`webauthn-rs`) hides
//! discoverable logins, attestation and its types behind feature flags and opaque structs,
//! which do not fit a stored, versioned record. The wrapper's protections are kept here: the
//! origin must match exactly (no subdomains, no other port, no cross-origin iframes), the
//! relying-party id must be the origin's host or a parent of it ([`Webauthn::new`] checks),
//! counters are always validated, only the library's secure algorithm list is offered,
//! passkeys require user verification, username-less logins require it too, the user handle
//! must name the credential's owner, and pending states expire.
//!
//! # The exception to "randomness is injected, time is an argument"
//! This module is the one place in the crate where a library draws its own randomness and
//! reads the clock (STYLE.md rule 3): webauthn-rs-core draws the 32-byte challenges from its
//! thread-local CSPRNG in `start_*`, and reads `SystemTime::now` to check the validity of
//! attestation certificates when a trust list is configured
//! ([`Webauthn::with_attestation_cas`]). Everything this module decides itself — expiry,
//! `created`, `last_used` — uses the caller's `now`.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use data_encoding::BASE64URL_NOPAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;
use uuid::Uuid;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::internals::AuthenticatorData;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AttestationMetadata, Authentication, AuthenticationState,
    AuthenticatorAttachment, Credential, PublicKeyCredential, PublicKeyCredentialHints,
    RegisterPublicKeyCredential, RegistrationState, UserVerificationPolicy,
};

pub use webauthn_rs_core::proto::{
    AttestationCaList, AttestationCaListBuilder, CreationChallengeResponse,
    RequestChallengeResponse,
};

use crate::credential_policy::Method;
use crate::error::{MfaError, WebauthnFailure};

/// How long a ceremony may take unless configured otherwise: the browser's prompt and the
/// pending state share it. Five minutes, as webauthn-rs's safe wrapper uses.
pub const DEFAULT_CEREMONY_TIMEOUT: Duration = Duration::from_secs(300);
/// Shortest ceremony timeout accepted.
pub const MIN_CEREMONY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest ceremony timeout accepted (it is sent to the browser in milliseconds as a u32).
pub const MAX_CEREMONY_TIMEOUT: Duration = Duration::from_secs(3600);
/// Longest credential id, in bytes (WebAuthn Level 3 §5.8.3: at most 1023).
pub const MAX_CREDENTIAL_ID_BYTES: usize = 1023;
/// Longest credential label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;
/// Longest relying-party id (a DNS name).
const MAX_RP_ID_BYTES: usize = 253;
/// Longest error detail quoted from a parser, so a hostile input cannot fill the logs.
const MAX_DETAIL_CHARS: usize = 160;

/// Size caps on what browsers send; the JSON is refused before it is parsed when larger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseLimits {
    /// Largest registration response (attestation with a certificate chain), in bytes.
    pub max_registration_bytes: usize,
    /// Largest authentication response (an assertion), in bytes.
    pub max_authentication_bytes: usize,
}

impl Default for ResponseLimits {
    /// 64 KiB for a registration — a TPM attestation with its chain is 5–10 KiB of base64 —
    /// and 16 KiB for an assertion, which is usually under 2 KiB.
    fn default() -> Self {
        Self {
            max_registration_bytes: 64 * 1024,
            max_authentication_bytes: 16 * 1024,
        }
    }
}

/// What a new WebAuthn credential is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasskeyOrSecurityKey {
    /// A discoverable credential with user verification (PIN, biometric): a whole login by
    /// itself, username-less if the user wants.
    Passkey,
    /// A roaming authenticator used for presence only, as a second factor after a password.
    SecurityKey,
}

/// Whether the authenticator must verify the user (PIN, biometric) in an authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserVerification {
    /// Required: a passkey login, or a step-up that needs a phishing-resistant second factor
    /// with verification. Always the case for username-less logins.
    Required,
    /// Not asked for: a security key as a second factor after a password. A credential that
    /// was registered with verification still has to verify (webauthn-rs enforces it).
    Discouraged,
}

/// Options of one registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationOptions {
    /// Passkey or security key.
    pub kind: PasskeyOrSecurityKey,
    /// If set, only authenticators whose attested AAGUID (make and model) is listed may
    /// register; attestation is then requested from the browser. Comes from
    /// [`crate::credential_policy::EffectivePolicy::aaguid_allow_list`].
    pub aaguid_allow_list: Option<Vec<Uuid>>,
}

impl RegistrationOptions {
    /// A passkey, any make.
    #[must_use]
    pub fn passkey() -> Self {
        Self {
            kind: PasskeyOrSecurityKey::Passkey,
            aaguid_allow_list: None,
        }
    }

    /// A security key, any make.
    #[must_use]
    pub fn security_key() -> Self {
        Self {
            kind: PasskeyOrSecurityKey::SecurityKey,
            aaguid_allow_list: None,
        }
    }

    /// Restrict the makes and models that may register.
    #[must_use]
    pub fn with_aaguid_allow_list(mut self, allowed: Vec<Uuid>) -> Self {
        self.aaguid_allow_list = Some(allowed);
        self
    }
}

/// A WebAuthn credential id: opaque bytes chosen by the authenticator, shown and stored as
/// unpadded base64url (as browsers show `PublicKeyCredential.id`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CredentialId(Vec<u8>);

impl CredentialId {
    /// Wrap raw bytes; 1 to [`MAX_CREDENTIAL_ID_BYTES`] of them.
    ///
    /// # Errors
    /// [`MfaError::MalformedWebauthnResponse`] when empty or too long.
    pub fn new(bytes: Vec<u8>) -> Result<Self, MfaError> {
        if bytes.is_empty() || bytes.len() > MAX_CREDENTIAL_ID_BYTES {
            return Err(MfaError::MalformedWebauthnResponse(format!(
                "a credential id has 1 to {MAX_CREDENTIAL_ID_BYTES} bytes, not {}",
                bytes.len()
            )));
        }
        Ok(Self(bytes))
    }

    /// Parse the base64url form.
    ///
    /// # Errors
    /// [`MfaError::MalformedWebauthnResponse`] when not base64url or of a bad length.
    pub fn from_base64url(text: &str) -> Result<Self, MfaError> {
        if text.len() > MAX_CREDENTIAL_ID_BYTES * 2 {
            return Err(MfaError::MalformedWebauthnResponse(
                "credential id too long".to_owned(),
            ));
        }
        let bytes = BASE64URL_NOPAD
            .decode(text.trim_end_matches('=').as_bytes())
            .map_err(|e| {
                MfaError::MalformedWebauthnResponse(format!("credential id is not base64url: {e}"))
            })?;
        Self::new(bytes)
    }

    /// The unpadded base64url form.
    #[must_use]
    pub fn to_base64url(&self) -> String {
        BASE64URL_NOPAD.encode(&self.0)
    }

    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for CredentialId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CredentialId({})", self.to_base64url())
    }
}

impl core::fmt::Display for CredentialId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.to_base64url())
    }
}

impl Serialize for CredentialId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64url())
    }
}

impl<'de> Deserialize<'de> for CredentialId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_base64url(&text).map_err(serde::de::Error::custom)
    }
}

/// A registered WebAuthn credential, as the server stores it with the person.
///
/// The public fields are the source of truth for the values that change
/// (`counter`, backup flags); the library's own record (public key, registration policy,
/// attestation) is kept whole inside, under `webauthn`, and refreshed from them before each
/// use. The caller must make sure a `credential_id` belongs to one person only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredCredential {
    /// The name the user gave it ("YubiKey 5", "Phone").
    pub label: String,
    /// Passkey or security key.
    pub kind: PasskeyOrSecurityKey,
    /// The authenticator's id for it.
    pub credential_id: CredentialId,
    /// The WebAuthn user handle it was registered with: the owner's UUID. A username-less
    /// login finds the person by it.
    pub user_handle: Uuid,
    /// The authenticator's make and model, when it sent an attestation that names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aaguid: Option<Uuid>,
    /// Whether the attestation (and so `aaguid`) was verified against a configured trust list
    /// ([`Webauthn::with_attestation_cas`]); without one an AAGUID is only the authenticator's
    /// word, good for steering honest users, not proof against a forged authenticator.
    #[serde(default)]
    pub attested: bool,
    /// When it was registered.
    pub created: DateTime<Utc>,
    /// When it last verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<DateTime<Utc>>,
    /// Highest signature counter seen; 0 for authenticators that do not count (most synced
    /// passkeys), which are then not checked for clones.
    pub counter: u32,
    /// The key may leave the device (a synced passkey): `swk` rather than `hwk` in `amr`.
    pub backup_eligible: bool,
    /// The key is currently backed up or synced.
    pub backup_state: bool,
    /// The user was verified at registration (PIN, biometric).
    pub user_verified: bool,
    /// webauthn-rs's record.
    webauthn: Credential,
}

impl StoredCredential {
    /// The key cannot leave the authenticator (not backup-eligible).
    #[must_use]
    pub fn hardware_bound(&self) -> bool {
        !self.backup_eligible
    }

    /// webauthn-rs's record, with this record's counter and backup flags.
    #[must_use]
    pub fn webauthn_credential(&self) -> Credential {
        let mut credential = self.webauthn.clone();
        credential.counter = self.counter;
        credential.backup_eligible = self.backup_eligible;
        credential.backup_state = self.backup_state;
        credential
    }

    /// The policy method an authentication with this credential counts as: a passkey when
    /// the user was verified, a security key (presence only) otherwise.
    #[must_use]
    pub fn method(&self, user_verified: bool) -> Method {
        let hardware_bound = self.hardware_bound();
        match self.kind {
            PasskeyOrSecurityKey::Passkey if user_verified => Method::Passkey { hardware_bound },
            _ => Method::SecurityKey { hardware_bound },
        }
    }
}

/// A registration in progress. Stored by the server between the two calls; expires.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingRegistration {
    user_uuid: Uuid,
    kind: PasskeyOrSecurityKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aaguid_allow_list: Option<Vec<Uuid>>,
    #[serde(default)]
    exclude: Vec<CredentialId>,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    state: RegistrationState,
}

impl PendingRegistration {
    /// Whose credential is being registered.
    #[must_use]
    pub fn user_uuid(&self) -> Uuid {
        self.user_uuid
    }

    /// Passkey or security key.
    #[must_use]
    pub fn kind(&self) -> PasskeyOrSecurityKey {
        self.kind
    }

    /// When the ceremony started.
    #[must_use]
    pub fn issued_at(&self) -> DateTime<Utc> {
        self.issued_at
    }

    /// From this instant on the state is refused.
    #[must_use]
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}

/// An authentication in progress. Stored by the server between the two calls; expires.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingAuthentication {
    /// The credentials offered to the browser; empty for a username-less login.
    allowed: Vec<CredentialId>,
    user_verification: UserVerification,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    state: AuthenticationState,
}

impl PendingAuthentication {
    /// Whether the ceremony asked for user verification.
    #[must_use]
    pub fn user_verification(&self) -> UserVerification {
        self.user_verification
    }

    /// A username-less (discoverable) login: the user is found from the response.
    #[must_use]
    pub fn is_discoverable(&self) -> bool {
        self.allowed.is_empty()
    }

    /// When the ceremony started.
    #[must_use]
    pub fn issued_at(&self) -> DateTime<Utc> {
        self.issued_at
    }

    /// From this instant on the state is refused.
    #[must_use]
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}

/// JSON for storage, for records that are kept as text.
macro_rules! json_storage {
    ($($ty:ty),*) => {$(
        impl $ty {
            /// This value as JSON, for storage.
            ///
            /// # Errors
            /// [`MfaError::InvalidStoredState`] if serde_json fails (it does not for these
            /// types, which have only string map keys).
            pub fn to_json(&self) -> Result<String, MfaError> {
                serde_json::to_string(self)
                    .map_err(|e| MfaError::InvalidStoredState(truncate(&e.to_string())))
            }

            /// Read back what [`Self::to_json`] wrote.
            ///
            /// # Errors
            /// [`MfaError::InvalidStoredState`] for anything else.
            pub fn from_json(json: &str) -> Result<Self, MfaError> {
                serde_json::from_str(json)
                    .map_err(|e| MfaError::InvalidStoredState(truncate(&e.to_string())))
            }
        }
    )*};
}

json_storage!(StoredCredential, PendingRegistration, PendingAuthentication);

/// A browser's answer to `navigator.credentials.get()`, parsed and bounded, before it is
/// verified. For a username-less login the server reads [`Self::user_handle`] to find the
/// person, then passes that person's credentials to [`Webauthn::finish_authentication`].
#[derive(Debug, Clone)]
pub struct AuthenticationResponse {
    credential: PublicKeyCredential,
    credential_id: CredentialId,
    user_handle: Option<Uuid>,
}

impl AuthenticationResponse {
    /// The credential the authenticator used.
    #[must_use]
    pub fn credential_id(&self) -> &CredentialId {
        &self.credential_id
    }

    /// The user handle the authenticator returned (always, for a discoverable credential):
    /// the UUID of the person the credential was registered for. Unverified until
    /// [`Webauthn::finish_authentication`] succeeds.
    #[must_use]
    pub fn user_handle(&self) -> Option<Uuid> {
        self.user_handle
    }
}

/// A verified authentication.
#[derive(Debug, Clone)]
pub struct AuthenticationResult {
    /// The credential used.
    pub credential_id: CredentialId,
    /// Who authenticated: the credential's owner (for a username-less login, the user found).
    pub user_handle: Uuid,
    /// The authenticator verified the user (PIN, biometric) this time.
    pub user_verified: bool,
    /// The counter or backup flags changed: store [`Self::credential`]. (Its `last_used` is
    /// `now` either way, for servers that keep it.)
    pub needs_update: bool,
    /// The stored credential with counter, backup flags and `last_used` brought up to date.
    pub credential: StoredCredential,
}

impl AuthenticationResult {
    /// The policy method this authentication counts as.
    #[must_use]
    pub fn method(&self) -> Method {
        self.credential.method(self.user_verified)
    }
}

/// A signature that verified but whose counter did not advance beyond the stored one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRegression {
    /// The credential used.
    pub credential_id: CredentialId,
    /// Its owner.
    pub user_handle: Uuid,
    /// The highest counter seen before.
    pub stored_counter: u32,
    /// The counter in this assertion, when its authenticator data could be read.
    pub presented_counter: Option<u32>,
}

/// What [`Webauthn::finish_authentication`] found.
#[derive(Debug, Clone)]
#[must_use = "a WebAuthn outcome that is not looked at lets everyone in or no one"]
pub enum AuthenticationOutcome {
    /// The person authenticated.
    Verified(Box<AuthenticationResult>),
    /// The signature is valid but the counter went backwards or stood still: two copies of
    /// the private key may exist (a cloned authenticator). Refuse the login, write an audit
    /// event, and let an administrator decide about the credential.
    CounterRegressed(CounterRegression),
}

/// The relying party: its id, origin and settings, and the library engine built from them.
#[derive(Debug, Clone)]
pub struct Webauthn {
    core: WebauthnCore,
    rp_id: String,
    rp_name: String,
    origin: Url,
    timeout: Duration,
    limits: ResponseLimits,
    attestation_cas: Option<AttestationCaList>,
}

impl Webauthn {
    /// A relying party with id `rp_id` (a DNS name, e.g. `example.com`) serving the login
    /// pages at `origin` (e.g. `https://idm.example.com`, a port if not 443), with the default
    /// timeout and limits. The name shown by authenticators is the id until
    /// [`Self::with_rp_name`].
    ///
    /// # Errors
    /// [`MfaError::InvalidWebauthnConfig`] when the id is not a DNS name, the origin is not
    /// `https://` (or `http://localhost`) with only a host and port, or the id is neither the
    /// origin's host nor a parent domain of it.
    pub fn new(rp_id: &str, origin: &str) -> Result<Self, MfaError> {
        let rp_id = check_rp_id(rp_id)?;
        let origin = check_origin(origin, &rp_id)?;
        Ok(Self::build(
            rp_id.clone(),
            rp_id,
            origin,
            DEFAULT_CEREMONY_TIMEOUT,
            ResponseLimits::default(),
            None,
        ))
    }

    /// The name authenticators show the user.
    ///
    /// # Errors
    /// [`MfaError::InvalidWebauthnConfig`] when empty or over 64 characters.
    pub fn with_rp_name(self, rp_name: &str) -> Result<Self, MfaError> {
        let rp_name = rp_name.trim();
        if rp_name.is_empty() || rp_name.chars().count() > 64 {
            return Err(MfaError::InvalidWebauthnConfig(
                "the relying-party name has 1 to 64 characters".to_owned(),
            ));
        }
        Ok(Self::build(
            rp_name.to_owned(),
            self.rp_id,
            self.origin,
            self.timeout,
            self.limits,
            self.attestation_cas,
        ))
    }

    /// How long a ceremony may take: sent to the browser, and the lifetime of the pending
    /// states.
    ///
    /// # Errors
    /// [`MfaError::InvalidWebauthnConfig`] outside
    /// [`MIN_CEREMONY_TIMEOUT`]..=[`MAX_CEREMONY_TIMEOUT`].
    pub fn with_timeout(self, timeout: Duration) -> Result<Self, MfaError> {
        if !(MIN_CEREMONY_TIMEOUT..=MAX_CEREMONY_TIMEOUT).contains(&timeout) {
            return Err(MfaError::InvalidWebauthnConfig(format!(
                "the ceremony timeout must be {}-{} s",
                MIN_CEREMONY_TIMEOUT.as_secs(),
                MAX_CEREMONY_TIMEOUT.as_secs()
            )));
        }
        Ok(Self::build(
            self.rp_name,
            self.rp_id,
            self.origin,
            timeout,
            self.limits,
            self.attestation_cas,
        ))
    }

    /// Size caps on browser responses.
    ///
    /// # Errors
    /// [`MfaError::InvalidWebauthnConfig`] for a cap under 1 KiB (no real response fits).
    pub fn with_limits(mut self, limits: ResponseLimits) -> Result<Self, MfaError> {
        if limits.max_registration_bytes < 1024 || limits.max_authentication_bytes < 1024 {
            return Err(MfaError::InvalidWebauthnConfig(
                "response limits below 1 KiB refuse every authenticator".to_owned(),
            ));
        }
        self.limits = limits;
        Ok(self)
    }

    /// Trust anchors for attestation (e.g. from the FIDO Metadata Service, or a vendor's
    /// root). Used by registrations that have an AAGUID allow-list: their attestation must
    /// then chain to one of these, and the AAGUID becomes a fact rather than a claim
    /// ([`StoredCredential::attested`]). webauthn-rs reads the system clock to check the
    /// certificates' validity.
    #[must_use]
    pub fn with_attestation_cas(mut self, cas: AttestationCaList) -> Self {
        self.attestation_cas = Some(cas);
        self
    }

    /// The relying-party id.
    #[must_use]
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// The origin the login pages are served from.
    #[must_use]
    pub fn origin(&self) -> &str {
        self.origin.as_str()
    }

    /// Begin registering a credential for a person.
    ///
    /// `user_uuid` becomes the WebAuthn user handle (what a username-less login returns);
    /// `user_name` and `display_name` are shown by the authenticator. `exclude` are the
    /// person's existing credentials, so the same authenticator is not registered twice.
    /// Returns the options for `navigator.credentials.create()` and the state to store.
    ///
    /// # Errors
    /// [`MfaError::InvalidWebauthnRequest`] for an empty name;
    /// [`MfaError::WebauthnRejected`] if webauthn-rs refuses otherwise.
    pub fn start_registration(
        &self,
        user_uuid: Uuid,
        user_name: &str,
        display_name: &str,
        exclude: &[StoredCredential],
        options: &RegistrationOptions,
        now: DateTime<Utc>,
    ) -> Result<(CreationChallengeResponse, PendingRegistration), MfaError> {
        if user_name.trim().is_empty() || display_name.trim().is_empty() {
            return Err(MfaError::InvalidWebauthnRequest(
                "the user name and display name must not be empty".to_owned(),
            ));
        }
        let exclude_ids: Vec<CredentialId> =
            exclude.iter().map(|c| c.credential_id.clone()).collect();
        let exclude_raw: Vec<Vec<u8>> = exclude_ids.iter().map(|id| id.0.clone()).collect();
        let passkey = options.kind == PasskeyOrSecurityKey::Passkey;
        let mut builder = self
            .core
            .new_challenge_register_builder(user_uuid.as_bytes(), user_name, display_name)
            .map_err(rejected)?
            .user_verification_policy(if passkey {
                UserVerificationPolicy::Required
            } else {
                UserVerificationPolicy::Discouraged_DO_NOT_USE
            })
            .require_resident_key(passkey)
            .exclude_credentials((!exclude_raw.is_empty()).then_some(exclude_raw))
            .attestation(if options.aaguid_allow_list.is_some() {
                AttestationConveyancePreference::Direct
            } else {
                AttestationConveyancePreference::None
            });
        if !passkey {
            builder = builder
                .authenticator_attachment(Some(AuthenticatorAttachment::CrossPlatform))
                .hints(Some(vec![PublicKeyCredentialHints::SecurityKey]));
        }
        let (challenge, state) = self
            .core
            .generate_challenge_register(builder)
            .map_err(rejected)?;
        let pending = PendingRegistration {
            user_uuid,
            kind: options.kind,
            aaguid_allow_list: options.aaguid_allow_list.clone(),
            exclude: exclude_ids,
            issued_at: now,
            expires_at: self.expiry(now),
            state,
        };
        Ok((challenge, pending))
    }

    /// Verify the browser's answer to `navigator.credentials.create()` and make the record
    /// to store, named `label`.
    ///
    /// The caller must then check that no other person holds a credential with the same
    /// [`StoredCredential::credential_id`] (WebAuthn §7.1 step 26) before storing it.
    ///
    /// # Errors
    /// [`MfaError::CeremonyExpired`] at or after the state's expiry;
    /// [`MfaError::InvalidWebauthnRequest`] for a bad label;
    /// [`MfaError::MalformedWebauthnResponse`] for JSON that is too large or malformed;
    /// [`MfaError::CredentialAlreadyRegistered`] for an excluded authenticator;
    /// [`MfaError::WebauthnRejected`] when verification fails;
    /// [`MfaError::AaguidNotAllowed`] when an allow-list is in force and the authenticator's
    /// attested AAGUID is missing or not on it.
    pub fn finish_registration(
        &self,
        pending: &PendingRegistration,
        response_json: &str,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<StoredCredential, MfaError> {
        check_expiry(pending.expires_at, now)?;
        let label = check_label(label)?;
        let response: RegisterPublicKeyCredential = parse_bounded(
            response_json,
            self.limits.max_registration_bytes,
            "registration response",
        )?;
        check_type(&response.type_)?;
        let credential_id = CredentialId::new(response.raw_id.clone())?;
        if pending.exclude.contains(&credential_id) {
            return Err(MfaError::CredentialAlreadyRegistered);
        }
        let cas = match pending.aaguid_allow_list {
            Some(_) => self.attestation_cas.as_ref(),
            None => None,
        };
        let credential = self
            .core
            .register_credential(&response, &pending.state, cas)
            .map_err(rejected)?;
        let aaguid = attested_aaguid(&credential);
        if let Some(allowed) = &pending.aaguid_allow_list
            && !aaguid.is_some_and(|a| allowed.contains(&a))
        {
            return Err(MfaError::AaguidNotAllowed { aaguid });
        }
        Ok(StoredCredential {
            label,
            kind: pending.kind,
            credential_id,
            user_handle: pending.user_uuid,
            aaguid,
            attested: cas.is_some(),
            created: now,
            last_used: None,
            counter: credential.counter,
            backup_eligible: credential.backup_eligible,
            backup_state: credential.backup_state,
            user_verified: credential.user_verified,
            webauthn: credential,
        })
    }

    /// Begin an authentication with one of `credentials` (a person's, after they gave their
    /// name), or — with no credentials — a username-less login with any discoverable passkey
    /// of this relying party, which needs [`UserVerification::Required`].
    ///
    /// # Errors
    /// [`MfaError::InvalidWebauthnRequest`] for a username-less login without user
    /// verification; [`MfaError::WebauthnRejected`] if webauthn-rs refuses otherwise.
    pub fn start_authentication(
        &self,
        credentials: &[StoredCredential],
        user_verification: UserVerification,
        now: DateTime<Utc>,
    ) -> Result<(RequestChallengeResponse, PendingAuthentication), MfaError> {
        if credentials.is_empty() && user_verification != UserVerification::Required {
            return Err(MfaError::InvalidWebauthnRequest(
                "a username-less login must require user verification".to_owned(),
            ));
        }
        let policy = match user_verification {
            UserVerification::Required => UserVerificationPolicy::Required,
            UserVerification::Discouraged => UserVerificationPolicy::Discouraged_DO_NOT_USE,
        };
        let library: Vec<Credential> = credentials
            .iter()
            .map(StoredCredential::webauthn_credential)
            .collect();
        let builder = self
            .core
            .new_challenge_authenticate_builder(library, Some(policy))
            .map_err(rejected)?;
        let (challenge, mut state) = self
            .core
            .generate_challenge_authenticate(builder)
            .map_err(rejected)?;
        // The credentials are checked from the caller's current records at finish time
        // (counters move); the state keeps only their ids, which keeps it small.
        state.set_allowed_credentials(Vec::new());
        let pending = PendingAuthentication {
            allowed: credentials
                .iter()
                .map(|c| c.credential_id.clone())
                .collect(),
            user_verification,
            issued_at: now,
            expires_at: self.expiry(now),
            state,
        };
        Ok((challenge, pending))
    }

    /// Parse the browser's answer to `navigator.credentials.get()`: size-capped JSON, a
    /// credential id, and a user handle that must be a UUID when present.
    ///
    /// # Errors
    /// [`MfaError::MalformedWebauthnResponse`] for JSON that is too large or malformed;
    /// [`MfaError::UserHandle`] for a user handle that is not 16 bytes.
    pub fn parse_authentication_response(
        &self,
        response_json: &str,
    ) -> Result<AuthenticationResponse, MfaError> {
        let credential: PublicKeyCredential = parse_bounded(
            response_json,
            self.limits.max_authentication_bytes,
            "authentication response",
        )?;
        check_type(&credential.type_)?;
        let credential_id = CredentialId::new(credential.raw_id.clone())?;
        let user_handle = match &credential.response.user_handle {
            None => None,
            Some(bytes) => Some(Uuid::from_slice(bytes).map_err(|_| {
                MfaError::UserHandle(format!(
                    "a user handle here is a 16-byte UUID, not {} bytes",
                    bytes.len()
                ))
            })?),
        };
        Ok(AuthenticationResponse {
            credential,
            credential_id,
            user_handle,
        })
    }

    /// Verify an authentication response against the person's current `credentials` (for a
    /// username-less login: the credentials of the person named by
    /// [`AuthenticationResponse::user_handle`]).
    ///
    /// # Errors
    /// [`MfaError::CeremonyExpired`] at or after the state's expiry;
    /// [`MfaError::UnknownCredential`] when the credential used is not among `credentials`
    /// (or was not offered when the ceremony started); [`MfaError::UserHandle`] when a
    /// username-less response has no user handle or the handle is not the credential's
    /// owner; [`MfaError::WebauthnRejected`] when verification fails. A counter that did not
    /// advance is not an error but [`AuthenticationOutcome::CounterRegressed`].
    pub fn finish_authentication(
        &self,
        pending: &PendingAuthentication,
        response: &AuthenticationResponse,
        credentials: &[StoredCredential],
        now: DateTime<Utc>,
    ) -> Result<AuthenticationOutcome, MfaError> {
        check_expiry(pending.expires_at, now)?;
        let id = &response.credential_id;
        if !pending.allowed.is_empty() && !pending.allowed.contains(id) {
            return Err(MfaError::UnknownCredential);
        }
        let stored = credentials
            .iter()
            .find(|c| c.credential_id == *id)
            .ok_or(MfaError::UnknownCredential)?;
        match response.user_handle {
            Some(handle) if handle != stored.user_handle => {
                return Err(MfaError::UserHandle(
                    "the user handle does not name the credential's owner".to_owned(),
                ));
            }
            None if pending.is_discoverable() => {
                return Err(MfaError::UserHandle(
                    "a username-less login response must carry the user handle".to_owned(),
                ));
            }
            _ => {}
        }
        let library = stored.webauthn_credential();
        let verified = match self.core.authenticate_single_credential(
            &response.credential,
            &pending.state,
            &library,
        ) {
            Ok(verified) => verified,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                return Ok(AuthenticationOutcome::CounterRegressed(CounterRegression {
                    credential_id: id.clone(),
                    user_handle: stored.user_handle,
                    stored_counter: stored.counter,
                    presented_counter: presented_counter(&response.credential),
                }));
            }
            Err(e) => return Err(rejected(e)),
        };
        let mut credential = stored.clone();
        credential.counter = credential.counter.max(verified.counter());
        credential.backup_eligible = verified.backup_eligible();
        credential.backup_state = verified.backup_state();
        credential.last_used = Some(now);
        Ok(AuthenticationOutcome::Verified(Box::new(
            AuthenticationResult {
                credential_id: id.clone(),
                user_handle: stored.user_handle,
                user_verified: verified.user_verified(),
                needs_update: verified.needs_update(),
                credential,
            },
        )))
    }

    fn build(
        rp_name: String,
        rp_id: String,
        origin: Url,
        timeout: Duration,
        limits: ResponseLimits,
        attestation_cas: Option<AttestationCaList>,
    ) -> Self {
        // Exact origins only: no subdomains, no other ports.
        let core = WebauthnCore::new_unsafe_experts_only(
            &rp_name,
            &rp_id,
            vec![origin.clone()],
            timeout,
            Some(false),
            Some(false),
        );
        Self {
            core,
            rp_id,
            rp_name,
            origin,
            timeout,
            limits,
            attestation_cas,
        }
    }

    fn expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        // The timeout is bounded to an hour, so neither conversion can fail in practice; a
        // failure would give an already-expired state, never an immortal one.
        TimeDelta::from_std(self.timeout)
            .ok()
            .and_then(|t| now.checked_add_signed(t))
            .unwrap_or(now)
    }
}

fn check_expiry(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), MfaError> {
    if now >= expires_at {
        return Err(MfaError::CeremonyExpired {
            expired_at: expires_at,
        });
    }
    Ok(())
}

fn check_rp_id(rp_id: &str) -> Result<String, MfaError> {
    let bad = |why: &str| MfaError::InvalidWebauthnConfig(format!("relying-party id: {why}"));
    if rp_id.is_empty() || rp_id.len() > MAX_RP_ID_BYTES {
        return Err(bad("must be a DNS name of 1 to 253 bytes"));
    }
    if rp_id.starts_with('.') || rp_id.ends_with('.') || rp_id.contains("..") {
        return Err(bad("empty label"));
    }
    if !rp_id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err(bad(
            "only lower-case letters, digits, '-' and '.' (a host name, no scheme or port)",
        ));
    }
    if rp_id.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad("an IP address cannot be a relying-party id"));
    }
    Ok(rp_id.to_owned())
}

fn check_origin(origin: &str, rp_id: &str) -> Result<Url, MfaError> {
    let bad = |why: String| MfaError::InvalidWebauthnConfig(format!("origin: {why}"));
    let url = Url::parse(origin).map_err(|e| bad(e.to_string()))?;
    let host = url
        .domain()
        .ok_or_else(|| bad("must have a DNS host name".to_owned()))?;
    match url.scheme() {
        "https" => {}
        "http" if host == "localhost" => {}
        other => return Err(bad(format!("scheme `{other}` is not https"))),
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("only scheme, host and port, no path".to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("no user information".to_owned()));
    }
    let within = host == rp_id
        || host
            .strip_suffix(rp_id)
            .is_some_and(|prefix| prefix.ends_with('.'));
    if !within {
        return Err(bad(format!(
            "host `{host}` is not `{rp_id}` or a subdomain of it"
        )));
    }
    Ok(url)
}

fn check_label(label: &str) -> Result<String, MfaError> {
    let label = label.trim();
    if label.is_empty()
        || label.chars().count() > MAX_LABEL_CHARS
        || label.chars().any(char::is_control)
    {
        return Err(MfaError::InvalidWebauthnRequest(format!(
            "a credential label has 1 to {MAX_LABEL_CHARS} characters and no control characters"
        )));
    }
    Ok(label.to_owned())
}

fn check_type(type_: &str) -> Result<(), MfaError> {
    if type_ != "public-key" {
        return Err(MfaError::MalformedWebauthnResponse(
            "`type` must be \"public-key\"".to_owned(),
        ));
    }
    Ok(())
}

fn parse_bounded<T: DeserializeOwned>(json: &str, max: usize, what: &str) -> Result<T, MfaError> {
    if json.len() > max {
        return Err(MfaError::MalformedWebauthnResponse(format!(
            "{what} is {} bytes, more than the {max} allowed",
            json.len()
        )));
    }
    serde_json::from_str(json).map_err(|e| {
        MfaError::MalformedWebauthnResponse(format!("{what}: {}", truncate(&e.to_string())))
    })
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// The AAGUID the attestation vouches for; none for self, none or U2F attestation, and
/// none when it is all zeros ("unknown model").
fn attested_aaguid(credential: &Credential) -> Option<Uuid> {
    match &credential.attestation.metadata {
        AttestationMetadata::Packed { aaguid } | AttestationMetadata::Tpm { aaguid, .. } => {
            (!aaguid.is_nil()).then_some(*aaguid)
        }
        _ => None,
    }
}

/// The counter in an assertion, read again for the audit event of a regression.
fn presented_counter(credential: &PublicKeyCredential) -> Option<u32> {
    AuthenticatorData::<Authentication>::try_from(credential.response.authenticator_data.as_slice())
        .ok()
        .map(|data| data.counter)
}

fn rejected(error: WebauthnError) -> MfaError {
    use WebauthnError as E;
    use WebauthnFailure as F;
    let kind = match &error {
        E::MismatchedChallenge | E::ChallengeNotFound | E::InvalidClientDataType => F::Challenge,
        E::InvalidRPOrigin | E::InvalidRPIDHash | E::CredentialCrossOrigin => F::Origin,
        E::UserNotPresent | E::UserNotVerified => F::UserVerification,
        E::AuthenticationFailure
        | E::SignatureInvalid
        | E::AttestationStatementSigInvalid
        | E::AttestationStatementSigMissing => F::Signature,
        E::ParseBase64Failure(_)
        | E::ParseCBORFailure(_)
        | E::ParseJSONFailure(_)
        | E::ParseNOMFailure
        | E::ParseInsufficientBytesAvailable
        | E::COSEKeyInvalidCBORValue
        | E::COSEKeyInvalidType
        | E::COSEKeyEDUnsupported
        | E::COSEKeyECDSAXYInvalid
        | E::COSEKeyRSANEInvalid
        | E::COSEKeyECDSAInvalidCurve
        | E::COSEKeyEDDSAXInvalid
        | E::COSEKeyEDDSAInvalidCurve
        | E::COSEKeyInvalidAlgorithm
        | E::X509DerInvalid
        | E::EcdsaPointInvalid
        | E::RsaParametersInvalid
        | E::MissingAttestationCredentialData => F::Malformed,
        E::CredentialMayNotBeHardwareBound
        | E::CredentialInsecureCryptography
        | E::CredentialNotFound
        | E::CredentialAlteredAlgFromRequest
        | E::CredentialExcludedFromRequest
        | E::CredentialBackupEligibilityInconsistent
        | E::InconsistentUserVerificationPolicy => F::Credential,
        E::AttestationNotSupported
        | E::AttestationStatementMapInvalid
        | E::AttestationStatementResponseMissing
        | E::AttestationStatementResponseInvalid
        | E::AttestationStatementVerMissing
        | E::AttestationStatementVerInvalid
        | E::AttestationStatementVerUnsupported
        | E::AttestationStatementX5CMissing
        | E::AttestationStatementX5CInvalid
        | E::AttestationStatementAlgMissing
        | E::AttestationStatementCertInfoMissing
        | E::AttestationStatementMissingExtension
        | E::AttestationStatementPubAreaMissing
        | E::AttestationStatementAlgMismatch
        | E::AttestationStatementAlgInvalid
        | E::AttestationTrustFailure
        | E::AttestationCertificateAAGUIDMismatch
        | E::AttestationCertificateNonceMismatch
        | E::AttestationTpmStInvalid
        | E::AttestationTpmPubAreaMismatch
        | E::AttestationTpmExtraDataInvalid
        | E::AttestationTpmExtraDataMismatch
        | E::AttestationTpmPubAreaHashUnknown
        | E::AttestationTpmPubAreaHashInvalid
        | E::AttestationTpmAttestCertifyInvalid
        | E::AttestationCertificateRequirementsNotMet
        | E::AttestationCertificateTrustStoreEmpty
        | E::AttestationLeafCertMissing
        | E::AttestationNotVerifiable
        | E::AttestationUntrustedAaguid
        | E::AttestationFormatMissingAaguid
        | E::AttestationChainNotTrusted(_)
        | E::AttestationCredentialSubjectKeyMismatch
        | E::MissingAttestationCaList
        | E::TrustFailure => F::Attestation,
        _ => F::Other,
    };
    MfaError::WebauthnRejected {
        kind,
        detail: truncate(&error.to_string()),
    }
}
