//! The passkey use cases.

use std::sync::Arc;

use chrono::Duration;

use super::{
    CEREMONY_TTL_SECS, Ceremony, CeremonyKind, MAX_NAME_CHARS, NewPasskey, PasskeyFailure,
    PasskeyInfo, PasskeyStore, PasskeyUser, PasskeyVerifier,
};
use crate::authentication::{AuthService, SignedIn};
use crate::clock::Clock;
use crate::error::Error;
use crate::sessions::{ClientInfo, RefreshSecrets};
use crate::throttle::Throttle;
use crate::users::{LoginRecord, Password, UserId, Username};

/// The longest ceremony id accepted (ours are 43 characters).
const MAX_CEREMONY_ID_LEN: usize = 256;

/// What the passkey use cases depend on.
#[derive(Clone)]
pub struct PasskeyDeps {
    pub store: Arc<dyn PasskeyStore>,
    pub verifier: Arc<dyn PasskeyVerifier>,
    /// Makes and hashes ceremony ids (as it does refresh tokens).
    pub secrets: Arc<dyn RefreshSecrets>,
    pub clock: Arc<dyn Clock>,
}

/// A ceremony begun: its id (to send back with the result) and the options
/// for `navigator.credentials.create`/`get`.
#[derive(Debug, Clone)]
pub struct StartedCeremony {
    pub ceremony_id: String,
    pub options: serde_json::Value,
    pub expires_in: u64,
}

/// Registering, listing and removing passkeys; signing in with one.
#[derive(Clone)]
pub struct PasskeyService {
    deps: PasskeyDeps,
    auth: AuthService,
    throttle: Throttle,
}

fn refused(why: PasskeyFailure) -> Error {
    Error::PasskeyRefused(why)
}

/// A passkey's name as given: trimmed, 1 to 64 characters, no control characters.
fn parse_name(raw: &str) -> Result<String, Error> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters long"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

impl PasskeyService {
    pub fn new(deps: PasskeyDeps, auth: AuthService, throttle: Throttle) -> Self {
        Self {
            deps,
            auth,
            throttle,
        }
    }

    /// The signed-in caller's account.
    async fn caller(&self, user: UserId) -> Result<LoginRecord, Error> {
        match self.auth.deps.users.login_by_id(user).await? {
            Some(l) if l.disabled => Err(Error::AccountDisabled),
            Some(l) => Ok(l),
            None => Err(Error::ActorGone),
        }
    }

    /// Stores a ceremony's state under the hash of a fresh id.
    async fn begin(
        &self,
        kind: CeremonyKind,
        user_id: Option<UserId>,
        challenge: super::Challenge,
    ) -> Result<StartedCeremony, Error> {
        let id = self.deps.secrets.generate();
        let ceremony = Ceremony {
            kind,
            user_id,
            state: challenge.state,
            expires_at: self.deps.clock.now() + Duration::seconds(CEREMONY_TTL_SECS),
        };
        self.deps
            .store
            .insert_ceremony(&self.deps.secrets.hash(&id), &ceremony)
            .await?;
        Ok(StartedCeremony {
            ceremony_id: id,
            options: challenge.options,
            expires_in: CEREMONY_TTL_SECS.unsigned_abs(),
        })
    }

    /// Takes (single use) a live ceremony.
    async fn take(&self, presented: &str) -> Result<Ceremony, Error> {
        if presented.is_empty() || presented.len() > MAX_CEREMONY_ID_LEN {
            return Err(refused(PasskeyFailure::UnknownCeremony));
        }
        let hash = self.deps.secrets.hash(presented);
        match self.deps.store.take_ceremony(&hash).await? {
            Some(c) if c.expires_at > self.deps.clock.now() => Ok(c),
            _ => Err(refused(PasskeyFailure::UnknownCeremony)),
        }
    }

    /// Begins registering a passkey for the signed-in user.
    pub async fn start_registration(&self, user: UserId) -> Result<StartedCeremony, Error> {
        let login = self.caller(user).await?;
        let handle = self.deps.store.user_handle(user).await?;
        let exclude = self.deps.store.credential_ids(user).await?;
        let challenge = self.deps.verifier.start_registration(&PasskeyUser {
            handle: handle.as_deref(),
            name: &login.username,
            display_name: &login.username,
            exclude: &exclude,
        })?;
        self.begin(CeremonyKind::Register, Some(user), challenge)
            .await
    }

