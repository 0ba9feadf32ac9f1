//! argon2id password hashing, run off the async workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use rolegate_domain::{HashError, Password, PasswordHash, PasswordHasher};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// argon2id cost parameters and admission control. OWASP's minimum
/// (m = 19456 KiB, t = 2, p = 1) is the default and the floor: weaker
/// settings are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct HashingConfig {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Hashes that may run at once (each holds `memory_kib`); 0 = one per core.
    #[serde(default)]
    pub max_concurrent: usize,
    /// Hashes that may wait for a slot; beyond that requests are refused at
    /// once (503 + Retry-After). 0 = 64 per concurrent slot.
    #[serde(default)]
    pub max_queue: usize,
}

impl HashingConfig {
    pub const FLOOR: HashingConfig = HashingConfig {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
        max_concurrent: 0,
        max_queue: 0,
    };

    fn slots(&self) -> usize {
        match self.max_concurrent {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    fn queue(&self) -> usize {
        match self.max_queue {
            0 => 64 * self.slots(),
            n => n,
        }
    }
}

impl Default for HashingConfig {
    fn default() -> Self {
        Self::FLOOR
    }
}

/// argon2id hasher. Hashing and verification run on tokio's blocking pool so
/// that the async workers keep serving other requests, at most
/// `max_concurrent` at a time, with at most `max_queue` waiting: memory stays
/// bounded (≈ `max_concurrent` × `memory_kib`) under any load.
#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    admission: Arc<Admission>,
    /// A hash of a random password, verified against for unknown users so that
    /// they cost the same as a wrong password.
    dummy: PasswordHash,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Argon2Hasher {
    pub fn new(config: HashingConfig) -> Result<Self, HashError> {
        let floor = HashingConfig::FLOOR;
        if config.memory_kib < floor.memory_kib
            || config.iterations < floor.iterations
            || config.parallelism < floor.parallelism
        {
            return Err(HashError::Failed(format!(
                "argon2id parameters {config:?} are below the floor {floor:?}"
            )));
        }
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| HashError::Failed(e.to_string()))?;
        let mut random = [0u8; 32];
        rand::fill(&mut random);
        let dummy = hash_blocking(&params, &random)?;
        Ok(Self {
            params,
            admission: Arc::new(Admission {
                slots: Arc::new(Semaphore::new(config.slots())),
                waiting: AtomicUsize::new(0),
                max_waiting: config.queue(),
            }),
            dummy,
        })
    }

    fn argon2(params: &Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
    }
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<PasswordHash, HashError> {
    Argon2Hasher::argon2(params)
        .hash_password(password)
        .map(|h| PasswordHash::new(h.to_string()))
        .map_err(|e| HashError::Failed(e.to_string()))
}

fn verify_blocking(params: &Params, password: &[u8], phc: &str) -> Result<bool, HashError> {
    match Argon2Hasher::argon2(params).verify_password(password, phc) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(HashError::Failed(e.to_string())),
    }
}

/// Admission control: a slot per running hash, a bounded waiting line.
struct Admission {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Admission {
    /// A slot, waiting in line if there is room in it; `Overloaded` otherwise.
    async fn admit(&self) -> Result<OwnedSemaphorePermit, HashError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Overloaded);
        }
        let permit = self.slots.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit.map_err(|e| HashError::Failed(e.to_string()))
    }
}

impl Argon2Hasher {
    /// Runs `f` on the blocking pool once admitted, keeping the caller's
    /// tracing span. The slot is held by the blocking task itself, so a
    /// cancelled request cannot free it while its hash still runs.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = self.admission.admit().await?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(f)
        })
        .await
        .map_err(|e| HashError::Failed(format!("hashing task failed: {e}")))?
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let params = self.params.clone();
        let password = password.clone();
        self.run(move || hash_blocking(&params, password.expose().as_bytes()))
            .await
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, HashError> {
        let params = self.params.clone();
        let password = password.clone();
        let known = hash.is_some();
        let phc = hash.unwrap_or(&self.dummy).clone();
        let ok = self
            .run(move || verify_blocking(&params, password.expose().as_bytes(), phc.as_str()))
            .await?;
        Ok(ok && known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse(s).unwrap()
    }

    #[tokio::test]
    async fn hash_round_trip() {
        let h = Argon2Hasher::new(HashingConfig::default()).unwrap();
        let hash = h.hash(&pw("correct horse battery")).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            h.verify(&pw("correct horse battery"), Some(&hash))
                .await
                .unwrap()
        );
        assert!(
            !h.verify(&pw("wrong horse battery"), Some(&hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let h = Argon2Hasher::new(HashingConfig::default()).unwrap();
        assert!(!h.verify(&pw("anything at all"), None).await.unwrap());
    }

    #[tokio::test]
    async fn salts_differ() {
        let h = Argon2Hasher::new(HashingConfig::default()).unwrap();
        let a = h.hash(&pw("same password")).await.unwrap();
        let b = h.hash(&pw("same password")).await.unwrap();
        assert_ne!(a.as_str(), b.as_str());
    }

    #[test]
    fn parameters_below_the_floor_are_refused() {
        for weak in [
            HashingConfig {
                memory_kib: 4096,
                ..HashingConfig::FLOOR
            },
            HashingConfig {
                iterations: 1,
                ..HashingConfig::FLOOR
            },
            HashingConfig {
                parallelism: 0,
                ..HashingConfig::FLOOR
            },
        ] {
            assert!(Argon2Hasher::new(weak).is_err(), "{weak:?}");
        }
    }

    #[tokio::test]
    async fn beyond_slots_and_queue_requests_are_shed_at_once() {
        let h = Argon2Hasher::new(HashingConfig {
            max_concurrent: 1,
            max_queue: 2,
            ..HashingConfig::FLOOR
        })
        .unwrap();
        let hash = h.hash(&pw("correct horse battery")).await.unwrap();
        let password = pw("correct horse battery");
        let attempts = (0..10).map(|_| h.verify(&password, Some(&hash)));
        let started = std::time::Instant::now();
        let results = futures_util::future::join_all(attempts).await;
        let shed = results
            .iter()
            .filter(|r| matches!(r, Err(HashError::Overloaded)))
            .count();
        let ok = results.iter().filter(|r| matches!(r, Ok(true))).count();
        assert_eq!(
            (ok, shed),
            (3, 7),
            "one running + two queued; the rest shed"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        // capacity comes back
        assert!(h.verify(&password, Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn corrupt_stored_hash_is_an_error_not_a_match() {
        let h = Argon2Hasher::new(HashingConfig::default()).unwrap();
        let bad = PasswordHash::new("not-a-phc-string".into());
        assert!(h.verify(&pw("whatever pw"), Some(&bad)).await.is_err());
    }
}
