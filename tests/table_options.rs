//! add-table's options on real servers: a column subset, a row filter, a renamed
//! target, the checks that refuse a table, and re-running add-table.
mod common;

/// Number of repsync triggers on any table of the node.
fn repsync_triggers(nodes: &common::Nodes, node: &str) -> i64 {
    nodes
        .sql(
            node,
            r"select count(*) from pg_trigger where tgname like 'repsync\_%'",
        )
        .parse()
        .unwrap()
}

/// The oids and definitions of everything add-table installed on a node, to tell
/// whether a re-run touched them.
fn installed(nodes: &common::Nodes, node: &str) -> String {
    nodes.sql(
        node,
        r"select coalesce(string_agg(x, E'\n' order by x), '') from (
            select format('trigger %s %s %s', oid, tgname, pg_get_triggerdef(oid)) as x
              from pg_trigger where tgname like 'repsync\_%'
            union all
            select format('proc %s %s %s', p.oid, p.proname, md5(pg_get_functiondef(p.oid)))
              from pg_proc p join pg_namespace n on n.oid = p.pronamespace
             where n.nspname = 'repsync' and p.proname ~ '^(capture|apply)_t_[0-9a-f]{20}$'
            union all
            select format('table %s %s %s %s', set_name, is_sender, is_receiver, options) from repsync.replicated_table
          ) s",
    )
}

fn assert_refused(nodes: &common::Nodes, args: &[&str], wanted: &[&str]) -> String {
    let (code, stdout, stderr) = nodes.repsync(args);
    assert_eq!(
        code, 2,
        "repsync {args:?} must exit 2\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    for w in wanted {
        assert!(
            stderr.contains(w),
            "repsync {args:?}: {w:?} not in the message:\n{stderr}"
        );
    }
    stderr
}

