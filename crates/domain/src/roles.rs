//! Roles and permissions: their names, descriptions, and how the catalogue
//! describes them.

use std::fmt;

/// A role name: lower-case `[a-z][a-z0-9_-]{1,31}`. The tutorial's clients
/// send `user`, `moderator`, `admin`; input is lower-cased before checking.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

impl RoleName {
    pub const USER: &'static str = "user";
    pub const MODERATOR: &'static str = "moderator";
    pub const ADMIN: &'static str = "admin";
    pub const BUILT_IN: [&'static str; 3] = [Self::USER, Self::MODERATOR, Self::ADMIN];
    pub const MIN_LEN: usize = 2;
    pub const MAX_LEN: usize = 32;
    /// What a valid (lower-cased) name looks like, for API documents.
    pub const PATTERN: &'static str = "^[a-z][a-z0-9_-]{1,31}$";

    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim().to_ascii_lowercase();
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&name.len()) || !first_ok || !rest_ok {
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
    pub const MAX_LEN: usize = 64;
    /// What a valid name looks like, for API documents.
    pub const PATTERN: &'static str = "^[a-z][a-z0-9_-]*:[a-z][a-z0-9_-]*$";

    pub fn parse(raw: &str) -> Result<Self, String> {
        let p = raw.trim();
        let part_ok = |s: &str| {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        };
        match p.split_once(':') {
            Some((resource, action))
                if p.len() <= Self::MAX_LEN && part_ok(resource) && part_ok(action) =>
            {
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

/// A description of a role or permission: trimmed, at most
/// [`Description::MAX_LEN`] characters, no control characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub const MAX_LEN: usize = 255;
    /// What a valid description looks like, for API documents (no control characters).
    pub const PATTERN: &'static str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

    pub fn parse(raw: &str) -> Result<Self, String> {
        let d = raw.trim();
        if d.chars().count() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters long", Self::MAX_LEN));
        }
        if d.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(d.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As stored (descriptions read back from the store are not re-checked).
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A role with its permissions.
#[derive(Debug, Clone)]
pub struct RoleInfo {
    pub name: RoleName,
    pub description: Description,
    pub built_in: bool,
    pub permissions: Vec<Permission>,
}

/// A permission of the catalogue.
#[derive(Debug, Clone)]
pub struct PermissionInfo {
    pub name: Permission,
    pub description: Description,
    pub built_in: bool,
}

/// A new role.
#[derive(Debug, Clone)]
pub struct NewRole {
    pub name: RoleName,
    pub description: Description,
    pub permissions: Vec<Permission>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn role_names() {
        assert_eq!(RoleName::parse(" Admin").unwrap().as_str(), "admin");
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

    #[test]
    fn descriptions_are_bounded_and_printable() {
        assert_eq!(
            Description::parse("  Edits articles ").unwrap().as_str(),
            "Edits articles"
        );
        assert!(Description::parse(&"x".repeat(255)).is_ok());
        assert!(Description::parse(&"x".repeat(256)).is_err());
        assert!(Description::parse("line\nbreak").is_err());
        assert!(Description::parse("nul\0").is_err());
    }

    proptest! {
        #[test]
        fn role_names_are_lowercase_and_bounded(s in "\\PC{0,40}") {
            if let Ok(r) = RoleName::parse(&s) {
                prop_assert_eq!(r.as_str().to_ascii_lowercase(), r.as_str());
                prop_assert!((RoleName::MIN_LEN..=RoleName::MAX_LEN).contains(&r.as_str().len()));
            }
        }

        #[test]
        fn what_the_documented_patterns_admit_parses(
            role in &RoleName::PATTERN[1..RoleName::PATTERN.len() - 1],
            permission in &Permission::PATTERN[1..Permission::PATTERN.len() - 1],
        ) {
            prop_assert!(RoleName::parse(&role).is_ok(), "{role:?}");
            prop_assume!(permission.len() <= Permission::MAX_LEN);
            prop_assert!(Permission::parse(&permission).is_ok(), "{permission:?}");
        }

        #[test]
        fn permissions_have_one_colon(s in "\\PC{0,70}") {
            if let Ok(p) = Permission::parse(&s) {
                prop_assert_eq!(p.as_str().matches(':').count(), 1);
                prop_assert!(p.as_str().len() <= Permission::MAX_LEN);
            }
        }
    }
}
