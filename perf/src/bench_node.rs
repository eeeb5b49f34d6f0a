//! `netcraq bench node`: the DPDK node's throughput and latency against
//! dpdk-testpmd's io forwarding over the same devices and against the
//! software node, measured in one run with the same closed-loop load.
//!
//! Configurations, in order, each with a fresh load generator process
//! (`netcraq bench loadgen`) pinned to the first CPU and the device under
//! test on the second:
//!
//! - (a) dpdk-testpmd, io forwarding on one core, as the memif server;
//! - (b) the DPDK node (`netcraq node --dpdk`, a SOLO node, so every READ
//!   and WRITE gets a reply) on one lcore, as the memif server;
//! - (c) the same node on two lcores (one on each CPU, so three pollers
//!   share two CPUs on a 2-core machine, which the output says), the load
//!   generator sending key k on queue k % 2;
//! - (d) the software node (`netcraq node`, AF_PACKET) on a veth pair in a
//!   namespace of its own, the load generator on DPDK's af_packet driver.
//!
//! The load generator is always stopped before the device under test (the
//! memif server of DPDK 22.11 can crash when its client vanishes under
//! traffic). Hugepages are reserved with `hugepages/hugepages.sh` and
//! released at the end, on errors and on Ctrl-C too.

use crate::frames::Responder;
use crate::loadgen::{LoadSettings, LoadgenReport};
use crate::report::{self, Comparison, Configuration, ConfigurationResult, Outcome};
use crate::system::{self, Hugepages, OwnNamespace, ScratchDir, Spawned};
use clap::Args;
use netcraq_core::{NodeConfig, Route};
use netcraq_topology::{Namespace, NodeFile, Port, PortFaults};
use netcraq_wire::{Ipv4Addr, MacAddr};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const NODE_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
/// The veth pair of the software node's configuration, inside its namespace.
const NODE_VETH: &str = "nb-node";
const LOADGEN_VETH: &str = "nb-load";
/// How long a device under test may take to come up.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// The load generator's limit to get a first reply.
const CONNECT_LIMIT_S: u64 = 20;
/// How often progress is printed during a measurement.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// testpmd's mbufs: its rings full both ways and its cache, with room.
const TESTPMD_MBUFS: u32 = 16_384;

#[derive(Debug, Clone, Args)]
pub struct BenchNodeArgs {
    #[command(flatten)]
    pub load: LoadSettings,
    /// Where to write the results as JSON [default: perf/results/node-latest.json in the source tree]
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// 2 MiB hugepages to reserve for the run (released at the end)
    #[arg(long, value_name = "PAGES", default_value_t = 512, value_parser = clap::value_parser!(u32).range(64..=16_384))]
    pub hugepages: u32,
    /// The hugepage script [default: hugepages/hugepages.sh in the source tree]
    #[arg(long, value_name = "PATH")]
    pub hugepages_script: Option<PathBuf>,
    /// Run every configuration this many times, in turn, and report each
    /// one's median round (by Mpps): steadier figures on a noisy machine
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// Run only these configurations: a testpmd, b DPDK node on 1 lcore, c on 2 lcores, d software node
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "a,b,c,d")]
    pub only: Vec<String>,
    /// The dpdk-testpmd program
    #[arg(long, value_name = "PATH", default_value = "dpdk-testpmd")]
    pub testpmd: String,
    /// The nice value (-20 to 19) of the autogroup of each process the
    /// benchmark starts (each runs in a session of its own): below 0
    /// favours them over other work on a shared machine
    #[arg(long, value_name = "N", default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-20..=19))]
    pub nice: i32,
}