#[test]
fn column_subset() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "create table t (id int primary key, a text, secret text)",
        );
    }
    // b's copy of u has no secret column at all: a subset needs only its columns there.
    nodes.sql(
        "a",
        "create table u (id int primary key, a text, secret text)",
    );
    nodes.sql("b", "create table u (a text, id int primary key)");
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&[
        "add-table",
        "t",
        "--columns",
        "id,a",
        "--from",
        "a",
        "--to",
        "b",
    ]);
    // Column order in --columns does not matter, nor quoting.
    nodes.repsync_ok(&[
        "add-table",
        "u",
        "--columns",
        r#"a,"id""#,
        "--from",
        "a",
        "--to",
        "b",
    ]);

    nodes.sql(
        "a",
        "insert into t values (1, 'one', 's1'), (2, 'two', 's2')",
    );
    nodes.sql("a", "insert into u values (1, 'one', 's1')");
    let dump = "select string_agg(format('%s|%s|%s', id, a, coalesce(secret, 'NULL')), E'\\n' order by id) from t";
    assert_eq!(nodes.sql("b", dump), "1|one|NULL\n2|two|NULL");
    assert_eq!(
        nodes.sql("b", "select format('%s|%s', id, a) from u"),
        "1|one"
    );

    // b keeps a value of its own in the column that is not replicated.
    nodes.sql("b", "update t set secret = 'b own' where id = 1");
    nodes.sql("a", "update t set secret = 's1 changed' where id = 1");
    assert_eq!(nodes.sql("b", dump), "1|one|b own\n2|two|NULL");
    nodes.sql("a", "update t set a = 'uno', secret = 'again' where id = 1");
    assert_eq!(nodes.sql("b", dump), "1|uno|b own\n2|two|NULL");
    nodes.sql("a", "update u set a = 'uno', secret = 'x'");
    assert_eq!(
        nodes.sql("b", "select format('%s|%s', id, a) from u"),
        "1|uno"
    );
    nodes.sql("a", "delete from t where id = 2");
    assert_eq!(nodes.sql("b", dump), "1|uno|b own");
    // Nothing failed on the way.
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );

    // The secret never left a: b's server logs every statement it receives, and
    // none holds a secret, while the shipped rows are there.
    nodes.sql("b", "alter system set log_statement = 'all'");
    nodes.sql("b", "select pg_reload_conf()");
    nodes.wait_for("b", "show log_statement", "all");
    nodes.sql(
        "b",
        "alter table t add constraint no_secrets check (secret is null or secret = 'b own')",
    );
    nodes.sql("a", "insert into t values (3, 'three', 'top secret 3')");
    nodes.sql("a", "insert into u values (3, 'drei', 'top secret u3')");
    nodes.sql(
        "a",
        "update u set secret = 'top secret u3 again', a = 'tres' where id = 3",
    );
    assert_eq!(
        nodes.sql(
            "b",
            "select format('%s|%s', a, coalesce(secret, 'NULL')) from t where id = 3"
        ),
        "three|NULL"
    );
    assert_eq!(nodes.sql("b", "select a from u where id = 3"), "tres");
    let log = nodes.node("b").server_log();
    // The calls b received, exactly: only the replicated columns.
    for shipped in [
        r#"('I', NULL::json, '[{"id":3,"a":"three"}]'::json);"#,
        r#"('I', NULL::json, '[{"id":3,"a":"drei"}]'::json);"#,
        r#"('U', '[{"id":3}]'::json, '[{"id":3,"a":"tres"}]'::json);"#,
    ] {
        assert_eq!(log.matches(shipped).count(), 1, "{shipped}\n{log}");
    }
    assert!(!log.contains("top secret"), "{log}");
    // Nor is it in a change queued for b while b is down.
    nodes.node("b").stop().unwrap();
    nodes.sql("a", "insert into t values (4, 'four', 'queued secret')");
    nodes.sql(
        "a",
        "update u set secret = 'queued secret u', a = 'cuatro' where id = 3",
    );
    assert_eq!(
        nodes.sql(
            "a",
            "select string_agg(format('%s %s %s', op, old_rows, new_rows), E'\\n' order by id) \
               from repsync.sync_err_rec"
        ),
        "I  [{\"id\":4,\"a\":\"four\"}]\n\
         U [{\"id\":3}] [{\"id\":3,\"a\":\"cuatro\"}]"
    );
    nodes.node("b").restart().unwrap();
    nodes.repsync_ok(&["drain-errors"]);
    assert_eq!(
        nodes.sql("b", dump),
        "1|uno|b own\n3|three|NULL\n4|four|NULL"
    );
    assert_eq!(
        nodes.sql("b", "select format('%s|%s', id, a) from u where id = 3"),
        "3|cuatro"
    );
    let log = nodes.node("b").server_log();
    assert_eq!(
        log.matches(r#"'[{"id":4,"a":"four"}]'"#).count(),
        1,
        "{log}"
    );
    assert!(
        !log.contains("top secret") && !log.contains("queued secret"),
        "{log}"
    );
}

