//! `repsync status`: nodes, replicated tables, queues; exit 1 when something needs
//! attention.
use std::collections::BTreeMap;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::Context;
use crate::catalog::{self, Queue, ReplicatedTable};
use crate::cli::StatusArgs;
use crate::config::Config;
use crate::db;
use crate::error::Unhealthy;
use crate::model::{Mode, OnError};

#[derive(Debug, Serialize)]
pub struct Report {
    pub healthy: bool,
    pub nodes: Vec<NodeReport>,
    pub tables: Vec<TableReport>,
    pub queues: Vec<QueueReport>,
}

#[derive(Debug, Serialize)]
pub struct NodeReport {
    pub name: String,
    pub reachable: bool,
    pub server_version: Option<String>,
    pub installed: bool,
    /// A `repsync run` is connected to this node.
    pub shipper_running: bool,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TableReport {
    pub table: String,
    pub mode: Mode,
    pub on_error: OnError,
    pub senders: Vec<String>,
    pub receivers: Vec<String>,
    /// For a table that several nodes write: how conflicts are settled, and how
    /// many the nodes have logged (`repsync conflicts` lists them).
    pub conflict_policy: Option<String>,
    pub conflicts: i64,
    pub nodes: Vec<TableOnNode>,
}

#[derive(Debug, Serialize)]
pub struct TableOnNode {
    pub node: String,
    /// "ok", "missing" or "changed"
    pub objects: String,
    pub missing: Vec<String>,
    pub changed: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct QueueReport {
    pub node: String,
    pub dest: String,
    pub depth: i64,
    pub oldest_seconds: f64,
    pub oldest_id: i64,
    pub last_error: Option<String>,
    pub shipper_running: bool,
    /// Why this queue needs attention, when it does.
    pub problem: Option<String>,
}

/// A queue a shipper is working through, without errors and not far behind, is
/// normal in async mode; anything else needs someone to look.
const HEALTHY_LAG_SECONDS: f64 = 60.0;

pub fn run(args: StatusArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = ctx.config()?;
    let report = collect(&config);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_tables(&report);
    }
    if report.healthy {
        Ok(())
    } else {
        Err(Unhealthy.into())
    }
}

pub fn collect(config: &Config) -> Report {
    let mut nodes = Vec::new();
    let mut installs: Vec<(String, ReplicatedTable)> = Vec::new();
    let mut queues: Vec<(String, Queue)> = Vec::new();
    let mut conflicts: BTreeMap<String, i64> = BTreeMap::new();
    for node in &config.nodes {
        let name = node.name.to_string();
        let mut report = NodeReport {
            name: name.clone(),
            reachable: false,
            server_version: None,
            installed: false,
            shipper_running: false,
            error: None,
        };
        let outcome = db::connect(node).and_then(|mut client| {
            report.reachable = true;
            let state = catalog::node_state(&mut client)?;
            report.server_version = Some(state.server_version);
            report.shipper_running = state.shipper_running;
            let local = if state.installed {
                catalog::local_node(&mut client)?
            } else {
                None
            };
            match local {
                Some(l) if l.name == name => {
                    report.installed = true;
                    for t in catalog::replicated_tables(&mut client)? {
                        installs.push((name.clone(), t));
                    }
                    for q in catalog::queues(&mut client)? {
                        queues.push((name.clone(), q));
                    }
                    for row in client.query(catalog::CONFLICT_COUNTS, &[])? {
                        *conflicts.entry(row.get(0)).or_default() += row.get::<_, i64>(1);
                    }
                }
                Some(l) => {
                    report.error = Some(format!(
                        "initialised as node {:?}; fix the node file",
                        l.name
                    ))
                }
                None => report.error = Some("not initialised; run `repsync init`".into()),
            }
            Ok(())
        });
        if let Err(err) = outcome {
            report.error = Some(format!("{err:#}"));
        }
        nodes.push(report);
    }

    let mut by_table: BTreeMap<String, Vec<(String, ReplicatedTable)>> = BTreeMap::new();
    for (node, t) in installs {
        by_table
            .entry(t.source.clone())
            .or_default()
            .push((node, t));
    }
    let tables: Vec<TableReport> = by_table
        .into_iter()
        .map(|(table, on_nodes)| {
            let first = &on_nodes[0].1;
            let options: serde_json::Value =
                serde_json::from_str(&first.options).unwrap_or_default();
            let list = |key: &str| -> Vec<String> {
                options[key]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let mut per_node: Vec<TableOnNode> = on_nodes
                .iter()
                .map(|(node, t)| TableOnNode {
                    node: node.clone(),
                    objects: if !t.missing.is_empty() {
                        "missing".into()
                    } else if !t.changed.is_empty() {
                        "changed".into()
                    } else {
                        "ok".into()
                    },
                    missing: t.missing.clone(),
                    changed: t.changed.clone(),
                })
                .collect();
            // A node the table should be on but where add-table's objects are gone.
            let senders = list("from");
            let receivers = list("to");
            for expected in senders.iter().chain(receivers.iter()) {
                let reachable = nodes.iter().any(|n| &n.name == expected && n.installed);
                if reachable && !per_node.iter().any(|p| &p.node == expected) {
                    per_node.push(TableOnNode {
                        node: expected.clone(),
                        objects: "missing".into(),
                        missing: vec!["everything".into()],
                        changed: vec![],
                    });
                }
            }
            per_node.sort_by(|a, b| a.node.cmp(&b.node));
            TableReport {
                conflicts: conflicts.get(&table).copied().unwrap_or(0),
                conflict_policy: options["conflict"].as_str().map(String::from),
                table,
                mode: first.mode,
                on_error: first.on_error,
                senders,
                receivers,
                nodes: per_node,
            }
        })
        .collect();
    let queues: Vec<QueueReport> = queues
        .into_iter()
        .map(|(node, q)| {
            let shipper_running = nodes.iter().any(|n| n.name == node && n.shipper_running);
            let problem = if q.last_error.is_some() {
                Some("the last attempt failed; fix the cause, then `repsync drain-errors` (or let `repsync run` retry)".to_string())
            } else if !shipper_running {
                Some("no `repsync run` ships it; start one or run `repsync drain-errors`".to_string())
            } else if q.oldest_seconds > HEALTHY_LAG_SECONDS {
                Some(format!("more than {HEALTHY_LAG_SECONDS:.0} s behind"))
            } else {
                None
            };
            QueueReport {
                node,
                dest: q.dest,
                depth: q.depth,
                oldest_seconds: q.oldest_seconds,
                oldest_id: q.oldest_id,
                last_error: q.last_error,
                shipper_running,
                problem,
            }
        })
        .collect();
    let healthy = nodes.iter().all(|n| n.reachable && n.installed)
        && tables
            .iter()
            .all(|t| t.nodes.iter().all(|n| n.objects == "ok"))
        && queues.iter().all(|q| q.problem.is_none());
    Report {
        healthy,
        nodes,
        tables,
        queues,
    }
}

fn print_tables(report: &Report) {
    let mut nodes = Table::new();
    nodes.load_style(UTF8_FULL_CONDENSED).set_header(vec![
        "node",
        "reachable",
        "version",
        "installed",
        "shipper",
        "problem",
    ]);
    for n in &report.nodes {
        nodes.add_row(vec![
            n.name.clone(),
            yes_no(n.reachable),
            n.server_version.clone().unwrap_or_default(),
            yes_no(n.installed),
            if n.shipper_running { "running" } else { "-" }.to_string(),
            n.error.clone().unwrap_or_default(),
        ]);
    }
    println!("{nodes}");

    if report.tables.is_empty() {
        println!("no replicated tables (add one with `repsync add-table TABLE`)");
    } else {
        let mut tables = Table::new();
        tables.load_style(UTF8_FULL_CONDENSED).set_header(vec![
            "table",
            "mode",
            "on error",
            "from",
            "to",
            "conflicts",
            "objects per node",
        ]);
        for t in &report.tables {
            let objects: Vec<String> = t
                .nodes
                .iter()
                .map(|n| format!("{}: {}", n.node, n.objects))
                .collect();
            tables.add_row(vec![
                t.table.clone(),
                t.mode.to_string(),
                t.on_error.to_string(),
                t.senders.join(", "),
                t.receivers.join(", "),
                match &t.conflict_policy {
                    Some(policy) => format!("{}\n({policy})", t.conflicts),
                    None => "-".into(),
                },
                objects.join("\n"),
            ]);
        }
        println!("{tables}");
        for t in &report.tables {
            for n in t.nodes.iter().filter(|n| n.objects != "ok") {
                let what: Vec<&str> = n
                    .missing
                    .iter()
                    .map(|m| m.as_str())
                    .chain(n.changed.iter().map(|c| c.as_str()))
                    .collect();
                println!(
                    "node {}: {}: {} {}; run `repsync add-table {}` again with its options",
                    n.node,
                    t.table,
                    n.objects,
                    what.join(", "),
                    t.table
                );
            }
        }
    }

    if report.queues.is_empty() {
        println!("queues: empty");
    } else {
        let mut queues = Table::new();
        queues.load_style(UTF8_FULL_CONDENSED).set_header(vec![
            "node",
            "to",
            "queued",
            "lag (oldest)",
            "shipper",
            "last error",
            "problem",
        ]);
        for q in &report.queues {
            queues.add_row(vec![
                q.node.clone(),
                q.dest.clone(),
                q.depth.to_string(),
                format!("{:.1} s", q.oldest_seconds),
                if q.shipper_running { "running" } else { "-" }.to_string(),
                q.last_error.clone().unwrap_or_default(),
                q.problem.clone().unwrap_or_default(),
            ]);
        }
        println!("{queues}");
    }
    println!(
        "{}",
        if report.healthy {
            "healthy"
        } else {
            "needs attention"
        }
    );
}

fn yes_no(b: bool) -> String {
    if b { "yes".into() } else { "no".into() }
}
