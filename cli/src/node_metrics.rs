//! `netcraq node --metrics-listen ADDR`: the node's counters at `/metrics`
//! (docs/metrics.md). The poll loop leaves a copy of its counters here at
//! every report (`--stats-interval-ms`); a scrape renders the latest copy,
//! so the data path never waits for a scraper.

use netcraq_core::{Node, Outcome};
use netcraq_metrics::{Exposition, Kind, MetricsServer};
use netcraq_node::shell::IoCounters;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The counters as the poll loop last reported them.
#[derive(Debug, Clone, Copy)]
struct Reported {
    outcomes: [u64; Outcome::COUNT],
    io: IoCounters,
}

/// A node's `/metrics`: served until dropped.
pub struct NodeMetrics {
    latest: Arc<Mutex<Reported>>,
    _server: MetricsServer,
}

impl NodeMetrics {
    /// Serves `/metrics` on `listen` (bound where the node starts, before
    /// `--netns`), naming the node `name`.
    pub fn serve(listen: SocketAddr, name: &str) -> Result<NodeMetrics, String> {
        let latest = Arc::new(Mutex::new(Reported { outcomes: [0; Outcome::COUNT], io: IoCounters::default() }));
        let (reported, node) = (latest.clone(), name.to_string());
        let render = Arc::new(move || render(&node, &lock(&reported)));
        let server = MetricsServer::start(listen, render).map_err(|e| format!("--metrics-listen {listen}: {e}"))?;
        tracing::info!(node = %name, address = %server.address(), "serving /metrics");
        Ok(NodeMetrics { latest, _server: server })
    }

    /// Takes the counters of a report, summed over the node's pollers.
    pub fn update(&self, nodes: &[&Node], io: IoCounters) {
        let mut outcomes = [0u64; Outcome::COUNT];
        for (count, outcome) in outcomes.iter_mut().zip(Outcome::ALL) {
            *count = nodes.iter().map(|node| node.outcome_count(outcome)).fold(0, u64::wrapping_add);
        }
        *lock(&self.latest) = Reported { outcomes, io };
    }
}

fn lock(reported: &Mutex<Reported>) -> std::sync::MutexGuard<'_, Reported> {
    reported.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The I/O counters: name (after `netcraq_node_`), help, value.
fn io_counters(io: &IoCounters) -> [(&'static str, &'static str, u64); 12] {
    [
        ("rx_frames_total", "Frames received from the ports.", io.rx_frames),
        ("rx_bytes_total", "Bytes of the frames received.", io.rx_bytes),
        ("tx_frames_total", "Frames sent on the ports.", io.tx_frames),
        ("tx_bytes_total", "Bytes of the frames sent.", io.tx_bytes),
        ("rx_errors_total", "Receive failures, and frames too long for one buffer.", io.rx_errors),
        ("tx_errors_total", "Frames the port did not take, or no buffer was left for.", io.tx_errors),
        ("tx_no_port_total", "Outputs for a port number the node has no interface for.", io.tx_no_port),
        ("fault_dropped_total", "Frames dropped by injected faults.", io.fault_dropped),
        ("fault_duplicated_total", "Frames duplicated by injected faults.", io.fault_duplicated),
        ("fault_reordered_total", "Frames held back by injected faults.", io.fault_reordered),
        ("handed_over_total", "Frames handed to the lcore owning their key.", io.handed_over),
        ("handoff_full_total", "Frames dropped because the owning lcore's hand-off ring was full.", io.handoff_full),
    ]
}

fn render(name: &str, reported: &Reported) -> String {
    let mut out = Exposition::new();
    out.family("netcraq_node_info", Kind::Gauge, "The node's name (value 1).").sample(
        "netcraq_node_info",
        &[("node", name)],
        1.0,
    );
    out.family(
        "netcraq_node_outcomes_total",
        Kind::Counter,
        "Frames by outcome (docs/protocol.md section 6): one per frame received, plus one NO_ROUTE per output without a route.",
    );
    for (outcome, count) in Outcome::ALL.iter().zip(reported.outcomes) {
        out.sample("netcraq_node_outcomes_total", &[("outcome", outcome.name())], count);
    }
    for (name, help, value) in io_counters(&reported.io) {
        out.counter(&format!("netcraq_node_{name}"), help, value);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_and_io_counter_is_exported() {
        let mut reported = Reported { outcomes: [0; Outcome::COUNT], io: IoCounters::default() };
        reported.outcomes[Outcome::ReadLocal as usize] = 3;
        reported.io.rx_bytes = 620;
        let samples = netcraq_metrics::parse(&render("n1", &reported)).unwrap();
        let outcomes = samples.matching("netcraq_node_outcomes_total", &[]).count();
        assert_eq!(outcomes, Outcome::COUNT);
        assert_eq!(samples.sum("netcraq_node_outcomes_total", &[("outcome", "READ_LOCAL")]), Some(3.0));
        assert_eq!(samples.sum("netcraq_node_rx_bytes_total", &[]), Some(620.0));
        assert_eq!(samples.sum("netcraq_node_info", &[("node", "n1")]), Some(1.0));
    }
}
