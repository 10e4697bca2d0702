//! `repsync drain-errors`: replays each node's queue through `repsync.drain_errors`,
//! batch after batch, until it is empty or a change fails.
use super::{Context, confirm};
use crate::catalog;
use crate::cli::DrainErrorsArgs;
use crate::config::Node;
use crate::db;
use crate::error::{Unhealthy, usage};

pub fn run(args: DrainErrorsArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = ctx.config()?;
    if let Some(to) = &args.to {
        config.node(to)?;
    }
    let nodes: Vec<&Node> = match &args.node {
        Some(name) => vec![config.node(name)?],
        None => config.nodes.iter().collect(),
    };
    if let Some(id) = args.discard {
        return discard(nodes[0], id, args.confirm.yes);
    }
    let mut healthy = true;
    for node in nodes {
        if let Err(err) = drain_node(node, args.to.as_deref(), args.batch.limit) {
            eprintln!("{err:#}");
            healthy = false;
        }
    }
    if healthy {
        Ok(())
    } else {
        Err(Unhealthy.into())
    }
}

fn drain_node(node: &Node, to: Option<&str>, limit: i32) -> anyhow::Result<()> {
    let mut client = db::connect(node)?;
    if !catalog::node_state(&mut client)?.installed {
        println!(
            "node {}: repsync is not installed, nothing to drain",
            node.name
        );
        return Ok(());
    }
    let mut applied_total: std::collections::BTreeMap<String, i64> = Default::default();
    let mut failure = None;
    loop {
        let rows = client
            .query("select * from repsync.drain_errors($1, $2)", &[&to, &limit])
            .map_err(|e| {
                anyhow::anyhow!("node {}: drain failed: {}", node.name, db::error_text(&e))
            })?;
        let mut progress = false;
        let mut more = false;
        for row in &rows {
            let dest: String = row.get("dest");
            let applied: i32 = row.get("applied");
            let remaining: i64 = row.get("remaining");
            let failed_id: Option<i64> = row.get("failed_id");
            let error: Option<String> = row.get("error");
            *applied_total.entry(dest.clone()).or_default() += i64::from(applied);
            progress |= applied > 0;
            if let Some(error) = error {
                failure = Some((dest, failed_id, error));
                break;
            }
            more |= remaining > 0;
        }
        if failure.is_some() || !more || !progress {
            break;
        }
    }
    for (dest, applied) in &applied_total {
        println!("node {} -> {dest}: {applied} change(s) applied", node.name);
    }
    if applied_total.is_empty() {
        println!("node {}: queue is empty", node.name);
    }
    let Some((dest, failed_id, error)) = failure else {
        return Ok(());
    };
    let mut message = format!("node {} -> {dest}: stopped: {error}", node.name);
    if let Some(id) = failed_id
        && let Some(entry) = catalog::queued_entry(&mut client, id)?
    {
        {
            message.push_str(&format!(
                "\n  entry {}: {} {} queued at {}: {}\n  fix the cause on node {dest} and run drain-errors again, or drop this entry with `repsync drain-errors --node {} --discard {} --yes`",
                entry.id,
                op_name(&entry.op),
                entry.source,
                entry.queued_at,
                entry.rows.unwrap_or_default(),
                node.name,
                entry.id
            ));
        }
    }
    Err(anyhow::anyhow!(message))
}

pub fn op_name(op: &str) -> &'static str {
    match op {
        "I" => "insert into",
        "U" => "update of",
        "D" => "delete from",
        "T" => "truncate of",
        _ => "change of",
    }
}

fn discard(node: &Node, id: i64, yes: bool) -> anyhow::Result<()> {
    let mut client = db::connect(node)?;
    let entry = catalog::queued_entry(&mut client, id)?.ok_or_else(|| {
        usage(format!(
            "node {}: there is no queued entry {id}; `repsync status` shows the queues",
            node.name
        ))
    })?;
    let prompt = format!(
        "Drop entry {id} ({} {} for node {}) on node {}? Node {} will never get this change",
        op_name(&entry.op),
        entry.source,
        entry.dest,
        node.name,
        entry.dest
    );
    if !confirm(&prompt, yes)? {
        println!("nothing dropped");
        return Ok(());
    }
    client.query_one("select repsync.discard($1)", &[&id])?;
    println!(
        "node {}: entry {id} for node {} dropped",
        node.name, entry.dest
    );
    Ok(())
}
