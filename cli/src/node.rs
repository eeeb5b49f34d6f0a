//! `netcraq node`: one software node, the core over AF_PACKET sockets.

use crate::state::stats_path;
use clap::Args;
use netcraq_core::{Node, Outcome, DEFAULT_KEY_CAPACITY};
use netcraq_dataplane::afpacket::{IoCounters, PortSpec, SoftwareNode};
use netcraq_dataplane::faults::FaultSettings;
use netcraq_topology::NodeFile;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node file: node_config, routes and which interface is which port
    /// (written by `netcraq up`; format in topology/README.md).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Write the node's counters as JSON to FILE, replaced atomically every
    /// --stats-interval-ms and at exit.
    #[arg(long, value_name = "FILE")]
    stats: Option<PathBuf>,
    #[arg(long, value_name = "MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    stats_interval_ms: u64,
}

pub fn run(args: &NodeArgs) -> Result<(), String> {
    let file = NodeFile::load(&args.config).map_err(|e| e.to_string())?;
    let mut node = Node::new(DEFAULT_KEY_CAPACITY);
    node.set_config(file.config).map_err(|e| format!("node {}: {e}", file.name))?;
    *node.routes_mut() =
        file.route_table().map_err(|(prefix, e)| format!("node {}: route {prefix}: {e}", file.name))?;
    let ports: Vec<PortSpec> = file.ports.iter().map(|p| port_spec(&file, p)).collect();
    let mut software = SoftwareNode::open(node, &ports).map_err(|e| format!("node {}: {e}", file.name))?;
    netcraq_topology::catch_interrupts().map_err(|e| format!("installing signal handlers: {e}"))?;
    tracing::info!(node = %file.name, ip = %file.config.own_ip, role = file.config.role.name(), ports = ports.len(), "node running");
    let report = |running: &SoftwareNode| {
        if let Some(path) = &args.stats {
            if let Err(error) = write_stats(path, &file.name, running) {
                tracing::warn!(%error, path = %path.display(), "could not write stats");
            }
        }
    };
    let stop = || netcraq_topology::take_interrupt().is_some();
    software
        .run(stop, Duration::from_millis(args.stats_interval_ms), report)
        .map_err(|e| format!("node {}: {e}", file.name))?;
    tracing::info!(node = %file.name, "node stopped");
    Ok(())
}

/// The command that runs the node of `node_file`, writing its counters next to it.
pub fn node_command(exe: &Path, node_file: &Path) -> Command {
    let mut command = Command::new(exe);
    command.arg("node").arg("--config").arg(node_file).arg("--stats").arg(stats_path(node_file));
    command
}

fn port_spec(file: &NodeFile, port: &netcraq_topology::Port) -> PortSpec {
    let faults = FaultSettings {
        loss_percent: port.faults.loss_percent,
        duplicate_percent: port.faults.duplicate_percent,
        reorder_percent: port.faults.reorder_percent,
        seed: file.port_fault_seed(port.number),
    };
    PortSpec { number: port.number, interface: port.interface.clone(), faults }
}

/// The counters as JSON: outcomes by name, I/O counters, non-zero per-key counters.
pub fn stats_json(name: &str, node: &Node, io: IoCounters) -> Value {
    let outcomes: Map<String, Value> =
        Outcome::ALL.iter().map(|o| (o.name().to_owned(), json!(node.outcome_count(*o)))).collect();
    let per_key = |counts: &[u64]| -> Map<String, Value> {
        counts.iter().enumerate().filter(|(_, n)| **n > 0).map(|(key, n)| (key.to_string(), json!(n))).collect()
    };
    json!({
        "node": name,
        "outcomes": outcomes,
        "key_reads": per_key(node.key_reads()),
        "key_writes": per_key(node.key_writes()),
        "io": {
            "rx_frames": io.rx_frames, "tx_frames": io.tx_frames, "rx_errors": io.rx_errors,
            "tx_errors": io.tx_errors, "tx_no_port": io.tx_no_port, "fault_dropped": io.fault_dropped,
            "fault_duplicated": io.fault_duplicated, "fault_reordered": io.fault_reordered,
        },
    })
}

fn write_stats(path: &Path, name: &str, running: &SoftwareNode) -> std::io::Result<()> {
    let text = stats_json(name, running.node(), running.io_counters()).to_string();
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path)
}
