//! The audit log: what every administrative change records, in the same
//! transaction as the change.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::error::StoreError;
use crate::users::UserId;

/// An audit event to be written.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub at: DateTime<Utc>,
    /// The acting user, or `None` for an operator.
    pub actor_id: Option<UserId>,
    /// The acting user's name, or the operator's (`cli`, `bootstrap`).
    pub actor: String,
    /// What was done, e.g. `user.roles.set`, `role.create`.
    pub action: String,
    /// What it was done to, e.g. `user:42`, `role:editor`.
    pub target: String,
    /// A JSON object with the details (before/after).
    pub detail: String,
}

/// A recorded audit event.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: i64,
    pub event: NewAuditEvent,
}

/// Deleting audit events past their retention.
#[async_trait]
pub trait AuditRetention: Send + Sync {
    /// Deletes at most `batch` of the events recorded before `before`, the
    /// oldest first, in short statements; returns how many.
    async fn purge_audit_batch(&self, before: DateTime<Utc>, batch: u64)
    -> Result<u64, StoreError>;
}

/// Before when events are deleted, keeping `retention_days` at `now`;
/// `None` for 0 (kept forever).
pub fn retention_cutoff(now: DateTime<Utc>, retention_days: u32) -> Option<DateTime<Utc>> {
    (retention_days > 0).then(|| now - Duration::days(i64::from(retention_days)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_days_keeps_everything() {
        let now = Utc::now();
        assert_eq!(retention_cutoff(now, 0), None);
        assert_eq!(retention_cutoff(now, 365), Some(now - Duration::days(365)));
    }
}
