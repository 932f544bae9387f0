//! Credential policy: which credentials a person must use, may hold and may remove, and
//! what a login achieved (`amr`, assurance level, `acr`) for step-up. Pure functions over
//! small values; the server looks up groups and credentials and passes them in.
//!
//! - Each group may carry a [`GroupPolicy`]. A person's [`EffectivePolicy`] is the strictest
//!   combination of the policies of all the groups they are in ([`effective`]); members of
//!   `idm_admins` need at least [`CredentialClass::PasswordMfa`]; the break-glass `admin`
//!   account is exempt, so that it always works when everything else is misconfigured.
//! - [`satisfies`] checks a login (the [`Method`]s used) against the policy; [`can_remove`]
//!   keeps anyone from removing the credentials their policy requires.
//! - [`amr`], [`assurance`] and [`acr`] describe a login for tokens; [`meets_acr`] decides a
//!   step-up from an OIDC `acr_values` request.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::PasswordPolicy;

/// What kind of login a person's credentials must amount to, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialClass {
    /// A password alone.
    Password,
    /// A password and a second factor (TOTP, security key, backup code, passkey).
    PasswordMfa,
    /// A passkey with user verification (phishing-resistant, no password).
    Passkey,
}

/// The second factors a policy may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaType {
    /// An authenticator app (RFC 6238).
    Totp,
    /// A WebAuthn passkey (with user verification).
    Passkey,
    /// A WebAuthn security key (presence only, after a password).
    SecurityKey,
    /// A single-use backup code.
    BackupCode,
}

impl MfaType {
    /// All four, the set a group without restrictions allows.
    pub const ALL: [MfaType; 4] = [
        MfaType::Totp,
        MfaType::Passkey,
        MfaType::SecurityKey,
        MfaType::BackupCode,
    ];
}

fn all_mfa() -> BTreeSet<MfaType> {
    MfaType::ALL.into_iter().collect()
}

/// One group's credential rules. [`Default`] restricts nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupPolicy {
    /// The weakest login class members may use.
    pub min_class: CredentialClass,
    /// The shortest password members may set, in characters (on top of the server's own
    /// [`PasswordPolicy`]).
    pub min_password_length: Option<usize>,
    /// The second factors members may use and register.
    pub allowed_mfa: BTreeSet<MfaType>,
    /// If set, the only authenticator models (AAGUIDs) members may register.
    pub aaguid_allow_list: Option<Vec<Uuid>>,
}

impl Default for GroupPolicy {
    fn default() -> Self {
        Self {
            min_class: CredentialClass::Password,
            min_password_length: None,
            allowed_mfa: all_mfa(),
            aaguid_allow_list: None,
        }
    }
}

/// Who the policy is computed for, besides their groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subject {
    /// A member (direct or nested) of `idm_admins`.
    pub in_idm_admins: bool,
    /// The built-in break-glass `admin` account, to which policy does not apply.
    pub is_break_glass_admin: bool,
}

/// The rules that apply to one person: the strictest of all their groups'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectivePolicy {
    /// The weakest login class accepted.
    pub min_class: CredentialClass,
    /// The shortest password accepted, in characters, if any group sets one.
    pub min_password_length: Option<usize>,
    /// The second factors allowed: the intersection of every group's set. Empty means no
    /// second factor at all (see [`effective`]).
    pub allowed_mfa: BTreeSet<MfaType>,
    /// If set, the only authenticator models that may be registered: the intersection of
    /// every list that is set. Empty means no WebAuthn credential can be registered.
    pub aaguid_allow_list: Option<Vec<Uuid>>,
    /// The break-glass `admin`: no class, type or model rule applies.
    pub exempt: bool,
}

impl EffectivePolicy {
    /// No rules: what the break-glass `admin` gets.
    #[must_use]
    pub fn exempt() -> Self {
        Self {
            min_class: CredentialClass::Password,
            min_password_length: None,
            allowed_mfa: all_mfa(),
            aaguid_allow_list: None,
            exempt: true,
        }
    }

    /// Whether this second factor may be used and registered.
    #[must_use]
    pub fn allows(&self, mfa: MfaType) -> bool {
        self.exempt || self.allowed_mfa.contains(&mfa)
    }

    /// Whether an authenticator model may be registered (`None`: it did not attest one).
    #[must_use]
    pub fn allows_aaguid(&self, aaguid: Option<Uuid>) -> bool {
        match (&self.aaguid_allow_list, aaguid) {
            (None, _) => true,
            (Some(_), _) if self.exempt => true,
            (Some(list), Some(aaguid)) => list.contains(&aaguid),
            (Some(_), None) => false,
        }
    }

