//! [`TokenVerifier`]: checks rolegate's access tokens against a set of keys
//! indexed by `kid`, with an optional cache of verified tokens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rolegate_domain::clock::{Clock, SystemClock};

use crate::RevocationCheck;
use crate::claims::{AccessClaims, SUB_ERROR_MARKER};

/// The `typ` header of an access token (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// The shortest HS256 secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// What a token must say about who issued it and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// The `iss` claim required (rolegate's `issuer` setting).
    pub issuer: String,
    /// The `aud` claim required (rolegate's `audience` setting).
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl Default for VerifierConfig {
    /// rolegate's defaults: issuer and audience `rolegate`, 30 s leeway.
    fn default() -> Self {
        Self {
            issuer: "rolegate".into(),
            audience: "rolegate".into(),
            leeway_secs: 30,
        }
    }
}

/// Why keys could not be used to build a verifier.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// An HS256 secret shorter than [`MIN_SECRET_LEN`] bytes.
    #[error("the JWT secret must be at least {MIN_SECRET_LEN} bytes (got {0})")]
    SecretTooShort(usize),
    /// No key could be used (an empty list, or a JWKS without a usable key).
    #[error("no usable verification key: {0}")]
    NoUsableKey(String),
    /// A setting is wrong (a JWKS URL that is not http(s), say).
    #[error("invalid setting: {0}")]
    Invalid(String),
    /// [`TokenVerifier::remote`] was called outside a tokio runtime.
    #[error("TokenVerifier::remote must be called inside a tokio runtime")]
    NoRuntime,
}

/// Why a token was refused. Guards answer 401 for every variant; the
/// variant is for logs and tests.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a JWT, or too long to be parsed.
    #[error("token is malformed")]
    Malformed,
    /// A JWT whose `typ` is not `at+jwt`: not an access token.
    #[error("token is not an access token")]
    WrongType,
    /// No `kid`, or a `kid` the verifier does not know.
    #[error("token names an unknown key")]
    UnknownKey,
    /// A bad signature, or an algorithm other than the key's.
    #[error("token signature or algorithm is invalid")]
    BadSignature,
    /// Past `exp` (plus the leeway).
    #[error("token has expired")]
    Expired,
    /// `iss` or `aud` is not the configured one.
    #[error("token has the wrong issuer or audience")]
    WrongIssuerOrAudience,
    /// A claim is missing or has the wrong form (`sub` not a decimal id, say).
    #[error("token claims are invalid: {0}")]
    InvalidClaims(String),
    /// A remote verifier has not fetched rolegate's keys yet.
    #[error("the verification keys are not available yet")]
    KeysUnavailable,
    /// A valid token the [`RevocationCheck`](crate::RevocationCheck) refuses:
    /// its session ended or its user was disabled or deleted.
    #[error("token was revoked")]
    Revoked,
}

pub(crate) struct VerifyKey {
    key: DecodingKey,
    validation: Validation,
}

pub(crate) type KeyMap = HashMap<String, VerifyKey>;

/// The keys in use. `generation` grows at every replacement, so the cache
/// can tell entries verified with an older key set.
struct Loaded {
    generation: u64,
    keys: Option<Arc<KeyMap>>,
}

/// What every clone of a verifier (and a remote verifier's refresh task,
/// through a `Weak`) shares.
pub(crate) struct KeyState {
    pub(crate) config: VerifierConfig,
    loaded: RwLock<Loaded>,
    #[cfg(feature = "remote")]
    pub(crate) refresher: Option<crate::remote::Refresher>,
}

impl KeyState {
    pub(crate) fn new(config: &VerifierConfig, keys: Option<KeyMap>) -> Self {
        Self {
            config: config.clone(),
            loaded: RwLock::new(Loaded {
                generation: 0,
                keys: keys.map(Arc::new),
            }),
            #[cfg(feature = "remote")]
            refresher: None,
        }
    }

