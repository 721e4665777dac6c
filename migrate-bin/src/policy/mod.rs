//! The policy core both binaries share: where to connect and how (the target, parsed once and
//! shown redacted; one connect with its deadline), which environment a run is in (one stamp
//! rule, one "dev and test only" check), how a run ends (one exit-code table), how it talks
//! (one tracing set-up, one stdout writer that survives a closed pipe), where settings come
//! from (`.env`, loaded by each binary's `main`; flag parsers), and PostgreSQL's side
//! (one identifier quoter, one server-error formatter).
//!
//! `migrate` and `seed` use only what is re-exported here, so a rule has one home.

mod connect;
mod disposable;
mod dotenv;
mod environment;
mod exit;
mod flags;
mod logging;
mod output;
mod redact;
mod settings;
mod target;

pub use crate::env::{EnvSource, Environment, UnknownEnvironment};
pub use crate::sql::{describe_db_error, describe_driver_error, quote_ident};
pub use connect::{DriverConnection, application_name, connect, connect_client};
pub use disposable::{DisposableOnly, require_disposable};
pub use dotenv::load as load_dotenv;
pub use environment::{Decision, Facts, Intent, Requested, Standing, decide, read_facts, resolve};
pub use exit::{Code, ExitStatus, report};
pub use flags::{duration_in, int_in};
pub use logging::{LogFormat, init_tracing};
pub use output::write_line;
pub use redact::redact;
pub use settings::Settings;
pub use target::{
    CONNECT_TIMEOUT_RANGE, ConnInfo, DEFAULT_CONNECT_TIMEOUT, LIBPQ_VARS, parse_connect_timeout,
};
