//! API keys: generation, argon2id hashing and verification.
//!
//! A key looks like `gw_<prefix>_<secret>`. The prefix (8 hex characters) is stored in clear
//! so the application can find the key's row without hashing every stored key; the whole key
//! string is stored only as an argon2id PHC hash. The application calls [`parse_prefix`] to
//! find the row, then [`verify`] against its `key_hash`.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};
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

/// True when `presented` is the key whose hash is `stored_hash`. Any malformed input is `false`.
pub fn verify(presented: &str, stored_hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored_hash) else {
        return false;
    };
    // Parameters come from the PHC string, so keys hashed with older settings still verify.
    Argon2::default()
        .verify_password(presented.trim().as_bytes(), &parsed)
        .is_ok()
}

/// The lookup prefix of a presented key, or `None` when it is not shaped like one of ours.
pub fn parse_prefix(presented: &str) -> Option<&str> {
    let rest = presented
        .trim()
        .strip_prefix(KEY_MARKER)?
        .strip_prefix('_')?;
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

    #[test]
    fn parse_prefix_rejects_foreign_shapes() {
        assert_eq!(parse_prefix("gw_abcdef01_ff"), Some("abcdef01"));
        assert_eq!(parse_prefix("sk_abcdef01_ff"), None);
        assert_eq!(parse_prefix("gw_abc_ff"), None);
        assert_eq!(parse_prefix("gw_abcdef01_"), None);
        assert_eq!(parse_prefix("gw_abcdefzz_ff"), None);
    }
}
