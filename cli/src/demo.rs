//! `netcraq demo`: the same workload on a simulated chain, in CRAQ mode and
//! in CR mode; with `--kill-node`, a chain that loses a node mid-run.

use crate::demo_failover::{self, Victim};
use crate::demo_netns;
use crate::report::{DemoReport, DemoSetup, ModeReport, Network};
use clap::Args;
use indicatif::ProgressBar;
use netcraq_core::Mode;
use netcraq_perf::figures::{parse_fraction, parse_seconds_within};
use netcraq_perf::progress_bar;
use netcraq_perf::sim_chain::SimLoad;
use netcraq_sim::{ExperimentReport, NodeChoice, NodeSettings};
use std::io::{ErrorKind, Write};
use std::path::PathBuf;

/// Client hosts and requests each keeps outstanding: enough to saturate
/// any chain the demo accepts, so throughput is the bottleneck node's.
const CLIENT_HOSTS: usize = 4;
const WORKERS_PER_CLIENT: u16 = 32;
/// Far above the saturated round trip (about 128 requests queued at a node
/// serving one per microsecond), so clients do not retransmit needlessly.
const TIMEOUT_NS: u64 = 5_000_000;
const MAX_NODES: u8 = 16;
const SECONDS_MIN: f64 = 0.0001;
const SECONDS_MAX: f64 = 600.0;
const SIMULATED_SECONDS_MAX: f64 = 10.0;
/// Warm-up before measuring, as a share of the measured time.
const WARMUP_SHARE: f64 = 0.1;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Nodes in the chain, head to tail (1 to 16)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=i64::from(MAX_NODES)))]
    nodes: u8,
    /// Seconds measured per mode: wall-clock on namespaces (default 3), simulated on the
    /// in-memory network (default 0.1; a few seconds of wall time per simulated second);
    /// with --kill-node, the whole run (default 6, at least 2)
    #[arg(long, value_parser = parse_seconds)]
    seconds: Option<f64>,
    /// Share of operations that are reads, as a decimal or a fraction (0 to 1); the rest are writes
    #[arg(long, default_value = "2/3", value_parser = parse_fraction)]
    read_fraction: f64,
    /// Number of keys, drawn uniformly (1 to 65535)
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=65535))]
    keys: u32,
    /// Seed of the simulation: the same seed gives the same numbers
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the results as JSON on stdout instead of a table
    #[arg(long)]
    json: bool,
    /// Use the in-memory network even when running as root
    #[arg(long, conflicts_with = "kill_node")]
    simulated: bool,
    /// Kill this member mid-run (kill -9 of its process): head, middle, tail
    /// or a node n1, n2, …; alone, the middle one. The chain runs in CRAQ
    /// mode with a spare and the running controller; the demo prints
    /// throughput and latency every 100 ms with the failure, failover and
    /// recovery marked, and checks that nothing was lost. Needs root
    #[arg(long, value_name = "NODE", num_args = 0..=1, default_missing_value = "middle")]
    kill_node: Option<Victim>,
    /// With --kill-node: where to write the timeline's plot (SVG)
    #[arg(long, value_name = "FILE", requires = "kill_node")]
    plot: Option<PathBuf>,
}

const NAMESPACE_SECONDS_DEFAULT: f64 = 3.0;
const SIMULATED_SECONDS_DEFAULT: f64 = 0.1;

pub fn run(args: &DemoArgs) -> Result<(), String> {
    let root = netcraq_topology::running_as_root();
    let iproute2 = std::process::Command::new("ip").arg("-V").output().is_ok_and(|out| out.status.success());
    if let Some(victim) = &args.kill_node {
        return match root && iproute2 {
            true => kill_node(args, victim.clone()),
            false => Err("--kill-node kills a node process on network namespaces: run as root, with iproute2".into()),
        };
    }
    if root && !args.simulated && !iproute2 {
        eprintln!("netcraq: `ip` (iproute2) not found, so no namespaces: running on the in-memory network instead");
        eprintln!("netcraq: `apt-get install -y iproute2` for a chain with real packets");
    }
    let report = match root && !args.simulated && iproute2 {
        true => on_namespaces(args)?,
        false => simulated(args)?,
    };
    let text = match args.json {
        true => serde_json::to_string_pretty(&report).map_err(|e| e.to_string())? + "\n",
        false => report.table(),
    };
    write_stdout(&text)
}

