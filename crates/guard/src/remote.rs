//! A verifier that fetches rolegate's JWKS and keeps it fresh.
//!
//! One background task per verifier (shared by its clones) fetches the
//! document at start, retries with exponential backoff while rolegate is
//! unreachable, then refreshes it when its `Cache-Control: max-age` runs out
//! (clamped to `[min_refresh_interval, max_refresh_interval]`). A token that
//! names an unknown key asks for an early refresh, at most once per
//! `min_refresh_interval`. The task holds only a `Weak` reference and ends
//! when the last clone of the verifier is dropped.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use tokio::sync::{mpsc, watch};

use crate::verifier::{KeyError, KeyState, TokenVerifier, VerifierConfig, keys_from_jwks};

/// The first retry after a failed fetch; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between retries after failed fetches.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The largest JWKS document read.
const MAX_JWKS_BYTES: u64 = 256 * 1024;

/// Where rolegate publishes its keys, and how often to read them.
///
/// ```
/// use std::time::Duration;
/// use rolegate_guard::RemoteJwks;
///
/// let remote = RemoteJwks::new("https://auth.example.com/.well-known/jwks.json")
///     .min_refresh_interval(Duration::from_secs(30));
/// assert_eq!(remote.max_refresh_interval, Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteJwks {
    /// The JWKS URL (`http://…` or `https://…`), e.g.
    /// `https://auth.example.com/.well-known/jwks.json`.
    pub url: String,
    /// The shortest time between two fetches asked for by tokens with an
    /// unknown key, and the shortest refresh period (default 10 s).
    pub min_refresh_interval: Duration,
    /// The longest time a fetched key set is used without a refresh
    /// (default 300 s); also the period when the response has no `max-age`.
    pub max_refresh_interval: Duration,
    /// The timeout of one fetch, connection included (default 5 s).
    pub fetch_timeout: Duration,
}

impl RemoteJwks {
    /// The JWKS at `url`, with the default intervals (10 s, 300 s) and fetch
    /// timeout (5 s).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            min_refresh_interval: Duration::from_secs(10),
            max_refresh_interval: Duration::from_secs(300),
            fetch_timeout: Duration::from_secs(5),
        }
    }

    /// Sets [`min_refresh_interval`](Self::min_refresh_interval).
    pub fn min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// Sets [`max_refresh_interval`](Self::max_refresh_interval).
    pub fn max_refresh_interval(mut self, interval: Duration) -> Self {
        self.max_refresh_interval = interval;
        self
    }

    /// Sets [`fetch_timeout`](Self::fetch_timeout).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }
}

impl TokenVerifier {
    /// A verifier that fetches rolegate's JWKS from `remote.url` and keeps it
    /// fresh, so that rolegate can rotate its keys without a restart of this
    /// service.
    ///
    /// Returns at once and spawns the refresh task on the current tokio
    /// runtime: **call it inside a tokio runtime** (in `main` under
    /// `#[tokio::main]` or `#[actix_web::main]`, once, then clone the
    /// verifier into your app — not inside `HttpServer::new`'s factory,
    /// which runs once per worker); outside one it returns
    /// [`KeyError::NoRuntime`]. The task ends with the runtime, or when the
    /// last clone of the verifier is dropped.
    ///
    /// The service starts even if rolegate is down: until the first fetch
    /// succeeds, tokens are refused with [`VerifyError::KeysUnavailable`]
    /// (the task retries after 1 s, 2 s, 4 s … up to 60 s). Then the key set
    /// is refreshed after the response's `Cache-Control: max-age`, clamped to
    /// `[min_refresh_interval, max_refresh_interval]`; each refresh replaces
    /// the whole set, so a key rolegate dropped stops verifying. A failed
    /// refresh keeps the last good set (and logs a warning).
    /// [`verify_fresh`](Self::verify_fresh) (used by the extractors) refreshes
    /// early for a token whose `kid` is unknown, at most once per
    /// `min_refresh_interval`.
    ///
    /// [`VerifyError::KeysUnavailable`]: crate::VerifyError::KeysUnavailable
    ///
    /// ```no_run
    /// use rolegate_guard::{RemoteJwks, TokenVerifier, VerifierConfig};
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let verifier = TokenVerifier::remote(
    ///         &VerifierConfig::default(),
    ///         RemoteJwks::new("http://127.0.0.1:8080/.well-known/jwks.json"),
    ///     )?
    ///     .with_cache(4096);
    ///     let claims = verifier.verify_fresh("eyJ…").await?;
    ///     println!("user {}", claims.user_id());
    ///     Ok(())
    /// }
    /// ```
    pub fn remote(config: &VerifierConfig, remote: RemoteJwks) -> Result<Self, KeyError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| KeyError::NoRuntime)?;
        let lower = remote.url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(KeyError::Invalid(format!(
                "the JWKS URL must start with http:// or https:// (got {:?})",
                remote.url
            )));
        }
        let mut remote = remote;
        remote.max_refresh_interval = remote.max_refresh_interval.max(remote.min_refresh_interval);
        let agent = http_agent(remote.fetch_timeout);
        let (wake_tx, wake_rx) = mpsc::channel(1);
        let (done_tx, done_rx) = watch::channel(0);
        let mut state = KeyState::new(config, None);
        state.refresher = Some(Refresher {
            url: remote.url.clone(),
            gate: Mutex::new(Gate::default()),
            wake: wake_tx,
            done: done_rx,
            min_interval: remote.min_refresh_interval,
            // a fetch, plus time for the blocking pool to start it
            wait_limit: remote.fetch_timeout + Duration::from_secs(1),
        });
        let state = Arc::new(state);
        runtime.spawn(refresh_task(
            Arc::downgrade(&state),
            wake_rx,
            done_tx,
            agent,
            remote,
        ));
        Ok(Self::from_state(state))
    }
}

