//! JWT access tokens: issuing (for the rolegate server) and verification
//! (for the server and for any service that embeds this crate).
//!
//! Every token carries a `kid` header and `typ: at+jwt` (RFC 9068), so that
//! keys can rotate and no other kind of JWT can be replayed as an access
//! token. Verification uses jsonwebtoken's `Validation` with an explicit
//! algorithm per key, required `exp`/`iat`/`sub`/`iss`/`aud`, and our issuer
//! and audience; `jti`, `iat` and `roles` are required by the claims type.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, errors::ErrorKind};
use rolegate_domain::{AccessSubject, Clock, IssuedToken, TokenError, TokenIssuer};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::keys::KeySet;

/// The `typ` header of an access token (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// The shortest HS256 secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The claims of a rolegate access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user's id, as a decimal string.
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The username at the time of issue.
    pub name: String,
    /// Role names (`user`, `moderator`, `admin`, custom ones).
    pub roles: Vec<String>,
    /// Permissions the roles grant (`resource:action`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perms: Vec<String>,
}

impl AccessClaims {
    /// The user's numeric id.
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn has_permission(&self, permission: &str) -> bool {
        self.perms.iter().any(|p| p == permission)
    }
}

/// Token settings shared by issuer and verifier.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    /// Access-token lifetime in seconds.
    pub access_ttl_secs: u64,
    /// Clock skew tolerated on `exp`, in seconds.
    pub leeway_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the JWT secret must be at least {MIN_SECRET_LEN} bytes (got {0})")]
    SecretTooShort(usize),
    #[error("invalid key: {0}")]
    Invalid(String),
}

/// Why a token was refused. Callers answer 401 for every variant; the
/// variant is for logs and tests.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("token is malformed")]
    Malformed,
    #[error("token is not an access token")]
    WrongType,
    #[error("token names an unknown key")]
    UnknownKey,
    #[error("token signature or algorithm is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token has the wrong issuer or audience")]
    WrongIssuerOrAudience,
    #[error("token claims are invalid: {0}")]
    InvalidClaims(String),
}

struct VerifyKey {
    key: DecodingKey,
    validation: Validation,
}

/// Verifies access tokens with a set of keys indexed by `kid`. Needs no
/// database and no signing key: embed it in any service.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<HashMap<String, VerifyKey>>,
    cache: Option<Arc<VerifiedCache>>,
}

/// A bounded cache of tokens that verified, keyed by the exact token text
/// and valid until the token's `exp`. A signature check costs ~2.5 µs with
/// HS256 but ~40 µs with EdDSA; a hit costs a hash-map look-up. Only tokens
/// that passed every check are cached; keys never change while a process
/// runs, so the same text always verifies the same way until it expires.
struct VerifiedCache {
    entries: std::sync::RwLock<HashMap<Box<str>, Arc<AccessClaims>>>,
    capacity: usize,
}

impl VerifiedCache {
    fn get(&self, token: &str, now: i64) -> Option<Arc<AccessClaims>> {
        let entries = self.entries.read().ok()?;
        entries.get(token).filter(|c| now < c.exp).cloned()
    }

