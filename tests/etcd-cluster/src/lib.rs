//! An etcd cluster of a test's or a benchmark's own: members on free
//! loopback ports, data directories under a directory it is given, stopped
//! by PID when dropped.

use netcraq_topology::spawned::Spawned;
use std::path::{Path, PathBuf};
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
    /// Where each member answers `/health` over plain HTTP: its client URL,
    /// or with TLS its metrics URL.
    health_urls: Vec<String>,
}

/// The PEM files of members that serve clients over TLS only, to clients
/// with a certificate signed by `trusted_ca` (`--client-cert-auth`).
pub struct ClientTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub trusted_ca: PathBuf,
}

impl EtcdCluster {
    /// Starts `count` members with data directories under `dir`.
    pub fn start(etcd: &Path, count: u32, dir: &Path) -> Result<EtcdCluster, String> {
        EtcdCluster::start_members(etcd, count, dir, None)
    }

    /// Starts `count` members that serve clients over TLS (`https://` client
    /// URLs) and answer `/health` on a plain HTTP metrics URL.
    pub fn start_with_tls(etcd: &Path, count: u32, dir: &Path, tls: &ClientTls) -> Result<EtcdCluster, String> {
        EtcdCluster::start_members(etcd, count, dir, Some(tls))
    }

    fn start_members(etcd: &Path, count: u32, dir: &Path, tls: Option<&ClientTls>) -> Result<EtcdCluster, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        // Members with TLS have a third port: their plain HTTP metrics URL.
        let ports = free_ports(if tls.is_some() { 3 } else { 2 } * count as usize)?;
        let (client_ports, rest) = ports.split_at(count as usize);
        let (peer_ports, metrics_ports) = rest.split_at(count as usize);
        let url = |port: &u16| format!("http://127.0.0.1:{port}");
        let client_url = |port: &u16| format!("{}://127.0.0.1:{port}", if tls.is_some() { "https" } else { "http" });
        let names: Vec<String> = (0..count).map(|member| format!("member{member}")).collect();
        let initial_cluster: Vec<String> =
            names.iter().zip(peer_ports).map(|(name, port)| format!("{name}={}", url(port))).collect();
        let token = format!("netcraq-bench-{}-{count}", std::process::id());
        let client_urls: Vec<String> = client_ports.iter().map(client_url).collect();
        let health_urls = if tls.is_some() { metrics_ports.iter().map(url).collect() } else { client_urls.clone() };
        let mut cluster = EtcdCluster { members: Vec::new(), client_urls, health_urls };
        for (member, name) in names.iter().enumerate() {
            let (client, peer) = (&cluster.client_urls[member], url(&peer_ports[member]));
            let mut command = Command::new(etcd);
            command
                .args(["--name", name, "--data-dir"])
                .arg(dir.join(name))
                .args(["--listen-client-urls", client, "--advertise-client-urls", client])
                .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
                .args(["--initial-cluster", &initial_cluster.join(","), "--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", &token])
                .args(["--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]);
            if let Some(tls) = tls {
                command.arg("--cert-file").arg(&tls.cert).arg("--key-file").arg(&tls.key);
                command.arg("--trusted-ca-file").arg(&tls.trusted_ca).arg("--client-cert-auth");
                command.args(["--listen-metrics-urls", &cluster.health_urls[member]]);
            }
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
        for url in self.health_urls.clone() {
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
