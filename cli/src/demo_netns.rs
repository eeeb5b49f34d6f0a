//! `netcraq demo` as root: the chain as `netcraq node` processes on network
//! namespaces and veth links, one client host per node, real packets.

use crate::node::node_command;
use crate::report::{DemoReport, DemoSetup, ModeReport, Network, NodeRow};
use indicatif::ProgressBar;
use netcraq_client::{run_workload, KeyDistribution, Stop, Workload, WorkloadReport, WriteTarget};
use netcraq_core::Mode;
use netcraq_topology::{Running, Topology};
use netcraq_wire::NETCRAQ_UDP_PORT;
use serde_json::Value;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Requests each client host keeps outstanding.
const OUTSTANDING_PER_HOST: usize = 16;
const WARMUP: Duration = Duration::from_millis(500);
const STATS_INTERVAL_MS: u64 = 50;
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// What the namespace demo needs from the command line.
pub struct Settings {
    pub nodes: u8,
    pub seconds: f64,
    pub read_fraction: f64,
    pub keys: u32,
    pub seed: u64,
}

pub fn run(settings: &Settings, progress: &ProgressBar) -> Result<DemoReport, String> {
    netcraq_topology::catch_interrupts().map_err(|e| format!("installing signal handlers: {e}"))?;
    let craq = measure(settings, Mode::Craq, progress)?;
    let cr = measure(settings, Mode::Cr, progress)?;
    let setup = DemoSetup {
        nodes: settings.nodes,
        clients: usize::from(settings.nodes),
        outstanding_requests: usize::from(settings.nodes) * OUTSTANDING_PER_HOST,
        seconds: settings.seconds,
        warmup_seconds: WARMUP.as_secs_f64(),
        read_fraction: settings.read_fraction,
        keys: settings.keys,
        seed: settings.seed,
    };
    Ok(DemoReport::new(Network::Namespaces, setup, craq, cr))
}

/// Node `n<i>` at 10.0.0.<i> in a line, host `h<i>` at 10.0.1.<i> on node `n<i>`.
fn topology_text(nodes: u8, mode: Mode, keys: u32) -> String {
    let mut text = String::new();
    for i in 1..=nodes {
        text += &format!("[[node]]\nname = \"n{i}\"\nkind = \"software\"\nip = \"10.0.0.{i}\"\n\n");
        text += &format!("[[host]]\nname = \"h{i}\"\nip = \"10.0.1.{i}\"\n\n");
        text += &format!("[[link]]\na = \"h{i}\"\nb = \"n{i}\"\n\n");
        if i > 1 {
            text += &format!("[[link]]\na = \"n{}\"\nb = \"n{i}\"\n\n", i - 1);
        }
    }
    let names: Vec<String> = (1..=nodes).map(|i| format!("\"n{i}\"")).collect();
    let mode = mode.name().to_lowercase();
    text + &format!(
        "[[chain]]\nname = \"demo\"\nnodes = [{}]\nmode = \"{mode}\"\nkeys = [0, {keys}]\n",
        names.join(", ")
    )
}

fn measure(settings: &Settings, mode: Mode, progress: &ProgressBar) -> Result<ModeReport, String> {
    progress.set_message(format!("{}: starting the chain", mode.name()));
    let topology = Topology::parse(&topology_text(settings.nodes, mode, settings.keys)).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| format!("finding the netcraq executable: {e}"))?;
    let mut running = topology
        .up(|node_file| {
            let mut command = node_command(&exe, node_file);
            command.args(["--stats-interval-ms", &STATS_INTERVAL_MS.to_string()]).env("NETCRAQ_LOG", "warn");
            command
        })
        .map_err(|e| e.to_string())?;
    let measured = measure_running(&running, settings, mode, progress);
    running.down().map_err(|e| e.to_string())?;
    measured
}

