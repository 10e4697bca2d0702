//! `add-table --copy-from NODE`: the node's existing rows reach the receiving nodes
//! through the queue. add-table queues every key (templates/table/copy_keys.sql) in
//! the transaction that installs the triggers; this ships those entries with the
//! shipper's own drain and shows the progress.
use std::collections::HashMap;

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{Config, Node, NodeName};
use crate::db;
use crate::error::Unhealthy;

/// Keys per queue entry.
pub const CHUNK_ROWS: i64 = 10_000;
/// Entries per remote transaction: consecutive entries of a table are merged
/// into one statement, so this bounds a batch to 40k rows.
const BATCH: i32 = 4;
/// Failed batches in a row before the copy stops (about a minute of waiting).
const RETRIES: u32 = 20;

pub fn ship(config: &Config, from: &Node, set: &str, dests: &[NodeName]) -> anyhow::Result<()> {
    let mut client = db::connect(from)?;
    let mut direct = HashMap::new();
    let mut failed = false;
    for dest in dests {
        // The copy's entries were committed before this runs, so they all have ids
        // up to the current highest; changes made meanwhile queue behind them and are
        // left to `repsync run` or drain-errors (under a steady write load they
        // would keep this loop going).
        let last: i64 = client
            .query_one(
                "select coalesce(max(e.id), 0) from repsync.sync_err_rec e where e.dest = $1 and e.set_name = $2",
                &[&dest.as_str(), &set],
            )?
            .get(0);
        let count = |client: &mut postgres::Client| -> anyhow::Result<i64> {
            Ok(client
                .query_one(
                    "select count(*) from repsync.sync_err_rec e where e.dest = $1 and e.set_name = $2 and e.id <= $3",
                    &[&dest.as_str(), &set, &last],
                )?
                .get(0))
        };
        let total = count(&mut client)?;
        let bar = ProgressBar::new(total as u64).with_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} queue entries, {elapsed} {msg}",
            )?
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("copy {} -> {dest}", from.name));
        let mut failures = 0u32;
        loop {
            let outcome =
                crate::drain::drain(config, from, &mut client, &mut direct, dest.as_str(), BATCH)?;
            let left = count(&mut client)?;
            bar.set_position((total - left).max(0) as u64);
            match outcome {
                _ if left == 0 => {
                    bar.finish();
                    println!("node {}: copied to node {dest}", from.name);
                    break;
                }
                // A running `repsync run` ships them: watch it do so.
                Some(o) if o.busy => std::thread::sleep(std::time::Duration::from_millis(200)),
                // A lock wait given up on the receiving node (its writers touch the
                // same keys): try again, for a while.
                Some(o) if o.error.is_some() && o.applied == 0 && failures < RETRIES => {
                    failures += 1;
                    bar.set_message(format!("retrying: {}", o.error.unwrap_or_default()));
                    std::thread::sleep(std::time::Duration::from_millis(250 * u64::from(failures)));
                }
                Some(o) if o.error.is_some() && o.applied == 0 => {
                    bar.abandon();
                    eprintln!(
                        "node {}: copying to node {dest} stopped: {}. {left} entries stay queued; fix node {dest}, then `repsync drain-errors --node {} --to {dest}` or `repsync run` ships them",
                        from.name,
                        o.error.unwrap_or_default(),
                        from.name
                    );
                    failed = true;
                    break;
                }
                _ => failures = 0,
            }
        }
    }
    if failed {
        Err(Unhealthy.into())
    } else {
        Ok(())
    }
}
