//! Password hashing (argon2id) and JWT access tokens for rolegate.
//!
//! Verification is `rolegate-guard`'s (re-exported): other services depend on
//! that crate alone, not on this one.

pub mod factors;
pub mod jwt;
pub mod keys;
#[cfg(feature = "passkeys")]
pub mod passkeys;
pub mod password;
pub mod refresh;

pub use factors::{MfaKey, TotpFactors};
pub use jsonwebtoken::jwk::JwkSet;
pub use jwt::{
    AccessClaims, JwtConfig, KeyError, TokenService, TokenVerifier, VerifierConfig, VerifyError,
};
pub use keys::{KeyKind, KeySet, generate_private_pem};
#[cfg(feature = "passkeys")]
pub use passkeys::WebauthnVerifier;
pub use password::{Argon2Hasher, HashObserver, HashingConfig, HashingStats};
pub use refresh::OpaqueRefreshTokens;
