//! Async mode and `repsync run`: the trigger only queues, the shipper ships.
mod common;

use std::time::Duration;

fn setup(n: usize, add_table: &[&str]) -> common::Nodes {
    let mut args = vec!["t"];
    args.extend_from_slice(add_table);
    common::with_table(
        n,
        "create table t (id int primary key, v text, n int)",
        &args,
    )
}

/// Two nodes, `t` sent from a to b in async mode, only rows of region 'eu' and
/// not the column `secret`.
fn setup_filtered() -> common::Nodes {
    common::with_table(
        2,
        "create table t (id int primary key, region text, v text, secret text)",
        &[
            "t",
            "--from",
            "a",
            "--to",
            "b",
            "--mode",
            "async",
            "--where",
            "region = 'eu'",
            "--columns",
            "id,region,v",
        ],
    )
}

#[test]
fn changes_reach_the_peer_only_when_shipped() {
    let nodes = setup(2, &["--mode", "async", "--from", "a", "--to", "b"]);
    nodes.sql(
        "a",
        "insert into t select g, 'v' || g, g from generate_series(1, 1000) g",
    );
    nodes.sql(
        "a",
        "update t set v = 'changed', id = id + 5000 where id <= 10",
    );
    nodes.sql("a", "delete from t where id between 11 and 20");
    nodes.sql(
        "a",
        "begin; insert into t values (-1, 'rolled back', 0); rollback;",
    );
    assert_eq!(nodes.sql("b", "select count(*) from t"), "0");
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "3"
    );
    nodes.repsync_ok(&["run", "--once"]);
    assert_eq!(nodes.dump("b", "t"), nodes.dump("a", "t"));
    assert_eq!(nodes.sql("b", "select count(*) from t where id = -1"), "0");
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );
    // The receiver remembers how far it got.
    let watermark: i64 = nodes
        .sql(
            "b",
            "select last_id from repsync.applied where origin = 'a'",
        )
        .parse()
        .unwrap();
    assert!(watermark > 0);
    nodes.sql("a", "truncate t");
    nodes.repsync_ok(&["run", "--once"]);
    assert_eq!(nodes.sql("b", "select count(*) from t"), "0");
}

/// Whether `repsync run`'s session on `node` holds the idle lock, i.e. waits for
/// a NOTIFY.
fn shipper_waits_on(nodes: &common::Nodes, node: &str) -> bool {
    let [class, object] = repsync::drain::IDLE_LOCK;
    nodes.sql(
        node,
        &format!(
            "select count(*) from pg_locks l join pg_stat_activity a using (pid) \
              where l.locktype = 'advisory' and l.granted and a.application_name = 'repsync run' \
                and l.classid = {class} and l.objid = {object} and l.objsubid = 2"
        ),
    ) == "1"
}

