//! A chain of `netcraq node` processes (software or DPDK) or BMv2 switches
//! on network namespaces and veth links, one client host per node, measured
//! with real packets: what `netcraq demo` runs as root and what `netcraq
//! bench figures` runs for its namespace kinds. One start serves any number
//! of measurements. BMv2 switches are configured over P4Runtime, as `netcraq
//! up` does, and capped through relays ([`crate::bmv2_relay`]).

use crate::bmv2_relay::{packets_socket, Relay};
use crate::figures::bound::ChainRoutes;
use netcraq_client::{run_workload, ClientOptions, KeyDistribution, Stop, Workload, WorkloadReport, WriteTarget};
use netcraq_controller::running_topology::{bmv2_socket, deployment, wait_for_listeners};
use netcraq_controller::{apply_blocking, PipelineFiles};
use netcraq_core::Mode;
use netcraq_topology::{
    node_command, stats_path, Namespace, NodeKind, Placement, Running, Topology, BMV2_CPU_PORT, BMV2_SWITCH,
};
use netcraq_wire::NETCRAQ_UDP_PORT;
use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const STATS_INTERVAL_MS: u64 = 50;
/// Where `p4/compile.sh` puts the program BMv2 switches run (from the repository's root).
pub const P4_BUILD: &str = "p4/build";
/// Each switch's Thrift runtime port, in its own namespace: this plus the
/// node's index (not BMv2's default 9090, which p4/run-vectors.py uses).
const THRIFT_PORT_BASE: u16 = 29_090;
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How often a client reports progress.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// How the nodes are linked. Client host `h<i>` is always on node `n<i>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wiring {
    /// `n1 - n2 - ... - nN` in chain order: frames to farther nodes transit the nodes between.
    Line,
    /// Every node linked to every other: chain frames go straight to their
    /// node; only frames to and from another node's host pass the host's node.
    Mesh,
}

/// A chain to start.
#[derive(Debug, Clone)]
pub struct ChainSetup {
    pub nodes: u8,
    pub mode: Mode,
    pub kind: NodeKind,
    pub wiring: Wiring,
    pub keys: u32,
    /// `netcraq node --service-rate-fps`, for every node.
    pub service_rate_fps: Option<u32>,
    /// EAL arguments of DPDK nodes.
    pub eal: String,
    /// The autogroup nice value of each node process (each runs in a session of its own); 0 leaves it.
    pub nice: i32,
}

/// Where each host writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// Through the host's own node (which forwards them to the head).
    OwnNode,
    Head,
}

/// The load of one measurement: every host at once, reading through its own node.
#[derive(Debug, Clone)]
pub struct Load {
    pub read_fraction: f64,
    pub writes: Writes,
    pub outstanding_per_host: usize,
    pub warmup: Duration,
    pub length: Duration,
    pub seed: u64,
    pub client: ClientOptions,
}

/// One node's counters over the measured time.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeCounts {
    pub ip: String,
    pub role: &'static str,
    pub reads_local: u64,
    pub reads_to_tail: u64,
    /// ACKs the node took from its ports (forwarded or, at the head, consumed).
    pub acks: u64,
    pub frames_received: u64,
}

/// What one measurement saw.
#[derive(Debug, Clone)]
pub struct ChainMeasurement {
    /// Each host's client report, in node order.
    pub hosts: Vec<WorkloadReport>,
    /// The chain's nodes, head first.
    pub nodes: Vec<NodeCounts>,
    /// The time between the two reads of the nodes' counters.
    pub counted: Duration,
}

impl ChainMeasurement {
    /// All hosts together.
    pub fn total(&self) -> WorkloadReport {
        let mut total = self.hosts[0].clone();
        self.hosts[1..].iter().for_each(|host| total.absorb(host));
        total
    }
}

/// A started chain; [`NamespaceChain::stop`] (or dropping it) tears it down.
pub struct NamespaceChain {
    topology: Topology,
    running: Running,
    /// The nodes' counters: stats files (`netcraq node`) or the relays of BMv2 switches.
    counters: Counters,
    keys: u32,
}

