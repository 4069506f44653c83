//! The log lines the node writes to stderr while it runs: `tracing` events
//! filtered by `RUST_LOG` (by default, this program's information and
//! everyone's warnings), as text for a terminal or as JSON lines for a
//! relay operator's log collector.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// What `RUST_LOG` stands for when it is not set: the node's own
/// information, and only warnings from the libraries beneath it.
const DEFAULT_FILTER: &str = "warn,node=info,communecter=info";

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`,
    /// `fields`).
    Json,
}

/// Writes log lines to stderr in `format`, filtered by `RUST_LOG` or
/// [`DEFAULT_FILTER`]. A malformed `RUST_LOG` is said once and the default
/// used.
pub(crate) fn install(format: LogFormat) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .unwrap_or_else(|error| {
                eprintln!("RUST_LOG={directives:?} is not a log filter ({error}); using {DEFAULT_FILTER:?}");
                EnvFilter::new(DEFAULT_FILTER)
            }),
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter);
    // Installed once, at start; a second call would only fail.
    let _ = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
}
