//! The binary's command line: help, node-file errors, exit codes, --dry-run, and
//! passwords kept out of every output.
mod common;

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs the binary with a clean environment for config and passwords.
fn run(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_repsync"));
    cmd.args(args)
        .env_remove("PGPASSWORD")
        .env_remove("REPSYNC_CONFIG")
        .env_remove("PGPASSFILE")
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running the repsync binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `text` as a node file and runs `repsync --config FILE args`.
fn with_config(text: &str, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repsync.toml");
    std::fs::write(&path, text).unwrap();
    let mut all = vec!["--config", path.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&all, &[])
}

fn assert_usage_error(out: (i32, String, String), wanted: &[&str]) -> String {
    let (code, stdout, stderr) = out;
    assert_eq!(
        code, 2,
        "expected exit 2\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    for w in wanted {
        assert!(stderr.contains(w), "{w:?} not in:\n{stderr}");
    }
    stderr
}

/// Two nodes on ports where nothing listens: fine for errors found before connecting.
const TWO_NODES: &str = r#"
[nodes.a]
dsn = "host=127.0.0.1 port=1 dbname=app user=admin"

[nodes.b]
dsn = "host=127.0.0.1 port=2 dbname=app user=admin"
"#;

#[test]
fn help_lists_every_subcommand_and_flag() {
    let (code, stdout, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    for sub in [
        "init",
        "add-table",
        "remove-table",
        "drain-errors",
        "run",
        "status",
        "verify",
        "repair",
        "conflicts",
        "purge-tombstones",
        "uninstall",
        "demo",
    ] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(sub)),
            "{sub} not listed:\n{stdout}"
        );
    }
    assert!(stdout.contains("--config"), "{stdout}");

    let (code, stdout, _) = run(&["add-table", "--help"], &[]);
    assert_eq!(code, 0);
    for flag in [
        "--target",
        "--columns",
        "--where",
        "--from",
        "--to",
        "--mode",
        "--on-error",
        "--dry-run",
    ] {
        assert!(stdout.contains(flag), "{flag} not listed:\n{stdout}");
    }
    for value in ["queue", "fail", "sync"] {
        assert!(stdout.contains(value), "{value} not listed:\n{stdout}");
    }
    let (code, stdout, _) = run(&["drain-errors", "--help"], &[]);
    assert_eq!(code, 0);
    for flag in ["--node", "--to", "--limit", "--discard", "--yes"] {
        assert!(stdout.contains(flag), "{flag} not listed:\n{stdout}");
    }
    for (sub, flags) in [
        ("remove-table", &["--force", "--yes", "--dry-run"][..]),
        ("uninstall", &["--force", "--yes", "--dry-run"][..]),
        ("init", &["--dry-run"][..]),
        ("status", &["--json"][..]),
        (
            "conflicts",
            &["--node", "--purge", "--keep", "--older-than", "--yes"][..],
        ),
        ("run", &["--keep-conflicts"][..]),
    ] {
        let (code, stdout, _) = run(&[sub, "--help"], &[]);
        assert_eq!(code, 0);
        for flag in flags {
            assert!(stdout.contains(flag), "{sub}: {flag} not listed:\n{stdout}");
        }
    }
    let (code, stdout, _) = run(&["--version"], &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
}

