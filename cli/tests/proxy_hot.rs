//! Hot reads through real processes: a NetCRAQ chain of `netcraq node`s on
//! network namespaces, an etcd, and two `netcraq proxy`s that place one key
//! (docs/kubernetes.md "Hot reads"). etcdctl reads of the placed key are
//! answered from a proxy's cache (its counters say so); clients write and
//! read it concurrently through both proxies while one is killed and
//! restarted, and the history is linearizable. Needs root, etcd and
//! etcdctl (NETCRAQ_ETCD, NETCRAQ_ETCDCTL, by default Debian's); without
//! them it prints SKIP.

mod support;

use netcraq_etcd_cluster::{EtcdCluster, SERVING_TIMEOUT};
use netcraq_linearizability::{check, save_history_if_requested, CheckResult, History, Operation, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use support::{line_topology, running_as_root, Chain};

const KEY: &str = "/registry/hot";
const BOUND: Duration = Duration::from_secs(30);

fn binary(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// A running `netcraq proxy` and its stdout lines.
struct Proxy {
    child: Child,
    lines: mpsc::Receiver<String>,
    address: String,
}

impl Proxy {
    /// Starts proxy `index` of two, reaching NetCRAQ at `node` from namespace
    /// `netns`, and waits until its hot reads are ready.
    fn start(index: u16, etcd: &str, node: &str, netns: &str) -> Proxy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netcraq"))
            .args(["proxy", "--listen", "127.0.0.1:0", "--etcd", etcd, "--netcraq-node", node])
            .args(["--netcraq-netns", netns, "--netcraq-timeout-ms", "100", "--proxies", "2"])
            .args(["--proxy-index", &index.to_string(), "--place", &format!("0={KEY}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting netcraq proxy");
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let mut address = None;
        loop {
            let line = lines.recv_timeout(BOUND).expect("the proxy reports its start");
            if let Some(rest) = line.strip_prefix("netcraq proxy: serving etcd's v3 API on ") {
                address = rest.split(',').next().map(str::to_string);
            }
            if line.starts_with("netcraq proxy: hot reads of 1 placed keys ready") {
                break;
            }
        }
        Proxy { child, lines, address: address.expect("the proxy said where it serves") }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL to the proxy");
        self.child.wait().unwrap();
    }

    /// Stops it with SIGTERM and returns its hot-read hits.
    fn stop(mut self) -> u64 {
        // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + BOUND;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the proxy did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
        let last = self.lines.iter().find(|line| line.contains("stopped; hot reads:")).expect("a summary");
        let hits = last.split("hot reads: ").nth(1).and_then(|rest| rest.split(' ').next());
        hits.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no hit count in {last:?}"))
    }
}

fn etcdctl(endpoint: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(binary("NETCRAQ_ETCDCTL", "/usr/bin/etcdctl"))
        .env("ETCDCTL_API", "3")
        .args([&format!("--endpoints={endpoint}"), "--command-timeout=5s", "--dial-timeout=2s"])
        .args(args)
        .output()
        .expect("running etcdctl");
    match output.status.success() {
        true => Ok(String::from_utf8(output.stdout).unwrap()),
        false => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
    }
}

/// The value `etcdctl get` printed: zeros for no key, as the history's registers start.
fn value_of(printed: &str) -> Value {
    let mut value = [0; 16];
    if let Some(text) = printed.lines().nth(1) {
        value[..text.len()].copy_from_slice(text.as_bytes());
    }
    value
}

fn as_value(text: &str) -> Value {
    value_of(&format!("{KEY}\n{text}\n"))
}

#[test]
fn hot_reads_through_two_proxies_stay_linearizable_across_a_crash() {
    if !running_as_root("hot_reads_through_two_proxies_stay_linearizable_across_a_crash") {
        return;
    }
    let etcd = binary("NETCRAQ_ETCD", "/usr/bin/etcd");
    if !netcraq_etcd_cluster::etcd_installed(&etcd) || etcdctl("127.0.0.1:1", &["version"]).is_err() {
        eprintln!("SKIP: etcd or etcdctl does not run (apt-get install -y etcd-server etcd-client)");
        return;
    }
    let chain = Chain::up(&line_topology(3, "CRAQ", ""));
    let netns = |host: &str| chain.running.namespace(host).expect("host").name().to_string();
    let dir = std::env::temp_dir().join(format!("netcraq-proxy-hot-{}", std::process::id()));
    let mut cluster = EtcdCluster::start(&etcd, 1, &dir).unwrap();
    cluster.wait_serving(SERVING_TIMEOUT).unwrap();
    let url = cluster.client_urls[0].clone();
    let first = Proxy::start(0, &url, "10.0.0.1", &netns("h1"));
    let second = Proxy::start(1, &url, "10.0.0.3", &netns("h2"));

    // A write through one proxy, then reads through the other: the first
    // fills its cache, the next are hits.
    assert_eq!(etcdctl(&first.address, &["put", KEY, "v0"]).unwrap(), "OK\n");
    for _ in 0..3 {
        assert_eq!(etcdctl(&second.address, &["get", KEY]).unwrap(), format!("{KEY}\nv0\n"));
    }

    // Concurrent writers and readers through both proxies; the first proxy
    // is killed twice while they run, and restarted with the same index.
    let addresses = Arc::new(Mutex::new([first.address.clone(), second.address.clone()]));
    let history = Arc::new(Mutex::new(History::new()));
    let started = Instant::now();
    let now = move || started.elapsed().as_nanos() as u64;
    history.lock().unwrap().push(Operation::write(0, 0, 0, 1, as_value("v0")));
    let clients: Vec<_> = (1..=4u32)
        .map(|client| {
            let (addresses, history) = (addresses.clone(), history.clone());
            std::thread::spawn(move || {
                for n in 0..20 {
                    let endpoint = addresses.lock().unwrap()[client as usize % 2].clone();
                    let invoked = now();
                    if n % 3 == 0 {
                        let text = format!("c{client}-{n}");
                        let operation = match etcdctl(&endpoint, &["put", KEY, &text]) {
                            Ok(_) => Operation::write(client, 0, invoked, now(), as_value(&text)),
                            Err(_) => Operation::indeterminate_write(client, 0, invoked, now(), as_value(&text)),
                        };
                        history.lock().unwrap().push(operation);
                    } else if let Ok(printed) = etcdctl(&endpoint, &["get", KEY]) {
                        history.lock().unwrap().push(Operation::read(client, 0, invoked, now(), value_of(&printed)));
                    }
                }
            })
        })
        .collect();
    let mut first = first;
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(700));
        first.kill();
        first = Proxy::start(0, &url, "10.0.0.1", &netns("h1"));
        addresses.lock().unwrap()[0] = first.address.clone();
    }
    for client in clients {
        client.join().expect("a client thread");
    }
    let mut history = Arc::try_unwrap(history).unwrap().into_inner().unwrap();
    for (reader, proxy) in [(10, &first), (11, &second)] {
        let invoked = now();
        let printed = etcdctl(&proxy.address, &["get", KEY]).expect("a final read");
        history.push(Operation::read(reader, 0, invoked, now(), value_of(&printed)));
    }
    save_history_if_requested(&history, "proxy-hot-reads").expect("saves the history");
    assert!(history.len() > 40, "most operations recorded: {}", history.len());
    match check(&history) {
        CheckResult::Linearizable => {}
        other => panic!("{other:?}"),
    }

    let hits = first.stop() + second.stop();
    assert!(hits >= 2, "reads of the placed key were answered from a cache: {hits} hits");
    drop(cluster);
    drop(chain);
    std::fs::remove_dir_all(&dir).unwrap();
}
