//! `netcraq bench node`: the DPDK node's throughput and latency against
//! dpdk-testpmd's io forwarding over the same devices and against the
//! software node, measured in one run with the same closed-loop load.
//!
//! Configurations, in order, each with a fresh load generator process
//! (`netcraq bench loadgen`) running `--generators` generators, one lcore
//! each, each with a link of its own to the device under test (a memif
//! socket, or a veth pair for the software node). The device under test
//! polls from the second CPU on, the generators take the CPUs left
//! ([`Placement`]):
//!
//! - (a) dpdk-testpmd, io forwarding of every link on one core, as the memif server;
//! - (b) the DPDK node (`netcraq node --dpdk`, a SOLO node, so every READ
//!   and WRITE gets a reply) on one lcore, as the memif server, one port
//!   per generator: generator g has a client address of its own, routed
//!   back out of its port;
//! - (c) the same node on two lcores (on a 2-core machine one of them
//!   shares a CPU with a generator, which the output says), each generator
//!   sending key k on queue k % 2;
//! - (d) the software node (`netcraq node`, AF_PACKET) on veth pairs in a
//!   namespace of its own, the generators on DPDK's af_packet driver.
//!
//! The load generator is always stopped before the device under test (the
//! memif server of DPDK 22.11 can crash when its client vanishes under
//! traffic). Hugepages are reserved with `hugepages/hugepages.sh` and
//! released at the end, on errors and on Ctrl-C too.

use crate::frames::Responder;
use crate::loadgen::{generator_endpoint, LoadSettings, LoadgenReport, MAX_GENERATORS};
use crate::report::{self, Comparison, Configuration, ConfigurationResult, DeviceSignals, Limit, Outcome};
use crate::results::{load_average, machine_json, source_path, utc_now, write_json};
use crate::system::{self, Hugepages, OwnNamespace, ScratchDir, Spawned};
use clap::Args;
use netcraq_core::{NodeConfig, Route};
use netcraq_plan::plan::NodeTables;
use netcraq_topology::{Namespace, NodeFile, Port, PortFaults};
use netcraq_wire::{Endpoint, Ipv4Addr, MacAddr};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const NODE_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
/// The veth pairs of the software node's configuration, inside its
/// namespace: generator g's are these names with g appended.
const NODE_VETH: &str = "nb-node";
const LOADGEN_VETH: &str = "nb-load";
/// How long a device under test may take to come up.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// The load generator's limit to get a first reply.
const CONNECT_LIMIT_S: u64 = 20;
/// How often progress is printed during a measurement.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// testpmd's mbufs per port: its rings full both ways and its cache, with room.
const TESTPMD_MBUFS_PER_PORT: u32 = 16_384;

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
    /// Load generators: lcores of the load generator process, each with a
    /// link of its own to the device under test [default: one per CPU
    /// beside the device under test's, at least 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_GENERATORS as i64))]
    pub generators: Option<u16>,
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
    let cpus = match system::allowed_cpus() {
        cpus if cpus.is_empty() => vec![0],
        cpus => cpus,
    };
    let generators = args.generators.map_or_else(|| default_generators(cpus.len()), usize::from);
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
    let one_lcore = Placement::new(&cpus, 1, true, generators);
    eprintln!(
        "bench: {} s warm-up + {} s measured per configuration; CPUs {cpus:?}: {generators} generator(s) on CPU(s) \
         {}, device under test from CPU {}",
        args.load.warmup_s,
        args.load.duration_s,
        cpu_list(&one_lcore.generator_cpus),
        cpu_list(&one_lcore.device_cpus)
    );
    if one_lcore.oversubscribed() {
        eprintln!("bench: more pollers than CPUs: generators share CPUs (the output marks it OVERSUBSCRIBED)");
    }
    let load_average = load_average();
    if let Some(load) = load_average.filter(|load| *load > 0.5) {
        eprintln!("bench: note: the machine is busy (load average {load:.1}): other work competes with the pollers");
    }
    let scratch = ScratchDir::new("netcraq-bench")?;
    let hugepages = Hugepages::reserve(&script, args.hugepages)?;
    eprintln!("bench: hugepages: {}", hugepages.note);
    let bench =
        Bench { args, runs: std::cell::Cell::new(0), exe, dir: scratch.path.clone(), cpus: cpus.clone(), generators };
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
    println!("With several generators: their Mpps added up, latencies merged, busy % and fill over all of them.");
    print!("{}", limit_legend(&results));
    if results.iter().any(|r| r.oversubscribed) {
        println!(
            "OVERSUBSCRIBED: {} CPU(s) here for more busy pollers; those figures include the pollers' fight for CPU time.",
            cpus.len()
        );
    }
    print!("{}", limit_notes(&results, &comparison, cpus.len(), generators));
    println!();
    print!("{}", report::ratio_lines(&comparison));
    if interrupted {
        println!("{}", comparison.summary_line());
        eprintln!("bench: interrupted: no results written");
        return Err("interrupted".to_string());
    }
    let timestamp = utc_now();
    let mut json =
        report::to_json(&results, settings_json(args, generators), machine_json(&cpus, load_average), &timestamp);
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

