//! The shipper's own transport, used by `repsync run`: it holds a connection to the
//! source and one to the destination and moves a batch between them itself.
//! Async entries' rows go with COPY, streamed from the source into a staging table
//! on the destination and upserted from there in one statement, instead of as JSON
//! through dblink (which parsed and quoted every row twice over). Other entries go
//! as the statements `repsync.entry_call` makes. The rules are the ones of
//! `repsync.drain_errors`, which `run` falls back on when this fails (it retries
//! entry by entry and records the failing entry's error): the same advisory lock
//! per destination, the same watermark, and the batch deleted locally only once
//! the destination committed it.
use std::collections::HashMap;

use postgres::{Client, Transaction};

use crate::catalog;
use crate::naming;
use crate::render::{self, render};
use crate::sql::{Ident, Literal, QualifiedName, RowFilter};

/// What one drain of one destination did, as `repsync.drain_errors` reports it.
pub struct Outcome {
    /// "copy" (this module) or "dblink" (`repsync.drain_errors`).
    pub transport: &'static str,
    pub applied: i32,
    pub remaining: i64,
    pub error: Option<String>,
    pub bytes: i64,
    pub oldest_seconds: Option<f64>,
    pub busy: bool,
}

/// A replicated table as the two ends know it.
struct Set {
    source: QualifiedName,
    /// The source table is partitioned on the origin.
    partitioned: bool,
    dest: QualifiedName,
    key: Vec<Ident>,
    columns: Vec<Ident>,
    filter: Option<RowFilter>,
    json: catalog::WireFormat,
}

/// Consecutive async entries of one table ship together; anything else alone.
enum Run {
    Keys { set: String, ids: Vec<i64> },
    Entry { id: i64 },
}