/// With a node file that is fine, so that only the argument can be what is
/// refused: exit 2, nothing on stdout, and the argument's own message first.
#[test]
fn bad_arguments_exit_2() {
    for (args, message) in [
        (
            &["no-such-command"][..],
            "error: unrecognized subcommand 'no-such-command'",
        ),
        (
            &[][..],
            "error: 'repsync' requires a subcommand but one was not provided",
        ),
        (
            &["add-table"][..],
            "error: the following required arguments were not provided:",
        ),
        (
            &["add-table", "t", "--mode", "async-ish"][..],
            "error: invalid value 'async-ish' for '--mode <MODE>'",
        ),
        (
            &["add-table", "t", "--on-error", "ignore"][..],
            "error: invalid value 'ignore' for '--on-error <ON_ERROR>'",
        ),
        (
            &["drain-errors", "--limit", "0"][..],
            "error: invalid value '0' for '--limit <LIMIT>': 0 is not in 1..=2147483647",
        ),
        (
            &["drain-errors", "--discard", "1"][..],
            "error: the following required arguments were not provided:",
        ),
        (
            &["status", "--bogus"][..],
            "error: unexpected argument '--bogus' found",
        ),
        (
            &["conflicts", "--keep", "1"][..],
            "error: the following required arguments were not provided:",
        ),
        (
            &["conflicts", "--purge", "--older-than", "3x"][..],
            "error: invalid value '3x' for '--older-than <DURATION>': \"3x\" is not a duration",
        ),
        (
            &["conflicts", "--purge", "--keep", "1", "--json"][..],
            "error: the argument '--purge' cannot be used with '--json'",
        ),
        (
            &["run", "--keep-conflicts", "soon"][..],
            "error: invalid value 'soon' for '--keep-conflicts <DURATION>': \"soon\" is not a duration",
        ),
    ] {
        let (code, stdout, stderr) = with_config(TWO_NODES, args);
        assert_eq!(code, 2, "repsync {args:?}\n{stdout}\n{stderr}");
        assert_eq!(stdout, "", "repsync {args:?}");
        assert!(
            stderr.lines().next().unwrap_or("").starts_with(message),
            "repsync {args:?}: {message:?} is not the first line of:\n{stderr}"
        );
    }
    // The missing arguments are named.
    for (args, missing) in [
        (&["add-table"][..], "<TABLE>"),
        (&["drain-errors", "--discard", "1"][..], "--node <NODE>"),
        (&["conflicts", "--keep", "1"][..], "--purge"),
    ] {
        let (code, _, stderr) = with_config(TWO_NODES, args);
        assert_eq!(code, 2, "{stderr}");
        assert_eq!(
            stderr.lines().nth(1),
            Some(format!("  {missing}").as_str()),
            "{stderr}"
        );
    }
}

