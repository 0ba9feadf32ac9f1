//! Real processes the suite starts: `rolegate serve` (the built binary) and
//! HAProxy (Debian's `haproxy`; `.ci/run` installs it).

use std::io::BufRead as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{config_dir, unique_name};

/// `rolegate serve` as a child process with the test profile, port 0 and
/// the given environment; killed on drop.
pub struct Served {
    child: Child,
    address: String,
    data: PathBuf,
}

impl Served {
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let data = std::env::temp_dir().join(format!("rolegate-served-{}", unique_name("d")));
        let mut child = Command::new(env!("CARGO_BIN_EXE_rolegate"))
            .arg("serve")
            .env_remove("RUST_LOG")
            .env("ROLEGATE_ENV", "test")
            .env("ROLEGATE_CONFIG_DIR", config_dir())
            .env("ROLEGATE__SERVER__PORT", "0")
            .env("ROLEGATE__LOG__LEVEL", "info")
            .env("ROLEGATE__LOG__FORMAT", "pretty")
            .env("ROLEGATE__DATA__DIR", &data)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read the log on a thread (it keeps draining it) until the address.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<String, String>>();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut seen = String::new();
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(address) = line
                    .split_whitespace()
                    .find_map(|word| word.strip_prefix("address="))
                    .filter(|_| line.contains("rolegate listening"))
                {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(Ok(address.trim_matches('"').to_owned()));
                    }
                } else if tx.is_some() {
                    seen.push_str(&line);
                    seen.push('\n');
                }
            }
            if let Some(tx) = tx.take() {
                let _ = tx.send(Err(seen));
            }
        });
        let address = match tokio::time::timeout(Duration::from_secs(60), rx).await {
            Ok(Ok(Ok(address))) => address,
            other => {
                let _ = child.kill();
                panic!("rolegate serve did not start: {other:?}");
            }
        };
        Self {
            child,
            address,
            data,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn port(&self) -> u16 {
        self.address.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// SIGKILL: a crash, not a shutdown (nothing drains).
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

pub fn find_haproxy() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("haproxy"))
        .find(|candidate| candidate.is_file())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A HAProxy child process in front of one backend; killed on drop.
pub struct HaProxy {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl HaProxy {
    /// In front of one backend.
    pub fn start(bin: &Path, backend_port: u16) -> Self {
        Self::start_with(
            bin,
            &format!("    server app 127.0.0.1:{backend_port}\n"),
            "",
        )
    }

    /// With `servers` (`server …` lines) and extra `backend` lines.
    pub fn start_with(bin: &Path, servers: &str, backend_options: &str) -> Self {
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
             backend be\n{backend_options}{servers}"
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

    pub fn url(&self, path: &str) -> String {
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