fn measure_running(
    running: &Running,
    settings: &Settings,
    mode: Mode,
    progress: &ProgressBar,
) -> Result<ModeReport, String> {
    let nodes = &running.plan().nodes;
    let stats_files: Vec<PathBuf> =
        nodes.iter().map(|n| crate::state::stats_path(&running.node_file(&n.name).expect("planned node"))).collect();
    wait_for_nodes(running, &stats_files)?;
    clients(running, settings, WARMUP, progress, &format!("{}: warm-up", mode.name()))?;
    let before = read_all(&stats_files)?;
    let length = Duration::from_secs_f64(settings.seconds);
    let report = clients(running, settings, length, progress, &format!("{}: measuring", mode.name()))?;
    std::thread::sleep(Duration::from_millis(3 * STATS_INTERVAL_MS));
    let after = read_all(&stats_files)?;
    let rows = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let delta = |path: &[&str]| counter(&after[i], path).saturating_sub(counter(&before[i], path));
            NodeRow {
                position: i + 1,
                ip: node.config.own_ip.to_string(),
                role: node.config.role.name(),
                reads_local: delta(&["outcomes", "READ_LOCAL"]),
                reads_to_tail: delta(&["outcomes", "READ_TO_TAIL"]),
                frames_served: delta(&["io", "rx_frames"]),
                busy_fraction: None,
            }
        })
        .collect();
    Ok(ModeReport::from_namespaces(mode, &report, rows))
}

/// Every node has written its first counters (so its sockets are open).
fn wait_for_nodes(running: &Running, stats_files: &[PathBuf]) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    while !stats_files.iter().all(|f| f.exists()) {
        if let netcraq_topology::Event::NodeExited { node, exit } = running.wait(Duration::from_millis(20)) {
            return Err(format!("node {node} {exit} while starting"));
        }
        if Instant::now() >= deadline {
            return Err("the nodes did not start within 5 s".to_owned());
        }
    }
    Ok(())
}

/// One closed-loop client per host, each reading from and writing through
/// its own node, all at once; their reports added up.
fn clients(
    running: &Running,
    settings: &Settings,
    length: Duration,
    progress: &ProgressBar,
    phase: &str,
) -> Result<WorkloadReport, String> {
    let hosts = &running.plan().hosts;
    progress.reset();
    progress.set_length(length.as_millis() as u64);
    progress.set_message(phase.to_owned());
    let started = Instant::now();
    let reports: Vec<Result<WorkloadReport, String>> = std::thread::scope(|scope| {
        let threads: Vec<_> = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let node = SocketAddrV4::new(running.plan().nodes[i].config.own_ip, NETCRAQ_UDP_PORT);
                let workload = workload(settings, length, node, i as u64);
                let namespace = running.namespace(&host.name).expect("planned host");
                scope.spawn(move || {
                    namespace
                        .run(|| {
                            run_workload(&[node], &workload, |_| {
                                progress.set_position(started.elapsed().as_millis() as u64)
                            })
                        })
                        .map_err(|e| format!("entering {}: {e}", host.name))?
                        .map_err(|e| format!("client on {}: {e}", host.name))
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap_or_else(|_| Err("a client thread panicked".to_owned()))).collect()
    });
    if netcraq_topology::take_interrupt().is_some() {
        return Err("interrupted".to_owned());
    }
    let mut reports = reports.into_iter();
    let mut total = reports.next().ok_or("no client host")??;
    for report in reports {
        total.absorb(&report?);
    }
    Ok(total)
}

fn workload(settings: &Settings, length: Duration, node: SocketAddrV4, host_index: u64) -> Workload {
    Workload {
        read_fraction: settings.read_fraction,
        keys: 0..u16::try_from(settings.keys).unwrap_or(u16::MAX),
        key_distribution: KeyDistribution::Uniform,
        concurrency: OUTSTANDING_PER_HOST,
        stop: Stop::AfterDuration(length),
        seed: settings.seed.wrapping_add(host_index),
        write_target: WriteTarget::Node(node),
        progress_interval: Duration::from_millis(100),
        ..Workload::default()
    }
}

fn read_all(stats_files: &[PathBuf]) -> Result<Vec<Value>, String> {
    stats_files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

fn counter(stats: &Value, path: &[&str]) -> u64 {
    path.iter().fold(stats, |value, key| &value[key]).as_u64().unwrap_or(0)
}
