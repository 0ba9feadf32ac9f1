//! The acting side of a change: whose current permissions allow it, and
//! which of them the change relies on (they become preconditions).

use chrono::{DateTime, Utc};

use super::AdminService;
use super::store::{Change, Precondition};
use crate::access::{Actor, Granted, PermissionName};
use crate::audit::NewAuditEvent;
use crate::error::{Error, Escalation};
use crate::roles::Permission;
use crate::users::UserId;

/// An actor whose current permissions were checked, and what the change
/// relies on.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub(crate) id: Option<UserId>,
    pub(crate) name: String,
    /// `None`: every permission (operators).
    permissions: Option<Vec<Permission>>,
    /// Permissions the actor was found to hold and the change relies on.
    relied_on: Vec<Permission>,
}

impl Checked {
    fn holds(&self, permission: &str) -> bool {
        self.permissions
            .as_ref()
            .is_none_or(|held| held.iter().any(|p| p.as_str() == permission))
    }

    /// Checks that the actor holds all of `needed`, remembering them; the
    /// first missing one is reported through `refuse`.
    pub(crate) fn require_all(
        &mut self,
        needed: &[Permission],
        refuse: impl FnOnce(Permission) -> Escalation,
    ) -> Result<(), Error> {
        if let Some(missing) = needed.iter().find(|p| !self.holds(p.as_str())) {
            return Err(Error::Escalation(refuse(missing.clone())));
        }
        for p in needed {
            if !self.relied_on.contains(p) {
                self.relied_on.push(p.clone());
            }
        }
        Ok(())
    }

    /// The change to hand to the store: its audit event, and its
    /// preconditions plus "the actor still holds what was relied on".
    pub(crate) fn change(
        &self,
        at: DateTime<Utc>,
        action: &str,
        target: String,
        detail: serde_json::Value,
        mut preconditions: Vec<Precondition>,
    ) -> Change {
        if let Some(actor) = self.id {
            preconditions.push(Precondition::ActorHolds {
                actor,
                permissions: self.relied_on.clone(),
            });
        }
        Change {
            audit: NewAuditEvent {
                at,
                actor_id: self.id,
                actor: self.name.clone(),
                action: action.to_owned(),
                target,
                detail: detail.to_string(),
            },
            preconditions,
        }
    }
}

impl AdminService {
    /// Loads the actor behind `granted` and checks that their *current*
    /// permissions (not their token's) still include `P`.
    pub(crate) async fn check<P: PermissionName>(
        &self,
        granted: Granted<P>,
    ) -> Result<Checked, Error> {
        let id = match granted.actor() {
            Actor::Operator(operator) => {
                return Ok(Checked {
                    id: None,
                    name: operator.name().to_owned(),
                    permissions: None,
                    relied_on: Vec::new(),
                });
            }
            Actor::User(id) => id,
        };
        let profile = self.deps.users.profile(id).await?.ok_or(Error::ActorGone)?;
        if profile.user.disabled {
            return Err(Error::AccountDisabled);
        }
        let Some(needed) = profile
            .permissions
            .iter()
            .find(|p| p.as_str() == P::NAME)
            .cloned()
        else {
            return Err(Error::NotAllowed(P::NAME));
        };
        Ok(Checked {
            id: Some(id),
            name: profile.user.username,
            permissions: Some(profile.permissions),
            relied_on: vec![needed],
        })
    }
}
