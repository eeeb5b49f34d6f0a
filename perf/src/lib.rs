//! NetCRAQ's benchmarks (`perf/README.md`): `netcraq bench node`, which
//! measures the DPDK node against dpdk-testpmd and the software node,
//! `netcraq bench loadgen`, the closed-loop DPDK load generator it starts,
//! `netcraq bench ceiling`, the node's own cost per frame,
//! `netcraq bench etcd`, etcd on the same box under the same mix,
//! `netcraq bench kubernetes`, a 3-member etcd directly and through
//! `netcraq proxy` under Kubernetes-like loads,
//! `netcraq bench tofino`, the comparison model with a Tofino switch, and
//! `netcraq bench figures`, CRAQ against CR on chains of every kind of
//! node (with the chain runners `netns_chain` and `sim_chain` that
//! `netcraq demo` uses too), and `netcraq bench failover` and `bench soak`,
//! node failures under the running controller.
//!
//! The request mix, the window, frame building and reply matching and the
//! latency histogram are plain code with unit tests; the load generator's
//! poll loop and the configurations need the `dpdk` feature (and, to run,
//! root, hugepages and dpdk-testpmd).

#![forbid(unsafe_code)]

pub mod bench_etcd;
pub mod bench_kubernetes;
pub mod bench_node;
pub mod bench_tofino;
pub mod bmv2_relay;
pub mod ceiling;
pub mod etcd;
pub mod failover;
pub mod figures;
pub mod frames;
pub mod latency;
pub mod loadgen;
pub mod mix;
pub mod netns_chain;
pub mod report;
pub mod results;
pub mod sim_chain;
pub mod system;
pub mod tofino;
pub mod window;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar of `len` steps on stderr, drawn by `template` (indicatif's
/// syntax; a template it refuses falls back to a plain bar). indicatif hides
/// it when stderr is not a terminal.
pub fn progress_bar(len: u64, template: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::new(len);
    bar.set_style(style.progress_chars("=> "));
    bar
}

/// What a build without the `dpdk` feature says.
pub const WITHOUT_DPDK: &str = "this netcraq was built without DPDK: install DPDK (`apt-get install -y \
                                dpdk-dev libdpdk-dev pkg-config libclang-dev clang`) and build with `cargo build \
                                --release -p netcraq --features dpdk`";

/// `netcraq bench ...`
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum BenchCommand {
    /// The DPDK node's throughput and latency over memif on one and two
    /// lcores, against dpdk-testpmd io forwarding and the software node, in
    /// one run with one or more load generators (as root: sets up and
    /// releases hugepages itself). Prints the table with who limited each
    /// configuration, the ratios and a summary line, and writes JSON (perf/README.md).
    Node(bench_node::BenchNodeArgs),
    /// etcd on this machine (Debian's etcd-server; one member and three,
    /// started and removed by the benchmark) under the same request mix
    /// through its gRPC API, and the DPDK node's measured rate over etcd's
    /// linearizable reads per second (perf/README.md)
    Etcd(bench_etcd::BenchEtcdArgs),
    /// A 3-member etcd cluster on this machine, directly and through
    /// `netcraq proxy`, side by side: linearizable GETs of hot keys
    /// (throughput, p50/p99), writes (latency), and 2/3 reads and 1/3
    /// writes over a Zipf-skewed popularity; the proxy's ratios against
    /// issue 15's targets, JSON in perf/results/ (perf/README.md)
    Kubernetes(bench_kubernetes::BenchKubernetesArgs),
    /// The comparison with Tofino: each operation's passes through
    /// p4/netcraq_tna.p4, the per-pipe ceiling they give (modelled), keys
    /// per switch, and the DPDK node's measured per-core rate beside them
    /// (perf/README.md)
    Tofino(bench_tofino::BenchTofinoArgs),
    /// The DPDK node's own cost per frame, without a load generator: each
    /// operation class (clean read, read to the tail, head write, chain
    /// write, tail commit, malformed drop) through the node's real poll loop
    /// over a DPDK ring port in this process, frames pre-built and looped.
    /// Prints ns and Mpps per class (instructions with --instructions),
    /// and writes JSON (perf/README.md)
    Ceiling(ceiling::BenchCeilingArgs),
    /// The poster's Figures 3 and 4, CRAQ against CR for chains of 3, 5 and
    /// 9 nodes, on the in-memory network and software and DPDK nodes on
    /// namespaces (as root), every node capped at the same frames per second
    /// (BMv2 is skipped with the reason). Writes PNG and SVG plots, JSON and CSV
    /// (perf/README.md, "Figures").
    Figures(figures::FiguresArgs),
    /// Failover under the running controller: a chain of three nodes and a
    /// spare under steady load, each member killed (SIGKILL) in turn, on
    /// software and DPDK nodes (BMv2: not applicable, with the reason):
    /// detection time, write unavailability, clean reads answered meanwhile,
    /// the spare's join (recovery) and the throughput during it. Prints a
    /// summary line with the targets and writes JSON (perf/README.md, "Failover")
    Failover(failover::BenchFailoverArgs),
    /// Randomized faults (SIGKILL, or SIGSTOP past the lease then SIGCONT)
    /// on managed chains of software nodes, every history checked for
    /// linearizability with final reads at every member; resumable, bounded
    /// (perf/README.md, "Soak"). Not run by CI
    Soak(failover::soak::BenchSoakArgs),
    /// The closed-loop DPDK load generator that `bench node` starts (one
    /// process, one generator per lcore and --device, pinned with the EAL's --lcores)
    #[command(hide = true)]
    Loadgen(loadgen::LoadgenArgs),
}

pub fn run(args: &BenchArgs) -> Result<(), String> {
    match &args.command {
        BenchCommand::Node(args) => bench_node::run(args),
        BenchCommand::Etcd(args) => bench_etcd::run(args),
        BenchCommand::Kubernetes(args) => bench_kubernetes::run(args),
        BenchCommand::Tofino(args) => bench_tofino::run(args),
        BenchCommand::Ceiling(args) => ceiling::run(args),
        BenchCommand::Figures(args) => figures::run(args),
        BenchCommand::Failover(args) => failover::run(args),
        BenchCommand::Soak(args) => failover::soak::run(args),
        BenchCommand::Loadgen(args) => loadgen::run(args),
    }
}
