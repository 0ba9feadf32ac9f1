//! An optional revocation source: access tokens the issuer revoked before
//! they expired (a signed-out session, a disabled user).

use crate::claims::AccessClaims;

/// Answers whether a verified token was revoked. Installed with
/// [`TokenVerifier::with_revocation`](crate::TokenVerifier::with_revocation),
/// it is asked after every successful verification (cache hits included);
/// a revoked token is refused with 401 `token_revoked`.
///
/// It runs on every guarded request: keep it to a look-up in memory (no I/O,
/// no allocation), fed in the background. rolegate's own
/// [`RevocationSet`](rolegate_domain::sessions::RevocationSet) implements it.
///
/// ```
/// use std::collections::HashSet;
/// use rolegate_guard::{AccessClaims, RevocationCheck};
///
/// /// Sessions this service was told about.
/// struct Ended(HashSet<String>);
///
/// impl RevocationCheck for Ended {
///     fn is_revoked(&self, claims: &AccessClaims) -> bool {
///         claims.sid.as_deref().is_some_and(|sid| self.0.contains(sid))
///     }
/// }
/// ```
pub trait RevocationCheck: Send + Sync {
    /// Whether the token with these (verified) claims is refused.
    fn is_revoked(&self, claims: &AccessClaims) -> bool;
}

impl RevocationCheck for rolegate_domain::sessions::RevocationSet {
    fn is_revoked(&self, claims: &AccessClaims) -> bool {
        self.is_revoked(claims.sub, claims.sid.as_deref())
    }
}

impl<T: RevocationCheck + ?Sized> RevocationCheck for std::sync::Arc<T> {
    fn is_revoked(&self, claims: &AccessClaims) -> bool {
        (**self).is_revoked(claims)
    }
}
