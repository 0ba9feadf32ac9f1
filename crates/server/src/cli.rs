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
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Write a new private key (PEM, PKCS#8) readable by its owner only.
    Generate {
        /// `ed25519` (EdDSA, recommended) or `rsa` (RS256, 2048 bits).
        #[arg(long = "type", default_value = "ed25519", value_parser = ["ed25519", "rsa"])]
        kind: String,
        /// Where to write the key.
        #[arg(long)]
        out: std::path::PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
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
        Command::Keys {
            action: KeysAction::Generate { kind, out, force },
        } => generate_key(&kind, &out, force),
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

fn generate_key(kind: &str, out: &std::path::Path, force: bool) -> anyhow::Result<()> {
    use anyhow::bail;
    use rolegate_auth::{KeyKind, KeySet, generate_private_pem};
    if out.exists() && !force {
        bail!("{} exists; pass --force to overwrite it", out.display());
    }
    let kind = if kind == "rsa" {
        KeyKind::Rsa2048
    } else {
        KeyKind::Ed25519
    };
    let pem = generate_private_pem(kind)?;
    let keys = KeySet::from_private_pems(&[(out.display().to_string(), pem.clone().into_bytes())])?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    if force && out.exists() {
        std::fs::remove_file(out)?;
    }
    crate::settings::write_private(out, pem.as_bytes())?;
    println!(
        "wrote {} ({:?}, kid {})",
        out.display(),
        keys.algorithm(),
        keys.signing_kid()
    );
    println!(
        "to sign with it, list it first: ROLEGATE__AUTH__KEY_FILES={}[,<older keys>]",
        out.display()
    );
    Ok(())
}
