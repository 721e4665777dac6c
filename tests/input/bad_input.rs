//! Table-driven bad input for both binaries (issue 9, item 9): every URL form (including an
//! unreachable port, an unknown host and a server that accepts and never answers), every flag's
//! edge values, every malformed migrations-folder shape, malformed core data, environment
//! mismatches, prod misuse and unwritable paths.
//!
//! Each row is one line: `name: BIN [args] env[VAR => value] SETUP => exit code, names "text";`
//! and becomes one `#[test]`. For each row the binary runs against its own database and the case
//! fails unless: the exit code is the expected one, the run ends within its time limit, nothing
//! "panicked", the password (every test password contains `hunter2`) appears nowhere in stdout or
//! stderr, stderr names the `names` text (the bad value or the fix; empty = no check), and the
//! database snapshot (schema dump of every schema + content hash of every table) is identical
//! before and after. Then the normalised stderr (prefixed by the exit code) is snapshotted with
//! insta as `tests/input/snapshots/e2e__input__bad_input__<name>.snap`, so a reviewer sees every wording
//! change. Cases that do not behave yet get no snapshot: the change that fixes them adds it.
//!
//! Placeholders in args, env values and `names`: `{dir}` the folder the setup built (migrations
//! folder or core-data folder), `{tmp}` a fresh temp folder, `{file}` a regular file in it,
//! `{backups}` a not-yet-existing folder in it, `{symlink-shared}` a symlink in it to
//! `{gwdir}`, a group-writable folder in it, `{silent}` the port of a TCP server that accepts and
//! never answers, `{db}` the test database's name. An env value `UNSET` removes the variable.

use std::time::Duration;

use groundwork_testdb::{bin_cmd, migrate_cmd, normalise, run_with_limit, snapshot_diff};

use super::setup::{BadConfig, Core, Setup, Shape, setup};

/// Every password in this suite contains it; it must never be printed.
const SECRET: &str = "hunter2";
/// The slowest legitimate case waits for the default 10 s connect timeout; a hang is cut at 20 s.
const LIMIT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug)]
enum Bin {
    M,
    S,
}

struct Case {
    name: &'static str,
    bin: Bin,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    setup: Setup,
    code: i32,
    names: &'static str,
}

macro_rules! cases {
    ($( $name:ident : $bin:ident [$($arg:expr),* $(,)?] env[$($k:expr => $v:expr),* $(,)?] $setup:expr => $code:expr, names $names:expr; )*) => {
        $(
            #[test]
            fn $name() {
                run_case(&Case {
                    name: stringify!($name),
                    bin: Bin::$bin,
                    args: &[$($arg),*],
                    env: &[$(($k, $v)),*],
                    setup: $setup,
                    code: $code,
                    names: $names,
                });
            }
        )*
        /// Every case name, for the count check.
        const ALL_CASES: &[&str] = &[$(stringify!($name)),*];
    };
}

use Setup::*;

const PROD_UP: &str = "--require-backup";