    /// Whether any set of credentials could meet this policy. False when the groups'
    /// rules contradict each other — e.g. one requires a passkey and another allows no
    /// passkeys — and then nobody can log in as this person: the admin API should refuse
    /// (or at least warn about) the membership change that leads here.
    #[must_use]
    pub fn is_satisfiable(&self) -> bool {
        let all = [
            HeldCredential::Password,
            HeldCredential::Totp,
            HeldCredential::Passkey,
            HeldCredential::SecurityKey,
        ];
        capability(self, &all) >= Some(self.min_class)
    }

    /// The server's password rules with this policy's minimum length on top (the larger
    /// wins), for checking a new password.
    #[must_use]
    pub fn password_policy(&self, base: PasswordPolicy) -> PasswordPolicy {
        let min_length = match self.min_password_length {
            Some(group_min) if !self.exempt => base.min_length.max(group_min),
            _ => base.min_length,
        };
        PasswordPolicy { min_length, ..base }
    }
}

/// Combine the policies of all groups a person is in: the highest class, the longest
/// minimum length, the intersection of allowed second factors and of AAGUID lists.
///
/// Strictest wins, and that fails closed: when the groups' allowed second factors have
/// nothing in common, the intersection is empty and the person may use no second factor,
/// so only [`CredentialClass::Password`] is reachable; if the class required is higher,
/// nobody can log in as them until an administrator changes the groups
/// ([`EffectivePolicy::is_satisfiable`] reports it). Likewise an empty AAGUID intersection
/// means no WebAuthn credential can be registered. A person in no group with a policy gets
/// [`GroupPolicy::default`]'s (no rules).
///
/// Members of `idm_admins` need at least [`CredentialClass::PasswordMfa`] whatever their
/// groups say — a floor that group policies can raise, not lower. The break-glass `admin`
/// account gets [`EffectivePolicy::exempt`] whatever its groups.
#[must_use]
pub fn effective<'a>(
    policies: impl IntoIterator<Item = &'a GroupPolicy>,
    subject: Subject,
) -> EffectivePolicy {
    if subject.is_break_glass_admin {
        return EffectivePolicy::exempt();
    }
    let mut out = EffectivePolicy {
        min_class: CredentialClass::Password,
        min_password_length: None,
        allowed_mfa: all_mfa(),
        aaguid_allow_list: None,
        exempt: false,
    };
    for policy in policies {
        out.min_class = out.min_class.max(policy.min_class);
        out.min_password_length = out.min_password_length.max(policy.min_password_length);
        out.allowed_mfa = out
            .allowed_mfa
            .intersection(&policy.allowed_mfa)
            .copied()
            .collect();
        out.aaguid_allow_list = match (out.aaguid_allow_list.take(), &policy.aaguid_allow_list) {
            (None, None) => None,
            (None, Some(list)) => Some(list.clone()),
            (Some(list), None) => Some(list),
            (Some(list), Some(other)) => {
                Some(list.into_iter().filter(|a| other.contains(a)).collect())
            }
        };
    }
    if let Some(list) = &mut out.aaguid_allow_list {
        list.sort_unstable();
        list.dedup();
    }
    if subject.in_idm_admins {
        out.min_class = out.min_class.max(CredentialClass::PasswordMfa);
    }
    out
}

/// One thing a person did in a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Their password.
    Password,
    /// A TOTP code.
    Totp,
    /// A backup code.
    BackupCode,
    /// A passkey with user verification. `hardware_bound`: the key cannot leave the device
    /// (not backup-eligible).
    Passkey {
        /// Not backup-eligible.
        hardware_bound: bool,
    },
    /// A WebAuthn credential with user presence only (a security key after a password).
    SecurityKey {
        /// Not backup-eligible.
        hardware_bound: bool,
    },
}

impl Method {
    /// The second-factor type this method is, if it is one.
    #[must_use]
    pub fn mfa_type(self) -> Option<MfaType> {
        match self {
            Method::Password => None,
            Method::Totp => Some(MfaType::Totp),
            Method::BackupCode => Some(MfaType::BackupCode),
            Method::Passkey { .. } => Some(MfaType::Passkey),
            Method::SecurityKey { .. } => Some(MfaType::SecurityKey),
        }
    }

    fn is_webauthn(self) -> bool {
        matches!(self, Method::Passkey { .. } | Method::SecurityKey { .. })
    }
}

/// The class a login reached, ignoring policy; `None` when it is not a login at all (only a
/// second factor, or nothing).
#[must_use]
pub fn achieved_class(used: &[Method]) -> Option<CredentialClass> {
    let passkey = used.iter().any(|m| matches!(m, Method::Passkey { .. }));
    let password = used.contains(&Method::Password);
    let second = used.iter().any(|m| m.mfa_type().is_some());
    if passkey {
        Some(CredentialClass::Passkey)
    } else if password && second {
        Some(CredentialClass::PasswordMfa)
    } else if password {
        Some(CredentialClass::Password)
    } else {
        None
    }
}

