//! Prometheus over HTTP from real processes (docs/metrics.md): a `netcraq
//! node` with --metrics-listen serves traffic and its outcome and I/O
//! counters move by exactly that traffic; `netcraq proxy --metrics-listen`
//! in front of a real etcd counts calls by method, Ranges and hot keys, and
//! etcd's own /metrics gives the per-method rates placement uses. The node
//! test needs root, the proxy test etcd and etcdctl; without them: SKIP.

mod support;

use netcraq_controller::placement::{etcd_method_rates, proxy_hot_keys};
use netcraq_controller::running_topology::wait_for_listeners;
use netcraq_etcd_cluster::{EtcdCluster, SERVING_TIMEOUT};
use netcraq_metrics::{parse, scrape, Samples};
use netcraq_topology::Topology;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{line_topology, running_as_root, Chain};

const TIMEOUT: Duration = Duration::from_secs(5);
/// The node's metrics port, on the loopback of its own namespace.
const NODE_METRICS: &str = "127.0.0.1:9464";

fn samples(url: &str) -> Samples {
    parse(&scrape(url, TIMEOUT).unwrap_or_else(|e| panic!("{e}"))).unwrap_or_else(|e| panic!("{url}: {e}"))
}

fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples.sum(name, labels).unwrap_or_else(|| panic!("no {name}{labels:?}"))
}

/// Every outcome's count, by name.
fn outcomes(samples: &Samples) -> Vec<(String, f64)> {
    samples
        .matching("netcraq_node_outcomes_total", &[])
        .map(|s| (s.label("outcome").expect("outcome label").to_string(), s.value))
        .collect()
}