#[test]
fn row_filter_moves_rows_in_and_out() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "create table r (id int primary key, region text, v text)",
        );
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&[
        "add-table",
        "r",
        "--from",
        "a",
        "--to",
        "b",
        "--where",
        "region = 'eu'",
    ]);
    let dump = "select coalesce(string_agg(format('%s|%s|%s', id, region, v), E'\\n' order by id), '') from r";

    nodes.sql(
        "a",
        "insert into r values (1, 'eu', 'x'), (2, 'us', 'x'), (3, 'eu', 'x'), (4, 'us', 'x')",
    );
    assert_eq!(nodes.sql("b", dump), "1|eu|x\n3|eu|x");

    // A change inside the filter is sent; a change outside it is not.
    nodes.sql("a", "update r set v = 'y'");
    assert_eq!(nodes.sql("b", dump), "1|eu|y\n3|eu|y");

    // us -> eu: the row appears on b.
    nodes.sql("a", "update r set region = 'eu' where id = 2");
    assert_eq!(nodes.sql("b", dump), "1|eu|y\n2|eu|y\n3|eu|y");
    // eu -> us: the row is deleted on b.
    nodes.sql("a", "update r set region = 'us' where id = 1");
    assert_eq!(nodes.sql("b", dump), "2|eu|y\n3|eu|y");
    // Both directions in one statement.
    nodes.sql(
        "a",
        "update r set region = case region when 'eu' then 'us' else 'eu' end where id in (3, 4)",
    );
    assert_eq!(nodes.sql("b", dump), "2|eu|y\n4|eu|y");

    // Deleting a row outside the filter sends nothing: b's own row with that key stays.
    nodes.sql("b", "insert into r values (1, 'us', 'b own')");
    nodes.sql("a", "delete from r where id = 1");
    assert_eq!(nodes.sql("b", dump), "1|us|b own\n2|eu|y\n4|eu|y");
    // Deleting a row inside the filter deletes it.
    nodes.sql("a", "delete from r where id = 2");
    assert_eq!(nodes.sql("b", dump), "1|us|b own\n4|eu|y");
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );
}

#[test]
fn target_in_another_schema() {
    let nodes = common::start_nodes(2);
    nodes.sql("a", "create table t (id int primary key, v text)");
    nodes.sql("b", "create table t (id int primary key, v text); create schema archive; create table archive.copy_of_t (id int primary key, v text)");
    nodes.repsync_ok(&["init"]);

    // Multi-master with a rename is refused, and nothing is installed.
    let stderr = assert_refused(
        &nodes,
        &["add-table", "t", "--target", "archive.copy_of_t"],
        &["--target"],
    );
    assert!(stderr.contains("--from"), "{stderr}");
    for n in ["a", "b"] {
        assert_eq!(repsync_triggers(&nodes, n), 0);
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.replicated_table"),
            "0"
        );
    }

    let stdout = nodes.repsync_ok(&[
        "add-table",
        "t",
        "--from",
        "a",
        "--to",
        "b",
        "--target",
        "archive.copy_of_t",
    ]);
    assert!(stdout.contains("archive.copy_of_t"), "{stdout}");
    nodes.sql("a", "insert into t values (1, 'one'), (2, 'two')");
    nodes.sql("a", "update t set v = 'deux' where id = 2");
    nodes.sql("a", "delete from t where id = 1");
    assert_eq!(
        nodes.sql(
            "b",
            "select string_agg(format('%s|%s', id, v), ',' order by id) from archive.copy_of_t"
        ),
        "2|deux"
    );
    assert_eq!(nodes.sql("b", "select count(*) from public.t"), "0");
    assert_eq!(
        nodes.sql(
            "b",
            "select format('%s.%s', local_schema, local_table) from repsync.replicated_table"
        ),
        "archive.copy_of_t"
    );
    // Receivers get no capture triggers.
    assert_eq!(repsync_triggers(&nodes, "b"), 0);
    assert_eq!(repsync_triggers(&nodes, "a"), 4);
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );

    // remove-table finds the renamed target's objects on b.
    nodes.repsync_ok(&["remove-table", "t", "--yes"]);
    for n in ["a", "b"] {
        assert_eq!(repsync_triggers(&nodes, n), 0);
        assert_eq!(
            nodes.sql(
                n,
                r"select count(*) from pg_proc where proname ~ '^(capture|apply)_t_'"
            ),
            "0"
        );
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.replicated_table"),
            "0"
        );
    }
    assert_eq!(
        nodes.sql("b", "select count(*) from archive.copy_of_t"),
        "1"
    );
}

