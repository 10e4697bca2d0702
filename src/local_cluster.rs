//! Throwaway PostgreSQL servers for `repsync demo` and the integration tests.
//!
//! Each cluster lives entirely inside its own temporary directory (data, unix
//! socket, server log), so any number of them can run side by side, also from
//! parallel test processes, and dropping the handle leaves nothing behind.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use tempfile::TempDir;

/// OS user that owns the server files when we are root, because `initdb` and
/// `postgres` refuse to run as root.
const SERVER_USER: &str = "postgres";

/// Another process can grab the port between our probe and the server's bind;
/// a handful of fresh ports makes that race practically irrelevant.
const START_ATTEMPTS: usize = 5;

/// unix socket paths are limited to ~107 bytes and the server appends
/// `/.s.PGSQL.<port>` to the socket directory, so keep that directory short.
const MAX_SOCKET_DIR_LEN: usize = 80;

/// Locates the PostgreSQL server binaries.
///
/// `PG_BINDIR` wins so that users and CI can pin a version explicitly; a set
/// but unusable `PG_BINDIR` is an error rather than silently ignored, since
/// falling back would run a different version than the one asked for.
pub fn find_bindir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BINDIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
            return Ok(dir);
        }
        bail!(
            "PG_BINDIR is set to {}, but that directory does not contain both `initdb` and \
             `postgres`; point PG_BINDIR at the PostgreSQL server bin directory \
             (e.g. /usr/lib/postgresql/15/bin) or unset it",
            dir.display()
        );
    }

    let pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .output();
    let pg_config_note = match pg_config {
        Ok(out) if out.status.success() => {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if dir.join("initdb").is_file() {
                return Ok(dir);
            }
            // Debian ships pg_config with libpq-dev, which points at a bindir
            // even when no server is installed.
            format!("`pg_config --bindir` ({}, no initdb there)", dir.display())
        }
        _ => "`pg_config --bindir` (pg_config not found or failed)".to_string(),
    };

    if let Some(dir) = newest_debian_bindir(Path::new("/usr/lib/postgresql")) {
        return Ok(dir);
    }

    bail!(
        "PostgreSQL server binaries (initdb, postgres) were not found. Looked in: \
         $PG_BINDIR (unset), {pg_config_note}, /usr/lib/postgresql/*/bin. \
         Next step: install them with `apt-get install postgresql` (Debian/Ubuntu), \
         or set PG_BINDIR to the directory that contains initdb and postgres."
    )
}

/// Debian/Ubuntu install each major version side by side; the newest is the
/// best default. Versions are compared numerically so that 10 beats 9.6.
fn newest_debian_bindir(root: &Path) -> Option<PathBuf> {
    let version = |name: &OsStr| -> Option<Vec<u32>> {
        name.to_str()?
            .split('.')
            .map(|part| part.parse().ok())
            .collect()
    };
    fs::read_dir(root)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let bin = entry.path().join("bin");
            let v = version(&entry.file_name())?;
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// The `LD_LIBRARY_PATH` that the tools of `bindir` need, if any.
///
/// A relocatable build such as the one `.ci/fetch-postgres` unpacks keeps its
/// own libpq in `<bindir>/../lib`, but its `dblink.so` looks for libpq in the
/// directory it was built for, so inside the server dblink would load the
/// system's libpq (another major's, or none). With the path set, the server and
/// every module it loads find the build's own. Debian's layout has no libpq in
/// `/usr/lib/postgresql/N/lib`, so it gets no path and runs as before. An
/// `LD_LIBRARY_PATH` the caller already has is kept, after the build's.
pub fn library_path(bindir: &Path) -> Option<OsString> {
    let lib = bindir.join("..").join("lib");
    let has_libpq = fs::read_dir(&lib).ok()?.filter_map(|e| e.ok()).any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name == "libpq.so" || name.starts_with("libpq.so.")
    });
    if !has_libpq {
        return None;
    }
    let mut path = fs::canonicalize(&lib).unwrap_or(lib).into_os_string();
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|p| !p.is_empty()) {
        path.push(":");
        path.push(old);
    }
    Some(path)
}