/// Why a login does not meet the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsatisfied {
    /// No complete login (e.g. only a TOTP code).
    #[error("no complete login")]
    NotAuthenticated,
    /// A second factor the policy does not allow was used.
    #[error("{0:?} is not allowed by policy")]
    MethodNotAllowed(MfaType),
    /// The login is weaker than the policy requires: ask for more (step-up).
    #[error("the policy requires {required:?}, the login reached {achieved:?}")]
    ClassTooLow {
        /// What the policy requires.
        required: CredentialClass,
        /// What the login reached.
        achieved: CredentialClass,
    },
}

/// Check a login — the methods the person used — against their policy.
///
/// # Errors
/// The reason the login is not enough, see [`Unsatisfied`].
pub fn satisfies(effective: &EffectivePolicy, used: &[Method]) -> Result<(), Unsatisfied> {
    if !effective.exempt
        && let Some(mfa) = used
            .iter()
            .filter_map(|m| m.mfa_type())
            .find(|t| !effective.allows(*t))
    {
        return Err(Unsatisfied::MethodNotAllowed(mfa));
    }
    let achieved = achieved_class(used).ok_or(Unsatisfied::NotAuthenticated)?;
    if !effective.exempt && achieved < effective.min_class {
        return Err(Unsatisfied::ClassTooLow {
            required: effective.min_class,
            achieved,
        });
    }
    Ok(())
}

/// A credential a person holds, by kind (one entry per credential: two passkeys are two
/// entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldCredential {
    /// A password.
    Password,
    /// A TOTP authenticator.
    Totp,
    /// A set of backup codes.
    BackupCodes,
    /// A passkey.
    Passkey,
    /// A security key.
    SecurityKey,
}

impl HeldCredential {
    fn mfa_type(self) -> Option<MfaType> {
        match self {
            HeldCredential::Password => None,
            HeldCredential::Totp => Some(MfaType::Totp),
            HeldCredential::BackupCodes => Some(MfaType::BackupCode),
            HeldCredential::Passkey => Some(MfaType::Passkey),
            HeldCredential::SecurityKey => Some(MfaType::SecurityKey),
        }
    }
}

/// Why a credential may not be removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CannotRemove {
    /// The person holds no credential of that kind.
    #[error("no such credential")]
    NotHeld,
    /// It is the last credential the person can log in with.
    #[error("this is the last credential that can log in")]
    LastCredential,
    /// Without it the person could no longer log in the way their policy requires.
    #[error("the policy requires a {required:?} login, which needs this credential")]
    RequiredByPolicy {
        /// What the policy requires.
        required: CredentialClass,
    },
}

/// Whether `remove` may be taken from the credentials a person holds (`current`).
///
/// Nobody can remove their last credential that their policy requires: removal is refused
/// when it would lower the best login the person can still make below their policy's class,
/// or leave them no login at all (that applies to the exempt `admin` too). Removing what
/// does not lower that best login is always fine — a spare passkey, a TOTP when a passkey
/// is required anyway, a type the policy no longer allows. Backup codes never count as the
/// second factor that keeps a class: they are the way back after losing it.
///
/// # Errors
/// See [`CannotRemove`].
pub fn can_remove(
    effective: &EffectivePolicy,
    current: &[HeldCredential],
    remove: HeldCredential,
) -> Result<(), CannotRemove> {
    let position = current
        .iter()
        .position(|c| *c == remove)
        .ok_or(CannotRemove::NotHeld)?;
    let remaining: Vec<HeldCredential> = current
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != position)
        .map(|(_, c)| *c)
        .collect();
    if remaining.is_empty() {
        return Err(CannotRemove::LastCredential);
    }
    let before = capability(effective, current);
    let after = capability(effective, &remaining);
    if after >= before {
        return Ok(());
    }
    match after {
        None => Err(CannotRemove::LastCredential),
        Some(class) if !effective.exempt && class < effective.min_class => {
            Err(CannotRemove::RequiredByPolicy {
                required: effective.min_class,
            })
        }
        Some(_) => Ok(()),
    }
}

/// The best login class the held credentials allow under the policy's allowed types.
fn capability(effective: &EffectivePolicy, held: &[HeldCredential]) -> Option<CredentialClass> {
    let usable = |c: &HeldCredential| c.mfa_type().is_none_or(|t| effective.allows(t));
    let has = |kind: HeldCredential| held.iter().any(|c| *c == kind && usable(c));
    let password = has(HeldCredential::Password);
    let second = has(HeldCredential::Totp)
        || has(HeldCredential::SecurityKey)
        || has(HeldCredential::Passkey);
    if has(HeldCredential::Passkey) {
        Some(CredentialClass::Passkey)
    } else if password && second {
        Some(CredentialClass::PasswordMfa)
    } else if password {
        Some(CredentialClass::Password)
    } else {
        None
    }
}