#[test]
fn bad_node_files_exit_2_with_a_clear_message() {
    // Missing, from --config, from REPSYNC_CONFIG, and the default.
    let missing = "/nonexistent-dir/repsync.toml";
    assert_usage_error(
        run(&["--config", missing, "status"], &[]),
        &[missing, "not found", "--config"],
    );
    assert_usage_error(
        run(&["status"], &[("REPSYNC_CONFIG", missing)]),
        &[missing, "not found"],
    );
    let empty_dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = {
        let out = Command::new(env!("CARGO_BIN_EXE_repsync"))
            .arg("status")
            .current_dir(empty_dir.path())
            .env_remove("REPSYNC_CONFIG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::new(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("repsync.toml") && stderr.contains("not found"),
        "{stderr}"
    );

    // TOML syntax error: the file and the line are named.
    let stderr = assert_usage_error(
        with_config("[nodes.a\ndsn = \"x\"\n", &["status"]),
        &["repsync.toml"],
    );
    assert!(
        stderr.contains("line 1") || stderr.contains("1 |"),
        "{stderr}"
    );

    // Unknown key.
    let text = format!("{TWO_NODES}\n[nodes.c]\ndsn = \"host=h3\"\npasword = \"oops\"\n");
    assert_usage_error(with_config(&text, &["status"]), &["pasword"]);
    assert_usage_error(
        with_config(&format!("{TWO_NODES}\n[extra]\nx = 1\n"), &["status"]),
        &["extra"],
    );

    // Bad node names.
    for name in ["A", "1a", "a-b", "\"a b\"", "\"ä\""] {
        let text = format!("{TWO_NODES}\n[nodes.{name}]\ndsn = \"host=h3\"\n");
        assert_usage_error(with_config(&text, &["status"]), &["invalid node name"]);
    }

    // Fewer than two nodes.
    assert_usage_error(
        with_config("[nodes.a]\ndsn = \"host=h1\"\n", &["status"]),
        &["only node `a`", "at least two nodes"],
    );
    assert_usage_error(with_config("", &["status"]), &["no nodes"]);
    // A node without dsn, an unparsable dsn, two nodes on one database.
    assert_usage_error(
        with_config("[nodes.a]\ndsn = \"host=h1\"\n[nodes.b]\n", &["status"]),
        &["node `b`", "dsn"],
    );
    assert_usage_error(
        with_config(
            "[nodes.a]\ndsn = \"host=h1\"\n[nodes.b]\ndsn = \"nonsense\"\n",
            &["status"],
        ),
        &["node `b`"],
    );
    assert_usage_error(
        with_config(
            "[nodes.a]\ndsn = \"host=h1 dbname=x\"\n[nodes.b]\ndsn = \"postgresql://h1/x\"\n",
            &["status"],
        ),
        &["same database"],
    );

    // A password in the dsn, key=value or URI, in dsn or peer_dsn: refused, never shown.
    let secret = "Hunter2Secret";
    for (field, dsn) in [
        ("dsn", format!("host=h2 user=u password={secret}")),
        ("dsn", format!("host=h2 user=u password='{secret}'")),
        ("dsn", format!("postgresql://u:{secret}@h2/app")),
        ("peer_dsn", format!("postgresql://u:{secret}@h2/app")),
    ] {
        let own_dsn = if field == "dsn" {
            ""
        } else {
            "dsn = \"host=h2\"\n"
        };
        let text = format!(
            "[nodes.a]\ndsn = \"host=h1\"\n[nodes.b]\n{own_dsn}{field} = {}\n",
            toml::Value::String(dsn.clone())
        );
        let (code, stdout, stderr) = with_config(&text, &["status"]);
        assert_eq!(code, 2, "{dsn}\n{stdout}\n{stderr}");
        assert!(stderr.contains("password"), "{stderr}");
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "password shown:\n{stdout}\n{stderr}"
        );
    }

    // An unknown node in --from, --to, --node.
    assert_usage_error(
        with_config(TWO_NODES, &["add-table", "t", "--from", "z"]),
        &["unknown node `z`", "a, b"],
    );
    assert_usage_error(
        with_config(
            TWO_NODES,
            &["add-table", "t", "--from", "a", "--to", "b,zz"],
        ),
        &["zz"],
    );
    assert_usage_error(
        with_config(TWO_NODES, &["drain-errors", "--node", "q"]),
        &["unknown node `q`"],
    );
    // --from a --to a leaves nothing to send to.
    assert_usage_error(
        with_config(TWO_NODES, &["add-table", "t", "--from", "a", "--to", "a"]),
        &["--to"],
    );
    // A table name that is not one.
    assert_usage_error(with_config(TWO_NODES, &["add-table", "a.b.c"]), &["a.b.c"]);
}

/// A port on the loopback where nothing listens.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
}

