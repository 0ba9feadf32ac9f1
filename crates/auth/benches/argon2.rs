//! The raw argon2id rate on this machine with the default (floor) parameters:
//! the reference that `make bench` compares sign-in and sign-up with.
//! Prints `argon2id_verify_per_sec_per_core=…` and `…_all_cores=…`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19_456, 2, 1, None).unwrap(),
    )
}

/// Verifications per second on one thread, for `window`.
fn rate(phc: &str, window: Duration) -> f64 {
    let a = argon2();
    let started = Instant::now();
    let mut n = 0u32;
    while started.elapsed() < window {
        a.verify_password(b"bench password 123", phc).unwrap();
        n += 1;
    }
    f64::from(n) / started.elapsed().as_secs_f64()
}

fn main() {
    // `cargo test --all-targets` runs bench targets once as a smoke test,
    // without `--bench`: skip the measurement there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("argon2 benchmark: run it with `cargo bench -p rolegate-auth --bench argon2`");
        return;
    }
    let phc = argon2()
        .hash_password(b"bench password 123")
        .unwrap()
        .to_string();
    let window = Duration::from_secs(3);
    rate(&phc, Duration::from_millis(300)); // warm up
    let per_core = rate(&phc, window);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let all: f64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores).map(|_| s.spawn(|| rate(&phc, window))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    println!("argon2id_verify_per_sec_per_core={per_core:.2}");
    println!("argon2id_verify_per_sec_all_cores={all:.2}");
    println!("cores={cores}");
}
