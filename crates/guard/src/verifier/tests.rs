use std::sync::Arc;

use jsonwebtoken::{EncodingKey, Header};
use rolegate_auth::{JwtConfig, KeyKind, KeySet, TokenService, generate_private_pem};
use rolegate_domain::clock::ManualClock;
use rolegate_domain::{AccessSubject, Permission, RoleName, SystemClock, TokenIssuer};
use secrecy::SecretString;

use super::*;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn config() -> VerifierConfig {
    VerifierConfig {
        leeway_secs: 0,
        ..VerifierConfig::default()
    }
}

fn issuer(keys: KeySet) -> TokenService {
    let config = JwtConfig {
        issuer: "rolegate".into(),
        audience: "rolegate".into(),
        access_ttl_secs: 900,
        leeway_secs: 0,
    };
    TokenService::new(config, keys, Arc::new(SystemClock)).unwrap()
}

fn ed_keys() -> (KeySet, Vec<u8>) {
    let pem = generate_private_pem(KeyKind::Ed25519).unwrap().into_bytes();
    let keys = KeySet::from_private_pems(&[("ed".into(), pem.clone())]).unwrap();
    (keys, pem)
}

fn subject() -> AccessSubject {
    AccessSubject {
        user_id: rolegate_domain::UserId(42),
        username: "alice".into(),
        roles: vec![RoleName::user(), RoleName::admin()],
        permissions: vec![Permission::parse("users:read").unwrap()],
        session: None,
        amr: vec![],
    }
}

/// rolegate's claims of a fresh token, as JSON, to tamper with.
fn claims_json(svc: &TokenService) -> serde_json::Value {
    let token = svc.issue_access(&subject()).unwrap().token;
    serde_json::to_value(svc.verifier().verify(&token).unwrap()).unwrap()
}

fn sign_ed(pem: &[u8], kid: &str, typ: Option<&str>, claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.into());
    header.typ = typ.map(Into::into);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_pem(pem).unwrap()).unwrap()
}

#[test]
fn hs256_tokens_issued_by_rolegate_verify() {
    let svc = issuer(KeySet::hs256(&SecretString::from(SECRET)).unwrap());
    let token = svc.issue_access(&subject()).unwrap().token;
    let verifier = TokenVerifier::hs256(&config(), SECRET.as_bytes()).unwrap();
    // same kid derivation as rolegate's
    assert_eq!(verifier.kids(), vec![svc.keys().signing_kid().to_owned()]);
    let claims = verifier.verify(&token).unwrap();
    assert_eq!(claims.user_id(), 42);
    assert_eq!(claims.name, "alice");
    assert!(claims.has_role("admin") && !claims.has_role("moderator"));
    assert!(claims.has_permission("users:read") && !claims.has_permission("users:write"));
    // byte-compatible claims: the payload re-serializes to the same JSON
    let payload = token.split('.').nth(1).unwrap();
    let original: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(serde_json::to_value(&claims).unwrap(), original);

    let other = TokenVerifier::hs256(&config(), b"another-secret-another-secret-xx").unwrap();
    assert_eq!(other.verify(&token), Err(VerifyError::UnknownKey));
    assert_eq!(
        TokenVerifier::hs256(&config(), b"too short").err(),
        Some(KeyError::SecretTooShort(9))
    );
}

#[test]
fn jwks_tokens_verify_and_bad_ones_are_refused() {
    let (keys, pem) = ed_keys();
    let svc = issuer(keys.clone());
    let kid = keys.signing_kid().to_owned();
    let verifier = TokenVerifier::from_jwks(&config(), keys.jwks()).unwrap();
    assert_eq!(verifier.kids(), vec![kid.clone()]);
    let token = svc.issue_access(&subject()).unwrap().token;
    assert_eq!(verifier.verify(&token).unwrap().user_id(), 42);

    let good = claims_json(&svc);
    assert!(
        verifier
            .verify(&sign_ed(&pem, &kid, Some("at+jwt"), &good))
            .is_ok()
    );

    let mut expired = good.clone();
    expired["exp"] = serde_json::json!(good["iat"].as_i64().unwrap() - 10);
    assert_eq!(
        verifier.verify(&sign_ed(&pem, &kid, Some("at+jwt"), &expired)),
        Err(VerifyError::Expired)
    );
    for typ in [None, Some("JWT"), Some("refresh+jwt")] {
        assert_eq!(
            verifier.verify(&sign_ed(&pem, &kid, typ, &good)),
            Err(VerifyError::WrongType),
            "{typ:?}"
        );
    }
    assert_eq!(
        verifier.verify(&sign_ed(&pem, "some-other-kid", Some("at+jwt"), &good)),
        Err(VerifyError::UnknownKey)
    );
    for (claim, value) in [("iss", "someone-else"), ("aud", "another-api")] {
        let mut wrong = good.clone();
        wrong[claim] = serde_json::json!(value);
        assert_eq!(
            verifier.verify(&sign_ed(&pem, &kid, Some("at+jwt"), &wrong)),
            Err(VerifyError::WrongIssuerOrAudience),
            "{claim}"
        );
    }
    for claim in ["exp", "sub", "iat", "jti"] {
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove(claim);
        assert!(
            matches!(
                verifier.verify(&sign_ed(&pem, &kid, Some("at+jwt"), &missing)),
                Err(VerifyError::InvalidClaims(_))
            ),
            "{claim}"
        );
    }
    // a tampered payload
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged_claims = good.clone();
    forged_claims["roles"] = serde_json::json!(["admin"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap()),
        parts[2]
    );
    assert_eq!(verifier.verify(&forged), Err(VerifyError::BadSignature));
    // alg none
    let none = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#));
    assert!(verifier.verify(&format!("{none}.{}.", parts[1])).is_err());
    assert_eq!(verifier.verify("garbage"), Err(VerifyError::Malformed));
}

