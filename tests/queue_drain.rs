//! The error queue on real servers: a stopped or failing peer queues the changes,
//! later changes queue behind them, `drain-errors` (and the SQL function) replays them
//! in order, a poison entry is reported and can be discarded, `--on-error fail` fails
//! the local transaction, and two drains at once do no harm.
mod common;

use std::process::{Command, Stdio};

const TABLE: &str = "create table public.t (id int primary key, v text, n numeric)";
const DUMP: &str =
    "select coalesce(string_agg(format('%s|%s|%s', id, v, n), E'\\n' order by id), '') from t";

fn queue_len(nodes: &common::Nodes, node: &str) -> i64 {
    nodes
        .sql(node, "select count(*) from repsync.sync_err_rec")
        .parse()
        .unwrap()
}

/// Two nodes, table t on both, replicated a -> b with the given extra add-table flags.
fn setup(extra: &[&str]) -> common::Nodes {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, TABLE);
    }
    nodes.repsync_ok(&["init"]);
    let mut args = vec!["add-table", "t", "--from", "a", "--to", "b"];
    args.extend_from_slice(extra);
    nodes.repsync_ok(&args);
    nodes
}

#[test]
fn stopped_peer_queues_then_drain_converges() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, TABLE);
    }
    nodes.repsync_ok(&["init"]);
    // Multi-master: the queue of one direction must not disturb the other.
    nodes.repsync_ok(&["add-table", "t"]);
    nodes.sql("a", "insert into t values (1, 'before', 1)");
    assert_eq!(nodes.sql("b", DUMP), "1|before|1");

    nodes.node("b").stop().unwrap();
    // Every write on a still commits.
    nodes.sql("a", "insert into t values (2, 'two', 2), (3, 'three', 3)");
    nodes.sql("a", "update t set v = 'changed', n = n * 10 where id = 1");
    nodes.sql("a", "delete from t where id = 3");
    nodes.sql(
        "a",
        "insert into t select g, 'bulk ' || g, g from generate_series(10, 60) g",
    );
    nodes.sql("a", "update t set id = 100 where id = 2");
    assert_eq!(queue_len(&nodes, "a"), 5);
    assert_eq!(
        nodes.sql(
            "a",
            "select string_agg(distinct dest, ',') from repsync.sync_err_rec"
        ),
        "b"
    );
    // The first transaction was tried and failed: its error is recorded. The later ones
    // queued behind it without a try of their own.
    assert_eq!(
        nodes.sql("a", "select (last_error is not null and last_attempt is not null)::text from repsync.sync_err_rec order by id limit 1"),
        "true"
    );
    let err = nodes.sql(
        "a",
        "select last_error from repsync.sync_err_rec order by id limit 1",
    );
    assert!(
        err.contains("connect") || err.contains("server"),
        "not a connection error: {err}"
    );
    // The queue keeps the transaction order. Both nodes write the table, so each
    // entry holds the keys a transaction changed ('K'), read with their versions
    // when shipped: 2 inserted, 1 updated (its old and its new key, here the same),
    // 1 deleted, 51 inserted, 1 key changed.
    assert_eq!(
        nodes.sql(
            "a",
            "select string_agg(op || json_array_length(old_rows), ' ' order by id) from repsync.sync_err_rec"
        ),
        "K2 K2 K1 K51 K2"
    );

    let (code, stdout, stderr) = nodes.repsync(&["status"]);
    assert_eq!(code, 1, "status must be unhealthy\n{stdout}\n{stderr}");
    assert!(stdout.contains("needs attention"), "{stdout}");
    assert!(stdout.contains("drain-errors"), "{stdout}");
    let (code, stdout, _) = nodes.repsync(&["status", "--json"]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["healthy"], false);
    let queue = report["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["node"] == "a" && q["dest"] == "b")
        .unwrap_or_else(|| panic!("no queue a -> b in {stdout}"));
    assert_eq!(queue["depth"], 5);
    assert!(
        queue["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{stdout}"
    );
    let b = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "b")
        .unwrap();
    assert_eq!(b["reachable"], false, "{stdout}");

    nodes.node("b").restart().unwrap();
    // Still queued: nothing drains by itself.
    assert_eq!(nodes.sql("b", DUMP), "1|before|1");
    let stdout = nodes.repsync_ok(&["drain-errors"]);
    assert!(
        stdout.contains("node a -> b: 5 change(s) applied"),
        "{stdout}"
    );

    let expected = nodes.sql("a", DUMP);
    assert_eq!(expected.lines().count(), 53, "{expected}");
    assert!(
        expected.starts_with("1|changed|10\n10|bulk 10|10\n"),
        "{expected}"
    );
    assert!(
        expected.ends_with("\n60|bulk 60|60\n100|two|2"),
        "{expected}"
    );
    assert_eq!(nodes.sql("b", DUMP), expected);
    assert_eq!(queue_len(&nodes, "a"), 0);
    assert_eq!(queue_len(&nodes, "b"), 0);
    let (code, stdout, stderr) = nodes.repsync(&["status"]);
    assert_eq!(code, 0, "status after drain\n{stdout}\n{stderr}");
    assert!(stdout.contains("healthy"), "{stdout}");

    // Replication flows directly again, in both directions.
    nodes.sql("a", "insert into t values (200, 'direct', null)");
    assert_eq!(nodes.sql("b", "select v from t where id = 200"), "direct");
    nodes.sql("b", "insert into t values (201, 'from b', null)");
    assert_eq!(nodes.sql("a", "select v from t where id = 201"), "from b");
    assert_eq!(queue_len(&nodes, "a"), 0);
}

