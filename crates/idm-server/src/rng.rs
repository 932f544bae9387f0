//! The server's one source of randomness: the operating system's CSPRNG. Protocol crates never
//! draw randomness themselves; the server draws it here and passes bytes (or an RNG) in.

use rand::SeedableRng;
use rand::rngs::StdRng;
use uuid::Uuid;

use crate::error::AppError;

pub fn array<const N: usize>() -> Result<[u8; N], AppError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| AppError::Internal(format!("randomness: {e}")))?;
    Ok(b)
}

/// A CSPRNG for the protocol crates that take `&mut impl CryptoRng` (`idm_oidc` signs and mints
/// with rand_core 0.10's traits): ChaCha12 (`rand`'s `StdRng`) freshly seeded with 256 bits
/// from the OS for each request, so a failing OS source is an error here rather than a panic
/// inside a library, and no generator state is shared between requests or threads.
pub fn crypto_rng() -> Result<StdRng, AppError> {
    Ok(StdRng::from_seed(array::<32>()?))
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

/// `N` random bytes as base64url without padding (identifiers, secrets, CSRF tokens).
pub fn token<const N: usize>() -> Result<String, AppError> {
    use base64ct::{Base64UrlUnpadded, Encoding};
    Ok(Base64UrlUnpadded::encode_string(&array::<N>()?))
}
