//! The authentication use cases, written against the ports.

use std::sync::Arc;

use crate::error::{AuthError, UniqueField};
use crate::ports::{AccessSubject, IssuedToken, NewUser, PasswordHasher, TokenIssuer, UserStore};
use crate::types::{Email, Password, RoleName, UserId, Username};

/// Which roles a self-service sign-up may ask for.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignupPolicy {
    /// When on, sign-up grants any requested role (the tutorial's behaviour).
    /// When off (the default), only `user`; asking for more is refused.
    pub open_role_signup: bool,
}

impl SignupPolicy {
    /// The roles a new account gets: `user` when none were asked for,
    /// otherwise the requested roles, de-duplicated, if the policy allows them.
    pub fn roles_for(&self, requested: Option<Vec<RoleName>>) -> Result<Vec<RoleName>, AuthError> {
        let requested = requested.unwrap_or_default();
        if requested.is_empty() {
            return Ok(vec![RoleName::user()]);
        }
        let mut roles: Vec<RoleName> = Vec::with_capacity(requested.len());
        for r in requested {
            if !roles.contains(&r) {
                roles.push(r);
            }
        }
        if !self.open_role_signup {
            let refused: Vec<&str> = roles
                .iter()
                .filter(|r| r.as_str() != RoleName::USER)
                .map(RoleName::as_str)
                .collect();
            if !refused.is_empty() {
                return Err(AuthError::RoleNotAllowed(refused.join(", ")));
            }
        }
        Ok(roles)
    }
}

/// A sign-up request whose fields are already valid.
#[derive(Debug, Clone)]
pub struct SignUp {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    pub roles: Option<Vec<RoleName>>,
}

/// The result of a successful sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub roles: Vec<RoleName>,
    pub access: IssuedToken,
}

/// Sign-up and sign-in.
#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserStore>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenIssuer>,
    policy: SignupPolicy,
}

impl AuthService {
    pub fn new(
        users: Arc<dyn UserStore>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenIssuer>,
        policy: SignupPolicy,
    ) -> Self {
        Self {
            users,
            hasher,
            tokens,
            policy,
        }
    }

    /// Registers a user. Cheap checks (policy, roles, duplicates) run before
    /// the expensive hash; the database's unique indexes still decide races.
    pub async fn sign_up(&self, req: SignUp) -> Result<UserId, AuthError> {
        let roles = self.policy.roles_for(req.roles)?;
        if let Some(missing) = self.users.missing_roles(&roles).await?.into_iter().next() {
            return Err(AuthError::UnknownRole(missing.to_string()));
        }
        match self.users.find_conflict(&req.username, &req.email).await? {
            Some(UniqueField::Username) => return Err(AuthError::UsernameTaken),
            Some(UniqueField::Email) => return Err(AuthError::EmailTaken),
            None => {}
        }
        let password_hash = self
            .hasher
            .hash(&req.password)
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        let id = self
            .users
            .create_user(NewUser {
                username: req.username,
                email: req.email,
                password_hash,
                roles,
            })
            .await?;
        tracing::info!(user_id = %id, "user signed up");
        Ok(id)
    }

    /// Checks a username and password and issues an access token.
    ///
    /// An unknown (or unparsable) username costs one dummy hash verification
    /// and gives the same error as a wrong password: no user enumeration.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &Password,
    ) -> Result<SignedIn, AuthError> {
        let user = match Username::parse(username) {
            Ok(name) => self.users.find_credentials(&name).await?,
            Err(_) => None,
        };
        let verified = self
            .hasher
            .verify(password, user.as_ref().map(|u| &u.password_hash))
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        let user = match user {
            Some(u) if verified => u,
            _ => return Err(AuthError::InvalidCredentials),
        };
        if user.disabled {
            return Err(AuthError::AccountDisabled);
        }
        let access = self
            .tokens
            .issue_access(&AccessSubject {
                user_id: user.id,
                username: user.username.clone(),
                roles: user.roles.clone(),
            })
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(SignedIn {
            id: user.id,
            username: user.username,
            email: user.email,
            roles: user.roles,
            access,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> Option<Vec<RoleName>> {
        Some(names.iter().map(|n| RoleName::parse(n).unwrap()).collect())
    }

    #[test]
    fn default_role_is_user() {
        let p = SignupPolicy::default();
        assert_eq!(p.roles_for(None).unwrap(), vec![RoleName::user()]);
        assert_eq!(p.roles_for(Some(vec![])).unwrap(), vec![RoleName::user()]);
    }

    #[test]
    fn closed_policy_refuses_elevated_roles() {
        let p = SignupPolicy {
            open_role_signup: false,
        };
        assert!(p.roles_for(roles(&["user"])).is_ok());
        match p.roles_for(roles(&["user", "admin"])) {
            Err(AuthError::RoleNotAllowed(r)) => assert_eq!(r, "admin"),
            other => panic!("expected RoleNotAllowed, got {other:?}"),
        }
    }

    #[test]
    fn open_policy_grants_requested_roles_deduplicated() {
        let p = SignupPolicy {
            open_role_signup: true,
        };
        let got = p
            .roles_for(roles(&["admin", "moderator", "admin"]))
            .unwrap();
        assert_eq!(got, vec![RoleName::admin(), RoleName::moderator()]);
    }
}
