//! The command line: `rolegate [serve]`, `rolegate migrate …`, `rolegate openapi`,
//! `rolegate user …` ([`user`]), `rolegate import tutorial` ([`import`]).
//!
//! Commands other than `serve` print their results on stdout and log only
//! warnings and errors (on stderr) unless `--verbose`.

mod dev;
mod import;
mod user;

use clap::{Parser, Subcommand};

pub use dev::{DevAction, SEED_PASSWORD};
pub use import::ImportAction;
pub use user::UserAction;

use crate::settings::Settings;
use crate::startup::{Application, open_database};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "rolegate",
    version,
    about = "JWT authentication and role-based access control",
    after_help = "Configuration: the profile named by ROLEGATE_ENV (development — the default —, \
test, compat — the Node tutorial's behaviour —, or production) is built in; on top of it \
/etc/rolegate/rolegate.toml when present, ROLEGATE_CONFIG_DIR/{default,<profile>}.toml when \
set, --config FILE, then environment variables ROLEGATE__SECTION__KEY (e.g. \
ROLEGATE__DATABASE__URL). A key or variable that names no setting stops the start. \
`rolegate config check` shows the effective configuration and every problem in it."
)]
pub struct Cli {
    /// A configuration file layered over the built-in profile and the
    /// system and ROLEGATE_CONFIG_DIR files (environment variables still win).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Log at the configured level (`log.level`, info by default) instead of
    /// warnings and errors only. Commands other than `serve` print results
    /// on stdout and logs on stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
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
    /// Check the configuration as `serve` would, without touching the database.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Manage users: create (the first admin too), grant and revoke roles,
    /// disable, enable, delete, set a password, unlock, list.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Bring users from another system into rolegate's database.
    Import {
        #[command(subcommand)]
        action: ImportAction,
    },
    /// Development and benchmark tools (refused under the production profile).
    Dev {
        #[command(subcommand)]
        action: DevAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the effective configuration (profile, files, ROLEGATE__*
    /// variables) exactly as `serve` would and print it, secrets redacted.
    /// Exits non-zero with every problem listed.
    Check,
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

/// Logging for commands other than `serve`: warnings and errors only,
/// unless `--verbose` (then `log.level`). `RUST_LOG` still wins.
fn init_command_logging(settings: &Settings, verbose: bool) {
    let mut log = settings.log.clone();
    if !verbose && !matches!(log.level.trim(), "error" | "off") {
        log.level = "warn".into();
    }
    telemetry::init(&log);
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    let verbose = cli.verbose;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config {
            action: ConfigAction::Check,
        } => config_check(config.as_deref()),
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
            let settings = Settings::load_with_file(config.as_deref())?;
            telemetry::init(&settings.log);
            Application::build(settings)
                .await?
                .run_until_stopped()
                .await?;
            Ok(())
        }
        Command::User { action } => {
            let settings = Settings::load_with_file(config.as_deref())?;
            init_command_logging(&settings, verbose);
            let db = open_database(&settings).await?;
            let result = user::run(&settings, &db, action).await;
            db.close().await;
            result
        }
        Command::Import { action } => {
            let settings = Settings::load_with_file(config.as_deref())?;
            init_command_logging(&settings, verbose);
            let db = open_database(&settings).await?;
            let result = import::run(&settings, &db, action).await;
            db.close().await;
            result
        }
        Command::Dev { action } => {
            let settings = Settings::load_with_file(config.as_deref())?;
            init_command_logging(&settings, verbose);
            dev::refuse_in_production(&settings)?;
            let db = open_database(&settings).await?;
            let result = dev::run(&settings, &db, action).await;
            db.close().await;
            result
        }
        Command::Migrate { action } => {
            let mut settings = Settings::load_with_file(config.as_deref())?;
            init_command_logging(&settings, verbose);
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

/// `rolegate config check`: what `serve` would run with, and what is wrong with it.
fn config_check(file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let sources = crate::settings::Sources::from_env(file)?;
    let mut settings = Settings::load_sources(&sources)?;
    let mut problems = settings.problems();
    // What `serve` checks next, short of the database: the hasher's
    // parameters, the signing keys (when configured: a development secret
    // would be generated, not checked), the mail templates and transport.
    if let Err(e) = rolegate_auth::Argon2Hasher::new(settings.auth.hashing) {
        problems.push(format!("auth.hashing: {e}"));
    }
    let has_key = !settings.auth.key_files.is_empty()
        || !secrecy::ExposeSecret::expose_secret(&settings.auth.jwt_secret).is_empty()
        || !settings.auth.jwt_secret_file.is_empty();
    if has_key
        && settings.profile != crate::settings::Profile::Production
        && let Err(e) = settings.key_set()
    {
        problems.push(format!("{e:#}"));
    }
    if let Err(e) = crate::mail::mail_adapters(&settings) {
        problems.push(format!("{e:#}"));
    }
    println!("profile: {}", settings.profile.as_str());
    let read: Vec<String> = sources
        .files
        .iter()
        .filter(|(p, _)| p.is_file())
        .map(|(p, _)| p.display().to_string())
        .collect();
    println!(
        "files: built-in default and {} profile{}",
        settings.profile.as_str(),
        if read.is_empty() {
            String::new()
        } else {
            format!(", then {}", read.join(", "))
        }
    );
    settings.database.url = rolegate_persistence::redact_url(&settings.database.url);
    println!("{settings:#?}");
    if problems.is_empty() {
        println!("configuration OK");
        Ok(())
    } else {
        for problem in &problems {
            println!("problem: {problem}");
        }
        anyhow::bail!("{} problem(s) in the configuration", problems.len())
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// Every command, argument and flag explains itself in `--help`.
    #[test]
    fn every_command_and_flag_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() && path != " rolegate" {
                missing.push(path.clone());
            }
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:?}");
    }

    #[test]
    fn the_help_names_profiles_variables_config_check_and_verbose() {
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "ROLEGATE_ENV",
            "development",
            "test",
            "compat",
            "production",
            "ROLEGATE__SECTION__KEY",
            "config check",
            "--verbose",
        ] {
            assert!(help.contains(needle), "{needle} missing from:\n{help}");
        }
        let mut cmd = Cli::command();
        let list = cmd
            .find_subcommand_mut("user")
            .and_then(|u| u.find_subcommand_mut("list"))
            .map(|l| l.render_long_help().to_string())
            .unwrap_or_default();
        assert!(
            list.contains("Columns: id, username, email, status (active or disabled), roles"),
            "{list}"
        );
    }
}
