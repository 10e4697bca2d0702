//! Connections to the nodes of the node file, with passwords found the libpq way.
use postgres::config::SslMode;
use postgres::{Client, NoTls};

use crate::config::Node;
use crate::password;

/// The libpq defaults the `postgres` crate leaves to the caller.
fn default_user() -> String {
    std::env::var("PGUSER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "postgres".to_string())
}

/// Host as libpq's password file sees it: a socket directory counts as `localhost`.
fn pgpass_host(host: Option<String>) -> String {
    match host {
        Some(h) if !h.starts_with('/') => h,
        _ => "localhost".to_string(),
    }
}

/// The user `dsn` connects as.
pub fn user_of(dsn: &crate::config::Dsn) -> String {
    dsn.user().unwrap_or_else(default_user)
}

/// Password for connecting with `dsn`, from PGPASSWORD, the password file or a prompt.
pub fn password_for(node: &Node, dsn: &crate::config::Dsn) -> anyhow::Result<Option<String>> {
    let user = user_of(dsn);
    let dbname = dsn.dbname().unwrap_or_else(|| user.clone());
    password::obtain(
        node.name.as_str(),
        &pgpass_host(dsn.host()),
        dsn.port(),
        &dbname,
        &user,
    )
}

/// Connects to a node as its `dsn` says. The error names the node and what to check.
pub fn connect(node: &Node) -> anyhow::Result<Client> {
    let mut config = node.dsn.pg_config().clone();
    let user = user_of(&node.dsn);
    if config.get_user().is_none() {
        config.user(&user);
    }
    if config.get_dbname().is_none() {
        config.dbname(&user);
    }
    if config.get_password().is_none()
        && let Some(pw) = password_for(node, &node.dsn)?
    {
        config.password(pw);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    config.application_name("repsync");
    // Without a TLS connector the client would fail later with a handshake error
    // that does not say why; say it here, before any node is touched.
    if matches!(config.get_ssl_mode(), SslMode::Require) {
        anyhow::bail!(
            "node {}: dsn \"{}\" asks for sslmode=require, but repsync connects without TLS for now. \
             Use sslmode=disable or prefer in nodes.{}.dsn (a local socket or a TLS tunnel); \
             peer_dsn's sslmode is passed to the servers' libpq and works",
            node.name,
            node.dsn.display(),
            node.name
        );
    }
    config.connect(NoTls).map_err(|err| {
        anyhow::anyhow!(
            "node {}: cannot connect with dsn \"{}\": {}. Check that the server is running and that nodes.{}.dsn is right",
            node.name,
            node.dsn.display(),
            error_text(&err),
            node.name
        )
    })
}

/// The server's message when there is one, else the client error.
pub fn error_text(err: &postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_string();
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" ({detail})"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(err);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}
