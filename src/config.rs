//! The node file: which databases take part in replication and how to reach them.
//!
//! Every problem found here is a usage error (exit code 2) whose message names the
//! file, the node and the fix, because nothing has been touched yet and the user
//! only has to edit the file.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use postgres::config::{Host, SslMode};
use serde::Deserialize;

use crate::error::usage;

/// Environment variable naming the node file when `--config` is absent.
pub const CONFIG_ENV: &str = "REPSYNC_CONFIG";

const DEFAULT_PATH: &str = "./repsync.toml";

/// Node names become part of SQL identifiers (`repsync_<name>` and the like), which
/// PostgreSQL silently truncates at 63 bytes; 40 leaves 23 bytes for prefixes and
/// suffixes so two names never collide after truncation.
const MAX_NAME_LEN: usize = 40;

const MINIMAL_EXAMPLE: &str = r#"[nodes.a]
dsn = "host=db1 port=5432 dbname=app user=admin"

[nodes.b]
dsn = "postgresql://admin@db2/app""#;

/// A node name, restricted so it can be pasted into SQL identifiers without quoting.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeName(String);

impl NodeName {
    pub fn parse(s: &str) -> Result<NodeName> {
        let mut chars = s.chars();
        let valid = matches!(chars.next(), Some('a'..='z'))
            && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
            && s.len() <= MAX_NAME_LEN;
        if valid {
            Ok(NodeName(s.to_owned()))
        } else {
            Err(usage(format!(
                "invalid node name {s:?}: use a lowercase ASCII letter followed by lowercase \
                 letters, digits or `_`, at most {MAX_NAME_LEN} bytes (the name becomes part of \
                 SQL object names such as the foreign server `repsync_<name>`)"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A libpq connection string (`key=value` or `postgresql://` URI) without a password.
///
/// Passwords are refused so the node file can be shared and committed; they come
/// from `crate::password` instead.
#[derive(Debug, Clone)]
pub struct Dsn {
    text: String,
    config: postgres::Config,
}

impl Dsn {
    pub fn parse(text: &str) -> Result<Dsn> {
        let text = text.trim();
        if text.is_empty() {
            return Err(usage(
                "the DSN is empty; write one like \"host=db1 port=5432 dbname=app user=admin\" \
                 or \"postgresql://admin@db1/app\"",
            ));
        }
        // The parser's messages name keys, never values, so they cannot leak a password.
        let config: postgres::Config = text
            .parse()
            .map_err(|e| usage(format!("{:#}", anyhow::Error::new(e))))?;
        if config.get_password().is_some() {
            return Err(usage(
                "the DSN contains a password; remove it (the `password=` key or the `:password` \
                 after the user name in a URI): repsync takes passwords from PGPASSWORD, the \
                 password file (~/.pgpass or PGPASSFILE) or an interactive prompt",
            ));
        }
        Ok(Dsn {
            text: text.to_owned(),
            config,
        })
    }

    pub fn pg_config(&self) -> &postgres::Config {
        &self.config
    }

    /// The first host; a unix socket directory is returned as its path. `None` when the
    /// DSN names no host, because the right default (socket directory or `localhost`)
    /// depends on the platform and is the caller's decision.
    pub fn host(&self) -> Option<String> {
        self.config.get_hosts().first().map(host_text)
    }

    /// The first port, or libpq's default 5432.
    pub fn port(&self) -> u16 {
        self.config.get_ports().first().copied().unwrap_or(5432)
    }

    /// The database name, falling back to the user name as libpq does; `None` when
    /// neither is set (libpq would then use the OS user name).
    pub fn dbname(&self) -> Option<String> {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .map(str::to_owned)
    }

    /// The user name; `None` lets the caller apply `$PGUSER` or the OS user.
    pub fn user(&self) -> Option<String> {
        self.config.get_user().map(str::to_owned)
    }

    /// libpq keywords for a dblink foreign server's OPTIONS. User and password are left
    /// out because they belong in the user mapping. `dbname` is spelled out even when
    /// the DSN relies on the user-name default, since the user mapping may use another
    /// role. `sslmode` is only emitted when it differs from libpq's default `prefer`.
    pub fn server_options(&self) -> Vec<(String, String)> {
        let mut options = Vec::new();
        let mut push = |key: &str, value: String| options.push((key.to_owned(), value));

        let hosts = self.config.get_hosts();
        if !hosts.is_empty() {
            push("host", join(hosts.iter().map(host_text)));
        }
        // Without this a DSN using only hostaddr would make the foreign server connect
        // to the remote machine's local socket.
        let hostaddrs = self.config.get_hostaddrs();
        if !hostaddrs.is_empty() {
            push("hostaddr", join(hostaddrs.iter().map(|a| a.to_string())));
        }
        let ports = self.config.get_ports();
        if ports.is_empty() {
            push("port", "5432".to_owned());
        } else {
            push("port", join(ports.iter().map(|p| p.to_string())));
        }
        if let Some(dbname) = self.dbname() {
            push("dbname", dbname);
        }
        match self.config.get_ssl_mode() {
            SslMode::Disable => push("sslmode", "disable".to_owned()),
            SslMode::Require => push("sslmode", "require".to_owned()),
            _ => {}
        }
        if let Some(timeout) = self.config.get_connect_timeout() {
            push("connect_timeout", timeout.as_secs().to_string());
        }
        options
    }

    /// The DSN as written, safe to print. `parse` refuses passwords, so the masking is
    /// only a second line of defence should another constructor ever appear.
    pub fn display(&self) -> String {
        match self.config.get_password() {
            Some(pw) => crate::password::mask(&self.text, &[String::from_utf8_lossy(pw).into()]),
            None => self.text.clone(),
        }
    }

    /// What identifies the database: two DSNs with the same target reach the same
    /// database, whatever the spelling (URI or key=value, extra options).
    fn target(&self) -> (String, u16, String) {
        let host = self
            .host()
            .or_else(|| self.config.get_hostaddrs().first().map(|a| a.to_string()))
            .unwrap_or_default()
            .to_lowercase();
        (host, self.port(), self.dbname().unwrap_or_default())
    }
}

fn host_text(host: &Host) -> String {
    match host {
        Host::Tcp(name) => name.clone(),
        #[cfg(unix)]
        Host::Unix(path) => path.to_string_lossy().into_owned(),
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: NodeName,
    /// How repsync connects to this node.
    pub dsn: Dsn,
    /// How the other nodes reach this node through dblink (often another role or an
    /// address only valid inside the network); defaults to `dsn`.
    pub peer_dsn: Dsn,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    /// Sorted by name, so every command visits nodes in the same order.
    pub nodes: Vec<Node>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    nodes: BTreeMap<String, RawNode>,
}

/// `dsn` is optional here only so its absence gets a message naming the node.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    dsn: Option<String>,
    peer_dsn: Option<String>,
}

/// Why a path was chosen, so "file not found" can say where it looked and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Flag,
    Env,
    Default,
}

impl Config {
    /// `--config FILE`, else `$REPSYNC_CONFIG`, else `./repsync.toml`.
    pub fn locate(explicit: Option<&Path>) -> PathBuf {
        locate_from(explicit, std::env::var_os(CONFIG_ENV)).0
    }

    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let (path, origin) = locate_from(explicit, std::env::var_os(CONFIG_ENV));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(missing_file(&path, origin));
            }
            Err(e) => {
                return Err(usage(format!(
                    "cannot read the node file {}: {e}",
                    path.display()
                )));
            }
        };
        Config::from_toml_str(&text, &path)
    }

    pub fn from_toml_str(text: &str, path: &Path) -> Result<Config> {
        let file = path.display();
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let hint = if e.message().contains("duplicate key") {
                "\nEach node is a single [nodes.<name>] table, node names must be unique, and \
                 each key appears once per node: merge or rename the repeated one."
            } else {
                ""
            };
            // toml's Display quotes the offending line, which may hold a password: name
            // the place instead.
            let place = e
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("line {line}, column {column}: ")
                })
                .unwrap_or_default();
            usage(format!("{file}: {place}{}{hint}", e.message().trim_end()))
        })?;

        let mut nodes = Vec::with_capacity(raw.nodes.len());
        for (key, raw_node) in raw.nodes {
            let name = NodeName::parse(&key).map_err(|e| usage(format!("{file}: {e}")))?;
            let Some(dsn_text) = raw_node.dsn else {
                return Err(usage(format!(
                    "{file}: node `{name}` has no `dsn`; add a line such as \
                     dsn = \"host=db1 port=5432 dbname=app user=admin\" under [nodes.{name}]"
                )));
            };
            let parse = |field: &str, text: &str| {
                Dsn::parse(text)
                    .map_err(|e| usage(format!("{file}: node `{name}`, `{field}`: {e}")))
            };
            let dsn = parse("dsn", &dsn_text)?;
            let peer_dsn = match raw_node.peer_dsn {
                Some(text) => parse("peer_dsn", &text)?,
                None => dsn.clone(),
            };
            nodes.push(Node {
                name,
                dsn,
                peer_dsn,
            });
        }

        match nodes.as_slice() {
            [] => {
                return Err(usage(format!(
                    "{file}: no nodes defined; replication needs at least two nodes, e.g.:\n\n\
                     {MINIMAL_EXAMPLE}"
                )));
            }
            [only] => {
                return Err(usage(format!(
                    "{file}: only node `{}` is defined; replication needs at least two nodes: \
                     add another [nodes.<name>] table with a dsn",
                    only.name
                )));
            }
            _ => {}
        }

        // Two nodes on one database would make repsync replicate a database into itself.
        for field in ["dsn", "peer_dsn"] {
            let target = |n: &Node| match field {
                "dsn" => n.dsn.target(),
                _ => n.peer_dsn.target(),
            };
            for (i, first) in nodes.iter().enumerate() {
                let Some(second) = nodes[i + 1..].iter().find(|n| target(n) == target(first))
                else {
                    continue;
                };
                let (host, port, dbname) = target(first);
                let or_default = |s: String| if s.is_empty() { "(default)".into() } else { s };
                return Err(usage(format!(
                    "{file}: nodes `{}` and `{}` have a `{field}` for the same database (host {}, \
                     port {port}, dbname {}); each node must be a different database: fix the \
                     host, port or dbname of one of them",
                    first.name,
                    second.name,
                    or_default(host),
                    or_default(dbname),
                )));
            }
        }

        Ok(Config {
            path: path.to_owned(),
            nodes,
        })
    }

    pub fn node(&self, name: &str) -> Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.name.as_str() == name)
            .ok_or_else(|| {
                usage(format!(
                    "unknown node `{name}`; {} defines: {}",
                    self.path.display(),
                    self.names()
                ))
            })
    }

    /// Resolves node names given as comma lists and/or repeated values (e.g. `--to b,c`
    /// or `--to b --to c`); no names at all means every node. The result is in config
    /// order without duplicates, so the caller's output does not depend on how the
    /// list was spelled.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Node>> {
        if names.is_empty() {
            return Ok(self.nodes.iter().collect());
        }
        let mut selected = Vec::new();
        for name in names.iter().flat_map(|list| list.split(',')).map(str::trim) {
            if name.is_empty() {
                return Err(usage(format!(
                    "empty node name in {:?}; list node names separated by commas, e.g. a,b \
                     (known: {})",
                    names.join(","),
                    self.names()
                )));
            }
            selected.push(self.node(name)?);
        }
        selected.sort_by(|a, b| a.name.cmp(&b.name));
        selected.dedup_by(|a, b| a.name == b.name);
        Ok(selected)
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        names.join(", ")
    }
}

