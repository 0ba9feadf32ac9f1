//! The domain's `PasskeyVerifier` over `webauthn-rs`: the relying party's
//! options, and the verification of what authenticators answer (origin,
//! RP id hash, challenge, signature, user verification, sign counter).
//!
//! Ceremony state and stored credentials leave this module as JSON text;
//! the domain never sees a `webauthn-rs` type.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rolegate_domain::{
    Challenge, PasskeyError, PasskeyFailure, PasskeyUser, PasskeyVerifier, PresentedAssertion,
    VerifiedAssertion, VerifiedPasskey,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs::prelude::{
    CredentialID, DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
    WebauthnError,
};

/// The relying party, from the `[webauthn]` settings.
pub struct WebauthnVerifier {
    webauthn: Webauthn,
}

impl std::fmt::Debug for WebauthnVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebauthnVerifier")
            .field("origins", &self.webauthn.get_allowed_origins())
            .finish_non_exhaustive()
    }
}

/// A registration's state: the user handle it registers under, and the
/// library's state (the challenge among it).
#[derive(Serialize, Deserialize)]
struct RegistrationState {
    handle: String,
    registration: PasskeyRegistration,
}

fn internal(e: impl std::fmt::Display) -> PasskeyError {
    PasskeyError::Internal(e.to_string().into())
}

fn refused(e: &WebauthnError) -> PasskeyError {
    match e {
        WebauthnError::CredentialPossibleCompromise => {
            PasskeyError::Refused(PasskeyFailure::CounterRegression)
        }
        other => PasskeyError::Refused(PasskeyFailure::Verification(other.to_string())),
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The sign counter a serialized passkey holds.
fn counter_of(passkey: &Passkey) -> Result<u32, PasskeyError> {
    let value = serde_json::to_value(passkey).map_err(internal)?;
    Ok(value["cred"]["counter"]
        .as_u64()
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0))
}

impl WebauthnVerifier {
    /// A relying party with id `rp_id` (a domain, e.g. `example.com` or
    /// `localhost`), shown to users as `rp_name`, accepting the given origins
    /// (at least one; e.g. `https://example.com`). Errors name the problem.
    pub fn new(rp_id: &str, rp_name: &str, origins: &[String]) -> Result<Self, String> {
        let origins: Vec<Url> = origins
            .iter()
            .map(|o| {
                Url::parse(o).map_err(|e| format!("webauthn.origins: {o:?} is not a URL: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let Some((first, rest)) = origins.split_first() else {
            return Err("webauthn.origins must list at least one origin".into());
        };
        let mut builder = WebauthnBuilder::new(rp_id, first)
            .map_err(|e| format!("webauthn: rp_id {rp_id:?} does not fit the origin {first}: {e}"))?
            .rp_name(rp_name);
        for origin in rest {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder
            .build()
            .map_err(|e| format!("webauthn settings: {e}"))?;
        Ok(Self { webauthn })
    }

    fn credential<T: for<'de> Deserialize<'de>>(credential: &Value) -> Result<T, PasskeyError> {
        T::deserialize(credential)
            .map_err(|e| PasskeyError::Malformed(format!("is not a WebAuthn credential ({e})")))
    }
}

impl PasskeyVerifier for WebauthnVerifier {
    fn start_registration(&self, user: &PasskeyUser<'_>) -> Result<Challenge, PasskeyError> {
        let handle = match user.handle {
            Some(h) => Uuid::parse_str(h).map_err(internal)?,
            None => Uuid::new_v4(),
        };
        let exclude: Vec<CredentialID> = user
            .exclude
            .iter()
            .filter_map(|id| URL_SAFE_NO_PAD.decode(id).ok())
            .map(CredentialID::from)
            .collect();
        let (options, registration) = self
            .webauthn
            .start_passkey_registration(
                handle,
                user.name,
                user.display_name,
                Some(exclude).filter(|e| !e.is_empty()),
            )
            .map_err(internal)?;
        let mut options = serde_json::to_value(&options).map_err(internal)?;
        // Discoverable credentials only: sign-in then never has to list a
        // user's credentials (which would tell who has passkeys).
        if let Some(selection) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "required".into());
            selection.insert("requireResidentKey".into(), true.into());
        }
        let state = serde_json::to_string(&RegistrationState {
            handle: handle.to_string(),
            registration,
        })
        .map_err(internal)?;
        Ok(Challenge { options, state })
    }

    fn finish_registration(
        &self,
        state: &str,
        credential: &Value,
    ) -> Result<VerifiedPasskey, PasskeyError> {
        let state: RegistrationState = serde_json::from_str(state).map_err(internal)?;
        let credential: RegisterPublicKeyCredential = Self::credential(credential)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&credential, &state.registration)
            .map_err(|e| refused(&e))?;
        Ok(VerifiedPasskey {
            user_handle: state.handle,
            credential_id: b64(passkey.cred_id().as_ref()),
            sign_count: counter_of(&passkey)?,
            credential: serde_json::to_string(&passkey).map_err(internal)?,
        })
    }

    fn start_authentication(&self) -> Result<Challenge, PasskeyError> {
        let (mut options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(internal)?;
        // A modal sign-in (a button), not the autofill UI.
        options.mediation = None;
        Ok(Challenge {
            options: serde_json::to_value(&options).map_err(internal)?,
            state: serde_json::to_string(&state).map_err(internal)?,
        })
    }

    fn identify(&self, credential: &Value) -> Result<PresentedAssertion, PasskeyError> {
        let credential: PublicKeyCredential = Self::credential(credential)?;
        let user_handle = self
            .webauthn
            .identify_discoverable_authentication(&credential)
            .ok()
            .map(|(uuid, _)| uuid.to_string());
        Ok(PresentedAssertion {
            credential_id: b64(credential.get_credential_id()),
            user_handle,
        })
    }

    fn finish_authentication(
        &self,
        state: &str,
        credential: &Value,
        stored: &str,
    ) -> Result<VerifiedAssertion, PasskeyError> {
        let state: DiscoverableAuthentication = serde_json::from_str(state).map_err(internal)?;
        let mut passkey: Passkey = serde_json::from_str(stored).map_err(internal)?;
        let credential: PublicKeyCredential = Self::credential(credential)?;
        let result = self
            .webauthn
            .finish_discoverable_authentication(
                &credential,
                state,
                &[DiscoverableKey::from(&passkey)],
            )
            .map_err(|e| refused(&e))?;
        passkey.update_credential(&result);
        Ok(VerifiedAssertion {
            sign_count: counter_of(&passkey)?,
            credential: serde_json::to_string(&passkey).map_err(internal)?,
        })
    }
}
