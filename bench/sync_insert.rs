//! Benchmark: a 100k-row INSERT ... SELECT into a table replicated in sync mode to
//! one peer, against the same insert into an unreplicated table on the same node.
//! Starts its own two PostgreSQL nodes (durable settings, as in shared/bench) and
//! prints a markdown table of medians and the ratio. Run: `cargo run --release --example bench_sync_insert`.
use std::time::{Duration, Instant};

use clap::Parser;
use postgres::{Client, NoTls};
use repsync::local_cluster::{LocalCluster, find_bindir};

const ROUNDS: usize = 5;
const ROWS: i64 = 100_000;
const SETTINGS: &str =
    "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\nshared_buffers = 512MB";
const TABLE: &str = "(pk1 int, pk2 text, info text, crt_time timestamp(0), mod_time timestamp(0), primary key (pk1, pk2))";

fn main() -> anyhow::Result<()> {
    let bindir = find_bindir()?;
    let a = LocalCluster::start_with_settings(&bindir, "a", SETTINGS)?;
    let b = LocalCluster::start_with_settings(&bindir, "b", SETTINGS)?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("repsync.toml");
    std::fs::write(
        &config,
        toml::to_string(&toml::toml! {
            [nodes.a]
            dsn = (a.dsn())
            [nodes.b]
            dsn = (b.dsn())
        })?,
    )?;
    for node in [&a, &b] {
        node.psql(
            "postgres",
            &format!("create table plain_test {TABLE}; create table loc_test {TABLE}"),
        )?;
    }
    let repsync = |args: &[&str]| -> anyhow::Result<()> {
        let mut argv = vec!["repsync", "--config", config.to_str().unwrap()];
        argv.extend_from_slice(args);
        repsync::commands::run(repsync::cli::Cli::parse_from(argv))
    };
    repsync(&["init"])?;
    repsync(&["add-table", "loc_test", "--from", "a", "--to", "b"])?;

    let mut client = Client::connect(&a.dsn(), NoTls)?;
    let insert = |table: &str| {
        format!(
            "insert into {table} select g, g::text, md5(g::text), now(), now() from generate_series(1, {ROWS}) g"
        )
    };
    let mut plain = Vec::new();
    let mut replicated = Vec::new();
    for _ in 0..ROUNDS {
        client.batch_execute("truncate plain_test; truncate loc_test; checkpoint")?;
        plain.push(timed(&mut client, &insert("plain_test"))?);
        replicated.push(timed(&mut client, &insert("loc_test"))?);
        let on_peer = b.psql("postgres", "select count(*) from loc_test")?;
        anyhow::ensure!(
            on_peer == ROWS.to_string(),
            "peer has {on_peer} rows, expected {ROWS}"
        );
    }
    let (p, r) = (median(&mut plain), median(&mut replicated));
    println!("| what | 100k-row INSERT..SELECT (median of {ROUNDS}) | ratio |");
    println!("|---|---|---|");
    println!("| unreplicated table | {:.3} s | 1.0x |", p.as_secs_f64());
    println!(
        "| repsync sync mode, one peer | {:.3} s | {:.1}x |",
        r.as_secs_f64(),
        r.as_secs_f64() / p.as_secs_f64()
    );
    Ok(())
}

fn timed(client: &mut Client, sql: &str) -> anyhow::Result<Duration> {
    let start = Instant::now();
    client.batch_execute(sql)?;
    Ok(start.elapsed())
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}
