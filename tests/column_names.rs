//! No column name can break the generated SQL. The names are not listed here: they
//! are every word of the SQL that repsync itself sent to the servers (init, add-table
//! with every mode, the capture and apply functions' bodies, a drain, the shipper's
//! COPY transport, verify, repair, conflicts), read back from the servers' statement
//! logs. Each becomes a column of replicated tables, and every 32 of them (an index
//! holds at most 32 columns) the key of one table, and every path runs over those
//! tables: sync, async through the dblink drain and through the shipper's COPY
//! transport, several writers with conflicts, --copy-from, verify and repair. A name
//! that a later template adds is covered without editing this test.
mod common;

use std::collections::BTreeSet;

/// Names no table can have (system columns), and those repsync refuses as the key of
/// a table that several nodes write (the columns beside the key in its versions table,
/// see `VERSION_COLUMNS`; `a_versioned_key_named_like_a_version_column_is_refused`).
const SYSTEM_COLUMNS: [&str; 6] = ["tableoid", "cmax", "xmax", "cmin", "xmin", "ctid"];

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The words of a server log that can be identifiers: string literals and comments
/// left out (they hold data, messages and prose), dollar-quoted bodies kept (they
/// are the generated code).
fn words(log: &str, into: &mut BTreeSet<String>) {
    let mut in_literal = false;
    let mut in_comment = false;
    let mut previous = ' ';
    let mut word = String::new();
    let flush = |word: &mut String, into: &mut BTreeSet<String>| {
        if !word.is_empty() && !word.starts_with(|c: char| c.is_ascii_digit() || c == '$') {
            into.insert(word.to_lowercase());
        }
        word.clear();
    };
    for c in log.chars() {
        // Comments are prose, not names the code uses.
        let dashes = c == '-' && previous == '-';
        previous = c;
        if c == '\n' {
            in_comment = false;
        } else if in_comment {
            continue;
        } else if dashes && !in_literal {
            in_comment = true;
            flush(&mut word, into);
            continue;
        }
        if c == '\'' || c == '\n' {
            // A log line never continues a literal of the line before it.
            in_literal = c == '\'' && !in_literal;
            flush(&mut word, into);
        } else if in_literal {
            continue;
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
            word.push(c);
        } else {
            flush(&mut word, into);
        }
    }
    flush(&mut word, into);
}

/// Runs every path once over small probe tables on nodes that log every statement,
/// and returns the words of what repsync sent.
fn generated_names(nodes: &common::Nodes) -> Vec<String> {
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "create schema probe;
             create table probe.one_way (id int primary key, v int, doc jsonb);
             create table probe.copied (id int primary key, v int);
             create table probe.both (id int primary key, v int);
             create table probe.synced (id int primary key, v int, doc json);
             create table probe.filtered (id int primary key, v int);
             create table probe.both_sync (id int primary key, v int);
             create table probe.parted (id int primary key, v int) partition by range (id);
             create table probe.parted_1 partition of probe.parted for values from (minvalue) to (maxvalue)",
        );
    }
    nodes.sql(
        "a",
        "insert into probe.copied select g, g from generate_series(1, 5) g",
    );
    nodes.repsync_ok(&["init"]);
    for args in [
        &[
            "probe.one_way",
            "--from",
            "a",
            "--to",
            "b",
            "--mode",
            "async",
        ][..],
        &[
            "probe.copied",
            "--from",
            "a",
            "--to",
            "b",
            "--copy-from",
            "a",
        ][..],
        &["probe.both", "--mode", "async"][..],
        &["probe.synced", "--from", "a", "--to", "b"][..],
        &["probe.both_sync"][..],
        &[
            "probe.parted",
            "--from",
            "a",
            "--to",
            "b",
            "--mode",
            "async",
        ][..],
        &[
            "probe.filtered",
            "--from",
            "a",
            "--to",
            "b",
            "--mode",
            "async",
            "--where",
            "v > 0",
        ][..],
    ] {
        let mut command = vec!["add-table"];
        command.extend_from_slice(args);
        nodes.repsync_ok(&command);
    }
    nodes.sql(
        "a",
        "insert into probe.synced values (1, 1, '{}'); update probe.synced set v = 2; delete from probe.synced;
         insert into probe.both values (1, 1); insert into probe.filtered values (1, 1), (2, -1);
         insert into probe.both_sync values (1, 1); insert into probe.parted_1 values (1, 1)",
    );
    nodes.sql("b", "insert into probe.both values (1, 2)");
    nodes.repsync_ok(&["drain-errors"]);
    // Only entries of a table one node writes are queued now: the shipper copies.
    nodes.sql(
        "a",
        "insert into probe.one_way select g, g, '{}' from generate_series(1, 5000) g",
    );
    let shipper = nodes.start_shipper(&[]);
    nodes.wait_for("b", "select count(*) from probe.one_way", "5000");
    nodes.wait_for("b", "select count(*) from probe.copied", "5");
    shipper.terminate();
    assert!(
        nodes.shipper_log().contains("transport=\"copy\""),
        "{}",
        nodes.shipper_log()
    );
    nodes.sql("b", "delete from probe.one_way where id = 1");
    nodes.repsync(&["verify", "probe.one_way"]);
    nodes.repsync_ok(&["repair", "probe.one_way", "--from", "a", "--yes"]);
    nodes.repsync_ok(&["conflicts"]);

    let reserved: BTreeSet<String> = nodes
        .sql(
            "a",
            "select string_agg(word, ' ') from pg_get_keywords() where catcode = 'R'",
        )
        .split(' ')
        .map(str::to_string)
        .collect();
    let mut found = BTreeSet::new();
    for c in &nodes.clusters {
        words(&c.server_log(), &mut found);
    }
    found
        .into_iter()
        .filter(|w| w.len() < 64 && !reserved.contains(w) && !SYSTEM_COLUMNS.contains(&w.as_str()))
        .collect()
}

