//! The crate's one error type and the LDAP `resultCode` registry.
//!
//! Every failure the crate can report is an [`LdapError`]; [`LdapError::result_code`] is the single
//! place where an error becomes a wire `resultCode`, so the session never invents codes ad hoc.

use std::fmt;

/// Everything that can go wrong while decoding, parsing or validating LDAP data.
///
/// Decoding errors carry only static descriptions: the input is attacker-controlled and must not
/// be echoed back into logs or diagnostic messages unbounded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LdapError {
    /// The length prefix of a message announces more than [`crate::Limits::max_message_size`].
    /// Reported as soon as the header is read, so a peer cannot make us buffer it.
    #[error("message of {length} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// The announced length of the message contents.
        length: u64,
        /// The configured limit.
        limit: usize,
    },
    /// BER indefinite lengths are forbidden by RFC 4511 section 5.1.
    #[error("indefinite length encoding is not allowed in LDAP")]
    IndefiniteLength,
    /// The encoding structure is wrong: truncated element, bad tag, bad primitive contents.
    #[error("malformed LDAP message: {0}")]
    Malformed(&'static str),
    /// Bytes remain after an element that must be the last one.
    #[error("trailing data after {0}")]
    TrailingData(&'static str),
    /// An LDAPString (DN, attribute description, OID, …) is not UTF-8.
    #[error("{0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// A count or depth from [`crate::Limits`] was exceeded.
    #[error("limit exceeded: more than {limit} {what}")]
    LimitExceeded {
        /// What was counted.
        what: &'static str,
        /// The configured limit.
        limit: usize,
    },
    /// An RFC 4515 filter string could not be parsed.
    #[error("invalid filter at byte {position}: {reason}")]
    InvalidFilter {
        /// Byte offset in the filter string.
        position: usize,
        /// What was expected.
        reason: &'static str,
    },
    /// An RFC 4514 DN string could not be parsed.
    #[error("invalid DN at byte {position}: {reason}")]
    InvalidDn {
        /// Byte offset in the DN string.
        position: usize,
        /// What was expected.
        reason: &'static str,
    },
    /// A control's value does not have the structure its OID requires.
    #[error("invalid value for control {oid}")]
    InvalidControlValue {
        /// The control type.
        oid: &'static str,
    },
    /// An extensibleMatch filter names a matching rule this crate does not implement.
    #[error("unsupported matching rule {0:?}")]
    UnsupportedMatchingRule(String),
    /// An extensibleMatch filter has neither a matching rule nor an attribute type.
    #[error("extensibleMatch needs a matching rule or an attribute type")]
    IncompleteExtensibleMatch,
}

impl LdapError {
    /// The LDAP resultCode that reports this error to a client.
    ///
    /// This is the only mapping from errors to wire codes in the crate.
    #[must_use]
    pub fn result_code(&self) -> ResultCode {
        match self {
            Self::MessageTooLarge { .. }
            | Self::IndefiniteLength
            | Self::Malformed(_)
            | Self::TrailingData(_)
            | Self::InvalidUtf8(_)
            | Self::InvalidFilter { .. }
            | Self::InvalidControlValue { .. } => ResultCode::ProtocolError,
            Self::LimitExceeded { .. } => ResultCode::AdminLimitExceeded,
            Self::InvalidDn { .. } => ResultCode::InvalidDnSyntax,
            Self::UnsupportedMatchingRule(_) | Self::IncompleteExtensibleMatch => {
                ResultCode::InappropriateMatching
            }
        }
    }
}

macro_rules! result_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)*) => {
        /// LDAP resultCode (RFC 4511 section 4.1.9 and appendix A, IANA "LDAP Result Codes").
        ///
        /// Values outside the list decode to [`ResultCode::Unrecognized`], so a response from a
        /// newer server still round-trips.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ResultCode {
            $($(#[$doc])* $name,)*
            /// A code not in the list above (kept so that decoding is total).
            Unrecognized(u32),
        }

        impl From<u32> for ResultCode {
            fn from(value: u32) -> Self {
                match value {
                    $($value => Self::$name,)*
                    other => Self::Unrecognized(other),
                }
            }
        }

        impl From<ResultCode> for u32 {
            fn from(code: ResultCode) -> u32 {
                match code {
                    $(ResultCode::$name => $value,)*
                    ResultCode::Unrecognized(other) => other,
                }
            }
        }
    };
}

