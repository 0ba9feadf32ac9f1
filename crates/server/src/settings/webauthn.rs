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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rp_id: &str, origins: &[&str]) -> WebauthnSettings {
        WebauthnSettings {
            rp_id: rp_id.into(),
            rp_name: "rolegate".into(),
            origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        }
    }

    #[test]
    fn the_development_default_works() {
        let s = settings("localhost", &["http://localhost:8080"]);
        assert!(s.problems(Profile::Development).is_empty());
        assert!(s.problems(Profile::Production).is_empty());
    }

    #[test]
    fn origins_must_fit_the_rp_id_and_exist() {
        let none = settings("example.com", &[]);
        assert!(
            none.problems(Profile::Development)
                .iter()
                .any(|p| p.contains("at least one origin")),
            "{:?}",
            none.problems(Profile::Development)
        );
        let elsewhere = settings("example.com", &["https://example.org"]);
        assert!(!elsewhere.problems(Profile::Development).is_empty());
        let sub = settings(
            "example.com",
            &["https://auth.example.com", "https://example.com"],
        );
        assert!(sub.problems(Profile::Production).is_empty());
        let junk = settings("example.com", &["not a url"]);
        assert!(!junk.problems(Profile::Development).is_empty());
        let empty = settings(" ", &["https://example.com"]);
        assert!(!empty.problems(Profile::Development).is_empty());
    }

    #[test]
    fn production_wants_https_origins() {
        let plain = settings("example.com", &["http://example.com"]);
        assert!(!plain.problems(Profile::Production).is_empty());
    }
}
