//! The one tracing set-up of both binaries, and the one meaning of `--log-format`: the
//! format of the log lines on **stderr**. Machine-readable *output* on stdout is a separate
//! flag, `--json`, in both binaries (see docs/output.md).

/// Format of log lines on stderr (`--log-format`), and of a binary's stdout (`--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Targets whose debug/trace events print the values bound to statements (tokio-postgres
/// logs "executing statement … with parameters: […]"), which include API-key and password
/// hashes. Capped at INFO whatever RUST_LOG says: a debug log is shared and pasted, and
/// "debug logs never show secret-bearing values" must not depend on how RUST_LOG is written.
const BOUND_VALUE_TARGETS: &[&str] = &["tokio_postgres::query"];

fn shows_bound_values(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() > tracing::Level::INFO
        && BOUND_VALUE_TARGETS
            .iter()
            .any(|t| meta.target().starts_with(t))
}

/// Logs on stderr, filtered by `RUST_LOG` (default `warn`), as text or one JSON object per
/// line, with [`BOUND_VALUE_TARGETS`] capped. The driver logs through the `log` crate; this
/// also routes it here, so the cap applies before the driver even formats its parameters.
/// A second call is a no-op.
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let cap = tracing_subscriber::filter::filter_fn(|meta| !shows_bound_values(meta));
    let registry = tracing_subscriber::registry().with(filter).with(cap);
    // Colour codes only on a terminal: CI logs and files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    // A second initialisation (tests calling run twice) is harmless; ignore it.
    let _ = match format {
        LogFormat::Json => registry.with(layer.json()).try_init(),
        LogFormat::Text => registry.with(layer).try_init(),
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn bound_values_are_capped_at_info() {
        use tracing::Level;
        assert!(Level::DEBUG > Level::INFO && Level::TRACE > Level::INFO);
        assert!(super::BOUND_VALUE_TARGETS.contains(&"tokio_postgres::query"));
    }
}