/// The shipper polls every 10 minutes here (REPSYNC_IDLE_POLL_MS), so a change
/// that reaches its peers within the 10 s of `wait_for` was shipped because the
/// capture trigger's NOTIFY woke the shipper. Each change is made only once the
/// shipper waits on that node (it holds the idle lock): not found by a round
/// already under way.
#[test]
fn the_shipper_wakes_on_notify_and_stops_on_sigterm() {
    let nodes = setup(3, &["--mode", "async"]);
    let shipper = nodes.start_shipper_with(&[], "run.log", &[("REPSYNC_IDLE_POLL_MS", "600000")]);
    let wait_until_idle = |node: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !shipper_waits_on(&nodes, node) {
            assert!(
                std::time::Instant::now() < deadline,
                "the shipper does not wait on node {node}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_until_idle("a");
    nodes.sql("a", "insert into t values (1, 'from a', 1)");
    for n in ["b", "c"] {
        nodes.wait_for(n, "select count(*) from t where id = 1", "1");
    }
    wait_until_idle("b");
    nodes.sql("b", "insert into t values (2, 'from b', 2)");
    wait_until_idle("c");
    nodes.sql("c", "update t set v = 'from c' where id = 1");
    for n in ["a", "b", "c"] {
        nodes.wait_for(
            n,
            "select string_agg(v, ',' order by id) from t",
            "from c,from b",
        );
    }
    for n in ["a", "b", "c"] {
        nodes.wait_for(n, "select count(*) from repsync.sync_err_rec", "0");
        wait_until_idle(n);
    }
    // SIGTERM stops it at its next wake, which a NOTIFY brings at once.
    let pid = shipper.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    for n in ["a", "b", "c"] {
        nodes.sql(n, "notify repsync");
    }
    let mut shipper = shipper;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = shipper.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the shipper did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{}", nodes.shipper_log());
    let log = nodes.shipper_log();
    assert!(
        log.contains("batch shipped") && log.contains("rows=1"),
        "{log}"
    );
    assert!(log.trim_end().ends_with("stopped"), "{log}");
}

/// An idle shipper holds the idle lock, so a writer notifies; while no shipper
/// waits, writers do not notify (a NOTIFY serialises commits).
#[test]
fn writers_notify_only_a_waiting_shipper() {
    let nodes = setup(2, &["--mode", "async", "--from", "a", "--to", "b"]);
    let mut listener = postgres::Client::connect(&nodes.node("a").dsn(), postgres::NoTls).unwrap();
    listener.batch_execute("listen repsync").unwrap();
    let notified = |listener: &mut postgres::Client| {
        use fallible_iterator::FallibleIterator;
        let mut n = listener.notifications();
        n.timeout_iter(Duration::from_millis(500))
            .next()
            .unwrap()
            .is_some()
    };
    nodes.sql("a", "insert into t values (1, 'no shipper', 1)");
    assert!(!notified(&mut listener), "notified with no shipper waiting");
    let shipper = nodes.start_shipper(&[]);
    nodes.wait_for("b", "select count(*) from t", "1");
    nodes.wait_for(
        "a",
        "select count(*) from pg_locks l join pg_stat_activity a using (pid) \
          where l.locktype = 'advisory' and l.granted and a.application_name = 'repsync run'",
        "1",
    );
    nodes.sql("a", "insert into t values (2, 'shipper waits', 2)");
    assert!(
        notified(&mut listener),
        "a waiting shipper was not notified"
    );
    nodes.wait_for("b", "select count(*) from t", "2");
    assert_eq!(shipper.terminate(), 0);
}

#[test]
fn a_rolled_back_transaction_is_never_queued() {
    let nodes = setup(2, &["--mode", "async", "--from", "a", "--to", "b"]);
    nodes.sql("a", "begin; insert into t values (1, 'x', 1); savepoint s; insert into t values (2, 'y', 2); rollback to s; commit;");
    nodes.sql("a", "begin; insert into t values (3, 'z', 3); rollback;");
    nodes.repsync_ok(&["run", "--once"]);
    assert_eq!(
        nodes.sql("b", "select string_agg(id::text, ',' order by id) from t"),
        "1"
    );
}

/// Rows on b as the apply writes them: a trigger on b's table logs every row
/// applied, with the application_name of the session ("repsync apply" is the
/// shipper's COPY transport, "repsync" a dblink session).
fn log_applies_on_b(nodes: &common::Nodes) {
    nodes.sql(
        "b",
        "create table applies (seq bigserial, id int, n int, op text, app text); \
         create function log_apply() returns trigger language plpgsql as $$ \
           begin \
             insert into public.applies (id, n, op, app) \
               values (coalesce(new.id, old.id), new.n, tg_op, current_setting('application_name')); \
             return null; \
           end $$; \
         create trigger log_apply after insert or update or delete on t \
           for each row execute function log_apply()",
    );
}

/// What the trigger of [`log_applies_on_b`] logged: per session kind and
/// operation, the rows applied and how many distinct keys they were.
fn applies(nodes: &common::Nodes) -> String {
    nodes.sql(
        "b",
        "select coalesce(string_agg(format('%s %s %s/%s', app, op, count, keys), ', ' order by app, op), '') \
           from (select app, op, count(*), count(distinct id) as keys from applies group by app, op) s",
    )
}

/// `repsync run` SIGKILLed between a batch's remote commit and the local delete of
/// its entries. The drain is held there by a lock the test holds (see
/// `common::Nodes::install_delete_hold`), so the kill provably lands in that
/// window: b has committed the batch, a still has it queued. Each key is written
/// on a in one transaction only, so a trigger on b must see each key applied
/// exactly once: the next shipper finds the batch in b's watermark and deletes it
/// without shipping it again. First with a batch that goes by COPY, then with
/// three held batches in a row through dblink.
#[test]
fn sigkill_between_the_remote_commit_and_the_local_delete_loses_nothing() {
    let nodes = setup(2, &["--mode", "async", "--from", "a", "--to", "b"]);
    // Rows that later entries update and delete, already on b.
    nodes.sql(
        "a",
        "insert into t select g, 'old', 0 from generate_series(200001, 200400) g",
    );
    nodes.repsync_ok(&["run", "--once"]);
    assert_eq!(nodes.sql("b", "select count(*) from t"), "400");
    log_applies_on_b(&nodes);
    nodes.install_delete_hold("a");
    let queued =
        |nodes: &common::Nodes| nodes.sql("a", "select count(*) from repsync.sync_err_rec");

    // One batch of 20 entries: 100k keys (so it goes by COPY), then 19 updates.
    nodes.sql(
        "a",
        "insert into t select g, 'v' || g, 0 from generate_series(1, 100000) g",
    );
    nodes.sql(
        "a",
        "do $$ begin for i in 1..19 loop update t set n = i where id = 200000 + i; commit; end loop; end $$",
    );
    assert_eq!(queued(&nodes), "20");
    let hold = nodes.hold_next_batch("a", "b");
    let mut shipper = nodes.start_shipper(&["--limit", "20"]);
    let held = hold.wait_held(&nodes);
    assert_eq!(held.application_name, "repsync run");
    hold.kill_held(&nodes, &mut shipper.child, &held);
    // Applied on b, still queued on a.
    assert_eq!(
        applies(&nodes),
        "repsync apply INSERT 100000/100000, repsync apply UPDATE 19/19"
    );
    assert_eq!(queued(&nodes), "20");
    assert_eq!(
        nodes.sql(
            "a",
            &format!(
                "select count(*) from repsync.sync_err_rec where id between {} and {}",
                held.first_id, held.last_id
            )
        ),
        "20"
    );
    hold.release();
    // The next shipper only forgets the batch.
    nodes.repsync_ok(&["run", "--once", "--limit", "20"]);
    assert_eq!(queued(&nodes), "0");
    assert_eq!(
        applies(&nodes),
        "repsync apply INSERT 100000/100000, repsync apply UPDATE 19/19"
    );

    // 300 entries of one key each, shipped 20 at a time through dblink; three
    // shippers in a row are killed at the local delete, each after forgetting the
    // batches before (in the transaction the kill rolls back).
    nodes.sql(
        "a",
        "do $$ begin \
           for i in 1..100 loop insert into t values (100000 + i, 'new', 0); commit; end loop; \
           for i in 101..200 loop update t set n = i where id = 200000 + i; commit; end loop; \
           for i in 301..400 loop delete from t where id = 200000 + i; commit; end loop; \
         end $$",
    );
    assert_eq!(queued(&nodes), "300");
    let mut applied = 100_019;
    for round in 1..=3 {
        let hold = nodes.hold_next_batch("a", "b");
        let mut shipper = nodes.start_shipper(&["--limit", "20"]);
        let held = hold.wait_held(&nodes);
        hold.kill_held(&nodes, &mut shipper.child, &held);
        applied += 20;
        assert_eq!(
            nodes.sql("b", "select count(*) from applies"),
            applied.to_string(),
            "round {round}"
        );
        assert_eq!(queued(&nodes), "300", "round {round}");
        assert_eq!(
            nodes.sql(
                "a",
                &format!(
                    "select count(*) from repsync.sync_err_rec where id between {} and {}",
                    held.first_id, held.last_id
                )
            ),
            "20",
            "round {round}"
        );
        hold.release();
    }
    assert_eq!(
        applies(&nodes),
        "repsync INSERT 60/60, repsync apply INSERT 100000/100000, repsync apply UPDATE 19/19"
    );
    nodes.repsync_ok(&["run", "--once", "--limit", "20"]);
    assert_eq!(queued(&nodes), "0");
    // Nothing lost, nothing applied twice.
    assert_eq!(
        applies(&nodes),
        "repsync DELETE 100/100, repsync INSERT 100/100, repsync UPDATE 100/100, \
         repsync apply INSERT 100000/100000, repsync apply UPDATE 19/19"
    );
    assert_eq!(nodes.dump("b", "t"), nodes.dump("a", "t"));
}

/// Two shippers on one destination, and every entry is applied on b exactly once.
/// The upserts are idempotent, so b's rows alone would not show a batch applied
/// twice: a trigger on b logs every row the apply writes, and each key is written
/// on a in exactly one transaction per phase (inserts, then, once those are
/// shipped, updates), so each key must be applied once per phase. The overlap is
/// made, not hoped for: the first shipper is held inside its batch (after b
/// committed it, before a deletes it) while the second asks for the destination
/// and is turned away; then the first is told to stop and the second ships the
/// rest (the first may still take a batch or two before its signal handler
/// runs, so only the second's shipping is asserted).
#[test]
fn two_shippers_at_once_apply_nothing_twice() {
    let nodes = setup(2, &["--mode", "async", "--from", "a", "--to", "b"]);
    nodes.sql(
        "b",
        "create table applies (id int, n int, op text); \
         create function log_apply() returns trigger language plpgsql as $$ \
           begin insert into public.applies values (new.id, new.n, tg_op); return null; end $$; \
         create trigger log_apply after insert or update on t \
           for each row execute function log_apply()",
    );
    nodes.install_delete_hold("a");
    nodes.sql(
        "a",
        "do $$ begin for i in 1..200 loop insert into t values (i, 'v', 0); commit; end loop; end $$",
    );
    let hold = nodes.hold_next_batch("a", "b");
    let first = nodes.start_shipper_with(&["--limit", "5"], "first.log", &[]);
    let held = hold.wait_held(&nodes);
    assert_eq!(held.last_id - held.first_id + 1, 5, "{held:?}");
    let second = nodes.start_shipper_with(&["--limit", "5"], "second.log", &[]);
    // The second shipper's session has finished a drain call while the first
    // still holds the destination: that call found it busy.
    nodes.wait_for(
        "a",
        &format!(
            "select count(*) > 0 from pg_stat_activity where pid <> {} and state = 'idle' \
               and query like '%repsync.drain_errors(%'",
            held.pid
        ),
        "t",
    );
    assert_eq!(nodes.watermark("b", "a"), held.last_id);
    assert_eq!(nodes.sql("b", "select count(*) from applies"), "5");
    first.signal_stop();
    hold.release();
    assert_eq!(first.wait(), 0, "{}", nodes.log("first.log"));
    nodes.wait_for("a", "select count(*) from repsync.sync_err_rec", "0");
    nodes.wait_for("b", "select count(*) from t", "200");
    for log in ["first.log", "second.log"] {
        let text = nodes.log(log);
        assert!(text.contains("batch shipped"), "{log}:\n{text}");
    }

    // Updates with two shippers running side by side, taking whatever turns they get.
    let third = nodes.start_shipper_with(&["--limit", "5"], "third.log", &[]);
    nodes.sql(
        "a",
        "do $$ begin for i in 1..200 loop update t set n = i where id = i; commit; end loop; end $$",
    );
    nodes.wait_for("a", "select count(*) from repsync.sync_err_rec", "0");
    nodes.wait_for("b", "select sum(n) from t", "20100");
    assert_eq!(second.terminate(), 0, "{}", nodes.log("second.log"));
    assert_eq!(third.terminate(), 0, "{}", nodes.log("third.log"));
    assert_eq!(
        nodes.sql(
            "b",
            "select string_agg(format('%s %s %s', op, count, keys), ', ' order by op) from \
               (select op, count(*), count(distinct id) as keys from applies group by op) s",
        ),
        "INSERT 200 200, UPDATE 200 200"
    );
    assert_eq!(
        nodes.sql(
            "b",
            "select count(*) from applies where op = 'UPDATE' and n <> id"
        ),
        "0"
    );
    assert_eq!(nodes.dump("b", "t"), nodes.dump("a", "t"));
}

#[test]
fn a_peer_down_under_write_load_catches_up() {
    let nodes = setup(2, &["--mode", "async"]);
    let shipper = nodes.start_shipper(&[]);
    nodes.node("b").stop().unwrap();
    for i in 0..50 {
        nodes.sql(
            "a",
            &format!("insert into t values ({i}, 'while b was down', {i})"),
        );
    }
    // Both failures have been seen (and the retries that follow them are not
    // logged again) before b comes back.
    nodes.wait_for_log("run.log", "cannot ship; retrying");
    nodes.wait_for_log("run.log", "cannot ship from this node");
    std::thread::sleep(Duration::from_millis(1500));
    nodes.node("b").restart().unwrap();
    nodes.sql("a", "update t set v = 'after' where id < 5");
    nodes.wait_for("b", "select count(*) from t", "50");
    nodes.wait_for("a", "select count(*) from repsync.sync_err_rec", "0");
    assert_eq!(nodes.dump("b", "t"), nodes.dump("a", "t"));
    assert_eq!(shipper.terminate(), 0);
    let log = nodes.shipper_log();
    // Said once that a cannot reach b, and once that b itself is down: not once
    // per attempt.
    let lines: Vec<&str> = log.lines().collect();
    let about = |what: &str| lines.iter().filter(|l| l.contains(what)).count();
    assert_eq!(about("cannot ship; retrying"), 1, "{log}");
    assert_eq!(about("cannot ship from this node"), 1, "{log}");
}

#[test]
fn switching_modes_with_a_backlog_keeps_every_change_in_order() {
    let nodes = setup(2, &["--from", "a", "--to", "b"]);
    nodes.node("b").stop().unwrap();
    nodes.sql(
        "a",
        "insert into t values (1, 'sync 1', 1), (2, 'sync 2', 2)",
    );
    nodes.sql("a", "update t set v = 'sync 3' where id = 1");
    // b is back, but nothing drains: the two changes still wait for it.
    nodes.node("b").restart().unwrap();
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "2"
    );
    // To async with that backlog.
    nodes.repsync_ok(&[
        "add-table",
        "t",
        "--from",
        "a",
        "--to",
        "b",
        "--mode",
        "async",
    ]);
    nodes.sql("a", "update t set v = 'async 4', id = 10 where id = 1");
    nodes.sql("a", "delete from t where id = 2");
    // And back to sync, still with a backlog: new changes queue behind it.
    nodes.repsync_ok(&[
        "add-table",
        "t",
        "--from",
        "a",
        "--to",
        "b",
        "--mode",
        "sync",
    ]);
    nodes.sql("a", "insert into t values (2, 'sync 5', 5)");
    assert_eq!(nodes.sql("b", "select count(*) from t"), "0");
    nodes.repsync_ok(&["run", "--once"]);
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );
    assert_eq!(nodes.dump("b", "t"), nodes.dump("a", "t"));
    assert_eq!(
        nodes.sql("b", "select string_agg(v, ',' order by id) from t"),
        "sync 5,async 4"
    );
}

