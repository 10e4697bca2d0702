//! `repsync repair TABLE --from NODE`: makes the table on the other nodes match
//! NODE's. Works on the buckets of keys `verify` finds different: NODE's rows of
//! those buckets are upserted on the others and their other rows of those buckets
//! deleted, in sessions marked as replication sessions, so the repair is not
//! replicated again. All nodes commit or none.
use super::verify::{self, Copy};
use super::{Context, all_or_nothing, confirm, connect_all};
use crate::catalog;
use crate::cli::RepairArgs;
use crate::config::Node;
use crate::error::{Unhealthy, usage};
use crate::render::{self, render};
use crate::sql::QualifiedName;

pub fn run(args: RepairArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = ctx.config()?;
    let source = QualifiedName::parse(&args.table)?;
    let all: Vec<&Node> = config.nodes.iter().collect();
    let mut conns = connect_all(&all)?;
    let copies = verify::copies(&mut conns, &source)?;
    let Some(from) = copies.iter().position(|c| c.node == args.from) else {
        return Err(usage(format!(
            "node {}: table {} is not replicated there; `repsync status` lists which nodes have it",
            args.from,
            source.plain()
        )));
    };
    let verify::Comparison {
        differing, typed, ..
    } = verify::compare(&mut conns, &copies)?;
    if differing.is_empty() {
        println!(
            "table {}: identical on {} nodes, nothing to repair",
            source.plain(),
            copies.len()
        );
        return Ok(());
    }
    // NODE's rows of the differing buckets, a bounded number of buckets at a time.
    let chunks: Vec<Vec<i32>> = differing
        .chunks(verify::READ_BACK)
        .map(<[i32]>::to_vec)
        .collect();
    let right = &copies[from];
    let mut rows = Vec::new();
    for chunk in &chunks {
        let sql = render(&render::RepairRows {
            q: &right.buckets(typed),
        });
        let json: String = conns[right.conn]
            .client
            .query_one(sql.as_str(), &[chunk])?
            .get(0);
        rows.push(json);
    }
    // A table that several nodes write: the keys' versions go with the rows.
    let mut versions = Vec::new();
    if let Some(table) = &right.versions {
        for chunk in &chunks {
            let sql = render(&render::RepairVersions {
                q: &right.buckets(typed),
                versions: table,
            });
            let json: String = conns[right.conn]
                .client
                .query_one(sql.as_str(), &[chunk])?
                .get(0);
            versions.push(json);
        }
    }
    let targets: Vec<usize> = (0..copies.len()).filter(|i| *i != from).collect();
    let names: Vec<&str> = targets.iter().map(|i| copies[*i].node.as_str()).collect();
    if args.dry_run.dry_run {
        for &i in &targets {
            let (delete, upsert) = statements(&copies[i], typed);
            println!(
                "-- node {}: for each of {} chunk(s) of the {} differing bucket(s), with the rows of node {}:",
                copies[i].node,
                chunks.len(),
                differing.len(),
                right.node
            );
            println!("{delete};\n{upsert};");
        }
        return Ok(());
    }
    let prompt = format!(
        "Make {} on node(s) {} match node {} ({} differing bucket(s) of keys)?",
        source.plain(),
        names.join(", "),
        right.node,
        differing.len()
    );
    if !confirm(&prompt, args.confirm.yes)? {
        return Ok(());
    }
    // One transaction per node, all committed or none; the sessions are marked as
    // replication sessions, so the capture triggers leave these changes alone.
    let nodes: Vec<usize> = targets.iter().map(|&i| copies[i].conn).collect();
    let what = format!("repair of {}", source.plain());
    let version_columns = crate::naming::VERSION_COLUMNS
        .iter()
        .map(|c| crate::sql::Ident::new(*c))
        .collect::<anyhow::Result<Vec<_>>>()?;
    all_or_nothing(&mut conns, &nodes, &what, |k, client| {
        let (delete, upsert) = statements(&copies[targets[k]], typed);
        client.execute(
            "select set_config('repsync.origin', $1, true)",
            &[&right.node],
        )?;
        // Row-level security must not hide rows from the repair (it fails instead),
        // and deferrable constraints are checked at the commit, as on the origin.
        client.batch_execute("set local row_security = off; set constraints all deferred")?;
        for (chunk, json) in chunks.iter().zip(&rows) {
            client.execute(delete.as_str(), &[chunk, json])?;
            client.execute(upsert.as_str(), &[json])?;
        }
        let copy = &copies[targets[k]];
        if let Some(table) = &copy.versions {
            let mut all = copy.key.clone();
            all.extend(version_columns.iter().cloned());
            let set = render(&render::RepairSetVersions {
                q: &copy.buckets(typed),
                versions: table,
                all: &all,
            });
            for (chunk, json) in chunks.iter().zip(&versions) {
                client.execute(set.as_str(), &[chunk, json])?;
            }
        }
        Ok(())
    })?;
    println!(
        "table {}: {} differing bucket(s) of keys copied from node {} to {}",
        source.plain(),
        differing.len(),
        right.node,
        names.join(", ")
    );
    let left = verify::compare(&mut conns, &copies)?.differing;
    if left.is_empty() {
        println!("identical on {} nodes", copies.len());
        Ok(())
    } else {
        eprintln!(
            "table {}: still different in {} bucket(s) of keys (written to meanwhile?); run `repsync verify {}`",
            source.plain(),
            left.len(),
            args.table
        );
        Err(Unhealthy.into())
    }
}

fn statements(copy: &Copy, typed: bool) -> (String, String) {
    let non_key = catalog::non_key_columns(&copy.columns, &copy.key);
    let delete = render(&render::RepairDelete {
        q: &copy.buckets(typed),
    });
    let upsert = render(&render::UpsertRows {
        stage: None,
        table: &copy.table,
        key: &copy.key,
        columns: &copy.columns,
        non_key: &non_key,
        json: &copy.json,
    });
    (delete.trim_end().into(), upsert.trim_end().into())
}
