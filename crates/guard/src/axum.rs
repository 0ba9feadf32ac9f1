//! axum 0.8 extractors (feature `axum`).
//!
//! The guards implement `FromRequestParts<S>` for any state `S` from which a
//! [`TokenVerifier`] can be taken (`TokenVerifier: FromRef<S>`): the
//! verifier itself as the state, or a field of your state with
//! `#[derive(FromRef)]`. A missing verifier is a compile error, not a 500.
//!
//! ```
//! use axum::{Router, routing::get};
//! use rolegate_guard::permissions::UsersRead;
//! use rolegate_guard::{AuthUser, RequirePermission, TokenVerifier, VerifierConfig};
//!
//! async fn me(user: AuthUser) -> String {
//!     format!("user {}", user.user_id())
//! }
//!
//! async fn users(who: RequirePermission<UsersRead>) -> String {
//!     who.user.claims.name.clone()
//! }
//!
//! let verifier = TokenVerifier::hs256(
//!     &VerifierConfig::default(),
//!     b"a shared secret of at least 32 bytes!",
//! )?;
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/users", get(users))
//!     .with_state(verifier);
//! # Ok::<(), rolegate_guard::KeyError>(())
//! ```

use ::axum::extract::{FromRef, FromRequestParts};
use ::axum::http::StatusCode;
use ::axum::http::header::{self, HeaderValue};
use ::axum::http::request::Parts;
use ::axum::response::{IntoResponse, Response};
use rolegate_domain::access::PermissionName;

use crate::RequireMfa;
use crate::guard::{Guard, authorize, token_from_headers};
use crate::{
    AuthUser, GuardError, Permissions, RequireAllPermissions, RequireAnyPermission, RequireAnyRole,
    RequirePermission, Roles, TokenVerifier,
};

async fn extract<G: Guard>(parts: &Parts, verifier: TokenVerifier) -> Result<G, GuardError> {
    let token = token_from_headers(
        parts
            .headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
        parts
            .headers
            .get("x-access-token")
            .map(HeaderValue::as_bytes),
    );
    authorize(&verifier, token).await
}

macro_rules! from_request_parts {
    ($ty:ty $(, $param:ident : $bound:path)?) => {
        impl<S $(, $param: $bound)?> FromRequestParts<S> for $ty
        where
            TokenVerifier: FromRef<S>,
            S: Send + Sync,
        {
            type Rejection = GuardError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                extract(parts, TokenVerifier::from_ref(state)).await
            }
        }
    };
}

from_request_parts!(AuthUser);
from_request_parts!(RequireAnyRole<R>, R: Roles);
from_request_parts!(RequirePermission<P>, P: PermissionName);
from_request_parts!(RequireAnyPermission<P>, P: Permissions);
from_request_parts!(RequireAllPermissions<P>, P: Permissions);
impl<S, G> FromRequestParts<S> for RequireMfa<G>
where
    TokenVerifier: FromRef<S>,
    S: Send + Sync,
    G: Guard + Send,
{
    type Rejection = GuardError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        extract(parts, TokenVerifier::from_ref(state)).await
    }
}

impl IntoResponse for GuardError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body_json(),
        )
            .into_response();
        if let Some(challenge) = self.www_authenticate() {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}
