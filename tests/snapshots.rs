//! The generated SQL, kept as insta snapshots (review a change with `cargo insta review`
//! or `INSTA_UPDATE=always cargo test --test snapshots` and a diff), rendered from the
//! `repsync::render` structs directly. The hostile case is also executed on real
//! servers, to prove that what the snapshots show is valid SQL that replicates.
mod common;

use repsync::catalog::WireFormat;
use repsync::render::{self, render};
use repsync::sql::{Ident, Literal, QualifiedName, RowFilter};

fn name(n: &str) -> repsync::config::NodeName {
    repsync::config::NodeName::parse(n).unwrap()
}

fn ident(s: &str) -> Ident {
    Ident::new(s).unwrap()
}

fn idents(names: &[&str]) -> Vec<Ident> {
    names.iter().map(|n| ident(n)).collect()
}

/// The dollar-quote tags a rendered text opens its bodies with (`as $tag$`).
fn body_tags(sql: &str) -> Vec<String> {
    sql.lines()
        .filter_map(|l| l.trim().strip_prefix("as "))
        .filter(|t| t.starts_with('$') && t.ends_with('$'))
        .map(str::to_string)
        .collect()
}

/// Asserts that every body is opened and closed by the same tag, that the tag occurs
/// nowhere else, and that no NUL placeholder is left.
fn assert_well_quoted(sql: &str) -> String {
    assert!(!sql.contains('\0'), "tag placeholder left in:\n{sql}");
    let tags = body_tags(sql);
    assert!(!tags.is_empty(), "no dollar-quoted body in:\n{sql}");
    let tag = tags[0].clone();
    assert!(tags.iter().all(|t| *t == tag), "{tags:?}");
    assert_eq!(
        sql.matches(tag.as_str()).count(),
        2 * tags.len(),
        "{tag} occurs inside a body:\n{sql}"
    );
    tag
}

struct Table {
    name: QualifiedName,
    columns: Vec<Ident>,
    key: Vec<Ident>,
    filter: Option<RowFilter>,
    json: WireFormat,
}

impl Table {
    fn non_key(&self) -> Vec<Ident> {
        repsync::catalog::non_key_columns(&self.columns, &self.key)
    }

    fn buckets(&self, typed: bool) -> render::Buckets<'_> {
        render::Buckets {
            table: &self.name,
            partitioned: false,
            key: &self.key,
            columns: &self.columns,
            filter: self.filter.as_ref(),
            mask: 4095,
            typed,
            json: &self.json,
        }
    }

    fn capture_function(&self, set_name: &str) -> String {
        self.capture_function_in(set_name, false, &[])
    }

    fn capture_function_in(&self, set_name: &str, async_mode: bool, dests: &[Literal]) -> String {
        render(&render::CaptureFunction {
            json: &self.json,
            settings: &self.json,
            async_mode,
            versioned: false,
            versions: &ident(&format!("versions_{set_name}")),
            local_node: &Literal::new("a"),
            local_rank: i32::MAX,
            dests,
            table: &self.name,
            partitioned: false,
            table_literal: &Literal::new(self.name.to_string()),
            function: &ident(&format!("capture_{set_name}")),
            set_name: &Literal::new(set_name),
            columns: &self.columns,
            key: &self.key,
            filter: self.filter.as_ref(),
            idle_lock: repsync::drain::IDLE_LOCK,
            tag: render::tag(),
        })
    }

    fn current_rows(&self, set_name: &str) -> String {
        render(&render::CurrentRows {
            json: &self.json,
            table: &self.name,
            partitioned: false,
            function: &ident(&format!("current_{set_name}")),
            versions: None,
            columns: &self.columns,
            key: &self.key,
            filter: self.filter.as_ref(),
            tag: render::tag(),
        })
    }

    fn capture_triggers(&self, set_name: &str) -> String {
        render(&render::CaptureTriggers {
            table: &self.name,
            function: &ident(&format!("capture_{set_name}")),
            partitioned: false,
            partition: false,
            replace: false,
        })
    }

    fn apply_function(&self, set_name: &str) -> String {
        render(&render::ApplyFunction {
            json: &self.json,
            table: &self.name,
            partitioned: false,
            function: &ident(&format!("apply_{set_name}")),
            columns: &self.columns,
            key: &self.key,
            non_key: &self.non_key(),
            tag: render::tag(),
        })
    }
}

fn plain() -> Table {
    Table {
        name: QualifiedName::parse("public.orders").unwrap(),
        columns: idents(&["id", "total"]),
        key: idents(&["id"]),
        filter: None,
        json: WireFormat::default(),
    }
}

const HOSTILE_FILTER: &str =
    r#""$repsync$" is distinct from 'skip $$ me' and "K2" > 0 -- a trailing comment"#;

