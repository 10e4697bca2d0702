//! SQL injection through every input repsync takes: table names, --columns,
//! --target, --where and the node file. Each attempt is either refused (exit 2,
//! nothing installed) or used as the quoted name or value it is; the canary table
//! survives all of them.
mod common;

const CANARY: &str = "create table canary (id int primary key); insert into canary values (1)";

fn canary_alive(nodes: &common::Nodes) {
    for c in &nodes.clusters {
        assert_eq!(
            nodes.sql(c.name(), "select count(*) from canary"),
            "1",
            "node {}",
            c.name()
        );
    }
}

fn nothing_installed(nodes: &common::Nodes) {
    for c in &nodes.clusters {
        assert_eq!(
            nodes.sql(c.name(), "select count(*) from repsync.replicated_table"),
            "0",
            "node {}",
            c.name()
        );
    }
}

#[test]
fn injection_through_arguments_is_refused_or_quoted() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(
            n,
            &format!("{CANARY}; create table t (id int primary key, v text, w text)"),
        );
    }
    nodes.repsync_ok(&["init"]);
    let payloads = [
        "t; drop table canary; --",
        "t\"; drop table canary; --",
        "t'; drop table canary; --",
        "t$$; drop table canary; $$",
        "public.t; drop table canary",
        "public.\"t\"\"; drop table canary; --\"",
    ];
    for table in payloads {
        let (code, stdout, stderr) = nodes.repsync(&["add-table", table]);
        assert_eq!(code, 2, "add-table {table:?}\n{stdout}\n{stderr}");
        canary_alive(&nodes);
        nothing_installed(&nodes);
        for command in [
            &["verify", table][..],
            &["remove-table", table, "--yes"][..],
        ] {
            let (code, stdout, stderr) = nodes.repsync(command);
            assert_eq!(code, 2, "{command:?}\n{stdout}\n{stderr}");
        }
    }
    for columns in [
        "v); drop table canary; --",
        "v, w\"; drop table canary; --",
        "v' || (select 1) || '",
    ] {
        let (code, stdout, stderr) = nodes.repsync(&["add-table", "t", "--columns", columns]);
        assert_eq!(code, 2, "--columns {columns:?}\n{stdout}\n{stderr}");
        canary_alive(&nodes);
        nothing_installed(&nodes);
    }
    for target in ["t2; drop table canary; --", "x.\"t\"; drop table canary"] {
        let (code, stdout, stderr) = nodes.repsync(&[
            "add-table",
            "t",
            "--from",
            "a",
            "--to",
            "b",
            "--target",
            target,
        ]);
        assert_eq!(code, 2, "--target {target:?}\n{stdout}\n{stderr}");
        canary_alive(&nodes);
        nothing_installed(&nodes);
    }
    // --where is an expression by design; it cannot end the statement it is put in,
    // nor the function body around it. A `;` outside quotes is refused before any
    // node is touched.
    for filter in [
        "true; drop table canary",
        "true); drop table canary; select (true",
        "true $$; drop table canary; $$",
        "true $repsync$; drop table canary; $repsync$",
    ] {
        let (code, stdout, stderr) = nodes.repsync(&[
            "add-table",
            "t",
            "--from",
            "a",
            "--to",
            "b",
            "--where",
            filter,
        ]);
        assert_eq!(code, 2, "--where {filter:?}\n{stdout}\n{stderr}");
        assert_eq!(
            stderr,
            format!("error: --where {filter:?}: a row filter is one expression, not statements\n")
        );
        canary_alive(&nodes);
        nothing_installed(&nodes);
    }
    // An unterminated comment would swallow what follows it: the node refuses it.
    let (code, stdout, stderr) = nodes.repsync(&[
        "add-table",
        "t",
        "--from",
        "a",
        "--to",
        "b",
        "--where",
        "true /* ",
    ]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.starts_with(
            "error: node a: --where \"true /*\" is not one boolean expression over the columns of public.t: unterminated /* comment"
        ),
        "{stderr}"
    );
    canary_alive(&nodes);
    nothing_installed(&nodes);
    // A trailing line comment ends at the filter's own line: the filter is `true`.
    // A quote doubled inside a string literal keeps the rest in the literal: the
    // filter compares v with that whole text. Both are installed and filter
    // exactly that way.
    let odd = "x' or true; drop table canary; --";
    for (filter, expected) in [
        ("true -- ", "1 x,2 x' or true; drop table canary; --"),
        (
            "v = 'x'' or true; drop table canary; --'",
            "2 x' or true; drop table canary; --",
        ),
    ] {
        nodes.repsync_ok(&[
            "add-table",
            "t",
            "--from",
            "a",
            "--to",
            "b",
            "--where",
            filter,
        ]);
        canary_alive(&nodes);
        nodes.sql(
            "a",
            &format!(
                "insert into t values (1, 'x', 'y'), (2, {}, 'z')",
                repsync::sql::Literal::new(odd)
            ),
        );
        assert_eq!(
            nodes.sql(
                "b",
                "select coalesce(string_agg(id || ' ' || v, ',' order by id), '') from t"
            ),
            expected,
            "--where {filter:?}"
        );
        canary_alive(&nodes);
        nodes.repsync_ok(&["remove-table", "t", "--yes"]);
        nodes.sql("a", "delete from t");
        nodes.sql("b", "delete from t");
    }
    // The same names, as real tables, replicate under those very names.
    let hostile = "t; drop table canary; --";
    for n in ["a", "b"] {
        nodes.sql(
            n,
            &format!(
                "create table {} (\"v); drop table canary; --\" text, id int primary key)",
                repsync::sql::Ident::new(hostile).unwrap()
            ),
        );
    }
    nodes.repsync_ok(&[
        "add-table",
        &format!("\"{hostile}\""),
        "--columns",
        "\"v); drop table canary; --\", id",
    ]);
    nodes.sql(
        "a",
        "insert into \"t; drop table canary; --\" values ('$$''\"\\', 1)",
    );
    assert_eq!(
        nodes.sql(
            "b",
            "select \"v); drop table canary; --\" from \"t; drop table canary; --\""
        ),
        "$$'\"\\"
    );
    canary_alive(&nodes);
}