fn write_config(path: &Path, a_dsn: &str, b_dsn: &str) {
    let text = format!(
        "[nodes.a]\ndsn = {}\n\n[nodes.b]\ndsn = {}\n",
        toml::Value::String(a_dsn.into()),
        toml::Value::String(b_dsn.into())
    );
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_dsn_asking_for_tls_is_refused_before_any_node_changes() {
    let nodes = common::start_nodes(2);
    let b = nodes.node("b").dsn();
    write_config(
        &nodes.config_path(),
        &nodes.node("a").dsn(),
        &format!("{b} sslmode=require"),
    );
    let (code, stdout, stderr) = nodes.repsync(&["init"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    for wanted in [
        "node b: dsn",
        "asks for sslmode=require, but repsync connects without TLS for now",
        "Use sslmode=disable or prefer in nodes.b.dsn",
    ] {
        assert!(stderr.contains(wanted), "{wanted:?} not in:\n{stderr}");
    }
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(
                n,
                "select count(*) from pg_namespace where nspname = 'repsync'"
            ),
            "0",
            "node {n}"
        );
    }
    // prefer falls back to a plain connection, as libpq's does.
    write_config(
        &nodes.config_path(),
        &nodes.node("a").dsn(),
        &format!("{b} sslmode=prefer"),
    );
    nodes.repsync_ok(&["init"]);
    assert_eq!(
        nodes.sql(
            "b",
            "select count(*) from pg_namespace where nspname = 'repsync'"
        ),
        "1"
    );
}

#[test]
fn unreachable_node_at_init_changes_nothing() {
    let nodes = common::start_nodes(1);
    let port = dead_port();
    write_config(
        &nodes.config_path(),
        &nodes.node("a").dsn(),
        &format!("host=127.0.0.1 port={port} dbname=postgres user=postgres connect_timeout=3"),
    );
    let (code, stdout, stderr) = nodes.repsync(&["init"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("node b"), "{stderr}");
    assert!(
        stderr.contains(&port.to_string()),
        "the message should show the dsn: {stderr}"
    );
    assert_eq!(
        nodes.sql(
            "a",
            "select count(*) from pg_namespace where nspname = 'repsync'"
        ),
        "0"
    );
    assert_eq!(
        nodes.sql(
            "a",
            "select count(*) from pg_extension where extname = 'dblink'"
        ),
        "0"
    );

    // The same for every other command that changes something.
    for args in [
        &["add-table", "t"][..],
        &["uninstall", "--yes"][..],
        &["remove-table", "t", "--yes"][..],
    ] {
        let (code, stdout, stderr) = nodes.repsync(args);
        assert_eq!(code, 2, "{args:?}\n{stdout}\n{stderr}");
        assert!(stderr.contains("node b"), "{args:?}: {stderr}");
    }
    // status reports it and says so with exit 1.
    let (code, stdout, _) = nodes.repsync(&["status"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("needs attention"), "{stdout}");
}

#[test]
fn dry_runs_print_sql_and_change_nothing() {
    let nodes = common::start_nodes(2);
    for n in ["a", "b"] {
        nodes.sql(n, "create table t (id int primary key, v text)");
    }
    let stdout = nodes.repsync_ok(&["init", "--dry-run"]);
    for wanted in [
        "-- node a",
        "-- node b",
        "create extension if not exists dblink",
        "create schema if not exists repsync",
        "repsync.sync_err_rec",
        "create server \"repsync_b\"",
        "create server \"repsync_a\"",
        "create user mapping",
        "function repsync.flush()",
        "function repsync.drain_errors",
    ] {
        assert!(
            stdout.contains(wanted),
            "{wanted:?} not in init --dry-run:\n{stdout}"
        );
    }
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(
                n,
                "select count(*) from pg_namespace where nspname = 'repsync'"
            ),
            "0"
        );
        assert_eq!(nodes.sql(n, "select count(*) from pg_foreign_server"), "0");
        assert_eq!(
            nodes.sql(
                n,
                "select count(*) from pg_extension where extname = 'dblink'"
            ),
            "0"
        );
    }

    // add-table needs init first.
    let (code, _, stderr) = nodes.repsync(&["add-table", "t", "--dry-run"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("repsync init"), "{stderr}");

    nodes.repsync_ok(&["init"]);
    let stdout = nodes.repsync_ok(&["add-table", "t", "--from", "a", "--to", "b", "--dry-run"]);
    for wanted in [
        "-- node a",
        "-- node b",
        "create trigger repsync_capture_insert after insert on \"public\".\"t\"",
        "repsync_capture_truncate",
        "create or replace function repsync.\"capture_t_",
        "create or replace procedure repsync.\"apply_t_",
        "insert into repsync.replicated_table",
    ] {
        assert!(
            stdout.contains(wanted),
            "{wanted:?} not in add-table --dry-run:\n{stdout}"
        );
    }
    for n in ["a", "b"] {
        assert_eq!(
            nodes.sql(
                n,
                "select count(*) from pg_trigger where tgname like 'repsync%'"
            ),
            "0"
        );
        assert_eq!(
            nodes.sql(n, "select count(*) from repsync.replicated_table"),
            "0"
        );
        assert_eq!(
            nodes.sql(
                n,
                r"select count(*) from pg_proc where proname ~ '^(capture|apply)_t_'"
            ),
            "0"
        );
    }
    nodes.sql("a", "insert into t values (1, 'x')");
    assert_eq!(nodes.sql("b", "select count(*) from t"), "0");
}

#[test]
fn passwords_never_appear_in_output() {
    let nodes = common::start_nodes(2);
    nodes.sql("a", "create table t (id int primary key)");
    nodes.sql("b", "create table t (id int primary key)");
    let secret = "Secret123";
    let config = nodes.config_path();
    let repsync = |args: &[&str]| {
        let mut all = vec!["--config", config.to_str().unwrap()];
        all.extend_from_slice(args);
        run(&all, &[("PGPASSWORD", secret)])
    };

    let (code, stdout, stderr) = repsync(&["init", "--dry-run"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        !stdout.contains(secret) && !stderr.contains(secret),
        "password shown:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("current_setting('repsync.password_b')"),
        "the user mapping should read the password from a setting:\n{stdout}"
    );
    assert_eq!(
        nodes.sql(
            "a",
            "select count(*) from pg_namespace where nspname = 'repsync'"
        ),
        "0"
    );

    // The real thing: the password goes into the user mapping, and nowhere in output.
    let mut all_output = String::new();
    for args in [
        &["init"][..],
        &["init"][..],
        &["add-table", "t", "--dry-run"][..],
        &["add-table", "t"][..],
        &["status"][..],
        &["status", "--json"][..],
        &["drain-errors"][..],
        &["remove-table", "t", "--dry-run"][..],
        &["uninstall", "--dry-run"][..],
    ] {
        let (code, stdout, stderr) = repsync(args);
        assert_eq!(code, 0, "{args:?}\n{stdout}\n{stderr}");
        all_output.push_str(&stdout);
        all_output.push_str(&stderr);
    }
    assert!(
        !all_output.contains(secret),
        "password shown:\n{all_output}"
    );
    assert_eq!(
        nodes.sql("a", "select count(*) from pg_user_mappings where srvname = 'repsync_b' and 'password=Secret123' = any (umoptions)"),
        "1"
    );
    // The mapping is only readable by the superuser now.
    assert_eq!(
        nodes.sql(
            "a",
            "select has_table_privilege('public', 'pg_catalog.pg_user_mappings', 'select')"
        ),
        "f"
    );

    // A failing command's error does not show it either.
    nodes.sql("b", "drop table t cascade");
    let (code, stdout, stderr) = repsync(&["add-table", "t", "--columns", "id"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        !stdout.contains(secret) && !stderr.contains(secret),
        "{stdout}\n{stderr}"
    );
}

/// A password with quotes and backslashes is in no SQL text repsync prints or sends,
/// and reaches the user mapping intact.
#[test]
fn passwords_with_quotes_reach_the_user_mapping_intact() {
    let nodes = common::start_nodes(2);
    let config = nodes.config_path();
    for secret in [
        r"it's\Secret123",
        "o'clock''Secret456",
        r"back\slash\Secret789$$",
    ] {
        for args in [&["init", "--dry-run"][..], &["init"][..]] {
            let mut all_args = vec!["--config", config.to_str().unwrap()];
            all_args.extend_from_slice(args);
            let (code, stdout, stderr) = run(&all_args, &[("PGPASSWORD", secret)]);
            assert_eq!(code, 0, "{stdout}\n{stderr}");
            let all = format!("{stdout}\n{stderr}");
            for fragment in ["Secret123", "Secret456", "Secret789"] {
                assert!(!all.contains(fragment), "password {secret:?} shown:\n{all}");
            }
        }
        let literal = repsync::sql::Literal::new(format!("password={secret}"));
        assert_eq!(
            nodes.sql(
                "a",
                &format!("select count(*) from pg_user_mappings where srvname = 'repsync_b' and {literal} = any (umoptions)")
            ),
            "1",
            "{secret:?}"
        );
    }
}

/// A syntax error on a line that holds a password must not print that line.
#[test]
fn toml_errors_do_not_echo_a_password() {
    let secret = "Hunter2Secret";
    for text in [
        format!("[nodes.a]\ndsn = \"host=h1\"\n[nodes.b]\ndsn = \"host=h2 password={secret}\n"),
        format!(
            "[nodes.a]\ndsn = \"host=h1\"\n[nodes.b]\ndsn = \"host=h2\"\ndsn = \"host=h2 password={secret}\"\n"
        ),
        format!("[nodes.a]\ndsn = \"host=h1\"\n[nodes.b]\ndsn = host=h2 password={secret}\n"),
    ] {
        let (code, stdout, stderr) = with_config(&text, &["status"]);
        assert_eq!(code, 2, "{stdout}\n{stderr}");
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "password shown:\n{stderr}"
        );
    }
}

/// The message for a missing node file says where its path came from.
#[test]
fn missing_file_from_the_environment_says_so() {
    let missing = "/nonexistent-dir/repsync.toml";
    assert_usage_error(
        run(&["status"], &[("REPSYNC_CONFIG", missing)]),
        &[missing, "REPSYNC_CONFIG"],
    );
}

/// The README's first quick-start command, as written.
#[test]
fn demo_converges_and_cleans_up() {
    let (code, stdout, stderr) = run(&["demo"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("all three nodes hold the same rows"),
        "{stdout}"
    );
    assert!(stdout.contains("identical on 3 nodes"), "{stdout}");
    assert!(
        stdout.contains("kept the remote version (node c) over node a's, by newer-wins"),
        "{stdout}"
    );
    assert!(
        stdout.contains("stopping and removing the demo nodes"),
        "{stdout}"
    );
    // The node file it printed names the three nodes' socket directories, its
    // own path, and their ports: all of it is gone, and no server is left.
    let dsns: Vec<(std::path::PathBuf, u16)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("dsn = \"host="))
        .map(|rest| {
            let (host, rest) = rest.split_once(" port=").unwrap();
            let port = rest.split_once(' ').unwrap().0.parse().unwrap();
            (std::path::PathBuf::from(host), port)
        })
        .collect();
    assert_eq!(dsns.len(), 3, "{stdout}");
    let node_file = stdout
        .lines()
        .find_map(|l| l.strip_prefix("the node file, "))
        .and_then(|l| l.strip_suffix(':'))
        .unwrap_or_else(|| panic!("no node file in:\n{stdout}"));
    assert!(
        !Path::new(node_file).parent().unwrap().exists(),
        "{node_file} is left"
    );
    for (socket_dir, port) in &dsns {
        let cluster_dir = socket_dir.parent().unwrap();
        assert!(
            cluster_dir.starts_with(std::env::temp_dir()) || cluster_dir.starts_with("/tmp"),
            "{}",
            cluster_dir.display()
        );
        assert!(!cluster_dir.exists(), "{} is left", cluster_dir.display());
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", *port)).is_err(),
            "a server still listens on port {port}"
        );
        let data_dir = cluster_dir.join("data");
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&cmdline).contains(data_dir.to_str().unwrap()),
                "process {:?} still runs on {}",
                entry.file_name(),
                data_dir.display()
            );
        }
    }
}

