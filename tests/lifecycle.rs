//! init, remove-table, uninstall and status on real servers: idempotence, exactly
//! what is installed and removed, refusals while changes are queued, and a failure
//! on one node leaving every node as it was.
mod common;

const TABLE: &str = "create table t (id int primary key, v text)";

/// Everything of repsync's that can be seen in the catalogs of one node, one line each.
fn footprint(nodes: &common::Nodes, node: &str) -> String {
    nodes.sql(
        node,
        r"select coalesce(string_agg(x, E'\n' order by x), '') from (
            select 'schema ' || nspname as x from pg_namespace where nspname = 'repsync'
            union all select 'server ' || srvname from pg_foreign_server where srvname like 'repsync%'
            union all select 'mapping ' || srvname || ' ' || usename from pg_user_mappings where srvname like 'repsync%'
            union all select 'trigger ' || tgname || ' on ' || tgrelid::regclass from pg_trigger where tgname like 'repsync%'
            union all select 'proc ' || p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                       where n.nspname = 'repsync'
            union all select 'extension ' || extname from pg_extension where extname = 'dblink'
          ) s",
    )
}

fn capture_and_apply(nodes: &common::Nodes, node: &str) -> String {
    nodes.sql(
        node,
        r"select coalesce(string_agg(p.proname, ',' order by p.proname), '') from pg_proc p
            join pg_namespace n on n.oid = p.pronamespace
           where n.nspname = 'repsync' and p.proname ~ '^(capture|apply)_'",
    )
}

fn repsync_triggers(nodes: &common::Nodes, node: &str) -> String {
    nodes.sql(
        node,
        r"select count(*) from pg_trigger where tgname like 'repsync%'",
    )
}

#[test]
fn init_twice_changes_nothing() {
    let nodes = common::start_nodes(2);
    let stdout = nodes.repsync_ok(&["init"]);
    assert!(
        stdout.contains("node a: initialised") && stdout.contains("node b: initialised"),
        "{stdout}"
    );
    let before: Vec<String> = ["a", "b"].iter().map(|n| footprint(&nodes, n)).collect();
    let oids = "select string_agg(oid::text, ',' order by oid) from pg_proc where pronamespace = 'repsync'::regnamespace";
    let oids_before = nodes.sql("a", oids);
    assert!(before[0].contains("schema repsync"), "{}", before[0]);
    assert!(before[0].contains("server repsync_b"), "{}", before[0]);
    assert!(
        before[0].contains("mapping repsync_b postgres"),
        "{}",
        before[0]
    );
    assert!(before[0].contains("extension dblink"), "{}", before[0]);
    assert!(before[1].contains("server repsync_a"), "{}", before[1]);
    // The queues' JSON columns compress with lz4 where the server has it.
    let lz4 = nodes.sql(
        "a",
        "select 'lz4' = any (enumvals) from pg_settings where name = 'default_toast_compression'",
    );
    let compressed = nodes.sql(
        "a",
        "select string_agg(attcompression::text, '' order by attrelid::regclass::text, attname) \
           from pg_attribute where attrelid in ('repsync.sync_err_rec'::regclass, 'repsync.pending'::regclass) \
            and attname in ('old_rows', 'new_rows')",
    );
    assert_eq!(compressed, if lz4 == "t" { "llll" } else { "" });

    let stdout = nodes.repsync_ok(&["init"]);
    for n in ["a", "b"] {
        assert!(
            stdout.contains(&format!("node {n}: already initialised, nothing changed")),
            "{stdout}"
        );
    }
    assert!(!stdout.contains(": initialised"), "{stdout}");
    assert_eq!(
        nodes.sql("a", oids),
        oids_before,
        "init re-created functions"
    );
    for (n, before) in ["a", "b"].iter().zip(&before) {
        assert_eq!(&footprint(&nodes, n), before);
    }

    // A function dropped by hand is noticed, and init puts it back.
    nodes.sql("b", "drop function repsync.drain_errors(text, integer)");
    let stdout = nodes.repsync_ok(&["init"]);
    assert!(
        stdout.contains("node a: already initialised, nothing changed"),
        "{stdout}"
    );
    assert!(stdout.contains("node b: initialised"), "{stdout}");
    assert_eq!(footprint(&nodes, "b"), before[1]);

    // A queue that an earlier version made (a primary key on id, an index on
    // destination and id) gets the one key on both from init, and keeps its entries.
    let indexes = "select string_agg(pg_get_indexdef(indexrelid), '; ' order by indexrelid) \
                     from pg_index where indrelid = 'repsync.sync_err_rec'::regclass";
    let one_key = nodes.sql("a", indexes);
    assert!(
        one_key.ends_with("(dest, id)") && !one_key.contains(';'),
        "{one_key}"
    );
    nodes.sql(
        "a",
        "alter table repsync.sync_err_rec drop constraint sync_err_rec_pkey, add primary key (id);
         create index sync_err_rec_dest on repsync.sync_err_rec (dest, id);
         insert into repsync.sync_err_rec (dest, set_name, op, origin_xid) values ('b', 's', 'T', '1');
         update repsync.local_node set init_fingerprint = 'earlier'",
    );
    let stdout = nodes.repsync_ok(&["init"]);
    assert!(stdout.contains("node a: initialised"), "{stdout}");
    assert_eq!(nodes.sql("a", indexes), one_key);
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "1"
    );
}