/// An RFC 8176 authentication method reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Amr {
    /// Password.
    Pwd,
    /// One-time password (TOTP, backup code).
    Otp,
    /// Proof of possession of a hardware-secured key.
    Hwk,
    /// Proof of possession of a software-secured key (a synced passkey).
    Swk,
    /// User presence test (every WebAuthn assertion).
    User,
    /// Multiple-factor authentication.
    Mfa,
}

impl Amr {
    /// The registered value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Amr::Pwd => "pwd",
            Amr::Otp => "otp",
            Amr::Hwk => "hwk",
            Amr::Swk => "swk",
            Amr::User => "user",
            Amr::Mfa => "mfa",
        }
    }
}

/// The `amr` claim for a login, in a fixed order (pwd, otp, hwk, swk, user, mfa), each value
/// once. `mfa` is there when two factors were used, or a passkey with user verification
/// (the device and the PIN or biometric that unlocked it).
#[must_use]
pub fn amr(used: &[Method]) -> Vec<Amr> {
    let mut out = BTreeSet::new();
    for method in used {
        match method {
            Method::Password => {
                out.insert(Amr::Pwd);
            }
            Method::Totp | Method::BackupCode => {
                out.insert(Amr::Otp);
            }
            Method::Passkey { hardware_bound } | Method::SecurityKey { hardware_bound } => {
                out.insert(if *hardware_bound { Amr::Hwk } else { Amr::Swk });
                out.insert(Amr::User);
            }
        }
    }
    let passkey = used.iter().any(|m| matches!(m, Method::Passkey { .. }));
    let factors = used.contains(&Method::Password) && used.iter().any(|m| m.mfa_type().is_some());
    if passkey || factors {
        out.insert(Amr::Mfa);
    }
    out.into_iter().collect()
}

/// The assurance level of a login, as applications see it (same values as the OIDC
/// crate's `assurance` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assurance {
    /// A password alone.
    Password,
    /// A password and a second factor that can be phished (TOTP, backup code).
    Mfa,
    /// A WebAuthn credential bound to our origin took part: a passkey, or a password with a
    /// security key (a phished password alone gets nobody in).
    PhishingResistant,
}

impl Assurance {
    /// The claim value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Assurance::Password => "password",
            Assurance::Mfa => "mfa",
            Assurance::PhishingResistant => "phishing_resistant",
        }
    }
}

/// The assurance level a login reached; `None` when it is not a complete login.
#[must_use]
pub fn assurance(used: &[Method]) -> Option<Assurance> {
    match achieved_class(used)? {
        CredentialClass::Passkey => Some(Assurance::PhishingResistant),
        CredentialClass::PasswordMfa if used.iter().any(|m| m.is_webauthn()) => {
            Some(Assurance::PhishingResistant)
        }
        CredentialClass::PasswordMfa => Some(Assurance::Mfa),
        CredentialClass::Password => Some(Assurance::Password),
    }
}

/// Authentication context classes this server assigns, weakest first. The two
/// phishing-resistant ones are the registered names of OpenID Connect EAP ACR Values 1.0;
/// the others are this server's URNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Acr {
    /// `urn:idm:acr:password`.
    Password,
    /// `urn:idm:acr:mfa`.
    Mfa,
    /// `phr`: phishing-resistant.
    PhishingResistant,
    /// `phrh`: phishing-resistant with a hardware-bound key.
    PhishingResistantHardware,
}

impl Acr {
    /// Every value, weakest first.
    pub const ALL: [Acr; 4] = [
        Acr::Password,
        Acr::Mfa,
        Acr::PhishingResistant,
        Acr::PhishingResistantHardware,
    ];

