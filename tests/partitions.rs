//! Partitioned tables: writes through the partitioned table and straight into its
//! partitions (at every level, the default one too) all reach the peer, whose
//! partitions may be laid out differently or who may hold a plain table; an update
//! through the partitioned table that moves a row to another partition arrives as
//! an update; partitions attached and detached later; verify and repair read the
//! rows in the partitions. A partition on its own is refused, and so is truncating
//! one partition; an inheritance parent replicates its own rows only.
mod common;

/// On a: range partitions, one of them partitioned again, and a default partition.
const RANGE_LAYOUT: &str =
    "create table p (id int, day int, v text, primary key (id, day)) partition by range (day);
    create table p_low partition of p for values from (0) to (10);
    create table p_mid partition of p for values from (10) to (20) partition by range (day);
    create table p_mid_a partition of p_mid for values from (10) to (20);
    create table p_other partition of p default";
/// On b: the same table hashed into two partitions.
const HASH_LAYOUT: &str =
    "create table p (id int, day int, v text, primary key (id, day)) partition by hash (id);
    create table p_h0 partition of p for values with (modulus 2, remainder 0);
    create table p_h1 partition of p for values with (modulus 2, remainder 1)";
const PLAIN_LAYOUT: &str = "create table p (id int, day int, v text, primary key (id, day))";

fn nodes_with(b_layout: &str, add_table: &[&str]) -> common::Nodes {
    let nodes = common::start_nodes(2);
    nodes.sql("a", RANGE_LAYOUT);
    nodes.sql("b", b_layout);
    nodes.repsync_ok(&["init"]);
    let mut args = vec!["add-table", "p", "--from", "a", "--to", "b"];
    args.extend_from_slice(add_table);
    nodes.repsync_ok(&args);
    nodes
}

/// Ships what a queued, then compares a and b row by row and with verify, which
/// must have read every row.
fn converged(nodes: &common::Nodes, async_mode: bool, rows: usize) {
    if async_mode {
        let out = nodes.repsync_ok(&["drain-errors"]);
        assert!(!out.contains("failed"), "{out}");
    }
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0",
        "entries left in a's queue: {}",
        nodes.sql(
            "a",
            "select string_agg(coalesce(last_error, '(none)'), '; ') from repsync.sync_err_rec"
        )
    );
    let a = nodes.dump("a", "p");
    assert_eq!(a.lines().count(), rows, "{a}");
    assert_eq!(a, nodes.dump("b", "p"));
    let out = nodes.repsync_ok(&["verify", "p"]);
    assert!(
        out.contains(&format!("{rows} rows on a, {rows} rows on b")) && out.contains("identical"),
        "{out}"
    );
}

fn writes_everywhere_arrive(b_layout: &str, mode: &str) {
    let async_mode = mode == "async";
    let nodes = nodes_with(b_layout, &["--mode", mode]);
    // Through the partitioned table, into every partition.
    nodes.sql(
        "a",
        "insert into p values (1, 1, 'low'), (2, 15, 'mid'), (3, 99, 'other')",
    );
    converged(&nodes, async_mode, 3);
    // Straight into a leaf, into the partition that is partitioned again, and into
    // the default partition.
    nodes.sql("a", "insert into p_low values (4, 2, 'leaf')");
    nodes.sql("a", "insert into p_mid values (5, 12, 'middle')");
    nodes.sql("a", "insert into p_other values (6, 50, 'default')");
    converged(&nodes, async_mode, 6);
    // An update through the partitioned table that moves a row to another
    // partition, one inside a partition, a delete through each.
    nodes.sql("a", "update p set day = 12, v = 'moved' where id = 1");
    nodes.sql("a", "update p_mid_a set v = 'changed' where id = 2");
    nodes.sql("a", "delete from p_other where id = 3");
    nodes.sql("a", "delete from p where id = 4");
    converged(&nodes, async_mode, 4);
    assert_eq!(
        nodes.sql(
            "b",
            "select string_agg(id || ':' || day || ':' || v, ' ' order by id) from p"
        ),
        "1:12:moved 2:15:changed 5:12:middle 6:50:default"
    );
    // Many rows at once, straight into a partition: the shipper's COPY transport.
    nodes.sql(
        "a",
        "insert into p_low select g, 3, 'bulk' from generate_series(100, 5099) g",
    );
    if async_mode {
        let shipper = nodes.start_shipper(&[]);
        nodes.wait_for("b", "select count(*) from p", "5004");
        shipper.terminate();
        assert!(
            nodes.shipper_log().contains("transport=\"copy\""),
            "{}",
            nodes.shipper_log()
        );
    }
    converged(&nodes, async_mode, 5004);

    // Truncating one partition alone cannot be replicated: refused, nothing changes.
    let err = nodes
        .node("a")
        .psql("postgres", "truncate p_low")
        .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("repsync: public.p_low is a partition of the replicated table \"public\".\"p\"; truncating it alone would not be replicated"),
        "{err}"
    );
    assert_eq!(nodes.sql("a", "select count(*) from p_low"), "5000");
    // Truncating the partitioned table truncates its partitions: replicated.
    nodes.sql("a", "truncate p");
    converged_empty(&nodes, async_mode);
}

fn converged_empty(nodes: &common::Nodes, async_mode: bool) {
    if async_mode {
        nodes.repsync_ok(&["drain-errors"]);
    }
    assert_eq!(nodes.sql("b", "select count(*) from p"), "0");
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );
}

#[test]
fn sync_partitions_to_hash_partitions() {
    writes_everywhere_arrive(HASH_LAYOUT, "sync");
}

