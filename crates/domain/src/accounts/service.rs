//! The lifecycle's use cases. Each one that changes something writes its
//! audit event and its mails in the change's transaction.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::{
    AccountStore, AccountToken, NewAccountToken, PasswordChange, SessionInfo, TokenPurpose,
};
use crate::admin::{AdminStore, Change};
use crate::audit::NewAuditEvent;
use crate::authentication::{AuthService, SignedIn};
use crate::clock::Clock;
use crate::error::{Error, StoreError};
use crate::mail::{MailComposer, MailKind, Message, NewMail};
use crate::sessions::{ClientInfo, RefreshSecrets};
use crate::throttle::Throttle;
use crate::users::{Email, Password, PasswordHasher, UserId};

/// The longest token accepted from a link (ours are 43 characters).
const MAX_TOKEN_LEN: usize = 256;

/// Lifetimes and rules of the lifecycle.
#[derive(Debug, Clone, Copy)]
pub struct AccountPolicy {
    /// How long a password-reset link works, in seconds.
    pub reset_ttl_secs: i64,
    /// How long an e-mail verification or change link works, in seconds.
    pub email_ttl_secs: i64,
    /// Screen new passwords against the common-password list and the
    /// account's name and address.
    pub screen_passwords: bool,
}

impl Default for AccountPolicy {
    fn default() -> Self {
        Self {
            reset_ttl_secs: 30 * 60,
            email_ttl_secs: 24 * 3600,
            screen_passwords: true,
        }
    }
}

/// What the lifecycle's use cases depend on.
#[derive(Clone)]
pub struct AccountDeps {
    pub accounts: Arc<dyn AccountStore>,
    pub admin: Arc<dyn AdminStore>,
    pub hasher: Arc<dyn PasswordHasher>,
    /// Makes and hashes the tokens of links (as it does refresh tokens).
    pub secrets: Arc<dyn RefreshSecrets>,
    pub composer: Arc<dyn MailComposer>,
    pub clock: Arc<dyn Clock>,
}

/// Password change and reset, e-mail verification and change, sessions, leaving.
#[derive(Clone)]
pub struct AccountService {
    deps: AccountDeps,
    policy: AccountPolicy,
    auth: AuthService,
    throttle: Throttle,
}

/// A new password as submitted, checked against the account.
fn new_password(raw: &str, username: &str, email: &str, screen: bool) -> Result<Password, Error> {
    let password = Password::parse(raw).map_err(|m| Error::invalid("newPassword", m))?;
    if screen {
        password
            .screen(username, email)
            .map_err(|m| Error::invalid("newPassword", m))?;
    }
    Ok(password)
}

/// A link's token consumed by a concurrent request reads as any used token.
fn used_meanwhile(e: StoreError) -> Error {
    match e {
        StoreError::Stale => Error::InvalidToken,
        other => other.into(),
    }
}

pub(crate) fn event(
    at: DateTime<Utc>,
    user: UserId,
    username: &str,
    action: &str,
    detail: String,
) -> NewAuditEvent {
    NewAuditEvent {
        at,
        actor_id: Some(user),
        actor: username.to_owned(),
        action: action.to_owned(),
        target: format!("user:{user}"),
        detail,
    }
}

impl AccountService {
    pub fn new(
        deps: AccountDeps,
        policy: AccountPolicy,
        auth: AuthService,
        throttle: Throttle,
    ) -> Self {
        Self {
            deps,
            policy,
            auth,
            throttle,
        }
    }

    fn mail(&self, message: &Message) -> Result<NewMail, Error> {
        NewMail::compose(self.deps.composer.as_ref(), message, self.deps.clock.now())
    }

    /// A fresh link token and what is stored of it.
    fn token(
        &self,
        purpose: TokenPurpose,
        email: Option<&str>,
        ttl_secs: i64,
    ) -> (String, NewAccountToken) {
        let token = self.deps.secrets.generate();
        let now = self.deps.clock.now();
        let stored = NewAccountToken {
            purpose,
            token_hash: self.deps.secrets.hash(&token),
            email: email.map(str::to_owned),
            created_at: now,
            expires_at: now + Duration::seconds(ttl_secs),
        };
        (token, stored)
    }

