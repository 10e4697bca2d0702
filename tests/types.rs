//! Every type round-trips exactly: as a plain column and, where PostgreSQL allows
//! it, as a key; in sync mode, in async mode through dblink and through the
//! shipper's COPY transport; with nodes whose date, interval, float, bytea and
//! time zone settings differ from each other and from the defaults.
mod common;

use common::Nodes;

/// Session settings that differ between the nodes (and from the defaults), for
/// every session: the test's, dblink's, the shipper's.
const ODD_SETTINGS: [&str; 2] = [
    "alter database postgres set datestyle = 'SQL, DMY'; \
     alter database postgres set intervalstyle = 'sql_standard'; \
     alter database postgres set extra_float_digits = 0; \
     alter database postgres set bytea_output = 'escape'; \
     alter database postgres set timezone = 'Asia/Kathmandu'",
    "alter database postgres set datestyle = 'German, MDY'; \
     alter database postgres set intervalstyle = 'iso_8601'; \
     alter database postgres set extra_float_digits = -2; \
     alter database postgres set timezone = 'America/St_Johns'",
];

/// Runs `query` under the same settings on every node, so that equal values print
/// equally (a float with all its digits, a date in ISO, a timestamptz in UTC).
fn canon(nodes: &Nodes, node: &str, query: &str) -> String {
    let out = nodes.sql(
        node,
        &format!(
            "set datestyle = 'ISO, YMD'; set intervalstyle = 'postgres'; set extra_float_digits = 3; \
             set bytea_output = 'hex'; set timezone = 'UTC'; select '@@@'; {query}"
        ),
    );
    let (_, rest) = out.split_once("@@@").expect("the marker");
    rest.trim_start_matches('\n').to_string()
}

fn odd_nodes(n: usize) -> Nodes {
    let nodes = common::start_nodes(n);
    for (c, settings) in nodes.clusters.iter().zip(ODD_SETTINGS.iter().cycle()) {
        nodes.sql(c.name(), settings);
    }
    nodes
}

const USER_TYPES: &str = r#"
create type mood as enum ('sad', 'ok', 'hap''py', 'with space', 'комма,');
create domain posint as int check (value > 0);
create domain email as text check (value like '%@%');
create type pair as (a int, b text, c date[]);
"#;

/// Every kind of character: quotes, backslashes, dollar quotes, newlines, tabs,
/// control characters, emoji (also joined), right-to-left text and marks.
const HOSTILE: &str = "E'quote \\' double \" backslash \\\\ \\\\x00 dollar $$ $repsync$ $x$ \\n new line \\r\\n tab \\t ctl \\x01\\x1f \
 emoji 😀 👩‍👩‍👧 rtl עברית مرحبا \\u202Eabc\\u202C comma, {brace} (paren) [sq] NULL null \\\\N'";

/// (column, type)
const COLUMNS: &[(&str, &str)] = &[
    ("c_int2", "int2"),
    ("c_int4", "int4"),
    ("c_int8", "int8"),
    ("c_num", "numeric"),
    ("c_num_s", "numeric(20,5)"),
    ("c_f4", "float4"),
    ("c_f8", "float8"),
    ("c_text", "text"),
    ("c_vchar", "varchar(12)"),
    ("c_char", "char(6)"),
    ("c_bytea", "bytea"),
    ("c_bool", "bool"),
    ("c_date", "date"),
    ("c_time", "time"),
    ("c_timetz", "timetz"),
    ("c_ts", "timestamp"),
    ("c_tstz", "timestamptz"),
    ("c_tstz3", "timestamptz(3)"),
    ("c_interval", "interval"),
    ("c_uuid", "uuid"),
    ("c_json", "json"),
    ("c_jsonb", "jsonb"),
    ("c_text_arr", "text[]"),
    ("c_int_arr", "int[]"),
    ("c_2d", "text[]"),
    ("c_enum", "mood"),
    ("c_enum_arr", "mood[]"),
    ("c_dom", "posint"),
    ("c_email", "email"),
    ("c_pair", "pair"),
    ("c_pair_arr", "pair[]"),
    ("c_inet", "inet"),
    ("c_cidr", "cidr"),
    ("c_mac", "macaddr"),
    ("c_mac8", "macaddr8"),
    ("c_int4r", "int4range"),
    ("c_numr", "numrange"),
    ("c_tstzr", "tstzrange"),
    ("c_dater", "daterange"),
    ("c_multi", "int4multirange"),
    ("c_money", "money"),
    ("c_bit", "bit(8)"),
    ("c_varbit", "varbit"),
    ("c_xml", "xml"),
    ("c_point", "point"),
    ("c_line", "line"),
    ("c_lseg", "lseg"),
    ("c_box", "box"),
    ("c_path", "path"),
    ("c_polygon", "polygon"),
    ("c_circle", "circle"),
    ("c_tsv", "tsvector"),
    ("c_tsq", "tsquery"),
    ("c_lsn", "pg_lsn"),
    ("c_int8r", "int8range"),
    ("c_tsr", "tsrange"),
    ("c_datemr", "datemultirange"),
];

/// The table, with a generated column whose expression differs per node: each node
/// computes its own, nothing is shipped into it.
fn types_table(name: &str, node: &str) -> String {
    let columns: Vec<String> = COLUMNS.iter().map(|(c, t)| format!("{c} {t}")).collect();
    format!(
        "create table {name} (id int primary key, {}, \
         c_gen text generated always as ('{node}:' || coalesce(length(c_text), -1)) stored)",
        columns.join(", ")
    )
}

