//! Logging: human-readable by default, JSON with `log.format = "json"`.
//!
//! Field values carry user input (a role name echoed in an error, a path).
//! The JSON format escapes them; the human-readable one prints `%` (Display)
//! values and messages raw, so a newline in a value could start a line that
//! looks like a log entry of its own. [`EscapedFields`] formats the fields
//! of that format with control characters escaped.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

use crate::settings::{LogFormat, LogSettings};

/// Installs the global subscriber. `RUST_LOG` overrides `log.level`.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A subscriber may already be installed (tests, embedding): keep it.
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().fmt_fields(EscapedFields).try_init(),
    };
}

/// Event and span fields as tracing-subscriber's default formatter writes
/// them (`message key=value key="text"`), with every control character
/// (and line/paragraph separator, bidi control) in a value escaped as
/// `\n`, `\r`, `\t` or `\u{…}`: one event is always one line.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl EscapingVisitor<'_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        if name.starts_with("log.") {
            return; // tracing-log's metadata, shown elsewhere
        }
        let mut text = String::new();
        if text.write_fmt(value).is_err() {
            self.result = Err(fmt::Error);
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = if name == "message" {
            write!(self.writer, "{separator}{}", Escaped(&text))
        } else {
            let name = name.strip_prefix("r#").unwrap_or(name);
            write!(self.writer, "{separator}{name}={}", Escaped(&text))
        };
    }
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}

/// Text with control characters, line and paragraph separators and bidi
/// controls escaped.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if needs_escape(c) => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{061C}' | '\u{200E}' | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn pretty_log(emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .compact()
            .fmt_fields(EscapedFields)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn one_event_is_one_line_whatever_its_values_hold() {
        let forged = "x\n2026-01-01T00:00:00Z  INFO rolegate: admin signed in";
        let log = pretty_log(|| {
            tracing::info!(reason = %forged, debug = ?forged, text = forged, "echo {forged}");
            let span = tracing::info_span!("request", path = %forged);
            span.in_scope(|| tracing::warn!("inside"));
        });
        assert_eq!(log.lines().count(), 2, "{log}");
        assert!(!log.lines().any(|l| l.starts_with("2026-01-01")), "{log}");
        assert!(log.contains("reason=x\\n2026"), "{log}");
        assert!(log.contains("echo x\\n2026"), "{log}");
        assert!(log.contains("path=x\\n2026"), "{log}");
    }

    #[test]
    fn other_control_and_direction_characters_are_escaped() {
        let log = pretty_log(|| {
            tracing::info!(v = %"a\r\u{1b}[31m\u{202e}b\u{2028}c\tz", "m");
        });
        assert!(
            log.contains("v=a\\r\\u{1b}[31m\\u{202e}b\\u{2028}c\\tz"),
            "{log}"
        );
    }

    #[test]
    fn plain_fields_look_as_before() {
        let log = pretty_log(|| tracing::info!(status = 404, r#type = "x", who = %"bob", "done"));
        assert!(log.contains(r#"done status=404 type="x" who=bob"#), "{log}");
    }
}
