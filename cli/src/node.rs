//! `netcraq node`: one node, the core over AF_PACKET sockets (the software
//! node) or, with `--dpdk`, over DPDK ports (the kernel-bypass node).

use crate::node_metrics::NodeMetrics;
use crate::node_p4runtime;
use clap::Args;
use netcraq_core::{Node, Outcome, DEFAULT_KEY_CAPACITY};
use netcraq_node::afpacket::{PortSpec, SoftwareNode};
use netcraq_node::idle::Idle;
use netcraq_node::service_rate::ServiceRate;
use netcraq_node::shell::IoCounters;
use netcraq_topology::NodeFile;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DPDK_HELP: &str = "\
DPDK (--dpdk):
  The node runs the same core over DPDK ports in a poll loop instead of
  AF_PACKET sockets. --dpdk takes the EAL arguments as one string, split at
  spaces; `netcraq node --dpdk ''` is enough on most machines.

  Ports: node-file port N uses the device of `--dpdk-port N=DEVARGS` when
  given (repeat the option per port), else `net_af_packet<N>,iface=<interface>`
  (DPDK's AF_PACKET driver on the port's kernel interface, so a node file
  written by `netcraq up` works as it is). DEVARGS is a PCI address bound to
  a DPDK driver (0000:01:00.0) or a virtual device: net_memif0,role=server,
  net_af_packet1,iface=eth1, net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap,
  net_ring0, ...

  Memory: by default DPDK uses hugepages; when none are free the node says
  how to reserve them and exits. Without hugepages, add `--no-huge -m 256`:
  -m is the megabytes of ordinary memory DPDK may use. Without -m, DPDK
  takes 64 MB, which holds the mbufs of a node of up to 3 ports; give
  more for more ports. --no-huge cannot be combined with --in-memory.

  Added unless the EAL arguments already decide it:
    --no-pci            when no port is a PCI device (else `-a ADDR` per PCI
                        port), unless -a/--allow/-b/--block/--no-pci is given;
    --in-memory         (hugepages) or --no-shconf (--no-huge), unless
                        --in-memory/--no-shconf/--file-prefix is given: no
                        files outlive the node, and several nodes can run
                        side by side;
    --lcores 0@(CPUS)   the CPUs this process may use, unless -l/--lcores/
                        -c is given: DPDK pins its main thread, and this lets
                        it float. Pin a node for measurements with `-l 2`.
  The node prints the EAL arguments it uses.

  Lcores: the node polls on every lcore the EAL is given (`-l 2-3`), each
  over its own queue pair of every port, and lcore i owns the keys k with
  k % lcores == i (frames of other keys are handed to their owner; see
  docs/dpdk.md). af_packet devices get qpairs=<lcores> unless they say.

  Idle (--dpdk-idle): spin (poll at 100 % CPU), yield, or sleep[:US]
  (the default, 50 us): after 64 empty rounds the loop yields or sleeps
  between rounds, so more nodes than cores can run (tests, demos).";

