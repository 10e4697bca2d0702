//! `repsync add-table`: checks the table on every node and installs the generated
//! capture triggers on the senders and the apply function on the receivers.
use super::{Connected, Context, connect_all, execute_all, on_node, print_dry_run};
use crate::catalog::{self, Column, TableShape, WireFormat};
use crate::cli::AddTableArgs;
use crate::config::{Node, NodeName};
use crate::db;
use crate::error::usage;
use crate::policy::ConflictPolicy;
use crate::render::{self, render};
use crate::sql::{Ident, Literal, QualifiedName, RowFilter, parse_ident_list};

mod checks;
mod install;

use crate::naming::{VERSION_COLUMNS, set_name};
use checks::{
    check_row_filter, check_row_security, check_shape, check_table, choose_columns, no_primary_key,
    read_table, warn_key_change_blockers,
};
pub use install::{Keep, drop_sql};
use install::{install_sql, sequence_fixes};

/// The set name of `source` as installed on the nodes (the first node that sends the
/// table and has it registered), else the name [`set_name`] derives: a set installed
/// by an earlier version under an earlier derivation is still found and replaced,
/// never installed a second time beside itself.
pub fn installed_set_name(
    conns: &mut [Connected],
    source: &QualifiedName,
) -> anyhow::Result<String> {
    for conn in conns.iter_mut() {
        let name = conn.node.name.clone();
        if let Some(set) = on_node(&name, catalog::sender_set(&mut conn.client, source))? {
            return Ok(set);
        }
    }
    Ok(set_name(source))
}

/// What add-table was asked for, in a stable form: equal options mean a re-run.
#[derive(Debug, serde::Serialize)]
struct Options {
    columns: Vec<String>,
    row_filter: Option<String>,
    target: Option<String>,
    from: Vec<String>,
    to: Vec<String>,
    mode: crate::cli::Mode,
    on_error: crate::cli::OnError,
    /// Only for a table that more than one node writes, so that the options of
    /// other tables stay as they were before conflicts were handled.
    #[serde(skip_serializing_if = "Option::is_none")]
    conflict: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    fix_sequences: bool,
}