#[test]
fn remove_table_removes_exactly_what_add_table_installed() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, TABLE);
        // A trigger of the user's own, which must survive.
        nodes.sql(
            n,
            "create function public.keep() returns trigger language plpgsql as 'begin return null; end';
             create trigger user_trigger after insert on t for each statement execute function public.keep()",
        );
    }
    nodes.repsync_ok(&["init"]);
    let bare: Vec<String> = ["a", "b"].iter().map(|n| footprint(&nodes, n)).collect();
    nodes.repsync_ok(&["add-table", "t"]);
    nodes.sql("a", "insert into t values (1, 'one'), (2, 'two')");
    assert_eq!(nodes.sql("b", "select count(*) from t"), "2");
    for n in ["a", "b"] {
        assert_eq!(repsync_triggers(&nodes, n), "4");
        assert_eq!(
            capture_and_apply(&nodes, n).split(',').count(),
            3,
            "{n}: capture, apply and apply_call"
        );
    }

    // Refusals first: not replicated, no --yes without a terminal.
    let (code, _, stderr) = nodes.repsync(&["remove-table", "other"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not replicated"), "{stderr}");
    let (code, _, stderr) = nodes.repsync(&["remove-table", "t"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    let stdout = nodes.repsync_ok(&["remove-table", "t", "--dry-run"]);
    assert!(
        stdout.contains("drop trigger if exists repsync_capture_insert"),
        "{stdout}"
    );
    assert_eq!(
        repsync_triggers(&nodes, "a"),
        "4",
        "--dry-run changed something"
    );

    let stdout = nodes.repsync_ok(&["remove-table", "t", "--yes"]);
    assert!(
        stdout.contains("node a: public.t no longer replicated"),
        "{stdout}"
    );
    for (n, bare) in ["a", "b"].iter().zip(&bare) {
        assert_eq!(&footprint(&nodes, n), bare, "node {n}");
        assert_eq!(repsync_triggers(&nodes, n), "0");
        assert_eq!(capture_and_apply(&nodes, n), "apply_call");
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.replicated_table"),
            "0"
        );
        assert_eq!(nodes.sql(n, "select count(*) from repsync.route"), "0");
        assert_eq!(
            nodes.sql(n, "select string_agg(id::text, ',' order by id) from t"),
            "1,2",
            "data of {n}"
        );
        assert_eq!(
            nodes.sql(
                n,
                "select count(*) from pg_trigger where tgname = 'user_trigger'"
            ),
            "1"
        );
    }
    nodes.sql("a", "insert into t values (3, 'not replicated')");
    nodes.sql("b", "delete from t where id = 1");
    assert_eq!(
        nodes.sql("b", "select string_agg(id::text, ',' order by id) from t"),
        "2"
    );
    assert_eq!(
        nodes.sql("a", "select string_agg(id::text, ',' order by id) from t"),
        "1,2,3"
    );
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );
    nodes.repsync_ok(&["status"]);

    // Added again after removal, it works again.
    nodes.repsync_ok(&["add-table", "t", "--from", "a", "--to", "b"]);
    nodes.sql("a", "insert into t values (4, 'again')");
    assert_eq!(nodes.sql("b", "select v from t where id = 4"), "again");
}

#[test]
fn remove_table_with_queued_changes_needs_force() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, TABLE);
        nodes.sql(n, "create table other (id int primary key)");
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "t", "--from", "a", "--to", "b"]);
    nodes.repsync_ok(&["add-table", "other", "--from", "a", "--to", "b"]);
    nodes.node("b").stop().unwrap();
    nodes.sql("a", "insert into t values (1, 'queued')");
    nodes.sql("a", "insert into other values (1)");
    nodes.node("b").restart().unwrap();
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "2"
    );

    let (code, stdout, stderr) = nodes.repsync(&["remove-table", "t", "--yes"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("queued") && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(stderr.contains("node a: 1 queued change"), "{stderr}");
    assert_eq!(repsync_triggers(&nodes, "a"), "8");
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "2"
    );

    nodes.repsync_ok(&["remove-table", "t", "--yes", "--force"]);
    assert_eq!(repsync_triggers(&nodes, "a"), "4");
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.replicated_table"),
        "1"
    );
    // Only the removed table's changes were thrown away.
    assert_eq!(
        nodes.sql("a", "select string_agg(t.source, ',') from repsync.sync_err_rec e join repsync.replicated_table t using (set_name)"),
        "public.other"
    );
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "1"
    );
    nodes.repsync_ok(&["drain-errors"]);
    assert_eq!(nodes.sql("b", "select count(*) from other"), "1");
    assert_eq!(nodes.sql("b", "select count(*) from t"), "0");
}

