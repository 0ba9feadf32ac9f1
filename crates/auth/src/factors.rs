//! Second factors' arithmetic: TOTP codes (RFC 6238: SHA-1, 6 digits, 30 s,
//! what authenticator apps expect), their enrolment QR code, secrets sealed
//! at rest, recovery codes and their keyed hashes.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use chrono::{DateTime, Utc};
use rolegate_domain::{FactorError, FactorSecrets, TotpEnrolment};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, TOTP};

/// Bytes of a TOTP secret (160 bits, RFC 4226's recommendation).
const SECRET_BYTES: usize = 20;
const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
const NONCE_BYTES: usize = 12;
const SEAL_PREFIX: &str = "v1.";
const SEAL_AAD: &[u8] = b"rolegate-totp-secret";
/// Recovery codes: 10 characters of a 32-letter alphabet (50 bits), shown
/// as `xxxxx-xxxxx`; no 0/o, 1/l/i.
const CODE_ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz023456789";
const CODE_CHARS: usize = 10;
/// Pixels per QR module and the quiet zone, in modules.
const QR_SCALE: usize = 4;
const QR_BORDER: i32 = 4;

/// The key second factors are sealed and hashed with: 32 bytes from
/// configuration (`auth.mfa_encryption_key`).
pub struct MfaKey(SecretSlice<u8>);

impl MfaKey {
    /// From its configured form: 32 bytes in standard or URL-safe Base64.
    pub fn from_base64(encoded: &str) -> Result<Self, String> {
        let encoded = encoded.trim();
        let bytes = STANDARD
            .decode(encoded)
            .or_else(|_| URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')))
            .map_err(|_| "must be 32 bytes in Base64 (e.g. `openssl rand -base64 32`)")?;
        if bytes.len() != 32 {
            return Err(format!(
                "must be 32 bytes in Base64, not {} (e.g. `openssl rand -base64 32`)",
                bytes.len()
            ));
        }
        Ok(Self(bytes.into()))
    }

    /// A subkey for one purpose.
    fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        Sha256::digest([purpose, self.0.expose_secret()].concat()).into()
    }
}

/// [`FactorSecrets`] with totp-rs, ChaCha20-Poly1305 and HMAC-SHA-256.
/// Without a key nothing can be sealed or opened (enrolment answers that
/// second factors are unavailable); codes can still be checked against
/// nothing.
pub struct TotpFactors {
    seal_key: Option<[u8; 32]>,
    hash_key: [u8; 32],
    issuer: String,
}

impl TotpFactors {
    /// `issuer`: the name authenticator apps show for the account.
    pub fn new(key: Option<&MfaKey>, issuer: &str) -> Self {
        Self {
            seal_key: key.map(|k| k.derive(b"rolegate-mfa-seal:v1:")),
            hash_key: key.map_or([0; 32], |k| k.derive(b"rolegate-mfa-recovery:v1:")),
            issuer: issuer.to_owned(),
        }
    }

    fn totp(&self, secret: &[u8], account: &str) -> TOTP {
        TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            0,
            STEP_SECS,
            secret.to_vec(),
            Some(self.issuer.clone()),
            account.to_owned(),
        )
    }

    fn sealer(&self) -> Result<ChaCha20Poly1305, FactorError> {
        let key = self
            .seal_key
            .ok_or_else(|| FactorError("no auth.mfa_encryption_key is configured".into()))?;
        Ok(ChaCha20Poly1305::new(&Key::from(key)))
    }
}

fn factor_error(message: &str) -> FactorError {
    FactorError(message.to_owned().into())
}

/// A PNG data URL of `text` as a QR code (black on white).
fn qr_png(text: &str) -> Result<String, FactorError> {
    use qrcodegen::{QrCode, QrCodeEcc};
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium)
        .map_err(|_| factor_error("the otpauth URI is too long for a QR code"))?;
    let modules = qr.size() + 2 * QR_BORDER;
    let side = usize::try_from(modules).unwrap_or(0) * QR_SCALE;
    let mut pixels = Vec::with_capacity(side * side);
    for y in 0..side {
        for x in 0..side {
            let mx = i32::try_from(x / QR_SCALE).unwrap_or(0) - QR_BORDER;
            let my = i32::try_from(y / QR_SCALE).unwrap_or(0) - QR_BORDER;
            pixels.push(if qr.get_module(mx, my) { 0u8 } else { 255u8 });
        }
    }
    let mut png_bytes = Vec::new();
    {
        let side = u32::try_from(side).map_err(|_| factor_error("QR code too large"))?;
        let mut encoder = png::Encoder::new(&mut png_bytes, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| FactorError(e.into()))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| FactorError(e.into()))?;
    }
    Ok(format!(
        "data:image/png;base64,{}",
        STANDARD.encode(png_bytes)
    ))
}

/// A recovery code as compared: lower case, without spaces and dashes.
fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

impl FactorSecrets for TotpFactors {
    fn new_totp_secret(&self) -> Vec<u8> {
        let mut secret = vec![0u8; SECRET_BYTES];
        rand::fill(secret.as_mut_slice());
        secret
    }

    fn totp_setup(&self, secret: &[u8], account: &str) -> Result<TotpEnrolment, FactorError> {
        let totp = self.totp(secret, account);
        let otpauth_url = totp.get_url();
        Ok(TotpEnrolment {
            secret: totp.get_secret_base32(),
            qr_png: qr_png(&otpauth_url)?,
            otpauth_url,
        })
    }

