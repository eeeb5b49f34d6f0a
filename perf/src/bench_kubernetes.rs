//! `netcraq bench kubernetes`: what `netcraq proxy` does to Kubernetes' load
//! on etcd (issue 15), side by side in one run: a 3-member etcd cluster on
//! this machine, measured directly and through a `netcraq proxy` in front of
//! it, under three loads: linearizable GETs of a few hot keys, writes of
//! those keys, and the poster's mix (2/3 reads, 1/3 writes) over a
//! Zipf-skewed popularity of every key. Every read is checked as in `bench
//! etcd`: a value written to that key, no older than any write acknowledged
//! before the read was sent.
//!
//! The proxy runs as a process (`netcraq proxy`) with the arguments of
//! [`proxy_arguments`]: the hot keys are placed, key `i` on slot `i`, in a
//! CRAQ chain of software `netcraq node`s on network namespaces started for
//! the run ([`NamespaceChain`]; root), so the proxy answers their
//! linearizable GETs from its cache after one NetCRAQ read (docs/kubernetes.md
//! "Hot reads"). `--forward-only` measures the proxy forwarding everything.
//!
//! Direct measurements write around the proxy, which deployments must not
//! do; here it is harmless because every measurement starts by writing
//! every key through its own path, so the proxy's slots name the newest
//! revisions before it is read again.

use crate::etcd::{self, measure_closed_loop, ClosedLoopArgs, EtcdCluster, EtcdRun, EtcdSettings};
use crate::netns_chain::{ChainSetup, NamespaceChain, Wiring};
use crate::report::ratio;
use crate::results::{load_average, machine_json, source_path, utc_now, write_json};
use crate::system::ScratchDir;
use clap::Args;
use netcraq_client::mix::{KeyDistribution, RequestMix};
use netcraq_core::Mode;
use netcraq_etcd_cluster::SERVING_TIMEOUT;
use netcraq_topology::spawned::Spawned;
use netcraq_topology::NodeKind;
use serde::Serialize;
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Issue 15's targets: hot consistent GETs through the proxy at least this
/// many times the direct throughput...
pub const TARGET_HOT_GET_THROUGHPUT_RATIO: f64 = 5.0;
/// ... at most this share of the direct p50 latency...
pub const TARGET_HOT_GET_P50_RATIO: f64 = 0.2;
/// ... and writes through the proxy at most this many times the direct p50 latency.
pub const TARGET_WRITE_P50_RATIO: f64 = 1.5;
/// How long the proxy may take to say where it serves and that its hot
/// reads are ready (its fence put and every placed key observed).
const PROXY_START_LIMIT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// The proxy's wait for a NetCRAQ reply before it retransmits.
const NETCRAQ_TIMEOUT_MS: u32 = 100;
/// What the proxy prints first; its address follows.
const PROXY_SERVING: &str = "netcraq proxy: serving etcd's v3 API on ";
/// What the proxy prints once it serves placed keys from its cache.
const PROXY_HOT_READY: &str = "placed keys ready";
/// What the proxy prints when it stops; its hot-read counters follow.
const PROXY_STOPPED: &str = "netcraq proxy: stopped; hot reads: ";

#[derive(Debug, Clone, Args)]
pub struct BenchKubernetesArgs {
    /// Members of the etcd cluster
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub members: u32,
    /// Keys written before each measurement; the mix draws from all of them
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub keys: u32,
    /// The hot keys (0..N): hot GETs and writes draw uniformly from them
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub hot_keys: u32,
    /// The Zipf exponent of the mix's key popularity (the key of rank r weighs 1/r^s)
    #[arg(long, value_name = "S", default_value_t = 0.99)]
    pub zipf: f64,
    /// The mix's share of reads (the poster's Kubernetes mix)
    #[arg(long, value_name = "F", default_value_t = 2.0 / 3.0)]
    pub read_fraction: f64,
    /// Software nodes of the CRAQ chain that holds the hot keys' slots
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=32))]
    pub netcraq_nodes: u8,
    /// Place no key: measure the proxy forwarding every call (needs no root)
    #[arg(long)]
    pub forward_only: bool,
    #[command(flatten)]
    pub load: ClosedLoopArgs,
    /// The netcraq program whose `proxy` is measured [default: this one]
    #[arg(long, value_name = "PATH")]
    pub netcraq: Option<PathBuf>,
    /// One more argument to `netcraq proxy` (repeat it for more), e.g. the
    /// placement of the hot keys in NetCRAQ
    #[arg(long = "proxy-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub proxy_args: Vec<String>,
    /// Where to write the results as JSON [default: perf/results/kubernetes-latest.json in the source tree]
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// The three loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// Linearizable GETs of the hot keys, uniformly.
    HotGets,
    /// Writes of the hot keys, uniformly.
    HotWrites,
    /// The read fraction over every key, Zipf-skewed.
    Mix,
}

