//! `repsync purge-tombstones [TABLE]`: deletes the version records of deleted keys
//! (tombstones) of tables that several nodes write, once no node can still send an
//! older change of the key.
//!
//! The horizon: a tombstone goes when every node that has the table holds the same
//! tombstone of the key, or no version of it and no row with it, and no node has a
//! change of the table queued that holds the key. A change is captured with a version
//! newer than any the node knew, and a queued change is read as it is when shipped,
//! so after that nothing that is still to arrive anywhere is older than the
//! tombstone: an older change of the key can no longer come back. Each node deletes
//! its tombstone only where it is still what was read and still settled there, in
//! one statement, so a key written meanwhile keeps its new version.
use std::time::Duration;

use super::verify::{self, Copy};
use super::{Context, connect_all, on_node};
use crate::catalog;
use crate::cli::PurgeTombstonesArgs;
use crate::config::{Config, Node};
use crate::error::usage;
use crate::render::{self, render};
use crate::sql::{Ident, Literal, QualifiedName};

pub fn run(args: PurgeTombstonesArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = ctx.config()?;
    let purged = purge_all(&config, args.table.as_deref(), args.older_than, args.batch)?;
    if purged.is_empty() {
        println!("no table that several nodes write: no tombstones to purge");
    }
    for table in &purged {
        let show = |counts: &[(String, i64)]| {
            counts
                .iter()
                .map(|(node, n)| format!("{n} on {node}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "table {}: {} tombstone(s) purged; left: {}",
            table.table.plain(),
            show(&table.purged),
            show(&table.left)
        );
    }
    Ok(())
}

/// What a purge did to one table: per node, tombstones deleted and left.
pub struct Purged {
    pub table: QualifiedName,
    pub purged: Vec<(String, i64)>,
    pub left: Vec<(String, i64)>,
}

/// Purges `table`, or every table that several nodes write; every node of the node
/// file must be reachable. `repsync run` calls it too.
pub fn purge_all(
    config: &Config,
    table: Option<&str>,
    older_than: Duration,
    batch: i64,
) -> anyhow::Result<Vec<Purged>> {
    let all: Vec<&Node> = config.nodes.iter().collect();
    let mut conns = connect_all(&all)?;
    // A row that row-level security hid would look deleted: fail instead.
    for conn in conns.iter_mut() {
        conn.client.batch_execute("set row_security = off")?;
    }
    let tables = match table {
        Some(table) => vec![QualifiedName::parse(table)?],
        None => written_by_several(&mut conns)?,
    };
    let mut done = Vec::new();
    for table in tables {
        let copies = verify::copies(&mut conns, &table)?;
        if copies.iter().any(|c| c.versions.is_none()) {
            return Err(usage(format!(
                "table {} has one writing node, so it keeps no versions; purge-tombstones is for tables that several nodes write",
                table.plain()
            )));
        }
        let purged = purge(&mut conns, &copies, &table, older_than, batch)?;
        let left = copies
            .iter()
            .map(|c| {
                let sql = render(&render::TombstoneCount {
                    versions: c.versions.as_ref().expect("checked above"),
                });
                let n: i64 = conns[c.conn].client.query_one(sql.as_str(), &[])?.get(0);
                Ok((c.node.clone(), n))
            })
            .collect::<anyhow::Result<_>>()?;
        done.push(Purged {
            table,
            purged,
            left,
        });
    }
    Ok(done)
}

/// The tables a node's catalog says several nodes write, from the first node that
/// has any replicated table.
fn written_by_several(conns: &mut [super::Connected]) -> anyhow::Result<Vec<QualifiedName>> {
    for conn in conns.iter_mut() {
        let name = conn.node.name.clone();
        if !on_node(&name, catalog::node_state(&mut conn.client))?.installed {
            continue;
        }
        let mut found = Vec::new();
        for t in on_node(&name, catalog::replicated_tables(&mut conn.client))? {
            let options: serde_json::Value = serde_json::from_str(&t.options)?;
            // The sending node's own table is the source; its stored text is for
            // people and does not parse back (dots, capitals).
            if options.get("conflict").is_some() && t.is_sender {
                found.push(t.local_name()?);
            }
        }
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// Purges in batches of `batch` tombstones, taking candidates from each node in turn
/// (a tombstone one node has, another may not), and returns how many each node
/// deleted.
pub(super) fn purge(
    conns: &mut [super::Connected],
    copies: &[Copy],
    table: &QualifiedName,
    older_than: Duration,
    batch: i64,
) -> anyhow::Result<Vec<(String, i64)>> {
    let set_name = Literal::new(super::add_table::installed_set_name(conns, table)?);
    let mut all_columns = copies[0].key.clone();
    for column in crate::naming::VERSION_COLUMNS {
        all_columns.push(Ident::new(column)?);
    }
    let mut deleted: Vec<(String, i64)> = copies.iter().map(|c| (c.node.clone(), 0)).collect();
    for source in copies {
        let mut after: Option<String> = None;
        loop {
            let candidates = {
                let versions = source.versions.as_ref().expect("versioned");
                let sql = render(&render::TombstoneCandidates {
                    q: &source.buckets(true),
                    versions,
                });
                let json: Option<String> = conns[source.conn]
                    .client
                    .query_one(sql.as_str(), &[&after, &older_than.as_secs_f64(), &batch])?
                    .get(0);
                match json {
                    Some(json) => json,
                    None => break,
                }
            };
            let read: Vec<serde_json::Value> = serde_json::from_str(&candidates)?;
            after = read
                .last()
                .map(|last| serde_json::to_string(&[last]))
                .transpose()?;
            // Settled on every node: each node keeps those it has settled too.
            let mut settled = candidates;
            for copy in copies {
                let sql = render(&render::TombstonesSettled {
                    q: &copy.buckets(true),
                    versions: copy.versions.as_ref().expect("versioned"),
                    set_name: &set_name,
                    all: &all_columns,
                });
                settled = conns[copy.conn]
                    .client
                    .query_one(sql.as_str(), &[&settled])?
                    .get(0);
                if settled == "[]" {
                    break;
                }
            }
            if settled != "[]" {
                for (copy, count) in copies.iter().zip(deleted.iter_mut()) {
                    let sql = render(&render::TombstonesDelete {
                        q: &copy.buckets(true),
                        versions: copy.versions.as_ref().expect("versioned"),
                        set_name: &set_name,
                        all: &all_columns,
                    });
                    let n: i64 = conns[copy.conn]
                        .client
                        .query_one(sql.as_str(), &[&settled])?
                        .get(0);
                    count.1 += n;
                }
            }
            if (read.len() as i64) < batch {
                break;
            }
        }
    }
    Ok(deleted)
}
