//! `repsync demo`: three throwaway local nodes, multi-master on a sample table,
//! writes on every node, the rows converge, the status table, then cleanup, also on
//! Ctrl-C and on failure.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clap::Parser;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::Context;
use crate::cli::{Cli, DemoArgs};
use crate::local_cluster::{LocalCluster, find_bindir};

const NODES: [&str; 3] = ["a", "b", "c"];
const TABLE: &str = "create table public.accounts (id int primary key, owner text not null, balance numeric(12,2) not null)";

type Clusters = Arc<Mutex<Vec<LocalCluster>>>;

/// While nodes are being started they are not registered yet, so an interrupt then
/// is only noted, and acted on once they are.
static STARTING: AtomicBool = AtomicBool::new(true);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Stops and removes the nodes however the demo ends.
struct Cleanup(Clusters);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(mut clusters) = self.0.lock() {
            if !clusters.is_empty() {
                println!("\nstopping and removing the demo nodes");
            }
            clusters.clear();
        }
    }
}

pub fn run(_args: DemoArgs, _ctx: &Context) -> anyhow::Result<()> {
    let bindir = find_bindir()?;
    let clusters: Clusters = Arc::new(Mutex::new(Vec::new()));
    let on_interrupt = clusters.clone();
    ctrlc::set_handler(move || {
        INTERRUPTED.store(true, Ordering::SeqCst);
        if STARTING.load(Ordering::SeqCst) {
            return;
        }
        eprintln!("\ninterrupted: stopping and removing the demo nodes");
        if let Ok(mut clusters) = on_interrupt.lock() {
            clusters.clear();
        }
        std::process::exit(130);
    })?;
    let _cleanup = Cleanup(clusters.clone());

    println!(
        "starting three throwaway PostgreSQL nodes from {}",
        bindir.display()
    );
    let started: Vec<anyhow::Result<LocalCluster>> = std::thread::scope(|scope| {
        let handles: Vec<_> = NODES
            .iter()
            .map(|name| scope.spawn(|| LocalCluster::start(&bindir, name)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("cluster start thread"))
            .collect()
    });
    let mut dsns = Vec::new();
    let mut failure = None;
    for cluster in started {
        match cluster {
            Ok(cluster) => {
                dsns.push(cluster.dsn());
                clusters.lock().expect("not poisoned").push(cluster);
            }
            Err(err) => failure = Some(err),
        }
    }
    STARTING.store(false, Ordering::SeqCst);
    if let Some(err) = failure {
        return Err(err.context("starting the demo nodes"));
    }
    if INTERRUPTED.load(Ordering::SeqCst) {
        anyhow::bail!("interrupted");
    }
    let psql = |node: usize, sql: &str| -> anyhow::Result<String> {
        clusters.lock().expect("not poisoned")[node].psql("postgres", sql)
    };

    let dir = tempfile::tempdir()?;
    let config = dir.path().join("repsync.toml");
    let mut file = String::new();
    for (name, dsn) in NODES.iter().zip(&dsns) {
        let mut node = toml::Table::new();
        node.insert("dsn".into(), toml::Value::String(dsn.clone()));
        let mut nodes = toml::Table::new();
        nodes.insert((*name).into(), toml::Value::Table(node));
        let mut top = toml::Table::new();
        top.insert("nodes".into(), toml::Value::Table(nodes));
        file.push_str(&toml::to_string(&top)?);
        file.push('\n');
    }
    std::fs::write(&config, &file)?;
    println!("\nthe node file, {}:\n\n{file}", config.display());

    for node in 0..NODES.len() {
        psql(node, TABLE)?;
    }
    println!("on every node: {TABLE}\n");
    let repsync = |args: &[&str]| -> anyhow::Result<()> {
        println!("$ repsync {}", args.join(" "));
        let mut argv = vec![
            "repsync",
            "--config",
            config.to_str().expect("temp path is UTF-8"),
        ];
        argv.extend_from_slice(args);
        super::run(Cli::parse_from(argv))
    };
    repsync(&["init"])?;
    repsync(&["add-table", "accounts"])?;

    println!("\nwriting on every node:");
    let writes = [
        (
            0,
            "insert into accounts values (1, 'alice', 100), (2, 'bob', 50)",
        ),
        (1, "insert into accounts values (3, 'carol', 75)"),
        (2, "update accounts set balance = balance + 25 where id = 1"),
        (1, "delete from accounts where id = 2"),
        (
            0,
            "update accounts set id = 20, owner = 'dave' where id = 3",
        ),
    ];
    for (node, sql) in writes {
        println!("  node {}: {sql}", NODES[node]);
        psql(node, sql)?;
    }

    let dump = "select string_agg(format('%s %s %s', id, owner, balance), E'\\n' order by id) from accounts";
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(vec!["node", "id owner balance"]);
    let mut contents = Vec::new();
    for (node, name) in NODES.iter().enumerate() {
        let rows = psql(node, dump)?;
        table.add_row(vec![name.to_string(), rows.clone()]);
        contents.push(rows);
    }
    println!("\nthe table on each node:\n{table}");
    if contents.iter().any(|c| c != &contents[0]) {
        anyhow::bail!(
            "the nodes differ; this is a bug in repsync, please report it with the output above"
        );
    }
    println!("all three nodes hold the same rows\n");

    // A conflict: c is down while a changes a row, then c changes the same row.
    println!(
        "node c stops; node a changes alice's row (queued for c); c comes back and changes it too:"
    );
    clusters.lock().expect("not poisoned")[2].stop()?;
    let first = "update accounts set balance = 0 where id = 1";
    println!("  node a: {first}");
    psql(0, first)?;
    clusters.lock().expect("not poisoned")[2].restart()?;
    let second = "update accounts set balance = 500 where id = 1";
    println!("  node c: {second}");
    psql(2, second)?;
    repsync(&["drain-errors"])?;
    println!();
    repsync(&["conflicts", "accounts"])?;
    let alice = "select balance from accounts where id = 1";
    for (node, name) in NODES.iter().enumerate() {
        if psql(node, alice)? != "500.00" {
            anyhow::bail!(
                "node {name}: the later change did not win the conflict; this is a bug in repsync"
            );
        }
    }
    println!("every node kept c's change, the later one (policy newer-wins)\n");
    // The same check as a user would run it: hashes computed on the servers.
    match repsync(&["verify", "accounts"]) {
        Err(err) if err.downcast_ref::<crate::error::Unhealthy>().is_some() => {
            anyhow::bail!("verify finds the demo nodes different; this is a bug in repsync")
        }
        other => other?,
    }
    println!();
    match repsync(&["status"]) {
        Err(err) if err.downcast_ref::<crate::error::Unhealthy>().is_some() => {
            anyhow::bail!("status reports a problem on the demo nodes; this is a bug in repsync")
        }
        other => other?,
    }
    Ok(())
}