impl Workload {
    pub const ALL: [Workload; 3] = [Workload::HotGets, Workload::HotWrites, Workload::Mix];

    pub fn mix(self, args: &BenchKubernetesArgs) -> RequestMix {
        let hot = |read_fraction| RequestMix { key_count: args.hot_keys, ..RequestMix::uniform(read_fraction, 1) };
        match self {
            Workload::HotGets => hot(1.0),
            Workload::HotWrites => hot(0.0),
            Workload::Mix => RequestMix {
                distribution: KeyDistribution::Zipf { exponent: args.zipf },
                ..RequestMix::uniform(args.read_fraction, args.keys)
            },
        }
    }

    fn label(self) -> &'static str {
        match self {
            Workload::HotGets => "hot GETs",
            Workload::HotWrites => "hot writes",
            Workload::Mix => "mix",
        }
    }
}

/// Where the requests go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// To the members.
    Direct,
    /// To `netcraq proxy`, which is in front of the members.
    Proxy,
}

/// One workload on one path: the median round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    pub workload: Workload,
    pub path: Route,
    #[serde(flatten)]
    pub run: EtcdRun,
}

/// The proxy's figures over the direct ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Ratios {
    pub hot_get_throughput: Option<f64>,
    pub hot_get_p50: Option<f64>,
    pub hot_get_p99: Option<f64>,
    pub write_p50: Option<f64>,
    pub write_p99: Option<f64>,
    pub mix_throughput: Option<f64>,
    pub mix_p50: Option<f64>,
}

impl Ratios {
    pub fn of(measurements: &[Measurement]) -> Ratios {
        let find =
            |workload: Workload, path: Route| measurements.iter().find(|m| m.workload == workload && m.path == path);
        let proxy_over_direct = |workload: Workload, figure: fn(&EtcdRun) -> f64| {
            let (proxy, direct) = (find(workload, Route::Proxy)?, find(workload, Route::Direct)?);
            ratio(Some(figure(&proxy.run)), Some(figure(&direct.run)))
        };
        Ratios {
            hot_get_throughput: proxy_over_direct(Workload::HotGets, |r| r.linearizable_reads_per_s),
            hot_get_p50: proxy_over_direct(Workload::HotGets, |r| r.read_latency_us_p50),
            hot_get_p99: proxy_over_direct(Workload::HotGets, |r| r.read_latency_us_p99),
            write_p50: proxy_over_direct(Workload::HotWrites, |r| r.write_latency_us_p50),
            write_p99: proxy_over_direct(Workload::HotWrites, |r| r.write_latency_us_p99),
            mix_throughput: proxy_over_direct(Workload::Mix, |r| r.ops_per_s),
            mix_p50: proxy_over_direct(Workload::Mix, |r| r.latency_us_p50),
        }
    }

    /// Each target: its name, the ratio, the bound, and whether it is met.
    fn targets(&self) -> [(&'static str, Option<f64>, String, Option<bool>); 3] {
        let at_least = |v: Option<f64>, bound: f64| v.map(|v| v >= bound);
        let at_most = |v: Option<f64>, bound: f64| v.map(|v| v <= bound);
        [
            (
                "hot GET throughput, proxy/direct",
                self.hot_get_throughput,
                format!(">= {TARGET_HOT_GET_THROUGHPUT_RATIO}"),
                at_least(self.hot_get_throughput, TARGET_HOT_GET_THROUGHPUT_RATIO),
            ),
            (
                "hot GET p50 latency, proxy/direct",
                self.hot_get_p50,
                format!("<= {TARGET_HOT_GET_P50_RATIO}"),
                at_most(self.hot_get_p50, TARGET_HOT_GET_P50_RATIO),
            ),
            (
                "write p50 latency, proxy/direct",
                self.write_p50,
                format!("<= {TARGET_WRITE_P50_RATIO}"),
                at_most(self.write_p50, TARGET_WRITE_P50_RATIO),
            ),
        ]
    }

    /// One line per target.
    pub fn lines(&self) -> String {
        let mut text = String::new();
        for (name, value, bound, met) in self.targets() {
            let met = match met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "n/a",
            };
            text.push_str(&format!("{name}: {} (target {bound}: {met})\n", shown(value)));
        }
        text
    }