    /// The claim value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Acr::Password => "urn:idm:acr:password",
            Acr::Mfa => "urn:idm:acr:mfa",
            Acr::PhishingResistant => "phr",
            Acr::PhishingResistantHardware => "phrh",
        }
    }

    /// The value named by `text`, if it is one of ours.
    #[must_use]
    pub fn parse(text: &str) -> Option<Acr> {
        Acr::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// The `acr` a login reached; `None` when it is not a complete login.
#[must_use]
pub fn acr(used: &[Method]) -> Option<Acr> {
    Some(match assurance(used)? {
        Assurance::Password => Acr::Password,
        Assurance::Mfa => Acr::Mfa,
        Assurance::PhishingResistant => {
            let hardware = used.iter().any(|m| {
                matches!(
                    m,
                    Method::Passkey {
                        hardware_bound: true
                    } | Method::SecurityKey {
                        hardware_bound: true
                    }
                )
            });
            if hardware {
                Acr::PhishingResistantHardware
            } else {
                Acr::PhishingResistant
            }
        }
    })
}

/// The answer to a client's `acr_values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a step-up decision that is not acted on lets a weak login through"]
pub enum AcrOutcome {
    /// The login is good enough; put this value in the `acr` claim (the first requested
    /// value that is met, or what was achieved when no known value was requested).
    Met(Acr),
    /// The login is weaker than every value requested: authenticate again, to at least
    /// `needed` (the weakest value requested).
    StepUp {
        /// What the new login must reach.
        needed: Acr,
    },
    /// No login yet (and nothing requested that we know).
    NotAuthenticated,
}

/// Decide a step-up: `requested` are the client's `acr_values` in its order of preference,
/// `achieved` what the current login reached ([`acr`]). A value is met by an equal or
/// stronger login. Values this server does not know are ignored, as OIDC allows; when none
/// is known, any login meets the request.
pub fn meets_acr<S: AsRef<str>>(requested: &[S], achieved: Option<Acr>) -> AcrOutcome {
    let known: Vec<Acr> = requested
        .iter()
        .filter_map(|r| Acr::parse(r.as_ref()))
        .collect();
    let weakest = known.iter().min().copied();
    match (achieved, weakest) {
        (Some(a), None) => AcrOutcome::Met(a),
        (None, None) => AcrOutcome::NotAuthenticated,
        (None, Some(needed)) => AcrOutcome::StepUp { needed },
        (Some(a), Some(needed)) => match known.iter().find(|r| **r <= a) {
            Some(r) => AcrOutcome::Met(*r),
            None => AcrOutcome::StepUp { needed },
        },
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity, reason = "table tests: one tuple per row")]
mod tests {
    use super::*;
    use CredentialClass as C;
    use HeldCredential as H;
    use Method as M;

    const HW_KEY: Method = M::SecurityKey {
        hardware_bound: true,
    };
    const SW_KEY: Method = M::SecurityKey {
        hardware_bound: false,
    };
    const HW_PASSKEY: Method = M::Passkey {
        hardware_bound: true,
    };
    const SYNCED_PASSKEY: Method = M::Passkey {
        hardware_bound: false,
    };

    fn group(min_class: C, allowed: &[MfaType]) -> GroupPolicy {
        GroupPolicy {
            min_class,
            allowed_mfa: allowed.iter().copied().collect(),
            ..GroupPolicy::default()
        }
    }

    fn person() -> Subject {
        Subject::default()
    }

    #[test]
    fn effective_strictest_wins() {
        let a = GroupPolicy {
            min_class: C::PasswordMfa,
            min_password_length: Some(14),
            allowed_mfa: [MfaType::Totp, MfaType::Passkey, MfaType::BackupCode].into(),
            aaguid_allow_list: Some(vec![Uuid::from_u128(1), Uuid::from_u128(2)]),
        };
        let b = GroupPolicy {
            min_class: C::Password,
            min_password_length: Some(16),
            allowed_mfa: [MfaType::Passkey, MfaType::SecurityKey, MfaType::BackupCode].into(),
            aaguid_allow_list: Some(vec![Uuid::from_u128(2), Uuid::from_u128(3)]),
        };
        let c = GroupPolicy::default();
        let e = effective([&a, &b, &c], person());
        assert_eq!(e.min_class, C::PasswordMfa);
        assert_eq!(e.min_password_length, Some(16));
        assert_eq!(
            e.allowed_mfa,
            [MfaType::Passkey, MfaType::BackupCode].into()
        );
        assert_eq!(e.aaguid_allow_list, Some(vec![Uuid::from_u128(2)]));
        assert!(!e.exempt && e.is_satisfiable());
        assert!(e.allows_aaguid(Some(Uuid::from_u128(2))));
        assert!(!e.allows_aaguid(Some(Uuid::from_u128(1))));
        assert!(!e.allows_aaguid(None));

        // No groups: no rules.
        let none = effective([], person());
        assert_eq!(none.min_class, C::Password);
        assert_eq!(none.allowed_mfa.len(), 4);
        assert_eq!(none.aaguid_allow_list, None);
        assert!(none.allows_aaguid(None));
    }

    #[test]
    fn effective_table() {
        use MfaType::*;
        // (group policies, subject, expected class, expected allowed, satisfiable)
        let admins = Subject {
            in_idm_admins: true,
            is_break_glass_admin: false,
        };
        let admin = Subject {
            in_idm_admins: true,
            is_break_glass_admin: true,
        };
        let table: Vec<(Vec<GroupPolicy>, Subject, C, Vec<MfaType>, bool)> = vec![
            (vec![], person(), C::Password, MfaType::ALL.to_vec(), true),
            // idm_admins: a floor of PasswordMfa...
            (vec![], admins, C::PasswordMfa, MfaType::ALL.to_vec(), true),
            (
                vec![group(C::Password, &MfaType::ALL)],
                admins,
                C::PasswordMfa,
                MfaType::ALL.to_vec(),
                true,
            ),
            // ...that a group can raise.
            (
                vec![group(C::Passkey, &MfaType::ALL)],
                admins,
                C::Passkey,
                MfaType::ALL.to_vec(),
                true,
            ),
            // The break-glass admin is exempt, whatever its groups.
            (
                vec![group(C::Passkey, &[])],
                admin,
                C::Password,
                MfaType::ALL.to_vec(),
                true,
            ),
            // Disjoint allowed sets: empty intersection, password only.
            (
                vec![group(C::Password, &[Totp]), group(C::Password, &[Passkey])],
                person(),
                C::Password,
                vec![],
                true,
            ),
            // ... which cannot meet an MFA requirement.
            (
                vec![
                    group(C::PasswordMfa, &[Totp]),
                    group(C::Password, &[Passkey]),
                ],
                person(),
                C::PasswordMfa,
                vec![],
                false,
            ),
            // A passkey requirement with passkeys not allowed.
            (
                vec![group(C::Passkey, &[Totp, SecurityKey])],
                person(),
                C::Passkey,
                vec![Totp, SecurityKey],
                false,
            ),
            // Backup codes alone do not make MFA satisfiable.
            (
                vec![group(C::PasswordMfa, &[BackupCode])],
                person(),
                C::PasswordMfa,
                vec![BackupCode],
                false,
            ),
        ];
        for (i, (groups, subject, class, allowed, satisfiable)) in table.into_iter().enumerate() {
            let e = effective(&groups, subject);
            assert_eq!(e.min_class, class, "row {i}");
            assert_eq!(
                e.allowed_mfa,
                allowed.into_iter().collect::<BTreeSet<_>>(),
                "row {i}"
            );
            assert_eq!(e.is_satisfiable(), satisfiable, "row {i}");
            assert_eq!(e.exempt, subject.is_break_glass_admin, "row {i}");
        }
    }

    #[test]
    fn password_length_merges_with_server_policy() {
        let base = PasswordPolicy::default();
        let mut e = effective(
            [&GroupPolicy {
                min_password_length: Some(20),
                ..GroupPolicy::default()
            }],
            person(),
        );
        assert_eq!(e.password_policy(base).min_length, 20);
        e.min_password_length = Some(4);
        assert_eq!(e.password_policy(base).min_length, base.min_length);
        assert_eq!(
            EffectivePolicy::exempt().password_policy(base).min_length,
            base.min_length
        );
    }

    #[test]
    fn satisfies_table() {
        use MfaType::*;
        let open = effective([], person());
        let mfa = effective([&group(C::PasswordMfa, &MfaType::ALL)], person());
        let passkey = effective([&group(C::Passkey, &MfaType::ALL)], person());
        let no_totp = effective([&group(C::PasswordMfa, &[Passkey, SecurityKey])], person());
        let exempt = EffectivePolicy::exempt();
        let too_low = |required, achieved| Err(Unsatisfied::ClassTooLow { required, achieved });
        let table: Vec<(&EffectivePolicy, Vec<Method>, Result<(), Unsatisfied>)> = vec![
            (&open, vec![M::Password], Ok(())),
            (&open, vec![], Err(Unsatisfied::NotAuthenticated)),
            (&open, vec![M::Totp], Err(Unsatisfied::NotAuthenticated)),
            (&open, vec![HW_KEY], Err(Unsatisfied::NotAuthenticated)),
            (
                &mfa,
                vec![M::Password],
                too_low(C::PasswordMfa, C::Password),
            ),
            (&mfa, vec![M::Password, M::Totp], Ok(())),
            (&mfa, vec![M::Password, M::BackupCode], Ok(())),
            (&mfa, vec![M::Password, SW_KEY], Ok(())),
            (&mfa, vec![SYNCED_PASSKEY], Ok(())),
            (
                &passkey,
                vec![M::Password, M::Totp],
                too_low(C::Passkey, C::PasswordMfa),
            ),
            (
                &passkey,
                vec![M::Password, HW_KEY],
                too_low(C::Passkey, C::PasswordMfa),
            ),
            (&passkey, vec![HW_PASSKEY], Ok(())),
            (
                &no_totp,
                vec![M::Password, M::Totp],
                Err(Unsatisfied::MethodNotAllowed(Totp)),
            ),
            (&no_totp, vec![M::Password, HW_KEY], Ok(())),
            (
                &no_totp,
                vec![M::Password, M::BackupCode],
                Err(Unsatisfied::MethodNotAllowed(BackupCode)),
            ),
            (&exempt, vec![M::Password], Ok(())),
            (&exempt, vec![M::Totp], Err(Unsatisfied::NotAuthenticated)),
        ];
        for (i, (policy, used, expected)) in table.into_iter().enumerate() {
            assert_eq!(satisfies(policy, &used), expected, "row {i}: {used:?}");
        }
    }

    #[test]
    fn can_remove_table() {
        use MfaType::*;
        let open = effective([], person());
        let mfa = effective([&group(C::PasswordMfa, &MfaType::ALL)], person());
        let passkey = effective([&group(C::Passkey, &MfaType::ALL)], person());
        let no_totp = effective([&group(C::PasswordMfa, &[Passkey, SecurityKey])], person());
        let exempt = EffectivePolicy::exempt();
        let required = |required| Err(CannotRemove::RequiredByPolicy { required });
        let table: Vec<(&EffectivePolicy, Vec<H>, H, Result<(), CannotRemove>)> = vec![
            // The last credential, never.
            (
                &open,
                vec![H::Password],
                H::Password,
                Err(CannotRemove::LastCredential),
            ),
            (
                &exempt,
                vec![H::Password],
                H::Password,
                Err(CannotRemove::LastCredential),
            ),
            (
                &open,
                vec![H::Password],
                H::Totp,
                Err(CannotRemove::NotHeld),
            ),
            // Nothing required beyond a password.
            (&open, vec![H::Password, H::Totp], H::Totp, Ok(())),
            (&open, vec![H::Password, H::Passkey], H::Password, Ok(())),
            (&open, vec![H::Password, H::Passkey], H::Passkey, Ok(())),
            // Backup codes alone cannot log in.
            (
                &open,
                vec![H::Password, H::BackupCodes],
                H::Password,
                Err(CannotRemove::LastCredential),
            ),
            // MFA required: the only second factor stays.
            (
                &mfa,
                vec![H::Password, H::Totp],
                H::Totp,
                required(C::PasswordMfa),
            ),
            (
                &mfa,
                vec![H::Password, H::Totp, H::BackupCodes],
                H::Totp,
                required(C::PasswordMfa),
            ),
            (
                &mfa,
                vec![H::Password, H::Totp, H::SecurityKey],
                H::Totp,
                Ok(()),
            ),
            (&mfa, vec![H::Password, H::Totp, H::Totp], H::Totp, Ok(())),
            (
                &mfa,
                vec![H::Password, H::Totp, H::BackupCodes],
                H::BackupCodes,
                Ok(()),
            ),
            // A passkey is a login of its own: the password may go.
            (&mfa, vec![H::Password, H::Passkey], H::Password, Ok(())),
            (
                &mfa,
                vec![H::Password, H::Totp, H::Passkey],
                H::Passkey,
                Ok(()),
            ),
            // Passkey required: the last passkey stays, spares may go.
            (
                &passkey,
                vec![H::Password, H::Passkey],
                H::Passkey,
                required(C::Passkey),
            ),
            (&passkey, vec![H::Passkey, H::Passkey], H::Passkey, Ok(())),
            (&passkey, vec![H::Password, H::Passkey], H::Password, Ok(())),
            // Already below policy: removing what does not lower it is fine.
            (
                &passkey,
                vec![H::Password, H::Totp, H::BackupCodes],
                H::BackupCodes,
                Ok(()),
            ),
            (
                &passkey,
                vec![H::Password, H::Totp],
                H::Totp,
                required(C::Passkey),
            ),
            // A disallowed type never keeps a class, so it may always go.
            (
                &no_totp,
                vec![H::Password, H::Totp, H::SecurityKey],
                H::Totp,
                Ok(()),
            ),
            (
                &no_totp,
                vec![H::Password, H::SecurityKey],
                H::SecurityKey,
                required(C::PasswordMfa),
            ),
            // The exempt admin: anything but the last login.
            (&exempt, vec![H::Password, H::Totp], H::Totp, Ok(())),
            (&exempt, vec![H::Password, H::Passkey], H::Passkey, Ok(())),
        ];
        for (i, (policy, held, remove, expected)) in table.into_iter().enumerate() {
            assert_eq!(
                can_remove(policy, &held, remove),
                expected,
                "row {i}: remove {remove:?} from {held:?}"
            );
        }
    }

    #[test]
    fn amr_assurance_acr_table() {
        use Amr::*;
        let table: Vec<(Vec<Method>, Vec<Amr>, Option<Assurance>, Option<Acr>)> = vec![
            (vec![], vec![], None, None),
            (
                vec![M::Password],
                vec![Pwd],
                Some(Assurance::Password),
                Some(Acr::Password),
            ),
            (vec![M::Totp], vec![Otp], None, None),
            (
                vec![M::Password, M::Totp],
                vec![Pwd, Otp, Mfa],
                Some(Assurance::Mfa),
                Some(Acr::Mfa),
            ),
            (
                vec![M::Password, M::BackupCode],
                vec![Pwd, Otp, Mfa],
                Some(Assurance::Mfa),
                Some(Acr::Mfa),
            ),
            (
                vec![M::Password, HW_KEY],
                vec![Pwd, Hwk, User, Mfa],
                Some(Assurance::PhishingResistant),
                Some(Acr::PhishingResistantHardware),
            ),
            (
                vec![M::Password, SW_KEY],
                vec![Pwd, Swk, User, Mfa],
                Some(Assurance::PhishingResistant),
                Some(Acr::PhishingResistant),
            ),
            (
                vec![HW_PASSKEY],
                vec![Hwk, User, Mfa],
                Some(Assurance::PhishingResistant),
                Some(Acr::PhishingResistantHardware),
            ),
            (
                vec![SYNCED_PASSKEY],
                vec![Swk, User, Mfa],
                Some(Assurance::PhishingResistant),
                Some(Acr::PhishingResistant),
            ),
            // A security key alone is presence only: not a login.
            (vec![HW_KEY], vec![Hwk, User], None, None),
            // Step-up on top of a password + TOTP session with a passkey.
            (
                vec![M::Password, M::Totp, SYNCED_PASSKEY],
                vec![Pwd, Otp, Swk, User, Mfa],
                Some(Assurance::PhishingResistant),
                Some(Acr::PhishingResistant),
            ),
        ];
        for (used, amr_expected, assurance_expected, acr_expected) in table {
            assert_eq!(amr(&used), amr_expected, "{used:?}");
            assert_eq!(assurance(&used), assurance_expected, "{used:?}");
            assert_eq!(acr(&used), acr_expected, "{used:?}");
        }
        let strings: Vec<&str> = amr(&[M::Password, HW_KEY])
            .into_iter()
            .map(Amr::as_str)
            .collect();
        assert_eq!(strings, ["pwd", "hwk", "user", "mfa"]);
        assert_eq!(Assurance::PhishingResistant.as_str(), "phishing_resistant");
        assert_eq!(
            serde_json::to_string(&Assurance::PhishingResistant).unwrap(),
            "\"phishing_resistant\""
        );
    }

    #[test]
    fn meets_acr_table() {
        let table: Vec<(Vec<&str>, Option<Acr>, AcrOutcome)> = vec![
            (vec![], Some(Acr::Password), AcrOutcome::Met(Acr::Password)),
            (vec![], None, AcrOutcome::NotAuthenticated),
            (
                vec!["urn:unknown"],
                Some(Acr::Mfa),
                AcrOutcome::Met(Acr::Mfa),
            ),
            (
                vec!["urn:idm:acr:mfa"],
                Some(Acr::Mfa),
                AcrOutcome::Met(Acr::Mfa),
            ),
            // A stronger login meets a weaker request; the claim names what was asked.
            (
                vec!["urn:idm:acr:mfa"],
                Some(Acr::PhishingResistantHardware),
                AcrOutcome::Met(Acr::Mfa),
            ),
            (
                vec!["urn:idm:acr:mfa"],
                Some(Acr::Password),
                AcrOutcome::StepUp { needed: Acr::Mfa },
            ),
            (
                vec!["phr"],
                Some(Acr::Mfa),
                AcrOutcome::StepUp {
                    needed: Acr::PhishingResistant,
                },
            ),
            (
                vec!["phr"],
                Some(Acr::PhishingResistantHardware),
                AcrOutcome::Met(Acr::PhishingResistant),
            ),
            (
                vec!["phrh"],
                Some(Acr::PhishingResistant),
                AcrOutcome::StepUp {
                    needed: Acr::PhishingResistantHardware,
                },
            ),
            // Preference order: the first value met is reported.
            (
                vec!["phrh", "phr"],
                Some(Acr::PhishingResistant),
                AcrOutcome::Met(Acr::PhishingResistant),
            ),
            (
                vec!["phr", "urn:idm:acr:mfa"],
                Some(Acr::PhishingResistantHardware),
                AcrOutcome::Met(Acr::PhishingResistant),
            ),
            // Step-up to the weakest requested value.
            (
                vec!["phrh", "phr"],
                Some(Acr::Mfa),
                AcrOutcome::StepUp {
                    needed: Acr::PhishingResistant,
                },
            ),
            (
                vec!["phr"],
                None,
                AcrOutcome::StepUp {
                    needed: Acr::PhishingResistant,
                },
            ),
        ];
        for (requested, achieved, expected) in table {
            assert_eq!(
                meets_acr(&requested, achieved),
                expected,
                "{requested:?} {achieved:?}"
            );
        }
        for a in Acr::ALL {
            assert_eq!(Acr::parse(a.as_str()), Some(a));
        }
    }

    #[test]
    fn group_policy_serde_defaults() {
        let p: GroupPolicy = serde_json::from_str(r#"{"min_class":"passkey"}"#).unwrap();
        assert_eq!(p.min_class, C::Passkey);
        assert_eq!(p.allowed_mfa.len(), 4);
        let p: GroupPolicy =
            serde_json::from_str(r#"{"allowed_mfa":["totp","security_key"]}"#).unwrap();
        assert_eq!(p.allowed_mfa, [MfaType::Totp, MfaType::SecurityKey].into());
        assert!(serde_json::from_str::<GroupPolicy>(r#"{"min_clas":"passkey"}"#).is_err());
    }
}
