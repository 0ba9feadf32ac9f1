//! `[webauthn]`: the relying party that passkeys are bound to.

use serde::Deserialize;

use super::Profile;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebauthnSettings {
    /// The relying party id: the domain passkeys belong to (`example.com`,
    /// or `localhost` in development). An origin's host must be it or a
    /// subdomain of it. Changing it orphans every registered passkey.
    pub rp_id: String,
    /// The name authenticators show.
    pub rp_name: String,
    /// The exact origins (scheme, host, port) of the pages that call
    /// `navigator.credentials`; an assertion made on any other origin is
    /// refused (phishing resistance).
    pub origins: Vec<String>,
}

impl WebauthnSettings {
    /// The verifier these settings describe, or what is wrong with them.
    pub fn verifier(&self) -> Result<rolegate_auth::WebauthnVerifier, String> {
        rolegate_auth::WebauthnVerifier::new(&self.rp_id, &self.rp_name, &self.origins)
    }

    /// What is wrong with the settings, for `Settings::problems`.
    pub fn problems(&self, profile: Profile) -> Vec<String> {
        let mut problems = Vec::new();
        if self.rp_id.trim().is_empty() || self.rp_name.trim().is_empty() {
            problems.push("webauthn.rp_id and webauthn.rp_name must not be empty".to_owned());
            return problems;
        }
        for origin in &self.origins {
            match url::Url::parse(origin) {
                Ok(u) if u.scheme() == "https" => {}
                Ok(u) if u.scheme() == "http" && u.host_str() == Some("localhost") => {}
                Ok(_) if profile != Profile::Production => {}
                _ => problems.push(format!(
                    "webauthn.origins: {origin:?} must be an https:// origin (http:// only for localhost)"
                )),
            }
        }
        if let Err(e) = self.verifier() {
            problems.push(e);
        }
        problems
    }
}