    /// The token a link presents, if it is live: unknown, used, voided or
    /// expired tokens are all `InvalidToken`.
    async fn live_token(
        &self,
        purpose: TokenPurpose,
        presented: &str,
    ) -> Result<AccountToken, Error> {
        if presented.is_empty() || presented.len() > MAX_TOKEN_LEN {
            return Err(Error::InvalidToken);
        }
        let hash = self.deps.secrets.hash(presented);
        match self.deps.accounts.find_token(purpose, &hash).await? {
            Some(t) if !t.used && t.expires_at > self.deps.clock.now() => Ok(t),
            _ => Err(Error::InvalidToken),
        }
    }

    /// The signed-in caller's account.
    async fn caller(&self, user: UserId) -> Result<super::Account, Error> {
        match self.deps.accounts.account(user).await? {
            Some(a) if a.disabled => Err(Error::AccountDisabled),
            Some(a) => Ok(a),
            None => Err(Error::ActorGone),
        }
    }

    /// Changes the caller's password: the current one is checked under the
    /// sign-in limits, the new one screened; every other session is revoked
    /// and a new one opened (its tokens are the answer) with the methods
    /// `amr` of the caller's session; a notice is mailed.
    pub async fn change_password(
        &self,
        user: UserId,
        current: &Password,
        new_raw: &str,
        client: &ClientInfo,
        amr: &[crate::mfa::AuthMethod],
    ) -> Result<SignedIn, Error> {
        let account = self.caller(user).await?;
        let new = new_password(
            new_raw,
            &account.username,
            &account.email,
            self.policy.screen_passwords,
        )?;
        if new.expose() == current.expose() {
            return Err(Error::invalid(
                "newPassword",
                "must differ from the current password",
            ));
        }
        let login = self
            .throttle
            .reauthenticate(&self.auth, &account.username, current, &client.addr)
            .await?;
        // Read again: the check may have re-hashed the password.
        let account = self.caller(login.id).await?;
        let new_hash = self.deps.hasher.hash(&new).await?;
        let signed_in = self.auth.open_session(&login, client, amr).await?;
        let now = self.deps.clock.now();
        let notice = self.mail(&Message::new(
            MailKind::PasswordChanged,
            &account.email,
            &account.username,
        ))?;
        let changed = self
            .deps
            .accounts
            .set_password(PasswordChange {
                user,
                expected: account.password_hash,
                new_hash,
                consumes: None,
                keep_session: Some(signed_in.session.clone()),
                at: now,
                audit: event(
                    now,
                    user,
                    &account.username,
                    "user.password.change",
                    "{}".into(),
                ),
                mails: vec![notice],
            })
            .await;
        if let Err(e) = changed {
            if let Err(close) = self
                .deps
                .accounts
                .end_session(user, &signed_in.session, now)
                .await
            {
                tracing::warn!(error = %close, "closing the session of a failed password change failed");
            }
            return Err(e.into());
        }
        tracing::info!(user_id = %user, "audit: password changed; other sessions revoked");
        Ok(signed_in)
    }

    /// Mails a reset link if `email` is an enabled account's address; does
    /// nothing otherwise. Callers answer the same either way and run this
    /// off the request (same cost for known and unknown addresses).
    pub async fn forgot_password(&self, email: &Email) -> Result<(), Error> {
        let Some(account) = self.deps.accounts.account_by_email(email.as_str()).await? else {
            tracing::info!("password reset asked for an unknown address: nothing sent");
            return Ok(());
        };
        if account.disabled {
            tracing::info!(user_id = %account.id, "password reset asked for a disabled account: nothing sent");
            return Ok(());
        }
        let (token, stored) = self.token(TokenPurpose::Reset, None, self.policy.reset_ttl_secs);
        let mail = self.mail(
            &Message::new(MailKind::PasswordReset, &account.email, &account.username)
                .with_token(&token),
        )?;
        self.deps
            .accounts
            .issue_token(account.id, stored, vec![mail])
            .await?;
        tracing::info!(user_id = %account.id, "password reset link queued");
        Ok(())
    }

