//! The purge loop: expired second steps of sign-ins and passkey
//! ceremonies, expired link tokens,
//! records of sent mails, expired
//! refresh tokens, revocations of expired access tokens, idle rate-limit
//! counters and audit events past their
//! retention go now and then, so no table grows without bound. Failures
//! (the database is down) are logged and retried at the next round.

use std::sync::Arc;
use std::time::Duration;

use rolegate_domain::{
    AccountService, AuditRetention, AuthService, Clock, RevocationFeed, RevocationSet, StoreError,
    Throttle, retention_cutoff,
};
use tokio::sync::watch;

/// What the purge loop empties.
pub(crate) struct Purges {
    pub(crate) auth: AuthService,
    pub(crate) throttle: Throttle,
    pub(crate) accounts: AccountService,
    pub(crate) mfa: rolegate_domain::MfaService,
    pub(crate) passkeys: rolegate_domain::PasskeyService,
    pub(crate) outbox: Arc<dyn rolegate_domain::MailOutbox>,
    pub(crate) audit: Arc<dyn AuditRetention>,
    /// Revocations older than every access token they could refuse go.
    pub(crate) revocations: Arc<dyn RevocationFeed>,
    pub(crate) revocation_set: Arc<RevocationSet>,
    /// `audit.retention_days` (0: kept forever).
    pub(crate) audit_retention_days: u32,
    pub(crate) clock: Arc<dyn Clock>,
}

/// How long records of sent (or given-up) mails are kept.
const MAIL_RECORDS_KEPT_DAYS: i64 = 7;

/// Audit events deleted per statement.
pub const AUDIT_BATCH: u64 = 1000;

/// The pause between two audit batches: other writers get the table.
pub const AUDIT_PAUSE: Duration = Duration::from_millis(50);

/// Deletes the audit events recorded before `before`, `batch` at a time
/// with `pause` between batches; stops early when `stop` turns true.
/// Returns how many were deleted.
pub async fn purge_audit(
    log: &dyn AuditRetention,
    before: chrono::DateTime<chrono::Utc>,
    batch: u64,
    pause: Duration,
    stop: &watch::Receiver<bool>,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    loop {
        let n = log.purge_audit_batch(before, batch).await?;
        deleted += n;
        if n < batch || *stop.borrow() {
            return Ok(deleted);
        }
        tokio::time::sleep(pause).await;
    }
}

pub(crate) async fn purge_expired(p: Purges, every: Duration, mut stop: watch::Receiver<bool>) {
    let Purges {
        auth,
        throttle,
        accounts,
        mfa,
        passkeys,
        outbox,
        audit,
        revocations,
        revocation_set,
        audit_retention_days,
        clock,
    } = p;
    let mut ticker = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        match mfa.purge_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "purged expired second steps of sign-ins"),
            Err(e) => tracing::warn!(error = %e, "purging second steps of sign-ins failed"),
        }
        match passkeys.purge_expired_ceremonies().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "purged expired passkey ceremonies"),
            Err(e) => tracing::warn!(error = %e, "purging passkey ceremonies failed"),
        }
        match accounts.purge_expired_tokens().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "purged expired or used link tokens"),
            Err(e) => tracing::warn!(error = %e, "purging link tokens failed"),
        }
        let before = clock.now() - chrono::Duration::days(MAIL_RECORDS_KEPT_DAYS);
        match outbox.purge_done(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "purged records of sent mails"),
            Err(e) => tracing::warn!(error = %e, "purging records of sent mails failed"),
        }
        match auth.purge_expired_sessions().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "purged expired refresh tokens"),
            Err(e) => tracing::warn!(error = %e, "purging expired refresh tokens failed"),
        }
        match revocations
            .purge_revocations(revocation_set.purge_cutoff(clock.now()))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "purged revocations of expired access tokens"),
            Err(e) => tracing::warn!(error = %e, "purging old revocations failed"),
        }
        match throttle.purge_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "purged expired rate-limit counters"),
            Err(e) => tracing::warn!(error = %e, "purging expired rate-limit counters failed"),
        }
        if let Some(before) = retention_cutoff(clock.now(), audit_retention_days) {
            match purge_audit(audit.as_ref(), before, AUDIT_BATCH, AUDIT_PAUSE, &stop).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    deleted = n,
                    retention_days = audit_retention_days,
                    "purged audit events past their retention"
                ),
                Err(e) => tracing::warn!(error = %e, "purging old audit events failed"),
            }
        }
    }
}

/// Feeds this instance's revocation set every `every` until `stop`: how
/// fresh the set is bounds how long a revoked access token still works
/// here. A failed poll is retried at the next tick (the set keeps what it
/// knew); the first failure and the recovery are logged.
pub(crate) async fn poll_revocations(
    mut poller: rolegate_domain::RevocationPoller,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        match poller.poll().await {
            Ok(read) => {
                if failing {
                    tracing::info!("reading revocations works again");
                    failing = false;
                }
                if read > 0 {
                    let (sessions, users) = poller.set().len();
                    tracing::debug!(read, sessions, users, "revocations read");
                }
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(
                    error = %e,
                    "reading revocations failed: tokens revoked from now on are refused here only \
                     once it works again"
                );
            }
            Err(_) => {}
        }
    }
}