#[test]
fn uninstall_leaves_nothing_behind() {
    let nodes = common::start_nodes(3);
    for n in ["a", "b", "c"] {
        nodes.sql(n, TABLE);
    }
    // dblink was there before repsync on c: uninstall must keep it.
    nodes.sql("c", "create extension dblink");
    let acl = "select coalesce(relacl::text, 'default') from pg_class where oid = 'pg_catalog.pg_user_mappings'::regclass";
    let acl_before = nodes.sql("a", acl);
    let before: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|n| footprint(&nodes, n))
        .collect();
    assert_eq!(before[2], "extension dblink");
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "t"]);
    assert_ne!(
        nodes.sql("a", acl),
        acl_before,
        "init did not revoke pg_user_mappings from public"
    );

    // A queued change: refused without --force.
    nodes.node("c").stop().unwrap();
    nodes.sql("a", "insert into t values (1, 'queued for c')");
    nodes.node("c").restart().unwrap();
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "1"
    );
    let (code, stdout, stderr) = nodes.repsync(&["uninstall", "--yes"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("queued") && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(footprint(&nodes, "a").contains("schema repsync"));
    let (code, _, stderr) = nodes.repsync(&["uninstall", "--force"]);
    assert_eq!(code, 2, "no --yes and no terminal: {stderr}");
    assert!(footprint(&nodes, "a").contains("schema repsync"));
    let stdout = nodes.repsync_ok(&["uninstall", "--force", "--dry-run"]);
    assert!(stdout.contains("drop schema repsync cascade"), "{stdout}");
    assert!(
        footprint(&nodes, "a").contains("schema repsync"),
        "--dry-run changed something"
    );

    let stdout = nodes.repsync_ok(&["uninstall", "--force", "--yes"]);
    for n in ["a", "b", "c"] {
        assert!(
            stdout.contains(&format!("node {n}: repsync removed")),
            "{stdout}"
        );
    }
    for (n, before) in ["a", "b", "c"].iter().zip(&before) {
        assert_eq!(
            &footprint(&nodes, n),
            before,
            "node {n} is not as before init"
        );
        assert_eq!(
            nodes.sql(
                n,
                "select count(*) from pg_namespace where nspname = 'repsync'"
            ),
            "0"
        );
        assert_eq!(
            nodes.sql(
                n,
                "select count(*) from pg_foreign_server where srvname like 'repsync\\_%'"
            ),
            "0"
        );
        assert_eq!(
            nodes.sql(
                n,
                "select count(*) from pg_user_mappings where srvname like 'repsync\\_%'"
            ),
            "0"
        );
        assert_eq!(repsync_triggers(&nodes, n), "0");
        // The data stays, and writes work without repsync.
        nodes.sql(
            n,
            &format!("insert into t values (100, 'after uninstall on {n}')"),
        );
    }
    assert_eq!(
        nodes.sql(
            "a",
            "select count(*) from pg_extension where extname = 'dblink'"
        ),
        "0"
    );
    assert_eq!(
        nodes.sql(
            "b",
            "select count(*) from pg_extension where extname = 'dblink'"
        ),
        "0"
    );
    assert_eq!(
        nodes.sql(
            "c",
            "select count(*) from pg_extension where extname = 'dblink'"
        ),
        "1"
    );
    assert_eq!(
        nodes.sql("a", acl),
        acl_before,
        "pg_user_mappings privileges not restored"
    );
    assert_eq!(
        nodes.sql("a", "select string_agg(id::text, ',' order by id) from t"),
        "1,100"
    );
    assert_eq!(
        nodes.sql("b", "select string_agg(v, ',' order by id) from t"),
        "queued for c,after uninstall on b"
    );

    // Uninstalled everywhere: a second uninstall has nothing to do, init starts afresh.
    let stdout = nodes.repsync_ok(&["uninstall", "--yes"]);
    assert!(
        stdout.contains("node a: repsync is not installed"),
        "{stdout}"
    );
    nodes.repsync_ok(&["init"]);
    assert_eq!(
        footprint(&nodes, "a")
            .lines()
            .filter(|l| l.starts_with("server "))
            .count(),
        2
    );
}

/// The node entries of one table in `status --json`, as (node, objects).
fn table_objects(report: &serde_json::Value) -> Vec<(String, String)> {
    let tables = report["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1, "{report:#}");
    tables[0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap().to_string(),
                n["objects"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn status_json(nodes: &common::Nodes) -> (i32, serde_json::Value) {
    let (code, stdout, stderr) = nodes.repsync(&["status", "--json"]);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: not JSON:\n{stdout}\n{stderr}"));
    (code, report)
}

#[test]
fn status_reports_missing_and_changed_objects() {
    let nodes = common::start_nodes(3);
    for n in ["a", "b", "c"] {
        nodes.sql(n, TABLE);
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "t"]);

    let (code, report) = status_json(&nodes);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["healthy"], true);
    let listed: Vec<&serde_json::Value> = report["nodes"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 3);
    for (n, name) in listed.iter().zip(["a", "b", "c"]) {
        assert_eq!(n["name"], name);
        assert_eq!(n["reachable"], true, "{n}");
        assert_eq!(n["installed"], true, "{n}");
        assert!(
            n["server_version"]
                .as_str()
                .is_some_and(|v| v.starts_with(char::is_numeric)),
            "{n}"
        );
    }
    let ok = |n: &str| (n.to_string(), "ok".to_string());
    assert_eq!(table_objects(&report), vec![ok("a"), ok("b"), ok("c")]);
    assert_eq!(report["tables"][0]["table"], "public.t");
    assert_eq!(report["tables"][0]["mode"], "sync");
    assert_eq!(report["tables"][0]["on_error"], "queue");
    assert_eq!(report["queues"].as_array().unwrap().len(), 0);

    // A capture trigger dropped by hand on b.
    nodes.sql("b", "drop trigger repsync_capture_update on t");
    let (code, report) = status_json(&nodes);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["healthy"], false);
    assert_eq!(
        table_objects(&report),
        vec![ok("a"), ("b".into(), "missing".into()), ok("c")]
    );
    let missing = report["tables"][0]["nodes"][1]["missing"].to_string();
    assert!(missing.contains("repsync_capture_update"), "{missing}");
    let (code, stdout, _) = nodes.repsync(&["status"]);
    assert_eq!(code, 1);
    assert!(stdout.contains("b: missing"), "{stdout}");

    // add-table repairs it.
    let stdout = nodes.repsync_ok(&["add-table", "t"]);
    assert!(!stdout.contains("nothing changed"), "{stdout}");
    let (code, report) = status_json(&nodes);
    assert_eq!(code, 0, "{report:#}");

    // A capture function's body replaced by hand on c.
    nodes.sql(
        "c",
        r"do $do$
          declare f oid;
          begin
              select p.oid into strict f from pg_proc p
               where p.pronamespace = 'repsync'::regnamespace and p.proname ~ '^capture_';
              execute replace(pg_get_functiondef(f), 'return null;', 'return null; -- tampered');
          end
          $do$",
    );
    let (code, report) = status_json(&nodes);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        table_objects(&report),
        vec![ok("a"), ok("b"), ("c".into(), "changed".into())]
    );
    let changed = report["tables"][0]["nodes"][2]["changed"].to_string();
    assert!(changed.contains("capture_"), "{changed}");
    let (_, stdout, _) = nodes.repsync(&["status"]);
    assert!(
        stdout.contains("c: changed") && stdout.contains("needs attention"),
        "{stdout}"
    );

    // An apply procedure dropped on a.
    nodes.sql(
        "a",
        r"do $do$
          declare f regprocedure;
          begin
              select p.oid::regprocedure into strict f from pg_proc p
               where p.pronamespace = 'repsync'::regnamespace and p.proname ~ '^apply_t_';
              execute 'drop procedure ' || f;
          end
          $do$",
    );
    let (code, report) = status_json(&nodes);
    assert_eq!(code, 1);
    assert_eq!(
        table_objects(&report),
        vec![
            ("a".into(), "missing".into()),
            ok("b"),
            ("c".into(), "changed".into())
        ]
    );

    // An unreachable node makes status unhealthy, not fail.
    nodes.repsync_ok(&["add-table", "t"]);
    nodes.node("c").stop().unwrap();
    let (code, report) = status_json(&nodes);
    assert_eq!(code, 1, "{report:#}");
    let c = &report["nodes"][2];
    assert_eq!(c["reachable"], false, "{c}");
    assert!(
        c["error"].as_str().is_some_and(|e| e.contains("node c")),
        "{c}"
    );
}

#[test]
fn add_table_failing_on_one_node_changes_no_node() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, TABLE);
    }
    // A trigger of the user's on b that happens to have the name add-table needs there.
    nodes.sql(
        "b",
        "create function public.mine() returns trigger language plpgsql as 'begin return null; end';
         create trigger repsync_capture_insert after insert on t for each statement execute function public.mine()",
    );
    nodes.repsync_ok(&["init"]);
    let before: Vec<String> = ["a", "b"].iter().map(|n| footprint(&nodes, n)).collect();

    let (code, stdout, stderr) = nodes.repsync(&["add-table", "t"]);
    // A node's failure: exit 1 (not a panic, not a usage error), one line naming
    // the node, the server's error and that nothing changed.
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "error: node b: add-table public.t failed: trigger \"repsync_capture_insert\" for relation \"t\" already exists. Nothing was changed on any node\n"
    );
    for (n, before) in ["a", "b"].iter().zip(&before) {
        assert_eq!(&footprint(&nodes, n), before, "node {n} changed");
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.replicated_table"),
            "0"
        );
        assert_eq!(nodes.sql(n, "select count(*) from repsync.route"), "0");
    }
    assert_eq!(repsync_triggers(&nodes, "a"), "0");
    assert_eq!(repsync_triggers(&nodes, "b"), "1");
    assert_eq!(
        nodes.sql(
            "b",
            "select tgfoid::regproc from pg_trigger where tgname = 'repsync_capture_insert'"
        ),
        "mine"
    );
    // Writes on a are not captured.
    nodes.sql("a", "insert into t values (1, 'x')");
    assert_eq!(nodes.sql("b", "select count(*) from t"), "0");
}

