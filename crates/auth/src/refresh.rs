//! Opaque refresh tokens: 256 random bits, URL-safe; stored only as a hash.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use rolegate_domain::RefreshSecrets;
use sha2::{Digest, Sha256};

/// Generates, hashes and seals refresh tokens.
///
/// Sealing: the successor of a rotated token is stored encrypted with
/// ChaCha20-Poly1305 under the key SHA-256(domain ‖ predecessor), with a
/// random 96-bit nonce stored beside the ciphertext:
/// `v2.` + base64url(nonce ‖ ciphertext ‖ tag) (98 characters for a token).
/// Only the holder of the predecessor can derive the key, so a database dump
/// alone reveals no live token, and a sealed value that was changed in any
/// way does not open (the grace window then treats the presentation as
/// reuse). The grace window uses it to hand other tabs the same successor.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpaqueRefreshTokens;

const TOKEN_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
/// The format of sealed values (the first was an unauthenticated XOR).
const SEAL_PREFIX: &str = "v2.";
/// What the seal authenticates besides the successor: its purpose.
const SEAL_AAD: &[u8] = b"rolegate-refresh-successor";

fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(bytes.as_mut_slice());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sealer(presented: &str) -> ChaCha20Poly1305 {
    let digest: [u8; 32] = Sha256::digest(
        [
            b"rolegate-refresh-seal:v2:".as_slice(),
            presented.as_bytes(),
        ]
        .concat(),
    )
    .into();
    ChaCha20Poly1305::new(&Key::from(digest))
}

impl RefreshSecrets for OpaqueRefreshTokens {
    fn generate(&self) -> String {
        random_b64(TOKEN_BYTES)
    }

    fn new_family_id(&self) -> String {
        random_b64(16)
    }

    fn hash(&self, token: &str) -> String {
        let digest =
            Sha256::digest([b"rolegate-refresh-id:".as_slice(), token.as_bytes()].concat());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn seal(&self, successor: &str, presented: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::fill(&mut nonce);
        let payload = Payload {
            msg: successor.as_bytes(),
            aad: SEAL_AAD,
        };
        match sealer(presented).encrypt(&Nonce::from(nonce), payload) {
            Ok(ciphertext) => {
                let mut sealed = nonce.to_vec();
                sealed.extend_from_slice(&ciphertext);
                format!("{SEAL_PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed))
            }
            // Only for inputs far beyond a token's size; such a seal never opens.
            Err(_) => String::new(),
        }
    }

    fn open(&self, sealed: &str, presented: &str) -> Option<String> {
        let raw = URL_SAFE_NO_PAD
            .decode(sealed.strip_prefix(SEAL_PREFIX)?)
            .ok()?;
        if raw.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_BYTES);
        let nonce = Nonce::try_from(nonce).ok()?;
        let payload = Payload {
            msg: ciphertext,
            aad: SEAL_AAD,
        };
        let plain = sealer(presented).decrypt(&nonce, payload).ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_url_safe_and_unique() {
        let t = OpaqueRefreshTokens;
        let a = t.generate();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a, t.generate());
        assert_ne!(t.new_family_id(), t.new_family_id());
    }

    #[test]
    fn hash_is_stable_hex_and_not_the_token() {
        let t = OpaqueRefreshTokens;
        let a = t.generate();
        assert_eq!(t.hash(&a), t.hash(&a));
        assert_eq!(t.hash(&a).len(), 64);
        assert!(!t.hash(&a).contains(&a));
        assert_ne!(t.hash(&a), t.hash(&t.generate()));
    }

    #[test]
    fn seal_opens_only_with_the_predecessor() {
        let t = OpaqueRefreshTokens;
        let (old, next) = (t.generate(), t.generate());
        let sealed = t.seal(&next, &old);
        assert!(!sealed.contains(&next));
        assert_eq!(t.open(&sealed, &old).as_deref(), Some(next.as_str()));
        assert_eq!(t.open(&sealed, &t.generate()), None, "another key");
        assert_eq!(t.open("garbage!", &old), None);
        assert_eq!(t.open("", &old), None);
        assert_eq!(t.open("v2.", &old), None);
        assert!(sealed.len() <= 128, "fits the column: {}", sealed.len());
        assert_ne!(t.seal(&next, &old), sealed, "a fresh nonce each time");
    }

    #[test]
    fn a_tampered_seal_does_not_open() {
        let t = OpaqueRefreshTokens;
        let (old, next) = (t.generate(), t.generate());
        let sealed = t.seal(&next, &old);
        let raw = URL_SAFE_NO_PAD
            .decode(sealed.strip_prefix(SEAL_PREFIX).unwrap())
            .unwrap();
        // every bit of nonce, ciphertext and tag is authenticated
        for i in 0..raw.len() {
            for bit in [0x01u8, 0x80] {
                let mut changed = raw.clone();
                changed[i] ^= bit;
                let forged = format!("{SEAL_PREFIX}{}", URL_SAFE_NO_PAD.encode(&changed));
                assert_eq!(t.open(&forged, &old), None, "byte {i} bit {bit:#x}");
            }
        }
        // truncated, extended, or without the format prefix
        let short = format!(
            "{SEAL_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(&raw[..raw.len() - 1])
        );
        assert_eq!(t.open(&short, &old), None);
        let long = format!(
            "{SEAL_PREFIX}{}",
            URL_SAFE_NO_PAD.encode([raw.as_slice(), &[0]].concat())
        );
        assert_eq!(t.open(&long, &old), None);
        assert_eq!(
            t.open(sealed.strip_prefix(SEAL_PREFIX).unwrap(), &old),
            None
        );
        // the XOR-sealed form of the first version does not open either
        assert_eq!(t.open(&next, &old), None);
    }
}
