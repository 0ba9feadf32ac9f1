//! Verify rolegate's access tokens and guard routes by role and permission,
//! in any Rust service: no database, no signing key, no rolegate server code.
//!
//! - [`TokenVerifier`]: checks a token (`typ: at+jwt`, known `kid`, the key's
//!   single algorithm, issuer, audience, expiry, numeric `sub`) against a
//!   shared HS256 secret ([`TokenVerifier::hs256`]), a JWKS document read once
//!   ([`TokenVerifier::from_jwks`]) or rolegate's JWKS fetched and kept fresh
//!   in the background ([`TokenVerifier::remote`], feature `remote`, on by
//!   default), so that rolegate can rotate its keys without restarting the
//!   services that trust it. Optional cache of verified tokens.
//! - Guards, framework-free types with extractors behind features:
//!   [`AuthUser`] (any valid token), [`RequireRole`], [`RequireAnyRole`],
//!   [`RequirePermission`] (with the domain's [`Granted`] proof),
//!   [`RequireAnyPermission`], [`RequireAllPermissions`]. Refusals are
//!   rolegate's JSON errors (see [`GuardError`]).
//! - Revocation, optional: [`TokenVerifier::with_revocation`] installs a
//!   [`RevocationCheck`] (an in-memory set of revoked sessions and users,
//!   fed in the background) that refuses revoked tokens with 401
//!   `token_revoked`; without one, a token is accepted until it expires.
//! - Features: `remote` (default; HTTP(S) fetch with ureq + rustls), `actix`
//!   (actix-web 4 extractors, [`actix::configure`]), `axum` (axum 0.8
//!   extractors).
//!
//! An embedder needs only this crate: the permission markers
//! ([`permissions`], [`permission!`]), [`Granted`], [`UserId`] and the
//! [`Clock`] port are re-exported from `rolegate-domain`.
//!
//! ```
//! use rolegate_guard::jsonwebtoken::{self, EncodingKey, Header};
//! use rolegate_guard::{AccessClaims, Algorithm, TokenVerifier, VerifierConfig, VerifyError};
//!
//! let secret = b"a shared secret of at least 32 bytes!";
//! let verifier = TokenVerifier::hs256(&VerifierConfig::default(), secret)?.with_cache(1024);
//!
//! // A token as rolegate signs it (normally it comes from rolegate's sign-in).
//! let mut header = Header::new(Algorithm::HS256);
//! header.typ = Some("at+jwt".into());
//! header.kid = verifier.kids().first().cloned();
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
//! let claims = AccessClaims {
//!     iss: "rolegate".into(),
//!     aud: "rolegate".into(),
//!     sub: 42,
//!     exp: now + 900,
//!     iat: now,
//!     jti: "a-unique-id".into(),
//!     name: "alice".into(),
//!     roles: vec!["user".into()],
//!     perms: vec!["content:read".into()],
//!     sid: None,
//!     amr: vec![],
//! };
//! let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret))?;
//!
//! let verified = verifier.verify(&token)?;
//! assert_eq!(verified.user_id(), 42);
//! assert!(verified.has_permission("content:read"));
//! assert_eq!(verifier.verify(&format!("{token}x")), Err(VerifyError::BadSignature));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A service that follows rolegate's key rotations (inside a tokio
//! runtime; see [`TokenVerifier::remote`]):
//!
//! ```no_run
//! # #[cfg(feature = "remote")]
//! # #[tokio::main] async fn main() -> Result<(), rolegate_guard::KeyError> {
//! use rolegate_guard::{RemoteJwks, TokenVerifier, VerifierConfig};
//!
//! let verifier = TokenVerifier::remote(
//!     &VerifierConfig { audience: "articles".into(), ..VerifierConfig::default() },
//!     RemoteJwks::new("https://auth.example.com/.well-known/jwks.json"),
//! )?
//! .with_cache(4096);
//! # Ok(()) }
//! # #[cfg(not(feature = "remote"))] fn main() {}
//! ```

#![warn(missing_docs)]

mod claims;
mod guard;
#[cfg(feature = "remote")]
mod remote;
mod revocation;
mod verifier;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;

pub use claims::AccessClaims;
pub use guard::{
    Admin, AuthUser, ErrorBody, Guard, GuardError, MAX_TOKEN_LEN, Moderator, Permissions,
    RequireAllPermissions, RequireAnyPermission, RequireAnyRole, RequireMfa, RequirePermission,
    RequireRole, Role, Roles, authorize, mfa_required, token_from_headers,
};
#[cfg(feature = "remote")]
pub use remote::RemoteJwks;
pub use revocation::RevocationCheck;
pub use verifier::{
    ACCESS_TOKEN_TYP, CacheStats, KeyError, MIN_SECRET_LEN, TokenVerifier, VerifierConfig,
    VerifyError,
};

/// The JWT library, for its key types (`DecodingKey`, `jwk::JwkSet`).
pub use jsonwebtoken;
pub use jsonwebtoken::jwk::JwkSet;
pub use jsonwebtoken::{Algorithm, DecodingKey};

pub use rolegate_domain::access::{Actor, Granted, PermissionName, permissions};
pub use rolegate_domain::clock::{Clock, SystemClock};
pub use rolegate_domain::permission;
/// An in-memory [`RevocationCheck`] (revoked sessions and users, each
/// forgotten once its tokens expired) and what feeds it.
pub use rolegate_domain::sessions::{Revocation, RevocationSet, Revoked};
pub use rolegate_domain::users::UserId;
