//! PostgreSQL's table lock modes, ordered by strength, and which of them stop the
//! application's traffic.

use std::fmt;

use serde::Serialize;

/// A table-level lock mode as `pg_locks.mode` names it, weakest first, so `max` is the
/// strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LockMode {
    /// `SELECT`.
    AccessShare,
    /// `SELECT … FOR UPDATE`.
    RowShare,
    /// `INSERT`, `UPDATE`, `DELETE`: what the application takes all day.
    RowExclusive,
    /// `VACUUM`, `CREATE INDEX CONCURRENTLY`, `VALIDATE CONSTRAINT`.
    ShareUpdateExclusive,
    /// `CREATE INDEX` without `CONCURRENTLY`: blocks writes.
    Share,
    /// `CREATE TRIGGER`, some `ALTER TABLE` forms: blocks writes.
    ShareRowExclusive,
    /// `REFRESH MATERIALIZED VIEW CONCURRENTLY`: blocks writes.
    Exclusive,
    /// Most `ALTER TABLE` forms, `DROP`, `TRUNCATE`: blocks reads too.
    AccessExclusive,
}

impl LockMode {
    /// From `pg_locks.mode` (`AccessExclusiveLock`); `None` for modes of other lock types.
    pub fn from_pg(mode: &str) -> Option<Self> {
        Some(match mode {
            "AccessShareLock" => Self::AccessShare,
            "RowShareLock" => Self::RowShare,
            "RowExclusiveLock" => Self::RowExclusive,
            "ShareUpdateExclusiveLock" => Self::ShareUpdateExclusive,
            "ShareLock" => Self::Share,
            "ShareRowExclusiveLock" => Self::ShareRowExclusive,
            "ExclusiveLock" => Self::Exclusive,
            "AccessExclusiveLock" => Self::AccessExclusive,
            _ => return None,
        })
    }

    /// Whether the lock conflicts with ROW EXCLUSIVE, i.e. queues the application's writes
    /// (and, for ACCESS EXCLUSIVE, its reads) for as long as it is held. Only these count
    /// against `--max-lock`: ACCESS SHARE … SHARE UPDATE EXCLUSIVE let traffic through.
    pub fn blocks_writes(self) -> bool {
        self >= Self::Share
    }
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AccessShare => "ACCESS SHARE",
            Self::RowShare => "ROW SHARE",
            Self::RowExclusive => "ROW EXCLUSIVE",
            Self::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            Self::Share => "SHARE",
            Self::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            Self::Exclusive => "EXCLUSIVE",
            Self::AccessExclusive => "ACCESS EXCLUSIVE",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_order_by_strength_and_only_share_and_up_block_writes() {
        let modes = [
            "AccessShareLock",
            "RowShareLock",
            "RowExclusiveLock",
            "ShareUpdateExclusiveLock",
            "ShareLock",
            "ShareRowExclusiveLock",
            "ExclusiveLock",
            "AccessExclusiveLock",
        ]
        .map(|m| LockMode::from_pg(m).unwrap());
        assert!(modes.windows(2).all(|w| w[0] < w[1]));
        let blocking: Vec<_> = modes.iter().filter(|m| m.blocks_writes()).collect();
        assert_eq!(blocking.len(), 4);
        assert_eq!(modes[4].to_string(), "SHARE");
        assert_eq!(LockMode::from_pg("SIReadLock"), None);
    }
}
