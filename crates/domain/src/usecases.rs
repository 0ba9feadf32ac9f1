//! The authentication use cases, written against the ports.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::error::{AuthError, UniqueField};
use crate::ports::{
    AccessSubject, Clock, IssuedToken, NewRefreshToken, NewUser, PasswordHasher, RefreshRecord,
    RefreshSecrets, SessionStore, TokenIssuer, UserCredentials, UserStore,
};
use crate::types::{Email, Password, RoleName, UserId, Username};

/// What the use cases allow and for how long.
#[derive(Debug, Clone, Copy)]
pub struct AuthPolicy {
    /// When on, sign-up grants any requested role (the tutorial's behaviour).
    /// When off (the default), only `user`; asking for more is refused.
    pub open_role_signup: bool,
    /// Refresh-token lifetime in seconds (each rotation starts a new one).
    pub refresh_ttl_secs: i64,
    /// How long after a rotation the previous token may be presented once
    /// more (two tabs refreshing at once) and get the same successor.
    pub refresh_grace_secs: i64,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        Self {
            open_role_signup: false,
            refresh_ttl_secs: 7 * 24 * 3600,
            refresh_grace_secs: 5,
        }
    }
}

impl AuthPolicy {
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

/// A refresh token as handed to the client.
#[derive(Debug, Clone)]
pub struct IssuedRefresh {
    pub token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// The result of a successful sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub roles: Vec<RoleName>,
    pub access: IssuedToken,
    pub refresh: IssuedRefresh,
}

/// The result of a successful refresh.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub access: IssuedToken,
    pub refresh: IssuedRefresh,
}

/// What the authentication use cases depend on.
#[derive(Clone)]
pub struct AuthDeps {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub refresh: Arc<dyn RefreshSecrets>,
    pub clock: Arc<dyn Clock>,
}

/// Sign-up, sign-in, refresh and sign-out.
#[derive(Clone)]
pub struct AuthService {
    deps: AuthDeps,
    policy: AuthPolicy,
}

/// Longest refresh token looked up; anything longer is refused unhashed.
const MAX_REFRESH_LEN: usize = 512;

impl AuthService {
    pub fn new(deps: AuthDeps, policy: AuthPolicy) -> Self {
        Self { deps, policy }
    }

    pub fn policy(&self) -> &AuthPolicy {
        &self.policy
    }

