//! What the running controller exports at `/metrics` (docs/metrics.md),
//! made from the [`Note`]s the service sends: probes sent and missed per
//! node, nodes seen down, reconfigurations by chain, change and result,
//! each chain's epoch, and how long failure detection took.

use crate::service::{Note, NoteKind};
use crate::supervisor::{Change, SupervisorState};
use netcraq_metrics::{Exposition, Histogram, Kind, LATENCY_BUCKETS_SECONDS};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// One node's probes.
#[derive(Debug, Default)]
struct NodeProbes {
    sent: u64,
    missed: u64,
    down: u64,
    last_answered: Option<Instant>,
}

#[derive(Debug)]
struct Seen {
    nodes: BTreeMap<String, NodeProbes>,
    /// By (chain, change, result).
    reconfigurations: BTreeMap<(String, &'static str, &'static str), u64>,
    epochs: BTreeMap<String, u32>,
    retirements: BTreeMap<&'static str, u64>,
    /// From a node's last answered probe to the note that it is down.
    detection: Histogram,
}

/// The running controller's metrics; [`ControllerMetrics::observe`] every note.
#[derive(Debug)]
pub struct ControllerMetrics {
    seen: Mutex<Seen>,
}

impl ControllerMetrics {
    /// Starts from `state`'s chains and epochs.
    pub fn new(state: &SupervisorState) -> ControllerMetrics {
        let epochs = state.chains.iter().map(|c| (c.name.clone(), c.layout.epoch)).collect();
        ControllerMetrics {
            seen: Mutex::new(Seen {
                nodes: BTreeMap::new(),
                reconfigurations: BTreeMap::new(),
                epochs,
                retirements: BTreeMap::new(),
                detection: Histogram::new(LATENCY_BUCKETS_SECONDS),
            }),
        }
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn observe(&self, note: &Note) {
        let mut seen = self.seen();
        let seen = &mut *seen;
        let mut reconfiguration = |chain: &str, change: &Change, result: &'static str| {
            *seen.reconfigurations.entry((chain.to_string(), change_name(change), result)).or_default() += 1;
        };
        match &note.what {
            NoteKind::Probed { node, answered } => {
                let probes = node_entry(&mut seen.nodes, node);
                probes.sent += 1;
                if *answered {
                    probes.last_answered = Some(note.at);
                } else {
                    probes.missed += 1;
                }
            }
            NoteKind::NodeDown(node) => {
                let probes = node_entry(&mut seen.nodes, node);
                probes.down += 1;
                if let Some(last) = probes.last_answered {
                    seen.detection.observe(note.at.saturating_duration_since(last).as_secs_f64());
                }
            }
            NoteKind::ReconfigureStarted { chain, change, .. } => reconfiguration(chain, change, "started"),
            NoteKind::Reconfigured { chain, change, epoch, .. } => {
                reconfiguration(chain, change, "done");
                seen.epochs.insert(chain.clone(), *epoch);
            }
            NoteKind::ReconfigureFailed { chain, change, .. } => reconfiguration(chain, change, "failed"),
            NoteKind::Retired(_) => *seen.retirements.entry("done").or_default() += 1,
            NoteKind::RetireFailed { .. } => *seen.retirements.entry("failed").or_default() += 1,
            NoteKind::NodeUp(_)
            | NoteKind::Unreachable { .. }
            | NoteKind::Campaigning { .. }
            | NoteKind::Leading { .. }
            | NoteKind::StoppedLeading { .. } => {}
        }
    }