#[test]
fn init_failing_on_one_node_changes_no_node() {
    let nodes = common::start_nodes(2);
    // Something in b's way: a function of the name init creates, with another result type.
    nodes.sql(
        "b",
        "create schema repsync; create function repsync.ship(p_dest text, p_sql text, p_keep_open boolean) returns int language sql as 'select 1'",
    );
    let before_b = footprint(&nodes, "b");
    let (code, stdout, stderr) = nodes.repsync(&["init"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "error: node b: init failed: cannot change return type of existing function; hint: Use DROP FUNCTION repsync.ship(text,text,boolean) first. Nothing was changed on any node\n"
    );
    assert_eq!(footprint(&nodes, "a"), "", "node a was changed");
    assert_eq!(footprint(&nodes, "b"), before_b);

    nodes.sql("b", "drop schema repsync cascade");
    nodes.repsync_ok(&["init"]);
    assert!(footprint(&nodes, "a").contains("schema repsync"));
}

/// A replicated table dropped by hand: status says so, remove-table still cleans up.
#[test]
fn a_table_dropped_by_hand_can_still_be_removed() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, "create table gone (id int primary key)");
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "gone"]);
    nodes.sql("a", "drop table gone");
    let (code, stdout, _) = nodes.repsync(&["status", "--json"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("missing"), "{stdout}");
    nodes.repsync_ok(&["remove-table", "gone", "--yes"]);
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.replicated_table"),
            "0"
        );
        assert_eq!(
            nodes.sql(n, "select coalesce(string_agg(proname, ','), '') from pg_proc where pronamespace = 'repsync'::regnamespace and proname ~ '^(capture|apply|current)_t_'"),
            ""
        );
    }
}