/// One generator per CPU beside the device under test's one lcore, at least one.
fn default_generators(cpus: usize) -> usize {
    cpus.saturating_sub(1).clamp(1, MAX_GENERATORS)
}

/// Each limit that occurs in `results`, with its meaning.
fn limit_legend(results: &[ConfigurationResult]) -> String {
    let mut limits: Vec<Limit> = Vec::new();
    for limit in results.iter().filter_map(ConfigurationResult::limit) {
        if !limits.contains(&limit) {
            limits.push(limit);
        }
    }
    limits.iter().map(|limit| format!("limit {}: {}.\n", limit.name(), limit.meaning())).collect()
}

/// Says plainly which configurations their generators held back, and, when
/// `vs_testpmd` is no ceiling comparison and no CPU is left for more
/// generators, that this machine cannot make it one and what it means instead.
fn limit_notes(results: &[ConfigurationResult], comparison: &Comparison, cpus: usize, generators: usize) -> String {
    let bound: Vec<&str> = results
        .iter()
        .filter(|r| r.limit() == Some(Limit::Generator))
        .map(|r| r.configuration.label().split(' ').next().unwrap_or_default())
        .collect();
    let no_cpu_left = generators + 1 >= cpus;
    let mut notes = String::new();
    if !bound.is_empty() {
        let more = match no_cpu_left {
            true => "no CPU is left for more generators".to_string(),
            false => format!("{} CPU(s) were left unused: more --generators may lift it", cpus - generators - 1),
        };
        notes += &format!(
            "GENERATOR-LIMITED: {}: those figures are the load the generators could make, not the device under \
             test's ceiling ({more}).\n",
            bound.join(", ")
        );
    }
    if comparison.limit().is_some() && !comparison.is_ceiling_comparison() && no_cpu_left {
        notes += &format!(
            "This machine has {cpus} CPU(s): {generators} generator(s) and the device under test's lcore take them \
             all, and more generators would only share CPUs with these, so the generators cannot be taken out of \
             the way here. vs_testpmd therefore compares the node and testpmd under the load {generators} \
             generator core(s) can make, not at their own ceilings (that needs more CPUs: perf/README.md).\n"
        );
    }
    notes
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

/// Where the pollers of one configuration run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The device under test's lcores (the software node: the one CPU it runs on).
    pub device_cpus: Vec<u32>,
    /// Whether the device under test polls (a DPDK one) or sleeps when idle (the software node).
    pub device_polls: bool,
    /// Each generator's CPU.
    pub generator_cpus: Vec<u32>,
}