    fn totp_step(&self, secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp(secret, "");
        let step = u64::try_from(now.timestamp()).ok()? / STEP_SECS;
        [step, step.saturating_sub(1), step + 1]
            .into_iter()
            .find(|s| {
                let expected = totp.generate(s * STEP_SECS);
                aws_lc_rs::constant_time::verify_slices_are_equal(
                    expected.as_bytes(),
                    code.as_bytes(),
                )
                .is_ok()
            })
            .and_then(|s| i64::try_from(s).ok())
    }

    fn seal(&self, secret: &[u8]) -> Result<String, FactorError> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::fill(&mut nonce);
        let sealed = self
            .sealer()?
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: SEAL_AAD,
                },
            )
            .map_err(|_| factor_error("sealing a TOTP secret failed"))?;
        Ok(format!(
            "{SEAL_PREFIX}{}",
            URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat())
        ))
    }

    fn open(&self, sealed: &str) -> Result<Vec<u8>, FactorError> {
        let raw = sealed
            .strip_prefix(SEAL_PREFIX)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .filter(|r| r.len() > NONCE_BYTES)
            .ok_or_else(|| factor_error("a stored TOTP secret is malformed"))?;
        let (nonce, ciphertext) = raw.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce
            .try_into()
            .map_err(|_| factor_error("a stored TOTP secret is malformed"))?;
        self.sealer()?
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: SEAL_AAD,
                },
            )
            .map_err(|_| {
                factor_error(
                    "a stored TOTP secret does not open: auth.mfa_encryption_key is not the key \
                     it was sealed with",
                )
            })
    }

    fn new_recovery_codes(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let mut bytes = [0u8; CODE_CHARS];
                rand::fill(&mut bytes);
                let chars: String = bytes
                    .iter()
                    .map(|b| char::from(CODE_ALPHABET[usize::from(b % 32)]))
                    .collect();
                format!("{}-{}", &chars[..5], &chars[5..])
            })
            .collect()
    }

    fn recovery_code_hash(&self, code: &str) -> String {
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.hash_key),
            normalise_code(code).as_bytes(),
        );
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factors() -> TotpFactors {
        let key = MfaKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        TotpFactors::new(Some(&key), "rolegate test")
    }

    #[test]
    fn codes_of_the_step_before_and_after_are_accepted_and_no_others() {
        let f = factors();
        let secret = f.new_totp_secret();
        let totp = f.totp(&secret, "alice");
        let now = Utc::now();
        let t = u64::try_from(now.timestamp()).unwrap();
        let step = i64::try_from(t / 30).unwrap();
        for (offset, expected) in [
            (-60i64, None),
            (-30, Some(step - 1)),
            (0, Some(step)),
            (30, Some(step + 1)),
            (60, None),
        ] {
            let at = u64::try_from(i64::try_from(t).unwrap() + offset).unwrap();
            let code = totp.generate(at);
            let got = f.totp_step(&secret, &code, now);
            // A code of another step may collide by chance (1 in a million).
            if expected.is_some() {
                assert_eq!(got, expected, "offset {offset}");
            } else {
                assert!(got != Some(step), "offset {offset}");
            }
        }
        assert_eq!(f.totp_step(&secret, "12345", now), None);
        assert_eq!(f.totp_step(&secret, "abcdef", now), None);
    }

    #[test]
    fn sealed_secrets_open_with_their_key_only() {
        let f = factors();
        let secret = f.new_totp_secret();
        let sealed = f.seal(&secret).unwrap();
        assert!(
            !sealed.contains(
                &totp_rs::Secret::Raw(secret.clone())
                    .to_encoded()
                    .to_string()
            )
        );
        assert_eq!(f.open(&sealed).unwrap(), secret);
        let other = TotpFactors::new(
            Some(&MfaKey::from_base64(&STANDARD.encode([8u8; 32])).unwrap()),
            "x",
        );
        assert!(other.open(&sealed).is_err());
        assert!(TotpFactors::new(None, "x").seal(&secret).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push('A');
        assert!(f.open(&tampered).is_err() || tampered == sealed);
    }

    #[test]
    fn recovery_codes_are_distinct_and_their_hashes_ignore_case_and_dashes() {
        let f = factors();
        let codes = f.new_recovery_codes(10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        let c = &codes[0];
        assert_eq!(c.len(), 11);
        assert_eq!(
            f.recovery_code_hash(c),
            f.recovery_code_hash(&c.replace('-', " ").to_uppercase())
        );
        assert_ne!(f.recovery_code_hash(c), f.recovery_code_hash(&codes[1]));
        let other = TotpFactors::new(
            Some(&MfaKey::from_base64(&STANDARD.encode([8u8; 32])).unwrap()),
            "x",
        );
        assert_ne!(f.recovery_code_hash(c), other.recovery_code_hash(c));
    }

    #[test]
    fn enrolment_has_an_otpauth_uri_and_a_png() {
        let f = factors();
        let e = f.totp_setup(&f.new_totp_secret(), "alice").unwrap();
        assert!(
            e.otpauth_url.starts_with("otpauth://totp/"),
            "{}",
            e.otpauth_url
        );
        assert!(e.otpauth_url.contains(&format!("secret={}", e.secret)));
        assert!(
            e.otpauth_url.contains("issuer=rolegate%20test"),
            "{}",
            e.otpauth_url
        );
        let png = STANDARD
            .decode(e.qr_png.strip_prefix("data:image/png;base64,").unwrap())
            .unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(MfaKey::from_base64("short").is_err());
        assert!(MfaKey::from_base64(&STANDARD.encode([1u8; 16])).is_err());
        assert!(MfaKey::from_base64(&URL_SAFE_NO_PAD.encode([1u8; 32])).is_ok());
    }
}