    fn current(&self) -> (u64, Option<Arc<KeyMap>>) {
        let loaded = self.loaded.read().unwrap_or_else(PoisonError::into_inner);
        (loaded.generation, loaded.keys.clone())
    }

    /// Replaces the whole key set: a `kid` missing from `keys` stops verifying
    /// at once, cached tokens included.
    pub(crate) fn replace(&self, keys: KeyMap) {
        let mut loaded = self.loaded.write().unwrap_or_else(PoisonError::into_inner);
        loaded.generation += 1;
        loaded.keys = Some(Arc::new(keys));
    }

    fn kids(&self) -> Vec<String> {
        let (_, keys) = self.current();
        let mut kids: Vec<String> = keys
            .map(|k| k.keys().cloned().collect())
            .unwrap_or_default();
        kids.sort();
        kids
    }
}

/// Verifies rolegate's access tokens with a set of keys indexed by `kid`.
/// Needs no database and no signing key.
///
/// Cloning is cheap (reference-counted) and clones share the keys, the
/// cache and, for [`remote`](Self::remote) verifiers, the refresh task.
///
/// Every token must have `typ: at+jwt`, a `kid` the verifier knows, the
/// signature and the single algorithm of that key, the configured issuer and
/// audience, `exp`, `iat` and `sub` (a decimal user id), and not be expired.
///
/// ```
/// use rolegate_guard::{TokenVerifier, VerifierConfig, VerifyError};
///
/// let verifier = TokenVerifier::hs256(
///     &VerifierConfig::default(),
///     b"a shared secret of at least 32 bytes!",
/// )?
/// .with_cache(1024);
/// assert_eq!(verifier.verify("not.a.token"), Err(VerifyError::Malformed));
/// # Ok::<(), rolegate_guard::KeyError>(())
/// ```
#[derive(Clone)]
pub struct TokenVerifier {
    pub(crate) state: Arc<KeyState>,
    cache: Option<Arc<VerifiedCache>>,
    clock: Arc<dyn Clock>,
    revocation: Option<Arc<dyn RevocationCheck>>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("TokenVerifier");
        d.field("config", &self.state.config)
            .field("kids", &self.state.kids())
            .field("cache", &self.cache.as_ref().map(|c| c.capacity))
            .field("revocation", &self.revocation.is_some());
        #[cfg(feature = "remote")]
        d.field("remote", &self.state.refresher.as_ref().map(|r| r.url()));
        d.finish()
    }
}

impl TokenVerifier {
    pub(crate) fn from_state(state: Arc<KeyState>) -> Self {
        Self {
            state,
            cache: None,
            clock: Arc::new(SystemClock),
            revocation: None,
        }
    }

