//! The DPDK node as a process runs it: the EAL from the user's arguments,
//! a mempool sized for every queue, one DPDK port per node port, one
//! [`DpdkNode`] per lcore with the control plane fanned out to them, and
//! their counters merged into one report. `netcraq node --dpdk` only parses
//! its arguments and calls [`run`].

use crate::afpacket::PortSpec;
use crate::control::ControlPort;
use crate::dpdk_node::{run_lcores, wait_for_memif_server, DpdkNode, DpdkPortSpec, DpdkSettings, HANDOFF_RING_SIZE};
use crate::lcore_control::LcoreControl;
use crate::service_rate::ARRIVALS_LIMIT;
use crate::shell::IoCounters;
use netcraq_core::Node;
use netcraq_dpdk::{eal_arguments, hugepages, Eal, EalExtras, Mempool, Port, DEFAULT_DATA_ROOM};
use std::sync::Mutex;
use std::time::Duration;

/// Mbufs each lcore keeps in its mempool cache.
const CACHE: u32 = 256;
/// Mbufs beyond what the queues, rings and caches can hold.
const SPARE_MBUFS: u32 = 1024;

/// A DPDK node to run.
#[derive(Debug, Clone)]
pub struct DpdkNodeConfig {
    /// The node's name, for logs and errors.
    pub name: String,
    /// The user's EAL arguments, one string split at spaces; the safe
    /// defaults of [`eal_arguments`] are added.
    pub eal: String,
    /// Each node port with its DPDK device arguments (PCI address or vdev).
    pub ports: Vec<(PortSpec, String)>,
    pub settings: DpdkSettings,
    /// How often the counters are reported while the node runs.
    pub report_every: Duration,
}

/// Runs the node until `should_stop` says so. `ready` is called with the
/// number of lcores once every port is up, right before polling starts;
/// `report`, when given, gets the counters summed over the lcores about every
/// [`DpdkNodeConfig::report_every`] and once at the end.
pub fn run<R>(
    config: &DpdkNodeConfig,
    node: Node,
    control: Option<ControlPort>,
    ready: impl FnOnce(usize) -> Result<(), String>,
    should_stop: impl Fn() -> bool + Sync,
    report: Option<R>,
) -> Result<(), String>
where
    R: Fn(&[&Node], IoCounters) + Sync,
{
    let name = &config.name;
    let devices: Vec<String> = config.ports.iter().map(|(_, devargs)| devargs.clone()).collect();
    let eal_args = eal_arguments(&config.eal, &devices, EalExtras { float_main_lcore: true, quiet: false });
    hugepages::check(&eal_args).map_err(|hint| format!("node {name}: {hint}"))?;
    tracing::info!(node = %name, eal = %eal_args.join(" "), "starting DPDK");
    let eal = Eal::init(&eal_args).map_err(|e| format!("node {name}: {e}"))?;
    let lcores = eal.lcores().len();
    let pool = mempool(&eal, config.ports.len(), &config.settings, lcores).map_err(|e| format!("node {name}: {e}"))?;
    let mut specs = Vec::with_capacity(config.ports.len());
    for (port, devargs) in &config.ports {
        let devargs = &with_queue_pairs(devargs, lcores);
        let fail = |e: String| format!("node {name}: port {} ({devargs}): {e}", port.number);
        wait_for_memif_server(devargs).map_err(fail)?;
        let dpdk_port = Port::from_devargs(&eal, devargs).map_err(|e| fail(e.to_string()))?;
        tracing::info!(node = %name, port = port.number, device = %devargs, driver = %dpdk_port.driver(), "DPDK port");
        specs.push(DpdkPortSpec { number: port.number, port: dpdk_port, faults: port.faults });
    }
    let mut nodes = DpdkNode::start_lcores(Some(&eal), node, pool, specs, config.settings, lcores)
        .map_err(|e| format!("node {name}: {e}"))?;
    // The server's requests fan out to the lcores' copies of the core.
    let fan_out = match control {
        Some(port) => {
            let (fan_out, ports) =
                LcoreControl::start(port, lcores).map_err(|e| format!("node {name}: control threads: {e}"))?;
            nodes.iter_mut().zip(ports).for_each(|(node, port)| node.attach_control(port));
            Some(fan_out)
        }
        None => None,
    };
    ready(lcores)?;
    // Each lcore leaves its counters here; lcore 0 reports the sum.
    let latest: Mutex<Vec<Option<(Node, IoCounters)>>> = Mutex::new(vec![None; lcores]);
    let report_lcore = |running: &DpdkNode| {
        let Some(report) = &report else { return };
        let mut latest = latest.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        latest[running.lcore()] = Some((running.node().clone(), running.io_counters()));
        if running.lcore() == 0 {
            let nodes: Vec<&Node> = latest.iter().flatten().map(|(node, _)| node).collect();
            let mut io = IoCounters::default();
            latest.iter().flatten().for_each(|(_, counters)| io.add(counters));
            report(&nodes, io);
        }
    };
    let nodes = run_lcores(&eal, nodes, should_stop, config.report_every, report_lcore)
        .map_err(|e| format!("node {name}: {e}"))?;
    // The lcores' last reports may have crossed: the final counts come
    // from the nodes themselves, once all have stopped.
    if let Some(report) = &report {
        let mut io = IoCounters::default();
        nodes.iter().for_each(|node| io.add(&node.io_counters()));
        let cores: Vec<&Node> = nodes.iter().map(DpdkNode::node).collect();
        report(&cores, io);
    }
    drop((nodes, fan_out));
    Ok(())
}

/// A mempool with enough mbufs for every queue full, in flight, in the
/// caches and, when capped, taken and not yet served.
fn mempool(eal: &Eal, ports: usize, settings: &DpdkSettings, lcores: usize) -> Result<Mempool, String> {
    let descriptors = u32::from(settings.port.rx_descriptors) + u32::from(settings.port.tx_descriptors);
    let lcores = lcores as u32;
    let arrivals = ARRIVALS_LIMIT as u32 * lcores;
    let mbufs = ports as u32 * descriptors * lcores + (HANDOFF_RING_SIZE + CACHE) * lcores + SPARE_MBUFS + arrivals;
    Mempool::new(eal, "netcraq_node", mbufs, CACHE, DEFAULT_DATA_ROOM).map_err(|e| e.to_string())
}

/// DPDK's af_packet driver spreads frames over `qpairs` queue pairs (a
/// fanout group): one pair per lcore, unless the arguments say otherwise.
fn with_queue_pairs(devargs: &str, lcores: usize) -> String {
    if lcores > 1 && devargs.starts_with("net_af_packet") && !devargs.contains("qpairs=") {
        return format!("{devargs},qpairs={lcores}");
    }
    devargs.to_string()
}