#[derive(Debug, Args)]
#[command(after_long_help = DPDK_HELP)]
pub struct NodeArgs {
    /// The node file: node_config, routes and which interface is which port
    /// (written by `netcraq up`; format in controlplane/topology/README.md). Optional with
    /// --p4runtime and --port: the controller then configures the node.
    #[arg(long, value_name = "FILE", required_unless_present = "p4runtime")]
    config: Option<PathBuf>,
    #[command(flatten)]
    control: node_p4runtime::ControlArgs,
    /// With --config and --p4runtime: take only the ports (their faults and
    /// DPDK devices) from the node file, and start unconfigured until the
    /// controller sets node_config and routes over P4Runtime (`netcraq up`)
    #[arg(long, requires_all = ["config", "p4runtime"])]
    await_controller: bool,
    /// Write the node's counters as JSON to FILE, replaced atomically every
    /// --stats-interval-ms and at exit.
    #[arg(long, value_name = "FILE")]
    stats: Option<PathBuf>,
    /// How often the counters are reported to --stats and --metrics-listen
    #[arg(long, value_name = "MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    stats_interval_ms: u64,
    /// Serve the node's counters to Prometheus at http://ADDR/metrics
    /// (outcomes by name, frames and bytes in and out, drops; docs/metrics.md),
    /// as of the last report (--stats-interval-ms). Bound where the node
    /// starts, before --netns
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Run over DPDK with these EAL arguments (one string, e.g. '--no-huge
    /// -m 256'); see DPDK below (`--help`)
    #[arg(long, value_name = "EAL_ARGS", allow_hyphen_values = true)]
    dpdk: Option<String>,
    /// With --dpdk: node port N is the DPDK device DEVARGS (PCI address or
    /// vdev); repeatable. Default: net_af_packet<N>,iface=<interface>
    #[arg(long = "dpdk-port", value_name = "N=DEVARGS", requires = "dpdk", value_parser = parse_dpdk_port)]
    dpdk_ports: Vec<(u16, String)>,
    /// With --dpdk: what the poll loop does when idle: spin, yield or sleep[:US]
    #[arg(long, value_name = "MODE", default_value = "sleep", requires = "dpdk")]
    dpdk_idle: String,
    /// With --dpdk: frames per receive burst and per transmit call (1 to 64)
    #[arg(long, value_name = "N", default_value_t = 32, requires = "dpdk",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    dpdk_burst: u16,
    /// Take at most N frames per second from the ports (a token bucket with a
    /// burst of 8 frames); frames beyond it wait in the receive queue and
    /// overflow there, as at a saturated node. Lets many nodes share few
    /// cores as equal nodes (perf/README.md, "Figures"). Default: no cap
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(netcraq_node::service_rate::MAX_RATE_FPS)))]
    service_rate_fps: Option<u32>,
}

fn parse_dpdk_port(text: &str) -> Result<(u16, String), String> {
    let (number, devargs) = text.split_once('=').ok_or("expected N=DEVARGS, e.g. 1=net_memif0,role=server")?;
    let number = number.trim().parse().map_err(|_| format!("{number:?} is not a port number"))?;
    match devargs.trim() {
        "" => Err("DEVARGS is empty".to_string()),
        devargs => Ok((number, devargs.to_string())),
    }
}

pub fn run(args: &NodeArgs) -> Result<(), String> {
    let file = args.config.as_deref().map(NodeFile::load).transpose().map_err(|e| e.to_string())?;
    let name = file.as_ref().map_or(args.control.name.as_str(), |f| f.name.as_str()).to_string();
    // The P4Runtime listener binds where the node starts, before --netns
    // moves the packet sockets into the data namespace.
    let control = node_p4runtime::start(&args.control, &name)?;
    let metrics = args.metrics_listen.map(|listen| NodeMetrics::serve(listen, &name)).transpose()?;
    node_p4runtime::enter_netns(&args.control, &name)?;
    let Some(file) = file else {
        return run_controlled(args, &name, control, metrics);
    };
    let mut node = Node::new(DEFAULT_KEY_CAPACITY);
    if !args.await_controller {
        node.set_config(file.config).map_err(|e| format!("node {}: {e}", file.name))?;
        *node.routes_mut() =
            file.route_table().map_err(|(prefix, e)| format!("node {}: route {prefix}: {e}", file.name))?;
        *node.fabric_ports_mut() =
            file.fabric_port_table().map_err(|(port, e)| format!("node {}: fabric port {port}: {e}", file.name))?;
    }
    let ports: Vec<PortSpec> = file.ports.iter().map(|p| port_spec(&file, p)).collect();
    if let Some(eal_args) = args.dpdk.as_ref().or(file.dpdk.as_ref()) {
        let devices = dpdk_devices(&file.ports, &args.dpdk_ports).map_err(|e| format!("node {}: {e}", file.name))?;
        let idle = args.dpdk_idle.parse::<Idle>().map_err(|e| format!("node {}: --dpdk-idle: {e}", file.name))?;
        let ports = ports.into_iter().zip(devices).collect();
        return dpdk::run(args, &file, node, ports, eal_args, idle, control, metrics);
    }
    let software = SoftwareNode::open(node, &ports).map_err(|e| format!("node {}: {e}", file.name))?;
    tracing::info!(node = %file.name, ip = %file.config.own_ip, role = file.config.role.name(), ports = ports.len(), "node running");
    run_software(args, &file.name, software, control, metrics)
}

