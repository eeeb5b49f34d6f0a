//! `netcraq bench figures`: the poster's Figure 3 (read throughput vs
//! distance from the tail) and Figure 4 (read throughput vs read fraction),
//! CRAQ against CR, for chains of several lengths, on every kind of node:
//! the in-memory network, software and DPDK nodes on namespaces, BMv2 when
//! installed. Every node takes at most `--service-rate-fps` frames per
//! second, so the figures show the protocol rather than this machine's
//! cores; next to each measurement is the bound that counting each node's
//! frames per operation gives ([`bound`]). perf/README.md, "Figures".

pub mod bound;
pub mod output;
pub mod plot;

use crate::netns_chain::{ChainSetup, Load, NamespaceChain, Wiring, Writes};
use crate::sim_chain::SimLoad;
use bound::ChainRoutes;
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;
use netcraq_client::ClientOptions;
use netcraq_core::Mode;
use netcraq_node::service_rate::MAX_RATE_FPS;
use netcraq_sim::NodeChoice;
use netcraq_topology::{NodeKind, BMV2_SWITCH};
use output::{Figures, Measurement, Skip};
use std::path::PathBuf;
use std::time::Duration;

/// Requests each client host keeps outstanding: enough to keep its node
/// busy at the cap, few enough that CR's tail queue stays short.
const OUTSTANDING_PER_HOST: usize = 8;
/// Far above the longest queueing delay (every host's requests at CR's tail).
const CLIENT_TIMEOUT: Duration = Duration::from_millis(500);
const WARMUP: Duration = Duration::from_millis(500);
const KEYS: u32 = 1000;
const MAX_NODES: u8 = 16;
const MAX_ROUNDS: u32 = 20;
const SECONDS_MIN: f64 = 0.05;
const SECONDS_MAX: f64 = 60.0;
/// The one read fraction of Figure 3.
const ALL_READS: f64 = 1.0;

/// A kind of node the figures are measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// The in-memory network: simulated time, deterministic, nodes on a star
    Sim,
    /// `netcraq node` on AF_PACKET sockets, on network namespaces
    Software,
    /// `netcraq node --dpdk`, on network namespaces
    Dpdk,
    /// BMv2's simple_switch_grpc running p4/netcraq.p4, on network namespaces, capped through relays
    Bmv2,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sim => "sim",
            Kind::Software => "software",
            Kind::Dpdk => "dpdk",
            Kind::Bmv2 => "bmv2",
        }
    }

    fn node_kind(self) -> Option<NodeKind> {
        match self {
            Kind::Sim => None,
            Kind::Software => Some(NodeKind::Software),
            Kind::Dpdk => Some(NodeKind::Dpdk),
            Kind::Bmv2 => Some(NodeKind::Bmv2),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct FiguresArgs {
    /// Kinds of node, comma-separated [default: sim always; software and
    /// dpdk as root; bmv2 as root with simple_switch_grpc on PATH]
    #[arg(long, value_delimiter = ',')]
    kinds: Vec<Kind>,
    /// Chain lengths, comma-separated (1 to 16 nodes each)
    #[arg(long, value_delimiter = ',', default_value = "3,5,9",
          value_parser = clap::value_parser!(u8).range(1..=i64::from(MAX_NODES)))]
    nodes: Vec<u8>,
    /// Rounds of every point; the plots show the median and the min–max spread
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_ROUNDS)))]
    rounds: u32,
    /// Seconds measured per point (simulated seconds on the in-memory network), after 0.5 s of warm-up
    #[arg(long, default_value_t = 2.0, value_parser = parse_seconds)]
    seconds: f64,
    /// Read fractions of Figure 4, comma-separated, as decimals or fractions; 1 (Figure 3's) is always measured
    #[arg(long, value_delimiter = ',', default_value = "1,0.95,0.9,0.8,2/3,0.5", value_parser = parse_fraction)]
    read_fractions: Vec<f64>,
    /// Frames per second every node takes at most (`netcraq node --service-rate-fps`; the in-memory
    /// network's service time per frame is its inverse)
    #[arg(long, default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_RATE_FPS)))]
    service_rate_fps: u32,
    /// Seed of the workloads (round r uses seed + r)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the plots, figures.json and figures.csv go
    #[arg(long, default_value = "perf/results/figures")]
    out: PathBuf,
    /// EAL arguments of the DPDK nodes
    #[arg(long, default_value = "--no-huge -m 256", allow_hyphen_values = true)]
    dpdk_eal: String,
    /// The autogroup nice value (-20 to 19) of every node process and of this
    /// one (its clients; this changes the nice value of the calling shell's
    /// session too): below 0 favours the chain over other work on a shared machine
    #[arg(long, value_name = "N", default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-20..=19))]
    nice: i32,
}

