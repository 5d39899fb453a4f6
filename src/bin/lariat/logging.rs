//! Log lines on stderr: the level from `-v`, `--log-level` or `LARIAT_LOG`, and colour only
//! where a reader sees it.

use std::io::{self, IsTerminal};

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// The level of a command's own `--log-level` (the relay's): the names are those of tracing's
/// levels, so an unknown one is a usage error that lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The level as a tracing filter directive.
    fn directive(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Log lines on stderr: `warn` and up by default (or the command's `level`), more with
/// `-v`/`-vv`, which win over `level`; `LARIAT_LOG` (or `RUST_LOG`) takes a tracing filter
/// instead of both. `-v` also shows the SDK's full form of each failed AWS call. Colour only
/// on a terminal, see [`colour`].
pub fn init(verbose: u8, level: Option<LogLevel>) {
    let default = default_level(verbose, level);
    // the SDK's own warnings hold Debug dumps of its errors (a credentials provider that
    // failed, say); lariat's error names the cause, so they only show with -v
    let sdk = match verbose {
        0 => "aws_config=error,aws_smithy_runtime=error".to_owned(),
        _ => format!(
            "aws_config=warn,aws_smithy_runtime=warn,{}=debug",
            lariat::aws::DETAIL_TARGET
        ),
    };
    let fallback = format!("{default},{sdk},sqlx=warn");
    let filter = ["LARIAT_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|key| std::env::var(key).ok().map(|value| (key, value)))
        .and_then(|(key, value)| match EnvFilter::try_new(&value) {
            Ok(filter) => Some(filter),
            Err(error) => {
                // Logging is not set up yet: this one line goes straight to stderr.
                eprintln!(
                    "warning: {key}={value:?} is not a log filter ({error}); using the default \
                     level. Write levels such as `info` or `lariat=debug,aws_config=warn`."
                );
                None
            }
        })
        .unwrap_or_else(|| EnvFilter::new(fallback));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(colour(io::stderr().is_terminal(), |key| {
            std::env::var_os(key)
        }))
        .with_target(false)
        .init();
}

/// lariat's own level when `LARIAT_LOG` and `RUST_LOG` are not set: `-v`/`-vv` win over a
/// command's `--log-level`, which wins over `warn`.
fn default_level(verbose: u8, level: Option<LogLevel>) -> &'static str {
    match (verbose, level) {
        (0, Some(level)) => level.directive(),
        (0, None) => "warn",
        (1, _) => "info",
        _ => "debug",
    }
}

/// Whether to write colour escapes: on a terminal, unless `NO_COLOR` is set (not empty);
/// `CLICOLOR_FORCE` (not empty, not `0`) forces them, also into a pipe.
fn colour(terminal: bool, var: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    let set = |key: &str| var(key).is_some_and(|v| !v.is_empty() && v != "0");
    if var("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    terminal || set("CLICOLOR_FORCE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_wins_over_a_log_level() {
        assert_eq!(default_level(0, None), "warn");
        assert_eq!(default_level(0, Some(LogLevel::Trace)), "trace");
        assert_eq!(default_level(0, Some(LogLevel::Error)), "error");
        assert_eq!(default_level(1, Some(LogLevel::Error)), "info");
        assert_eq!(default_level(2, Some(LogLevel::Warn)), "debug");
    }

    #[test]
    fn colour_only_on_a_terminal_unless_told() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        assert!(colour(true, env(&[])));
        assert!(!colour(false, env(&[])));
        assert!(!colour(true, env(&[("NO_COLOR", "1")])));
        assert!(colour(true, env(&[("NO_COLOR", "")])));
        assert!(colour(false, env(&[("CLICOLOR_FORCE", "1")])));
        assert!(!colour(false, env(&[("CLICOLOR_FORCE", "0")])));
        assert!(!colour(
            true,
            env(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")])
        ));
    }
}