#[test]
fn tables_that_cannot_be_replicated_are_refused() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, "create table nokey (id int, v text)");
        nodes.sql(n, "create table t (id int primary key, v text, n int)");
    }
    nodes.sql("a", "create table only_on_a (id int primary key)");
    nodes.sql(
        "a",
        "create table typed (id int primary key, amount numeric(10,2))",
    );
    nodes.sql("b", "create table typed (id int primary key, amount text)");
    nodes.repsync_ok(&["init"]);

    assert_refused(
        &nodes,
        &["add-table", "nokey"],
        &["no primary key", "nokey"],
    );
    assert_refused(
        &nodes,
        &["add-table", "only_on_a"],
        &["node b", "only_on_a", "does not exist"],
    );
    assert_refused(
        &nodes,
        &["add-table", "typed"],
        &["node b", "amount", "numeric(10,2)", "text"],
    );
    assert_refused(
        &nodes,
        &["add-table", "t", "--columns", "v,n"],
        &["primary key", "id"],
    );
    assert_refused(
        &nodes,
        &["add-table", "t", "--columns", "id,nope"],
        &["nope"],
    );
    assert_refused(
        &nodes,
        &["add-table", "missing_everywhere"],
        &["node a", "does not exist"],
    );
    assert_refused(&nodes, &["add-table", "a b c"], &["not a valid name"]);

    for filter in [
        "nope = 1",
        "n + 1",
        "1; drop table t",
        "true; drop table t; select true",
        "true /*",
    ] {
        let (code, stdout, stderr) = nodes.repsync(&["add-table", "t", "--where", filter]);
        assert_eq!(
            code, 2,
            "--where {filter:?} must be refused\n{stdout}\n{stderr}"
        );
        assert!(
            stderr.contains("--where") || stderr.contains("row filter"),
            "{filter}: {stderr}"
        );
    }
    // The unknown column is named.
    let stderr = assert_refused(
        &nodes,
        &["add-table", "t", "--where", "nope = 1"],
        &["nope"],
    );
    assert!(stderr.contains("node a"), "{stderr}");
    assert_refused(
        &nodes,
        &["add-table", "t", "--where", "n + 1"],
        &["boolean"],
    );

    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(n, "select count(*) from t"),
            "0",
            "table t is gone on {n}"
        );
        assert_eq!(
            repsync_triggers(&nodes, n),
            0,
            "a trigger was installed on {n}"
        );
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.replicated_table"),
            "0"
        );
        assert_eq!(
            nodes.sql(
                n,
                r"select count(*) from pg_proc where proname ~ '^(capture|apply)_t_[0-9a-f]{20}$'"
            ),
            "0"
        );
    }
}

/// A filter is one expression, not text that closes the parentheses repsync puts
/// around it and goes on: `v = 'x') or (v = 'y'` used to be installed as
/// `(v = 'x') or (v = 'y')`, and `true) union all select ... where (true` passed the
/// check, which prepared it inside a select. Refused, nothing installed; the same
/// filter written as one expression filters exactly that way.
#[test]
fn a_filter_that_closes_its_own_parentheses_is_refused() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, "create table t (id int primary key, v text)");
    }
    nodes.repsync_ok(&["init"]);
    for (filter, error) in [
        ("v = 'x') or (v = 'y'", "syntax error at or near \"or\""),
        (
            "true) union all select 1 from only public.t where (true",
            "syntax error at or near \"union\"",
        ),
        (
            "true) not valid, add constraint other check (false",
            "syntax error at or near \"not\"",
        ),
    ] {
        let stderr = assert_refused(
            &nodes,
            &[
                "add-table",
                "t",
                "--from",
                "a",
                "--to",
                "b",
                "--where",
                filter,
            ],
            &[&format!(
                "node a: --where {filter:?} is not one boolean expression over the columns of public.t: {error}"
            )],
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert_eq!(repsync_triggers(&nodes, "a"), 0, "{filter}");
        assert_eq!(
            nodes.sql("a", "select count(*) from repsync.replicated_table"),
            "0"
        );
    }
    nodes.repsync_ok(&[
        "add-table",
        "t",
        "--from",
        "a",
        "--to",
        "b",
        "--where",
        "(v = 'x') or (v = 'y')",
    ]);
    assert_eq!(repsync_triggers(&nodes, "a"), 4);
    nodes.sql("a", "insert into t values (1, 'x'), (2, 'y'), (3, 'z')");
    nodes.sql("a", "update t set v = 'z' where id = 1");
    nodes.sql("a", "update t set v = 'x' where id = 3");
    assert_eq!(
        nodes.sql(
            "b",
            "select string_agg(id || ' ' || v, ',' order by id) from t"
        ),
        "2 y,3 x"
    );
}