enum Counters {
    StatsFiles(Vec<PathBuf>),
    Relays(Vec<Relay>),
}

/// `phase`, time into it, and its length: for progress bars.
pub type PhaseProgress<'a> = &'a (dyn Fn(&str, Duration, Duration) + Sync);

impl NamespaceChain {
    /// Starts the nodes (the `netcraq` executable `exe`) and waits until each runs.
    pub fn start(setup: &ChainSetup, exe: &Path) -> Result<NamespaceChain, String> {
        if setup.nodes == 0 {
            return Err("a chain needs at least one node".to_owned());
        }
        netcraq_topology::catch_interrupts().map_err(|e| format!("installing signal handlers: {e}"))?;
        let topology = Topology::parse(&topology_text(setup)).map_err(|e| e.to_string())?;
        if setup.kind == NodeKind::Bmv2 {
            return NamespaceChain::start_bmv2(setup, topology);
        }
        let running = topology
            .up(|node_file| {
                let mut command = node_command(exe, node_file);
                command.args(["--stats-interval-ms", &STATS_INTERVAL_MS.to_string()]).env("NETCRAQ_LOG", "warn");
                if let Some(rate_fps) = setup.service_rate_fps {
                    command.args(["--service-rate-fps", &rate_fps.to_string()]);
                }
                command
            })
            .map_err(|e| e.to_string())?;
        let node_file = |name: &str| running.node_file(name).ok_or_else(|| format!("node {name} was not planned"));
        let stats_files = running
            .plan()
            .nodes
            .iter()
            .map(|n| node_file(&n.name).map(|f| stats_path(&f)))
            .collect::<Result<_, _>>()?;
        let chain = NamespaceChain { topology, running, counters: Counters::StatsFiles(stats_files), keys: setup.keys };
        chain.set_nice(setup.nice)?;
        chain.wait_for_nodes()?;
        Ok(chain)
    }

    /// BMv2 switches with their ports on relays at the cap, configured over P4Runtime.
    fn start_bmv2(setup: &ChainSetup, topology: Topology) -> Result<NamespaceChain, String> {
        let rate_fps = setup.service_rate_fps.ok_or("BMv2 switches here run with a service-rate cap")?;
        let pipeline = bmv2_pipeline()?;
        let node_index =
            |node_file: &Path| topology.nodes().iter().position(|n| Some(n.name.as_str()) == file_stem(node_file));
        let running = topology
            .up_placed(Placement::Here, |node_file, namespace| {
                capped_bmv2_command(node_file, namespace, node_index(node_file).unwrap_or(0))
            })
            .map_err(|e| e.to_string())?;
        let mut chain = NamespaceChain { topology, running, counters: Counters::Relays(Vec::new()), keys: setup.keys };
        for file in &chain.running.plan().nodes {
            let node_file = chain.running.node_file(&file.name).ok_or("the run directory is gone")?;
            let namespace =
                chain.running.namespace(&file.name).ok_or_else(|| format!("{} has no namespace", file.name))?;
            let relay = Relay::start(file, &node_file, namespace, rate_fps)?;
            if let Counters::Relays(relays) = &mut chain.counters {
                relays.push(relay);
            }
        }
        chain.set_nice(setup.nice)?;
        let addresses = wait_for_listeners(&chain.topology, &chain.running)?;
        let deployment = deployment(&chain.topology, &chain.running.plan().nodes, &addresses, &pipeline)?;
        apply_blocking(&deployment).map_err(|e| format!("configuring the switches over P4Runtime: {e}"))?;
        Ok(chain)
    }

    /// Sets the autogroup nice value of every node process (0 leaves it).
    fn set_nice(&self, nice: i32) -> Result<(), String> {
        if nice == 0 {
            return Ok(());
        }
        for node in &self.running.plan().nodes {
            let pid = self.running.node_pid(&node.name).ok_or_else(|| format!("node {} did not start", node.name))?;
            crate::system::set_autogroup_nice(&pid.to_string(), nice)?;
        }
        Ok(())
    }

    /// The chain and its hosts over the topology's network, for the bound.
    pub fn routes(&self) -> ChainRoutes {
        routes_of(&self.topology)
    }

