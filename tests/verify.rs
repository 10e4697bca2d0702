//! `repsync verify`: identical nodes exit 0; a missing, an extra and a changed row
//! are each named with their key, and exit 1.
mod common;

fn setup(create: &str, add_table: &[&str]) -> common::Nodes {
    common::with_table(3, create, add_table)
}

#[test]
fn identical_nodes_then_each_kind_of_difference() {
    let nodes = setup(
        "create table t (id int, \"Tag\" text, v text, f float8, at timestamptz, primary key (id, \"Tag\"))",
        &["t", "--from", "a", "--to", "b,c"],
    );
    nodes.sql(
        "a",
        "insert into t select g, 'k', 'v' || g, g / 3.0, '2026-01-01 00:00+00'::timestamptz + g * interval '1 minute' from generate_series(1, 20000) g",
    );
    // Nodes in different time zones still print the same rows.
    nodes.sql("c", "alter database postgres set timezone = 'Asia/Kolkata'");
    let out = nodes.repsync_ok(&["verify", "t"]);
    assert!(out.contains("identical on 3 nodes"), "{out}");
    assert!(out.contains("20000 rows on a"), "{out}");

    // b and c only receive, so changing them by hand is not replicated.
    nodes.sql("b", "update t set v = 'changed' where id = 17");
    nodes.sql("c", "delete from t where id = 4242");
    nodes.sql("c", "insert into t values (99999, 'k', 'extra', 0, now())");
    nodes.sql("b", "update t set f = f + 1e-12 where id = 300");
    let (code, out, err) = nodes.repsync(&["verify", "t"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("4 key(s) differ"), "{out}");
    assert!(out.contains("key (17,k): on b: (17,k,changed,"), "{out}");
    assert!(out.contains("on a, c: (17,k,v17,"), "{out}");
    assert!(out.contains("key (4242,k): missing on c"), "{out}");
    assert!(out.contains("key (99999,k): missing on a, b"), "{out}");
    assert!(out.contains("key (300,k)"), "{out}");

    let (code, json, _) = nodes.repsync(&["verify", "t", "--json"]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["identical"], false);
    let keys: Vec<&str> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["(17,k)", "(300,k)", "(4242,k)", "(99999,k)"]);
    assert_eq!(
        report["differences"][2]["rows"]["c"],
        serde_json::Value::Null
    );
    assert_eq!(report["nodes"][2]["rows"], 20000);
}