cases! {
    // ---- URL forms: migrate ----
    m_url_unset: M ["status"] env["DATABASE_URL" => "UNSET"] Empty => 2, names "DATABASE_URL";
    m_url_bad_port: M ["status"] env["DATABASE_URL" => "postgres://postgres:hunter2@127.0.0.1:notaport/x"] Empty => 2, names "notaport";
    m_url_wrong_scheme: M ["status"] env["DATABASE_URL" => "mysql://root:hunter2@127.0.0.1/x"] Empty => 2, names "mysql";
    m_url_flag_malformed: M ["--database-url", "postgres://postgres:hunter2@[::1/x", "status"] env[] Empty => 2, names "";
    m_url_unreachable_port: M ["status"] env["DATABASE_URL" => "postgres://postgres:hunter2@127.0.0.1:1/gw_missing_db"] Empty => 3, names "127.0.0.1";
    m_url_unknown_host: M ["status"] env["DATABASE_URL" => "postgres://postgres:hunter2@no-such-host.invalid:5432/x"] Empty => 3, names "no-such-host.invalid";
    m_url_silent_server: M ["--connect-timeout", "2s", "status"] env["DATABASE_URL" => "postgres://postgres:hunter2@127.0.0.1:{silent}/x"] Empty => 3, names "127.0.0.1:{silent}";
    m_url_silent_server_query_timeout: M ["status"] env["DATABASE_URL" => "postgres://postgres:hunter2@127.0.0.1:{silent}/x?connect_timeout=2"] Empty => 3, names "127.0.0.1:{silent}";
    m_url_silent_server_default_timeout: M ["up"] env["DATABASE_URL" => "postgres://postgres:hunter2@127.0.0.1:{silent}/x"] Empty => 3, names "127.0.0.1:{silent}";
    m_url_silent_server_keyvalue: M ["--connect-timeout", "2s", "verify"] env["DATABASE_URL" => "host=127.0.0.1 port={silent} user=postgres password='hunter2' dbname=x"] Empty => 3, names "127.0.0.1:{silent}";
    m_url_keyvalue_quoted_password: M ["status"] env["DATABASE_URL" => "host=127.0.0.1 port=5432 user=postgres password='hunter2 q\\'x' dbname=gw_missing_db"] Empty => 3, names "gw_missing_db";
    m_url_keyvalue_spaces: M ["status"] env["DATABASE_URL" => "host = 127.0.0.1 port = 5432 user = postgres password = hunter2 dbname = gw_missing_db"] Empty => 3, names "gw_missing_db";
    m_url_query_password: M ["status"] env["DATABASE_URL" => "postgres://postgres@127.0.0.1:5432/gw_missing_db?password=hunter2"] Empty => 3, names "gw_missing_db";
    m_url_percent_encoded: M ["status"] env["DATABASE_URL" => "postgres://postgres:hunter2%2F%23%40x@127.0.0.1:5432/gw_missing_db"] Empty => 3, names "gw_missing_db";
    m_url_unencoded_at: M ["status"] env["DATABASE_URL" => "postgres://postgres:hunter2@x@127.0.0.1:5432/gw_missing_db"] Empty => 2, names "%40";
    m_url_missing_database: M ["status", "--json"] env["DATABASE_URL" => "postgres://postgres:hunter2@127.0.0.1:5432/gw_missing_db"] Empty => 3, names "migrate setup";
    // ---- URL forms: seed ----
    s_url_unset: S ["--stage", "all"] env["DATABASE_URL" => "UNSET"] Empty => 2, names "DATABASE_URL";
    s_url_bad_port: S ["--stage", "all"] env["DATABASE_URL" => "postgres://postgres:hunter2@127.0.0.1:notaport/x"] Empty => 2, names "notaport";
    s_url_wrong_scheme: S ["verify"] env["DATABASE_URL" => "mysql://root:hunter2@127.0.0.1/x"] Empty => 2, names "mysql";
    s_url_unreachable_port: S ["--stage", "all"] env["DATABASE_URL" => "postgres://postgres:hunter2@127.0.0.1:1/gw_missing_db"] Empty => 3, names "127.0.0.1";
    s_url_unknown_host: S ["--stage", "all"] env["DATABASE_URL" => "postgres://postgres:hunter2@no-such-host.invalid:5432/x"] Empty => 3, names "no-such-host.invalid";
    s_url_silent_server: S ["--connect-timeout", "2s", "--stage", "all"] env["DATABASE_URL" => "postgres://postgres:hunter2@127.0.0.1:{silent}/x"] Empty => 3, names "127.0.0.1:{silent}";
    s_url_silent_server_query_timeout: S ["--list"] env["DATABASE_URL" => "postgres://postgres:hunter2@127.0.0.1:{silent}/x?connect_timeout=2"] Empty => 3, names "127.0.0.1:{silent}";
    s_url_keyvalue_quoted_password: S ["--stage", "all"] env["DATABASE_URL" => "host=127.0.0.1 port=5432 user=postgres password='hunter2 q\\'x' dbname=gw_missing_db"] Empty => 3, names "gw_missing_db";
    s_url_keyvalue_spaces: S ["verify"] env["DATABASE_URL" => "host = 127.0.0.1 port = 5432 user = postgres password = hunter2 dbname = gw_missing_db"] Empty => 3, names "gw_missing_db";
    s_url_query_password: S ["--stage", "all"] env["DATABASE_URL" => "postgres://postgres@127.0.0.1:5432/gw_missing_db?password=hunter2"] Empty => 3, names "gw_missing_db";
    s_url_percent_encoded: S ["--stage", "all"] env["DATABASE_URL" => "postgres://postgres:hunter2%2F%23%40x@127.0.0.1:5432/gw_missing_db"] Empty => 3, names "gw_missing_db";
    s_url_unencoded_at: S ["--stage", "all"] env["DATABASE_URL" => "postgres://postgres:hunter2@x@127.0.0.1:5432/gw_missing_db"] Empty => 2, names "%40";
    s_url_missing_database: S ["--stage", "all"] env["DATABASE_URL" => "postgres://postgres:hunter2@127.0.0.1:5432/gw_missing_db"] Empty => 3, names "gw_missing_db";
    // ---- flag edge values: migrate ----
    m_lock_wait_huge: M ["--lock-wait", "99999999999999999999", "status"] env[] Empty => 2, names "99999999999999999999";
    m_lock_wait_negative: M ["--lock-wait", "-1", "status"] env[] Empty => 2, names "-1";
    m_lock_wait_garbage: M ["--lock-wait", "10parsecs", "status"] env[] Empty => 2, names "10parsecs";
    m_lock_wait_env_negative: M ["status"] env["MIGRATE_LOCK_WAIT" => "-5s"] Empty => 2, names "-5s";
    m_lock_timeout_huge: M ["--lock-timeout", "9999999h", "up"] env[] Empty => 2, names "9999999h";
    m_lock_retries_negative: M ["--lock-retries", "-1", "up"] env[] Empty => 2, names "-1";
    m_connect_timeout_negative: M ["--connect-timeout", "-2s", "status"] env[] Empty => 2, names "-2s";
    m_connect_timeout_huge: M ["--connect-timeout", "99999999999999999999s", "status"] env[] Empty => 2, names "99999999999999999999";
    m_statement_timeout_garbage: M ["--statement-timeout", "5parsecs", "up"] env[] Empty => 2, names "5parsecs";
    m_down_steps_zero: M ["--env", "test", "down", "--steps", "0"] env[] Migrated => 2, names "--steps";
    m_down_steps_negative: M ["--env", "test", "down", "--steps", "-1"] env[] Migrated => 2, names "-1";
    m_down_steps_huge: M ["--env", "test", "down", "--steps", "99999999999999999999"] env[] Migrated => 2, names "99999999999999999999";
    m_redo_steps_zero: M ["--env", "test", "redo", "--steps", "0"] env[] Migrated => 2, names "--steps";
    m_down_all_and_steps: M ["--env", "test", "down", "--all", "--steps", "2"] env[] Migrated => 2, names "--all";
    m_history_limit_zero: M ["--env", "test", "history", "--limit", "0"] env[] Migrated => 2, names "--limit";
    m_history_limit_negative: M ["--env", "test", "history", "--limit", "-5"] env[] Migrated => 2, names "-5";
    m_rehearse_max_lock_not_a_duration: M ["rehearse", "--max-lock", "soon"] env[] Migrated => 2, names "soon";
    m_rehearse_max_lock_negative: M ["rehearse", "--max-lock", "-1s"] env[] Migrated => 2, names "0s..=24h";
    m_rehearse_max_lock_too_long: M ["rehearse", "--max-lock", "25h"] env[] Migrated => 2, names "0s..=24h";
    m_rehearse_max_rewrite_rows_negative: M ["rehearse", "--max-rewrite-rows", "-1"] env[] Migrated => 2, names "0..=1000000000000";
    m_rehearse_dump_and_db: M ["rehearse", "--from-dump", "{file}", "--from-db", "{db}"] env[] Migrated => 2, names "--from-db";
    m_rehearse_dump_missing: M ["rehearse", "--from-dump", "{tmp}/missing.dump"] env[] Migrated => 2, names "missing.dump";
    m_rehearse_dump_not_a_dump: M ["rehearse", "--from-dump", "{file}"] env[] Migrated => 2, names "pg_restore";
    m_rehearse_db_missing: M ["rehearse", "--from-db", "gw_no_such_database"] env[] Migrated => 2, names "gw_no_such_database";
    m_rehearse_no_backup_recorded: M ["rehearse"] env[] Migrated => 2, names "--from-dump";
    m_rehearse_to_unknown_version: M ["rehearse", "--to", "19990101000000"] env[] Migrated => 2, names "19990101000000";
    m_env_unknown: M ["--env", "moon", "status"] env[] Empty => 2, names "moon";
    m_app_env_unknown: M ["status"] env["APP_ENV" => "moon"] Empty => 2, names "moon";
    m_log_format_unknown: M ["--log-format", "xml", "status"] env[] Empty => 2, names "xml";
    m_unknown_flag: M ["--frobnicate", "status"] env[] Empty => 2, names "--frobnicate";
    m_up_to_unknown_version: M ["up", "--to", "19990101000000"] env[] Empty => 2, names "19990101000000";
    m_up_to_not_a_version: M ["up", "--to", "yesterday"] env[] Empty => 2, names "yesterday";
    m_down_to_unknown_version: M ["--env", "test", "down", "--to", "19990101000000"] env[] Migrated => 2, names "19990101000000";
    m_accept_checksum_unknown_version: M ["--env", "test", "accept-checksum", "19990101000000"] env[] Migrated => 2, names "19990101000000";
    m_accept_checksum_missing_version: M ["--env", "test", "accept-checksum"] env[] Migrated => 2, names "VERSION";
    m_resolve_unknown_version: M ["--env", "test", "resolve", "19990101000000", "--applied"] env[] Migrated => 2, names "19990101000000";
    m_resolve_without_outcome: M ["--env", "test", "resolve", "19990101000000"] env[] Migrated => 2, names "--rolled-back";
    m_resolve_both_outcomes: M ["--env", "test", "resolve", "19990101000000", "--applied", "--rolled-back"] env[] Migrated => 2, names "--rolled-back";
    m_plan_sql_script_over_a_file: M ["--env", "test", "plan", "--sql-script", "{file}"] env[] Migrated => 2, names "{file}";
    m_plan_sql_script_in_missing_folder: M ["--env", "test", "plan", "--sql-script", "{tmp}/no/such/dir/s.sql"] env[] Migrated => 2, names "no/such/dir";
    // ---- flag edge values: seed ----
    s_add_tenant_bad_slug: S ["add", "tenant", "Bad Slug"] env[] Migrated => 2, names "Bad Slug";
    s_add_tenant_seeded_slug: S ["add", "tenant", "democorp"] env[] Migrated => 2, names "seed add flow --tenant democorp";
    s_add_tenant_synthetic_slug: S ["add", "tenant", "synthetic-00002"] env[] Migrated => 2, names "synthetic-";
    s_add_tenant_assets_zero: S ["add", "tenant", "acme", "--assets", "0"] env[] Migrated => 2, names "--assets";
    s_add_tenant_assets_huge: S ["add", "tenant", "acme", "--assets", "10001"] env[] Migrated => 2, names "10001";
    s_add_tenant_graph_unknown: S ["add", "tenant", "acme", "--graph", "zigzag"] env[] Migrated => 2, names "zigzag";
    s_add_tenant_unseeded: S ["add", "tenant", "acme"] env[] Migrated => 4, names "seed --stage 00_reference_data";
    s_add_tenant_prod: S ["add", "tenant", "acme"] env[] Prod => 4, names "dev/test";
    s_add_tenant_staging: S ["add", "tenant", "acme"] env[] Staging => 4, names "staging";
    s_add_flow_unknown_tenant: S ["add", "flow", "--tenant", "nope", "--status", "paused", "--phase", "field_mapping"] env[] Migrated => 2, names "nope";
    s_add_flow_bad_phase: S ["add", "flow", "--tenant", "democorp", "--status", "paused", "--phase", "nowhere"] env[] Migrated => 2, names "nowhere";
    s_add_flow_bad_status: S ["add", "flow", "--tenant", "democorp", "--status", "stuck", "--phase", "data_import"] env[] Migrated => 2, names "stuck";
    s_jobs_zero: S ["--jobs", "0"] env[] Empty => 2, names "--jobs";
    s_jobs_65: S ["--jobs", "65"] env[] Empty => 2, names "65";
    s_jobs_negative: S ["--jobs", "-1"] env[] Empty => 2, names "-1";
    s_jobs_env_zero: S [] env["SEED_JOBS" => "0"] Empty => 2, names "--jobs";
    s_scale_zero: S ["--scale", "0"] env[] Empty => 2, names "--scale";
    s_scale_negative: S ["--scale", "-3"] env[] Empty => 2, names "-3";
    s_scale_huge: S ["--scale", "99999999999999999999"] env[] Empty => 2, names "99999999999999999999";
    s_as_of_impossible_date: S ["--as-of", "2026-02-30"] env[] Empty => 2, names "2026-02-30";
    s_as_of_word: S ["--as-of", "yesterday"] env[] Empty => 2, names "yesterday";
    s_stage_unknown_number: S ["--stage", "99"] env[] Empty => 2, names "99";
    s_stage_unknown_name: S ["--stage", "bogus"] env[] Empty => 2, names "bogus";
    s_stage_renumbered: S ["--stage", "4"] env[] Empty => 2, names "10_raw_import_records";
    s_stage_empty: S ["--stage", ""] env[] Empty => 2, names "--stage";
    s_rng_seed_negative: S ["--rng-seed", "-1"] env[] Empty => 2, names "-1";
    s_connect_timeout_negative: S ["--connect-timeout", "-1s"] env[] Empty => 2, names "-1s";
    s_env_unknown: S ["--env", "moon"] env[] Empty => 2, names "moon";
    s_log_format_unknown: S ["--log-format", "xml"] env[] Empty => 2, names "xml";
    s_unknown_flag: S ["--frobnicate"] env[] Empty => 2, names "--frobnicate";
    s_unknown_subcommand: S ["obliterate"] env[] Empty => 2, names "obliterate";
    s_reset_hard_and_in_place: S ["reset", "--hard", "--in-place"] env[] Empty => 2, names "--in-place";
    s_snapshot_drop_without_name: S ["snapshot", "drop"] env[] Empty => 2, names "<NAME>";
    s_snapshot_drop_name_and_all: S ["snapshot", "drop", "x", "--all"] env[] Empty => 2, names "--all";
    s_snapshot_drop_not_a_snapshot: S ["snapshot", "drop", "postgres"] env[] Migrated => 2, names "postgres";
    s_snapshot_prune_negative: S ["snapshot", "prune", "--keep", "-1"] env[] Empty => 2, names "0..=10000";
    s_snapshots_mode_unknown: S ["--snapshots", "sometimes", "--stage", "all"] env[] Empty => 2, names "sometimes";
    s_prune_with_verify: S ["--prune", "verify"] env[] Migrated => 2, names "--prune";
    s_prune_with_reset: S ["--prune", "reset"] env[] Migrated => 2, names "--prune";
    s_prune_in_prod: S ["--env", "prod", "--stage", "00", "--prune"] env[] Prod => 4, names "--prune";
    s_prune_in_staging: S ["--env", "staging", "--stage", "00", "--prune"] env[] Staging => 4, names "--prune";
    s_prune_value: S ["--prune=yes"] env[] Empty => 2, names "--prune";
    s_verify_scale_zero: S ["verify", "--scale", "0"] env[] Migrated => 2, names "--scale";
    // ---- malformed migrations folders (`migrate --migrations-dir {dir} up` on an empty database) ----
    m_dir_missing: M ["--migrations-dir", "{dir}", "up"] env[] Shape(Shape::Missing) => 2, names "{dir}";
    m_dir_is_a_file: M ["--migrations-dir", "{dir}", "up"] env[] Shape(Shape::IsAFile) => 2, names "{dir}";
    m_dir_no_up_sql: M ["--migrations-dir", "{dir}", "up"] env[] Shape(Shape::NoUpSql) => 2, names "up.sql";
    m_dir_bad_folder_name: M ["--migrations-dir", "{dir}", "up"] env[] Shape(Shape::BadFolderName) => 2, names "not_a_migration";
    m_dir_duplicate_version: M ["--migrations-dir", "{dir}", "up"] env[] Shape(Shape::DuplicateVersion) => 2, names "20260110090000";
    m_dir_bad_metadata: M ["--migrations-dir", "{dir}", "up"] env[] Shape(Shape::BadMetadata) => 2, names "metadata.toml";
    m_dir_non_utf8_sql: M ["--migrations-dir", "{dir}", "up"] env[] Shape(Shape::NonUtf8Sql) => 2, names "up.sql";
    m_dir_commit_in_transaction: M ["--migrations-dir", "{dir}", "up"] env[] Shape(Shape::CommitInTx) => 2, names "run_in_transaction = false";
    m_dir_begin_in_transaction: M ["--migrations-dir", "{dir}", "up"] env[] Shape(Shape::BeginInTx) => 2, names "run_in_transaction = false";
    m_dir_rollback_in_transaction: M ["--migrations-dir", "{dir}", "up"] env[] Shape(Shape::RollbackInTx) => 2, names "run_in_transaction = false";
    m_dir_empty: M ["--migrations-dir", "{dir}", "up"] env[] Shape(Shape::EmptyFolder) => 2, names "{dir}";
    m_dir_plan_commit_in_transaction: M ["--migrations-dir", "{dir}", "plan"] env[] Shape(Shape::CommitInTx) => 2, names "COMMIT";
    // ---- malformed core data (`seed --stage all --data-dir {dir}` on an empty database) ----
    s_data_bad_toml: S ["--stage", "all", "--data-dir", "{dir}"] env[] Core(Core::BadToml) => 2, names "core.toml:";
    s_data_missing_field: S ["--stage", "all", "--data-dir", "{dir}"] env[] Core(Core::MissingField) => 2, names "slug";
    s_data_bad_email: S ["--stage", "all", "--data-dir", "{dir}"] env[] Core(Core::BadEmail) => 2, names "demo-at-democorp.com";
    s_data_unknown_role: S ["--stage", "all", "--data-dir", "{dir}"] env[] Core(Core::UnknownRole) => 2, names "SUPERUSER";
    s_data_non_utf8: S ["--stage", "all", "--data-dir", "{dir}"] env[] Core(Core::NonUtf8) => 2, names "core.toml";
    s_data_dir_missing: S ["--stage", "all", "--data-dir", "{dir}"] env[] Core(Core::Missing) => 2, names "{dir}";
    s_data_dir_is_a_file: S ["--stage", "all", "--data-dir", "{dir}"] env[] Core(Core::IsAFile) => 2, names "{dir}";
    s_data_dir_without_core_toml: S ["--stage", "all", "--data-dir", "{dir}"] env[] Core(Core::NoCoreToml) => 2, names "core.toml";
    // ---- environment mismatches and unknown databases ----
    m_env_dev_on_prod_stamp: M ["--env", "dev", "up"] env[] Prod => 4, names "prod";
    m_app_env_dev_on_prod_stamp: M ["up"] env["APP_ENV" => "dev"] Prod => 4, names "prod";
    m_env_test_on_staging_stamp: M ["--env", "test", "up"] env[] Staging => 4, names "staging";
    m_env_prod_on_dev_stamp: M ["--env", "prod", PROD_UP, "--yes", "--backup-dir", "{backups}", "up"] env[] Dev => 4, names "dev";
    m_env_dev_down_on_staging_stamp: M ["--env", "dev", "down"] env[] Staging => 4, names "staging";
    s_env_dev_on_staging_stamp: S ["--env", "dev", "--stage", "all"] env[] Staging => 4, names "staging";
    s_env_prod_on_staging_stamp: S ["--env", "prod", "--stage", "0"] env[] Staging => 4, names "staging";
    s_env_test_on_prod_stamp: S ["--env", "test", "--stage", "0"] env[] Prod => 4, names "prod";
    s_unknown_db_stage_all: S ["--stage", "all"] env[] Unknown => 4, names "--env";
    s_unknown_db_app_env_is_not_explicit: S ["--stage", "all"] env["APP_ENV" => "dev"] Unknown => 4, names "--env";
    s_unknown_db_reset: S ["reset"] env[] Unknown => 4, names "--env";
    m_unknown_db_down: M ["down"] env[] Unknown => 4, names "--env";
    s_audit_prod_no_stamp_stage_all: S ["--stage", "all"] env[] AuditSaysProd => 4, names "prod";
    s_audit_prod_no_stamp_reset: S ["--env", "dev", "reset"] env[] AuditSaysProd => 4, names "prod";
    m_audit_prod_no_stamp_env_dev_up: M ["--env", "dev", "up"] env[] AuditSaysProd => 4, names "prod";
    // ---- prod misuse ----
    m_prod_up_without_require_backup: M ["--env", "prod", "--yes", "up"] env[] ProdPending => 4, names "--require-backup";
    m_prod_up_without_yes_no_terminal: M ["--env", "prod", PROD_UP, "--backup-dir", "{backups}", "up"] env[] ProdPending => 4, names "--yes";
    m_prod_down_all: M ["--env", "prod", PROD_UP, "--yes", "--backup-dir", "{backups}", "down", "--all"] env[] ProdPending => 4, names "--all";
    m_prod_down_steps_2: M ["--env", "prod", PROD_UP, "--yes", "--backup-dir", "{backups}", "down", "--steps", "2"] env[] ProdPending => 4, names "--steps";
    m_prod_down_steps_99: M ["--env", "prod", PROD_UP, "--yes", "--backup-dir", "{backups}", "down", "--steps", "99"] env[] ProdPending => 4, names "--steps";
    m_prod_down_to: M ["--env", "prod", PROD_UP, "--yes", "--backup-dir", "{backups}", "down", "--to", "20260110090000"] env[] ProdPending => 4, names "--to";
    m_prod_down_to_zero: M ["--env", "prod", PROD_UP, "--yes", "--backup-dir", "{backups}", "down", "--to", "00000000000000"] env[] ProdPending => 4, names "--to";
    m_prod_redo_steps_2: M ["--env", "prod", PROD_UP, "--yes", "--backup-dir", "{backups}", "redo", "--steps", "2"] env[] ProdPending => 4, names "--steps";
    m_prod_app_env_down_all: M ["--yes", PROD_UP, "--backup-dir", "{backups}", "down", "--all"] env["APP_ENV" => "prod"] ProdPending => 4, names "--all";
    m_prod_setup: M ["--env", "prod", "setup"] env[] ProdPending => 4, names "prod";
    s_prod_stage_all: S ["--stage", "all"] env[] Prod => 4, names "prod";
    s_prod_demo_stage_3: S ["--stage", "3"] env[] Prod => 4, names "prod";
    s_prod_env_flag_demo_stage_6: S ["--env", "prod", "--stage", "6"] env[] Prod => 4, names "prod";
    s_prod_reset: S ["reset"] env[] Prod => 4, names "prod";
    s_prod_reset_hard: S ["reset", "--hard"] env[] Prod => 4, names "prod";
    // ---- the scratch database of verify --schema and the prod schema check ----
    m_scratch_url_malformed: M ["verify", "--schema", "--scratch-url", "postgres://postgres:hunter2@[::1/x"] env[] Migrated => 2, names "";
    m_scratch_url_is_the_target: M ["verify", "--schema", "--scratch-url", "postgres://postgres:hunter2@127.0.0.1:5432/{db}"] env[] Migrated => 2, names "is the database being checked itself";
    m_scratch_url_unreachable: M ["verify", "--schema"] env["MIGRATE_SCRATCH_URL" => "postgres://postgres:hunter2@127.0.0.1:1/x"] Migrated => 3, names "127.0.0.1:1";
    m_allow_schema_drift_blank_reason: M ["--env", "prod", PROD_UP, "--yes", "--backup-dir", "{backups}", "up", "--allow-schema-drift", "  "] env[] ProdPending => 2, names "--allow-schema-drift";
    s_prod_reset_in_place: S ["reset", "--in-place"] env[] Prod => 4, names "prod";
    s_prod_reset_yes: S ["reset", "--yes"] env[] Prod => 4, names "prod";
    s_prod_snapshot_list: S ["snapshot", "list"] env[] Prod => 4, names "prod";
    s_prod_snapshot_prune: S ["snapshot", "prune", "--keep", "10000"] env[] Prod => 4, names "prod";
    s_staging_snapshot_drop: S ["snapshot", "drop", "groundwork_snap_000000000000000000000000"] env[] Staging => 4, names "staging";
    s_env_prod_snapshot_list: S ["--env", "prod", "snapshot", "list"] env[] Migrated => 4, names "prod";
    // ---- unwritable paths ----
    m_backup_dir_is_a_file: M ["--env", "prod", PROD_UP, "--yes", "--backup-dir", "{file}", "up"] env[] ProdPending => 7, names "{file}";
    m_backup_dir_under_a_file: M ["--env", "prod", PROD_UP, "--yes", "--backup-dir", "{file}/sub", "up"] env[] ProdPending => 7, names "{file}/sub";
    m_backup_dir_uncreatable: M ["--env", "prod", PROD_UP, "--yes", "--backup-dir", "/proc/gw-backups", "up"] env[] ProdPending => 7, names "/proc/gw-backups";
    m_backup_dir_symlink_to_shared: M ["--env", "prod", PROD_UP, "--yes", "--backup-dir", "{symlink-shared}", "up"] env[] ProdPending => 7, names "{symlink-shared}";
    m_backup_dir_group_writable: M ["--env", "prod", PROD_UP, "--yes", "--backup-dir", "{gwdir}", "up"] env[] ProdPending => 7, names "{gwdir}";
    s_write_env_missing_folder: S ["--stage", "all", "--write-env={tmp}/missing/.env"] env[] Migrated => 2, names "{tmp}/missing/.env";
    s_write_env_is_a_directory: S ["--stage", "all", "--write-env={tmp}"] env[] Migrated => 2, names "{tmp}";
    s_write_env_under_a_file: S ["--stage", "all", "--write-env={file}/.env"] env[] Migrated => 2, names "{file}/.env";
    s_artifacts_dir_is_a_file: S ["--stage", "all", "--artifacts-dir", "{file}"] env[] Migrated => 2, names "{file}";
    // ---- the migrate config (`--config {dir}`) and `migrate lint` arguments ----
    m_config_missing_file: M ["--config", "{tmp}/missing.toml", "status"] env[] Empty => 2, names "{tmp}/missing.toml";
    m_config_unknown_rule_stops_up: M ["--config", "{dir}", "up"] env[] Config(BadConfig::UnknownRule) => 2, names "lint.rules.ban-drop-tabel";
    m_config_unknown_rule_from_env: M ["lint", "--all"] env["MIGRATE_CONFIG" => "{dir}"] Config(BadConfig::UnknownRule) => 2, names "ban-drop-tabel";
    m_config_bad_severity: M ["--config", "{dir}", "lint", "--all"] env[] Config(BadConfig::BadSeverity) => 2, names "\"error\", \"warning\" or \"off\"";
    m_config_allow_rule_turned_off: M ["--config", "{dir}", "lint", "--all"] env[] Config(BadConfig::OffForAllowRule) => 2, names "lint.rules.allow-without-reason";
    m_config_bad_max_lock: M ["--config", "{dir}", "plan"] env[] Config(BadConfig::BadDuration) => 2, names "rehearse.max_lock";
    m_config_negative_rewrite_rows: M ["--config", "{dir}", "plan"] env[] Config(BadConfig::NegativeRows) => 2, names "rehearse.max_rewrite_rows";
    m_config_allow_without_reason: M ["--config", "{dir}", "lint", "--all"] env[] Config(BadConfig::AllowWithoutReason) => 2, names "lint.allow[0].reason";
    m_config_unknown_section: M ["--config", "{dir}", "lint", "--all"] env[] Config(BadConfig::UnknownSection) => 2, names "[lint] and [rehearse]";
    m_config_not_toml: M ["--config", "{dir}", "lint", "--all"] env[] Config(BadConfig::NotToml) => 2, names "not valid TOML";
    m_lint_unknown_version: M ["lint", "19990101000000"] env[] Empty => 2, names "19990101000000";
    m_lint_pending_without_database_url: M ["lint"] env["DATABASE_URL" => "UNSET"] Empty => 2, names "--all";
    m_lint_deny_unknown_kind: M ["lint", "--deny", "errors"] env[] Empty => 2, names "errors";
    m_lint_all_and_version: M ["lint", "--all", "20260110090000"] env[] Empty => 2, names "--all";
}

