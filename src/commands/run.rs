//! `repsync run`: the shipper. One thread per node; each wakes on NOTIFY from the
//! capture triggers (or after 100 ms without one, `REPSYNC_IDLE_POLL_MS`),
//! drains every destination's queue ([`crate::drain`]) until it is empty, paces
//! its rounds under a stream of small transactions, and backs off from a failing peer without holding up the others. With
//! `--keep-conflicts`, each thread also purges its node's conflict log of old
//! entries, at most once a minute. Another thread purges the tombstones no node
//! needs any more, every `--purge-tombstones-every`.
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fallible_iterator::FallibleIterator;
use postgres::Client;
use tracing::{info, warn};

use super::Context;
use crate::catalog;
use crate::cli::RunArgs;
use crate::config::{Config, Node};
use crate::db;
use crate::drain::{self, IDLE_LOCK, SHIPPER_APPLICATION_NAME};
use crate::error::Unhealthy;

/// Capture triggers NOTIFY only when a queue was empty, so a change committed while
/// a batch was in flight is found by this poll.
const POLL: Duration = Duration::from_millis(100);
/// Overrides, in milliseconds, how long an idle shipper waits for a NOTIFY before
/// it looks at the queues anyway (POLL). The tests set it high, so that only a
/// NOTIFY can explain a shipper that wakes in time.
const IDLE_POLL_ENV: &str = "REPSYNC_IDLE_POLL_MS";
/// Once a queue is empty, the next round starts no sooner than this after the last
/// one began: under a stream of small transactions, batches then carry many of them
/// instead of one each, and the per-batch work (two commits, a round trip) stops
/// competing with the writers. It bounds the lag this adds.
const MIN_ROUND: Duration = Duration::from_millis(50);
/// Under a steady stream of writes a round's fixed work (the watermark, the
/// queue scans, two commits) costs the writers' cores the same whatever it
/// carries, so rounds are spaced at least this many times their own duration:
/// the shipper then works at most about a tenth of the time between batches.
/// A backlog is still shipped batch after batch without a pause.
const DUTY_FACTOR: u32 = 10;
/// The longest pause the duty factor may add, which bounds the lag under load.
const MAX_ROUND: Duration = Duration::from_millis(250);
/// Entries a round must ship to count as a stream: fewer are a lone change or
/// two, whose lag the duty factor would only add to.
const STREAM_ENTRIES: i32 = 10;
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often `--keep-conflicts` purges a node's conflict log.
const PURGE_CONFLICTS_EVERY: Duration = Duration::from_secs(60);
pub fn run(args: RunArgs, ctx: &Context) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REPSYNC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    let config = ctx.config()?;
    let nodes: Vec<Node> = config.select(&args.node)?.into_iter().cloned().collect();
    let stop = Arc::new(AtomicBool::new(false));
    if !args.once {
        let on_signal = stop.clone();
        ctrlc::set_handler(move || {
            on_signal.store(true, Ordering::SeqCst);
        })?;
    }
    let args = &args;
    let results: Vec<anyhow::Result<()>> = std::thread::scope(|scope| {
        if !args.once && !args.purge_tombstones_every.is_zero() {
            let stop = stop.clone();
            let config = &config;
            scope.spawn(move || purge_tombstones_now_and_then(config, args, &stop));
        }
        let handles: Vec<_> = nodes
            .iter()
            .map(|node| {
                let stop = stop.clone();
                let config = &config;
                scope.spawn(move || ship_node(config, node, args, &stop))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("shipper thread"))
            .collect()
    });
    let mut healthy = true;
    for result in results {
        if let Err(err) = result {
            eprintln!("{err:#}");
            healthy = false;
        }
    }
    if !args.once {
        info!("stopped");
    }
    if healthy {
        Ok(())
    } else {
        Err(Unhealthy.into())
    }
}

/// What the shipper remembers about one destination between rounds.
#[derive(Default)]
struct Destination {
    failing: Option<String>,
    backoff: Duration,
    retry_at: Option<Instant>,
}

/// `--keep-conflicts` on one node: how old an entry of the conflict log may get,
/// and when the log was last purged (kept across reconnections).
struct ConflictRetention {
    keep: Duration,
    last: Option<Instant>,
}