/// A node with no node file: unconfigured, its ports from --port, until its
/// controller sets node_config and routes over P4Runtime.
fn run_controlled(
    args: &NodeArgs,
    name: &str,
    control: Option<node_p4runtime::Control>,
    metrics: Option<NodeMetrics>,
) -> Result<(), String> {
    let ports = node_p4runtime::port_specs(&args.control).map_err(|e| format!("node {name}: {e}"))?;
    if args.dpdk.is_some() {
        return Err(format!("node {name}: --dpdk needs --config (the node file names the DPDK ports)"));
    }
    let node = Node::new(DEFAULT_KEY_CAPACITY);
    let software = SoftwareNode::open(node, &ports).map_err(|e| format!("node {name}: {e}"))?;
    tracing::info!(node = %name, ports = ports.len(), "node running, unconfigured until its controller sets it");
    run_software(args, name, software, control, metrics)
}

fn run_software(
    args: &NodeArgs,
    name: &str,
    mut software: SoftwareNode,
    control: Option<node_p4runtime::Control>,
    metrics: Option<NodeMetrics>,
) -> Result<(), String> {
    netcraq_topology::catch_interrupts().map_err(|e| format!("installing signal handlers: {e}"))?;
    if let Some(rate_fps) = args.service_rate_fps {
        software.limit_service_rate(ServiceRate::new(rate_fps, Instant::now())?);
    }
    let (server, p4runtime) = match control {
        Some(node_p4runtime::Control { server, port, port_file }) => {
            software.attach_control(port);
            node_p4runtime::announce(&server, port_file.as_deref(), name)?;
            let counters = server.counters();
            (Some(server), Some(counters))
        }
        None => (None, None),
    };
    let report = |running: &SoftwareNode| {
        if let Some(metrics) = &metrics {
            metrics.update(&[running.node()], running.io_counters());
        }
        let p4runtime = p4runtime.as_ref().map(|counters| counters.snapshot());
        write_stats_with(args, name, &[running.node()], running.io_counters(), p4runtime)
    };
    let stop = || netcraq_topology::take_interrupt().is_some();
    software
        .run(stop, Duration::from_millis(args.stats_interval_ms), report)
        .map_err(|e| format!("node {name}: {e}"))?;
    drop(server);
    tracing::info!(node = %name, "node stopped");
    Ok(())
}

fn port_spec(file: &NodeFile, port: &netcraq_topology::Port) -> PortSpec {
    PortSpec { number: port.number, interface: port.interface.clone(), faults: file.fault_settings(port) }
}

/// Each port's DPDK device, in node-file order: `--dpdk-port`, else the node file's `device`,
/// else DPDK's af_packet driver on the port's interface.
fn dpdk_devices(ports: &[netcraq_topology::Port], explicit: &[(u16, String)]) -> Result<Vec<String>, String> {
    for (index, (number, _)) in explicit.iter().enumerate() {
        if !ports.iter().any(|p| p.number == *number) {
            return Err(format!("--dpdk-port {number}=...: the node file has no port {number}"));
        }
        if explicit[..index].iter().any(|(n, _)| n == number) {
            return Err(format!("--dpdk-port {number}=... is given twice"));
        }
    }
    let device = |port: &netcraq_topology::Port| match explicit.iter().find(|(n, _)| *n == port.number) {
        Some((_, devargs)) => devargs.clone(),
        None => port.device.clone().unwrap_or_else(|| format!("net_af_packet{},iface={}", port.number, port.interface)),
    };
    Ok(ports.iter().map(device).collect())
}

