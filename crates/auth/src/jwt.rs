//! JWT access tokens: issuing, for the rolegate server. Verification lives
//! in `rolegate-guard` (re-exported here), which any service can embed.
//!
//! Every token carries a `kid` header and `typ: at+jwt` (RFC 9068), so that
//! keys can rotate and no other kind of JWT can be replayed as an access
//! token.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Header;
use rolegate_domain::{AccessSubject, Clock, IssuedToken, TokenError, TokenIssuer};
pub use rolegate_guard::{
    ACCESS_TOKEN_TYP, AccessClaims, KeyError, MIN_SECRET_LEN, TokenVerifier, VerifierConfig,
    VerifyError,
};
use secrecy::SecretString;

use crate::keys::KeySet;

/// Token settings of the issuer.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    /// Access-token lifetime in seconds.
    pub access_ttl_secs: u64,
    /// Clock skew tolerated on `exp`, in seconds (by the verifier).
    pub leeway_secs: u64,
}

impl JwtConfig {
    /// What a verifier of these tokens checks.
    pub fn verifier_config(&self) -> VerifierConfig {
        VerifierConfig {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            leeway_secs: self.leeway_secs,
        }
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
    pub fn new(config: JwtConfig, keys: KeySet, clock: Arc<dyn Clock>) -> Result<Self, KeyError> {
        let verifier = keys.verifier(&config.verifier_config())?;
        let mut header = Header::new(keys.signing.alg);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some(keys.signing.kid.clone());
        Ok(Self {
            config,
            keys,
            header,
            clock,
            verifier,
        })
    }

    /// HS256 with a shared secret of at least 32 bytes.
    pub fn hs256(
        config: JwtConfig,
        secret: &SecretString,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, KeyError> {
        Self::new(config, KeySet::hs256(secret)?, clock)
    }

    /// A verifier for the tokens this service issues.
    pub fn verifier(&self) -> TokenVerifier {
        self.verifier.clone()
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
            sub: subject.user_id.0,
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
            sid: subject.session.clone(),
            amr: subject.amr.iter().map(|m| m.as_str().to_owned()).collect(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use rolegate_domain::{Permission, RoleName, SystemClock, UserId};

    fn config() -> JwtConfig {
        JwtConfig {
            issuer: "rolegate".into(),
            audience: "rolegate-api".into(),
            access_ttl_secs: 900,
            leeway_secs: 0,
        }
    }

    fn service(secret: &str) -> TokenService {
        TokenService::hs256(
            config(),
            &SecretString::from(secret.to_owned()),
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    fn subject() -> AccessSubject {
        AccessSubject {
            user_id: UserId(42),
            username: "alice".into(),
            roles: vec![RoleName::user(), RoleName::admin()],
            permissions: vec![Permission::parse("users:read").unwrap()],
            session: None,
            amr: vec![],
        }
    }

    #[test]
    fn issued_claims_round_trip_through_the_verifier() {
        let svc = service("0123456789abcdef0123456789abcdef");
        let issued = svc.issue_access(&subject()).unwrap();
        assert_eq!(issued.expires_in, 900);
        let claims = svc.verifier().verify(&issued.token).unwrap();
        assert_eq!(claims.user_id(), 42);
        assert_eq!(claims.name, "alice");
        assert_eq!(claims.roles, vec!["user", "admin"]);
        assert_eq!(claims.perms, vec!["users:read"]);
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            ("rolegate", "rolegate-api")
        );
        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        assert_eq!(header.typ.as_deref(), Some(ACCESS_TOKEN_TYP));
        assert!(header.kid.unwrap().starts_with("hs-"));
        // every token gets its own id
        let again = svc
            .verifier()
            .verify(&svc.issue_access(&subject()).unwrap().token)
            .unwrap();
        assert_ne!(again.jti, claims.jti);
    }

    #[test]
    fn short_secrets_are_refused_and_other_secrets_do_not_verify() {
        assert!(matches!(
            TokenService::hs256(
                config(),
                &SecretString::from("short".to_owned()),
                Arc::new(SystemClock)
            ),
            Err(KeyError::SecretTooShort(5))
        ));
        let token = service("0123456789abcdef0123456789abcdef")
            .issue_access(&subject())
            .unwrap()
            .token;
        let other = service("another-secret-another-secret-xx");
        assert_eq!(
            other.verifier().verify(&token),
            Err(VerifyError::UnknownKey)
        );
    }
}
