//! Rate limits around sign-in, sign-up and refresh.
//!
//! Every attempt is *reserved* before any work is done: the store counts it
//! atomically if the limit admits it, or refuses it without counting
//! ([`AttemptStore::reserve`]). So N concurrent sign-ins for one account
//! check at most the limit's number of passwords; the rest are refused
//! (`Error::RateLimited`) before hashing. A success gives back what it
//! reserved against the failure budgets.
//!
//! Sign-in counters, reserved in this order (those only the caller's address
//! feeds first, so a caller refused there never touches the shared ones):
//!
//! | key | counts | on success |
//! |---|---|---|
//! | `signin:total:ip:<address>` | every sign-in from the address | kept |
//! | `signin:ip:<address>` | failures from the address, any account | given back |
//! | `signin:pair:<account>\|<address>` | failures for the account from the address (the strict limit) | cleared |
//! | `signin:total:acct:<account>` | every sign-in for the account | kept |
//! | `signin:acct:<account>` | failures for the account from every address (a ceiling) | given back |
//!
//! Past a limit, one attempt passes per back-off, which doubles up to a
//! bound ([`Limit`]).
//!
//! When the store fails (Redis or the database unreachable), [`OnStoreError`]
//! decides: refuse the request (`Error::RateLimitUnavailable`, the default)
//! or let it through uncounted. Either way the failure is logged at WARN.

mod limit;
mod memory;
#[cfg(test)]
mod outage_tests;
mod policy;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use limit::{Admission, Attempts, BackoffStep, Limit, Reservation};
pub use memory::MemoryAttempts;
pub use policy::OnStoreError;
use policy::Reserved;

use crate::authentication::{AuthService, SignUp, SignedIn};
use crate::clock::Clock;
use crate::error::{Error, StoreError};
use crate::mfa::{MfaProof, PendingSignIn, SignInStep};
use crate::sessions::{ClientInfo, Refreshed};
use crate::users::{LoginRecord, Password, UserId, Username};

/// Counters for rate limits. In-process by default; a shared store (the
/// database) makes several instances enforce one limit.
#[async_trait]
pub trait AttemptStore: Send + Sync {
    /// Atomically: if `limit` admits one more attempt under `key` at `now`
    /// ([`Limit::retry_after`] is `None`; [`Limit::admission`] gives the same
    /// rule as comparisons), counts it — starting over when the window has
    /// passed ([`Limit::next`]) — and answers `Reserved`; otherwise changes
    /// nothing and answers `Blocked` with the wait. Concurrent reservations
    /// of one key never admit more than the rule allows (no read-then-write).
    async fn reserve(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limit: &Limit,
    ) -> Result<Reservation, StoreError>;

    /// Gives one reserved attempt back (the count never goes below zero).
    async fn refund(&self, key: &str) -> Result<(), StoreError>;

    async fn get(&self, key: &str) -> Result<Option<Attempts>, StoreError>;

    async fn clear(&self, key: &str) -> Result<(), StoreError>;

    /// Deletes every counter whose key starts with `prefix`; returns how many.
    async fn clear_prefix(&self, prefix: &str) -> Result<u64, StoreError>;

    /// Deletes the counters whose last attempt is before `before`; returns how many.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// The limits of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failed sign-ins for one account from one client address: the strict limit.
    pub signin_failures_per_pair: Limit,
    /// Failed sign-ins for one account from every address: a high ceiling
    /// against guessing from many addresses.
    pub signin_failures_per_account: Limit,
    /// Failed sign-ins from one address, whatever the account (credential stuffing).
    pub signin_failures_per_client: Limit,
    /// Sign-ins from one address, successful or not.
    pub signin_per_client: Limit,
    /// Sign-ins for one account, successful or not.
    pub signin_per_account: Limit,
    pub signup_per_client: Limit,
    pub refresh_per_client: Limit,
    /// Requests that send mail (reset, verification, e-mail change) from one address.
    pub mail_per_client: Limit,
    /// Requests that send mail to one recipient (address or account).
    pub mail_per_recipient: Limit,
}

impl Limits {
    fn all(&self) -> [Limit; 9] {
        [
            self.signin_failures_per_pair,
            self.signin_failures_per_account,
            self.signin_failures_per_client,
            self.signin_per_client,
            self.signin_per_account,
            self.signup_per_client,
            self.refresh_per_client,
            self.mail_per_client,
            self.mail_per_recipient,
        ]
    }

    /// The longest window: a counter idle for longer counts for nothing.
    pub fn longest_window_secs(&self) -> i64 {
        self.all()
            .iter()
            .map(|l| l.window_secs)
            .max()
            .unwrap_or(0)
            .max(0)
    }
}