#[test]
fn add_table_again_is_idempotent_and_replaces_cleanly() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, "create table t (id int primary key, v text, extra text)");
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "t"]);
    let before_a = installed(&nodes, "a");
    let before_b = installed(&nodes, "b");
    assert_eq!(repsync_triggers(&nodes, "a"), 4);
    assert_eq!(repsync_triggers(&nodes, "b"), 4);

    let stdout = nodes.repsync_ok(&["add-table", "t"]);
    assert!(stdout.contains("nothing changed"), "{stdout}");
    // Spelled differently, same meaning.
    let stdout = nodes.repsync_ok(&[
        "add-table",
        "public.T",
        "--from",
        "b,a",
        "--on-error",
        "queue",
    ]);
    assert!(stdout.contains("nothing changed"), "{stdout}");
    assert_eq!(installed(&nodes, "a"), before_a);
    assert_eq!(installed(&nodes, "b"), before_b);

    // Other options: replaced, no leftovers, and replication uses the new ones.
    let stdout = nodes.repsync_ok(&["add-table", "t", "--columns", "id,v"]);
    assert!(!stdout.contains("nothing changed"), "{stdout}");
    for n in ["a", "b"] {
        assert_eq!(repsync_triggers(&nodes, n), 4, "node {n}");
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.replicated_table"),
            "1"
        );
        assert_eq!(
            nodes.sql(
                n,
                "select options->>'columns' from repsync.replicated_table"
            ),
            r#"["id", "v"]"#
        );
    }
    assert_ne!(installed(&nodes, "a"), before_a);
    nodes.sql("a", "insert into t values (1, 'one', 'not sent')");
    assert_eq!(
        nodes.sql(
            "b",
            "select format('%s|%s', v, coalesce(extra, 'NULL')) from t"
        ),
        "one|NULL"
    );
    nodes.sql("b", "insert into t values (2, 'two', 'not sent')");
    assert_eq!(
        nodes.sql(
            "a",
            "select format('%s|%s', v, coalesce(extra, 'NULL')) from t where id = 2"
        ),
        "two|NULL"
    );
    let stdout = nodes.repsync_ok(&["add-table", "t", "--columns", "id,v"]);
    assert!(stdout.contains("nothing changed"), "{stdout}");

    // Multi-master to one-way: b stops sending, its capture triggers go.
    nodes.repsync_ok(&["add-table", "t", "--from", "a", "--to", "b"]);
    assert_eq!(repsync_triggers(&nodes, "a"), 4);
    assert_eq!(repsync_triggers(&nodes, "b"), 0);
    assert_eq!(
        nodes.sql(
            "b",
            r"select count(*) from pg_proc where proname ~ '^capture_t_[0-9a-f]{20}$'"
        ),
        "0"
    );
    assert_eq!(
        nodes.sql(
            "a",
            r"select count(*) from pg_proc where proname ~ '^apply_t_[0-9a-f]{20}$'"
        ),
        "0"
    );
    nodes.sql("b", "insert into t values (3, 'b only', null)");
    nodes.sql("a", "insert into t values (4, 'to b', null)");
    assert_eq!(nodes.sql("a", "select count(*) from t where id = 3"), "0");
    assert_eq!(nodes.sql("b", "select v from t where id = 4"), "to b");
    assert_eq!(
        nodes.sql("a", "select string_agg(dest, ',') from repsync.route"),
        "b"
    );
    assert_eq!(nodes.sql("b", "select count(*) from repsync.route"), "0");

    // status agrees that everything is in place.
    nodes.repsync_ok(&["status"]);
}