    fn put(&self, token: &str, claims: &Arc<AccessClaims>, now: i64) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
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
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl TokenVerifier {
    /// A verifier for HS256 tokens signed with `secret`.
    pub fn hs256(config: &JwtConfig, secret: &SecretString) -> Result<Self, KeyError> {
        Ok(Self::from_key_set(config, &KeySet::hs256(secret)?))
    }

    /// A verifier for every key of a key set.
    pub fn from_key_set(config: &JwtConfig, keys: &KeySet) -> Self {
        let keys = keys
            .verifying
            .iter()
            .map(|k| {
                (
                    k.kid.clone(),
                    VerifyKey {
                        key: k.key.clone(),
                        validation: validation(config, k.alg),
                    },
                )
            })
            .collect();
        Self {
            keys: Arc::new(keys),
            cache: None,
        }
    }

    /// Caches up to `capacity` verified tokens until they expire (0: no cache).
    pub fn with_cache(mut self, capacity: usize) -> Self {
        self.cache = (capacity > 0).then(|| {
            Arc::new(VerifiedCache {
                entries: std::sync::RwLock::new(HashMap::with_capacity(capacity.min(1024))),
                capacity,
            })
        });
        self
    }

    /// A verifier that knows only a JWKS document (e.g. fetched from
    /// rolegate's `/.well-known/jwks.json`): no secret, no database. Keys
    /// without a `kid` or with an unsupported algorithm are skipped.
    pub fn from_jwks(config: &JwtConfig, jwks: &JwkSet) -> Result<Self, KeyError> {
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            let (Some(kid), Some(alg)) = (jwk.common.key_id.clone(), jwk.common.key_algorithm)
            else {
                continue;
            };
            let Ok(alg) = Algorithm::try_from(alg) else {
                continue;
            };
            if !matches!(alg, Algorithm::EdDSA | Algorithm::RS256 | Algorithm::ES256) {
                continue; // never accept a symmetric key from a public document
            }
            let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Invalid(e.to_string()))?;
            keys.insert(
                kid,
                VerifyKey {
                    key,
                    validation: validation(config, alg),
                },
            );
        }
        if keys.is_empty() {
            return Err(KeyError::Invalid("the JWKS has no usable key".into()));
        }
        Ok(Self {
            keys: Arc::new(keys),
            cache: None,
        })
    }

    /// Verifies the signature, algorithm, `typ`, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        self.verify_shared(token).map(Arc::unwrap_or_clone)
    }

    /// Like [`verify`](Self::verify), sharing the claims with the cache
    /// instead of copying them (a cache hit allocates nothing).
    pub fn verify_shared(&self, token: &str) -> Result<Arc<AccessClaims>, VerifyError> {
        let Some(cache) = &self.cache else {
            return self.verify_uncached(token).map(Arc::new);
        };
        let now = chrono::Utc::now().timestamp();
        if let Some(claims) = cache.get(token, now) {
            return Ok(claims);
        }
        let claims = Arc::new(self.verify_uncached(token)?);
        cache.put(token, &claims, now);
        Ok(claims)
    }

    fn verify_uncached(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return Err(VerifyError::WrongType);
        }
        let kid = header.kid.as_deref().ok_or(VerifyError::UnknownKey)?;
        let key = self.keys.get(kid).ok_or(VerifyError::UnknownKey)?;
        jsonwebtoken::decode::<AccessClaims>(token, &key.key, &key.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => VerifyError::Expired,
                ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                    VerifyError::WrongIssuerOrAudience
                }
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    VerifyError::BadSignature
                }
                ErrorKind::MissingRequiredClaim(c) | ErrorKind::InvalidClaimFormat(c) => {
                    VerifyError::InvalidClaims(c.clone())
                }
                ErrorKind::Json(_) => VerifyError::InvalidClaims("claims".into()),
                _ => VerifyError::Malformed,
            })
    }
}

/// Issues access tokens with the newest key.
#[derive(Clone)]
pub struct TokenService {
    config: JwtConfig,
    keys: KeySet,
    header: Header,
    clock: Arc<dyn Clock>,
    verifier: TokenVerifier,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("config", &self.config)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// Signs with the key set's signing key.
    pub fn new(config: JwtConfig, keys: KeySet, clock: Arc<dyn Clock>) -> Self {
        let verifier = TokenVerifier::from_key_set(&config, &keys);
        let mut header = Header::new(keys.signing.alg);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some(keys.signing.kid.clone());
        Self {
            config,
            keys,
            header,
            clock,
            verifier,
        }
    }

