//! The conflict log's retention: `conflicts --purge` with `--keep` and
//! `--older-than`, and `run --keep-conflicts`.
mod common;

/// Two nodes, tables t (keys 1..3) and u (keys 1..2), async and keep-local: both
/// nodes change every row before either ships, so each node logs one conflict
/// per key, whichever ships first (keep-local keeps each node's own row).
fn with_conflicts() -> common::Nodes {
    let nodes = common::with_table(
        2,
        "create table t (id int primary key, v text); create table u (id int primary key, v text)",
        &["t", "--mode", "async", "--conflict", "keep-local"],
    );
    nodes.repsync_ok(&[
        "add-table",
        "u",
        "--mode",
        "async",
        "--conflict",
        "keep-local",
    ]);
    nodes.sql(
        "a",
        "insert into t select g, 'start' from generate_series(1, 3) g; \
         insert into u select g, 'start' from generate_series(1, 2) g",
    );
    nodes.repsync_ok(&["run", "--once"]);
    for n in ["b", "a"] {
        nodes.sql(
            n,
            &format!("update t set v = 'from {n}'; update u set v = 'from {n}'"),
        );
    }
    nodes.repsync_ok(&["run", "--once"]);
    for n in ["a", "b"] {
        assert_eq!(logged(&nodes, n), "public.t=3 public.u=2", "node {n}");
    }
    nodes
}

/// The node's logged conflicts per table, e.g. `public.t=3 public.u=2`.
fn logged(nodes: &common::Nodes, node: &str) -> String {
    nodes.sql(
        node,
        "select coalesce(string_agg(format('%s=%s', source, n), ' ' order by source), '') \
           from (select r.source, count(*) n from repsync.conflict c \
                   join repsync.replicated_table r using (set_name) group by r.source) x",
    )
}

