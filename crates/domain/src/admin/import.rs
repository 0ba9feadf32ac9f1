//! Importing accounts from another system (the Node tutorial's database):
//! each account keeps its password hash (bcrypt there), which the first
//! successful sign-in replaces with argon2id.
//!
//! Nothing is merged silently: rows whose name or address rolegate refuses,
//! and rows that share a username (case-insensitively, as rolegate compares
//! them) or an address with another row, are reported and skipped, all of
//! them (which one is the owner is for a person to decide). Re-running
//! skips the accounts already present (same username key), so an import
//! can be repeated after fixing the source.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::checked::Checked;
use super::{AdminService, names};
use crate::access::permissions::UsersWrite;
use crate::access::{Granted, Operator};
use crate::dedup;
use crate::error::{Error, StoreError, UniqueField};
use crate::roles::RoleName;
use crate::users::{Email, NewUser, PasswordHash, UserId, Username};

/// An account as the source system holds it.
#[derive(Clone)]
pub struct LegacyUser {
    /// Its id in the source (for the report).
    pub source_id: i64,
    pub username: Option<String>,
    pub email: Option<String>,
    /// The stored hash, kept as it is (bcrypt: `$2a$`, `$2b$`, `$2y$`).
    pub password_hash: Option<String>,
    /// Role names as the source spells them.
    pub roles: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for LegacyUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyUser")
            .field("source_id", &self.source_id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// How to import.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Decide and report, write nothing.
    pub dry_run: bool,
    /// Mark the addresses verified (the operator vouches for them). By
    /// default they are not: the source never verified them.
    pub emails_verified: bool,
}

/// What happened to one source account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Created (or, in a dry run, would be) with these roles.
    Imported {
        id: Option<UserId>,
        roles: Vec<RoleName>,
    },
    /// A rolegate account with the same username key exists (imported before).
    AlreadyPresent,
    /// Another source account has the same username (case-insensitively)
    /// or address: none of them is imported.
    Duplicate {
        field: UniqueField,
        others: Vec<i64>,
    },
    /// The username, address or hash is not acceptable to rolegate.
    Invalid { field: &'static str, reason: String },
    /// The address belongs to another rolegate account.
    EmailTaken,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLine {
    pub source_id: i64,
    /// As the source spells it (it may be invalid).
    pub username: String,
    pub email: String,
    pub outcome: Outcome,
    /// Role names of the source that rolegate does not have (not granted).
    pub unknown_roles: Vec<String>,
}

/// What an import did (or would do), one line per source account, in
/// source order.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub dry_run: bool,
    pub lines: Vec<ImportLine>,
}

impl ImportReport {
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.lines.iter().filter(|l| f(&l.outcome)).count()
    }
    pub fn imported(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Imported { .. }))
    }
    pub fn already_present(&self) -> usize {
        self.count(|o| matches!(o, Outcome::AlreadyPresent))
    }
    pub fn duplicates(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Duplicate { .. }))
    }
    pub fn invalid(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Invalid { .. }))
    }
    pub fn email_taken(&self) -> usize {
        self.count(|o| matches!(o, Outcome::EmailTaken))
    }
    /// Every unknown role name, once, sorted.
    pub fn unknown_roles(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .lines
            .iter()
            .flat_map(|l| l.unknown_roles.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// bcrypt as stored by the tutorial (bcryptjs `$2a$`) and its cousins: the
/// identifier, a two-digit cost, 53 characters of salt and hash.
fn is_bcrypt_hash(hash: &str) -> bool {
    let bytes = hash.as_bytes();
    hash.len() == 60
        && ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
        && bytes
            .get(4..6)
            .is_some_and(|c| c.iter().all(u8::is_ascii_digit))
        && bytes.get(6) == Some(&b'$')
        && bytes.get(7..).is_some_and(|rest| {
            rest.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'/'))
        })
}

/// A source account rolegate can take, before duplicates are looked at.
struct Candidate {
    index: usize,
    source_id: i64,
    created_at: Option<DateTime<Utc>>,
    username: Username,
    email: Email,
    hash: PasswordHash,
    roles: Vec<RoleName>,
}

