//! The decision, framework-free.

use super::*;

rolegate_domain::permission!(ARead, "a:read");
rolegate_domain::permission!(BRead, "b:read");
crate::role!(Editor, "editor");

fn user(roles: &[&str], perms: &[&str]) -> AuthUser {
    AuthUser {
        claims: Arc::new(AccessClaims {
            iss: "rolegate".into(),
            aud: "rolegate".into(),
            sub: 9,
            exp: 0,
            iat: 0,
            jti: "j".into(),
            name: "n".into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            perms: perms.iter().map(|p| (*p).to_owned()).collect(),
            sid: None,
            amr: vec![],
        }),
    }
}

fn message<G: Guard>(u: AuthUser) -> Option<String> {
    G::admit(u).err().map(|e| e.body_json())
}

#[test]
fn forbidden_messages() {
    assert_eq!(
        message::<RequireAnyRole<(Editor, Moderator)>>(user(&["user"], &[])).as_deref(),
        Some(r#"{"error":"missing_role","message":"Require Editor or Moderator Role!"}"#)
    );
    assert_eq!(
        message::<RequireRole<Moderator>>(user(&["admin"], &[])).as_deref(),
        Some(r#"{"error":"missing_role","message":"Require Moderator Role!"}"#)
    );
    assert_eq!(
        message::<RequireAnyPermission<(ARead, BRead)>>(user(&[], &["c:read"])).as_deref(),
        Some(r#"{"error":"missing_permission","message":"Require permission a:read or b:read!"}"#)
    );
    assert_eq!(
        message::<RequireAllPermissions<(ARead, BRead)>>(user(&[], &["a:read"])).as_deref(),
        Some(
            r#"{"error":"missing_permission","message":"Require permissions a:read and b:read!"}"#
        )
    );
    assert_eq!(
        message::<RequirePermission<ARead>>(user(&[], &["b:read"])).as_deref(),
        Some(r#"{"error":"missing_permission","message":"Require permission a:read!"}"#)
    );
}

#[test]
fn grants_carry_proofs() {
    let all =
        RequireAllPermissions::<(ARead, BRead)>::admit(user(&[], &["b:read", "a:read"])).unwrap();
    assert_eq!(
        (all.granted.0.permission(), all.granted.1.permission()),
        ("a:read", "b:read")
    );
    assert_eq!(
        all.granted.0.actor(),
        rolegate_domain::access::Actor::User(UserId(9))
    );
    let one = RequirePermission::<BRead>::admit(user(&[], &["b:read"])).unwrap();
    assert_eq!(one.granted.permission(), "b:read");
    assert!(RequireAnyPermission::<(ARead, BRead)>::admit(user(&[], &["b:read"])).is_ok());
    assert!(RequireAnyRole::<(Editor, Admin)>::admit(user(&["admin"], &[])).is_ok());
}

#[test]
fn error_bodies_and_headers() {
    assert_eq!(
        GuardError::NoToken.body_json(),
        r#"{"error":"no_token","message":"No token provided!"}"#
    );
    assert_eq!(
        GuardError::InvalidToken(VerifyError::Expired).body_json(),
        r#"{"error":"invalid_token","message":"Unauthorized!"}"#
    );
    assert_eq!(
        GuardError::MissingVerifier.body_json(),
        r#"{"error":"internal","message":"Internal server error."}"#
    );
    assert_eq!(GuardError::NoToken.www_authenticate(), Some("Bearer"));
    assert_eq!(
        GuardError::InvalidToken(VerifyError::Malformed).www_authenticate(),
        Some("Bearer error=\"invalid_token\"")
    );
    assert_eq!(GuardError::MissingVerifier.status(), 500);
}

#[test]
fn token_sources_and_length_limit() {
    assert_eq!(
        token_from_headers(Some(b"BEARER  t1 "), Some(b"t2")),
        Some("t1")
    );
    assert_eq!(token_from_headers(None, Some(b"t2")), Some("t2"));
    assert_eq!(token_from_headers(Some(b"Bearer"), None), None);
    assert_eq!(token_from_headers(None, Some(b"  ")), None);
    assert_eq!(token_from_headers(Some(&[0xff, 0x20, 0x41]), None), None);
    let verifier = TokenVerifier::hs256(&Default::default(), &[7; 32]).unwrap();
    let long = "a".repeat(MAX_TOKEN_LEN + 1);
    assert!(matches!(
        decide::<AuthUser>(Some(&verifier), Some(&long)),
        Decision::Done(Err(GuardError::InvalidToken(VerifyError::Malformed)))
    ));
    assert!(matches!(
        decide::<AuthUser>(Some(&verifier), None),
        Decision::Done(Err(GuardError::NoToken))
    ));
    assert!(matches!(
        decide::<AuthUser>(None, Some("x")),
        Decision::Done(Err(GuardError::MissingVerifier))
    ));
}
