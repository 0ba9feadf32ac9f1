//! Token issue and verification per algorithm, and claims (de)serialisation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rolegate_auth::{AccessClaims, JwtConfig, KeyKind, KeySet, TokenService, generate_private_pem};
use rolegate_domain::{AccessSubject, RoleName, SystemClock, TokenIssuer, UserId};
use secrecy::SecretString;

fn config() -> JwtConfig {
    JwtConfig {
        issuer: "rolegate".into(),
        audience: "rolegate".into(),
        access_ttl_secs: 900,
        leeway_secs: 30,
    }
}

fn subject() -> AccessSubject {
    AccessSubject {
        user_id: UserId(42),
        username: "bench_user".into(),
        roles: vec![RoleName::user(), RoleName::moderator()],
        permissions: ["content:read", "content:moderate", "users:read"]
            .iter()
            .map(|p| rolegate_domain::Permission::parse(p).unwrap())
            .collect(),
        session: None,
        amr: vec![],
    }
}

fn key_sets() -> Vec<(&'static str, KeySet)> {
    let pem = |k| {
        vec![(
            "bench".to_owned(),
            generate_private_pem(k).unwrap().into_bytes(),
        )]
    };
    vec![
        (
            "HS256",
            KeySet::hs256(&SecretString::from("x".repeat(48))).unwrap(),
        ),
        (
            "EdDSA",
            KeySet::from_private_pems(&pem(KeyKind::Ed25519)).unwrap(),
        ),
        (
            "RS256",
            KeySet::from_private_pems(&pem(KeyKind::Rsa2048)).unwrap(),
        ),
    ]
}

fn tokens(c: &mut Criterion) {
    for (alg, keys) in key_sets() {
        let service = TokenService::new(config(), keys, Arc::new(SystemClock)).unwrap();
        let verifier = service.verifier();
        let token = service.issue_access(&subject()).unwrap().token;
        c.bench_function(&format!("issue {alg}"), |b| {
            b.iter(|| service.issue_access(black_box(&subject())).unwrap())
        });
        c.bench_function(&format!("verify {alg}"), |b| {
            b.iter(|| verifier.verify(black_box(&token)).unwrap())
        });
    }
}

fn claims(c: &mut Criterion) {
    let claims = AccessClaims {
        iss: "rolegate".into(),
        aud: "rolegate".into(),
        sub: 42,
        exp: 1_900_000_000,
        iat: 1_899_999_100,
        jti: "dGhpcyBpcyBhIGp0aQ".into(),
        name: "bench_user".into(),
        roles: vec!["user".into(), "moderator".into()],
        perms: vec!["content:read".into(), "users:read".into()],
        sid: None,
        amr: vec![],
    };
    let json = serde_json::to_vec(&claims).unwrap();
    c.bench_function("claims serialise", |b| {
        b.iter(|| serde_json::to_vec(black_box(&claims)).unwrap())
    });
    c.bench_function("claims deserialise", |b| {
        b.iter(|| serde_json::from_slice::<AccessClaims>(black_box(&json)).unwrap())
    });
}

criterion_group!(benches, tokens, claims);
criterion_main!(benches);
