//! The environment as a configuration source: every value the exact text given.

use super::*;

/// The settings that are lists; in the environment they are comma-separated
/// (`ROLEGATE__AUTH__KEY_FILES=new.pem,old.pem`).
pub(super) const LIST_KEYS: [&str; 4] = [
    "cors.allowed_origins",
    "auth.key_files",
    "webauthn.origins",
    "rate_limit.trusted_proxies",
];

/// `ROLEGATE__SECTION__KEY` variables as a configuration source.
///
/// Every value is kept as the exact text given: a digits-only secret stays
/// those digits (the `config` crate's own `Environment` with `try_parsing`
/// turned `0123…` into a number, and 40 digits into a rounded float). Typed
/// settings (numbers, booleans) are parsed from the text when deserialized;
/// the [`LIST_KEYS`] are split on commas, items trimmed, empty items dropped.
#[derive(Debug, Clone, Default)]
pub(super) struct EnvSource {
    /// (dotted lower-case key, value, the variable's name)
    vars: Vec<(String, String, String)>,
}

impl EnvSource {
    const PREFIX: &'static str = "rolegate__";

    pub(super) fn from_vars(
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> anyhow::Result<Self> {
        let mut out = Vec::new();
        for (key, value) in vars {
            let Some(key) = key.to_str() else { continue };
            let lower = key.to_ascii_lowercase();
            let Some(rest) = lower.strip_prefix(Self::PREFIX) else {
                continue;
            };
            // Never echo the value: it may be a secret.
            let Ok(value) = value.into_string() else {
                bail!("the environment variable {key} is not valid UTF-8");
            };
            out.push((rest.replace("__", "."), value, key.to_owned()));
        }
        Ok(Self { vars: out })
    }
}

impl EnvSource {
    /// (dotted key, variable name) of every variable read.
    pub(super) fn keys(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .map(|(key, _, var)| (key.clone(), var.clone()))
            .collect()
    }
}

impl config::Source for EnvSource {
    fn clone_into_box(&self) -> Box<dyn config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, config::Value>, config::ConfigError> {
        let origin = "the environment".to_owned();
        let text = |s: &str| config::Value::new(Some(&origin), config::ValueKind::String(s.into()));
        Ok(self
            .vars
            .iter()
            .map(|(key, value, _)| {
                let value = if LIST_KEYS.contains(&key.as_str()) {
                    let items = value
                        .split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(text)
                        .collect();
                    config::Value::new(Some(&origin), config::ValueKind::Array(items))
                } else {
                    text(value)
                };
                (key.clone(), value)
            })
            .collect())
    }
}