    /// Ends a registration: the browser's credential is verified against
    /// the ceremony (which must be this user's) and stored under `name`.
    pub async fn finish_registration(
        &self,
        user: UserId,
        ceremony_id: &str,
        credential: &serde_json::Value,
        name: &str,
    ) -> Result<PasskeyInfo, Error> {
        let name = parse_name(name)?;
        let login = self.caller(user).await?;
        let ceremony = self.take(ceremony_id).await.inspect_err(log_refusal)?;
        if ceremony.kind != CeremonyKind::Register || ceremony.user_id != Some(user) {
            let e = refused(PasskeyFailure::WrongCeremony);
            log_refusal(&e);
            return Err(e);
        }
        let verified = self
            .deps
            .verifier
            .finish_registration(&ceremony.state, credential)
            .map_err(Error::from)
            .inspect_err(log_refusal)?;
        let info = self
            .deps
            .store
            .insert(NewPasskey {
                user_id: user,
                name,
                user_handle: verified.user_handle,
                credential_id: verified.credential_id,
                credential: verified.credential,
                sign_count: verified.sign_count,
                created_at: self.deps.clock.now(),
            })
            .await?;
        tracing::info!(user_id = %user, username = %login.username, passkey_id = info.id, "audit: passkey registered");
        Ok(info)
    }

    /// The caller's passkeys.
    pub async fn list(&self, user: UserId) -> Result<Vec<PasskeyInfo>, Error> {
        self.caller(user).await?;
        Ok(self.deps.store.list(user).await?)
    }

    /// Removes one of the caller's passkeys once the password checked out
    /// (under the sign-in limits). Another user's passkey is not found.
    pub async fn delete(
        &self,
        user: UserId,
        id: i64,
        password: &Password,
        client: &str,
    ) -> Result<(), Error> {
        let login = self.caller(user).await?;
        self.throttle
            .reauthenticate(&self.auth, &login.username, password, client)
            .await?;
        if !self.deps.store.delete(user, id).await? {
            return Err(Error::PasskeyNotFound);
        }
        tracing::info!(user_id = %user, passkey_id = id, "audit: passkey removed");
        Ok(())
    }

    /// Every passkey of a user goes (an administrator's reset of second
    /// factors); returns how many.
    pub async fn delete_all_for_user(&self, user: UserId) -> Result<u64, Error> {
        Ok(self.deps.store.delete_all_for_user(user).await?)
    }

    /// Begins a passwordless sign-in. The options never list credentials
    /// (every passkey is registered as discoverable), so they read the same
    /// for any `username`, known or not: no enumeration. With a username the
    /// ceremony is bound to that account (an unknown name binds it to none,
    /// and it will fail like a wrong passkey).
    pub async fn start_sign_in(&self, username: Option<&str>) -> Result<StartedCeremony, Error> {
        let (kind, user) = match username {
            None => (CeremonyKind::Authenticate, None),
            Some(name) => {
                Username::check_presented(name).map_err(|m| Error::invalid("username", m))?;
                let user = match Username::parse(name) {
                    Ok(name) => self.auth.deps.users.find_login(&name).await?,
                    Err(_) => None,
                };
                (CeremonyKind::AuthenticateUser, user.map(|l| l.id))
            }
        };
        let challenge = self.deps.verifier.start_authentication()?;
        self.begin(kind, user, challenge).await
    }