    /// A verifier for HS256 tokens signed with `secret` (at least
    /// [`MIN_SECRET_LEN`] bytes), the secret rolegate is configured with.
    /// The key id is derived from the secret the way rolegate derives it.
    pub fn hs256(config: &VerifierConfig, secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyError::SecretTooShort(secret.len()));
        }
        Self::from_keys(
            config,
            [(
                hs256_kid(secret),
                Algorithm::HS256,
                DecodingKey::from_secret(secret),
            )],
        )
    }

    /// A verifier for the public keys of a JWKS document (rolegate's
    /// `/.well-known/jwks.json`) read once. Keys without a `kid` or an `alg`,
    /// keys not for signatures, and keys of other algorithms than EdDSA,
    /// RS256 and ES256 are skipped: a symmetric key is never taken from a
    /// JWKS. Fails if no key is left.
    ///
    /// To follow rolegate's key rotations, use [`remote`](Self::remote).
    pub fn from_jwks(config: &VerifierConfig, jwks: &JwkSet) -> Result<Self, KeyError> {
        let keys = keys_from_jwks(config, jwks)?;
        Ok(Self::from_state(Arc::new(KeyState::new(
            config,
            Some(keys),
        ))))
    }

    /// A verifier for keys built elsewhere (rolegate's own key set):
    /// `(kid, algorithm, key)` triples. Each key verifies only its algorithm.
    pub fn from_keys(
        config: &VerifierConfig,
        keys: impl IntoIterator<Item = (String, Algorithm, DecodingKey)>,
    ) -> Result<Self, KeyError> {
        let keys = key_map(config, keys)?;
        Ok(Self::from_state(Arc::new(KeyState::new(
            config,
            Some(keys),
        ))))
    }

    /// Replaces the key set of this verifier and all its clones. Tokens whose
    /// `kid` is not in the new set stop verifying at once, even if cached.
    /// An empty set is refused (the old one stays). A [`remote`](Self::remote)
    /// verifier's next refresh replaces the set again.
    pub fn set_keys(
        &self,
        keys: impl IntoIterator<Item = (String, Algorithm, DecodingKey)>,
    ) -> Result<(), KeyError> {
        self.state.replace(key_map(&self.state.config, keys)?);
        Ok(())
    }

    /// Caches up to `capacity` verified tokens until they expire (0: no
    /// cache). A signature check costs ~2.5 µs with HS256 but ~40 µs with
    /// EdDSA; a hit costs a hash-map look-up. When full, expired entries go
    /// first, then the quarter that expires soonest. Entries verified with a
    /// key set that was since replaced are never served.
    pub fn with_cache(mut self, capacity: usize) -> Self {
        self.cache = (capacity > 0).then(|| {
            Arc::new(VerifiedCache {
                inner: RwLock::new(CacheInner {
                    generation: 0,
                    entries: HashMap::with_capacity(capacity.min(1024)),
                }),
                capacity,
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            })
        });
        self
    }

    /// The clock the cache reads to drop expired tokens (default:
    /// [`SystemClock`]). Signature and `exp` checks use the system time.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Asks `revocation` about every token that verified (cache hits
    /// included): a revoked one is refused with [`VerifyError::Revoked`]
    /// (guards: 401 `token_revoked`). It is asked on every request, so it
    /// must answer from memory. Without one, a valid token is accepted until
    /// it expires.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rolegate_guard::{AccessClaims, RevocationCheck, TokenVerifier, VerifierConfig};
    ///
    /// struct NoneRevoked;
    /// impl RevocationCheck for NoneRevoked {
    ///     fn is_revoked(&self, _: &AccessClaims) -> bool { false }
    /// }
    /// let verifier = TokenVerifier::hs256(&VerifierConfig::default(), &[7; 32])?
    ///     .with_revocation(Arc::new(NoneRevoked));
    /// # Ok::<(), rolegate_guard::KeyError>(())
    /// ```
    pub fn with_revocation(mut self, revocation: Arc<dyn RevocationCheck>) -> Self {
        self.revocation = Some(revocation);
        self
    }

    /// The configuration the verifier checks tokens against.
    pub fn config(&self) -> &VerifierConfig {
        &self.state.config
    }

    /// How the cache of verified tokens fared since it was made (shared by
    /// every clone); `None` without a cache. For metrics.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|c| CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            capacity: c.capacity,
        })
    }

    /// The key ids the verifier knows now, sorted.
    pub fn kids(&self) -> Vec<String> {
        self.state.kids()
    }

    /// Verifies the signature, algorithm, `typ`, issuer, audience, expiry and
    /// claims, and returns the claims.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        self.verify_shared(token).map(Arc::unwrap_or_clone)
    }

    /// Like [`verify`](Self::verify), sharing the claims with the cache
    /// instead of copying them (a cache hit allocates nothing). Never does
    /// I/O: a remote verifier answers with the keys it has. A token the
    /// [revocation source](Self::with_revocation) refuses is
    /// [`VerifyError::Revoked`].
    pub fn verify_shared(&self, token: &str) -> Result<Arc<AccessClaims>, VerifyError> {
        let claims = self.verify_signed(token)?;
        match &self.revocation {
            Some(revocation) if revocation.is_revoked(&claims) => Err(VerifyError::Revoked),
            _ => Ok(claims),
        }
    }

    /// Signature, header and claims, through the cache; no revocation check.
    fn verify_signed(&self, token: &str) -> Result<Arc<AccessClaims>, VerifyError> {
        let (generation, keys) = self.state.current();
        let keys = keys.ok_or(VerifyError::KeysUnavailable)?;
        let Some(cache) = &self.cache else {
            return verify_with(&keys, token).map(Arc::new);
        };
        let now = self.clock.now().timestamp();
        if let Some(claims) = cache.get(token, now, generation) {
            cache.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(claims);
        }
        cache.misses.fetch_add(1, Ordering::Relaxed);
        let claims = Arc::new(verify_with(&keys, token)?);
        cache.put(token, &claims, now, generation);
        Ok(claims)
    }

    /// Like [`verify_shared`](Self::verify_shared); for a
    /// [`remote`](Self::remote) verifier, a token naming an unknown `kid`
    /// (rolegate may have rotated its keys) or arriving before the first
    /// fetch succeeded asks for an early refresh of the JWKS, waits for it
    /// and tries once more. Early refreshes happen at most once per
    /// `min_refresh_interval`; concurrent callers wait on the same fetch.
    /// Other verifiers answer like `verify_shared`.
    pub async fn verify_fresh(&self, token: &str) -> Result<Arc<AccessClaims>, VerifyError> {
        match self.verify_shared(token) {
            Err(e) if self.may_refresh(&e) => self.refresh_and_retry(token, e).await,
            other => other,
        }
    }

    /// Whether [`verify_fresh`](Self::verify_fresh) could turn `error` into
    /// a success after a refresh.
    pub(crate) fn may_refresh(&self, error: &VerifyError) -> bool {
        #[cfg(feature = "remote")]
        {
            self.state.refresher.is_some()
                && matches!(
                    error,
                    VerifyError::UnknownKey | VerifyError::KeysUnavailable
                )
        }
        #[cfg(not(feature = "remote"))]
        {
            let _ = error;
            false
        }
    }

    /// Asks for a refresh (rate-limited), waits for it, then verifies again;
    /// `error` if no refresh happened.
    pub(crate) async fn refresh_and_retry(
        &self,
        token: &str,
        error: VerifyError,
    ) -> Result<Arc<AccessClaims>, VerifyError> {
        #[cfg(feature = "remote")]
        if let Some(refresher) = &self.state.refresher
            && refresher.refresh().await
        {
            return self.verify_shared(token);
        }
        #[cfg(not(feature = "remote"))]
        let _ = token;
        Err(error)
    }
}

