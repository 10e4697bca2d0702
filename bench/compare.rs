//! The benchmark: no replication, the 2012 per-row dblink method, repsync sync,
//! repsync async with `repsync run`, and native logical replication, side by side
//! on the same two local nodes in one run. Prints a markdown table and writes it to
//! bench/RESULTS.md. Run: `cargo run --release --example bench`.
//! Ratios, not absolute times, are what compare across machines.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use postgres::{Client, NoTls};
use repsync::local_cluster::{LocalCluster, find_bindir};
use repsync::sql::{Ident, Literal};

const ROWS: i64 = 100_000;
const ROUNDS: usize = 3;
const PGBENCH_SECONDS: u32 = 10;
/// The mix of each replicated method runs this many times, alternating with the
/// unreplicated mix: single runs on this machine move by 20%, and now and then
/// one run of either drops by a third. Each run is compared with the unreplicated
/// runs just before and after it, and the median of those ratios is reported.
const MIX_ROUNDS: usize = 5;
const LAG_SAMPLES: usize = 40;
const SETTINGS: &str = "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n\
    shared_buffers = 512MB\nwal_level = logical\nmax_wal_senders = 10\nmax_replication_slots = 10";
const COLUMNS: &str = "(pk1 int, pk2 text, info text, crt_time timestamp(0), mod_time timestamp(0), primary key (pk1, pk2))";

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Plain,
    Seed,
    Sync,
    Async,
    Native,
}

impl Method {
    const ALL: [Method; 5] = [
        Method::Plain,
        Method::Seed,
        Method::Sync,
        Method::Async,
        Method::Native,
    ];

    fn table(self) -> &'static str {
        match self {
            Method::Plain => "t_plain",
            Method::Seed => "t_seed",
            Method::Sync => "t_sync",
            Method::Async => "t_async",
            Method::Native => "t_native",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Method::Plain => "no replication",
            Method::Seed => "2012 method: per-row trigger, dblink_exec per row",
            Method::Sync => "repsync sync",
            Method::Async => "repsync async + `repsync run`",
            Method::Native => "native logical replication",
        }
    }

    fn name(self) -> &'static str {
        &self.table()[2..]
    }

    fn replicated(self) -> bool {
        self != Method::Plain
    }
}

struct Figures {
    writer: Duration,
    /// The unreplicated insert measured just after this method's.
    reference_writer: Duration,
    on_peer: Option<Duration>,
    tps: f64,
    /// Median, lowest and highest of the mix runs' ratios to the unreplicated
    /// runs around each of them.
    tps_ratio: (f64, f64, f64),
    lag_ms: Option<f64>,
}

