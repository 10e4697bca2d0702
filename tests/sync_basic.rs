//! Sync mode end to end on real servers: one-way, multi-master, key types, key
//! update, delete, truncate (one writer; refused where several write), rollback.
mod common;

const TABLE: &str = "create table public.loc_test (pk1 int, pk2 text, info text, n numeric, primary key (pk1, pk2))";

#[test]
fn one_way_two_nodes() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, TABLE);
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "loc_test", "--from", "a", "--to", "b"]);

    nodes.sql(
        "a",
        "insert into loc_test values (1, 'one', 'x', 1.5), (2, 'two', null, null)",
    );
    assert_eq!(nodes.sql("b", "select count(*) from loc_test"), "2");

    nodes.sql("a", "update loc_test set info = 'y' where pk1 = 1");
    assert_eq!(
        nodes.sql("b", "select info from loc_test where pk1 = 1"),
        "y"
    );

    // Key update.
    nodes.sql("a", "update loc_test set pk1 = 10 where pk1 = 2");
    assert_eq!(
        nodes.sql(
            "b",
            "select string_agg(pk1::text, ',' order by pk1) from loc_test"
        ),
        "1,10"
    );

    nodes.sql("a", "delete from loc_test where pk1 = 1");
    assert_eq!(
        nodes.sql(
            "b",
            "select string_agg(pk1::text, ',' order by pk1) from loc_test"
        ),
        "10"
    );

    // A rolled-back transaction reaches no peer.
    nodes.sql(
        "a",
        "begin; insert into loc_test values (99, 'no', 'no', 0); rollback;",
    );
    assert_eq!(
        nodes.sql("b", "select count(*) from loc_test where pk1 = 99"),
        "0"
    );

    // Changes made on b are not sent to a (one-way).
    nodes.sql(
        "b",
        "insert into loc_test values (500, 'b only', null, null)",
    );
    assert_eq!(
        nodes.sql("a", "select count(*) from loc_test where pk1 = 500"),
        "0"
    );

    nodes.sql("a", "truncate loc_test");
    assert_eq!(nodes.sql("b", "select count(*) from loc_test"), "0");
}