/// Ships the oldest `limit` entries for `dest` from `src` to `dst`. `dst` must be
/// a replication session (`repsync.origin` set), so nothing is sent back.
pub fn ship(
    src: &mut Client,
    dst: &mut Client,
    origin: &str,
    dest: &str,
    limit: i32,
) -> anyhow::Result<Outcome> {
    let mut tx = src.transaction()?;
    let settings = render(&render::ShipSettings);
    tx.batch_execute(&settings)?;
    let locked: bool = tx
        .query_one(
            "select pg_try_advisory_xact_lock(hashtext('repsync.drain_errors'), hashtext($1))",
            &[&dest],
        )?
        .get(0);
    if !locked {
        return Ok(Outcome {
            transport: "copy",
            applied: 0,
            remaining: 0,
            error: Some("another drain of this destination is running; nothing done".into()),
            bytes: 0,
            oldest_seconds: None,
            busy: true,
        });
    }
    let watermark = dst.query_one(
        "select last_id, last_snapshot from repsync.applied_watermark($1)",
        &[&origin],
    )?;
    let (last_id, last_snapshot): (i64, Option<String>) = (watermark.get(0), watermark.get(1));
    tx.execute(
        "select repsync.forget_applied($1, $2, $3::text::pg_snapshot)",
        &[&dest, &last_id, &last_snapshot],
    )?;
    let snapshot: String = tx
        .query_one("select pg_current_snapshot()::text", &[])?
        .get(0);
    // Whether a table is written on several nodes is decided here, on the entries
    // this transaction locked: the caller's earlier look at the queue may have
    // missed an entry with a lower id committed since. Such a table's keys go
    // through entry_call, which applies them with the version check and logs
    // conflicts; the copy would upsert them blindly.
    let entries = tx.query(
        "select e.id, e.set_name, e.op::text, \
                coalesce((select t.options ? 'conflict' from repsync.replicated_table t \
                           where t.set_name = e.set_name), false) \
           from repsync.sync_err_rec e \
          where e.dest = $1 order by e.dest, e.id limit $2 for update of e",
        &[&dest, &i64::from(limit)],
    )?;
    let mut runs: Vec<Run> = Vec::new();
    let mut ids: Vec<i64> = Vec::new();
    for row in &entries {
        let (id, set, op, versioned): (i64, String, String, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        ids.push(id);
        let copied = op == "K" && !versioned;
        match runs.last_mut() {
            Some(Run::Keys { set: s, ids }) if copied && *s == set => ids.push(id),
            _ if copied => runs.push(Run::Keys { set, ids: vec![id] }),
            _ => runs.push(Run::Entry { id }),
        }
    }
    let mut bytes: i64 = 0;
    if let Some(&last) = ids.last() {
        let mut sets: HashMap<String, Set> = HashMap::new();
        let mut dtx = dst.transaction()?;
        dtx.batch_execute(&settings)?;
        // Deferrable constraints are checked at this commit, as they were at the
        // origin's: a row may arrive before the row it refers to.
        dtx.batch_execute("set constraints all deferred")?;
        for run in &runs {
            bytes += match run {
                Run::Keys { set, ids } => {
                    if !sets.contains_key(set) {
                        let info = load_set(&mut tx, &mut dtx, set)?;
                        sets.insert(set.clone(), info);
                    }
                    ship_keys(&mut tx, &mut dtx, dest, set, &sets[set], ids)?
                }
                Run::Entry { id } => {
                    let sql: String = tx
                        .query_one(
                            "select repsync.entry_call(e.set_name, e.op, e.old_rows, e.new_rows) \
                             from repsync.sync_err_rec e where e.dest = $1 and e.id = $2",
                            &[&dest, id],
                        )?
                        .get(0);
                    dtx.batch_execute(&sql)?;
                    sql.len() as i64
                }
            };
        }
        dtx.execute(
            "call repsync.mark_applied($1, $2, $3::text::pg_snapshot)",
            &[&origin, &last, &snapshot],
        )?;
        dtx.commit()?;
        tx.execute(
            "delete from repsync.sync_err_rec e where e.dest = $1 and e.id = any ($2)",
            &[&dest, &ids],
        )?;
    }
    let left = tx.query_one(
        "select count(*), extract(epoch from clock_timestamp() - min(e.queued_at))::float8 \
         from repsync.sync_err_rec e where e.dest = $1",
        &[&dest],
    )?;
    let outcome = Outcome {
        transport: "copy",
        applied: ids.len() as i32,
        remaining: left.get(0),
        error: None,
        bytes,
        oldest_seconds: left.get(1),
        busy: false,
    };
    tx.commit()?;
    Ok(outcome)
}

/// The table of a set on both ends, its key, and what add-table replicates of it.
fn load_set(src: &mut Transaction, dst: &mut Transaction, set: &str) -> anyhow::Result<Set> {
    let table_of = |row: &postgres::Row| -> anyhow::Result<QualifiedName> {
        Ok(QualifiedName::new(
            Ident::new(row.get::<_, String>(0))?,
            Ident::new(row.get::<_, String>(1))?,
        ))
    };
    const TABLE: &str = "select local_schema::text, local_table::text, options::text \
                         from repsync.replicated_table where set_name = $1";
    let here = src.query_one(TABLE, &[&set])?;
    let source = table_of(&here)?;
    let there = dst
        .query_opt(TABLE, &[&set])?
        .ok_or_else(|| anyhow::anyhow!("the destination does not receive {}", source.plain()))?;
    let dest = table_of(&there)?;
    let (columns, filter) = catalog::stored_columns_and_filter(&source, &here.get::<_, String>(2))?;
    let table_columns = catalog::table_columns(src, &source)?
        .ok_or_else(|| anyhow::anyhow!("table {} does not exist", source.plain()))?;
    let key = catalog::key_columns(&table_columns)
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let json = catalog::WireFormat::of(&table_columns, &columns);
    let partitioned = catalog::is_partitioned(src, &source)?;
    Ok(Set {
        source,
        partitioned,
        dest,
        key,
        columns,
        filter,
        json,
    })
}

/// One run of async entries: the current rows of its keys are copied into a
/// staging table on the destination; keys whose rows are gone from the source are
/// deleted there; then the staged rows are upserted. Finding gone keys costs a
/// second pass over the keys, so it runs only when fewer rows than keys arrived.
fn ship_keys(
    src: &mut Transaction,
    dst: &mut Transaction,
    dest: &str,
    set_name: &str,
    set: &Set,
    ids: &[i64],
) -> anyhow::Result<i64> {
    let stage = naming::staging_table(set_name)?;
    dst.batch_execute(&render(&render::ShipStage {
        stage: &stage,
        table: &set.dest,
        columns: &set.columns,
    }))?;
    let id_list = Literal::new(format!(
        "{{{}}}",
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    ));
    let copy_out = render(&render::ShipCopyRows {
        table: &set.source,
        partitioned: set.partitioned,
        key: &set.key,
        columns: &set.columns,
        filter: set.filter.as_ref(),
        dest: &Literal::new(dest),
        ids: &id_list,
        json: &set.json,
    });
    let copy_in = render(&render::ShipCopyIn {
        stage: &stage,
        columns: &set.columns,
    });
    let mut reader = src.copy_out(copy_out.as_str())?;
    let mut writer = dst.copy_in(copy_in.as_str())?;
    let mut bytes = std::io::copy(&mut reader, &mut writer)? as i64;
    let copied = writer.finish()? as i64;
    drop(reader);
    let keys: i64 = src
        .query_one(
            "select coalesce(sum(json_array_length(e.old_rows)), 0)::int8 \
             from repsync.sync_err_rec e where e.dest = $1 and e.id = any ($2)",
            &[&dest, &ids],
        )?
        .get(0);
    if copied < keys {
        let gone_sql = render(&render::ShipGoneKeys {
            table: &set.source,
            partitioned: set.partitioned,
            key: &set.key,
            filter: set.filter.as_ref(),
            json: &set.json,
        });
        let gone: Option<String> = src.query_one(gone_sql.as_str(), &[&dest, &ids])?.get(0);
        if let Some(gone) = gone {
            let function = naming::apply_function(set_name)?;
            let call = render(&render::ShipApplyGone {
                function: &function,
            });
            dst.execute(call.as_str(), &[&gone])?;
            bytes += gone.len() as i64;
        }
    }
    let non_key = catalog::non_key_columns(&set.columns, &set.key);
    dst.execute(
        render(&render::UpsertRows {
            stage: Some(&stage),
            table: &set.dest,
            key: &set.key,
            columns: &set.columns,
            non_key: &non_key,
            json: &set.json,
        })
        .as_str(),
        &[],
    )?;
    Ok(bytes)
}
