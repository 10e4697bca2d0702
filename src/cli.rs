//! Every clap type of the command line.
use std::path::PathBuf;
use std::time::Duration;

pub use crate::model::{Mode, OnError};
use clap::{Args, Parser, Subcommand};

/// Table-level PostgreSQL replication made of triggers, PL/pgSQL and dblink.
#[derive(Debug, Parser)]
#[command(name = "repsync", version, about, long_about = None)]
pub struct Cli {
    /// The node file [default: $REPSYNC_CONFIG, else ./repsync.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install repsync's schema, queue and peer connections on every node
    Init(InitArgs),
    /// Replicate a table: install capture and apply triggers on the nodes
    AddTable(AddTableArgs),
    /// Stop replicating a table and remove what add-table installed
    RemoveTable(RemoveTableArgs),
    /// Replay queued changes to peers that were unreachable or failed
    DrainErrors(DrainErrorsArgs),
    /// Ship queued changes to the peers, continuously (async mode's shipper)
    Run(RunArgs),
    /// Show nodes, replicated tables, queues and errors
    Status(StatusArgs),
    /// Compare a replicated table on every node that has it; exit 1 when they differ
    Verify(VerifyArgs),
    /// Make a replicated table on the other nodes match one node's
    Repair(RepairArgs),
    /// List the conflicts each node settled (tables that several nodes write), or purge them
    Conflicts(ConflictsArgs),
    /// Delete the versions of deleted keys (tables that several nodes write) that no node needs any more
    PurgeTombstones(PurgeTombstonesArgs),
    /// Remove everything repsync installed, on every node
    Uninstall(UninstallArgs),
    /// Start three throwaway local nodes, replicate between them, clean up
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct DryRun {
    /// Print the SQL for each node and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct Confirm {
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct Batch {
    /// Changes per remote transaction
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i32).range(1..))]
    pub limit: i32,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub dry_run: DryRun,
    /// Print, per node, the grants a superuser runs once so that the node file's
    /// roles can run repsync without being superusers; connect to nothing
    #[arg(long, conflicts_with = "dry_run")]
    pub print_grants: bool,
    /// With --print-grants: also grant what replicating this table needs (repeat
    /// for each table)
    #[arg(long = "table", value_name = "TABLE", requires = "print_grants")]
    pub tables: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AddTableArgs {
    /// The table, as written in SQL (unqualified means public)
    pub table: String,
    /// The table's name on the receiving nodes, when it differs
    #[arg(long, value_name = "SCHEMA.TABLE")]
    pub target: Option<String>,
    /// Replicate only these columns (comma-separated; must include the primary key)
    #[arg(long, value_name = "C1,C2")]
    pub columns: Option<String>,
    /// Replicate only rows for which this SQL expression is true
    #[arg(long = "where", value_name = "EXPR")]
    pub row_filter: Option<String>,
    /// Nodes whose changes are sent [default: every node]
    #[arg(long, value_delimiter = ',', num_args = 1.., value_name = "NODE")]
    pub from: Vec<String>,
    /// Nodes that receive the changes [default: every node]
    #[arg(long, value_delimiter = ',', num_args = 1.., value_name = "NODE")]
    pub to: Vec<String>,
    #[arg(long, value_enum, default_value_t = Mode::Sync)]
    pub mode: Mode,
    /// What a failing peer does to the local transaction
    #[arg(long, value_enum, default_value_t = OnError::Queue)]
    pub on_error: OnError,
    /// How a node settles a peer's change to a row it changed itself meanwhile
    /// (tables with more than one sending node): newer-wins (when repsync captured
    /// each change), newer-wins:COLUMN, origin-priority:NODE,NODE.., keep-local or
    /// apply-remote
    #[arg(long, value_name = "POLICY")]
    pub conflict: Option<String>,
    /// Give each sending node its own key values: the key's sequence on every node
    /// gets the same increment and a distinct start above all values so far
    #[arg(long)]
    pub fix_sequences: bool,
    /// Copy the rows this node has now to the receiving nodes (through the queue,
    /// so writes during the copy are neither lost nor overwritten)
    #[arg(long, value_name = "NODE")]
    pub copy_from: Option<String>,
    #[command(flatten)]
    pub dry_run: DryRun,
}

#[derive(Debug, Args)]
pub struct RemoveTableArgs {
    /// The table, as given to add-table
    pub table: String,
    /// Also throw away changes still queued for this table
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub confirm: Confirm,
    #[command(flatten)]
    pub dry_run: DryRun,
}