/// Tables `schema.t0`, `schema.t1`, ... on both nodes: every name an int column, key
/// the i-th 32 of them. `partitioned_on_a`: the first table is hashed into two
/// partitions by its key's first column on node a (node b's is a plain table); one is
/// enough, as partitioning only drops `only` from the same statements, and a
/// partitioned table of 600 columns costs each statement several times as much to
/// plan. Returns each table with its key.
fn create_tables(
    nodes: &common::Nodes,
    schema: &str,
    names: &[String],
    keys: &[String],
    partitioned_on_a: bool,
) -> Vec<(String, Vec<String>)> {
    let columns: Vec<String> = names.iter().map(|n| format!("{} int", quoted(n))).collect();
    let mut tables = Vec::new();
    for (i, key) in keys.chunks(32).enumerate() {
        let table = format!("{schema}.t{i}");
        let key_list: Vec<String> = key.iter().map(|k| quoted(k)).collect();
        let ddl = format!(
            "create table {table} ({}, primary key ({}))",
            columns.join(", "),
            key_list.join(", ")
        );
        nodes.sql("b", &ddl);
        if partitioned_on_a && i == 0 {
            nodes.sql(
                "a",
                &format!(
                    "{ddl} partition by hash ({k});
                     create table {schema}.t{i}_p0 partition of {table} for values with (modulus 2, remainder 0);
                     create table {schema}.t{i}_p1 partition of {table} for values with (modulus 2, remainder 1)",
                    k = quoted(&key[0])
                ),
            );
        } else {
            nodes.sql("a", &ddl);
        }
        tables.push((table, key.to_vec()));
    }
    tables
}

/// Rows `from..=to`, every column holding the row's number.
fn insert(nodes: &common::Nodes, node: &str, table: &str, width: usize, from: i32, to: i32) {
    let values = vec!["g"; width].join(", ");
    nodes.sql(
        node,
        &format!("insert into {table} select {values} from generate_series({from}, {to}) g"),
    );
}

/// A non-key column of the table, to update.
fn non_key<'a>(names: &'a [String], key: &[String]) -> &'a str {
    names
        .iter()
        .find(|n| !key.contains(n))
        .expect("more names than a key holds")
}