#[test]
fn async_partitions_to_a_plain_table() {
    writes_everywhere_arrive(PLAIN_LAYOUT, "async");
}

#[test]
fn async_partitions_to_hash_partitions() {
    writes_everywhere_arrive(HASH_LAYOUT, "async");
}

#[test]
fn partitions_attached_and_detached_later() {
    let nodes = nodes_with(PLAIN_LAYOUT, &["--mode", "async"]);
    nodes.sql("a", "insert into p values (1, 1, 'low'), (2, 15, 'mid')");
    converged(&nodes, true, 2);
    // Attached later: a plain table, and one partitioned in turn; created later as a
    // partition. init ran as a superuser, so its event trigger gives them the
    // capture triggers at once: statements naming them are captured.
    nodes.sql(
        "a",
        "create table p_high (like p); alter table p_high add primary key (id, day);
         alter table p attach partition p_high for values from (100) to (200);
         create table p_top (id int, day int, v text, primary key (id, day)) partition by range (day);
         create table p_top_a partition of p_top for values from (200) to (300);
         alter table p attach partition p_top for values from (200) to (300);
         create table p_created partition of p for values from (300) to (400)",
    );
    nodes.sql("a", "alter table p detach partition p_other");
    nodes.sql("a", "insert into p_high values (3, 150, 'high')");
    nodes.sql("a", "insert into p_top_a values (4, 250, 'top')");
    nodes.sql("a", "insert into p_created values (5, 350, 'created')");
    converged(&nodes, true, 5);
    // status names what add-table has to do again: the detached table still has
    // triggers (which the capture ignores: it is no longer part of p).
    let (code, out, _) = nodes.repsync(&["status"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("node a: public.p: missing trigger repsync_capture_delete on public.p_other"),
        "{out}"
    );
    assert!(!out.contains("capture triggers on partition"), "{out}");
    nodes.sql("a", "insert into p_other values (6, 500, 'detached')");
    converged(&nodes, true, 5);
    nodes.repsync_ok(&[
        "add-table",
        "p",
        "--from",
        "a",
        "--to",
        "b",
        "--mode",
        "async",
    ]);
    let out = nodes.repsync_ok(&["status"]);
    assert!(out.contains("healthy"), "{out}");
    // The detached table lost repsync's triggers.
    nodes.sql("a", "insert into p_high values (7, 160, 'direct')");
    converged(&nodes, true, 6);
    assert_eq!(
        nodes.sql(
            "a",
            "select count(*) from pg_trigger where tgrelid = 'p_other'::regclass"
        ),
        "0"
    );
    // remove-table drops the triggers on every partition, uninstall the event trigger.
    nodes.repsync_ok(&["remove-table", "p", "--yes"]);
    assert_eq!(
        nodes.sql(
            "a",
            "select count(*) from pg_trigger where tgname like 'repsync%'"
        ),
        "0"
    );
    assert_eq!(nodes.sql("a", "select count(*) from pg_event_trigger"), "1");
    nodes.repsync_ok(&["uninstall", "--yes"]);
    assert_eq!(nodes.sql("a", "select count(*) from pg_event_trigger"), "0");
}

#[test]
fn verify_and_repair_read_the_partitions() {
    let nodes = nodes_with(HASH_LAYOUT, &["--mode", "async"]);
    nodes.sql(
        "a",
        "insert into p select g, g % 30, 'x' from generate_series(1, 300) g",
    );
    converged(&nodes, true, 300);
    // b drifts, in a partition: verify finds it, repair mends it.
    nodes.sql("b", "delete from p_h0 where id = (select min(id) from p_h0); update p_h1 set v = 'y' where id = (select min(id) from p_h1)");
    let (code, out, err) = nodes.repsync(&["verify", "p"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("300 rows on a, 299 rows on b") && out.contains("2 key(s) differ"),
        "{out}"
    );
    nodes.repsync_ok(&["repair", "p", "--from", "a", "--yes"]);
    converged(&nodes, true, 300);
}

#[test]
fn a_partition_on_its_own_is_refused() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, RANGE_LAYOUT);
    }
    nodes.repsync_ok(&["init"]);
    for partition in ["p_low", "p_mid_a"] {
        let (code, out, err) = nodes.repsync(&["add-table", partition]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains(&format!(
                "node a: table public.{partition} is a partition of public.p; replicate the partitioned table instead (repsync add-table public.p)"
            )),
            "{err}"
        );
    }
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.replicated_table"),
        "0"
    );
    assert_eq!(
        nodes.sql(
            "a",
            "select count(*) from pg_trigger where tgname like 'repsync%'"
        ),
        "0"
    );
}

/// An inheritance parent's rows are its own: a child is a table of its own, which
/// add-table replicates (or not) separately.
#[test]
fn an_inheritance_parent_replicates_its_own_rows() {
    let nodes = common::with_table(
        2,
        "create table parent (id int primary key, v text); create table child (extra int) inherits (parent)",
        &["parent", "--from", "a", "--to", "b"],
    );
    nodes.sql(
        "a",
        "insert into parent values (1, 'own'); insert into child values (2, 'child''s', 7)",
    );
    nodes.wait_for(
        "b",
        "select string_agg(id::text, ',') from only parent",
        "1",
    );
    assert_eq!(nodes.sql("b", "select count(*) from child"), "0");
    let out = nodes.repsync_ok(&["verify", "parent"]);
    assert!(
        out.contains("1 rows on a, 1 rows on b") && out.contains("identical"),
        "{out}"
    );
}
