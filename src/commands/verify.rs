//! `repsync verify TABLE`: compares a replicated table on every node that has it,
//! without pulling the table into repsync. Each node sums a hash of every row's
//! text per bucket of keys, in one scan, all nodes at once; only the buckets whose
//! count or sum differ are read back, row by row, to name the keys that differ.
use anyhow::Context as _;
use std::collections::{BTreeMap, BTreeSet};

use super::{Connected, Context, connect_all, on_node};
use crate::catalog;
use crate::cli::VerifyArgs;
use crate::config::Node;
use crate::error::{Unhealthy, usage};
use crate::formats;
use crate::render::{self, render};
use crate::sql::{Ident, QualifiedName, RowFilter};

use super::add_table::installed_set_name;

/// Buckets of keys (a power of two): about 250 rows each in a 1M-row table, so a
/// single differing row costs reading back a few hundred rows.
pub(super) const BUCKETS: u32 = 4096;
/// Differing keys printed in text output (JSON lists them all).
const SHOWN: usize = 20;
/// Differing buckets read back row by row; beyond this the nodes differ so much
/// that listing every key would pull the tables into repsync.
pub(super) const READ_BACK: usize = 256;
/// Row text must not depend on a node's settings; row-level security must not
/// hide rows (for a role it applies to, reading the table fails instead).
const SESSION: &str = "select set_config('timezone', $1, false), set_config('datestyle', $2, false), \
       set_config('intervalstyle', $3, false), set_config('extra_float_digits', $4, false), \
       set_config('bytea_output', $5, false), set_config('max_parallel_workers_per_gather', '0', false), \
       set_config('row_security', 'off', false)";

/// One node's copy of the table.
pub(super) struct Copy {
    /// Index of the node's connection.
    pub conn: usize,
    pub node: String,
    pub table: QualifiedName,
    /// Partitioned on this node: read through its partitions.
    pub partitioned: bool,
    /// The versions table of a table that several nodes write.
    pub versions: Option<QualifiedName>,
    pub key: Vec<Ident>,
    pub columns: Vec<Ident>,
    pub filter: Option<RowFilter>,
    pub json: catalog::WireFormat,
}

impl Copy {
    /// The shared part of every verify and repair query on this copy.
    pub fn buckets(&self, typed: bool) -> render::Buckets<'_> {
        render::Buckets {
            table: &self.table,
            partitioned: self.partitioned,
            key: &self.key,
            columns: &self.columns,
            filter: self.filter.as_ref(),
            mask: BUCKETS - 1,
            typed,
            json: &self.json,
        }
    }
}

#[derive(serde::Serialize)]
struct NodeRows {
    node: String,
    table: String,
    rows: i64,
}

#[derive(serde::Serialize)]
struct Difference {
    key: String,
    /// Per node, the row's text, or null where the key is missing.
    rows: BTreeMap<String, Option<String>>,
}

#[derive(serde::Serialize)]
struct Report {
    table: String,
    identical: bool,
    nodes: Vec<NodeRows>,
    differences: Vec<Difference>,
    /// Buckets of keys (of BUCKETS) that differ but were not read back.
    unlisted_buckets: usize,
}

