//! The server's one source of randomness: the operating system's CSPRNG. Protocol crates never
//! draw randomness themselves; the server draws it here and passes bytes in.

use uuid::Uuid;

use crate::error::AppError;

pub fn array<const N: usize>() -> Result<[u8; N], AppError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| AppError::Internal(format!("randomness: {e}")))?;
    Ok(b)
}

/// A random (version 4) UUID from the CSPRNG.
pub fn uuid() -> Result<Uuid, AppError> {
    Ok(uuid::Builder::from_random_bytes(array::<16>()?).into_uuid())
}

/// A password for `recover-account`: 24 characters of base64url from 144 random bits.
pub fn password() -> Result<String, AppError> {
    use base64ct::{Base64UrlUnpadded, Encoding};
    Ok(Base64UrlUnpadded::encode_string(&array::<18>()?))
}
