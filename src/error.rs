//! Exit codes: 0 ok, 1 done but unhealthy or a node failed, 2 usage or configuration error.
use std::fmt;

/// A usage or configuration error: the command did nothing and exits with 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Builds an `anyhow::Error` that maps to exit code 2.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

/// The command ran but something needs attention (exit 1); the report was already printed.
#[derive(Debug)]
pub struct Unhealthy;

impl fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("needs attention")
    }
}

impl std::error::Error for Unhealthy {}

pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}
