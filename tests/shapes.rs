//! Shapes real schemas have (issue 13): foreign keys between replicated tables,
//! row-level security, unlogged tables, a table of 1,000 columns, and a table
//! whose only key is a unique index. Each in sync and in async mode; async mode
//! drains with `repsync drain-errors`, and with `repsync run` where the backlog is
//! large enough for its COPY transport.
mod common;

use common::Nodes;

/// Ships what a queued (async), then checks that a's queue is empty, that b holds
/// the same rows as a in each table, and that verify read `rows` rows on both and
/// found them identical.
fn converged(nodes: &Nodes, async_mode: bool, tables: &[(&str, usize)]) {
    if async_mode {
        nodes.repsync_ok(&["drain-errors"]);
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
    for (table, rows) in tables {
        let a = nodes.dump("a", table);
        assert_eq!(a.lines().count(), *rows, "{table} on a: {a}");
        assert_eq!(nodes.dump("b", table), a, "{table} differs");
        verified(nodes, table, *rows);
    }
}

/// `repsync verify TABLE` says identical, having read `rows` rows on a and on b.
fn verified(nodes: &Nodes, table: &str, rows: usize) {
    let out = nodes.repsync_ok(&["verify", table]);
    assert_eq!(
        out,
        format!("table public.{table}: {rows} rows on a, {rows} rows on b\nidentical on 2 nodes\n"),
    );
}

fn mode_args(async_mode: bool) -> [&'static str; 2] {
    ["--mode", if async_mode { "async" } else { "sync" }]
}

/// Adds each table one-way from a to b.
fn add_tables(nodes: &Nodes, tables: &[&str], async_mode: bool) {
    for table in tables {
        let mut args = vec!["add-table", table, "--from", "a", "--to", "b"];
        args.extend_from_slice(&mode_args(async_mode));
        nodes.repsync_ok(&args);
    }
}

const FOREIGN_KEYS: &str = "
    create table parent (id int primary key, v text);
    create table child (id int primary key, pid int not null references parent on delete cascade, v text);
    create table late_child (id int primary key, pid int not null references parent deferrable initially deferred, v text);
    create table deferred_child (id int primary key, pid int not null references parent deferrable initially immediate, v text)";

const FK_TABLES: [&str; 4] = ["parent", "child", "late_child", "deferred_child"];

fn foreign_keys(async_mode: bool) {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, FOREIGN_KEYS);
    }
    nodes.repsync_ok(&["init"]);
    add_tables(&nodes, &FK_TABLES, async_mode);

    // (a) Parent and children in one transaction.
    nodes.sql(
        "a",
        "insert into parent values (1, 'p1'), (2, 'p2');
         insert into child values (10, 1, 'c10'), (11, 1, 'c11'), (20, 2, 'c20')",
    );
    converged(&nodes, async_mode, &[("parent", 2), ("child", 3)]);

    // (b) Deleting a parent deletes its children on both nodes.
    nodes.sql("a", "delete from parent where id = 1");
    assert_eq!(nodes.dump("a", "child"), "(20,2,c20)");
    converged(&nodes, async_mode, &[("parent", 1), ("child", 1)]);

    // (c) A child before its parent, under a deferred foreign key: initially
    // deferred, and initially immediate but deferred by the transaction.
    nodes.sql(
        "a",
        "insert into late_child values (30, 3, 'c30');
         insert into parent values (3, 'p3')",
    );
    converged(&nodes, async_mode, &[("parent", 2), ("late_child", 1)]);
    nodes.sql(
        "a",
        "begin;
         set constraints all deferred;
         insert into deferred_child values (40, 4, 'c40');
         insert into parent values (4, 'p4');
         commit",
    );
    converged(
        &nodes,
        async_mode,
        &[("parent", 3), ("late_child", 1), ("deferred_child", 1)],
    );
    // And deleted the other way round: the child after its parent.
    nodes.sql(
        "a",
        "begin;
         set constraints all deferred;
         delete from parent where id in (3, 4);
         delete from late_child;
         delete from deferred_child;
         commit",
    );
    converged(
        &nodes,
        async_mode,
        &[
            ("parent", 1),
            ("child", 1),
            ("late_child", 0),
            ("deferred_child", 0),
        ],
    );
}

#[test]
fn foreign_keys_sync() {
    foreign_keys(false);
}

#[test]
fn foreign_keys_async() {
    foreign_keys(true);
}

/// Children before their parents in a backlog the shipper copies: the destination
/// transaction of the COPY transport defers the checks to its commit.
#[test]
fn deferred_foreign_keys_through_the_copy_transport() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, FOREIGN_KEYS);
    }
    nodes.repsync_ok(&["init"]);
    add_tables(&nodes, &FK_TABLES, true);
    nodes.sql(
        "a",
        "begin;
         set constraints all deferred;
         insert into late_child select g, g, 'late' from generate_series(1, 5000) g;
         insert into deferred_child select g, g, 'deferred' from generate_series(1, 5000) g;
         insert into parent select g, 'p' from generate_series(1, 5000) g;
         commit",
    );
    let (code, _, log) = nodes.repsync(&["run", "--once"]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("transport=\"copy\""), "{log}");
    assert!(!log.contains("direct transport failed"), "{log}");
    converged(
        &nodes,
        false,
        &[
            ("parent", 5000),
            ("late_child", 5000),
            ("deferred_child", 5000),
        ],
    );
}

const CASCADE: &str = "
    create table parent (id int primary key, v text);
    create table child (id int primary key, pid int references parent on update cascade, v text)";

/// (d) A parent's key changed under a foreign key that is not deferrable and
/// cascades the change to the children: the children's changes are captured
/// first (the cascade runs inside the parent's statement), and the peer cannot
/// apply them before the parent's. add-table warns; the peer refuses with the
/// foreign key's error, the changes stay queued; once the constraint on the
/// receiving node is deferrable they apply, and the nodes are identical.
fn key_update_cascades(async_mode: bool) {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, CASCADE);
    }
    nodes.repsync_ok(&["init"]);
    add_tables(&nodes, &["parent", "child"], async_mode);
    nodes.sql(
        "a",
        "insert into parent values (1, 'p1'), (5, 'p5');
         insert into child values (10, 1, 'c10'), (11, 1, 'c11'), (50, 5, 'c50')",
    );
    converged(&nodes, async_mode, &[("parent", 2), ("child", 3)]);

    nodes.sql("a", "update parent set id = 2 where id = 1");
    assert_eq!(
        nodes.dump("a", "child"),
        "(10,2,c10)\n(11,2,c11)\n(50,5,c50)"
    );
    let (code, out, err) = nodes.repsync(&["drain-errors"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("violates foreign key constraint \"child_pid_fkey\""),
        "{out}{err}"
    );
    // Nothing of it applied on b, nothing lost on a.
    assert_eq!(nodes.dump("b", "parent"), "(1,p1)\n(5,p5)");
    assert_eq!(
        nodes.dump("b", "child"),
        "(10,1,c10)\n(11,1,c11)\n(50,5,c50)"
    );
    assert_ne!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );
    nodes.sql(
        "b",
        "alter table child alter constraint child_pid_fkey deferrable",
    );
    converged(&nodes, true, &[("parent", 2), ("child", 3)]);
}

#[test]
fn key_update_cascades_sync() {
    key_update_cascades(false);
}

#[test]
fn key_update_cascades_async() {
    key_update_cascades(true);
}