fn source_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub fn run(args: &BenchNodeArgs) -> Result<(), String> {
    args.load.validate()?;
    let selected = selected_configurations(&args.only)?;
    if !netcraq_topology::running_as_root() {
        return Err("bench node needs root: it reserves hugepages and creates a network namespace \
                    (run it with sudo; see perf/README.md)"
            .to_string());
    }
    if !cfg!(feature = "dpdk") {
        return Err(crate::WITHOUT_DPDK.to_string());
    }
    let exe = std::env::current_exe().map_err(|e| format!("finding the netcraq executable: {e}"))?;
    let json_path = args.json.clone().unwrap_or_else(|| source_path("results/node-latest.json"));
    let script = args.hugepages_script.clone().unwrap_or_else(|| source_path("../hugepages/hugepages.sh"));
    let cpus = system::allowed_cpus();
    let loadgen_cpu = cpus.first().copied().unwrap_or(0);
    let dut_cpu = cpus.get(1).copied().unwrap_or(loadgen_cpu);
    netcraq_topology::catch_interrupts().map_err(|e| format!("installing signal handlers: {e}"))?;
    if args.nice != 0 {
        eprintln!("bench: the devices under test and load generators run at autogroup nice {}", args.nice);
    }

    eprintln!(
        "bench: request mix: {}; window {} per queue, burst {}",
        args.load.mix(),
        args.load.window,
        args.load.burst
    );
    eprintln!(
        "bench: {} s warm-up + {} s measured per configuration; CPUs {cpus:?}: load generator on CPU {loadgen_cpu}, \
         device under test on CPU {dut_cpu}",
        args.load.warmup_s, args.load.duration_s
    );
    if cpus.len() < 2 {
        eprintln!("bench: only one CPU: every configuration shares it with the load generator (oversubscribed)");
    }
    let load_average = load_average();
    if let Some(load) = load_average.filter(|load| *load > 0.5) {
        eprintln!("bench: note: the machine is busy (load average {load:.1}): other work competes with the pollers");
    }
    let scratch = ScratchDir::new("netcraq-bench")?;
    let hugepages = Hugepages::reserve(&script, args.hugepages)?;
    eprintln!("bench: hugepages: {}", hugepages.note);
    let bench = Bench {
        args,
        runs: std::cell::Cell::new(0),
        exe,
        dir: scratch.path.clone(),
        loadgen_cpu,
        dut_cpu,
        cpus: cpus.clone(),
    };
    let mut rounds: Vec<Vec<ConfigurationResult>> = vec![Vec::new(); selected.len()];
    'rounds: for round in 1..=args.rounds {
        for (number, configuration) in selected.iter().enumerate() {
            if netcraq_topology::interrupted() {
                break 'rounds;
            }
            let round_label = if args.rounds > 1 { format!("round {round}/{}, ", args.rounds) } else { String::new() };
            eprintln!("bench: [{round_label}{}/{}] {}", number + 1, selected.len(), configuration.label());
            let result = bench.run_configuration(*configuration);
            match &result.outcome {
                Outcome::Measured(r) => eprintln!(
                    "bench:   {:.3} Mpps, p50 {:.1} µs, p99 {:.1} µs",
                    r.mpps, r.latency_us_p50, r.latency_us_p99
                ),
                Outcome::Skipped(why) => eprintln!("bench:   skipped: {why}"),
                Outcome::Failed(why) => eprintln!("bench:   FAILED: {why}"),
            }
            rounds[number].push(result);
        }
    }
    let paired_ratios = report::paired_ratios(&selected, &rounds);
    let (results, reported_round) = report::representative_results(&selected, rounds);
    drop(hugepages);
    drop(scratch);
    let interrupted = netcraq_topology::take_interrupt().is_some();

    let comparison = Comparison::of(&results);
    println!("NetCRAQ node benchmark: {} over memif (software node: veth), 62-byte frames", args.load.mix());
    println!(
        "closed loop: {} requests outstanding per queue, bursts of {}, {} s measured after {} s warm-up{}",
        args.load.window,
        args.load.burst,
        args.load.duration_s,
        args.load.warmup_s,
        match reported_round {
            Some(round) if args.rounds > 1 => format!(
                "\nround {} of {} shown: the one whose DPDK node/testpmd ratio is the median (all rounds in the JSON)",
                round + 1,
                args.rounds
            ),
            None if args.rounds > 1 => format!("; median of {} rounds", args.rounds),
            _ => String::new(),
        }
    );
    println!();
    print!("{}", report::table(&results));
    println!();
    println!("Mpps: requests answered per second (one frame in, one out of the device under test).");
    println!("lg busy %: share of the measured time the load generator spent in poll rounds that moved frames.");
    println!("lg fill: frames per non-empty receive poll of the load generator, over the burst size: near 1,");
    println!("replies queued up for the load generator (it set the pace); low, it waited for the device under test.");
    if results.iter().any(|r| r.oversubscribed) {
        println!(
            "OVERSUBSCRIBED: {} CPU(s) here for more busy pollers; those figures include the pollers' fight for CPU time.",
            cpus.len()
        );
    }
    println!();
    print!("{}", report::ratio_lines(&comparison));
    if interrupted {
        println!("{}", comparison.summary_line());
        eprintln!("bench: interrupted: no results written");
        return Err("interrupted".to_string());
    }
    let timestamp = utc_now();
    let mut json = report::to_json(&results, settings_json(args), machine_json(&cpus, load_average), &timestamp);
    json["ratios"]["dpdk_1lcore_vs_testpmd_per_round"] = json!(paired_ratios.vs_testpmd);
    json["ratios"]["dpdk_1lcore_vs_software_per_round"] = json!(paired_ratios.vs_software);
    json["reported_round"] = json!(reported_round.map(|round| round + 1));
    write_json(&json_path, &json)?;
    println!("results: {}", json_path.display());
    println!("{}", comparison.summary_line());
    let failed: Vec<&str> =
        results.iter().filter(|r| matches!(r.outcome, Outcome::Failed(_))).map(|r| r.configuration.key()).collect();
    match failed.as_slice() {
        [] => Ok(()),
        failed => Err(format!("configuration(s) failed: {}", failed.join(", "))),
    }
}