    /// `summary: hot_get_throughput_ratio=R ... targets_met=N/3 proxy_args=none|given`.
    pub fn summary_line(&self, proxy_args_given: bool) -> String {
        let met = self.targets().iter().filter(|(_, _, _, met)| *met == Some(true)).count();
        format!(
            "summary: hot_get_throughput_ratio={} (target >= {TARGET_HOT_GET_THROUGHPUT_RATIO}) hot_get_p50_ratio={} \
             (target <= {TARGET_HOT_GET_P50_RATIO}) hot_get_p99_ratio={} write_p50_ratio={} (target <= \
             {TARGET_WRITE_P50_RATIO}) write_p99_ratio={} mix_throughput_ratio={} mix_p50_ratio={} targets_met={met}/3 \
             proxy_args={}",
            shown(self.hot_get_throughput),
            shown(self.hot_get_p50),
            shown(self.hot_get_p99),
            shown(self.write_p50),
            shown(self.write_p99),
            shown(self.mix_throughput),
            shown(self.mix_p50),
            if proxy_args_given { "given" } else { "none" }
        )
    }
}

fn shown(value: Option<f64>) -> String {
    value.map_or("n/a".to_string(), |v| format!("{v:.2}"))
}

/// Where the proxy keeps the hot keys' slots: hot key `i` ([`etcd::etcd_key`]) on slot `i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The NetCRAQ node the proxy reads and writes at...
    pub node: Ipv4Addr,
    /// ... from this network namespace.
    pub netns: String,
    pub hot_keys: u32,
}

/// The arguments of the measured `netcraq proxy`, before `--proxy-arg`'s:
/// where it serves, the etcd members behind it and the hot keys' placement.
pub fn proxy_arguments(etcd_urls: &[String], placement: Option<&Placement>) -> Vec<String> {
    let mut arguments: Vec<String> =
        ["proxy", "--listen", "127.0.0.1:0", "--etcd", &etcd_urls.join(",")].map(str::to_string).to_vec();
    if let Some(placement) = placement {
        arguments.extend(["--netcraq-node".to_string(), placement.node.to_string()]);
        arguments.extend(["--netcraq-netns".to_string(), placement.netns.clone()]);
        // Nodes sharing two busy CPUs with etcd, the proxy and the client
        // answer in tens of ms at times: the default 20 ms retransmits
        // needlessly and fails writes of placed keys.
        arguments.extend(["--netcraq-timeout-ms".to_string(), NETCRAQ_TIMEOUT_MS.to_string()]);
        for key in 0..placement.hot_keys {
            let key_text = String::from_utf8_lossy(&etcd::etcd_key(key as u16)).into_owned();
            arguments.extend(["--place".to_string(), format!("{key}={key_text}")]);
        }
    }
    arguments
}

/// The CRAQ chain of the hot keys' slots, on namespaces.
fn start_chain(args: &BenchKubernetesArgs, netcraq: &Path) -> Result<(NamespaceChain, Placement), String> {
    if !netcraq_topology::running_as_root() {
        return Err("placing the hot keys starts NetCRAQ nodes on network namespaces, which needs root \
                    (or measure the proxy forwarding only: --forward-only)"
            .to_string());
    }
    let setup = ChainSetup {
        nodes: args.netcraq_nodes,
        mode: Mode::Craq,
        kind: NodeKind::Software,
        wiring: Wiring::Mesh,
        keys: args.hot_keys,
        service_rate_fps: None,
        eal: String::new(),
        nice: 0,
    };
    let chain = NamespaceChain::start(&setup, netcraq)?;
    let (node, netns) = chain.access(0)?;
    Ok((chain, Placement { node, netns, hot_keys: args.hot_keys }))
}

