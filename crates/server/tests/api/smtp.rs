//! A real SMTP server for the tests: `tests/smtp_sink.py` (aiosmtpd) in a
//! child process on a free loopback port; what it receives is read back
//! from the JSON files it writes. It can be stopped and started again on
//! the same port (a mail-server outage).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A mail as the server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub rcpt_tos: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct SmtpSink {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

use crate::helpers::python;

impl SmtpSink {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("rolegate-smtp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut sink = Self {
            port,
            dir,
            child: None,
        };
        sink.start_again().await;
        sink
    }

    /// `smtp://127.0.0.1:<port>` (plain SMTP: loopback).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "already running");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let (port, dir) = (self.port, self.dir.clone());
        let child = tokio::task::spawn_blocking(move || {
            let mut child = Command::new(python())
                .arg(script)
                .arg(port.to_string())
                .arg(&dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start the test SMTP server with {} ({e}): run `make test-deps` (a .venv with aiosmtpd) or set ROLEGATE_TEST_PYTHON",
                        python().display()
                    )
                });
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "ready", "the SMTP sink did not start: run `make test-deps`");
            child
        })
        .await
        .unwrap();
        self.child = Some(child);
    }

    /// Stops the server: connections are refused until `start_again`.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every mail received so far, in order.
    pub fn all(&self) -> Vec<Mail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let v: Value =
                    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
                let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                Mail {
                    rcpt_tos: v["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap().to_owned())
                        .collect(),
                    subject: text("subject"),
                    text: text("text"),
                    html: text("html"),
                }
            })
            .collect()
    }

    /// The first mail that satisfies `pred`, waiting up to `timeout`.
    pub async fn wait_for(&self, pred: impl Fn(&Mail) -> bool, timeout: Duration) -> Mail {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(mail) = self.all().into_iter().find(|m| pred(m)) {
                return mail;
            }
            assert!(
                Instant::now() < deadline,
                "no such mail within {timeout:?}; received: {:#?}",
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