/// Runs `cmd` with `LD_LIBRARY_PATH` set to `path`, when there is one.
fn set_library_path(cmd: &mut Command, path: Option<&OsStr>) {
    if let Some(path) = path {
        cmd.env("LD_LIBRARY_PATH", path);
    }
}

/// The major version of the server in `bindir`, from `postgres --version`
/// ("postgres (PostgreSQL) 17.10" gives 17; also "16beta1", "15.4 (Debian ...)").
pub fn server_major(bindir: &Path) -> Result<u32> {
    let program = bindir.join("postgres");
    let mut cmd = Command::new(&program);
    cmd.arg("--version");
    set_library_path(&mut cmd, library_path(bindir).as_deref());
    let out = run(&mut cmd)?;
    check(&out, &format!("{} --version", program.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_major(&text).ok_or_else(|| anyhow!("no version number in `{}`", text.trim()))
}

/// The leading digits of the first word that starts with one.
fn parse_major(version: &str) -> Option<u32> {
    let word = version
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let digits: String = word.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A running (or stopped) throwaway PostgreSQL cluster that is destroyed on drop.
pub struct LocalCluster {
    name: String,
    bindir: PathBuf,
    /// `LD_LIBRARY_PATH` for the server and its tools, see [`library_path`].
    library_path: Option<OsString>,
    port: u16,
    /// Server commands go through `runuser` when we are root.
    as_root: bool,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    // Deleted only after `Drop::drop` has stopped the server, since fields
    // are dropped after it runs.
    dir: TempDir,
}

impl LocalCluster {
    /// Starts a new cluster on a free loopback port.
    ///
    /// The port is probed by binding port 0; since another process may take
    /// it before the server binds, a bind failure is retried on a new port.
    pub fn start(bindir: &Path, name: &str) -> Result<LocalCluster> {
        Self::start_with_settings(bindir, name, "")
    }

    /// Like [`LocalCluster::start`], with extra `postgresql.conf` lines that
    /// override the defaults (the benchmark turns durability back on).
    pub fn start_with_settings(bindir: &Path, name: &str, settings: &str) -> Result<LocalCluster> {
        let as_root = running_as_root();
        if as_root {
            find_runuser()?;
        }
        for tool in ["initdb", "pg_ctl", "postgres"] {
            if !bindir.join(tool).is_file() {
                bail!(
                    "`{tool}` not found in {}; set PG_BINDIR to the PostgreSQL server bin directory",
                    bindir.display()
                );
            }
        }

        let dir = tempfile::Builder::new()
            .prefix("repsync-")
            .tempdir_in(temp_base(as_root))
            .context("creating a temporary directory for the local cluster")?;
        let data_dir = dir.path().join("data");
        let socket_dir = dir.path().join("s");
        let log_file = dir.path().join("server.log");
        fs::create_dir(&socket_dir)
            .with_context(|| format!("creating {}", socket_dir.display()))?;
        if as_root {
            let out = run(Command::new("chown")
                .arg("-R")
                .arg(format!("{SERVER_USER}:"))
                .arg(dir.path()))?;
            check(&out, "chown of the cluster directory")
                .with_context(|| format!("does the OS user `{SERVER_USER}` exist?"))?;
        }

        let mut cluster = LocalCluster {
            name: name.to_string(),
            bindir: bindir.to_path_buf(),
            library_path: library_path(bindir),
            port: 0,
            as_root,
            data_dir,
            socket_dir,
            log_file,
            dir,
        };
        cluster.initdb()?;
        cluster.write_config(settings)?;

        let mut last_err = None;
        for _ in 0..START_ATTEMPTS {
            cluster.port = free_port()?;
            match cluster.pg_ctl_start() {
                Ok(()) => return Ok(cluster),
                Err(StartError::PortInUse(err)) => last_err = Some(err),
                Err(StartError::Other(err)) => return Err(err),
            }
        }
        Err(last_err
            .unwrap_or_else(|| anyhow!("no start attempt made"))
            .context(format!(
                "cluster `{name}` could not bind a free port after {START_ATTEMPTS} attempts"
            )))
    }

    /// The server's log so far, for reports of what went wrong.
    pub fn server_log(&self) -> String {
        fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connects through the unix socket so that connections work regardless
    /// of TCP auth and are unaffected by other servers on the machine.
    pub fn dsn(&self) -> String {
        self.dsn_for("postgres")
    }

    /// Like [`LocalCluster::dsn`], for a database other than `postgres`.
    pub fn dsn_for(&self, dbname: &str) -> String {
        format!(
            "host={} port={} dbname={dbname} user=postgres",
            self.socket_dir.display(),
            self.port
        )
    }

    /// Clean shutdown that keeps the data, so tests can simulate a peer that
    /// goes away and later comes back with [`LocalCluster::restart`].
    pub fn stop(&self) -> Result<()> {
        self.pg_ctl_stop("fast")
    }

    /// Crash-like shutdown, for tests of recovery after an unclean stop.
    pub fn kill(&self) -> Result<()> {
        self.pg_ctl_stop("immediate")
    }

    /// Restarts on the same port so that DSNs handed out earlier stay valid;
    /// returns once the server accepts connections.
    pub fn restart(&self) -> Result<()> {
        match self.pg_ctl_start() {
            Ok(()) => Ok(()),
            Err(StartError::PortInUse(err) | StartError::Other(err)) => Err(err),
        }
    }

    /// Replaces `pg_hba.conf` and reloads, for tests of password authentication.
    pub fn set_hba(&self, lines: &str) -> Result<()> {
        let hba = self.data_dir.join("pg_hba.conf");
        fs::write(&hba, lines).with_context(|| format!("writing {}", hba.display()))?;
        if self.as_root {
            let out = run(Command::new("chown")
                .arg(format!("{SERVER_USER}:"))
                .arg(&hba))?;
            check(&out, "chown of pg_hba.conf")?;
        }
        let out = run(self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("reload"))?;
        check(&out, &format!("pg_ctl reload of cluster `{}`", self.name))
    }

    /// Runs one SQL string through psql and returns its unaligned, tuples-only
    /// output; psql rather than a driver so the harness exercises the same
    /// path a user would when debugging by hand.
    pub fn psql(&self, dbname: &str, sql: &str) -> Result<String> {
        let psql = self.bindir.join("psql");
        let psql = if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        };
        let mut cmd = Command::new(&psql);
        set_library_path(&mut cmd, self.library_path.as_deref());
        let out = run(cmd
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-At", "-U", "postgres", "-h"])
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(dbname)
            .arg("-c")
            .arg(sql)
            // A stray password or service file from the caller's
            // environment must not change where we connect.
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .env("PGCONNECT_TIMEOUT", "10"))
        .with_context(|| format!("running {}", psql.display()))?;
        if !out.status.success() {
            bail!(
                "psql on cluster `{}` (db {dbname}) failed: {}\nSQL: {sql}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn initdb(&self) -> Result<()> {
        let mut last = None;
        // C.UTF-8 keeps sorting byte-wise yet allows UTF-8 text; some systems
        // lack that locale, and plain C is good enough there.
        for locale in ["--locale=C.UTF-8", "--locale=C"] {
            let _ = fs::remove_dir_all(&self.data_dir);
            let out = run(self
                .server_command("initdb")
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
                .arg(locale))?;
            match check(&out, "initdb") {
                Ok(()) => return Ok(()),
                Err(err) => last = Some(err),
            }
        }
        Err(last.expect("initdb attempted at least once"))
    }

    /// Settings go into postgresql.conf rather than the command line so that
    /// a restart, or someone debugging with pg_ctl by hand, gets the same
    /// server. Only the port is passed at start time because it can change
    /// between start attempts.
    fn write_config(&self, settings: &str) -> Result<()> {
        let conf = format!(
            "\n# added by repsync local_cluster\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             max_connections = 100\n\
             shared_buffers = 128MB\n\
             max_prepared_transactions = 10\n\
             logging_collector = off\n\
             {settings}\n",
            self.socket_dir.display()
        );
        let path = self.data_dir.join("postgresql.conf");
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.write_all(conf.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }

    fn pg_ctl_start(&self) -> std::result::Result<(), StartError> {
        // Only the log written by this attempt tells why it failed.
        let log_offset = fs::metadata(&self.log_file).map_or(0, |m| m.len());
        let out = run(self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&self.log_file)
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {}", self.port))
            .arg("start"))
        .map_err(StartError::Other)?;
        if out.status.success() {
            return Ok(());
        }
        let log = read_from(&self.log_file, log_offset);
        let err = anyhow!(
            "starting cluster `{}` on port {} failed: {}\nlast lines of {}:\n{}",
            self.name,
            self.port,
            String::from_utf8_lossy(&out.stderr).trim(),
            self.log_file.display(),
            tail(&log, 20)
        );
        let lower = log.to_lowercase();
        if lower.contains("could not bind") || lower.contains("address already in use") {
            Err(StartError::PortInUse(err))
        } else {
            Err(StartError::Other(err))
        }
    }

    fn pg_ctl_stop(&self, mode: &str) -> Result<()> {
        let out = run(self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-w", "-t", "60", "-m", mode, "stop"]))?;
        check(
            &out,
            &format!("pg_ctl stop -m {mode} of cluster `{}`", self.name),
        )
    }

    /// A command for a server-side tool, run as the `postgres` OS user when
    /// we are root, with the build's `LD_LIBRARY_PATH` if it needs one (pg_ctl
    /// passes its environment on to the server). Through runuser the variable
    /// is set by `env` on the far side, so it holds whatever runuser does to
    /// the environment.
    fn server_command(&self, tool: &str) -> Command {
        let program = self.bindir.join(tool);
        let mut cmd = if self.as_root {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", SERVER_USER, "--"]);
            if let Some(path) = &self.library_path {
                let mut assignment = OsString::from("LD_LIBRARY_PATH=");
                assignment.push(path);
                cmd.arg("env").arg(assignment);
            }
            cmd.arg(program);
            cmd
        } else {
            let mut cmd = Command::new(program);
            set_library_path(&mut cmd, self.library_path.as_deref());
            cmd
        };
        // The caller's working directory may be unreadable for `postgres`,
        // which makes initdb and pg_ctl fail in confusing ways.
        cmd.current_dir(self.dir.path());
        cmd
    }
}

impl Drop for LocalCluster {
    /// Immediate shutdown: the data is about to be deleted, so there is
    /// nothing worth flushing. Errors are ignored because panicking in drop
    /// would abort a test that is already unwinding.
    fn drop(&mut self) {
        if self.data_dir.join("postmaster.pid").exists() {
            let _ = self.pg_ctl_stop("immediate");
        }
    }
}

enum StartError {
    PortInUse(anyhow::Error),
    Other(anyhow::Error),
}

/// `/proc/self` is owned by the effective uid, which is what initdb checks;
/// `id -u` covers systems without procfs.
fn running_as_root() -> bool {
    if let Ok(meta) = fs::metadata("/proc/self") {
        return meta.uid() == 0;
    }
    Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn find_runuser() -> Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into(), "/usr/bin".into()])
        .any(|dir| dir.join("runuser").is_file());
    if found {
        Ok(())
    } else {
        bail!(
            "running as root, so PostgreSQL must be run as the `{SERVER_USER}` user via \
             `runuser`, which was not found; install util-linux (`apt-get install util-linux`) \
             or run as a non-root user"
        )
    }
}

/// As root, the server runs as `postgres` and must be able to reach its
/// directory, so every ancestor of the base must be world-traversable; the
/// socket path must also stay short. `/tmp` satisfies both on any sane system.
fn temp_base(as_root: bool) -> PathBuf {
    let base = std::env::temp_dir();
    let short = base.as_os_str().len() <= MAX_SOCKET_DIR_LEN - "/repsync-XXXXXX/s".len();
    let traversable = !as_root
        || base
            .ancestors()
            .all(|dir| fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if short && traversable {
        base
    } else {
        PathBuf::from("/tmp")
    }
}

/// Asks the kernel for an unused port; the listener is released right away so
/// the server can bind it.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("probing for a free TCP port")?;
    Ok(listener.local_addr()?.port())
}

fn run(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))
}

fn check(out: &Output, what: &str) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    bail!(
        "{what} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim(),
        String::from_utf8_lossy(&out.stdout).trim()
    )
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(path) {
        let _ = file.seek(SeekFrom::Start(offset));
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests;
