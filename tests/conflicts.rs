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
    nodes.sql(first, &format!("update t set v = 'from {first}', stamp = now() where id = 1"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    nodes.sql(second, &format!("update t set v = 'from {second}', stamp = now() where id = 1"));
    nodes.repsync_ok(&["run", "--once"]);
    nodes
}

fn value(nodes: &common::Nodes, node: &str) -> String {
    nodes.sql(node, "select v from t where id = 1")
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
    assert_eq!(conflicts(&nodes, "a"), r#"{"id":1} b newer-wins local"#);
    assert_eq!(conflicts(&nodes, "b"), r#"{"id":1} a newer-wins remote"#);
    let out = nodes.repsync_ok(&["verify", "t"]);
    assert!(out.contains("identical"), "{out}");
}