#[test]
fn a_node_exports_its_outcomes_and_io_counters_as_they_move() {
    if !running_as_root("a_node_exports_its_outcomes_and_io_counters_as_they_move") {
        return;
    }
    let chain = Chain::up_with(&line_topology(1, "craq", ""), &["--metrics-listen", NODE_METRICS]);
    let url = format!("http://{NODE_METRICS}/metrics");
    let scrape_node = || chain.inside("n1", || samples(&url));
    let before = scrape_node();
    assert_eq!(value(&before, "netcraq_node_info", &[("node", "n1")]), 1.0);
    let (writes, reads) = (3u64, 10u64);
    chain.inside("h2", || {
        let mut client = chain.client("n1");
        for i in 0..writes {
            client.write(7, [i as u8 + 1; 16]).expect("write");
        }
        for _ in 0..reads {
            client.read(7).expect("read");
        }
    });
    let delta = |after: &Samples, name: &str, labels: &[(&str, &str)]| {
        value(after, name, labels) - value(&before, name, labels)
    };
    let outcome = |after: &Samples, name: &str| delta(after, "netcraq_node_outcomes_total", &[("outcome", name)]);
    // The node reports every 20 ms; a scrape shows the last report.
    let deadline = Instant::now() + TIMEOUT;
    let after = loop {
        let after = scrape_node();
        if outcome(&after, "READ_LOCAL") == reads as f64 || Instant::now() > deadline {
            break after;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(outcome(&after, "READ_LOCAL"), reads as f64);
    assert_eq!(outcome(&after, "WRITE_STAMPED"), writes as f64);
    assert_eq!(outcome(&after, "WRITE_RETRANSMIT"), 0.0);
    // Every frame received has exactly one outcome (NO_ROUTE is counted per output, on top).
    let counted: f64 = outcomes(&after)
        .iter()
        .zip(outcomes(&before))
        .filter(|((name, _), _)| name != "NO_ROUTE")
        .map(|((_, after), (_, before))| after - before)
        .sum();
    assert_eq!(delta(&after, "netcraq_node_rx_frames_total", &[]), counted);
    let requests = (writes + reads) as f64;
    // Ethernet, IPv4, UDP and the 20-byte NetCRAQ header: 62 bytes at least.
    assert!(delta(&after, "netcraq_node_tx_frames_total", &[]) >= requests);
    assert!(delta(&after, "netcraq_node_rx_bytes_total", &[]) >= 62.0 * requests);
    assert!(delta(&after, "netcraq_node_tx_bytes_total", &[]) >= 62.0 * requests);
    for drops in ["netcraq_node_rx_errors_total", "netcraq_node_tx_errors_total", "netcraq_node_fault_dropped_total"] {
        assert_eq!(delta(&after, drops, &[]), 0.0, "{drops}");
    }
}

fn binary(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

fn etcdctl(endpoint: &str, args: &[&str]) -> String {
    let output = Command::new(binary("NETCRAQ_ETCDCTL", "/usr/bin/etcdctl"))
        .env("ETCDCTL_API", "3")
        .args([&format!("--endpoints={endpoint}"), "--command-timeout=5s"])
        .args(args)
        .output()
        .expect("running etcdctl");
    assert!(output.status.success(), "etcdctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The proxy process, stopped by its PID on drop.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The text after `prefix` in the next line the proxy prints.
fn printed_after(lines: &mpsc::Receiver<String>, prefix: &str) -> String {
    let line = lines.recv_timeout(Duration::from_secs(10)).expect("the proxy prints");
    line.strip_prefix(prefix).unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}")).to_string()
}

/// `netcraq proxy` in front of `etcd_url`: the process, where it serves
/// etcd's API, and the URL of its metrics.
fn start_proxy(etcd_url: &str) -> (Proxy, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netcraq"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--etcd", etcd_url, "--metrics-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting netcraq proxy");
    let (sender, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let proxy = Proxy(child);
    std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).for_each(|l| drop(sender.send(l))));
    let serving = printed_after(&lines, "netcraq proxy: serving etcd's v3 API on ");
    let address = serving.split(',').next().unwrap().to_string();
    let metrics = printed_after(&lines, "netcraq proxy: metrics at ");
    printed_after(&lines, "netcraq proxy: etcd 3.");
    (proxy, address, metrics)
}

/// Starts etcd in `dir`, or says SKIP when it does not run here.
fn start_etcd(dir: &std::path::Path) -> Option<EtcdCluster> {
    let etcd = binary("NETCRAQ_ETCD", "/usr/bin/etcd");
    if !netcraq_etcd_cluster::etcd_installed(&etcd) {
        eprintln!("SKIP: etcd does not run (apt-get install -y etcd-server etcd-client)");
        return None;
    }
    let mut cluster = EtcdCluster::start(&etcd, 1, dir).unwrap();
    cluster.wait_serving(SERVING_TIMEOUT).unwrap();
    Some(cluster)
}

#[test]
fn the_proxy_and_etcd_export_what_placement_reads() {
    let dir = std::env::temp_dir().join(format!("netcraq-cli-metrics-{}", std::process::id()));
    let Some(cluster) = start_etcd(&dir) else { return };
    let etcd_url = cluster.client_urls[0].clone();
    let (proxy, address, proxy_metrics) = start_proxy(&etcd_url);

    let etcd_metrics = format!("{etcd_url}/metrics");
    let etcd_before = samples(&etcd_metrics);
    let started = Instant::now();
    assert_eq!(etcdctl(&address, &["put", "/registry/hot", "1"]), "OK\n");
    for _ in 0..5 {
        assert_eq!(etcdctl(&address, &["get", "/registry/hot"]), "/registry/hot\n1\n");
    }
    etcdctl(&address, &["get", "/registry/cold"]);
    etcdctl(&address, &["get", "--prefix", "/registry/"]);
    let etcd_after = samples(&etcd_metrics);
    let interval_s = started.elapsed().as_secs_f64();

    let proxy_samples = samples(&proxy_metrics);
    let range = [("service", "etcdserverpb.KV"), ("method", "Range")];
    assert_eq!(value(&proxy_samples, "netcraq_proxy_forwarded_total", &range), 7.0);
    assert_eq!(value(&proxy_samples, "netcraq_proxy_forwarded_total", &[("method", "Put")]), 1.0);
    assert_eq!(value(&proxy_samples, "netcraq_proxy_forwarded_total", &[("method", "Txn")]), 0.0);
    assert_eq!(value(&proxy_samples, "netcraq_proxy_ranges_forwarded_total", &[]), 7.0);
    assert_eq!(value(&proxy_samples, "netcraq_proxy_cache_candidates_total", &[]), 6.0, "all but the prefix read");
    assert_eq!(value(&proxy_samples, "netcraq_proxy_upstream_latency_seconds_count", &range), 7.0);
    assert_eq!(value(&proxy_samples, "netcraq_proxy_upstream_failures_total", &[]), 0.0);
    // Without hot reads the cache's counters are there, at zero, and nothing is placed
    // (cli/tests/kube_apiserver.rs watches them move).
    for counter in ["cache_hits", "cache_misses", "netcraq_failures", "placed_writes", "fenced_writes", "promotions"] {
        assert_eq!(value(&proxy_samples, &format!("netcraq_proxy_{counter}_total"), &[]), 0.0, "{counter}");
    }
    assert_eq!(proxy_samples.matching("netcraq_proxy_placed_slot", &[]).count(), 0);
    let hot: Vec<(String, u64)> =
        proxy_hot_keys(&proxy_samples).into_iter().map(|h| (String::from_utf8(h.key).unwrap(), h.reads)).collect();
    assert_eq!(hot, [("/registry/hot".to_string(), 5), ("/registry/cold".to_string(), 1)]);

    // etcd saw exactly the calls the proxy forwarded.
    let rates = etcd_method_rates(&etcd_before, &etcd_after, interval_s);
    assert!((rates["Range"] * interval_s - 7.0).abs() < 1e-6, "{rates:?}");
    assert!((rates["Put"] * interval_s - 1.0).abs() < 1e-6, "{rates:?}");
    drop(proxy);
    drop(cluster);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The deployment file of a chain up with [`Chain::up_managed`]: its
/// topology with every node's P4Runtime address.
fn deployment_file(chain: &Chain, topology_text: &str, path: &std::path::Path) {
    let topology = Topology::parse(topology_text).unwrap();
    let mut text = format!("timeout_ms = 3000\n\n{topology_text}");
    for (node, address) in wait_for_listeners(&topology, &chain.running).unwrap() {
        let kind_line = format!("name = \"{node}\"\nkind = \"software\"\n");
        text = text.replace(&kind_line, &format!("{kind_line}p4runtime = \"{address}\"\n"));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn ctl_top_shows_placement_and_the_controller_exports_its_probes() {
    let test = "ctl_top_shows_placement_and_the_controller_exports_its_probes";
    if !running_as_root(test) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("netcraq-cli-metrics-top-{}", std::process::id()));
    let Some(cluster) = start_etcd(&dir) else { return };
    let etcd_url = cluster.client_urls[0].clone();
    let (proxy, address, proxy_metrics) = start_proxy(&etcd_url);
    let topology_text = line_topology(1, "craq", "");
    let chain = Chain::up_managed(&topology_text);
    let deployment = dir.join("deployment.toml");
    deployment_file(&chain, &topology_text, &deployment);

    assert_eq!(etcdctl(&address, &["put", "/registry/hot", "1"]), "OK\n");
    // Reads of one key go on through the proxy while `top` measures.
    let reading = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let reader = {
        let (reading, address) = (reading.clone(), address.clone());
        std::thread::spawn(move || {
            while reading.load(std::sync::atomic::Ordering::Relaxed) {
                etcdctl(&address, &["get", "/registry/hot"]);
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let top = Command::new(env!("CARGO_BIN_EXE_netcraq"))
        .args(["ctl", "top", "--deployment"])
        .arg(&deployment)
        .args(["--proxy-metrics", &proxy_metrics, "--etcd-metrics", &format!("{etcd_url}/metrics")])
        .args(["--interval-ms", "1500", "--slots", "4", "--min-rate", "0.1", "--json"])
        .output()
        .unwrap();
    reading.store(false, std::sync::atomic::Ordering::Relaxed);
    reader.join().unwrap();
    assert!(top.status.success(), "{}", String::from_utf8_lossy(&top.stderr));
    let top: serde_json::Value = serde_json::from_slice(&top.stdout).unwrap();
    let placement = &top["placement"];
    assert!(placement["etcd_rates"]["Range"].as_f64().unwrap() > 0.0, "{placement}");
    assert_eq!(placement["candidates"][0]["key"], "/registry/hot", "{placement}");
    assert!(placement["candidates"][0]["estimated_reads"].as_u64().unwrap() >= 1, "{placement}");
    assert_eq!(placement["placed"], serde_json::json!([]), "the proxy places nothing yet");
    assert_eq!(placement["moves"][0]["promote"], "/registry/hot", "{placement}");
    assert_eq!(placement["moves"][0]["slot"], 0, "{placement}");

    // The running controller over the same chain: it restarts it in a new epoch and probes its node.
    let mut controller = Command::new(env!("CARGO_BIN_EXE_netcraq"))
        .args(["controller", "--deployment"])
        .arg(&deployment)
        .args(["--election-id", "5", "--metrics-listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read to its end, so the controller never writes into a closed pipe.
    let (sender, lines) = mpsc::channel();
    let stderr = BufReader::new(controller.stderr.take().unwrap());
    std::thread::spawn(move || stderr.lines().map_while(Result::ok).for_each(|l| drop(sender.send(l))));
    let metrics_url = lines
        .iter()
        .find_map(|line| line.strip_prefix("netcraq controller: metrics at ").map(str::to_string))
        .expect("the controller says where its metrics are");
    let deadline = Instant::now() + Duration::from_secs(20);
    let done = [("chain", "kv"), ("change", "restart"), ("result", "done")];
    let scraped = loop {
        let scraped = samples(&metrics_url);
        let restarted = scraped.sum("netcraq_controller_reconfigurations_total", &done) == Some(1.0);
        if (restarted && scraped.sum("netcraq_controller_probes_total", &[("node", "n1")]) >= Some(5.0))
            || Instant::now() > deadline
        {
            break scraped;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = controller.kill();
    let _ = controller.wait();
    assert_eq!(value(&scraped, "netcraq_controller_reconfigurations_total", &done), 1.0);
    let probes = value(&scraped, "netcraq_controller_probes_total", &[("node", "n1")]);
    assert!(probes >= 5.0);
    // A loaded machine may miss a probe now and then (150 ms); most are answered.
    let missed = value(&scraped, "netcraq_controller_probes_missed_total", &[("node", "n1")]);
    assert!(missed < probes / 2.0, "{missed} of {probes} missed");
    assert!(value(&scraped, "netcraq_controller_chain_epoch", &[("chain", "kv")]) >= 2.0);
    let down = value(&scraped, "netcraq_controller_nodes_down_total", &[("node", "n1")]);
    assert_eq!(value(&scraped, "netcraq_controller_detection_latency_seconds_count", &[]), down, "one per node down");
    drop((proxy, chain, cluster));
    std::fs::remove_dir_all(&dir).unwrap();
}
