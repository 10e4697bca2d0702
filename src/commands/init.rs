//! `repsync init`: dblink, schema `repsync`, catalog, queue, one foreign server and
//! user mapping per peer, on every node.
use std::collections::HashMap;

use super::{Connected, Context, all_or_nothing, connect_all, on_node, print_dry_run};
use crate::catalog;
use crate::cli::InitArgs;
use crate::config::{Config, Node, NodeName};
use crate::db;
use crate::error::usage;
use crate::render::{self, render};
use crate::sql::{Ident, Literal, QualifiedName};

pub fn run(args: InitArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = ctx.config()?;
    if args.print_grants {
        print!("{}", grants(&config, &args.tables)?);
        return Ok(());
    }
    let nodes: Vec<&Node> = config.nodes.iter().collect();
    let mut conns = connect_all(&nodes)?;
    let passwords = peer_passwords(&config)?;

    let mut plans = Vec::new();
    for (index, conn) in conns.iter_mut().enumerate() {
        let name = conn.node.name.clone();
        match on_node(&name, plan_node(conn, &config, &passwords))? {
            Some(sql) => plans.push((index, sql)),
            None => println!(
                "node {}: already initialised, nothing changed",
                conn.node.name
            ),
        }
    }
    if args.dry_run.dry_run {
        print_dry_run(&conns, &plans);
        return Ok(());
    }
    execute_init(&mut conns, &plans, &passwords)?;
    for (index, _) in &plans {
        println!("node {}: initialised", conns[*index].node.name);
    }
    Ok(())
}

/// What a superuser grants on each node so that its roles (the node file's `dsn` user,
/// and the `peer_dsn` user the peers connect as) can run repsync.
fn grants(config: &Config, tables: &[String]) -> anyhow::Result<String> {
    let tables: Vec<QualifiedName> = tables
        .iter()
        .map(|t| QualifiedName::parse(t))
        .collect::<anyhow::Result<_>>()?;
    let mut schemas: Vec<Ident> = Vec::new();
    for table in &tables {
        if !schemas.contains(&table.schema) {
            schemas.push(table.schema.clone());
        }
    }
    let mut out = String::new();
    for node in &config.nodes {
        let user = db::user_of(&node.dsn);
        let role = Ident::new(user.clone())?;
        let database = Ident::new(node.dsn.dbname().unwrap_or(user.clone()))?;
        let peer_user = db::user_of(&node.peer_dsn);
        let peer_role = (peer_user != user)
            .then(|| Ident::new(peer_user))
            .transpose()?;
        out.push_str(&render(&render::Grants {
            node: &node.name,
            role: &role,
            database: &database,
            peer_role,
            schemas: &schemas,
            tables: &tables,
        }));
        out.push('\n');
    }
    Ok(out)
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

/// The sequence in schema repsync that repsync.queue_pending raises; the functions
/// find it by the same name.
pub fn queued_mark(peer: &str) -> anyhow::Result<Ident> {
    Ident::new(format!("queued_xid_{peer}"))
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
        node: &conn.node.name,
        peer_role,
        tag: render::tag(),
    }));
    sql.push_str(&render(&render::Functions {
        node: &conn.node.name,
        dblink_schema: &dblink_schema,
        tag: render::tag(),
    }));
    // Event triggers take a superuser; without one, a partition attached later is
    // captured through its own statements once add-table runs again.
    if state.superuser {
        sql.push_str(&render(&render::PartitionTrigger { tag: render::tag() }));
    }
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
            peer: &NodeName::parse(&gone.name)?,
            server: &server_name(&gone.name)?,
            peer_literal: Literal::new(gone.name.clone()),
            queued_mark: queued_mark(&gone.name)?,
        }));
    }

    // The fingerprint covers the SQL only: whether each peer's user mapping still
    // holds the configured password is asked of the mapping itself, so nothing
    // derived from a password is stored.
    let fingerprint = crate::fingerprint::md5_hex(sql.as_bytes());
    if let Some(local) = &existing {
        let mut up_to_date = local.init_fingerprint == fingerprint
            && catalog::functions_present(&mut conn.client)?
            && known_peers.len() == peer_names.len()
            && known_peers.iter().all(|p| p.server_present);
        for peer in &peer_names {
            if !up_to_date {
                break;
            }
            let password = passwords.get(peer).cloned().flatten();
            up_to_date = catalog::peer_mapping_matches(
                &mut conn.client,
                &server_name(peer)?,
                password.as_deref(),
            )?;
        }
        if up_to_date {
            return Ok(None);
        }
    }
    sql.push_str(&render(&render::LocalNode {
        node: &conn.node.name,
        node_literal: Literal::new(name.clone()),
        created_dblink,
        fingerprint: Literal::new(fingerprint),
        revoke_user_mappings: state.superuser,
    }));
    Ok(Some(extension + &sql))
}

/// The setting of the init transaction that holds a peer's password. The user
/// mapping reads it, so the password is in no statement text: the server logs the
/// text of a failed statement, and may log every DDL statement.
fn password_setting(peer: &str) -> String {
    format!("repsync.password_{peer}")
}

/// Runs each node's init SQL all-or-nothing, with the peers' passwords in settings
/// of the transaction (bound parameters, never in the SQL text).
fn execute_init(
    conns: &mut [Connected],
    plans: &[(usize, String)],
    passwords: &HashMap<String, Option<String>>,
) -> anyhow::Result<()> {
    let nodes: Vec<usize> = plans.iter().map(|(index, _)| *index).collect();
    let secrets: Vec<(String, &str)> = passwords
        .iter()
        .filter_map(|(peer, pw)| Some((password_setting(peer), pw.as_deref()?)))
        .collect();
    all_or_nothing(conns, &nodes, "init", |k, client| {
        for (setting, password) in &secrets {
            client.execute("select set_config($1, $2, true)", &[setting, password])?;
        }
        client.batch_execute(&plans[k].1)
    })
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
        // synchronous_commit: the sender forgets a change once the peer's commit
        // returns, so that commit must be durable even on a peer that runs with
        // synchronous_commit = off.
        Literal::new(format!(
            "-c repsync.origin={} -c lock_timeout={REMOTE_LOCK_TIMEOUT} -c synchronous_commit=on",
            node.name
        )),
    ));
    let mapping = vec![(
        Ident::new("user")?,
        Literal::new(db::user_of(&peer.peer_dsn)),
    )];
    let password_setting = passwords
        .get(peer.name.as_str())
        .is_some_and(Option::is_some)
        .then(|| Literal::new(password_setting(peer.name.as_str())));
    let server = server_name(peer.name.as_str())?;
    Ok(render(&render::Peer {
        node: &node.name,
        peer: &peer.name,
        server: &server,
        options: &options,
        mapping: &mapping,
        password_setting,
        tag: render::tag(),
        peer_literal: Literal::new(peer.name.to_string()),
        server_literal: Literal::new(server.as_str()),
        queued_mark: queued_mark(peer.name.as_str())?,
    }))
}
