//! `netcraq up`: a topology on network namespaces, until Ctrl-C.

use crate::managed;
use crate::state::{state_path, RunState};
use clap::Args;
use netcraq_topology::{Event, Running, Topology};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WAIT_SLICE: Duration = Duration::from_millis(200);

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The topology file (format in controlplane/topology/README.md; examples in controlplane/topology/examples/)
    #[arg(long, value_name = "FILE")]
    topology: PathBuf,
    /// Tear down after this many seconds instead of waiting for Ctrl-C
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    duration: Option<u64>,
    /// Where p4/compile.sh wrote the compiled program, for kind "bmv2" nodes
    #[arg(long, value_name = "DIR", default_value = managed::DEFAULT_P4_BUILD)]
    p4_build: PathBuf,
}

pub fn run(args: &UpArgs) -> Result<(), String> {
    let topology = Topology::load(&args.topology).map_err(|e| e.to_string())?;
    netcraq_topology::catch_interrupts().map_err(|e| format!("installing signal handlers: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("finding the netcraq executable: {e}"))?;
    let (mut running, addresses) = managed::up(&topology, &exe, &args.p4_build)?;
    let state_file = state_path(&args.topology);
    let chains = topology.chains().iter().map(|c| c.nodes.clone()).collect();
    let state = RunState::of(&running, chains, addresses);
    let outcome = state.save(&state_file).and_then(|()| {
        print_summary(&args.topology, &state);
        wait(&running, args.duration.map(Duration::from_secs))
    });
    let _ = std::fs::remove_file(&state_file);
    let teardown = running.down().map_err(|e| e.to_string());
    println!("torn down: no namespaces, links or node processes of this run remain");
    outcome.and(teardown)
}

fn wait(running: &Running, limit: Option<Duration>) -> Result<(), String> {
    let started = Instant::now();
    loop {
        match running.wait(WAIT_SLICE) {
            Event::Interrupted(_) => return Ok(()),
            Event::NodeExited { node, exit } => return Err(format!("node {node} {exit}; tearing the topology down")),
            Event::TimedOut if limit.is_some_and(|limit| started.elapsed() >= limit) => return Ok(()),
            Event::TimedOut => {}
        }
    }
}

fn print_summary(topology: &Path, state: &RunState) {
    println!("topology {} is up ({} nodes, {} hosts)", topology.display(), state.nodes.len(), state.hosts.len());
    for node in &state.nodes {
        let p4runtime = node.p4runtime.as_deref().unwrap_or("-");
        println!("  node {:<8} {:<15} namespace {}  P4Runtime {p4runtime}", node.name, node.ip, node.namespace);
    }
    for host in &state.hosts {
        println!("  host {:<8} {:<15} namespace {}", host.name, host.ip, host.namespace);
    }
    let file = topology.display();
    println!("try:  netcraq put --topology {file} 1 hello   then   netcraq get --topology {file} 1");
    println!("      netcraq ctl top --topology {file}   (the hottest keys, read over P4Runtime)");
    println!("Ctrl-C tears everything down.");
}
