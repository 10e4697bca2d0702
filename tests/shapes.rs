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

/// Async: a batch limit that falls between a child and its parent (one
/// transaction, deferred key) fails that batch, the child's entry stays queued
/// with the error; a batch that holds both applies them.
#[test]
fn a_batch_limit_between_child_and_parent_fails_until_a_batch_holds_both() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, FOREIGN_KEYS);
    }
    nodes.repsync_ok(&["init"]);
    add_tables(&nodes, &FK_TABLES, true);
    nodes.sql(
        "a",
        "insert into late_child values (1, 1, 'c1');
         insert into parent values (1, 'p1')",
    );
    let (code, out, err) = nodes.repsync(&["drain-errors", "--limit", "1"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.starts_with(
            "node a -> b: stopped: insert or update on table \"late_child\" violates foreign key constraint \"late_child_pid_fkey\""
        ),
        "{err}"
    );
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "2"
    );
    assert_eq!(nodes.dump("b", "late_child"), "");
    converged(&nodes, true, &[("parent", 1), ("late_child", 1)]);
}

/// repair's transactions defer deferrable constraints too: b's row that a no longer
/// has is still referenced on b until the repair's upsert changes the reference.
#[test]
fn repair_checks_deferrable_constraints_at_its_commit() {
    let nodes = common::with_table(
        2,
        "create table tree (id int primary key, parent int references tree deferrable, v text)",
        &["tree", "--from", "a", "--to", "b"],
    );
    nodes.sql(
        "a",
        "insert into tree values (1, null, 'root'), (2, 1, 'leaf')",
    );
    // A change on a that b does not get.
    nodes.sql(
        "a",
        "set repsync.origin = 'test'; update tree set parent = null where id = 2; delete from tree where id = 1",
    );
    let (code, out, _) = nodes.repsync(&["verify", "tree"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("2 key(s) differ"), "{out}");
    let out = nodes.repsync_ok(&["repair", "tree", "--from", "a", "--yes"]);
    assert!(out.ends_with("identical on 2 nodes\n"), "{out}");
    assert_eq!(nodes.dump("b", "tree"), "(2,,leaf)");
    verified(&nodes, "tree", 1);
}

const CASCADE: &str = "
    create table parent (id int primary key, v text);
    create table child (id int primary key, pid int references parent on update cascade, v text);
    create table other_parent (id int primary key, v text);
    create table other_child (id int primary key, pid int references other_parent on update cascade on delete cascade, v text)";

/// (d) A parent's key changed under a foreign key that cascades the change to the
/// children. The parent's change is captured first, the children's after it (the
/// cascade runs at the end of the parent's statement), and the peer applies the
/// parent's as a delete of the old key and an insert of the new one. With on
/// delete cascade that works (the children deleted there come back with their own
/// changes). With on delete no action, not deferrable, the peer refuses the
/// delete: add-table warns, the changes stay queued with the foreign key's error,
/// nothing is lost; once the constraint on the receiving node is deferrable they
/// apply (the apply transaction defers it to its commit) and the nodes are
/// identical.
fn key_update_cascades(async_mode: bool) {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, CASCADE);
    }
    nodes.repsync_ok(&["init"]);
    add_tables(
        &nodes,
        &["parent", "other_parent", "other_child"],
        async_mode,
    );
    let (code, out, err) = nodes.repsync(&[
        "add-table",
        "child",
        "--from",
        "a",
        "--to",
        "b",
        "--mode",
        if async_mode { "async" } else { "sync" },
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        err,
        "warning: node b: foreign key child_pid_fkey of public.child follows key changes of public.parent \
         (on update cascade) but is not deferrable: a change of a key of public.parent reaches node b as a \
         delete of the old key and an insert of the new one, before the changes of the rows that refer to it, \
         so the peer refuses it and it stays queued. Make it deferrable on node b: \
         alter table \"public\".\"child\" alter constraint \"child_pid_fkey\" deferrable\n"
    );
    nodes.sql(
        "a",
        "insert into parent values (1, 'p1'), (5, 'p5');
         insert into child values (10, 1, 'c10'), (11, 1, 'c11'), (50, 5, 'c50');
         insert into other_parent values (1, 'o1');
         insert into other_child values (10, 1, 'oc10'), (11, 1, 'oc11')",
    );
    converged(
        &nodes,
        async_mode,
        &[
            ("parent", 2),
            ("child", 3),
            ("other_parent", 1),
            ("other_child", 2),
        ],
    );

    // On delete cascade: b deletes the children with the old key, their own
    // changes bring them back.
    nodes.sql("a", "update other_parent set id = 2 where id = 1");
    converged(
        &nodes,
        async_mode,
        &[("other_parent", 1), ("other_child", 2)],
    );
    assert_eq!(nodes.dump("b", "other_child"), "(10,2,oc10)\n(11,2,oc11)");

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

/// A non-superuser replication role `repl` on clusters that require passwords, as
/// in tests/least_privilege.rs, with the grants `init --print-grants --table
/// public.doc` prints. `doc` belongs to `app`; `w` writes it.
struct Restricted {
    nodes: Nodes,
    config: std::path::PathBuf,
}

const PASSWORD: &str = "repl password";
const DOC: &str = "create role app; create role w;
    create table doc (id int primary key, owner text not null, v text);
    alter table doc owner to app;
    grant select, insert, update, delete on doc to w;
    create role repl login password 'repl password'";
/// Row-level security that shows a role only the rows it owns; anyone may write
/// rows for others, which they then do not see.
const POLICY: &str = "alter table doc enable row level security;
    alter table doc force row level security;
    create policy own on doc using (owner = current_user) with check (true)";

impl Restricted {
    fn new(extra: &str) -> Restricted {
        let nodes = common::start_nodes(2);
        for c in &nodes.clusters {
            nodes.sql(c.name(), DOC);
            if !extra.is_empty() {
                nodes.sql(c.name(), extra);
            }
            c.set_hba(
                "local all postgres trust\nhost all postgres 127.0.0.1/32 trust\n\
                 local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n",
            )
            .unwrap();
        }
        let mut config = String::new();
        for c in &nodes.clusters {
            let dsn = toml::Value::String(format!(
                "{} user=repl",
                c.dsn().replace(" user=postgres", "")
            ));
            config.push_str(&format!("[nodes.{}]\ndsn = {dsn}\n\n", c.name()));
        }
        let path = nodes.dir.path().join("repl.toml");
        std::fs::write(&path, config).unwrap();
        let r = Restricted {
            nodes,
            config: path,
        };
        // The reload has taken effect once a connection without password fails.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_repsync"))
                .arg("--config")
                .arg(&r.config)
                .arg("status")
                .env_remove("PGPASSWORD")
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            if out.status.code() != Some(0) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "scram-sha-256 never required"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let grants = r.ok(&["init", "--print-grants", "--table", "public.doc"]);
        for (c, block) in r.nodes.clusters.iter().zip(grants.split("\n\n")) {
            assert!(
                block.contains(&format!("-- Node {}:", c.name())),
                "{grants}"
            );
            r.nodes.sql(c.name(), block);
        }
        r.ok(&["init"]);
        r
    }

    /// repsync as `repl`: exit code, stdout, stderr.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_repsync"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("PGPASSWORD", PASSWORD)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "repsync {args:?} as repl:\n{out}{err}");
        out
    }

    fn sql(&self, node: &str, sql: &str) -> String {
        self.nodes.sql(node, sql)
    }
}