    /// How a process outside the chain reaches node `n<index+1>`: its
    /// address, and the namespace of its host `h<index+1>` to send from.
    pub fn access(&self, index: usize) -> Result<(Ipv4Addr, String), String> {
        let plan = self.running.plan();
        let (node, host) = plan.nodes.get(index).zip(plan.hosts.get(index)).ok_or(format!("no node {index}"))?;
        let namespace =
            self.running.namespace(&host.name).ok_or_else(|| format!("host {} has no namespace", host.name))?;
        Ok((node.config.own_ip, namespace.name().to_string()))
    }

    /// Warms up, then measures every host at once for `load.length`.
    pub fn measure(&self, load: &Load, progress: PhaseProgress) -> Result<ChainMeasurement, String> {
        self.clients(load, load.warmup, "warm-up", progress)?;
        let before = self.read_stats()?;
        let counting = Instant::now();
        let hosts = self.clients(load, load.length, "measuring", progress)?;
        std::thread::sleep(Duration::from_millis(3 * STATS_INTERVAL_MS));
        let after = self.read_stats()?;
        let counted = counting.elapsed();
        let nodes = self
            .running
            .plan()
            .nodes
            .iter()
            .zip(before.iter().zip(&after))
            .map(|(node, (before, after))| {
                let delta = |path: &[&str]| counter(after, path).saturating_sub(counter(before, path));
                NodeCounts {
                    ip: node.config.own_ip.to_string(),
                    role: node.config.role.name(),
                    reads_local: delta(&["outcomes", "READ_LOCAL"]),
                    reads_to_tail: delta(&["outcomes", "READ_TO_TAIL"]),
                    acks: delta(&["outcomes", "ACK_FORWARDED"]) + delta(&["outcomes", "ACK_CONSUMED"]),
                    frames_received: delta(&["io", "rx_frames"]),
                }
            })
            .collect();
        Ok(ChainMeasurement { hosts, nodes, counted })
    }

    pub fn stop(mut self) -> Result<(), String> {
        if let Counters::Relays(relays) = std::mem::replace(&mut self.counters, Counters::Relays(Vec::new())) {
            relays.into_iter().for_each(Relay::stop);
        }
        self.running.down().map_err(|e| e.to_string())
    }

    /// Every node has written its first counters (so its ports are open).
    fn wait_for_nodes(&self) -> Result<(), String> {
        let Counters::StatsFiles(stats_files) = &self.counters else { return Ok(()) };
        let deadline = Instant::now() + START_TIMEOUT;
        while !stats_files.iter().all(|f| f.exists()) {
            if let netcraq_topology::Event::NodeExited { node, exit } = self.running.wait(Duration::from_millis(20)) {
                return Err(format!("node {node} {exit} while starting"));
            }
            if Instant::now() >= deadline {
                return Err(format!("the nodes did not start within {} s", START_TIMEOUT.as_secs()));
            }
        }
        Ok(())
    }