#[derive(Debug, Args)]
pub struct DrainErrorsArgs {
    /// Drain the queues of this node only [default: every node]
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,
    /// Drain only the changes for this destination
    #[arg(long, value_name = "NODE")]
    pub to: Option<String>,
    #[command(flatten)]
    pub batch: Batch,
    /// Drop this queued change instead of draining (needs --node and --yes)
    #[arg(long, value_name = "ID", requires = "node")]
    pub discard: Option<i64>,
    #[command(flatten)]
    pub confirm: Confirm,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Ship the queues of these nodes only [default: every node]
    #[arg(long, value_delimiter = ',', num_args = 1.., value_name = "NODE")]
    pub node: Vec<String>,
    /// Ship everything queued now, then exit (for cron)
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub batch: Batch,
    /// Delete logged conflicts older than this (30d, 12h, 90m, 45s) on the nodes it
    /// ships from, at most once a minute [default: keep them all]
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub keep_conflicts: Option<Duration>,
    /// Purge the tombstones no node needs any more (as `purge-tombstones` does) this
    /// often, when every node is reachable; 0s never [not with --once]
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "10m")]
    pub purge_tombstones_every: Duration,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON for programs instead of tables
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The table, as given to add-table (schema.table, or table in public)
    pub table: String,
    /// Print JSON for programs instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConflictsArgs {
    /// Only this table, as given to add-table
    pub table: Option<String>,
    /// Only this node [default: every node]
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,
    /// At most this many per node, newest first
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..))]
    pub limit: i64,
    /// Print JSON for programs instead of text
    #[arg(long)]
    pub json: bool,
    /// Delete logged conflicts instead of listing them, all but what --keep and
    /// --older-than keep (at least one of them is needed)
    #[arg(long, conflicts_with_all = ["limit", "json"])]
    pub purge: bool,
    /// With --purge: keep the newest N per node
    #[arg(long, value_name = "N", requires = "purge", value_parser = clap::value_parser!(i64).range(0..))]
    pub keep: Option<i64>,
    /// With --purge: delete only entries older than this (30d, 12h, 90m, 45s)
    #[arg(long, value_name = "DURATION", requires = "purge", value_parser = duration)]
    pub older_than: Option<Duration>,
    #[command(flatten)]
    pub confirm: Confirm,
}

#[derive(Debug, Args)]
pub struct PurgeTombstonesArgs {
    /// Only this table, as given to add-table [default: every table that several nodes write]
    pub table: Option<String>,
    /// Keep tombstones younger than this (30d, 12h, 90m, 45s, 0s)
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "0s")]
    pub older_than: Duration,
    /// Tombstones checked on every node per round trip
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(i64).range(1..))]
    pub batch: i64,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The table, as given to add-table (schema.table, or table in public)
    pub table: String,
    /// The node whose rows are right
    #[arg(long, value_name = "NODE")]
    pub from: String,
    #[command(flatten)]
    pub confirm: Confirm,
    #[command(flatten)]
    pub dry_run: DryRun,
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Also throw away changes still queued
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub confirm: Confirm,
    #[command(flatten)]
    pub dry_run: DryRun,
}

#[derive(Debug, Args)]
pub struct DemoArgs {}

/// The longest duration accepted: a hundred years.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A duration as a number and a unit, d, h, m or s (`30d`, `12h`, `90m`, `45s`),
/// or several of them (`1h30m`).
pub fn duration(text: &str) -> Result<Duration, String> {
    let wrong = || {
        format!(
            "{text:?} is not a duration: write a whole number and a unit, d, h, m or s (30d, 12h, 90m, 45s, 1h30m)"
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(wrong());
    }
    let mut seconds: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(wrong)?;
        if digits == 0 {
            return Err(wrong());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| wrong())?;
        let unit = match rest[digits..].chars().next() {
            Some('d') => 24 * 3600,
            Some('h') => 3600,
            Some('m') => 60,
            Some('s') => 1,
            _ => return Err(wrong()),
        };
        seconds = number
            .checked_mul(unit)
            .and_then(|s| seconds.checked_add(s))
            .filter(|s| *s <= MAX_DURATION.as_secs())
            .ok_or_else(|| format!("{text:?} is longer than the longest duration, 36500d"))?;
        rest = &rest[digits + 1..];
    }
    Ok(Duration::from_secs(seconds))
}

/// A duration as [`duration`] reads it: `90m` shows as `1h30m`.
pub fn show_duration(d: Duration) -> String {
    let mut seconds = d.as_secs();
    if seconds == 0 {
        return "0s".into();
    }
    let mut text = String::new();
    for (unit, length) in [('d', 86400), ('h', 3600), ('m', 60), ('s', 1)] {
        if seconds >= length {
            text.push_str(&format!("{}{unit}", seconds / length));
            seconds %= length;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_numbers_with_units() {
        let secs = |text| duration(text).map(|d| d.as_secs());
        assert_eq!(secs("30d"), Ok(30 * 86400));
        assert_eq!(secs("12h"), Ok(12 * 3600));
        assert_eq!(secs("90m"), Ok(5400));
        assert_eq!(secs("45s"), Ok(45));
        assert_eq!(secs("0s"), Ok(0));
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs("36500d"), Ok(MAX_DURATION.as_secs()));
        for bad in [
            "", "30", "d", "30x", "1.5h", "-1s", "30 d", "1h30", "h1", "30dd", "é", "1é",
        ] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
        assert!(duration("36501d").unwrap_err().contains("longest"));
        assert!(duration("99999999999999999999s").is_err());
        for text in ["30d", "12h", "1h30m", "45s", "0s", "1d1s"] {
            assert_eq!(show_duration(duration(text).unwrap()), text);
        }
        assert_eq!(show_duration(duration("90m").unwrap()), "1h30m");
    }
}