impl Placement {
    /// The device under test's `device_lcores` on the CPUs from the second
    /// on (round to the first when short), the generators in turn on the
    /// CPUs left (on all of them, from the first, when none is left).
    /// `cpus` empty counts as CPU 0 alone.
    pub fn new(cpus: &[u32], device_lcores: usize, device_polls: bool, generators: usize) -> Placement {
        let cpus = if cpus.is_empty() { &[0][..] } else { cpus };
        let device_cpus: Vec<u32> = (0..device_lcores).map(|lcore| cpus[(1 + lcore) % cpus.len()]).collect();
        let left: Vec<u32> = cpus.iter().copied().filter(|cpu| !device_cpus.contains(cpu)).collect();
        let pool = if left.is_empty() { cpus } else { &left[..] };
        let generator_cpus = (0..generators).map(|generator| pool[generator % pool.len()]).collect();
        Placement { device_cpus, device_polls, generator_cpus }
    }

    /// Every busy poller's CPU, one entry per poller.
    fn poller_cpus(&self) -> Vec<u32> {
        let device = if self.device_polls { &self.device_cpus[..] } else { &[] };
        device.iter().chain(&self.generator_cpus).copied().collect()
    }

    /// Some CPU runs more than one busy poller.
    pub fn oversubscribed(&self) -> bool {
        let cpus = self.poller_cpus();
        cpus.iter().enumerate().any(|(index, cpu)| cpus[index + 1..].contains(cpu))
    }

    /// A poller of the device under test shares its CPU with another poller.
    pub fn device_shares_cpu(&self) -> bool {
        let cpus = self.poller_cpus();
        self.device_polls && self.device_cpus.iter().any(|cpu| cpus.iter().filter(|c| *c == cpu).count() > 1)
    }

    /// The EAL's `--lcores` mapping lcore i to the i-th of `cpus`.
    fn lcore_map(cpus: &[u32]) -> String {
        cpus.iter().enumerate().map(|(lcore, cpu)| format!("{lcore}@{cpu}")).collect::<Vec<_>>().join(",")
    }
}

/// `0,0,2` for CPUs 0, 0 and 2.
fn cpu_list(cpus: &[u32]) -> String {
    cpus.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// Generator `generator`'s address.
fn client(generator: usize) -> Result<Endpoint, String> {
    generator_endpoint(Endpoint { mac: CLIENT_MAC, ip: CLIENT_IP }, generator)
}

struct Bench<'a> {
    args: &'a BenchNodeArgs,
    /// Configurations run so far, to name each run's files.
    runs: std::cell::Cell<u32>,
    exe: PathBuf,
    dir: PathBuf,
    cpus: Vec<u32>,
    generators: usize,
}

/// The device under test, started and waiting for load.
struct Dut {
    process: Spawned,
    /// How to stop it: a signal, or `None` to close its stdin (testpmd).
    stop_signal: Option<libc::c_int>,
    stats_path: Option<PathBuf>,
    /// testpmd with `--record-core-cycles`: its busy cycles are in its stdout at the end.
    prints_core_cycles: bool,
}

/// What one configuration measured.
struct Measurement {
    report: LoadgenReport,
    /// The node's own counters at the end, when it is a node.
    node_stats: Option<Value>,
    device_busy_fraction: Option<f64>,
}

/// testpmd's busy share over `loaded_s`, from the line `--record-core-cycles`
/// makes it print when it stops, e.g. `CPU cycles/packet=67.30 (total
/// cycles=5288687077 / total io packets=78583712) at 2450 MHz Clock`: its
/// io forwarding counts the cycles of bursts that received frames.
fn testpmd_busy_fraction(stdout: &str, loaded_s: f64) -> Option<f64> {
    let line = stdout.lines().rev().find(|line| line.contains("CPU cycles/packet="))?;
    let number_after =
        |marker: &str| -> Option<f64> { line.split(marker).nth(1)?.split_whitespace().next()?.parse().ok() };
    let (cycles, mhz) = (number_after("total cycles=")?, number_after(" at ")?);
    (loaded_s > 0.0 && mhz > 0.0).then(|| (cycles / (mhz * 1e6) / loaded_s).min(1.0))
}