#[test]
fn only_replicated_columns_and_filtered_rows_are_compared() {
    let nodes = setup(
        "create table t (id int primary key, v text, local_note text)",
        &[
            "t",
            "--from",
            "a",
            "--to",
            "b",
            "--columns",
            "id,v",
            "--where",
            "id > 0",
        ],
    );
    nodes.sql(
        "a",
        "insert into t select g, 'v', 'a only' from generate_series(-5, 50) g",
    );
    nodes.sql("b", "update t set local_note = 'b only'");
    nodes.sql(
        "b",
        "insert into t values (-100, 'outside the filter', null)",
    );
    let out = nodes.repsync_ok(&["verify", "t"]);
    assert!(out.contains("identical on 2 nodes"), "{out}");
    nodes.sql("b", "update t set v = 'x' where id = 50");
    let (code, out, _) = nodes.repsync(&["verify", "t"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("key (50): on a: (50,v); on b: (50,x)"),
        "{out}"
    );
}

#[test]
fn an_unknown_table_is_a_usage_error() {
    let nodes = setup(
        "create table t (id int primary key)",
        &["t", "--from", "a", "--to", "b"],
    );
    let (code, _, err) = nodes.repsync(&["verify", "nosuch"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not replicated on any node"), "{err}");
}

#[test]
fn repair_makes_the_other_nodes_match_without_echo() {
    // Multi-master: a repair written on b must not travel on to a or c.
    let nodes = setup("create table t (id int primary key, v text)", &["t"]);
    nodes.sql(
        "a",
        "insert into t select g, 'v' || g from generate_series(1, 5000) g",
    );
    for n in ["b", "c"] {
        nodes.wait_for(n, "select count(*) from t", "5000");
    }
    let by_hand = "set repsync.origin = 'by hand';";
    nodes.sql(
        "b",
        &format!("{by_hand} update t set v = 'wrong' where id = 7"),
    );
    nodes.sql("b", &format!("{by_hand} delete from t where id = 8"));
    nodes.sql(
        "c",
        &format!("{by_hand} insert into t values (9001, 'extra')"),
    );
    let (code, _, _) = nodes.repsync(&["verify", "t"]);
    assert_eq!(code, 1);

    let dry = nodes.repsync_ok(&["repair", "t", "--from", "a", "--dry-run"]);
    assert!(dry.contains("on conflict (\"id\")"), "{dry}");
    assert_eq!(nodes.sql("b", "select v from t where id = 7"), "wrong");

    let (code, _, err) = nodes.repsync(&["repair", "t", "--from", "zz", "--yes"]);
    assert_eq!(code, 2, "{err}");

    let out = nodes.repsync_ok(&["repair", "t", "--from", "a", "--yes"]);
    assert!(out.contains("identical on 3 nodes"), "{out}");
    assert_eq!(nodes.sql("b", "select v from t where id = 7"), "v7");
    assert_eq!(nodes.sql("b", "select count(*) from t where id = 8"), "1");
    assert_eq!(
        nodes.sql("c", "select count(*) from t where id = 9001"),
        "0"
    );
    // Nothing was queued or sent on: the repair sessions are replication sessions.
    for n in ["a", "b", "c"] {
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.sync_err_rec"),
            "0",
            "node {n}"
        );
    }
    nodes.repsync_ok(&["verify", "t"]);
    let out = nodes.repsync_ok(&["repair", "t", "--from", "b", "--yes"]);
    assert!(out.contains("nothing to repair"), "{out}");
}

#[test]
fn repair_keeps_columns_that_are_not_replicated() {
    let nodes = setup(
        "create table t (id int primary key, v text, local_note text)",
        &["t", "--from", "a", "--to", "b", "--columns", "id,v"],
    );
    nodes.sql(
        "a",
        "insert into t select g, 'v', null from generate_series(1, 100) g",
    );
    nodes.sql(
        "b",
        "update t set local_note = 'kept', v = 'wrong' where id = 5",
    );
    nodes.repsync_ok(&["repair", "t", "--from", "a", "--yes"]);
    assert_eq!(
        nodes.sql("b", "select v || ',' || local_note from t where id = 5"),
        "v,kept"
    );
}

/// json has no hash function: verify hashes the rows' text instead, on every node.
#[test]
fn a_json_column_is_compared_by_its_text() {
    let nodes = common::with_table(
        2,
        "create table j (id int primary key, doc json)",
        &["j", "--from", "a", "--to", "b"],
    );
    nodes.sql(
        "a",
        r#"insert into j select g, json_build_object('n', g) from generate_series(1, 100) g"#,
    );
    let out = nodes.repsync_ok(&["verify", "j"]);
    assert!(out.contains("identical"), "{out}");
    // The same value to jsonb, but not the same json text: a difference.
    nodes.sql("b", r#"update j set doc = '{"n":5}' where id = 5"#);
    let (code, out, _) = nodes.repsync(&["verify", "j"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("(5)"), "{out}");
}

/// The issue's scale: one changed column and one missing row among 1M rows are
/// both named, and repair makes the nodes identical.
#[test]
fn one_changed_column_and_one_missing_row_among_a_million() {
    let nodes = common::with_table(
        3,
        "create table big (id int primary key, v text, n numeric, at timestamptz)",
        &["big", "--from", "a", "--to", "b,c", "--mode", "async"],
    );
    // The same rows everywhere, loaded as replication sessions so nothing queues.
    std::thread::scope(|s| {
        for n in ["a", "b", "c"] {
            let nodes = &nodes;
            s.spawn(move || {
                nodes.sql(
                    n,
                    "set repsync.origin = 'load'; \
                     insert into big select g, md5(g::text), g * 1.5, timestamptz '2026-01-01 00:00+00' - g * interval '1 s' \
                       from generate_series(1, 1000000) g",
                )
            });
        }
    });
    let out = nodes.repsync_ok(&["verify", "big"]);
    assert!(out.contains("identical on 3 nodes"), "{out}");
    nodes.sql(
        "b",
        "set repsync.origin = 'fault'; update big set n = n + 0.001 where id = 777777",
    );
    nodes.sql(
        "c",
        "set repsync.origin = 'fault'; delete from big where id = 4242",
    );
    let (code, out, _) = nodes.repsync(&["verify", "big"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("2 key(s) differ"), "{out}");
    assert!(out.contains("key (4242): missing on c"), "{out}");
    assert!(out.contains("1166665.501"), "{out}");
    let out = nodes.repsync_ok(&["repair", "big", "--from", "a", "--yes"]);
    assert!(out.contains("identical on 3 nodes"), "{out}");
    assert_eq!(
        nodes.sql("b", "select n from big where id = 777777"),
        "1166665.5"
    );
}
