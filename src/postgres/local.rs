//! The embedded default: a throwaway PostgreSQL cluster from the machine's binaries.
//!
//! One cluster per run, in a private temp directory: `initdb`, then `postgres` on a
//! unix socket only (no TCP port to collide with or expose), with durability turned off
//! because nothing in it must survive. Root cannot run PostgreSQL, so as root the server
//! runs as the `postgres` (or `nobody`) OS user. Readiness is the server's own
//! "ready to accept connections" log line, read from its stderr — never a sleep.
//!
//! `initdb`'s result is cached per machine and copied for each run (see
//! `initdb_cache`), which makes a start several times faster.
//!
//! Teardown belongs to a [`Watchdog`], and clusters left by owners that died without
//! one (the watchdog itself killed) are reaped on the next start, so no process or
//! directory survives a run.

use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::unistd::{Gid, Uid, User};
use sqlx::postgres::PgConnectOptions;

use super::binaries::PgBinaries;
use super::initdb_cache;
use super::owner::{stamp_is_dead, Owner};
use super::watchdog::{Watchdog, STOP_PROCESS_SH};
use super::BackendError;

/// Directory names start with this, so stale clusters can be found and reaped.
const DIR_PREFIX: &str = "smta-verify-pg-";
const READY_LINE: &str = "database system is ready to accept connections";
/// The bootstrap superuser of every local cluster.
pub(crate) const SUPERUSER: &str = "postgres";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running throwaway cluster; dropping it stops the server and removes its files.
#[derive(Debug)]
pub(crate) struct LocalCluster {
    root: PathBuf,
    postmaster: Option<Child>,
    watchdog: Watchdog,
}

impl LocalCluster {
    /// Starts a cluster from the binaries in `bindir`, else those found (see
    /// `binaries`).
    pub(crate) fn start(bindir: Option<&Path>) -> Result<Self, BackendError> {
        let binaries = PgBinaries::locate(bindir)?;
        let base = cluster_base();
        reap_stale_clusters(&base);
        let server_user = ServerUser::pick()?;

        let root = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
            .tempdir_in(&base)
            .map_err(|e| BackendError::io("create the cluster directory", e))?
            .keep();
        // From here on the watchdog owns the directory: it is removed whatever happens.
        let watchdog = Watchdog::spawn(
            &format!(
                "{STOP_PROCESS_SH}\nstop_process \"$(head -n 1 \"$ROOT/data/postmaster.pid\" 2>/dev/null)\"\nrm -rf \"$ROOT\""
            ),
            &[("ROOT", root.display().to_string())],
        )
        .map_err(|e| BackendError::io("start the cleanup watchdog", e))?;
        let mut cluster = Self {
            root,
            postmaster: None,
            watchdog,
        };
        fs::write(cluster.root.join("owner"), Owner::current().spaced_stamp())
            .map_err(|e| BackendError::io("write the owner stamp", e))?;
        for sub in ["data", "sock"] {
            fs::create_dir(cluster.root.join(sub))
                .map_err(|e| BackendError::io("create the cluster directory", e))?;
        }
        server_user.take_ownership(&cluster.root)?;

        cluster.prepare_data(&binaries, &server_user)?;
        cluster.postmaster = Some(cluster.spawn_postmaster(&binaries, &server_user)?);
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.root.join("sock")
    }

