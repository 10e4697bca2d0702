//! Nodes of two PostgreSQL majors replicating both ways: node a runs
//! `PG_BINDIR`'s major, node b another one (`PG_BINDIR_OTHER`, see
//! tests/common/mod.rs). Without a second major on the machine they run
//! `.ci/fetch-postgres` once themselves; when that fails too, they fail and say
//! how to get one. They never pass on a single major.
mod common;

const TABLE: &str = "create table t (id int, tag text, v text, amount numeric(12,2), doc jsonb, \
                     at timestamptz, primary key (id, tag))";

/// Both nodes, the majors checked to differ, the table created and `init` run.
fn setup() -> common::Nodes {
    let (nodes, major_a, major_b) = common::start_mixed_nodes(2);
    eprintln!("node a: PostgreSQL {major_a}, node b: PostgreSQL {major_b}");
    let version = "select current_setting('server_version_num')::int / 10000";
    assert_eq!(nodes.sql("a", version), major_a.to_string());
    assert_eq!(nodes.sql("b", version), major_b.to_string());
    assert_ne!(major_a, major_b);
    for n in ["a", "b"] {
        nodes.sql(n, TABLE);
    }
    nodes.repsync_ok(&["init"]);
    nodes
}

/// Inserts, updates (also of the key) and deletes on both nodes; `ship` makes
/// the changes reach the peer (nothing for sync mode, `run --once` for async).
fn changes_both_ways(nodes: &common::Nodes, ship: impl Fn()) {
    nodes.sql(
        "a",
        "insert into t select g, 'a', 'from a ' || g, g * 1.5, jsonb_build_object('n', g), \
         '2026-01-01 00:00+00'::timestamptz + g * interval '1 hour' \
         from generate_series(1, 200) g",
    );
    nodes.sql(
        "b",
        "insert into t select g, 'b', 'from b ' || g, g * 2.25, jsonb_build_object('m', g), \
         '2026-02-01 00:00+00'::timestamptz + g * interval '1 minute' \
         from generate_series(1, 200) g",
    );
    ship();
    for n in ["a", "b"] {
        assert_eq!(nodes.sql(n, "select count(*) from t"), "400", "node {n}");
    }

    // Each node changes rows that came from the other one, and its own.
    nodes.sql(
        "a",
        "update t set v = 'a changed b''s', doc = doc || '{\"by\": \"a\"}' where tag = 'b' and id <= 20",
    );
    nodes.sql(
        "b",
        "update t set v = 'b changed a''s', amount = amount + 0.01 where tag = 'a' and id <= 20",
    );
    nodes.sql(
        "a",
        "update t set id = id + 1000 where tag = 'a' and id between 21 and 30",
    );
    nodes.sql(
        "b",
        "update t set id = id + 1000 where tag = 'b' and id between 21 and 30",
    );
    ship();
    nodes.sql(
        "a",
        "delete from t where tag = 'b' and id between 31 and 40",
    );
    nodes.sql(
        "b",
        "delete from t where tag = 'a' and id between 31 and 40",
    );
    // A rolled-back transaction reaches no one.
    nodes.sql(
        "b",
        "begin; insert into t values (-1, 'b', 'rolled back', 0, null, null); rollback;",
    );
    ship();

    for n in ["a", "b"] {
        assert_eq!(nodes.sql(n, "select count(*) from t"), "380", "node {n}");
        assert_eq!(
            nodes.sql(n, "select count(*) from t where v like '% changed %'"),
            "40",
            "node {n}"
        );
        assert_eq!(
            nodes.sql(n, "select count(*) from t where id > 1000"),
            "20",
            "node {n}"
        );
        assert_eq!(
            nodes.sql(n, "select count(*) from t where id = -1"),
            "0",
            "node {n}"
        );
    }
    assert_eq!(nodes.dump("a", "t"), nodes.dump("b", "t"));

    let out = nodes.repsync_ok(&["verify", "t"]);
    assert!(out.contains("identical"), "{out}");
    let status = nodes.repsync_ok(&["status"]);
    assert!(status.contains("public.t"), "{status}");
    let json = nodes.repsync_ok(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["healthy"], true, "{json:#}");
}

#[test]
fn sync_multi_master_across_majors() {
    let nodes = setup();
    nodes.repsync_ok(&["add-table", "t"]);
    changes_both_ways(&nodes, || {});
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );
    assert_eq!(
        nodes.sql("b", "select count(*) from repsync.sync_err_rec"),
        "0"
    );
}

