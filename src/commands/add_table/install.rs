//! The SQL add-table installs on each node and the SQL that removes it again
//! (remove-table, uninstall, and add-table replacing an earlier install).
use super::super::Connected;
use crate::catalog::{self, ReplicatedTable, TableShape, WireFormat};
use crate::config::NodeName;
use crate::naming::{apply_function, capture_function, current_function, versions_table};
use crate::policy::ConflictPolicy;
use crate::render::{self, render};
use crate::sql::{Ident, Literal, QualifiedName, RowFilter};

#[allow(clippy::too_many_arguments)]
pub(super) fn install_sql(
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
        mode: Literal::new(mode.as_str()),
        on_error: Literal::new(on_error.as_str()),
        options: Literal::new(options_json),
        dests: &dest_literals,
    }));
    Ok(sql)
}

/// Key columns filled by a sequence hand out the same values on every node, so
/// two nodes inserting collide. Warns about that, or with `fix` returns per node
/// the SQL that gives each writing node its own residue: the same increment (the
/// number of writers) and distinct starts above every value handed out so far.
pub(super) fn sequence_fixes(
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