fn main() -> anyhow::Result<()> {
    // Optional arguments pick methods by name (plain, seed, sync, async, native);
    // plain always runs, as the reference for the ratios.
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    let methods: Vec<Method> = Method::ALL
        .into_iter()
        .filter(|m| {
            *m == Method::Plain || wanted.is_empty() || wanted.iter().any(|w| w == m.name())
        })
        .collect();
    let bindir = find_bindir()?;
    // The shipper logs only problems while the benchmark runs.
    // SAFETY: no other thread runs yet.
    unsafe { std::env::set_var("REPSYNC_LOG", "warn") };
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
    let repsync = |args: &[&str]| -> anyhow::Result<()> {
        let mut argv = vec!["repsync", "--config", config.to_str().expect("UTF-8 path")];
        argv.extend_from_slice(args);
        repsync::commands::run(repsync::cli::Cli::parse_from(argv))
    };

    let mut ca = Client::connect(&a.dsn(), NoTls)?;
    let mut cb = Client::connect(&b.dsn(), NoTls)?;
    for method in Method::ALL {
        let table = Ident::new(method.table())?;
        for c in [&mut ca, &mut cb] {
            c.batch_execute(&format!("create table {table} {COLUMNS}"))?;
        }
    }
    // The 2012 method.
    ca.batch_execute("create extension dblink")?;
    ca.batch_execute(&format!(
        "alter database postgres set bench.peer = {}",
        Literal::new(b.dsn() + " application_name=seed_apply")
    ))?;
    ca.batch_execute(include_str!("seed_method.sql"))?;
    // repsync.
    repsync(&["init"])?;
    repsync(&["add-table", "t_sync", "--from", "a", "--to", "b"])?;
    repsync(&[
        "add-table",
        "t_async",
        "--from",
        "a",
        "--to",
        "b",
        "--mode",
        "async",
    ])?;
    let shipper_config = config.clone();
    std::thread::spawn(move || {
        let argv = [
            "repsync",
            "--config",
            shipper_config.to_str().expect("UTF-8 path"),
            "run",
            "--node",
            "a",
        ];
        if let Err(err) = repsync::commands::run(repsync::cli::Cli::parse_from(argv)) {
            eprintln!("shipper: {err:#}");
        }
    });
    // Native logical replication.
    ca.batch_execute("create publication bench_pub for table t_native")?;
    cb.batch_execute(&format!(
        "create subscription bench_sub connection {} publication bench_pub with (copy_data = false)",
        Literal::new(a.dsn())
    ))?;
    wait_for(
        &mut ca,
        "select count(*) = 1 from pg_stat_replication",
        Duration::from_secs(30),
    )?;
    // A new session, so that it has bench.peer.
    let mut ca = Client::connect(&a.dsn(), NoTls)?;

    let figures = measure(&bindir, &a, &mut ca, &mut cb, &methods);
    let figures = match figures {
        Ok(f) => f,
        Err(err) => {
            for node in [&a, &b] {
                let log = node.server_log();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                eprintln!("--- server log of node {}", node.name());
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
            return Err(err);
        }
    };
    let report = report(&a, &methods, &figures)?;
    println!("{report}");
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/RESULTS.md");
    std::fs::write(&out, &report)?;
    eprintln!("written to {}", out.display());
    Ok(())
}

fn measure(
    bindir: &Path,
    a: &LocalCluster,
    ca: &mut Client,
    cb: &mut Client,
    methods: &[Method],
) -> anyhow::Result<Vec<Figures>> {
    // A first insert warms the server up; it is not measured.
    insert_rounds(ca, cb, Method::Plain, 1)?;
    let mut figures: Vec<Figures> = Vec::new();
    let mut plain_runs: Vec<f64> = Vec::new();
    let mut plain_writers: Vec<Duration> = Vec::new();
    for &method in methods {
        eprintln!("measuring: {}", method.label());
        let rounds = if method == Method::Seed { 1 } else { ROUNDS };
        let (writer, on_peer) = insert_rounds(ca, cb, method, rounds)?;
        // The unreplicated insert again, just after: the reference for this method.
        let reference_writer = if method.replicated() {
            let (again, _) = insert_rounds(ca, cb, Method::Plain, ROUNDS)?;
            plain_writers.push(again);
            again
        } else {
            plain_writers.push(writer);
            writer
        };
        let (tps, tps_ratio) = if method.replicated() {
            // The 2012 method's preload alone takes a minute: one round.
            let rounds = if method == Method::Seed {
                1
            } else {
                MIX_ROUNDS
            };
            let mut runs = Vec::new();
            let mut ratios = Vec::new();
            for _ in 0..rounds {
                let before = *plain_runs.last().expect("plain runs first");
                let run = pgbench(bindir, a, ca, cb, method)?;
                let after = pgbench(bindir, a, ca, cb, Method::Plain)?;
                let ratio = run / mean(&[before, after]);
                eprintln!(
                    "  {run:.0} tps, no replication again: {after:.0} tps ({:.0}% of the runs around it)",
                    100.0 * ratio
                );
                runs.push(run);
                ratios.push(ratio);
                plain_runs.push(after);
            }
            ratios.sort_by(f64::total_cmp);
            let spread = (
                ratios[ratios.len() / 2],
                ratios[0],
                ratios[ratios.len() - 1],
            );
            (mean(&runs), spread)
        } else {
            let tps = pgbench(bindir, a, ca, cb, method)?;
            plain_runs.push(tps);
            (tps, (1.0, 1.0, 1.0))
        };
        let lag_ms = if method.replicated() {
            Some(single_row_lag(ca, cb, method)?)
        } else {
            None
        };
        eprintln!(
            "  writer {:.2} s, peer {:?}, {tps:.0} tps, lag {lag_ms:?} ms",
            writer.as_secs_f64(),
            on_peer
        );
        figures.push(Figures {
            writer,
            reference_writer,
            on_peer,
            tps,
            tps_ratio,
            lag_ms,
        });
    }
    let all_plain = mean(&plain_runs);
    figures[0].tps = all_plain;
    let plain_writer = median(&mut plain_writers);
    figures[0].writer = plain_writer;
    figures[0].reference_writer = plain_writer;
    Ok(figures)
}

/// Empties the table on both nodes and waits until nothing is in flight.
fn reset(ca: &mut Client, cb: &mut Client, method: Method) -> anyhow::Result<()> {
    let table = Ident::new(method.table())?;
    ca.batch_execute(&format!("truncate {table}"))?;
    cb.batch_execute(&format!("truncate {table}"))?;
    wait_for(
        ca,
        "select not exists (select from repsync.sync_err_rec)",
        Duration::from_secs(60),
    )?;
    ca.batch_execute("checkpoint")?;
    cb.batch_execute(&format!("truncate {table}; checkpoint"))?;
    Ok(())
}

/// The 100k-row insert: the writer's time, and from its start until the peer has all rows.
fn insert_rounds(
    ca: &mut Client,
    cb: &mut Client,
    method: Method,
    rounds: usize,
) -> anyhow::Result<(Duration, Option<Duration>)> {
    let table = Ident::new(method.table())?;
    let count = format!("select count(*) from {table}");
    let mut writer = Vec::new();
    let mut on_peer = Vec::new();
    for _ in 0..rounds {
        reset(ca, cb, method)?;
        let start = Instant::now();
        ca.batch_execute(&format!(
            "insert into {table} select g, 'k', md5(g::text), now(), now() from generate_series(1, {ROWS}) g"
        ))?;
        writer.push(start.elapsed());
        if method.replicated() {
            let deadline = start + Duration::from_secs(600);
            while cb.query_one(count.as_str(), &[])?.get::<_, i64>(0) < ROWS {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "{}: the peer never got all rows",
                    method.label()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            on_peer.push(start.elapsed());
        }
    }
    Ok((
        median(&mut writer),
        (!on_peer.is_empty()).then(|| median(&mut on_peer)),
    ))
}

/// The single-row insert/update/delete mix from 4 clients: transactions per second.
fn pgbench(
    bindir: &Path,
    a: &LocalCluster,
    ca: &mut Client,
    cb: &mut Client,
    method: Method,
) -> anyhow::Result<f64> {
    reset(ca, cb, method)?;
    let table = Ident::new(method.table())?;
    ca.batch_execute(&format!(
        "insert into {table} select g, 'k', md5(g::text), now(), now() from generate_series(1, {ROWS}) g"
    ))?;
    // The preload is not part of the mix: wait until the peer has it.
    if method.replicated() {
        wait_for(
            cb,
            &format!("select count(*) = {ROWS} from {table}"),
            Duration::from_secs(600),
        )?;
    }
    // Nor is its aftermath: vacuumed and analysed now on both nodes, for every
    // method alike, autovacuum does not start on the preload during the mix.
    ca.batch_execute(&format!("vacuum analyze {table}"))?;
    cb.batch_execute(&format!("vacuum analyze {table}"))?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/mix.pgb");
    let out = Command::new(bindir.join("pgbench"))
        .args([
            "-n",
            "-c",
            "4",
            "-j",
            "2",
            "-T",
            &PGBENCH_SECONDS.to_string(),
        ])
        .arg("-h")
        .arg(a.socket_dir())
        .args(["-p", &a.port().to_string(), "-U", "postgres"])
        .args(["-D", &format!("tbl={}", method.table())])
        .arg("-f")
        .arg(&script)
        .arg("postgres")
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "pgbench: {}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    let tps = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench output: {text}"))?;
    Ok(tps)
}

