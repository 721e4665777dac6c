//! Deterministic identity: UUIDv5 ids from natural keys, per-stage random generators, timestamps
//! derived from `--as-of`.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Namespace of every seeded id. Fixed forever: changing it changes every id of every database.
pub const NAMESPACE: Uuid = Uuid::from_u128(0x6772_6f75_6e64_776f_726b_7365_6564_0001);

/// The id of the row of `kind` whose natural key is `key`.
pub fn id(kind: &str, key: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{kind}/{key}").as_bytes())
}

/// An independent generator for one stage and one tenant: changing one stage never shifts
/// another stage's random stream, and tenants can be generated in any order.
pub fn rng(seed: u64, stage: &str, tenant: &str) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(stage.as_bytes());
    h.update([0]);
    h.update(tenant.as_bytes());
    ChaCha8Rng::from_seed(h.finalize().into())
}

/// Midnight UTC of the as-of date.
pub fn as_of_start(as_of: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&as_of.and_time(NaiveTime::MIN))
}

/// A timestamp `days` before as-of plus `seconds` into that day.
pub fn ts(as_of: NaiveDate, days_before: i64, seconds: i64) -> DateTime<Utc> {
    as_of_start(as_of) - Duration::days(days_before) + Duration::seconds(seconds)
}

/// A date `days` after (negative: before) as-of.
pub fn date(as_of: NaiveDate, days: i64) -> NaiveDate {
    as_of + Duration::days(days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn ids_and_rngs_are_stable() {
        assert_eq!(
            id("asset", "democorp/web-01"),
            id("asset", "democorp/web-01")
        );
        assert_ne!(
            id("asset", "democorp/web-01"),
            id("asset", "democorp/web-02")
        );
        let a: u64 = rng(42, "06_assets", "democorp").random();
        let b: u64 = rng(42, "06_assets", "democorp").random();
        let c: u64 = rng(42, "07_dependencies", "democorp").random();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