    /// HS256 with a shared secret of at least 32 bytes.
    pub fn hs256(
        config: JwtConfig,
        secret: &SecretString,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, KeyError> {
        Ok(Self::new(config, KeySet::hs256(secret)?, clock))
    }

    /// A verifier for the tokens this service issues.
    pub fn verifier(&self) -> TokenVerifier {
        self.verifier.clone()
    }

    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Signs arbitrary access claims with the current key (used by tests and tools).
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&self.header, claims, &self.keys.signing.key)
            .map_err(|e| TokenError(Box::new(e)))
    }
}

impl TokenIssuer for TokenService {
    fn issue_access(&self, subject: &AccessSubject) -> Result<IssuedToken, TokenError> {
        let now = self.clock.now().timestamp();
        let ttl =
            i64::try_from(self.config.access_ttl_secs).map_err(|e| TokenError(Box::new(e)))?;
        let claims = AccessClaims {
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            sub: subject.user_id.to_string(),
            exp: now + ttl,
            iat: now,
            jti: new_jti(),
            name: subject.username.clone(),
            roles: subject
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            perms: subject
                .permissions
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
        };
        Ok(IssuedToken {
            token: self.sign(&claims)?,
            expires_in: self.config.access_ttl_secs,
        })
    }
}

fn new_jti() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn validation(config: &JwtConfig, alg: Algorithm) -> Validation {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rolegate_domain::{RoleName, SystemClock, UserId};

    fn config() -> JwtConfig {
        JwtConfig {
            issuer: "rolegate".into(),
            audience: "rolegate-api".into(),
            access_ttl_secs: 900,
            leeway_secs: 0,
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn service() -> TokenService {
        TokenService::hs256(
            config(),
            &secret("0123456789abcdef0123456789abcdef"),
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    fn subject() -> AccessSubject {
        AccessSubject {
            user_id: UserId(42),
            username: "alice".into(),
            roles: vec![RoleName::user(), RoleName::admin()],
            permissions: vec![rolegate_domain::Permission::parse("users:read").unwrap()],
        }
    }

    #[test]
    fn claims_round_trip() {
        let svc = service();
        let issued = svc.issue_access(&subject()).unwrap();
        assert_eq!(issued.expires_in, 900);
        let claims = svc.verifier().verify(&issued.token).unwrap();
        assert_eq!(claims.user_id(), Some(42));
        assert_eq!(claims.name, "alice");
        assert_eq!(claims.roles, vec!["user", "admin"]);
        assert!(claims.has_role("admin") && !claims.has_role("moderator"));
        assert_eq!(claims.exp - claims.iat, 900);
        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert!(header.kid.unwrap().starts_with("hs-"));
    }

    #[test]
    fn short_secret_is_refused() {
        let r = TokenService::hs256(config(), &secret("too short"), Arc::new(SystemClock));
        assert!(matches!(r, Err(KeyError::SecretTooShort(9))));
    }

    #[test]
    fn other_secret_wrong_issuer_and_expired_are_refused() {
        let svc = service();
        let token = svc.issue_access(&subject()).unwrap().token;
        let other =
            TokenVerifier::hs256(&config(), &secret("another-secret-another-secret-xx")).unwrap();
        // a different secret also means a different kid
        assert_eq!(other.verify(&token), Err(VerifyError::UnknownKey));

        let mut claims = svc.verifier().verify(&token).unwrap();
        claims.iss = "someone-else".into();
        assert_eq!(
            svc.verifier().verify(&svc.sign(&claims).unwrap()),
            Err(VerifyError::WrongIssuerOrAudience)
        );
        let mut claims = svc.verifier().verify(&token).unwrap();
        claims.exp = claims.iat - 10;
        assert_eq!(
            svc.verifier().verify(&svc.sign(&claims).unwrap()),
            Err(VerifyError::Expired)
        );
    }

    #[test]
    fn tampered_payload_is_refused() {
        let svc = service();
        let token = svc.issue_access(&subject()).unwrap().token;
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["roles"] = serde_json::json!(["admin"]);
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()),
            parts[2]
        );
        assert_eq!(
            svc.verifier().verify(&forged),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn alg_none_and_missing_typ_are_refused() {
        let svc = service();
        let token = svc.issue_access(&subject()).unwrap().token;
        let payload = token.split('.').nth(1).unwrap();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt","kid":"x"}"#);
        assert!(
            svc.verifier()
                .verify(&format!("{none_header}.{payload}."))
                .is_err()
        );
        let plain_jwt = {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some(svc.keys.signing.kid.clone());
            jsonwebtoken::encode(
                &h,
                &svc.verifier().verify(&token).unwrap(),
                &svc.keys.signing.key,
            )
            .unwrap()
        };
        assert_eq!(
            svc.verifier().verify(&plain_jwt),
            Err(VerifyError::WrongType)
        );
        assert_eq!(
            svc.verifier().verify("garbage"),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn a_full_cache_drops_the_soonest_expiring_quarter() {
        let cache = VerifiedCache {
            entries: std::sync::RwLock::new(HashMap::new()),
            capacity: 8,
        };
        let claims = |exp: i64| {
            Arc::new(AccessClaims {
                iss: "i".into(),
                aud: "a".into(),
                sub: "1".into(),
                exp,
                iat: 0,
                jti: exp.to_string(),
                name: "n".into(),
                roles: vec![],
                perms: vec![],
            })
        };
        for exp in 101..=108 {
            cache.put(&format!("t{exp}"), &claims(exp), 100);
        }
        cache.put("t200", &claims(200), 100);
        let kept = |t: &str| cache.get(t, 100).is_some();
        // 8 live entries, capacity 8: the soonest quarter (+ the pivot) goes
        assert!(!kept("t101") && !kept("t102") && !kept("t103"));
        assert!(
            (104..=108).all(|e| kept(&format!("t{e}"))),
            "the rest stays"
        );
        assert!(kept("t200"));
        // expired entries go first
        let cache = VerifiedCache {
            entries: std::sync::RwLock::new(HashMap::new()),
            capacity: 2,
        };
        cache.put("old", &claims(50), 10);
        cache.put("live", &claims(500), 10);
        cache.put("new", &claims(600), 100);
        assert!(cache.get("live", 100).is_some() && cache.get("new", 100).is_some());
    }

    #[test]
    fn cached_verification_agrees_and_respects_expiry() {
        let svc = service();
        let cached = svc.verifier().with_cache(2);
        let tokens: Vec<String> = (0..5)
            .map(|_| svc.issue_access(&subject()).unwrap().token)
            .collect();
        for _ in 0..3 {
            for t in &tokens {
                assert_eq!(cached.verify(t), svc.verifier().verify(t));
            }
        }
        assert!(
            cached.cache.as_ref().unwrap().entries.read().unwrap().len() <= 2,
            "bounded"
        );
        // an expired token is refused even if it was cached while valid
        let mut claims = svc.verifier().verify(&tokens[0]).unwrap();
        claims.exp = chrono::Utc::now().timestamp() + 1;
        let short = svc.sign(&claims).unwrap();
        assert!(cached.verify(&short).is_ok());
        let now = chrono::Utc::now().timestamp();
        assert!(
            cached
                .cache
                .as_ref()
                .unwrap()
                .get(&short, now + 2)
                .is_none()
        );
        // a forged token never enters the cache
        let forged = format!("{}x", tokens[1]);
        assert!(cached.verify(&forged).is_err());
        assert!(cached.verify(&forged).is_err());
    }

    #[test]
    fn missing_jti_is_refused() {
        let svc = service();
        let token = svc.issue_access(&subject()).unwrap().token;
        let mut v = serde_json::to_value(svc.verifier().verify(&token).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("jti");
        let t = jsonwebtoken::encode(&svc.header, &v, &svc.keys.signing.key).unwrap();
        assert!(matches!(
            svc.verifier().verify(&t),
            Err(VerifyError::InvalidClaims(_))
        ));
    }
}
