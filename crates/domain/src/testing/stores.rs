//! The user and administration stores in memory.

use async_trait::async_trait;

use super::{InMemory, UserRow, page_of};
use crate::admin::{AdminStore, Change};
use crate::audit::{AuditEvent, NewAuditEvent};
use crate::error::{StoreError, UniqueField};
use crate::page::{Page, PageRequest};
use crate::roles::{Description, Permission, PermissionInfo, RoleInfo, RoleName};
use crate::users::{
    Email, LoginRecord, NewUser, PasswordHash, User, UserId, UserProfile, UserStore, Username,
};

#[async_trait]
impl UserStore for InMemory {
    async fn create_user(
        &self,
        user: NewUser,
        audit: Option<NewAuditEvent>,
    ) -> Result<UserId, StoreError> {
        let mut s = self.lock_state();
        if let Some(missing) = user.roles.iter().find(|r| s.role(r).is_none()) {
            return Err(StoreError::UnknownRole(missing.to_string()));
        }
        let key = user.username.key();
        if s.users.values().any(|u| u.username.to_lowercase() == key) {
            return Err(StoreError::Conflict(UniqueField::Username));
        }
        if s.users.values().any(|u| u.email == user.email.as_str()) {
            return Err(StoreError::Conflict(UniqueField::Email));
        }
        s.next_user += 1;
        let id = s.next_user;
        s.users.insert(
            id,
            UserRow {
                username: user.username.as_str().to_owned(),
                email: user.email.as_str().to_owned(),
                hash: user.password_hash,
                disabled: false,
                created_at: user.created_at,
                roles: user.roles,
            },
        );
        if let Some(mut event) = audit {
            event.target = format!("user:{id}");
            let audit_id = s.audit.len() as i64 + 1;
            s.audit.push(AuditEvent {
                id: audit_id,
                event,
            });
        }
        Ok(UserId(id))
    }

    async fn find_conflict(
        &self,
        username: &Username,
        email: &Email,
    ) -> Result<Option<UniqueField>, StoreError> {
        let s = self.lock_state();
        let key = username.key();
        if s.users.values().any(|u| u.username.to_lowercase() == key) {
            Ok(Some(UniqueField::Username))
        } else if s.users.values().any(|u| u.email == email.as_str()) {
            Ok(Some(UniqueField::Email))
        } else {
            Ok(None)
        }
    }

    async fn find_login(&self, username: &Username) -> Result<Option<LoginRecord>, StoreError> {
        let s = self.lock_state();
        let key = username.key();
        Ok(s.users
            .iter()
            .find(|(_, u)| u.username.to_lowercase() == key)
            .map(|(id, u)| LoginRecord {
                id: UserId(*id),
                username: u.username.clone(),
                email: u.email.clone(),
                password_hash: u.hash.clone(),
                disabled: u.disabled,
                email_verified: true,
            }))
    }

    async fn login_by_id(&self, id: UserId) -> Result<Option<LoginRecord>, StoreError> {
        let s = self.lock_state();
        Ok(s.users.get(&id.0).map(|u| LoginRecord {
            id,
            username: u.username.clone(),
            email: u.email.clone(),
            password_hash: u.hash.clone(),
            disabled: u.disabled,
            email_verified: true,
        }))
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: PasswordHash,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock_state();
        Ok(match s.users.get_mut(&id.0) {
            Some(u) if u.hash == *expected => {
                u.hash = new;
                true
            }
            _ => false,
        })
    }

    async fn grants_of(&self, id: UserId) -> Result<(Vec<RoleName>, Vec<Permission>), StoreError> {
        let s = self.lock_state();
        Ok(s.users
            .get(&id.0)
            .map(|u| (s.ordered(&u.roles), s.permissions_of(u)))
            .unwrap_or_default())
    }

    async fn profile(&self, id: UserId) -> Result<Option<UserProfile>, StoreError> {
        let s = self.lock_state();
        Ok(s.users.get(&id.0).map(|row| UserProfile {
            user: s.user(id.0, row),
            permissions: s.permissions_of(row),
        }))
    }

    async fn missing_roles(&self, names: &[RoleName]) -> Result<Vec<RoleName>, StoreError> {
        let s = self.lock_state();
        Ok(names
            .iter()
            .filter(|n| s.role(n).is_none())
            .cloned()
            .collect())
    }
}

