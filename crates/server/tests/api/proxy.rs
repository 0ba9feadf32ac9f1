//! Behind a real reverse proxy: HAProxy (Debian's `haproxy`; `.ci/run`
//! installs it). Without it the test is skipped, loudly.

use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::spawn_app_with;

const PW: &str = "a good long password";

fn find_haproxy() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("haproxy"))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A HAProxy child process in front of one backend; killed on drop.
struct HaProxy {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl HaProxy {
    fn start(bin: &Path, backend_port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "rolegate-haproxy-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let cfg = format!(
            "global\n    maxconn 256\n\
             defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    option forwardfor\n    default_backend be\n\
             backend be\n    server app 127.0.0.1:{backend_port}\n"
        );
        let cfg_path = dir.join("haproxy.cfg");
        std::fs::write(&cfg_path, cfg).unwrap();
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = Command::new(bin)
            .arg("-f")
            .arg(&cfg_path)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut proxy = Self { child, dir, port };
        proxy.wait_ready();
        proxy
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            let exited = self.child.try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("haproxy.log")).unwrap_or_default();
                panic!("haproxy did not start ({exited:?}): {log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A client whose connections come from `source` (any 127/8 address is
/// loopback on Linux), so that it is not the proxy's own address.
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// HAProxy's `option forwardfor` adds its own `X-Forwarded-For` line after
/// the client's: a forged first line must not pick the rate-limit bucket.
#[tokio::test]
async fn behind_haproxy_a_forged_forwarded_for_does_not_escape_the_limit() {
    let Some(bin) = find_haproxy() else {
        eprintln!(
            "\n!!! SKIPPED behind_haproxy_a_forged_forwarded_for_does_not_escape_the_limit: \
             haproxy is not installed (apt-get install -y haproxy) !!!\n"
        );
        return;
    };
    let app = spawn_app_with(|s| {
        s.rate_limit.signup_per_client = 2;
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let app_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = HaProxy::start(&bin, app_port);

    let signup = |client: &reqwest::Client, i: usize, forged: String| {
        client
            .post(proxy.url("/api/auth/signup"))
            .header("x-forwarded-for", forged)
            .json(&json!({
                "username": format!("proxied{i}"),
                "email": format!("proxied{i}@example.com"),
                "password": PW,
            }))
            .send()
    };
    let mallory = client_from("127.0.0.2");
    for i in 0..3 {
        let res = signup(&mallory, i, format!("1.2.3.{i}")).await.unwrap();
        let expected = if i < 2 { 201 } else { 429 };
        assert_eq!(
            res.status(),
            expected,
            "sign-up {i} through HAProxy with a forged X-Forwarded-For: {}",
            res.text().await.unwrap()
        );
    }
    // Another client behind the same proxy has its own count: the limit is
    // per client, not per proxy.
    let other = client_from("127.0.0.3");
    let res = signup(&other, 9, "1.2.3.0".into()).await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
}