#[test]
fn purge_keep_leaves_the_newest_n_per_node_and_refuses_without_a_retention_or_yes() {
    let nodes = with_conflicts();

    let (code, out, err) = nodes.repsync(&["conflicts", "--purge", "--yes"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(out, "");
    assert_eq!(
        err,
        "error: conflicts --purge: give --keep N (keep the newest N per node) or --older-than \
         DURATION (delete only entries older than that, e.g. 30d), or both; nothing was deleted\n"
    );

    // stdin is closed: no terminal to confirm on, and no --yes.
    let (code, out, err) = nodes.repsync(&["conflicts", "--purge", "--keep", "1"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(out, "");
    assert_eq!(
        err,
        "error: Delete the logged conflicts on node(s) a, b: all but the newest 1 per node?: \
         no terminal to ask on; pass --yes to go ahead\n"
    );
    for n in ["a", "b"] {
        assert_eq!(logged(&nodes, n), "public.t=3 public.u=2", "node {n}");
    }

    // --node narrows the listing too.
    let out = nodes.repsync_ok(&["conflicts", "--node", "b"]);
    let firsts: Vec<&str> = out.lines().filter(|l| l.starts_with("node ")).collect();
    assert_eq!(firsts.len(), 5, "{out}");
    assert!(firsts.iter().all(|l| l.starts_with("node b #")), "{out}");

    let newest: Vec<String> = ["a", "b"]
        .iter()
        .map(|n| nodes.sql(n, "select max(id) from repsync.conflict"))
        .collect();
    let out = nodes.repsync_ok(&["conflicts", "--purge", "--keep", "1", "--yes"]);
    assert_eq!(
        out,
        "node a: 4 conflict(s) deleted, 1 remaining\nnode b: 4 conflict(s) deleted, 1 remaining\n"
    );
    for (n, newest) in ["a", "b"].iter().zip(&newest) {
        assert_eq!(
            nodes.sql(n, "select string_agg(id::text, ',') from repsync.conflict"),
            *newest,
            "node {n}"
        );
    }
    // Nothing more to delete.
    let out = nodes.repsync_ok(&["conflicts", "--purge", "--keep", "1", "--yes"]);
    assert_eq!(
        out,
        "node a: 0 conflict(s) deleted, 1 remaining\nnode b: 0 conflict(s) deleted, 1 remaining\n"
    );
}

#[test]
fn purge_older_than_deletes_only_older_entries_of_the_table_and_node_given() {
    let nodes = with_conflicts();

    // No entry is an hour old.
    let out = nodes.repsync_ok(&["conflicts", "--purge", "--older-than", "1h", "--yes"]);
    assert_eq!(
        out,
        "node a: 0 conflict(s) deleted, 5 remaining\nnode b: 0 conflict(s) deleted, 5 remaining\n"
    );
    for n in ["a", "b"] {
        assert_eq!(logged(&nodes, n), "public.t=3 public.u=2", "node {n}");
    }

    // Every entry two hours old.
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "update repsync.conflict set detected_at = detected_at - interval '2 hours'",
        );
    }
    // Only t, only on a, and with --keep the newest one of t stays.
    let out = nodes.repsync_ok(&[
        "conflicts",
        "t",
        "--purge",
        "--older-than",
        "1h",
        "--keep",
        "1",
        "--node",
        "a",
        "--yes",
    ]);
    assert_eq!(
        out,
        "node a: 2 conflict(s) of public.t deleted, 1 remaining\n"
    );
    assert_eq!(logged(&nodes, "a"), "public.t=1 public.u=2");
    assert_eq!(logged(&nodes, "b"), "public.t=3 public.u=2");
    assert_eq!(
        nodes.sql(
            "a",
            "select bool_and(c.id = (select max(id) from repsync.conflict c2 where c2.set_name = c.set_name)) \
               from repsync.conflict c join repsync.replicated_table r using (set_name) \
              where r.source = 'public.t'"
        ),
        "t"
    );

    let out = nodes.repsync_ok(&[
        "conflicts",
        "t",
        "--purge",
        "--older-than",
        "1h",
        "--keep",
        "1",
        "--yes",
    ]);
    assert_eq!(
        out,
        "node a: 0 conflict(s) of public.t deleted, 1 remaining\n\
         node b: 2 conflict(s) of public.t deleted, 1 remaining\n"
    );
    for n in ["a", "b"] {
        assert_eq!(logged(&nodes, n), "public.t=1 public.u=2", "node {n}");
    }

    // Every entry left is older than 90 minutes.
    let out = nodes.repsync_ok(&["conflicts", "--purge", "--older-than", "90m", "--yes"]);
    assert_eq!(
        out,
        "node a: 3 conflict(s) deleted, 0 remaining\nnode b: 3 conflict(s) deleted, 0 remaining\n"
    );
    for n in ["a", "b"] {
        assert_eq!(logged(&nodes, n), "", "node {n}");
        assert_eq!(nodes.sql(n, "select count(*) from repsync.conflict"), "0");
    }
    let out = nodes.repsync_ok(&["conflicts"]);
    assert_eq!(out, "no conflicts logged\n");
}

#[test]
fn run_keep_conflicts_purges_older_entries_on_every_node() {
    let nodes = with_conflicts();
    // The shipper purges when it starts, then a minute later: every entry must
    // be older than the age by then.
    for n in ["a", "b"] {
        nodes.wait_for(
            n,
            "select count(*) from repsync.conflict where detected_at > now() - interval '1.5 s'",
            "0",
        );
    }
    let shipper = nodes.start_shipper(&["--keep-conflicts", "1s"]);
    for n in ["a", "b"] {
        nodes.wait_for(n, "select count(*) from repsync.conflict", "0");
    }
    assert_eq!(shipper.terminate(), 0);
    let log = nodes.shipper_log();
    for n in ["a", "b"] {
        assert!(
            log.lines().any(|l| l.contains("conflict log purged")
                && l.contains(&format!("node={n}"))
                && l.contains("deleted=5")
                && l.contains("remaining=0")),
            "node {n}:\n{log}"
        );
    }
}