#[test]
fn a_sub_that_is_not_a_decimal_id_is_refused() {
    let (keys, pem) = ed_keys();
    let svc = issuer(keys.clone());
    let kid = keys.signing_kid();
    let verifier = TokenVerifier::from_jwks(&config(), keys.jwks()).unwrap();
    let mut claims = claims_json(&svc);
    for sub in [
        serde_json::json!("alice"),
        serde_json::json!("+42"),
        serde_json::json!("042"),
        serde_json::json!("4.2"),
        serde_json::json!("99999999999999999999"),
        serde_json::json!(42),
    ] {
        claims["sub"] = sub.clone();
        assert_eq!(
            verifier.verify(&sign_ed(&pem, kid, Some("at+jwt"), &claims)),
            Err(VerifyError::InvalidClaims("sub".into())),
            "{sub}"
        );
    }
    claims["sub"] = serde_json::json!("-3");
    let ok = verifier.verify(&sign_ed(&pem, kid, Some("at+jwt"), &claims));
    assert_eq!(ok.map(|c| c.user_id()), Ok(-3));
}

#[test]
fn alg_confusion_hs256_signed_with_the_public_key_is_refused() {
    let (keys, _) = ed_keys();
    let svc = issuer(keys.clone());
    let kid = keys.signing_kid().to_owned();
    let good = claims_json(&svc);
    let public = serde_json::to_value(&keys.jwks().keys[0]).unwrap();
    let x = public["x"].as_str().unwrap();
    let from_jwks = TokenVerifier::from_jwks(&config(), keys.jwks()).unwrap();
    let from_keys = TokenVerifier::from_keys(
        &config(),
        [(
            kid.clone(),
            Algorithm::EdDSA,
            DecodingKey::from_jwk(&keys.jwks().keys[0]).unwrap(),
        )],
    )
    .unwrap();
    for secret in [x.as_bytes().to_vec(), URL_SAFE_NO_PAD.decode(x).unwrap()] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        header.typ = Some("at+jwt".into());
        let forged =
            jsonwebtoken::encode(&header, &good, &EncodingKey::from_secret(&secret)).unwrap();
        assert_eq!(from_jwks.verify(&forged), Err(VerifyError::BadSignature));
        assert_eq!(from_keys.verify(&forged), Err(VerifyError::BadSignature));
    }
}

#[test]
fn a_jwks_never_provides_a_symmetric_key() {
    let secret = URL_SAFE_NO_PAD.encode(SECRET);
    let oct: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
        {"kty": "oct", "kid": "shared", "alg": "HS256", "k": secret}
    ]}))
    .unwrap();
    assert!(matches!(
        TokenVerifier::from_jwks(&config(), &oct),
        Err(KeyError::NoUsableKey(_))
    ));
    // beside a real key, the symmetric one is skipped
    let (keys, _) = ed_keys();
    let mut mixed = keys.jwks().clone();
    mixed.keys.extend(oct.keys);
    let verifier = TokenVerifier::from_jwks(&config(), &mixed).unwrap();
    assert_eq!(verifier.kids(), vec![keys.signing_kid().to_owned()]);
    let svc = issuer(keys);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("shared".into());
    header.typ = Some("at+jwt".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims_json(&svc),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(verifier.verify(&token), Err(VerifyError::UnknownKey));
    // keys without kid or alg are skipped too
    let mut anonymous = mixed.clone();
    for k in &mut anonymous.keys {
        k.common.key_id = None;
    }
    assert!(TokenVerifier::from_jwks(&config(), &anonymous).is_err());
}

