//! `netcraq bench etcd`: etcd on this machine under NetCRAQ's request mix
//! ([`crate::etcd::measure_etcd`]), one member and three, and the ratio of
//! the DPDK node's measured rate (a `bench node` results file) to etcd's
//! linearizable reads per second.

use crate::etcd::{self, ClosedLoopArgs, EtcdReport, EtcdRun, EtcdSettings};
use crate::report::{ratio, NodeMeasurement};
use crate::results::{load_average, machine_json, source_path, utc_now, write_json};
use clap::Args;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Issue #16's target: the DPDK node at least this many times etcd's linearizable reads per second.
pub const TARGET_NODE_VS_ETCD_READS: f64 = 100.0;

#[derive(Debug, Clone, Args)]
pub struct BenchEtcdArgs {
    /// Cluster sizes to measure, each a cluster of its own on 127.0.0.1
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "1,3")]
    pub members: Vec<u32>,
    /// Share of reads (linearizable); the rest are writes of 16-byte values.
    /// The default is the poster's Kubernetes mix; a run with only reads
    /// follows, so that the linearizable read rate is known
    #[arg(long, value_name = "F", default_value_t = 2.0 / 3.0)]
    pub read_fraction: f64,
    /// Keys drawn uniformly from 0..KEYS, all written before measuring
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub keys: u32,
    #[command(flatten)]
    pub load: ClosedLoopArgs,
    /// Where to write the results as JSON [default: perf/results/etcd-latest.json in the source tree]
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// The `bench node` results the DPDK node's rate is read from [default: perf/results/node-latest.json]
    #[arg(long, value_name = "PATH")]
    pub node_json: Option<PathBuf>,
}

impl BenchEtcdArgs {
    /// The settings: the given read fraction, then only reads (unless it is 1 already).
    pub fn settings(&self) -> EtcdSettings {
        let mut read_fractions = vec![self.read_fraction];
        if self.read_fraction != 1.0 {
            read_fractions.push(1.0);
        }
        self.load.settings(self.members.clone(), read_fractions, self.keys)
    }
}

pub fn run(args: &BenchEtcdArgs) -> Result<(), String> {
    let settings = args.settings();
    settings.validate()?;
    let node_json = args.node_json.clone().unwrap_or_else(|| source_path("results/node-latest.json"));
    // Read first: a missing file is said before a minute of measuring, not after.
    let node = NodeMeasurement::read(&node_json)
        .map_err(|e| eprintln!("bench: no DPDK node figure to compare with: {e}"))
        .ok();
    netcraq_topology::catch_interrupts().map_err(|e| format!("installing signal handlers: {e}"))?;
    let load_average_at_start = load_average();
    let report = etcd::measure_etcd(&settings)?;
    let comparison = Comparison { node, etcd_best_reads_per_s: report.best_linearizable_reads_per_s() };

    println!("etcd on this machine: {} ({} data directories)", report.etcd_version, report.data_dir_filesystem);
    println!(
        "closed loop: {} requests outstanding over {} gRPC connections, {} keys uniform, {}-byte values, \
         {} s measured after {} s warm-up{}",
        settings.concurrency,
        settings.connections,
        settings.keys,
        etcd::VALUE_BYTES,
        settings.duration_s,
        settings.warmup_s,
        match settings.rounds {
            1 => String::new(),
            rounds => format!("; median of {rounds} rounds (all in the JSON)"),
        }
    );
    println!();
    print!("{}", table(&report.runs));
    println!();
    print!("{}", comparison.lines(&report.runs));
    let json_path = args.json.clone().unwrap_or_else(|| source_path("results/etcd-latest.json"));
    let machine = machine_json(&crate::system::allowed_cpus(), load_average_at_start);
    write_json(&json_path, &to_json(&report, &settings, &comparison, machine, &utc_now()))?;
    println!("results: {}", json_path.display());
    println!("{}", comparison.summary_line(&report.runs, args.read_fraction));
    let suspicious: u64 = report.runs.iter().map(|r| r.wrong_values + r.stale_reads).sum();
    match suspicious {
        0 => Ok(()),
        n => Err(format!("{n} read(s) returned a value that was not the latest acknowledged one (see the JSON)")),
    }
}

