//! The version records of a table that several nodes write stay true to the rows:
//! repair copies them with the rows, and a TRUNCATE, which cannot be ordered against
//! the other nodes' concurrent changes, is refused.
mod common;

const TABLE: &str = "create table t (id int primary key, v text)";

/// The one versions table (a single replicated table).
fn versions_table(nodes: &common::Nodes) -> String {
    nodes.sql(
        "a",
        "select c.relname from pg_class c where c.relnamespace = 'repsync'::regnamespace and c.relname like 'versions\\_%' and c.relkind = 'r'",
    )
}

#[test]
fn repair_leaves_versions_that_match_the_repaired_rows() {
    let nodes = common::with_table(2, TABLE, &["t", "--mode", "async"]);
    let table = versions_table(&nodes);
    let versions = |node: &str| {
        nodes.sql(
            node,
            &format!(
                "select string_agg(format('%s %s %s %s', v.id, v.repsync_at, v.repsync_origin, v.repsync_deleted), E'\\n' order by v.id)
                   from repsync.{table} v"
            ),
        )
    };
    nodes.sql(
        "a",
        "insert into t select g, 'a' from generate_series(1, 20) g",
    );
    nodes.repsync_ok(&["drain-errors"]);
    nodes.sql(
        "a",
        "update t set v = 'newer on a' where id = 1; delete from t where id = 2",
    );
    nodes.repsync_ok(&["drain-errors"]);
    assert_eq!(versions("a"), versions("b"));
    // On b, a change that is not shipped (still queued for a), and rows changed
    // behind repsync's back (a replication session captures nothing).
    nodes.sql("b", "update t set v = 'b, queued' where id = 1");
    nodes.sql(
        "b",
        "begin; set local repsync.origin = 'somewhere'; insert into t values (2, 'resurrected'); delete from t where id = 3; commit",
    );
    assert_ne!(versions("a"), versions("b"));
    let (code, out, _) = nodes.repsync(&["verify", "t"]);
    assert_eq!(code, 1, "{out}");
    nodes.repsync_ok(&["repair", "t", "--from", "a", "--yes"]);
    assert_eq!(nodes.dump("a", "t"), nodes.dump("b", "t"));
    // Versions of the repaired keys are a's now, tombstone of key 2 included.
    assert_eq!(versions("a"), versions("b"));
    assert!(versions("b").contains("2 "), "{}", versions("b"));
    // b's queued change is judged against a's version: it is b's row as it is
    // now (a's), with a's version, so a keeps what it has and logs no conflict.
    nodes.repsync_ok(&["drain-errors"]);
    assert_eq!(nodes.dump("a", "t"), nodes.dump("b", "t"));
    assert_eq!(nodes.sql("a", "select v from t where id = 1"), "newer on a");
    assert_eq!(nodes.sql("a", "select count(*) from repsync.conflict"), "0");
    let out = nodes.repsync_ok(&["verify", "t"]);
    assert!(
        out.contains("19 rows on a, 19 rows on b") && out.contains("identical"),
        "{out}"
    );
}

#[test]
fn truncate_of_a_table_several_nodes_write_is_refused() {
    for mode in ["sync", "async"] {
        let nodes = common::with_table(2, TABLE, &["t", "--mode", mode]);
        nodes.sql("a", "insert into t values (1, 'a'), (2, 'a')");
        if mode == "async" {
            nodes.repsync_ok(&["drain-errors"]);
        }
        let err = format!(
            "{:#}",
            nodes.node("b").psql("postgres", "truncate t").unwrap_err()
        );
        assert!(
            err.contains("repsync: \"public\".\"t\" is written on several nodes; TRUNCATE on it is not replicated")
                && err.contains("delete its rows instead"),
            "{mode}: {err}"
        );
        assert_eq!(nodes.sql("b", "select count(*) from t"), "2", "{mode}");
        // What it points to instead: a delete, versioned like any change.
        nodes.sql("b", "delete from t");
        if mode == "async" {
            nodes.repsync_ok(&["drain-errors"]);
        }
        assert_eq!(nodes.sql("a", "select count(*) from t"), "0", "{mode}");
    }
}

fn count(nodes: &common::Nodes, node: &str, sql: &str) -> i64 {
    nodes.sql(node, sql).parse().unwrap()
}

/// The horizon: a tombstone stays while any node still holds the key's row, an older
/// version of it, or a queued change of it; once all have settled it, it goes.
#[test]
fn a_tombstone_outlives_every_older_change_still_on_its_way() {
    let nodes = common::with_table(3, TABLE, &["t", "--mode", "async"]);
    let table = versions_table(&nodes);
    let tombstones = |node: &str| {
        count(
            &nodes,
            node,
            &format!("select count(*) from repsync.{table} where repsync_deleted"),
        )
    };
    nodes.sql(
        "a",
        "insert into t select g, 'a' from generate_series(1, 10) g",
    );
    nodes.repsync_ok(&["drain-errors"]);
    // c changes key 7, a deletes it a moment later; a's delete reaches b only, c's
    // update reaches nobody yet.
    nodes.sql("c", "update t set v = 'c' where id = 7");
    nodes.sql("a", "delete from t where id = 7");
    nodes.repsync_ok(&["drain-errors", "--node", "a", "--to", "b"]);
    assert_eq!(
        (tombstones("a"), tombstones("b"), tombstones("c")),
        (1, 1, 0)
    );
    let out = nodes.repsync_ok(&["purge-tombstones"]);
    assert!(
        out.contains("table public.t: 0 on a, 0 on b, 0 on c tombstone(s) purged"),
        "{out}"
    );
    assert_eq!((tombstones("a"), tombstones("b")), (1, 1));
    // Everything arrives: the tombstone, still there, keeps c's older update from
    // bringing the row back on a and b; c takes the delete.
    nodes.repsync_ok(&["drain-errors"]);
    for n in ["a", "b", "c"] {
        assert_eq!(
            nodes.sql(n, "select count(*) from t where id = 7"),
            "0",
            "node {n}"
        );
        assert_eq!(tombstones(n), 1, "node {n}");
    }
    let out = nodes.repsync_ok(&["purge-tombstones", "t"]);
    assert!(out.contains("table public.t: 1 on a, 1 on b, 1 on c tombstone(s) purged; left: 0 on a, 0 on b, 0 on c"), "{out}");
    let out = nodes.repsync_ok(&["verify", "t"]);
    assert!(
        out.contains("9 rows on a, 9 rows on b, 9 rows on c") && out.contains("identical"),
        "{out}"
    );
}