    pub fn render(&self) -> String {
        let seen = self.seen();
        let mut out = Exposition::new();
        let per_node: [(&str, &str, fn(&NodeProbes) -> u64); 3] = [
            ("netcraq_controller_probes_total", "Probes sent to each node.", |p| p.sent),
            ("netcraq_controller_probes_missed_total", "Probes not answered in time, or failed.", |p| p.missed),
            ("netcraq_controller_nodes_down_total", "Times each node was held down after missing its probes.", |p| {
                p.down
            }),
        ];
        for (name, help, value) in per_node {
            out.family(name, Kind::Counter, help);
            for (node, probes) in &seen.nodes {
                out.sample(name, &[("node", node.as_str())], value(probes));
            }
        }
        let reconfigurations = "netcraq_controller_reconfigurations_total";
        out.family(
            reconfigurations,
            Kind::Counter,
            "Reconfigurations by chain, change (restart, remove, add) and result (started, done, failed).",
        );
        for ((chain, change, result), count) in &seen.reconfigurations {
            let labels = [("chain", chain.as_str()), ("change", *change), ("result", *result)];
            out.sample(reconfigurations, &labels, *count);
        }
        out.family("netcraq_controller_chain_epoch", Kind::Gauge, "Each chain's epoch as last configured.");
        for (chain, epoch) in &seen.epochs {
            out.sample("netcraq_controller_chain_epoch", &[("chain", chain.as_str())], f64::from(*epoch));
        }
        out.family(
            "netcraq_controller_retirements_total",
            Kind::Counter,
            "Nodes whose node_config was cleared (done) or could not be (failed).",
        );
        for (result, count) in &seen.retirements {
            out.sample("netcraq_controller_retirements_total", &[("result", *result)], *count);
        }
        let detection = "netcraq_controller_detection_latency_seconds";
        out.family(detection, Kind::Histogram, "From a node's last answered probe to the controller holding it down.");
        out.histogram(detection, &[], &seen.detection);
        out.finish()
    }
}

fn node_entry<'n>(nodes: &'n mut BTreeMap<String, NodeProbes>, node: &str) -> &'n mut NodeProbes {
    if !nodes.contains_key(node) {
        nodes.insert(node.to_string(), NodeProbes::default());
    }
    nodes.get_mut(node).expect("inserted")
}

fn change_name(change: &Change) -> &'static str {
    match change {
        Change::Restart => "restart",
        Change::Remove { .. } => "remove",
        Change::Add { .. } => "add",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn notes_become_probe_reconfiguration_epoch_and_detection_metrics() {
        let metrics = ControllerMetrics::new(&SupervisorState { chains: Vec::new() });
        let start = Instant::now();
        let note = |after_ms: u64, what: NoteKind| {
            metrics.observe(&Note { at: start + Duration::from_millis(after_ms), what })
        };
        let probed = |answered| NoteKind::Probed { node: "n2".into(), answered };
        note(0, probed(true));
        note(50, probed(false));
        note(100, probed(false));
        note(120, NoteKind::NodeDown("n2".into()));
        let remove = Change::Remove { node: "n2".into() };
        note(130, NoteKind::ReconfigureStarted { chain: "kv".into(), change: remove.clone(), epoch: 5 });
        note(900, NoteKind::Reconfigured { chain: "kv".into(), change: remove, members: vec!["n1".into()], epoch: 5 });
        let samples = netcraq_metrics::parse(&metrics.render()).unwrap();
        assert_eq!(samples.sum("netcraq_controller_probes_total", &[("node", "n2")]), Some(3.0));
        assert_eq!(samples.sum("netcraq_controller_probes_missed_total", &[("node", "n2")]), Some(2.0));
        assert_eq!(samples.sum("netcraq_controller_nodes_down_total", &[("node", "n2")]), Some(1.0));
        let done = [("chain", "kv"), ("change", "remove"), ("result", "done")];
        assert_eq!(samples.sum("netcraq_controller_reconfigurations_total", &done), Some(1.0));
        assert_eq!(samples.sum("netcraq_controller_chain_epoch", &[("chain", "kv")]), Some(5.0));
        assert_eq!(samples.sum("netcraq_controller_detection_latency_seconds_count", &[]), Some(1.0));
        assert_eq!(samples.sum("netcraq_controller_detection_latency_seconds_sum", &[]), Some(0.12));
    }
}
