//! Messages normalised for snapshots.

use std::sync::OnceLock;

/// Masks what changes from run to run in a binary's message, so snapshots
/// are stable: test database names, temp paths, durations, pids,
/// timestamps, hex checksums and the port of a throwaway listener.
pub fn normalise(text: &str) -> String {
    static RULES: OnceLock<Vec<(regex::Regex, &'static str)>> = OnceLock::new();
    let rules =
        RULES.get_or_init(|| {
            [
            (r"gw_(t|tpl)_[0-9A-Za-z_]+", "<db>"),
            (r"/tmp/\.tmp[0-9A-Za-z]+", "<tmp>"),
            (r"/tmp/[0-9A-Za-z._-]*\.tmp[0-9A-Za-z]+", "<tmp>"),
            (
                r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?( ?(Z|UTC|[+-]\d{2}(:?\d{2})?))?",
                "<timestamp>",
            ),
            (r"\b\d{8}T\d{6}(\.\d+)?Z?\b", "<timestamp>"),
            (r"\b[0-9a-fA-F]{16,}\b", "<hex>"),
            (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>"),
            (r"\b\d+(\.\d+)?\s?(ms|µs|us|ns)\b", "<duration>"),
            (r"\b\d+\.\d+\s?s\b", "<duration>"),
            (r"(?i)\b(pid|process id|process)[ =:]+\d+", "$1 <pid>"),
            (r"127\.0\.0\.1:(\d{5})\b", "127.0.0.1:<port>"),
            (r"port (\d{5})\b", "port <port>"),
        ]
        .into_iter()
        .map(|(re, to)| (regex::Regex::new(re).expect("normaliser regex"), to))
        .collect()
        });
    let mut s = text.replace("\r\n", "\n");
    for (re, to) in rules {
        s = re.replace_all(&s, *to).into_owned();
    }
    // Only five-digit (ephemeral) ports are masked: 5432 and 1 stay readable.
    s.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_masks_what_varies() {
        let n = normalise(
            "database \"gw_t_123_4_abcd1234\" at /tmp/.tmpAbC123/x took 12 ms, pid 4242, \
             2026-11-28 07:40:01.123+00, checksum 0123456789abcdef0123, 127.0.0.1:41234",
        );
        assert_eq!(
            n,
            "database \"<db>\" at <tmp>/x took <duration>, pid <pid>, <timestamp>, \
             checksum <hex>, 127.0.0.1:<port>"
        );
    }
}
