//! API keys: generation, argon2id hashing and verification.
//!
//! A key looks like `gw_<prefix>_<secret>`. The prefix (8 hex characters) is stored in clear
//! so the application can find the key's row without hashing every stored key; the whole key
//! string is stored only as an argon2id PHC hash. The application calls [`parse_prefix`] to
//! find the row, then [`check`] with the row (or `None` when no row has that prefix): the
//! result tells a valid key from an unknown, wrong, revoked or expired one, and refuses a
//! stored hash whose argon2id cost is outside [`HASH_POLICY`] before hashing anything.
//!
//! The prefix is unique within a tenant, not across tenants (a table distributed by tenant
//! cannot enforce that; see docs/scaling.md), so a prefix may find more than one row (two
//! random prefixes collide with probability 2^-32): call [`check`] with each and accept the
//! one that is [`KeyCheck::Valid`].
//!
//! The presented key is used exactly as given: never trimmed (a key with a stray space is not
//! the key).

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
use rand::TryRng;
use rand::rngs::SysRng;

/// Every key starts with this marker, so leaked keys are easy to recognise in logs and scanners.
pub const KEY_MARKER: &str = "gw";
/// Number of hex characters of the lookup prefix.
pub const PREFIX_LEN: usize = 8;
/// Random bytes per key, from the operating system's generator.
pub const KEY_BYTES: usize = 32;

/// Why a key could not be generated or hashed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// The operating system's random generator failed.
    #[error(
        "the operating system's random number generator failed ({0}); check that /dev/urandom or getrandom(2) is available"
    )]
    Entropy(String),
    /// argon2 refused its parameters or input.
    #[error("hashing the API key with argon2id failed ({0}); this is a bug, please report it")]
    Hash(String),
}

/// A freshly generated key. The plaintext exists only here; `Debug` never shows it.
pub struct GeneratedKey {
    plaintext: String,
    prefix: String,
}

impl GeneratedKey {
    /// The full key, to be shown once to the user.
    pub fn plaintext(&self) -> &str {
        &self.plaintext
    }
    /// The lookup prefix stored beside the hash.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("prefix", &self.prefix)
            .field("plaintext", &"<redacted>")
            .finish()
    }
}

/// Generates a key from 32 bytes of OS randomness: 4 bytes become the prefix, 28 the secret.
pub fn generate() -> Result<GeneratedKey, ApiKeyError> {
    let mut bytes = [0u8; KEY_BYTES];
    SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| ApiKeyError::Entropy(e.to_string()))?;
    let prefix = hex::encode(&bytes[..PREFIX_LEN / 2]);
    let secret = hex::encode(&bytes[PREFIX_LEN / 2..]);
    Ok(GeneratedKey {
        plaintext: format!("{KEY_MARKER}_{prefix}_{secret}"),
        prefix,
    })
}

fn argon2id() -> Result<Argon2<'static>, ApiKeyError> {
    // OWASP's second recommended argon2id setting (19 MiB, 2 passes): about 15 ms per verify.
    let params =
        Params::new(19 * 1024, 2, 1, None).map_err(|e| ApiKeyError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a key into an argon2id PHC string (`$argon2id$v=19$...`) with a random salt.
pub fn hash(key: &str) -> Result<String, ApiKeyError> {
    let hashed = argon2id()?
        .hash_password(key.as_bytes())
        .map_err(|e| ApiKeyError::Hash(e.to_string()))?;
    Ok(hashed.to_string())
}

/// Bounds on the argon2id cost a stored hash may claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashPolicy {
    /// Memory in KiB: at least OWASP's minimum for argon2id.
    pub min_m_kib: u32,
    /// Most memory in KiB: a hash claiming more would let whoever can write the row make
    /// every verification allocate that much (a denial of service).
    pub max_m_kib: u32,
    /// Passes.
    pub min_t: u32,
    /// Most passes (CPU time per verification).
    pub max_t: u32,
    /// Lanes.
    pub min_p: u32,
    /// Most lanes.
    pub max_p: u32,
}

/// OWASP's argon2id minimum (m = 19 MiB, t = 2, p = 1) up to a ceiling of 1 GiB, 20 passes
/// and 16 lanes, far above any setting this project or OWASP uses.
pub const HASH_POLICY: HashPolicy = HashPolicy {
    min_m_kib: 19 * 1024,
    max_m_kib: 1024 * 1024,
    min_t: 2,
    max_t: 20,
    min_p: 1,
    max_p: 16,
};

/// Why a stored hash is refused before any hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashProblem {
    /// Not a PHC string, or not argon2id version 19, or without salt or output.
    Malformed,
    /// Its cost is below [`HASH_POLICY`]'s minimum (too cheap to brute-force safely).
    TooWeak {
        /// m (KiB), t, p the hash claims.
        m_kib: u32,
        /// Passes.
        t: u32,
        /// Lanes.
        p: u32,
    },
    /// Its cost is above [`HASH_POLICY`]'s ceiling (verification would be a denial of service).
    TooCostly {
        /// m (KiB), t, p the hash claims.
        m_kib: u32,
        /// Passes.
        t: u32,
        /// Lanes.
        p: u32,
    },
}