#[test]
fn the_table_has_at_least_60_cases_across_both_binaries() {
    let m = ALL_CASES.iter().filter(|n| n.starts_with("m_")).count();
    let s = ALL_CASES.iter().filter(|n| n.starts_with("s_")).count();
    assert_eq!(
        m + s,
        ALL_CASES.len(),
        "every case name starts with m_ or s_"
    );
    assert!(ALL_CASES.len() >= 60, "{} cases", ALL_CASES.len());
    assert!(m >= 20 && s >= 20, "migrate {m}, seed {s}");
}

fn run_case(case: &Case) {
    let ctx = setup(case.setup);
    let before = ctx.db.snapshot();
    let mut cmd = match case.bin {
        Bin::M => migrate_cmd(&ctx.db),
        Bin::S => bin_cmd("seed", &ctx.db),
    };
    cmd.args(case.args.iter().map(|a| ctx.subst(a)));
    for (k, v) in case.env {
        if *v == "UNSET" {
            cmd.env_remove(k);
        } else {
            cmd.env(k, ctx.subst(v));
        }
    }
    let res = run_with_limit(&mut cmd, LIMIT);
    let after = ctx.db.snapshot();

    let mut problems = Vec::new();
    if res.timed_out {
        problems.push(format!("hung: killed after {:?}", res.elapsed));
    }
    if res.code != Some(case.code) {
        problems.push(format!("exit code {:?}, expected {}", res.code, case.code));
    }
    let all = format!("{}{}", res.stdout, res.stderr);
    if all.contains("panicked") || all.contains("RUST_BACKTRACE") {
        problems.push("the binary panicked".to_owned());
    }
    if all.contains(SECRET) {
        problems.push(format!("the password ({SECRET}…) was printed"));
    }
    let names = ctx.subst(case.names);
    if !names.is_empty() && !res.stderr.contains(&names) {
        problems.push(format!("stderr does not name {names:?}"));
    }
    for d in snapshot_diff(&before, &after) {
        problems.push(format!("database changed: {d}"));
    }
    let shown = format!(
        "exit: {}\n{}",
        res.code
            .map_or_else(|| "signal".to_owned(), |c| c.to_string()),
        normalise(&res.stderr)
    );
    assert!(
        problems.is_empty(),
        "case {} ({:?} {:?}, setup {:?}):\n  - {}\n{}",
        case.name,
        case.bin,
        case.args,
        case.setup,
        problems.join("\n  - "),
        res.describe()
    );
    insta::assert_snapshot!(case.name, shown);
}