pub fn run(args: &FiguresArgs) -> Result<(), String> {
    let started = std::time::Instant::now();
    let (kinds, skipped) = kinds(args);
    for skip in &skipped {
        eprintln!("SKIP {}: {}", skip.kind, skip.reason);
    }
    if args.nice != 0 && kinds.iter().any(|kind| *kind != Kind::Sim) {
        crate::system::set_autogroup_nice("self", args.nice)?;
    }
    let fractions = read_fractions(&args.read_fractions);
    let chains: Vec<(Kind, u8, Mode)> = kinds
        .iter()
        .flat_map(|kind| args.nodes.iter().flat_map(move |n| [Mode::Craq, Mode::Cr].map(|mode| (*kind, *n, mode))))
        .collect();
    let progress = crate::progress_bar(
        (chains.len() * fractions.len()) as u64 * u64::from(args.rounds),
        "[{bar:30}] {pos}/{len} points, {elapsed} (eta {eta}) {msg}",
    );
    let mut figures = Figures::new(settings(args, &fractions), skipped);
    for (kind, nodes, mode) in chains {
        let measured = match kind {
            Kind::Sim => simulated(args, nodes, mode, &fractions, &progress),
            _ => on_namespaces(args, kind, nodes, mode, &fractions, &progress),
        };
        match measured {
            Ok(points) => figures.measurements.extend(points),
            Err(error) if netcraq_topology::interrupted() => return Err(error),
            Err(error) => {
                progress.println(format!("SKIP {} n={nodes} {}: {error}", kind.name(), mode.name()));
                figures
                    .skipped
                    .push(Skip { kind: kind.name().to_owned(), reason: format!("n={nodes} {}: {error}", mode.name()) });
            }
        }
    }
    progress.finish_and_clear();
    figures.summarize();
    figures.write(&args.out)?;
    print!("{}", figures.summary_table());
    println!("wrote {} ({} s)", args.out.display(), started.elapsed().as_secs());
    Ok(())
}

/// The kinds asked for, or all that can run here; and those skipped, with why.
fn kinds(args: &FiguresArgs) -> (Vec<Kind>, Vec<Skip>) {
    let explicit = !args.kinds.is_empty();
    let asked = if explicit { args.kinds.clone() } else { vec![Kind::Sim, Kind::Software, Kind::Dpdk, Kind::Bmv2] };
    let mut runnable = Vec::new();
    let mut skipped = Vec::new();
    for kind in asked {
        match why_not(kind) {
            None if !runnable.contains(&kind) => runnable.push(kind),
            None => {}
            Some(reason) => skipped.push(Skip { kind: kind.name().to_owned(), reason }),
        }
    }
    (runnable, skipped)
}

/// Why `kind` cannot run on this machine, if it cannot.
fn why_not(kind: Kind) -> Option<String> {
    let root = netcraq_topology::running_as_root();
    match kind {
        Kind::Sim => None,
        _ if !root => Some("namespaces need root".to_owned()),
        Kind::Dpdk if !cfg!(feature = "dpdk") => Some("this netcraq was built without the dpdk feature".to_owned()),
        Kind::Bmv2 if !netcraq_topology::on_path(BMV2_SWITCH) => Some(format!("{BMV2_SWITCH} not on PATH")),
        Kind::Bmv2 => crate::netns_chain::bmv2_pipeline().err(),
        _ => None,
    }
}

/// The read fractions, 1 first, each once.
fn read_fractions(asked: &[f64]) -> Vec<f64> {
    let mut fractions = vec![ALL_READS];
    for fraction in asked {
        if !fractions.iter().any(|f| (f - fraction).abs() < 1e-9) {
            fractions.push(*fraction);
        }
    }
    fractions
}