/// `netcraq proxy` as a child process, stopped by PID when dropped.
struct ProxyProcess {
    process: Spawned,
    /// `http://127.0.0.1:PORT`, where it serves.
    url: String,
    command_line: Vec<String>,
}

impl ProxyProcess {
    /// Starts it and waits until it serves and, with `hot_reads`, until its hot reads are ready.
    fn start(netcraq: &Path, arguments: Vec<String>, dir: &Path, hot_reads: bool) -> Result<ProxyProcess, String> {
        let mut command = Command::new(netcraq);
        command.args(&arguments);
        let mut process = Spawned::start("proxy", command, dir, false)?;
        let deadline = Instant::now() + PROXY_START_LIMIT;
        loop {
            let printed = std::fs::read_to_string(&process.stdout_path).unwrap_or_default();
            let ready = !hot_reads || printed.lines().any(|line| line.ends_with(PROXY_HOT_READY));
            if let Some(address) = printed.lines().find_map(|line| line.strip_prefix(PROXY_SERVING)).filter(|_| ready) {
                let address = address.split(',').next().unwrap_or(address);
                // The program's name only: results files do not name the checkout.
                let program =
                    netcraq.file_name().map_or(netcraq.display().to_string(), |name| name.to_string_lossy().into());
                let command_line = std::iter::once(program).chain(arguments).collect();
                return Ok(ProxyProcess { url: format!("http://{address}"), process, command_line });
            }
            if let Some(status) = process.try_status() {
                return Err(format!("netcraq proxy ended ({status}):\n{}", process.stderr_tail(10)));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "netcraq proxy did not serve{} within {PROXY_START_LIMIT:?}:\n{}",
                    if hot_reads { " placed keys" } else { "" },
                    process.stderr_tail(10)
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn check_running(&mut self) -> Result<(), String> {
        match self.process.try_status() {
            Some(status) => Err(format!("netcraq proxy ended ({status}):\n{}", self.process.stderr_tail(10))),
            None => Ok(()),
        }
    }
}

impl ProxyProcess {
    /// Stops it (SIGTERM) and returns its hot-read counters as it printed them:
    /// `N hits, N misses, N NetCRAQ failures, N placed writes, N fenced`.
    fn stop(mut self) -> Option<String> {
        self.stop_process();
        let printed = std::fs::read_to_string(&self.process.stdout_path).unwrap_or_default();
        printed.lines().find_map(|line| line.strip_prefix(PROXY_STOPPED)).map(str::to_string)
    }

    fn stop_process(&mut self) {
        if let (_, true) = self.process.stop(Some(libc::SIGTERM)) {
            eprintln!("bench: netcraq proxy had to be killed");
        }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        self.stop_process();
    }
}

impl BenchKubernetesArgs {
    fn settings(&self) -> EtcdSettings {
        let read_fractions = Workload::ALL.iter().map(|w| w.mix(self).read_fraction).collect();
        self.load.settings(vec![self.members], read_fractions, self.keys)
    }

    fn validate(&self) -> Result<(), String> {
        self.settings().validate()?;
        if !(1..=self.keys).contains(&self.hot_keys) {
            return Err(format!("{} hot keys: give 1 to --keys ({})", self.hot_keys, self.keys));
        }
        Workload::ALL.iter().try_for_each(|w| w.mix(self).validate().map_err(|e| e.to_string()))
    }
}

pub fn run(args: &BenchKubernetesArgs) -> Result<(), String> {
    args.validate()?;
    if !cfg!(feature = "etcd") {
        return Err(etcd::WITHOUT_ETCD.to_string());
    }
    let netcraq = match &args.netcraq {
        Some(path) => path.clone(),
        None => std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?,
    };
    netcraq_topology::catch_interrupts().map_err(|e| format!("installing signal handlers: {e}"))?;
    let load_average_at_start = load_average();
    let etcd_version = etcd::etcd_version(&args.load.etcd)?;
    let settings = args.settings();
    let scratch = ScratchDir::new("netcraq-kubernetes")?;
    eprintln!("bench: starting a {}-member etcd cluster ({etcd_version})", args.members);
    let mut cluster = EtcdCluster::start(&args.load.etcd, args.members, &scratch.path.join("etcd"))?;
    cluster.wait_serving(SERVING_TIMEOUT)?;
    let chain = match args.forward_only {
        true => None,
        false => {
            eprintln!("bench: starting a {}-node CRAQ chain of software nodes for the hot keys", args.netcraq_nodes);
            Some(start_chain(args, &netcraq)?)
        }
    };
    let placement = chain.as_ref().map(|(_, placement)| placement);
    let mut arguments = proxy_arguments(&cluster.client_urls, placement);
    arguments.extend(args.proxy_args.iter().cloned());
    let mut proxy = ProxyProcess::start(&netcraq, arguments, &scratch.path, placement.is_some())?;
    eprintln!("bench: {} serves at {}", shortened(&proxy.command_line), proxy.url);

    let paths = [(Route::Direct, cluster.client_urls.clone()), (Route::Proxy, vec![proxy.url.clone()])];
    let mut rounds: Vec<(Workload, Route, Vec<EtcdRun>)> = Vec::new();
    for round in 1..=args.load.rounds {
        for workload in Workload::ALL {
            for (path, endpoints) in &paths {
                if netcraq_topology::interrupted() {
                    return Err("interrupted".to_string());
                }
                let run = measure_closed_loop(&mut cluster, endpoints, &settings, workload.mix(args))?;
                proxy.check_running()?;
                eprintln!(
                    "bench:   {} {path:?}, round {round}/{}: {:.0} ops/s, read p50/p99 {:.0}/{:.0} µs, write \
                     p50/p99 {:.0}/{:.0} µs, {} errors",
                    workload.label(),
                    args.load.rounds,
                    run.ops_per_s,
                    run.read_latency_us_p50,
                    run.read_latency_us_p99,
                    run.write_latency_us_p50,
                    run.write_latency_us_p99,
                    run.errors
                );
                match rounds.iter_mut().find(|(w, p, _)| *w == workload && *p == *path) {
                    Some((_, _, runs)) => runs.push(run),
                    None => rounds.push((workload, *path, vec![run])),
                }
            }
        }
    }
    let measurements: Vec<Measurement> = rounds
        .into_iter()
        .filter_map(|(workload, path, runs)| Some(Measurement { workload, path, run: EtcdRun::median(runs)? }))
        .collect();
    let proxy_command = proxy.command_line.clone();
    let hot_reads = proxy.stop();
    if let Some((chain, _)) = chain {
        chain.stop()?;
    }
    drop(cluster);
    let ratios = Ratios::of(&measurements);
    let proxy_args_given = !args.proxy_args.is_empty();

    println!(
        "etcd: {etcd_version}, {} members on this machine; netcraq proxy in front: {}",
        args.members,
        shortened(&proxy_command)
    );
    let hot_reads_line = match (args.forward_only, &hot_reads) {
        (true, _) => "none placed (--forward-only)".to_string(),
        (false, Some(counts)) => format!("{counts} (whole run), NetCRAQ: {} software nodes, CRAQ", args.netcraq_nodes),
        (false, None) => "the proxy printed no counters".to_string(),
    };
    println!("proxy's hot reads: {hot_reads_line}");
    println!(
        "closed loop: {} requests outstanding over {} gRPC connections, {}-byte values, {} s measured after {} s \
         warm-up{}; hot keys: {} of {}; mix: {}",
        args.load.concurrency,
        args.load.connections,
        etcd::VALUE_BYTES,
        args.load.duration_s,
        args.load.warmup_s,
        match args.load.rounds {
            1 => String::new(),
            rounds => format!(", median of {rounds} rounds"),
        },
        args.hot_keys,
        args.keys,
        Workload::Mix.mix(args)
    );
    println!();
    print!("{}", table(&measurements));
    println!();
    print!("{}", ratios.lines());
    let json_path = args.json.clone().unwrap_or_else(|| source_path("results/kubernetes-latest.json"));
    let machine = machine_json(&crate::system::allowed_cpus(), load_average_at_start);
    let summary = ratios.summary_line(proxy_args_given);
    let proxy = json!({ "command": proxy_command, "hot_reads": hot_reads_line });
    let json = to_json(args, &etcd_version, proxy, &measurements, &ratios, &summary, machine);
    write_json(&json_path, &json)?;
    println!("results: {}", json_path.display());
    println!("{summary}");
    let suspicious: u64 = measurements.iter().map(|m| m.run.wrong_values + m.run.stale_reads).sum();
    match suspicious {
        0 => Ok(()),
        n => Err(format!("{n} read(s) returned a value that was not the latest acknowledged one (see the JSON)")),
    }
}

/// The table of every measurement.
pub fn table(measurements: &[Measurement]) -> String {
    let mut text = format!(
        "{:<11} {:<7} {:>10} {:>12} {:>12} {:>15} {:>15} {:>7}\n",
        "load", "path", "ops/s", "reads/s", "writes/s", "read p50/p99", "write p50/p99", "errors"
    );
    for m in measurements {
        let pair = |p50: f64, p99: f64, count: u64| match count {
            0 => "-".to_string(),
            _ => format!("{p50:.0}/{p99:.0}"),
        };
        text.push_str(&format!(
            "{:<11} {:<7} {:>10.0} {:>12.0} {:>12.0} {:>15} {:>15} {:>7}\n",
            m.workload.label(),
            format!("{:?}", m.path).to_lowercase(),
            m.run.ops_per_s,
            m.run.linearizable_reads_per_s,
            m.run.writes_per_s,
            pair(m.run.read_latency_us_p50, m.run.read_latency_us_p99, m.run.reads),
            pair(m.run.write_latency_us_p50, m.run.write_latency_us_p99, m.run.writes),
            m.run.errors
        ));
    }
    text + "(latencies in µs)\n"
}

/// The proxy's command line with its run of `--place` arguments counted, not listed.
fn shortened(command: &[String]) -> String {
    let places = command.iter().filter(|a| *a == "--place").count();
    let mut kept: Vec<&str> = Vec::new();
    let mut arguments = command.iter();
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--place" => {
                arguments.next();
            }
            other => kept.push(other),
        }
    }
    match places {
        0 => kept.join(" "),
        n => format!("{} --place SLOT=KEY x{n}", kept.join(" ")),
    }
}

