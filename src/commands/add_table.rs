//! `repsync add-table`: checks the table on every node and installs the generated
//! capture triggers on the senders and the apply function on the receivers.
use super::{Connected, Context, connect_all, execute_all, on_node, print_dry_run};
use crate::catalog::{self, Column, ReplicatedTable, TableShape, WireFormat};
use crate::cli::AddTableArgs;
use crate::config::{Node, NodeName};
use crate::db;
use crate::error::usage;
use crate::policy::ConflictPolicy;
use crate::render::{self, render};
use crate::sql::{Ident, Literal, QualifiedName, RowFilter, parse_ident_list};

/// The name of a replicated table's objects, the same on every node: derived from
/// the source table's name, short enough for any identifier, unique per table.
/// The digest is of `schema.table` as written in SQL with a part quoted only when it
/// holds a dot, so `"a.b".c` and `a."b.c"` differ while every name without a dot
/// keeps the set name earlier versions gave it.
pub fn set_name(source: &QualifiedName) -> String {
    let part = |i: &Ident| {
        if i.as_str().contains('.') {
            i.to_string()
        } else {
            i.as_str().to_string()
        }
    };
    let written = format!("{}.{}", part(&source.schema), part(&source.name));
    format!(
        "t_{}",
        &crate::fingerprint::md5_hex(written.as_bytes())[..20]
    )
}

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

pub fn capture_function(set_name: &str) -> anyhow::Result<Ident> {
    Ident::new(format!("capture_{set_name}"))
}

pub fn current_function(set_name: &str) -> anyhow::Result<Ident> {
    Ident::new(format!("current_{set_name}"))
}

pub fn apply_function(set_name: &str) -> anyhow::Result<Ident> {
    Ident::new(format!("apply_{set_name}"))
}

/// The columns a versions table holds beside the table's key (templates/table/versions.sql).
pub const VERSION_COLUMNS: [&str; 6] = [
    "repsync_at",
    "repsync_origin",
    "repsync_base_at",
    "repsync_base_origin",
    "repsync_deleted",
    "repsync_rank",
];

