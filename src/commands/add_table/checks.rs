//! What add-table checks on every node before it installs anything: the table's
//! columns and types, its key, row-level security, its shape (partitions) and the
//! row filter. Each refusal names the node, the object and the fix.
use super::super::Connected;
use crate::catalog::{self, Column, TableShape};
use crate::config::NodeName;
use crate::db;
use crate::error::usage;
use crate::render::{self, render};
use crate::sql::{Ident, QualifiedName, RowFilter};

pub(super) fn read_table(
    conn: &mut Connected,
    table: &QualifiedName,
) -> anyhow::Result<Vec<Column>> {
    catalog::table_columns(&mut conn.client, table)?.ok_or_else(|| {
        usage(format!(
            "node {}: table {} does not exist; create it there (same columns and primary key) and run add-table again",
            conn.node.name,
            table.plain()
        ))
    })
}

pub(super) fn choose_columns(
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
pub(super) fn check_table(
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
pub(super) fn no_primary_key(
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
pub(super) fn check_row_security(
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
pub(super) fn warn_key_change_blockers(
    conn: &mut Connected,
    table: &QualifiedName,
) -> anyhow::Result<()> {
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
pub(super) fn check_shape(
    conn: &mut Connected,
    table: &QualifiedName,
) -> anyhow::Result<TableShape> {
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

pub(super) fn check_row_filter(
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
