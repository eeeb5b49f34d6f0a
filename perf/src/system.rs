//! What the benchmark sets up on the machine and takes down again: child
//! processes (stopped by PID, in order), hugepages (through
//! `hugepages/hugepages.sh`), a network namespace with a veth pair, and a
//! scratch directory. Each is a guard that undoes itself when dropped, so an
//! error or Ctrl-C anywhere still cleans up.

use netcraq_topology::{run_command, Namespace, IP_COMMAND_TIMEOUT};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Pause between two looks at a waited-for file.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
pub use netcraq_topology::spawned::{set_autogroup_nice, Spawned};

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