/// What a sign-in does with a counter it reserved, once the password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Counts every sign-in: kept whatever the outcome.
    Every,
    /// Counts failures: given back after a success (or any other outcome
    /// that is not a wrong password).
    Failures,
    /// The account's failures from this address: cleared after a success.
    PairFailures,
}

struct Counter {
    key: String,
    limit: Limit,
    kind: Kind,
}

fn pair_prefix(account: &str) -> String {
    format!("signin:pair:{account}|")
}

/// Clears every sign-in counter of the account named `username` (every
/// address's). Returns how many counters were removed.
pub(crate) async fn clear_account(
    store: &dyn AttemptStore,
    username: &str,
) -> Result<u64, StoreError> {
    let account = Throttle::account_key(username);
    let mut cleared = store.clear_prefix(&pair_prefix(&account)).await?;
    for key in [
        format!("signin:acct:{account}"),
        format!("signin:total:acct:{account}"),
    ] {
        if store.get(&key).await?.is_some() {
            store.clear(&key).await?;
            cleared += 1;
        }
    }
    Ok(cleared)
}

/// Rate limiting over an `AttemptStore`.
#[derive(Clone)]
pub struct Throttle {
    store: Arc<dyn AttemptStore>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    on_store_error: OnStoreError,
}

impl Throttle {
    /// Rate limits over `store`; a failing store refuses the request
    /// ([`OnStoreError::Deny`]) unless [`Throttle::on_store_error`] says otherwise.
    pub fn new(store: Arc<dyn AttemptStore>, clock: Arc<dyn Clock>, limits: Limits) -> Self {
        Self {
            store,
            clock,
            limits,
            on_store_error: OnStoreError::Deny,
        }
    }

    /// What a request does when the store fails.
    #[must_use]
    pub fn on_store_error(mut self, policy: OnStoreError) -> Self {
        self.on_store_error = policy;
        self
    }

    /// The account a sign-in attempt counts against: the username's key, or
    /// for a name that cannot be a username its first 64 characters,
    /// lower-cased (so junk names are limited too, without unbounded keys).
    fn account_key(username: &str) -> String {
        match Username::parse(username) {
            Ok(name) => name.key(),
            Err(_) => username.chars().take(64).collect::<String>().to_lowercase(),
        }
    }

    /// The counters of one sign-in, in the order they are reserved.
    fn signin_counters(&self, account: &str, client: &str) -> [Counter; 5] {
        let l = &self.limits;
        let counter = |key: String, limit: Limit, kind: Kind| Counter { key, limit, kind };
        [
            counter(
                format!("signin:total:ip:{client}"),
                l.signin_per_client,
                Kind::Every,
            ),
            counter(
                format!("signin:ip:{client}"),
                l.signin_failures_per_client,
                Kind::Failures,
            ),
            counter(
                format!("{}{client}", pair_prefix(account)),
                l.signin_failures_per_pair,
                Kind::PairFailures,
            ),
            counter(
                format!("signin:total:acct:{account}"),
                l.signin_per_account,
                Kind::Every,
            ),
            counter(
                format!("signin:acct:{account}"),
                l.signin_failures_per_account,
                Kind::Failures,
            ),
        ]
    }

