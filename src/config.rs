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
mod tests;