    /// One closed-loop client per host, each reading through its own node, all at once.
    fn clients(
        &self,
        load: &Load,
        length: Duration,
        phase: &str,
        progress: PhaseProgress,
    ) -> Result<Vec<WorkloadReport>, String> {
        let plan = self.running.plan();
        let address = |index: usize| SocketAddrV4::new(plan.nodes[index].config.own_ip, NETCRAQ_UDP_PORT);
        let started = Instant::now();
        progress(phase, Duration::ZERO, length);
        let reports: Vec<Result<WorkloadReport, String>> = std::thread::scope(|scope| {
            let threads: Vec<_> = plan
                .hosts
                .iter()
                .enumerate()
                .map(|(i, host)| {
                    let node = address(i % plan.nodes.len());
                    let write_to = match load.writes {
                        Writes::OwnNode => node,
                        Writes::Head => address(0),
                    };
                    let workload = workload(load, self.keys, length, write_to, i as u64);
                    let namespace = self.running.namespace(&host.name);
                    scope.spawn(move || {
                        let namespace = namespace.ok_or_else(|| format!("host {} has no namespace", host.name))?;
                        namespace
                            .run(|| run_workload(&[node], &workload, |_| progress(phase, started.elapsed(), length)))
                            .map_err(|e| format!("entering {}: {e}", host.name))?
                            .map_err(|e| format!("client on {}: {e}", host.name))
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap_or_else(|_| Err("a client thread panicked".to_owned())))
                .collect()
        });
        if netcraq_topology::take_interrupt().is_some() {
            return Err("interrupted".to_owned());
        }
        reports.into_iter().collect()
    }

    /// Each node's counters as its stats file has them; a relay counts the
    /// frames it handed to its switch (BMv2's outcome counters are not read).
    fn read_stats(&self) -> Result<Vec<Value>, String> {
        let stats_files = match &self.counters {
            Counters::StatsFiles(files) => files,
            Counters::Relays(relays) => {
                return Ok(relays.iter().map(|r| serde_json::json!({ "io": { "rx_frames": r.served() } })).collect())
            }
        };
        stats_files
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
            })
            .collect()
    }
}

/// A BMv2 switch whose ports are a packet socket for its relay
/// ([`packets_socket`]), with no program until the controller installs one,
/// P4Runtime on [`bmv2_socket`] and Thrift on a port of its own.
fn capped_bmv2_command(node_file: &Path, namespace: &Namespace, index: usize) -> Command {
    let mut command = namespace.command(BMV2_SWITCH);
    let thrift_port = THRIFT_PORT_BASE.saturating_add(index as u16);
    command.args(["--device-id", "1", "--no-p4", "--thrift-port", &thrift_port.to_string()]);
    command.arg("--packet-in").arg(format!("ipc://{}", packets_socket(node_file).display()));
    command.arg("--").arg("--grpc-server-addr").arg(format!("unix:{}", bmv2_socket(node_file).display()));
    command.arg("--cpu-port").arg(BMV2_CPU_PORT.to_string());
    command
}

/// The P4Info and BMv2 JSON of `p4/netcraq.p4`, compiled by `p4/compile.sh` when missing and p4c is on PATH.
pub fn bmv2_pipeline() -> Result<PipelineFiles, String> {
    let build = Path::new(P4_BUILD);
    let pipeline = PipelineFiles {
        p4info: Some(build.join("netcraq.p4info.txtpb")),
        device_config: Some(build.join("bmv2").join("netcraq.json")),
    };
    let compiled =
        || [&pipeline.p4info, &pipeline.device_config].iter().all(|f| f.as_ref().is_some_and(|f| f.is_file()));
    if !compiled() && netcraq_topology::on_path("p4c") {
        let output = Command::new("bash").arg("p4/compile.sh").output().map_err(|e| format!("p4/compile.sh: {e}"))?;
        if !output.status.success() {
            return Err(format!("p4/compile.sh failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
        }
    }
    match compiled() {
        true => Ok(pipeline),
        false => Err(format!("{P4_BUILD}/bmv2/netcraq.json is missing and p4c is not on PATH (run p4/compile.sh)")),
    }
}

fn file_stem(path: &Path) -> Option<&str> {
    path.file_stem()?.to_str()
}

/// Node `n<i>` at 10.0.0.<i>, host `h<i>` at 10.0.1.<i> on node `n<i>`, the nodes wired as asked.
fn topology_text(setup: &ChainSetup) -> String {
    let kind = setup.kind.name();
    let eal = match setup.kind {
        NodeKind::Dpdk => format!("eal = \"{}\"\n", setup.eal),
        _ => String::new(),
    };
    let mut text = String::new();
    for i in 1..=setup.nodes {
        text += &format!("[[node]]\nname = \"n{i}\"\nkind = \"{kind}\"\n{eal}ip = \"10.0.0.{i}\"\n\n");
        text += &format!("[[host]]\nname = \"h{i}\"\nip = \"10.0.1.{i}\"\n\n");
        text += &format!("[[link]]\na = \"h{i}\"\nb = \"n{i}\"\n\n");
        let neighbours = match setup.wiring {
            Wiring::Line => (i > 1).then_some(i - 1).into_iter().collect::<Vec<_>>(),
            Wiring::Mesh => (1..i).collect(),
        };
        for j in neighbours {
            text += &format!("[[link]]\na = \"n{j}\"\nb = \"n{i}\"\n\n");
        }
    }
    let names: Vec<String> = (1..=setup.nodes).map(|i| format!("\"n{i}\"")).collect();
    let mode = setup.mode.name().to_lowercase();
    text + &format!(
        "[[chain]]\nname = \"bench\"\nnodes = [{}]\nmode = \"{mode}\"\nkeys = [0, {}]\n",
        names.join(", "),
        setup.keys
    )
}

/// The network puts the nodes first, then the hosts; host `h<i>` reads through node `n<i>`.
fn routes_of(topology: &Topology) -> ChainRoutes {
    let nodes = topology.nodes().len();
    let hosts = (0..topology.hosts().len()).map(|h| (nodes + h, h % nodes)).collect();
    ChainRoutes { network: topology.network(), chain: (0..nodes).collect(), hosts }
}

fn workload(load: &Load, keys: u32, length: Duration, write_to: SocketAddrV4, host_index: u64) -> Workload {
    Workload {
        read_fraction: load.read_fraction,
        keys: 0..u16::try_from(keys).unwrap_or(u16::MAX),
        key_distribution: KeyDistribution::Uniform,
        concurrency: load.outstanding_per_host,
        stop: Stop::AfterDuration(length),
        seed: load.seed.wrapping_add(host_index),
        write_target: WriteTarget::Node(write_to),
        client: load.client,
        progress_interval: PROGRESS_INTERVAL,
        ..Workload::default()
    }
}

fn counter(stats: &Value, path: &[&str]) -> u64 {
    path.iter().fold(stats, |value, key| &value[key]).as_u64().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(wiring: Wiring) -> ChainSetup {
        ChainSetup {
            nodes: 3,
            mode: Mode::Cr,
            kind: NodeKind::Software,
            wiring,
            keys: 100,
            service_rate_fps: None,
            eal: String::new(),
            nice: 0,
        }
    }

    #[test]
    fn the_mesh_links_every_pair_of_nodes_and_each_host_to_its_node() {
        let topology = Topology::parse(&topology_text(&setup(Wiring::Mesh))).unwrap();
        assert_eq!(topology.links().len(), 3 + 3);
        let line = Topology::parse(&topology_text(&setup(Wiring::Line))).unwrap();
        assert_eq!(line.links().len(), 3 + 2);
    }

    #[test]
    fn on_the_mesh_writes_and_their_replies_transit_the_writers_node_as_counted_by_hand() {
        let routes = routes_of(&Topology::parse(&topology_text(&setup(Wiring::Mesh))).unwrap());
        let close = |frames: &[f64], expected: [f64; 3]| frames.iter().zip(expected).all(|(f, e)| (f - e).abs() < 1e-9);
        // Half reads. Per operation of h1 (on the head): n1 2, n2 1, n3 0.5;
        // of h2: n1 1, n2 2.5, n3 0.5; of h3 (on the tail): n1 1, n2 1, n3 1.5.
        let equal = routes.bound(Mode::Craq, 0.5, 1000.0).unwrap();
        assert!(close(&equal.frames_per_op, [4.0 / 3.0, 1.5, 2.5 / 3.0]), "{:?}", equal.frames_per_op);
        assert!((equal.ops_per_s - 1000.0 / 1.5).abs() < 1e-6);
        let measured = routes.bound_with_host_rates(Mode::Craq, 0.5, 1000.0, &[200.0, 100.0, 200.0]).unwrap();
        assert!(close(&measured.frames_per_op, [1.4, 1.3, 0.9]), "{:?}", measured.frames_per_op);
        // CR at 100 % reads: the tail takes every read, the others their own and the reply back.
        let cr = routes.bound(Mode::Cr, 1.0, 900.0).unwrap();
        assert!(close(&cr.frames_per_op, [2.0 / 3.0, 2.0 / 3.0, 1.0]) && (cr.reads_per_s - 900.0).abs() < 1e-6);
    }
}
