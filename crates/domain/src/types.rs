//! Validated newtypes: "parse, don't validate". A value of one of these types
//! is valid by construction; the only way in is `parse`.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

/// A user's numeric id (the tutorial's clients expect an integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A username: 3–32 characters of ASCII letters, digits, `_`, `.` and `-`,
/// after Unicode NFKC normalisation (so full-width `ａｄｍｉｎ` becomes `admin`).
///
/// Only ASCII survives, which rules out look-alike (confusable) names such as a
/// Cyrillic `а` in `аdmin`. The display form keeps the user's case; the
/// [`Username::key`] is lower-cased and is what uniqueness is enforced on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        let normalized: String = raw.nfkc().collect();
        let len = normalized.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(format!(
                "must be {} to {} characters long",
                Self::MIN_LEN,
                Self::MAX_LEN
            ));
        }
        if !normalized
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err("may contain only letters a-z, digits and _ . -".into());
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive key that uniqueness and look-ups use.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plausible e-mail address, stored lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("must not be empty".into());
        }
        if email.chars().count() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters long", Self::MAX_LEN));
        }
        if email.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("must not contain spaces or control characters".into());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must be an e-mail address like name@example.com".into());
        };
        let plausible = !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if !plausible {
            return Err("must be an e-mail address like name@example.com".into());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as submitted: 8–128 characters. Held as a secret so that it
/// never reaches a log line or a `Debug` dump.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 128;

    /// Parses a new password (sign-up): length bounds apply.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if len < Self::MIN_LEN {
            return Err(format!(
                "must be at least {} characters long",
                Self::MIN_LEN
            ));
        }
        if len > Self::MAX_LEN {
            return Err(format!("must be at most {} characters long", Self::MAX_LEN));
        }
        if raw.contains('\0') {
            return Err("must not contain NUL characters".into());
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// Parses a password presented at sign-in: only the upper bound applies
    /// (it keeps oversized input away from the hasher).
    pub fn parse_presented(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.chars().count() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters long", Self::MAX_LEN));
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Refuses passwords that are easy to guess for an account that an
    /// operator creates (the command line, the first admin): fewer than 12
    /// characters, fewer than 6 different characters, one of the most common
    /// passwords, or one containing the username or the e-mail's local part.
    /// (NIST SP 800-63B: length and a block list, no composition rules.)
    pub fn check_strength(&self, username: &Username, email: &Email) -> Result<(), String> {
        const MIN_STRONG: usize = 12;
        let pw = self.expose();
        let lower = pw.to_lowercase();
        if pw.chars().count() < MIN_STRONG {
            return Err(format!(
                "is too weak: use at least {MIN_STRONG} characters (a passphrase of a few words works well)"
            ));
        }
        let distinct: std::collections::BTreeSet<char> = lower.chars().collect();
        if distinct.len() < 6 {
            return Err("is too weak: it repeats too few different characters".into());
        }
        let built_on_common = COMMON_PASSWORDS.iter().any(|c| {
            lower.contains(c)
                && lower
                    .replace(c, "")
                    .chars()
                    .filter(|x| x.is_alphabetic())
                    .count()
                    < 4
        });
        if built_on_common {
            return Err("is too weak: it is (or is built on) a very common password".into());
        }
        let local = email.as_str().split('@').next().unwrap_or("");
        if lower.contains(&username.key()) || (local.len() >= 3 && lower.contains(local)) {
            return Err("is too weak: it contains the username or the e-mail address".into());
        }
        Ok(())
    }
}

/// The most common passwords of public breach corpora (lower-cased); a
/// password built on one of them with a short suffix is refused as well.
const COMMON_PASSWORDS: [&str; 40] = [
    "123456789012",
    "1234567890",
    "12345678",
    "123456",
    "qwertyuiop",
    "qwerty123",
    "qwerty",
    "password",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "iloveyou",
    "admin123",
    "administrator",
    "welcome",
    "letmein",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "superman",
    "starwars",
    "whatever",
    "trustno1",
    "master",
    "shadow",
    "abc123",
    "1q2w3e4r",
    "zaq12wsx",
    "asdfghjkl",
    "changeme",
    "secret",
    "rolegate",
    "default",
    "111111",
    "000000",
    "654321",
    "987654321",
];

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// A stored password hash in PHC string format.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(phc: String) -> Self {
        Self(phc)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

/// A role name: lower-case `[a-z][a-z0-9_-]{1,31}`. The tutorial's clients
/// send `user`, `moderator`, `admin`; input is lower-cased before checking.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

impl RoleName {
    pub const USER: &'static str = "user";
    pub const MODERATOR: &'static str = "moderator";
    pub const ADMIN: &'static str = "admin";
    pub const BUILT_IN: [&'static str; 3] = [Self::USER, Self::MODERATOR, Self::ADMIN];

    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim().to_ascii_lowercase();
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !(2..=32).contains(&name.len()) || !first_ok || !rest_ok {
            return Err(
                "a role name is 2-32 characters: a letter, then letters, digits, _ or -".into(),
            );
        }
        Ok(Self(name))
    }

    pub fn user() -> Self {
        Self(Self::USER.into())
    }
    pub fn moderator() -> Self {
        Self(Self::MODERATOR.into())
    }
    pub fn admin() -> Self {
        Self(Self::ADMIN.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_built_in(&self) -> bool {
        Self::BUILT_IN.contains(&self.0.as_str())
    }

    /// The tutorial's wire form: `ROLE_USER`, `ROLE_MODERATOR`, `ROLE_ADMIN`.
    pub fn authority(&self) -> String {
        format!("ROLE_{}", self.0.to_ascii_uppercase())
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A permission: `resource:action`, each part `[a-z][a-z0-9_-]*`, at most 64
/// characters in all (e.g. `users:read`, `content:moderate`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission(String);

impl Permission {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let p = raw.trim();
        let part_ok = |s: &str| {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        };
        match p.split_once(':') {
            Some((resource, action)) if p.len() <= 64 && part_ok(resource) && part_ok(action) => {
                Ok(Self(p.to_owned()))
            }
            _ => Err("a permission is resource:action, e.g. users:read".into()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn weak_passwords_are_refused_for_operator_accounts() {
        let user = Username::parse("root_admin").unwrap();
        let email = Email::parse("ops-team@example.com").unwrap();
        let check = |p: &str| Password::parse(p).unwrap().check_strength(&user, &email);
        for weak in [
            "short-pw1",
            "aaaaaaaaaaaaaaaa",
            "abababababab",
            "password1234",
            "Password!2024",
            "qwertyuiop12",
            "my-root_admin-pw",
            "ops-team-secret-99",
        ] {
            assert!(check(weak).is_err(), "{weak} should be refused");
        }
        for strong in [
            "correct horse battery staple",
            "tX9#mQ2!vL7pZ4",
            "password in a long sentence",
        ] {
            assert!(
                check(strong).is_ok(),
                "{strong} should pass: {:?}",
                check(strong)
            );
        }
    }

    #[test]
    fn username_accepts_tutorial_names_and_keys_case_insensitively() {
        let u = Username::parse("Mod_User.1-a").unwrap();
        assert_eq!(u.as_str(), "Mod_User.1-a");
        assert_eq!(u.key(), "mod_user.1-a");
    }

    #[test]
    fn username_normalises_fullwidth_and_refuses_confusables() {
        assert_eq!(Username::parse("ａｄｍｉｎ").unwrap().as_str(), "admin");
        assert!(Username::parse("\u{0430}dmin").is_err(), "Cyrillic a");
        assert!(Username::parse("ad\u{0}min").is_err());
        assert!(Username::parse("ad\u{7}min").is_err());
        assert!(Username::parse("a b c").is_err());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("x'; DROP TABLE users;--").is_err());
    }

    #[test]
    fn email_is_lowercased_and_must_be_plausible() {
        assert_eq!(
            Email::parse(" Bob@Example.COM ").unwrap().as_str(),
            "bob@example.com"
        );
        for bad in [
            "",
            "bob",
            "bob@",
            "@example.com",
            "bob@example",
            "bob@@x.com",
            "b ob@x.com",
            "bob@.x.com",
            "bob@x..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn password_bounds_and_redaction() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        let p = Password::parse("correct horse").unwrap();
        assert_eq!(p.expose(), "correct horse");
        assert!(!format!("{p:?}").contains("horse"));
        assert!(Password::parse_presented("").is_err());
        assert!(Password::parse_presented("x").is_ok());
        assert!(Password::parse_presented(&"x".repeat(129)).is_err());
    }

    #[test]
    fn role_names_and_authorities() {
        assert_eq!(RoleName::parse("Admin").unwrap().authority(), "ROLE_ADMIN");
        assert!(RoleName::parse("admin").unwrap().is_built_in());
        assert!(!RoleName::parse("editor").unwrap().is_built_in());
        assert!(RoleName::parse("9lives").is_err());
        assert!(RoleName::parse("a b").is_err());
        assert!(RoleName::parse("").is_err());
    }

    #[test]
    fn permissions_are_resource_action() {
        assert!(Permission::parse("users:read").is_ok());
        assert!(Permission::parse("users").is_err());
        assert!(Permission::parse("users:").is_err());
        assert!(Permission::parse(":read").is_err());
        assert!(Permission::parse("Users:Read").is_err());
        assert!(Permission::parse("a:b:c").is_err());
    }

    proptest! {
        #[test]
        fn valid_usernames_round_trip(s in "[A-Za-z0-9_.-]{3,32}") {
            let u = Username::parse(&s).unwrap();
            prop_assert_eq!(u.as_str(), s.as_str());
            prop_assert_eq!(u.key(), s.to_ascii_lowercase());
        }

        #[test]
        fn parsed_usernames_are_always_in_the_allowed_alphabet(s in "\\PC{0,40}") {
            if let Ok(u) = Username::parse(&s) {
                prop_assert!(u.as_str().chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
                prop_assert!((3..=32).contains(&u.as_str().len()));
            }
        }

        #[test]
        fn parsed_emails_are_lowercase_with_one_at(s in "\\PC{0,80}") {
            if let Ok(e) = Email::parse(&s) {
                prop_assert_eq!(e.as_str().matches('@').count(), 1);
                prop_assert_eq!(e.as_str().to_lowercase(), e.as_str());
            }
        }

        #[test]
        fn valid_emails_parse(local in "[a-z0-9._%+-]{1,20}", domain in "[a-z0-9-]{1,20}", tld in "[a-z]{2,6}") {
            let raw = format!("{local}@{domain}.{tld}");
            let parsed = Email::parse(&raw).unwrap();
            prop_assert_eq!(parsed.as_str(), raw.as_str());
        }

        #[test]
        fn password_length_rule(s in "\\PC{0,140}") {
            let n = s.chars().count();
            prop_assert_eq!(Password::parse(&s).is_ok(), (8..=128).contains(&n) && !s.contains('\0'));
        }

        #[test]
        fn role_names_are_lowercase(s in "\\PC{0,40}") {
            if let Ok(r) = RoleName::parse(&s) {
                prop_assert_eq!(r.as_str().to_ascii_lowercase(), r.as_str());
                prop_assert!(r.authority().starts_with("ROLE_"));
            }
        }

        #[test]
        fn permissions_have_one_colon(s in "\\PC{0,70}") {
            if let Ok(p) = Permission::parse(&s) {
                prop_assert_eq!(p.as_str().matches(':').count(), 1);
            }
        }
    }
}
