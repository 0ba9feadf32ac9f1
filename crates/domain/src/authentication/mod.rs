//! Authentication: sign-up and sign-in. Sessions (refresh, sign-out) are
//! in [`crate::sessions`]; the rate limits around these use cases in
//! [`crate::throttle`].

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::accounts::TokenMail;
use crate::clock::Clock;
use crate::dedup;
use crate::error::Error;
use crate::mfa::{AuthMethod, FactorSecrets, MfaStore, SignInStep};
use crate::roles::RoleName;
use crate::sessions::{ClientInfo, NewRefreshToken, RefreshSecrets, SessionStore};
use crate::tokens::{AccessSubject, IssuedToken, TokenIssuer};
use crate::users::register::{Registration, register};
use crate::users::{Email, LoginRecord, Password, PasswordHasher, UserId, UserStore, Username};

#[cfg(test)]
mod tests;

/// What the use cases allow and for how long.
#[derive(Debug, Clone, Copy)]
pub struct AuthPolicy {
    /// When on, sign-up grants any requested role (the tutorial's behaviour).
    /// When off (the default), only `user`; asking for more is refused.
    pub open_role_signup: bool,
    /// Refresh-token lifetime in seconds (each rotation starts a new one).
    pub refresh_ttl_secs: i64,
    /// How long after a rotation the previous token may still be presented
    /// (several tabs refreshing at once) and get the same successor.
    pub refresh_grace_secs: i64,
    /// Live sessions a user may hold; a sign-in beyond it revokes the least
    /// recently used ones. 0: no limit.
    pub max_sessions_per_user: u32,
    /// Refuse sign-in (after the password checked out) while the account's
    /// e-mail address is not verified.
    pub require_verified_email: bool,
    /// Refuse new passwords found in the common-password list or built on
    /// the username or e-mail (off in the tutorial's compat profile, which
    /// keeps its 8-character rule only).
    pub screen_passwords: bool,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        Self {
            open_role_signup: false,
            refresh_ttl_secs: 7 * 24 * 3600,
            refresh_grace_secs: 5,
            max_sessions_per_user: 50,
            require_verified_email: false,
            screen_passwords: true,
        }
    }
}

