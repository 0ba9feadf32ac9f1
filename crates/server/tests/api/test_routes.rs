use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use crate::helpers::{TestApp, claims_of, expect_error, spawn_app};

async fn text(res: reqwest::Response) -> (u16, String) {
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn public_content_needs_no_token() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/test/all"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(text(res).await, (200, "Public Content.".into()));
}

#[tokio::test]
async fn user_content_accepts_both_token_headers() {
    let app = spawn_app().await;
    let token = app.user_token("judy", &["user"]).await;
    let bearer = app.get_with_token("/api/test/user", &token).await;
    assert_eq!(text(bearer).await, (200, "User Content.".into()));
    let tutorial = app
        .client
        .get(app.url("/api/test/user"))
        .header("x-access-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(text(tutorial).await, (200, "User Content.".into()));
    let lowercase_scheme = app
        .client
        .get(app.url("/api/test/user"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lowercase_scheme.status(), 200);
}

#[tokio::test]
async fn missing_token_is_401_with_www_authenticate() {
    let app = spawn_app().await;
    for path in ["/api/test/user", "/api/test/mod", "/api/test/admin"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        let body = expect_error(res, 401, "no_token").await;
        assert_eq!(body["message"], "No token provided!");
    }
    // a non-Bearer Authorization header is no token either
    let res = app
        .client
        .get(app.url("/api/test/user"))
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "no_token").await;
}

#[tokio::test]
async fn role_gates_follow_the_tutorial() {
    let app = spawn_app().await;
    let user = app.user_token("kim", &["user"]).await;
    let moderator = app.user_token("lee", &["moderator"]).await;
    let admin = app.user_token("max", &["admin"]).await;

    let body = expect_error(
        app.get_with_token("/api/test/mod", &user).await,
        403,
        "missing_role",
    )
    .await;
    assert_eq!(body["message"], "Require Moderator Role!");
    let body = expect_error(
        app.get_with_token("/api/test/admin", &user).await,
        403,
        "missing_role",
    )
    .await;
    assert_eq!(body["message"], "Require Admin Role!");

    assert_eq!(
        text(app.get_with_token("/api/test/mod", &moderator).await).await,
        (200, "Moderator Content.".into())
    );
    expect_error(
        app.get_with_token("/api/test/admin", &moderator).await,
        403,
        "missing_role",
    )
    .await;

    assert_eq!(
        text(app.get_with_token("/api/test/admin", &admin).await).await,
        (200, "Admin Content.".into())
    );
    // as in the tutorial, /mod requires the moderator role itself
    expect_error(
        app.get_with_token("/api/test/mod", &admin).await,
        403,
        "missing_role",
    )
    .await;
    for token in [&user, &moderator, &admin] {
        assert_eq!(
            app.get_with_token("/api/test/user", token).await.status(),
            200
        );
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims the server would issue, for forging variants.
fn claims(app: &TestApp, sub: &str, roles: &[&str]) -> Value {
    json!({
        "iss": app.settings.auth.issuer, "aud": app.settings.auth.audience, "sub": sub,
        "exp": now() + 600, "iat": now(), "jti": "forged", "name": "ghost", "roles": roles,
    })
}

fn sign(claims: &Value, kid: &str, typ: Option<&str>, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

async fn server_kid(app: &TestApp) -> String {
    let token = app.user_token("kidprobe", &["user"]).await;
    jsonwebtoken::decode_header(&token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn role_checks_read_the_claims_not_the_database() {
    let app = spawn_app().await;
    let kid = server_kid(&app).await;
    let secret = app.secret();
    // a correctly signed admin token for a user that does not exist in the database
    let token = sign(
        &claims(&app, "987654321", &["admin"]),
        &kid,
        Some("at+jwt"),
        secret.expose_secret().as_bytes(),
    );
    assert_eq!(
        text(app.get_with_token("/api/test/admin", &token).await).await,
        (200, "Admin Content.".into())
    );
}

#[tokio::test]
async fn forged_and_invalid_tokens_are_401_unauthorized() {
    let app = spawn_app().await;
    let kid = server_kid(&app).await;
    let secret = app.secret();
    let key = secret.expose_secret().as_bytes();
    let good = claims(&app, "1", &["admin"]);
    assert_eq!(
        app.get_with_token("/api/test/admin", &sign(&good, &kid, Some("at+jwt"), key))
            .await
            .status(),
        200,
        "control"
    );

    let mut expired = good.clone();
    expired["exp"] = json!(now() - 3600);
    expired["iat"] = json!(now() - 7200);
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("someone-else");
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("evil");
    let mut no_jti = good.clone();
    no_jti.as_object_mut().unwrap().remove("jti");
    let mut no_exp = good.clone();
    no_exp.as_object_mut().unwrap().remove("exp");

    let none_header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(good.to_string());
    let genuine = sign(&good, &kid, Some("at+jwt"), key);
    let mut tampered_parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    let mut lowered = good.clone();
    lowered["sub"] = json!("2");
    tampered_parts[1] = URL_SAFE_NO_PAD.encode(lowered.to_string());

    let cases: Vec<(&str, String)> = vec![
        ("alg none", format!("{none_header}.{payload}.")),
        (
            "wrong key, right kid",
            sign(
                &good,
                &kid,
                Some("at+jwt"),
                b"another-secret-that-is-long-enough-x",
            ),
        ),
        (
            "unknown kid",
            sign(&good, "hs-unknown", Some("at+jwt"), key),
        ),
        (
            "kid with path and SQL",
            sign(&good, "../../etc/passwd' OR 1=1--", Some("at+jwt"), key),
        ),
        ("no typ (not an access token)", sign(&good, &kid, None, key)),
        ("other typ", sign(&good, &kid, Some("JWT"), key)),
        ("expired", sign(&expired, &kid, Some("at+jwt"), key)),
        (
            "wrong audience",
            sign(&wrong_aud, &kid, Some("at+jwt"), key),
        ),
        ("wrong issuer", sign(&wrong_iss, &kid, Some("at+jwt"), key)),
        ("no jti", sign(&no_jti, &kid, Some("at+jwt"), key)),
        ("no exp", sign(&no_exp, &kid, Some("at+jwt"), key)),
        ("tampered payload", tampered_parts.join(".")),
        ("garbage", "not.a.token".into()),
        ("huge", "a".repeat(9000)),
    ];
    for (what, token) in cases {
        let res = app.get_with_token("/api/test/admin", &token).await;
        assert_eq!(
            res.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\"",
            "{what}"
        );
        let body = expect_error(res, 401, "invalid_token").await;
        assert_eq!(body["message"], "Unauthorized!", "{what}");
    }
}

#[tokio::test]
async fn tokens_carry_the_permissions_of_the_roles() {
    let app = spawn_app().await;
    let user = claims_of(&app.user_token("perm_user", &["user"]).await);
    assert_eq!(user["perms"], json!(["content:read"]));
    let moderator = claims_of(&app.user_token("perm_mod", &["moderator"]).await);
    assert_eq!(
        moderator["perms"],
        json!(["content:moderate", "content:read", "users:read"])
    );
    let admin = claims_of(&app.user_token("perm_admin", &["user", "admin"]).await);
    assert_eq!(
        admin["perms"],
        json!([
            "audit:read",
            "content:moderate",
            "content:read",
            "roles:read",
            "roles:write",
            "tokens:introspect",
            "users:read",
            "users:write"
        ])
    );
}

#[tokio::test]
async fn fifty_roles_still_make_a_token_well_under_4_kib() {
    let app = spawn_app().await;
    let name = "many_roles";
    app.signup(name, "many_roles@example.com", "a good long password", None)
        .await;
    for i in 0..50 {
        app.sql(&format!(
            "INSERT INTO roles (name, description, built_in, created_at) VALUES ('team-{i:02}', '', FALSE, CURRENT_TIMESTAMP)"
        ))
        .await;
        app.sql(&format!(
            "INSERT INTO permissions (name, description) VALUES ('project{i:02}:write', '')"
        ))
        .await;
        app.sql(&format!(
            "INSERT INTO role_permissions (role_id, permission_id) SELECT r.id, p.id FROM roles r, permissions p WHERE r.name = 'team-{i:02}' AND p.name IN ('project{i:02}:write', 'content:read')"
        ))
        .await;
        app.sql(&format!(
            "INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r WHERE u.username_key = '{name}' AND r.name = 'team-{i:02}'"
        ))
        .await;
    }
    let (token, _) = app.session(name, "a good long password").await;
    let claims = claims_of(&token);
    assert_eq!(claims["roles"].as_array().unwrap().len(), 51);
    assert_eq!(
        claims["perms"].as_array().unwrap().len(),
        51,
        "de-duplicated"
    );
    assert!(token.len() < 4096, "token is {} bytes", token.len());
    assert_eq!(
        app.get_with_token("/api/test/user", &token).await.status(),
        200
    );
}
