//! `netcraq up`'s nodes wait for the controller: the node file gives their
//! ports, the controller their tables (`netcraq_controller::managed`).

use netcraq_controller::managed::{
    bmv2_command, deployment, kind_of, p4runtime_port_file, wait_for_listeners, BMV2_SWITCH,
};
use netcraq_controller::{apply_blocking, PipelineFiles, NodeKind};
use netcraq_topology::{Namespace, NodeFile, Placement, Running, Topology};
use std::path::Path;
use std::process::Command;

/// Where `p4/compile.sh` puts the compiled program, by default.
pub const DEFAULT_P4_BUILD: &str = "p4/build";

/// The command of a node that waits for its controller: the node file gives
/// its ports (and faults, DPDK settings), P4Runtime listens on a free port of
/// 127.0.0.1 (written next to the node file), and the packet sockets open in
/// the node's namespace.
pub fn node_command(exe: &Path, node_file: &Path, namespace: &Namespace) -> Command {
    let mut command = crate::node::node_command(exe, node_file);
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
    let has_bmv2 = topology.nodes().iter().any(|n| kind_of(topology, &n.name) == Some(NodeKind::Bmv2));
    if has_bmv2 {
        check_bmv2(&pipeline)?;
    }
    let plan = topology.plan().map_err(|e| e.to_string())?;
    let command = |node_file: &Path, namespace: &Namespace| {
        let name = node_file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        match plan.nodes.iter().find(|n| n.name == name) {
            Some(file) if kind_of(topology, &name) == Some(NodeKind::Bmv2) => {
                bmv2_command(file, node_file, namespace)
            }
            _ => node_command(exe, node_file, namespace),
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
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(BMV2_SWITCH).is_file()));
    if !on_path {
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
