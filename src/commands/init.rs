//! `repsync init`: dblink, schema `repsync`, catalog, queue, one foreign server and
//! user mapping per peer, on every node.
use std::collections::HashMap;

use super::{Connected, Context, connect_all, execute_all, print_dry_run};
use crate::catalog;
use crate::cli::InitArgs;
use crate::config::{Config, Node};
use crate::db;
use crate::error::usage;
use crate::render::{self, render};
use crate::sql::{Ident, Literal};

pub fn run(args: InitArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = ctx.config()?;
    let nodes: Vec<&Node> = config.nodes.iter().collect();
    let mut conns = connect_all(&nodes)?;
    let passwords = peer_passwords(&config)?;
    let secrets: Vec<String> = passwords
        .values()
        .flatten()
        .flat_map(|pw| masked_forms(pw))
        .collect();

    let mut plans = Vec::new();
    for (index, conn) in conns.iter_mut().enumerate() {
        match plan_node(conn, &config, &passwords)? {
            Some(sql) => plans.push((index, sql)),
            None => println!(
                "node {}: already initialised, nothing changed",
                conn.node.name
            ),
        }
    }
    if args.dry_run.dry_run {
        print_dry_run(&conns, &plans, &secrets);
        return Ok(());
    }
    execute_all(&mut conns, &plans, "init")?;
    for (index, _) in &plans {
        println!("node {}: initialised", conns[*index].node.name);
    }
    Ok(())
}

/// A password as it may appear in the SQL: as is, and inside the quoted literal of
/// the user mapping, where `'` and `\` are doubled.
fn masked_forms(password: &str) -> Vec<String> {
    let literal = Literal::new(password).to_string();
    let inner = literal.trim_start().trim_start_matches('E');
    let inner = &inner[1..inner.len() - 1];
    vec![password.to_string(), inner.to_string()]
}

/// The password each node's peers use to reach it (its `peer_dsn` user), asked once.
fn peer_passwords(config: &Config) -> anyhow::Result<HashMap<String, Option<String>>> {
    config
        .nodes
        .iter()
        .map(|node| {
            Ok((
                node.name.to_string(),
                db::password_for(node, &node.peer_dsn)?,
            ))
        })
        .collect()
}

/// How long an applying session waits for a row lock on a peer.
const REMOTE_LOCK_TIMEOUT: &str = "5s";

pub fn server_name(peer: &str) -> anyhow::Result<Ident> {
    Ident::new(format!("repsync_{peer}"))
}

/// The SQL that brings one node up to date, or `None` when it already is.
fn plan_node(
    conn: &mut Connected,
    config: &Config,
    passwords: &HashMap<String, Option<String>>,
) -> anyhow::Result<Option<String>> {
    let name = conn.node.name.to_string();
    let state = catalog::node_state(&mut conn.client)?;
    let existing = if state.installed {
        catalog::local_node(&mut conn.client)?
    } else {
        None
    };
    if let Some(local) = &existing
        && local.name != name
    {
        return Err(usage(format!(
            "node {name}: this database is already initialised as node {:?}; fix nodes.{name}.dsn or run `repsync uninstall` with the old node file first",
            local.name
        )));
    }

    // The extension statement stays out of the fingerprint: it is there only the
    // first time, and the rest is what decides whether a node is up to date.
    let mut extension = String::new();
    let mut sql = String::new();
    let created_dblink = match &existing {
        Some(local) => local.created_dblink,
        None => state.dblink_schema.is_none(),
    };
    let dblink_schema = Ident::new(
        state
            .dblink_schema
            .clone()
            .unwrap_or_else(|| "public".into()),
    )?;
    if state.dblink_schema.is_none() {
        extension = render(&render::Extension {
            schema: &dblink_schema,
        });
    }
    let peer_user = db::user_of(&conn.node.peer_dsn);
    let peer_role = if peer_user != db::user_of(&conn.node.dsn) {
        Some(Ident::new(peer_user)?)
    } else {
        None
    };
    sql.push_str(&render(&render::Catalog {
        node: &name,
        peer_role,
    }));
    sql.push_str(&render(&render::Functions {
        node: &name,
        dblink_schema: &dblink_schema,
        tag: render::tag(),
    }));
    let mut peer_names = Vec::new();
    for peer in config.nodes.iter().filter(|n| n.name != conn.node.name) {
        peer_names.push(peer.name.to_string());
        sql.push_str(&peer_sql(&conn.node, peer, passwords)?);
    }
    let known_peers = if existing.is_some() {
        catalog::peers(&mut conn.client)?
    } else {
        Vec::new()
    };
    for gone in known_peers.iter().filter(|p| !peer_names.contains(&p.name)) {
        if gone.in_use {
            return Err(usage(format!(
                "node {name}: node {} is no longer in the node file but tables still replicate to it; run `repsync remove-table` for them first, or put the node back",
                gone.name
            )));
        }
        sql.push_str(&render(&render::DropPeer {
            peer: &gone.name,
            server: &server_name(&gone.name)?,
            peer_literal: Literal::new(gone.name.clone()),
        }));
    }

    // The fingerprint covers the passwords too, so a changed password is re-installed.
    let fingerprint = crate::fingerprint::md5_hex(sql.as_bytes());
    if let Some(local) = &existing {
        let up_to_date = local.init_fingerprint == fingerprint
            && catalog::functions_present(&mut conn.client)?
            && known_peers.len() == peer_names.len()
            && known_peers.iter().all(|p| p.server_present);
        if up_to_date {
            return Ok(None);
        }
    }
    sql.push_str(&render(&render::LocalNode {
        node: &name,
        node_literal: Literal::new(name.clone()),
        created_dblink,
        fingerprint: Literal::new(fingerprint),
        revoke_user_mappings: state.superuser,
    }));
    Ok(Some(extension + &sql))
}

/// Foreign server and user mapping through which `node` reaches `peer`.
fn peer_sql(
    node: &Node,
    peer: &Node,
    passwords: &HashMap<String, Option<String>>,
) -> anyhow::Result<String> {
    let mut options: Vec<(Ident, Literal)> = Vec::new();
    let mut has_timeout = false;
    for (key, value) in peer.peer_dsn.server_options() {
        has_timeout |= key == "connect_timeout";
        options.push((Ident::new(key)?, Literal::new(value)));
    }
    if !has_timeout {
        options.push((Ident::new("connect_timeout")?, Literal::new("10")));
    }
    options.push((Ident::new("application_name")?, Literal::new("repsync")));
    options.push((
        Ident::new("options")?,
        // lock_timeout: two nodes changing one row at once wait on each other across
        // servers, where no deadlock detector sees it; the loser's change is queued.
        Literal::new(format!(
            "-c repsync.origin={} -c lock_timeout={REMOTE_LOCK_TIMEOUT}",
            node.name
        )),
    ));
    let mut mapping = vec![(
        Ident::new("user")?,
        Literal::new(db::user_of(&peer.peer_dsn)),
    )];
    if let Some(Some(pw)) = passwords.get(peer.name.as_str()) {
        mapping.push((Ident::new("password")?, Literal::new(pw.clone())));
    }
    let server = server_name(peer.name.as_str())?;
    Ok(render(&render::Peer {
        node: node.name.as_str(),
        peer: peer.name.as_str(),
        server: &server,
        options: &options,
        mapping: &mapping,
        peer_literal: Literal::new(peer.name.to_string()),
        server_literal: Literal::new(server.as_str()),
    }))
}