/// Deleting many rows leaves as many tombstones; the purge takes the versions table
/// back to the live keys while another node keeps writing, and the nodes converge.
#[test]
fn the_versions_table_shrinks_back_after_a_mass_delete() {
    let rows: i64 = std::env::var("REPSYNC_PURGE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let nodes = common::with_table(2, TABLE, &["t", "--mode", "async"]);
    let table = versions_table(&nodes);
    let versions = |node: &str| {
        count(
            &nodes,
            node,
            &format!("select count(*) from repsync.{table}"),
        )
    };
    nodes.sql(
        "a",
        &format!("insert into t select g, 'a' from generate_series(1, {rows}) g"),
    );
    nodes.repsync_ok(&["drain-errors", "--limit", "100000"]);
    nodes.sql("a", &format!("delete from t where id <= {rows}"));
    // Not shipped yet: b still has the rows, nothing can go.
    let out = nodes.repsync_ok(&["purge-tombstones"]);
    assert!(out.contains("0 on a, 0 on b tombstone(s) purged"), "{out}");
    nodes.repsync_ok(&["drain-errors", "--limit", "100000"]);
    assert_eq!((versions("a"), versions("b")), (rows, rows));
    let size = |node: &str| {
        nodes.sql(
            node,
            &format!("select pg_size_pretty(pg_total_relation_size('repsync.{table}'))"),
        )
    };
    eprintln!("versions table with {rows} tombstones: {} on a", size("a"));
    // b writes new keys and deletes some while the purge runs.
    let writer = {
        let dsn = nodes.node("b").dsn();
        std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&dsn, postgres::NoTls).unwrap();
            for i in 0..200 {
                let id = rows + 1 + i;
                client
                    .execute("insert into t values ($1, 'b')", &[&(id as i32)])
                    .unwrap();
                if i % 4 == 0 {
                    client
                        .execute("delete from t where id = $1", &[&(id as i32)])
                        .unwrap();
                }
            }
        })
    };
    let started = std::time::Instant::now();
    let out = nodes.repsync_ok(&["purge-tombstones", "t", "--batch", "5000"]);
    // For the record (REPSYNC_PURGE_ROWS=1000000 measures the million).
    eprintln!(
        "purge of {rows} tombstones on 2 nodes: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    writer.join().unwrap();
    assert!(
        out.contains(&format!("{rows} on a, {rows} on b tombstone(s) purged")),
        "{out}"
    );
    nodes.repsync_ok(&["drain-errors", "--limit", "100000"]);
    let out = nodes.repsync_ok(&["verify", "t"]);
    assert!(
        out.contains("150 rows on a, 150 rows on b") && out.contains("identical"),
        "{out}"
    );
    // What is left: the 150 live keys and the 50 tombstones of b's own deletes.
    assert_eq!((versions("a"), versions("b")), (200, 200));
    let out = nodes.repsync_ok(&["purge-tombstones", "t"]);
    assert!(
        out.contains("50 on a, 50 on b tombstone(s) purged"),
        "{out}"
    );
    assert_eq!((versions("a"), versions("b")), (150, 150));
    nodes.sql("a", &format!("vacuum full repsync.{table}"));
    eprintln!("after the purge and vacuum full: {} on a", size("a"));
}

#[test]
fn run_purges_tombstones_by_itself() {
    let nodes = common::with_table(2, TABLE, &["t", "--mode", "async"]);
    let table = versions_table(&nodes);
    nodes.sql(
        "a",
        "insert into t select g, 'a' from generate_series(1, 100) g",
    );
    nodes.repsync_ok(&["drain-errors"]);
    nodes.sql("b", "delete from t where id > 50");
    nodes.sql("a", "delete from t where id <= 50");
    let shipper = nodes.start_shipper(&["--purge-tombstones-every", "1s"]);
    let tombstones = format!("select count(*) from repsync.{table} where repsync_deleted");
    for n in ["a", "b"] {
        nodes.wait_for(n, "select count(*) from t", "0");
        nodes.wait_for(n, &tombstones, "0");
        nodes.wait_for(n, &format!("select count(*) from repsync.{table}"), "0");
    }
    shipper.terminate();
    let log = nodes.shipper_log();
    assert!(log.contains("tombstones purged"), "{log}");
    assert!(!log.contains("cannot purge"), "{log}");
}
