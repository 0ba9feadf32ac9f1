//! Test helpers: keys and tokens made by rolegate-auth (as the rolegate
//! server makes them), and a tiny JWKS server on loopback.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rolegate_auth::{JwtConfig, KeyKind, KeySet, TokenService, generate_private_pem};
use rolegate_domain::{AccessSubject, Permission, RoleName, SystemClock, TokenIssuer, UserId};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub const SECRET: &str = "a-shared-secret-of-at-least-32-bytes";

fn jwt_config() -> JwtConfig {
    JwtConfig {
        issuer: "rolegate".into(),
        audience: "rolegate".into(),
        access_ttl_secs: 900,
        leeway_secs: 0,
    }
}

/// An Ed25519 private key as PKCS#8 PEM.
pub fn ed25519_pem() -> (String, Vec<u8>) {
    (
        "ed25519".into(),
        generate_private_pem(KeyKind::Ed25519).unwrap().into_bytes(),
    )
}

/// rolegate's key set for these PEMs (the first signs; all are published).
pub fn key_set(pems: &[(String, Vec<u8>)]) -> KeySet {
    KeySet::from_private_pems(pems).unwrap()
}

/// A token issuer like rolegate's.
pub fn issuer(keys: KeySet) -> TokenService {
    TokenService::new(jwt_config(), keys, Arc::new(SystemClock)).unwrap()
}

/// rolegate's HS256 issuer with [`SECRET`].
pub fn hs256_issuer() -> TokenService {
    TokenService::hs256(
        jwt_config(),
        &SecretString::from(SECRET),
        Arc::new(SystemClock),
    )
    .unwrap()
}

/// A token for user 7 `ann` with these roles and permissions.
pub fn token(svc: &TokenService, roles: &[&str], perms: &[&str]) -> String {
    svc.issue_access(&AccessSubject {
        user_id: UserId(7),
        username: "ann".into(),
        roles: roles.iter().map(|r| RoleName::parse(r).unwrap()).collect(),
        permissions: perms
            .iter()
            .map(|p| Permission::parse(p).unwrap())
            .collect(),
        session: None,
        amr: vec![],
    })
    .unwrap()
    .token
}

/// A token for user 7 `ann` (role `user`) issued for session `sid`.
pub fn token_in_session(svc: &TokenService, sid: &str) -> String {
    svc.issue_access(&AccessSubject {
        user_id: UserId(7),
        username: "ann".into(),
        roles: vec![RoleName::user()],
        permissions: vec![],
        session: Some(sid.into()),
        amr: vec![],
    })
    .unwrap()
    .token
}

/// A well-formed access token naming key `kid`, not validly signed.
pub fn token_with_kid(kid: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header =
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}"}}"#));
    let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"1"}"#);
    format!("{header}.{payload}.c2lnbmF0dXJl")
}

/// A JWKS server on 127.0.0.1 whose document can be swapped, that counts
/// the requests it answers, and that can be stopped and started again on
/// the same port.
pub struct JwksServer {
    pub addr: SocketAddr,
    body: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    /// The `Cache-Control: max-age` sent, if any.
    max_age: Arc<Mutex<Option<u64>>>,
    task: Option<JoinHandle<()>>,
}

impl JwksServer {
    /// A server that is not running yet, on a port that was free.
    pub async fn reserve() -> Self {
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        Self {
            addr,
            body: Arc::new(Mutex::new(r#"{"keys":[]}"#.into())),
            fetches: Arc::new(AtomicUsize::new(0)),
            max_age: Arc::new(Mutex::new(None)),
            task: None,
        }
    }

    /// A running server publishing `keys`.
    pub async fn serving(keys: &KeySet) -> Self {
        let mut server = Self::reserve().await;
        server.publish(keys);
        server.start().await;
        server
    }

    pub fn url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }

    /// Serves the public keys of `keys` from now on.
    pub fn publish(&self, keys: &KeySet) {
        *self.body.lock().unwrap() = serde_json::to_string(keys.jwks()).unwrap();
    }

    pub fn set_max_age(&self, max_age: Option<u64>) {
        *self.max_age.lock().unwrap() = max_age;
    }

    /// How many JWKS requests were answered.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    pub async fn start(&mut self) {
        assert!(self.task.is_none(), "already running");
        let listener = TcpListener::bind(self.addr).await.unwrap();
        let (body, fetches, max_age) = (
            self.body.clone(),
            self.fetches.clone(),
            self.max_age.clone(),
        );
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    continue;
                };
                let (body, fetches, max_age) = (body.clone(), fetches.clone(), max_age.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let body = body.lock().unwrap().clone();
                    let cache = match *max_age.lock().unwrap() {
                        Some(s) => format!("Cache-Control: public, max-age={s}\r\n"),
                        None => String::new(),
                    };
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{cache}\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        }));
    }

    /// Stops listening (connections are then refused).
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}
