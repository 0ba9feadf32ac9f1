//! Password hashing (argon2id) and JWT access tokens for rolegate.
//!
//! Other services can depend on this crate alone to verify rolegate's access
//! tokens: [`TokenVerifier`] needs only the verification keys, no database.

pub mod jwt;
pub mod keys;
pub mod password;
pub mod refresh;

pub use jsonwebtoken::jwk::JwkSet;
pub use jwt::{AccessClaims, JwtConfig, KeyError, TokenService, TokenVerifier, VerifyError};
pub use keys::{KeyKind, KeySet, generate_private_pem};
pub use password::{Argon2Hasher, HashingConfig};
pub use refresh::OpaqueRefreshTokens;
