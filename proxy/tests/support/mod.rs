//! A one-member etcd of the test's own with a proxy in front of it, both
//! stopped when dropped (etcd by PID) and their directory removed.

#![allow(dead_code)] // each test binary uses part of it

use netcraq_etcd_cluster::{EtcdCluster, SERVING_TIMEOUT};
use netcraq_proxy::{Counters, Limits, Upstream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// Any etcdctl call, the proxy's shutdown and a watch's next event finish within this.
pub const BOUND: Duration = Duration::from_secs(10);

/// The etcd server: NETCRAQ_ETCD, by default Debian's 3.4.
pub fn etcd_binary() -> PathBuf {
    std::env::var_os("NETCRAQ_ETCD").map_or_else(|| PathBuf::from("/usr/bin/etcd"), PathBuf::from)
}

/// The etcd command-line client: NETCRAQ_ETCDCTL, by default Debian's 3.4.
pub fn etcdctl_binary() -> PathBuf {
    std::env::var_os("NETCRAQ_ETCDCTL").map_or_else(|| PathBuf::from("/usr/bin/etcdctl"), PathBuf::from)
}

/// Whether `binary` runs (`etcd --version`, `etcdctl version`); prints SKIP
/// with the reason otherwise.
pub fn installed(binary: &Path, version_args: &[&str], test: &str) -> bool {
    let runs = Command::new(binary)
        .env("ETCDCTL_API", "3")
        .args(version_args)
        .output()
        .is_ok_and(|output| output.status.success());
    if !runs {
        eprintln!(
            "SKIP {test}: {} does not run (apt-get install -y etcd-server etcd-client, or set NETCRAQ_ETCD/NETCRAQ_ETCDCTL)",
            binary.display()
        );
    }
    runs
}

/// A proxy served on a runtime of its own, until dropped.
pub struct Proxy {
    pub url: String,
    pub counters: Arc<Counters>,
    pub runtime: Runtime,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl Proxy {
    pub fn start(etcd_urls: &[String], limits: Limits) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let (url, counters, served) = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let upstream = Upstream::new(etcd_urls, limits).unwrap();
            let counters = upstream.counters();
            let served = tokio::spawn(netcraq_proxy::run(listener, upstream, async {
                stopped.await.ok();
            }));
            (url, counters, served)
        });
        Proxy { url, counters, runtime, stop: Some(stop), served: Some(served) }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|stop| stop.send(()));
        if let Some(served) = self.served.take() {
            let ended = self.runtime.block_on(async { tokio::time::timeout(BOUND, served).await });
            assert!(ended.is_ok() || std::thread::panicking(), "the proxy did not stop within {BOUND:?}");
        }
    }
}

/// One etcd member with a proxy in front.
pub struct Fixture {
    pub proxy: Proxy,
    pub etcd_url: String,
    cluster: Option<EtcdCluster>,
    dir: PathBuf,
}

impl Fixture {
    /// None, after printing SKIP, when etcd does not run here.
    pub fn start(test: &str) -> Option<Fixture> {
        Fixture::start_with(test, Limits::default())
    }

    pub fn start_with(test: &str, limits: Limits) -> Option<Fixture> {
        let etcd = etcd_binary();
        if !installed(&etcd, &["--version"], test) {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("netcraq-proxy-{test}-{}", std::process::id()));
        let mut cluster = EtcdCluster::start(&etcd, 1, &dir).unwrap();
        cluster.wait_serving(SERVING_TIMEOUT).unwrap();
        let etcd_url = cluster.client_urls[0].clone();
        let proxy = Proxy::start(std::slice::from_ref(&etcd_url), limits);
        Some(Fixture { proxy, etcd_url, cluster: Some(cluster), dir })
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop(self.cluster.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `command`'s exit status, stdout and stderr, or an error when it runs
/// longer than `limit` (it is then killed by its PID).
pub fn run_bounded(command: &mut Command, stdin: &str, limit: Duration) -> Result<(bool, String, String), String> {
    use std::io::{Read, Write};
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {command:?}: {e}"))?;
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{command:?} ran longer than {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).map_err(|e| e.to_string())?;
    child.stderr.take().unwrap().read_to_string(&mut stderr).map_err(|e| e.to_string())?;
    Ok((status.success(), stdout, stderr))
}
