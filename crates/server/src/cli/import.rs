//! `rolegate import tutorial --from mysql://…`: the Node tutorial's users,
//! roles and bcrypt hashes brought into rolegate's database (the one
//! configured). The hashes are kept; each is replaced by argon2id at the
//! account's first successful sign-in.

use clap::Subcommand;
use rolegate_domain::{
    ImportLine, ImportOptions, ImportOutcome, ImportReport, Operator, UniqueField,
};
use rolegate_persistence::redact_url;

use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum ImportAction {
    /// Import the Node tutorial's accounts (Sequelize tables `users`,
    /// `roles`, `user_roles` on MySQL/MariaDB) with their roles and bcrypt
    /// hashes: nobody needs a new password. Accounts already present (same
    /// username) are skipped, so it can run again; accounts sharing a
    /// username or an e-mail address in the tutorial, and names or addresses
    /// rolegate refuses, are reported and skipped; role names rolegate does
    /// not have are reported and not granted. Prints one line per tutorial
    /// account, then a summary.
    Tutorial {
        /// The tutorial's database, e.g. mysql://user:password@host:3306/testdb
        /// (read only). Also read from ROLEGATE_IMPORT_FROM, which keeps the
        /// password out of the process list.
        #[arg(
            long,
            env = "ROLEGATE_IMPORT_FROM",
            value_name = "URL",
            hide_env_values = true
        )]
        from: String,
        /// Show what would be imported and skipped; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Mark the imported addresses verified (you vouch for them). By
        /// default they are unverified: the tutorial never verified them, and
        /// with `auth.require_verified_email` their owners must verify first.
        #[arg(long)]
        emails_verified: bool,
    },
}

pub(crate) async fn run(
    settings: &Settings,
    db: &rolegate_persistence::Database,
    action: ImportAction,
) -> anyhow::Result<()> {
    let ImportAction::Tutorial {
        from,
        dry_run,
        emails_verified,
    } = action;
    let users = rolegate_persistence::read_tutorial(&from)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "reading the tutorial's database {}: {}",
                redact_url(&from),
                rolegate_api::error::describe(e.into())
            )
        })?;
    let admin = super::user::admin_service(settings, db)?;
    let report = admin
        .import_users(
            Operator::Import,
            users,
            ImportOptions {
                dry_run,
                emails_verified,
            },
        )
        .await
        .map_err(super::user::field_errors)?;
    for line in &report.lines {
        println!("{}", describe(line, dry_run));
    }
    println!("{}", summary(&report));
    if !emails_verified && report.imported() > 0 && settings.auth.require_verified_email {
        eprintln!(
            "warning: auth.require_verified_email is on and the imported addresses are \
             unverified: their owners cannot sign in until they verify (or re-run with \
             --emails-verified to vouch for them)"
        );
    }
    Ok(())
}

/// One line per tutorial account: what happened, its name, why.
fn describe(line: &ImportLine, dry_run: bool) -> String {
    let who = format!(
        "{:?} <{}> (tutorial id {})",
        line.username, line.email, line.source_id
    );
    let ids = |others: &[i64]| {
        others
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = match &line.outcome {
        ImportOutcome::Imported { id, roles } => {
            let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            match id {
                Some(id) => format!(
                    "imported        {who} as id {id}, roles {}",
                    roles.join(",")
                ),
                None if dry_run => format!("would import    {who}, roles {}", roles.join(",")),
                None => format!("imported        {who}, roles {}", roles.join(",")),
            }
        }
        ImportOutcome::AlreadyPresent => {
            format!("already present {who}: a rolegate user has this username; skipped")
        }
        ImportOutcome::Duplicate { field, others } => {
            let what = if *field == UniqueField::Email {
                "e-mail address"
            } else {
                "username"
            };
            format!(
                "duplicate       {who}: same {what} as tutorial id {}; skipped (resolve it in the tutorial's database and run again)",
                ids(others)
            )
        }
        ImportOutcome::Invalid { field, reason } => {
            format!("invalid         {who}: {field} {reason}; skipped")
        }
        ImportOutcome::EmailTaken => {
            format!("e-mail taken    {who}: another rolegate user has this address; skipped")
        }
    };
    if !line.unknown_roles.is_empty() {
        text.push_str(&format!(
            " [unknown role(s) not granted: {}]",
            line.unknown_roles.join(", ")
        ));
    }
    text
}

/// The closing line: counts per outcome, then the unknown role names.
fn summary(report: &ImportReport) -> String {
    let unknown = report.unknown_roles();
    format!(
        "{}: {} {}, {} already present, {} duplicates, {} invalid, {} e-mail taken; unknown roles: {}",
        if report.dry_run {
            "summary (dry run, nothing written)"
        } else {
            "summary"
        },
        report.imported(),
        if report.dry_run {
            "to import"
        } else {
            "imported"
        },
        report.already_present(),
        report.duplicates(),
        report.invalid(),
        report.email_taken(),
        if unknown.is_empty() {
            "none".to_owned()
        } else {
            unknown.join(", ")
        }
    )
}