/// The links between the generators and the device under test, one per generator.
struct Links {
    /// The device under test's side of each (memif server devargs, or its veth).
    device: Vec<String>,
    /// The generators' side of each (DPDK devargs).
    generators: Vec<String>,
    /// The memif sockets the device under test creates, to wait for.
    sockets: Vec<PathBuf>,
}

impl Links {
    /// memif links, the device under test the server: `net_memif{g}` over socket `<dir>/<name>-{g}.sock`.
    fn memif(dir: &Path, name: &str, generators: usize) -> Links {
        let sockets: Vec<PathBuf> = (0..generators).map(|g| dir.join(format!("{name}-{g}.sock"))).collect();
        sockets.iter().for_each(|socket| drop(std::fs::remove_file(socket)));
        let devargs = |role: &str| -> Vec<String> {
            let link = |(g, socket): (usize, &PathBuf)| {
                format!("net_memif{g},role={role},socket={},socket-abstract=no", socket.display())
            };
            sockets.iter().enumerate().map(link).collect()
        };
        Links { device: devargs("server"), generators: devargs("client"), sockets }
    }

    /// veth pairs (created by [`OwnNamespace::with_veth_pairs`]), the generators on DPDK's af_packet driver.
    fn veth(generators: usize) -> Links {
        Links {
            device: (0..generators).map(|g| format!("{NODE_VETH}{g}")).collect(),
            generators: (0..generators).map(|g| format!("net_af_packet{g},iface={LOADGEN_VETH}{g}")).collect(),
            sockets: Vec::new(),
        }
    }
}

