//! The command line: `rolegate [serve]`, `rolegate migrate …`, `rolegate openapi`.

use clap::{Parser, Subcommand};

use crate::settings::Settings;
use crate::startup::{Application, open_database};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "rolegate",
    version,
    about = "JWT authentication and role-based access control"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Manage the database schema.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Print the OpenAPI document (JSON).
    Openapi,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum MigrateAction {
    /// Apply all pending migrations (the default).
    Up,
    /// Roll back migrations.
    Down {
        /// How many to roll back.
        #[arg(short = 'n', long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&rolegate_api::openapi_spec())?
            );
            Ok(())
        }
        Command::Serve => {
            let settings = Settings::load()?;
            telemetry::init(&settings.log);
            Application::build(settings)
                .await?
                .run_until_stopped()
                .await?;
            Ok(())
        }
        Command::Migrate { action } => {
            let mut settings = Settings::load()?;
            telemetry::init(&settings.log);
            settings.database.run_migrations = false;
            let db = open_database(&settings).await?;
            let result = migrate(&db, action.unwrap_or(MigrateAction::Up)).await;
            db.close().await;
            result
        }
    }
}

async fn migrate(db: &rolegate_persistence::Database, action: MigrateAction) -> anyhow::Result<()> {
    match action {
        MigrateAction::Up => {
            db.migrate_up().await?;
            println!("migrations applied");
        }
        MigrateAction::Down { steps } => {
            db.migrate_down(Some(steps)).await?;
            println!("rolled back {steps} migration(s)");
        }
        MigrateAction::Status => {
            for (name, applied) in db.migration_status().await? {
                println!("{} {name}", if applied { "applied" } else { "pending" });
            }
        }
    }
    Ok(())
}