#[test]
fn injection_through_the_node_file_is_refused_or_quoted() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, CANARY);
    }
    let a = nodes.node("a");
    let b = nodes.node("b");
    let write = |text: &str| {
        std::fs::write(nodes.config_path(), text).unwrap();
    };
    let dsn = |c: &repsync::local_cluster::LocalCluster| toml::Value::String(c.dsn()).to_string();
    // Node names become identifiers and settings: only plain names are taken.
    for name in ["a; drop table canary", "a\"b", "a'b", "A", "a b", "a-b"] {
        let name = toml::Value::String(name.into());
        write(&format!(
            "[nodes.{name}]\ndsn = {}\n[nodes.b]\ndsn = {}\n",
            dsn(a),
            dsn(b)
        ));
        let (code, stdout, stderr) = nodes.repsync(&["init"]);
        assert_eq!(code, 2, "node name {name}\n{stdout}\n{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        canary_alive(&nodes);
    }
    // A DSN whose quoting is broken is refused as it is read.
    let broken_dsn = |c: &repsync::local_cluster::LocalCluster| {
        toml::Value::String(format!(
            "{} application_name='x'');drop table canary;--'",
            c.dsn()
        ))
        .to_string()
    };
    write(&format!(
        "[nodes.a]\ndsn = {}\n[nodes.b]\ndsn = {}\n",
        broken_dsn(a),
        broken_dsn(b)
    ));
    let (code, stdout, stderr) = nodes.repsync(&["init"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("node `a`, `dsn`: invalid connection string: unexpected character"),
        "{stderr}"
    );
    canary_alive(&nodes);
    // Values spelled to break out, quoted the way a connection string quotes
    // (`\'`), are values: repsync's own sessions use them, the foreign servers
    // get only the options init chooses, and the peers reach each other.
    let hostile_dsn = |c: &repsync::local_cluster::LocalCluster| {
        toml::Value::String(format!(
            "{} application_name='x\\');drop table canary;--' options='-c search_path=public'",
            c.dsn()
        ))
        .to_string()
    };
    write(&format!(
        "[nodes.a]\ndsn = {}\n[nodes.b]\ndsn = {}\n",
        hostile_dsn(a),
        hostile_dsn(b)
    ));
    nodes.repsync_ok(&["init"]);
    canary_alive(&nodes);
    for (n, peer) in [("a", b), ("b", a)] {
        assert_eq!(
            nodes.sql(
                n,
                "select array_to_string(srvoptions, ' ') from pg_foreign_server"
            ),
            format!(
                "host={} port={} dbname=postgres connect_timeout=10 application_name=repsync \
                 options=-c repsync.origin={n} -c lock_timeout=5s -c synchronous_commit=on",
                peer.socket_dir().display(),
                peer.port()
            ),
            "node {n}"
        );
    }
    nodes.sql("a", "create table t (id int primary key, v text)");
    nodes.sql("b", "create table t (id int primary key, v text)");
    nodes.repsync_ok(&["add-table", "t"]);
    nodes.sql("a", "insert into t values (1, 'from a')");
    nodes.sql("b", "insert into t values (2, 'from b')");
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(
                n,
                "select string_agg(id || ' ' || v, ',' order by id) from t"
            ),
            "1 from a,2 from b",
            "node {n}"
        );
    }
    canary_alive(&nodes);
    // A database name with quotes is a value too: both nodes in such a database
    // replicate through foreign servers that name it.
    let db = "it's\"db";
    let in_db = |c: &repsync::local_cluster::LocalCluster, sql: &str| {
        c.psql(db, sql).unwrap_or_else(|e| panic!("{e:#}"))
    };
    for c in [a, b] {
        c.psql("postgres", "create database \"it's\"\"db\"")
            .unwrap();
        in_db(c, "create table t (id int primary key, v text)");
    }
    let db_dsn = |c: &repsync::local_cluster::LocalCluster| {
        toml::Value::String(format!(
            "host={} port={} user=postgres dbname='it\\'s\"db'",
            c.socket_dir().display(),
            c.port()
        ))
    };
    write(&format!(
        "[nodes.a]\ndsn = {}\n[nodes.b]\ndsn = {}\n",
        db_dsn(a),
        db_dsn(b)
    ));
    let (code, stdout, stderr) = nodes.repsync(&["init", "--dry-run"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains(r#""dbname" 'it''s"db'"#), "{stdout}");
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "t"]);
    for (c, peer) in [(a, b), (b, a)] {
        assert_eq!(
            in_db(
                c,
                "select option_value from pg_foreign_server s, pg_options_to_table(s.srvoptions) \
                  where option_name = 'dbname'"
            ),
            db,
            "node {} reaches node {}",
            c.name(),
            peer.name()
        );
    }
    in_db(a, "insert into t values (1, 'from a')");
    in_db(b, "insert into t values (2, 'from b')");
    for c in [a, b] {
        assert_eq!(
            in_db(
                c,
                "select string_agg(id || ' ' || v, ',' order by id) from t"
            ),
            "1 from a,2 from b",
            "node {}",
            c.name()
        );
        assert_eq!(in_db(c, "select count(*) from repsync.sync_err_rec"), "0");
    }
    canary_alive(&nodes);
}