impl Bench<'_> {
    fn placement(&self, configuration: Configuration) -> Placement {
        let lcores = if configuration == Configuration::DpdkTwoLcores { 2 } else { 1 };
        Placement::new(&self.cpus, lcores, configuration != Configuration::Software, self.generators)
    }

    fn run_configuration(&self, configuration: Configuration) -> ConfigurationResult {
        let placement = self.placement(configuration);
        let (device, generators) = (cpu_list(&placement.device_cpus), cpu_list(&placement.generator_cpus));
        let generators = format!("{} generator(s) on CPU(s) {generators}", self.generators);
        let description = match configuration {
            Configuration::Testpmd => format!(
                "testpmd forwarding lcore on CPU {device} (main lcore idle on CPU {}), {generators}",
                self.cpus[0]
            ),
            Configuration::DpdkOneLcore | Configuration::DpdkTwoLcores => {
                format!("node lcore(s) on CPU(s) {device}, {generators}")
            }
            Configuration::Software => {
                format!("software node on CPU {device} (sleeps in poll(2) when idle), {generators}")
            }
        };
        // memif links between processes now and then fail to come up: one more try.
        let measured = self.measure(configuration, &placement).or_else(|error| {
            if netcraq_topology::interrupted() {
                return Err(error);
            }
            eprintln!("bench:   failed, trying once more: {}", error.lines().next().unwrap_or_default());
            self.measure(configuration, &placement)
        });
        let (outcome, node_stats, device_busy_fraction) = match measured {
            Ok(measurement) => (
                Outcome::Measured(Box::new(measurement.report)),
                measurement.node_stats,
                measurement.device_busy_fraction,
            ),
            Err(error) => (Outcome::Failed(error), None, None),
        };
        ConfigurationResult {
            configuration,
            placement: description,
            oversubscribed: placement.oversubscribed(),
            device: DeviceSignals { shares_cpu: placement.device_shares_cpu(), busy_fraction: device_busy_fraction },
            outcome,
            node_stats,
            mpps_per_round: Vec::new(),
        }
    }

    fn measure(&self, configuration: Configuration, placement: &Placement) -> Result<Measurement, String> {
        // A name of its own per run: a memif server that crashes on its way
        // out (DPDK 22.11 does) leaves its socket file behind.
        let run = self.runs.get() + 1;
        self.runs.set(run);
        let name = &format!("{}-{run}", configuration.key());
        match configuration {
            Configuration::Testpmd => {
                let links = Links::memif(&self.dir, name, self.generators);
                let dut = self.start_testpmd(name, &links.device, placement)?;
                self.load(name, dut, &links, Responder::Echo, 1, placement, None)
            }
            Configuration::DpdkOneLcore | Configuration::DpdkTwoLcores => {
                let links = Links::memif(&self.dir, name, self.generators);
                let dut = self.start_dpdk_node(name, &links.device, placement)?;
                let queues = placement.device_cpus.len() as u16;
                self.load(name, dut, &links, Responder::Node, queues, placement, None)
            }
            Configuration::Software => {
                let links = Links::veth(self.generators);
                let mut pairs = Vec::with_capacity(self.generators);
                for (g, node_veth) in links.device.iter().enumerate() {
                    let generator_side = (format!("{LOADGEN_VETH}{g}"), client(g)?.mac.to_string());
                    pairs.push(((node_veth.clone(), NODE_MAC.to_string()), generator_side));
                }
                let namespace_name = format!("netcraq-bench-{}", std::process::id());
                let own = OwnNamespace::with_veth_pairs(&namespace_name, &pairs)?;
                let dut = self.start_software_node(name, &links.device, placement, &own.namespace)?;
                let result = self.load(name, dut, &links, Responder::Node, 1, placement, Some(&own.namespace));
                drop(own);
                result
            }
        }
    }

    fn start_testpmd(&self, name: &str, devices: &[String], placement: &Placement) -> Result<Dut, String> {
        let mut command = Command::new(&self.args.testpmd);
        command.arg(format!("--lcores={}", Placement::lcore_map(&[self.cpus[0], placement.device_cpus[0]]))).args([
            "--main-lcore",
            "0",
            "--in-memory",
            "--no-pci",
            "--no-telemetry",
            "--log-level=warning",
        ]);
        for device in devices {
            command.args(["--vdev", device]);
        }
        command
            .arg("--")
            .args(["--forward-mode=io", "--port-topology=loop", "--nb-cores=1", "--rxq=1", "--txq=1"])
            .arg(format!("--burst={}", self.args.load.burst))
            .arg(format!("--total-num-mbufs={}", TESTPMD_MBUFS_PER_PORT * devices.len() as u32))
            .args(["--rxd=1024", "--txd=1024", "--record-core-cycles"]);
        let process = Spawned::start_with_nice(&format!("{name}-dut"), command, &self.dir, true, self.args.nice)
            .map_err(|e| format!("{e} (dpdk-testpmd comes with Debian's `dpdk-dev` package)"))?;
        Ok(Dut { process, stop_signal: Some(libc::SIGINT), stats_path: None, prints_core_cycles: true })
    }

    /// A SOLO node with port g + 1 on `interfaces[g]`, and generator g's address routed out of it.
    fn node_file(&self, name: &str, interfaces: &[String]) -> Result<PathBuf, String> {
        let config = NodeConfig::solo(NODE_MAC, NODE_IP, 0, self.args.load.keys);
        let mut ports = Vec::with_capacity(interfaces.len());
        let mut routes = Vec::with_capacity(interfaces.len());
        for (g, interface) in interfaces.iter().enumerate() {
            let number = g as u16 + 1;
            let generator = client(g)?;
            ports.push(Port { number, interface: interface.clone(), faults: PortFaults::default(), device: None });
            routes.push(Route { prefix: generator.ip, prefix_len: 32, port: number, mac: generator.mac });
        }
        let path = self.dir.join(format!("{name}.toml"));
        let tables = NodeTables { config, routes, fabric_ports: Vec::new(), key_groups: Vec::new() };
        NodeFile::new(name, &tables, ports, 0).save(&path).map_err(|e| e.to_string())?;
        Ok(path)
    }

    fn start_dpdk_node(&self, name: &str, devices: &[String], placement: &Placement) -> Result<Dut, String> {
        let interfaces: Vec<String> = (0..devices.len()).map(|g| format!("memif{g}")).collect();
        let node_file = self.node_file(name, &interfaces)?;
        let stats_path = self.dir.join(format!("{name}-stats.json"));
        let lcore_map = Placement::lcore_map(&placement.device_cpus);
        let mut command = Command::new(&self.exe);
        command
            .args(["node", "--config"])
            .arg(&node_file)
            .arg("--stats")
            .arg(&stats_path)
            .args(["--stats-interval-ms", "500"])
            .arg(format!("--dpdk=--lcores={lcore_map} --in-memory --no-telemetry --log-level=warning"));
        for (g, device) in devices.iter().enumerate() {
            command.arg(format!("--dpdk-port={}={device}", g + 1));
        }
        command.args(["--dpdk-idle", "spin"]).arg(format!("--dpdk-burst={}", self.args.load.burst));
        let process = Spawned::start_with_nice(&format!("{name}-dut"), command, &self.dir, false, self.args.nice)?;
        Ok(Dut { process, stop_signal: Some(libc::SIGINT), stats_path: Some(stats_path), prints_core_cycles: false })
    }

    fn start_software_node(
        &self,
        name: &str,
        interfaces: &[String],
        placement: &Placement,
        namespace: &Namespace,
    ) -> Result<Dut, String> {
        let node_file = self.node_file(name, interfaces)?;
        let stats_path = self.dir.join(format!("{name}-stats.json"));
        let mut command = namespace.command("taskset");
        command
            .args(["-c", &placement.device_cpus[0].to_string()])
            .arg(&self.exe)
            .args(["node", "--config"])
            .arg(&node_file)
            .arg("--stats")
            .arg(&stats_path)
            .args(["--stats-interval-ms", "200"]);
        let mut process = Spawned::start_with_nice(&format!("{name}-dut"), command, &self.dir, false, self.args.nice)?;
        // The node writes its counters from its first report on: it is listening.
        system::wait_for_file(&stats_path, &mut process, READY_LIMIT)?;
        Ok(Dut { process, stop_signal: Some(libc::SIGINT), stats_path: Some(stats_path), prints_core_cycles: false })
    }

    /// Waits for the device under test (its memif sockets, if any), runs the
    /// load generator until it has its result, stops the device under test
    /// and then the load generator.
    #[allow(clippy::too_many_arguments)]
    fn load(
        &self,
        name: &str,
        mut dut: Dut,
        links: &Links,
        responder: Responder,
        queues: u16,
        placement: &Placement,
        namespace: Option<&Namespace>,
    ) -> Result<Measurement, String> {
        for socket in &links.sockets {
            system::wait_for_file(socket, &mut dut.process, READY_LIMIT)?;
        }
        let measured = self.run_loadgen(name, &mut dut, &links.generators, responder, queues, placement, namespace);
        // The links are idle now (or the load generator has ended): the
        // device under test stops first, so that testpmd's port counters
        // still hold what went over them...
        let (status, killed) = dut.process.stop(dut.stop_signal);
        // ...then the load generator, which stops its ports when its stdin closes.
        let result = measured.map(|(mut loadgen, report)| {
            loadgen.stop(None);
            report
        });
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
        let device_busy_fraction = match dut.prints_core_cycles {
            true => testpmd_busy_fraction(
                &std::fs::read_to_string(&dut.process.stdout_path).unwrap_or_default(),
                report.loaded_s,
            ),
            false => None,
        };
        Ok(Measurement { report, node_stats: stats, device_busy_fraction })
    }

    #[allow(clippy::too_many_arguments)]
    fn run_loadgen(
        &self,
        name: &str,
        dut: &mut Dut,
        devices: &[String],
        responder: Responder,
        queues: u16,
        placement: &Placement,
        namespace: Option<&Namespace>,
    ) -> Result<(Spawned, LoadgenReport), String> {
        let load = &self.args.load;
        let mut command = match namespace {
            Some(namespace) => namespace.command(&self.exe),
            None => Command::new(&self.exe),
        };
        command.args(["bench", "loadgen"]);
        for device in devices {
            command.args(["--device", device]);
        }
        command
            .arg(format!("--eal=--lcores={}", Placement::lcore_map(&placement.generator_cpus)))
            .args(["--responder", responder.name(), "--queues", &queues.to_string()])
            .args(["--read-fraction", &load.read_fraction.to_string(), "--keys", &load.keys.to_string()])
            .args(["--window", &load.window.to_string(), "--burst", &load.burst.to_string()])
            .args(["--warmup-s", &load.warmup_s.to_string(), "--duration-s", &load.duration_s.to_string()])
            .args(["--seed", &load.seed.to_string(), "--connect-timeout-s", &CONNECT_LIMIT_S.to_string()])
            .args(["--client-mac", &CLIENT_MAC.to_string(), "--client-ip", &CLIENT_IP.to_string()])
            .args(["--node-mac", &NODE_MAC.to_string(), "--node-ip", &NODE_IP.to_string()])
            .arg("--linger");
        let mut loadgen =
            Spawned::start_with_nice(&format!("{name}-loadgen"), command, &self.dir, true, self.args.nice)?;
        let started = Instant::now();
        let limit =
            Duration::from_secs_f64(load.warmup_s + load.duration_s) + Duration::from_secs(CONNECT_LIMIT_S + 30);
        let mut next_progress = started + PROGRESS_EVERY;
        let result = |loadgen: &Spawned| {
            let stdout = std::fs::read_to_string(&loadgen.stdout_path).unwrap_or_default();
            LoadgenReport::from_output(&stdout)
        };
        let status = loop {
            // It lingers, links up and idle, once it has printed its result.
            if let Ok(report) = result(&loadgen) {
                return Ok((loadgen, report));
            }
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
        if !status.success() {
            return Err(format!("the load generator failed ({status}):\n{}", loadgen.stderr_tail(15)));
        }
        let report = result(&loadgen).map_err(|e| format!("{e}:\n{}", loadgen.stderr_tail(15)))?;
        Ok((loadgen, report))
    }
}

