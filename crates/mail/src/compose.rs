//! Mails from templates: `{kind}.subject`, `{kind}.txt`, `{kind}.html` for
//! each [`MailKind`], built into the binary; a file of the same name in
//! `templates_dir` replaces the built-in one. HTML is auto-escaped.

use std::path::PathBuf;

use minijinja::{AutoEscape, Environment, context};
use rolegate_domain::{BoxError, Composed, MailComposer, MailKind, Message};

use crate::MailConfigError;

/// The built-in templates, by file name.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "verify_email.subject",
        include_str!("../templates/verify_email.subject"),
    ),
    (
        "verify_email.txt",
        include_str!("../templates/verify_email.txt"),
    ),
    (
        "verify_email.html",
        include_str!("../templates/verify_email.html"),
    ),
    (
        "password_reset.subject",
        include_str!("../templates/password_reset.subject"),
    ),
    (
        "password_reset.txt",
        include_str!("../templates/password_reset.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../templates/password_reset.html"),
    ),
    (
        "password_changed.subject",
        include_str!("../templates/password_changed.subject"),
    ),
    (
        "password_changed.txt",
        include_str!("../templates/password_changed.txt"),
    ),
    (
        "password_changed.html",
        include_str!("../templates/password_changed.html"),
    ),
    (
        "confirm_email_change.subject",
        include_str!("../templates/confirm_email_change.subject"),
    ),
    (
        "confirm_email_change.txt",
        include_str!("../templates/confirm_email_change.txt"),
    ),
    (
        "confirm_email_change.html",
        include_str!("../templates/confirm_email_change.html"),
    ),
    (
        "email_change_requested.subject",
        include_str!("../templates/email_change_requested.subject"),
    ),
    (
        "email_change_requested.txt",
        include_str!("../templates/email_change_requested.txt"),
    ),
    (
        "email_change_requested.html",
        include_str!("../templates/email_change_requested.html"),
    ),
];

/// The paths of the frontend pages that links open.
#[derive(Debug, Clone)]
pub struct LinkPaths {
    pub reset_password: String,
    pub verify_email: String,
    pub confirm_email_change: String,
}

impl Default for LinkPaths {
    fn default() -> Self {
        Self {
            reset_password: "/reset-password".into(),
            verify_email: "/verify-email".into(),
            confirm_email_change: "/confirm-email-change".into(),
        }
    }
}

/// What the composer is built from.
#[derive(Debug, Clone)]
pub struct ComposerConfig {
    /// The base of every link, e.g. `https://app.example.com` (absolute
    /// http(s), no query or fragment). Never taken from a request.
    pub public_url: String,
    pub paths: LinkPaths,
    /// Files here replace the built-in templates of the same name.
    pub templates_dir: Option<PathBuf>,
    /// How long reset links and e-mail links work, in minutes (shown in mails).
    pub reset_minutes: i64,
    pub email_minutes: i64,
}

/// Writes mails from templates.
#[derive(Debug)]
pub struct TemplateComposer {
    env: Environment<'static>,
    base: String,
    paths: LinkPaths,
    reset_minutes: i64,
    email_minutes: i64,
}

fn template_error(name: &str, e: impl std::fmt::Display) -> MailConfigError {
    MailConfigError::Template {
        name: name.to_owned(),
        message: e.to_string(),
    }
}

