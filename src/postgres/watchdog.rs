//! A cleanup process that outlives us: the reason nothing leaks when a run dies.
//!
//! `Drop` does not run on SIGKILL, on Ctrl-C without a handler, or for values in
//! statics (a cluster shared by all tests of a binary). So every backend hands its
//! cleanup to a watchdog: a small `sh` in its own session, ignoring terminal signals,
//! blocked reading a pipe whose only writer is this process. The pipe closes when we
//! release the watchdog or when the process ends for any reason; the watchdog then runs
//! the cleanup. Normal teardown goes through the same path, so the path that matters
//! after a crash is exercised by every run.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// A running watchdog; dropping it (or the process ending) triggers the cleanup.
#[derive(Debug)]
pub(crate) struct Watchdog {
    child: Option<Child>,
}

impl Watchdog {
    /// Starts `sh` with `cleanup` as the script to run once the owner lets go.
    /// `env` passes values (paths, ids) so the script never needs quoting.
    pub(crate) fn spawn(cleanup: &str, env: &[(&str, String)]) -> io::Result<Self> {
        let script = format!("trap '' INT TERM HUP QUIT PIPE\nread -r _ || :\n{cleanup}\n");
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid().map_err(io::Error::from)?;
                Ok(())
            });
        }
        Ok(Self {
            child: Some(command.spawn()?),
        })
    }

    /// Runs the cleanup now and waits until it has finished.
    pub(crate) fn release(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.release();
    }
}

/// The shell snippet that stops a process by pid and waits until it is gone (or a
/// zombie waiting for its parent to reap it).
pub(crate) const STOP_PROCESS_SH: &str = r#"
stop_process() {
  [ -n "$1" ] || return 0
  kill -QUIT "$1" 2>/dev/null || return 0
  i=0
  while [ -e "/proc/$1" ] && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 500 ]; then kill -KILL "$1" 2>/dev/null; fi
    sleep 0.01
  done
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_runs_on_release_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("cleaned");
        let mut dog = Watchdog::spawn(
            r#"touch "$MARKER""#,
            &[("MARKER", marker.display().to_string())],
        )
        .unwrap();
        assert!(!marker.exists(), "cleanup ran before release");
        dog.release();
        assert!(marker.exists(), "cleanup did not run on release");
    }
}
