//! argon2id and bcrypt: parameters, admission control, verification.
use super::*;

fn pw(s: &str) -> Password {
    Password::parse(s).unwrap()
}

#[tokio::test]
async fn hashes_below_the_configured_cost_need_a_rehash() {
    let today = Argon2Hasher::new(HashingConfig::default()).unwrap();
    let stronger = Argon2Hasher::new(HashingConfig {
        memory_kib: 32_768,
        ..HashingConfig::default()
    })
    .unwrap();
    let old = hash_blocking(&Params::new(8192, 1, 1, Some(32)).unwrap(), b"pw").unwrap();
    let new = today.hash(&pw("correct horse battery")).await.unwrap();
    assert!(today.needs_rehash(&old));
    assert!(!today.needs_rehash(&new));
    assert!(stronger.needs_rehash(&new));
    let strong = stronger.hash(&pw("correct horse battery")).await.unwrap();
    assert!(
        !today.needs_rehash(&strong),
        "stronger than configured: kept"
    );
    let argon2i = PasswordHash::new(new.as_str().replacen("argon2id", "argon2i", 1));
    assert!(today.needs_rehash(&argon2i));
    assert!(!today.needs_rehash(&PasswordHash::new("not a hash".into())));
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
    #[derive(Default)]
    struct Counts {
        admitted: AtomicUsize,
        shed: AtomicUsize,
    }
    impl HashObserver for Counts {
        fn admitted(&self, _: std::time::Duration) {
            self.admitted.fetch_add(1, Ordering::SeqCst);
        }
        fn shed(&self) {
            self.shed.fetch_add(1, Ordering::SeqCst);
        }
    }
    let h = Argon2Hasher::new(HashingConfig {
        max_concurrent: 1,
        max_queue: 2,
        ..HashingConfig::FLOOR
    })
    .unwrap();
    let hash = h.hash(&pw("correct horse battery")).await.unwrap();
    let observer = Arc::new(Counts::default());
    let h = h.with_observer(observer.clone());
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
    assert_eq!(
        (
            observer.admitted.load(Ordering::SeqCst),
            observer.shed.load(Ordering::SeqCst)
        ),
        (3, 7)
    );
    assert_eq!(h.stats().max_running, 1);
    assert_eq!((h.stats().running, h.stats().waiting), (0, 0));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // capacity comes back
    assert!(h.verify(&password, Some(&hash)).await.unwrap());
}

#[test]
fn hashes_are_standard_phc_both_ways() {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
    let params = Params::new(19_456, 2, 1, None).unwrap();
    // ours, verified by the argon2 crate
    let ours = hash_blocking(&params, b"interop password").unwrap();
    assert!(
        Argon2::default()
            .verify_password(b"interop password", ours.as_str())
            .is_ok()
    );
    assert!(
        Argon2::default()
            .verify_password(b"other password", ours.as_str())
            .is_err()
    );
    // the argon2 crate's (other parameters too), verified by ours
    let theirs = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(24_000, 3, 1, None).unwrap(),
    )
    .hash_password(b"interop password")
    .unwrap()
    .to_string();
    assert!(verify_blocking(b"interop password", &theirs).unwrap());
    assert!(!verify_blocking(b"other password", &theirs).unwrap());
    // the dummy never matches and has the configured cost
    let dummy = dummy_hash(&params).unwrap();
    assert!(
        dummy
            .as_str()
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );
    assert!(!verify_blocking(b"", dummy.as_str()).unwrap());
}

#[tokio::test]
async fn a_cancelled_wait_leaves_the_line() {
    let h = Argon2Hasher::new(HashingConfig {
        max_concurrent: 1,
        max_queue: 1,
        ..HashingConfig::FLOOR
    })
    .unwrap();
    let hash = h.hash(&pw("correct horse battery")).await.unwrap();
    let password = pw("correct horse battery");
    for _ in 0..5 {
        // one runs, one waits and is cancelled by the timeout
        let running = h.verify(&password, Some(&hash));
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(1),
            h.verify(&password, Some(&hash)),
        );
        let (r, _) = tokio::join!(running, waiting);
        assert!(r.unwrap());
    }
    assert_eq!(h.admission.waiting.load(Ordering::SeqCst), 0);
    assert!(h.verify(&password, Some(&hash)).await.unwrap());
}

/// A bcrypt hash as bcryptjs (the tutorial) writes it: `$2a$`, cost 8.
fn bcryptjs_hash(password: &[u8]) -> PasswordHash {
    let salt: [u8; 16] = rand::random();
    let parts = bcrypt::hash_with_salt(password, 8, salt).unwrap();
    PasswordHash::new(parts.format_for_version(bcrypt::Version::TwoA))
}

#[tokio::test]
async fn bcrypt_hashes_verify_and_need_a_rehash() {
    let h = Argon2Hasher::new(HashingConfig::default()).unwrap();
    let hash = bcryptjs_hash(b"tutorial password");
    assert!(hash.as_str().starts_with("$2a$08$"));
    assert!(
        h.verify(&pw("tutorial password"), Some(&hash))
            .await
            .unwrap()
    );
    assert!(
        !h.verify(&pw("tutorial passwore"), Some(&hash))
            .await
            .unwrap()
    );
    assert!(h.needs_rehash(&hash));
    for prefix in ["$2b$", "$2y$"] {
        let other = PasswordHash::new(hash.as_str().replacen("$2a$", prefix, 1));
        assert!(
            h.verify(&pw("tutorial password"), Some(&other))
                .await
                .unwrap()
        );
        assert!(h.needs_rehash(&other));
    }
    let corrupt = PasswordHash::new("$2a$08$tooshort".into());
    assert!(
        h.verify(&pw("tutorial password"), Some(&corrupt))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn bcrypt_never_verifies_a_password_longer_than_72_bytes() {
    let h = Argon2Hasher::new(HashingConfig::default()).unwrap();
    let exact = "x".repeat(BCRYPT_MAX_PASSWORD_BYTES);
    let hash = bcryptjs_hash(exact.as_bytes());
    assert!(
        h.verify(&pw(&exact), Some(&hash)).await.unwrap(),
        "72 bytes: verified"
    );
    // bcrypt alone accepts it by its first 72 bytes; we do not
    let longer = format!("{exact}-and-more");
    assert!(bcrypt::verify(longer.as_bytes(), hash.as_str()).unwrap());
    assert!(!h.verify(&pw(&longer), Some(&hash)).await.unwrap());
    // multi-byte characters count in bytes: 36 × 'é' = 72 bytes, one more is 74
    let accents = "é".repeat(36);
    let hash = bcryptjs_hash(accents.as_bytes());
    assert!(h.verify(&pw(&accents), Some(&hash)).await.unwrap());
    assert!(
        !h.verify(&pw(&format!("{accents}é")), Some(&hash))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn corrupt_stored_hash_is_an_error_not_a_match() {
    let h = Argon2Hasher::new(HashingConfig::default()).unwrap();
    let bad = PasswordHash::new("not-a-phc-string".into());
    assert!(h.verify(&pw("whatever pw"), Some(&bad)).await.is_err());
}