    /// Sets a new password with a reset link's token: single-use; revokes
    /// every session and lifts the sign-in lockout.
    pub async fn reset_password(&self, presented: &str, new_raw: &str) -> Result<(), Error> {
        Password::parse(new_raw).map_err(|m| Error::invalid("newPassword", m))?;
        let token = self.live_token(TokenPurpose::Reset, presented).await?;
        let account = self
            .deps
            .accounts
            .account(token.user_id)
            .await?
            .ok_or(Error::InvalidToken)?;
        let new = new_password(
            new_raw,
            &account.username,
            &account.email,
            self.policy.screen_passwords,
        )?;
        let new_hash = self.deps.hasher.hash(&new).await?;
        let now = self.deps.clock.now();
        let notice = self.mail(&Message::new(
            MailKind::PasswordChanged,
            &account.email,
            &account.username,
        ))?;
        self.deps
            .accounts
            .set_password(PasswordChange {
                user: account.id,
                expected: account.password_hash,
                new_hash,
                consumes: Some(token.id),
                keep_session: None,
                at: now,
                audit: event(
                    now,
                    account.id,
                    &account.username,
                    "user.password.reset",
                    "{}".into(),
                ),
                mails: vec![notice],
            })
            .await
            .map_err(used_meanwhile)?;
        self.throttle.clear_lockout(&account.username).await;
        tracing::info!(user_id = %account.id, "audit: password reset; every session revoked");
        Ok(())
    }

    /// The verification mail of a new account: its token and mail, to be
    /// stored with the account.
    pub fn welcome(&self, username: &str, email: &Email) -> Result<super::TokenMail, Error> {
        let (token, stored) = self.token(
            TokenPurpose::Verify,
            Some(email.as_str()),
            self.policy.email_ttl_secs,
        );
        let mail = self.mail(
            &Message::new(MailKind::VerifyEmail, email.as_str(), username).with_token(&token),
        )?;
        Ok(super::TokenMail {
            token: stored,
            mail,
        })
    }

    /// Verifies the address a link was sent to (if it still is the account's).
    pub async fn verify_email(&self, presented: &str) -> Result<(), Error> {
        let token = self.live_token(TokenPurpose::Verify, presented).await?;
        let now = self.deps.clock.now();
        let account = self
            .deps
            .accounts
            .account(token.user_id)
            .await?
            .ok_or(Error::InvalidToken)?;
        self.deps
            .accounts
            .verify_email(
                &token,
                now,
                event(
                    now,
                    account.id,
                    &account.username,
                    "user.email.verify",
                    "{}".into(),
                ),
            )
            .await
            .map_err(used_meanwhile)?;
        tracing::info!(user_id = %account.id, "audit: e-mail address verified");
        Ok(())
    }

    /// Mails a new verification link to the caller's address.
    pub async fn resend_verification(&self, user: UserId, client: &str) -> Result<(), Error> {
        let account = self.caller(user).await?;
        if account.email_verified {
            return Err(Error::AlreadyVerified);
        }
        self.throttle
            .mail_request(client, &format!("user:{user}"))
            .await?;
        let email = account.email.clone();
        let (token, stored) = self.token(
            TokenPurpose::Verify,
            Some(&email),
            self.policy.email_ttl_secs,
        );
        let mail = self.mail(
            &Message::new(MailKind::VerifyEmail, &email, &account.username).with_token(&token),
        )?;
        self.deps
            .accounts
            .issue_token(user, stored, vec![mail])
            .await?;
        Ok(())
    }