/// The table of every run.
pub fn table(runs: &[EtcdRun]) -> String {
    let mut text = format!(
        "{:<18} {:>7} {:>10} {:>14} {:>10} {:>8} {:>8} {:>15} {:>15} {:>7}\n",
        "configuration",
        "reads",
        "ops/s",
        "lin. reads/s",
        "writes/s",
        "p50 µs",
        "p99 µs",
        "read p50/p99",
        "write p50/p99",
        "errors"
    );
    for run in runs {
        let pair = |p50: f64, p99: f64, count: u64| match count {
            0 => "-".to_string(),
            _ => format!("{p50:.0}/{p99:.0}"),
        };
        text.push_str(&format!(
            "{:<18} {:>6.1}% {:>10.0} {:>14.0} {:>10.0} {:>8.0} {:>8.0} {:>15} {:>15} {:>7}\n",
            run.label(),
            run.read_fraction * 100.0,
            run.ops_per_s,
            run.linearizable_reads_per_s,
            run.writes_per_s,
            run.latency_us_p50,
            run.latency_us_p99,
            pair(run.read_latency_us_p50, run.read_latency_us_p99, run.reads),
            pair(run.write_latency_us_p50, run.write_latency_us_p99, run.writes),
            run.errors
        ));
    }
    text
}

/// The DPDK node against etcd's linearizable reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub node: Option<NodeMeasurement>,
    /// etcd's highest linearizable read rate of the run.
    pub etcd_best_reads_per_s: Option<f64>,
}

impl Comparison {
    fn node_per_s(&self) -> Option<f64> {
        self.node.as_ref().map(|node| node.mpps * 1e6)
    }

    /// The DPDK node's requests per second over etcd's best linearizable reads per second.
    pub fn node_vs_etcd_reads(&self) -> Option<f64> {
        ratio(self.node_per_s(), self.etcd_best_reads_per_s)
    }

    /// Where the node's figure comes from, the ratio per run, and the target.
    pub fn lines(&self, runs: &[EtcdRun]) -> String {
        let Some(node) = &self.node else {
            return "DPDK node: no `bench node` results to compare with (--node-json)\n".to_string();
        };
        let mut text = format!("{}\n", node.describe());
        for run in runs.iter().filter(|r| r.reads > 0) {
            let times = ratio(self.node_per_s(), Some(run.linearizable_reads_per_s)).unwrap_or(0.0);
            text.push_str(&format!(
                "  / {} linearizable reads at {:.0} % reads: {times:.0}x\n",
                run.label(),
                run.read_fraction * 100.0
            ));
        }
        text + &match self.node_vs_etcd_reads() {
            Some(v) => format!(
                "DPDK node / etcd's best linearizable reads per second: {v:.0}x (target >= {TARGET_NODE_VS_ETCD_READS:.0}: {})\n",
                if v >= TARGET_NODE_VS_ETCD_READS { "met" } else { "MISSED" }
            ),
            None => "DPDK node / etcd's linearizable reads: n/a (no reads measured)\n".to_string(),
        }
    }

    /// `summary: etcd_1member_ops_per_s=X ... etcd_linearizable_reads_per_s=Y dpdk_node_mpps=Z dpdk_vs_etcd_reads=R`,
    /// the ops of each cluster at `read_fraction` (`n/a` for what is missing).
    pub fn summary_line(&self, runs: &[EtcdRun], read_fraction: f64) -> String {
        let per_s = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.0}"));
        let mut line = "summary:".to_string();
        for run in runs.iter().filter(|r| r.read_fraction == read_fraction) {
            line.push_str(&format!(" etcd_{}member_ops_per_s={:.0}", run.members, run.ops_per_s));
        }
        line.push_str(&format!(" etcd_linearizable_reads_per_s={}", per_s(self.etcd_best_reads_per_s)));
        line.push_str(&format!(
            " dpdk_node_mpps={} dpdk_vs_etcd_reads={}",
            self.node.as_ref().map_or("n/a".to_string(), |n| format!("{:.3}", n.mpps)),
            per_s(self.node_vs_etcd_reads())
        ));
        line
    }
}