fn settings(args: &FiguresArgs, fractions: &[f64]) -> output::Settings {
    output::Settings {
        nodes: args.nodes.clone(),
        rounds: args.rounds,
        seconds: args.seconds,
        warmup_seconds: WARMUP.as_secs_f64(),
        read_fractions: fractions.to_vec(),
        service_rate_fps: args.service_rate_fps,
        outstanding_per_host: OUTSTANDING_PER_HOST,
        keys: KEYS,
        seed: args.seed,
        dpdk_eal: args.dpdk_eal.clone(),
        nice: args.nice,
    }
}

/// One chain on the in-memory network, every read fraction, every round.
fn simulated(
    args: &FiguresArgs,
    nodes: u8,
    mode: Mode,
    fractions: &[f64],
    progress: &ProgressBar,
) -> Result<Vec<Measurement>, String> {
    let routes = ChainRoutes::star(nodes, nodes);
    let mut points = Vec::new();
    for &read_fraction in fractions {
        for round in 0..args.rounds {
            progress.set_message(point_label(Kind::Sim, nodes, mode, read_fraction, round));
            points.push(simulated_point(args, &routes, mode, read_fraction, round)?);
            progress.inc(1);
        }
    }
    Ok(points)
}

/// One round of one point on the in-memory network, with its bound.
fn simulated_point(
    args: &FiguresArgs,
    routes: &ChainRoutes,
    mode: Mode,
    read_fraction: f64,
    round: u32,
) -> Result<Measurement, String> {
    let nodes = routes.chain.len() as u8;
    let report = sim_load(args, nodes, mode, read_fraction, round).run(|_| {})?;
    let host_ops: Vec<f64> = report.hosts.iter().map(|h| (h.reads_ok + h.writes_ok) as f64).collect();
    let bound = routes
        .bound_with_host_rates(mode, read_fraction, f64::from(args.service_rate_fps), &host_ops)
        .map_err(|e| e.to_string())?;
    Ok(Measurement::simulated(round, read_fraction, &report, bound))
}

/// The figures' load on the in-memory network: one client host per node,
/// reading through its node and writing to the head.
pub fn sim_load(args: &FiguresArgs, nodes: u8, mode: Mode, read_fraction: f64, round: u32) -> SimLoad {
    SimLoad {
        nodes,
        clients: usize::from(nodes),
        workers_per_client: OUTSTANDING_PER_HOST as u16,
        mode,
        read_fraction,
        keys: KEYS,
        read_target: NodeChoice::OwnNode,
        write_target: NodeChoice::Head,
        service_ns: 1_000_000_000 / u64::from(args.service_rate_fps),
        timeout_ns: CLIENT_TIMEOUT.as_nanos() as u64,
        warmup_ns: WARMUP.as_nanos() as u64,
        measure_ns: (args.seconds * 1e9).round() as u64,
        seed: args.seed.wrapping_add(u64::from(round)),
    }
}

/// One chain on namespaces, started once for every read fraction and round.
fn on_namespaces(
    args: &FiguresArgs,
    kind: Kind,
    nodes: u8,
    mode: Mode,
    fractions: &[f64],
    progress: &ProgressBar,
) -> Result<Vec<Measurement>, String> {
    let node_kind = kind.node_kind().ok_or("not a namespace kind")?;
    progress.set_message(format!("{} n={nodes} {}: starting the chain", kind.name(), mode.name()));
    let setup = ChainSetup {
        nodes,
        mode,
        kind: node_kind,
        wiring: Wiring::Mesh,
        keys: KEYS,
        service_rate_fps: Some(args.service_rate_fps),
        eal: args.dpdk_eal.clone(),
        nice: args.nice,
    };
    let exe = std::env::current_exe().map_err(|e| format!("finding the netcraq executable: {e}"))?;
    let chain = NamespaceChain::start(&setup, &exe)?;
    let measured = measure_chain(args, kind, &chain, &setup, fractions, progress);
    chain.stop()?;
    measured
}