#[test]
fn run_once_exits_1_when_a_peer_is_down() {
    let nodes = setup(2, &["--mode", "async", "--from", "a", "--to", "b"]);
    nodes.node("b").stop().unwrap();
    nodes.sql("a", "insert into t values (1, 'x', 1)");
    let (code, _, stderr) = nodes.repsync(&["run", "--once", "--node", "a"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("node a") && stderr.contains('b'),
        "{stderr}"
    );
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "1"
    );
}

#[test]
fn status_shows_the_shipper_and_the_lag() {
    let nodes = setup(2, &["--mode", "async", "--from", "a", "--to", "b"]);
    nodes.sql("a", "insert into t values (1, 'x', 1)");
    let (code, stdout, _) = nodes.repsync(&["status", "--json"]);
    assert_eq!(code, 1, "a queue nobody ships needs attention:\n{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let queue = &report["queues"][0];
    assert_eq!(queue["depth"], 1);
    assert_eq!(queue["shipper_running"], false);
    assert!(queue["oldest_seconds"].as_f64().unwrap() >= 0.0);
    let shipper = nodes.start_shipper(&[]);
    nodes.wait_for("b", "select count(*) from t", "1");
    let (code, stdout, _) = nodes.repsync(&["status", "--json"]);
    assert_eq!(code, 0, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["nodes"][0]["shipper_running"], true, "{stdout}");
    let (_, table, _) = nodes.repsync(&["status"]);
    assert!(table.contains("running"), "{table}");
    assert_eq!(shipper.terminate(), 0);
}

/// A receiver that claims more than this node ever queued means this database is
/// not the one it got those changes from: nothing is dropped as "already applied".
#[test]
fn a_watermark_from_another_life_stops_the_drain() {
    let nodes = setup(2, &["--mode", "async", "--from", "a", "--to", "b"]);
    nodes.sql("b", "insert into repsync.applied values ('a', 1000000)");
    nodes.sql("a", "insert into t values (1, 'x', 1)");
    let (code, stdout, stderr) = nodes.repsync(&["drain-errors"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("only reached") && stderr.contains("delete from repsync.applied"),
        "{stderr}"
    );
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "1"
    );
    nodes.sql("b", "delete from repsync.applied where origin = 'a'");
    nodes.repsync_ok(&["drain-errors"]);
    assert_eq!(nodes.sql("b", "select v from t"), "x");
}

#[test]
fn async_row_filter_and_column_subset() {
    let nodes = setup_filtered();
    nodes.sql("a", "insert into t values (1, 'eu', 'one', 's1'), (2, 'us', 'two', 's2'), (3, 'eu', 'three', 's3')");
    nodes.repsync_ok(&["run", "--once"]);
    assert_eq!(nodes.dump("b", "t"), "(1,eu,one,)\n(3,eu,three,)");
    // Out of the filter, into it, a key change inside it, a delete outside it.
    nodes.sql("a", "update t set region = 'us' where id = 1");
    nodes.sql("a", "update t set region = 'eu' where id = 2");
    nodes.sql("a", "update t set id = 30 where id = 3");
    nodes.sql("a", "delete from t where id = 1");
    let (code, _, log) = nodes.repsync(&["run", "--once"]);
    assert_eq!(code, 0, "{log}");
    // The shipper's own transport did it, not the dblink fallback.
    assert!(log.contains("batch shipped"), "{log}");
    assert!(!log.contains("direct transport failed"), "{log}");
    assert_eq!(nodes.dump("b", "t"), "(2,eu,two,)\n(30,eu,three,)");
}

/// A destination that rejects a row of a large batch: the copy fails, the dblink
/// drain holds the entry with its error, the entries behind it wait, and after
/// the fix everything is shipped.
#[test]
fn a_rejected_row_is_held_with_its_error_then_shipped() {
    let nodes = setup(2, &["--mode", "async", "--from", "a", "--to", "b"]);
    nodes.sql("b", "alter table t add constraint small check (n < 100000)");
    nodes.sql(
        "a",
        "insert into t select g, 'v', g from generate_series(1, 5000) g",
    );
    nodes.repsync_ok(&["run", "--once"]);
    nodes.sql(
        "a",
        "insert into t select g, 'v', g * 100 from generate_series(5001, 10000) g",
    );
    nodes.sql("a", "update t set v = 'behind' where id = 1");
    let (code, _, log) = nodes.repsync(&["run", "--once"]);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("direct transport failed"), "{log}");
    assert_eq!(nodes.sql("b", "select count(*) from t"), "5000");
    assert_eq!(nodes.sql("b", "select v from t where id = 1"), "v");
    let error = nodes.sql(
        "a",
        "select last_error from repsync.sync_err_rec order by id limit 1",
    );
    assert!(error.contains("small"), "{error}");
    nodes.sql("b", "alter table t drop constraint small");
    nodes.repsync_ok(&["run", "--once"]);
    assert_eq!(nodes.dump("b", "t"), nodes.dump("a", "t"));
}