#[test]
fn async_multi_master_across_majors() {
    let nodes = setup();
    nodes.repsync_ok(&["add-table", "t", "--mode", "async"]);
    changes_both_ways(&nodes, || {
        nodes.repsync_ok(&["run", "--once"]);
    });
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.sync_err_rec"),
            "0",
            "node {n}"
        );
    }
}

/// Each server's dblink reaches the other major, and loads the libpq of its own
/// build: a relocatable build (`.ci/fetch-postgres`) runs with LD_LIBRARY_PATH
/// set by LocalCluster, since its dblink.so would otherwise load the system's.
#[test]
fn dblink_connects_across_majors_with_its_own_libpq() {
    let nodes = setup();
    let primary = repsync::local_cluster::find_bindir().unwrap();
    let (other, _, _) = common::other_bindir(&primary);
    for (node, peer, bindir) in [("a", "b", &primary), ("b", "a", &other)] {
        let dsn = nodes.node(peer).dsn().replace('\'', "''");
        // The dblink call runs first (the function scan produces its row
        // before the target list is computed), so libpq is loaded when the
        // backend's memory map is read.
        let out = nodes.sql(
            node,
            &format!(
                "select t.v || ' ' || (select coalesce(string_agg(distinct \
                 substring(l from '/\\S*/libpq\\.so[.0-9]*'), ','), 'none') \
                 from regexp_split_to_table(pg_read_file('/proc/self/maps'), E'\\n') l \
                 where l like '%libpq.so%') \
                 from dblink('{dsn}', 'select current_setting(''server_version_num'')') \
                 as t(v text)"
            ),
        );
        eprintln!("node {node}: peer version and libpq: {out}");
        let (peer_version, libpq) = out.split_once(' ').unwrap();
        assert_eq!(
            peer_version,
            nodes.sql(peer, "show server_version_num"),
            "node {node}"
        );
        assert_ne!(libpq, "none", "node {node}: no libpq mapped");
        assert!(!libpq.contains(','), "node {node}: two libpqs: {libpq}");
        if let Some(path) = repsync::local_cluster::library_path(bindir) {
            let lib = std::env::split_paths(&path).next().unwrap();
            assert!(
                libpq.starts_with(lib.to_str().unwrap()),
                "node {node} ({}) loaded {libpq}, not its own in {}",
                bindir.display(),
                lib.display()
            );
        }
    }
}

/// The shipper's COPY transport and `add-table --copy-from` move rows from
/// either major to the other: one-way async tables, one each way.
#[test]
fn copy_transport_and_copy_from_across_majors() {
    let nodes = setup();
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "create table from_a (id int primary key, v text, n numeric);
             create table from_b (id int primary key, v text, n numeric);
             create table seeded (id int primary key, v text)",
        );
    }
    nodes.sql(
        "a",
        "insert into seeded select g, 'seed ' || g from generate_series(1, 3000) g",
    );
    nodes.repsync_ok(&[
        "add-table",
        "seeded",
        "--from",
        "a",
        "--to",
        "b",
        "--copy-from",
        "a",
    ]);
    assert_eq!(nodes.dump("b", "seeded"), nodes.dump("a", "seeded"));
    for (table, from, to) in [("from_a", "a", "b"), ("from_b", "b", "a")] {
        nodes.repsync_ok(&[
            "add-table",
            table,
            "--from",
            from,
            "--to",
            to,
            "--mode",
            "async",
        ]);
        nodes.sql(
            from,
            &format!(
                "insert into {table} select g, 'v' || g, g / 7.0 from generate_series(1, 20000) g"
            ),
        );
    }
    let (code, _, log) = nodes.repsync(&["run", "--once"]);
    assert_eq!(code, 0, "{log}");
    for (from, to) in [("a", "b"), ("b", "a")] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("node={from} to={to} "))
                    && l.contains("transport=\"copy\"")),
            "no COPY batch from {from} to {to}:\n{log}"
        );
    }
    assert!(!log.contains("direct transport failed"), "{log}");
    for table in ["from_a", "from_b", "seeded"] {
        assert_eq!(nodes.dump("a", table), nodes.dump("b", table), "{table}");
        let out = nodes.repsync_ok(&["verify", table]);
        assert!(out.contains("identical"), "{table}: {out}");
    }
}