#[test]
fn later_changes_queue_behind_a_backlog() {
    let nodes = setup(&[]);
    nodes.node("b").stop().unwrap();
    nodes.sql("a", "insert into t values (1, 'first', 1)");
    assert_eq!(queue_len(&nodes, "a"), 1);
    nodes.node("b").restart().unwrap();

    // b is reachable again, but the update must not overtake the queued insert.
    nodes.sql("a", "update t set v = 'second' where id = 1");
    assert_eq!(
        queue_len(&nodes, "a"),
        2,
        "the update was not queued behind the backlog"
    );
    assert_eq!(nodes.sql("b", "select count(*) from t"), "0");
    nodes.sql("a", "update t set v = 'third', n = 3 where id = 1");
    nodes.sql("a", "insert into t values (2, 'other', 2)");
    assert_eq!(queue_len(&nodes, "a"), 4);
    assert_eq!(nodes.sql("b", "select count(*) from t"), "0");

    // --limit 1: still everything, one entry per remote transaction.
    let stdout = nodes.repsync_ok(&["drain-errors", "--limit", "1"]);
    assert!(
        stdout.contains("node a -> b: 4 change(s) applied"),
        "{stdout}"
    );
    assert_eq!(nodes.sql("b", DUMP), "1|third|3\n2|other|2");
    assert_eq!(nodes.sql("b", DUMP), nodes.sql("a", DUMP));
    assert_eq!(queue_len(&nodes, "a"), 0);

    // With the queue empty, changes go straight through again.
    nodes.sql("a", "update t set v = 'fourth' where id = 1");
    assert_eq!(nodes.sql("b", "select v from t where id = 1"), "fourth");
    assert_eq!(queue_len(&nodes, "a"), 0);
}

#[test]
fn drain_of_one_batch_with_the_sql_function_limit() {
    let nodes = setup(&[]);
    nodes.node("b").stop().unwrap();
    for i in 1..=5 {
        nodes.sql("a", &format!("insert into t values ({i}, 'v{i}', {i})"));
    }
    nodes.node("b").restart().unwrap();
    // One batch of 2 from psql: the two oldest arrive, three stay queued.
    assert_eq!(
        nodes.sql("a", "select format('%s|%s|%s|%s|%s', dest, applied, remaining, failed_id, error) from repsync.drain_errors('b', 2)"),
        "b|2|3||"
    );
    assert_eq!(
        nodes.sql("b", "select string_agg(id::text, ',' order by id) from t"),
        "1,2"
    );
    assert_eq!(
        nodes.sql(
            "a",
            "select string_agg(new_rows->0->>'id', ',' order by id) from repsync.sync_err_rec"
        ),
        "3,4,5"
    );
    // The whole rest, from psql, as pg_cron would call it.
    assert_eq!(
        nodes.sql("a", "select format('%s|%s|%s', dest, applied, remaining) from repsync.drain_errors(null, 1000)"),
        "b|3|0"
    );
    assert_eq!(nodes.sql("b", DUMP), nodes.sql("a", DUMP));
    assert_eq!(queue_len(&nodes, "a"), 0);
    // Nothing queued: no row.
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.drain_errors(null, 1000)"),
        "0"
    );
    // A bad limit is refused.
    let err = nodes
        .node("a")
        .psql("postgres", "select * from repsync.drain_errors(null, 0)")
        .unwrap_err();
    assert!(format!("{err:#}").contains("p_limit"), "{err:#}");
}