fn all_bytes() -> &'static str {
    "(select decode(string_agg(lpad(to_hex(g), 2, '0'), '' order by g), 'hex') from generate_series(0, 255) g)"
}

/// Rows of hostile values, one SQL expression per column of COLUMNS, preceded by
/// the session settings to insert them under.
fn hostile_rows() -> Vec<(i32, &'static str, Vec<String>)> {
    let row = |v: &[&str]| -> Vec<String> {
        assert_eq!(v.len(), COLUMNS.len());
        v.iter().map(|s| s.to_string()).collect()
    };
    let all_bytes = all_bytes();
    let hostile = HOSTILE;
    let big_text = "(select string_agg(md5(g::text), '') from generate_series(1, 40000) g)";
    let big_bytea =
        "(select decode(string_agg(md5(g::text), ''), 'hex') from generate_series(1, 70000) g)";
    let big_num = "(repeat('9', 1000) || '.' || repeat('1', 600))::numeric";
    vec![
        (
            1,
            "set timezone = 'UTC'",
            row(&[
                "-32768",
                "2147483647",
                "-9223372036854775808",
                "'123456789012345678901234567890.123456789012345678901234567890'",
                "1.5",
                "'-0'",
                "'-0'",
                hostile,
                "E'ab''c\"d\\\\e $$'",
                "'x y'",
                all_bytes,
                "true",
                "'4713-01-01 BC'",
                "'24:00:00'",
                "'23:59:59.999999-15:59'",
                "'294276-12-31 23:59:59.999999'",
                "'2024-03-31 02:30:00 Europe/Berlin'",
                "'2024-01-01 12:00:00.123456+00'",
                "'-1 days +02:03:04.5'",
                "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
                // Odd whitespace inside and around, duplicate keys, escapes: kept as typed.
                "E' \\n {\"a\" :1,  \"a\":[1 , 2.50,1e3],\\t\"b\":\"\\\\u00e9 \\\\u0000 \\\\\" q\"}  \\n'",
                "'{\"b\": [1, \"x\", null, {\"c\": \"\\\"q\\\"\"}], \"a\": 1.000e3, \"é\": \"😀\"}'",
                "array[null, 'a,b', '{c}', '\"q\"', 'back\\slash', 'NULL', '', ' sp ', E'new\\nline']",
                "'{1,NULL,-3}'",
                "array[['a,b', null], ['{x}', '\"']]",
                "'hap''py'",
                "'{sad,\"with space\",NULL,\"комма,\"}'",
                "42",
                "'a@b'",
                "row(1, 'a,\"b\"(c) \\ ', array[date '2024-01-02', null])::pair",
                "array[row(null, null, null)::pair, null, row(2, '', '{}')::pair]",
                "'2001:db8::1/64'",
                "'10.0.0.0/8'",
                "'08:00:2b:01:02:03'",
                "'08:00:2b:01:02:03:04:05'",
                "'[1,5)'",
                "'(,2.50]'",
                "'[2024-01-01 00:00+00,infinity)'",
                "'[2024-01-01,2024-02-01)'",
                "'{[1,3),[5,7)}'",
                "'-92233720368547758.08'",
                "B'10101010'",
                "B''",
                "'<a b=\"1\">x &amp; y <![CDATA[ <&> ]]> é</a>'",
                "'(1.5,-2.25)'",
                "'{1,-1,0}'",
                "'[(0,0),(1,1)]'",
                "'(1,1),(0,0)'",
                "'[(0,0),(1,1),(2,0)]'",
                "'((0,0),(1,1),(2,0))'",
                "'<(0,0),1>'",
                "$$'it''s':1A fat:2B,4C cat:5D 'white space' é$$",
                "$$'it''s' & (fat | !cat) <-> rat:*AB <2> 'white space'$$",
                "'0/0'",
                "'[-9223372036854775808,9223372036854775807)'",
                "'[2024-01-01 00:00,2024-01-02 00:00)'",
                "'{[2024-01-01,2024-01-05),[2024-02-01,2024-02-02)}'",
            ]),
        ),
        // NULL in every non-key column.
        (2, "set timezone = 'UTC'", row(&vec!["null"; COLUMNS.len()])),
        (
            3,
            "set timezone = 'UTC'",
            row(&[
                "0",
                "-2147483648",
                "9223372036854775807",
                "'NaN'",
                "'NaN'",
                "'NaN'",
                "'NaN'",
                "''",
                "''",
                "''",
                "'\\x'",
                "false",
                "'infinity'",
                "'00:00'",
                "'00:00+15:59'",
                "'-infinity'",
                "'infinity'",
                "'-infinity'",
                "'178000000 years'",
                "'00000000-0000-0000-0000-000000000000'",
                "'\"str\"'",
                "'null'",
                "'{}'",
                "'{}'",
                "'{{NULL}}'",
                "'sad'",
                "'{}'",
                "2147483647",
                "'@'",
                "'(,,)'",
                "'{}'",
                "'::ffff:1.2.3.4'",
                "'::/0'",
                "'ff:ff:ff:ff:ff:ff'",
                "'00:00:00:00:00:00:00:00'",
                "'empty'",
                "'empty'",
                "'(,)'",
                "'(-infinity,infinity)'",
                "'{}'",
                "'0'",
                "B'00000000'",
                "B'1'",
                "''",
                "'(0,0)'",
                "'{0,1,-2.5}'",
                "'[(0,0),(0,0)]'",
                "'(0,0),(0,0)'",
                "'((0,0),(1,1),(2,0))'",
                "'((0,0))'",
                "'<(0,0),0>'",
                "''",
                "'x'",
                "'FFFFFFFF/FFFFFFFF'",
                "'empty'",
                "'empty'",
                "'{}'",
            ]),
        ),
        // Over 1 MB (TOAST), infinities, a numeric of 1600 digits.
        (
            4,
            "set timezone = 'UTC'",
            row(&[
                "32767",
                "1",
                "1",
                big_num,
                "'123456789012345.12345'",
                "'Infinity'",
                "'-Infinity'",
                big_text,
                "'abcdefghijkl'",
                "'abcdef'",
                big_bytea,
                "true",
                "'-infinity'",
                "'23:59:59.999999'",
                "'12:00-00:00:01'",
                "'infinity'",
                "'-infinity'",
                "'infinity'",
                "'-178000000 years -1 microsecond'",
                "'ffffffff-ffff-ffff-ffff-ffffffffffff'",
                "'[]'",
                "'[]'",
                "array[repeat('x', 3000)]",
                "'{2147483647}'",
                "'[0:2][-1:0]={{a,b},{c,d},{e,f}}'",
                "'with space'",
                "'{ok}'",
                "1",
                "'x@y'",
                "row(-1, 'x', null)::pair",
                "array[row(1, 'y', null)::pair]",
                "'0.0.0.0'",
                "'255.255.255.255/32'",
                "'00:00:00:00:00:00'",
                "'ff:ff:ff:ff:ff:ff:ff:ff'",
                "'[-2147483648,2147483647)'",
                "'[1e-100,1e100]'",
                "'[-infinity,2000-01-01 12:00+05:30]'",
                "'(,)'",
                "'{(,0),[10,11)}'",
                "'92233720368547758.07'",
                "B'11111111'",
                "(select string_agg((g % 2)::text, '')::varbit from generate_series(1, 5000) g)",
                "'<?xml version=\"1.0\"?><r/>'",
                "'(1e308,-1e-308)'",
                "'[(0,0),(1,1)]'",
                "'((1e10,2),(3,4))'",
                "'(3,4),(1,2)'",
                "'((0,0))'",
                "'((0.1,0.2),(0.3,0.4),(0.5,0.6))'",
                "'<(1.5,-2.5),1e10>'",
                "(select string_agg('w' || g, ' ')::tsvector from generate_series(1, 3000) g)",
                "'a & b'",
                "'16/B374D848'",
                "'(,)'",
                "'(-infinity,infinity)'",
                "'{(,)}'",
            ]),
        ),
        // Timestamps typed in other time zones, floats that need every digit.
        (
            5,
            "set timezone = 'Pacific/Chatham'",
            row(&[
                "1",
                "2",
                "3",
                "'0.000000000000000000000000000001'",
                "'-0.00001'",
                "'1.4e-45'",
                "'0.30000000000000004'",
                "'chatham'",
                "'chatham'",
                "'c'",
                "'\\x5c27'",
                "false",
                "'2024-02-29'",
                "'12:34:56.789012'",
                "'12:00'",
                "'2024-06-01 12:00:00.000001'",
                "'2024-06-01 12:00'",
                "'1900-01-01 00:00'",
                "'1 year 2 mons 3 days 04:05:06.789'",
                "'123e4567-e89b-12d3-a456-426614174000'",
                "'1'",
                "'1'",
                "'{x}'",
                "'[0:2]={7,8,9}'",
                "'{{a}}'",
                "'ok'",
                "'{ok}'",
                "5",
                "'c@d'",
                "'(5,chatham,{2024-02-29})'",
                "'{\"(5,x,)\"}'",
                "'1.2.3.4/24'",
                "'1.2.3.0/24'",
                "'01:02:03:04:05:06'",
                "'01:02:03:04:05:06:07:08'",
                "'[5,6)'",
                "'[0.1,0.2)'",
                "'[2024-06-01 12:00,2024-06-02 12:00)'",
                "'[2024-06-01,)'",
                "'{[5,6)}'",
                "'1.5'",
                "B'00000001'",
                "B'0101'",
                "'just text'",
                "'(0.1,0.2)'",
                "'{1,0,3}'",
                "'[(0.1,0.2),(0.3,0.4)]'",
                "'(0.3,0.4),(0.1,0.2)'",
                "'[(0.1,0.2),(0.3,0.4)]'",
                "'((1,1),(2,2),(3,1))'",
                "'<(0.1,0.2),0.3>'",
                "'a:1 b:2'",
                "'!a'",
                "'1/1'",
                "'[1,2)'",
                "'[2024-06-01 12:00:00.000001,)'",
                "'{[2024-02-29,2024-03-01)}'",
            ]),
        ),
        (
            6,
            "set timezone = 'America/St_Johns'; set datestyle = 'SQL, DMY'; set intervalstyle = 'sql_standard'; set extra_float_digits = -15",
            row(&[
                "6",
                "6",
                "6",
                "'6.000'",
                "'6'",
                "'3.4028235e38'",
                "'4.9e-324'",
                "'st johns'",
                "'st johns'",
                "'s'",
                "'\\x00'",
                "true",
                "'01/02/2024'",
                "'01:02:03'",
                "'01:02:03'",
                "'01/02/2024 01:02:03.5'",
                "'01/02/2024 01:02:03.5'",
                "'1883-11-18 12:00'",
                "'-1 2:03:04'",
                "'123e4567-e89b-12d3-a456-426614174001'",
                "'{}'",
                "'{}'",
                "'{}'",
                "'{}'",
                "'{}'",
                "'sad'",
                "'{}'",
                "6",
                "'e@f'",
                "'(6,,)'",
                "'{}'",
                "'::1'",
                "'::1/128'",
                "'01:02:03:04:05:06'",
                "'01:02:03:04:05:06:07:08'",
                "'[6,7)'",
                "'[6,7)'",
                "'[01/02/2024 00:00,02/02/2024 00:00)'",
                "'[01/02/2024,02/02/2024)'",
                "'{[6,7)}'",
                "'12.34'",
                "B'10000000'",
                "B'0'",
                "'<x/><y/>'",
                "'(Infinity,-0)'",
                "'{0.1,0.2,0.3}'",
                "'[(-1,-1),(1,1)]'",
                "'(2,2),(-2,-2)'",
                "'((1,1),(2,2))'",
                "'((-1,-1),(1,1))'",
                "'<(1,1),2>'",
                "'z'",
                "'a <-> b'",
                "'0/1'",
                "'[6,7)'",
                "'[01/02/2024 01:00,01/02/2024 02:00)'",
                "'{[01/02/2024,02/02/2024)}'",
            ]),
        ),
    ]
}

