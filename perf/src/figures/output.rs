//! What `netcraq bench figures` measured and writes: every round of every
//! point (figures.json, figures.csv), the summary against the targets, and
//! the plots.

use super::bound::Bound;
use super::plot::{self, Figure, Panel, Series, SeriesPoint};
use super::Kind;
use crate::netns_chain::{ChainMeasurement, ChainSetup, Load};
use netcraq_core::Outcome;
use netcraq_sim::ExperimentReport;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// CRAQ's reads at 100 % reads against CR's, per node of the chain, at least (issue #16).
pub const TARGET_RATIO_PER_NODE: f64 = 0.8;
/// How far a measured CRAQ/CR ratio may be from the bound's.
pub const TARGET_BOUND_TOLERANCE: f64 = 0.10;
/// The read fractions whose ratio is held to the bound (issue #16).
pub const BOUND_CHECKED_FRACTIONS: [f64; 2] = [0.95, 2.0 / 3.0];
const MODES: [&str; 2] = ["CRAQ", "CR"];

/// The run's parameters.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub nodes: Vec<u8>,
    pub rounds: u32,
    pub seconds: f64,
    pub warmup_seconds: f64,
    pub read_fractions: Vec<f64>,
    pub service_rate_fps: u32,
    pub outstanding_per_host: usize,
    pub keys: u32,
    pub seed: u64,
    pub dpdk_eal: String,
    pub nice: i32,
}

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu_model: Option<String>,
    pub cores: usize,
    pub kernel: String,
    pub date_utc: String,
    /// The 1-minute load average when the run started and when it ended: other work on the machine.
    pub load_average_1min_at_start: Option<f64>,
    pub load_average_1min_at_end: Option<f64>,
}

impl Machine {
    pub fn this() -> Machine {
        Machine {
            cpu_model: crate::system::cpu_model(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: crate::system::kernel(),
            date_utc: crate::results::utc_now(),
            load_average_1min_at_start: crate::results::load_average(),
            load_average_1min_at_end: None,
        }
    }

    fn describe(&self) -> String {
        let model = self.cpu_model.as_deref().unwrap_or("unknown CPU");
        let load = |load: Option<f64>| load.map_or("?".to_owned(), |l| format!("{l:.2}"));
        format!(
            "{model}, {} cores, Linux {}, {}, load average {} to {}",
            self.cores,
            self.kernel,
            self.date_utc,
            load(self.load_average_1min_at_start),
            load(self.load_average_1min_at_end)
        )
    }
}

/// A kind, or one of its chains, that was not measured, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skip {
    pub kind: String,
    pub reason: String,
}

/// One round of one point: a chain under one read fraction.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub kind: &'static str,
    pub nodes: u8,
    pub mode: &'static str,
    pub read_fraction: f64,
    pub round: u32,
    pub seconds: f64,
    pub reads_per_s: f64,
    pub writes_per_s: f64,
    /// Reads per second of each client host; host i reads through node i (head first).
    pub host_reads_per_s: Vec<f64>,
    /// Frames per second each node took from its ports, head first.
    pub node_frames_per_s: Vec<f64>,
    /// Reads each node forwarded to the tail over the measured time: in CRAQ
    /// the reads of dirty keys, in CR every read not entering at the tail.
    pub node_reads_to_tail: Vec<u64>,
    /// ACKs each node took over the measured time: fewer than the writes
    /// means ACKs were lost in full receive queues (perf/README.md, "The bound").
    pub node_acks: Vec<u64>,
    /// Operations that timed out or whose outcome is unknown.
    pub failed_ops: u64,
    pub retransmissions: u64,
    /// Total reads per second when the busiest node runs at the cap.
    pub bound_reads_per_s: f64,
    /// Frames each node receives per operation, head first, as the bound counts them.
    pub bound_frames_per_op: Vec<f64>,
}

impl Measurement {
    pub fn simulated(round: u32, read_fraction: f64, report: &ExperimentReport, bound: Bound) -> Measurement {
        let seconds = report.measured_ns as f64 / 1e9;
        Measurement {
            kind: Kind::Sim.name(),
            nodes: report.nodes.len() as u8,
            mode: report.mode.name(),
            read_fraction,
            round,
            seconds,
            reads_per_s: report.reads_per_s(),
            writes_per_s: report.writes_per_s(),
            host_reads_per_s: (0..report.hosts.len()).map(|h| report.host_reads_per_s(h)).collect(),
            node_frames_per_s: report.nodes.iter().map(|n| n.frames_served as f64 / seconds).collect(),
            node_reads_to_tail: report.nodes.iter().map(|n| n.count(Outcome::ReadToTail)).collect(),
            node_acks: report
                .nodes
                .iter()
                .map(|n| n.count(Outcome::AckForwarded) + n.count(Outcome::AckConsumed))
                .collect(),
            failed_ops: report.clients.timed_out + report.clients.outcome_unknown,
            retransmissions: report.clients.retransmissions,
            bound_reads_per_s: bound.reads_per_s,
            bound_frames_per_op: bound.frames_per_op,
        }
    }