    /// Registers a user. Cheap checks (policy, roles, duplicates) run before
    /// the expensive hash; the database's unique indexes still decide races.
    pub async fn sign_up(&self, req: SignUp) -> Result<UserId, AuthError> {
        let users = &self.deps.users;
        let roles = self.policy.roles_for(req.roles)?;
        if let Some(missing) = users.missing_roles(&roles).await?.into_iter().next() {
            return Err(AuthError::UnknownRole(missing.to_string()));
        }
        match users.find_conflict(&req.username, &req.email).await? {
            Some(UniqueField::Email) => return Err(AuthError::EmailTaken),
            Some(_) => return Err(AuthError::UsernameTaken),
            None => {}
        }
        let password_hash = self.deps.hasher.hash(&req.password).await?;
        let id = users
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

    /// Checks a username and password and opens a session: an access token
    /// and the first refresh token of a new family.
    ///
    /// An unknown (or unparsable) username costs one dummy hash verification
    /// and gives the same error as a wrong password: no user enumeration.
    /// Not rate-limited by itself: callers go through `Throttle::sign_in`.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &Password,
    ) -> Result<SignedIn, AuthError> {
        let login = match Username::parse(username) {
            Ok(name) => self.deps.users.find_login(&name).await?,
            Err(_) => None,
        };
        let verified = self
            .deps
            .hasher
            .verify(password, login.as_ref().map(|u| &u.password_hash))
            .await?;
        let login = match login {
            Some(l) if verified => l,
            _ => return Err(AuthError::InvalidCredentials),
        };
        if login.disabled {
            return Err(AuthError::AccountDisabled);
        }
        // Roles and permissions only now: a failed attempt never reads them.
        let (roles, permissions) = self.deps.users.grants_of(login.id).await?;
        let user = UserCredentials {
            id: login.id,
            username: login.username,
            email: login.email,
            password_hash: login.password_hash,
            roles,
            permissions,
            disabled: false,
        };
        let access = self.issue_access(&user)?;
        let now = self.deps.clock.now();
        let token = self.deps.refresh.generate();
        let expires_at = now + chrono::Duration::seconds(self.policy.refresh_ttl_secs);
        self.deps
            .sessions
            .insert_refresh(NewRefreshToken {
                family: self.deps.refresh.new_family_id(),
                user_id: user.id,
                token_hash: self.deps.refresh.hash(&token),
                generation: 0,
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(SignedIn {
            id: user.id,
            username: user.username,
            email: user.email,
            roles: user.roles,
            access,
            refresh: IssuedRefresh {
                token,
                expires_in: seconds_until(now, expires_at),
            },
        })
    }

    /// Exchanges a refresh token for a new access token and its successor.
    ///
    /// Every use rotates. Presenting a token that was already rotated revokes
    /// its whole family — except once, within the grace window, when it gets
    /// the same successor as the first use (two tabs refreshing at once).
    /// Roles and the account's status are read fresh from the database.
    pub async fn refresh(&self, presented: &str) -> Result<Refreshed, AuthError> {
        if presented.is_empty() || presented.len() > MAX_REFRESH_LEN {
            return Err(AuthError::RefreshInvalid);
        }
        let now = self.deps.clock.now();
        let hash = self.deps.refresh.hash(presented);
        let sessions = &self.deps.sessions;
        let Some(record) = sessions.find_refresh(&hash).await? else {
            return Err(AuthError::RefreshInvalid);
        };
        if record.revoked || record.expires_at <= now {
            return Err(AuthError::RefreshInvalid);
        }
        let (token, expires_at) = if record.rotated_at.is_none() {
            let next = self.deps.refresh.generate();
            let expires_at = now + chrono::Duration::seconds(self.policy.refresh_ttl_secs);
            let successor = NewRefreshToken {
                family: record.family.clone(),
                user_id: record.user_id,
                token_hash: self.deps.refresh.hash(&next),
                generation: record.generation + 1,
                created_at: now,
                expires_at,
            };
            let sealed = self.deps.refresh.seal(&next, presented);
            if sessions
                .rotate_refresh(record.id, now, sealed, successor)
                .await?
            {
                (next, expires_at)
            } else {
                // Another request rotated it a moment ago: take the grace path.
                let again = sessions
                    .find_refresh(&hash)
                    .await?
                    .ok_or(AuthError::RefreshInvalid)?;
                self.successor_within_grace(&again, presented, now).await?
            }
        } else {
            self.successor_within_grace(&record, presented, now).await?
        };

        let user = self.deps.users.find_by_id(record.user_id).await?;
        let user = match user {
            Some(u) if !u.disabled => u,
            other => {
                sessions.revoke_family(&record.family, now).await?;
                return Err(if other.is_some() {
                    AuthError::AccountDisabled
                } else {
                    AuthError::RefreshInvalid
                });
            }
        };
        Ok(Refreshed {
            access: self.issue_access(&user)?,
            refresh: IssuedRefresh {
                token,
                expires_in: seconds_until(now, expires_at),
            },
        })
    }

    /// The successor of an already-rotated token, if this is the one extra use
    /// the grace window allows; otherwise reuse: the family is revoked.
    async fn successor_within_grace(
        &self,
        record: &RefreshRecord,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), AuthError> {
        let sessions = &self.deps.sessions;
        let grace = chrono::Duration::seconds(self.policy.refresh_grace_secs);
        let within = record.rotated_at.is_some_and(|at| now - at <= grace);
        if within
            && let Some(next) = sessions
                .find_generation(&record.family, record.generation + 1)
                .await?
            && next.rotated_at.is_none()
            && !next.revoked
            && next.expires_at > now
            && let Some(token) = record
                .successor_sealed
                .as_deref()
                .and_then(|sealed| self.deps.refresh.open(sealed, presented))
            && self.deps.refresh.hash(&token) == next.token_hash
            && sessions.claim_grace(record.id).await?
        {
            return Ok((token, next.expires_at));
        }
        let revoked = sessions.revoke_family(&record.family, now).await?;
        tracing::warn!(
            user_id = %record.user_id,
            family = %record.family,
            revoked,
            "refresh token reuse detected: the session is revoked"
        );
        Err(AuthError::RefreshInvalid)
    }

    /// Ends the session a refresh token belongs to. Unknown tokens are
    /// ignored (sign-out is idempotent and reveals nothing).
    pub async fn sign_out(&self, presented: &str) -> Result<(), AuthError> {
        if presented.is_empty() || presented.len() > MAX_REFRESH_LEN {
            return Ok(());
        }
        let hash = self.deps.refresh.hash(presented);
        if let Some(record) = self.deps.sessions.find_refresh(&hash).await? {
            self.deps
                .sessions
                .revoke_family(&record.family, self.deps.clock.now())
                .await?;
        }
        Ok(())
    }

    /// Ends every session of a user; returns how many tokens were revoked.
    pub async fn sign_out_all(&self, user: UserId) -> Result<u64, AuthError> {
        Ok(self
            .deps
            .sessions
            .revoke_user_sessions(user, self.deps.clock.now())
            .await?)
    }

    /// Deletes expired refresh tokens; returns how many.
    pub async fn purge_expired_sessions(&self) -> Result<u64, AuthError> {
        Ok(self
            .deps
            .sessions
            .purge_expired(self.deps.clock.now())
            .await?)
    }

    fn issue_access(&self, user: &UserCredentials) -> Result<IssuedToken, AuthError> {
        self.deps
            .tokens
            .issue_access(&AccessSubject {
                user_id: user.id,
                username: user.username.clone(),
                roles: user.roles.clone(),
                permissions: user.permissions.clone(),
            })
            .map_err(|e| AuthError::Internal(e.to_string()))
    }
}

fn seconds_until(now: DateTime<Utc>, then: DateTime<Utc>) -> u64 {
    u64::try_from((then - now).num_seconds()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> Option<Vec<RoleName>> {
        Some(names.iter().map(|n| RoleName::parse(n).unwrap()).collect())
    }

    #[test]
    fn default_role_is_user() {
        let p = AuthPolicy::default();
        assert_eq!(p.roles_for(None).unwrap(), vec![RoleName::user()]);
        assert_eq!(p.roles_for(Some(vec![])).unwrap(), vec![RoleName::user()]);
    }

    #[test]
    fn closed_policy_refuses_elevated_roles() {
        let p = AuthPolicy {
            open_role_signup: false,
            ..AuthPolicy::default()
        };
        assert!(p.roles_for(roles(&["user"])).is_ok());
        match p.roles_for(roles(&["user", "admin"])) {
            Err(AuthError::RoleNotAllowed(r)) => assert_eq!(r, "admin"),
            other => panic!("expected RoleNotAllowed, got {other:?}"),
        }
    }

    #[test]
    fn open_policy_grants_requested_roles_deduplicated() {
        let p = AuthPolicy {
            open_role_signup: true,
            ..AuthPolicy::default()
        };
        let got = p
            .roles_for(roles(&["admin", "moderator", "admin"]))
            .unwrap();
        assert_eq!(got, vec![RoleName::admin(), RoleName::moderator()]);
    }
}

#[cfg(test)]
mod sign_in_reads {
    //! What a sign-in reads: a failed attempt reads the same for a known
    //! and an unknown user (one login look-up), never roles or permissions.
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::error::StoreError;
    use crate::ports::{HashError, LoginRecord, SystemClock, TokenError};
    use crate::types::PasswordHash;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<&'static str>>);
    impl Recorder {
        fn hit(&self, what: &'static str) {
            self.0.lock().unwrap().push(what);
        }
        fn take(&self) -> Vec<&'static str> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    struct Users(Arc<Recorder>);
    fn ann() -> UserCredentials {
        UserCredentials {
            id: UserId(1),
            username: "ann".into(),
            email: "ann@example.com".into(),
            password_hash: PasswordHash::new("right".into()),
            roles: vec![RoleName::user()],
            permissions: vec![],
            disabled: false,
        }
    }
    #[async_trait]
    impl UserStore for Users {
        async fn create_user(&self, _: NewUser) -> Result<UserId, StoreError> {
            Err(StoreError::Internal("unused".into()))
        }
        async fn find_conflict(
            &self,
            _: &Username,
            _: &Email,
        ) -> Result<Option<UniqueField>, StoreError> {
            Ok(None)
        }
        async fn find_login(&self, name: &Username) -> Result<Option<LoginRecord>, StoreError> {
            self.0.hit("find_login");
            Ok((name.key() == "ann").then(|| LoginRecord {
                id: UserId(1),
                username: "ann".into(),
                email: "ann@example.com".into(),
                password_hash: PasswordHash::new("right".into()),
                disabled: false,
            }))
        }
        async fn grants_of(
            &self,
            _: UserId,
        ) -> Result<(Vec<RoleName>, Vec<crate::types::Permission>), StoreError> {
            self.0.hit("grants_of");
            Ok((ann().roles, ann().permissions))
        }
        async fn find_by_id(&self, _: UserId) -> Result<Option<UserCredentials>, StoreError> {
            self.0.hit("find_by_id");
            Ok(Some(ann()))
        }
        async fn missing_roles(&self, _: &[RoleName]) -> Result<Vec<RoleName>, StoreError> {
            Ok(vec![])
        }
    }

    /// "Hashes" compare the password with the stored string; `None` is the dummy.
    struct PlainHasher;
    #[async_trait]
    impl PasswordHasher for PlainHasher {
        async fn hash(&self, p: &Password) -> Result<PasswordHash, HashError> {
            Ok(PasswordHash::new(p.expose().into()))
        }
        async fn verify(&self, p: &Password, h: Option<&PasswordHash>) -> Result<bool, HashError> {
            Ok(h.is_some_and(|h| h.as_str() == p.expose()))
        }
    }

    struct Sessions;
    #[async_trait]
    impl SessionStore for Sessions {
        async fn insert_refresh(&self, _: NewRefreshToken) -> Result<(), StoreError> {
            Ok(())
        }
        async fn find_refresh(&self, _: &str) -> Result<Option<RefreshRecord>, StoreError> {
            Ok(None)
        }
        async fn rotate_refresh(
            &self,
            _: i64,
            _: DateTime<Utc>,
            _: String,
            _: NewRefreshToken,
        ) -> Result<bool, StoreError> {
            Ok(false)
        }
        async fn find_generation(
            &self,
            _: &str,
            _: i32,
        ) -> Result<Option<RefreshRecord>, StoreError> {
            Ok(None)
        }
        async fn claim_grace(&self, _: i64) -> Result<bool, StoreError> {
            Ok(false)
        }
        async fn revoke_family(&self, _: &str, _: DateTime<Utc>) -> Result<u64, StoreError> {
            Ok(0)
        }
        async fn revoke_user_sessions(
            &self,
            _: UserId,
            _: DateTime<Utc>,
        ) -> Result<u64, StoreError> {
            Ok(0)
        }
        async fn purge_expired(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    struct Tokens;
    impl TokenIssuer for Tokens {
        fn issue_access(&self, _: &AccessSubject) -> Result<IssuedToken, TokenError> {
            Ok(IssuedToken {
                token: "t".into(),
                expires_in: 60,
            })
        }
    }

    struct Secrets;
    impl RefreshSecrets for Secrets {
        fn generate(&self) -> String {
            "r".into()
        }
        fn new_family_id(&self) -> String {
            "f".into()
        }
        fn hash(&self, t: &str) -> String {
            t.into()
        }
        fn seal(&self, s: &str, _: &str) -> String {
            s.into()
        }
        fn open(&self, s: &str, _: &str) -> Option<String> {
            Some(s.into())
        }
    }

    #[tokio::test]
    async fn failed_sign_ins_read_the_same_for_known_and_unknown_users() {
        let reads = Arc::new(Recorder::default());
        let auth = AuthService::new(
            AuthDeps {
                users: Arc::new(Users(reads.clone())),
                sessions: Arc::new(Sessions),
                hasher: Arc::new(PlainHasher),
                tokens: Arc::new(Tokens),
                refresh: Arc::new(Secrets),
                clock: Arc::new(SystemClock),
            },
            AuthPolicy::default(),
        );
        let wrong = Password::parse("wrong password").unwrap();
        for who in ["ann", "nobody"] {
            assert!(matches!(
                auth.sign_in(who, &wrong).await,
                Err(AuthError::InvalidCredentials)
            ));
            assert_eq!(reads.take(), vec!["find_login"], "{who}");
        }
        let right = Password::parse_presented("right").unwrap();
        let signed_in = auth.sign_in("ann", &right).await.unwrap();
        assert_eq!(signed_in.roles, vec![RoleName::user()]);
        assert_eq!(reads.take(), vec!["find_login", "grants_of"]);
    }
}
