//! Faults under a sustained write load on the source, in both modes: the peer
//! stopped with `-m immediate` and restarted, its replication sessions killed with
//! `pg_terminate_backend`, `repsync run` and `repsync drain-errors` killed with
//! SIGKILL between a batch's remote commit and its local delete. The writers never
//! fail (`--on-error queue`), and after a drain the nodes are identical.
mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const TABLE: &str =
    "create table t (id int primary key, v text not null, n int not null default 0)";
const KEYS: u64 = 3000;

/// A writer on node a: single-row inserts, updates and deletes, and now and then a
/// multi-row update, each its own transaction. Returns the statements it ran and
/// every error it got.
fn writer(dsn: String, mut seed: u64, stop: Arc<AtomicBool>) -> JoinHandle<(u64, Vec<String>)> {
    std::thread::spawn(move || {
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as i32
        };
        let mut client = postgres::Client::connect(&dsn, postgres::NoTls).expect("writer connects");
        let (mut done, mut errors) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let id = next(KEYS);
            let result = match next(10) {
                0..=3 => client.execute(
                    "insert into t (id, v) values ($1::int, md5($1::int::text)) on conflict (id) do update set n = t.n + 1",
                    &[&id],
                ),
                4..=6 => client.execute("update t set v = md5(random()::text), n = n + 1 where id = $1", &[&id]),
                7..=8 => client.execute("delete from t where id = $1", &[&id]),
                _ => client.execute("update t set n = n + 1 where id between $1 and $1 + 20", &[&id]),
            };
            done += 1;
            if let Err(err) = result {
                errors.push(format!("{err:?}"));
            }
        }
        (done, errors)
    })
}

fn terminate_replication_sessions(nodes: &common::Nodes) -> String {
    nodes.sql(
        "b",
        "select count(pg_terminate_backend(pid)) from pg_stat_activity
          where application_name in ('repsync', 'repsync apply') and pid <> pg_backend_pid()",
    )
}

