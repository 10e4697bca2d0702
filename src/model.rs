//! The replication settings of a table as one type each, shared by the command
//! line, the catalog that stores them and the reports that show them.
use std::fmt;
use std::str::FromStr;

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Peers have the change before the local COMMIT returns
    Sync,
    /// The change is queued in the transaction; `repsync run` ships it
    Async,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Queue the change for a failing peer; the local commit succeeds
    Queue,
    /// Fail the local transaction with the peer's error
    Fail,
}

impl Mode {
    /// As stored in `repsync.replicated_table.mode` and shown by `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Async => "async",
        }
    }
}

impl OnError {
    /// As stored in `repsync.replicated_table.on_error` and shown by `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnError::Queue => "queue",
            OnError::Fail => "fail",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for OnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "sync" => Ok(Mode::Sync),
            "async" => Ok(Mode::Async),
            other => {
                anyhow::bail!("unknown replication mode {other:?} in repsync.replicated_table")
            }
        }
    }
}

impl FromStr for OnError {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "queue" => Ok(OnError::Queue),
            "fail" => Ok(OnError::Fail),
            other => anyhow::bail!("unknown on_error {other:?} in repsync.replicated_table"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms_read_back() {
        for m in [Mode::Sync, Mode::Async] {
            assert_eq!(m.as_str().parse::<Mode>().unwrap(), m);
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
            assert_eq!(m.to_possible_value().unwrap().get_name(), m.as_str());
        }
        for e in [OnError::Queue, OnError::Fail] {
            assert_eq!(e.as_str().parse::<OnError>().unwrap(), e);
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{e}\""));
            assert_eq!(e.to_possible_value().unwrap().get_name(), e.as_str());
        }
        assert!("SYNC".parse::<Mode>().is_err());
        assert!("".parse::<OnError>().is_err());
    }
}
