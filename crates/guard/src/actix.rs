//! actix-web 4 extractors (feature `actix`).
//!
//! Install the verifier with [`configure`], then take a guard as a handler
//! argument: the handler cannot run without the check.
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, HttpServer, get};
//! use rolegate_guard::permissions::UsersWrite;
//! use rolegate_guard::{AuthUser, RequirePermission, TokenVerifier, VerifierConfig};
//!
//! #[get("/me")]
//! async fn me(user: AuthUser) -> String {
//!     format!("user {}", user.user_id())
//! }
//!
//! #[get("/admin")]
//! async fn admin(who: RequirePermission<UsersWrite>) -> HttpResponse {
//!     // `who.granted` is the `Granted<UsersWrite>` proof a use case can demand
//!     HttpResponse::Ok().body(who.user.claims.name.clone())
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     // Once, in main. With rolegate's asymmetric keys, prefer
//!     // `TokenVerifier::remote(&config, RemoteJwks::new(jwks_url))` (feature
//!     // `remote`): it follows rolegate's key rotations.
//!     let secret = std::env::var("ROLEGATE_JWT_SECRET").unwrap_or_default();
//!     let verifier = TokenVerifier::hs256(&VerifierConfig::default(), secret.as_bytes())
//!         .map_err(std::io::Error::other)?
//!         .with_cache(4096);
//!     HttpServer::new(move || {
//!         App::new()
//!             .configure(rolegate_guard::actix::configure(verifier.clone()))
//!             .service(me)
//!             .service(admin)
//!     })
//!     .bind(("127.0.0.1", 8081))?
//!     .run()
//!     .await
//! }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};
use rolegate_domain::access::PermissionName;

use crate::guard::{Decision, Guard, decide, decide_after_refresh, token_from_headers};
use crate::{
    AuthUser, GuardError, Permissions, RequireAllPermissions, RequireAnyPermission, RequireAnyRole,
    RequireMfa, RequirePermission, Roles, TokenVerifier,
};

/// Installs `verifier` for the extractors of an app, as
/// `web::Data<TokenVerifier>`: `App::new().configure(configure(verifier.clone()))`.
///
/// The extractors also find a verifier registered with
/// `.app_data(web::Data::new(verifier))` or `.app_data(verifier)`. Without
/// one, every guarded route answers 500 and the first such request prints
/// the fix to stderr and logs it at ERROR.
pub fn configure(verifier: TokenVerifier) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(verifier));
    }
}

/// The verifier an app installed, if any.
fn verifier_of(req: &HttpRequest) -> Option<&TokenVerifier> {
    req.app_data::<web::Data<TokenVerifier>>()
        .map(|data| data.get_ref())
        .or_else(|| req.app_data::<TokenVerifier>())
}

static MISSING_VERIFIER: Once = Once::new();

fn report_missing_verifier() {
    MISSING_VERIFIER.call_once(|| {
        const FIX: &str = "rolegate-guard: a route takes an AuthUser/Require* extractor but the \
            actix-web App has no TokenVerifier, so every guarded request answers 500. Fix: add \
            `.configure(rolegate_guard::actix::configure(verifier.clone()))` to the App (or \
            `.app_data(web::Data::new(verifier.clone()))`).";
        eprintln!("{FIX}");
        tracing::error!("{FIX}");
    });
}

/// The future of the guards: ready at once unless a remote verifier must
/// refresh its keys first.
pub struct GuardFuture<G> {
    state: FutureState<G>,
}

enum FutureState<G> {
    Ready(std::future::Ready<Result<G, GuardError>>),
    Refreshing(Pin<Box<dyn Future<Output = Result<G, GuardError>>>>),
}

impl<G> std::fmt::Debug for GuardFuture<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuardFuture")
    }
}

impl<G> Future for GuardFuture<G> {
    type Output = Result<G, GuardError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            FutureState::Ready(ready) => Pin::new(ready).poll(cx),
            FutureState::Refreshing(future) => future.as_mut().poll(cx),
        }
    }
}

fn extract<G: Guard + 'static>(req: &HttpRequest) -> GuardFuture<G> {
    let headers = req.headers();
    let token = token_from_headers(
        headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
        headers.get("x-access-token").map(HeaderValue::as_bytes),
    );
    let state = match decide::<G>(verifier_of(req), token) {
        Decision::Done(result) => {
            if matches!(result, Err(GuardError::MissingVerifier)) {
                report_missing_verifier();
            }
            FutureState::Ready(std::future::ready(result))
        }
        Decision::Refresh {
            verifier,
            token,
            error,
        } => FutureState::Refreshing(Box::pin(decide_after_refresh(verifier, token, error))),
    };
    GuardFuture { state }
}

macro_rules! from_request {
    ($ty:ty $(, $param:ident : $bound:path)?) => {
        impl$(<$param: $bound + 'static>)? FromRequest for $ty {
            type Error = GuardError;
            type Future = GuardFuture<Self>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                extract(req)
            }
        }
    };
}

from_request!(AuthUser);
from_request!(RequireAnyRole<R>, R: Roles);
from_request!(RequirePermission<P>, P: PermissionName);
from_request!(RequireAnyPermission<P>, P: Permissions);
from_request!(RequireAllPermissions<P>, P: Permissions);
from_request!(RequireMfa<G>, G: Guard);

impl ResponseError for GuardError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(challenge) = self.www_authenticate() {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            ));
        }
        let mut response = response
            .content_type("application/json")
            .body(self.body_json());
        // For the service's own middleware: which refusal this response is.
        response.extensions_mut().insert(self.clone());
        response
    }
}