/// Nothing of add-table on either node: no catalog row, no trigger, no function.
fn nothing_installed(nodes: &Nodes, table: &str) {
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(
                n,
                &format!(
                    "select (select count(*) from repsync.replicated_table) || ' '
                         || (select count(*) from pg_trigger where tgrelid = '{table}'::regclass and not tgisinternal) || ' '
                         || (select count(*) from pg_proc where pronamespace = 'repsync'::regnamespace
                              and (proname like 'capture\\_t\\_%' or proname like 'apply\\_t\\_%' or proname like 'current\\_t\\_%'))"
                ),
            ),
            "0 0 0",
            "node {n}"
        );
    }
}

/// The role repsync connects as is subject to row-level security: add-table
/// refuses, naming the role and what to do, and installs nothing. A member of the
/// owner's role is subject only under FORCE ROW LEVEL SECURITY; without FORCE the
/// owner is exempt, and every row replicates, those the writer cannot see too.
#[test]
fn row_level_security_is_refused_for_a_role_it_applies_to() {
    let r = Restricted::new(POLICY);
    let (code, out, err) = r.run(&["add-table", "doc", "--from", "a", "--to", "b"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err,
        "error: node a: row-level security is enabled on public.doc and applies to role repl \
         (not a superuser, no BYPASSRLS, not the table's owner); repsync must read and write every row, \
         and the policies would hide some from it. Give the role BYPASSRLS (as a superuser: \
         alter role \"repl\" bypassrls) or connect as a superuser, then run add-table again\n"
    );
    nothing_installed(&r.nodes, "doc");
    // The owner's role, under FORCE.
    for n in ["a", "b"] {
        r.sql(n, "grant app to repl");
    }
    let (code, out, err) = r.run(&[
        "add-table",
        "doc",
        "--from",
        "a",
        "--to",
        "b",
        "--mode",
        "async",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err,
        "error: node a: row-level security is enabled on public.doc and applies to role repl \
         (it owns the table, but FORCE ROW LEVEL SECURITY applies the policies to the owner too); \
         repsync must read and write every row, and the policies would hide some from it. Give the role \
         BYPASSRLS (as a superuser: alter role \"repl\" bypassrls) or connect as a superuser, then run \
         add-table again\n"
    );
    nothing_installed(&r.nodes, "doc");
    // Only on b: the receiving node is checked too.
    r.sql("a", "alter table doc no force row level security");
    let (code, out, err) = r.run(&[
        "add-table",
        "doc",
        "--from",
        "a",
        "--to",
        "b",
        "--mode",
        "async",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.starts_with("error: node b: row-level security is enabled on public.doc and applies to role repl (it owns the table"), "{err}");
    nothing_installed(&r.nodes, "doc");
    r.sql("b", "alter table doc no force row level security");
    r.ok(&[
        "add-table",
        "doc",
        "--from",
        "a",
        "--to",
        "b",
        "--mode",
        "async",
    ]);
    r.sql(
        "a",
        "set role w; insert into doc values (1, 'w', 'mine'), (2, 'x', 'theirs'), (3, 'x', 'theirs');
         update doc set v = v || '!'",
    );
    assert_eq!(r.sql("a", "set role w; select count(*) from doc"), "SET\n1");
    r.ok(&["drain-errors"]);
    assert_eq!(
        r.nodes.dump("b", "doc"),
        "(1,w,mine!)\n(2,x,theirs)\n(3,x,theirs)"
    );
    converged(&r.nodes, false, &[("doc", 3)]);
}

/// Replicating as a superuser, every row arrives, those the policy hides from
/// the writer too; verify and repair see them all.
fn row_level_security_as_superuser(async_mode: bool) {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, DOC);
        nodes.sql(n, POLICY);
    }
    nodes.repsync_ok(&["init"]);
    add_tables(&nodes, &["doc"], async_mode);
    nodes.sql(
        "a",
        "set role w; insert into doc values (1, 'w', 'mine'), (2, 'x', 'theirs'), (3, 'x', 'theirs');
         update doc set v = v || '!'",
    );
    nodes.sql("a", "set role w; delete from doc where id in (1, 2)");
    assert_eq!(
        nodes.sql("a", "set role w; select count(*) from doc"),
        "SET\n0"
    );
    converged(&nodes, async_mode, &[("doc", 2)]);
    assert_eq!(nodes.dump("b", "doc"), "(2,x,theirs)\n(3,x,theirs)");
    // A hidden row changed on b alone: verify sees it, repair mends it.
    nodes.sql(
        "b",
        "set repsync.origin = 'test'; update doc set v = 'drift' where id = 3",
    );
    let (code, out, _) = nodes.repsync(&["verify", "doc"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 key(s) differ"), "{out}");
    nodes.repsync_ok(&["repair", "doc", "--from", "a", "--yes"]);
    converged(&nodes, false, &[("doc", 2)]);
}

#[test]
fn row_level_security_as_superuser_sync() {
    row_level_security_as_superuser(false);
}

#[test]
fn row_level_security_as_superuser_async() {
    row_level_security_as_superuser(true);
}

/// Row-level security enabled after add-table on a role it applies to: shipping,
/// verify and repair fail with PostgreSQL's error instead of reading fewer rows
/// (before, the rows the policy hid were taken as deleted and deleted on the
/// peer, and verify compared what the role could see). With BYPASSRLS, the queue
/// drains and nothing was lost.
#[test]
fn row_level_security_added_later_fails_instead_of_deleting_async() {
    let r = Restricted::new("");
    r.ok(&[
        "add-table",
        "doc",
        "--from",
        "a",
        "--to",
        "b",
        "--mode",
        "async",
    ]);
    r.sql(
        "a",
        "insert into doc values (1, 'w', 'one'), (2, 'x', 'two');
         insert into doc select g, 'x', 'bulk' from generate_series(101, 5100) g",
    );
    r.ok(&["drain-errors"]);
    for n in ["a", "b"] {
        r.sql(n, POLICY);
    }
    r.sql(
        "a",
        "set role w; insert into doc values (3, 'x', 'three'); update doc set v = 'one!'",
    );
    r.sql("a", "update doc set v = 'two!' where id = 2");
    // Enough keys for the shipper's COPY transport.
    r.sql("a", "update doc set v = 'bulk!' where id > 100");
    let peer = "select count(*) || ' ' || string_agg(v, ',' order by id) filter (where id < 100)
                       || ' ' || count(*) filter (where v = 'bulk') from doc";
    let before = "5002 one,two 5000";
    let (code, out, err) = r.run(&["drain-errors"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("node a -> b: stopped: query would be affected by row-level security policy for table \"doc\""),
        "{out}{err}"
    );
    assert_eq!(r.sql("b", peer), before);
    assert_eq!(r.sql("a", "select count(*) from repsync.sync_err_rec"), "4");
    let (code, _, log) = r.run(&["run", "--once"]);
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains("direct transport failed")
            && log.contains("query would be affected by row-level security policy for table"),
        "{log}"
    );
    assert_eq!(r.sql("b", peer), before);
    let (code, out, err) = r.run(&["verify", "doc"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("node a: reading public.doc") && err.contains("row-level security"),
        "{out}{err}"
    );
    let (code, out, err) = r.run(&["repair", "doc", "--from", "a", "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("row-level security"), "{out}{err}");
    assert_eq!(r.sql("b", peer), before);
    assert_eq!(r.sql("a", "select count(*) from repsync.sync_err_rec"), "4");
    for n in ["a", "b"] {
        r.sql(n, "alter role repl bypassrls");
    }
    let (code, _, log) = r.run(&["run", "--once"]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("transport=\"copy\""), "{log}");
    assert!(!log.contains("direct transport failed"), "{log}");
    assert_eq!(r.sql("b", peer), "5003 one!,two!,three 0");
    let out = r.ok(&["verify", "doc"]);
    assert!(out.contains("5003 rows on a, 5003 rows on b"), "{out}");
    converged(&r.nodes, false, &[("doc", 5003)]);
}

/// The same in sync mode, on the receiving node: the peer's delete of a row the
/// policy hides from the applying role fails, and the change is queued, where it
/// used to delete nothing and be taken as applied.
#[test]
fn row_level_security_added_later_fails_instead_of_deleting_sync() {
    let r = Restricted::new("");
    r.ok(&["add-table", "doc", "--from", "a", "--to", "b"]);
    r.sql(
        "a",
        "insert into doc values (1, 'w', 'one'), (2, 'x', 'two')",
    );
    assert_eq!(r.nodes.dump("b", "doc"), "(1,w,one)\n(2,x,two)");
    r.sql("b", POLICY);
    r.sql("a", "delete from doc where id = 2");
    assert_eq!(r.nodes.dump("b", "doc"), "(1,w,one)\n(2,x,two)");
    let error = r.sql(
        "a",
        "select string_agg(last_error, '; ') from repsync.sync_err_rec",
    );
    assert_eq!(
        error,
        "query would be affected by row-level security policy for table \"doc\""
    );
    r.sql("b", "alter role repl bypassrls");
    r.ok(&["drain-errors"]);
    converged(&r.nodes, false, &[("doc", 1)]);
}

fn unlogged(async_mode: bool) {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, "create unlogged table u (id int primary key, v text)");
    }
    nodes.repsync_ok(&["init"]);
    add_tables(&nodes, &["u"], async_mode);
    nodes.sql(
        "a",
        "insert into u select g, 'v' || g from generate_series(1, 100) g",
    );
    nodes.sql("a", "update u set v = 'changed' where id % 3 = 0");
    nodes.sql("a", "update u set id = id + 1000 where id % 5 = 0");
    nodes.sql("a", "delete from u where id % 7 = 0");
    converged(&nodes, async_mode, &[("u", 85)]);
    assert_eq!(
        nodes.sql(
            "b",
            "select relpersistence from pg_class where relname = 'u'"
        ),
        "u"
    );
}

#[test]
fn unlogged_tables_replicate_sync() {
    unlogged(false);
}

#[test]
fn unlogged_tables_replicate_async() {
    unlogged(true);
}

/// `create table wide (id int primary key, c1 int, c2 text, ... c999 text)`, and
/// the values of row g: c_k = g + k for int columns, 'v' || g || '.' || k for text.
fn wide_table() -> (String, String) {
    let mut create = String::from("create table wide (id int primary key");
    let mut values = String::from("select g");
    for k in 1..1000 {
        if k % 2 == 1 {
            create.push_str(&format!(", c{k} int"));
            values.push_str(&format!(", g + {k}"));
        } else {
            create.push_str(&format!(", c{k} text"));
            values.push_str(&format!(", 'v' || g || '.{k}'"));
        }
    }
    create.push(')');
    (create, values)
}

fn thousand_columns(async_mode: bool) {
    let (create, values) = wide_table();
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, &create);
    }
    nodes.repsync_ok(&["init"]);
    add_tables(&nodes, &["wide"], async_mode);
    nodes.sql(
        "a",
        &format!("insert into wide {values} from generate_series(1, 20) g"),
    );
    nodes.sql(
        "a",
        "update wide set c1 = -1, c500 = 'middle', c998 = null where id % 2 = 0",
    );
    nodes.sql("a", "update wide set id = id + 100 where id = 3");
    nodes.sql("a", "delete from wide where id = 4");
    converged(&nodes, async_mode, &[("wide", 19)]);
    assert_eq!(
        nodes.sql(
            "b",
            "select c1 || c500 || coalesce(c998, 'null') from wide where id = 2"
        ),
        "-1middlenull"
    );
    // One changed column of one row on b alone: verify names the key, repair mends it.
    nodes.sql(
        "b",
        "set repsync.origin = 'test'; update wide set c777 = 0 where id = 103",
    );
    let (code, out, _) = nodes.repsync(&["verify", "wide"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(
            "table public.wide: 19 rows on a, 19 rows on b\n1 key(s) differ:\n  key (103): "
        ),
        "{out}"
    );
    let out = nodes.repsync_ok(&["repair", "wide", "--from", "a", "--yes"]);
    assert!(out.ends_with("identical on 2 nodes\n"), "{out}");
    converged(&nodes, false, &[("wide", 19)]);
}

#[test]
fn a_thousand_columns_replicate_sync() {
    thousand_columns(false);
}

#[test]
fn a_thousand_columns_replicate_async() {
    thousand_columns(true);
}

/// A table whose only key is a unique index is refused: the message says why a
/// unique index is not enough and how to promote it, naming the index (or the
/// unique constraint) from the catalog, quoted. Nothing is installed; after the
/// promotion the table replicates.
#[test]
fn a_unique_index_is_not_a_primary_key() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "create table uq (id int, v text);
             create unique index \"uq Id\" on uq (id);
             create table uc (id int, code text, v text, constraint uc_key unique (id, code))",
        );
    }
    nodes.repsync_ok(&["init"]);
    for mode in ["sync", "async"] {
        let (code, out, err) = nodes.repsync(&["add-table", "uq", "--mode", mode]);
        assert_eq!(code, 2, "{out}{err}");
        assert_eq!(
            err,
            "error: node a: table public.uq has no primary key, only the unique index uq Id; repsync finds \
             rows on the peers by their key, and a unique index is not enough: its columns may be null, and \
             rows with a null there are not unique. Promote it (alter table \"public\".\"uq\" add primary key \
             using index \"uq Id\"; this fails while one of its columns holds a null) and run add-table again\n"
        );
        let (code, out, err) = nodes.repsync(&["add-table", "uc", "--mode", mode]);
        assert_eq!(code, 2, "{out}{err}");
        assert_eq!(
            err,
            "error: node a: table public.uc has no primary key, only the unique constraint uc_key; repsync \
             finds rows on the peers by their key, and a unique index is not enough: its columns may be null, \
             and rows with a null there are not unique. Promote it (alter table \"public\".\"uc\" drop \
             constraint \"uc_key\", add primary key (\"id\", \"code\"); this fails while one of its columns \
             holds a null) and run add-table again\n"
        );
        nothing_installed(&nodes, "uq");
        nothing_installed(&nodes, "uc");
    }
    // The statements the messages give work, and then so does add-table.
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "alter table \"public\".\"uq\" add primary key using index \"uq Id\";
             alter table \"public\".\"uc\" drop constraint \"uc_key\", add primary key (\"id\", \"code\")",
        );
    }
    add_tables(&nodes, &["uq"], false);
    add_tables(&nodes, &["uc"], true);
    nodes.sql(
        "a",
        "insert into uq values (1, 'one'), (2, 'two'); insert into uc values (1, 'x', 'one')",
    );
    converged(&nodes, true, &[("uq", 2), ("uc", 1)]);
}