fn settings_json(args: &BenchNodeArgs, generators: usize) -> Value {
    let load = &args.load;
    json!({
        "generators": generators,
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
        "link": "net_memif between processes, one per generator (software node: a veth pair per generator, \
                 the generators on net_af_packet)",
    })
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

    #[test]
    fn the_device_under_test_polls_from_the_second_cpu_and_generators_take_the_rest() {
        let two = Placement::new(&[0, 1], 1, true, 1);
        assert_eq!((two.device_cpus.clone(), two.generator_cpus.clone()), (vec![1], vec![0]));
        assert!(!two.oversubscribed() && !two.device_shares_cpu());
        let two_generators = Placement::new(&[0, 1], 1, true, 2);
        assert_eq!(two_generators.generator_cpus, [0, 0]);
        assert!(two_generators.oversubscribed() && !two_generators.device_shares_cpu());
        let two_lcores = Placement::new(&[0, 1], 2, true, 1);
        assert_eq!((two_lcores.device_cpus.clone(), two_lcores.generator_cpus.clone()), (vec![1, 0], vec![0]));
        assert!(two_lcores.device_shares_cpu());
        let four = Placement::new(&[0, 1, 2, 3], 1, true, 3);
        assert_eq!((four.device_cpus.clone(), four.generator_cpus.clone()), (vec![1], vec![0, 2, 3]));
        assert!(!four.oversubscribed());
        let software = Placement::new(&[0, 1], 1, false, 2);
        assert!(software.oversubscribed() && !software.device_shares_cpu(), "the software node sleeps when idle");
        assert_eq!(Placement::new(&[], 1, true, 1).generator_cpus, [0]);
        assert_eq!(Placement::lcore_map(&[0, 2, 3]), "0@0,1@2,2@3");
    }

    #[test]
    fn the_output_says_when_no_cpu_is_left_to_lift_the_generator_limit() {
        let result = |configuration, busy_fraction, device_busy| ConfigurationResult {
            configuration,
            placement: String::new(),
            oversubscribed: false,
            device: DeviceSignals { shares_cpu: false, busy_fraction: device_busy },
            outcome: Outcome::Measured(Box::new(LoadgenReport {
                mpps: 3.0,
                busy_fraction,
                rx_burst_fill: 1.0,
                ..Default::default()
            })),
            node_stats: None,
            mpps_per_round: Vec::new(),
        };
        let results =
            [result(Configuration::Testpmd, 0.95, Some(0.6)), result(Configuration::DpdkOneLcore, 0.85, None)];
        let comparison = Comparison::of(&results);
        let notes = limit_notes(&results, &comparison, 2, 1);
        assert!(notes.starts_with("GENERATOR-LIMITED: (a): "), "{notes}");
        assert!(notes.contains("no CPU is left") && notes.contains("This machine has 2 CPU(s)"), "{notes}");
        let roomy = limit_notes(&results, &comparison, 8, 1);
        assert!(roomy.contains("6 CPU(s) were left unused") && !roomy.contains("This machine"), "{roomy}");
        let ceilings =
            [result(Configuration::Testpmd, 0.5, Some(0.95)), result(Configuration::DpdkOneLcore, 0.5, None)];
        assert_eq!(limit_notes(&ceilings, &Comparison::of(&ceilings), 2, 1), "");
    }

    #[test]
    fn testpmd_busy_share_comes_from_its_cycle_count() {
        let stdout = "Done.\n  CPU cycles/packet=67.30 (total cycles=4900000000 / total io packets=78583712) \
                      at 2450 MHz Clock\nBye...\n";
        let busy = testpmd_busy_fraction(stdout, 4.0).unwrap();
        assert!((busy - 0.5).abs() < 1e-9, "2 s of cycles in 4 s: {busy}");
        assert_eq!(testpmd_busy_fraction(stdout, 1.0), Some(1.0), "capped at all the time");
        assert_eq!(testpmd_busy_fraction(stdout, 0.0), None);
        assert_eq!(testpmd_busy_fraction("Bye...\n", 4.0), None);
    }

    #[test]
    fn generators_default_to_the_cpus_beside_the_device_under_test() {
        assert_eq!([1, 2, 4, 64].map(default_generators), [1, 1, 3, MAX_GENERATORS]);
    }

    #[test]
    fn a_node_routes_each_generator_back_out_of_its_own_port() {
        let links = Links::memif(Path::new("/run/x"), "b-1", 2);
        assert_eq!(links.generators[1], "net_memif1,role=client,socket=/run/x/b-1-1.sock,socket-abstract=no");
        assert_eq!(links.device[0], "net_memif0,role=server,socket=/run/x/b-1-0.sock,socket-abstract=no");
        assert_eq!(Links::veth(2).generators[1], "net_af_packet1,iface=nb-load1");
        let args = default_args();
        assert_eq!(args.generators, None);
        let dir = ScratchDir::new("netcraq-bench-test").unwrap();
        let bench = Bench {
            args: &args,
            runs: Default::default(),
            exe: PathBuf::new(),
            dir: dir.path.clone(),
            cpus: vec![0, 1],
            generators: 2,
        };
        let path = bench.node_file("b-1", &["memif0".into(), "memif1".into()]).unwrap();
        let file = NodeFile::load(&path).unwrap();
        assert_eq!(file.ports.len(), 2);
        let routes = file.routes();
        for g in 0..2 {
            let generator = client(g).unwrap();
            let route = routes.iter().find(|r| r.prefix == generator.ip).expect("a route per generator");
            assert_eq!((route.prefix_len, route.port, route.mac), (32, g as u16 + 1, generator.mac));
        }
    }

    fn default_args() -> BenchNodeArgs {
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            args: BenchNodeArgs,
        }
        <Command as clap::Parser>::parse_from(["bench"]).args
    }
}