fn selected_configurations(only: &[String]) -> Result<Vec<Configuration>, String> {
    let mut selected = Vec::new();
    for name in only {
        let configuration = match name.trim() {
            "a" | "testpmd" => Configuration::Testpmd,
            "b" | "dpdk" => Configuration::DpdkOneLcore,
            "c" | "dpdk2" => Configuration::DpdkTwoLcores,
            "d" | "software" => Configuration::Software,
            other => return Err(format!("--only: {other:?} is none of a, b, c, d")),
        };
        if !selected.contains(&configuration) {
            selected.push(configuration);
        }
    }
    selected.sort_by_key(|c| Configuration::ALL.iter().position(|a| a == c));
    Ok(selected)
}

struct Bench<'a> {
    args: &'a BenchNodeArgs,
    /// Configurations run so far, to name each run's files.
    runs: std::cell::Cell<u32>,
    exe: PathBuf,
    dir: PathBuf,
    loadgen_cpu: u32,
    dut_cpu: u32,
    cpus: Vec<u32>,
}

/// The device under test, started and waiting for load.
struct Dut {
    process: Spawned,
    /// How to stop it: a signal, or `None` to close its stdin (testpmd).
    stop_signal: Option<libc::c_int>,
    stats_path: Option<PathBuf>,
}

