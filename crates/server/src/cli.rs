//! The command line: `rolegate [serve]`, `rolegate migrate …`, `rolegate openapi`.

use clap::{Parser, Subcommand};

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
    /// Manage users: create the first admin, grant roles, unlock, list.
    User {
        #[command(subcommand)]
        action: UserAction,
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
pub enum UserAction {
    /// Create a user. The password is read from --password-file, or from
    /// standard input (a prompt without echo on a terminal, else one line).
    /// Weak passwords are refused.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// A role to grant; repeat for several (default: user).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// A file holding the password.
        #[arg(long)]
        password_file: Option<std::path::PathBuf>,
    },
    /// Add a role to a user.
    Grant { username: String, role: String },
    /// Clear a user's failed sign-in counters (from every address), so that
    /// a locked-out owner may sign in at once. Needs `rate_limit.store =
    /// "database"`: with the in-memory store the counters live in the running
    /// server; use POST /api/admin/users/{id}/unlock there instead.
    Unlock { username: String },
    /// List users (id, username, e-mail, roles, status).
    List {
        /// Only users whose username or e-mail contains this.
        #[arg(long)]
        q: Option<String>,
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
    let config = cli.config;
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
            telemetry::init(&settings.log);
            let db = open_database(&settings).await?;
            let result = user(&settings, &db, action).await;
            db.close().await;
            result
        }
        Command::Migrate { action } => {
            let mut settings = Settings::load_with_file(config.as_deref())?;
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

/// A domain error as the command line prints it: the API's message
/// (field errors read `Invalid input: password is too weak: …`).
fn field_errors(e: rolegate_domain::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", rolegate_api::error::describe(e))
}

fn read_password(file: Option<&std::path::Path>) -> anyhow::Result<rolegate_domain::Password> {
    use std::io::IsTerminal as _;
    if let Some(path) = file {
        return crate::startup::read_password_file(path);
    }
    let line = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            anyhow::bail!("the passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    rolegate_domain::Password::parse(&line).map_err(|e| anyhow::anyhow!("the password {e}"))
}

async fn user(
    settings: &Settings,
    db: &rolegate_persistence::Database,
    action: UserAction,
) -> anyhow::Result<()> {
    use rolegate_domain::access::permissions::UsersRead;
    use rolegate_domain::{CreateUser, Email, Granted, Operator, PageRequest, RoleName, Username};
    use std::sync::Arc;
    let hasher = rolegate_auth::Argon2Hasher::new(settings.auth.hashing)?;
    // The shared counters; with the in-memory store they are the server's own.
    let attempts = Arc::new(db.clone());
    let admin = crate::startup::admin_service(
        db,
        Arc::new(hasher),
        Arc::new(rolegate_domain::SystemClock),
        attempts,
    );
    let parse_role = |r: &str| RoleName::parse(r).map_err(|e| anyhow::anyhow!("role {r:?}: {e}"));
    match action {
        UserAction::Create {
            username,
            email,
            roles,
            password_file,
        } => {
            let username =
                Username::parse(&username).map_err(|e| anyhow::anyhow!("username {e}"))?;
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("email {e}"))?;
            let roles = if roles.is_empty() {
                vec![RoleName::user()]
            } else {
                roles
                    .iter()
                    .map(|r| parse_role(r))
                    .collect::<anyhow::Result<_>>()?
            };
            let password = read_password(password_file.as_deref())?;
            let id = admin
                .create_user(
                    Operator::Cli,
                    CreateUser {
                        username: username.clone(),
                        email,
                        password,
                        roles: roles.clone(),
                    },
                )
                .await
                .map_err(field_errors)?;
            let names: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
            println!(
                "created user {username} (id {id}) with roles {}",
                names.join(", ")
            );
        }
        UserAction::Grant { username, role } => {
            let username =
                Username::parse(&username).map_err(|e| anyhow::anyhow!("username {e}"))?;
            let role = parse_role(&role)?;
            let profile = admin
                .grant(Operator::Cli, &username, role)
                .await
                .map_err(field_errors)?;
            let names: Vec<&str> = profile.user.roles.iter().map(RoleName::as_str).collect();
            println!("{username} now has roles {}", names.join(", "));
        }
        UserAction::Unlock { username } => {
            let username =
                Username::parse(&username).map_err(|e| anyhow::anyhow!("username {e}"))?;
            let profile = admin
                .unlock(Operator::Cli, &username)
                .await
                .map_err(field_errors)?;
            println!(
                "{} (id {}) unlocked: its sign-in counters are cleared",
                profile.user.username, profile.user.id
            );
            if settings.rate_limit.store == crate::settings::AttemptStoreKind::Memory {
                eprintln!(
                    "warning: rate_limit.store is \"memory\": the running server keeps its own \
                     counters, which this command cannot reach; unlock through the API \
                     (POST /api/admin/users/{}/unlock) or set rate_limit.store = \"database\"",
                    profile.user.id
                );
            }
        }
        UserAction::List { q } => {
            let mut page = 1;
            println!(
                "{:>6}  {:<32} {:<40} {:<9} roles",
                "id", "username", "email", "status"
            );
            loop {
                let found = admin
                    .list_users(
                        Granted::<UsersRead>::operator(Operator::Cli),
                        q.as_deref(),
                        PageRequest::parse(Some(page), Some(PageRequest::MAX_PER_PAGE))
                            .map_err(|e| anyhow::anyhow!("{e:?}"))?,
                    )
                    .await
                    .map_err(field_errors)?;
                for u in &found.items {
                    let roles: Vec<&str> = u.roles.iter().map(RoleName::as_str).collect();
                    println!(
                        "{:>6}  {:<32} {:<40} {:<9} {}",
                        u.id,
                        u.username,
                        u.email,
                        if u.disabled { "disabled" } else { "active" },
                        roles.join(",")
                    );
                }
                if u64::from(page) * u64::from(found.per_page) >= found.total {
                    break;
                }
                page += 1;
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
    if let Err(e) = crate::startup::mail_adapters(&settings) {
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
