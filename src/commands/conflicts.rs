//! `repsync conflicts [TABLE]`: the conflicts each node settled, newest first.
use super::Context;
use crate::catalog;
use crate::cli::ConflictsArgs;
use crate::db;
use crate::error::Unhealthy;
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
    let config = ctx.config()?;
    let table = args
        .table
        .as_deref()
        .map(QualifiedName::parse)
        .transpose()?
        .map(|t| t.plain());
    let mut found = Vec::new();
    let mut healthy = true;
    for node in &config.nodes {
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
