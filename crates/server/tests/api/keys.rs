//! Asymmetric keys and the JWKS: a verifier that knows only the published
//! document, rotation across a restart, and algorithm-confusion probes.

use std::path::PathBuf;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rolegate_auth::{JwkSet, KeyKind, TokenVerifier, VerifierConfig, generate_private_pem};
use serde_json::Value;

use crate::helpers::{
    TestApp, captured_logs, expect_error, spawn_app, spawn_app_with, unique_name,
};

fn key_file(kind: KeyKind) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "rolegate-key-{}.pem",
        uuid::Uuid::new_v4().simple()
    ));
    rolegate::settings::write_private(&path, generate_private_pem(kind).unwrap().as_bytes())
        .unwrap();
    path
}

async fn jwks(app: &TestApp) -> (reqwest::header::HeaderMap, JwkSet) {
    let res = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    (headers, res.json().await.unwrap())
}

fn verifier_config(app: &TestApp) -> VerifierConfig {
    VerifierConfig {
        issuer: app.settings.auth.issuer.clone(),
        audience: app.settings.auth.audience.clone(),
        leeway_secs: 0,
    }
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn hs256_publishes_an_empty_cacheable_jwks() {
    let app = spawn_app().await;
    let (headers, set) = jwks(&app).await;
    assert!(set.keys.is_empty());
    assert_eq!(headers["cache-control"], "public, max-age=300");
    let raw = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(raw, r#"{"keys":[]}"#);
}

#[tokio::test]
async fn eddsa_and_rs256_tokens_verify_with_the_jwks_alone() {
    for (kind, alg) in [
        (KeyKind::Ed25519, Algorithm::EdDSA),
        (KeyKind::Rsa2048, Algorithm::RS256),
    ] {
        let key = key_file(kind);
        let app = spawn_app_with(|s| s.auth.key_files = vec![key.clone()]).await;
        let token = app.user_token(&unique_name("jwks"), &["moderator"]).await;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, alg);

        let (headers, set) = jwks(&app).await;
        assert_eq!(headers["cache-control"], "public, max-age=300");
        assert_eq!(set.keys.len(), 1);
        let doc = serde_json::to_value(&set).unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(
                doc["keys"][0].get(private).is_none(),
                "no private parameter {private}"
            );
        }
        let verifier = TokenVerifier::from_jwks(&verifier_config(&app), &set).unwrap();
        let claims = verifier.verify(&token).unwrap();
        assert_eq!(claims.roles, vec!["moderator"]);
        assert_eq!(
            app.get_with_token("/api/test/mod", &token).await.status(),
            200
        );
        std::fs::remove_file(key).unwrap();
    }
}

#[tokio::test]
async fn rotation_new_key_signs_old_tokens_still_verify() {
    let (old, new) = (key_file(KeyKind::Ed25519), key_file(KeyKind::Ed25519));
    let first = spawn_app_with(|s| s.auth.key_files = vec![old.clone()]).await;
    let name = unique_name("rot");
    let old_token = first.user_token(&name, &["admin"]).await;
    let (_, old_refresh) = first.session(&name, "a good long password").await;

    // Restart with the new key first and the old one still listed.
    let second = first
        .restart_with(|s| s.auth.key_files = vec![new.clone(), old.clone()])
        .await;
    assert_eq!(
        second
            .get_with_token("/api/test/admin", &old_token)
            .await
            .status(),
        200
    );
    let (_, set) = jwks(&second).await;
    assert_eq!(set.keys.len(), 2);
    let new_kid = set.keys[0].common.key_id.clone().unwrap();
    let (new_token, _) = second.session(&name, "a good long password").await;
    assert_eq!(kid_of(&new_token), new_kid);
    assert_ne!(kid_of(&old_token), new_kid);
    // Sessions live in the database: a refresh token from before works too.
    let res = second.refresh(&old_refresh).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(kid_of(body["accessToken"].as_str().unwrap()), new_kid);

    // Once the old key is dropped, its tokens stop verifying.
    let third = first
        .restart_with(|s| s.auth.key_files = vec![new.clone()])
        .await;
    expect_error(
        third.get_with_token("/api/test/admin", &old_token).await,
        401,
        "invalid_token",
    )
    .await;
    assert_eq!(
        third
            .get_with_token("/api/test/admin", &new_token)
            .await
            .status(),
        200
    );
    for k in [old, new] {
        std::fs::remove_file(k).unwrap();
    }
}