/// The request side of a remote verifier's refresh: rate limit and
/// single flight.
pub(crate) struct Refresher {
    url: String,
    gate: Mutex<Gate>,
    /// Wakes the task for an early fetch (capacity 1: one pending request).
    wake: mpsc::Sender<()>,
    /// The number of the last fetch that finished (successful or not).
    done: watch::Receiver<u64>,
    min_interval: Duration,
    wait_limit: Duration,
}

#[derive(Default)]
struct Gate {
    /// The number of the last fetch the task started.
    started: u64,
    /// The fetch that answers the last early-refresh request.
    target: u64,
    /// When an early refresh was last asked for.
    last_request: Option<Instant>,
}

impl Refresher {
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Waits for a fetch that started after this call, asking the task for
    /// one unless one was asked for less than `min_interval` ago; joins a
    /// fetch already asked for. `false` when rate-limited (no fetch) or when
    /// the wait timed out.
    pub(crate) async fn refresh(&self) -> bool {
        let target = {
            let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
            let finished = *self.done.borrow();
            if gate.target > finished {
                gate.target // a fetch is pending: wait for it with the others
            } else if gate
                .last_request
                .is_some_and(|t| t.elapsed() < self.min_interval)
            {
                return false;
            } else {
                gate.last_request = Some(Instant::now());
                // `started` is read under the lock the task takes to start a
                // fetch, so fetch `started + 1` begins after this request.
                gate.target = gate.started + 1;
                // Full means the task already has a request pending.
                let _ = self.wake.try_send(());
                gate.target
            }
        };
        let mut done = self.done.clone();
        matches!(
            tokio::time::timeout(self.wait_limit, done.wait_for(|n| *n >= target)).await,
            Ok(Ok(_))
        )
    }

    /// Called by the task when it starts a fetch: its number. Pending wake-ups
    /// are answered by this fetch.
    fn start_fetch(&self, wake: &mut mpsc::Receiver<()>) -> u64 {
        let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        gate.started += 1;
        while wake.try_recv().is_ok() {}
        gate.started
    }
}

