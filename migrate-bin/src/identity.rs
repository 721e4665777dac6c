//! Who runs this process: the operating-system user and host, named in every connection's
//! `application_name` (so a waiting migrator can tell who holds the lock) and in every audit
//! row. Below both the policy core and the store, which each name them.

/// The operating-system user running this process, for the audit log and connection names.
pub(crate) fn os_user() -> String {
    whoami::username().unwrap_or_else(|_| "unknown".into())
}

/// The host this process runs on, for the audit log and connection names.
pub(crate) fn host() -> String {
    whoami::hostname()
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