/// Large batches go by COPY: filter, column subset, key change and delete.
#[test]
fn large_batches_are_copied_with_filter_and_columns() {
    let nodes = setup_filtered();
    nodes.sql(
        "a",
        "insert into t select g, case when g % 3 = 0 then 'us' else 'eu' end, 'v' || g, 's' from generate_series(1, 20000) g",
    );
    let (code, _, log) = nodes.repsync(&["run", "--once"]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("transport=\"copy\""), "{log}");
    let dump = "select count(*) || ',' || coalesce(sum(hashtext(v || region)), 0) || ',' || count(secret) from t";
    let eu_on_a = "select count(*) || ',' || coalesce(sum(hashtext(v || region)), 0) || ',0' from t where region = 'eu'";
    assert_eq!(nodes.sql("b", dump), nodes.sql("a", eu_on_a));
    // Out of the filter, into it, key changes, deletes: all in large statements.
    nodes.sql("a", "update t set region = 'us' where id % 6 = 1");
    nodes.sql("a", "update t set region = 'eu', v = 'in' where id % 6 = 3");
    nodes.sql("a", "update t set id = id + 100000 where id % 6 = 2");
    nodes.sql("a", "delete from t where id % 6 = 4");
    let (code, _, log) = nodes.repsync(&["run", "--once"]);
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("direct transport failed"), "{log}");
    assert_eq!(nodes.sql("b", dump), nodes.sql("a", eu_on_a));
}