impl Bench<'_> {
    fn run_configuration(&self, configuration: Configuration) -> ConfigurationResult {
        let (lg, dut) = (self.loadgen_cpu, self.dut_cpu);
        let distinct_cpus = self.cpus.len().max(1);
        let (placement, pollers) = match configuration {
            Configuration::Testpmd => {
                (format!("testpmd forwarding lcore on CPU {dut} (main lcore idle on CPU {lg}), loadgen on CPU {lg}"), 2)
            }
            Configuration::DpdkOneLcore => (format!("node lcore on CPU {dut}, loadgen on CPU {lg}"), 2),
            Configuration::DpdkTwoLcores => (format!("node lcores on CPUs {dut} and {lg}, loadgen on CPU {lg}"), 3),
            Configuration::Software => {
                (format!("software node on CPU {dut} (sleeps in poll(2) when idle), loadgen on CPU {lg}"), 1)
            }
        };
        // memif links between processes now and then fail to come up: one more try.
        let measured = self.measure(configuration).or_else(|error| {
            if netcraq_topology::interrupted() {
                return Err(error);
            }
            eprintln!("bench:   failed, trying once more: {}", error.lines().next().unwrap_or_default());
            self.measure(configuration)
        });
        let outcome = match measured {
            Ok((report, stats)) => (Outcome::Measured(report), stats),
            Err(error) => (Outcome::Failed(error), None),
        };
        ConfigurationResult {
            configuration,
            placement,
            oversubscribed: pollers > distinct_cpus,
            outcome: outcome.0,
            node_stats: outcome.1,
            mpps_per_round: Vec::new(),
        }
    }

    fn measure(&self, configuration: Configuration) -> Result<(LoadgenReport, Option<Value>), String> {
        // A name of its own per run: a memif server that crashes on its way
        // out (DPDK 22.11 does) leaves its socket file behind.
        let run = self.runs.get() + 1;
        self.runs.set(run);
        let name = &format!("{}-{run}", configuration.key());
        let socket = self.dir.join(format!("{name}.sock"));
        let _ = std::fs::remove_file(&socket);
        let memif = |role: &str| format!("net_memif0,role={role},socket={},socket-abstract=no", socket.display());
        match configuration {
            Configuration::Testpmd => {
                let dut = self.start_testpmd(name, &memif("server"))?;
                self.load(name, dut, Some(&socket), &memif("client"), Responder::Echo, 1, None)
            }
            Configuration::DpdkOneLcore | Configuration::DpdkTwoLcores => {
                let lcores = if configuration == Configuration::DpdkOneLcore { 1 } else { 2 };
                let dut = self.start_dpdk_node(name, &memif("server"), lcores)?;
                self.load(name, dut, Some(&socket), &memif("client"), Responder::Node, lcores, None)
            }
            Configuration::Software => {
                let namespace_name = format!("netcraq-bench-{}", std::process::id());
                let own = OwnNamespace::with_veth_pair(
                    &namespace_name,
                    (NODE_VETH, &NODE_MAC.to_string()),
                    (LOADGEN_VETH, &CLIENT_MAC.to_string()),
                )?;
                let dut = self.start_software_node(name, &own.namespace)?;
                let device = format!("net_af_packet0,iface={LOADGEN_VETH}");
                let result = self.load(name, dut, None, &device, Responder::Node, 1, Some(&own.namespace));
                drop(own);
                result
            }
        }
    }

    fn start_testpmd(&self, name: &str, device: &str) -> Result<Dut, String> {
        let (lg, dut) = (self.loadgen_cpu, self.dut_cpu);
        let mut command = Command::new(&self.args.testpmd);
        command
            .arg(format!("--lcores=0@{lg},1@{dut}"))
            .args(["--main-lcore", "0", "--in-memory", "--no-pci", "--no-telemetry", "--log-level=warning"])
            .args(["--vdev", device, "--"])
            .args(["--forward-mode=io", "--port-topology=loop", "--nb-cores=1", "--rxq=1", "--txq=1"])
            .arg(format!("--burst={}", self.args.load.burst))
            .arg(format!("--total-num-mbufs={TESTPMD_MBUFS}"))
            .args(["--rxd=1024", "--txd=1024"]);
        let process = Spawned::start_with_nice(&format!("{name}-dut"), command, &self.dir, true, self.args.nice)
            .map_err(|e| format!("{e} (dpdk-testpmd comes with Debian's `dpdk-dev` package)"))?;
        Ok(Dut { process, stop_signal: Some(libc::SIGINT), stats_path: None })
    }

    fn node_file(&self, name: &str, interface: &str) -> Result<PathBuf, String> {
        let config = NodeConfig::solo(NODE_MAC, NODE_IP, 0, self.args.load.keys);
        let routes = [Route { prefix: CLIENT_IP, prefix_len: 32, port: 1, mac: CLIENT_MAC }];
        let port = Port { number: 1, interface: interface.to_string(), faults: PortFaults::default(), device: None };
        let path = self.dir.join(format!("{name}.toml"));
        NodeFile::new(name, &config, vec![port], &routes, 0).save(&path).map_err(|e| e.to_string())?;
        Ok(path)
    }

    fn start_dpdk_node(&self, name: &str, device: &str, lcores: u16) -> Result<Dut, String> {
        let (lg, dut) = (self.loadgen_cpu, self.dut_cpu);
        let node_file = self.node_file(name, "memif")?;
        let stats_path = self.dir.join(format!("{name}-stats.json"));
        let lcore_map = if lcores == 1 { format!("0@{dut}") } else { format!("0@{dut},1@{lg}") };
        let mut command = Command::new(&self.exe);
        command
            .args(["node", "--config"])
            .arg(&node_file)
            .arg("--stats")
            .arg(&stats_path)
            .args(["--stats-interval-ms", "500"])
            .arg(format!("--dpdk=--lcores={lcore_map} --in-memory --no-telemetry --log-level=warning"))
            .arg(format!("--dpdk-port=1={device}"))
            .args(["--dpdk-idle", "spin"])
            .arg(format!("--dpdk-burst={}", self.args.load.burst));
        let process = Spawned::start_with_nice(&format!("{name}-dut"), command, &self.dir, false, self.args.nice)?;
        Ok(Dut { process, stop_signal: Some(libc::SIGINT), stats_path: Some(stats_path) })
    }

    fn start_software_node(&self, name: &str, namespace: &Namespace) -> Result<Dut, String> {
        let node_file = self.node_file(name, NODE_VETH)?;
        let stats_path = self.dir.join(format!("{name}-stats.json"));
        let mut command = namespace.command("taskset");
        command
            .args(["-c", &self.dut_cpu.to_string()])
            .arg(&self.exe)
            .args(["node", "--config"])
            .arg(&node_file)
            .arg("--stats")
            .arg(&stats_path)
            .args(["--stats-interval-ms", "200"]);
        let mut process = Spawned::start_with_nice(&format!("{name}-dut"), command, &self.dir, false, self.args.nice)?;
        // The node writes its counters from its first report on: it is listening.
        system::wait_for_file(&stats_path, &mut process, READY_LIMIT)?;
        Ok(Dut { process, stop_signal: Some(libc::SIGINT), stats_path: Some(stats_path) })
    }

    /// Waits for the device under test (its memif socket, if any), runs the
    /// load generator to its end, then stops the device under test.
    #[allow(clippy::too_many_arguments)]
    fn load(
        &self,
        name: &str,
        mut dut: Dut,
        socket: Option<&Path>,
        device: &str,
        responder: Responder,
        queues: u16,
        namespace: Option<&Namespace>,
    ) -> Result<(LoadgenReport, Option<Value>), String> {
        if let Some(socket) = socket {
            system::wait_for_file(socket, &mut dut.process, READY_LIMIT)?;
        }
        let result = self.run_loadgen(name, &mut dut, device, responder, queues, namespace);
        // Always after the load generator has ended.
        let (status, killed) = dut.process.stop(dut.stop_signal);
        let stats = dut.stats_path.as_ref().and_then(|path| std::fs::read_to_string(path).ok());
        // Outcomes and I/O counters; the per-key counters would only bloat the results.
        let stats = stats.and_then(|text| serde_json::from_str::<Value>(&text).ok()).map(|mut stats| {
            if let Some(fields) = stats.as_object_mut() {
                fields.retain(|field, _| matches!(field.as_str(), "node" | "outcomes" | "io"));
            }
            stats
        });
        let report = result?;
        if killed || !status.is_some_and(|s| s.success()) {
            let how = match status {
                _ if killed => "had to be killed".to_string(),
                Some(status) => format!("ended with {status} when stopped"),
                None => "could not be waited for".to_string(),
            };
            eprintln!("bench:   note: {} {how}:\n{}", dut.process.name, dut.process.stderr_tail(10));
        }
        Ok((report, stats))
    }

    fn run_loadgen(
        &self,
        name: &str,
        dut: &mut Dut,
        device: &str,
        responder: Responder,
        queues: u16,
        namespace: Option<&Namespace>,
    ) -> Result<LoadgenReport, String> {
        let load = &self.args.load;
        let mut command = match namespace {
            Some(namespace) => namespace.command(&self.exe),
            None => Command::new(&self.exe),
        };
        command
            .args(["bench", "loadgen", "--device", device])
            .arg(format!("--eal=--lcores=0@{}", self.loadgen_cpu))
            .args(["--responder", responder.name(), "--queues", &queues.to_string()])
            .args(["--read-fraction", &load.read_fraction.to_string(), "--keys", &load.keys.to_string()])
            .args(["--window", &load.window.to_string(), "--burst", &load.burst.to_string()])
            .args(["--warmup-s", &load.warmup_s.to_string(), "--duration-s", &load.duration_s.to_string()])
            .args(["--seed", &load.seed.to_string(), "--connect-timeout-s", &CONNECT_LIMIT_S.to_string()])
            .args(["--client-mac", &CLIENT_MAC.to_string(), "--client-ip", &CLIENT_IP.to_string()])
            .args(["--node-mac", &NODE_MAC.to_string(), "--node-ip", &NODE_IP.to_string()]);
        let mut loadgen =
            Spawned::start_with_nice(&format!("{name}-loadgen"), command, &self.dir, false, self.args.nice)?;
        let started = Instant::now();
        let limit =
            Duration::from_secs_f64(load.warmup_s + load.duration_s) + Duration::from_secs(CONNECT_LIMIT_S + 30);
        let mut next_progress = started + PROGRESS_EVERY;
        let status = loop {
            if let Some(status) = loadgen.try_status() {
                break status;
            }
            if netcraq_topology::interrupted() {
                loadgen.stop(Some(libc::SIGINT));
                return Err("interrupted".to_string());
            }
            if let Some(status) = dut.process.try_status() {
                loadgen.stop(Some(libc::SIGINT));
                return Err(format!(
                    "{} ended ({status}) under load:\n{}",
                    dut.process.name,
                    dut.process.stderr_tail(15)
                ));
            }
            if started.elapsed() > limit {
                loadgen.stop(Some(libc::SIGINT));
                return Err(format!("the load generator did not finish within {limit:?}"));
            }
            if Instant::now() >= next_progress {
                eprintln!("bench:   ... {} s", started.elapsed().as_secs());
                next_progress += PROGRESS_EVERY;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stdout = std::fs::read_to_string(&loadgen.stdout_path).unwrap_or_default();
        if !status.success() {
            return Err(format!("the load generator failed ({status}):\n{}", loadgen.stderr_tail(15)));
        }
        LoadgenReport::from_output(&stdout).map_err(|e| format!("{e}:\n{}", loadgen.stderr_tail(15)))
    }
}

fn settings_json(args: &BenchNodeArgs) -> Value {
    let load = &args.load;
    json!({
        "read_fraction": load.read_fraction,
        "keys": load.keys,
        "key_distribution": "uniform",
        "window_per_queue": load.window,
        "burst": load.burst,
        "warmup_s": load.warmup_s,
        "duration_s": load.duration_s,
        "seed": load.seed,
        "nice": args.nice,
        "rounds": args.rounds,
        "frame_bytes": netcraq_wire::NETCRAQ_FRAME_LEN,
        "node_role": "SOLO",
        "link": "net_memif between processes (software node: veth pair, loadgen on net_af_packet)",
    })
}

/// The 1-minute load average (/proc/loadavg): other work on the machine.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn machine_json(cpus: &[u32], load_average_at_start: Option<f64>) -> Value {
    let (model, kernel) = (system::cpu_model(), system::kernel());
    let dpdk = Command::new("pkg-config").args(["--modversion", "libdpdk"]).output().ok();
    let dpdk = dpdk.filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    json!({
        "cpus": cpus, "cpu_model": model, "kernel": kernel, "dpdk": dpdk,
        "load_average_1min_at_start": load_average_at_start, "load_average_1min_at_end": load_average(),
    })
}

pub(crate) fn utc_now() -> String {
    report::utc_timestamp(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

pub(crate) fn write_json(path: &Path, json: &Value) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(json).map_err(|e| e.to_string())? + "\n";
    let partial = path.with_extension("json.tmp");
    std::fs::write(&partial, text).map_err(|e| format!("writing {}: {e}", partial.display()))?;
    std::fs::rename(&partial, path).map_err(|e| format!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_are_selected_in_order() {
        let names = |list: &str| list.split(',').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            selected_configurations(&names("d,a,b,a")).unwrap(),
            [Configuration::Testpmd, Configuration::DpdkOneLcore, Configuration::Software]
        );
        assert!(selected_configurations(&names("e")).is_err());
    }
}