#[tokio::test]
async fn alg_confusion_and_hostile_kids_are_401_and_only_a_warning() {
    let key = key_file(KeyKind::Ed25519);
    let app = spawn_app_with(|s| s.auth.key_files = vec![key.clone()]).await;
    let token = app.user_token(&unique_name("conf"), &["user"]).await;
    let kid = kid_of(&token);
    let claims: Value = serde_json::to_value(
        TokenVerifier::from_jwks(&verifier_config(&app), &jwks(&app).await.1)
            .unwrap()
            .verify(&token)
            .unwrap(),
    )
    .unwrap();
    let public = serde_json::to_value(&jwks(&app).await.1.keys[0]).unwrap();
    let x = public["x"].as_str().unwrap().to_owned();

    let hs = |kid: &str, secret: &[u8]| {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.to_owned());
        h.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(secret)).unwrap()
    };
    let marker = format!("evil-{}", uuid::Uuid::new_v4().simple());
    let cases = [
        (
            "HS256 with the public key as secret",
            hs(&kid, x.as_bytes()),
        ),
        (
            "HS256 with the public JWK as secret",
            hs(&kid, public.to_string().as_bytes()),
        ),
        (
            "unknown kid",
            hs("no-such-kid", b"whatever-whatever-whatever-whatever"),
        ),
        (
            "kid with a path",
            hs(
                &format!("../../../etc/passwd{marker}"),
                b"whatever-whatever-whatever-whatever",
            ),
        ),
        (
            "kid with SQL",
            hs(
                &format!("x' OR '1'='1{marker}"),
                b"whatever-whatever-whatever-whatever",
            ),
        ),
    ];
    for (what, forged) in cases {
        let res = app.get_with_token("/api/test/user", &forged).await;
        assert_eq!(res.status(), 401, "{what}");
        expect_error(res, 401, "invalid_token").await;
    }
    let logs = captured_logs();
    let errors: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(" ERROR ") && l.contains(&marker))
        .collect();
    assert!(
        errors.is_empty(),
        "no error-level log for hostile kids: {errors:?}"
    );
    std::fs::remove_file(key).unwrap();
}

/// A non-Rust verifier (PyJWT's `PyJWKClient`) finds the keys through the
/// OpenID discovery document and verifies an EdDSA token.
#[tokio::test]
async fn a_python_service_verifies_tokens_found_through_discovery() {
    let key = key_file(KeyKind::Ed25519);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(|s| {
        s.server.port = port;
        s.auth.key_files = vec![key.clone()];
        s.auth.issuer = issuer.clone();
        s.auth.openid_discovery = true;
    })
    .await;
    let res = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(doc["issuer"], issuer.as_str());
    assert_eq!(doc["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["EdDSA"])
    );

    let token = app.user_token(&unique_name("py"), &["user"]).await;
    let python = crate::helpers::python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pyjwt_verify.py");
    let audience = app.settings.auth.audience.clone();
    let run = |token: String| {
        let (python, script, issuer, audience) = (
            python.clone(),
            script.clone(),
            issuer.clone(),
            audience.clone(),
        );
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(&python)
                .arg(script)
                .args([&issuer, &audience, &token])
                .output()
                .unwrap_or_else(|e| panic!("{} ({e}): run `make test-deps`", python.display()))
        })
    };
    let out = run(token.clone()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "PyJWT refused the token: {stderr}");
    let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["roles"], serde_json::json!(["user"]));

    // A tampered token is refused by PyJWT too.
    // Flip a character in the middle of the signature (the last one is
    // partly padding: a decoder may ignore the change).
    let sig_start = token.rfind('.').unwrap() + 1;
    let at = sig_start + (token.len() - sig_start) / 2;
    let flipped = if &token[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{flipped}{}", &token[..at], &token[at + 1..]);
    let out = run(forged).await.unwrap();
    assert!(!out.status.success(), "a forged signature must not verify");
    std::fs::remove_file(key).unwrap();

    // Off by default: 404.
    let plain = spawn_app().await;
    let res = plain
        .client
        .get(plain.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "not_found").await;
}
