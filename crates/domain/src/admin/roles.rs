//! Administering roles, the permission catalogue and the audit log.

use serde_json::json;

use super::{AdminService, Precondition, names};
use crate::access::Granted;
use crate::access::permissions::{ADMIN_REQUIRED, AuditRead, RolesRead, RolesWrite};
use crate::audit::AuditEvent;
use crate::dedup;
use crate::error::{BuiltInRule, Error, Escalation, StoreError};
use crate::page::{Page, PageRequest};
use crate::roles::{Description, NewRole, Permission, PermissionInfo, RoleInfo, RoleName};

/// The `user` role goes to every new account: it never grants what
/// administers users, roles or the audit log.
fn check_user_role(name: &RoleName, permissions: &[Permission]) -> Result<(), Error> {
    match permissions
        .iter()
        .find(|p| ADMIN_REQUIRED.contains(&p.as_str()))
    {
        Some(p) if name.as_str() == RoleName::USER => Err(Error::BuiltInRole(
            BuiltInRule::UserRoleCannotGrant(p.clone()),
        )),
        _ => Ok(()),
    }
}

/// `admin` keeps every permission needed to administer.
fn check_admin_role(name: &RoleName, permissions: &[Permission]) -> Result<(), Error> {
    match ADMIN_REQUIRED
        .iter()
        .find(|p| !permissions.iter().any(|q| q.as_str() == **p))
    {
        Some(kept) if name.as_str() == RoleName::ADMIN => {
            Err(Error::BuiltInRole(BuiltInRule::AdminKeeps(kept)))
        }
        _ => Ok(()),
    }
}

impl AdminService {
    pub async fn list_roles(&self, granted: Granted<RolesRead>) -> Result<Vec<RoleInfo>, Error> {
        self.check(granted).await?;
        Ok(self.deps.admin.list_roles().await?)
    }

    /// Unknown permissions are a 400, reported before any other check.
    async fn require_known(&self, permissions: &[Permission]) -> Result<(), Error> {
        if permissions.is_empty() {
            return Ok(());
        }
        let known = self.deps.admin.list_permissions().await?;
        match permissions
            .iter()
            .find(|p| !known.iter().any(|k| &k.name == *p))
        {
            Some(p) => Err(Error::UnknownPermission(p.to_string())),
            None => Ok(()),
        }
    }

    /// Creates a custom role; the actor must hold every permission it grants.
    pub async fn create_role(
        &self,
        granted: Granted<RolesWrite>,
        role: NewRole,
    ) -> Result<RoleInfo, Error> {
        let mut actor = self.check(granted).await?;
        let mut permissions = dedup(&role.permissions);
        permissions.sort();
        self.require_known(&permissions).await?;
        actor.require_all(&permissions, |missing| Escalation::GrantPermission {
            missing,
        })?;
        let info = RoleInfo {
            name: role.name.clone(),
            description: role.description,
            built_in: false,
            permissions,
        };
        let change = actor.change(
            self.now(),
            "role.create",
            format!("role:{}", info.name),
            json!({"permissions": names(&info.permissions)}),
            Vec::new(),
        );
        self.deps
            .admin
            .create_role(&info, change)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => Error::RoleExists(info.name.to_string()),
                other => other.into(),
            })?;
        tracing::info!(actor = %actor.name, role = %info.name, "audit: role created");
        Ok(info)
    }

    /// Replaces a role's permissions. The actor must hold every permission
    /// the role grants before and after the change (so nobody strips a
    /// powerful role to take it); `admin` keeps what it needs to
    /// administer, and `user` never gets that.
    pub async fn update_role(
        &self,
        granted: Granted<RolesWrite>,
        name: &RoleName,
        permissions: &[Permission],
        description: Option<&Description>,
    ) -> Result<RoleInfo, Error> {
        let mut actor = self.check(granted).await?;
        let permissions = dedup(permissions);
        let current = self.role(name).await?;
        self.require_known(&permissions).await?;
        check_admin_role(name, &permissions)?;
        check_user_role(name, &permissions)?;
        let role = name.clone();
        actor.require_all(&current.permissions, |missing| Escalation::ChangeRole {
            role,
            missing,
        })?;
        actor.require_all(&permissions, |missing| Escalation::GrantPermission {
            missing,
        })?;
        let change = actor.change(
            self.now(),
            "role.update",
            format!("role:{name}"),
            json!({"before": names(&current.permissions), "after": names(&permissions)}),
            vec![Precondition::RolePermissions {
                role: name.clone(),
                permissions: current.permissions.clone(),
            }],
        );
        self.deps
            .admin
            .update_role(name, &permissions, description, change)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::RoleNotFound(name.to_string()),
                other => other.into(),
            })?;
        tracing::info!(actor = %actor.name, role = %name, "audit: role updated");
        self.role(name).await
    }

    /// Deletes a custom role. The actor must hold every permission it grants.
    pub async fn delete_role(
        &self,
        granted: Granted<RolesWrite>,
        name: &RoleName,
    ) -> Result<(), Error> {
        let mut actor = self.check(granted).await?;
        if name.is_built_in() {
            return Err(Error::BuiltInRole(BuiltInRule::CannotDelete(name.clone())));
        }
        let current = self.role(name).await?;
        let role = name.clone();
        actor.require_all(&current.permissions, |missing| Escalation::DeleteRole {
            role,
            missing,
        })?;
        let change = actor.change(
            self.now(),
            "role.delete",
            format!("role:{name}"),
            json!({"permissions": names(&current.permissions)}),
            vec![Precondition::RolePermissions {
                role: name.clone(),
                permissions: current.permissions.clone(),
            }],
        );
        self.deps
            .admin
            .delete_role(name, change)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::RoleNotFound(name.to_string()),
                other => other.into(),
            })?;
        tracing::info!(actor = %actor.name, role = %name, "audit: role deleted");
        Ok(())
    }

    pub async fn list_permissions(
        &self,
        granted: Granted<RolesRead>,
    ) -> Result<Vec<PermissionInfo>, Error> {
        self.check(granted).await?;
        Ok(self.deps.admin.list_permissions().await?)
    }

    /// Adds a permission to the catalogue (for other services' routes). The
    /// `admin` role gets it too: admins hold every permission, so they can
    /// grant it. Built-in names exist from the start: creating one is a conflict.
    pub async fn create_permission(
        &self,
        granted: Granted<RolesWrite>,
        name: Permission,
        description: Description,
    ) -> Result<PermissionInfo, Error> {
        let actor = self.check(granted).await?;
        let info = PermissionInfo {
            built_in: false,
            name,
            description,
        };
        let change = actor.change(
            self.now(),
            "permission.create",
            format!("permission:{}", info.name),
            json!({}),
            Vec::new(),
        );
        self.deps
            .admin
            .create_permission(&info, &[RoleName::admin()], change)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => Error::PermissionExists(info.name.to_string()),
                other => other.into(),
            })?;
        tracing::info!(actor = %actor.name, permission = %info.name, "audit: permission created");
        Ok(info)
    }

    /// The audit log, newest first.
    pub async fn audit(
        &self,
        granted: Granted<AuditRead>,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, Error> {
        self.check(granted).await?;
        Ok(self.deps.admin.list_audit(page).await?)
    }
}