#[test]
fn multi_master_three_nodes_with_a_hostile_composite_key() {
    let nodes = common::start_nodes(3);
    let ddl = r#"create schema "Odd $$ Schema";
        create table "Odd $$ Schema"."Tab, {x}" ("k 1" text, "K2" int, "val'ue" text, extra jsonb, primary key ("k 1", "K2"))"#;
    for n in ["a", "b", "c"] {
        nodes.sql(n, ddl);
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", r#""Odd $$ Schema"."Tab, {x}""#]);

    let hostile = r#"a, { } " ' \ $$ and spaces"#;
    let lit = hostile.replace('\'', "''");
    nodes.sql(
        "a",
        &format!(r#"insert into "Odd $$ Schema"."Tab, {{x}}" values ('{lit}', 1, 'from a', null)"#),
    );
    nodes.sql(
        "b",
        &format!(
            r#"insert into "Odd $$ Schema"."Tab, {{x}}" values ('{lit}', 2, null, '{{"b": 1}}')"#
        ),
    );
    nodes.sql(
        "c",
        &format!(
            r#"insert into "Odd $$ Schema"."Tab, {{x}}" values ('{lit}', 3, 'from c', '[1, null]')"#
        ),
    );
    let dump = r#"select string_agg(format('%s|%s|%s|%s', "k 1", "K2", "val'ue", extra), E'\n' order by "K2") from "Odd $$ Schema"."Tab, {x}""#;
    let expected = nodes.sql("a", dump);
    assert_eq!(expected.lines().count(), 3, "{expected}");
    assert!(expected.contains(hostile));
    for n in ["b", "c"] {
        assert_eq!(nodes.sql(n, dump), expected, "node {n}");
    }

    // Key update and delete on another node, then truncate from a third.
    nodes.sql(
        "b",
        r#"update "Odd $$ Schema"."Tab, {x}" set "K2" = 20, "val'ue" = 'moved' where "K2" = 2"#,
    );
    nodes.sql(
        "c",
        r#"delete from "Odd $$ Schema"."Tab, {x}" where "K2" = 1"#,
    );
    let expected = nodes.sql("b", dump);
    assert!(expected.contains("|20|moved|"), "{expected}");
    for n in ["a", "c"] {
        assert_eq!(nodes.sql(n, dump), expected, "node {n}");
    }
    // Nothing was queued: every change went straight through, with no loop.
    for n in ["a", "b", "c"] {
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.sync_err_rec"),
            "0"
        );
    }
    // A truncate is refused on a table that several nodes write (it cannot be
    // ordered against their concurrent changes); a delete of every row is not.
    let err = nodes
        .node("c")
        .psql("postgres", r#"truncate "Odd $$ Schema"."Tab, {x}""#)
        .unwrap_err();
    assert!(
        format!("{err:#}")
            .contains("is written on several nodes; TRUNCATE on it is not replicated"),
        "{err:#}"
    );
    nodes.sql("c", r#"delete from "Odd $$ Schema"."Tab, {x}""#);
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(n, r#"select count(*) from "Odd $$ Schema"."Tab, {x}""#),
            "0"
        );
    }
}

#[test]
fn an_application_role_without_rights_on_schema_repsync_replicates() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "create table t (id int primary key, v text); create role app; grant all on t to app",
        );
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "t"]);
    nodes.sql(
        "a",
        "set role app; insert into t values (1, 'from app on a'); reset role",
    );
    nodes.sql(
        "b",
        "set role app; insert into t values (2, 'from app on b'); reset role",
    );
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(n, "select string_agg(v, ',' order by id) from t"),
            "from app on a,from app on b"
        );
    }
    // The role cannot reach the queue or ship arbitrary SQL to a peer: refused
    // for want of the privilege, not for any other reason (a typo in the test, a
    // missing function).
    let mut app = postgres::Client::connect(&nodes.node("a").dsn(), postgres::NoTls).unwrap();
    app.batch_execute("set role app").unwrap();
    for (sql, message) in [
        (
            "select repsync.ship('b', 'select 1')",
            "permission denied for schema repsync",
        ),
        (
            "select count(*) from repsync.sync_err_rec",
            "permission denied for schema repsync",
        ),
    ] {
        let err = app.query(sql, &[]).expect_err(sql);
        let db = err
            .as_db_error()
            .unwrap_or_else(|| panic!("{sql}: {err:?}"));
        assert_eq!(
            (db.code(), db.message()),
            (&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE, message),
            "{sql}"
        );
    }
    // Nor with the schema's usage granted: the function and the table themselves
    // are closed to it.
    nodes.sql("a", "grant usage on schema repsync to app");
    for (sql, message) in [
        (
            "select repsync.ship('b', 'select 1')",
            "permission denied for function ship",
        ),
        (
            "select count(*) from repsync.sync_err_rec",
            "permission denied for table sync_err_rec",
        ),
    ] {
        let err = app.query(sql, &[]).expect_err(sql);
        let db = err
            .as_db_error()
            .unwrap_or_else(|| panic!("{sql}: {err:?}"));
        assert_eq!(
            (db.code(), db.message()),
            (&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE, message),
            "{sql}"
        );
    }
}

/// The replication session on `client`'s node that waits for a lock `writer`
/// holds while `writer` is committing: its pid and when its statement started.
fn apply_blocked_by(client: &mut postgres::Client, writer: i32) -> Option<(i32, String)> {
    client
        .query_opt(
            "select w.pid, w.query_start::text from pg_stat_activity w \
              where w.application_name = 'repsync' and w.wait_event_type = 'Lock' \
                and $1 = any (pg_blocking_pids(w.pid)) \
                and exists (select from pg_stat_activity c \
                             where c.pid = $1 and c.state = 'active' and c.query = 'commit')",
            &[&writer],
        )
        .unwrap()
        .map(|row| (row.get(0), row.get(1)))
}

