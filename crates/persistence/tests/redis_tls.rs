//! The Redis store over TLS (`rediss://`): a private `redis-server` with a
//! TLS port and a certificate from a CA made for the test, trusted through
//! `RedisConfig::ca_file` (as a private CA would be).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rolegate_domain::testing::attempt_store::base_time;
use rolegate_domain::{AttemptStore, Limit, Reservation, StoreError};
use rolegate_persistence::{RedisAttempts, RedisConfig};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(args: &[&str], dir: &Path) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl")
        .success();
    assert!(ok, "openssl {args:?} failed");
}

/// A test CA and a certificate for localhost it signed, in `dir`:
/// (CA certificate, server certificate, server key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let days = ["-days", "1"];
    openssl(
        &[
            &["req", "-x509", "-newkey", "rsa:2048", "-nodes"][..],
            &days,
            &[
                "-subj",
                "/CN=rolegate test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        ]
        .concat(),
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "server.csr",
        ],
        dir,
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        &[
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
            ][..],
            &days,
            &["-CAcreateserial", "-extfile", "ext.cnf", "-out", "cert.pem"],
        ]
        .concat(),
        dir,
    );
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tls_redis(ca: &Path, cert: &Path, key: &Path) -> (Killed, u16) {
    let port = free_port();
    let bin = std::env::var("ROLEGATE_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let child = Command::new(bin)
        .args(["--port", "0", "--bind", "127.0.0.1", "--save", ""])
        .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
        .arg("--tls-cert-file")
        .arg(cert)
        .arg("--tls-key-file")
        .arg(key)
        .arg("--tls-ca-cert-file")
        .arg(ca)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Killed(child), port)
}

fn limit() -> Limit {
    Limit {
        max: 1,
        window_secs: 60,
        backoff_base_secs: 60,
        backoff_max_secs: 60,
    }
}

#[tokio::test]
async fn rediss_with_a_private_ca_counts_and_an_unknown_ca_is_refused() {
    let dir = std::env::temp_dir().join(format!("rolegate-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = certificates(&dir);
    let (_redis, port) = tls_redis(&ca, &cert, &key);
    let config = |ca_file: Option<PathBuf>| RedisConfig {
        url: format!("rediss://localhost:{port}"),
        prefix: format!("rolegate-test:{}:", uuid::Uuid::new_v4().simple()),
        timeout: Duration::from_secs(2),
        ca_file,
    };

    let store = RedisAttempts::connect(&config(Some(ca.clone()))).unwrap();
    let now = base_time();
    assert_eq!(
        store.reserve("k", now, &limit()).await.unwrap(),
        Reservation::Reserved
    );
    assert!(matches!(
        store.reserve("k", now, &limit()).await.unwrap(),
        Reservation::Blocked(_)
    ));

    // The system's roots do not know the test's certificate: refused, not a panic.
    let untrusted = RedisAttempts::connect(&config(None)).unwrap();
    let outcome = untrusted.reserve("k", now, &limit()).await;
    assert!(
        matches!(outcome, Err(StoreError::Unavailable(_))),
        "{outcome:?}"
    );

    let missing = RedisAttempts::connect(&config(Some(dir.join("missing.pem"))));
    assert!(missing.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
