//! Users: their identifiers and names, the shapes in which the use cases see
//! them, and the store port. Passwords are in [`password`]; creating an
//! account (sign-up and operators alike) in [`register`].

mod email;
pub mod password;
pub mod register;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use unicode_normalization::UnicodeNormalization;

use crate::accounts::TokenMail;
use crate::audit::NewAuditEvent;
use crate::error::{StoreError, UniqueField};
use crate::roles::{Permission, RoleName};
pub use email::Email;
pub use password::{HashError, Password, PasswordHash, PasswordHasher};

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
    /// What a valid name looks like once normalised, for API documents.
    pub const PATTERN: &'static str = "^[A-Za-z0-9_.-]{3,32}$";

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

    /// A username as presented at sign-in, before it is known to be valid:
    /// not empty and free of control characters, because it keys the rate
    /// limits and the look-up (a NUL reaches the database on some backends).
    /// Any other name that is not a valid username is merely unknown.
    /// What a presented name may look like, for API documents: no control characters.
    pub const PRESENTED_PATTERN: &'static str = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$";

    pub fn check_presented(raw: &str) -> Result<(), String> {
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(())
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

/// A user as lists show it.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: String,
    /// Ordered like the role ids: user, moderator, admin, then custom roles.
    pub roles: Vec<RoleName>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    /// Whether the user proved the address is theirs (a link, or an operator).
    pub email_verified: bool,
}

/// A user with what their roles grant: for a profile, a refresh, an
/// administrative decision.
#[derive(Debug, Clone)]
pub struct UserProfile {
    pub user: User,
    /// What the roles grant, de-duplicated and sorted.
    pub permissions: Vec<Permission>,
}

/// The one row a password check needs (roles are read only after it succeeds).
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password_hash: PasswordHash,
    pub disabled: bool,
    pub email_verified: bool,
}

/// A user to be created, with the roles it gets.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub password_hash: PasswordHash,
    pub roles: Vec<RoleName>,
    pub created_at: DateTime<Utc>,
    /// Whether the address is known to be the user's (operators' accounts).
    pub email_verified: bool,
    /// The verification token and its mail (sign-up), stored with the user.
    pub welcome: Option<TokenMail>,
}

/// Storage of users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user, its role links and (when given) its audit event,
    /// whose target the store sets to `user:<new id>`, in one transaction. A
    /// duplicate username or email is `StoreError::Conflict`, an unknown
    /// role `StoreError::UnknownRole`; on any error nothing is written.
    async fn create_user(
        &self,
        user: NewUser,
        audit: Option<NewAuditEvent>,
    ) -> Result<UserId, StoreError>;

    /// Which unique field is already taken by another user, if any.
    async fn find_conflict(
        &self,
        username: &Username,
        email: &Email,
    ) -> Result<Option<UniqueField>, StoreError>;

    /// What checking a password needs, by the case-insensitive username key:
    /// one query, the same for every user, so that a wrong password for an
    /// existing user costs what an unknown user costs.
    async fn find_login(&self, username: &Username) -> Result<Option<LoginRecord>, StoreError>;

    /// The sign-in record of the user with this id (a second step of a
    /// sign-in, a passkey), without the roles.
    async fn login_by_id(&self, id: UserId) -> Result<Option<LoginRecord>, StoreError>;

    /// What the user's roles are and what they grant (permissions
    /// de-duplicated and sorted): read after a password check succeeds.
    async fn grants_of(&self, id: UserId) -> Result<(Vec<RoleName>, Vec<Permission>), StoreError>;

    /// The user with fresh roles, permissions and status.
    async fn profile(&self, id: UserId) -> Result<Option<UserProfile>, StoreError>;

    /// Replaces the user's password hash if it is still `expected` (a
    /// re-hash with today's parameters); `false` when it changed meanwhile.
    async fn replace_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: PasswordHash,
    ) -> Result<bool, StoreError>;

    /// The names among `names` that are not roles.
    async fn missing_roles(&self, names: &[RoleName]) -> Result<Vec<RoleName>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    fn presented_usernames_refuse_only_empty_and_control_characters() {
        assert!(Username::check_presented("").is_err());
        assert!(Username::check_presented("ad\u{0}min").is_err());
        assert!(Username::check_presented("ad\nmin").is_err());
        assert!(Username::check_presented("x").is_ok(), "merely unknown");
        assert!(
            Username::check_presented("\u{0430}dmin").is_ok(),
            "merely unknown"
        );
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
        fn what_the_documented_sign_in_pattern_admits_passes(s in &Username::PRESENTED_PATTERN[1..Username::PRESENTED_PATTERN.len() - 1]) {
            prop_assert!(Username::check_presented(&s).is_ok(), "{s:?}");
        }

        #[test]
        fn what_the_documented_username_pattern_admits_parses(s in &Username::PATTERN[1..Username::PATTERN.len() - 1]) {
            prop_assert!(Username::parse(&s).is_ok(), "{s:?}");
        }
    }
}
