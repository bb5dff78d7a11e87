//! Who owns a server, database or container, so that leftovers of dead runs can be reaped.
//!
//! A watchdog cleans up after a run that dies, but a watchdog can die too (SIGKILL of a
//! whole process group, a reboot, OOM). Every backend therefore stamps what it creates
//! with its owner — pid plus the process's start time, because pids are reused — and
//! reaps, at its next start, whatever carries the stamp of a process that no longer
//! exists. A pid only means something inside one boot and one pid namespace, so the
//! stamp also names that *scope*; things stamped in another scope (another machine
//! sharing a Docker engine or a database server) are never judged, never touched.

use std::fs;

/// The owner of a resource: a process, identified in a way that survives pid reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pid: u32,
    start_time: String,
}

impl Owner {
    /// This process.
    pub(crate) fn current() -> Self {
        let pid = std::process::id();
        Self {
            pid,
            start_time: process_start_time(pid).unwrap_or_default(),
        }
    }

    /// `pid:start-time`, the form stored in labels, files and comments.
    pub(crate) fn stamp(&self) -> String {
        format!("{}:{}", self.pid, self.start_time)
    }

    /// `pid start-time`: the form of the local backend's `owner` files. Earlier
    /// versions read only this form and take any other for a dead owner, so a live
    /// cluster stamped otherwise would be deleted under a concurrent older run.
    pub(crate) fn spaced_stamp(&self) -> String {
        format!("{} {}", self.pid, self.start_time)
    }

    /// Reads a stamp; the local backend's older `pid start-time` form is accepted too.
    pub(crate) fn parse(stamp: &str) -> Option<Self> {
        let (pid, start) = stamp.trim().split_once([':', ' '])?;
        let pid = pid.parse().ok()?;
        let start = start.trim();
        if start.is_empty() || !start.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            pid,
            start_time: start.to_string(),
        })
    }

    /// True while the very process that wrote the stamp runs (a zombie counts: its
    /// parent has not collected it yet, so it is not gone).
    pub(crate) fn is_alive(&self) -> bool {
        process_start_time(self.pid).is_some_and(|now| now == self.start_time)
    }
}

/// True when `stamp` names a process that is gone. A stamp that cannot be read is not
/// proof of anything, so it is never called dead.
pub(crate) fn stamp_is_dead(stamp: &str) -> bool {
    Owner::parse(stamp).is_some_and(|owner| !owner.is_alive())
}

/// The boot and pid namespace our pids are valid in: `boot-id/pid-namespace-inode`.
pub(crate) fn scope() -> String {
    let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let namespace = fs::read_link("/proc/self/ns/pid")
        .ok()
        .and_then(|link| {
            let link = link.to_string_lossy().into_owned();
            // The link reads `pid:[4026531836]`.
            let inode = link.strip_prefix("pid:[")?.strip_suffix(']')?;
            Some(inode.to_string())
        })
        .unwrap_or_default();
    format!("{boot}/{namespace}")
}

fn process_start_time(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime), counted after the parenthesised command name, which may
    // itself contain spaces and parentheses.
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split_whitespace().nth(19).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_stamp_is_alive_and_a_changed_start_time_is_not() {
        let me = Owner::current();
        assert!(me.is_alive());
        assert!(!stamp_is_dead(&me.stamp()));
        let pid = std::process::id();
        assert!(stamp_is_dead(&format!("{pid}:1")));
        assert!(stamp_is_dead(&format!("{pid} 1")), "the older form");
    }

    #[test]
    fn unreadable_stamps_are_never_called_dead() {
        for stamp in ["", "garbage", "12:", ":34", "12:ab", "99999999999999:1"] {
            assert!(!stamp_is_dead(stamp), "{stamp:?}");
        }
    }

    #[test]
    fn scope_names_boot_and_namespace() {
        let scope = scope();
        let (boot, ns) = scope.split_once('/').unwrap();
        assert_eq!(boot.len(), 36, "{scope}");
        assert!(ns.parse::<u64>().is_ok(), "{scope}");
    }
}