fn check_base(public_url: &str) -> Result<String, MailConfigError> {
    let url = url::Url::parse(public_url).map_err(|e| MailConfigError::PublicUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(MailConfigError::PublicUrl(
            "must be an absolute http(s) URL, e.g. https://app.example.com".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(MailConfigError::PublicUrl(
            "must not have a query or a fragment".into(),
        ));
    }
    Ok(public_url.trim_end_matches('/').to_owned())
}

fn check_path(path: &str) -> Result<(), MailConfigError> {
    if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
        return Err(MailConfigError::PublicUrl(format!(
            "link path {path:?} must start with / and hold no query, fragment or space"
        )));
    }
    Ok(())
}

fn humane(minutes: i64) -> String {
    match minutes {
        m if m % 1440 == 0 && m >= 1440 => format!("{} day(s)", m / 1440),
        m if m % 60 == 0 && m >= 60 => format!("{} hour(s)", m / 60),
        m => format!("{m} minutes"),
    }
}

impl TemplateComposer {
    /// Loads the templates (built-in, then overrides) and renders each once
    /// with sample data: a broken override stops the start, naming its file.
    pub fn new(config: ComposerConfig) -> Result<Self, MailConfigError> {
        let base = check_base(&config.public_url)?;
        for path in [
            &config.paths.reset_password,
            &config.paths.verify_email,
            &config.paths.confirm_email_change,
        ] {
            check_path(path)?;
        }
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        for (name, built_in) in BUILT_IN {
            let source = match &config.templates_dir {
                Some(dir) if dir.join(name).is_file() => std::fs::read_to_string(dir.join(name))
                    .map_err(|e| template_error(&dir.join(name).display().to_string(), e))?,
                _ => (*built_in).to_owned(),
            };
            env.add_template_owned((*name).to_owned(), source)
                .map_err(|e| template_error(name, e))?;
        }
        let composer = Self {
            env,
            base,
            paths: config.paths,
            reset_minutes: config.reset_minutes,
            email_minutes: config.email_minutes,
        };
        for kind in MailKind::ALL {
            let sample = Message::new(kind, "sample@example.com", "sample")
                .with_token("c2FtcGxl")
                .with_new_email("new@example.com");
            composer
                .render(&sample)
                .map_err(|e| template_error(kind.as_str(), e))?;
        }
        Ok(composer)
    }

    fn link(&self, message: &Message) -> Option<String> {
        let token = message.token.as_deref()?;
        let path = match message.kind {
            MailKind::PasswordReset => &self.paths.reset_password,
            MailKind::VerifyEmail => &self.paths.verify_email,
            MailKind::ConfirmEmailChange => &self.paths.confirm_email_change,
            _ => return None,
        };
        // Tokens are URL-safe base64; anything else is encoded all the same.
        let token: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        Some(format!("{}{path}?token={token}", self.base))
    }

    fn render(&self, message: &Message) -> Result<Composed, minijinja::Error> {
        let kind = message.kind.as_str();
        let minutes = match message.kind {
            MailKind::PasswordReset => self.reset_minutes,
            _ => self.email_minutes,
        };
        let ctx = context! {
            username => &message.username,
            // Built from the configuration and a URL-encoded token: nothing to escape.
            link => self.link(message).map(minijinja::Value::from_safe_string),
            new_email => &message.new_email,
            expires => humane(minutes),
        };
        let render = |suffix: &str| {
            self.env
                .get_template(&format!("{kind}.{suffix}"))?
                .render(&ctx)
        };
        let subject = render("subject")?;
        Ok(Composed {
            // One line: a template's stray newline must not become a header break.
            subject: subject.lines().next().unwrap_or("").trim().to_owned(),
            text: render("txt")?,
            html: render("html")?,
        })
    }
}

impl MailComposer for TemplateComposer {
    fn compose(&self, message: &Message) -> Result<Composed, BoxError> {
        Ok(self.render(message)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ComposerConfig {
        ComposerConfig {
            public_url: "https://app.example.com/".into(),
            paths: LinkPaths::default(),
            templates_dir: None,
            reset_minutes: 30,
            email_minutes: 1440,
        }
    }

    #[test]
    fn links_come_from_the_public_url_and_the_kind_s_path() {
        let c = TemplateComposer::new(config()).unwrap();
        let m = c
            .compose(
                &Message::new(MailKind::PasswordReset, "a@example.com", "ann").with_token("abc-_1"),
            )
            .unwrap();
        assert_eq!(m.subject, "Reset your password");
        assert!(
            m.text
                .contains("https://app.example.com/reset-password?token=abc-_1"),
            "{}",
            m.text
        );
        assert!(
            m.html
                .contains("href=\"https://app.example.com/reset-password?token=abc-_1\""),
            "{}",
            m.html
        );
        assert!(m.text.contains("30 minutes"));
        let v = c
            .compose(&Message::new(MailKind::VerifyEmail, "a@example.com", "ann").with_token("t"))
            .unwrap();
        assert!(
            v.text
                .contains("https://app.example.com/verify-email?token=t")
        );
        assert!(v.text.contains("1 day(s)"));
        let notice = c
            .compose(&Message::new(
                MailKind::PasswordChanged,
                "a@example.com",
                "ann",
            ))
            .unwrap();
        assert!(!notice.text.contains("token="));
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let c = TemplateComposer::new(config()).unwrap();
        let m = c
            .compose(&Message::new(
                MailKind::PasswordChanged,
                "a@example.com",
                "<b>ann</b>",
            ))
            .unwrap();
        assert!(m.html.contains("&lt;b&gt;ann&lt;"), "{}", m.html);
        assert!(!m.html.contains("<b>"), "{}", m.html);
        assert!(m.text.contains("<b>ann</b>"));
    }

    #[test]
    fn a_directory_overrides_a_template_and_a_broken_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("rolegate-mail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("password_reset.subject"),
            "Neues Passwort für {{ username }}",
        )
        .unwrap();
        let c = TemplateComposer::new(ComposerConfig {
            templates_dir: Some(dir.clone()),
            ..config()
        })
        .unwrap();
        let m = c
            .compose(&Message::new(MailKind::PasswordReset, "a@example.com", "ann").with_token("t"))
            .unwrap();
        assert_eq!(m.subject, "Neues Passwort für ann");
        std::fs::write(dir.join("verify_email.txt"), "{{ link ").unwrap();
        let err = TemplateComposer::new(ComposerConfig {
            templates_dir: Some(dir.clone()),
            ..config()
        })
        .unwrap_err();
        assert!(err.to_string().contains("verify_email.txt"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn public_urls_must_be_absolute_http_without_query() {
        for bad in [
            "app.example.com",
            "ftp://x.example",
            "https://x.example/?a=1",
            "https://x.example/#f",
        ] {
            let e = TemplateComposer::new(ComposerConfig {
                public_url: bad.into(),
                ..config()
            });
            assert!(e.is_err(), "{bad}");
        }
    }
}
