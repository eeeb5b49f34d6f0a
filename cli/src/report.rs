//! What `netcraq demo` prints: the same content as a table or as JSON.

use netcraq_client::WorkloadReport;
use netcraq_core::{Mode, Outcome};
use netcraq_sim::{ExperimentReport, NodeReport};
use serde::Serialize;
use std::fmt::Write;

/// Where the demo ran, as its first line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    InMemory,
    Namespaces,
}

impl Network {
    pub fn describe(self) -> &'static str {
        match self {
            Network::InMemory => {
                "the in-memory network (simulated; every time and rate is virtual time, not wall-clock)"
            }
            Network::Namespaces => {
                "network namespaces and veth links (real packets between netcraq node processes; wall-clock time)"
            }
        }
    }

    fn time(self) -> &'static str {
        match self {
            Network::InMemory => "simulated",
            Network::Namespaces => "wall-clock",
        }
    }
}

/// The demo's parameters, as run.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSetup {
    pub nodes: u8,
    pub clients: usize,
    pub outstanding_requests: usize,
    pub seconds: f64,
    pub warmup_seconds: f64,
    pub read_fraction: f64,
    pub keys: u32,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    network: Network,
    network_description: &'static str,
    setup: DemoSetup,
    modes: Vec<ModeReport>,
    /// CRAQ's reads per second over CR's; absent when CR completed no read.
    craq_to_cr_read_throughput_ratio: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    mode: &'static str,
    ops_per_s: f64,
    reads_per_s: f64,
    writes_per_s: f64,
    latency_us_p50: f64,
    latency_us_p99: f64,
    writes_outcome_unknown: u64,
    timed_out: u64,
    retransmissions: u64,
    frames_dropped_by_network: u64,
    nodes: Vec<NodeRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeRow {
    /// Position in the chain, 1 for the head.
    pub position: usize,
    pub ip: String,
    pub role: &'static str,
    pub reads_local: u64,
    pub reads_to_tail: u64,
    pub frames_served: u64,
    /// Share of the time spent serving; known only in the simulation.
    pub busy_fraction: Option<f64>,
}

impl DemoReport {
    pub fn new(network: Network, setup: DemoSetup, craq: ModeReport, cr: ModeReport) -> Self {
        let ratio = (cr.reads_per_s > 0.0).then(|| craq.reads_per_s / cr.reads_per_s);
        DemoReport {
            network,
            network_description: network.describe(),
            setup,
            modes: vec![craq, cr],
            craq_to_cr_read_throughput_ratio: ratio,
        }
    }

    /// The report as text: setup, one line per mode, one line per node.
    pub fn table(&self) -> String {
        let mut out = String::new();
        self.write_table(&mut out).expect("writing to a String cannot fail");
        out
    }

    fn write_table(&self, out: &mut String) -> std::fmt::Result {
        let s = &self.setup;
        writeln!(out, "NetCRAQ demo on {}", self.network.describe())?;
        writeln!(
            out,
            "{}-node chain, {} client hosts with {} requests outstanding, {:.0}% reads over {} uniform keys, seed {}",
            s.nodes,
            s.clients,
            s.outstanding_requests,
            s.read_fraction * 100.0,
            s.keys,
            s.seed
        )?;
        let time = self.network.time();
        writeln!(out, "each mode measured for {} s {time} after {} s of warm-up\n", s.seconds, s.warmup_seconds)?;
        writeln!(
            out,
            "{:<5} {:>11} {:>11} {:>11} {:>9} {:>9}",
            "mode", "ops/s", "reads/s", "writes/s", "p50 µs", "p99 µs"
        )?;
        for mode in &self.modes {
            writeln!(
                out,
                "{:<5} {:>11.0} {:>11.0} {:>11.0} {:>9.1} {:>9.1}",
                mode.mode,
                mode.ops_per_s,
                mode.reads_per_s,
                mode.writes_per_s,
                mode.latency_us_p50,
                mode.latency_us_p99
            )?;
        }
        self.write_nodes(out)?;
        self.write_faults(out)?;
        match self.craq_to_cr_read_throughput_ratio {
            Some(ratio) => writeln!(out, "\nCRAQ/CR read throughput: {ratio:.2}x"),
            None => writeln!(out, "\nCRAQ/CR read throughput: n/a (CR completed no read)"),
        }
    }