impl AdminService {
    /// Imports `users` (see the module's documentation). Each account is
    /// created with its audit event (`user.import`, the operator as actor).
    pub async fn import_users(
        &self,
        operator: Operator,
        users: Vec<LegacyUser>,
        options: ImportOptions,
    ) -> Result<ImportReport, Error> {
        let actor = self
            .check(Granted::<UsersWrite>::operator(operator))
            .await?;
        let catalogue = self.deps.admin.list_roles().await?;
        let mut lines = Vec::with_capacity(users.len());
        let mut candidates = Vec::new();
        for (index, legacy) in users.iter().enumerate() {
            let mut line = ImportLine {
                source_id: legacy.source_id,
                username: legacy.username.clone().unwrap_or_default(),
                email: legacy.email.clone().unwrap_or_default(),
                outcome: Outcome::AlreadyPresent,
                unknown_roles: Vec::new(),
            };
            let mut roles = Vec::new();
            for raw in &legacy.roles {
                match RoleName::parse(raw) {
                    Ok(role) if catalogue.iter().any(|c| c.name == role) => roles.push(role),
                    _ => line.unknown_roles.push(raw.clone()),
                }
            }
            // Left without a known role: `user`, every new account's role.
            if roles.is_empty() {
                roles.push(RoleName::user());
            }
            let parsed = (|| {
                let username = Username::parse(legacy.username.as_deref().unwrap_or(""))
                    .map_err(|e| ("username", e))?;
                let email = Email::parse(legacy.email.as_deref().unwrap_or(""))
                    .map_err(|e| ("email", e))?;
                let hash = legacy
                    .password_hash
                    .as_deref()
                    .filter(|h| is_bcrypt_hash(h))
                    .ok_or((
                        "password",
                        "is not a bcrypt hash ($2a$, $2b$ or $2y$)".to_owned(),
                    ))?;
                Ok::<_, (&'static str, String)>((username, email, PasswordHash::new(hash.into())))
            })();
            match parsed {
                Ok((username, email, hash)) => candidates.push(Candidate {
                    index,
                    source_id: legacy.source_id,
                    created_at: legacy.created_at,
                    username,
                    email,
                    hash,
                    roles: dedup(&roles),
                }),
                Err((field, reason)) => line.outcome = Outcome::Invalid { field, reason },
            }
            lines.push(line);
        }

        // Duplicates among the valid ones, by rolegate's keys.
        let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut by_email: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for c in &candidates {
            by_name.entry(c.username.key()).or_default().push(c.index);
            by_email
                .entry(c.email.as_str().to_owned())
                .or_default()
                .push(c.index);
        }
        let source_ids = |group: &[usize], me: usize| -> Vec<i64> {
            group
                .iter()
                .filter(|&&i| i != me)
                .filter_map(|&i| users.get(i).map(|u| u.source_id))
                .collect()
        };
        let mut unique = Vec::new();
        for c in candidates {
            let name_group = by_name
                .get(&c.username.key())
                .map_or(&[][..], Vec::as_slice);
            let email_group = by_email
                .get(c.email.as_str())
                .map_or(&[][..], Vec::as_slice);
            let duplicate = if name_group.len() > 1 {
                Some((UniqueField::Username, source_ids(name_group, c.index)))
            } else if email_group.len() > 1 {
                Some((UniqueField::Email, source_ids(email_group, c.index)))
            } else {
                None
            };
            match (duplicate, lines.get_mut(c.index)) {
                (Some((field, others)), Some(line)) => {
                    line.outcome = Outcome::Duplicate { field, others }
                }
                _ => unique.push(c),
            }
        }

        for c in unique {
            let index = c.index;
            let outcome = match self.deps.users.find_conflict(&c.username, &c.email).await? {
                Some(UniqueField::Email) => Outcome::EmailTaken,
                Some(_) => Outcome::AlreadyPresent,
                None if options.dry_run => Outcome::Imported {
                    id: None,
                    roles: c.roles,
                },
                None => self.import_one(&actor, c, options).await?,
            };
            if let Some(line) = lines.get_mut(index) {
                line.outcome = outcome;
            }
        }
        tracing::info!(
            actor = %actor.name,
            dry_run = options.dry_run,
            source_accounts = users.len(),
            "audit: import finished"
        );
        Ok(ImportReport {
            dry_run: options.dry_run,
            lines,
        })
    }

    /// Creates one account with its audit event; a name or address taken
    /// meanwhile is reported like one found before.
    async fn import_one(
        &self,
        actor: &Checked,
        c: Candidate,
        options: ImportOptions,
    ) -> Result<Outcome, Error> {
        let now = self.now();
        let change = actor.change(
            now,
            "user.import",
            // The store sets `user:<new id>`.
            String::new(),
            json!({
                "username": c.username.as_str(),
                "roles": names(&c.roles),
                "source_id": c.source_id,
            }),
            Vec::new(),
        );
        let created = self
            .deps
            .users
            .create_user(
                NewUser {
                    username: c.username,
                    email: c.email,
                    password_hash: c.hash,
                    roles: c.roles.clone(),
                    created_at: c.created_at.unwrap_or(now),
                    email_verified: options.emails_verified,
                    welcome: None,
                },
                Some(change.audit),
            )
            .await;
        match created {
            Ok(id) => {
                tracing::info!(actor = %actor.name, user_id = %id, source_id = c.source_id, roles = ?names(&c.roles), "audit: user imported");
                Ok(Outcome::Imported {
                    id: Some(id),
                    roles: c.roles,
                })
            }
            Err(StoreError::Conflict(UniqueField::Email)) => Ok(Outcome::EmailTaken),
            Err(StoreError::Conflict(_)) => Ok(Outcome::AlreadyPresent),
            Err(e) => Err(e.into()),
        }
    }
}