/// 63-byte names (the most PostgreSQL keeps), multibyte characters, reserved words,
/// capitals, spaces, a newline and `$$`: two tables whose names differ only in the
/// last byte get objects of their own, and both replicate both ways.
#[test]
fn long_and_odd_names_replicate_without_collisions() {
    use repsync::sql::{Ident, QualifiedName};
    let schema = Ident::new("Schéma ünï\n$$ \"select\"").unwrap();
    let long = |last: char| format!("{}{last}", "ü".repeat(31));
    assert_eq!(long('1').len(), 63);
    let tables = [
        QualifiedName::new(schema.clone(), Ident::new(long('1')).unwrap()),
        QualifiedName::new(schema.clone(), Ident::new(long('2')).unwrap()),
    ];
    let key1 = Ident::new("select").unwrap();
    let key2 = Ident::new(format!("Mixed Case {}", "k".repeat(52))).unwrap();
    assert_eq!(key2.as_str().len(), 63);
    let value = Ident::new("new\nline $$ ' \" \\").unwrap();
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, &format!("create schema {schema}"));
        for t in &tables {
            nodes.sql(
                n,
                &format!("create table {t} ({key1} int, {key2} text, {value} text, primary key ({key1}, {key2}))"),
            );
        }
    }
    nodes.repsync_ok(&["init"]);
    let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    nodes.repsync_ok(&["add-table", &names[0]]);
    nodes.repsync_ok(&["add-table", &names[1], "--mode", "async"]);
    for (n, k) in [("a", 1), ("b", 2)] {
        for t in &tables {
            nodes.sql(
                n,
                &format!("insert into {t} values ({k}, 'ключ $$', 'from {n}'); update {t} set {value} = {value} || ' ✓' where {key1} = {k}"),
            );
        }
    }
    nodes.repsync_ok(&["run", "--once"]);
    for t in &tables {
        for n in ["a", "b"] {
            assert_eq!(
                nodes.sql(
                    n,
                    &format!("select string_agg({value}, ',' order by {key1}) from {t}")
                ),
                "from a ✓,from b ✓",
                "node {n}, {t}"
            );
        }
        nodes.repsync_ok(&["verify", &t.to_string()]);
    }
    // Each table has functions of its own: no two names became one when PostgreSQL
    // cut them to 63 bytes (it does so silently).
    let objects = nodes.sql(
        "a",
        "select string_agg(name, ',' order by name) from (
           select proname::text as name from pg_proc where pronamespace = 'repsync'::regnamespace
           union all select relname::text from pg_class where relnamespace = 'repsync'::regnamespace
           union all select tgname::text from pg_trigger where not tgisinternal) o",
    );
    let procs = nodes.sql(
        "a",
        "select count(*) from pg_proc where pronamespace = 'repsync'::regnamespace and proname ~ '^(capture|apply|current)_t_'",
    );
    assert_eq!(procs, "6", "{objects}");
    nodes.repsync_ok(&["status"]);
    nodes.repsync_ok(&["remove-table", &names[0], "--yes"]);
    nodes.sql(
        "a",
        &format!("insert into {} values (9, 'x', 'y')", tables[1]),
    );
    nodes.repsync_ok(&["run", "--once"]);
    assert_eq!(
        nodes.sql("b", &format!("select count(*) from {}", tables[1])),
        "3"
    );
}

