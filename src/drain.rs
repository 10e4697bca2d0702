//! Draining one destination's queue, by whichever transport fits the batch: the
//! shipper's own ([`crate::shipping`]) for a batch of many keys, else
//! `repsync.drain_errors` through dblink. `repsync run` and `add-table
//! --copy-from` both drain through here.
use std::collections::HashMap;

use postgres::Client;
use tracing::info;

use crate::config::{Config, Node};
use crate::db;
use crate::shipping::{self, Outcome};

/// The application_name of shipper sessions; `status` looks for it.
pub const SHIPPER_APPLICATION_NAME: &str = "repsync run";
/// The advisory lock a shipper holds while it waits for a NOTIFY; capture triggers
/// notify only when they cannot get it shared ("repsync", "idle").
pub const IDLE_LOCK: [i32; 2] = [0x7265_7073, 0x6964_6c65];
/// Keys (as JSON text) in a batch from which the shipper copies rows itself: about
/// 3000 single-column keys. Measured on two cores, below that the dblink drain
/// costs the writers less, above it the copy is faster (100k rows: 1.3 s, 2.1 s).
const COPY_MIN_KEY_BYTES: i64 = 32 * 1024;

/// Drains one destination: with the shipper's own transport when the destination
/// is in the node file and reachable, else (and after any failure of it) through
/// `repsync.drain_errors`, which also pins down and records a failing entry.
/// `None` when the destination has nothing queued.
pub fn drain(
    config: &Config,
    node: &Node,
    client: &mut Client,
    direct: &mut HashMap<String, Client>,
    dest: &str,
    limit: i32,
) -> anyhow::Result<Option<Outcome>> {
    if let Ok(dest_node) = config.node(dest)
        && worth_copying(client, dest, limit)?
    {
        if !direct.contains_key(dest)
            && let Ok(dst) = connect_destination(dest_node, node)
        {
            direct.insert(dest.to_string(), dst);
        }
        if let Some(dst) = direct.get_mut(dest) {
            match shipping::ship(client, dst, node.name.as_str(), dest, limit) {
                Ok(outcome) if outcome.applied == 0 && outcome.remaining == 0 && !outcome.busy => {
                    return Ok(None);
                }
                Ok(outcome) => return Ok(Some(outcome)),
                Err(err) => {
                    info!(node = %node.name, to = %dest, error = %format!("{err:#}"), "direct transport failed; draining through dblink");
                    direct.remove(dest);
                }
            }
        }
    }
    let rows = client.query(
        "select applied, remaining, error, bytes, oldest_seconds, busy from repsync.drain_errors($1, $2)",
        &[&dest, &limit],
    )?;
    Ok(rows.first().map(|row| Outcome {
        transport: "dblink",
        applied: row.get("applied"),
        remaining: row.get("remaining"),
        error: row.get("error"),
        bytes: row.get("bytes"),
        oldest_seconds: row.get("oldest_seconds"),
        busy: row.get("busy"),
    }))
}

/// Whether the next batch holds enough keys for the direct transport to pay: it
/// costs more round trips per batch than one `drain_errors` call, which is what a
/// stream of small transactions needs. Not for tables that several nodes write:
/// their changes are applied key by key against each key's version.
fn worth_copying(client: &mut Client, dest: &str, limit: i32) -> anyhow::Result<bool> {
    Ok(client
        .query_one(
            "select coalesce(sum(octet_length(e.old_rows::text)) filter (where e.op = 'K'), 0)::int8 >= $3 \
                    and not coalesce(bool_or(t.options ? 'conflict'), false) \
               from (select e.op, e.old_rows, e.set_name from repsync.sync_err_rec e \
                      where e.dest = $1 order by e.dest, e.id limit $2) e \
               left join repsync.replicated_table t on t.set_name = e.set_name",
            &[&dest, &i64::from(limit), &COPY_MIN_KEY_BYTES],
        )?
        .get(0))
}

/// A session on the destination that applies this node's changes: marked with the
/// origin so they are not sent on, with the bounded lock wait of dblink's, and with
/// durable commits (the queue entries are deleted once the commit returns).
fn connect_destination(dest: &Node, origin: &Node) -> anyhow::Result<Client> {
    let mut client = db::connect(dest)?;
    client.execute(
        "select set_config('application_name', 'repsync apply', false), \
         set_config('repsync.origin', $1, false), set_config('lock_timeout', '5s', false), \
         set_config('synchronous_commit', 'on', false)",
        &[&origin.name.as_str()],
    )?;
    Ok(client)
}