fn faults_under_load(mode: &str) {
    let nodes = common::with_table(2, TABLE, &["t", "--from", "a", "--to", "b", "--mode", mode]);
    nodes.install_delete_hold("a");
    let config = nodes.config_path();
    let repsync = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_repsync"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("PGPASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting repsync")
    };
    let mut shipper = (mode == "async").then(|| nodes.start_shipper(&[]));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (1..=3u64)
        .map(|i| {
            writer(
                nodes.node("a").dsn(),
                0x9E37_79B9_7F4A_7C15 ^ i,
                stop.clone(),
            )
        })
        .collect();

    std::thread::sleep(Duration::from_secs(1));
    // 1. The replication sessions on the peer are killed, again and again, while
    // changes flow (in sync mode, once a change is queued the later ones queue
    // behind it until a drain, so this comes first).
    let mut terminated = 0;
    for _ in 0..10 {
        terminated += terminate_replication_sessions(&nodes)
            .parse::<i64>()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    // 2. The peer crashes and comes back.
    nodes.node("b").kill().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    nodes.node("b").restart().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    // 3. The shipper and two drains are SIGKILLed mid-batch: a lock the test holds
    // stops each one after b committed its batch and before a deletes it (see
    // common::Nodes::install_delete_hold), so the kill lands in that window; the
    // batch stays queued on a and b's watermark covers it.
    if let Some(mut s) = shipper.take() {
        // The running shipper, wherever it is, and b crashes again.
        assert!(s.child.try_wait().unwrap().is_none(), "the shipper exited");
        drop(s);
        nodes.node("b").kill().unwrap();
        std::thread::sleep(Duration::from_secs(1));
        nodes.node("b").restart().unwrap();
        let hold = nodes.hold_next_batch("a", "b");
        let mut s = nodes.start_shipper(&[]);
        let held = hold.wait_held(&nodes);
        assert_eq!(held.application_name, "repsync run");
        hold.kill_held(&nodes, &mut s.child, &held);
        hold.release();
    }
    for _ in 0..2 {
        let hold = nodes.hold_next_batch("a", "b");
        let mut drain = repsync(&["drain-errors"]);
        let held = hold.wait_held(&nodes);
        assert_eq!(held.application_name, "repsync");
        hold.kill_held(&nodes, &mut drain, &held);
        hold.release();
    }
    if mode == "async" {
        shipper = Some(nodes.start_shipper(&[]));
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let mut statements = 0;
    for w in writers {
        let (done, errors) = w.join().unwrap();
        assert!(
            errors.is_empty(),
            "{mode}: a writer failed {} times, first: {:?}",
            errors.len(),
            errors.first()
        );
        statements += done;
    }
    assert!(statements > 300, "{mode}: only {statements} statements ran");
    assert!(
        terminated > 0,
        "{mode}: no replication session was there to kill"
    );
    drop(shipper);

    // Everything queued reaches b.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, out, err) = nodes.repsync(&["drain-errors"]);
        let queued = nodes.sql("a", "select count(*) from repsync.sync_err_rec");
        if code == 0 && queued == "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{mode}: never drained: {out}\n{err}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, out, err) = nodes.repsync(&["verify", "t"]);
    assert_eq!(
        code, 0,
        "{mode}: after {statements} statements and {terminated} killed sessions\n{out}\n{err}"
    );
    assert_eq!(nodes.dump("a", "t"), nodes.dump("b", "t"));
}

#[test]
fn sync_mode_survives_every_fault_under_load() {
    faults_under_load("sync");
}

#[test]
fn async_mode_survives_every_fault_under_load() {
    faults_under_load("async");
}

/// A peer whose table rejects a row (a constraint the source does not have), under
/// write load, with a second destination: the entry is held with its error and the
/// rest of that peer's queue waits behind it, the other peer goes on, and once the
/// peer is fixed a drain finishes the job.
fn a_rejected_row_under_load(mode: &str) {
    let nodes = common::with_table(
        3,
        TABLE,
        &["t", "--from", "a", "--to", "b,c", "--mode", mode],
    );
    nodes.sql(
        "b",
        "alter table t add constraint no_poison check (v <> 'poison')",
    );
    let shipper = (mode == "async").then(|| nodes.start_shipper(&[]));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (1..=2u64)
        .map(|i| {
            writer(
                nodes.node("a").dsn(),
                0x2545_F491_4F6C_DD1D ^ i,
                stop.clone(),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    nodes.sql("a", "insert into t (id, v) values (-1, 'poison')");
    std::thread::sleep(Duration::from_millis(500));
    nodes.sql("a", "insert into t (id, v) values (-2, 'after the poison')");

    // c gets everything, also what came after the poison; b holds the entry.
    nodes.wait_for("c", "select count(*) from t where id = -2", "1");
    let held = nodes.sql(
        "a",
        "select count(*) from repsync.sync_err_rec where dest = 'b' and last_error like '%no_poison%'",
    );
    if mode == "async" {
        // The shipper records the error on the entry it is stuck at.
        let deadline = Instant::now() + Duration::from_secs(20);
        while nodes.sql(
            "a",
            "select count(*) from repsync.sync_err_rec where dest = 'b' and last_error like '%no_poison%'",
        ) == "0"
        {
            assert!(Instant::now() < deadline, "the error was never recorded");
            std::thread::sleep(Duration::from_millis(100));
        }
    } else {
        // In sync mode the poison is queued in its own transaction; the error is
        // recorded by the first drain that meets it.
        let (code, out, err) = nodes.repsync(&["drain-errors", "--node", "a", "--to", "b"]);
        assert_eq!(code, 1, "{held}\n{out}\n{err}");
        assert!(format!("{out}{err}").contains("no_poison"), "{out}\n{err}");
    }
    assert_eq!(
        nodes.sql("b", "select count(*) from t where id in (-1, -2)"),
        "0"
    );
    let (code, out, _) = nodes.repsync(&["status"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no_poison"), "{out}");

    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let (_, errors) = w.join().unwrap();
        assert!(
            errors.is_empty(),
            "{mode}: a writer failed: {:?}",
            errors.first()
        );
    }
    drop(shipper);
    nodes.sql("b", "alter table t drop constraint no_poison");
    let deadline = Instant::now() + Duration::from_secs(60);
    while nodes.repsync(&["drain-errors"]).0 != 0 {
        assert!(Instant::now() < deadline, "{mode}: never drained");
        std::thread::sleep(Duration::from_millis(200));
    }
    for node in ["b", "c"] {
        assert_eq!(
            nodes.dump("a", "t"),
            nodes.dump(node, "t"),
            "{mode}: node {node}"
        );
    }
    nodes.repsync_ok(&["verify", "t"]);
}

#[test]
fn sync_mode_holds_a_rejected_row_and_goes_on_elsewhere() {
    a_rejected_row_under_load("sync");
}

#[test]
fn async_mode_holds_a_rejected_row_and_goes_on_elsewhere() {
    a_rejected_row_under_load("async");
}