/// The password reaches the user mapping through no statement text a server keeps:
/// not pg_stat_statements under `track = all` (nested statements included), not a
/// failed statement's context in the server log. Nothing derived from it is stored:
/// init's fingerprint stays the same when only the password changes, and whether a
/// mapping must change is read from the mapping, so one dropped by hand comes back.
#[test]
fn the_password_is_in_no_statement_text_and_nothing_derived_from_it_is_kept() {
    let nodes = common::start_nodes_with(
        2,
        "shared_preload_libraries = 'pg_stat_statements'\n\
         pg_stat_statements.track = all\n\
         pg_stat_statements.track_utility = on\n",
    );
    for n in ["a", "b"] {
        nodes.sql(
            n,
            "create extension pg_stat_statements; create table t (id int primary key)",
        );
    }
    let config = nodes.config_path();
    let init = |secret: &str| {
        run(
            &["--config", config.to_str().unwrap(), "init"],
            &[("PGPASSWORD", secret)],
        )
    };
    let recorded = |node: &str, fragment: &str| {
        nodes.sql(
            node,
            &format!(
                "select count(*) from pg_stat_statements where query like {}",
                repsync::sql::Literal::new(format!("%{fragment}%"))
            ),
        )
    };
    let mapping_has =
        |node: &str, secret: &str| {
            nodes.sql(
            node,
            &format!(
                "select count(*) from pg_user_mappings where srvname = {} and {} = any (umoptions)",
                repsync::sql::Literal::new(if node == "a" { "repsync_b" } else { "repsync_a" }),
                repsync::sql::Literal::new(format!("password={secret}"))
            ),
        )
        };

    // A failing user-mapping change: its error, in the server log and on stderr,
    // does not quote the statement that held the password.
    nodes.sql(
        "b",
        "create function no_mappings() returns event_trigger language plpgsql as \
         $$ begin raise exception 'no user mapping changes today'; end $$; \
         create event trigger no_mappings on ddl_command_start \
         when tag in ('ALTER USER MAPPING') execute function no_mappings()",
    );
    let (code, stdout, stderr) = init("First4Secret");
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("node b")
            && stderr.contains(
                "cannot store the password of node a in the user mapping for server repsync_a: no user mapping changes today"
            ),
        "{stderr}"
    );
    assert!(!stderr.contains("First4Secret"), "{stderr}");
    let log = nodes.node("b").server_log();
    assert!(log.contains("no user mapping changes today"), "{log}");
    assert!(!log.contains("First4Secret"), "node b's server log:\n{log}");
    nodes.sql("b", "drop event trigger no_mappings");

    let (code, stdout, stderr) = init("First4Secret");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for n in ["a", "b"] {
        assert_eq!(mapping_has(n, "First4Secret"), "1", "node {n}");
        // Nested statements are recorded: the check below reads them.
        nodes.sql(
            n,
            "do $$ begin execute 'select 1 as nested_' || 'probe'; end $$",
        );
        assert_eq!(recorded(n, "1 as nested_probe"), "1", "node {n}");
        assert_eq!(recorded(n, "First4Secret"), "0", "node {n}");
    }
    let fingerprint = || nodes.sql("a", "select init_fingerprint from repsync.local_node");
    let before = fingerprint();

    // Only the password changes: the mapping follows, the fingerprint does not.
    let (code, stdout, stderr) = init("Second5Secret");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(mapping_has("a", "Second5Secret"), "1");
    assert_eq!(mapping_has("a", "First4Secret"), "0");
    assert_eq!(fingerprint(), before);
    assert_eq!(recorded("a", "Second5Secret"), "0");

    // A mapping dropped by hand is put back, and the table replicates through it.
    nodes.sql("a", "drop user mapping for postgres server repsync_b");
    let (code, stdout, stderr) = init("Second5Secret");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(mapping_has("a", "Second5Secret"), "1");
    let (code, stdout, stderr) = run(
        &["--config", config.to_str().unwrap(), "add-table", "t"],
        &[("PGPASSWORD", "Second5Secret")],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    nodes.sql("a", "insert into t values (1)");
    assert_eq!(nodes.sql("b", "select count(*) from t"), "1");
}
