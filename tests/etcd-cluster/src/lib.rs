//! An etcd cluster of a test's or a benchmark's own: members on free
//! loopback ports, data directories under a directory it is given, stopped
//! by PID when dropped.

use netcraq_topology::spawned::Spawned;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long [`EtcdCluster::wait_serving`] waits at most, by default.
pub const SERVING_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Free TCP ports on 127.0.0.1, held together until returned so they differ.
fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("finding a free port: {e}"))?;
    listeners.iter().map(|l| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())).collect()
}

/// An etcd cluster of the benchmark's own; its members are stopped by PID
/// when it is dropped.
pub struct EtcdCluster {
    members: Vec<Spawned>,
    pub client_urls: Vec<String>,
}

impl EtcdCluster {
    /// Starts `count` members with data directories under `dir`.
    pub fn start(etcd: &Path, count: u32, dir: &Path) -> Result<EtcdCluster, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let ports = free_ports(2 * count as usize)?;
        let (client_ports, peer_ports) = ports.split_at(count as usize);
        let url = |port: &u16| format!("http://127.0.0.1:{port}");
        let names: Vec<String> = (0..count).map(|member| format!("member{member}")).collect();
        let initial_cluster: Vec<String> =
            names.iter().zip(peer_ports).map(|(name, port)| format!("{name}={}", url(port))).collect();
        let token = format!("netcraq-bench-{}-{count}", std::process::id());
        let mut cluster = EtcdCluster { members: Vec::new(), client_urls: client_ports.iter().map(url).collect() };
        for ((name, client_port), peer_port) in names.iter().zip(client_ports).zip(peer_ports) {
            let mut command = Command::new(etcd);
            command
                .args(["--name", name, "--data-dir"])
                .arg(dir.join(name))
                .args(["--listen-client-urls", &url(client_port), "--advertise-client-urls", &url(client_port)])
                .args(["--listen-peer-urls", &url(peer_port), "--initial-advertise-peer-urls", &url(peer_port)])
                .args(["--initial-cluster", &initial_cluster.join(","), "--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", &token])
                .args(["--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]);
            cluster.members.push(Spawned::start(name, command, dir, false)?);
        }
        Ok(cluster)
    }

    pub fn members(&self) -> u32 {
        self.members.len() as u32
    }

    /// Every member's PID, in member order.
    pub fn pids(&self) -> Vec<u32> {
        self.members.iter().map(Spawned::pid).collect()
    }

    /// Sends `signal` to member `index` (SIGKILL, SIGSTOP, SIGCONT in fault tests).
    pub fn signal_member(&self, index: usize, signal: libc::c_int) {
        if let Some(member) = self.members.get(index) {
            member.signal(signal);
        }
    }

    /// Waits until every member that runs answers its `/health` with
    /// `"health":"true"`, or fails after `timeout` with what it saw last.
    pub fn wait_serving(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        for url in self.client_urls.clone() {
            loop {
                self.check_running()?;
                let last = match health(&url) {
                    Ok(body) if body.contains("\"health\":\"true\"") => break,
                    Ok(body) => format!("{url}/health answered {body}"),
                    Err(error) => format!("{url}/health: {error}"),
                };
                if Instant::now() >= deadline {
                    return Err(format!("etcd did not serve within {timeout:?}: {last}"));
                }
                std::thread::sleep(POLL_INTERVAL);
            }
        }
        Ok(())
    }

    /// Fails, with the member's last log lines, when one of them has ended.
    pub fn check_running(&mut self) -> Result<(), String> {
        for member in &mut self.members {
            if let Some(status) = member.try_status() {
                return Err(format!("etcd {} ended ({status}):\n{}", member.name, member.stderr_tail(10)));
            }
        }
        Ok(())
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            if let (_, true) = member.stop(Some(libc::SIGTERM)) {
                eprintln!("bench: etcd {} had to be killed", member.name);
            }
        }
    }
}


/// The body of `GET /health` at `url` (`http://127.0.0.1:PORT`), over one
/// HTTP/1.0 request bounded by a second.
fn health(url: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let address: std::net::SocketAddr = address.parse().map_err(|e| format!("{address}: {e}"))?;
    let limit = Duration::from_secs(1);
    let mut stream = std::net::TcpStream::connect_timeout(&address, limit).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
    stream.write_all(b"GET /health HTTP/1.0\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.take(64 * 1024).read_to_string(&mut response).map_err(|e| e.to_string())?;
    Ok(response.split_once("\r\n\r\n").map_or(response.clone(), |(_, body)| body.to_string()))
}

/// Whether `etcd` runs here: tests that need it print SKIP otherwise.
pub fn etcd_installed(etcd: &Path) -> bool {
    Command::new(etcd).arg("--version").output().is_ok_and(|output| output.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_differ() {
        let ports = free_ports(4).unwrap();
        assert!(ports.iter().all(|p| *p > 0) && ports.windows(2).all(|w| w[0] != w[1]), "{ports:?}");
    }

    /// A one-member cluster serves, then its member is gone by PID when dropped.
    #[test]
    fn a_cluster_serves_and_is_stopped_when_dropped() {
        if !etcd_installed(Path::new("etcd")) {
            eprintln!("SKIP: etcd is not installed (apt-get install -y etcd-server)");
            return;
        }
        let dir = std::env::temp_dir().join(format!("netcraq-etcd-cluster-test-{}", std::process::id()));
        let mut cluster = EtcdCluster::start(Path::new("etcd"), 1, &dir).unwrap();
        cluster.wait_serving(SERVING_TIMEOUT).unwrap();
        let pid = cluster.pids()[0];
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(cluster);
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(state.is_empty(), "etcd {pid} still runs: {state}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