/// rolegate's key id for an HS256 secret: `hs-` and 9 bytes of
/// SHA-256("rolegate-kid:" ‖ secret), base64url.
fn hs256_kid(secret: &[u8]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"rolegate-kid:");
    ctx.update(secret);
    let digest = ctx.finish();
    let bytes = digest.as_ref();
    format!(
        "hs-{}",
        URL_SAFE_NO_PAD.encode(&bytes[..9.min(bytes.len())])
    )
}

fn key_map(
    config: &VerifierConfig,
    keys: impl IntoIterator<Item = (String, Algorithm, DecodingKey)>,
) -> Result<KeyMap, KeyError> {
    let keys: KeyMap = keys
        .into_iter()
        .map(|(kid, alg, key)| {
            let validation = validation(config, alg);
            (kid, VerifyKey { key, validation })
        })
        .collect();
    if keys.is_empty() {
        return Err(KeyError::NoUsableKey("no key given".into()));
    }
    Ok(keys)
}

/// The usable keys of a JWKS (see [`TokenVerifier::from_jwks`]).
pub(crate) fn keys_from_jwks(config: &VerifierConfig, jwks: &JwkSet) -> Result<KeyMap, KeyError> {
    let mut keys = Vec::with_capacity(jwks.keys.len());
    for jwk in &jwks.keys {
        let (Some(kid), Some(alg)) = (&jwk.common.key_id, jwk.common.key_algorithm) else {
            continue;
        };
        if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let Ok(alg) = Algorithm::try_from(alg) else {
            continue;
        };
        if !matches!(alg, Algorithm::EdDSA | Algorithm::RS256 | Algorithm::ES256) {
            continue; // never accept a symmetric key from a public document
        }
        match DecodingKey::from_jwk(jwk) {
            Ok(key) => keys.push((kid.clone(), alg, key)),
            Err(e) => tracing::warn!(kid, error = %e, "skipping an unusable key of the JWKS"),
        }
    }
    if keys.is_empty() {
        return Err(KeyError::NoUsableKey(
            "the JWKS has no EdDSA, RS256 or ES256 key with a kid".into(),
        ));
    }
    key_map(config, keys)
}