/// A commit that fails after another node committed: add-table commits the node
/// that only receives first, so the sender fails with nothing captured yet; the
/// error names what is committed where, and running the same command again
/// finishes it. remove-table commits the sender first, and the same holds. The
/// obstacle is a deferred constraint trigger on the sender's catalog, which fires
/// only at commit.
#[test]
fn a_commit_failing_after_another_node_committed_is_named_and_finished_by_a_rerun() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, "create table t (id int primary key, v text)");
    }
    nodes.repsync_ok(&["init"]);
    nodes.sql("a", "insert into t values (1, 'before')");
    let obstacle = "create function public.no_commit() returns trigger language plpgsql as \
                    $$ begin raise exception 'no commit today'; end $$; \
                    create constraint trigger no_commit after insert or delete on repsync.replicated_table \
                    deferrable initially deferred for each row execute function public.no_commit()";
    nodes.sql("a", obstacle);
    let (code, stdout, stderr) = nodes.repsync(&[
        "add-table",
        "t",
        "--from",
        "a",
        "--to",
        "b",
        "--copy-from",
        "a",
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(
        stderr,
        "error: node a: commit of add-table public.t failed: no commit today. Committed on node b; not committed on node a: run the same command again to bring the other nodes to the same state\n"
    );
    let registered = |node: &str| nodes.sql(node, "select count(*) from repsync.replicated_table");
    assert_eq!((registered("a"), registered("b")), ("0".into(), "1".into()));
    // a captures nothing yet; b's apply function waits unused.
    nodes.sql("a", "insert into t values (2, 'between')");
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );
    assert_eq!(nodes.dump("b", "t"), "");

    nodes.sql("a", "drop trigger no_commit on repsync.replicated_table");
    nodes.repsync_ok(&[
        "add-table",
        "t",
        "--from",
        "a",
        "--to",
        "b",
        "--copy-from",
        "a",
    ]);
    nodes.repsync_ok(&["drain-errors"]);
    nodes.sql("a", "insert into t values (3, 'after')");
    assert_eq!(nodes.dump("b", "t"), "(1,before)\n(2,between)\n(3,after)");

    // remove-table: the sender commits first, here the receiver fails.
    nodes.sql(
        "b",
        "create function public.no_commit() returns trigger language plpgsql as \
         $$ begin raise exception 'no commit today'; end $$; \
         create constraint trigger no_commit after insert or delete on repsync.replicated_table \
         deferrable initially deferred for each row execute function public.no_commit()",
    );
    let (code, stdout, stderr) = nodes.repsync(&["remove-table", "t", "--yes"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(
        stderr,
        "error: node b: commit of remove-table public.t failed: no commit today. Committed on node a; not committed on node b: run the same command again to bring the other nodes to the same state\n"
    );
    assert_eq!((registered("a"), registered("b")), ("0".into(), "1".into()));
    nodes.sql("a", "insert into t values (4, 'not sent')");
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );
    nodes.sql("b", "drop trigger no_commit on repsync.replicated_table");
    nodes.repsync_ok(&["remove-table", "t", "--yes"]);
    assert_eq!((registered("a"), registered("b")), ("0".into(), "0".into()));
    assert_eq!(nodes.dump("b", "t"), "(1,before)\n(2,between)\n(3,after)");
}