/// A node that is not initialised is reported once, not in a tight loop.
#[test]
fn run_on_a_node_without_repsync_backs_off_and_says_so_once() {
    let nodes = common::start_nodes(2);
    let shipper = nodes.start_shipper(&[]);
    nodes.wait_for_log("run.log", "node=a");
    nodes.wait_for_log("run.log", "node=b");
    // Long enough for a tight loop, or a back-off that logs every try, to say it again.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(shipper.terminate(), 0, "{}", nodes.shipper_log());
    let log = nodes.shipper_log();
    assert_eq!(log.matches("node=a").count(), 1, "{log}");
    assert_eq!(log.matches("node=b").count(), 1, "{log}");
    assert!(log.contains("cannot ship from this node"), "{log}");
}

/// Queue ids are handed out when a change is queued, but become visible when its
/// transaction commits: an entry with a lower id can appear after a batch with
/// higher ids was shipped. It must still be shipped, not taken as applied.
#[test]
fn an_entry_committed_after_a_later_one_was_shipped_is_not_lost() {
    let nodes = setup(2, &["--mode", "async", "--from", "a", "--to", "b"]);
    nodes.sql(
        "a",
        "insert into t select g, 'v', 0 from generate_series(1, 3) g",
    );
    nodes.repsync_ok(&["run", "--once"]);
    let mut slow = postgres::Client::connect(&nodes.node("a").dsn(), postgres::NoTls).unwrap();
    let mut slow = slow.transaction().unwrap();
    slow.batch_execute("update t set v = 'slow' where id = 1")
        .unwrap();
    nodes.sql("a", "update t set v = 'fast' where id = 2");
    nodes.repsync_ok(&["run", "--once"]);
    assert_eq!(nodes.sql("b", "select v from t where id = 2"), "fast");
    slow.commit().unwrap();
    nodes.repsync_ok(&["run", "--once"]);
    assert_eq!(nodes.sql("b", "select v from t where id = 1"), "slow");
    assert_eq!(nodes.dump("b", "t"), nodes.dump("a", "t"));
}