#[cfg(feature = "dpdk")]
mod dpdk {
    use super::{node_p4runtime, write_stats_with, NodeArgs, NodeMetrics};
    use netcraq_core::Node;
    use netcraq_node::afpacket::PortSpec;
    use netcraq_node::dpdk_launch::{self, DpdkNodeConfig};
    use netcraq_node::dpdk_node::DpdkSettings;
    use netcraq_node::idle::Idle;
    use netcraq_node::shell::IoCounters;
    use netcraq_topology::NodeFile;
    use std::time::Duration;

    pub fn run(
        args: &NodeArgs,
        file: &NodeFile,
        node: Node,
        ports: Vec<(PortSpec, String)>,
        eal_args: &str,
        idle: Idle,
        control: Option<node_p4runtime::Control>,
        metrics: Option<NodeMetrics>,
    ) -> Result<(), String> {
        let name = &file.name;
        let settings = DpdkSettings {
            burst: usize::from(args.dpdk_burst),
            idle,
            service_rate_fps: args.service_rate_fps,
            ..DpdkSettings::default()
        };
        let config = DpdkNodeConfig {
            name: name.clone(),
            eal: eal_args.to_string(),
            ports,
            settings,
            report_every: Duration::from_millis(args.stats_interval_ms),
        };
        let (server, control_port, port_file) = match control {
            Some(node_p4runtime::Control { server, port, port_file }) => (Some(server), Some(port), port_file),
            None => (None, None, None),
        };
        let p4runtime = server.as_ref().map(|server| server.counters());
        let ready = |lcores: usize| {
            if let Some(server) = &server {
                node_p4runtime::announce(server, port_file.as_deref(), name)?;
            }
            netcraq_topology::catch_interrupts().map_err(|e| format!("installing signal handlers: {e}"))?;
            tracing::info!(node = %name, ip = %file.config.own_ip, role = file.config.role.name(), ports = config.ports.len(),
                           lcores, idle = %settings.idle, "DPDK node running");
            Ok(())
        };
        let report = (args.stats.is_some() || metrics.is_some()).then_some(|nodes: &[&Node], io: IoCounters| {
            if let Some(metrics) = &metrics {
                metrics.update(nodes, io);
            }
            write_stats_with(args, name, nodes, io, p4runtime.as_ref().map(|counters| counters.snapshot()))
        });
        let stop = || netcraq_topology::interrupted();
        dpdk_launch::run(&config, node, control_port, ready, stop, report)?;
        drop(server);
        tracing::info!(node = %name, "node stopped");
        Ok(())
    }
}

#[cfg(not(feature = "dpdk"))]
mod dpdk {
    use super::NodeArgs;
    use netcraq_core::Node;
    use netcraq_node::afpacket::PortSpec;
    use netcraq_node::idle::Idle;
    use netcraq_topology::NodeFile;

    pub fn run(
        _: &NodeArgs,
        file: &NodeFile,
        _: Node,
        _: Vec<(PortSpec, String)>,
        _: &str,
        _: Idle,
        _: Option<super::node_p4runtime::Control>,
        _: Option<super::NodeMetrics>,
    ) -> Result<(), String> {
        Err(format!(
            "node {}: this netcraq was built without DPDK: install DPDK (`apt-get install -y dpdk-dev \
             libdpdk-dev pkg-config libclang-dev clang`) and build with `cargo build --release -p netcraq \
             --features dpdk`",
            file.name
        ))
    }
}

