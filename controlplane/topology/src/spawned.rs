//! A child process of a benchmark or test: in a session of its own, its
//! output in files, stopped by PID (never by name) and reaped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Pause between two looks at a waited-for process.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long a stopped process may take before it is killed.
pub const SPAWNED_STOP_GRACE: Duration = Duration::from_secs(10);

/// A child process in a session of its own, with its output in files.
/// Killed and reaped when dropped, if still running.
///
/// Its own session keeps a terminal's Ctrl-C away from it (the benchmark
/// stops its children in order), and gives it an autogroup of its own: with
/// the kernel's autogroup scheduling, CPU time is shared fairly between
/// sessions first, so pollers in one session would split one share, and a
/// process's nice value counts only within its session. The autogroup's
/// nice value (`/proc/PID/autogroup`) is what weighs against other work.
#[derive(Debug)]
pub struct Spawned {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    status: Option<ExitStatus>,
}

impl Spawned {
    /// Starts `command` with its stdout and stderr in `<dir>/<name>.out` and
    /// `.err`; with `keep_stdin`, its stdin is a pipe held open until
    /// [`Spawned::close_stdin`] (dpdk-testpmd exits when it closes).
    pub fn start(name: &str, command: Command, dir: &Path, keep_stdin: bool) -> Result<Spawned, String> {
        Spawned::start_with_nice(name, command, dir, keep_stdin, 0)
    }

    /// As [`Spawned::start`], with `nice` (-20..=19) as its autogroup's nice value.
    pub fn start_with_nice(
        name: &str,
        mut command: Command,
        dir: &Path,
        keep_stdin: bool,
        nice: i32,
    ) -> Result<Spawned, String> {
        let stdout_path = dir.join(format!("{name}.out"));
        let stderr_path = dir.join(format!("{name}.err"));
        let open = |path: &Path| File::create(path).map_err(|e| format!("creating {}: {e}", path.display()));
        command.stdout(open(&stdout_path)?).stderr(open(&stderr_path)?).stdin(if keep_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        // A session of its own, so that its autogroup (and the nice value
        // set on it below) is its own.
        crate::start_in_new_session(&mut command);
        let line = crate::command_line(&command);
        let mut child = command.spawn().map_err(|e| format!("starting `{line}`: {e}"))?;
        let stdin = child.stdin.take();
        let spawned = Spawned { name: name.to_string(), child, stdin, stdout_path, stderr_path, status: None };
        if nice != 0 {
            set_autogroup_nice(&spawned.pid().to_string(), nice).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(spawned)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the process (only while it is unreaped, so the PID is still ours).
    pub fn signal(&self, signal: libc::c_int) {
        if self.status.is_none() {
            // The PID is our unreaped child's, so it names no other process.
            crate::send_signal(self.child.id() as libc::pid_t, signal);
        }
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The exit status once the process has ended (reaping it).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits until the process ends or `deadline` passes.
    pub fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Asks the process to stop (`signal`, or closing its stdin when
    /// `signal` is `None`), waits up to [`SPAWNED_STOP_GRACE`], then kills it.
    /// Returns its status, and whether it had to be killed.
    pub fn stop(&mut self, signal: Option<libc::c_int>) -> (Option<ExitStatus>, bool) {
        match signal {
            Some(signal) => self.signal(signal),
            None => self.close_stdin(),
        }
        if let Some(status) = self.wait_until(Instant::now() + SPAWNED_STOP_GRACE) {
            return (Some(status), false);
        }
        self.signal(libc::SIGKILL);
        (self.wait_until(Instant::now() + SPAWNED_STOP_GRACE), true)
    }

    /// The last `lines` lines of its stderr, for error messages.
    pub fn stderr_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            self.signal(libc::SIGKILL);
            let _ = self.wait_until(Instant::now() + SPAWNED_STOP_GRACE);
        }
    }
}

/// Sets the nice value of the autogroup (session) of process `pid` (a
/// number, or `self`): what weighs its session against other work.
pub fn set_autogroup_nice(pid: &str, nice: i32) -> Result<(), String> {
    let path = format!("/proc/{pid}/autogroup");
    std::fs::write(&path, nice.to_string()).map_err(|e| format!("setting nice {nice} in {path}: {e}"))
}