fn assert_same(nodes: &common::Nodes, table: &str) {
    let queued = nodes.sql(
        "a",
        "select count(*) || ' queued: ' || coalesce(max(last_error), '') from repsync.sync_err_rec",
    );
    let a = nodes.dump("a", table);
    assert!(!a.is_empty(), "{table} is empty on a");
    assert_eq!(
        a,
        nodes.dump("b", table),
        "{table} differs between a and b; on a {queued}"
    );
}

fn verify_identical(nodes: &common::Nodes, table: &str, rows: usize) {
    let out = nodes.repsync_ok(&["verify", table]);
    assert!(
        out.contains(&format!("{rows} rows on a, {rows} rows on b")) && out.contains("identical"),
        "verify {table}: {out}"
    );
}

#[test]
fn every_name_the_generated_sql_uses_replicates_as_a_column_and_a_key() {
    let nodes = common::start_nodes_with(2, "log_statement = 'all'");
    let names = generated_names(&nodes);
    // The probe found the names the templates use for themselves: if these are
    // missing, the log was not read and the test below proves nothing.
    for expected in [
        "e", "found", "p_new", "p_keys", "v_queued", "excluded", "incoming", "rows",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not among {names:?}"
        );
    }
    eprintln!("{} names", names.len());
    nodes.sql("a", "alter database postgres set log_statement = 'none'");
    nodes.sql("b", "alter database postgres set log_statement = 'none'");
    let width = names.len();
    let versioned_keys: Vec<String> = names
        .iter()
        .filter(|n| !repsync::naming::VERSION_COLUMNS.contains(&n.as_str()))
        .cloned()
        .collect();

    // One way, async: rows there before add-table arrive by --copy-from, later
    // changes by the dblink drain and then by the shipper's COPY transport.
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "create schema one_way; create schema synced; create schema both_ways; create schema both_sync",
        );
    }
    // One way and async, the first table partitioned on a: its rows are read
    // through the partitions.
    let one_way = create_tables(&nodes, "one_way", &names, &names, true);
    let synced = create_tables(&nodes, "synced", &names, &names, false);
    let both = create_tables(&nodes, "both_ways", &names, &versioned_keys, false);
    // Several writers in sync mode run the same capture and apply as in async mode,
    // but through the flush: two tables' keys are enough there.
    let both_sync = create_tables(&nodes, "both_sync", &names, &versioned_keys[..64], false);
    for (table, _) in &one_way {
        insert(&nodes, "a", table, width, 1, 3);
        nodes.repsync_ok(&[
            "add-table",
            table,
            "--from",
            "a",
            "--to",
            "b",
            "--mode",
            "async",
            "--copy-from",
            "a",
        ]);
    }
    for (table, _) in &synced {
        nodes.repsync_ok(&["add-table", table, "--from", "a", "--to", "b"]);
    }
    for (table, _) in &both {
        nodes.repsync_ok(&["add-table", table, "--mode", "async"]);
    }
    for (table, _) in &both_sync {
        nodes.repsync_ok(&["add-table", table]);
    }
    let out = nodes.repsync_ok(&["drain-errors"]);
    assert!(!out.contains("failed"), "{out}");
    // Sync, one way: each statement reaches b at commit (no backlog to b now, which
    // it would queue behind).
    for (table, key) in &synced {
        insert(&nodes, "a", table, width, 1, 3);
        let column = quoted(non_key(&names, key));
        nodes.sql(
            "a",
            &format!(
                "update {table} set {column} = -{column} where {k} = 2; delete from {table} where {k} = 3",
                k = quoted(&key[0])
            ),
        );
        assert_same(&nodes, table);
        verify_identical(&nodes, table, 2);
    }

    // Several writers, sync: versions travel at commit.
    for (table, key) in &both_sync {
        insert(&nodes, "a", table, width, 1, 3);
        insert(&nodes, "b", table, width, 11, 13);
        let column = quoted(non_key(&names, key));
        let k = quoted(&key[0]);
        nodes.sql(
            "b",
            &format!("update {table} set {column} = 1000 where {k} = 1"),
        );
        nodes.sql("a", &format!("delete from {table} where {k} = 12"));
        assert_same(&nodes, table);
        verify_identical(&nodes, table, 5);
    }

    for (table, key) in &one_way {
        assert_same(&nodes, table);
        let column = quoted(non_key(&names, key));
        nodes.sql(
            "a",
            &format!(
                "update {table} set {column} = -{column} where {k} = 2; delete from {table} where {k} = 3",
                k = quoted(&key[0])
            ),
        );
        insert(&nodes, "a", table, width, 100, 199);
    }

    // The rest of the one-way backlog through the shipper: big enough for its own
    // COPY transport, which must not have fallen back to dblink.
    let shipper = nodes.start_shipper(&[]);
    for (table, _) in &one_way {
        nodes.wait_for("b", &format!("select count(*) from {table}"), "102");
    }
    shipper.terminate();
    let log = nodes.shipper_log();
    assert!(log.contains("transport=\"copy\""), "{log}");
    assert!(!log.contains("direct transport failed"), "{log}");
    assert!(!log.contains("cannot ship"), "{log}");
    for (table, key) in &one_way {
        assert_same(&nodes, table);
        verify_identical(&nodes, table, 102);
        // b drifts: a row changed, one gone, one extra; repair puts a's rows back.
        let column = quoted(non_key(&names, key));
        let k = quoted(&key[0]);
        nodes.sql(
            "b",
            &format!(
                "update {table} set {column} = 0 where {k} = 1; delete from {table} where {k} = 100"
            ),
        );
        insert(&nodes, "b", table, width, 500, 500);
        let (code, out, err) = nodes.repsync(&["verify", table]);
        assert_eq!(code, 1, "verify {table} after drift: {out}{err}");
        nodes.repsync_ok(&["repair", table, "--from", "a", "--yes"]);
        assert_same(&nodes, table);
        verify_identical(&nodes, table, 102);
    }

    // Several writers (versioned), with a conflict on every table: the same key
    // changed on both nodes before either drained.
    for (table, key) in &both {
        insert(&nodes, "a", table, width, 1, 3);
        insert(&nodes, "b", table, width, 11, 13);
        let column = quoted(non_key(&names, key));
        let k = quoted(&key[0]);
        nodes.sql(
            "a",
            &format!("update {table} set {column} = 1000 where {k} = 1"),
        );
        nodes.sql("b", &format!("delete from {table} where {k} = 11"));
    }
    nodes.repsync_ok(&["drain-errors"]);
    for (table, key) in &both {
        assert_same(&nodes, table);
        let column = quoted(non_key(&names, key));
        let k = quoted(&key[0]);
        nodes.sql(
            "a",
            &format!("update {table} set {column} = 1 where {k} = 2"),
        );
        nodes.sql(
            "b",
            &format!("update {table} set {column} = 2 where {k} = 2"),
        );
    }
    let out = nodes.repsync_ok(&["drain-errors"]);
    assert!(!out.contains("failed"), "{out}");
    for (table, _) in &both {
        assert_same(&nodes, table);
        verify_identical(&nodes, table, 5);
        let logged = nodes.sql(
            "a",
            &format!(
                "select count(*) from repsync.conflict c join repsync.replicated_table t using (set_name)
                  where t.local_schema = 'both_ways' and t.local_table = '{}'",
                table.trim_start_matches("both_ways.")
            ),
        );
        assert_eq!(logged, "1", "conflicts logged for {table}");
        let out = nodes.repsync_ok(&["conflicts", table]);
        assert!(out.contains("by newer-wins"), "conflicts {table}: {out}");
    }
}

#[test]
fn a_versioned_key_named_like_a_version_column_is_refused() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "create table t (repsync_rank int primary key, repsync_at int)",
        );
    }
    nodes.repsync_ok(&["init"]);
    let (code, out, err) = nodes.repsync(&["add-table", "t"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("key column \"repsync_rank\" of public.t has the name of a column that repsync keeps beside the key"),
        "{err}"
    );
    assert_eq!(
        nodes.sql("a", "select count(*) from repsync.replicated_table"),
        "0"
    );
    // One way, the key has no versions table: accepted.
    nodes.repsync_ok(&["add-table", "t", "--from", "a", "--to", "b"]);
    nodes.sql("a", "insert into t values (1, 2)");
    nodes.wait_for("b", "select repsync_at from t", "2");
}
