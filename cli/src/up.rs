//! `netcraq up`: a topology on network namespaces, until Ctrl-C. Its nodes
//! wait for the controller: the node file gives their ports, the controller
//! their tables (`netcraq_controller::running_topology`).

use crate::state::{state_path, RunState};
use clap::Args;
use netcraq_controller::running_topology::{
    bmv2_command, deployment, kind_of, p4runtime_port_file, wait_for_listeners,
};
use netcraq_controller::{apply_blocking, PipelineFiles};
use netcraq_topology::{Event, Namespace, NodeFile, NodeKind, Placement, Running, Topology, BMV2_SWITCH};
use std::path::{Path, PathBuf};
use std::process::Command;
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
    #[arg(long, value_name = "DIR", default_value = DEFAULT_P4_BUILD)]
    p4_build: PathBuf,
}

pub fn run(args: &UpArgs) -> Result<(), String> {
    let topology = Topology::load(&args.topology).map_err(|e| e.to_string())?;
    netcraq_topology::catch_interrupts().map_err(|e| format!("installing signal handlers: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("finding the netcraq executable: {e}"))?;
    let (mut running, addresses) = up(&topology, &exe, &args.p4_build)?;
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

/// Where `p4/compile.sh` puts the compiled program, by default.
pub const DEFAULT_P4_BUILD: &str = "p4/build";

/// The command of a node that waits for its controller: the node file gives
/// its ports (and faults, DPDK settings), P4Runtime listens on a free port of
/// 127.0.0.1 (written next to the node file), and the packet sockets open in
/// the node's namespace.
pub fn controlled_node_command(exe: &Path, node_file: &Path, namespace: &Namespace) -> Command {
    let mut command = netcraq_topology::node_command(exe, node_file);
    command.arg("--await-controller").args(["--p4runtime", "127.0.0.1:0"]);
    command.arg("--p4runtime-port-file").arg(p4runtime_port_file(node_file)).args(["--netns", namespace.name()]);
    command
}

/// The pipeline of BMv2 nodes: the P4Info and BMv2 JSON `p4/compile.sh` wrote to `build`.
pub fn bmv2_pipeline(build: &Path) -> PipelineFiles {
    PipelineFiles {
        p4info: Some(build.join("netcraq.p4info.txtpb")),
        device_config: Some(build.join("bmv2").join("netcraq.json")),
    }
}

/// Brings the topology up with every node waiting for its controller, then
/// configures the chains; returns the running topology and each node's
/// P4Runtime address. BMv2 nodes run `simple_switch_grpc` with the program
/// compiled into `p4_build`.
pub fn up(topology: &Topology, exe: &Path, p4_build: &Path) -> Result<(Running, Vec<(String, String)>), String> {
    let pipeline = bmv2_pipeline(p4_build);
    let has_bmv2 = topology.nodes().iter().any(|n| n.kind == NodeKind::Bmv2);
    if has_bmv2 {
        check_bmv2(&pipeline)?;
    }
    let plan = topology.plan().map_err(|e| e.to_string())?;
    let command = |node_file: &Path, namespace: &Namespace| {
        let name = node_file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        match plan.nodes.iter().find(|n| n.name == name) {
            Some(file) if kind_of(topology, &name) == Some(NodeKind::Bmv2) => bmv2_command(file, node_file, namespace),
            _ => controlled_node_command(exe, node_file, namespace),
        }
    };
    let running = topology.up_placed(Placement::Here, command).map_err(|e| e.to_string())?;
    let addresses = wait_for_listeners(topology, &running)?;
    let deployment = deployment(topology, &running.plan().nodes, &addresses, &pipeline)?;
    let report = apply_blocking(&deployment).map_err(|e| format!("configuring the chain: {e}"))?;
    tracing::info!(nodes = report.nodes.len(), "chain configured over P4Runtime");
    Ok((running, addresses))
}

/// BMv2 nodes need the switch and the compiled program: say how to get them.
fn check_bmv2(pipeline: &PipelineFiles) -> Result<(), String> {
    if !netcraq_topology::on_path(BMV2_SWITCH) {
        return Err(format!(
            "the topology has kind \"bmv2\" nodes but {BMV2_SWITCH} is not on PATH: build BMv2 with its gRPC server \
             (p4/README.md) or use kind \"software\" or \"dpdk\""
        ));
    }
    for file in [&pipeline.p4info, &pipeline.device_config].into_iter().flatten() {
        if !file.is_file() {
            return Err(format!(
                "the topology has kind \"bmv2\" nodes but {} is missing: compile the program with p4/compile.sh \
                 (needs p4c), or give --p4-build DIR",
                file.display()
            ));
        }
    }
    Ok(())
}

/// The deployment of a topology that `netcraq up` runs: its plan, at the
/// P4Runtime addresses of the run state.
pub fn running_deployment(
    topology: &Topology,
    nodes: &[NodeFile],
    addresses: &[(String, String)],
    p4_build: &Path,
) -> Result<netcraq_controller::Deployment, String> {
    deployment(topology, nodes, addresses, &bmv2_pipeline(p4_build))
}