fn to_json(
    args: &BenchKubernetesArgs,
    etcd_version: &str,
    proxy: Value,
    measurements: &[Measurement],
    ratios: &Ratios,
    summary: &str,
    machine: Value,
) -> Value {
    json!({
        "benchmark": "netcraq bench kubernetes",
        "timestamp_utc": utc_now(),
        "machine": machine,
        "etcd": { "version": etcd_version, "members": args.members },
        "proxy": proxy,
        "netcraq": match args.forward_only {
            true => json!(null),
            false => json!({ "nodes": args.netcraq_nodes, "mode": "CRAQ", "kind": "software, on network namespaces" }),
        },
        "settings": {
            "keys": args.keys,
            "hot_keys": args.hot_keys,
            "workloads": Workload::ALL.map(|w| json!({"workload": w, "mix": w.mix(args).to_string()})),
            "value_bytes": etcd::VALUE_BYTES,
            "concurrency": args.load.concurrency,
            "connections": args.load.connections,
            "warmup_s": args.load.warmup_s,
            "duration_s": args.load.duration_s,
            "rounds": args.load.rounds,
            "seed": args.load.seed,
            "reads": "linearizable (etcd's default Range, as kube-apiserver's GET), each checked against the writes acknowledged before it",
            "client": "etcd-client crate (gRPC), one tokio runtime, on the same machine",
        },
        "measurements": measurements,
        "ratios_proxy_over_direct": ratios,
        "targets": {
            "hot_get_throughput_ratio_at_least": TARGET_HOT_GET_THROUGHPUT_RATIO,
            "hot_get_p50_ratio_at_most": TARGET_HOT_GET_P50_RATIO,
            "write_p50_ratio_at_most": TARGET_WRITE_P50_RATIO,
        },
        "summary": summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchKubernetesArgs,
    }

    fn args(extra: &[&str]) -> BenchKubernetesArgs {
        Cli::parse_from(std::iter::once("bench").chain(extra.iter().copied())).args
    }

    fn measurement(workload: Workload, path: Route, per_s: f64, p50: f64) -> Measurement {
        let run = EtcdRun {
            reads: 1000,
            writes: 1000,
            ops_per_s: per_s,
            linearizable_reads_per_s: if workload == Workload::HotWrites { 0.0 } else { per_s },
            read_latency_us_p50: p50,
            read_latency_us_p99: 4.0 * p50,
            write_latency_us_p50: p50,
            write_latency_us_p99: 4.0 * p50,
            latency_us_p50: p50,
            ..EtcdRun::default()
        };
        Measurement { workload, path, run }
    }

    #[test]
    fn the_loads_are_the_hot_keys_and_the_skewed_mix() {
        let args = args(&["--keys", "100", "--hot-keys", "8", "--proxy-arg", "--place", "--proxy-arg", "k"]);
        assert_eq!(args.proxy_args, ["--place", "k"]);
        assert_eq!(Workload::HotGets.mix(&args), RequestMix { key_count: 8, ..RequestMix::uniform(1.0, 1) });
        assert_eq!(Workload::HotWrites.mix(&args).read_fraction, 0.0);
        let mix = Workload::Mix.mix(&args);
        assert_eq!((mix.key_count, mix.distribution), (100, KeyDistribution::Zipf { exponent: 0.99 }));
        assert!((mix.read_fraction - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(args.validate(), Ok(()));
        assert!(self::args(&["--keys", "10", "--hot-keys", "11"]).validate().is_err());
        assert!(self::args(&["--hot-keys", "0"]).validate().is_err());
        assert!(self::args(&["--zipf", "0"]).validate().is_err());
        assert!(self::args(&["--members", "0"]).validate().is_err());
        let etcd = ["http://a:1".to_string(), "http://b:2".to_string()];
        let forwarding = proxy_arguments(&etcd, None);
        assert_eq!(forwarding, ["proxy", "--listen", "127.0.0.1:0", "--etcd", "http://a:1,http://b:2"]);
        let placement = Placement { node: Ipv4Addr::new(10, 0, 0, 1), netns: "ns-h1".into(), hot_keys: 2 };
        let placing = proxy_arguments(&etcd, Some(&placement));
        assert_eq!(placing[5..9], ["--netcraq-node", "10.0.0.1", "--netcraq-netns", "ns-h1"]);
        assert_eq!(placing[11..], ["--place", "0=netcraq/00000", "--place", "1=netcraq/00001"]);
        let shown = shortened(&placing);
        assert!(shown.ends_with("--netcraq-netns ns-h1 --netcraq-timeout-ms 100 --place SLOT=KEY x2"), "{shown}");
    }

    #[test]
    fn the_ratios_are_the_proxys_over_direct_and_judged_by_the_targets() {
        let measurements = [
            measurement(Workload::HotGets, Route::Direct, 10_000.0, 1000.0),
            measurement(Workload::HotGets, Route::Proxy, 60_000.0, 150.0),
            measurement(Workload::HotWrites, Route::Direct, 2000.0, 4000.0),
            measurement(Workload::HotWrites, Route::Proxy, 1800.0, 8000.0),
            measurement(Workload::Mix, Route::Direct, 5000.0, 2000.0),
        ];
        let ratios = Ratios::of(&measurements);
        assert_eq!(ratios.hot_get_throughput, Some(6.0));
        assert_eq!(ratios.hot_get_p50, Some(0.15));
        assert_eq!(ratios.write_p50, Some(2.0));
        assert_eq!(ratios.mix_throughput, None, "no proxy measurement of the mix");
        let lines = ratios.lines();
        assert!(lines.contains("hot GET throughput, proxy/direct: 6.00 (target >= 5: met)"), "{lines}");
        assert!(lines.contains("write p50 latency, proxy/direct: 2.00 (target <= 1.5: MISSED)"), "{lines}");
        let summary = ratios.summary_line(false);
        assert!(summary.starts_with("summary: hot_get_throughput_ratio=6.00 (target >= 5) hot_get_p50_ratio=0.15"));
        assert!(summary.contains("mix_throughput_ratio=n/a") && summary.ends_with("targets_met=2/3 proxy_args=none"));
        let text = table(&measurements);
        assert!(text.contains("hot GETs    proxy") && text.contains("1000/4000"), "{text}");
        let json = to_json(&args(&[]), "etcd 3.7.4", json!({}), &measurements, &ratios, &summary, json!({}));
        assert_eq!(json["netcraq"]["nodes"], 3);
        assert_eq!(json["measurements"][1]["path"], "proxy");
        assert_eq!(json["measurements"][1]["workload"], "hot_gets");
        assert_eq!(json["measurements"][1]["linearizable_reads_per_s"], 60_000.0);
        assert_eq!(json["ratios_proxy_over_direct"]["hot_get_throughput"], 6.0);
    }
}