/// The filter is checked in the context the capture function evaluates it in: an
/// expression that works at add-table time must work on every write.
#[test]
fn row_filter_is_checked_where_it_runs() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, "create table r (id int primary key, region text)");
    }
    nodes.sql("a", "create function public.is_eu(text) returns boolean language sql immutable as 'select $1 = ''eu'''");
    nodes.repsync_ok(&["init"]);
    // The capture function runs with search_path = pg_catalog, pg_temp, so an
    // unqualified function of public is not found there: refused up front.
    let stderr = assert_refused(
        &nodes,
        &[
            "add-table",
            "r",
            "--from",
            "a",
            "--to",
            "b",
            "--where",
            "is_eu(region)",
        ],
        &["node a", "is_eu"],
    );
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert_eq!(repsync_triggers(&nodes, "a"), 0);
    nodes.sql("a", "insert into r values (1, 'eu'), (2, 'us')");
    // A function, or an operator's function, that another role owns: that role could
    // replace it and run its code as repsync's role on every write. Refused.
    nodes.sql(
        "a",
        "create role app; \
         create function public.is_us(text) returns boolean language sql immutable as 'select $1 = ''us'''; \
         alter function public.is_us(text) owner to app; \
         create function public.same_region(text, text) returns boolean language sql immutable as 'select $1 = $2'; \
         alter function public.same_region(text, text) owner to app; \
         create operator public.=== (function = public.same_region, leftarg = text, rightarg = text)",
    );
    assert_refused(
        &nodes,
        &[
            "add-table",
            "r",
            "--from",
            "a",
            "--to",
            "b",
            "--where",
            "public.is_us(region)",
        ],
        &[
            "node a: --where \"public.is_us(region)\" calls function public.is_us(text), owned by role app. The capture function runs the filter on every write as role postgres (security definer)",
            "(alter function public.is_us(text) owner to \"postgres\")",
        ],
    );
    assert_refused(
        &nodes,
        &[
            "add-table",
            "r",
            "--from",
            "a",
            "--to",
            "b",
            "--where",
            "region operator(public.===) 'us'",
        ],
        &["calls function public.same_region(text,text), owned by role app"],
    );
    assert_eq!(repsync_triggers(&nodes, "a"), 0);
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.replicated_table"),
        "0"
    );
    // Schema-qualified and owned by a superuser, the function is fine.
    nodes.repsync_ok(&[
        "add-table",
        "r",
        "--from",
        "a",
        "--to",
        "b",
        "--where",
        "public.is_eu(region)",
    ]);
    nodes.sql("a", "insert into r values (3, 'eu'), (4, 'us')");
    assert_eq!(
        nodes.sql(
            "b",
            "select string_agg(id::text, ',' order by id) from r where id > 2"
        ),
        "3"
    );
}

/// Changing how a table is replicated while changes are queued would strand them.
#[test]
fn changing_a_table_with_queued_changes_is_refused() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, "create table t (id int primary key, v text)");
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "t"]);
    nodes.node("b").stop().unwrap();
    nodes.sql("a", "insert into t values (1, 'queued')");
    nodes.node("b").restart().unwrap();
    // The same options again: nothing to do, queue or not.
    let out = nodes.repsync_ok(&["add-table", "t"]);
    assert!(out.contains("nothing changed"), "{out}");
    let (code, _, stderr) = nodes.repsync(&["add-table", "t", "--from", "b", "--to", "a"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("node a") && stderr.contains("drain-errors"),
        "{stderr}"
    );
    nodes.repsync_ok(&["drain-errors"]);
    nodes.repsync_ok(&["add-table", "t", "--from", "b", "--to", "a"]);
    assert_eq!(nodes.sql("b", "select v from t"), "queued");
}