/// Median time from a single-row insert's commit until the peer shows it.
fn single_row_lag(ca: &mut Client, cb: &mut Client, method: Method) -> anyhow::Result<f64> {
    reset(ca, cb, method)?;
    let table = Ident::new(method.table())?;
    let insert = format!("insert into {table} values ($1, 'lag', 'x', now(), now())");
    let probe = format!("select exists (select from {table} where pk1 = $1 and pk2 = 'lag')");
    let mut lags = Vec::new();
    for i in 0..LAG_SAMPLES as i32 {
        ca.execute(insert.as_str(), &[&i])?;
        let committed = Instant::now();
        let deadline = committed + Duration::from_secs(30);
        while !cb.query_one(probe.as_str(), &[&i])?.get::<_, bool>(0) {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{}: a row never arrived",
                method.label()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        lags.push(committed.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(median(&mut lags).as_secs_f64() * 1000.0)
}

fn wait_for(client: &mut Client, sql: &str, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !client.query_one(sql, &[])?.get::<_, bool>(0) {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for: {sql}");
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn report(a: &LocalCluster, methods: &[Method], figures: &[Figures]) -> anyhow::Result<String> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")?
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let version = a.psql("postgres", "show server_version")?;
    let mut out = String::new();
    out.push_str("# Benchmark results\n\n");
    out.push_str(&format!(
        "Produced by `cargo run --release --example bench`. Machine: {cores} cores, {cpu}; \
         two PostgreSQL {version} nodes on one host (unix sockets, fsync on, shared_buffers=512MB, \
         wal_level=logical for every method). 100k-row `INSERT ... SELECT`: median of {ROUNDS} rounds \
         (1 for the 2012 method), against the median of {ROUNDS} unreplicated rounds run just after it \
         (the unreplicated row: the median of those medians). Mix: `bench/mix.pgb` (single-row insert, update, delete), \
         pgbench -c 4 -j 2 -T {PGBENCH_SECONDS}; its TPS counts scripts, each three single-statement transactions. Each replicated method's mix runs {MIX_ROUNDS} times (the 2012 method once), alternating with the unreplicated mix, which runs before, between and after; each run is compared with the mean of the unreplicated runs just before and after it (the machine drifts), and the percentage is the median of those comparisons, with the lowest and highest in brackets. The TPS column is the mean of the method's runs; the unreplicated row shows the mean of all its runs. Before each mix run the table is preloaded with 100k rows, which reach the peer and are vacuumed and analysed on both nodes before pgbench starts. Single-row lag: median over {LAG_SAMPLES} inserts from \
         commit until visible on the peer. A noisy machine: compare ratios.\n\n"
    ));
    out.push_str("| method | 100k insert, writer | vs none | 100k rows on the peer | mix TPS | vs none | single-row lag |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for (method, f) in methods.iter().zip(figures) {
        out.push_str(&format!(
            "| {} | {:.2} s | {:.2}x | {} | {:.0} | {} | {} |\n",
            method.label(),
            f.writer.as_secs_f64(),
            f.writer.as_secs_f64() / f.reference_writer.as_secs_f64(),
            f.on_peer
                .map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64())),
            f.tps,
            if f.tps_ratio.1 == f.tps_ratio.2 {
                format!("{:.0}%", 100.0 * f.tps_ratio.0)
            } else {
                format!(
                    "{:.0}% ({:.0}-{:.0}%)",
                    100.0 * f.tps_ratio.0,
                    100.0 * f.tps_ratio.1,
                    100.0 * f.tps_ratio.2
                )
            },
            f.lag_ms.map_or("-".into(), |l| format!("{l:.1} ms")),
        ));
    }
    Ok(out)
}