    pub fn on_namespaces(
        kind: Kind,
        setup: &ChainSetup,
        round: u32,
        read_fraction: f64,
        load: &Load,
        measured: &ChainMeasurement,
        bound: Bound,
    ) -> Measurement {
        let rate = |count: u64, seconds: f64| count as f64 / seconds.max(f64::MIN_POSITIVE);
        let host_reads_per_s: Vec<f64> =
            measured.hosts.iter().map(|h| rate(h.reads, h.duration.as_secs_f64())).collect();
        let seconds = load.length.as_secs_f64();
        Measurement {
            kind: kind.name(),
            nodes: setup.nodes,
            mode: setup.mode.name(),
            read_fraction,
            round,
            seconds,
            reads_per_s: host_reads_per_s.iter().sum(),
            writes_per_s: measured.hosts.iter().map(|h| rate(h.writes, h.duration.as_secs_f64())).sum(),
            host_reads_per_s,
            node_frames_per_s: measured
                .nodes
                .iter()
                .map(|n| rate(n.frames_received, measured.counted.as_secs_f64()))
                .collect(),
            node_reads_to_tail: measured.nodes.iter().map(|n| n.reads_to_tail).collect(),
            node_acks: measured.nodes.iter().map(|n| n.acks).collect(),
            failed_ops: measured.hosts.iter().map(|h| h.errors.timeouts + h.errors.outcome_unknown).sum(),
            retransmissions: measured.hosts.iter().map(|h| h.retransmissions).sum(),
            bound_reads_per_s: bound.reads_per_s,
            bound_frames_per_op: bound.frames_per_op,
        }
    }

    /// Figure 3's points: (distance from the tail, the host's reads/s, the bound per host).
    fn distance_points(&self) -> Vec<(f64, f64, f64)> {
        let hosts = self.host_reads_per_s.len();
        let bound = self.bound_reads_per_s / hosts.max(1) as f64;
        self.host_reads_per_s.iter().enumerate().map(|(i, reads)| ((hosts - 1 - i) as f64, *reads, bound)).collect()
    }
}

/// A chain length's result against the targets, from the median rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub kind: &'static str,
    pub nodes: u8,
    /// CRAQ's reads/s over CR's at 100 % reads.
    pub ratio_all_reads: Option<f64>,
    pub target_ratio_all_reads: f64,
    pub checks: Vec<BoundCheck>,
}

/// At one read fraction: the measured CRAQ/CR read ratio against the bound's.
#[derive(Debug, Clone, Serialize)]
pub struct BoundCheck {
    pub read_fraction: f64,
    pub craq_reads_per_s: f64,
    pub cr_reads_per_s: f64,
    pub ratio: f64,
    pub bound_ratio: f64,
    /// Each mode's measured reads/s over its bound.
    pub craq_of_bound: f64,
    pub cr_of_bound: f64,
    /// Whether the fraction is one the target holds to the bound (95 %, 2/3).
    pub targeted: bool,
    pub within_tolerance: bool,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub machine: Machine,
    pub settings: Settings,
    pub skipped: Vec<Skip>,
    pub summary: Vec<Summary>,
    pub measurements: Vec<Measurement>,
}

impl Figures {
    pub fn new(settings: Settings, skipped: Vec<Skip>) -> Figures {
        Figures { machine: Machine::this(), settings, skipped, summary: Vec::new(), measurements: Vec::new() }
    }

    /// The median over rounds of `value` at one point, with its min and max.
    fn spread(
        &self,
        kind: &str,
        nodes: u8,
        mode: &str,
        read_fraction: f64,
        value: impl Fn(&Measurement) -> Option<f64>,
    ) -> Option<(f64, f64, f64)> {
        let values: Vec<f64> = self
            .measurements
            .iter()
            .filter(|m| m.kind == kind && m.nodes == nodes && m.mode == mode && same(m.read_fraction, read_fraction))
            .filter_map(value)
            .collect();
        spread(values)
    }