/// The stored row fields that decide a verification (see `models::ApiKey`).
#[derive(Debug, Clone, Copy)]
pub struct StoredKey<'a> {
    /// The argon2id PHC string.
    pub key_hash: &'a str,
    /// When the key was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the key stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a crate::models::ApiKey> for StoredKey<'a> {
    fn from(row: &'a crate::models::ApiKey) -> Self {
        StoredKey {
            key_hash: &row.key_hash,
            revoked_at: row.revoked_at,
            expires_at: row.expires_at,
        }
    }
}

/// The outcome of checking a presented key. Only [`KeyCheck::Valid`] authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "only KeyCheck::Valid authenticates"]
pub enum KeyCheck {
    /// The key matches a live row.
    Valid,
    /// No row has the key's prefix (or the key is not shaped like ours).
    Unknown,
    /// The row exists but the secret does not match.
    Wrong,
    /// The secret matches but the key was revoked at this time.
    Revoked(DateTime<Utc>),
    /// The secret matches but the key expired at this time.
    Expired(DateTime<Utc>),
    /// The stored hash is refused before hashing (see [`HashProblem`]); fix or rotate the key.
    BadStoredHash(HashProblem),
}

impl KeyCheck {
    /// Whether the key authenticates.
    pub fn is_valid(&self) -> bool {
        matches!(self, KeyCheck::Valid)
    }
}