impl ConflictRetention {
    /// Deletes the entries older than `keep`, unless that was tried less than a
    /// minute ago. A failure is logged and does not stop the shipping.
    fn purge_if_due(&mut self, node: &Node, client: &mut Client) {
        if self
            .last
            .is_some_and(|at| at.elapsed() < PURGE_CONFLICTS_EVERY)
        {
            return;
        }
        self.last = Some(Instant::now());
        match catalog::purge_conflicts(client, None, None, Some(self.keep)) {
            Ok(purged) if purged.deleted > 0 => info!(
                node = %node.name,
                deleted = purged.deleted,
                remaining = purged.remaining,
                "conflict log purged"
            ),
            Ok(_) => {}
            Err(err) => warn!(
                node = %node.name,
                error = %db::error_text(&err),
                "cannot purge the conflict log; trying again in a minute"
            ),
        }
    }
}

fn ship_node(
    config: &Config,
    node: &Node,
    args: &RunArgs,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let once = args.once;
    // The last failure, so a node that stays down (or not initialised) is logged
    // once, not once per attempt.
    let mut failing: Option<String> = None;
    let mut backoff = Duration::from_secs(1);
    let mut retention = args
        .keep_conflicts
        .map(|keep| ConflictRetention { keep, last: None });
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let result = connect(node).and_then(|mut client| {
            let peers: Vec<String> = client
                .query("select name from repsync.peer order by name", &[])?
                .iter()
                .map(|row| row.get(0))
                .collect();
            if failing.take().is_some() {
                info!(node = %node.name, "shipping from this node again");
            }
            backoff = Duration::from_secs(1);
            ship_connected(config, node, client, &peers, args, stop, retention.as_mut())
        });
        let err = match result {
            Ok(()) => return Ok(()),
            Err(err) if once => return Err(err),
            Err(err) => err,
        };
        let text = format!("{err:#}");
        if failing.is_none() {
            warn!(node = %node.name, error = %text, "cannot ship from this node; retrying with back-off");
        }
        failing = Some(text);
        sleep_unless_stopped(backoff, stop);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn connect(node: &Node) -> anyhow::Result<Client> {
    let mut client = db::connect(node)?;
    client.execute(
        "select set_config('application_name', $1, false)",
        &[&SHIPPER_APPLICATION_NAME],
    )?;
    client.batch_execute("listen repsync")?;
    Ok(client)
}

fn ship_connected(
    config: &Config,
    node: &Node,
    mut client: Client,
    peers: &[String],
    args: &RunArgs,
    stop: &AtomicBool,
    mut retention: Option<&mut ConflictRetention>,
) -> anyhow::Result<()> {
    let (limit, once) = (args.batch.limit, args.once);
    let idle_poll = std::env::var(IDLE_POLL_ENV)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(POLL, Duration::from_millis);
    let mut state: HashMap<String, Destination> = HashMap::new();
    // Direct connections to the destinations, for the shipper's own transport.
    let mut direct: HashMap<String, Client> = HashMap::new();
    // Whether this session holds IDLE_LOCK, i.e. writers wake it with a NOTIFY.
    let mut waiting = false;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(retention) = retention.as_deref_mut() {
            retention.purge_if_due(node, &mut client);
        }
        let round_started = Instant::now();
        // Something is left to ship; a full batch means a backlog to catch up on.
        let mut more = false;
        let mut full = false;
        let mut shipped: i32 = 0;
        for dest in peers {
            let d = state.entry(dest.clone()).or_default();
            if d.retry_at.is_some_and(|at| Instant::now() < at) {
                continue;
            }
            let started = Instant::now();
            let Some(outcome) = drain::drain(config, node, &mut client, &mut direct, dest, limit)?
            else {
                continue;
            };
            let applied = outcome.applied;
            shipped = shipped.saturating_add(applied);
            let remaining = outcome.remaining;
            let error = outcome.error;
            if outcome.busy {
                // Another shipper (or a killed one whose server session has not
                // noticed yet) holds this destination: not a failure, look again soon.
                more = true;
                std::thread::sleep(POLL);
                continue;
            }
            if applied > 0 {
                let lag = outcome.oldest_seconds;
                info!(
                    node = %node.name,
                    to = %dest,
                    rows = applied,
                    bytes = outcome.bytes,
                    transport = outcome.transport,
                    ms = started.elapsed().as_millis() as u64,
                    remaining,
                    lag_s = lag.unwrap_or(0.0),
                    "batch shipped"
                );
            }
            match error {
                Some(error) if applied == 0 => {
                    if d.failing.is_none() {
                        warn!(node = %node.name, to = %dest, error = %error, remaining, "cannot ship; retrying with back-off");
                    }
                    d.failing = Some(error);
                    d.backoff = (d.backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                    d.retry_at = Some(Instant::now() + d.backoff);
                }
                _ => {
                    if d.failing.take().is_some() {
                        info!(node = %node.name, to = %dest, "shipping again");
                    }
                    d.backoff = Duration::ZERO;
                    d.retry_at = None;
                    more |= remaining > 0;
                    full |= applied >= limit;
                }
            }
        }
        let round_took = round_started.elapsed();
        if once && !more {
            let failing: Vec<String> = state
                .iter()
                .filter_map(|(dest, d)| d.failing.as_ref().map(|e| format!("{dest}: {e}")))
                .collect();
            if failing.is_empty() {
                return Ok(());
            }
            anyhow::bail!(
                "node {}: could not ship to {}",
                node.name,
                failing.join("; ")
            );
        }
        if once || full {
            continue;
        }
        if more && waiting {
            set_waiting(&mut client, false)?;
            waiting = false;
        }
        sleep_unless_stopped(
            pace(round_took, shipped).saturating_sub(round_started.elapsed()),
            stop,
        );
        if more {
            continue;
        }
        if !waiting {
            // Writers holding the lock shared have changes in flight: stay awake.
            // Once held, one more round finds what committed before it was taken.
            waiting = set_waiting(&mut client, true)?;
            continue;
        }
        // Wait for a capture trigger's NOTIFY, or poll.
        let mut notifications = client.notifications();
        let mut woke = notifications.iter().next()?.is_some();
        if !woke {
            let wait = idle_poll.saturating_sub(round_started.elapsed());
            woke = notifications.timeout_iter(wait).next()?.is_some();
        }
        if woke {
            while notifications.iter().next()?.is_some() {}
            drop(notifications);
            set_waiting(&mut client, false)?;
            waiting = false;
        }
    }
}

/// How long after its start the next round may begin, for a round that took
/// `took` and shipped `shipped` entries. Only a round that carried a stream of
/// changes is stretched: a lone change keeps its 50 ms.
fn pace(took: Duration, shipped: i32) -> Duration {
    if shipped < STREAM_ENTRIES {
        return MIN_ROUND;
    }
    (took * DUTY_FACTOR).clamp(MIN_ROUND, MAX_ROUND)
}

/// Takes (true) or releases (false) IDLE_LOCK; false when it could not be taken.
fn set_waiting(client: &mut Client, wait: bool) -> anyhow::Result<bool> {
    let sql = if wait {
        "select pg_try_advisory_lock($1, $2)"
    } else {
        "select pg_advisory_unlock($1, $2)"
    };
    let row = client.query_one(sql, &[&IDLE_LOCK[0], &IDLE_LOCK[1]])?;
    Ok(wait && row.get::<_, bool>(0))
}

/// Every `--purge-tombstones-every`: the tombstones no node needs any more go (see
/// purge_tombstones.rs). It needs every node, so a node that is down only
/// postpones it; the same failure is logged once.
fn purge_tombstones_now_and_then(config: &Config, args: &RunArgs, stop: &AtomicBool) {
    let mut failing: Option<String> = None;
    loop {
        sleep_unless_stopped(args.purge_tombstones_every, stop);
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match super::purge_tombstones::purge_all(config, None, Duration::ZERO, 10_000) {
            Ok(tables) => {
                failing = None;
                for t in tables {
                    let purged: i64 = t.purged.iter().map(|(_, n)| n).sum();
                    if purged > 0 {
                        let left: i64 = t.left.iter().map(|(_, n)| n).sum();
                        info!(table = %t.table.plain(), purged, left, "tombstones purged");
                    }
                }
            }
            Err(err) => {
                let text = format!("{err:#}");
                if failing.as_deref() != Some(text.as_str()) {
                    warn!(error = %text, "cannot purge tombstones now; trying again later");
                }
                failing = Some(text);
            }
        }
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let until = Instant::now() + total;
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(POLL.min(until - Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_spaced_by_their_duration_within_bounds() {
        assert_eq!(pace(Duration::from_millis(2), 500), MIN_ROUND);
        assert_eq!(
            pace(Duration::from_millis(12), 500),
            Duration::from_millis(120)
        );
        assert_eq!(pace(Duration::from_secs(3), 500), MAX_ROUND);
        assert_eq!(pace(Duration::from_millis(12), 1), MIN_ROUND);
    }
}
