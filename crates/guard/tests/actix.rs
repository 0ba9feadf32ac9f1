//! The actix-web extractors: 401/403/500 bodies and headers, the guards,
//! installation, and the key refresh of a remote verifier.
#![cfg(feature = "actix")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::{App, HttpResponse, get, test, web};
use common::{SECRET, hs256_issuer, token};
use rolegate_guard::permissions::{AuditRead, ContentModerate, ContentRead, UsersRead, UsersWrite};
use rolegate_guard::{
    Admin, AuthUser, Moderator, RequireAllPermissions, RequireAnyPermission, RequireAnyRole,
    RequirePermission, RequireRole, TokenVerifier, VerifierConfig,
};

rolegate_guard::role!(
    /// A custom role.
    Editor,
    "editor"
);

#[get("/me")]
async fn me(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().body(format!("{} {}", user.user_id(), user.claims.name))
}

#[get("/mod")]
async fn moderator(who: RequireRole<Moderator>) -> HttpResponse {
    HttpResponse::Ok().body(who.user.claims.name.clone())
}

#[get("/staff")]
async fn staff(who: RequireAnyRole<(Editor, Moderator, Admin)>) -> HttpResponse {
    HttpResponse::Ok().body(who.user.claims.name.clone())
}

#[get("/write")]
async fn write(who: RequirePermission<UsersWrite>) -> HttpResponse {
    HttpResponse::Ok().body(format!(
        "{} {:?}",
        who.granted.permission(),
        who.granted.actor()
    ))
}

#[get("/content")]
async fn content(who: RequireAnyPermission<(ContentRead, ContentModerate)>) -> HttpResponse {
    HttpResponse::Ok().body(who.user.claims.name.clone())
}

#[get("/audit")]
async fn audit(who: RequireAllPermissions<(UsersRead, AuditRead)>) -> HttpResponse {
    let (users, audit) = who.granted;
    HttpResponse::Ok().body(format!("{} {}", users.permission(), audit.permission()))
}

fn verifier() -> TokenVerifier {
    TokenVerifier::hs256(&VerifierConfig::default(), SECRET.as_bytes())
        .unwrap()
        .with_cache(64)
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(me)
        .service(moderator)
        .service(staff)
        .service(write)
        .service(content)
        .service(audit);
}

fn get_with(uri: &str, headers: &[(&str, &str)]) -> test::TestRequest {
    let mut req = test::TestRequest::get().uri(uri);
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    req
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn expect(res: ServiceResponse, status: u16, body: &str, www: Option<&str>) {
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(
        res.headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap()),
        www
    );
    if status != 200 {
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
    }
    let bytes = test::read_body(res).await;
    assert_eq!(std::str::from_utf8(&bytes).unwrap(), body);
}

const NO_TOKEN: &str = r#"{"error":"no_token","message":"No token provided!"}"#;
const INVALID: &str = r#"{"error":"invalid_token","message":"Unauthorized!"}"#;
const BEARER_INVALID: &str = r#"Bearer error="invalid_token""#;

#[actix_web::test]
async fn no_token_and_bad_tokens_are_401_with_rolegates_bodies() {
    let app = test::init_service(
        App::new()
            .configure(rolegate_guard::actix::configure(verifier()))
            .configure(routes),
    )
    .await;
    let good = token(&hs256_issuer(), &["admin", "moderator"], &["users:write"]);
    for uri in ["/me", "/mod", "/staff", "/write", "/content", "/audit"] {
        let res = test::call_service(&app, get_with(uri, &[]).to_request()).await;
        expect(res, 401, NO_TOKEN, Some("Bearer")).await;
        let res = test::call_service(
            &app,
            get_with(uri, &[("Authorization", "Bearer ")]).to_request(),
        )
        .await;
        expect(res, 401, NO_TOKEN, Some("Bearer")).await;
        for bad in [
            "garbage".to_owned(),
            format!("{good}x"),
            "a".repeat(8 * 1024 + 1),
        ] {
            let res = test::call_service(
                &app,
                get_with(uri, &[("Authorization", &bearer(&bad))]).to_request(),
            )
            .await;
            expect(res, 401, INVALID, Some(BEARER_INVALID)).await;
        }
    }
    // a token signed with another secret
    let other = TokenVerifier::hs256(&VerifierConfig::default(), &[9; 40]).unwrap();
    let app2 = test::init_service(
        App::new()
            .configure(rolegate_guard::actix::configure(other))
            .configure(routes),
    )
    .await;
    let res = test::call_service(
        &app2,
        get_with("/me", &[("x-access-token", &good)]).to_request(),
    )
    .await;
    expect(res, 401, INVALID, Some(BEARER_INVALID)).await;
}

