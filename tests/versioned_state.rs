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
