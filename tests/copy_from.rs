//! `add-table --copy-from NODE` while the table is being written: afterwards the
//! nodes are identical, with no lost and no stale rows.
mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

const TABLE: &str = "create table t (id int primary key, v text, n int)";

/// Sets the flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Updates, deletes and inserts on `node` until `stop` is set, in small transactions;
/// each statement that ran entirely while `held` was set counts in `during`.
fn write_until(
    nodes: &common::Nodes,
    node: &str,
    stop: &AtomicBool,
    held: &AtomicBool,
    during: &AtomicI64,
) -> i64 {
    let mut client = postgres::Client::connect(&nodes.node(node).dsn(), postgres::NoTls).unwrap();
    let mut done = 0;
    let mut i: i32 = 0;
    while !stop.load(Ordering::Relaxed) {
        i = i.wrapping_add(7919);
        let id = i.rem_euclid(25_000);
        let sql = match i.rem_euclid(3) {
            0 => "update t set v = 'changed ' || n, n = n + 1 where id = $1",
            1 => "delete from t where id = $1",
            _ => {
                "insert into t values ($1, 'new', 0) on conflict (id) do update set v = 'upserted'"
            }
        };
        let held_before = held.load(Ordering::SeqCst);
        let result = client.execute(sql, &[&id]);
        if held_before && held.load(Ordering::SeqCst) {
            during.fetch_add(1, Ordering::SeqCst);
        }
        if let Err(err) = result {
            let log = nodes.node(node).server_log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!("a writer on node {node} failed: {err}\n{}", tail.join("\n"));
        }
        done += 1;
    }
    done
}

fn copy_while_writing(add_table: &[&str], writers: &[&str]) {
    let nodes = common::start_nodes(3);
    for n in ["a", "b", "c"] {
        nodes.sql(n, TABLE);
    }
    nodes.sql(
        "a",
        "insert into t select g, 'v' || g, g from generate_series(1, 20000) g",
    );
    // A stale row on b is overwritten by a's.
    nodes.sql("b", "insert into t values (7, 'stale', -1)");
    nodes.repsync_ok(&["init"]);
    // The copy is held in the middle: its first batch committed on b and not yet
    // deleted from a's queue (common::Nodes::install_delete_hold). The writers
    // run through that, so their changes provably overlap the copy.
    nodes.install_delete_hold("a");
    let hold = nodes.hold_next_batch("a", "b");
    let stop = AtomicBool::new(false);
    let held = AtomicBool::new(false);
    let during = AtomicI64::new(0);
    let writes: i64 = std::thread::scope(|s| {
        // Should an assertion below fail, the writers stop and the hold (moved in
        // here) goes as the closure unwinds, so the scope's threads end and the
        // test fails instead of hanging.
        let _stop_writers = StopOnDrop(&stop);
        let hold = hold;
        let handles: Vec<_> = writers
            .iter()
            .map(|w| s.spawn(|| write_until(&nodes, w, &stop, &held, &during)))
            .collect();
        let mut args = vec!["add-table", "t", "--copy-from", "a"];
        args.extend_from_slice(add_table);
        let nodes = &nodes;
        let copy = s.spawn(move || nodes.repsync(&args));
        let at = hold.wait_held(nodes);
        assert_eq!(at.application_name, "repsync");
        assert!(
            !copy.is_finished(),
            "add-table returned while its copy was held"
        );
        held.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(60);
        while during.load(Ordering::SeqCst) < 200 {
            assert!(
                Instant::now() < deadline,
                "the writers stalled while the copy was held"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        held.store(false, Ordering::SeqCst);
        hold.release();
        let (code, out, err) = copy.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        let writes = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(out.contains("node a: copied to node b"), "{out}");
        assert!(out.contains("node a: copied to node c"), "{out}");
        writes
    });
    assert!(during.load(Ordering::SeqCst) >= 200);
    assert!(writes > 0);
    nodes.repsync_ok(&["drain-errors"]);
    let (code, out, err) = nodes.repsync(&["verify", "t"]);
    assert_eq!(code, 0, "{writes} writes\n{out}\n{err}");
    assert_eq!(
        nodes.sql("b", "select v from t where id = 7"),
        nodes.sql("a", "select v from t where id = 7")
    );
}

#[test]
fn one_way_async_copy_while_the_source_is_written() {
    copy_while_writing(&["--from", "a", "--to", "b,c", "--mode", "async"], &["a"]);
}

#[test]
fn multi_master_sync_copy_while_two_nodes_are_written() {
    copy_while_writing(&[], &["a", "b"]);
}
