//! `netcraq`: the command-line entry point to NetCRAQ.

#![forbid(unsafe_code)]

mod controller;
mod ctl;
mod ctl_top;
mod demo;
mod demo_failover;
mod demo_netns;
mod failover_report;
mod in_process_controller;
mod kv;
mod node;
mod node_metrics;
mod node_p4runtime;
mod proxy;
mod report;
mod state;
mod timeline_plot;
mod up;

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

const ABOUT: &str = "NetCRAQ: a chain-replicated key-value store that runs in the network";

const LONG_ABOUT: &str = "\
NetCRAQ: a chain-replicated key-value store that runs in the network.

Nodes form a chain, head to tail. A write enters at the head, which stamps it
with a version and passes it down the chain; the tail commits it, answers the
client and sends an ACK back up so every node learns the version is clean.
Every node speaks a 20-byte header over Ethernet/IPv4/UDP (port 20035), so the
same protocol runs on P4 switches, software nodes and DPDK nodes.

Two modes share that write path and differ in reads:
  CRAQ  any node answers a read of a clean key itself and forwards reads of
        dirty keys (a write in flight) to the tail: read throughput grows with
        the chain.
  CR    every read is answered by the tail (NetChain-style chain
        replication): the tail is the bottleneck.

Both are linearizable; docs/protocol.md is the contract.";

const DEMO_ABOUT: &str = "Compare CRAQ with CR on a 3-node chain under the same workload";

const DEMO_LONG_ABOUT: &str = "\
Compare CRAQ with CR on a chain under the same workload.

As root, the chain is real: one `netcraq node` process per node, each in its
own network namespace, linked by veth pairs, with a client host attached to
every node that reads through its own node and writes through it to the head.
Times and rates are wall-clock, measured on this machine, and every node
process and client competes for its cores.

Otherwise (or with --simulated) the chain runs on the in-memory network: the
same core in a deterministic simulation in virtual time, where each node
serves one frame per microsecond and each link takes 2 µs. Every time and
rate printed is then simulated.

Clients keep many requests outstanding. The run is done twice with the same
seed, once in CRAQ mode and once in CR mode, and the demo prints, per mode,
throughput and latency, and per node how many reads it answered itself and
how many it forwarded to the tail. The first line says which network ran.

Every write costs each non-tail node two frames (the write and its ACK), so
CRAQ's advantage grows with the share of reads and with the chain's length:
try --read-fraction 0.95 --nodes 5.

With --kill-node (as root) the demo shows a failure instead: a CRAQ chain
with a spare, brought up as `netcraq up` does with the running controller in
this process, and one client host. A third of the way into the run the demo
kills a member's process (kill -9; --kill-node alone kills the middle one).
It prints throughput and latency every 100 ms, marking the failure, when the
controller saw it (detected), when the chain ran without it in a new epoch
(failover) and when the spare joined (recovery); then it reads every key
back at every member, checks the whole history for linearizability, and
says what was lost: nothing, or the command fails. It also writes the
timeline as an SVG plot (--plot FILE) and prints its path.";

#[derive(Debug, Parser)]
#[command(name = "netcraq", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(about = DEMO_ABOUT, long_about = DEMO_LONG_ABOUT)]
    Demo(demo::DemoArgs),
    /// Run one node: the NetCRAQ core over AF_PACKET sockets on kernel
    /// interfaces (needs CAP_NET_RAW), or with --dpdk over DPDK ports.
    /// `netcraq up` starts these.
    Node(node::NodeArgs),
    /// Bring a topology up on network namespaces and veth links: one process
    /// per node, configured and kept serving through node failures by the
    /// running controller in this process (state in memory; spares join),
    /// until Ctrl-C, then everything torn down (needs root)
    Up(up::UpArgs),
    /// Read a key from a running chain
    Get(kv::GetArgs),
    /// Write a key on a running chain
    Put(kv::PutArgs),
    /// The controller: apply a deployment's tables to its nodes over
    /// P4Runtime, read their counters, list the hottest keys
    Ctl(ctl::CtlArgs),
    /// The running controller: keeps a deployment's chains serving through
    /// node failures (probes, lease renewals, failover, spares joining)
    Controller(controller::ControllerArgs),
    /// Benchmarks (perf/README.md): the poster's figures (CRAQ against CR on
    /// every kind of node), the DPDK node against dpdk-testpmd and the
    /// software node, its per-core ceiling, etcd on the same box, and the
    /// comparison model with Tofino
    Bench(netcraq_perf::BenchArgs),
    /// etcd's v3 gRPC API in front of a real etcd, for kube-apiserver and
    /// etcdctl (docs/kubernetes.md)
    #[command(long_about = proxy::PROXY_LONG_ABOUT)]
    Proxy(proxy::ProxyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(EnvFilter::try_from_env("NETCRAQ_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let result = match &cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Node(args) => node::run(args),
        Command::Up(args) => up::run(args),
        Command::Get(args) => kv::get(args),
        Command::Put(args) => kv::put(args),
        Command::Ctl(args) => ctl::run(args),
        Command::Controller(args) => controller::run(args),
        Command::Bench(args) => netcraq_perf::run(args),
        Command::Proxy(args) => proxy::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("netcraq: {error}");
            ExitCode::FAILURE
        }
    }
}
