//! Refresh and sign-out: rotation with reuse detection and a grace window.

use chrono::{DateTime, Utc};

use super::RefreshRecord;
use crate::authentication::{AuthService, IssuedRefresh, SessionCounters, seconds_until};
use crate::error::{Error, RefreshFailure};
use crate::sessions::NewRefreshToken;
use crate::tokens::{AccessSubject, IssuedToken};
use crate::users::UserId;

/// Longest refresh token looked up; anything longer is refused unhashed.
const MAX_REFRESH_LEN: usize = 512;

/// The result of a successful refresh.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub access: IssuedToken,
    pub refresh: IssuedRefresh,
}

impl AuthService {
    /// Exchanges a refresh token for a new access token and its successor.
    ///
    /// Every use rotates. Presenting a token that was already rotated revokes
    /// its whole family — except within the grace window after its rotation,
    /// while its successor is still unused: then every presentation gets that
    /// same successor, however many there are (several tabs refreshing at
    /// once). Roles and the account's status are read fresh from the database.
    pub async fn refresh(&self, presented: &str) -> Result<Refreshed, Error> {
        if presented.is_empty() || presented.len() > MAX_REFRESH_LEN {
            return Err(Error::RefreshInvalid(RefreshFailure::Unknown));
        }
        let now = self.deps.clock.now();
        let hash = self.deps.refresh.hash(presented);
        let sessions = &self.deps.sessions;
        let Some(record) = sessions.find_refresh(&hash).await? else {
            return Err(Error::RefreshInvalid(RefreshFailure::Unknown));
        };
        if record.revoked {
            return Err(Error::RefreshInvalid(RefreshFailure::Revoked));
        }
        if record.expires_at <= now {
            return Err(Error::RefreshInvalid(RefreshFailure::Expired));
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
                session_started_at: record.session_started_at,
                client: record.client.clone(),
                amr: record.amr.clone(),
            };
            let sealed = self.deps.refresh.seal(&next, presented);
            if sessions
                .rotate_refresh(record.id, now, sealed, successor)
                .await?
            {
                SessionCounters::count(&self.counters.rotations);
                (next, expires_at)
            } else {
                // Another request rotated it a moment ago (take the grace
                // path), or the session was revoked meanwhile (sign-out,
                // disabling): that is no reuse.
                let again = sessions
                    .find_refresh(&hash)
                    .await?
                    .ok_or(Error::RefreshInvalid(RefreshFailure::Unknown))?;
                if again.revoked {
                    tracing::info!(
                        user_id = %record.user_id,
                        family = %record.family,
                        "refresh of a session revoked meanwhile: refused"
                    );
                    return Err(Error::RefreshInvalid(RefreshFailure::Revoked));
                }
                self.successor_within_grace(&again, presented, now).await?
            }
        } else {
            self.successor_within_grace(&record, presented, now).await?
        };

        let user = self.deps.users.profile(record.user_id).await?;
        let user = match user {
            Some(u) if !u.user.disabled => u,
            other => {
                sessions.revoke_family(&record.family, now).await?;
                return Err(if other.is_some() {
                    Error::AccountDisabled
                } else {
                    Error::RefreshInvalid(RefreshFailure::Unknown)
                });
            }
        };
        Ok(Refreshed {
            access: self.deps.tokens.issue_access(&AccessSubject {
                user_id: user.user.id,
                username: user.user.username,
                roles: user.user.roles,
                permissions: user.permissions,
                session: Some(record.family.clone()),
                amr: record.amr.clone(),
            })?,
            refresh: IssuedRefresh {
                token,
                expires_in: seconds_until(now, expires_at),
            },
        })
    }

    /// The successor of an already-rotated token, while the grace window
    /// lasts and the successor is unused; otherwise reuse: the family is revoked.
    async fn successor_within_grace(
        &self,
        record: &RefreshRecord,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), Error> {
        let sessions = &self.deps.sessions;
        let grace = chrono::Duration::seconds(self.policy.refresh_grace_secs);
        let within = record.rotated_at.is_some_and(|at| now - at <= grace);
        let next = if within {
            sessions
                .find_generation(&record.family, record.generation + 1)
                .await?
        } else {
            None
        };
        if let Some(next) = next {
            if next.revoked {
                // Signed out or disabled meanwhile: a revoked session, no reuse.
                tracing::info!(
                    user_id = %record.user_id,
                    family = %record.family,
                    "refresh of a revoked session: refused"
                );
                return Err(Error::RefreshInvalid(RefreshFailure::Revoked));
            }
            if next.rotated_at.is_none()
                && next.expires_at > now
                && let Some(token) = record
                    .successor_sealed
                    .as_deref()
                    .and_then(|sealed| self.deps.refresh.open(sealed, presented))
                && self.deps.refresh.hash(&token) == next.token_hash
            {
                return Ok((token, next.expires_at));
            }
        }
        let revoked = sessions.revoke_family(&record.family, now).await?;
        SessionCounters::count(&self.counters.reuse_detected);
        tracing::warn!(
            user_id = %record.user_id,
            family = %record.family,
            revoked,
            "refresh token reuse detected: the session is revoked"
        );
        Err(Error::RefreshInvalid(RefreshFailure::Reused))
    }

    /// Ends the session a refresh token belongs to. Unknown tokens are
    /// ignored (sign-out is idempotent and reveals nothing).
    pub async fn sign_out(&self, presented: &str) -> Result<(), Error> {
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
    pub async fn sign_out_all(&self, user: UserId) -> Result<u64, Error> {
        Ok(self
            .deps
            .sessions
            .revoke_user_sessions(user, self.deps.clock.now())
            .await?)
    }

    /// Deletes expired refresh tokens; returns how many.
    pub async fn purge_expired_sessions(&self) -> Result<u64, Error> {
        Ok(self
            .deps
            .sessions
            .purge_expired(self.deps.clock.now())
            .await?)
    }
}