pub fn run(args: VerifyArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = ctx.config()?;
    let source = QualifiedName::parse(&args.table)?;
    let all: Vec<&Node> = config.nodes.iter().collect();
    let mut conns = connect_all(&all)?;
    let copies = copies(&mut conns, &source)?;
    let Comparison {
        summaries,
        differing,
        typed,
    } = compare(&mut conns, &copies)?;

    // Pass 2, only where buckets differ: the rows, to name the keys.
    let mut differences = Vec::new();
    let unread: Vec<i32> = differing.iter().skip(READ_BACK).copied().collect();
    let differing: Vec<i32> = differing.into_iter().take(READ_BACK).collect();
    if !differing.is_empty() {
        let mut by_key: BTreeMap<String, BTreeMap<String, Option<String>>> = BTreeMap::new();
        for copy in &copies {
            let conn = &mut conns[copy.conn];
            let sql = render(&render::VerifyRows {
                q: &copy.buckets(typed),
            });
            for row in conn.client.query(sql.as_str(), &[&differing])? {
                by_key
                    .entry(row.get(0))
                    .or_default()
                    .insert(copy.node.clone(), Some(row.get(1)));
            }
        }
        for (key, mut rows) in by_key {
            for copy in &copies {
                rows.entry(copy.node.clone()).or_insert(None);
            }
            let first = rows.values().next();
            if rows.values().any(|r| Some(r) != first) {
                differences.push(Difference { key, rows });
            }
        }
    }

    let report = Report {
        table: source.plain(),
        identical: differences.is_empty() && unread.is_empty(),
        unlisted_buckets: unread.len(),
        nodes: copies
            .iter()
            .zip(&summaries)
            .map(|(c, s)| NodeRows {
                node: c.node.clone(),
                table: c.table.plain(),
                rows: s.values().map(|(n, _)| n).sum(),
            })
            .collect(),
        differences,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    if report.identical {
        Ok(())
    } else {
        Err(Unhealthy.into())
    }
}

fn names(idents: &[Ident]) -> String {
    idents
        .iter()
        .map(|i| i.as_str().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_text(report: &Report) {
    let counts: Vec<String> = report
        .nodes
        .iter()
        .map(|n| format!("{} rows on {}", n.rows, n.node))
        .collect();
    println!("table {}: {}", report.table, counts.join(", "));
    if report.identical {
        println!("identical on {} nodes", report.nodes.len());
        return;
    }
    println!(
        "{}{} key(s) differ:",
        if report.unlisted_buckets > 0 {
            "at least "
        } else {
            ""
        },
        report.differences.len()
    );
    for d in report.differences.iter().take(SHOWN) {
        let missing: Vec<&str> = d
            .rows
            .iter()
            .filter(|(_, r)| r.is_none())
            .map(|(n, _)| n.as_str())
            .collect();
        let mut versions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (node, row) in &d.rows {
            if let Some(row) = row {
                versions
                    .entry(row.as_str())
                    .or_default()
                    .push(node.as_str());
            }
        }
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing on {}", missing.join(", ")));
        }
        if versions.len() > 1 || !missing.is_empty() {
            for (row, nodes) in &versions {
                parts.push(format!("on {}: {row}", nodes.join(", ")));
            }
        }
        println!("  key {}: {}", d.key, parts.join("; "));
    }
    if report.differences.len() > SHOWN {
        println!(
            "  ... and {} more (--json lists them all)",
            report.differences.len() - SHOWN
        );
    }
    if report.unlisted_buckets > 0 {
        println!(
            "  and more keys in {} other bucket(s) of about 1/{BUCKETS} of the table each, not listed: the nodes differ too much to list every key",
            report.unlisted_buckets
        );
    }
}

/// The table on every node that has it.
pub(super) fn copies(conns: &mut [Connected], source: &QualifiedName) -> anyhow::Result<Vec<Copy>> {
    let set = installed_set_name(conns, source)?;
    let mut copies = Vec::new();
    for (index, conn) in conns.iter_mut().enumerate() {
        let name = conn.node.name.clone();
        let Some(t) = on_node(&name, catalog::installed_set(&mut conn.client, &set))? else {
            continue;
        };
        let node = conn.node.name.to_string();
        let table = t.local_name()?;
        let columns_now = catalog::table_columns(&mut conn.client, &table)?.ok_or_else(|| {
            usage(format!(
                "node {node}: table {} is replicated but does not exist; run `repsync status` to see what is missing",
                table.plain()
            ))
        })?;
        let key: Vec<Ident> = catalog::key_columns(&columns_now)
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let (columns, filter) = catalog::stored_columns_and_filter(&table, &t.options)
            .map_err(|e| anyhow::anyhow!("node {node}: {e:#}"))?;
        let json = catalog::WireFormat::of(&columns_now, &columns);
        let partitioned = catalog::is_partitioned(&mut conn.client, &table)?;
        let options: serde_json::Value = serde_json::from_str(&t.options)?;
        let versions = match options.get("conflict") {
            Some(_) => Some(QualifiedName::new(
                Ident::new("repsync")?,
                crate::naming::versions_table(&set)?,
            )),
            None => None,
        };
        copies.push(Copy {
            conn: index,
            node,
            table,
            partitioned,
            versions,
            key,
            columns,
            filter,
            json,
        });
    }
    let Some(first) = copies.first() else {
        return Err(usage(format!(
            "table {} is not replicated on any node; `repsync status` lists the replicated tables",
            source.plain()
        )));
    };
    if copies.len() < 2 {
        return Err(usage(format!(
            "table {} is replicated on node {} only: nothing to compare it with",
            source.plain(),
            first.node
        )));
    }
    for c in &copies[1..] {
        if c.key != first.key {
            return Err(usage(format!(
                "table {}: the primary key is ({}) on node {} but ({}) on node {}; the nodes cannot be compared row by row",
                source.plain(),
                names(&first.key),
                first.node,
                names(&c.key),
                c.node
            )));
        }
    }

    Ok(copies)
}

/// Pass 1's result: per node, rows and hash sum per bucket; the buckets that
/// differ between any two nodes; and how rows were hashed, which the queries of
/// the differing buckets must repeat.
pub(super) struct Comparison {
    pub summaries: Vec<BTreeMap<i32, (i64, String)>>,
    pub differing: Vec<i32>,
    pub typed: bool,
}

/// Pass 1, every node at once: count and hash sum per bucket.
pub(super) fn compare(conns: &mut [Connected], copies: &[Copy]) -> anyhow::Result<Comparison> {
    // Hashing each column by its type's hash function is several times faster
    // than hashing the row's text, but some types have none (json, xml, point):
    // then every node hashes text instead.
    let (summaries, typed) = match bucket_sums(conns, copies, true) {
        Err(err)
            if err.chain().any(|e| {
                e.downcast_ref::<postgres::Error>()
                    .and_then(postgres::Error::code)
                    == Some(&postgres::error::SqlState::UNDEFINED_FUNCTION)
            }) =>
        {
            (bucket_sums(conns, copies, false)?, false)
        }
        other => (other?, true),
    };
    let buckets: BTreeSet<i32> = summaries.iter().flat_map(|s| s.keys().copied()).collect();
    let differing: Vec<i32> = buckets
        .into_iter()
        .filter(|b| {
            let first = summaries[0].get(b);
            summaries[1..].iter().any(|s| s.get(b) != first)
        })
        .collect();

    Ok(Comparison {
        summaries,
        differing,
        typed,
    })
}

#[allow(clippy::type_complexity)]
fn bucket_sums(
    conns: &mut [Connected],
    copies: &[Copy],
    typed: bool,
) -> anyhow::Result<Vec<BTreeMap<i32, (i64, String)>>> {
    // Each thread needs its own connection: take them out one by one.
    let mut slots: Vec<Option<&mut Connected>> = conns.iter_mut().map(Some).collect();
    let pairs: Vec<(&mut Connected, &Copy)> = copies
        .iter()
        .map(|copy| (slots[copy.conn].take().expect("one copy per node"), copy))
        .collect();
    let summaries: Vec<anyhow::Result<BTreeMap<i32, (i64, String)>>> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = pairs
                .into_iter()
                .map(|(conn, copy)| {
                    scope.spawn(move || {
                        let sql = render(&render::VerifyBuckets {
                            q: &copy.buckets(typed),
                        });
                        conn.client.query_one(
                            SESSION,
                            &[
                                &formats::TIMEZONE,
                                &formats::DATESTYLE,
                                &formats::INTERVALSTYLE,
                                &formats::EXTRA_FLOAT_DIGITS,
                                &formats::BYTEA_OUTPUT,
                            ],
                        )?;
                        let rows = conn.client.query(sql.as_str(), &[]).with_context(|| {
                            format!("node {}: reading {}", copy.node, copy.table.plain())
                        })?;
                        Ok(rows
                            .iter()
                            .map(|r| {
                                (
                                    r.get::<_, i32>(0),
                                    (r.get::<_, i64>(1), r.get::<_, String>(2)),
                                )
                            })
                            .collect())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("verify thread"))
                .collect()
        });
    summaries.into_iter().collect()
}
