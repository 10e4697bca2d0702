//! `repsync conflicts [TABLE]`: the conflicts each node settled, newest first;
//! with `--purge`, deletes them but what `--keep` and `--older-than` keep.
use super::{Context, all_or_nothing, confirm, connect_all, on_node};
use crate::catalog;
use crate::cli::{ConflictsArgs, show_duration};
use crate::config::{Config, Node};
use crate::db;
use crate::error::{Unhealthy, usage};
use crate::sql::QualifiedName;

#[derive(serde::Serialize)]
struct Conflict {
    node: String,
    id: i64,
    detected_at: String,
    table: String,
    key: String,
    local_origin: Option<String>,
    local_row: Option<String>,
    remote_origin: String,
    remote_row: Option<String>,
    policy: String,
    winner: String,
}

pub fn run(args: ConflictsArgs, ctx: &Context) -> anyhow::Result<()> {
    if args.purge && args.keep.is_none() && args.older_than.is_none() {
        return Err(usage(
            "conflicts --purge: give --keep N (keep the newest N per node) or --older-than DURATION \
             (delete only entries older than that, e.g. 30d), or both; nothing was deleted",
        ));
    }
    let config = ctx.config()?;
    let table = args
        .table
        .as_deref()
        .map(QualifiedName::parse)
        .transpose()?
        .map(|t| t.plain());
    let nodes = selected(&config, args.node.as_deref())?;
    if args.purge {
        return purge(&args, table.as_deref(), &nodes);
    }
    let mut found = Vec::new();
    let mut healthy = true;
    for node in nodes {
        let listed = db::connect(node).and_then(|mut client| {
            if !catalog::node_state(&mut client)?.installed {
                return Ok(Vec::new());
            }
            let rows = client.query(catalog::CONFLICTS, &[&table, &args.limit])?;
            Ok(rows
                .iter()
                .map(|r| Conflict {
                    node: node.name.to_string(),
                    id: r.get(0),
                    detected_at: r.get(1),
                    table: r.get(2),
                    key: r.get(3),
                    local_origin: r.get(4),
                    local_row: r.get(5),
                    remote_origin: r.get(6),
                    remote_row: r.get(7),
                    policy: r.get(8),
                    winner: r.get(9),
                })
                .collect())
        });
        match listed {
            Ok(mut rows) => found.append(&mut rows),
            Err(err) => {
                eprintln!("node {}: {err:#}", node.name);
                healthy = false;
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else if found.is_empty() {
        println!("no conflicts logged");
    } else {
        for c in &found {
            let (kept, lost) = if c.winner == "remote" {
                (&c.remote_origin, c.local_origin.as_deref().unwrap_or("?"))
            } else {
                (
                    c.local_origin.as_ref().unwrap_or(&c.node),
                    c.remote_origin.as_str(),
                )
            };
            println!(
                "node {} #{} {} {} key {}: kept the {} version (node {kept}) over node {lost}'s, by {}",
                c.node, c.id, c.detected_at, c.table, c.key, c.winner, c.policy
            );
            let show = |row: &Option<String>| row.clone().unwrap_or_else(|| "(deleted)".into());
            println!("    local:  {}", show(&c.local_row));
            println!("    remote: {}", show(&c.remote_row));
        }
    }
    if healthy {
        Ok(())
    } else {
        Err(Unhealthy.into())
    }
}

fn selected<'a>(config: &'a Config, node: Option<&str>) -> anyhow::Result<Vec<&'a Node>> {
    match node {
        Some(name) => Ok(vec![config.node(name)?]),
        None => Ok(config.nodes.iter().collect()),
    }
}

/// `--purge`: on every node or none (one transaction per node, committed when all
/// succeeded), after confirmation.
fn purge(args: &ConflictsArgs, table: Option<&str>, nodes: &[&Node]) -> anyhow::Result<()> {
    let mut conns = connect_all(nodes)?;
    let mut installed = Vec::new();
    for (index, conn) in conns.iter_mut().enumerate() {
        if on_node(&conn.node.name, catalog::node_state(&mut conn.client))?.installed {
            installed.push(index);
        } else {
            println!(
                "node {}: repsync is not installed, no conflicts logged",
                conn.node.name
            );
        }
    }
    if installed.is_empty() {
        return Ok(());
    }
    let of = table.map(|t| format!(" of {t}")).unwrap_or_default();
    let older = args.older_than.map(show_duration);
    let which = match (args.keep, &older) {
        (Some(keep), None) => format!("all but the newest {keep} per node"),
        (None, Some(age)) => format!("those logged more than {age} ago"),
        (Some(keep), Some(age)) => {
            format!("those logged more than {age} ago, except the newest {keep} per node")
        }
        (None, None) => unreachable!("run() refuses --purge without --keep or --older-than"),
    };
    let names: Vec<&str> = installed
        .iter()
        .map(|&i| conns[i].node.name.as_str())
        .collect();
    let prompt = format!(
        "Delete the logged conflicts{of} on node(s) {}: {which}?",
        names.join(", ")
    );
    if !confirm(&prompt, args.confirm.yes)? {
        println!("nothing deleted");
        return Ok(());
    }
    let mut purged = Vec::new();
    all_or_nothing(
        &mut conns,
        &installed,
        "the purge of the conflict log",
        |_, client| {
            purged.push(catalog::purge_conflicts(
                client,
                table,
                args.keep,
                args.older_than,
            )?);
            Ok(())
        },
    )?;
    for (&index, p) in installed.iter().zip(&purged) {
        println!(
            "node {}: {} conflict(s){of} deleted, {} remaining",
            conns[index].node.name, p.deleted, p.remaining
        );
    }
    Ok(())
}