/// Parses `stored_hash` and checks it against [`HASH_POLICY`], without hashing anything.
pub fn check_stored_hash(stored_hash: &str) -> Result<PasswordHash, HashProblem> {
    let parsed = PasswordHash::new(stored_hash).map_err(|_| HashProblem::Malformed)?;
    if parsed.algorithm.as_str() != "argon2id"
        || parsed.version != Some(0x13)
        || parsed.salt.is_none()
        || parsed.hash.is_none()
    {
        return Err(HashProblem::Malformed);
    }
    let params = Params::try_from(&parsed).map_err(|_| HashProblem::Malformed)?;
    let (m_kib, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
    let pol = HASH_POLICY;
    if m_kib < pol.min_m_kib || t < pol.min_t || p < pol.min_p {
        return Err(HashProblem::TooWeak { m_kib, t, p });
    }
    if m_kib > pol.max_m_kib || t > pol.max_t || p > pol.max_p {
        return Err(HashProblem::TooCostly { m_kib, t, p });
    }
    Ok(parsed)
}

/// Checks `presented` against its row (`None`: no row has its prefix) at time `now`.
///
/// The secret is checked before revocation and expiry, so a caller who knows only a prefix
/// learns nothing about the key's state.
pub fn check(presented: &str, stored: Option<StoredKey<'_>>, now: DateTime<Utc>) -> KeyCheck {
    let Some(stored) = stored else {
        return KeyCheck::Unknown;
    };
    let parsed = match check_stored_hash(stored.key_hash) {
        Ok(p) => p,
        Err(problem) => return KeyCheck::BadStoredHash(problem),
    };
    if Argon2::default()
        .verify_password(presented.as_bytes(), &parsed)
        .is_err()
    {
        return KeyCheck::Wrong;
    }
    if let Some(at) = stored.revoked_at
        && at <= now
    {
        return KeyCheck::Revoked(at);
    }
    if let Some(at) = stored.expires_at
        && at <= now
    {
        return KeyCheck::Expired(at);
    }
    KeyCheck::Valid
}

/// True when `presented` is the secret whose hash is `stored_hash` and that hash is within
/// [`HASH_POLICY`]. For passwords and keys without a row state; API keys go through [`check`].
pub fn verify(presented: &str, stored_hash: &str) -> bool {
    check_stored_hash(stored_hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(presented.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The lookup prefix of a presented key, or `None` when it is not shaped like one of ours.
pub fn parse_prefix(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(KEY_MARKER)?.strip_prefix('_')?;
    let (prefix, secret) = rest.split_once('_')?;
    let is_hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    (prefix.len() == PREFIX_LEN && is_hex(prefix) && !secret.is_empty() && is_hex(secret))
        .then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips() {
        let key = generate().unwrap();
        let stored = hash(key.plaintext()).unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify(key.plaintext(), &stored));
        assert!(!verify("gw_00000000_00", &stored));
        assert!(!verify(key.plaintext(), "not a hash"));
        assert_eq!(parse_prefix(key.plaintext()), Some(key.prefix()));
        assert!(!format!("{key:?}").contains(key.plaintext()));
    }

    use chrono::TimeZone;

    fn hash_with(m: u32, t: u32, p: u32, key: &str) -> String {
        let params = Params::new(m, t, p, None).unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(key.as_bytes())
            .unwrap()
            .to_string()
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, 0, 0, 0).unwrap()
    }

    fn row(hash: &str) -> StoredKey<'_> {
        StoredKey {
            key_hash: hash,
            revoked_at: None,
            expires_at: None,
        }
    }

    #[test]
    fn check_tells_valid_unknown_wrong_revoked_and_expired_apart() {
        let key = generate().unwrap();
        let h = hash(key.plaintext()).unwrap();
        let now = at(15);
        assert_eq!(check(key.plaintext(), Some(row(&h)), now), KeyCheck::Valid);
        assert!(check(key.plaintext(), Some(row(&h)), now).is_valid());
        assert_eq!(check(key.plaintext(), None, now), KeyCheck::Unknown);
        assert_eq!(check("gw_00000000_00", Some(row(&h)), now), KeyCheck::Wrong);
        let revoked = StoredKey {
            revoked_at: Some(at(10)),
            ..row(&h)
        };
        assert_eq!(
            check(key.plaintext(), Some(revoked), now),
            KeyCheck::Revoked(at(10))
        );
        let expired = StoredKey {
            expires_at: Some(at(14)),
            ..row(&h)
        };
        assert_eq!(
            check(key.plaintext(), Some(expired), now),
            KeyCheck::Expired(at(14))
        );
        // Future revocation and expiry do not apply yet.
        let later = StoredKey {
            revoked_at: Some(at(20)),
            expires_at: Some(at(20)),
            ..row(&h)
        };
        assert_eq!(check(key.plaintext(), Some(later), now), KeyCheck::Valid);
        // A wrong secret on a revoked row says wrong: the state is not disclosed.
        assert_eq!(check("gw_00000000_00", Some(revoked), now), KeyCheck::Wrong);
    }

    #[test]
    fn the_presented_key_is_never_trimmed() {
        let key = generate().unwrap();
        let h = hash(key.plaintext()).unwrap();
        let padded = format!(" {} ", key.plaintext());
        assert_eq!(check(&padded, Some(row(&h)), at(1)), KeyCheck::Wrong);
        assert!(!verify(&padded, &h));
        assert_eq!(parse_prefix(&padded), None);
    }

    #[test]
    fn stored_hashes_below_the_owasp_minimum_are_refused() {
        for (m, t, p) in [(19 * 1024 - 1, 2, 1), (19 * 1024, 1, 1), (8, 1, 1)] {
            let h = hash_with(m, t, p, "k");
            assert_eq!(
                check("k", Some(row(&h)), at(1)),
                KeyCheck::BadStoredHash(HashProblem::TooWeak { m_kib: m, t, p }),
                "m={m} t={t} p={p}"
            );
            assert!(!verify("k", &h));
        }
        // The minimum itself is fine.
        let h = hash_with(19 * 1024, 2, 1, "k");
        assert_eq!(check("k", Some(row(&h)), at(1)), KeyCheck::Valid);
    }

    #[test]
    fn stored_hashes_above_the_ceiling_are_refused_without_hashing() {
        // Hand-made PHC strings: hashing with these costs is exactly what must not happen.
        let salt = "c2FsdHNhbHRzYWx0c2FsdA";
        let out = "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        for (m, t, p) in [
            (1024 * 1024 + 1, 2, 1),
            (19456, 21, 1),
            (19456, 2, 17),
            (4_000_000, 2, 1),
        ] {
            let h = format!("$argon2id$v=19$m={m},t={t},p={p}${salt}${out}");
            assert_eq!(
                check("k", Some(row(&h)), at(1)),
                KeyCheck::BadStoredHash(HashProblem::TooCostly { m_kib: m, t, p }),
                "{h}"
            );
        }
    }

    #[test]
    fn malformed_or_foreign_stored_hashes_are_refused() {
        let argon2i = "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        let old_version = "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        for h in [
            "",
            "not a hash",
            "$argon2id$v=19$m=19456,t=2,p=1",
            argon2i,
            old_version,
        ] {
            assert_eq!(
                check("k", Some(row(h)), at(1)),
                KeyCheck::BadStoredHash(HashProblem::Malformed),
                "{h:?}"
            );
        }
    }

    #[test]
    fn parse_prefix_rejects_foreign_shapes() {
        assert_eq!(parse_prefix("gw_abcdef01_ff"), Some("abcdef01"));
        assert_eq!(parse_prefix("sk_abcdef01_ff"), None);
        assert_eq!(parse_prefix("gw_abc_ff"), None);
        assert_eq!(parse_prefix("gw_abcdef01_"), None);
        assert_eq!(parse_prefix("gw_abcdefzz_ff"), None);
    }
}