/// The counters as JSON: outcomes by name, I/O counters, non-zero per-key
/// counters, summed over the node's pollers (the lcores of a DPDK node).
pub fn stats_json(name: &str, nodes: &[&Node], io: IoCounters) -> Value {
    let sum = |count: &dyn Fn(&Node) -> u64| nodes.iter().map(|node| count(node)).fold(0u64, u64::wrapping_add);
    let outcomes: Map<String, Value> =
        Outcome::ALL.iter().map(|o| (o.name().to_owned(), json!(sum(&|node| node.outcome_count(*o))))).collect();
    let per_key = |counts: &dyn Fn(&Node) -> &[u64]| -> Map<String, Value> {
        let len = nodes.iter().map(|node| counts(node).len()).max().unwrap_or(0);
        (0..len)
            .map(|key| (key, sum(&|node| counts(node).get(key).copied().unwrap_or(0))))
            .filter(|(_, n)| *n > 0)
            .map(|(key, n)| (key.to_string(), json!(n)))
            .collect()
    };
    json!({
        "node": name,
        "outcomes": outcomes,
        "key_reads": per_key(&|node| node.key_reads()),
        "key_writes": per_key(&|node| node.key_writes()),
        "io": {
            "rx_frames": io.rx_frames, "tx_frames": io.tx_frames, "rx_bytes": io.rx_bytes, "tx_bytes": io.tx_bytes,
            "rx_errors": io.rx_errors,
            "tx_errors": io.tx_errors, "tx_no_port": io.tx_no_port, "fault_dropped": io.fault_dropped,
            "fault_duplicated": io.fault_duplicated, "fault_reordered": io.fault_reordered,
            "handed_over": io.handed_over, "handoff_full": io.handoff_full,
        },
    })
}

/// Writes the stats file when --stats asks for one, with the P4Runtime
/// server's counters when it runs; a failure is logged.
fn write_stats_with(
    args: &NodeArgs,
    name: &str,
    nodes: &[&Node],
    io: IoCounters,
    p4runtime: Option<netcraq_p4runtime_server::ServerCountersSnapshot>,
) {
    if let Some(path) = &args.stats {
        let mut stats = stats_json(name, nodes, io);
        if let Some(counters) = p4runtime {
            stats["p4runtime"] = node_p4runtime::stats_json(counters);
        }
        if let Err(error) = write_atomically(path, &stats.to_string()) {
            tracing::warn!(%error, path = %path.display(), "could not write stats");
        }
    }
}

/// Writes `text` to `path` through a temporary file, so a reader never sees half of it.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(number: u16, interface: &str) -> netcraq_topology::Port {
        let faults = netcraq_topology::PortFaults::default();
        netcraq_topology::Port { number, interface: interface.to_string(), faults, device: None }
    }

    #[test]
    fn ports_default_to_af_packet_on_their_interface() {
        let mut ports = [port(1, "eth1"), port(2, "eth2"), port(3, "eth3")];
        ports[2].device = Some("net_memif3,role=client".into());
        let explicit = [(2, "net_memif0,role=server".to_string())];
        assert_eq!(
            dpdk_devices(&ports, &explicit).unwrap(),
            ["net_af_packet1,iface=eth1", "net_memif0,role=server", "net_memif3,role=client"]
        );
        assert!(dpdk_devices(&ports, &[(4, "net_ring0".into())]).unwrap_err().contains("no port 4"));
        let twice = [(1, "net_ring0".to_string()), (1, "net_ring1".to_string())];
        assert!(dpdk_devices(&ports, &twice).unwrap_err().contains("twice"));
    }

    #[test]
    fn dpdk_port_options_parse() {
        assert_eq!(
            parse_dpdk_port("1=net_pcap0,rx_pcap=a,tx_pcap=b").unwrap(),
            (1, "net_pcap0,rx_pcap=a,tx_pcap=b".into())
        );
        assert!(parse_dpdk_port("net_ring0").is_err());
        assert!(parse_dpdk_port("x=net_ring0").is_err());
        assert!(parse_dpdk_port("1=").is_err());
    }
}