/// Look-alikes of everything the async capture function calls, in a schema the
/// writer owns. Each raises, so one that runs fails the writer's statement.
const LOOK_ALIKES: &str = r#"
create function evil.hijacked() returns boolean language plpgsql as $$begin raise exception 'hijacked'; end$$;
create function evil.current_setting(text, boolean) returns text language sql as 'select null::text where evil.hijacked()';
create function evil.texteq(text, text) returns boolean language sql as 'select evil.hijacked()';
create operator evil.= (leftarg = text, rightarg = text, function = evil.texteq);
create operator evil.<> (leftarg = text, rightarg = text, function = evil.texteq);
create function evil.agg_step(integer, anyelement) returns integer language sql as 'select 1 where evil.hijacked()';
create aggregate evil.json_agg(anyelement) (sfunc = evil.agg_step, stype = integer);
create function evil.pg_current_xact_id() returns xid8 language sql as 'select null::xid8 where evil.hijacked()';
create function evil.pg_try_advisory_xact_lock_shared(integer, integer) returns boolean language sql as 'select evil.hijacked()';
create function evil.pg_notify(text, text) returns void language sql as 'select where evil.hijacked()';
create function evil.unnest(text[]) returns setof text language sql as 'select null::text where evil.hijacked()';
create type evil.text as (x integer);
"#;

