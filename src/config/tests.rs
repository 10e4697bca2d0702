use super::*;
use crate::error::UsageError;

const TWO: &str = r#"
[nodes.b]
dsn = "postgresql://admin@db2/app"

[nodes.a]
dsn = "host=db1 port=5432 dbname=app user=admin"
peer_dsn = "host=db1.internal dbname=app user=repl"
"#;

fn parse(text: &str) -> Result<Config> {
    Config::from_toml_str(text, Path::new("nodes.toml"))
}

/// The message of a configuration error, checking that it exits with code 2.
fn usage_message(result: Result<impl fmt::Debug>) -> String {
    let err = result.expect_err("expected an error");
    assert!(
        err.downcast_ref::<UsageError>().is_some(),
        "not a usage error: {err:#}"
    );
    format!("{err:#}")
}

fn config_error(text: &str) -> String {
    let msg = usage_message(parse(text));
    assert!(msg.starts_with("nodes.toml: "), "file not named: {msg}");
    msg
}

fn dsn(text: &str) -> Dsn {
    Dsn::parse(text).unwrap()
}

fn options(text: &str) -> Vec<(String, String)> {
    dsn(text).server_options()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn node_names() {
    for good in ["a", "node_1", "z9", &"a".repeat(40)] {
        assert_eq!(NodeName::parse(good).unwrap().as_str(), good);
    }
    for bad in [
        "",
        "1a",
        "_a",
        "A",
        "nodeA",
        "a-b",
        "a b",
        "é",
        "a.b",
        &"a".repeat(41),
    ] {
        let msg = usage_message(NodeName::parse(bad));
        assert!(msg.contains(&format!("{bad:?}")), "{msg}");
        assert!(msg.contains("lowercase"), "{msg}");
    }
    assert_eq!(NodeName::parse("b1").unwrap().to_string(), "b1");
}

#[test]
fn key_value_dsn() {
    let d = dsn("host=db1 port=6543 dbname=app user=admin");
    assert_eq!(d.host().as_deref(), Some("db1"));
    assert_eq!(d.port(), 6543);
    assert_eq!(d.dbname().as_deref(), Some("app"));
    assert_eq!(d.user().as_deref(), Some("admin"));
    assert_eq!(d.pg_config().get_user(), Some("admin"));
    assert_eq!(d.display(), "host=db1 port=6543 dbname=app user=admin");
}

#[test]
fn uri_dsn() {
    let d = dsn("postgresql://admin@db2:5433/app?connect_timeout=5");
    assert_eq!(d.host().as_deref(), Some("db2"));
    assert_eq!(d.port(), 5433);
    assert_eq!(d.dbname().as_deref(), Some("app"));
    assert_eq!(d.user().as_deref(), Some("admin"));
    assert!(Dsn::parse("postgres://db2/app").is_ok());
}

#[test]
fn dsn_defaults() {
    let d = dsn("host=db1");
    assert_eq!(d.port(), 5432);
    assert_eq!(d.user(), None);
    assert_eq!(d.dbname(), None);
    // libpq's dbname default is the user name.
    assert_eq!(dsn("user=bob").dbname().as_deref(), Some("bob"));
    assert_eq!(dsn("dbname=app").host(), None);
}

#[test]
fn unix_socket_host() {
    let d = dsn("host=/var/run/postgresql dbname=app");
    assert_eq!(d.host().as_deref(), Some("/var/run/postgresql"));
    let d = dsn("postgresql:///app?host=%2Ftmp");
    assert_eq!(d.host().as_deref(), Some("/tmp"));
}

#[test]
fn dsn_with_password_is_refused_without_echoing_it() {
    for text in [
        "host=db1 user=admin password=s3cret",
        "postgresql://admin:s3cret@db1/app",
        "postgresql://admin@db1/app?password=s3cret",
        "postgresql://admin:@db1/app",
    ] {
        let msg = usage_message(Dsn::parse(text));
        assert!(!msg.contains("s3cret"), "{msg}");
        for needle in [
            "password",
            "PGPASSWORD",
            "~/.pgpass",
            "PGPASSFILE",
            "prompt",
        ] {
            assert!(msg.contains(needle), "{needle} missing: {msg}");
        }
    }
}

#[test]
fn unparsable_dsn() {
    let msg = usage_message(Dsn::parse("host=db1 sslmode=sometimes"));
    assert!(msg.contains("invalid value for option `sslmode`"), "{msg}");
    let msg = usage_message(Dsn::parse("host=db1 colour=blue"));
    assert!(msg.contains("unknown option `colour`"), "{msg}");
    let msg = usage_message(Dsn::parse("  "));
    assert!(msg.contains("empty"), "{msg}");
}

#[test]
fn server_options_minimal() {
    assert_eq!(
        options("postgresql://admin@db2/app"),
        pairs(&[("host", "db2"), ("port", "5432"), ("dbname", "app")])
    );
    // No host: the foreign server must not invent one.
    assert_eq!(
        options("dbname=app"),
        pairs(&[("port", "5432"), ("dbname", "app")])
    );
}

#[test]
fn server_options_full() {
    assert_eq!(
        options(
            "host=db1 port=6543 dbname=app user=admin sslmode=require connect_timeout=10 \
             application_name=x"
        ),
        pairs(&[
            ("host", "db1"),
            ("port", "6543"),
            ("dbname", "app"),
            ("sslmode", "require"),
            ("connect_timeout", "10"),
        ])
    );
    assert_eq!(
        options("host=db1,db2 hostaddr=10.0.0.1,10.0.0.2 port=5432,5433 user=bob sslmode=disable"),
        pairs(&[
            ("host", "db1,db2"),
            ("hostaddr", "10.0.0.1,10.0.0.2"),
            ("port", "5432,5433"),
            ("dbname", "bob"),
            ("sslmode", "disable"),
        ])
    );
    // prefer is libpq's default, so it is left out.
    assert!(
        !options("host=db1 sslmode=prefer")
            .iter()
            .any(|(k, _)| k == "sslmode")
    );
}

#[test]
fn loads_nodes_sorted_with_peer_default() {
    let config = parse(TWO).unwrap();
    assert_eq!(config.path, Path::new("nodes.toml"));
    let names: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let a = &config.nodes[0];
    assert_eq!(a.dsn.user().as_deref(), Some("admin"));
    assert_eq!(a.peer_dsn.user().as_deref(), Some("repl"));
    assert_eq!(a.peer_dsn.host().as_deref(), Some("db1.internal"));
    let b = &config.nodes[1];
    assert_eq!(b.peer_dsn.display(), b.dsn.display());
}

#[test]
fn example_file_is_valid() {
    let config = parse(include_str!("../../examples/repsync.toml")).unwrap();
    let names: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(
        config.nodes[0].peer_dsn.user().as_deref(),
        Some("repsync_repl")
    );
}

#[test]
fn toml_syntax_error_names_the_line() {
    let msg = config_error("[nodes.a\ndsn = \"host=db1\"\n");
    assert!(msg.contains("line 1"), "{msg}");
}

#[test]
fn unknown_keys_are_refused() {
    let msg = config_error(&format!(
        "{TWO}\n[nodes.c]\ndsn = \"host=db3\"\npear_dsn = \"x\"\n"
    ));
    assert!(msg.contains("unknown field `pear_dsn`"), "{msg}");
    assert!(msg.contains("`dsn` or `peer_dsn`"), "{msg}");
    let msg = config_error(&format!("verbose = true\n{TWO}"));
    assert!(msg.contains("unknown field `verbose`"), "{msg}");
    let msg = config_error("[node.a]\ndsn = \"host=db1\"\n");
    assert!(msg.contains("unknown field `node`"), "{msg}");
}

#[test]
fn duplicate_node_or_key_is_explained() {
    let msg = config_error(&format!("{TWO}\n[nodes.a]\ndsn = \"host=db3\"\n"));
    assert!(msg.contains("duplicate key"), "{msg}");
    assert!(msg.contains("node names must be unique"), "{msg}");
    assert!(msg.contains("line 9"), "{msg}");
    let msg = config_error("[nodes.a]\ndsn = \"host=db1\"\ndsn = \"host=db2\"\n");
    assert!(msg.contains("each key appears once per node"), "{msg}");
}

#[test]
fn missing_dsn() {
    let msg = config_error("[nodes.a]\ndsn = \"host=db1\"\n[nodes.b]\npeer_dsn = \"host=db2\"\n");
    assert!(msg.contains("node `b` has no `dsn`"), "{msg}");
    assert!(msg.contains("[nodes.b]"), "{msg}");
}

#[test]
fn bad_node_name() {
    let msg = config_error("[nodes.a]\ndsn = \"host=db1\"\n[nodes.Node-B]\ndsn = \"host=db2\"\n");
    assert!(msg.contains("\"Node-B\""), "{msg}");
    assert!(msg.contains("repsync_<name>"), "{msg}");
}

#[test]
fn fewer_than_two_nodes() {
    for text in ["", "[nodes]\n"] {
        let msg = config_error(text);
        assert!(msg.contains("no nodes defined"), "{msg}");
        assert!(msg.contains("at least two nodes"), "{msg}");
    }
    let msg = config_error("[nodes.a]\ndsn = \"host=db1\"\n");
    assert!(msg.contains("only node `a`"), "{msg}");
    assert!(msg.contains("at least two nodes"), "{msg}");
}

#[test]
fn bad_dsn_names_node_and_field() {
    let msg = config_error("[nodes.a]\ndsn = \"host=db1\"\n[nodes.b]\ndsn = \"host=db2 port=x\"\n");
    assert!(msg.contains("node `b`, `dsn`"), "{msg}");
    assert!(msg.contains("invalid value for option `port`"), "{msg}");
    let msg = config_error(
        "[nodes.a]\ndsn = \"host=db1\"\npeer_dsn = \"host=db1 sslmode=maybe\"\n\
         [nodes.b]\ndsn = \"host=db2\"\n",
    );
    assert!(msg.contains("node `a`, `peer_dsn`"), "{msg}");
}

#[test]
fn password_in_config_is_refused() {
    let msg = config_error(
        "[nodes.a]\ndsn = \"host=db1\"\n[nodes.b]\ndsn = \"postgresql://u:hunter2@db2/app\"\n",
    );
    assert!(msg.contains("node `b`, `dsn`"), "{msg}");
    assert!(msg.contains("PGPASSWORD"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn same_database_twice() {
    // Same target spelled as key=value and URI, with different options.
    let msg = config_error(
        "[nodes.a]\ndsn = \"host=DB1 dbname=app user=admin\"\n\
         [nodes.b]\ndsn = \"host=db3 dbname=app\"\n\
         [nodes.c]\ndsn = \"postgresql://other@db1:5432/app?connect_timeout=3\"\n",
    );
    assert!(msg.contains("nodes `a` and `c`"), "{msg}");
    assert!(msg.contains("host db1, port 5432, dbname app"), "{msg}");
    // dbname defaults to the user name.
    let msg = config_error(
        "[nodes.a]\ndsn = \"host=db1 user=app\"\n[nodes.b]\ndsn = \"host=db1 dbname=app\"\n",
    );
    assert!(msg.contains("nodes `a` and `b`"), "{msg}");
    // A copied peer_dsn is as wrong as a copied dsn.
    let msg = config_error(
        "[nodes.a]\ndsn = \"host=db1 dbname=app\"\npeer_dsn = \"host=10.0.0.1 dbname=app\"\n\
         [nodes.b]\ndsn = \"host=db2 dbname=app\"\npeer_dsn = \"host=10.0.0.1 dbname=app\"\n",
    );
    assert!(msg.contains("`peer_dsn` for the same database"), "{msg}");
    // Same host and port but another database is fine.
    assert!(parse("[nodes.a]\ndsn = \"dbname=x\"\n[nodes.b]\ndsn = \"dbname=y\"\n").is_ok());
    let msg =
        config_error("[nodes.a]\ndsn = \"dbname=x\"\n[nodes.b]\ndsn = \"port=5432 dbname=x\"\n");
    assert!(msg.contains("host (default)"), "{msg}");
}

#[test]
fn node_lookup() {
    let config = parse(TWO).unwrap();
    assert_eq!(config.node("b").unwrap().name.as_str(), "b");
    let msg = usage_message(config.node("c"));
    assert!(msg.contains("unknown node `c`"), "{msg}");
    assert!(msg.contains("nodes.toml defines: a, b"), "{msg}");
}

#[test]
fn select_nodes() {
    let text = format!("{TWO}\n[nodes.c]\ndsn = \"host=db3\"\n");
    let config = parse(&text).unwrap();
    let names = |list: &[&str]| -> Result<Vec<String>> {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        Ok(config
            .select(&list)?
            .iter()
            .map(|n| n.name.to_string())
            .collect())
    };
    assert_eq!(names(&[]).unwrap(), ["a", "b", "c"]);
    assert_eq!(names(&["c,a"]).unwrap(), ["a", "c"]);
    assert_eq!(names(&["c", "b"]).unwrap(), ["b", "c"]);
    assert_eq!(names(&["b, a", "a"]).unwrap(), ["a", "b"]);
    let msg = usage_message(names(&["a,x"]));
    assert!(msg.contains("unknown node `x`"), "{msg}");
    let msg = usage_message(names(&["a,"]));
    assert!(msg.contains("empty node name"), "{msg}");
    usage_message(names(&[""]));
}

#[test]
fn location_precedence() {
    let flag = Path::new("/etc/flag.toml");
    let env = || Some(OsString::from("/etc/env.toml"));
    assert_eq!(
        locate_from(Some(flag), env()),
        (flag.to_owned(), Origin::Flag)
    );
    assert_eq!(
        locate_from(None, env()),
        (PathBuf::from("/etc/env.toml"), Origin::Env)
    );
    assert_eq!(
        locate_from(None, Some(OsString::new())),
        (PathBuf::from("./repsync.toml"), Origin::Default)
    );
    assert_eq!(
        locate_from(None, None),
        (PathBuf::from("./repsync.toml"), Origin::Default)
    );
}

#[test]
fn missing_file_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let msg = usage_message(Config::load(Some(&path)));
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("--config"), "{msg}");
    assert!(msg.contains("[nodes.a]"), "{msg}");
    let msg = format!(
        "{:#}",
        missing_file(Path::new("./repsync.toml"), Origin::Default)
    );
    assert!(msg.contains("REPSYNC_CONFIG"), "{msg}");
    let msg = format!("{:#}", missing_file(Path::new("/x.toml"), Origin::Env));
    assert!(msg.contains("from REPSYNC_CONFIG"), "{msg}");
}

#[test]
fn load_reads_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repsync.toml");
    std::fs::write(&path, TWO).unwrap();
    let config = Config::load(Some(&path)).unwrap();
    assert_eq!(config.path, path);
    assert_eq!(config.nodes.len(), 2);
    // A directory is a configuration error too, not a crash.
    usage_message(Config::load(Some(dir.path())));
}