    /// Asks to move the caller's account to `new_email`: the password is
    /// checked under the sign-in limits; a link goes to the new address and
    /// a notice to the current one. Nothing changes until the link is used.
    pub async fn request_email_change(
        &self,
        user: UserId,
        new_email: &Email,
        password: &Password,
        client: &str,
    ) -> Result<(), Error> {
        let account = self.caller(user).await?;
        if new_email.as_str() == account.email {
            return Err(Error::invalid(
                "newEmail",
                "is the account's address already",
            ));
        }
        self.throttle
            .reauthenticate(&self.auth, &account.username, password, client)
            .await?;
        self.throttle
            .mail_request(client, new_email.as_str())
            .await?;
        if self
            .deps
            .accounts
            .account_by_email(new_email.as_str())
            .await?
            .is_some()
        {
            return Err(Error::EmailTaken);
        }
        let (token, stored) = self.token(
            TokenPurpose::EmailChange,
            Some(new_email.as_str()),
            self.policy.email_ttl_secs,
        );
        let confirm = self.mail(
            &Message::new(
                MailKind::ConfirmEmailChange,
                new_email.as_str(),
                &account.username,
            )
            .with_token(&token)
            .with_new_email(new_email.as_str()),
        )?;
        let notice = self.mail(
            &Message::new(
                MailKind::EmailChangeRequested,
                &account.email,
                &account.username,
            )
            .with_new_email(new_email.as_str()),
        )?;
        self.deps
            .accounts
            .issue_token(user, stored, vec![confirm, notice])
            .await?;
        tracing::info!(user_id = %user, "e-mail change requested: confirmation link queued");
        Ok(())
    }

    /// Moves the account to the address the link was sent to (409 if it was
    /// taken meanwhile).
    pub async fn confirm_email_change(&self, presented: &str) -> Result<(), Error> {
        let token = self
            .live_token(TokenPurpose::EmailChange, presented)
            .await?;
        let now = self.deps.clock.now();
        let account = self
            .deps
            .accounts
            .account(token.user_id)
            .await?
            .ok_or(Error::InvalidToken)?;
        let detail = serde_json::json!({"from": account.email, "to": token.email}).to_string();
        self.deps
            .accounts
            .change_email(
                &token,
                now,
                event(
                    now,
                    account.id,
                    &account.username,
                    "user.email.change",
                    detail,
                ),
                Vec::new(),
            )
            .await
            .map_err(used_meanwhile)?;
        tracing::info!(user_id = %account.id, "audit: e-mail address changed");
        Ok(())
    }

    /// Deletes link tokens that expired or were used more than a day ago
    /// (kept that long so a second click still reads "used", not "unknown").
    pub async fn purge_expired_tokens(&self) -> Result<u64, Error> {
        let before = self.deps.clock.now() - Duration::days(1);
        Ok(self.deps.accounts.purge_tokens(before).await?)
    }

    /// The caller's live sessions, the most recently used first.
    pub async fn sessions(&self, user: UserId) -> Result<Vec<SessionInfo>, Error> {
        Ok(self
            .deps
            .accounts
            .sessions_of(user, self.deps.clock.now())
            .await?)
    }

    /// Ends one of the caller's sessions (`SessionNotFound` for anyone else's).
    pub async fn end_session(&self, user: UserId, session: &str) -> Result<(), Error> {
        if session.is_empty() || session.len() > 128 {
            return Err(Error::SessionNotFound);
        }
        if self
            .deps
            .accounts
            .end_session(user, session, self.deps.clock.now())
            .await?
        {
            tracing::info!(user_id = %user, "session ended by its owner");
            Ok(())
        } else {
            Err(Error::SessionNotFound)
        }
    }

    /// Deletes the caller's account, its roles and sessions, once the
    /// password checked out (under the sign-in limits). The last active
    /// admin cannot leave (`LastAdmin`).
    pub async fn delete_account(
        &self,
        user: UserId,
        password: &Password,
        client: &str,
    ) -> Result<(), Error> {
        let account = self.caller(user).await?;
        self.throttle
            .reauthenticate(&self.auth, &account.username, password, client)
            .await?;
        let now = self.deps.clock.now();
        let detail = serde_json::json!({"username": account.username}).to_string();
        self.deps
            .admin
            .delete_user(
                user,
                Change {
                    audit: event(now, user, &account.username, "user.delete.self", detail),
                    preconditions: Vec::new(),
                },
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::ActorGone,
                other => other.into(),
            })?;
        tracing::info!(user_id = %user, "audit: account deleted by its owner");
        Ok(())
    }
}
