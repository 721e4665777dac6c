//! The bookkeeping tables as diesel sees them, so queries on them are checked by the
//! compiler instead of being SQL strings. Their DDL is in [`super::bookkeeping`]: diesel has
//! no DDL, and diesel_cli's table must be created byte for byte as diesel_cli creates it.

diesel::table! {
    /// diesel_cli's own table, shared with `diesel migration run/list`.
    __diesel_schema_migrations (version) {
        version -> Varchar,
        run_on -> Timestamp,
    }
}

diesel::table! {
    /// The checksum of every migration applied (or adopted) by `migrate`.
    groundwork.migration_checksums (version) {
        version -> Varchar,
        name -> Text,
        checksum -> Text,
        applied_at -> Timestamptz,
        duration_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// The single-row environment stamp.
    groundwork.environment (singleton) {
        singleton -> Bool,
        env -> Text,
        stamped_at -> Timestamptz,
        stamped_by -> Text,
    }
}

diesel::table! {
    /// One row per run that changed (or tried to change) the database.
    groundwork.audit_runs (id) {
        id -> BigInt,
        command -> Text,
        env -> Text,
        db_user -> Text,
        os_user -> Nullable<Text>,
        host -> Nullable<Text>,
        binary_version -> Text,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        outcome -> Text,
        error -> Nullable<Text>,
        backup_path -> Nullable<Text>,
        backup_size_bytes -> Nullable<BigInt>,
        backup_sha256 -> Nullable<Text>,
    }
}

diesel::table! {
    /// One row per migration a run applied, reverted, repaired or accepted.
    groundwork.audit_migrations (id) {
        id -> BigInt,
        run_id -> BigInt,
        version -> Varchar,
        name -> Text,
        action -> Text,
        run_in_transaction -> Bool,
        finished_at -> Timestamptz,
        duration_ms -> Nullable<BigInt>,
        outcome -> Text,
        error -> Nullable<Text>,
        statements_done -> Nullable<Integer>,
        detail -> Nullable<Text>,
    }
}

diesel::joinable!(audit_migrations -> audit_runs (run_id));
diesel::allow_tables_to_appear_in_same_query!(
    __diesel_schema_migrations,
    migration_checksums,
    environment,
    audit_runs,
    audit_migrations,
);

diesel::define_sql_function! {
    /// The wall clock now (not the transaction's start, as `now()` is).
    fn clock_timestamp() -> Timestamptz;
}
