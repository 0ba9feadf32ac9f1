//! The claims of a rolegate access token.

use serde::{Deserialize, Serialize};

/// The claims of a rolegate access token.
///
/// The JSON shape is exactly the one rolegate signs: `sub` is the user id as
/// a decimal *string* (`"42"`), `perms` is left out when empty. Deserializing
/// refuses a `sub` that is not the canonical decimal form of an `i64`, so a
/// verified token always has a numeric user id.
///
/// ```
/// use rolegate_guard::AccessClaims;
///
/// let claims: AccessClaims = serde_json::from_str(
///     r#"{"iss":"rolegate","aud":"rolegate","sub":"42","exp":2000000000,"iat":1999999100,
///         "jti":"x","name":"alice","roles":["user","admin"],"perms":["users:read"]}"#,
/// )?;
/// assert_eq!(claims.user_id(), 42);
/// assert!(claims.has_role("admin") && claims.has_permission("users:read"));
/// // serialized back byte for byte the way rolegate writes it
/// assert!(serde_json::to_string(&claims)?.contains(r#""sub":"42""#));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer (rolegate's `issuer` setting).
    pub iss: String,
    /// Audience (rolegate's `audience` setting).
    pub aud: String,
    /// The user's id; a decimal string in the token.
    #[serde(with = "decimal_sub")]
    pub sub: i64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: i64,
    /// The token's unique id.
    pub jti: String,
    /// The username at the time of issue.
    pub name: String,
    /// Role names (`user`, `moderator`, `admin`, custom ones).
    pub roles: Vec<String>,
    /// Permissions the roles grant (`resource:action`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perms: Vec<String>,
    /// The session (refresh-token family) the token was issued for; absent
    /// in tokens from before sessions were named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// How the session's holder signed in (RFC 8176): `["pwd"]`,
    /// `["pwd","otp"]`, `["hwk"]`, `["pwd","hwk"]`; absent in tokens from
    /// before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

impl AccessClaims {
    /// The user's numeric id (the `sub` claim).
    pub fn user_id(&self) -> i64 {
        self.sub
    }

    /// Whether the token carries the role `role` (e.g. `"admin"`).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the token grants `permission` (e.g. `"users:write"`).
    pub fn has_permission(&self, permission: &str) -> bool {
        self.perms.iter().any(|p| p == permission)
    }

    /// Whether the holder signed in with more than a password: a one-time
    /// code (`otp`), a passkey (`hwk`) or an explicit `mfa`.
    pub fn is_multi_factor(&self) -> bool {
        self.amr
            .iter()
            .any(|m| matches!(m.as_str(), "otp" | "hwk" | "mfa"))
    }
}

/// Words every `sub` deserialization error contains, so that verification
/// can report [`VerifyError::InvalidClaims("sub")`](crate::VerifyError).
pub(crate) const SUB_ERROR_MARKER: &str = "decimal user id";

/// `sub` as the canonical decimal string of an `i64`: `"42"`, `"-7"`; not
/// `"+42"`, `"042"`, `" 42"`, `"4.2"` or the number `42`.
mod decimal_sub {
    use serde::{Deserializer, Serializer, de};

    use super::SUB_ERROR_MARKER;

    pub fn serialize<S: Serializer>(sub: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(sub)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        d.deserialize_str(Visitor)
    }

    struct Visitor;

    impl de::Visitor<'_> for Visitor {
        type Value = i64;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a {SUB_ERROR_MARKER} as a string (sub)")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            match v.parse::<i64>() {
                Ok(id) if id.to_string() == v => Ok(id),
                _ => Err(E::custom(format_args!(
                    "sub is not a {SUB_ERROR_MARKER} (canonical decimal i64)"
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(sub: &str) -> String {
        format!(
            r#"{{"iss":"i","aud":"a","sub":{sub},"exp":2,"iat":1,"jti":"j","name":"n","roles":[]}}"#
        )
    }

    #[test]
    fn sub_must_be_a_canonical_decimal_string() {
        let ok: AccessClaims = serde_json::from_str(&json(r#""-7""#)).unwrap();
        assert_eq!(ok.user_id(), -7);
        assert!(ok.perms.is_empty());
        for bad in [
            r#""+7""#,
            r#""07""#,
            r#"" 7""#,
            r#""7.0""#,
            r#""abc""#,
            r#""""#,
            r#""99999999999999999999""#,
            "7",
            "null",
        ] {
            let err = serde_json::from_str::<AccessClaims>(&json(bad)).unwrap_err();
            assert!(err.to_string().contains(SUB_ERROR_MARKER), "{bad}: {err}");
        }
    }

    #[test]
    fn serialized_shape_is_rolegates() {
        let claims: AccessClaims = serde_json::from_str(&json(r#""42""#)).unwrap();
        assert_eq!(
            serde_json::to_string(&claims).unwrap(),
            r#"{"iss":"i","aud":"a","sub":"42","exp":2,"iat":1,"jti":"j","name":"n","roles":[]}"#
        );
    }
}
