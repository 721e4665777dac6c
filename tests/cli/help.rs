//! `--help` of `migrate`, `seed` and each of their subcommands, as snapshots. The binaries run
//! with an empty environment in an empty folder: clap prints the values of `env = ...`
//! variables and wraps at the terminal's width, and neither may depend on who runs the test.

use std::process::Command;

use groundwork_testdb::{bin_path, output_text, scratch_dir};

/// Every help page: (binary, arguments). The snapshot is named after both, e.g.
/// `migrate_accept_checksum`.
const PAGES: &[(&str, &[&str])] = &[
    ("migrate", &["--help"]),
    ("migrate", &["status", "--help"]),
    ("migrate", &["up", "--help"]),
    ("migrate", &["down", "--help"]),
    ("migrate", &["redo", "--help"]),
    ("migrate", &["setup", "--help"]),
    ("migrate", &["plan", "--help"]),
    ("migrate", &["verify", "--help"]),
    ("migrate", &["accept-checksum", "--help"]),
    ("migrate", &["history", "--help"]),
    ("seed", &["--help"]),
    ("seed", &["reset", "--help"]),
    ("seed", &["snapshot", "--help"]),
    ("seed", &["verify", "--help"]),
];

fn help(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin_path(bin))
        .args(args)
        .env_clear()
        .current_dir(scratch_dir())
        .output()
        .expect("run the binary");
    let shown = format!("{bin} {}", args.join(" "));
    assert_eq!(out.status.code(), Some(0), "{shown}: {}", output_text(&out));
    assert!(out.stderr.is_empty(), "{shown}: {}", output_text(&out));
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The subcommands a top-level help page lists (without clap's own `help`).
fn listed_subcommands(page: &str) -> Vec<String> {
    page.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // A description's continuation lines are indented further than a command's name.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_help_page_matches_its_snapshot() {
    for bin in ["migrate", "seed"] {
        let listed = listed_subcommands(&help(bin, &["--help"]));
        let pinned: Vec<String> = PAGES
            .iter()
            .filter(|(b, args)| *b == bin && args.len() == 2)
            .map(|(_, args)| args[0].to_owned())
            .collect();
        assert_eq!(
            listed, pinned,
            "`{bin} --help` lists these subcommands; give each a row in PAGES"
        );
    }
    for (bin, args) in PAGES {
        let name = match args {
            [sub, _] => format!("{bin}_{}", sub.replace('-', "_")),
            _ => bin.to_string(),
        };
        insta::assert_snapshot!(name, help(bin, args));
    }
}