fn hostile() -> Table {
    Table {
        name: QualifiedName::new(ident(r#"Odd $$ "x""#), ident("T, {x}")),
        columns: idents(&["k 1", "K2", "$repsync$", "v"]),
        key: idents(&["k 1", "K2"]),
        filter: Some(RowFilter::parse(HOSTILE_FILTER).unwrap()),
        json: WireFormat::default(),
    }
}

const HOSTILE_DDL: &str = r#"create schema "Odd $$ ""x""";
    create table "Odd $$ ""x"""."T, {x}" ("k 1" text, "K2" int, "$repsync$" text, v jsonb, primary key ("k 1", "K2"))"#;

#[test]
fn plain_table() {
    let t = plain();
    let capture = t.capture_function("t_orders");
    assert_eq!(assert_well_quoted(&capture), "$repsync$");
    insta::assert_snapshot!("capture_function_plain", capture);
    insta::assert_snapshot!("capture_triggers_plain", t.capture_triggers("t_orders"));
    let apply = t.apply_function("t_orders");
    assert_eq!(assert_well_quoted(&apply), "$repsync$");
    insta::assert_snapshot!("apply_function_plain", apply);
}

#[test]
fn async_capture_and_current_rows() {
    for (name, t) in [("plain", plain()), ("hostile", hostile())] {
        let capture = t.capture_function_in("t_x", true, &[Literal::new("b"), Literal::new("c's")]);
        assert_well_quoted(&capture);
        assert!(
            capture.contains("'K'") && capture.contains("pg_notify"),
            "{capture}"
        );
        assert!(
            !capture.contains("insert into repsync.pending"),
            "{capture}"
        );
        insta::assert_snapshot!(format!("capture_function_async_{name}"), capture);
        let current = t.current_rows("t_x");
        assert_well_quoted(&current);
        insta::assert_snapshot!(format!("current_rows_{name}"), current);
    }
}

/// json and jsonb columns travel as strings of their text, in rows and keys.
#[test]
fn json_columns_travel_as_text() {
    let t = Table {
        name: QualifiedName::parse("public.docs").unwrap(),
        columns: idents(&["id", "meta", "body", "tags"]),
        key: idents(&["id", "meta"]),
        filter: None,
        json: WireFormat::new(idents(&["body"]), idents(&["meta"]), idents(&["tags"])),
    };
    let mut t = t;
    t.json.float = true;
    t.json.datetime = true;
    let capture = t.capture_function("t_docs");
    assert!(
        capture.contains(r#""body"::pg_catalog.text as "body""#),
        "{capture}"
    );
    insta::assert_snapshot!("capture_function_json", capture);
    let capture = t.capture_function_in("t_docs", true, &[Literal::new("b")]);
    insta::assert_snapshot!("capture_function_async_json", capture);
    let current = t.current_rows("t_docs");
    insta::assert_snapshot!("current_rows_json", current);
    let apply = t.apply_function("t_docs");
    assert!(
        apply.contains(r#"(j."body" #>> '{}')::json as "body""#),
        "{apply}"
    );
    insta::assert_snapshot!("apply_function_json", apply);
    let ids = Literal::new("{1,2}");
    let copy_rows = render(&render::ShipCopyRows {
        json: &t.json,
        table: &t.name,
        partitioned: false,
        key: &t.key,
        columns: &t.columns,
        filter: None,
        dest: &Literal::new("b"),
        ids: &ids,
    });
    insta::assert_snapshot!("ship_copy_rows_json", copy_rows);
    let gone = render(&render::ShipGoneKeys {
        json: &t.json,
        table: &t.name,
        partitioned: false,
        key: &t.key,
        filter: None,
    });
    insta::assert_snapshot!("ship_gone_keys_json", gone);
}

#[test]
fn key_only_table_applies_with_do_nothing() {
    let t = Table {
        name: QualifiedName::parse("tags").unwrap(),
        columns: idents(&["a", "b"]),
        key: idents(&["a", "b"]),
        filter: None,
        json: WireFormat::default(),
    };
    let apply = t.apply_function("t_tags");
    assert!(apply.contains("do nothing;"), "{apply}");
    assert!(!apply.contains("do update"), "{apply}");
    insta::assert_snapshot!("apply_function_key_only", apply);
}

/// The catalog rows add-table writes for `set` on a sending or receiving node.
fn register(t: &Table, set: &str, sender: bool, dests: &[Literal]) -> String {
    render(&render::Register {
        set_name: &Literal::new(set),
        local_schema: Literal::new(t.name.schema.as_str()),
        local_table: Literal::new(t.name.name.as_str()),
        source: Literal::new(t.name.plain()),
        is_sender: sender,
        is_receiver: !sender,
        mode: Literal::new("sync"),
        on_error: Literal::new("queue"),
        options: Literal::new("{}"),
        dests,
    })
}

/// The json table of `json_columns_travel_as_text`.
fn docs() -> Table {
    let mut t = Table {
        name: QualifiedName::parse("public.docs").unwrap(),
        columns: idents(&["id", "meta", "body", "tags"]),
        key: idents(&["id", "meta"]),
        filter: None,
        json: WireFormat::new(idents(&["body"]), idents(&["meta"]), idents(&["tags"])),
    };
    t.json.float = true;
    t.json.datetime = true;
    t
}

/// The snapshots of the plain table, the json table, the key-only table and the
/// async capture, exactly as rendered above, run on servers: installed on a and b
/// by hand and fed changes, with what reaches b (or the queue) checked.
#[test]
fn plain_json_key_only_and_async_snapshots_run_on_postgres() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "create table public.orders (id int primary key, total numeric); \
             create table public.docs (id int, meta jsonb, body json, tags int[], primary key (id, meta)); \
             create table public.tags (a int, b int, primary key (a, b))",
        );
    }
    nodes.repsync_ok(&["init"]);
    let b = [Literal::new("b")];

    // The plain table, in sync mode.
    let t = plain();
    nodes.sql(
        "a",
        &format!(
            "{}{}{}",
            t.capture_function("t_orders"),
            t.capture_triggers("t_orders"),
            register(&t, "t_orders", true, &b)
        ),
    );
    nodes.sql(
        "b",
        &format!(
            "{}{}",
            t.apply_function("t_orders"),
            register(&t, "t_orders", false, &[])
        ),
    );
    nodes.sql(
        "a",
        "insert into orders values (1, 1.50), (2, 2), (3, null)",
    );
    nodes.sql("a", "update orders set id = 30, total = 3.25 where id = 3");
    nodes.sql("a", "delete from orders where id = 2");
    let orders = "select string_agg(id || ' ' || coalesce(total::text, 'null'), ',' order by id) from orders";
    assert_eq!(nodes.sql("b", orders), "1 1.50,30 3.25");
    // verify's queries of the plain table find the one row of each bucket.
    let mut client = postgres::Client::connect(&nodes.node("b").dsn(), postgres::NoTls).unwrap();
    let summary = client
        .query(
            render(&render::VerifyBuckets {
                q: &t.buckets(true),
            })
            .as_str(),
            &[],
        )
        .unwrap();
    assert_eq!(
        summary.iter().map(|r| r.get::<_, i64>("rows")).sum::<i64>(),
        2
    );
    let buckets: Vec<i32> = summary.iter().map(|r| r.get("bucket")).collect();
    let found = client
        .query(
            render(&render::VerifyRows {
                q: &t.buckets(true),
            })
            .as_str(),
            &[&buckets],
        )
        .unwrap();
    let mut keys: Vec<String> = found.iter().map(|r| r.get("key")).collect();
    keys.sort();
    assert_eq!(keys, ["(1)", "(30)"]);

    // The json table in sync mode: json byte for byte, an array's lower bound.
    let t = docs();
    nodes.sql(
        "a",
        &format!(
            "{}{}{}",
            t.capture_function("t_docs"),
            t.capture_triggers("t_docs"),
            register(&t, "t_docs", true, &b)
        ),
    );
    nodes.sql(
        "b",
        &format!(
            "{}{}",
            t.apply_function("t_docs"),
            register(&t, "t_docs", false, &[])
        ),
    );
    nodes.sql(
        "a",
        r#"insert into docs values (1, '{"k": null}', '{"b": 1,  "b": [2]}', '[0:1]={7,8}'),
                                   (2, 'null', 'null', null)"#,
    );
    let docs_dump = "select string_agg(format('%s|%s|%s|%s', id, meta, body, tags), E'\\n' order by id) from docs";
    let expected = r#"1|{"k": null}|{"b": 1,  "b": [2]}|[0:1]={7,8}
2|null|null|"#;
    assert_eq!(nodes.sql("a", docs_dump), expected);
    assert_eq!(nodes.sql("b", docs_dump), expected);
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );

    // The same table in async mode: the capture queues keys (ids 1 and 2 of a
    // queue nothing used yet), current_rows reads them back, and the shipper's
    // COPY and gone-keys statements of the snapshots find the row and the key.
    let capture = t.capture_function_in("t_docs", true, &b);
    nodes.sql("a", &format!("{capture}{}", t.current_rows("t_docs")));
    nodes.sql(
        "a",
        r#"insert into docs values (3, '{"k": 3}', '{ "x" : 3 }', '{3}')"#,
    );
    nodes.sql("a", r#"delete from docs where id = 1"#);
    assert_eq!(
        nodes.sql(
            "a",
            "select string_agg(format('%s %s %s %s', id, dest, op, old_rows), E'\\n' order by id) from repsync.sync_err_rec"
        ),
        r#"1 b K [{"id":3,"meta":"{\"k\": 3}"}]
2 b K [{"id":1,"meta":"{\"k\": null}"}]"#
    );
    assert_eq!(
        nodes.sql(
            "a",
            "select format('%s %s', c.rows, c.gone) from repsync.current_t_docs(\
               (select repsync.merge_keys(array_agg(old_rows order by id)) from repsync.sync_err_rec)) c"
        ),
        r#"[{"id":3,"meta":"{\"k\": 3}","body":"{ \"x\" : 3 }","tags":"{3}"}] [{"id":1,"meta":"{\"k\": null}"}]"#
    );
    let mut client = postgres::Client::connect(&nodes.node("a").dsn(), postgres::NoTls).unwrap();
    let copy_rows = render(&render::ShipCopyRows {
        json: &t.json,
        table: &t.name,
        partitioned: false,
        key: &t.key,
        columns: &t.columns,
        filter: None,
        dest: &Literal::new("b"),
        ids: &Literal::new("{1,2}"),
    });
    let mut out = String::new();
    std::io::Read::read_to_string(&mut client.copy_out(copy_rows.as_str()).unwrap(), &mut out)
        .unwrap();
    assert_eq!(out, "3\t{\"k\": 3}\t{ \"x\" : 3 }\t{3}\n");
    let gone = render(&render::ShipGoneKeys {
        json: &t.json,
        table: &t.name,
        partitioned: false,
        key: &t.key,
        filter: None,
    });
    let gone: Option<String> = client
        .query_one(gone.as_str(), &[&"b", &vec![1i64, 2]])
        .unwrap()
        .get(0);
    assert_eq!(
        gone.as_deref(),
        Some(r#"[{"id":1,"meta":"{\"k\": null}"}]"#)
    );

    // The key-only table's apply does nothing for a key it has.
    let t = Table {
        name: QualifiedName::parse("tags").unwrap(),
        columns: idents(&["a", "b"]),
        key: idents(&["a", "b"]),
        filter: None,
        json: WireFormat::default(),
    };
    nodes.sql("b", &t.apply_function("t_tags"));
    for _ in 0..2 {
        nodes.sql(
            "b",
            r#"call repsync.apply_t_tags('I', null, '[{"a": 1, "b": 2}]')"#,
        );
    }
    nodes.sql(
        "b",
        r#"call repsync.apply_t_tags('U', '[{"a": 1, "b": 2}]', '[{"a": 1, "b": 3}]')"#,
    );
    assert_eq!(
        nodes.sql("b", "select string_agg(a || ' ' || b, ',') from tags"),
        "1 3"
    );

    // The async capture of the plain and the hostile table, to b and to c's.
    let dests = [Literal::new("b"), Literal::new("c's")];
    nodes.sql("a", "delete from repsync.sync_err_rec");
    nodes.sql("b", HOSTILE_DDL);
    for (t, change, keys, rows) in [
        (
            plain(),
            "update orders set total = 9 where id = 1",
            r#"[{"id": 1}, {"id": 1}]"#,
            r#"[{"id": 1, "total": 9}]"#,
        ),
        (
            hostile(),
            r#"insert into "Odd $$ ""x"""."T, {x}" values ('k', 1, 'in', null), ('k', 2, 'skip $$ me', null)"#,
            r#"[{"K2": 1, "k 1": "k"}]"#,
            r#"[{"v": null, "K2": 1, "k 1": "k", "$repsync$": "in"}]"#,
        ),
    ] {
        if t.name.name.as_str() == "T, {x}" {
            nodes.sql("a", HOSTILE_DDL);
        } else {
            // Its sync capture's triggers go first.
            for op in ["insert", "update", "delete", "truncate"] {
                nodes.sql("a", &format!("drop trigger repsync_capture_{op} on orders"));
            }
        }
        nodes.sql(
            "a",
            &format!(
                "{}{}{}",
                t.capture_function_in("t_x", true, &dests),
                t.capture_triggers("t_x"),
                t.current_rows("t_x")
            ),
        );
        nodes.sql("a", change);
        assert_eq!(
            nodes.sql(
                "a",
                "select string_agg(format('%s %s %s', dest, op, old_rows::jsonb), E'\\n' order by dest) from repsync.sync_err_rec"
            ),
            format!("b K {keys}\nc's K {keys}"),
            "{}",
            t.name
        );
        // The row as it is now, each key once, and only inside the filter.
        assert_eq!(
            nodes.sql(
                "a",
                "select (repsync.current_t_x((select old_rows from repsync.sync_err_rec where dest = 'b'))).rows::jsonb",
            ),
            rows
        );
        nodes.sql("a", "delete from repsync.sync_err_rec");
    }
}

/// A table that several nodes write: its version table, the capture that records
/// versions (sync mode, which then queues keys as async mode does), the rows with
/// their versions, and the apply under each policy that has SQL of its own; then
/// all of it runs on a server, on the hostile table.
#[test]
fn versioned_hostile_table() {
    let t = hostile();
    let versions = ident("versions_hostile");
    let mut sql = render(&render::VersionsTable {
        table: &t.name,
        versions: &versions,
        versions_key: &ident("versions_hostile_key"),
        key: &t.key,
    });
    let capture = render(&render::CaptureFunction {
        json: &t.json,
        settings: &t.json,
        async_mode: false,
        versioned: true,
        versions: &versions,
        local_node: &Literal::new("a"),
        local_rank: 2,
        dests: &[Literal::new("b")],
        table: &t.name,
        partitioned: false,
        table_literal: &Literal::new(t.name.to_string()),
        function: &ident("capture_hostile"),
        set_name: &Literal::new("hostile"),
        columns: &t.columns,
        key: &t.key,
        filter: t.filter.as_ref(),
        idle_lock: repsync::drain::IDLE_LOCK,
        tag: render::tag(),
    });
    assert_well_quoted(&capture);
    assert!(capture.contains("'K', k.keys"), "{capture}");
    insta::assert_snapshot!("capture_function_versioned_hostile", capture);
    sql.push_str(&capture);
    let current = render(&render::CurrentRows {
        json: &t.json,
        table: &t.name,
        partitioned: false,
        function: &ident("current_hostile"),
        versions: Some(&versions),
        columns: &t.columns,
        key: &t.key,
        filter: t.filter.as_ref(),
        tag: render::tag(),
    });
    assert_well_quoted(&current);
    sql.push_str(&current);
    let newer = ident("$repsync$");
    for (name, newer_column, origin_priority) in [
        ("newer-wins", None, false),
        ("newer-wins:$repsync$", Some(&newer), false),
        ("origin-priority:b,a", None, true),
    ] {
        let apply = render(&render::ApplyVersioned {
            json: &t.json,
            table: &t.name,
            partitioned: false,
            function: &ident("apply_hostile"),
            versions: &versions,
            set_name: &Literal::new("hostile"),
            columns: &t.columns,
            key: &t.key,
            non_key: &t.non_key(),
            policy: &Literal::new(name),
            newer_column,
            origin_priority,
            keep_local: false,
            apply_remote: false,
            tag: render::tag(),
        });
        assert_well_quoted(&apply);
        if !origin_priority && newer_column.is_none() {
            insta::assert_snapshot!("apply_versioned_hostile", apply);
        }
        sql.push_str(&apply);
        sql.push('\n');
    }
    let nodes = common::start_nodes(2);
    nodes.sql("a", HOSTILE_DDL);
    nodes.repsync_ok(&["init"]);
    nodes.sql("a", &sql);
    // The last apply installed (origin-priority) takes a row with its version.
    let table = r#""Odd $$ ""x"""."T, {x}""#;
    nodes.sql(
        "a",
        r#"set repsync.origin = 'b';
               call repsync.apply_hostile('U', null,
                   '[{"k 1": "$$ '' \\", "K2": 1, "$repsync$": "x", "v": {"a": 1}}]',
                   '[{"k 1": "$$ '' \\", "K2": 1, "repsync_at": "2026-01-01T00:00:00Z", "repsync_origin": "b", "repsync_deleted": false}]')"#,
    );
    assert_eq!(
        nodes.sql(
            "a",
            &format!(r#"select "K2" || "$repsync$" || v::text from {table}"#)
        ),
        r#"1x{"a": 1}"#
    );
    assert_eq!(
        nodes.sql(
            "a",
            r#"select repsync_origin from repsync.versions_hostile"#
        ),
        "b"
    );
}

#[test]
fn hostile_table() {
    let t = hostile();
    let capture = t.capture_function("hostile");
    let tag = assert_well_quoted(&capture);
    assert_ne!(
        tag, "$repsync$",
        "the body contains \"$repsync$\": that tag would end it early"
    );
    assert!(capture.contains(r#""$repsync$""#), "{capture}");
    // The filter sits on lines of its own, so its comment ends before the closing parenthesis.
    assert!(
        capture.contains(
            "\n\"$repsync$\" is distinct from 'skip $$ me' and \"K2\" > 0 -- a trailing comment\n)"
        ),
        "{capture}"
    );
    insta::assert_snapshot!("capture_function_hostile", capture);

    let triggers = t.capture_triggers("hostile");
    assert!(
        triggers.contains(r#"after insert on "Odd $$ ""x"""."T, {x}""#),
        "{triggers}"
    );
    insta::assert_snapshot!("capture_triggers_hostile", triggers);

    let apply = t.apply_function("hostile");
    let tag = assert_well_quoted(&apply);
    assert_ne!(tag, "$repsync$");
    assert!(apply.contains(r#"on conflict ("k 1", "K2")"#), "{apply}");
    assert!(
        apply.contains(r#"do update set "$repsync$" = excluded."$repsync$", "v" = excluded."v";"#),
        "{apply}"
    );
    insta::assert_snapshot!("apply_function_hostile", apply);
}

#[test]
fn init_functions() {
    let sql = render(&render::Functions {
        node: &name("a"),
        dblink_schema: &ident("public"),
        tag: render::tag(),
    });
    assert_eq!(assert_well_quoted(&sql), "$repsync$");
    for f in [
        "repsync.flush()",
        "repsync.ship(p_dest text, p_sql text, p_keep_open boolean default false)",
        "repsync.drain_errors(p_dest text default null, p_limit integer default 1000)",
    ] {
        assert!(sql.contains(f), "{f} missing");
    }
    insta::assert_snapshot!("functions", sql);

    // dblink in a schema of its own, with a hostile name.
    let sql = render(&render::Functions {
        node: &name("a"),
        dblink_schema: &ident("ext $repsync$"),
        tag: render::tag(),
    });
    assert_eq!(assert_well_quoted(&sql), "$repsync1$");
    assert!(sql.contains(r#""ext $repsync$".dblink_exec("#), "{sql}");
}

#[test]
fn peer() {
    let options = vec![
        (ident("host"), Literal::new("/tmp/repsync sockets")),
        (ident("port"), Literal::new("5432")),
        (ident("dbname"), Literal::new("app's db")),
        (ident("connect_timeout"), Literal::new("10")),
        (ident("application_name"), Literal::new("repsync")),
        (ident("options"), Literal::new("-c repsync.origin=a")),
    ];
    let mapping = vec![(ident("user"), Literal::new("it's a \\user"))];
    let sql = render(&render::Peer {
        node: &name("a"),
        peer: &name("b"),
        server: &ident("repsync_b"),
        options: &options,
        mapping: &mapping,
        password_setting: Some(Literal::new("repsync.password_b")),
        tag: render::tag(),
        peer_literal: Literal::new("b"),
        server_literal: Literal::new("repsync_b"),
        queued_mark: ident("queued_xid_b"),
    });
    assert!(sql.contains(r#""dbname" 'app''s db'"#), "{sql}");
    assert!(sql.contains(r#"E'it''s a \\user'"#), "{sql}");
    insta::assert_snapshot!("peer", sql);
    // Run on a server, with the password in the transaction's setting as init
    // sets it: the server, the mapping (with the password) and the peer row.
    // (init's own server for b is replaced.)
    let nodes = common::start_nodes(2);
    nodes.repsync_ok(&["init"]);
    nodes.sql(
        "a",
        &format!("select set_config('repsync.password_b', 'it''s pw', true);\n{sql}"),
    );
    assert_eq!(
        nodes.sql(
            "a",
            "select array_to_string(srvoptions, '|') from pg_foreign_server where srvname = 'repsync_b'"
        ),
        "host=/tmp/repsync sockets|port=5432|dbname=app's db|connect_timeout=10|application_name=repsync|options=-c repsync.origin=a"
    );
    assert_eq!(
        nodes.sql(
            "a",
            "select array_to_string(umoptions, '|') from pg_user_mappings where srvname = 'repsync_b'"
        ),
        r"user=it's a \user|password=it's pw"
    );
    assert_eq!(
        nodes.sql("a", "select name || ' ' || server_name from repsync.peer"),
        "b repsync_b"
    );
}

/// The hostile snapshots run on real servers: the capture function and triggers on a,
/// the apply procedure on b, registered by hand, and a change replicates through them.
#[test]
fn hostile_sql_runs_on_postgres() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, HOSTILE_DDL);
    }
    nodes.repsync_ok(&["init"]);
    let t = hostile();
    let set = "hostile";
    let register = |sender: bool, dests: &[Literal]| {
        render(&render::Register {
            set_name: &Literal::new(set),
            local_schema: Literal::new(t.name.schema.as_str()),
            local_table: Literal::new(t.name.name.as_str()),
            source: Literal::new(t.name.plain()),
            is_sender: sender,
            is_receiver: !sender,
            mode: Literal::new("sync"),
            on_error: Literal::new("queue"),
            options: Literal::new("{}"),
            dests,
        })
    };
    let on_a = format!(
        "{}{}{}",
        t.capture_function(set),
        t.capture_triggers(set),
        register(true, &[Literal::new("b")])
    );
    let on_b = format!("{}{}", t.apply_function(set), register(false, &[]));
    nodes.sql("a", &on_a);
    nodes.sql("b", &on_b);
    assert_eq!(
        nodes.sql("a", r#"select count(*) from pg_trigger where tgrelid = '"Odd $$ ""x"""."T, {x}"'::regclass and tgname like 'repsync%'"#),
        "4"
    );

    let table = r#""Odd $$ ""x"""."T, {x}""#;
    let hostile_text = r#"a, { } " ' \ $$ $repsync$ $repsync1$"#.replace('\'', "''");
    nodes.sql(
        "a",
        &format!(
            r#"insert into {table} values ('{hostile_text}', 1, 'kept $$', '{{"x": "$repsync$"}}'),
                                          ('{hostile_text}', 2, 'skip $$ me', null),
                                          ('{hostile_text}', -3, 'negative', null),
                                          ('plain', 4, null, '[1, 2]')"#
        ),
    );
    let dump = format!(
        r#"select coalesce(string_agg(format('%s|%s|%s|%s', "k 1", "K2", "$repsync$", v), E'\n' order by "K2"), '') from {table}"#
    );
    let on_a_rows = nodes.sql("a", &dump);
    assert_eq!(on_a_rows.lines().count(), 4);
    // The filter: "skip $$ me" and K2 <= 0 stay on a; a null "$repsync$" passes.
    let expected: Vec<&str> = on_a_rows
        .lines()
        .filter(|l| !l.contains("skip $$ me") && !l.contains("|-3|"))
        .collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(nodes.sql("b", &dump), expected.join("\n"));
    assert!(
        nodes
            .sql("b", &dump)
            .contains(r#"a, { } " ' \ $$ $repsync$ $repsync1$|1|kept $$|{"x": "$repsync$"}"#)
    );

    // Update of the key and of a value, then delete, through the same objects.
    nodes.sql(
        "a",
        &format!(r#"update {table} set "K2" = 40, "$repsync$" = '$repsync1$' where "K2" = 4"#),
    );
    nodes.sql(
        "a",
        &format!(r#"update {table} set "$repsync$" = 'moved in' where "K2" = 2"#),
    );
    nodes.sql("a", &format!(r#"delete from {table} where "K2" = 1"#));
    let on_a_rows = nodes.sql("a", &dump);
    let expected: Vec<&str> = on_a_rows.lines().filter(|l| !l.contains("|-3|")).collect();
    assert_eq!(nodes.sql("b", &dump), expected.join("\n"));
    assert!(nodes.sql("b", &dump).contains("|40|$repsync1$|[1, 2]"));
    nodes.sql("a", &format!("truncate {table}"));
    assert_eq!(nodes.sql("b", &dump), "");
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );
}

/// A newline in a table or schema name must not let the rest of the name out of a
/// comment of the generated SQL (where it would run as a statement).
#[test]
fn newline_in_a_name_stays_inside_the_sql() {
    let evil = "x\ndrop table victim; --";
    let name = QualifiedName::new(ident("public"), ident(evil));
    let t = Table {
        name,
        columns: idents(&["id"]),
        key: idents(&["id"]),
        filter: None,
        json: WireFormat::default(),
    };
    let nodes = common::start_nodes(2);
    nodes.repsync_ok(&["init"]);
    nodes.sql(
        "a",
        &format!(
            "create table victim (x int); create table {} (id int primary key)",
            t.name
        ),
    );
    let sql = format!(
        "{}{}{}",
        t.capture_function("evil"),
        t.capture_triggers("evil"),
        t.apply_function("evil")
    );
    nodes.sql("a", &sql);
    assert_eq!(
        nodes.sql(
            "a",
            "select count(*) from pg_class where relname = 'victim'"
        ),
        "1",
        "the name ran as SQL:\n{sql}"
    );
    // And through the CLI, on another table named the same way.
    let evil = "y\ndrop table victim; --";
    let table = QualifiedName::new(ident("public"), ident(evil));
    for n in ["a", "b"] {
        nodes.sql(n, &format!("create table if not exists victim (x int); create table {table} (id int primary key)"));
    }
    let quoted = format!("\"{evil}\"");
    nodes.repsync_ok(&["add-table", &quoted]);
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(n, "select count(*) from pg_class where relname = 'victim'"),
            "1",
            "node {n}"
        );
    }
    nodes.sql("a", &format!("insert into {table} values (7)"));
    assert_eq!(nodes.sql("b", &format!("select id from {table}")), "7");
}

#[test]
fn verify_queries_run_on_postgres() {
    for (name, t) in [("plain", plain()), ("hostile", hostile())] {
        let buckets = render(&render::VerifyBuckets {
            q: &t.buckets(true),
        });
        insta::assert_snapshot!(format!("verify_buckets_{name}"), buckets);
        let rows = render(&render::VerifyRows {
            q: &t.buckets(true),
        });
        insta::assert_snapshot!(format!("verify_rows_{name}"), rows);
    }
    let nodes = common::start_nodes(1);
    nodes.sql("a", HOSTILE_DDL);
    nodes.sql(
        "a",
        r#"insert into "Odd $$ ""x"""."T, {x}" values ('k', 1, 'in', null), ('k', -1, 'filtered out', null)"#,
    );
    let t = hostile();
    let mut client = postgres::Client::connect(&nodes.node("a").dsn(), postgres::NoTls).unwrap();
    let mut bucket = 0;
    for typed in [false, true] {
        let buckets = render(&render::VerifyBuckets {
            q: &t.buckets(typed),
        });
        let summary = client.query(buckets.as_str(), &[]).unwrap();
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0].get::<_, i64>("rows"), 1);
        bucket = summary[0].get("bucket");
    }
    let rows = render(&render::VerifyRows {
        q: &t.buckets(true),
    });
    let found = client.query(rows.as_str(), &[&vec![bucket]]).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].get::<_, String>("key"), "(k,1)");
    assert_eq!(found[0].get::<_, String>("row"), "(k,1,in,)");

    // Repair's statements, on the same table: copy the bucket onto itself.
    let non_key = t.non_key();
    let repair_rows = render(&render::RepairRows {
        q: &t.buckets(true),
    });
    let delete = render(&render::RepairDelete {
        q: &t.buckets(true),
    });
    let upsert = render(&render::UpsertRows {
        json: &t.json,
        stage: None,
        table: &t.name,
        key: &t.key,
        columns: &t.columns,
        non_key: &non_key,
    });
    insta::assert_snapshot!("repair_rows_hostile", repair_rows);
    insta::assert_snapshot!("repair_delete_hostile", delete);
    insta::assert_snapshot!("repair_upsert_hostile", upsert);
    let json: String = client
        .query_one(repair_rows.as_str(), &[&vec![bucket]])
        .unwrap()
        .get(0);
    assert!(json.contains(r#""k 1":"k""#), "{json}");
    let deleted = client
        .execute(delete.as_str(), &[&vec![bucket], &json])
        .unwrap();
    assert_eq!(deleted, 0);
    assert_eq!(client.execute(upsert.as_str(), &[&json]).unwrap(), 1);
}

/// The shipper's own transport, for the hostile table: snapshots, and every
/// statement that can be prepared is prepared on a server (COPY cannot be).
#[test]
fn ship_statements_prepare_on_postgres() {
    let t = hostile();
    let stage = ident("repsync_stage_t_x");
    let non_key = t.non_key();
    let ids = Literal::new("{1,2}");
    let function = ident("apply_t_x");
    let copy_rows = render(&render::ShipCopyRows {
        json: &t.json,
        table: &t.name,
        partitioned: false,
        key: &t.key,
        columns: &t.columns,
        filter: t.filter.as_ref(),
        dest: &Literal::new("c's"),
        ids: &ids,
    });
    let gone = render(&render::ShipGoneKeys {
        json: &t.json,
        table: &t.name,
        partitioned: false,
        key: &t.key,
        filter: t.filter.as_ref(),
    });
    let stage_sql = render(&render::ShipStage {
        stage: &stage,
        table: &t.name,
        columns: &t.columns,
    });
    let copy_in = render(&render::ShipCopyIn {
        stage: &stage,
        columns: &t.columns,
    });
    let apply = render(&render::UpsertRows {
        json: &t.json,
        stage: Some(&stage),
        table: &t.name,
        key: &t.key,
        columns: &t.columns,
        non_key: &non_key,
    });
    let apply_gone = render(&render::ShipApplyGone {
        function: &function,
    });
    for (name, sql) in [
        ("ship_copy_rows_hostile", &copy_rows),
        ("ship_gone_keys_hostile", &gone),
        ("ship_stage_hostile", &stage_sql),
        ("ship_copy_in_hostile", &copy_in),
        ("ship_apply_stage_hostile", &apply),
    ] {
        insta::assert_snapshot!(name, sql);
    }
    // Run as the shipper runs them, from a to b: queue entries 1 and 2 for c's
    // hold four keys of a (one outside the filter, one without a row), b gets the
    // rows by COPY into its stage, the upsert, and the gone key's delete. Entry 3,
    // for b, is not theirs.
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, HOSTILE_DDL);
    }
    nodes.repsync_ok(&["init"]);
    let table = r#""Odd $$ ""x"""."T, {x}""#;
    nodes.sql(
        "a",
        &format!(
            r#"insert into {table} values ('k', 1, 'new $$', '{{"a": 1}}'), ('k', 2, 'skip $$ me', null),
                                          ('k', 3, null, '[3]'), ('k', 5, 'for b only', null);
               insert into repsync.sync_err_rec (dest, set_name, op, old_rows, origin_xid) values
                 ('c''s', 't_x', 'K', '[{{"k 1": "k", "K2": 1}}, {{"k 1": "k", "K2": 2}}]', pg_current_xact_id()),
                 ('c''s', 't_x', 'K', '[{{"k 1": "k", "K2": 3}}, {{"k 1": "gone", "K2": 4}}]', pg_current_xact_id()),
                 ('b', 't_x', 'K', '[{{"k 1": "k", "K2": 5}}]', pg_current_xact_id())"#
        ),
    );
    assert_eq!(
        nodes.sql(
            "a",
            "select string_agg(id || dest, ',' order by id) from repsync.sync_err_rec"
        ),
        "1c's,2c's,3b"
    );
    // b has an old version of key 1 and the key that is gone on a.
    nodes.sql(
        "b",
        &format!(
            r#"insert into {table} values ('k', 1, 'old', null), ('gone', 4, 'x', null);
               {}"#,
            t.apply_function("t_x")
        ),
    );
    let mut src = postgres::Client::connect(&nodes.node("a").dsn(), postgres::NoTls).unwrap();
    let mut dst = postgres::Client::connect(&nodes.node("b").dsn(), postgres::NoTls).unwrap();
    let mut tx = dst.transaction().unwrap();
    tx.batch_execute(&stage_sql).unwrap();
    let mut rows = Vec::new();
    std::io::Read::read_to_end(&mut src.copy_out(copy_rows.as_str()).unwrap(), &mut rows).unwrap();
    assert_eq!(
        String::from_utf8(rows.clone()).unwrap(),
        "k\t1\tnew $$\t{\"a\": 1}\nk\t3\t\\N\t[3]\n"
    );
    let mut writer = tx.copy_in(copy_in.as_str()).unwrap();
    std::io::Write::write_all(&mut writer, &rows).unwrap();
    assert_eq!(writer.finish().unwrap(), 2);
    let gone: Option<String> = src
        .query_one(gone.as_str(), &[&"c's", &vec![1i64, 2]])
        .unwrap()
        .get(0);
    // Key 2 has a row, outside the filter: it is gone for b too.
    let gone = gone.unwrap();
    let mut keys: Vec<serde_json::Value> = serde_json::from_str(&gone).unwrap();
    keys.sort_by_key(|k| k["K2"].as_i64());
    assert_eq!(
        keys,
        [
            serde_json::json!({"k 1": "k", "K2": 2}),
            serde_json::json!({"k 1": "gone", "K2": 4})
        ]
    );
    assert!(
        apply_gone.contains(r#"call repsync."apply_t_x"('D'"#),
        "{apply_gone}"
    );
    tx.execute(apply_gone.as_str(), &[&gone]).unwrap();
    assert_eq!(tx.execute(apply.as_str(), &[]).unwrap(), 2);
    tx.commit().unwrap();
    assert_eq!(
        nodes.sql(
            "b",
            &format!(
                r#"select string_agg(format('%s|%s|%s|%s', "k 1", "K2", "$repsync$", v), E'\n' order by "K2") from {table}"#
            )
        ),
        "k|1|new $$|{\"a\": 1}\nk|3||[3]"
    );
}

/// The hostile table partitioned, with a partition of a hostile name: the capture,
/// its triggers on both, and the DO block that drops them, executed on a server;
/// the tombstone purge's and repair's version statements prepared there.
#[test]
fn partitioned_capture_and_version_statements_run_on_postgres() {
    let t = hostile();
    let partition = QualifiedName::new(ident(r#"Odd $$ "x""#), ident("part; 1"));
    let function = ident("capture_hostile");
    let set_name = Literal::new("hostile");
    let capture = render(&render::CaptureFunction {
        json: &t.json,
        settings: &t.json,
        async_mode: true,
        versioned: false,
        versions: &ident("versions_hostile"),
        local_node: &Literal::new("a"),
        local_rank: i32::MAX,
        dests: &[Literal::new("b")],
        table: &t.name,
        partitioned: true,
        table_literal: &Literal::new(t.name.to_string()),
        function: &function,
        set_name: &set_name,
        columns: &t.columns,
        key: &t.key,
        filter: t.filter.as_ref(),
        idle_lock: repsync::drain::IDLE_LOCK,
        tag: render::tag(),
    });
    assert_well_quoted(&capture);
    insta::assert_snapshot!("capture_function_partitioned_hostile", capture);
    let mut triggers = render(&render::CaptureTriggers {
        table: &t.name,
        function: &function,
        partitioned: true,
        partition: false,
        replace: false,
    });
    triggers.push_str(&render(&render::CaptureTriggers {
        table: &partition,
        function: &function,
        partitioned: false,
        partition: true,
        replace: false,
    }));
    insta::assert_snapshot!("capture_triggers_partitioned_hostile", triggers);
    let drop = render(&render::DropCaptureTriggers {
        set_name: &set_name,
        function: &Literal::new(function.as_str()),
        keep_tree: Some(&Literal::new(t.name.to_string())),
        tag: render::tag(),
    });
    insta::assert_snapshot!("drop_capture_triggers_hostile", drop);
    insta::assert_snapshot!(
        "partition_event_trigger",
        render(&render::PartitionTrigger { tag: render::tag() })
    );

    let versions = QualifiedName::new(ident("repsync"), ident("versions_hostile"));
    let mut all = t.key.clone();
    for c in repsync::naming::VERSION_COLUMNS {
        all.push(ident(c));
    }
    let q = t.buckets(true);
    let statements = [
        (
            "tombstone_candidates_hostile",
            render(&render::TombstoneCandidates {
                q: &q,
                versions: &versions,
            }),
        ),
        (
            "tombstones_settled_hostile",
            render(&render::TombstonesSettled {
                q: &q,
                versions: &versions,
                set_name: &set_name,
                all: &all,
            }),
        ),
        (
            "tombstones_delete_hostile",
            render(&render::TombstonesDelete {
                q: &q,
                versions: &versions,
                set_name: &set_name,
                all: &all,
            }),
        ),
        (
            "repair_versions_hostile",
            render(&render::RepairVersions {
                q: &q,
                versions: &versions,
            }),
        ),
        (
            "repair_set_versions_hostile",
            render(&render::RepairSetVersions {
                q: &q,
                versions: &versions,
                all: &all,
            }),
        ),
    ];
    for (name, sql) in &statements {
        insta::assert_snapshot!(*name, sql);
    }

    let nodes = common::start_nodes(2);
    nodes.repsync_ok(&["init"]);
    nodes.sql(
        "a",
        r#"create schema "Odd $$ ""x""";
           create table "Odd $$ ""x"""."T, {x}" ("k 1" text, "K2" int, "$repsync$" text, v jsonb, primary key ("k 1", "K2")) partition by range ("K2");
           create table "Odd $$ ""x"""."part; 1" partition of "Odd $$ ""x"""."T, {x}" for values from (minvalue) to (maxvalue)"#,
    );
    nodes.sql(
        "a",
        &render(&render::VersionsTable {
            table: &t.name,
            versions: &ident("versions_hostile"),
            versions_key: &ident("versions_hostile_key"),
            key: &t.key,
        }),
    );
    nodes.sql("a", &capture);
    nodes.sql("a", &triggers);
    let count =
        r#"select count(*) from pg_trigger where tgfoid = 'repsync."capture_hostile"'::regproc"#;
    assert_eq!(nodes.sql("a", count), "9");
    // Detached: the DO block drops the partition's triggers, keeps the table's.
    nodes.sql(
        "a",
        r#"alter table "Odd $$ ""x"""."T, {x}" detach partition "Odd $$ ""x"""."part; 1""#,
    );
    nodes.sql("a", &drop);
    assert_eq!(nodes.sql("a", count), "5");
    let mut client = postgres::Client::connect(&nodes.node("a").dsn(), postgres::NoTls).unwrap();
    for (name, sql) in &statements {
        client
            .prepare(sql)
            .unwrap_or_else(|e| panic!("{name}: {e}\n{sql}"));
    }
}