pub fn run(args: AddTableArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = ctx.config()?;
    let source = QualifiedName::parse(&args.table)?;
    let target = args
        .target
        .as_deref()
        .map(QualifiedName::parse)
        .transpose()?;
    let wanted_columns = args.columns.as_deref().map(parse_ident_list).transpose()?;
    let filter = args
        .row_filter
        .as_deref()
        .map(RowFilter::parse)
        .transpose()?;
    let senders: Vec<NodeName> = config
        .select(&args.from)?
        .iter()
        .map(|n| n.name.clone())
        .collect();
    let receivers: Vec<NodeName> = config
        .select(&args.to)?
        .iter()
        .map(|n| n.name.clone())
        .collect();
    let dests_of = |node: &NodeName| -> Vec<NodeName> {
        if senders.contains(node) {
            receivers.iter().filter(|r| *r != node).cloned().collect()
        } else {
            Vec::new()
        }
    };
    let is_receiver =
        |node: &NodeName| receivers.contains(node) && senders.iter().any(|s| s != node);
    // A table that more than one node writes gets per-key versions on every node,
    // which is how conflicts are found and settled the same way everywhere.
    let writers = senders.iter().filter(|s| !dests_of(s).is_empty()).count();
    let asked_policy = args
        .conflict
        .as_deref()
        .map(ConflictPolicy::parse)
        .transpose()?;
    if asked_policy.is_some() && writers < 2 {
        return Err(usage(format!(
            "add-table {}: --conflict needs more than one node that sends the table; with one sender there is nothing to conflict with",
            source.plain()
        )));
    }
    let policy = (writers > 1).then(|| asked_policy.unwrap_or(ConflictPolicy::CapturedLater));
    if let Some(ConflictPolicy::OriginPriority(nodes)) = &policy {
        for node in nodes {
            config
                .node(node.as_str())
                .map_err(|err| usage(format!("--conflict origin-priority: {err:#}")))?;
        }
    }
    let copy_from = args
        .copy_from
        .as_deref()
        .map(|name| config.node(name).map(|n| n.name.clone()))
        .transpose()?;
    if let Some(from) = &copy_from
        && dests_of(from).is_empty()
    {
        return Err(usage(format!(
            "--copy-from {from}: node {from} does not send {} to any node; name a sending node (see --from)",
            source.plain()
        )));
    }
    if senders.iter().all(|s| dests_of(s).is_empty()) {
        return Err(usage(format!(
            "add-table {}: --from and --to leave no node to send to; name at least one receiving node other than the sender",
            source.plain()
        )));
    }
    if target.is_some()
        && let Some(both) = senders
            .iter()
            .find(|s| !dests_of(s).is_empty() && is_receiver(s))
    {
        return Err(usage(format!(
            "add-table {}: --target renames the table on receiving nodes, but node {both} both sends and receives; use --from and --to to make the replication one-way",
            source.plain()
        )));
    }

    let all: Vec<&Node> = config.nodes.iter().collect();
    let mut conns = connect_all(&all)?;
    for conn in conns.iter_mut() {
        let name = conn.node.name.clone();
        on_node(&name, require_initialised(conn))?;
    }

    // The first sender's table defines the columns and the key.
    let first_sender = conns
        .iter_mut()
        .find(|c| senders.contains(&c.node.name))
        .expect("at least one sender");
    let source_columns = read_table(first_sender, &source)?;
    let key: Vec<Ident> = catalog::key_columns(&source_columns)
        .iter()
        .map(|c| c.name.clone())
        .collect();
    if key.is_empty() {
        let unique = catalog::unique_indexes(&mut first_sender.client, &source)?;
        return Err(no_primary_key(
            &first_sender.node.name,
            &source,
            unique.first(),
        ));
    }
    let columns = choose_columns(
        &first_sender.node.name,
        &source,
        &source_columns,
        &key,
        wanted_columns,
    )?;
    let json = WireFormat::of(&source_columns, &columns);
    let key_json = WireFormat::of(&source_columns, &key);
    let typed: Vec<&Column> = columns
        .iter()
        .map(|c| {
            source_columns
                .iter()
                .find(|s| &s.name == c)
                .expect("chosen from the table")
        })
        .collect();

    if policy.is_some()
        && let Some(reserved) = key.iter().find(|k| VERSION_COLUMNS.contains(&k.as_str()))
    {
        return Err(usage(format!(
            "node {}: key column {reserved} of {} has the name of a column that repsync keeps beside the key in its versions table ({}), for tables that several nodes write; rename the key column",
            first_sender.node.name,
            source.plain(),
            VERSION_COLUMNS.join(", ")
        )));
    }
    if let Some(ConflictPolicy::NewerWins(column)) = &policy
        && !columns.contains(column)
    {
        return Err(usage(format!(
            "--conflict newer-wins:{column}: {} has no replicated column {column}; name a timestamp column that every node sets when it writes the row",
            source.plain()
        )));
    }

    let set = installed_set_name(&mut conns, &source)?;
    let options = Options {
        columns: columns.iter().map(|c| c.as_str().to_string()).collect(),
        row_filter: filter.as_ref().map(|f| f.as_str().to_string()),
        target: target.as_ref().map(QualifiedName::plain),
        from: senders.iter().map(|n| n.to_string()).collect(),
        to: receivers.iter().map(|n| n.to_string()).collect(),
        mode: args.mode,
        on_error: args.on_error,
        conflict: policy.as_ref().map(ConflictPolicy::to_string),
        fix_sequences: args.fix_sequences,
    };
    let options_json = serde_json::to_string(&options)?;

    let mut plans = Vec::new();
    let mut unchanged = true;
    let mut copy_from_partitioned = false;
    for (index, conn) in conns.iter_mut().enumerate() {
        let name = conn.node.name.clone();
        let sends = !dests_of(&name).is_empty();
        let receives = is_receiver(&name);
        let local = if sends {
            source.clone()
        } else {
            target.clone().unwrap_or_else(|| source.clone())
        };
        let shape = if sends || receives {
            check_table(conn, &local, &typed, &key)?;
            check_shape(conn, &local)?
        } else {
            TableShape::default()
        };
        if shape.row_security {
            // The peers apply as this node's peer_dsn user, repsync's own sessions
            // connect as its dsn user.
            let roles = if receives {
                vec![db::user_of(&conn.node.peer_dsn)]
            } else {
                Vec::new()
            };
            check_row_security(conn, &local, &roles)?;
        }
        if receives {
            warn_key_change_blockers(conn, &local)?;
        }
        if conn.node.name.as_str() == copy_from.as_ref().map_or("", |f| f.as_str()) {
            copy_from_partitioned = shape.partitioned;
        }
        if sends && let Some(f) = &filter {
            check_row_filter(conn, &local, f)?;
        }
        let installed = catalog::replicated_tables(&mut conn.client)?
            .into_iter()
            .find(|t| t.set_name == set);
        // Queued changes stay queued across a re-install (and a change of mode), but
        // only for destinations the table still goes to.
        let new_dests = dests_of(&name);
        if let Some((dest, depth)) = catalog::set_queue_dests(&mut conn.client, &set)?
            .into_iter()
            .find(|(dest, _)| !new_dests.iter().any(|d| d.as_str() == dest))
        {
            return Err(usage(format!(
                "node {}: {depth} change(s) of {} are still queued for node {dest}, which would no longer receive the table; run `repsync drain-errors` first",
                conn.node.name,
                source.plain()
            )));
        }
        // The options stored on the node carry a fingerprint of the generated SQL,
        // so a newer repsync whose templates differ installs again.
        let install = |options: &str, replace_triggers: bool| -> anyhow::Result<String> {
            if !(sends || receives) {
                return Ok(String::new());
            }
            install_sql(
                &set,
                &source,
                &local,
                sends,
                receives,
                &columns,
                &key,
                filter.as_ref(),
                &dests_of(&name),
                options,
                args.mode,
                args.on_error,
                &name,
                policy.as_ref(),
                &json,
                &key_json,
                replace_triggers,
                &shape,
            )
        };
        let mut node_options = serde_json::to_value(&options)?;
        node_options["install"] =
            crate::fingerprint::md5_hex(install(&options_json, false)?.as_bytes()).into();
        let node_options_json = node_options.to_string();
        let same = match &installed {
            Some(t) => {
                same_options(&t.options, &node_options_json)
                    && t.missing.is_empty()
                    && t.changed.is_empty()
                    && t.is_sender == sends
                    && t.is_receiver == receives
            }
            None => !sends && !receives,
        };
        unchanged &= same;
        let mut sql = String::new();
        let keep = match &installed {
            Some(old) => Keep {
                versions: policy.is_some(),
                capture: old.is_sender && old.table_exists && sends,
            },
            None => Keep::default(),
        };
        if let Some(old) = &installed {
            sql.push_str(&drop_sql(old, keep)?);
        }
        // Triggers are replaced only when they are repsync's own from the earlier
        // install: a user's trigger of the same name makes the install fail instead.
        sql.push_str(&install(&node_options_json, keep.capture)?);
        if !sql.is_empty() {
            plans.push((index, sql));
        }
    }
    if args.fix_sequences && policy.is_none() {
        return Err(usage(format!(
            "add-table {}: --fix-sequences is for a table that several nodes send; here only one node hands out key values",
            source.plain()
        )));
    }
    if policy.is_some() {
        let writers: Vec<NodeName> = senders
            .iter()
            .filter(|s| !dests_of(s).is_empty())
            .cloned()
            .collect();
        for (index, fix) in sequence_fixes(&mut conns, &writers, &source, &key, args.fix_sequences)?
        {
            unchanged = false;
            append_to_plan(&mut plans, index, &fix);
        }
    }
    if let Some(from) = &copy_from {
        unchanged = false;
        let index = conns
            .iter()
            .position(|c| &c.node.name == from)
            .expect("every node is connected");
        let dests: Vec<Literal> = dests_of(from)
            .iter()
            .map(|d| Literal::new(d.as_str()))
            .collect();
        let key_names: Vec<(Ident, Literal)> = key
            .iter()
            .map(|k| (k.clone(), Literal::new(k.as_str())))
            .collect();
        let copy = render(&render::CopyKeys {
            table: &source,
            partitioned: copy_from_partitioned,
            set_name: &Literal::new(set.as_str()),
            key: &key,
            key_names: &key_names,
            filter: filter.as_ref(),
            dests: &dests,
            chunk_rows: super::copy_from::CHUNK_ROWS,
            json: &json,
        });
        append_to_plan(&mut plans, index, &copy);
    }
    if unchanged {
        println!(
            "table {}: already replicated with these options, nothing changed",
            source.plain()
        );
        return Ok(());
    }
    if args.dry_run.dry_run {
        print_dry_run(&conns, &plans);
        return Ok(());
    }
    // Nodes that only receive commit first: a sender captures as soon as it has
    // committed, and its changes must find the apply function on its peers.
    plans.sort_by_key(|(index, _)| !dests_of(&conns[*index].node.name).is_empty());
    execute_all(&mut conns, &plans, &format!("add-table {}", source.plain()))?;
    for conn in &conns {
        let name = &conn.node.name;
        let dests = dests_of(name);
        if !dests.is_empty() {
            let list: Vec<String> = dests.iter().map(|d| d.to_string()).collect();
            println!(
                "node {name}: sends {} to {}",
                source.plain(),
                list.join(", ")
            );
        } else if is_receiver(name) {
            println!(
                "node {name}: receives {}",
                target.as_ref().unwrap_or(&source).plain()
            );
        }
    }
    // Installed and committed: the copy's entries wait in the queue like any
    // change, so a copy that stops here loses nothing.
    if let Some(from) = &copy_from {
        super::copy_from::ship(&config, config.node(from.as_str())?, &set, &dests_of(from))?;
    }
    Ok(())
}