    /// Ends a passwordless sign-in: the assertion must verify against the
    /// stored passkey it names (the ceremony's user's, when bound), with a
    /// sign counter that went up; then a session opens as after a
    /// password sign-in. Refused passkeys count toward the client's
    /// failed sign-ins.
    pub async fn finish_sign_in(
        &self,
        ceremony_id: &str,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<SignedIn, Error> {
        self.throttle
            .passkey_attempt(&client.addr, self.sign_in(ceremony_id, credential, client))
            .await
            .inspect_err(log_refusal)
    }

    async fn sign_in(
        &self,
        ceremony_id: &str,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<SignedIn, Error> {
        let login = self.verified_owner(ceremony_id, credential).await?;
        if self.auth.policy.require_verified_email && !login.email_verified {
            return Err(Error::EmailNotVerified);
        }
        tracing::info!(user_id = %login.id, "signed in with a passkey");
        self.auth
            .open_session(&login, client, &[crate::mfa::AuthMethod::Hwk])
            .await
    }

    /// Begins the passkey step of a password sign-in that asked for a
    /// second factor: a ceremony bound to the `mfaToken`'s user.
    pub async fn start_second_step(&self, mfa_token: &str) -> Result<StartedCeremony, Error> {
        let pending = self.auth.mfa_challenge(mfa_token).await?;
        let challenge = self.deps.verifier.start_authentication()?;
        self.begin(
            CeremonyKind::AuthenticateUser,
            Some(pending.login.id),
            challenge,
        )
        .await
    }

    /// Ends the passkey step of a password sign-in: the assertion must be
    /// the `mfaToken`'s user's, on a ceremony bound to them; the session's
    /// `amr` is `["pwd","hwk"]`. A refused passkey counts against the
    /// `mfaToken` and as a failed sign-in of the account.
    pub async fn finish_second_step(
        &self,
        mfa_token: &str,
        ceremony_id: &str,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<SignedIn, Error> {
        let auth = &self.auth;
        self.throttle
            .second_step(auth, mfa_token, &client.addr, |pending| async move {
                let owner = self
                    .verified_owner(ceremony_id, credential)
                    .await
                    .and_then(|login| {
                        if login.id == pending.login.id {
                            Ok(login)
                        } else {
                            Err(refused(PasskeyFailure::OtherUser))
                        }
                    });
                match owner {
                    Ok(_) => {
                        auth.complete_second_factor(&pending, crate::mfa::AuthMethod::Hwk, client)
                            .await
                    }
                    Err(e @ Error::PasskeyRefused(_)) => {
                        auth.second_factor_refused(&pending).await?;
                        Err(e)
                    }
                    Err(e) => Err(e),
                }
            })
            .await
            .inspect_err(log_refusal)
    }

    /// The enabled account whose stored passkey the assertion verifies
    /// against (on a live sign-in ceremony, bound to that account when it is
    /// bound), with a sign counter that went up.
    async fn verified_owner(
        &self,
        ceremony_id: &str,
        credential: &serde_json::Value,
    ) -> Result<LoginRecord, Error> {
        let ceremony = self.take(ceremony_id).await?;
        let bound = match ceremony.kind {
            CeremonyKind::Authenticate => None,
            CeremonyKind::AuthenticateUser => match ceremony.user_id {
                Some(user) => Some(user),
                None => return Err(refused(PasskeyFailure::OtherUser)),
            },
            CeremonyKind::Register => return Err(refused(PasskeyFailure::WrongCeremony)),
        };
        let presented = self.deps.verifier.identify(credential)?;
        let stored = self
            .deps
            .store
            .find_by_credential_id(&presented.credential_id)
            .await?
            .ok_or(refused(PasskeyFailure::UnknownCredential))?;
        let handle_matches = presented
            .user_handle
            .as_deref()
            .is_none_or(|h| h == stored.user_handle);
        if !handle_matches || bound.is_some_and(|u| u != stored.user_id) {
            return Err(refused(PasskeyFailure::OtherUser));
        }
        let verified = self
            .deps
            .verifier
            .finish_authentication(&ceremony.state, credential, &stored.credential)
            .inspect_err(|e| {
                if matches!(
                    e,
                    super::PasskeyError::Refused(PasskeyFailure::CounterRegression)
                ) {
                    warn_cloned(stored.user_id, stored.id, stored.sign_count, None);
                }
            })?;
        let now = self.deps.clock.now();
        if !self
            .deps
            .store
            .record_use(stored.id, &verified.credential, verified.sign_count, now)
            .await?
        {
            warn_cloned(
                stored.user_id,
                stored.id,
                stored.sign_count,
                Some(verified.sign_count),
            );
            return Err(refused(PasskeyFailure::CounterRegression));
        }
        let login = self
            .auth
            .deps
            .users
            .login_by_id(stored.user_id)
            .await?
            .ok_or(refused(PasskeyFailure::UnknownCredential))?;
        if login.disabled {
            return Err(Error::AccountDisabled);
        }
        tracing::debug!(user_id = %login.id, passkey_id = stored.id, "passkey verified");
        Ok(login)
    }

    /// Deletes expired ceremonies; returns how many. Run by the server's purge loop.
    pub async fn purge_expired_ceremonies(&self) -> Result<u64, Error> {
        Ok(self
            .deps
            .store
            .purge_ceremonies(self.deps.clock.now())
            .await?)
    }
}

/// A sign counter that did not go up: the credential's key may exist twice.
fn warn_cloned(user: UserId, passkey: i64, stored: u32, presented: Option<u32>) {
    tracing::warn!(
        user_id = %user,
        passkey_id = passkey,
        stored_counter = stored,
        presented_counter = ?presented,
        "passkey sign counter went backwards: possibly a cloned authenticator; sign-in refused"
    );
}

/// Why a passkey was refused, for the log (the answer never says).
fn log_refusal(e: &Error) {
    if let Error::PasskeyRefused(why) = e {
        tracing::info!(reason = ?why, "passkey refused");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("  Laptop ").unwrap(), "Laptop");
        assert!(parse_name("   ").is_err());
        assert!(parse_name(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(parse_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(parse_name("a\u{7}b").is_err());
    }

    #[test]
    fn ceremony_kinds_round_trip() {
        for kind in [
            CeremonyKind::Register,
            CeremonyKind::Authenticate,
            CeremonyKind::AuthenticateUser,
        ] {
            assert_eq!(CeremonyKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(CeremonyKind::parse("other"), None);
    }
}
