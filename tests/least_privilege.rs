//! A replication role that is not a superuser, on clusters that require
//! scram-sha-256 passwords: the grants `init --print-grants` prints are enough for
//! every command, and the password shows up nowhere it should not.
mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROLE: &str = "repl";
/// Quotes, a backslash, a dollar quote and a space: every way to break out of SQL.
const PASSWORD: &str = r#"pw'q"b\s$$d x"#;
/// The harness's own superuser keeps trust; every other role needs a password.
const HBA: &str = "local all postgres trust\n\
                   host all postgres 127.0.0.1/32 trust\n\
                   local all all scram-sha-256\n\
                   host all all 127.0.0.1/32 scram-sha-256\n";
const TABLE: &str = r#"create table app."Order Lines" (id int primary key, v text)"#;

struct Cluster {
    nodes: common::Nodes,
    config: PathBuf,
}

impl Cluster {
    /// Two nodes; on each a role `repl` with the password, the table owned by
    /// another role, and the grants `init --print-grants` prints, run as superuser.
    fn new() -> Cluster {
        let nodes = common::start_nodes(2);
        let password = repsync::sql::Literal::new(PASSWORD);
        for c in &nodes.clusters {
            nodes.sql(
                c.name(),
                &format!(
                    "create role app; create schema app authorization app; set role app; {TABLE}; reset role; \
                     create role {ROLE} login password {password}; \
                     create role other login password {password}"
                ),
            );
            c.set_hba(HBA).unwrap();
        }
        let mut config = String::new();
        for c in &nodes.clusters {
            let dsn = toml::Value::String(format!(
                "{} user={ROLE}",
                c.dsn().replace(" user=postgres", "")
            ));
            config.push_str(&format!("[nodes.{}]\ndsn = {dsn}\n\n", c.name()));
        }
        let path = nodes.dir.path().join("repl.toml");
        std::fs::write(&path, config).unwrap();
        let cluster = Cluster {
            nodes,
            config: path,
        };
        // The reload has taken effect once a connection without password fails.
        let deadline = Instant::now() + Duration::from_secs(10);
        while cluster.run_without_password(&["status"]).0 == 0 {
            assert!(Instant::now() < deadline, "scram-sha-256 never required");
            std::thread::sleep(Duration::from_millis(100));
        }
        let grants = cluster.ok(&["init", "--print-grants", "--table", r#"app."Order Lines""#]);
        for (c, block) in cluster.nodes.clusters.iter().zip(grants.split("\n\n")) {
            assert!(
                block.contains(&format!("-- Node {}:", c.name())),
                "{grants}"
            );
            cluster.nodes.sql(c.name(), block);
        }
        cluster
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_repsync"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("PGPASSWORD", PASSWORD)
            .env("REPSYNC_LOG", "debug")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> (i32, String) {
        let out = self.command(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains(PASSWORD) && !text.contains(r#"pw''q"#),
            "repsync {args:?} showed the password:\n{text}"
        );
        (out.status.code().unwrap_or(-1), text)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, text) = self.run(args);
        assert_eq!(code, 0, "repsync {args:?}:\n{text}");
        text
    }

    fn run_without_password(&self, args: &[&str]) -> (i32, String) {
        let out = self
            .command(args)
            .env_remove("PGPASSWORD")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn sql(&self, node: &str, sql: &str) -> String {
        self.nodes.sql(node, sql)
    }
}

fn rows(c: &Cluster, node: &str) -> String {
    c.sql(
        node,
        r#"select coalesce(string_agg(id || ':' || v, ',' order by id), '') from app."Order Lines""#,
    )
}

#[test]
fn a_role_with_the_printed_grants_runs_every_command() {
    let c = Cluster::new();
    for node in ["a", "b"] {
        assert_eq!(
            c.sql(
                node,
                &format!("select rolsuper from pg_roles where rolname = '{ROLE}'")
            ),
            "f"
        );
    }
    c.ok(&["init"]);
    c.ok(&["init"]);
    c.ok(&["add-table", r#"app."Order Lines""#]);

    // The application writes on both nodes; the peers apply as `repl`.
    c.sql(
        "a",
        r#"set role app; insert into app."Order Lines" values (1, 'a')"#,
    );
    c.sql(
        "b",
        r#"set role app; insert into app."Order Lines" values (2, 'b')"#,
    );
    for node in ["a", "b"] {
        assert_eq!(rows(&c, node), "1:a,2:b");
    }

    // Switching to async replaces the triggers in place, which needs no ownership.
    c.ok(&["add-table", r#"app."Order Lines""#, "--mode", "async"]);
    c.sql(
        "a",
        r#"set role app; update app."Order Lines" set v = 'a2' where id = 1; insert into app."Order Lines" select g, 'bulk' from generate_series(10, 5000) g"#,
    );
    c.sql(
        "b",
        r#"set role app; delete from app."Order Lines" where id = 2"#,
    );
    c.ok(&["run", "--once"]);
    c.ok(&["status"]);
    c.ok(&["drain-errors"]);
    for node in ["a", "b"] {
        assert_eq!(
            c.sql(
                node,
                r#"select count(*) || ' ' || min(v) from app."Order Lines""#
            ),
            "4992 a2"
        );
    }
    let status = c.ok(&["status", "--json"]);
    assert!(status.contains("\"installed\""), "{status}");
    c.ok(&["verify", r#"app."Order Lines""#]);
    // A change on b that a's copy does not get: the marker keeps it out of the queue.
    c.sql(
        "b",
        r#"set repsync.origin = 'test'; update app."Order Lines" set v = 'drift' where id = 10"#,
    );
    let (code, text) = c.run(&["verify", r#"app."Order Lines""#]);
    assert_eq!(code, 1, "{text}");
    c.ok(&["repair", r#"app."Order Lines""#, "--from", "a", "--yes"]);
    c.ok(&["verify", r#"app."Order Lines""#]);
    c.ok(&["conflicts"]);

    // Dropping the triggers takes the table's owner: a clear refusal that changes
    // nothing, then the owner's membership is enough.
    let (code, text) = c.run(&["remove-table", r#"app."Order Lines""#, "--yes"]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(
        text,
        "error: node a: remove-table app.Order Lines failed: must be owner of relation Order Lines. \
         Nothing was changed on any node. `repsync init --print-grants` shows what each node's role needs\n"
    );
    c.sql(
        "a",
        r#"set role app; insert into app."Order Lines" values (3, 'still')"#,
    );
    c.ok(&["run", "--once"]);
    assert_eq!(
        c.sql("b", r#"select v from app."Order Lines" where id = 3"#),
        "still"
    );
    for node in ["a", "b"] {
        c.sql(node, &format!("grant app to {ROLE}"));
    }
    c.ok(&["remove-table", r#"app."Order Lines""#, "--yes"]);
    c.ok(&["uninstall", "--yes"]);
}

#[test]
fn the_password_is_nowhere_but_in_the_user_mapping() {
    let c = Cluster::new();
    c.ok(&["init", "--dry-run"]);
    // Failed inits: the server logs a failed statement by default.
    c.sql("b", "create schema repsync");
    let (code, text) = c.run(&["init"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("node b"), "{text}");
    c.sql("b", "drop schema repsync");
    c.sql(
        "b",
        "create server repsync_a foreign data wrapper dblink_fdw",
    );
    let (code, text) = c.run(&["init"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("node b") && text.contains("repsync_a"),
        "{text}"
    );
    c.sql("b", "drop server repsync_a");
    c.ok(&["init"]);
    c.ok(&["add-table", r#"app."Order Lines""#, "--mode", "async"]);
    c.sql("a", r#"insert into app."Order Lines" values (1, 'a')"#);
    c.ok(&["run", "--once"]);
    c.ok(&["status"]);
    c.ok(&["drain-errors"]);
    c.ok(&["uninstall", "--dry-run"]);

    // The peers reach each other with it...
    assert_eq!(rows(&c, "b"), "1:a");
    // ...but another role, even one that may log in, cannot read it.
    for node in ["a", "b"] {
        let seen = c.sql(
            node,
            "set role other; select coalesce(string_agg(array_to_string(umoptions, ','), ';'), 'none') from pg_user_mappings",
        );
        assert!(!seen.contains("pw"), "node {node}: other reads {seen}");
    }
    // Not in the servers' logs, nor in any file repsync wrote.
    for cluster in &c.nodes.clusters {
        let log = cluster.server_log();
        assert!(
            !log.contains(PASSWORD) && !log.contains(r#"pw''q"#),
            "node {}'s server log holds the password:\n{log}",
            cluster.name()
        );
    }
    for entry in std::fs::read_dir(c.nodes.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            !text.contains("pw'"),
            "{} holds the password",
            path.display()
        );
    }
}

#[test]
fn a_wrong_password_is_one_clear_error_and_changes_nothing() {
    let c = Cluster::new();
    let out = c
        .command(&["init"])
        .env("PGPASSWORD", "not the password")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("node a") && stderr.contains("password authentication failed"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    for node in ["a", "b"] {
        assert_eq!(
            c.sql(
                node,
                "select count(*) from pg_namespace where nspname = 'repsync'"
            ),
            "0"
        );
    }
}