/// Each node's transaction holds row 1 locally and, at its commit, waits for it
/// on the other node: a deadlock across servers that no deadlock detector sees.
/// The test observes it (on each node the other's replication session waits for
/// a lock the local writer holds while that writer commits), then both commits
/// return, the peer that gave up queued the change with its lock timeout, and a
/// drain settles the conflict the same way on both nodes: b's change, captured
/// later, wins (newer-wins).
#[test]
fn two_nodes_updating_one_row_at_once_do_not_hang() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, "create table t (id int primary key, v text)");
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "t"]);
    let connect =
        |n: &str| postgres::Client::connect(&nodes.node(n).dsn(), postgres::NoTls).unwrap();
    let (mut wa, mut wb) = (connect("a"), connect("b"));
    let (mut watch_a, mut watch_b) = (connect("a"), connect("b"));
    // Each writer's session ships once first, so its connection to the peer is
    // open before the race.
    wa.batch_execute("insert into t values (1, 'start')")
        .unwrap();
    wb.batch_execute("insert into t values (2, 'warm')")
        .unwrap();
    for n in ["a", "b"] {
        assert_eq!(nodes.sql(n, "select count(*) from t"), "2", "node {n}");
    }
    let pid = |c: &mut postgres::Client| -> i32 {
        c.query_one("select pg_backend_pid()", &[]).unwrap().get(0)
    };
    let (pid_a, pid_b) = (pid(&mut wa), pid(&mut wb));
    wa.batch_execute("begin; update t set v = 'a' where id = 1")
        .unwrap();
    wb.batch_execute("begin; update t set v = 'b' where id = 1")
        .unwrap();

    let started = std::time::Instant::now();
    let barrier = std::sync::Barrier::new(3);
    let (commit_a, commit_b, overlap) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            barrier.wait();
            wa.batch_execute("commit")
        });
        let b = s.spawn(|| {
            barrier.wait();
            wb.batch_execute("commit")
        });
        barrier.wait();
        // Seen on a, then on b, then on a again with the same session and
        // statement: a's wait spans b's, so both waits held at once.
        let mut overlap = None;
        while overlap.is_none() && !(a.is_finished() && b.is_finished()) {
            let first = apply_blocked_by(&mut watch_a, pid_a);
            let other = apply_blocked_by(&mut watch_b, pid_b);
            let again = apply_blocked_by(&mut watch_a, pid_a);
            if let (Some(first), Some(other), Some(again)) = (first, other, again)
                && first == again
            {
                overlap = Some((first, other));
            }
        }
        // Both commits return by themselves; if they hang, end the writers'
        // sessions so the test fails instead of hanging too.
        let deadline = started + std::time::Duration::from_secs(30);
        while !(a.is_finished() && b.is_finished()) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let hung = !(a.is_finished() && b.is_finished());
        if hung {
            for (watch, pid) in [(&mut watch_a, pid_a), (&mut watch_b, pid_b)] {
                watch
                    .execute("select pg_terminate_backend($1)", &[&pid])
                    .unwrap();
            }
        }
        let results = (a.join().unwrap(), b.join().unwrap());
        assert!(!hung, "the commits hung for 30 s: {results:?}");
        (results.0, results.1, overlap)
    });
    let elapsed = started.elapsed();
    let ((on_a, _), (on_b, _)) =
        overlap.expect("never saw each node's replication session wait for the other's writer");
    assert_ne!(on_a, pid_a);
    assert_ne!(on_b, pid_b);
    commit_a.expect("a's commit");
    commit_b.expect("b's commit");
    assert!(
        elapsed < std::time::Duration::from_secs(30),
        "took {elapsed:?}"
    );
    // At least one side gave up on its peer and queued its change, with the
    // lock timeout as the reason; nothing else is queued.
    let queued: Vec<String> = ["a", "b"]
        .iter()
        .map(|n| {
            nodes.sql(
                n,
                "select count(*) || ' ' || count(*) filter \
                   (where last_error like 'canceling statement due to lock timeout%') \
                   from repsync.sync_err_rec",
            )
        })
        .collect();
    assert!(
        queued.iter().all(|q| q == "0 0" || q == "1 1") && queued.iter().any(|q| q == "1 1"),
        "{queued:?}"
    );
    nodes.repsync_ok(&["drain-errors"]);
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(n, "select string_agg(v, ',' order by id) from t"),
            "b,warm",
            "node {n}"
        );
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.sync_err_rec"),
            "0"
        );
    }
    let out = nodes.repsync_ok(&["verify", "t"]);
    assert!(out.contains("identical"), "{out}");
}

/// A key the table generates itself (`generated always as identity`) is applied on
/// the peers as the origin made it, by every path: sync, the async drain, and the
/// shipper's own copy of a large batch.
#[test]
fn identity_always_keys_are_applied_as_they_are() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "create table s (id bigint generated always as identity primary key, v text);
             create table q (id bigint generated always as identity primary key, v text);
             alter table s alter column id restart with 1000; alter table q alter column id restart with 1000",
        );
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "s", "--from", "a", "--to", "b"]);
    nodes.repsync_ok(&[
        "add-table",
        "q",
        "--from",
        "a",
        "--to",
        "b",
        "--mode",
        "async",
    ]);
    for t in ["s", "q"] {
        nodes.sql(
            "a",
            &format!(
                "insert into {t} (v) select 'r' || g from generate_series(1, 5000) g;
                 update {t} set v = 'u' where id % 7 = 0; delete from {t} where id % 11 = 0;
                 insert into {t} (v) values ('last')"
            ),
        );
    }
    nodes.repsync_ok(&["run", "--once"]);
    for t in ["s", "q"] {
        assert_eq!(nodes.dump("a", t), nodes.dump("b", t), "table {t}");
        assert_eq!(
            nodes.sql("b", &format!("select max(id) from {t}")),
            "6000",
            "table {t}"
        );
    }
}
