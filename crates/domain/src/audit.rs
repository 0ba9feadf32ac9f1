//! The audit log: what every administrative change records, in the same
//! transaction as the change.

use chrono::{DateTime, Utc};

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