/// The failure demo: its report as text or JSON, its plot, and an error
/// after the report when anything acknowledged was lost.
fn kill_node(args: &DemoArgs, victim: Victim) -> Result<(), String> {
    let seconds = args.seconds.unwrap_or(demo_failover::SECONDS_DEFAULT);
    if seconds < demo_failover::SECONDS_MIN {
        return Err(format!("--seconds {seconds}: --kill-node needs at least {} s", demo_failover::SECONDS_MIN));
    }
    if args.nodes > demo_failover::MAX_NODES {
        return Err(format!("--nodes {}: --kill-node runs at most {} nodes", args.nodes, demo_failover::MAX_NODES));
    }
    let progress = progress_bar(1, "{msg:<48} [{bar:40}] {elapsed}");
    let report = demo_failover::run(&namespace_settings(args, seconds), victim, &progress);
    progress.finish_and_clear();
    let mut report = report?;
    let plot = args.plot.clone().unwrap_or_else(|| std::env::temp_dir().join(DEFAULT_PLOT));
    match crate::timeline_plot::write_svg(&report, &plot) {
        Ok(()) => report.plot = Some(plot.display().to_string()),
        Err(error) => eprintln!("netcraq: no plot: {error}"),
    }
    let text = match args.json {
        true => serde_json::to_string_pretty(&report).map_err(|e| e.to_string())? + "\n",
        false => report.table(),
    };
    write_stdout(&text)?;
    match report.verification().nothing_lost() {
        true => Ok(()),
        false => Err(format!("the failover lost something: the history is {}", report.verification().verdict)),
    }
}

/// Where the failure demo's plot goes unless --plot says.
const DEFAULT_PLOT: &str = "netcraq-demo-failover.svg";

/// The namespace chain's settings from the command line, running `seconds`.
fn namespace_settings(args: &DemoArgs, seconds: f64) -> demo_netns::Settings {
    demo_netns::Settings {
        nodes: args.nodes,
        seconds,
        read_fraction: args.read_fraction,
        keys: args.keys,
        seed: args.seed,
    }
}

fn on_namespaces(args: &DemoArgs) -> Result<DemoReport, String> {
    let settings = namespace_settings(args, args.seconds.unwrap_or(NAMESPACE_SECONDS_DEFAULT));
    let progress = progress_bar(1, "{msg:<22} [{bar:40}] {elapsed}");
    let report = demo_netns::run(&settings, &progress);
    progress.finish_and_clear();
    report
}

fn simulated(args: &DemoArgs) -> Result<DemoReport, String> {
    let seconds = args.seconds.unwrap_or(SIMULATED_SECONDS_DEFAULT);
    if seconds > SIMULATED_SECONDS_MAX {
        return Err(format!("--seconds {seconds}: the in-memory network simulates at most {SIMULATED_SECONDS_MAX} s"));
    }
    let load = |mode| simulated_load(args, seconds, mode);
    let (craq_load, cr_load) = (load(Mode::Craq), load(Mode::Cr));
    let total_ns = craq_load.warmup_ns + craq_load.measure_ns;
    let progress = progress_bar(2 * total_ns, "{msg:>4} [{bar:40}] {percent:>3}% of the simulated time");
    let craq = measure(&craq_load, &progress, 0)?;
    let cr = measure(&cr_load, &progress, total_ns)?;
    progress.finish_and_clear();
    let setup = DemoSetup {
        nodes: args.nodes,
        clients: CLIENT_HOSTS,
        outstanding_requests: CLIENT_HOSTS * usize::from(WORKERS_PER_CLIENT),
        seconds,
        warmup_seconds: craq_load.warmup_ns as f64 / 1e9,
        read_fraction: args.read_fraction,
        keys: args.keys,
        seed: args.seed,
    };
    Ok(DemoReport::new(Network::InMemory, setup, ModeReport::from_simulation(&craq), ModeReport::from_simulation(&cr)))
}

/// Writes the report; a reader that stopped reading (`| head`) is not an error.
fn write_stdout(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Ok(()),
        result => result.map_err(|error| format!("cannot write the report: {error}")),
    }
}

/// Clients send reads and writes to any node, each node serves a frame per microsecond.
fn simulated_load(args: &DemoArgs, seconds: f64, mode: Mode) -> SimLoad {
    let measure_ns = (seconds * 1e9).round() as u64;
    SimLoad {
        nodes: args.nodes,
        clients: CLIENT_HOSTS,
        workers_per_client: WORKERS_PER_CLIENT,
        mode,
        read_fraction: args.read_fraction,
        keys: args.keys,
        read_target: NodeChoice::AnyNode,
        write_target: NodeChoice::AnyNode,
        service_ns: NodeSettings::default().service_ns,
        timeout_ns: TIMEOUT_NS,
        warmup_ns: (measure_ns as f64 * WARMUP_SHARE) as u64,
        measure_ns,
        seed: args.seed,
    }
}

/// Runs one mode, advancing the shared progress bar from `offset_ns`.
fn measure(load: &SimLoad, progress: &ProgressBar, offset_ns: u64) -> Result<ExperimentReport, String> {
    progress.set_message(load.mode.name());
    load.run(|done_ns| progress.set_position(offset_ns + done_ns))
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    parse_seconds_within(text, SECONDS_MIN, SECONDS_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_out_of_range_are_refused() {
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("NaN").is_err());
        assert_eq!(parse_seconds("0.5"), Ok(0.5));
    }
}