    /// Connect options for `database` as the bootstrap superuser.
    pub(crate) fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(self.socket_dir())
            .username(SUPERUSER)
            .database(database)
    }

    pub(crate) fn describe(&self) -> String {
        format!("local cluster in {}", self.root.display())
    }

    /// Fills the data directory: a copy of the cached `initdb` result when there is
    /// one, else `initdb` itself (whose result is then cached for the next run).
    fn prepare_data(&self, binaries: &PgBinaries, user: &ServerUser) -> Result<(), BackendError> {
        let cache = initdb_cache::entry(&binaries.postgres(), INITDB_ARGS);
        if let Some(entry) = &cache {
            let data = self.data_dir();
            let _ = fs::remove_dir(&data);
            match initdb_cache::restore(entry, &data, user.0) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(
                        "the initdb cache at {} is unusable ({e}); running initdb",
                        entry.display()
                    );
                    let _ = fs::remove_dir_all(&data);
                }
            }
            if !data.exists() {
                fs::create_dir(&data)
                    .map_err(|e| BackendError::io("create the cluster directory", e))?;
                user.take_ownership_of(&data)?;
            }
        }
        self.initdb(binaries, user)?;
        if let Some(entry) = &cache {
            if let Err(e) = initdb_cache::store(&self.data_dir(), entry) {
                tracing::debug!(
                    "could not cache the initdb result in {}: {e}",
                    entry.display()
                );
            }
        }
        Ok(())
    }

    fn initdb(&self, binaries: &PgBinaries, user: &ServerUser) -> Result<(), BackendError> {
        let mut command = Command::new(binaries.initdb());
        command
            .arg("-D")
            .arg(self.data_dir())
            .args(INITDB_ARGS)
            .stdin(Stdio::null());
        user.apply(&mut command);
        let output = command
            .output()
            .map_err(|e| BackendError::io("run initdb", e))?;
        if !output.status.success() {
            return Err(BackendError::Initdb {
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(())
    }

    fn spawn_postmaster(
        &self,
        binaries: &PgBinaries,
        user: &ServerUser,
    ) -> Result<Child, BackendError> {
        let mut command = Command::new(binaries.postgres());
        command.arg("-D").arg(self.data_dir());
        command.arg("-k").arg(self.socket_dir());
        for setting in SERVER_SETTINGS {
            command.arg("-c").arg(setting);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group: Ctrl-C in the terminal goes to us, not to the
            // server, so shutdown stays in the watchdog's hands.
            .process_group(0);
        user.apply(&mut command);
        let mut child = command
            .spawn()
            .map_err(|e| BackendError::io("start postgres", e))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let (ready_tx, ready_rx) = mpsc::channel();
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let thread_tail = Arc::clone(&tail);
        std::thread::Builder::new()
            .name("postgres-log".into())
            .spawn(move || forward_server_log(stderr, ready_tx, thread_tail))
            .map_err(|e| BackendError::io("read the server log", e))?;
        match ready_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(()) => Ok(child),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log: Vec<String> = tail.lock().expect("log tail").iter().cloned().collect();
                Err(BackendError::ServerDidNotStart {
                    log: log.join("\n"),
                })
            }
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.watchdog.release();
        if let Some(mut child) = self.postmaster.take() {
            let _ = child.wait();
        }
    }
}

/// `initdb`'s arguments (after `-D`); part of the cache key.
const INITDB_ARGS: &[&str] = &[
    "-U",
    SUPERUSER,
    "-A",
    "trust",
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
    "--no-instructions",
];

/// Settings for a cluster whose contents never need to survive: no fsync, no TCP.
const SERVER_SETTINGS: &[&str] = &[
    "listen_addresses=",
    "unix_socket_permissions=0777",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "wal_level=minimal",
    "max_wal_senders=0",
    "max_connections=64",
    "shared_buffers=128MB",
    "autovacuum=off",
    "log_min_messages=warning",
    "log_checkpoints=off",
];

/// Reads the server's stderr until it ends: signals readiness once, keeps a tail for
/// error messages, and keeps the pipe drained so the server never blocks on logging.
fn forward_server_log(
    stderr: impl std::io::Read,
    ready: mpsc::Sender<()>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if line.contains(READY_LINE) {
            let _ = ready.send(());
        }
        tracing::trace!(target: "smta_verify::postgres", "{line}");
        let mut tail = tail.lock().expect("log tail");
        if tail.len() == 40 {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// The OS user that runs the server: ourselves, unless we are root.
struct ServerUser(Option<(Uid, Gid)>);

impl ServerUser {
    fn pick() -> Result<Self, BackendError> {
        if !Uid::effective().is_root() {
            return Ok(Self(None));
        }
        for name in ["postgres", "nobody"] {
            if let Ok(Some(user)) = User::from_name(name) {
                return Ok(Self(Some((user.uid, user.gid))));
            }
        }
        Err(BackendError::NoServerUser)
    }

    fn apply(&self, command: &mut Command) {
        if let Some((uid, gid)) = self.0 {
            // std also drops root's supplementary groups when it switches uid.
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
    }

    fn take_ownership_of(&self, path: &Path) -> Result<(), BackendError> {
        if let Some((uid, gid)) = self.0 {
            nix::unistd::chown(path, Some(uid), Some(gid)).map_err(|e| {
                BackendError::io("prepare the cluster directory", std::io::Error::from(e))
            })?;
        }
        Ok(())
    }

    fn take_ownership(&self, root: &Path) -> Result<(), BackendError> {
        let io = |e| BackendError::io("prepare the cluster directory", e);
        fs::set_permissions(root, fs::Permissions::from_mode(0o700)).map_err(io)?;
        if let Some((uid, gid)) = self.0 {
            for path in [root.to_path_buf(), root.join("data"), root.join("sock")] {
                nix::unistd::chown(&path, Some(uid), Some(gid))
                    .map_err(|e| io(std::io::Error::from(e)))?;
            }
        }
        Ok(())
    }
}

/// Removes clusters whose owner process is gone, stopping their server first.
/// Where throwaway clusters live: in memory (`/dev/shm`, a tmpfs on Linux) when it has
/// room to spare, else the temporary directory. A cluster is written and thrown away
/// within seconds; on a disk, copying its data directory and cloning its databases
/// cost the kernel about as much time as the checks themselves. `TMPDIR`, when set,
/// is honoured as the user's choice.
fn cluster_base() -> PathBuf {
    const SHM: &str = "/dev/shm";
    /// A cluster with a template and its clones takes well under 200 MiB; a small
    /// `/dev/shm` (64 MiB in a default Docker container) is left alone.
    const ROOM: u64 = 1 << 30;
    if std::env::var_os("TMPDIR").is_some() {
        return std::env::temp_dir();
    }
    // The field types differ between platforms (u32 on some): widen them all.
    #[allow(clippy::useless_conversion)]
    let roomy = nix::sys::statvfs::statvfs(SHM).is_ok_and(|v| {
        u64::from(v.blocks_available()).saturating_mul(u64::from(v.fragment_size())) >= ROOM
    });
    let writable = nix::unistd::access(SHM, nix::unistd::AccessFlags::W_OK).is_ok();
    if roomy && writable {
        PathBuf::from(SHM)
    } else {
        std::env::temp_dir()
    }
}

pub(crate) fn reap_stale_clusters(temp: &Path) {
    let Ok(entries) = fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let dir = entry.path();
        let stamp = fs::read_to_string(dir.join("owner")).unwrap_or_default();
        // No stamp yet means a cluster being created right now.
        if !stamp_is_dead(&stamp) {
            continue;
        }
        tracing::info!("reaping the stale cluster {}", dir.display());
        let pid_file = dir.join("data/postmaster.pid");
        if let Some(pid) = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
        {
            if is_postgres_of(pid, &dir) {
                stop_and_wait(pid);
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

/// True when `pid` is a postgres server whose data directory is inside `dir`: never
/// signal a process we did not start.
fn is_postgres_of(pid: i32, dir: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let cmdline = String::from_utf8_lossy(&cmdline);
    cmdline.contains("postgres") && cmdline.contains(&*dir.to_string_lossy())
}

fn stop_and_wait(pid: i32) {
    use nix::sys::signal::{kill, Signal};
    let pid = nix::unistd::Pid::from_raw(pid);
    if kill(pid, Signal::SIGQUIT).is_err() {
        return;
    }
    let (tx, rx) = mpsc::channel::<()>();
    // Not our child: there is nothing to wait on but its /proc entry.
    std::thread::spawn(move || {
        while Path::new(&format!("/proc/{pid}")).exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = tx.send(());
    });
    if rx.recv_timeout(Duration::from_secs(5)).is_err() {
        let _ = kill(pid, Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaping_removes_dirs_of_dead_owners_only() {
        let temp = tempfile::tempdir().unwrap();
        let dead = temp.path().join(format!("{DIR_PREFIX}dead"));
        let alive = temp.path().join(format!("{DIR_PREFIX}alive"));
        let other = temp.path().join("unrelated");
        for d in [&dead, &alive, &other] {
            fs::create_dir(d).unwrap();
        }
        fs::write(dead.join("owner"), "999999999 1").unwrap();
        fs::write(alive.join("owner"), Owner::current().spaced_stamp()).unwrap();
        reap_stale_clusters(temp.path());
        assert!(!dead.exists());
        assert!(alive.exists());
        assert!(other.exists());
    }
}