async fn refresh_task(
    state: Weak<KeyState>,
    mut wake: mpsc::Receiver<()>,
    done: watch::Sender<u64>,
    agent: ureq::Agent,
    remote: RemoteJwks,
) {
    let mut delay = Duration::ZERO;
    let mut failures: u32 = 0;
    let mut loaded = false;
    loop {
        if !delay.is_zero() {
            // Sleeps until the refresh is due or a token asks for it early.
            // `Ok(None)`: every verifier is gone (the sender lives in them).
            if let Ok(None) = tokio::time::timeout(delay, wake.recv()).await {
                return;
            }
        }
        // Strong only while fetching: dropping the last verifier ends the task.
        let Some(state) = state.upgrade() else {
            return;
        };
        let Some(refresher) = state.refresher.as_ref() else {
            return;
        };
        let number = refresher.start_fetch(&mut wake);
        let outcome = match fetch(&agent, &remote.url).await {
            Ok((jwks, max_age)) => keys_from_jwks(&state.config, &jwks)
                .map(|keys| (keys, max_age))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match outcome {
            Ok((keys, max_age)) => {
                let count = keys.len();
                state.replace(keys);
                failures = 0;
                delay = max_age
                    .unwrap_or(remote.max_refresh_interval)
                    .clamp(remote.min_refresh_interval, remote.max_refresh_interval);
                if loaded {
                    tracing::debug!(url = %remote.url, keys = count, next_in = ?delay, "JWKS refreshed");
                } else {
                    tracing::info!(url = %remote.url, keys = count, "JWKS loaded");
                }
                loaded = true;
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                delay = backoff(failures);
                if loaded {
                    tracing::warn!(url = %remote.url, %error, retry_in = ?delay,
                        "could not refresh the JWKS; keeping the last good keys");
                } else {
                    tracing::warn!(url = %remote.url, %error, retry_in = ?delay,
                        "could not fetch the JWKS; tokens are refused until it is fetched");
                }
            }
        }
        done.send_replace(number);
    }
}

/// 1 s, 2 s, 4 s … up to 60 s after `failures` failed fetches in a row.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

/// The HTTP(S) client: rustls with aws-lc-rs, the crypto library
/// jsonwebtoken already uses (no second one, `ring`, in the build).
fn http_agent(timeout: Duration) -> ureq::Agent {
    let crypto = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .user_agent(concat!("rolegate-guard/", env!("CARGO_PKG_VERSION")))
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .provider(ureq::tls::TlsProvider::Rustls)
                    .unversioned_rustls_crypto_provider(crypto)
                    .build(),
            )
            .build(),
    )
}

/// GETs the JWKS on the blocking pool: the document and its `max-age`.
async fn fetch(agent: &ureq::Agent, url: &str) -> Result<(JwkSet, Option<Duration>), String> {
    let (agent, url) = (agent.clone(), url.to_owned());
    tokio::task::spawn_blocking(move || fetch_blocking(&agent, &url))
        .await
        .map_err(|e| format!("the fetch task failed: {e}"))?
}

fn fetch_blocking(agent: &ureq::Agent, url: &str) -> Result<(JwkSet, Option<Duration>), String> {
    let mut response = agent
        .get(url)
        .header("accept", "application/json")
        .call()
        .map_err(|e| e.to_string())?;
    let max_age = response
        .headers()
        .get_all("cache-control")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(max_age);
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_JWKS_BYTES)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    let jwks = serde_json::from_slice(&body).map_err(|e| format!("not a JWKS: {e}"))?;
    Ok((jwks, max_age))
}

/// `max-age=N` of a `Cache-Control` value.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|directive| {
        let (name, value) = directive.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| value.trim().trim_matches('"').parse().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=120"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(max_age("Max-Age=\"7\""), Some(Duration::from_secs(7)));
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_a_minute() {
        let secs: Vec<u64> = (1..=9).map(|f| backoff(f).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn https_uses_the_configured_crypto_provider() {
        // A TLS handshake with a peer that hangs up: an error, not the
        // "no CryptoProvider" panic of a rustls without a provider.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            drop(socket);
        });
        let agent = http_agent(Duration::from_secs(2));
        let error = fetch_blocking(&agent, &format!("https://{addr}/jwks.json")).unwrap_err();
        assert!(!error.is_empty());
        peer.join().unwrap();
    }

    #[test]
    fn remote_needs_a_runtime_and_an_http_url() {
        let remote = RemoteJwks::new("http://127.0.0.1:9/jwks.json");
        assert_eq!(
            TokenVerifier::remote(&VerifierConfig::default(), remote).err(),
            Some(KeyError::NoRuntime)
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let r = TokenVerifier::remote(&VerifierConfig::default(), RemoteJwks::new("file:///x"));
        assert!(matches!(r, Err(KeyError::Invalid(_))));
    }
}