/// The async capture function runs as its owner and, being on every statement's
/// path, without a search_path of its own. A writer who puts look-alike functions,
/// operators, an aggregate and a type ahead of pg_catalog gets none of them run,
/// and the changes replicate.
#[test]
fn a_writers_search_path_redirects_nothing_in_the_capture() {
    let nodes = common::with_table(
        3,
        "create table t (id int, doc jsonb, v text, primary key (id, doc))",
        &[
            "t", "--from", "a", "--to", "b", "--to", "c", "--mode", "async",
        ],
    );
    nodes.sql(
        "a",
        &format!(
            "create role writer; grant select, insert, update, delete, truncate on t to writer; \
             create schema evil authorization writer; set role writer; {LOOK_ALIKES}"
        ),
    );
    let as_writer = "set role writer; set search_path = evil, pg_catalog; ";
    // A waiting shipper holds its idle lock, so the capture also takes its NOTIFY path.
    let shipper = nodes.start_shipper(&[]);
    nodes.wait_for(
        "a",
        &format!(
            "select count(*) from pg_locks where locktype = 'advisory' and granted \
             and classid = {} and objid = {}",
            repsync::drain::IDLE_LOCK[0],
            repsync::drain::IDLE_LOCK[1]
        ),
        "1",
    );
    // The trap works: an unqualified call in the writer's session finds evil.
    let trap = nodes
        .node("a")
        .psql(
            "postgres",
            &format!("{as_writer} select current_setting('x', true)"),
        )
        .expect_err("the look-alike runs");
    assert!(format!("{trap:#}").contains("hijacked"), "{trap:#}");
    nodes.sql(
        "a",
        &format!(
            "{as_writer} insert into public.t values (1, '{{\"a\": 1}}', 'one'), (2, '[2]', 'two'); \
             insert into public.t values (1, '{{\"a\": 1}}', 'again') on conflict do nothing; \
             update public.t set v = 'one, changed' where id = 1; \
             update public.t set doc = '{{\"b\": 3}}' where id = 2; \
             delete from public.t where id = 404; \
             insert into public.t values (3, 'null', 'three'); \
             delete from public.t where id = 3"
        ),
    );
    let want = nodes.dump("a", "t");
    assert!(
        want.contains("one, changed") && want.contains(r#"{""b"": 3}"#),
        "{want}"
    );
    let dump = "select coalesce(string_agg(t::text, E'\\n' order by t::text), '') from t";
    for n in ["b", "c"] {
        nodes.wait_for(n, dump, &want);
    }
    nodes.sql("a", &format!("{as_writer} truncate public.t"));
    for n in ["b", "c"] {
        nodes.wait_for(n, "select count(*) from t", "0");
    }
    assert_eq!(shipper.terminate(), 0, "{}", nodes.shipper_log());
}

/// Two tables whose unquoted names read alike (`"a.b".c` and `a."b.c"`) are two
/// sets: each replicates into its own table, and removing one leaves the other. A
/// table written on several nodes whose name needs quotes (capitals, a dot) has its
/// tombstones purged: the command finds it by the name on the node, not by
/// re-reading its printed name. Before, both tables got one set name, and
/// purge-tombstones folded `public.Orders` to `public.orders`.
#[test]
fn names_that_read_alike_unquoted_are_different_tables() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "create schema \"a.b\"; create schema a; \
             create table \"a.b\".c (id int primary key, v text); \
             create table a.\"b.c\" (id int primary key, v text); \
             create schema \"x.y\"; create table \"x.y\".\"Orders\" (id int primary key, v text)",
        );
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "\"a.b\".c", "--from", "a", "--to", "b"]);
    nodes.repsync_ok(&["add-table", "a.\"b.c\"", "--from", "a", "--to", "b"]);
    assert_eq!(
        nodes.sql(
            "a",
            "select string_agg(local_schema || '|' || local_table, ' ' order by local_schema) \
               from repsync.replicated_table"
        ),
        "a|b.c a.b|c"
    );
    nodes.sql("a", "insert into \"a.b\".c values (1, 'first')");
    nodes.sql("a", "insert into a.\"b.c\" values (2, 'second')");
    assert_eq!(nodes.dump("b", "\"a.b\".c"), "(1,first)");
    assert_eq!(nodes.dump("b", "a.\"b.c\""), "(2,second)");

    nodes.repsync_ok(&["remove-table", "\"a.b\".c", "--yes"]);
    nodes.sql("a", "insert into \"a.b\".c values (3, 'not sent')");
    nodes.sql("a", "insert into a.\"b.c\" values (4, 'still sent')");
    assert_eq!(nodes.dump("b", "\"a.b\".c"), "(1,first)");
    assert_eq!(
        nodes.dump("b", "a.\"b.c\""),
        "(2,second)\n(4,\"still sent\")"
    );
    let out = nodes.repsync_ok(&["verify", "a.\"b.c\""]);
    assert!(
        out.contains("2 rows on a, 2 rows on b") && out.contains("identical"),
        "{out}"
    );

    // Written on both nodes: versioned, with tombstones.
    nodes.repsync_ok(&["add-table", "\"x.y\".\"Orders\""]);
    nodes.sql(
        "a",
        "insert into \"x.y\".\"Orders\" values (1, 'x'), (2, 'y')",
    );
    nodes.sql("b", "delete from \"x.y\".\"Orders\" where id = 1");
    assert_eq!(nodes.dump("a", "\"x.y\".\"Orders\""), "(2,y)");
    let versions = nodes.sql(
        "a",
        "select 'versions_' || set_name from repsync.replicated_table where local_table = 'Orders'",
    );
    let tombstones = |node: &str| {
        nodes.sql(
            node,
            &format!("select count(*) from repsync.\"{versions}\" where repsync_deleted"),
        )
    };
    assert_eq!((tombstones("a"), tombstones("b")), ("1".into(), "1".into()));
    let out = nodes.repsync_ok(&["purge-tombstones"]);
    assert!(
        out.contains("x.y.Orders: 1 on a, 1 on b tombstone(s) purged"),
        "{out}"
    );
    assert_eq!((tombstones("a"), tombstones("b")), ("0".into(), "0".into()));
}
