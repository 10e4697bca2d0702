//! `repsync remove-table`: removes exactly what add-table installed, on every node.
use super::{Context, connect_all, on_node, remove_after_confirmation};
use crate::catalog;
use crate::cli::RemoveTableArgs;
use crate::config::Node;
use crate::error::usage;
use crate::render::{self, render};
use crate::sql::{Literal, QualifiedName};

use super::add_table::{Keep, drop_sql, installed_set_name};

pub fn run(args: RemoveTableArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = ctx.config()?;
    let source = QualifiedName::parse(&args.table)?;
    let all: Vec<&Node> = config.nodes.iter().collect();
    let mut conns = connect_all(&all)?;
    let set = installed_set_name(&mut conns, &source)?;
    let mut plans = Vec::new();
    let mut queued = Vec::new();
    for (index, conn) in conns.iter_mut().enumerate() {
        let name = conn.node.name.clone();
        let Some(table) = on_node(&name, catalog::installed_set(&mut conn.client, &set))? else {
            continue;
        };
        let depth: i64 = catalog::set_queue_dests(&mut conn.client, &set)?
            .iter()
            .map(|(_, depth)| depth)
            .sum();
        if depth > 0 {
            queued.push(format!("node {}: {depth} queued change(s)", conn.node.name));
        }
        let mut sql = drop_sql(&table, Keep::default())?;
        if args.force {
            sql.push_str(&render(&render::PurgeQueue {
                set_name: &Literal::new(set.clone()),
            }));
        }
        plans.push((index, sql, table.is_sender));
    }
    // Senders commit first: once a node stops capturing, nothing more is sent to a
    // receiver whose apply function may be gone.
    plans.sort_by_key(|(_, _, sends)| !sends);
    let plans: Vec<(usize, String)> = plans.into_iter().map(|(i, sql, _)| (i, sql)).collect();
    if plans.is_empty() {
        return Err(usage(format!(
            "table {} is not replicated on any node; `repsync status` lists the replicated tables",
            source.plain()
        )));
    }
    if !queued.is_empty() && !args.force {
        return Err(usage(format!(
            "table {}: changes are still queued for peers ({}); run `repsync drain-errors` first, or pass --force to throw them away",
            source.plain(),
            queued.join("; ")
        )));
    }
    let prompt = format!(
        "Stop replicating {} on {} node(s)?",
        source.plain(),
        plans.len()
    );
    let what = format!("remove-table {}", source.plain());
    if !remove_after_confirmation(
        &mut conns,
        &plans,
        args.dry_run.dry_run,
        &prompt,
        args.confirm.yes,
        &what,
    )? {
        return Ok(());
    }
    for (index, _) in &plans {
        println!(
            "node {}: {} no longer replicated",
            conns[*index].node.name,
            source.plain()
        );
    }
    Ok(())
}
