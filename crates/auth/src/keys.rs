//! Signing and verification keys, identified by `kid`.
//!
//! Either one HS256 shared secret, or a list of PEM private keys (Ed25519 →
//! EdDSA, RSA → RS256): the first signs, all verify, so a new key can be put
//! first without invalidating tokens signed by the old ones. The public half
//! of every asymmetric key is published as a JWKS; the HS secret never is.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::jwt::{KeyError, MIN_SECRET_LEN};

/// A key that verifies tokens whose header names its `kid`.
#[derive(Clone)]
pub(crate) struct PublicKey {
    pub kid: String,
    pub alg: Algorithm,
    pub key: DecodingKey,
}

/// The key that signs new tokens.
#[derive(Clone)]
pub(crate) struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub key: EncodingKey,
}

/// The keys of a token issuer.
#[derive(Clone)]
pub struct KeySet {
    pub(crate) signing: SigningKey,
    pub(crate) verifying: Vec<PublicKey>,
    jwks: JwkSet,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("signing_kid", &self.signing.kid)
            .field("algorithm", &self.signing.alg)
            .field(
                "kids",
                &self.verifying.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KeySet {
    /// One HS256 secret of at least 32 bytes. The JWKS is empty.
    pub fn hs256(secret: &SecretString) -> Result<Self, KeyError> {
        let bytes = secret.expose_secret().as_bytes();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(KeyError::SecretTooShort(bytes.len()));
        }
        let digest = Sha256::digest([b"rolegate-kid:".as_slice(), bytes].concat());
        let kid = format!("hs-{}", URL_SAFE_NO_PAD.encode(&digest[..9]));
        Ok(Self {
            signing: SigningKey {
                kid: kid.clone(),
                alg: Algorithm::HS256,
                key: EncodingKey::from_secret(bytes),
            },
            verifying: vec![PublicKey {
                kid,
                alg: Algorithm::HS256,
                key: DecodingKey::from_secret(bytes),
            }],
            jwks: JwkSet { keys: vec![] },
        })
    }

    /// PEM (PKCS#8) private keys, Ed25519 or RSA; the first signs. `name`
    /// identifies each key in errors (a file path, say).
    pub fn from_private_pems(pems: &[(String, Vec<u8>)]) -> Result<Self, KeyError> {
        let mut keys: Vec<(SigningKey, Jwk)> = Vec::with_capacity(pems.len());
        for (name, pem) in pems {
            let (alg, key) = if let Ok(k) = EncodingKey::from_ed_pem(pem) {
                (Algorithm::EdDSA, k)
            } else if let Ok(k) = EncodingKey::from_rsa_pem(pem) {
                (Algorithm::RS256, k)
            } else {
                return Err(KeyError::Invalid(format!(
                    "{name}: not a PEM Ed25519 or RSA private key (PKCS#8)"
                )));
            };
            let mut jwk = Jwk::from_encoding_key(&key, alg)
                .map_err(|e| KeyError::Invalid(format!("{name}: {e}")))?;
            let kid = jwk
                .thumbprint(ThumbprintHash::SHA256)
                .map_err(|e| KeyError::Invalid(format!("{name}: {e}")))?;
            jwk.common.key_id = Some(kid.clone());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            if keys.iter().any(|(k, _)| k.kid == kid) {
                return Err(KeyError::Invalid(format!(
                    "{name}: the same key is listed twice"
                )));
            }
            keys.push((SigningKey { kid, alg, key }, jwk));
        }
        let Some((signing, _)) = keys.first().cloned() else {
            return Err(KeyError::Invalid("no key given".into()));
        };
        let mut verifying = Vec::with_capacity(keys.len());
        for (k, jwk) in &keys {
            verifying.push(PublicKey {
                kid: k.kid.clone(),
                alg: k.alg,
                key: DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Invalid(e.to_string()))?,
            });
        }
        Ok(Self {
            signing,
            verifying,
            jwks: JwkSet {
                keys: keys.into_iter().map(|(_, jwk)| jwk).collect(),
            },
        })
    }

    /// The public keys, as served at `/.well-known/jwks.json`.
    /// A verifier for every key of the set.
    pub fn verifier(
        &self,
        config: &rolegate_guard::VerifierConfig,
    ) -> Result<rolegate_guard::TokenVerifier, KeyError> {
        rolegate_guard::TokenVerifier::from_keys(
            config,
            self.verifying
                .iter()
                .map(|k| (k.kid.clone(), k.alg, k.key.clone())),
        )
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// The `kid` of the signing key.
    pub fn signing_kid(&self) -> &str {
        &self.signing.kid
    }

    /// The algorithm new tokens are signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.signing.alg
    }
}

/// Key types `generate_private_pem` can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// EdDSA: small, fast, the recommended default.
    Ed25519,
    /// RS256 (2048-bit): for clients that accept nothing else.
    Rsa2048,
}