    /// The (kind, nodes) pairs measured, in order.
    fn chains(&self) -> Vec<(&'static str, u8)> {
        let mut chains: Vec<(&'static str, u8)> = Vec::new();
        for m in &self.measurements {
            if !chains.contains(&(m.kind, m.nodes)) {
                chains.push((m.kind, m.nodes));
            }
        }
        chains
    }

    /// Summarizes the measurements against the targets and notes the load at the end.
    pub fn summarize(&mut self) {
        self.machine.load_average_1min_at_end = crate::results::load_average();
        self.summary = self.chains().into_iter().map(|(kind, nodes)| self.summary_of(kind, nodes)).collect();
    }

    fn summary_of(&self, kind: &'static str, nodes: u8) -> Summary {
        let median = |mode: &str, fraction: f64, value: fn(&Measurement) -> f64| {
            self.spread(kind, nodes, mode, fraction, |m| Some(value(m))).map(|(median, _, _)| median)
        };
        let checks = self
            .settings
            .read_fractions
            .iter()
            .filter_map(|&fraction| {
                let reads = |mode| median(mode, fraction, |m| m.reads_per_s);
                let bound = |mode| median(mode, fraction, |m| m.bound_reads_per_s);
                let (craq, cr, craq_bound, cr_bound) = (reads("CRAQ")?, reads("CR")?, bound("CRAQ")?, bound("CR")?);
                let (ratio, bound_ratio) = (craq / cr, craq_bound / cr_bound);
                Some(BoundCheck {
                    read_fraction: fraction,
                    craq_reads_per_s: craq,
                    cr_reads_per_s: cr,
                    ratio,
                    bound_ratio,
                    craq_of_bound: craq / craq_bound,
                    cr_of_bound: cr / cr_bound,
                    targeted: BOUND_CHECKED_FRACTIONS.iter().any(|f| same(*f, fraction)),
                    within_tolerance: (ratio / bound_ratio - 1.0).abs() <= TARGET_BOUND_TOLERANCE,
                })
            })
            .collect::<Vec<_>>();
        Summary {
            kind,
            nodes,
            ratio_all_reads: checks.iter().find(|c| same(c.read_fraction, 1.0)).map(|c| c.ratio),
            target_ratio_all_reads: TARGET_RATIO_PER_NODE * f64::from(nodes),
            checks,
        }
    }

    /// The summary as text: one line per chain and read fraction.
    pub fn summary_table(&self) -> String {
        let mut out = format!(
            "figures on {}; every node capped at {} frames/s\n",
            self.machine.describe(),
            self.settings.service_rate_fps
        );
        let _ = writeln!(
            out,
            "{:<9} {:>2} {:>6} {:>10} {:>10} {:>7} {:>7} {:>6} {:>6}  target",
            "kind", "n", "reads", "CRAQ r/s", "CR r/s", "ratio", "bound", "CRAQ/b", "CR/b"
        );
        for summary in &self.summary {
            for check in &summary.checks {
                let target = if same(check.read_fraction, 1.0) {
                    let met = check.ratio >= summary.target_ratio_all_reads;
                    format!(">= {:.1}: {}", summary.target_ratio_all_reads, verdict(met))
                } else if check.targeted {
                    format!("bound ±10%: {}", verdict(check.within_tolerance))
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "{:<9} {:>2} {:>5.1}% {:>10.0} {:>10.0} {:>7.2} {:>7.2} {:>6.2} {:>6.2}  {target}",
                    summary.kind,
                    summary.nodes,
                    check.read_fraction * 100.0,
                    check.craq_reads_per_s,
                    check.cr_reads_per_s,
                    check.ratio,
                    check.bound_ratio,
                    check.craq_of_bound,
                    check.cr_of_bound
                );
            }
        }
        for skip in &self.skipped {
            let _ = writeln!(out, "SKIP {}: {}", skip.kind, skip.reason);
        }
        out
    }

    /// Every round of every point, one row per plotted value.
    pub fn csv(&self) -> String {
        let mut out = "figure,kind,nodes,mode,read_fraction,round,x,reads_per_s,bound_reads_per_s\n".to_owned();
        for m in &self.measurements {
            let mut row = |figure: &str, (x, y, bound): (f64, f64, f64)| {
                let _ = writeln!(
                    out,
                    "{figure},{},{},{},{:.6},{},{x},{y:.3},{bound:.3}",
                    m.kind, m.nodes, m.mode, m.read_fraction, m.round
                );
            };
            if same(m.read_fraction, 1.0) {
                m.distance_points().into_iter().for_each(|point| row("fig3", point));
            }
            row("fig4", (m.read_fraction, m.reads_per_s, m.bound_reads_per_s));
        }
        out
    }

    /// figures.json, figures.csv and, per kind, fig3-KIND and fig4-KIND as PNG and SVG.
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let json = serde_json::to_value(self).map_err(|e| e.to_string())?;
        crate::results::write_json(&dir.join("figures.json"), &json)?;
        let csv = dir.join("figures.csv");
        std::fs::write(&csv, self.csv()).map_err(|e| format!("writing {}: {e}", csv.display()))?;
        let mut kinds: Vec<&'static str> = self.chains().into_iter().map(|(kind, _)| kind).collect();
        kinds.dedup();
        for kind in kinds {
            for figure in [Figure::DistanceFromTail, Figure::ReadFraction] {
                let caption = format!(
                    "{kind} nodes, each serving at most {} frames/s in arrival order ({}); median of {} rounds of \
                     {} s, bars min–max; {}",
                    self.settings.service_rate_fps,
                    cap_method(kind),
                    self.settings.rounds,
                    self.settings.seconds,
                    self.machine.describe()
                );
                plot::render(
                    figure,
                    &self.panels(kind, figure),
                    &caption,
                    &dir.join(format!("{}-{kind}", figure.stem())),
                )?;
            }
        }
        Ok(())
    }