pub fn versions_table(set_name: &str) -> anyhow::Result<Ident> {
    Ident::new(format!("versions_{set_name}"))
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

fn read_table(conn: &mut Connected, table: &QualifiedName) -> anyhow::Result<Vec<Column>> {
    catalog::table_columns(&mut conn.client, table)?.ok_or_else(|| {
        usage(format!(
            "node {}: table {} does not exist; create it there (same columns and primary key) and run add-table again",
            conn.node.name,
            table.plain()
        ))
    })
}

fn choose_columns(
    node: &NodeName,
    table: &QualifiedName,
    columns: &[Column],
    key: &[Ident],
    wanted: Option<Vec<Ident>>,
) -> anyhow::Result<Vec<Ident>> {
    let Some(wanted) = wanted else {
        return Ok(columns
            .iter()
            .filter(|c| !c.generated)
            .map(|c| c.name.clone())
            .collect());
    };
    for name in &wanted {
        match columns.iter().find(|c| &c.name == name) {
            None => {
                return Err(usage(format!(
                    "node {node}: table {} has no column {name} (named in --columns)",
                    table.plain()
                )));
            }
            Some(c) if c.generated => {
                return Err(usage(format!(
                    "node {node}: column {name} of {} is generated; each node computes it, leave it out of --columns",
                    table.plain()
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(missing) = key.iter().find(|k| !wanted.contains(k)) {
        return Err(usage(format!(
            "--columns must include the primary key of {}: add {missing}",
            table.plain()
        )));
    }
    // Keep the table's column order whatever order --columns used.
    Ok(columns
        .iter()
        .filter(|c| wanted.contains(&c.name))
        .map(|c| c.name.clone())
        .collect())
}

/// The table on this node has the replicated columns with the same types and the same key.
fn check_table(
    conn: &mut Connected,
    table: &QualifiedName,
    wanted: &[&Column],
    key: &[Ident],
) -> anyhow::Result<()> {
    let node = conn.node.name.clone();
    let have = read_table(conn, table)?;
    for column in wanted {
        match have.iter().find(|c| c.name == column.name) {
            None => {
                return Err(usage(format!(
                    "node {node}: table {} has no column {} ({}); add it there or leave it out with --columns",
                    table.plain(),
                    column.name,
                    column.type_name
                )));
            }
            Some(c) if c.type_name != column.type_name => {
                return Err(usage(format!(
                    "node {node}: column {} of {} is {} but {} on the sending node; make the types equal",
                    column.name,
                    table.plain(),
                    c.type_name,
                    column.type_name
                )));
            }
            Some(c) if c.generated => {
                return Err(usage(format!(
                    "node {node}: column {} of {} is generated there; it cannot receive values",
                    column.name,
                    table.plain()
                )));
            }
            Some(Column {
                unsupported: Some(inside),
                ..
            }) if !inside.is_empty() => {
                return Err(unsupported_type(&node, table, column, inside));
            }
            Some(c) if c.shape != column.shape => {
                let show =
                    |shape: &Option<String>| shape.clone().unwrap_or_else(|| "(none)".into());
                return Err(usage(format!(
                    "node {node}: the type {} of column {} of {} is defined differently there: {} against {} on the sending node; define it the same way on every node (values of one would fail or change on the other)",
                    c.type_name,
                    column.name,
                    table.plain(),
                    show(&c.shape),
                    show(&column.shape)
                )));
            }
            Some(_) => {}
        }
    }
    let their_key: Vec<Ident> = catalog::key_columns(&have)
        .iter()
        .map(|c| c.name.clone())
        .collect();
    if their_key != key {
        let show = |k: &[Ident]| {
            k.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(usage(format!(
            "node {node}: the primary key of {} is ({}) but ({}) on the sending node; the key must be the same on every node",
            table.plain(),
            show(&their_key),
            show(key)
        )));
    }
    Ok(())
}

/// A column whose type repsync cannot replicate exactly: reg* types hold OIDs,
/// which name different objects (or none) on another node; json or jsonb inside a
/// domain, array, composite or range would lose a JSON null, the whitespace around
/// a json value or a `\u0000` on the way, as rows travel as JSON.
fn unsupported_type(
    node: &NodeName,
    table: &QualifiedName,
    column: &Column,
    inside: &[String],
) -> anyhow::Error {
    let per_node: Vec<&str> = inside
        .iter()
        .map(String::as_str)
        .filter(|t| t.starts_with("reg"))
        .collect();
    let (why, instead) = if per_node.is_empty() {
        (
            format!(
                "it holds {} inside another type, and a JSON null or the exact text of such a value would not survive the JSON rows travel in",
                inside.join(", ")
            ),
            "a plain json, jsonb or text column",
        )
    } else {
        (
            format!(
                "it holds {}, object OIDs that name different objects (or none) on other nodes",
                per_node.join(", ")
            ),
            "a text column with the object's name",
        )
    };
    usage(format!(
        "node {node}: column {} of {} has type {}, which repsync cannot replicate: {why}. Use {instead} instead, or leave the column out with --columns",
        column.name,
        table.plain(),
        column.type_name
    ))
}

/// The refusal of a table without a primary key. A unique index is not enough (its
/// columns may be null, and rows with nulls there are not unique): when the table
/// has one that could be promoted, the message says how.
fn no_primary_key(
    node: &NodeName,
    table: &QualifiedName,
    unique: Option<&catalog::UniqueIndex>,
) -> anyhow::Error {
    let why = "repsync finds rows on the peers by their key";
    let Some(unique) = unique else {
        return usage(format!(
            "node {node}: table {} has no primary key; {why}. Add one (alter table {table} add primary key (...)) and run add-table again",
            table.plain()
        ));
    };
    let (what, promote) = match &unique.constraint {
        None => (
            format!("the unique index {}", unique.index.as_str()),
            format!(
                "alter table {table} add primary key using index {}",
                unique.index
            ),
        ),
        Some(constraint) => (
            format!("the unique constraint {}", constraint.as_str()),
            format!(
                "alter table {table} drop constraint {constraint}, add primary key ({})",
                unique
                    .columns
                    .iter()
                    .map(Ident::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    };
    usage(format!(
        "node {node}: table {} has no primary key, only {what}; {why}, and a unique index is not enough: its columns may be null, and rows with a null there are not unique. Promote it ({promote}; this fails while one of its columns holds a null) and run add-table again",
        table.plain()
    ))
}

/// Row-level security must not hide rows from repsync: the generated functions and
/// sessions run with row_security = off, so for a role the policies apply to every
/// read and write of the table would fail. Refused up front, naming the role.
fn check_row_security(
    conn: &mut Connected,
    table: &QualifiedName,
    roles: &[String],
) -> anyhow::Result<()> {
    let subjects = catalog::row_security_subjects(&mut conn.client, table, roles)?;
    let Some(subject) = subjects.first() else {
        return Ok(());
    };
    let why = if subject.owner {
        "it owns the table, but FORCE ROW LEVEL SECURITY applies the policies to the owner too"
    } else {
        "not a superuser, no BYPASSRLS, not the table's owner"
    };
    Err(usage(format!(
        "node {}: row-level security is enabled on {} and applies to role {} ({why}); repsync must read and write every row, and the policies would hide some from it. Give the role BYPASSRLS (as a superuser: alter role {} bypassrls) or connect as a superuser, then run add-table again",
        conn.node.name,
        table.plain(),
        subject.role.as_str(),
        subject.role
    )))
}

/// A foreign key that follows a referenced key's change (on update cascade, ...)
/// but refuses deleting a referenced row at once: a key change reaches this node as
/// a delete of the old key and an insert of the new one, before the changes of the
/// rows that refer to it, so the peer refuses it and the change stays queued. Warns,
/// naming the constraint and how to make it deferrable (the apply transactions run
/// with all deferrable constraints deferred).
fn warn_key_change_blockers(conn: &mut Connected, table: &QualifiedName) -> anyhow::Result<()> {
    let node = conn.node.name.clone();
    for fk in catalog::key_change_blockers(&mut conn.client, table)? {
        let (why, fix) = if fk.restrict {
            (
                "refuses deleting a referenced row (on delete restrict, which cannot be deferred)",
                format!(
                    "Recreate it on node {node} as deferrable with on delete no action (alter table {} drop constraint {}, add foreign key (...) references {} (...) {} deferrable)",
                    fk.table, fk.name, fk.parent, fk.on_update
                ),
            )
        } else {
            (
                "is not deferrable",
                format!(
                    "Make it deferrable on node {node}: alter table {} alter constraint {} deferrable",
                    fk.table, fk.name
                ),
            )
        };
        eprintln!(
            "warning: node {node}: foreign key {} of {} follows key changes of {} ({}) but {why}: a change of a key of {} reaches node {node} as a delete of the old key and an insert of the new one, before the changes of the rows that refer to it, so the peer refuses it and it stays queued. {fix}",
            fk.name.as_str(),
            fk.table.plain(),
            fk.parent.plain(),
            fk.on_update,
            fk.parent.plain()
        );
    }
    Ok(())
}

/// A partition is refused: statements through its partitioned table do not fire
/// its triggers, so its changes would be captured only in part.
fn check_shape(conn: &mut Connected, table: &QualifiedName) -> anyhow::Result<TableShape> {
    let shape = catalog::table_shape(&mut conn.client, table)?.unwrap_or_default();
    if let Some(root) = &shape.partition_of {
        return Err(usage(format!(
            "node {}: table {} is a partition of {}; replicate the partitioned table instead (repsync add-table {}): writes through it and into its partitions are both captured",
            conn.node.name,
            table.plain(),
            root.plain(),
            root.plain()
        )));
    }
    Ok(shape)
}

fn check_row_filter(
    conn: &mut Connected,
    table: &QualifiedName,
    filter: &RowFilter,
) -> anyhow::Result<()> {
    let node = conn.node.name.clone();
    let not_an_expression = |err: &postgres::Error| {
        usage(format!(
            "node {node}: --where {:?} is not one boolean expression over the columns of {}: {}. The filter runs with search_path = pg_catalog: schema-qualify your own functions, types and operators",
            filter.as_str(),
            table.plain(),
            db::error_text(err)
        ))
    };
    let select = render(&render::CheckRowFilter { table, filter });
    let scratch = Ident::new("repsync_row_filter")?;
    let constraint = render(&render::CheckRowFilterConstraint {
        scratch: &scratch,
        table,
        filter,
    });
    // The capture function evaluates the filter with this search_path: check it the
    // same way, or an unqualified name found only through the session's path would
    // pass here and fail every later write on the table. Everything here is rolled
    // back.
    let mut tx = conn.client.transaction()?;
    tx.batch_execute("set local search_path = pg_catalog, pg_temp")?;
    // Two grammars: text that closes the parentheses repsync puts around it and goes
    // on (`true) union all select ... where (true`) fits after `where (` or after
    // `check (`, never after both.
    tx.prepare(&select).map_err(|e| not_an_expression(&e))?;
    tx.batch_execute(&constraint).map_err(|err| {
        if err.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
            usage(format!(
                "node {node}: checking --where {:?} needs a temporary table (created and rolled back): {}; grant temporary on the database to the role repsync connects as",
                filter.as_str(),
                db::error_text(&err)
            ))
        } else {
            not_an_expression(&err)
        }
    })?;
    let untrusted: Vec<(String, String, String)> = tx
        .query(
            catalog::ROW_FILTER_UNTRUSTED_CALLS,
            &[&scratch.as_str(), &scratch.as_str()],
        )?
        .iter()
        .map(|row| (row.get("function"), row.get("owner"), row.get("runner")))
        .collect();
    drop(tx);
    if let Some((function, owner, runner)) = untrusted.first() {
        return Err(usage(format!(
            "node {node}: --where {:?} calls function {function}, owned by role {owner}. The capture function runs the filter on every write as role {runner} (security definer), so whoever can replace that function could run code as {runner}. Make the function owned by {runner} or a superuser (alter function {function} owner to {}), or write the filter without it",
            filter.as_str(),
            Ident::new(runner.clone())?,
        )));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn install_sql(
    set: &str,
    source: &QualifiedName,
    local: &QualifiedName,
    sends: bool,
    receives: bool,
    columns: &[Ident],
    key: &[Ident],
    filter: Option<&RowFilter>,
    dests: &[NodeName],
    options_json: &str,
    mode: crate::cli::Mode,
    on_error: crate::cli::OnError,
    node: &NodeName,
    policy: Option<&ConflictPolicy>,
    json: &WireFormat,
    key_json: &WireFormat,
    replace_triggers: bool,
    shape: &TableShape,
) -> anyhow::Result<String> {
    let partitioned = shape.partitioned;
    let set_literal = Literal::new(set);
    let dest_literals: Vec<Literal> = dests.iter().map(|d| Literal::new(d.to_string())).collect();
    let versions = versions_table(set)?;
    let mut sql = String::new();
    if policy.is_some() {
        sql.push_str(&render(&render::VersionsTable {
            table: local,
            versions: &versions,
            versions_key: &Ident::new(format!("{}_key", versions.as_str()))?,
            key,
        }));
    }
    if sends {
        let function = capture_function(set)?;
        sql.push_str(&render(&render::CurrentRows {
            table: local,
            partitioned,
            function: &current_function(set)?,
            versions: policy.is_some().then_some(&versions),
            columns,
            key,
            filter,
            tag: render::tag(),
            json,
        }));
        sql.push_str(&render(&render::CaptureFunction {
            async_mode: mode == crate::cli::Mode::Async,
            versioned: policy.is_some(),
            versions: &versions,
            local_node: &Literal::new(node.as_str()),
            local_rank: match policy {
                Some(ConflictPolicy::OriginPriority(nodes)) => nodes
                    .iter()
                    .position(|n| n == node)
                    .map_or(i32::MAX, |p| p as i32 + 1),
                _ => i32::MAX,
            },
            dests: &dest_literals,
            table: local,
            partitioned,
            table_literal: &Literal::new(local.to_string()),
            function: &function,
            set_name: &set_literal,
            columns,
            key,
            filter,
            idle_lock: crate::drain::IDLE_LOCK,
            tag: render::tag(),
            json,
            // Async and versioned capture turn only the key into text; a row
            // filter still runs under the settings of all replicated columns.
            settings: if (mode == crate::cli::Mode::Async || policy.is_some()) && filter.is_none() {
                key_json
            } else {
                json
            },
        }));
        sql.push_str(&render(&render::CaptureTriggers {
            table: local,
            function: &function,
            partitioned,
            partition: false,
            replace: replace_triggers,
        }));
        // Statements that name a partition fire its own triggers only.
        for partition in &shape.partitions {
            sql.push_str(&render(&render::CaptureTriggers {
                table: partition,
                function: &function,
                partitioned: false,
                partition: true,
                replace: replace_triggers,
            }));
        }
        if replace_triggers {
            // Partitions detached since the last install keep their triggers otherwise.
            sql.push_str(&render(&render::DropCaptureTriggers {
                set_name: &set_literal,
                function: &Literal::new(function.as_str()),
                keep_tree: Some(&Literal::new(local.to_string())),
                tag: render::tag(),
            }));
        }
    }
    if receives {
        let non_key = catalog::non_key_columns(columns, key);
        match policy {
            None => sql.push_str(&render(&render::ApplyFunction {
                table: local,
                partitioned,
                function: &apply_function(set)?,
                columns,
                key,
                non_key: &non_key,
                tag: render::tag(),
                json,
            })),
            Some(policy) => sql.push_str(&render(&render::ApplyVersioned {
                table: local,
                partitioned,
                function: &apply_function(set)?,
                versions: &versions,
                set_name: &set_literal,
                columns,
                key,
                non_key: &non_key,
                policy: &Literal::new(policy.to_string()),
                newer_column: match policy {
                    ConflictPolicy::NewerWins(column) => Some(column),
                    _ => None,
                },
                origin_priority: matches!(policy, ConflictPolicy::OriginPriority(_)),
                keep_local: *policy == ConflictPolicy::KeepLocal,
                apply_remote: *policy == ConflictPolicy::ApplyRemote,
                tag: render::tag(),
                json,
            })),
        }
    }
    sql.push_str(&render(&render::Register {
        set_name: &set_literal,
        local_schema: Literal::new(local.schema.as_str()),
        local_table: Literal::new(local.name.as_str()),
        source: Literal::new(source.plain()),
        is_sender: sends,
        is_receiver: receives,
        mode: Literal::new(match mode {
            crate::cli::Mode::Sync => "sync",
            crate::cli::Mode::Async => "async",
        }),
        on_error: Literal::new(match on_error {
            crate::cli::OnError::Queue => "queue",
            crate::cli::OnError::Fail => "fail",
        }),
        options: Literal::new(options_json),
        dests: &dest_literals,
    }));
    Ok(sql)
}

/// Key columns filled by a sequence hand out the same values on every node, so
/// two nodes inserting collide. Warns about that, or with `fix` returns per node
/// the SQL that gives each writing node its own residue: the same increment (the
/// number of writers) and distinct starts above every value handed out so far.
fn sequence_fixes(
    conns: &mut [Connected],
    writers: &[NodeName],
    table: &QualifiedName,
    key: &[Ident],
    fix: bool,
) -> anyhow::Result<Vec<(usize, String)>> {
    let step = writers.len() as i64;
    let mut found = Vec::new();
    for (index, conn) in conns.iter_mut().enumerate() {
        if writers.contains(&conn.node.name) {
            for seq in catalog::key_sequences(&mut conn.client, table, key)? {
                found.push((index, seq));
            }
        }
    }
    if !fix {
        let unfixed: Vec<String> = found
            .iter()
            .filter(|(_, seq)| seq.increment != step)
            .map(|(index, seq)| {
                format!(
                    "{} on node {}",
                    seq.sequence.plain(),
                    conns[*index].node.name
                )
            })
            .collect();
        if !unfixed.is_empty() {
            eprintln!(
                "warning: the key of {} is filled by a sequence ({}): every node hands out the same values, so inserts on two nodes collide. Run add-table again with --fix-sequences, or use keys that cannot collide (uuid)",
                table.plain(),
                unfixed.join(", ")
            );
        }
        return Ok(Vec::new());
    }
    // The highest value any node has stored or handed out, per key column.
    let mut high: std::collections::BTreeMap<Ident, i64> = Default::default();
    for (index, seq) in &found {
        let partitioned = catalog::is_partitioned(&mut conns[*index].client, table)?;
        let sql = render(&render::KeyHigh {
            table,
            partitioned,
            column: &seq.column,
            sequence: &Literal::new(seq.sequence.to_string()),
        });
        let value: i64 = conns[*index].client.query_one(sql.as_str(), &[])?.get(0);
        let entry = high.entry(seq.column.clone()).or_insert(0);
        *entry = (*entry).max(value);
    }
    let mut sorted = writers.to_vec();
    sorted.sort();
    let mut fixes = Vec::new();
    for (index, seq) in &found {
        let position = sorted
            .iter()
            .position(|w| *w == conns[*index].node.name)
            .expect("found only on writers") as i64;
        let base = (high[&seq.column] / step + 1) * step;
        fixes.push((
            *index,
            render(&render::FixSequence {
                sequence: &seq.sequence,
                sequence_literal: &Literal::new(seq.sequence.to_string()),
                start: base + position,
                step,
            }),
        ));
    }
    Ok(fixes)
}

/// What an add-table run again keeps of the earlier install on a node.
#[derive(Clone, Copy, Default)]
pub struct Keep {
    /// What the node knows of each key's last change.
    pub versions: bool,
    /// The capture triggers and their function, which the new install replaces in
    /// place: dropping a trigger takes the table's owner, creating or replacing one
    /// only the TRIGGER privilege, so a role without ownership can switch modes.
    pub capture: bool,
}

/// Removes an earlier install of a table on one node, but what `keep` says.
pub fn drop_sql(old: &ReplicatedTable, keep: Keep) -> anyhow::Result<String> {
    let local = old.local_name()?;
    let versions = versions_table(&old.set_name)?;
    let mut sql = String::new();
    if !keep.capture {
        sql.push_str(&render(&render::DropCaptureTriggers {
            set_name: &Literal::new(old.set_name.clone()),
            function: &Literal::new(capture_function(&old.set_name)?.as_str()),
            keep_tree: None,
            tag: render::tag(),
        }));
    }
    sql.push_str(&render(&render::DropObjects {
        set_name: &Literal::new(old.set_name.clone()),
        versions: (!keep.versions).then_some(&versions),
        sender_table: (old.is_sender && old.table_exists && !keep.capture).then_some(&local),
        capture_function: (!keep.capture).then_some(&capture_function(&old.set_name)?),
        current_function: &current_function(&old.set_name)?,
        apply_function: &apply_function(&old.set_name)?,
    }));
    Ok(sql)
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