/// A new private key as PKCS#8 PEM.
pub fn generate_private_pem(kind: KeyKind) -> Result<String, KeyError> {
    match kind {
        KeyKind::Ed25519 => {
            // PKCS#8 v1 for Ed25519 (RFC 8410): a fixed 16-byte prefix, then the 32-byte seed.
            const PREFIX: [u8; 16] = [
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                0x04, 0x20,
            ];
            let mut der = PREFIX.to_vec();
            let mut seed = [0u8; 32];
            rand::fill(&mut seed);
            der.extend_from_slice(&seed);
            Ok(pem_wrap("PRIVATE KEY", &der))
        }
        KeyKind::Rsa2048 => {
            // aws-lc-rs (the crypto backend jsonwebtoken already uses), not
            // the `rsa` crate (RUSTSEC-2023-0071, "Marvin").
            use aws_lc_rs::encoding::AsDer as _;
            use aws_lc_rs::rsa::{KeyPair, KeySize};
            let key = KeyPair::generate(KeySize::Rsa2048)
                .map_err(|e| KeyError::Invalid(format!("generating an RSA key: {e}")))?;
            let der = key
                .as_der()
                .map_err(|e| KeyError::Invalid(format!("encoding an RSA key: {e}")))?;
            Ok(pem_wrap("PRIVATE KEY", der.as_ref()))
        }
    }
}

fn pem_wrap(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rolegate_domain::{AccessSubject, RoleName, SystemClock, TokenIssuer, UserId};

    use super::*;
    use crate::jwt::{JwtConfig, TokenService, TokenVerifier, VerifyError};

    fn vconfig() -> rolegate_guard::VerifierConfig {
        config().verifier_config()
    }

    fn config() -> JwtConfig {
        JwtConfig {
            issuer: "rolegate".into(),
            audience: "rolegate".into(),
            access_ttl_secs: 900,
            leeway_secs: 0,
        }
    }

    fn pem(kind: KeyKind) -> (String, Vec<u8>) {
        (
            format!("{kind:?}"),
            generate_private_pem(kind).unwrap().into_bytes(),
        )
    }

    fn issue(keys: &KeySet) -> String {
        TokenService::new(config(), keys.clone(), Arc::new(SystemClock))
            .unwrap()
            .issue_access(&AccessSubject {
                user_id: UserId(7),
                username: "ann".into(),
                roles: vec![RoleName::user()],
                permissions: vec![],
                session: None,
                amr: vec![],
            })
            .unwrap()
            .token
    }

    #[test]
    fn ed25519_and_rsa_keys_sign_and_verify_from_the_jwks_alone() {
        for (kind, alg) in [(KeyKind::Ed25519, "EdDSA"), (KeyKind::Rsa2048, "RS256")] {
            let keys = KeySet::from_private_pems(&[pem(kind)]).unwrap();
            let token = issue(&keys);
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(format!("{:?}", header.alg), alg);
            assert_eq!(header.kid.as_deref(), Some(keys.signing_kid()));
            // a verifier built from the public document only
            let json = serde_json::to_string(keys.jwks()).unwrap();
            assert!(!json.contains("\"d\""), "no private parameter in the JWKS");
            let jwks: JwkSet = serde_json::from_str(&json).unwrap();
            let verifier = TokenVerifier::from_jwks(&vconfig(), &jwks).unwrap();
            assert_eq!(verifier.verify(&token).unwrap().user_id(), 7);
        }
    }

    #[test]
    fn first_key_signs_and_all_verify() {
        let (old, new) = (pem(KeyKind::Ed25519), pem(KeyKind::Ed25519));
        let before = KeySet::from_private_pems(std::slice::from_ref(&old)).unwrap();
        let old_token = issue(&before);
        let after = KeySet::from_private_pems(&[new, old]).unwrap();
        assert_ne!(after.signing_kid(), before.signing_kid());
        let verifier = after.verifier(&vconfig()).unwrap();
        assert!(
            verifier.verify(&old_token).is_ok(),
            "old tokens still verify"
        );
        let new_token = issue(&after);
        assert_eq!(
            jsonwebtoken::decode_header(&new_token)
                .unwrap()
                .kid
                .as_deref(),
            Some(after.signing_kid())
        );
        assert_eq!(after.jwks().keys.len(), 2);
    }

    #[test]
    fn hs256_publishes_nothing() {
        let keys = KeySet::hs256(&SecretString::from("x".repeat(40))).unwrap();
        assert!(keys.jwks().keys.is_empty());
        assert!(TokenVerifier::from_jwks(&vconfig(), keys.jwks()).is_err());
    }

    #[test]
    fn alg_confusion_hs256_signed_with_the_public_key_is_refused() {
        let keys = KeySet::from_private_pems(&[pem(KeyKind::Ed25519)]).unwrap();
        let verifier = keys.verifier(&vconfig()).unwrap();
        let good = verifier.verify(&issue(&keys)).unwrap();
        let public = serde_json::to_value(&keys.jwks().keys[0]).unwrap();
        for secret in [
            public["x"].as_str().unwrap().as_bytes().to_vec(),
            URL_SAFE_NO_PAD
                .decode(public["x"].as_str().unwrap())
                .unwrap(),
        ] {
            let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
            header.kid = Some(keys.signing_kid().to_owned());
            header.typ = Some("at+jwt".into());
            let forged =
                jsonwebtoken::encode(&header, &good, &EncodingKey::from_secret(&secret)).unwrap();
            assert_eq!(verifier.verify(&forged), Err(VerifyError::BadSignature));
        }
    }

    #[test]
    fn junk_and_duplicate_keys_are_refused() {
        assert!(KeySet::from_private_pems(&[("junk".into(), b"not a key".to_vec())]).is_err());
        let k = pem(KeyKind::Ed25519);
        assert!(KeySet::from_private_pems(&[k.clone(), k]).is_err());
        assert!(KeySet::from_private_pems(&[]).is_err());
    }
}