fn verify_with(keys: &KeyMap, token: &str) -> Result<AccessClaims, VerifyError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
        return Err(VerifyError::WrongType);
    }
    let kid = header.kid.as_deref().ok_or(VerifyError::UnknownKey)?;
    let key = keys.get(kid).ok_or(VerifyError::UnknownKey)?;
    jsonwebtoken::decode::<AccessClaims>(token, &key.key, &key.validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => VerifyError::Expired,
            ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                VerifyError::WrongIssuerOrAudience
            }
            ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => VerifyError::BadSignature,
            ErrorKind::MissingRequiredClaim(c) | ErrorKind::InvalidClaimFormat(c) => {
                VerifyError::InvalidClaims(c.clone())
            }
            ErrorKind::Json(j) if j.to_string().contains(SUB_ERROR_MARKER) => {
                VerifyError::InvalidClaims("sub".into())
            }
            ErrorKind::Json(_) => VerifyError::InvalidClaims("claims".into()),
            _ => VerifyError::Malformed,
        })
}

fn validation(config: &VerifierConfig, alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.set_issuer(&[&config.issuer]);
    v.set_audience(&[&config.audience]);
    v.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
    v.leeway = config.leeway_secs;
    v.validate_exp = true;
    v.validate_nbf = true;
    v
}

/// A bounded cache of tokens that verified, keyed by the exact token text
/// and valid until the token's `exp`, for one generation of the key set.
struct VerifiedCache {
    inner: RwLock<CacheInner>,
    capacity: usize,
    /// Look-ups answered from the cache, and look-ups that were not (the
    /// signature was checked).
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Counts of the cache of verified tokens ([`TokenVerifier::cache_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Tokens answered from the cache.
    pub hits: u64,
    /// Tokens not in the cache (verified, or refused).
    pub misses: u64,
    /// Tokens the cache holds at most.
    pub capacity: usize,
}

struct CacheInner {
    /// The key-set generation the entries were verified with.
    generation: u64,
    entries: HashMap<Box<str>, Arc<AccessClaims>>,
}

impl VerifiedCache {
    fn get(&self, token: &str, now: i64, generation: u64) -> Option<Arc<AccessClaims>> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        if inner.generation != generation {
            return None;
        }
        inner.entries.get(token).filter(|c| now < c.exp).cloned()
    }

    fn put(&self, token: &str, claims: &Arc<AccessClaims>, now: i64, generation: u64) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if generation < inner.generation {
            return; // verified with keys replaced meanwhile
        }
        if generation > inner.generation {
            inner.entries.clear();
            inner.generation = generation;
        }
        let entries = &mut inner.entries;
        if entries.len() >= self.capacity {
            entries.retain(|_, c| now < c.exp);
        }
        if entries.len() >= self.capacity {
            // Still full of live tokens: drop the quarter that expires
            // soonest (they would be re-verified soon anyway), not everything
            // (a cliff of signature checks, costly with EdDSA/RS256).
            let mut exps: Vec<i64> = entries.values().map(|c| c.exp).collect();
            let (_, cutoff, _) = exps.select_nth_unstable(self.capacity / 4);
            let cutoff = *cutoff;
            entries.retain(|_, c| c.exp > cutoff);
        }
        entries.insert(token.into(), Arc::clone(claims));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }
}

#[cfg(test)]
mod tests;