    /// Signs in under the limits. Each counter is reserved before the
    /// password is checked; the first that refuses ends the attempt with
    /// `Error::RateLimited` (what was reserved is given back, no password is
    /// checked). A wrong password keeps the reservations as failures; a
    /// success clears the account's failures from this address and gives
    /// back the rest; other outcomes give the failure reservations back.
    pub async fn sign_in(
        &self,
        auth: &AuthService,
        username: &str,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<SignInStep, Error> {
        // A password that asks for a second step is no finished sign-in:
        // the account's failures from this address stay until it is.
        self.password_attempt(
            username,
            &client.addr,
            auth.sign_in(username, password, client),
            |step| matches!(step, SignInStep::Done(_)),
        )
        .await
    }

    /// The second step of a sign-in under the same counters as the first,
    /// keyed by the `mfaToken`'s user: a wrong code counts as a failed
    /// sign-in of the account from this address (besides the token's own
    /// cap of wrong codes).
    pub async fn second_factor(
        &self,
        auth: &AuthService,
        mfa_token: &str,
        proof: &MfaProof,
        client: &ClientInfo,
    ) -> Result<SignedIn, Error> {
        self.second_step(auth, mfa_token, &client.addr, |pending| async move {
            auth.finish_second_factor(&pending, proof, client).await
        })
        .await
    }

    /// The second step of a sign-in by any factor (`step`: check it and
    /// finish), under the sign-in counters of the `mfaToken`'s user; see
    /// [`Throttle::second_factor`].
    pub async fn second_step<F, Fut>(
        &self,
        auth: &AuthService,
        mfa_token: &str,
        client: &str,
        step: F,
    ) -> Result<SignedIn, Error>
    where
        F: FnOnce(PendingSignIn) -> Fut,
        Fut: std::future::Future<Output = Result<SignedIn, Error>>,
    {
        let pending = auth.mfa_challenge(mfa_token).await?;
        let username = pending.login.username.clone();
        self.password_attempt(&username, client, step(pending), |_| true)
            .await
    }

    /// Checks the password of a signed-in user who re-enters it (password
    /// or e-mail change, deleting the account) under the sign-in limits: a
    /// wrong password counts as a failed sign-in of the account.
    pub async fn reauthenticate(
        &self,
        auth: &AuthService,
        username: &str,
        password: &Password,
        client: &str,
    ) -> Result<LoginRecord, Error> {
        self.password_attempt(
            username,
            client,
            auth.check_password(username, password),
            |_| true,
        )
        .await
    }

    /// Runs `attempt` (a password check) under the sign-in counters of
    /// `username` from `client`; see [`Throttle::sign_in`]. A success for
    /// which `finished` is false (a password that needs a second step)
    /// gives its reservations back but leaves earlier failures in place.
    async fn password_attempt<T>(
        &self,
        username: &str,
        client: &str,
        attempt: impl std::future::Future<Output = Result<T, Error>>,
        finished: impl Fn(&T) -> bool,
    ) -> Result<T, Error> {
        // Before anything else: the name keys the limits in the store.
        Username::check_presented(username).map_err(|m| Error::invalid("username", m))?;
        let account = Self::account_key(username);
        let counters = self.signin_counters(&account, client);
        let now = self.clock.now();
        let mut reserved: Vec<&Counter> = Vec::with_capacity(counters.len());
        // Once the store failed (and the policy let the attempt through), the
        // attempt asks it nothing more: one timeout per request at most.
        let mut store_down = false;
        for counter in &counters {
            if store_down {
                break;
            }
            match self.reserve(&counter.key, now, &counter.limit).await {
                Ok(Reserved::Counted) => reserved.push(counter),
                Ok(Reserved::Uncounted) => store_down = true,
                Ok(Reserved::Blocked(wait)) => {
                    self.give_back(&reserved, |_| true).await;
                    return Err(Error::RateLimited(wait));
                }
                Err(e) => {
                    self.give_back(&reserved, |_| true).await;
                    return Err(e);
                }
            }
        }
        let result = attempt.await;
        if store_down {
            // What was counted before the failure stays (the strict side).
            return result;
        }
        match &result {
            // A wrong guess: the reservations stay, as failures.
            Err(Error::InvalidCredentials | Error::InvalidMfaCode | Error::PasskeyRefused(_)) => {}
            Ok(done) if !finished(done) => {
                self.give_back(&reserved, |k| k != Kind::Every).await;
            }
            Ok(_) => {
                for counter in counters.iter().filter(|c| c.kind == Kind::PairFailures) {
                    if let Err(e) = self.store.clear(&counter.key).await {
                        tracing::warn!(error = %e, "clearing a sign-in counter failed");
                    }
                }
                self.give_back(&reserved, |k| k == Kind::Failures).await;
            }
            Err(_) => self.give_back(&reserved, |k| k != Kind::Every).await,
        }
        result
    }

    /// Counts the start of a passkey sign-in from `client` (each one stores
    /// a ceremony for 5 minutes) under its own key, with the limit on
    /// sign-ins per address.
    pub async fn passkey_start(&self, client: &str) -> Result<(), Error> {
        let key = format!("passkey:start:ip:{client}");
        match self.count(&key, &self.limits.signin_per_client).await? {
            Some(wait) => Err(Error::RateLimited(wait)),
            None => Ok(()),
        }
    }

    /// Runs a passkey sign-in (`attempt`) under the client's sign-in
    /// counters: every attempt counts toward `signin:total:ip`, a refused
    /// passkey toward the client's failures (`signin:ip`, the limit on
    /// failed sign-ins from one address whatever the account); a success or
    /// any other outcome gives the failure back. The account is not known
    /// before the passkey is checked, so no account counter applies.
    pub async fn passkey_attempt<T>(
        &self,
        client: &str,
        attempt: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let l = &self.limits;
        let counters = [
            Counter {
                key: format!("signin:total:ip:{client}"),
                limit: l.signin_per_client,
                kind: Kind::Every,
            },
            Counter {
                key: format!("signin:ip:{client}"),
                limit: l.signin_failures_per_client,
                kind: Kind::Failures,
            },
        ];
        let now = self.clock.now();
        let mut reserved: Vec<&Counter> = Vec::with_capacity(counters.len());
        for counter in &counters {
            match self.store.reserve(&counter.key, now, &counter.limit).await {
                Ok(Reservation::Reserved) => reserved.push(counter),
                Ok(Reservation::Blocked(wait)) => {
                    self.give_back(&reserved, |_| true).await;
                    return Err(Error::RateLimited(wait));
                }
                Err(e) => {
                    self.give_back(&reserved, |_| true).await;
                    return Err(e.into());
                }
            }
        }
        let result = attempt.await;
        if !matches!(result, Err(Error::PasskeyRefused(_))) {
            self.give_back(&reserved, |k| k == Kind::Failures).await;
        }
        result
    }

    /// Counts a request that sends mail (a password reset, a verification
    /// resend, an e-mail change): from `client` and for `recipient` (an
    /// address or an account), whether or not the recipient exists.
    pub async fn mail_request(&self, client: &str, recipient: &str) -> Result<(), Error> {
        let recipient: String = recipient
            .chars()
            .take(254)
            .collect::<String>()
            .to_lowercase();
        for (key, limit) in [
            (format!("mail:ip:{client}"), &self.limits.mail_per_client),
            (
                format!("mail:to:{recipient}"),
                &self.limits.mail_per_recipient,
            ),
        ] {
            match self.reserve(&key, self.clock.now(), limit).await? {
                Reserved::Counted => {}
                // The store is down and the policy lets it through: no more calls.
                Reserved::Uncounted => break,
                Reserved::Blocked(wait) => return Err(Error::RateLimited(wait)),
            }
        }
        Ok(())
    }

    /// Lifts the sign-in lockout of the account named `username` (after a
    /// password reset proved the owner). A failure is logged, not returned.
    pub async fn clear_lockout(&self, username: &str) {
        if let Err(e) = clear_account(self.store.as_ref(), username).await {
            tracing::warn!(error = %e, "clearing the sign-in counters after a reset failed");
        }
    }

    /// Refunds the reserved counters of the kinds `which` selects. A failed
    /// refund is logged, not returned: the counter then errs on the strict side.
    async fn give_back(&self, reserved: &[&Counter], which: impl Fn(Kind) -> bool) {
        for counter in reserved.iter().filter(|c| which(c.kind)) {
            if let Err(e) = self.store.refund(&counter.key).await {
                tracing::warn!(error = %e, key = %counter.key, "giving back a rate-limit reservation failed");
            }
        }
    }

    /// Reserves one attempt under `key`: `Some(wait)` when refused.
    async fn count(&self, key: &str, limit: &Limit) -> Result<Option<u64>, Error> {
        Ok(match self.reserve(key, self.clock.now(), limit).await? {
            Reserved::Counted | Reserved::Uncounted => None,
            Reserved::Blocked(wait) => Some(wait),
        })
    }

    /// Signs up under the per-address limit: every attempt from `client`
    /// counts, valid or not, and a blocked client is refused before the
    /// request is looked at.
    pub async fn sign_up(
        &self,
        auth: &AuthService,
        client: &str,
        request: Result<SignUp, Error>,
    ) -> Result<UserId, Error> {
        let key = format!("signup:ip:{client}");
        if let Some(wait) = self.count(&key, &self.limits.signup_per_client).await? {
            return Err(Error::RateLimited(wait));
        }
        auth.sign_up(request?).await
    }

    /// Refreshes under the per-address limit.
    pub async fn refresh(
        &self,
        auth: &AuthService,
        presented: &str,
        client: &str,
    ) -> Result<Refreshed, Error> {
        let key = format!("refresh:ip:{client}");
        if let Some(wait) = self.count(&key, &self.limits.refresh_per_client).await? {
            return Err(Error::RateLimited(wait));
        }
        auth.refresh(presented).await
    }

    /// Deletes the counters that expired (idle for longer than the longest
    /// window); returns how many. The server runs it with the session purge.
    pub async fn purge_expired(&self) -> Result<u64, Error> {
        let before =
            self.clock.now() - chrono::Duration::seconds(self.limits.longest_window_secs());
        Ok(self.store.purge(before).await?)
    }
}