#[test]
fn replaced_keys_stop_verifying_even_from_the_cache() {
    let (a, _) = ed_keys();
    let (b, _) = ed_keys();
    let key = |k: &KeySet| {
        (
            k.signing_kid().to_owned(),
            Algorithm::EdDSA,
            DecodingKey::from_jwk(&k.jwks().keys[0]).unwrap(),
        )
    };
    let verifier = TokenVerifier::from_keys(&config(), [key(&a)])
        .unwrap()
        .with_cache(16);
    let clone = verifier.clone();
    let token_a = issuer(a.clone()).issue_access(&subject()).unwrap().token;
    let token_b = issuer(b.clone()).issue_access(&subject()).unwrap().token;
    assert!(verifier.verify(&token_a).is_ok());
    assert!(verifier.verify(&token_a).is_ok(), "now from the cache");
    assert_eq!(verifier.cache.as_ref().unwrap().len(), 1);
    assert_eq!(verifier.verify(&token_b), Err(VerifyError::UnknownKey));
    let stats = clone.cache_stats().unwrap();
    assert_eq!(
        (stats.hits, stats.misses, stats.capacity),
        (1, 2, 16),
        "counted once for every clone"
    );
    assert_eq!(
        TokenVerifier::from_keys(&config(), [key(&a)])
            .unwrap()
            .cache_stats(),
        None
    );

    // replaced through a clone: every clone sees it, the cached token too
    clone.set_keys([key(&b)]).unwrap();
    assert_eq!(verifier.verify(&token_a), Err(VerifyError::UnknownKey));
    assert!(verifier.verify(&token_b).is_ok());
    assert_eq!(
        verifier.cache.as_ref().unwrap().len(),
        1,
        "old entries gone"
    );
    // an empty set is refused and changes nothing
    assert!(verifier.set_keys([]).is_err());
    assert!(verifier.verify(&token_b).is_ok());
    verifier.set_keys([key(&a), key(&b)]).unwrap();
    assert!(verifier.verify(&token_a).is_ok() && verifier.verify(&token_b).is_ok());
}

#[test]
fn the_cache_reads_time_from_the_clock() {
    let svc = issuer(KeySet::hs256(&SecretString::from(SECRET)).unwrap());
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let verifier = TokenVerifier::hs256(&config(), SECRET.as_bytes())
        .unwrap()
        .with_cache(4)
        .with_clock(clock.clone());
    let token = svc.issue_access(&subject()).unwrap().token;
    assert!(verifier.verify(&token).is_ok());
    let cache = verifier.cache.as_ref().unwrap();
    let (generation, _) = verifier.state.current();
    let now = || clock.now().timestamp();
    assert!(cache.get(&token, now(), generation).is_some());
    clock.advance(chrono::Duration::seconds(901));
    assert!(
        cache.get(&token, now(), generation).is_none(),
        "expired by the clock"
    );
}

#[test]
fn cached_verification_agrees_and_stays_bounded() {
    let svc = issuer(KeySet::hs256(&SecretString::from(SECRET)).unwrap());
    let plain = TokenVerifier::hs256(&config(), SECRET.as_bytes()).unwrap();
    let cached = plain.clone().with_cache(2);
    let tokens: Vec<String> = (0..5)
        .map(|_| svc.issue_access(&subject()).unwrap().token)
        .collect();
    for _ in 0..3 {
        for t in &tokens {
            assert_eq!(cached.verify(t), plain.verify(t));
        }
    }
    assert!(cached.cache.as_ref().unwrap().len() <= 2, "bounded");
    let forged = format!("{}x", tokens[1]);
    assert!(cached.verify(&forged).is_err());
    assert!(
        cached.verify(&forged).is_err(),
        "a forged token is never cached"
    );
}

#[test]
fn a_full_cache_drops_expired_then_the_soonest_expiring_quarter() {
    let cache = |capacity| VerifiedCache {
        inner: RwLock::new(CacheInner {
            generation: 0,
            entries: HashMap::new(),
        }),
        capacity,
        hits: Default::default(),
        misses: Default::default(),
    };
    let claims = |exp: i64| {
        Arc::new(AccessClaims {
            iss: "i".into(),
            aud: "a".into(),
            sub: 1,
            exp,
            iat: 0,
            jti: exp.to_string(),
            name: "n".into(),
            roles: vec![],
            perms: vec![],
            sid: None,
            amr: vec![],
        })
    };
    let full = cache(8);
    for exp in 101..=108 {
        full.put(&format!("t{exp}"), &claims(exp), 100, 0);
    }
    full.put("t200", &claims(200), 100, 0);
    let kept = |t: &str| full.get(t, 100, 0).is_some();
    // 8 live entries, capacity 8: the soonest quarter (+ the pivot) goes
    assert!(!kept("t101") && !kept("t102") && !kept("t103"));
    assert!(
        (104..=108).all(|e| kept(&format!("t{e}"))),
        "the rest stays"
    );
    assert!(kept("t200"));
    // expired entries go first
    let small = cache(2);
    small.put("old", &claims(50), 10, 0);
    small.put("live", &claims(500), 10, 0);
    small.put("new", &claims(600), 100, 0);
    assert!(small.get("live", 100, 0).is_some() && small.get("new", 100, 0).is_some());
    // another generation of keys: nothing old is served, a stale put is dropped
    assert!(small.get("live", 100, 1).is_none());
    small.put("next", &claims(700), 100, 1);
    small.put("stale", &claims(700), 100, 0);
    assert_eq!(small.len(), 1);
    assert!(small.get("next", 100, 1).is_some());
}