/// The whole run as JSON.
pub fn to_json(
    report: &EtcdReport,
    settings: &EtcdSettings,
    comparison: &Comparison,
    machine: Value,
    timestamp_utc: &str,
) -> Value {
    json!({
        "benchmark": "netcraq bench etcd",
        "timestamp_utc": timestamp_utc,
        "machine": machine,
        "etcd": { "version": report.etcd_version, "data_dir_filesystem": report.data_dir_filesystem },
        "settings": {
            "members": settings.members,
            "read_fractions": settings.read_fractions,
            "keys": settings.keys,
            "key_distribution": "uniform",
            "value_bytes": etcd::VALUE_BYTES,
            "concurrency": settings.concurrency,
            "connections": settings.connections,
            "warmup_s": settings.warmup_s,
            "duration_s": settings.duration_s,
            "rounds": settings.rounds,
            "seed": settings.seed,
            "reads": "linearizable (etcd's default Range, not serializable)",
            "client": "etcd-client crate (gRPC), one tokio runtime",
        },
        "runs": report.runs,
        "comparison": {
            "dpdk_node": comparison.node.as_ref().map(NodeMeasurement::to_json),
            "etcd_best_linearizable_reads_per_s": comparison.etcd_best_reads_per_s,
            "dpdk_node_vs_etcd_linearizable_reads": comparison.node_vs_etcd_reads(),
            "target": TARGET_NODE_VS_ETCD_READS,
        },
        "summary": comparison.summary_line(&report.runs, settings.read_fractions[0]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn run(members: u32, read_fraction: f64, reads_per_s: f64, writes_per_s: f64) -> EtcdRun {
        EtcdRun {
            members,
            read_fraction,
            measured_s: 10.0,
            reads: (reads_per_s * 10.0) as u64,
            writes: (writes_per_s * 10.0) as u64,
            ops_per_s: reads_per_s + writes_per_s,
            linearizable_reads_per_s: reads_per_s,
            writes_per_s,
            latency_us_p50: 900.0,
            ..Default::default()
        }
    }

    fn node(mpps: f64) -> NodeMeasurement {
        NodeMeasurement {
            path: Path::new("node.json").to_path_buf(),
            timestamp_utc: "2026-11-25T00:22:27Z".into(),
            mpps,
            read_fraction: Some(0.9),
            cpu_model: Some("AMD EPYC".into()),
        }
    }

    #[test]
    fn the_summary_compares_the_node_with_etcds_best_linearizable_reads() {
        let runs = [run(1, 0.5, 6000.0, 6000.0), run(1, 1.0, 20_000.0, 0.0), run(3, 0.5, 3000.0, 3000.0)];
        let report = EtcdReport {
            etcd_version: "etcd 3.4.23".into(),
            data_dir_filesystem: "ext4 (/)".into(),
            runs: runs.to_vec(),
        };
        let comparison =
            Comparison { node: Some(node(3.0)), etcd_best_reads_per_s: report.best_linearizable_reads_per_s() };
        assert_eq!(comparison.etcd_best_reads_per_s, Some(20_000.0));
        assert_eq!(comparison.node_vs_etcd_reads(), Some(150.0));
        assert_eq!(
            comparison.summary_line(&runs, 0.5),
            "summary: etcd_1member_ops_per_s=12000 etcd_3member_ops_per_s=6000 etcd_linearizable_reads_per_s=20000 \
             dpdk_node_mpps=3.000 dpdk_vs_etcd_reads=150"
        );
        let lines = comparison.lines(&runs);
        assert!(lines.contains("150x (target >= 100: met)") && lines.contains("500x"), "{lines}");
        let slow = Comparison { node: Some(node(1.0)), ..comparison.clone() };
        assert!(slow.lines(&runs).contains("50x (target >= 100: MISSED)"));
        let text = table(&runs);
        assert!(text.contains("etcd, 3 members") && text.contains("20000"), "{text}");

        let settings = BenchEtcdArgs {
            members: vec![1, 3],
            read_fraction: 0.5,
            keys: 1000,
            load: ClosedLoopArgs {
                concurrency: 64,
                connections: 4,
                warmup_s: 2.0,
                duration_s: 10.0,
                rounds: 1,
                seed: 1,
                etcd: "etcd".into(),
            },
            json: None,
            node_json: None,
        }
        .settings();
        assert_eq!(settings.read_fractions, [0.5, 1.0]);
        let json = to_json(&report, &settings, &comparison, json!({"cpu_model": "x"}), "now");
        assert_eq!(json["runs"][1]["linearizable_reads_per_s"], 20_000.0);
        assert_eq!(json["comparison"]["dpdk_node_vs_etcd_linearizable_reads"], 150.0);
        assert_eq!(json["comparison"]["dpdk_node"]["mpps"], 3.0);
        assert!(
            json["summary"].as_str().is_some_and(|line| line.ends_with("dpdk_vs_etcd_reads=150")),
            "{}",
            json["summary"]
        );
    }

    #[test]
    fn missing_figures_are_not_available() {
        let runs = [run(1, 0.0, 0.0, 500.0)];
        let comparison = Comparison { node: None, etcd_best_reads_per_s: None };
        assert_eq!(
            comparison.summary_line(&runs, 0.0),
            "summary: etcd_1member_ops_per_s=500 etcd_linearizable_reads_per_s=n/a dpdk_node_mpps=n/a dpdk_vs_etcd_reads=n/a"
        );
        assert!(comparison.lines(&runs).contains("no `bench node` results"));
        assert!(table(&runs).contains(" - "), "a run without reads has no read latency");
    }
}
