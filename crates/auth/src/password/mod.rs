//! argon2id password hashing, run off the async workers; verification of
//! the bcrypt hashes of accounts imported from the Node tutorial, which
//! the first successful sign-in replaces with argon2id.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as Phc, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use rolegate_domain::{HashError, Password, PasswordHash, PasswordHasher};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// argon2id cost parameters and admission control. OWASP's minimum
/// (m = 19456 KiB, t = 2, p = 1) is the default and the floor: weaker
/// settings are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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

/// argon2id hasher. Hashing and verification run on dedicated threads so
/// that the async workers keep serving other requests, at most
/// `max_concurrent` at a time, with at most `max_queue` waiting: memory stays
/// bounded (≈ `max_concurrent` × `memory_kib`) under any load.
#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    admission: Arc<Admission>,
    observer: Option<Arc<dyn HashObserver>>,
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
            return Err(HashError::Failed(
                format!("argon2id parameters {config:?} are below the floor {floor:?}").into(),
            ));
        }
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| HashError::Failed(e.to_string().into()))?;
        let dummy = dummy_hash(&params)?;
        Ok(Self {
            params,
            admission: Arc::new(Admission {
                pool: HashPool::new(config.slots())?,
                slots: Arc::new(Semaphore::new(config.slots())),
                capacity: config.slots(),
                waiting: AtomicUsize::new(0),
                max_waiting: config.queue(),
            }),
            observer: None,
            dummy,
        })
    }

    /// Tells `observer` how long each hash waited for a slot and which were
    /// shed (for metrics).
    pub fn with_observer(mut self, observer: Arc<dyn HashObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The admission control's state now: hashes running and waiting.
    pub fn stats(&self) -> HashingStats {
        let a = &self.admission;
        HashingStats {
            running: a.capacity.saturating_sub(a.slots.available_permits()),
            waiting: a.waiting.load(Ordering::Relaxed),
            max_running: a.capacity,
            max_waiting: a.max_waiting,
        }
    }
}

/// Hears about admission to the hashing threads (see
/// [`Argon2Hasher::with_observer`]). Called on the request's task: keep it
/// cheap.
pub trait HashObserver: Send + Sync + 'static {
    /// A hash got its slot after waiting `waited` (zero when one was free).
    fn admitted(&self, waited: std::time::Duration);
    /// A hash was refused at once: every slot busy and the line full.
    fn shed(&self);
}

/// A reading of the admission control ([`Argon2Hasher::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingStats {
    /// Hashes holding a slot (running, or about to).
    pub running: usize,
    /// Hashes waiting for a slot.
    pub waiting: usize,
    pub max_running: usize,
    pub max_waiting: usize,
}

fn failed(e: impl std::fmt::Display) -> HashError {
    HashError::Failed(e.to_string().into())
}

thread_local! {
    /// The argon2 working memory of this hashing thread, kept between hashes.
    /// Allocating and freeing ~19 MiB per hash made glibc raise its mmap and
    /// trim thresholds, after which freed memory stayed in the heaps: RSS
    /// reached ~280 MiB under 1000 concurrent sign-ins (measured by
    /// `make bench`). Kept per thread, memory is `max_concurrent` x m, always.
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs argon2 into `out` with this thread's reusable working memory.
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), HashError> {
    MEMORY.with(|memory| {
        let mut memory = memory.try_borrow_mut().map_err(failed)?;
        let need = params.block_count();
        if memory.len() < need {
            memory.resize(need, Block::default());
        }
        let blocks = memory
            .get_mut(..need)
            .ok_or_else(|| failed("argon2 memory"))?;
        Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(password, salt, out, blocks)
            .map_err(failed)
    })
}

/// A PHC string with the configured parameters, a random salt and a random
/// output: verifying any password against it costs exactly what a real
/// verification costs, and never succeeds. Nothing is computed at start.
fn dummy_hash(params: &Params) -> Result<PasswordHash, HashError> {
    let mut output = [0u8; 32];
    rand::fill(&mut output);
    phc_string(params, &argon2::password_hash::generate_salt(), &output)
}

fn phc_string(params: &Params, salt: &[u8], output: &[u8]) -> Result<PasswordHash, HashError> {
    let phc = Phc {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(failed)?,
        salt: Some(Salt::new(salt).map_err(failed)?),
        hash: Some(Output::new(output).map_err(failed)?),
    };
    Ok(PasswordHash::new(phc.to_string()))
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<PasswordHash, HashError> {
    let salt = argon2::password_hash::generate_salt();
    let mut output = [0u8; 32];
    compute(
        Algorithm::Argon2id,
        Version::V0x13,
        params,
        password,
        &salt,
        &mut output,
    )?;
    phc_string(params, &salt, &output)
}

/// bcrypt's identifiers (`$2a$` — what the tutorial's bcryptjs writes —,
/// `$2b$`, `$2y$`): hashes of imported accounts, until their next sign-in.
fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| hash.starts_with(prefix))
}