fn column_list() -> String {
    COLUMNS
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

fn insert_rows(nodes: &Nodes, table: &str) {
    for (id, settings, values) in hostile_rows() {
        nodes.sql(
            "a",
            &format!(
                "{settings}; insert into {table} (id, {}) values ({id}, {})",
                column_list(),
                values.join(", ")
            ),
        );
    }
}

/// Updates: NULLs become values and values NULLs, a key changes (with the
/// large row), hostile values replace each other, rows are deleted.
fn change_rows(nodes: &Nodes, table: &str) {
    let columns = column_list();
    nodes.sql(
        "a",
        &format!(
            "update {table} t set ({columns}) = (select {columns} from {table} s where s.id = 1) where t.id = 2"
        ),
    );
    nodes.sql(
        "a",
        &format!(
            "update {table} t set ({columns}) = (select {columns} from {table} s where s.id = 3) where t.id = 1"
        ),
    );
    nodes.sql(
        "a",
        &format!(
            "update {table} set ({columns}) = ({}) where id = 3",
            vec!["null"; COLUMNS.len()].join(", ")
        ),
    );
    nodes.sql(
        "a",
        &format!(
            "set extra_float_digits = 0; update {table} set id = 40, c_text = c_text || {HOSTILE}, c_f8 = 0.1 + 0.2 where id = 4"
        ),
    );
    nodes.sql(
        "a",
        &format!(
            "update {table} set c_json = E'[ 1,\\t2 ]\\n', c_f4 = '-0', c_tstz = '2024-06-01 12:00 Asia/Kolkata' where id = 5"
        ),
    );
    nodes.sql("a", &format!("delete from {table} where id = 6"));
}

/// Each column of the table, every row, as text under fixed settings (values over
/// 1000 characters as their length and md5): equal only when every value is.
fn column_texts(nodes: &Nodes, node: &str, table: &str) -> Vec<(String, String)> {
    COLUMNS
        .iter()
        .map(|(c, _)| {
            // xml's cast to text keeps the stored bytes, its output function drops a
            // default `<?xml version="1.0"?>` declaration; repsync moves values in
            // their output form (as pg_dump and native replication do), so xml is
            // compared in that form.
            let v = if *c == "c_xml" {
                format!("(case when {c} is not null then concat({c}) end)")
            } else {
                format!("{c}::text")
            };
            let text = canon(
                nodes,
                node,
                &format!(
                    "select coalesce(string_agg(id || '=' || coalesce(case when length({v}) > 1000 \
                       then length({v}) || ':' || md5({v}) else quote_literal({v}) end, 'NULL'), \
                       E'\\n' order by id), '') from {table}"
                ),
            );
            (c.to_string(), text)
        })
        .collect()
}

fn assert_same(nodes: &Nodes, table: &str) {
    let a = column_texts(nodes, "a", table);
    let b = column_texts(nodes, "b", table);
    let ids = nodes.sql(
        "a",
        &format!("select string_agg(id::text, ',' order by id) from {table}"),
    );
    assert_eq!(
        nodes.sql(
            "b",
            &format!("select string_agg(id::text, ',' order by id) from {table}")
        ),
        ids,
        "{table}: the keys differ"
    );
    for ((column, on_a), (_, on_b)) in a.iter().zip(b.iter()) {
        assert_eq!(on_b, on_a, "{table}.{column} differs on b");
    }
    // The generated column is each node's own.
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(
                n,
                &format!(
                    "select count(*) from {table} where c_gen is distinct from '{n}:' || coalesce(length(c_text), -1)"
                )
            ),
            "0",
            "{table}: generated column on {n}"
        );
    }
}

