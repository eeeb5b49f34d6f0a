//! What the benchmark sets up on the machine and takes down again: child
//! processes (stopped by PID, in order), hugepages (through
//! `hugepages/hugepages.sh`), a network namespace with a veth pair, and a
//! scratch directory. Each is a guard that undoes itself when dropped, so an
//! error or Ctrl-C anywhere still cleans up.

use netcraq_topology::{run_command, Namespace, IP_COMMAND_TIMEOUT};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Pause between two looks at a waited-for process or file.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long a stopped process may take before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<u32> {
    parse_cpu_list(&netcraq_dpdk::allowed_cpu_list().unwrap_or_default())
}

/// `0-3,6` as [0, 1, 2, 3, 6]; what does not parse is left out; at most 1024 CPUs.
pub fn parse_cpu_list(list: &str) -> Vec<u32> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>(), b.trim().parse::<u32>()),
            None => (part.parse::<u32>(), part.parse::<u32>()),
        };
        if let (Ok(first), Ok(last)) = (first, last) {
            cpus.extend((first..=last.min(first.saturating_add(1023))).take(1024 - cpus.len().min(1024)));
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    cpus
}

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
        netcraq_topology::start_in_new_session(&mut command);
        let line = netcraq_topology::command_line(&command);
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
            netcraq_topology::send_signal(self.child.id() as libc::pid_t, signal);
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
    /// `signal` is `None`), waits up to [`STOP_GRACE`], then kills it.
    /// Returns its status, and whether it had to be killed.
    pub fn stop(&mut self, signal: Option<libc::c_int>) -> (Option<ExitStatus>, bool) {
        match signal {
            Some(signal) => self.signal(signal),
            None => self.close_stdin(),
        }
        if let Some(status) = self.wait_until(Instant::now() + STOP_GRACE) {
            return (Some(status), false);
        }
        self.signal(libc::SIGKILL);
        (self.wait_until(Instant::now() + STOP_GRACE), true)
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
            let _ = self.wait_until(Instant::now() + STOP_GRACE);
        }
    }
}

/// Hugepages reserved with `hugepages/hugepages.sh reserve` and released
/// with `release` on drop; when the script had already reserved pages,
/// they are used and left as they were.
#[derive(Debug)]
pub struct Hugepages {
    script: PathBuf,
    release_on_drop: bool,
    pub note: String,
}

impl Hugepages {
    pub fn reserve(script: &Path, pages: u32) -> Result<Hugepages, String> {
        if !script.is_file() {
            return Err(format!("{} not found: give the script with --hugepages-script", script.display()));
        }
        if Path::new("/run/netcraq/hugepages.state").exists() {
            let note = "hugepages already reserved by hugepages.sh: used as they are and left reserved".to_string();
            return Ok(Hugepages { script: script.to_path_buf(), release_on_drop: false, note });
        }
        let mut command = Command::new("bash");
        command.arg(script).arg("reserve").arg(pages.to_string());
        let output = run_command(&mut command, Duration::from_secs(60)).map_err(|e| e.to_string())?;
        let note = output.lines().next().unwrap_or("reserved").to_string();
        Ok(Hugepages { script: script.to_path_buf(), release_on_drop: true, note })
    }
}

impl Drop for Hugepages {
    fn drop(&mut self) {
        if self.release_on_drop {
            let mut command = Command::new("bash");
            command.arg(&self.script).arg("release");
            match run_command(&mut command, Duration::from_secs(60)) {
                Ok(output) => eprintln!("bench: hugepages {}", output.trim()),
                Err(error) => {
                    eprintln!("bench: releasing hugepages failed: {error}; run `hugepages/hugepages.sh release`")
                }
            }
        }
    }
}

/// Two ends of a veth pair, each an (interface, MAC address).
pub type VethPair = ((String, String), (String, String));

/// A network namespace of the benchmark's own, deleted (with its
/// interfaces) when dropped.
#[derive(Debug)]
pub struct OwnNamespace {
    pub namespace: Namespace,
}

impl OwnNamespace {
    /// Creates the namespace with a quiet kernel (no IPv6 chatter) and veth
    /// pairs `a`—`b` inside it, up, each side an (interface, MAC address).
    pub fn with_veth_pairs(name: &str, pairs: &[VethPair]) -> Result<OwnNamespace, String> {
        let ip = |args: &[&str]| {
            run_command(Command::new("ip").args(args), IP_COMMAND_TIMEOUT).map(|_| ()).map_err(|e| e.to_string())
        };
        ip(&["netns", "add", name])?;
        let own = OwnNamespace { namespace: Namespace::named(name) };
        let quiet = own.namespace.run(|| {
            for scope in ["all", "default"] {
                let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{scope}/disable_ipv6"), "1");
            }
        });
        quiet.map_err(|e| format!("entering namespace {name}: {e}"))?;
        for ((a, a_mac), (b, b_mac)) in pairs {
            ip(&["-n", name, "link", "add", a, "address", a_mac, "type", "veth", "peer", "name", b, "address", b_mac])?;
            for interface in [a, b] {
                ip(&["-n", name, "link", "set", interface, "up"])?;
            }
        }
        Ok(own)
    }
}

impl Drop for OwnNamespace {
    fn drop(&mut self) {
        let mut command = Command::new("ip");
        command.args(["netns", "delete", self.namespace.name()]);
        if let Err(error) = run_command(&mut command, IP_COMMAND_TIMEOUT) {
            eprintln!("bench: {error}");
        }
    }
}

/// A scratch directory, removed with its contents when dropped.
#[derive(Debug)]
pub struct ScratchDir {
    pub path: PathBuf,
}

impl ScratchDir {
    pub fn new(prefix: &str) -> Result<ScratchDir, String> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        Ok(ScratchDir { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Waits for `path` to exist while `process` runs; fails when it ends or
/// `limit` passes first.
pub fn wait_for_file(path: &Path, process: &mut Spawned, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while !path.exists() {
        if let Some(status) = process.try_status() {
            return Err(format!("{} ended ({status}) before it was ready:\n{}", process.name, process.stderr_tail(15)));
        }
        if Instant::now() >= deadline {
            return Err(format!("{} was not ready within {limit:?}:\n{}", process.name, process.stderr_tail(15)));
        }
        if netcraq_topology::interrupted() {
            return Err("interrupted".to_string());
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    Ok(())
}

/// Sets the nice value of the autogroup (session) of process `pid` (a
/// number, or `self`): what weighs its session against other work.
pub fn set_autogroup_nice(pid: &str, nice: i32) -> Result<(), String> {
    let path = format!("/proc/{pid}/autogroup");
    std::fs::write(&path, nice.to_string()).map_err(|e| format!("setting nice {nice} in {path}: {e}"))
}

/// The CPU's model name, from /proc/cpuinfo.
pub fn cpu_model() -> Option<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let model = cpuinfo.lines().find_map(|l| l.strip_prefix("model name"))?;
    Some(model.trim_start_matches([' ', '\t', ':']).to_owned())
}

/// The running kernel's release.
pub fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-1"), [0, 1]);
        assert_eq!(parse_cpu_list("0-3,6, 8"), [0, 1, 2, 3, 6, 8]);
        assert_eq!(parse_cpu_list("x,2,1-1"), [1, 2]);
        assert_eq!(parse_cpu_list("0-4294967295").len(), 1024);
        assert!(parse_cpu_list("").is_empty());
    }
}