#[actix_web::test]
async fn each_guard_admits_or_answers_403() {
    let app = test::init_service(
        App::new()
            .configure(rolegate_guard::actix::configure(verifier()))
            .configure(routes),
    )
    .await;
    let svc = hs256_issuer();
    let plain = token(&svc, &["user"], &["content:read"]);
    let cases: [(&str, &str, &str); 5] = [
        ("/mod", "missing_role", "Require Moderator Role!"),
        (
            "/staff",
            "missing_role",
            "Require Editor or Moderator or Admin Role!",
        ),
        (
            "/write",
            "missing_permission",
            "Require permission users:write!",
        ),
        (
            "/audit",
            "missing_permission",
            "Require permissions users:read and audit:read!",
        ),
        ("/me", "", ""),
    ];
    for (uri, code, message) in cases {
        let res = test::call_service(
            &app,
            get_with(uri, &[("Authorization", &bearer(&plain))]).to_request(),
        )
        .await;
        if code.is_empty() {
            expect(res, 200, "7 ann", None).await;
        } else {
            let body = format!(r#"{{"error":"{code}","message":"{message}"}}"#);
            expect(res, 403, &body, None).await;
        }
    }
    let none = token(&svc, &["user"], &[]);
    let res = test::call_service(
        &app,
        get_with("/content", &[("x-access-token", &none)]).to_request(),
    )
    .await;
    let body = r#"{"error":"missing_permission","message":"Require permission content:read or content:moderate!"}"#;
    expect(res, 403, body, None).await;

    let ok: [(&str, String, &str); 6] = [
        ("/mod", token(&svc, &["moderator"], &[]), "ann"),
        ("/staff", token(&svc, &["editor"], &[]), "ann"),
        ("/staff", token(&svc, &["user", "admin"], &[]), "ann"),
        (
            "/write",
            token(&svc, &["user"], &["users:write"]),
            "users:write User(UserId(7))",
        ),
        (
            "/content",
            token(&svc, &["user"], &["content:moderate"]),
            "ann",
        ),
        (
            "/audit",
            token(&svc, &["user"], &["audit:read", "users:read"]),
            "users:read audit:read",
        ),
    ];
    for (uri, t, body) in ok {
        let res = test::call_service(
            &app,
            get_with(uri, &[("authorization", &format!("bearer {t}"))]).to_request(),
        )
        .await;
        expect(res, 200, body, None).await;
    }
}

#[actix_web::test]
async fn the_verifier_is_found_however_it_was_registered() {
    let t = token(&hs256_issuer(), &["user"], &[]);
    let auth = [("x-access-token", t.as_str())];
    let data =
        test::init_service(App::new().app_data(web::Data::new(verifier())).service(me)).await;
    expect(
        test::call_service(&data, get_with("/me", &auth).to_request()).await,
        200,
        "7 ann",
        None,
    )
    .await;
    let plain = test::init_service(App::new().app_data(verifier()).service(me)).await;
    expect(
        test::call_service(&plain, get_with("/me", &auth).to_request()).await,
        200,
        "7 ann",
        None,
    )
    .await;
}

#[actix_web::test]
async fn a_missing_verifier_is_a_500_with_the_generic_body() {
    let app = test::init_service(App::new().configure(routes)).await;
    let t = token(&hs256_issuer(), &["admin"], &[]);
    let body = r#"{"error":"internal","message":"Internal server error."}"#;
    for headers in [vec![], vec![("x-access-token", t.as_str())]] {
        for uri in ["/me", "/staff"] {
            let res = test::call_service(&app, get_with(uri, &headers).to_request()).await;
            expect(res, 500, body, None).await;
        }
    }
}

#[cfg(feature = "remote")]
#[actix_web::test]
async fn a_remote_verifier_learns_a_rotated_key_inside_the_extractor() {
    use common::{JwksServer, ed25519_pem, issuer, key_set};
    use rolegate_guard::RemoteJwks;

    let (a, b) = (ed25519_pem(), ed25519_pem());
    let keys_a = key_set(std::slice::from_ref(&a));
    let server = JwksServer::serving(&keys_a).await;
    let verifier =
        TokenVerifier::remote(&VerifierConfig::default(), RemoteJwks::new(server.url())).unwrap();
    let app = test::init_service(
        App::new()
            .configure(rolegate_guard::actix::configure(verifier.clone()))
            .service(me),
    )
    .await;
    let token_a = token(&issuer(keys_a), &["user"], &[]);
    // before the first fetch: refused or (after waiting for it) accepted
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while verifier.verify(&token_a).is_err() {
        assert!(std::time::Instant::now() < deadline, "first fetch");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let keys_ba = key_set(&[b, a]);
    server.publish(&keys_ba);
    let token_b = token(&issuer(keys_ba), &["user"], &[]);
    let res = test::call_service(
        &app,
        get_with("/me", &[("Authorization", &bearer(&token_b))]).to_request(),
    )
    .await;
    expect(res, 200, "7 ann", None).await;
    // an unknown kid after the rotation: refused, no second fetch right away
    let fetched = server.fetches();
    let res = test::call_service(
        &app,
        get_with(
            "/me",
            &[("Authorization", &bearer(&common::token_with_kid("nope")))],
        )
        .to_request(),
    )
    .await;
    expect(res, 401, INVALID, Some(BEARER_INVALID)).await;
    assert_eq!(server.fetches(), fetched, "rate-limited");
}

#[actix_web::test]
async fn a_revocation_source_refuses_revoked_sessions_and_users_with_401() {
    use rolegate_guard::UserId;
    use rolegate_guard::{Revocation, RevocationSet, Revoked};
    use std::sync::Arc;

    let set = Arc::new(RevocationSet::new(chrono::Duration::seconds(930)));
    let app = test::init_service(
        App::new()
            .configure(rolegate_guard::actix::configure(
                verifier().with_revocation(set.clone()),
            ))
            .service(me),
    )
    .await;
    let svc = hs256_issuer();
    let (s1, s2) = (
        common::token_in_session(&svc, "s1"),
        common::token_in_session(&svc, "s2"),
    );
    let call = |t: &str| get_with("/me", &[("Authorization", &bearer(t))]).to_request();
    // accepted (and cached) before
    for t in [&s1, &s2] {
        expect(test::call_service(&app, call(t)).await, 200, "7 ann", None).await;
    }
    let now = chrono::Utc::now();
    let revoked = |id, what| Revocation {
        id,
        user: UserId(7),
        what,
        at: now,
    };
    set.apply(&[revoked(1, Revoked::Session("s1".into()))], now);
    const REVOKED: &str = r#"{"error":"token_revoked","message":"Unauthorized! The session has ended; please sign in again."}"#;
    expect(
        test::call_service(&app, call(&s1)).await,
        401,
        REVOKED,
        Some(BEARER_INVALID),
    )
    .await;
    expect(
        test::call_service(&app, call(&s2)).await,
        200,
        "7 ann",
        None,
    )
    .await;
    // the user disabled: every session; enabled again: all but the ended one
    set.apply(&[revoked(2, Revoked::User)], now);
    expect(
        test::call_service(&app, call(&s2)).await,
        401,
        REVOKED,
        Some(BEARER_INVALID),
    )
    .await;
    set.apply(&[revoked(3, Revoked::UserRestored)], now);
    expect(
        test::call_service(&app, call(&s2)).await,
        200,
        "7 ann",
        None,
    )
    .await;
    expect(
        test::call_service(&app, call(&s1)).await,
        401,
        REVOKED,
        Some(BEARER_INVALID),
    )
    .await;
    // a verifier without the source accepts it until it expires
    let plain = verifier();
    assert!(plain.verify(&s1).is_ok());
    assert_eq!(
        verifier().with_revocation(set).verify(&s1),
        Err(rolegate_guard::VerifyError::Revoked)
    );
}
