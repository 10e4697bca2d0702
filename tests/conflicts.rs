//! Tables that several nodes write: concurrent changes to one key are conflicts,
//! settled the same way on every node and logged.
mod common;

const TABLE: &str = "create table t (id int primary key, v text, stamp timestamptz)";

/// Both nodes change row 1 while neither has shipped: each node sees the other's
/// change as a conflict, and both keep the same version.
fn concurrent_update(policy: &[&str], first: &str, second: &str) -> common::Nodes {
    let mut args = vec!["t", "--mode", "async"];
    args.extend_from_slice(policy);
    let nodes = common::with_table(2, TABLE, &args);
    nodes.sql("a", "insert into t values (1, 'start', now())");
    nodes.repsync_ok(&["run", "--once"]);
    nodes.wait_for("b", "select v from t where id = 1", "start");
    nodes.sql(
        first,
        &format!("update t set v = 'from {first}', stamp = now() where id = 1"),
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    nodes.sql(
        second,
        &format!("update t set v = 'from {second}', stamp = now() where id = 1"),
    );
    nodes.repsync_ok(&["run", "--once"]);
    nodes
}

fn value(nodes: &common::Nodes, node: &str) -> String {
    nodes.sql(node, "select v from t where id = 1")
}

/// Which nodes log a conflict depends on which node ships first: the second
/// reads its row after the first one's change landed. Each node's log is the
/// expected entry or empty, and at least one node has it.
fn assert_settled(nodes: &common::Nodes, expected: &[(&str, &str)]) {
    let logs: Vec<String> = expected.iter().map(|(n, _)| conflicts(nodes, n)).collect();
    for ((node, entry), log) in expected.iter().zip(&logs) {
        assert!(log.is_empty() || log == entry, "node {node}: {log}");
    }
    assert!(
        logs.iter().any(|l| !l.is_empty()),
        "no node logged the conflict"
    );
}

fn conflicts(nodes: &common::Nodes, node: &str) -> String {
    nodes.sql(
        node,
        "select string_agg(format('%s %s %s %s', key, remote_origin, policy, winner), '; ' order by id) from repsync.conflict",
    )
}

#[test]
fn the_change_captured_later_wins_everywhere() {
    let nodes = concurrent_update(&[], "b", "a");
    assert_eq!(value(&nodes, "a"), "from a");
    assert_eq!(value(&nodes, "b"), "from a");
    assert_settled(
        &nodes,
        &[
            ("a", r#"{"id":1} b newer-wins local"#),
            ("b", r#"{"id":1} a newer-wins remote"#),
        ],
    );
    let out = nodes.repsync_ok(&["verify", "t"]);
    assert!(out.contains("identical"), "{out}");
}

#[test]
fn origin_priority_prefers_the_listed_node_over_the_later_change() {
    let nodes = concurrent_update(&["--conflict", "origin-priority:b,a"], "b", "a");
    assert_eq!(value(&nodes, "a"), "from b");
    assert_eq!(value(&nodes, "b"), "from b");
    assert_settled(
        &nodes,
        &[
            ("a", r#"{"id":1} b origin-priority:b,a remote"#),
            ("b", r#"{"id":1} a origin-priority:b,a local"#),
        ],
    );
}

#[test]
fn newer_wins_on_a_column_goes_by_its_value_not_by_when_it_was_written() {
    let nodes = common::with_table(
        2,
        TABLE,
        &["t", "--mode", "async", "--conflict", "newer-wins:stamp"],
    );
    nodes.sql("a", "insert into t values (1, 'start', '2026-01-01')");
    nodes.repsync_ok(&["run", "--once"]);
    nodes.sql(
        "b",
        "update t set v = 'from b', stamp = '2026-03-01' where id = 1",
    );
    nodes.sql(
        "a",
        "update t set v = 'from a', stamp = '2026-02-01' where id = 1",
    );
    nodes.repsync_ok(&["run", "--once"]);
    assert_eq!(value(&nodes, "a"), "from b");
    assert_eq!(value(&nodes, "b"), "from b");
    assert_settled(
        &nodes,
        &[
            ("a", r#"{"id":1} b newer-wins:stamp remote"#),
            ("b", r#"{"id":1} a newer-wins:stamp local"#),
        ],
    );
}

#[test]
fn keep_local_leaves_the_nodes_different_and_apply_remote_takes_the_peers_row() {
    let nodes = concurrent_update(&["--conflict", "keep-local"], "b", "a");
    assert_eq!(value(&nodes, "a"), "from a");
    assert_eq!(value(&nodes, "b"), "from b");
    assert_eq!(conflicts(&nodes, "a"), r#"{"id":1} b keep-local local"#);
    assert_eq!(conflicts(&nodes, "b"), r#"{"id":1} a keep-local local"#);
    let (code, out, _) = nodes.repsync(&["verify", "t"]);
    assert_eq!(code, 1, "{out}");

    // The seed's overwrite: each receiver takes the peer's row. Shipped one node
    // after the other, a's change first: b takes it (its own is overwritten and
    // logged), then b's queued key ships b's current row, which is a's version,
    // so a sees no conflict and both end with a's row.
    let nodes = common::with_table(
        2,
        TABLE,
        &["t", "--mode", "async", "--conflict", "apply-remote"],
    );
    nodes.sql("a", "insert into t values (1, 'start', now())");
    nodes.repsync_ok(&["run", "--once"]);
    assert_eq!(value(&nodes, "b"), "start");
    nodes.sql("b", "update t set v = 'from b', stamp = now() where id = 1");
    nodes.sql("a", "update t set v = 'from a', stamp = now() where id = 1");
    nodes.repsync_ok(&["run", "--once", "--node", "a"]);
    assert_eq!(value(&nodes, "a"), "from a");
    assert_eq!(value(&nodes, "b"), "from a");
    assert_eq!(conflicts(&nodes, "b"), r#"{"id":1} a apply-remote remote"#);
    nodes.repsync_ok(&["run", "--once", "--node", "b"]);
    assert_eq!(value(&nodes, "a"), "from a");
    assert_eq!(value(&nodes, "b"), "from a");
    assert_eq!(conflicts(&nodes, "a"), "");
    assert_eq!(conflicts(&nodes, "b"), r#"{"id":1} a apply-remote remote"#);
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.sync_err_rec"),
            "0",
            "node {n}"
        );
    }
    let out = nodes.repsync_ok(&["verify", "t"]);
    assert!(out.contains("identical"), "{out}");
}

#[test]
fn a_delete_keeps_an_older_change_from_bringing_the_row_back() {
    let nodes = common::with_table(2, TABLE, &["t", "--mode", "async"]);
    nodes.sql(
        "a",
        "insert into t values (1, 'start', now()), (2, 'two', now())",
    );
    nodes.repsync_ok(&["run", "--once"]);
    // b's update is captured first, a's delete later: the delete wins on both.
    nodes.sql("b", "update t set v = 'from b' where id = 1");
    nodes.sql("a", "delete from t where id = 1");
    // And an insert on both nodes of one new key: the later insert wins.
    nodes.sql("a", "insert into t values (3, 'a three', now())");
    nodes.sql("b", "insert into t values (3, 'b three', now())");
    // A delete, then an update of the same row on the other node: the update is
    // later, so the row comes back everywhere.
    nodes.sql("a", "delete from t where id = 2");
    nodes.sql("b", "update t set v = 'b two' where id = 2");
    nodes.repsync_ok(&["run", "--once"]);
    for node in ["a", "b"] {
        assert_eq!(
            nodes.sql(
                node,
                "select string_agg(id || '=' || v, ',' order by id) from t"
            ),
            "2=b two,3=b three",
            "node {node}"
        );
    }
    // Each of the three keys was a conflict, logged on whichever node settled it.
    let keys: std::collections::BTreeSet<String> = ["a", "b"]
        .iter()
        .flat_map(|n| {
            nodes
                .sql(n, "select string_agg(key::text, ' ') from repsync.conflict")
                .split(' ')
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|k| !k.is_empty())
        .collect();
    assert_eq!(
        keys.into_iter().collect::<Vec<_>>().join(" "),
        r#"{"id":1} {"id":2} {"id":3}"#
    );
    // The delete of row 1 is remembered as a tombstone on both nodes.
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(
                n,
                "select repsync_deleted from repsync.versions_t_d0493b191493d70ae585 where id = 1"
            ),
            "t"
        );
    }
}

#[test]
fn sync_mode_settles_a_change_queued_while_the_peer_was_down() {
    let nodes = common::with_table(2, TABLE, &["t"]);
    nodes.sql("a", "insert into t values (1, 'start', now())");
    assert_eq!(value(&nodes, "b"), "start");
    nodes.node("b").stop().unwrap();
    nodes.sql("a", "update t set v = 'from a' where id = 1");
    nodes.node("b").restart().unwrap();
    // a's change waits in a's queue; b's later change reaches a at once.
    nodes.sql("b", "update t set v = 'from b' where id = 1");
    assert_eq!(value(&nodes, "a"), "from b");
    nodes.repsync_ok(&["drain-errors"]);
    assert_eq!(value(&nodes, "b"), "from b");
    assert_eq!(conflicts(&nodes, "a"), r#"{"id":1} b newer-wins remote"#);
    let out = nodes.repsync_ok(&["verify", "t"]);
    assert!(out.contains("identical"), "{out}");
}

/// Three nodes write overlapping keys at once (inserts, updates, deletes, key
/// changes, several rows per statement) while `repsync run` ships; node b is
/// stopped with `-m immediate` halfway and restarted. Once the queues are
/// drained, verify finds the three nodes identical.
fn three_writers_converge(mode: &str, policy: &[&str]) {
    let mut args = vec!["t", "--mode", mode];
    args.extend_from_slice(policy);
    // The harness's nodes run with synchronous_commit off, which an immediate stop
    // turns into lost commits; a real crash test needs them durable.
    let nodes = common::with_table_on(
        common::start_nodes_with(3, "synchronous_commit = on\n"),
        TABLE,
        &args,
    );
    let shipper = nodes.start_shipper(&[]);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("workload seed {seed}");
    let start = std::time::Instant::now();
    let at = |ms: u64| start + std::time::Duration::from_millis(ms);
    // Sync mode commits on the peers before the local commit: a node that dies in
    // between leaves its peers with a change it never committed (documented). So in
    // sync mode b's own writer pauses around its crash; the others write throughout.
    let b_pause = (mode == "sync").then(|| (at(1300), at(3500)));
    let (paused_tx, paused) = std::sync::mpsc::channel::<()>();
    let written: Vec<(&str, Written)> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            let dsn = nodes.node(name).dsn();
            let pause = if name == "b" {
                b_pause.map(|p| (p.0, p.1, paused_tx.clone()))
            } else {
                None
            };
            handles.push((
                name,
                s.spawn(move || {
                    write_randomly(&dsn, seed ^ ((i as u64 + 1) * 0x9e37_79b9), pause, at(5000))
                }),
            ));
        }
        std::thread::sleep(at(1500) - std::time::Instant::now());
        if b_pause.is_some() {
            // b's last statement may wait on a peer's lock for a while.
            drop(paused_tx);
            let _ = paused.recv();
        }
        nodes.node("b").kill().unwrap();
        std::thread::sleep(at(3000).saturating_duration_since(std::time::Instant::now()));
        nodes.node("b").restart().unwrap();
        handles
            .into_iter()
            .map(|(name, h)| (name, h.join().unwrap()))
            .collect()
    });
    // The only SQL error a writer may get is the key change onto an existing key;
    // b's writer also loses its session when b is killed (the server's shutdown
    // message, or no message at all).
    for (name, w) in &written {
        eprintln!("writer on {name}: {w:?}");
        assert!(w.ok > 50, "seed {seed}: writer on {name}: {w:?}");
        for (code, message) in w.errors.keys() {
            let expected = (code == "23505"
                && message == "duplicate key value violates unique constraint \"t_pkey\"")
                || (*name == "b" && ["57P01", "57P02", "57P03"].contains(&code.as_str()));
            assert!(
                expected,
                "seed {seed}: writer on {name}: {code} {message}\n{w:?}"
            );
        }
        if *name != "b" {
            assert_eq!(w.disconnects, 0, "seed {seed}: writer on {name}: {w:?}");
        }
    }
    shipper.terminate();
    // b, back, changes every row it has while the others' changes for it still
    // wait in their queues: conflicts for sure, whatever the timing above.
    nodes.sql("b", "update t set v = v || 'b'");
    let queued = "select count(*) from repsync.sync_err_rec";
    for _ in 0..20 {
        nodes.repsync_ok(&["run", "--once"]);
        if ["a", "b", "c"].iter().all(|n| nodes.sql(n, queued) == "0") {
            break;
        }
    }
    for n in ["a", "b", "c"] {
        assert_eq!(
            nodes.sql(n, queued),
            "0",
            "node {n} still has queued changes"
        );
    }
    let (code, out, err) = nodes.repsync(&["verify", "t"]);
    if code != 0 {
        for n in ["a", "b", "c"] {
            eprintln!(
                "--- node {n}\n{}\n{}",
                nodes.sql(n, "select string_agg(format('%s %s %s', v.id, t.v, row(v.repsync_at, v.repsync_origin, v.repsync_base_at, v.repsync_base_origin, v.repsync_deleted)), E'\\n' order by v.id) from repsync.versions_t_d0493b191493d70ae585 v left join t using (id)"),
                nodes.sql(n, "select string_agg(format('%s %s %s %s', key, local_origin, remote_origin, winner), E'\\n' order by id) from repsync.conflict")
            );
        }
    }
    assert_eq!(code, 0, "seed {seed}\n{out}\n{err}");
    let logged: i64 = ["a", "b", "c"]
        .iter()
        .map(|n| {
            nodes
                .sql(n, "select count(*) from repsync.conflict")
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    let rows = nodes.sql("a", "select count(*) from t");
    eprintln!("{mode} {policy:?}: {rows} rows, {logged} conflicts logged");
    assert!(logged > 0, "seed {seed}: the workload made no conflict");
}

/// What one writer of [`write_randomly`] saw.
#[derive(Default, Debug)]
struct Written {
    /// Statements that succeeded.
    ok: u64,
    /// SQL errors: SQLSTATE and message, with how often each occurred.
    errors: std::collections::BTreeMap<(String, String), u64>,
    /// Times the connection was lost or could not be made.
    disconnects: u64,
}

/// Random single- and multi-row changes on keys 1..40 until `stop_at`. Every
/// error is kept in the result for the caller to judge: a key change onto a
/// key that exists is refused, and a node that is killed drops its sessions.
fn write_randomly(
    dsn: &str,
    mut seed: u64,
    mut pause: Option<(
        std::time::Instant,
        std::time::Instant,
        std::sync::mpsc::Sender<()>,
    )>,
    stop_at: std::time::Instant,
) -> Written {
    let mut written = Written::default();
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n) as i32
    };
    let mut client: Option<postgres::Client> = None;
    while std::time::Instant::now() < stop_at {
        if let Some((from, until, paused)) = &pause
            && std::time::Instant::now() >= *from
        {
            client = None;
            let _ = paused.send(());
            std::thread::sleep(until.saturating_duration_since(std::time::Instant::now()));
            pause = None;
            continue;
        }
        let Some(c) = client.as_mut() else {
            client = postgres::Client::connect(dsn, postgres::NoTls).ok();
            if client.is_none() {
                written.disconnects += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            continue;
        };
        let (id, other, v) = (next(40) + 1, next(40) + 1, next(1000).to_string());
        let result = match next(6) {
            0 | 1 => c.execute(
                "insert into t values ($1, $2, now()) on conflict (id) do update set v = excluded.v, stamp = now()",
                &[&id, &v],
            ),
            2 => c.execute("update t set v = $2, stamp = now() where id = $1", &[&id, &v]),
            3 => c.execute("delete from t where id = $1", &[&id]),
            4 => c.execute("update t set id = $2 where id = $1", &[&id, &other]),
            _ => c.execute(
                "update t set v = v || $2, stamp = now() where id between $1 and $1 + 5",
                &[&id, &v],
            ),
        };
        match result {
            Ok(_) => written.ok += 1,
            Err(err) => match err.as_db_error() {
                Some(db) => {
                    *written
                        .errors
                        .entry((db.code().code().to_string(), db.message().to_string()))
                        .or_default() += 1;
                    if c.is_closed() {
                        client = None;
                    }
                }
                None => {
                    // Not an SQL error: the connection is gone.
                    written.disconnects += 1;
                    client = None;
                }
            },
        }
    }
    if let Some((_, _, paused)) = pause {
        let _ = paused.send(());
    }
    written
}

#[test]
fn three_writers_in_async_mode_converge_with_the_default_policy() {
    three_writers_converge("async", &[]);
}

/// Once failed before versions carried a rank (seed 1795669067194252626): a
/// change based on c's version lost to a's, which lost to c's.
#[test]
fn three_writers_in_sync_mode_converge_with_origin_priority() {
    three_writers_converge("sync", &["--conflict", "origin-priority:c,a"]);
}

#[test]
fn three_writers_in_sync_mode_converge_with_the_default_policy() {
    three_writers_converge("sync", &[]);
}

#[test]
fn hostile_names_in_a_table_that_two_nodes_write() {
    let table = r#""Odd $$ ""x"""."T, {x}""#;
    let nodes = common::with_table(
        2,
        &format!(
            r#"create schema "Odd $$ ""x"""; create table {table} ("k 1" text, "K2" int, "$repsync$" text, "Stamp" timestamptz, primary key ("k 1", "K2"))"#
        ),
        &[table, "--mode", "async", "--conflict", "newer-wins:Stamp"],
    );
    let key = r#"a, { } " '' \ $$ $repsync$"#;
    nodes.sql(
        "a",
        &format!("insert into {table} values ('{key}', 1, 'first $$', '2026-01-01')"),
    );
    nodes.repsync_ok(&["run", "--once"]);
    let row = format!(r#"select "$repsync$" from {table} where "K2" = 1"#);
    assert_eq!(nodes.sql("b", &row), "first $$");
    nodes.sql(
        "b",
        &format!(r#"update {table} set "$repsync$" = 'b $repsync$', "Stamp" = '2026-03-01' where "K2" = 1"#),
    );
    nodes.sql(
        "a",
        &format!(r#"update {table} set "$repsync$" = 'a', "Stamp" = '2026-02-01' where "K2" = 1"#),
    );
    nodes.repsync_ok(&["run", "--once"]);
    assert_eq!(nodes.sql("a", &row), "b $repsync$");
    assert_eq!(nodes.sql("b", &row), "b $repsync$");
    let out = nodes.repsync_ok(&["verify", table]);
    assert!(out.contains("identical"), "{out}");
    let out = nodes.repsync_ok(&["conflicts", table]);
    assert!(out.contains(r#"Odd $$ "x".T, {x}"#), "{out}");
    assert!(out.contains("kept the remote version (node b)"), "{out}");
    assert!(out.contains("newer-wins:Stamp"), "{out}");
    let status = nodes.repsync(&["status"]).1;
    assert!(status.contains("(newer-wins:Stamp)"), "{status}");
    nodes.repsync_ok(&["remove-table", table, "--yes"]);
    assert_eq!(
        nodes.sql("a", "select count(*) from pg_tables where schemaname = 'repsync' and tablename like 'versions%'"),
        "0"
    );
}

#[test]
fn fix_sequences_gives_each_writing_node_its_own_key_values() {
    let nodes = common::start_nodes(3);
    for n in ["a", "b", "c"] {
        nodes.sql(
            n,
            "create table s (id serial primary key, v text); \
             create table i (id int generated by default as identity primary key, v text)",
        );
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "s"]);
    nodes.sql(
        "a",
        "insert into s (v) select 'old' from generate_series(1, 5)",
    );
    // Installed without the fix: a warning that names the sequence on each node.
    let (code, _, err) = nodes.repsync(&["add-table", "i"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("public.i_id_seq on node a"), "{err}");
    assert!(err.contains("--fix-sequences"), "{err}");
    let (code, out, err) = nodes.repsync(&["add-table", "s", "--fix-sequences", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(r#"alter sequence "public"."s_id_seq" increment by 3;"#),
        "{out}"
    );
    for table in ["s", "i"] {
        let (code, _, err) = nodes.repsync(&["add-table", table, "--fix-sequences"]);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("warning"), "{err}");
        for n in ["a", "b", "c"] {
            nodes.sql(
                n,
                &format!("insert into {table} (v) values ('{n}1'), ('{n}2')"),
            );
        }
        for n in ["a", "b", "c"] {
            assert_eq!(
                nodes.sql(
                    n,
                    &format!(
                        "select count(*), count(distinct id % 3) from {table} where v <> 'old'"
                    )
                ),
                "6|3",
                "{table} on node {n}"
            );
        }
    }
    // Above everything handed out before: a's five rows were 1..5.
    assert_eq!(
        nodes.sql("b", "select min(id) from s where v <> 'old'"),
        "6"
    );
    // Running add-table again without the flag finds the sequences already fixed:
    // it succeeds and warns about nothing.
    let (code, out, err) = nodes.repsync(&["add-table", "i"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err, "", "{out}");
    assert_eq!(
        out,
        "node a: sends public.i to b, c\nnode b: sends public.i to a, c\nnode c: sends public.i to a, b\n"
    );
}

/// The direct COPY transport decides per entry, on the entries it locked, whether
/// a table is written on several nodes: an entry of such a table that becomes the
/// oldest only after the shipper chose the copy (its transaction took its queue id
/// earlier and committed later) still goes through the version check and the
/// conflict log. The window is held open: a lock on node b's watermark table stops
/// the shipper right after it chose the copy, and the test commits then.
#[test]
fn an_entry_committed_after_the_copy_was_chosen_is_still_settled_as_a_conflict() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "create table t (id int primary key, v text, stamp timestamptz); \
             create table big (id int primary key)",
        );
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&[
        "add-table",
        "t",
        "--mode",
        "async",
        "--conflict",
        "keep-local",
    ]);
    nodes.repsync_ok(&[
        "add-table",
        "big",
        "--mode",
        "async",
        "--from",
        "a",
        "--to",
        "b",
    ]);
    nodes.sql("a", "insert into t values (1, 'start', now())");
    nodes.repsync_ok(&["run", "--once"]);
    nodes.wait_for("b", "select v from t where id = 1", "start");

    // b changes row 1; a changes it too, in a transaction left open, so its queue
    // entry gets an id below the ones that follow but stays invisible.
    nodes.sql("b", "update t set v = 'from b' where id = 1");
    let mut writer = postgres::Client::connect(&nodes.node("a").dsn(), postgres::NoTls).unwrap();
    writer
        .batch_execute("begin; update t set v = 'from a' where id = 1")
        .unwrap();
    // Enough keys of a one-way table for the shipper to choose the copy.
    nodes.sql("a", "insert into big select generate_series(1, 20000)");

    let mut holder = postgres::Client::connect(&nodes.node("b").dsn(), postgres::NoTls).unwrap();
    holder
        .batch_execute("begin; lock table repsync.applied in access exclusive mode")
        .unwrap();
    let log = nodes.dir.path().join("race.log");
    let mut shipper = std::process::Command::new(env!("CARGO_BIN_EXE_repsync"))
        .arg("--config")
        .arg(nodes.config_path())
        .args(["run", "--once", "--node", "a"])
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // The shipper chose the copy and waits for the watermark on b.
    nodes.wait_for(
        "b",
        "select count(*) from pg_stat_activity where application_name = 'repsync apply' \
         and wait_event_type = 'Lock' and query like '%applied_watermark%'",
        "1",
    );
    writer.batch_execute("commit").unwrap();
    holder.batch_execute("commit").unwrap();
    let status = shipper.wait().unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("transport=\"copy\""), "{log}");
    assert_eq!(nodes.sql("b", "select count(*) from big"), "20000");
    // keep-local: b keeps its own change and logs the conflict.
    assert_eq!(nodes.sql("b", "select v from t where id = 1"), "from b");
    assert_eq!(
        nodes.sql(
            "b",
            "select string_agg(format('%s %s %s', key, remote_origin, winner), '; ') from repsync.conflict"
        ),
        "{\"id\":1} a local"
    );
}