/// Four writers of single-row transactions at once while the shipper runs: every
/// interleaving of queue ids and commits ends with the peer identical.
#[test]
fn concurrent_writers_with_a_running_shipper_converge() {
    let nodes = setup(2, &["--mode", "async", "--from", "a", "--to", "b"]);
    nodes.sql(
        "a",
        "insert into t select g, 'v', 0 from generate_series(1, 200) g",
    );
    let shipper = nodes.start_shipper(&["--limit", "50"]);
    let dsn = nodes.node("a").dsn();
    std::thread::scope(|s| {
        for writer in 0..4 {
            let dsn = &dsn;
            s.spawn(move || {
                let mut c = postgres::Client::connect(dsn, postgres::NoTls).unwrap();
                for i in 0..300 {
                    let id = (writer * 7919 + i * 104_729) % 300;
                    let mut tx = c.transaction().unwrap();
                    match i % 3 {
                        0 => tx.execute(
                            "insert into t values ($1, 'new', 0) on conflict (id) do update set n = t.n + 1",
                            &[&id],
                        ),
                        1 => tx.execute("update t set n = n + 1, v = md5(random()::text) where id = $1", &[&id]),
                        _ => tx.execute("delete from t where id = $1", &[&id]),
                    }
                    .unwrap();
                    // Work after the change keeps the transaction open, so commits
                    // often come in another order than the queue ids.
                    tx.execute("select pg_sleep(random() * 0.003)", &[]).unwrap();
                    tx.commit().unwrap();
                }
            });
        }
    });
    nodes.wait_for("a", "select count(*) from repsync.sync_err_rec", "0");
    assert_eq!(shipper.terminate(), 0);
    assert_eq!(nodes.dump("b", "t"), nodes.dump("a", "t"));
}