enum Ship {
    Sync,
    Dblink,
    Copy,
}

fn ship(nodes: &Nodes, table: &str, how: &Ship) {
    match how {
        Ship::Sync => {}
        Ship::Dblink | Ship::Copy => {
            let (code, _, log) = nodes.repsync(&["run", "--once"]);
            assert_eq!(code, 0, "{log}");
            let transport = match how {
                Ship::Copy => "transport=\"copy\"",
                _ => "transport=\"dblink\"",
            };
            assert!(
                log.contains(transport),
                "{table}: expected {transport}\n{log}"
            );
            assert!(!log.contains("direct transport failed"), "{table}\n{log}");
        }
    }
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0",
        "{table}: {}",
        nodes.sql(
            "a",
            "select string_agg(distinct last_error, E'\\n') from repsync.sync_err_rec"
        )
    );
}

/// Enough keys in the batch that `run` takes its own COPY transport.
fn backlog(nodes: &Nodes, table: &str) {
    nodes.sql(
        "a",
        &format!(
            "insert into {table} (id, c_int4) select g, g from generate_series(1000, 6000) g \
             on conflict (id) do update set c_int4 = excluded.c_int4 + 1"
        ),
    );
}

#[test]
fn every_type_round_trips_as_a_column() {
    let nodes = odd_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, USER_TYPES);
        for table in ["typ_sync", "typ_async", "typ_copy"] {
            nodes.sql(n, &types_table(table, n));
        }
    }
    nodes.repsync_ok(&["init"]);
    nodes.repsync_ok(&["add-table", "typ_sync", "--from", "a", "--to", "b"]);
    for table in ["typ_async", "typ_copy"] {
        nodes.repsync_ok(&[
            "add-table",
            table,
            "--from",
            "a",
            "--to",
            "b",
            "--mode",
            "async",
        ]);
    }
    for (table, how) in [
        ("typ_sync", Ship::Sync),
        ("typ_async", Ship::Dblink),
        ("typ_copy", Ship::Copy),
    ] {
        if matches!(how, Ship::Copy) {
            backlog(&nodes, table);
        }
        insert_rows(&nodes, table);
        ship(&nodes, table, &how);
        assert_same(&nodes, table);
        if matches!(how, Ship::Copy) {
            backlog(&nodes, table);
        }
        change_rows(&nodes, table);
        ship(&nodes, table, &how);
        assert_same(&nodes, table);
    }
    // The values really are the hostile ones (not, say, all NULL on both sides).
    assert_eq!(
        canon(
            &nodes,
            "b",
            "select quote_literal(c_f8::text || ' ' || c_f4::text || ' ' || c_json::text) from typ_copy where id = 5"
        ),
        "'0.30000000000000004 -0 [ 1,\t2 ]\n'"
    );
    assert_eq!(
        canon(
            &nodes,
            "b",
            "select length(c_bytea) from typ_sync where id = 2"
        ),
        "256"
    );
    // verify sees the tables equal; repair puts back what was changed on b,
    // json and hostile values included.
    for table in ["typ_sync", "typ_async", "typ_copy"] {
        nodes.repsync_ok(&["verify", table]);
    }
    nodes.sql(
        "b",
        "update typ_sync set c_json = '{}' where id = 2; update typ_sync set c_jsonb = '{}' where id = 1; \
         delete from typ_sync where id = 5",
    );
    let (code, stdout, stderr) = nodes.repsync(&["verify", "typ_sync"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    nodes.repsync_ok(&["repair", "typ_sync", "--from", "a", "--yes"]);
    assert_same(&nodes, "typ_sync");
}

/// (name, type, distinct key values): the first is changed into the last, the
/// second updated, the third deleted.
const KEYS: &[(&str, &str, &[&str])] = &[
    ("int2", "int2", &["-32768", "32767", "0", "1"]),
    ("int4", "int4", &["-2147483648", "2147483647", "0", "7"]),
    (
        "int8",
        "int8",
        &["-9223372036854775808", "9223372036854775807", "0", "7"],
    ),
    (
        "numeric",
        "numeric",
        &[
            "'NaN'",
            "'1.50'",
            "'-123456789012345678901234567890.000000000000001'",
            "'Infinity'",
        ],
    ),
    (
        "float4",
        "float4",
        &[
            "'-0'",
            "'NaN'",
            "'-Infinity'",
            "'1.4e-45'",
            "'3.4028235e38'",
        ],
    ),
    (
        "float8",
        "float8",
        &[
            "'-0'",
            "'NaN'",
            "'Infinity'",
            "'0.30000000000000004'",
            "'4.9e-324'",
        ],
    ),
    ("text", "text", &[HOSTILE, "''", "' '", "'NULL'", "E'\\n'"]),
    (
        "varchar",
        "varchar(20)",
        &["'a,b'", "'\"q\"'", "'{x}'", "'é'"],
    ),
    ("bpchar", "char(4)", &["'a'", "'ab c'", "''", "'\\'"]),
    (
        "bytea",
        "bytea",
        &["'\\x'", "'\\x00'", "'\\xff5c27'", "'\\x0001'"],
    ),
    ("bool", "bool", &["false", "true"]),
    (
        "date",
        "date",
        &[
            "'infinity'",
            "'-infinity'",
            "'2024-02-29'",
            "'4713-01-01 BC'",
        ],
    ),
    (
        "time",
        "time",
        &[
            "'00:00'",
            "'24:00:00'",
            "'12:34:56.789012'",
            "'23:59:59.999999'",
        ],
    ),
    (
        "timetz",
        "timetz",
        &[
            "'12:00+00'",
            "'12:00+05:30'",
            "'23:59:59.999999-15:59'",
            "'00:00:00+15:59'",
        ],
    ),
    (
        "timestamp",
        "timestamp",
        &[
            "'infinity'",
            "'2000-01-01 00:00:00.000001'",
            "'0001-01-01 00:00 BC'",
            "'294276-12-31 23:59:59.999999'",
        ],
    ),
    (
        "timestamptz",
        "timestamptz",
        &[
            "'-infinity'",
            "'2024-03-31 02:30:00 Europe/Berlin'",
            "'1900-01-01 00:00 Asia/Kolkata'",
            "'2024-06-01 12:00:00.123456+13:45'",
        ],
    ),
    (
        "interval",
        "interval",
        &[
            "'1 mon'",
            "'-1 days +02:03:04.5'",
            "'1 year 2 mons 3 days 04:05:06.789'",
            "'-178000000 years'",
        ],
    ),
    (
        "uuid",
        "uuid",
        &[
            "'00000000-0000-0000-0000-000000000000'",
            "'ffffffff-ffff-ffff-ffff-ffffffffffff'",
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
            "'123e4567-e89b-12d3-a456-426614174000'",
        ],
    ),
    (
        "jsonb",
        "jsonb",
        &["'{\"a\": [1, 2]}'", "'\"str\"'", "'null'", "'[]'"],
    ),
    (
        "int_arr",
        "int[]",
        &[
            "'{1,NULL}'",
            "'[0:1][5:6]={{1,2},{3,4}}'",
            "'{}'",
            "'[2:3]={1,2}'",
        ],
    ),
    (
        "text_arr",
        "text[]",
        &[
            "array['a,b', '{c}', '\"q\"', null, 'NULL', '\\']",
            "'{}'",
            "array[['x', 'y'], ['z', null]]",
            "array['']",
        ],
    ),
    (
        "enum",
        "mood",
        &["'hap''py'", "'with space'", "'sad'", "'комма,'"],
    ),
    ("domain", "posint", &["1", "2147483647", "42", "7"]),
    (
        "domain_text",
        "email",
        &["'a@b'", "'\"@\"'", "'x@y'", "'@'"],
    ),
    (
        "composite",
        "pair",
        &[
            "row(1, 'a,\"b\"(c)', null)::pair",
            "row(null, null, null)::pair",
            "row(2, '', array[date '2024-01-02', null])::pair",
            "row(1, 'a,\"b\"(c)', '{}')::pair",
        ],
    ),
    (
        "inet",
        "inet",
        &[
            "'10.0.0.1/8'",
            "'10.0.0.1/32'",
            "'2001:db8::1/64'",
            "'::ffff:1.2.3.4'",
        ],
    ),
    (
        "cidr",
        "cidr",
        &[
            "'10.0.0.0/8'",
            "'10.0.0.0/16'",
            "'2001:db8::/32'",
            "'0.0.0.0/0'",
        ],
    ),
    (
        "macaddr",
        "macaddr",
        &[
            "'08:00:2b:01:02:03'",
            "'00:00:00:00:00:00'",
            "'ff:ff:ff:ff:ff:ff'",
            "'01:02:03:04:05:06'",
        ],
    ),
    (
        "macaddr8",
        "macaddr8",
        &[
            "'08:00:2b:01:02:03:04:05'",
            "'00:00:00:00:00:00:00:00'",
            "'ff:ff:ff:ff:ff:ff:ff:ff'",
            "'01:02:03:04:05:06:07:08'",
        ],
    ),
    (
        "int4range",
        "int4range",
        &["'empty'", "'[1,5)'", "'(,)'", "'[-10,)'"],
    ),
    (
        "tstzrange",
        "tstzrange",
        &[
            "'empty'",
            "'[2024-01-01 00:00+00,infinity)'",
            "'(,2000-01-01 12:00+05:30]'",
            "'[2024-06-01 12:00+13:45,)'",
        ],
    ),
    (
        "multirange",
        "int4multirange",
        &["'{}'", "'{[1,3),[5,7)}'", "'{(,0)}'", "'{[10,11)}'"],
    ),
    (
        "money",
        "money",
        &[
            "'-92233720368547758.08'",
            "'0'",
            "'1.5'",
            "'92233720368547758.07'",
        ],
    ),
    ("bit", "bit(3)", &["B'000'", "B'101'", "B'111'", "B'010'"]),
    (
        "varbit",
        "varbit",
        &["B''", "B'1'", "B'0101'", "B'1000000001'"],
    ),
    (
        "pg_lsn",
        "pg_lsn",
        &["'0/0'", "'FFFFFFFF/FFFFFFFF'", "'16/B374D848'", "'1/1'"],
    ),
    (
        "tsvector",
        "tsvector",
        &["$$'it''s':1A fat:2B$$", "''", "'a b c'", "'z:3'"],
    ),
    (
        "tsquery",
        "tsquery",
        &["$$'it''s' & !fat$$", "'a <-> b'", "'x:*A'", "'a | b'"],
    ),
    (
        "int8range",
        "int8range",
        &["'empty'", "'[-9223372036854775808,0)'", "'(,)'", "'[5,)'"],
    ),
    (
        "tsrange",
        "tsrange",
        &[
            "'empty'",
            "'[2024-01-01 00:00,infinity)'",
            "'(,2000-01-01 12:00]'",
            "'[2024-06-01 12:00:00.000001,)'",
        ],
    ),
    (
        "datemultirange",
        "datemultirange",
        &[
            "'{}'",
            "'{[2024-01-01,2024-01-05),[2024-02-01,2024-02-02)}'",
            "'{(,)}'",
            "'{[2024-02-29,2024-03-01)}'",
        ],
    ),
];

fn key_table(mode: &str, name: &str) -> String {
    format!("k_{mode}_{name}")
}

fn key_dump(nodes: &Nodes, node: &str, table: &str) -> String {
    let k = if table.ends_with("_multi") {
        "row(t, ts, b, f)"
    } else {
        "k"
    };
    canon(
        nodes,
        node,
        &format!(
            "select coalesce(string_agg(quote_literal({k}::text) || ' ' || coalesce(v, 'NULL'), E'\\n' order by {k}), '') from {table}"
        ),
    )
}

#[test]
fn every_key_type_round_trips() {
    let nodes = odd_nodes(2);
    let mut ddl = USER_TYPES.to_string();
    for mode in ["sync", "async", "multi"] {
        for (name, ty, _) in KEYS {
            ddl.push_str(&format!(
                "create table {} (k {ty} primary key, v text);\n",
                key_table(mode, name)
            ));
        }
        // Several key columns of hostile types at once.
        ddl.push_str(&format!(
            "create table k_{mode}_multi (t text, ts timestamptz, b bytea, f float8, v text, primary key (t, ts, b, f));\n"
        ));
    }
    // Its large entries make `run` take its COPY transport for a whole batch.
    ddl.push_str("create table filler (id int primary key, n int);\n");
    for n in ["a", "b"] {
        nodes.sql(n, &ddl);
    }
    nodes.repsync_ok(&["init"]);
    let mut tables = Vec::new();
    for mode in ["sync", "async", "multi"] {
        for (name, _, values) in KEYS
            .iter()
            .copied()
            .chain(std::iter::once(("multi", "", &[][..])))
        {
            let table = key_table(mode, name);
            if mode == "multi" {
                // Both nodes write: versioned, in async mode.
                nodes.repsync_ok(&["add-table", &table, "--mode", "async"]);
            } else {
                nodes.repsync_ok(&[
                    "add-table",
                    &table,
                    "--from",
                    "a",
                    "--to",
                    "b",
                    "--mode",
                    mode,
                ]);
            }
            tables.push((mode, table, values));
        }
    }
    nodes.repsync_ok(&[
        "add-table",
        "filler",
        "--from",
        "a",
        "--to",
        "b",
        "--mode",
        "async",
    ]);
    let multi = [
        format!("{HOSTILE}, '2024-06-01 12:00 Pacific/Chatham', '\\x00ff', '-0'"),
        "'', '-infinity', '\\x', 'NaN'".to_string(),
        format!("{HOSTILE}, '2024-06-01 12:00 UTC', '\\x00ff', '0.30000000000000004'"),
        "'moved', 'infinity', '\\x5c', '-Infinity'".to_string(),
    ];
    let multi_key = "(t, ts, b, f)";
    // Inserted under odd session settings: the writer's own must not matter.
    let settings = "set extra_float_digits = -15; set datestyle = 'SQL, DMY'; set intervalstyle = 'sql_standard'; set timezone = 'Pacific/Chatham'; set bytea_output = 'escape';";
    for (_, table, values) in &tables {
        let (key, values): (&str, Vec<String>) = if values.is_empty() {
            (multi_key, multi.to_vec())
        } else {
            ("k", values.iter().map(|v| v.to_string()).collect())
        };
        let n = values.len();
        for v in &values[..n - 1] {
            nodes.sql(
                "a",
                &format!(
                    "{settings} insert into {table} ({}, v) values ({v}, 'x')",
                    key.trim_matches(['(', ')'])
                ),
            );
        }
    }
    ship_by(&nodes, "dblink");
    let mut differ = Vec::new();
    for (mode, table, _) in &tables {
        let on_a = key_dump(&nodes, "a", table);
        assert!(!on_a.is_empty(), "{table}");
        let on_b = key_dump(&nodes, "b", table);
        if on_b != on_a {
            differ.push(format!(
                "{table} ({mode}) after inserts:\n a: {on_a:?}\n b: {on_b:?}"
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    for (_, table, values) in &tables {
        let (key, values): (&str, Vec<String>) = if values.is_empty() {
            (multi_key, multi.to_vec())
        } else {
            ("k", values.iter().map(|v| v.to_string()).collect())
        };
        let n = values.len();
        let key_eq = |v: &str| format!("{key} = ({v})");
        nodes.sql(
            "a",
            &format!(
                "{settings} update {table} set {key} = ({}), v = 'moved' where {}",
                values[n - 1],
                key_eq(&values[0])
            ),
        );
        if n > 2 {
            nodes.sql(
                "a",
                &format!(
                    "{settings} update {table} set v = 'updated' where {}",
                    key_eq(&values[1])
                ),
            );
        }
        if n > 3 {
            nodes.sql(
                "a",
                &format!(
                    "{settings} delete from {table} where {}",
                    key_eq(&values[2])
                ),
            );
        }
    }
    ship_by(&nodes, "dblink");
    for (mode, table, _) in &tables {
        let on_a = key_dump(&nodes, "a", table);
        assert!(on_a.contains("moved"), "{table}: {on_a}");
        assert_eq!(
            key_dump(&nodes, "b", table),
            on_a,
            "{table} ({mode}) after updates and deletes"
        );
    }
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );

    // The async tables again, shipped by `run`'s own COPY transport: every key
    // deleted and inserted again, then a key changed.
    let async_tables: Vec<_> = tables
        .iter()
        .filter(|(mode, _, _)| *mode == "async")
        .collect();
    for (_, table, values) in &async_tables {
        let (key, values) = key_and_values(values, &multi);
        nodes.sql("a", &format!("delete from {table}"));
        for v in &values[..values.len() - 1] {
            nodes.sql(
                "a",
                &format!(
                    "{settings} insert into {table} ({}, v) values ({v}, 'copied')",
                    key.trim_matches(['(', ')'])
                ),
            );
        }
    }
    nodes.sql(
        "a",
        "insert into filler select g, 0 from generate_series(1, 5000) g",
    );
    ship_by(&nodes, "copy");
    for (_, table, values) in &async_tables {
        let (key, values) = key_and_values(values, &multi);
        let n = values.len();
        nodes.sql(
            "a",
            &format!(
                "{settings} update {table} set {key} = ({}), v = 'copied and moved' where {key} = ({})",
                values[n - 1],
                values[0]
            ),
        );
    }
    nodes.sql("a", "update filler set n = n + 1");
    ship_by(&nodes, "copy");
    for (_, table, _) in &async_tables {
        let on_a = key_dump(&nodes, "a", table);
        assert!(on_a.contains("copied and moved"), "{table}: {on_a}");
        assert_eq!(key_dump(&nodes, "b", table), on_a, "{table} (copy)");
    }
}

/// The key columns and the key values of a table of the key test (the multi-column
/// table has no values of its own).
fn key_and_values(values: &[&str], multi: &[String]) -> (&'static str, Vec<String>) {
    if values.is_empty() {
        ("(t, ts, b, f)", multi.to_vec())
    } else {
        ("k", values.iter().map(|v| v.to_string()).collect())
    }
}

/// `run --once`, which must ship through `transport` and leave the queue empty.
fn ship_by(nodes: &Nodes, transport: &str) {
    let (code, _, log) = nodes.repsync(&["run", "--once"]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains(&format!("transport=\"{transport}\"")),
        "expected {transport}:\n{log}"
    );
    assert!(!log.contains("direct transport failed"), "{log}");
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.sync_err_rec"),
        "0"
    );
}

/// Types that cannot round-trip are refused at add-table, naming the node, the
/// table, the column, the type and what to do, and nothing is installed.
#[test]
fn unsupported_types_are_refused_and_nothing_is_installed() {
    let nodes = common::start_nodes(2);
    let ddl = "create domain dj as jsonb; \
        create type with_json as (a int, j json); \
        create type with_oid as (a int, t regtype); \
        create table t_regclass (id int primary key, r regclass, v text); \
        create table t_regtype_arr (id int primary key, r regtype[]); \
        create table t_regrole_key (r regrole primary key); \
        create table t_nested (id int primary key, c with_oid); \
        create table t_domain_json (id int primary key, d dj); \
        create table t_jsonb_arr (id int primary key, a jsonb[]); \
        create table t_json_comp (id int primary key, c with_json)";
    for n in ["a", "b"] {
        nodes.sql(n, ddl);
    }
    // Same names, other definitions.
    nodes.sql("a", "create type e as enum ('x', 'y'); create domain small as int check (value < 10); \
        create table t_enum (id int primary key, e e[]); create table t_domain (id int primary key, s small)");
    nodes.sql("b", "create type e as enum ('x', 'z'); create domain small as int check (value < 100); \
        create table t_enum (id int primary key, e e[]); create table t_domain (id int primary key, s small)");
    // b's mood is another type of the same name.
    nodes.sql(
        "a",
        "create type mood as enum ('x'); create table t_mood (id int primary key, m mood)",
    );
    nodes.sql("b", "create schema other; create type other.mood as enum ('x'); create table t_mood (id int primary key, m other.mood)");
    nodes.repsync_ok(&["init"]);
    let refused = |table: &str, wanted: &[&str]| {
        let (code, stdout, stderr) = nodes.repsync(&["add-table", table]);
        assert_eq!(code, 2, "add-table {table} must exit 2\n{stdout}\n{stderr}");
        for w in wanted {
            assert!(
                stderr.contains(w),
                "add-table {table}: {w:?} not in:\n{stderr}"
            );
        }
    };
    let oids = ["node a", "cannot replicate", "OIDs", "--columns"];
    refused(
        "t_regclass",
        &[&oids[..], &["t_regclass", "column \"r\"", "regclass"]].concat(),
    );
    refused(
        "t_regtype_arr",
        &[&oids[..], &["t_regtype_arr", "regtype[]"]].concat(),
    );
    refused("t_regrole_key", &[&oids[..], &["regrole"]].concat());
    refused("t_nested", &[&oids[..], &["with_oid", "regtype"]].concat());
    let json = ["node a", "cannot replicate", "JSON null", "--columns"];
    refused("t_domain_json", &[&json[..], &["dj", "jsonb"]].concat());
    refused("t_jsonb_arr", &[&json[..], &["jsonb[]"]].concat());
    refused("t_json_comp", &[&json[..], &["with_json"]].concat());
    refused("t_mood", &["node b", "other.mood", "mood"]);
    refused(
        "t_enum",
        &[
            "node b",
            "defined differently",
            "'z'",
            "'y'",
            "column \"e\"",
        ],
    );
    refused(
        "t_domain",
        &[
            "node b",
            "defined differently",
            "VALUE < 100",
            "VALUE < 10)",
        ],
    );
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.replicated_table"),
            "0",
            "node {n}"
        );
        assert_eq!(
            nodes.sql(
                n,
                "select count(*) from pg_trigger t join pg_class c on c.oid = t.tgrelid \
                 where not t.tgisinternal and c.relnamespace = 'public'::regnamespace"
            ),
            "0",
            "node {n}"
        );
        assert_eq!(
            nodes.sql(n, "select count(*) from pg_proc where proname like 'capture_%' or proname like 'apply_t_%'"),
            "0",
            "node {n}"
        );
    }
    // Without the column the table replicates.
    nodes.repsync_ok(&["add-table", "t_regclass", "--columns", "id,v"]);
    nodes.sql("a", "insert into t_regclass values (1, 'pg_class', 'kept')");
    assert_eq!(
        nodes.sql(
            "b",
            "select coalesce(r::text, 'NULL') || ' ' || v from t_regclass"
        ),
        "NULL kept"
    );
}