#[async_trait]
impl AdminStore for InMemory {
    async fn list_users(
        &self,
        query: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<User>, StoreError> {
        let s = self.lock_state();
        let all: Vec<User> = s
            .users
            .iter()
            .filter(|(_, u)| {
                query.is_none_or(|q| {
                    u.username.to_lowercase().starts_with(q) || u.email.starts_with(q)
                })
            })
            .map(|(id, u)| s.user(*id, u))
            .collect();
        Ok(page_of(&all, page, |u| u.id.0, false))
    }

    async fn set_user_roles(
        &self,
        id: UserId,
        roles: &[RoleName],
        change: Change,
    ) -> Result<(), StoreError> {
        self.admin_write(change, |s| {
            if let Some(missing) = roles.iter().find(|r| s.role(r).is_none()) {
                return Err(StoreError::UnknownRole(missing.to_string()));
            }
            let row = s.users.get_mut(&id.0).ok_or(StoreError::NotFound)?;
            row.roles = roles.to_vec();
            Ok(())
        })
    }

    async fn set_user_disabled(
        &self,
        id: UserId,
        disabled: bool,
        change: Change,
    ) -> Result<(), StoreError> {
        let at = change.audit.at;
        self.admin_write(change, |s| {
            let row = s.users.get_mut(&id.0).ok_or(StoreError::NotFound)?;
            row.disabled = disabled;
            if disabled {
                for t in s.refresh.iter_mut().filter(|t| t.user_id == id) {
                    t.revoked = true;
                    t.rotated_at.get_or_insert(at);
                }
            }
            Ok(())
        })
    }

    async fn delete_user(&self, id: UserId, change: Change) -> Result<(), StoreError> {
        self.admin_write(change, |s| {
            s.users.remove(&id.0).ok_or(StoreError::NotFound)?;
            s.refresh.retain(|t| t.user_id != id);
            Ok(())
        })
    }

    async fn record_change(&self, change: Change) -> Result<(), StoreError> {
        self.admin_write(change, |_| Ok(()))
    }

    /// Second factors are not kept here ([`super::MemoryMfa`] is apart):
    /// the change is checked and audited.
    async fn reset_second_factors(&self, id: UserId, change: Change) -> Result<(), StoreError> {
        self.admin_write(change, |s| {
            s.users.get(&id.0).map(|_| ()).ok_or(StoreError::NotFound)
        })
    }

    async fn list_roles(&self) -> Result<Vec<RoleInfo>, StoreError> {
        Ok(self.lock_state().roles.clone())
    }

    async fn create_role(&self, role: &RoleInfo, change: Change) -> Result<(), StoreError> {
        self.admin_write(change, |s| {
            if s.role(&role.name).is_some() {
                return Err(StoreError::Conflict(UniqueField::Role));
            }
            if let Some(p) = role
                .permissions
                .iter()
                .find(|p| !s.permissions.iter().any(|k| &k.name == *p))
            {
                return Err(StoreError::UnknownPermission(p.to_string()));
            }
            s.roles.push(role.clone());
            Ok(())
        })
    }

    async fn update_role(
        &self,
        name: &RoleName,
        permissions: &[Permission],
        description: Option<&Description>,
        change: Change,
    ) -> Result<(), StoreError> {
        self.admin_write(change, |s| {
            if let Some(p) = permissions
                .iter()
                .find(|p| !s.permissions.iter().any(|k| &k.name == *p))
            {
                return Err(StoreError::UnknownPermission(p.to_string()));
            }
            let role = s
                .roles
                .iter_mut()
                .find(|r| &r.name == name)
                .ok_or(StoreError::NotFound)?;
            let mut sorted = permissions.to_vec();
            sorted.sort();
            role.permissions = sorted;
            if let Some(d) = description {
                role.description = d.clone();
            }
            Ok(())
        })
    }

    async fn delete_role(&self, name: &RoleName, change: Change) -> Result<(), StoreError> {
        self.admin_write(change, |s| {
            let before = s.roles.len();
            s.roles.retain(|r| &r.name != name);
            if s.roles.len() == before {
                return Err(StoreError::NotFound);
            }
            for u in s.users.values_mut() {
                u.roles.retain(|r| r != name);
            }
            Ok(())
        })
    }

    async fn list_permissions(&self) -> Result<Vec<PermissionInfo>, StoreError> {
        let mut all = self.lock_state().permissions.clone();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    async fn create_permission(
        &self,
        permission: &PermissionInfo,
        grant_to: &[RoleName],
        change: Change,
    ) -> Result<(), StoreError> {
        self.admin_write(change, |s| {
            if s.permissions.iter().any(|k| k.name == permission.name) {
                return Err(StoreError::Conflict(UniqueField::Permission));
            }
            s.permissions.push(permission.clone());
            for role in s.roles.iter_mut().filter(|r| grant_to.contains(&r.name)) {
                role.permissions.push(permission.name.clone());
                role.permissions.sort();
            }
            Ok(())
        })
    }

    async fn list_audit(&self, page: PageRequest) -> Result<Page<AuditEvent>, StoreError> {
        let newest_first: Vec<AuditEvent> = self.lock_state().audit.iter().rev().cloned().collect();
        Ok(page_of(&newest_first, page, |e| e.id, true))
    }

    async fn count_active_admins(&self) -> Result<u64, StoreError> {
        Ok(self.lock_state().active_admins())
    }
}