fn locate_from(explicit: Option<&Path>, env: Option<OsString>) -> (PathBuf, Origin) {
    match (explicit, env) {
        (Some(path), _) => (path.to_owned(), Origin::Flag),
        (None, Some(env)) if !env.is_empty() => (PathBuf::from(env), Origin::Env),
        _ => (PathBuf::from(DEFAULT_PATH), Origin::Default),
    }
}

fn missing_file(path: &Path, origin: Origin) -> anyhow::Error {
    let why = match origin {
        Origin::Flag => "given with --config".to_owned(),
        Origin::Env => format!("from {CONFIG_ENV}"),
        Origin::Default => {
            let cwd = std::env::current_dir()
                .map(|d| format!(" in {}", d.display()))
                .unwrap_or_default();
            format!("the default{cwd}; pass --config FILE or set {CONFIG_ENV} to use another")
        }
    };
    usage(format!(
        "node file {} not found ({why}). Create it with at least two nodes, for example:\n\n\
         {MINIMAL_EXAMPLE}\n\n\
         Passwords do not go in this file: repsync uses PGPASSWORD, ~/.pgpass (or PGPASSFILE) \
         or asks for them.",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
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
            options(
                "host=db1,db2 hostaddr=10.0.0.1,10.0.0.2 port=5432,5433 user=bob sslmode=disable"
            ),
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
        let config = parse(include_str!("../examples/repsync.toml")).unwrap();
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
        let msg =
            config_error("[nodes.a]\ndsn = \"host=db1\"\n[nodes.b]\npeer_dsn = \"host=db2\"\n");
        assert!(msg.contains("node `b` has no `dsn`"), "{msg}");
        assert!(msg.contains("[nodes.b]"), "{msg}");
    }

    #[test]
    fn bad_node_name() {
        let msg =
            config_error("[nodes.a]\ndsn = \"host=db1\"\n[nodes.Node-B]\ndsn = \"host=db2\"\n");
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
        let msg =
            config_error("[nodes.a]\ndsn = \"host=db1\"\n[nodes.b]\ndsn = \"host=db2 port=x\"\n");
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
        let msg = config_error(
            "[nodes.a]\ndsn = \"dbname=x\"\n[nodes.b]\ndsn = \"port=5432 dbname=x\"\n",
        );
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
}