impl AuthPolicy {
    /// The roles a new account gets: `user` when none were asked for,
    /// otherwise the requested roles, de-duplicated, if the policy allows them.
    pub fn roles_for(&self, requested: Option<Vec<RoleName>>) -> Result<Vec<RoleName>, Error> {
        let requested = requested.unwrap_or_default();
        if requested.is_empty() {
            return Ok(vec![RoleName::user()]);
        }
        let roles = dedup(&requested);
        if !self.open_role_signup {
            let refused: Vec<RoleName> = roles
                .iter()
                .filter(|r| r.as_str() != RoleName::USER)
                .cloned()
                .collect();
            if !refused.is_empty() {
                return Err(Error::RoleNotAllowed(refused));
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
    /// The verification link and its mail
    /// ([`AccountService::welcome`](crate::accounts::AccountService::welcome)),
    /// stored with the account.
    pub welcome: Option<TokenMail>,
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
    /// The session's id (the `sid` of its access tokens).
    pub session: String,
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
    /// Second factors: their storage and arithmetic.
    pub mfa: Arc<dyn MfaStore>,
    pub factors: Arc<dyn FactorSecrets>,
}

/// Sign-up, sign-in, refresh and sign-out.
#[derive(Clone)]
pub struct AuthService {
    pub(crate) deps: AuthDeps,
    pub(crate) policy: AuthPolicy,
    pub(crate) counters: Arc<SessionCounters>,
}

/// What refreshes did since start, counted where the domain decides it
/// (shared by every clone of the service); the server exports them as metrics.
#[derive(Debug, Default)]
pub struct SessionCounters {
    pub(crate) rotations: std::sync::atomic::AtomicU64,
    pub(crate) reuse_detected: std::sync::atomic::AtomicU64,
}

/// A reading of [`SessionCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionCounts {
    /// Refresh tokens rotated (a successor issued for an unused token).
    pub rotations: u64,
    /// Reuse of a rotated refresh token detected (its session revoked).
    pub reuse_detected: u64,
}

impl SessionCounters {
    pub(crate) fn count(counter: &std::sync::atomic::AtomicU64) {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl AuthService {
    pub fn new(deps: AuthDeps, policy: AuthPolicy) -> Self {
        Self {
            deps,
            policy,
            counters: Arc::default(),
        }
    }

    /// Refresh rotations and detected reuse since start.
    pub fn session_counts(&self) -> SessionCounts {
        use std::sync::atomic::Ordering::Relaxed;
        SessionCounts {
            rotations: self.counters.rotations.load(Relaxed),
            reuse_detected: self.counters.reuse_detected.load(Relaxed),
        }
    }

    /// Registers a user with the roles the policy allows. Not rate-limited
    /// by itself: callers go through `Throttle::sign_up`.
    pub async fn sign_up(&self, req: SignUp) -> Result<UserId, Error> {
        let roles = self.policy.roles_for(req.roles)?;
        if self.policy.screen_passwords {
            req.password
                .screen(req.username.as_str(), req.email.as_str())
                .map_err(|m| Error::invalid("password", m))?;
        }
        let id = register(
            self.deps.users.as_ref(),
            self.deps.hasher.as_ref(),
            self.deps.clock.as_ref(),
            Registration {
                username: req.username,
                email: req.email,
                password: req.password,
                roles,
                email_verified: false,
                welcome: req.welcome,
            },
            None,
        )
        .await?;
        tracing::info!(user_id = %id, "user signed up");
        Ok(id)
    }

    /// Checks a username and password and opens a session: an access token
    /// and the first refresh token of a new family — or, for a user with a
    /// second factor, a challenge for the second step
    /// ([`AuthService::finish_second_factor`]).
    ///
    /// An unknown (or unparsable) username costs one dummy hash verification
    /// and gives the same error as a wrong password: no user enumeration.
    /// With `require_verified_email`, an unverified account is refused once
    /// its password checked out. Not rate-limited by itself: callers go
    /// through `Throttle::sign_in`.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<SignInStep, Error> {
        let login = self.check_password(username, password).await?;
        if self.policy.require_verified_email && !login.email_verified {
            return Err(Error::EmailNotVerified);
        }
        self.after_password(&login, client).await
    }

    /// Checks a username and password: the account, if the password is
    /// right and the account enabled. A hash made with weaker parameters
    /// than today's is replaced (rehash-on-login). Not rate-limited by
    /// itself: callers go through `Throttle`.
    pub async fn check_password(
        &self,
        username: &str,
        password: &Password,
    ) -> Result<LoginRecord, Error> {
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
            _ => return Err(Error::InvalidCredentials),
        };
        if login.disabled {
            return Err(Error::AccountDisabled);
        }
        if self.deps.hasher.needs_rehash(&login.password_hash) {
            self.rehash(&login, password).await;
        }
        Ok(login)
    }

    /// Replaces an outdated hash; a failure is logged (the next sign-in tries again).
    async fn rehash(&self, login: &LoginRecord, password: &Password) {
        let outcome = match self.deps.hasher.hash(password).await {
            Ok(new_hash) => self
                .deps
                .users
                .replace_password_hash(login.id, &login.password_hash, new_hash)
                .await
                .map_err(Error::from),
            Err(e) => Err(e.into()),
        };
        match outcome {
            Ok(true) => {
                tracing::info!(user_id = %login.id, "password re-hashed with today's parameters")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(user_id = %login.id, error = %e, "re-hashing a password failed")
            }
        }
    }

    /// Opens a session for an account whose password checked out: an
    /// access token (with the session's id) and the first refresh token of
    /// a new family; beyond the session cap, the least recently used go.
    /// `amr`: how the holder proved who they are (kept by refreshes).
    pub async fn open_session(
        &self,
        login: &LoginRecord,
        client: &ClientInfo,
        amr: &[AuthMethod],
    ) -> Result<SignedIn, Error> {
        // Roles and permissions only now: a failed attempt never reads them.
        let (roles, permissions) = self.deps.users.grants_of(login.id).await?;
        let family = self.deps.refresh.new_family_id();
        let access = self.deps.tokens.issue_access(&AccessSubject {
            user_id: login.id,
            username: login.username.clone(),
            roles: roles.clone(),
            permissions,
            session: Some(family.clone()),
            amr: amr.to_vec(),
        })?;
        let now = self.deps.clock.now();
        let token = self.deps.refresh.generate();
        let expires_at = now + chrono::Duration::seconds(self.policy.refresh_ttl_secs);
        let sessions = &self.deps.sessions;
        sessions
            .insert_refresh(NewRefreshToken {
                family: family.clone(),
                user_id: login.id,
                token_hash: self.deps.refresh.hash(&token),
                generation: 0,
                created_at: now,
                expires_at,
                session_started_at: now,
                client: client.clone(),
                amr: amr.to_vec(),
            })
            .await?;
        let keep = self.policy.max_sessions_per_user;
        if keep > 0 {
            let revoked = sessions.revoke_sessions_beyond(login.id, keep, now).await?;
            if revoked > 0 {
                tracing::info!(
                    user_id = %login.id,
                    revoked,
                    max_sessions = keep,
                    "session cap reached: the least recently used sessions were revoked"
                );
            }
        }
        Ok(SignedIn {
            id: login.id,
            username: login.username.clone(),
            email: login.email.clone(),
            roles,
            access,
            refresh: IssuedRefresh {
                token,
                expires_in: seconds_until(now, expires_at),
            },
            session: family,
        })
    }
}

pub(crate) fn seconds_until(now: DateTime<Utc>, then: DateTime<Utc>) -> u64 {
    u64::try_from((then - now).num_seconds()).unwrap_or(0)
}
