//! `repsync uninstall`: removes everything repsync installed, on every node.
use super::{Context, connect_all, on_node, remove_after_confirmation};
use crate::catalog;
use crate::cli::UninstallArgs;
use crate::config::Node;
use crate::error::usage;
use crate::render::{self, render};

use super::add_table::{Keep, drop_sql};
use super::init::server_name;

pub fn run(args: UninstallArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = ctx.config()?;
    let all: Vec<&Node> = config.nodes.iter().collect();
    let mut conns = connect_all(&all)?;
    let mut plans = Vec::new();
    let mut queued = Vec::new();
    for (index, conn) in conns.iter_mut().enumerate() {
        let name = conn.node.name.clone();
        let state = on_node(&name, catalog::node_state(&mut conn.client))?;
        let Some(local) = on_node(
            &name,
            state
                .installed
                .then(|| catalog::local_node(&mut conn.client))
                .transpose(),
        )?
        .flatten() else {
            println!(
                "node {}: repsync is not installed, nothing to remove",
                conn.node.name
            );
            continue;
        };
        let depth: i64 = catalog::queues(&mut conn.client)?
            .iter()
            .map(|q| q.depth)
            .sum();
        if depth > 0 {
            queued.push(format!("node {}: {depth} queued change(s)", conn.node.name));
        }
        let mut sql = String::new();
        for table in catalog::replicated_tables(&mut conn.client)? {
            sql.push_str(&drop_sql(&table, Keep::default())?);
        }
        let servers = catalog::peers(&mut conn.client)?
            .iter()
            .map(|p| server_name(&p.name))
            .collect::<anyhow::Result<Vec<_>>>()?;
        sql.push_str(&render(&render::Uninstall {
            node: &conn.node.name,
            servers: &servers,
            drop_dblink: local.created_dblink,
            restore_user_mappings: state.superuser,
        }));
        plans.push((index, sql));
    }
    if plans.is_empty() {
        return Ok(());
    }
    if !queued.is_empty() && !args.force {
        return Err(usage(format!(
            "changes are still queued for peers ({}); run `repsync drain-errors` first, or pass --force to throw them away",
            queued.join("; ")
        )));
    }
    let prompt = format!("Remove repsync from {} node(s)?", plans.len());
    if !remove_after_confirmation(
        &mut conns,
        &plans,
        args.dry_run.dry_run,
        &prompt,
        args.confirm.yes,
        "uninstall",
    )? {
        return Ok(());
    }
    for (index, _) in &plans {
        println!("node {}: repsync removed", conns[*index].node.name);
    }
    Ok(())
}
