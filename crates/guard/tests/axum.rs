//! The axum extractors: the same bodies and headers as with actix-web.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::Router;
use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use common::{SECRET, hs256_issuer, token};
use rolegate_guard::permissions::{AuditRead, UsersRead, UsersWrite};
use rolegate_guard::{
    Admin, AuthUser, RequireAllPermissions, RequireAnyRole, RequirePermission, TokenVerifier,
    VerifierConfig,
};
use tower::ServiceExt as _;

rolegate_guard::role!(Editor, "editor");

/// An app state holding the verifier among other things.
#[derive(Clone)]
struct AppState {
    verifier: TokenVerifier,
    greeting: &'static str,
}

impl FromRef<AppState> for TokenVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

async fn me(user: AuthUser) -> String {
    format!("{} {}", user.user_id(), user.claims.name)
}

async fn write(who: RequirePermission<UsersWrite>) -> String {
    format!("{} {:?}", who.granted.permission(), who.granted.actor())
}

async fn staff(who: RequireAnyRole<(Editor, Admin)>) -> String {
    who.user.claims.name.clone()
}

async fn audit(who: RequireAllPermissions<(UsersRead, AuditRead)>) -> String {
    format!(
        "{} {}",
        who.granted.0.permission(),
        who.granted.1.permission()
    )
}

fn verifier() -> TokenVerifier {
    TokenVerifier::hs256(&VerifierConfig::default(), SECRET.as_bytes()).unwrap()
}

fn app() -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/write", get(write))
        .route("/staff", get(staff))
        .route("/audit", get(audit))
        .with_state(verifier().with_cache(16))
}

async fn call(
    app: &Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Option<String>, Option<String>, String) {
    let mut req = Request::get(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let header = |name| {
        res.headers()
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let (www, content_type) = (
        header(header::WWW_AUTHENTICATE),
        header(header::CONTENT_TYPE),
    );
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    (
        status,
        www,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

const JSON: Option<String> = None;

fn json() -> Option<String> {
    Some("application/json".into())
}

#[tokio::test]
async fn no_token_and_bad_tokens_are_401_with_rolegates_bodies() {
    let app = app();
    let good = token(&hs256_issuer(), &["admin"], &["users:write"]);
    for uri in ["/me", "/write", "/staff", "/audit"] {
        assert_eq!(
            call(&app, uri, &[]).await,
            (
                StatusCode::UNAUTHORIZED,
                Some("Bearer".into()),
                json(),
                r#"{"error":"no_token","message":"No token provided!"}"#.into()
            )
        );
        for bad in [
            format!("Bearer {good}x"),
            format!("Bearer {}", "a".repeat(9000)),
        ] {
            assert_eq!(
                call(&app, uri, &[("authorization", &bad)]).await,
                (
                    StatusCode::UNAUTHORIZED,
                    Some(r#"Bearer error="invalid_token""#.into()),
                    json(),
                    r#"{"error":"invalid_token","message":"Unauthorized!"}"#.into()
                )
            );
        }
    }
}

#[tokio::test]
async fn guards_admit_or_answer_403() {
    let app = app();
    let svc = hs256_issuer();
    let plain = token(&svc, &["user"], &["users:read"]);
    let forbidden = |code: &str, message: &str| {
        (
            StatusCode::FORBIDDEN,
            JSON,
            json(),
            format!(r#"{{"error":"{code}","message":"{message}"}}"#),
        )
    };
    let auth = [("x-access-token", plain.as_str())];
    assert_eq!(
        call(&app, "/write", &auth).await,
        forbidden("missing_permission", "Require permission users:write!")
    );
    assert_eq!(
        call(&app, "/staff", &auth).await,
        forbidden("missing_role", "Require Editor or Admin Role!")
    );
    assert_eq!(
        call(&app, "/audit", &auth).await,
        forbidden(
            "missing_permission",
            "Require permissions users:read and audit:read!"
        )
    );
    let ok = |body: &str| {
        (
            StatusCode::OK,
            JSON,
            Some("text/plain; charset=utf-8".into()),
            body.to_owned(),
        )
    };
    assert_eq!(call(&app, "/me", &auth).await, ok("7 ann"));
    let writer = format!("Bearer {}", token(&svc, &["user"], &["users:write"]));
    assert_eq!(
        call(&app, "/write", &[("Authorization", &writer)]).await,
        ok("users:write User(UserId(7))")
    );
    let editor = token(&svc, &["editor"], &["audit:read", "users:read"]);
    assert_eq!(
        call(&app, "/staff", &[("x-access-token", &editor)]).await,
        ok("ann")
    );
    assert_eq!(
        call(&app, "/audit", &[("x-access-token", &editor)]).await,
        ok("users:read audit:read")
    );
}

#[tokio::test]
async fn the_verifier_can_be_part_of_a_larger_state() {
    async fn hello(
        user: AuthUser,
        axum::extract::State(state): axum::extract::State<AppState>,
    ) -> String {
        format!("{} {}", state.greeting, user.claims.name)
    }
    let app = Router::new()
        .route("/hello", get(hello))
        .with_state(AppState {
            verifier: verifier(),
            greeting: "hi",
        });
    let t = token(&hs256_issuer(), &["user"], &[]);
    let (status, _, _, body) = call(&app, "/hello", &[("x-access-token", &t)]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hi ann"));
    let (status, ..) = call(&app, "/hello", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