/// bcrypt reads at most 72 bytes of a password.
pub const BCRYPT_MAX_PASSWORD_BYTES: usize = 72;

/// Verifies a bcrypt hash (at the cost stored in it). A password longer
/// than 72 bytes is refused: bcrypt would accept it by its first 72 bytes
/// alone. It is refused after the same work as a wrong password, so the
/// answer and its time are those of a wrong password.
fn verify_bcrypt(password: &[u8], hash: &str) -> Result<bool, HashError> {
    let matches = bcrypt::verify(password, hash).map_err(failed)?;
    Ok(matches && password.len() <= BCRYPT_MAX_PASSWORD_BYTES)
}

/// Verifies a stored hash of either kind: argon2 (PHC) or bcrypt.
fn verify_stored(password: &[u8], stored: &str) -> Result<bool, HashError> {
    if is_bcrypt(stored) {
        verify_bcrypt(password, stored)
    } else {
        verify_blocking(password, stored)
    }
}

/// Verifies with the parameters stored in the hash (so raising the
/// configured cost later keeps old hashes working); constant-time compare.
fn verify_blocking(password: &[u8], phc: &str) -> Result<bool, HashError> {
    let parsed = Phc::new(phc).map_err(failed)?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(failed("stored hash has no salt or output"));
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(failed)?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(failed)?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(failed)?;
    let mut output = vec![0u8; expected.len()];
    compute(
        algorithm,
        version,
        &params,
        password,
        salt.as_ref(),
        &mut output,
    )?;
    Ok(Output::new(&output).map_err(failed)? == *expected)
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of threads that run the hashes: one per admission slot.
///
/// Not tokio's blocking pool: each argon2id hash allocates ~19 MiB, and
/// glibc keeps that memory in the arena of whichever thread freed it. Spread
/// over the blocking pool's many threads, RSS grew to ~900 MiB under load
/// (measured by `make bench`); on a fixed set it stays near slots × 19 MiB.
struct HashPool {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl HashPool {
    fn new(threads: usize) -> Result<Self, HashError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = match queue.lock() {
                            Ok(q) => match q.recv() {
                                Ok(job) => job,
                                Err(_) => return, // the hasher is gone
                            },
                            Err(_) => return,
                        };
                        // A panicking job must not take the thread with it.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .map_err(|e| HashError::Failed(Box::new(e)))?;
        }
        Ok(Self { jobs })
    }

    fn run(&self, job: Job) -> Result<(), HashError> {
        self.jobs
            .send(job)
            .map_err(|_| HashError::Failed("the hashing threads stopped".into()))
    }
}

/// Admission control: a slot per running hash, a bounded waiting line.
struct Admission {
    pool: HashPool,
    slots: Arc<Semaphore>,
    /// The number of slots.
    capacity: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
}

struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
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
        // Leaves the line when dropped: also when the request is cancelled
        // while it waits, so the count never drifts up.
        let _in_line = InLine(&self.waiting);
        let permit = self.slots.clone().acquire_owned().await;
        permit.map_err(|e| HashError::Failed(e.to_string().into()))
    }
}

impl Argon2Hasher {
    /// Runs `f` on the blocking pool once admitted, keeping the caller's
    /// tracing span. The slot is held by the job itself, so a cancelled
    /// request cannot free it while its hash still runs.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let started = std::time::Instant::now();
        let admitted = self.admission.admit().await;
        if let Some(observer) = &self.observer {
            match &admitted {
                Ok(_) => observer.admitted(started.elapsed()),
                Err(HashError::Overloaded) => observer.shed(),
                Err(_) => {}
            }
        }
        let permit = admitted?;
        let span = tracing::Span::current();
        let (done, result) = tokio::sync::oneshot::channel();
        self.admission.pool.run(Box::new(move || {
            let result = span.in_scope(f);
            drop(permit); // free the slot before the caller sees the result
            let _ = done.send(result);
        }))?;
        result
            .await
            .map_err(|_| HashError::Failed("the hashing thread ended".into()))?
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
        let password = password.clone();
        let known = hash.is_some();
        let phc = hash.unwrap_or(&self.dummy).clone();
        let ok = self
            .run(move || verify_stored(password.expose().as_bytes(), phc.as_str()))
            .await?;
        Ok(ok && known)
    }

    /// bcrypt (imported accounts), another algorithm or version than
    /// argon2id v0x13, or any cost below the configured one. An unreadable
    /// hash is left alone (it never verifies anyway).
    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        if is_bcrypt(hash.as_str()) {
            return true;
        }
        let Ok(parsed) = Phc::new(hash.as_str()) else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        parsed.algorithm.as_str() != "argon2id"
            || parsed.version != Some(0x13)
            || params.m_cost() < self.params.m_cost()
            || params.t_cost() < self.params.t_cost()
            || params.p_cost() < self.params.p_cost()
    }
}

#[cfg(test)]
mod tests;