    /// One panel per chain length of `kind`, each with CRAQ and CR.
    fn panels(&self, kind: &str, figure: Figure) -> Vec<Panel> {
        let lengths: Vec<u8> = self.chains().into_iter().filter(|(k, _)| *k == kind).map(|(_, n)| n).collect();
        lengths
            .into_iter()
            .map(|nodes| Panel { nodes, series: MODES.map(|mode| self.series(kind, nodes, mode, figure)).to_vec() })
            .collect()
    }

    fn series(&self, kind: &str, nodes: u8, mode: &'static str, figure: Figure) -> Series {
        let points = match figure {
            Figure::DistanceFromTail => (0..usize::from(nodes))
                .filter_map(|distance| {
                    let at = |m: &Measurement, pick: fn((f64, f64, f64)) -> f64| {
                        m.distance_points().into_iter().find(|p| p.0 == distance as f64).map(pick)
                    };
                    let measured = self.spread(kind, nodes, mode, 1.0, |m| at(m, |p| p.1))?;
                    let bound = self.spread(kind, nodes, mode, 1.0, |m| at(m, |p| p.2))?;
                    Some(SeriesPoint {
                        x: distance as f64,
                        median: measured.0,
                        min: measured.1,
                        max: measured.2,
                        bound: bound.0,
                    })
                })
                .collect(),
            Figure::ReadFraction => self
                .settings
                .read_fractions
                .iter()
                .filter_map(|&fraction| {
                    let measured = self.spread(kind, nodes, mode, fraction, |m| Some(m.reads_per_s))?;
                    let bound = self.spread(kind, nodes, mode, fraction, |m| Some(m.bound_reads_per_s))?;
                    Some(SeriesPoint {
                        x: fraction,
                        median: measured.0,
                        min: measured.1,
                        max: measured.2,
                        bound: bound.0,
                    })
                })
                .collect(),
        };
        Series { mode, points }
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Median (the lower middle of an even count), min and max.
fn spread(mut values: Vec<f64>) -> Option<(f64, f64, f64)> {
    values.sort_by(f64::total_cmp);
    let (min, max) = (*values.first()?, *values.last()?);
    Some((values[(values.len() - 1) / 2], min, max))
}

/// How the nodes of `kind` are capped, for the plots' captions (perf/README.md, "The service-rate cap").
fn cap_method(kind: &str) -> &'static str {
    match kind {
        "sim" => "a simulated service time",
        "bmv2" => "a relay hands each switch its frames: simple_switch_grpc --packet-in",
        _ => "netcraq node --service-rate-fps",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement(
        mode: &'static str,
        read_fraction: f64,
        round: u32,
        host_reads_per_s: Vec<f64>,
        bound: f64,
    ) -> Measurement {
        Measurement {
            kind: "sim",
            nodes: host_reads_per_s.len() as u8,
            mode,
            read_fraction,
            round,
            seconds: 1.0,
            reads_per_s: host_reads_per_s.iter().sum(),
            writes_per_s: 0.0,
            host_reads_per_s,
            node_frames_per_s: vec![],
            node_reads_to_tail: vec![],
            node_acks: vec![],
            failed_ops: 0,
            retransmissions: 0,
            bound_reads_per_s: bound,
            bound_frames_per_op: vec![],
        }
    }

    pub(crate) fn figures() -> Figures {
        let settings = Settings {
            nodes: vec![3],
            rounds: 2,
            seconds: 1.0,
            warmup_seconds: 0.5,
            read_fractions: vec![1.0, 0.95],
            service_rate_fps: 1000,
            outstanding_per_host: 4,
            keys: 10,
            seed: 1,
            dpdk_eal: String::new(),
            nice: 0,
        };
        let mut figures = Figures::new(settings, vec![Skip { kind: "bmv2".into(), reason: "not here".into() }]);
        for round in 0..2 {
            let wobble = f64::from(round) * 30.0;
            figures.measurements.push(measurement("CRAQ", 1.0, round, vec![1000.0 - wobble, 990.0, 980.0], 3000.0));
            figures.measurements.push(measurement("CR", 1.0, round, vec![330.0, 330.0, 330.0 + wobble], 1000.0));
            figures.measurements.push(measurement("CRAQ", 0.95, round, vec![700.0, 700.0, 700.0], 2280.0));
            figures.measurements.push(measurement("CR", 0.95, round, vec![300.0, 300.0, 300.0], 950.0));
        }
        figures.summarize();
        figures
    }

    #[test]
    fn the_summary_takes_median_rounds_and_checks_the_targets() {
        let figures = figures();
        let summary = &figures.summary[0];
        let all_reads = &summary.checks[0];
        // Medians: CRAQ 2940 (the lower of 2970 and 2940), CR 990.
        assert_eq!((all_reads.craq_reads_per_s, all_reads.cr_reads_per_s), (2940.0, 990.0));
        assert!((summary.ratio_all_reads.unwrap() - 2940.0 / 990.0).abs() < 1e-9);
        let at_95 = &summary.checks[1];
        assert!(at_95.targeted && at_95.within_tolerance, "{at_95:?}");
        assert!((at_95.bound_ratio - 2.4).abs() < 1e-9);
        assert!(figures.summary_table().contains(">= 2.4: met"), "{}", figures.summary_table());
    }

    #[test]
    fn the_csv_has_a_row_per_host_for_fig3_and_one_per_measurement_for_fig4() {
        let csv = figures().csv();
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows[0], "figure,kind,nodes,mode,read_fraction,round,x,reads_per_s,bound_reads_per_s");
        assert_eq!(rows.iter().filter(|r| r.starts_with("fig3,")).count(), 2 * 2 * 3);
        assert_eq!(rows.iter().filter(|r| r.starts_with("fig4,")).count(), 2 * 4);
        // Host 0 reads through the head: distance 2 from the tail.
        assert!(rows.contains(&"fig3,sim,3,CRAQ,1.000000,0,2,1000.000,1000.000"), "{csv}");
    }

    #[test]
    fn json_keeps_every_round_and_the_skips() {
        let json = serde_json::to_value(figures()).unwrap();
        assert_eq!(json["measurements"].as_array().unwrap().len(), 8);
        assert_eq!(json["skipped"][0]["kind"], "bmv2");
        assert_eq!(json["settings"]["service_rate_fps"], 1000);
        assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);
    }

    #[test]
    fn the_plots_render_as_png_and_svg_with_their_axis_labels_next_to_json_and_csv() {
        let dir = std::env::temp_dir().join(format!("netcraq-figures-test-{}", std::process::id()));
        let written = figures().write(&dir);
        let read = |name: &str| std::fs::read(dir.join(name));
        let outputs = written.and_then(|()| {
            let files = ["fig3-sim.png", "fig4-sim.png", "fig3-sim.svg", "fig4-sim.svg", "figures.json", "figures.csv"];
            files.map(|name| read(name).map_err(|e| format!("{name}: {e}"))).into_iter().collect::<Result<Vec<_>, _>>()
        });
        let _ = std::fs::remove_dir_all(&dir);
        let outputs = outputs.unwrap();
        for png in &outputs[..2] {
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        }
        for (svg, figure) in outputs[2..4].iter().zip([Figure::DistanceFromTail, Figure::ReadFraction]) {
            let svg = String::from_utf8_lossy(svg);
            assert!(svg.contains(figure.x_label()) && svg.contains(figure.y_label()), "axis labels missing");
            assert!(svg.contains("CRAQ bound") && svg.contains("frames/s"), "legend or caption missing");
        }
    }
}
