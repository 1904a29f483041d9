//! Log setup shared by the server and Lambda mode: the level filter, the
//! format (`log_format = "json"`, `-log-format`, `VAULT_LOG_FORMAT`: one
//! JSON object per line, what CloudWatch Logs Insights parses), and colour
//! only when stderr is a terminal (a container's log driver or CloudWatch
//! would otherwise store the escape codes).

use std::io::IsTerminal;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// Human-readable lines (Vault's `standard`).
    Standard,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// Parses Vault's names (`standard`, `json`); anything else is an error.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "standard" => Ok(LogFormat::Standard),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format {other:?}: use \"standard\" or \"json\""
            )),
        }
    }
}

/// Whether to colour: only on a terminal, and never with `NO_COLOR` set.
fn ansi() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Installs the global subscriber (once; later calls do nothing).
/// `STRONGROOM_LOG` (an `EnvFilter` directive) overrides `default_filter`.
pub(crate) fn init(default_filter: &str, format: LogFormat, with_time: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRONGROOM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match (format, with_time) {
        (LogFormat::Json, true) => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        (LogFormat::Json, false) => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .without_time()
            .try_init(),
        (LogFormat::Standard, true) => builder.with_ansi(ansi()).try_init(),
        (LogFormat::Standard, false) => builder.with_ansi(ansi()).without_time().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_as_vault_names_them() {
        assert_eq!(LogFormat::parse("json"), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse("JSON"), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse("standard"), Ok(LogFormat::Standard));
        assert!(LogFormat::parse("xml").unwrap_err().contains("xml"));
    }
}