/// Adds SQL after what a node's plan already holds, in the same transaction.
fn append_to_plan(plans: &mut Vec<(usize, String)>, index: usize, sql: &str) {
    match plans.iter_mut().find(|(i, _)| *i == index) {
        Some((_, plan)) => plan.push_str(sql),
        None => plans.push((index, sql.to_string())),
    }
}

/// Options that cannot be read are not the same: the table is installed again.
fn same_options(installed: &str, wanted: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(installed),
        serde_json::from_str::<serde_json::Value>(wanted),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub fn require_initialised(conn: &mut Connected) -> anyhow::Result<()> {
    let state = catalog::node_state(&mut conn.client)?;
    let local = if state.installed {
        catalog::local_node(&mut conn.client)?
    } else {
        None
    };
    match local {
        Some(l) if l.name == conn.node.name.as_str() => Ok(()),
        Some(l) => Err(usage(format!(
            "node {}: this database is initialised as node {:?}; fix the node file or run `repsync init`",
            conn.node.name, l.name
        ))),
        None => Err(usage(format!(
            "node {}: repsync is not initialised there; run `repsync init` first",
            conn.node.name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::same_options;

    #[test]
    fn options_that_cannot_be_read_are_never_the_same() {
        assert!(same_options(r#"{"a": 1, "b": [2]}"#, r#"{"b":[2],"a":1}"#));
        assert!(!same_options(r#"{"a": 1}"#, r#"{"a": 2}"#));
        assert!(!same_options("not json", "not json"));
        assert!(!same_options("", r#"{}"#));
    }
}
