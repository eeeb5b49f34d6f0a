//! `netcraq up`: a topology on network namespaces, until Ctrl-C. Its nodes
//! wait for the controller: the node file gives their ports, the controller
//! their tables (`netcraq_controller::running_topology`). The running
//! controller runs in this process and keeps the chains serving through
//! node failures; it stops with `up`.

use crate::in_process_controller::{self, InProcessController};
use crate::state::{state_path, RunState};
use clap::Args;
use netcraq_controller::running_topology::{
    bmv2_command, deployment, kind_of, p4runtime_port_file, wait_for_listeners,
};
use netcraq_controller::service::NoteKind;
use netcraq_controller::{apply_blocking, PipelineFiles};
use netcraq_topology::{Namespace, NodeFile, NodeKind, Placement, Running, Topology, BMV2_SWITCH};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT_SLICE: Duration = Duration::from_millis(200);
/// How long the controller may take to configure every chain at start.
const RESTART_WAIT: Duration = Duration::from_secs(60);

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
    let (mut running, addresses) = start(&topology, &exe, &args.p4_build, NodeLog::Inherited)?;
    let outcome = configure(&topology, &running, &addresses, &args.p4_build).and_then(|controller| {
        let state_file = state_path(&args.topology);
        let chains = topology.chains().iter().map(|c| c.nodes.clone()).collect();
        let mut state = RunState::of(&running, chains, addresses);
        let served = state.save(&state_file).and_then(|()| {
            print_summary(&args.topology, &state, controller.is_some());
            let limit = args.duration.map(Duration::from_secs);
            serve(&running, controller.as_ref(), &topology, &mut state, &state_file, limit)
        });
        let _ = std::fs::remove_file(&state_file);
        match (served, controller.map_or(Ok(()), InProcessController::stop)) {
            (Err(served), Err(stopped)) => Err(format!("{served}: {stopped}")),
            (served, stopped) => served.and(stopped),
        }
    });
    let teardown = running.down().map_err(|e| e.to_string());
    println!("torn down: no namespaces, links or node processes of this run remain");
    outcome.and(teardown)
}

/// Configures the chains: with the running controller in this process,
/// which it returns, or once when a BMv2 node is in the topology (the
/// controller cannot probe BMv2, docs/controller.md).
fn configure(
    topology: &Topology,
    running: &Running,
    addresses: &[(String, String)],
    p4_build: &Path,
) -> Result<Option<InProcessController>, String> {
    let pipeline = bmv2_pipeline(p4_build);
    if topology.nodes().iter().any(|n| n.kind == NodeKind::Bmv2) {
        let deployment = deployment(topology, &running.plan().nodes, addresses, &pipeline)?;
        let report = apply_blocking(&deployment).map_err(|e| format!("configuring the chain: {e}"))?;
        tracing::info!(nodes = report.nodes.len(), "chain configured over P4Runtime");
        println!(
            "controller: chains configured once; BMv2 nodes cannot be probed, so no controller keeps them serving"
        );
        return Ok(None);
    }
    println!("{}", in_process_controller::DESCRIPTION);
    let mut controller = InProcessController::start(topology, &running.plan().nodes, addresses, &pipeline)?;
    for note in controller.wait_restarted(topology, RESTART_WAIT)? {
        tracing::info!("{}", note.what);
    }
    Ok(Some(controller))
}

/// Serves until Ctrl-C or `limit`, printing what the controller does and
/// keeping the run state's chains as it reconfigures them.
fn serve(
    running: &Running,
    controller: Option<&InProcessController>,
    topology: &Topology,
    state: &mut RunState,
    state_file: &Path,
    limit: Option<Duration>,
) -> Result<(), String> {
    let started = Instant::now();
    let mut exited: Vec<String> = Vec::new();
    loop {
        if netcraq_topology::take_interrupt().is_some() || limit.is_some_and(|limit| started.elapsed() >= limit) {
            return Ok(());
        }
        for node in &running.plan().nodes {
            let Some(exit) = running.node_exit(&node.name).filter(|_| !exited.contains(&node.name)) else { continue };
            match controller {
                Some(_) => println!("node {} {exit}: the controller takes it out of its chain", node.name),
                None => return Err(format!("node {} {exit}; tearing the topology down", node.name)),
            }
            exited.push(node.name.clone());
        }
        let Some(controller) = controller else {
            std::thread::sleep(WAIT_SLICE);
            continue;
        };
        if !controller.is_running() {
            return Err("the controller stopped; tearing the topology down".into());
        }
        while let Some(note) = controller.next_note(WAIT_SLICE) {
            // Saved before it is said, so what `up` prints is what `put` finds.
            if let NoteKind::Reconfigured { chain, members, .. } = &note.what {
                let index = topology.chains().iter().position(|c| c.name == *chain);
                if let Some(members_of) = index.and_then(|index| state.chains.get_mut(index)) {
                    *members_of = members.clone();
                    state.save(state_file)?;
                }
            }
            println!("{:>9.3} s  {}", note.at.duration_since(started).as_secs_f64(), note.what);
        }
    }
}

fn print_summary(topology: &Path, state: &RunState, failover: bool) {
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
    if failover {
        println!("      kill -9 a node's process: the controller fails its chain over (and a spare joins)");
    }
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

/// Where the nodes' log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeLog {
    /// To this process's stderr, at the level NETCRAQ_LOG gives.
    Inherited,
    /// Warnings and errors only: the demo's output stays its own.
    Warnings,
}

/// Brings the topology up with every node, spares included, waiting for
/// its controller; returns the running topology and each node's P4Runtime
/// address. BMv2 nodes run `simple_switch_grpc` with the program compiled
/// into `p4_build`.
pub fn start(
    topology: &Topology,
    exe: &Path,
    p4_build: &Path,
    log: NodeLog,
) -> Result<(Running, Vec<(String, String)>), String> {
    if topology.nodes().iter().any(|n| n.kind == NodeKind::Bmv2) {
        check_bmv2(&bmv2_pipeline(p4_build))?;
    }
    let plan = topology.plan().map_err(|e| e.to_string())?;
    let command = |node_file: &Path, namespace: &Namespace| {
        let name = node_file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        match plan.nodes.iter().find(|n| n.name == name) {
            Some(file) if kind_of(topology, &name) == Some(NodeKind::Bmv2) => bmv2_command(file, node_file, namespace),
            _ => {
                let mut command = controlled_node_command(exe, node_file, namespace);
                if log == NodeLog::Warnings {
                    command.env("NETCRAQ_LOG", "warn");
                }
                command
            }
        }
    };
    let running = topology.up_placed(Placement::Here, command).map_err(|e| e.to_string())?;
    let addresses = wait_for_listeners(topology, &running)?;
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