    fn write_nodes(&self, out: &mut String) -> std::fmt::Result {
        let [craq, cr] = [&self.modes[0], &self.modes[1]];
        writeln!(
            out,
            "\nreads answered by each node itself (local) or forwarded to the tail; busy = share of time serving (simulation only)"
        )?;
        writeln!(
            out,
            "{:<12} {:<8} | {:>10} {:>10} {:>5} | {:>10} {:>10} {:>5}",
            "node", "role", "CRAQ local", "to tail", "busy", "CR local", "to tail", "busy"
        )?;
        for (a, b) in craq.nodes.iter().zip(&cr.nodes) {
            writeln!(
                out,
                "{:<12} {:<8} | {:>10} {:>10} {:>5} | {:>10} {:>10} {:>5}",
                a.ip,
                a.role,
                a.reads_local,
                a.reads_to_tail,
                percent(a.busy_fraction),
                b.reads_local,
                b.reads_to_tail,
                percent(b.busy_fraction)
            )?;
        }
        Ok(())
    }

    /// Only when something went wrong: a clean run has nothing to say here.
    fn write_faults(&self, out: &mut String) -> std::fmt::Result {
        for mode in &self.modes {
            let faults = mode.writes_outcome_unknown + mode.timed_out + mode.frames_dropped_by_network;
            if faults > 0 {
                writeln!(
                    out,
                    "{}: {} writes with unknown outcome, {} timeouts, {} retransmissions, {} frames dropped",
                    mode.mode,
                    mode.writes_outcome_unknown,
                    mode.timed_out,
                    mode.retransmissions,
                    mode.frames_dropped_by_network
                )?;
            }
        }
        Ok(())
    }
}

fn percent(fraction: Option<f64>) -> String {
    fraction.map_or_else(|| "-".to_owned(), |f| format!("{:.0}%", f * 100.0))
}

impl ModeReport {
    /// A mode measured on network namespaces: the client's report and each
    /// node's counters over the measured interval.
    pub fn from_namespaces(mode: Mode, client: &WorkloadReport, nodes: Vec<NodeRow>) -> Self {
        let seconds = client.duration.as_secs_f64().max(f64::MIN_POSITIVE);
        ModeReport {
            mode: mode.name(),
            ops_per_s: client.ops_per_sec(),
            reads_per_s: client.reads as f64 / seconds,
            writes_per_s: client.writes as f64 / seconds,
            latency_us_p50: client.latency_us_p50() as f64,
            latency_us_p99: client.latency_us_p99() as f64,
            writes_outcome_unknown: client.errors.outcome_unknown,
            timed_out: client.errors.timeouts,
            retransmissions: client.retransmissions,
            frames_dropped_by_network: 0,
            nodes,
        }
    }

    pub fn from_simulation(report: &ExperimentReport) -> Self {
        let network = &report.network;
        ModeReport {
            mode: report.mode.name(),
            ops_per_s: report.ops_per_s(),
            reads_per_s: report.reads_per_s(),
            writes_per_s: report.writes_per_s(),
            latency_us_p50: report.latency_us(0.5),
            latency_us_p99: report.latency_us(0.99),
            writes_outcome_unknown: report.clients.outcome_unknown,
            timed_out: report.clients.timed_out,
            retransmissions: report.clients.retransmissions,
            frames_dropped_by_network: network.links.lost
                + network.links.overflowed
                + network.node_queue_overflows
                + network.unconnected_port_drops
                + network.unknown_destination_drops,
            nodes: report.nodes.iter().enumerate().map(|(i, node)| NodeRow::new(i, node)).collect(),
        }
    }
}

impl NodeRow {
    fn new(index: usize, node: &NodeReport) -> Self {
        NodeRow {
            position: index + 1,
            ip: node.ip.to_string(),
            role: node.role.map_or("NONE", |role| role.name()),
            reads_local: node.count(Outcome::ReadLocal),
            reads_to_tail: node.count(Outcome::ReadToTail),
            frames_served: node.frames_served,
            busy_fraction: Some(node.busy_fraction),
        }
    }
}
