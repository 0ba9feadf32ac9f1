//! Passwords: as submitted (a secret), as stored (a PHC hash), and the
//! hashing port.

use std::fmt;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::{Email, Username};
use crate::error::BoxError;

/// A password as submitted: 8–128 characters. Held as a secret so that it
/// never reaches a log line or a `Debug` dump.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 128;
    /// No NUL, for API documents (the lengths are separate).
    pub const PATTERN: &'static str = "^[^\\u0000]*$";

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

    /// Refuses a new password (sign-up, change, reset) that is one of the
    /// 20 000 most common passwords (case-insensitively), or that contains
    /// the username or the e-mail address's local part (3 characters or more).
    pub fn screen(&self, username: &str, email: &str) -> Result<(), String> {
        let lower = self.expose().to_lowercase();
        if COMMON_LIST.contains(lower.as_str()) {
            return Err(
                "is one of the most common passwords (found in breached-password lists): choose another"
                    .into(),
            );
        }
        let name = username.to_lowercase();
        let local = email.split('@').next().unwrap_or("").to_lowercase();
        if (name.chars().count() >= 3 && lower.contains(&name))
            || (local.chars().count() >= 3 && lower.contains(&local))
        {
            return Err("must not contain the username or the e-mail address".into());
        }
        Ok(())
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

/// The 20 000 most common passwords (lower-cased), shipped in the binary:
/// see `data/README.md` for the source and its licence.
static COMMON_LIST: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
    std::sync::LazyLock::new(|| {
        include_str!("../../data/common-passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    });

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

/// Why hashing failed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes running and queued: shed load instead of queueing
    /// without bound (each argon2id hash holds ~19 MiB while it runs).
    #[error("password hashing is at capacity")]
    Overloaded,
    #[error("password hashing failed")]
    Failed(#[source] BoxError),
}

impl From<HashError> for crate::error::Error {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Overloaded => Self::Overloaded,
            HashError::Failed(source) => Self::Internal(source),
        }
    }
}

/// Password hashing. Implementations must not block the async workers.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// Verifies `password` against `hash`. With `None` (unknown user) it
    /// verifies against a dummy hash, so that an unknown user costs the same
    /// as a wrong password, and returns `false`.
    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, HashError>;

    /// Whether `hash` was made with weaker parameters (or another
    /// algorithm) than this hasher's: it is then replaced at the next
    /// successful sign-in.
    fn needs_rehash(&self, _hash: &PasswordHash) -> bool {
        false
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
    fn common_and_personal_passwords_are_screened() {
        let screen = |p: &str| {
            Password::parse(p)
                .unwrap()
                .screen("Alice_1", "alice.w@example.com")
        };
        assert!(COMMON_LIST.len() > 19_000, "{}", COMMON_LIST.len());
        for refused in [
            "password",
            "Password",
            "qwertyuiop",
            "iloveyou",
            "sunshine1",
            "xxALICE_1xx",
            "my alice.w pw",
        ] {
            assert!(screen(refused).is_err(), "{refused} should be refused");
        }
        for fine in ["correct horse battery", "tX9#mQ2!vL7pZ4", "alic3 in chains"] {
            assert!(screen(fine).is_ok(), "{fine}: {:?}", screen(fine));
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

    proptest! {
        #[test]
        fn password_length_rule(s in "\\PC{0,140}") {
            let n = s.chars().count();
            prop_assert_eq!(Password::parse(&s).is_ok(), (8..=128).contains(&n) && !s.contains('\0'));
        }
    }
}