fn measure_chain(
    args: &FiguresArgs,
    kind: Kind,
    chain: &NamespaceChain,
    setup: &ChainSetup,
    fractions: &[f64],
    progress: &ProgressBar,
) -> Result<Vec<Measurement>, String> {
    let routes = chain.routes();
    let mut points = Vec::new();
    for &read_fraction in fractions {
        for round in 0..args.rounds {
            let label = point_label(kind, setup.nodes, setup.mode, read_fraction, round);
            let load = Load {
                read_fraction,
                writes: Writes::Head,
                outstanding_per_host: OUTSTANDING_PER_HOST,
                warmup: WARMUP,
                length: Duration::from_secs_f64(args.seconds),
                seed: args.seed.wrapping_add(u64::from(round)),
                client: ClientOptions { timeout: CLIENT_TIMEOUT, ..ClientOptions::default() },
            };
            let phase = |phase: &str, _: Duration, _: Duration| progress.set_message(format!("{label}: {phase}"));
            let measured = chain.measure(&load, &phase)?;
            let host_ops: Vec<f64> =
                measured.hosts.iter().map(|h| (h.reads + h.writes) as f64 / h.duration.as_secs_f64()).collect();
            let bound = routes
                .bound_with_host_rates(setup.mode, read_fraction, f64::from(args.service_rate_fps), &host_ops)
                .map_err(|e| e.to_string())?;
            points.push(Measurement::on_namespaces(kind, setup, round, read_fraction, &load, &measured, bound));
            progress.inc(1);
        }
    }
    Ok(points)
}

fn point_label(kind: Kind, nodes: u8, mode: Mode, read_fraction: f64, round: u32) -> String {
    format!("{} n={nodes} {} {:.0}% reads round {}", kind.name(), mode.name(), read_fraction * 100.0, round + 1)
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    parse_seconds_within(text, SECONDS_MIN, SECONDS_MAX)
}

/// Seconds between `min` and `max`, as a decimal.
pub fn parse_seconds_within(text: &str, min: f64, max: f64) -> Result<f64, String> {
    let seconds: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if (min..=max).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(format!("must be between {min} and {max} seconds"))
    }
}

/// A share between 0 and 1, as a decimal (`0.75`) or a fraction (`3/4`).
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    let number = |part: &str| part.trim().parse::<f64>().map_err(|_| format!("`{text}` is not a number or a fraction"));
    let share = match text.split_once('/') {
        Some((numerator, denominator)) => number(numerator)? / number(denominator)?,
        None => number(text)?,
    };
    if (0.0..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err(format!("`{text}` is not between 0 and 1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_and_decimals_parse_and_out_of_range_is_refused() {
        assert_eq!(parse_fraction("2/3"), Ok(2.0 / 3.0));
        assert_eq!(parse_fraction("0.25"), Ok(0.25));
        assert!(parse_fraction("3/2").is_err());
        assert!(parse_fraction("1/0").is_err(), "infinity is out of range");
        assert!(parse_fraction("0/0").is_err(), "NaN is out of range");
        assert!(parse_fraction("lots").is_err());
        assert!(parse_seconds("0").is_err());
        assert_eq!(read_fractions(&[0.5, 1.0, 0.5]), vec![1.0, 0.5]);
    }

    fn args(seconds: f64) -> FiguresArgs {
        FiguresArgs {
            kinds: vec![Kind::Sim],
            nodes: vec![3],
            rounds: 1,
            seconds,
            read_fractions: vec![],
            service_rate_fps: 2000,
            seed: 1,
            out: PathBuf::new(),
            dpdk_eal: String::new(),
            nice: 0,
        }
    }

    /// CRAQ's reads/s over CR's on the in-memory network, and the bound's ratio.
    fn simulated_ratio(read_fraction: f64) -> (f64, f64) {
        let (args, routes) = (args(0.3), ChainRoutes::star(3, 3));
        let point = |mode| simulated_point(&args, &routes, mode, read_fraction, 0).unwrap();
        let (craq, cr) = (point(Mode::Craq), point(Mode::Cr));
        (craq.reads_per_s / cr.reads_per_s, craq.bound_reads_per_s / cr.bound_reads_per_s)
    }

    #[test]
    fn on_the_in_memory_network_three_nodes_meet_the_targets() {
        let (all_reads, _) = simulated_ratio(1.0);
        assert!(all_reads >= 0.8 * 3.0, "CRAQ/CR at 100 % reads: {all_reads}");
        for fraction in [0.95, 2.0 / 3.0] {
            let (ratio, bound) = simulated_ratio(fraction);
            assert!((ratio / bound - 1.0).abs() <= 0.1, "at {fraction}: {ratio} against the bound's {bound}");
        }
    }
}
