//! The one "dev and test only" check. Creating databases, emptying them and migrating them
//! from another tool are for disposable databases; every such operation asks here, so the
//! rule cannot drift between `migrate` and `seed`, and each refusal keeps its own advice.

use crate::env::Environment;
use crate::error::MigrateError;

/// An operation only dev and test databases allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisposableOnly<'a> {
    /// `migrate setup`, judged by the environment the run asked for (before connecting).
    Setup,
    /// `migrate setup`, judged again by the database's stamp once connected.
    SetupOnStamped,
    /// The library's `apply_pending` / `revert_all` (e.g. run by `seed`); names what it does.
    Library(&'a str),
    /// `seed reset`: empties the seeded tables.
    SeedReset,
    /// `seed add`: a factory's demo data (another tenant, a stuck flow).
    SeedAdd,
}

/// Refuses `operation` unless `env` is dev or test. Nothing has changed when it refuses.
pub fn require_disposable(
    env: Environment,
    operation: DisposableOnly<'_>,
) -> Result<(), MigrateError> {
    if env.is_disposable() {
        return Ok(());
    }
    let message = match operation {
        DisposableOnly::Setup => format!(
            "`migrate setup` creates databases and is for dev and test only, but the environment is {env}. \
             Create production and staging databases through your normal provisioning, then run `migrate up`"
        ),
        DisposableOnly::SetupOnStamped => format!(
            "`migrate setup` is for dev and test only, but this database is stamped {env}; \
             use `migrate --env {env} --require-backup up` for it. Nothing was changed"
        ),
        DisposableOnly::Library(what) => format!(
            "{what} is allowed only on dev and test databases, not {env}; use `migrate` for staging and prod. Nothing was changed"
        ),
        DisposableOnly::SeedReset if env == Environment::Prod => {
            "seed reset empties the database and is never run in production. Nothing was changed."
                .to_owned()
        }
        DisposableOnly::SeedReset => {
            "seed reset runs only on dev/test databases. Nothing was changed.".to_owned()
        }
        DisposableOnly::SeedAdd => format!(
            "seed add writes demo data and runs only on dev/test databases, but this one is {env}. Nothing was changed."
        ),
    };
    Err(MigrateError::Refused(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::exit::{Code, ExitStatus};

    #[test]
    fn only_dev_and_test_pass_and_refusals_are_exit_4() {
        let ops = [
            DisposableOnly::Setup,
            DisposableOnly::SetupOnStamped,
            DisposableOnly::Library("reverting every migration"),
            DisposableOnly::SeedReset,
            DisposableOnly::SeedAdd,
        ];
        for op in ops {
            for env in [Environment::Dev, Environment::Test] {
                assert!(require_disposable(env, op).is_ok(), "{op:?} {env}");
            }
            for env in [Environment::Staging, Environment::Prod] {
                let e = require_disposable(env, op).expect_err("refused");
                assert_eq!(e.exit_code(), Code::Refused, "{op:?} {env}");
                assert!(e.to_string().starts_with("refused: "), "{op:?} {env}: {e}");
            }
        }
    }
}