result_codes! {
    /// success (0)
    Success = 0,
    /// operationsError (1)
    OperationsError = 1,
    /// protocolError (2)
    ProtocolError = 2,
    /// timeLimitExceeded (3)
    TimeLimitExceeded = 3,
    /// sizeLimitExceeded (4)
    SizeLimitExceeded = 4,
    /// compareFalse (5)
    CompareFalse = 5,
    /// compareTrue (6)
    CompareTrue = 6,
    /// authMethodNotSupported (7)
    AuthMethodNotSupported = 7,
    /// strongerAuthRequired (8)
    StrongerAuthRequired = 8,
    /// referral (10)
    Referral = 10,
    /// adminLimitExceeded (11)
    AdminLimitExceeded = 11,
    /// unavailableCriticalExtension (12)
    UnavailableCriticalExtension = 12,
    /// confidentialityRequired (13)
    ConfidentialityRequired = 13,
    /// saslBindInProgress (14)
    SaslBindInProgress = 14,
    /// noSuchAttribute (16)
    NoSuchAttribute = 16,
    /// undefinedAttributeType (17)
    UndefinedAttributeType = 17,
    /// inappropriateMatching (18)
    InappropriateMatching = 18,
    /// constraintViolation (19)
    ConstraintViolation = 19,
    /// attributeOrValueExists (20)
    AttributeOrValueExists = 20,
    /// invalidAttributeSyntax (21)
    InvalidAttributeSyntax = 21,
    /// noSuchObject (32)
    NoSuchObject = 32,
    /// aliasProblem (33)
    AliasProblem = 33,
    /// invalidDNSyntax (34)
    InvalidDnSyntax = 34,
    /// aliasDereferencingProblem (36)
    AliasDereferencingProblem = 36,
    /// inappropriateAuthentication (48)
    InappropriateAuthentication = 48,
    /// invalidCredentials (49)
    InvalidCredentials = 49,
    /// insufficientAccessRights (50)
    InsufficientAccessRights = 50,
    /// busy (51)
    Busy = 51,
    /// unavailable (52)
    Unavailable = 52,
    /// unwillingToPerform (53)
    UnwillingToPerform = 53,
    /// loopDetect (54)
    LoopDetect = 54,
    /// namingViolation (64)
    NamingViolation = 64,
    /// objectClassViolation (65)
    ObjectClassViolation = 65,
    /// notAllowedOnNonLeaf (66)
    NotAllowedOnNonLeaf = 66,
    /// notAllowedOnRDN (67)
    NotAllowedOnRdn = 67,
    /// entryAlreadyExists (68)
    EntryAlreadyExists = 68,
    /// objectClassModsProhibited (69)
    ObjectClassModsProhibited = 69,
    /// affectsMultipleDSAs (71)
    AffectsMultipleDsas = 71,
    /// other (80)
    Other = 80,
}

impl ResultCode {
    /// The numeric wire value.
    #[must_use]
    pub fn code(self) -> u32 {
        self.into()
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?} ({})", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_code_round_trips_through_u32() {
        for v in 0..200u32 {
            assert_eq!(u32::from(ResultCode::from(v)), v);
        }
        assert_eq!(ResultCode::from(53), ResultCode::UnwillingToPerform);
        assert_eq!(ResultCode::from(9), ResultCode::Unrecognized(9));
    }

    #[test]
    fn errors_map_to_codes() {
        assert_eq!(
            LdapError::Malformed("x").result_code(),
            ResultCode::ProtocolError
        );
        assert_eq!(
            LdapError::InvalidDn {
                position: 0,
                reason: "x"
            }
            .result_code(),
            ResultCode::InvalidDnSyntax
        );
        assert_eq!(
            LdapError::UnsupportedMatchingRule("1.2.3".into()).result_code(),
            ResultCode::InappropriateMatching
        );
    }
}
