//! Opaque refresh tokens: 256 random bits, URL-safe; stored only as a hash.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rolegate_domain::RefreshSecrets;
use sha2::{Digest, Sha256};

/// Generates, hashes and seals refresh tokens.
///
/// Sealing: the successor of a rotated token is stored XOR-ed with
/// SHA-256(domain ‖ predecessor). Each key is used exactly once (a token has
/// one successor) and only the holder of the predecessor can derive it, so a
/// database dump alone reveals no live token; the grace window uses it to
/// hand a second tab the same successor.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpaqueRefreshTokens;

const TOKEN_BYTES: usize = 32;

fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(bytes.as_mut_slice());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn seal_key(presented: &str) -> [u8; 32] {
    Sha256::digest([b"rolegate-refresh-seal:".as_slice(), presented.as_bytes()].concat()).into()
}

fn xor32(data: &[u8], key: &[u8; 32]) -> Option<[u8; 32]> {
    let data: [u8; 32] = data.try_into().ok()?;
    let mut out = [0u8; 32];
    for (o, (d, k)) in out.iter_mut().zip(data.iter().zip(key)) {
        *o = d ^ k;
    }
    Some(out)
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
        URL_SAFE_NO_PAD
            .decode(successor)
            .ok()
            .and_then(|raw| xor32(&raw, &seal_key(presented)))
            .map(|sealed| URL_SAFE_NO_PAD.encode(sealed))
            .unwrap_or_default()
    }

    fn open(&self, sealed: &str, presented: &str) -> Option<String> {
        let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        xor32(&raw, &seal_key(presented)).map(|t| URL_SAFE_NO_PAD.encode(t))
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
        assert_ne!(sealed, next);
        assert_eq!(t.open(&sealed, &old).as_deref(), Some(next.as_str()));
        assert_ne!(
            t.open(&sealed, &t.generate()).as_deref(),
            Some(next.as_str())
        );
        assert_eq!(t.open("garbage!", &old), None);
    }
}
