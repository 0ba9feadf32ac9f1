//! `rolegate import tutorial`: the Node tutorial's tables as Sequelize
//! creates them, on MariaDB, with bcryptjs-style hashes (`$2a$`, cost 8),
//! imported into the backend under test; the users then sign in with their
//! tutorial passwords, and their hashes become argon2id.

use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

use crate::helpers::{TestDb, cli, expect_error, spawn_on, test_settings, with_database};

const ROOT_PW: &str = "correct horse battery staple";

/// A hash as the tutorial's bcryptjs makes it: `$2a$`, cost 8.
fn bcryptjs(password: &str) -> String {
    let salt: [u8; 16] = rand::random();
    bcrypt::hash_with_salt(password, 8, salt)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoA)
}

/// The tutorial's database on the MariaDB server, dropped afterwards.
struct TutorialDb {
    server: String,
    name: String,
    url: String,
}

/// The tables as Sequelize (`sync()`) creates them for the tutorial's
/// models: `User`, `Role` and their `user_roles` through-table.
const SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS `users` (`id` INTEGER NOT NULL auto_increment , \
     `username` VARCHAR(255), `email` VARCHAR(255), `password` VARCHAR(255), \
     `createdAt` DATETIME NOT NULL, `updatedAt` DATETIME NOT NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS `roles` (`id` INTEGER , `name` VARCHAR(255), \
     `createdAt` DATETIME NOT NULL, `updatedAt` DATETIME NOT NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS `user_roles` (`createdAt` DATETIME NOT NULL, \
     `updatedAt` DATETIME NOT NULL, `roleId` INTEGER , `userId` INTEGER , \
     PRIMARY KEY (`roleId`, `userId`), \
     FOREIGN KEY (`roleId`) REFERENCES `roles` (`id`) ON DELETE CASCADE ON UPDATE CASCADE, \
     FOREIGN KEY (`userId`) REFERENCES `users` (`id`) ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB",
];

impl TutorialDb {
    async fn create(server: &str) -> Self {
        let name = format!(
            "rg_tutorial_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        let conn = Database::connect(server).await.unwrap();
        conn.execute_unprepared(&format!("CREATE DATABASE `{name}`"))
            .await
            .unwrap();
        let _ = conn.close().await;
        let url = with_database(server, &name);
        let conn = Database::connect(url.as_str()).await.unwrap();
        for ddl in SCHEMA {
            conn.execute_unprepared(ddl).await.unwrap();
        }
        let _ = conn.close().await;
        Self {
            server: server.to_owned(),
            name,
            url,
        }
    }

    async fn execute(&self, sql: &str) {
        let conn = Database::connect(self.url.as_str()).await.unwrap();
        conn.execute_unprepared(sql).await.unwrap();
        let _ = conn.close().await;
    }
}

impl Drop for TutorialDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(conn) = Database::connect(server.as_str()).await {
                    let _ = conn
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`"))
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// A 72-byte password (bcrypt reads no more).
fn long_password() -> String {
    "long tutorial password ".repeat(4)[..72].to_owned()
}

#[tokio::test]
async fn tutorial_users_are_imported_and_sign_in_with_their_passwords() {
    let Ok(server) = std::env::var("ROLEGATE_TEST_MYSQL_URL") else {
        eprintln!(
            "SKIPPED import_tutorial: set ROLEGATE_TEST_MYSQL_URL (the tutorial's database is MariaDB)"
        );
        return;
    };
    let tutorial = TutorialDb::create(&server).await;
    let long = long_password();
    // id, username, email, password, role ids
    let users: [(i64, &str, &str, &str, &[i64]); 12] = [
        (1, "alice", "alice@example.com", "alice in wonderland", &[1]),
        (2, "bob", "bob@example.com", "bob the builder", &[1, 2]),
        (3, "carol", "Carol@Example.com", "carol of the bells", &[3]),
        (4, "dave", "dave@example.com", "dave's not here", &[1, 4]),
        (5, "erin", "erin@example.com", "erin one password", &[1]),
        (
            6,
            "Erin",
            "erin.other@example.com",
            "erin two password",
            &[1],
        ),
        (7, "frank", "frank@example.com", "frank one password", &[1]),
        (
            8,
            "frankie",
            "FRANK@example.com",
            "frank two password",
            &[1],
        ),
        (9, "john doe", "john@example.com", "john's password", &[1]),
        (10, "kate", "kate@", "kate's password", &[1]),
        (11, "longpw", "long@example.com", &long, &[1]),
        (12, "grace", "grace@example.com", "grace hopper rules", &[]),
    ];
    tutorial
        .execute(
            "INSERT INTO `roles` (`id`, `name`, `createdAt`, `updatedAt`) VALUES \
             (1, 'user', NOW(), NOW()), (2, 'moderator', NOW(), NOW()), \
             (3, 'admin', NOW(), NOW()), (4, 'superuser', NOW(), NOW())",
        )
        .await;
    for (id, username, email, password, roles) in users {
        tutorial
            .execute(&format!(
                "INSERT INTO `users` (`id`, `username`, `email`, `password`, `createdAt`, `updatedAt`) \
                 VALUES ({id}, '{}', '{email}', '{}', '2024-05-06 07:08:09', NOW())",
                username.replace('\'', "''"),
                bcryptjs(password)
            ))
            .await;
        for role in roles {
            tutorial
                .execute(&format!(
                    "INSERT INTO `user_roles` (`createdAt`, `updatedAt`, `roleId`, `userId`) \
                     VALUES (NOW(), NOW(), {role}, {id})"
                ))
                .await;
        }
    }

    let db = TestDb::create().await;
    let url = db.url.clone();
    let (ok, out) = cli(
        &url,
        &[
            "user",
            "create",
            "--username",
            "root",
            "--email",
            "root@example.com",
            "--role",
            "admin",
        ],
        Some(&format!("{ROOT_PW}\n")),
    )
    .await;
    assert!(ok, "{out}");
    let import = ["import", "tutorial", "--from", tutorial.url.as_str()];

    // a dry run reports and writes nothing
    let (ok, out) = cli(&url, &[&import[..], &["--dry-run"]].concat(), None).await;
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "summary (dry run, nothing written): 6 to import, 0 already present, 4 duplicates, \
             2 invalid, 0 e-mail taken; unknown roles: superuser"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "would import    \"bob\" <bob@example.com> (tutorial id 2), roles user,moderator"
        ),
        "{out}"
    );
    assert!(!out.contains("$2a$"), "hashes are never printed: {out}");
    let (_, listed) = cli(&url, &["user", "list"], None).await;
    assert_eq!(
        listed.lines().count(),
        2,
        "only the header and root: {listed}"
    );

    // the import
    let (ok, out) = cli(&url, &import, None).await;
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "summary: 6 imported, 0 already present, 4 duplicates, 2 invalid, 0 e-mail taken; \
             unknown roles: superuser"
        ),
        "{out}"
    );
    for expected in [
        "duplicate       \"erin\" <erin@example.com> (tutorial id 5): same username as tutorial id 6",
        "duplicate       \"Erin\" <erin.other@example.com> (tutorial id 6): same username as tutorial id 5",
        "duplicate       \"frank\" <frank@example.com> (tutorial id 7): same e-mail address as tutorial id 8",
        "duplicate       \"frankie\" <FRANK@example.com> (tutorial id 8): same e-mail address as tutorial id 7",
        "invalid         \"john doe\" <john@example.com> (tutorial id 9): username may contain only",
        "invalid         \"kate\" <kate@> (tutorial id 10): email ",
        "[unknown role(s) not granted: superuser]",
    ] {
        assert!(out.contains(expected), "{expected}\n{out}");
    }

    // again: nothing new
    let (ok, again) = cli(&url, &import, None).await;
    assert!(ok, "{again}");
    assert!(
        again.contains("summary: 0 imported, 6 already present, 4 duplicates, 2 invalid"),
        "{again}"
    );

    let app = spawn_on(db, test_settings(&url)).await;
    let hash_of = |name: &'static str| {
        let app = &app;
        async move {
            app.scalar(&format!(
                "SELECT password_hash FROM users WHERE username = '{name}'"
            ))
            .await
        }
    };
    assert!(
        hash_of("alice").await.starts_with("$2a$08$"),
        "kept as it was"
    );

    // the tutorial's passwords work, with the tutorial's roles; the first
    // sign-in replaces the bcrypt hash with argon2id
    for (name, password, roles) in [
        ("alice", "alice in wonderland", json!(["ROLE_USER"])),
        (
            "bob",
            "bob the builder",
            json!(["ROLE_USER", "ROLE_MODERATOR"]),
        ),
        ("carol", "carol of the bells", json!(["ROLE_ADMIN"])),
        ("dave", "dave's not here", json!(["ROLE_USER"])),
        ("grace", "grace hopper rules", json!(["ROLE_USER"])),
    ] {
        let res = app.signin(name, password).await;
        assert_eq!(res.status(), 200, "{name}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["roles"], roles, "{name}");
        assert!(
            hash_of(name).await.starts_with("$argon2id$v=19$"),
            "{name}: re-hashed"
        );
        assert_eq!(
            app.signin(name, password).await.status(),
            200,
            "{name} again"
        );
    }
    expect_error(
        app.signin("bob", "bob the builde").await,
        401,
        "invalid_credentials",
    )
    .await;

    // bcrypt reads 72 bytes: a longer password whose first 72 bytes match
    // is refused like a wrong one, and the hash stays bcrypt
    let longer = format!("{long} and then some");
    expect_error(
        app.signin("longpw", &longer).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert!(hash_of("longpw").await.starts_with("$2a$08$"));
    assert_eq!(app.signin("longpw", &long).await.status(), 200);
    assert!(hash_of("longpw").await.starts_with("$argon2id$"));

    // audited with the actor `import`; addresses unverified; tutorial dates kept
    let body: Value = app.signin("root", ROOT_PW).await.json().await.unwrap();
    let token = body["accessToken"].as_str().unwrap();
    let log: Value = app
        .client
        .get(app.url("/api/admin/audit"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let imports = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "import" && e["action"] == "user.import")
        .count();
    assert_eq!(imports, 6, "{log}");
    let users: Value = app
        .client
        .get(app.url("/api/admin/users?q=carol"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let carol = &users["items"][0];
    assert_eq!(carol["email"], "carol@example.com", "{users}");
    assert_eq!(carol["emailVerified"], false, "{users}");
    assert!(
        carol["createdAt"]
            .as_str()
            .unwrap()
            .starts_with("2024-05-06T07:08:09"),
        "{users}"
    );
}
