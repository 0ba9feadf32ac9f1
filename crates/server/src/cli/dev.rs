//! `rolegate dev …`: tools for development and benchmarks, refused under
//! the production profile.

use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use rolegate_domain::{Password, PasswordHasher as _, StoreError, UniqueField};
use rolegate_persistence::{Database, SESSION_EVERY, SeedPlan};

use crate::settings::{Profile, Settings};

/// The password of every seeded user (benchmarks sign in with it).
pub const SEED_PASSWORD: &str = "seeded user password";

#[derive(Debug, Subcommand)]
pub enum DevAction {
    /// Add N benchmark users in bulk (set-based SQL, one argon2id hash for
    /// all): `user<id>` / `user<id>@example.com`, role `user`, password
    /// "seeded user password"; one session for every tenth user and one
    /// audit event per user. Continues after the highest user id. Refused
    /// under the production profile.
    Seed {
        /// How many users to add.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        users: u64,
        /// Users per statement and transaction.
        #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        batch: u64,
        /// Date the users and their audit events this many days back (to
        /// measure the audit retention purge); 0 is now.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=36_500))]
        age_days: u32,
    },
}

pub async fn run(settings: &Settings, db: &Database, action: DevAction) -> anyhow::Result<()> {
    match action {
        DevAction::Seed {
            users,
            batch,
            age_days,
        } => seed(settings, db, users, batch, age_days).await,
    }
}

/// Refuses development tools under the production profile.
pub fn refuse_in_production(settings: &Settings) -> anyhow::Result<()> {
    if settings.profile == Profile::Production {
        bail!(
            "`rolegate dev` is refused under the production profile (ROLEGATE_ENV=production): \
             it writes benchmark users with a published password. Run it against a scratch \
             database with ROLEGATE_ENV=development."
        );
    }
    Ok(())
}

async fn seed(
    settings: &Settings,
    db: &Database,
    users: u64,
    batch: u64,
    age_days: u32,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let hasher = rolegate_auth::Argon2Hasher::new(settings.auth.hashing)?;
    let password = Password::parse(SEED_PASSWORD).map_err(|e| anyhow::anyhow!(e))?;
    let hash = hasher.hash(&password).await?;
    let now = chrono::Utc::now();
    let plan = SeedPlan {
        users,
        password_hash: hash.as_str().to_owned(),
        at: now - chrono::Duration::days(i64::from(age_days)),
        sessions_expire_at: now + chrono::Duration::days(30),
        batch,
    };
    let seeded = db
        .seed_users(&plan, |last| {
            eprintln!(
                "seeded up to user{last} ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(UniqueField::Username) => anyhow::anyhow!(
                "a user named like a seeded one (user<id>) exists already: seed into a \
                 database without such names"
            ),
            other => anyhow::Error::new(other),
        })
        .context("seeding users")?;
    println!(
        "seeded {} users, user{} to user{} (e-mail user<id>@example.com, role user), \
         password \"{SEED_PASSWORD}\"; {} sessions (every {SESSION_EVERY}th user), {} audit \
         events; {:.1} s",
        seeded.last_id - seeded.first_id + 1,
        seeded.first_id,
        seeded.last_id,
        seeded.sessions,
        seeded.audit_events,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