#[test]
fn on_error_fail_fails_the_local_transaction() {
    let nodes = setup(&["--on-error", "fail"]);
    nodes.sql("a", "insert into t values (1, 'reached b', 1)");
    assert_eq!(nodes.sql("b", DUMP), "1|reached b|1");

    nodes.node("b").stop().unwrap();
    let err = nodes
        .node("a")
        .psql("postgres", "insert into t values (2, 'must fail', 2)")
        .expect_err("the insert must fail while b is down");
    let err = format!("{err:#}");
    assert!(err.contains(r#"node "b""#), "{err}");
    assert_eq!(nodes.sql("a", "select count(*) from t where id = 2"), "0");
    assert_eq!(queue_len(&nodes, "a"), 0);
    assert_eq!(nodes.sql("a", "select count(*) from repsync.pending"), "0");
    // Updates and deletes fail the same way.
    assert!(
        nodes
            .node("a")
            .psql("postgres", "update t set v = 'no' where id = 1")
            .is_err()
    );
    assert!(
        nodes
            .node("a")
            .psql("postgres", "delete from t where id = 1")
            .is_err()
    );
    assert_eq!(nodes.sql("a", DUMP), "1|reached b|1");

    nodes.node("b").restart().unwrap();
    nodes.sql("a", "insert into t values (3, 'after restart', 3)");
    assert_eq!(nodes.sql("b", DUMP), "1|reached b|1\n3|after restart|3");
    assert_eq!(queue_len(&nodes, "a"), 0);
}

/// The id of the single queued entry whose new row has v = `v`.
fn entry_id(nodes: &common::Nodes, v: &str) -> String {
    let id = nodes.sql(
        "a",
        &format!("select id from repsync.sync_err_rec where new_rows->0->>'v' = '{v}'"),
    );
    assert!(
        !id.is_empty() && !id.contains('\n'),
        "entry for {v}: {id:?}"
    );
    id
}

/// A table with a check constraint on b that a lacks: the 'bad' row is refused by b.
fn poison_setup() -> (common::Nodes, String) {
    let nodes = setup(&[]);
    nodes.sql(
        "b",
        "alter table t add constraint no_bad_values check (v <> 'bad')",
    );
    nodes.sql("a", "insert into t values (1, 'ok1', 1)");
    nodes.sql("a", "insert into t values (2, 'bad', 2)");
    nodes.sql("a", "insert into t values (3, 'ok2', 3)");
    assert_eq!(nodes.sql("b", DUMP), "1|ok1|1");
    assert_eq!(queue_len(&nodes, "a"), 2);
    let bad = entry_id(&nodes, "bad");
    let err = nodes.sql(
        "a",
        &format!("select last_error from repsync.sync_err_rec where id = {bad}"),
    );
    assert!(err.contains("no_bad_values"), "{err}");
    // ok2 queued behind, never tried on its own.
    let ok2 = entry_id(&nodes, "ok2");
    assert!(ok2.parse::<i64>().unwrap() > bad.parse::<i64>().unwrap());

    let (code, stdout, stderr) = nodes.repsync(&["drain-errors"]);
    assert_eq!(
        code, 1,
        "drain over a poison entry must fail\n{stdout}\n{stderr}"
    );
    let out = format!("{stdout}\n{stderr}");
    assert!(out.contains(&format!("entry {bad}")), "{out}");
    assert!(out.contains("no_bad_values"), "{out}");
    assert!(out.contains(&format!("--discard {bad}")), "{out}");
    // Nothing behind the poison entry went through, nothing was lost.
    assert_eq!(nodes.sql("b", DUMP), "1|ok1|1");
    assert_eq!(queue_len(&nodes, "a"), 2);
    (nodes, bad)
}

#[test]
fn poison_entry_is_reported_and_can_be_discarded() {
    let (nodes, bad) = poison_setup();
    // The id comes from the output of drain-errors, as a user would copy it.
    let (_, stdout, stderr) = nodes.repsync(&["drain-errors"]);
    let out = format!("{stdout}\n{stderr}");
    let shown: String = out
        .split("--discard ")
        .nth(1)
        .unwrap_or_else(|| panic!("no --discard hint in {out}"))
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(shown, bad);

    // --discard needs --yes without a terminal, and a real id.
    let (code, _, stderr) = nodes.repsync(&["drain-errors", "--node", "a", "--discard", &bad]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    assert_eq!(queue_len(&nodes, "a"), 2);
    let (code, _, stderr) = nodes.repsync(&[
        "drain-errors",
        "--node",
        "a",
        "--discard",
        "999999",
        "--yes",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("999999"), "{stderr}");
    let (code, _, stderr) = nodes.repsync(&["drain-errors", "--discard", &bad, "--yes"]);
    assert_eq!(code, 2, "--discard without --node: {stderr}");
    assert_eq!(queue_len(&nodes, "a"), 2);

    let stdout = nodes.repsync_ok(&["drain-errors", "--node", "a", "--discard", &bad, "--yes"]);
    assert!(stdout.contains(&format!("entry {bad}")), "{stdout}");
    assert_eq!(queue_len(&nodes, "a"), 1);
    let stdout = nodes.repsync_ok(&["drain-errors"]);
    assert!(stdout.contains("1 change(s) applied"), "{stdout}");
    assert_eq!(nodes.sql("b", DUMP), "1|ok1|1\n3|ok2|3");
    assert_eq!(queue_len(&nodes, "a"), 0);
    // a keeps its own row: discarding only drops what b was to get.
    assert_eq!(nodes.sql("a", DUMP), "1|ok1|1\n2|bad|2\n3|ok2|3");
}

#[test]
fn poison_entry_drains_once_the_peer_is_fixed() {
    let (nodes, _) = poison_setup();
    nodes.sql("b", "alter table t drop constraint no_bad_values");
    nodes.repsync_ok(&["drain-errors", "--to", "b"]);
    assert_eq!(nodes.sql("b", DUMP), nodes.sql("a", DUMP));
    assert_eq!(nodes.sql("b", DUMP), "1|ok1|1\n2|bad|2\n3|ok2|3");
    assert_eq!(queue_len(&nodes, "a"), 0);
    nodes.repsync_ok(&["status"]);
}

#[test]
fn two_drains_at_once() {
    let nodes = setup(&[]);
    nodes.node("b").stop().unwrap();
    // 200 single-row transactions, each its own queue entry.
    let mut script = String::new();
    for i in 1..=200 {
        script.push_str(&format!("insert into t values ({i}, 'v{i}', {i});\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inserts.sql");
    std::fs::write(&file, &script).unwrap();
    // psql -f runs each statement in its own transaction (autocommit).
    let a = nodes.node("a");
    let psql = repsync::local_cluster::find_bindir().unwrap().join("psql");
    let status = Command::new(psql)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-h"])
        .arg(a.socket_dir())
        .arg("-p")
        .arg(a.port().to_string())
        .args(["-d", "postgres", "-f"])
        .arg(&file)
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .status()
        .expect("running psql");
    assert!(status.success());
    assert_eq!(queue_len(&nodes, "a"), 200);
    nodes.node("b").restart().unwrap();

    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_repsync"))
            .arg("--config")
            .arg(nodes.config_path())
            .args(["drain-errors", "--limit", "10"])
            .env_remove("PGPASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning repsync")
    };
    let first = spawn();
    let second = spawn();
    let outputs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let mut backed_off = false;
    for out in &outputs {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => {}
            Some(1) => {
                assert!(
                    stderr.contains("another drain"),
                    "exit 1 for another reason:\n{stdout}\n{stderr}"
                );
                backed_off = true;
            }
            other => panic!("drain exited with {other:?}\n{stdout}\n{stderr}"),
        }
    }
    if backed_off {
        nodes.repsync_ok(&["drain-errors"]);
    }
    assert_eq!(queue_len(&nodes, "a"), 0);
    let expected = nodes.sql("a", DUMP);
    assert_eq!(expected.lines().count(), 200);
    assert_eq!(nodes.sql("b", DUMP), expected);
}

#[test]
fn queue_per_destination_with_three_nodes() {
    // One destination down does not hold back the other.
    let nodes = common::start_nodes(3);
    for n in ["a", "b", "c"] {
        nodes.sql(n, TABLE);
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "t", "--from", "a", "--to", "b,c"]);
    nodes.node("c").stop().unwrap();
    nodes.sql("a", "insert into t values (1, 'x', 1)");
    assert_eq!(nodes.sql("b", DUMP), "1|x|1");
    assert_eq!(
        nodes.sql(
            "a",
            "select string_agg(dest, ',') from repsync.sync_err_rec"
        ),
        "c"
    );
    nodes.sql("a", "update t set v = 'y' where id = 1");
    assert_eq!(nodes.sql("b", DUMP), "1|y|1");
    assert_eq!(queue_len(&nodes, "a"), 2);
    nodes.node("c").restart().unwrap();
    // Draining another destination does nothing to c's queue.
    let stdout = nodes.repsync_ok(&["drain-errors", "--to", "b"]);
    assert!(stdout.contains("queue is empty"), "{stdout}");
    assert_eq!(queue_len(&nodes, "a"), 2);
    nodes.repsync_ok(&["drain-errors", "--node", "a", "--to", "c"]);
    assert_eq!(nodes.sql("c", DUMP), "1|y|1");
    assert_eq!(queue_len(&nodes, "a"), 0);
    // An unknown node is a usage error.
    let (code, _, stderr) = nodes.repsync(&["drain-errors", "--to", "zz"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("zz"), "{stderr}");
}

/// `--on-error fail` with two destinations: when one fails, the local transaction
/// fails, so the other destination must not keep the change either.
#[test]
fn on_error_fail_with_two_destinations_is_all_or_nothing() {
    let nodes = common::start_nodes(3);
    for n in ["a", "b", "c"] {
        nodes.sql(n, TABLE);
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&[
        "add-table",
        "t",
        "--from",
        "a",
        "--to",
        "b,c",
        "--on-error",
        "fail",
    ]);
    nodes.sql("a", "insert into t values (1, 'everywhere', 1)");
    nodes.node("c").stop().unwrap();
    let err = nodes
        .node("a")
        .psql("postgres", "insert into t values (2, 'nowhere', 2)")
        .unwrap_err();
    assert!(format!("{err:#}").contains(r#"node "c""#), "{err:#}");
    assert_eq!(nodes.sql("a", DUMP), "1|everywhere|1");
    assert_eq!(
        nodes.sql("b", DUMP),
        "1|everywhere|1",
        "b kept a change that a rolled back"
    );
}

/// A transaction that fails at commit after the flush (a deferred constraint of a
/// later statement) rolls back locally; the peer must not have its changes.
#[test]
fn commit_failing_after_flush_reaches_no_peer() {
    let nodes = setup(&[]);
    nodes.sql(
        "a",
        "create table parent (id int primary key);
         create table child (id int primary key, parent_id int references parent deferrable initially deferred)",
    );
    let err = nodes
        .node("a")
        .psql("postgres", "begin; insert into t values (1, 'rolled back', 1); insert into child values (1, 999); commit;")
        .unwrap_err();
    assert!(format!("{err:#}").contains("foreign key"), "{err:#}");
    assert_eq!(nodes.sql("a", "select count(*) from t"), "0");
    assert_eq!(
        nodes.sql("b", DUMP),
        "",
        "b has a change that a rolled back"
    );
    assert_eq!(queue_len(&nodes, "a"), 0);
}

/// A peer whose commit fails (a deferred constraint there): with `queue` the change is
/// queued with the peer's error; with `fail` and two peers, the other one does not keep it.
#[test]
fn peer_refusing_the_commit() {
    let nodes = common::start_nodes(3);
    for n in ["a", "b", "c"] {
        nodes.sql(n, TABLE);
    }
    nodes.sql(
        "b",
        "create table parent (id numeric primary key); insert into parent values (1);
         alter table t add constraint t_n_parent foreign key (n) references parent deferrable initially deferred",
    );
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "t", "--from", "a", "--to", "b"]);
    nodes.sql("a", "insert into t values (1, 'fine', 1)");
    nodes.sql("a", "insert into t values (2, 'refused at commit', 999)");
    assert_eq!(nodes.sql("b", DUMP), "1|fine|1");
    assert_eq!(queue_len(&nodes, "a"), 1);
    let err = nodes.sql("a", "select last_error from repsync.sync_err_rec");
    assert!(err.contains("t_n_parent"), "{err}");
    nodes.sql("b", "insert into parent values (999)");
    nodes.repsync_ok(&["drain-errors"]);
    assert_eq!(nodes.sql("b", DUMP), nodes.sql("a", DUMP));

    // Now to b and c with --on-error fail: b refuses the commit, c must not keep it.
    nodes.repsync_ok(&[
        "add-table",
        "t",
        "--from",
        "a",
        "--to",
        "b,c",
        "--on-error",
        "fail",
    ]);
    nodes.sql("c", "insert into t select * from (values (1, 'fine', 1), (2, 'refused at commit', 999)) v(id, v, n)");
    let err = nodes
        .node("a")
        .psql("postgres", "insert into t values (3, 'nowhere', 12345)")
        .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains(r#"node "b""#) && err.contains("t_n_parent"),
        "{err}"
    );
    assert_eq!(nodes.sql("a", "select count(*) from t where id = 3"), "0");
    assert_eq!(nodes.sql("b", "select count(*) from t where id = 3"), "0");
    assert_eq!(
        nodes.sql("c", "select count(*) from t where id = 3"),
        "0",
        "c kept a change that a rolled back"
    );
    // In one session, whose kept connections see the failure and the next transaction:
    // no transaction may be left open on them, or the next commit would carry row 5 along.
    let out = psql_session(
        &nodes,
        "a",
        &[
            "insert into t values (5, 'nowhere', 12345)",
            "begin; insert into t values (6, 'everywhere', 1); update t set v = 'all' where id = 6; commit;",
        ],
    );
    assert!(out.contains("t_n_parent"), "{out}");
    for n in ["b", "c"] {
        assert_eq!(nodes.sql(n, DUMP), nodes.sql("a", DUMP), "node {n}");
        assert_eq!(nodes.sql(n, "select v from t where id = 6"), "all");
    }
}

/// Runs commands one after the other in one psql session, going on after errors;
/// returns the output.
fn psql_session(nodes: &common::Nodes, node: &str, commands: &[&str]) -> String {
    let c = nodes.node(node);
    let psql = repsync::local_cluster::find_bindir().unwrap().join("psql");
    let out = Command::new(psql)
        .args(["-X", "-v", "ON_ERROR_STOP=0", "-U", "postgres", "-h"])
        .arg(c.socket_dir())
        .arg("-p")
        .arg(c.port().to_string())
        .args(["-d", "postgres"])
        .args(commands.iter().flat_map(|c| ["-c", c]))
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("running psql");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Many statements in one transaction ship once, in statement order.
#[test]
fn a_transaction_of_many_statements_ships_in_order() {
    let nodes = setup(&[]);
    nodes.sql(
        "a",
        "begin;
         insert into t values (1, 'a', 1), (2, 'b', 2);
         update t set id = 10 where id = 1;
         insert into t values (1, 'again', 3);
         delete from t where id = 2;
         update t set v = v || '!';
         commit;",
    );
    assert_eq!(nodes.sql("b", DUMP), "1|again!|3\n10|a!|1");
    assert_eq!(nodes.sql("a", "select count(*) from repsync.pending"), "0");
    assert_eq!(queue_len(&nodes, "a"), 0);
}

/// A peer's refusal is queued after one try; only a dead kept connection earns a
/// second one. b counts the tries with a sequence, which a rollback does not undo.
#[test]
fn a_refused_change_is_tried_once_and_queued_with_the_peers_error() {
    let nodes = setup(&[]);
    nodes.sql(
        "b",
        "create sequence tries; \
         create function count_try() returns trigger language plpgsql as \
         $$begin perform nextval('public.tries'); return new; end$$; \
         create trigger count_try before insert on t for each row execute function count_try(); \
         alter table t add constraint no_poison check (v <> 'poison')",
    );
    // The writer's session keeps its connection to b from this first change.
    let queued = psql_session(
        &nodes,
        "a",
        &[
            "insert into t values (1, 'fine', 1)",
            "insert into t values (2, 'poison', 2)",
            "select count(*) || ' ' || max(last_error) from repsync.sync_err_rec",
        ],
    );
    assert_eq!(nodes.sql("b", DUMP), "1|fine|1", "{queued}");
    assert!(
        queued.contains("1 new row for relation \"t\" violates check constraint \"no_poison\""),
        "{queued}"
    );
    assert_eq!(nodes.sql("b", "select last_value from tries"), "2");
}

/// An error of the node itself (here its user mapping for the peer is gone, as
/// if dropped by hand) is no peer's fault: the writer's transaction fails with
/// it, saying how to restore the connection, and nothing is queued.
#[test]
fn a_local_error_while_shipping_fails_the_transaction_instead_of_queuing() {
    let nodes = setup(&[]);
    nodes.sql("a", "drop user mapping for current_user server repsync_b");
    let err = nodes
        .node("a")
        .psql("postgres", "insert into t values (1, 'fine', 1)")
        .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("repsync: cannot open the connection to node \"b\": user mapping not found"),
        "{err}"
    );
    assert!(err.contains("repsync init"), "{err}");
    assert_eq!(nodes.sql("a", DUMP), "");
    assert_eq!(queue_len(&nodes, "a"), 0);
}

/// A repeatable-read transaction reads a snapshot taken before another
/// transaction queued a change for b and committed. It must not overtake that
/// change by shipping its own straight to b: here the queued change deletes row 1
/// and the later one inserts it again, so b applying them the other way round
/// would end without the row.
#[test]
fn a_repeatable_read_transaction_does_not_overtake_a_change_queued_after_its_snapshot() {
    let nodes = setup(&[]);
    nodes.sql("a", "insert into t values (1, 'old', 1)");
    assert_eq!(nodes.sql("b", DUMP), "1|old|1");
    // b refuses deletes for now, so the delete below is queued.
    nodes.sql(
        "b",
        "create function public.no_delete() returns trigger language plpgsql as \
         $$begin raise exception 'deletes are held'; end$$; \
         create trigger no_delete before delete on t for each row execute function public.no_delete()",
    );
    let mut late = postgres::Client::connect(&nodes.node("a").dsn(), postgres::NoTls).unwrap();
    late.batch_execute("begin isolation level repeatable read; select count(*) from t")
        .unwrap();
    nodes.sql("a", "delete from t where id = 1");
    assert_eq!(queue_len(&nodes, "a"), 1);
    nodes.sql("b", "drop trigger no_delete on t");
    // Row 1 is gone, committed: the insert does not conflict, even in the old snapshot.
    late.batch_execute("insert into t values (1, 'new', 2); commit")
        .unwrap();
    // It queued behind the delete instead of reaching b first.
    assert_eq!(queue_len(&nodes, "a"), 2);
    assert_eq!(nodes.sql("b", DUMP), "1|old|1");
    nodes.repsync_ok(&["drain-errors"]);
    assert_eq!(nodes.sql("a", DUMP), "1|new|2");
    assert_eq!(nodes.sql("b", DUMP), "1|new|2");
}

/// The same in read committed: the later transaction's check sees the committed
/// queue, so it queues behind without any help.
#[test]
fn a_read_committed_transaction_queues_behind_a_change_committed_before_its_commit() {
    let nodes = setup(&[]);
    nodes.sql("a", "insert into t values (1, 'old', 1)");
    nodes.sql(
        "b",
        "create function public.no_delete() returns trigger language plpgsql as \
         $$begin raise exception 'deletes are held'; end$$; \
         create trigger no_delete before delete on t for each row execute function public.no_delete()",
    );
    let mut late = postgres::Client::connect(&nodes.node("a").dsn(), postgres::NoTls).unwrap();
    late.batch_execute("begin; select count(*) from t").unwrap();
    nodes.sql("a", "delete from t where id = 1");
    nodes.sql("b", "drop trigger no_delete on t");
    late.batch_execute("insert into t values (1, 'new', 2); commit")
        .unwrap();
    assert_eq!(queue_len(&nodes, "a"), 2);
    nodes.repsync_ok(&["drain-errors"]);
    assert_eq!(nodes.sql("b", DUMP), "1|new|2");
}
