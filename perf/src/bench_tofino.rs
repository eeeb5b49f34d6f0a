//! `netcraq bench tofino`: the comparison model ([`crate::tofino`]) beside
//! the DPDK node's measured per-core rate. Every figure says what it is:
//! modelled, measured, recorded, published or an assumption.

use crate::ceiling::classes::OpClass;
use crate::report::{ratio, NodeMeasurement};
use crate::results::{machine_json, read_json, shown, source_path, utc_now, write_json};
use crate::tofino::{self, cores_needed, ModelParameters, Passes, PUBLISHED, RECIRCULATED_FRAME_BYTES, RECORDED_FIT};
use clap::Args;
use netcraq_wire::NETCRAQ_FRAME_LEN;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Args)]
pub struct BenchTofinoArgs {
    /// Tofino 1's pipeline clock in GHz: one packet per clock per pipe
    /// (published: p4lang/open-p4studio issue 64)
    #[arg(long, value_name = "GHZ", default_value_t = 1.22)]
    pub clock_ghz: f64,
    /// Pipes per chip (Tofino 1 at 6.4 Tb/s: 4)
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub pipes: u32,
    /// ASSUMPTION: bandwidth of the recirculation port that second outputs
    /// (the tail's ACK) loop through, in Gb/s (one 100G port per pipe)
    #[arg(long, value_name = "GBPS", default_value_t = 100.0)]
    pub recirculation_gbps: f64,
    /// The Ethernet port the DPDK cores are compared against, in Gb/s
    #[arg(long, value_name = "GBPS", default_value_t = 100.0)]
    pub port_gbps: f64,
    /// The Tofino program whose passes are counted [default: p4/netcraq_tna.p4 in the source tree]
    #[arg(long, value_name = "PATH")]
    pub p4: Option<PathBuf>,
    /// `bench node` results: the DPDK node's measured rate [default: perf/results/node-latest.json]
    #[arg(long, value_name = "PATH")]
    pub node_json: Option<PathBuf>,
    /// `bench ceiling` results: the node's generator-free rate per class, used
    /// when present [default: perf/results/ceiling-latest.json]
    #[arg(long, value_name = "PATH")]
    pub ceiling_json: Option<PathBuf>,
    /// Where to write the model as JSON [default: perf/results/tofino-model.json]
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub costs: Costs,
}

/// Prices and power: no defaults (none is invented); printed only when given.
#[derive(Debug, Clone, Copy, Default, Args, PartialEq)]
pub struct Costs {
    /// Price of one Tofino 1 switch, in USD
    #[arg(long, value_name = "USD")]
    pub switch_usd: Option<f64>,
    /// Power of one Tofino 1 switch, in watts
    #[arg(long, value_name = "W")]
    pub switch_watts: Option<f64>,
    /// Price of one server for DPDK nodes, in USD
    #[arg(long, value_name = "USD")]
    pub server_usd: Option<f64>,
    /// Power of one such server, in watts
    #[arg(long, value_name = "W")]
    pub server_watts: Option<f64>,
    /// Cores per server that run DPDK node lcores
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub server_cores: Option<u32>,
}

impl Costs {
    fn validate(&self) -> Result<(), String> {
        let given = [self.switch_usd, self.switch_watts, self.server_usd, self.server_watts];
        match given.iter().flatten().find(|v| !(v.is_finite() && **v > 0.0)) {
            Some(bad) => Err(format!("cost or power {bad}: give a positive number")),
            None => Ok(()),
        }
    }
}

/// Where a DPDK node rate comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRate {
    pub per_s: f64,
    pub source: String,
}

/// One class's row: the model beside the node.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassRow {
    pub class: OpClass,
    pub passes: Passes,
    pub per_pipe_per_s: f64,
    pub limit: tofino::Limit,
    pub node: Option<NodeRate>,
    /// Construct names with their lines in the program (empty when it was not read).
    pub constructs: Vec<(String, usize)>,
}

impl ClassRow {
    /// The chip's rate (modelled): every pipe at the per-pipe rate.
    pub fn per_chip_per_s(&self, parameters: &ModelParameters) -> f64 {
        self.per_pipe_per_s * f64::from(parameters.pipes_per_chip)
    }

    pub fn cores_to_match_pipe(&self) -> Option<u64> {
        cores_needed(self.per_pipe_per_s, self.node.as_ref()?.per_s)
    }

    pub fn cores_to_fill_port(&self, parameters: &ModelParameters) -> Option<u64> {
        cores_needed(parameters.port_fps(), self.node.as_ref()?.per_s)
    }
}

pub fn run(args: &BenchTofinoArgs) -> Result<(), String> {
    let parameters = ModelParameters {
        clock_ghz: args.clock_ghz,
        pipes_per_chip: args.pipes,
        recirculation_gbps: args.recirculation_gbps,
        port_gbps: args.port_gbps,
    };
    parameters.validate()?;
    args.costs.validate()?;
    let p4_path = args.p4.clone().unwrap_or_else(|| source_path("../p4/netcraq_tna.p4"));
    let located = match std::fs::read_to_string(&p4_path) {
        Ok(source) => tofino::check_program(&source)
            .map_err(|stale| format!("{}: the pass table no longer matches the program: {stale}", p4_path.display()))?,
        Err(error) => {
            eprintln!("bench: {}: {error}: passes as derived, not checked against the program", shown(&p4_path));
            Vec::new()
        }
    };
    let node_path = args.node_json.clone().unwrap_or_else(|| source_path("results/node-latest.json"));
    let node = NodeMeasurement::read(&node_path).map_err(|e| eprintln!("bench: {e}")).ok();
    let ceiling_path = args.ceiling_json.clone().unwrap_or_else(|| source_path("results/ceiling-latest.json"));
    let ceiling = match ceiling_path.exists() {
        true => Some(read_json(&ceiling_path)?),
        false => None,
    };
    let rows: Vec<ClassRow> = OpClass::ALL
        .iter()
        .map(|class| {
            let (per_pipe_per_s, limit) = parameters.per_pipe_ops_per_s(class.passes());
            let constructs = located
                .iter()
                .filter(|(c, _)| c == class)
                .flat_map(|(_, found)| found.iter().map(|(c, line)| (format!("{} {}", c.kind, c.name), *line)))
                .collect();
            let node = node_rate(*class, ceiling.as_ref().map(|c| (c, ceiling_path.as_path())), node.as_ref());
            ClassRow { class: *class, passes: class.passes(), per_pipe_per_s, limit, node, constructs }
        })
        .collect();
    if ceiling.is_none() {
        println!("note: no {} (bench ceiling): every class compares with the bench node figure", shown(&ceiling_path));
    }
    print!("{}", report(&rows, &parameters, &p4_path, &args.costs));
    let json_path = args.json.clone().unwrap_or_else(|| source_path("results/tofino-model.json"));
    let machine = machine_json(&crate::system::allowed_cpus(), crate::results::load_average());
    write_json(&json_path, &to_json(&rows, &parameters, &p4_path, node.as_ref(), &args.costs, machine, &utc_now()))?;
    println!("results: {}", json_path.display());
    println!("{}", summary_line(&rows, &parameters));
    Ok(())
}

/// The node's rate for `class`: the ceiling's generator-free figure for the
/// class when there is one, else the `bench node` figure (a mix, through a
/// load generator that sets the pace: a lower bound).
pub fn node_rate(class: OpClass, ceiling: Option<(&Value, &Path)>, node: Option<&NodeMeasurement>) -> Option<NodeRate> {
    let from_ceiling = ceiling.and_then(|(json, path)| {
        let classes = json["classes"].as_array()?;
        let found = classes.iter().find(|c| c["class"] == class.name())?;
        let mpps = found["mpps_median"].as_f64().filter(|m| *m > 0.0)?;
        let when = json["timestamp_utc"].as_str().unwrap_or("unknown");
        Some(NodeRate {
            per_s: mpps * 1e6,
            source: format!("measured: bench ceiling, {} median, {when}, {}", class.name(), shown(path)),
        })
    });
    from_ceiling.or_else(|| {
        node.map(|node| NodeRate {
            per_s: node.mpps * 1e6,
            source: format!(
                "measured: bench node, configuration (b), mixed requests through the load generator (a lower bound), \
                 {}, {}",
                node.timestamp_utc,
                shown(&node.path)
            ),
        })
    })
}

/// Everything printed before the summary line.
pub fn report(rows: &[ClassRow], parameters: &ModelParameters, p4_path: &Path, costs: &Costs) -> String {
    let mut text = format!(
        "Comparison with Tofino 1: passes through {} (derived from the program), rates MODELLED at {} GHz, one \
         packet per clock per pipe, {} pipes per chip; ASSUMPTION: recirculation port {} Gb/s ({}-byte copies)\n\n",
        shown(p4_path),
        parameters.clock_ghz,
        parameters.pipes_per_chip,
        parameters.recirculation_gbps,
        RECIRCULATED_FRAME_BYTES
    );
    text += &format!(
        "{:<27} {:>3} {:>3} {:>3} {:>3} {:>3}  {:>14} {:<18} {:>14}  {:>13} {:>12} {:>12}\n",
        "class",
        "in",
        "eg",
        "rsb",
        "mir",
        "rec",
        "pipe Mops/s",
        "pipe limit",
        "chip Mops/s",
        "node core Mpps",
        "cores/pipe",
        "cores/port"
    );
    text += &format!(
        "{:<27} {:>19}  {:>14} {:<18} {:>14}  {:>13} {:>12} {:>12}\n",
        "", "(program)", "(modelled)", "(modelled)", "(modelled)", "(measured)", "(modelled)", "(modelled)"
    );
    let optional = |value: Option<u64>| value.map_or("-".to_string(), |v| v.to_string());
    for row in rows {
        let p = row.passes;
        text += &format!(
            "{:<27} {:>3} {:>3} {:>3} {:>3} {:>3}  {:>14.1} {:<18} {:>14.1}  {:>13} {:>12} {:>12}\n",
            row.class.label(),
            p.ingress,
            p.egress,
            p.resubmits,
            p.mirrored_copies,
            p.recirculations,
            row.per_pipe_per_s / 1e6,
            row.limit.name(),
            row.per_chip_per_s(parameters) / 1e6,
            row.node.as_ref().map_or("-".to_string(), |n| format!("{:.3}", n.per_s / 1e6)),
            optional(row.cores_to_match_pipe()),
            optional(row.cores_to_fill_port(parameters)),
        );
    }
    text += "\nin/eg: ingress and egress passes; rsb: resubmits; mir: mirrored copies; rec: recirculations.\n";
    text += &format!(
        "cores/port: DPDK cores (at the measured rate, scaling linearly: modelled) to fill one {} GbE port with \
         {NETCRAQ_FRAME_LEN}-byte frames = {:.2} Mpps ({} bytes each on the wire with FCS, preamble and gap).\n",
        parameters.port_gbps,
        parameters.port_fps() / 1e6,
        tofino::wire_bytes(NETCRAQ_FRAME_LEN)
    );
    text += "chip Mops/s counts every pipe; registers are per pipe, so a chip serves that only as one node (or key \
             range) per pipe.\n\nwhere each class's passes come from:\n";
    for row in rows {
        let at: Vec<String> = row.constructs.iter().map(|(name, line)| format!("{name} (line {line})")).collect();
        text += &format!("  {}: {}\n", row.class.label(), row.class.path());
        if !at.is_empty() {
            text += &format!("    checked: {}\n", at.join(", "));
        }
    }
    text += "\nnode rates:\n";
    for row in rows {
        let source = row.node.as_ref().map_or("none: no bench node or bench ceiling results", |n| n.source.as_str());
        text += &format!("  {}: {source}\n", row.class.label());
    }
    text += &format!(
        "\nkeys per switch: {} (RECORDED: the Tofino compiler's report in {}; {}; {} ingress and {} egress stages, \
         SRAM {}, TCAM {}; recorded, since CI has no Tofino compiler)\n",
        RECORDED_FIT.keys_per_switch,
        RECORDED_FIT.recorded_in,
        RECORDED_FIT.compiler,
        RECORDED_FIT.ingress_stages,
        RECORDED_FIT.egress_stages,
        RECORDED_FIT.sram_blocks,
        RECORDED_FIT.tcam_blocks
    );
    text += "\npublished figures (quoted):\n";
    for figure in &PUBLISHED {
        text += &format!("  {}: {} [{}]\n", figure.system, figure.figure, figure.source);
    }
    text + &cost_lines(rows, parameters, costs)
}

/// What the given prices and power say about clean reads; nothing when none is given.
fn cost_lines(rows: &[ClassRow], parameters: &ModelParameters, costs: &Costs) -> String {
    let Some(clean) = rows.iter().find(|r| r.class == OpClass::CleanRead) else { return String::new() };
    let chip_per_s = clean.per_chip_per_s(parameters);
    let mut lines = Vec::new();
    let per_mops = |what: f64, per_s: f64| what / (per_s / 1e6);
    if let Some(usd) = costs.switch_usd {
        lines.push(format!(
            "switch: {:.4} USD per Mops/s of clean reads (given price, modelled rate)",
            per_mops(usd, chip_per_s)
        ));
    }
    if let Some(watts) = costs.switch_watts {
        lines.push(format!(
            "switch: {:.4} W per Mops/s of clean reads (given power, modelled rate)",
            per_mops(watts, chip_per_s)
        ));
    }
    let servers = clean.node.as_ref().zip(costs.server_cores).map(|(node, cores)| {
        let per_server = node.per_s * f64::from(cores);
        (chip_per_s / per_server).ceil()
    });
    if let (Some(servers), Some(usd)) = (servers, costs.server_usd) {
        lines.push(format!(
            "servers to match one chip on clean reads: {servers:.0}, {:.0} USD (given price, modelled count)",
            servers * usd
        ));
    }
    if let (Some(servers), Some(watts)) = (servers, costs.server_watts) {
        lines.push(format!(
            "servers to match one chip on clean reads: {servers:.0}, {:.0} W (given power, modelled count)",
            servers * watts
        ));
    }
    match lines.is_empty() {
        true => String::new(),
        false => format!("\ncosts and power (only as given):\n  {}\n", lines.join("\n  ")),
    }
}

/// `summary: pipe_clean_read_mops=X chip_clean_read_mops=Y pipe_tail_commit_mops=Z node_clean_read_mpps=N
/// cores_per_pipe_clean_read=C port_mpps=P cores_per_port_clean_read=Q` (all modelled but the node's rate).
pub fn summary_line(rows: &[ClassRow], parameters: &ModelParameters) -> String {
    let row = |class| rows.iter().find(|r| r.class == class);
    let mops = |class| row(class).map_or("n/a".to_string(), |r| format!("{:.1}", r.per_pipe_per_s / 1e6));
    let clean = row(OpClass::CleanRead);
    let count = |value: Option<u64>| value.map_or("n/a".to_string(), |v| v.to_string());
    format!(
        "summary: pipe_clean_read_mops={} chip_clean_read_mops={} pipe_tail_commit_mops={} node_clean_read_mpps={} \
         cores_per_pipe_clean_read={} port_mpps={:.2} cores_per_port_clean_read={}",
        mops(OpClass::CleanRead),
        clean.map_or("n/a".to_string(), |r| format!("{:.1}", r.per_chip_per_s(parameters) / 1e6)),
        mops(OpClass::TailCommit),
        clean.and_then(|r| r.node.as_ref()).map_or("n/a".to_string(), |n| format!("{:.3}", n.per_s / 1e6)),
        count(clean.and_then(ClassRow::cores_to_match_pipe)),
        parameters.port_fps() / 1e6,
        count(clean.and_then(|r| r.cores_to_fill_port(parameters))),
    )
}

/// A figure with what it is (`modelled`, `measured`, `recorded`, `published`, `assumption`, `derived`).
fn figure(value: impl Into<Value>, kind: &str, source: &str) -> Value {
    json!({ "value": value.into(), "kind": kind, "source": source })
}

/// The model as JSON.
pub fn to_json(
    rows: &[ClassRow],
    parameters: &ModelParameters,
    p4_path: &Path,
    node: Option<&NodeMeasurement>,
    costs: &Costs,
    machine: Value,
    timestamp_utc: &str,
) -> Value {
    let clean = rows.iter().find(|r| r.class == OpClass::CleanRead);
    let classes: Vec<Value> = rows
        .iter()
        .map(|row| {
            let p = row.passes;
            let modelled = "modelled";
            json!({
                "class": row.class.name(),
                "label": row.class.label(),
                "path": row.class.path(),
                "passes": {
                    "kind": "derived from the program",
                    "ingress": p.ingress, "egress": p.egress, "resubmits": p.resubmits,
                    "mirrored_copies": p.mirrored_copies, "recirculations": p.recirculations,
                    "constructs": row.constructs.iter().map(|(name, line)| json!({"construct": name, "line": line})).collect::<Vec<_>>(),
                },
                "per_pipe_ops_per_s": figure(row.per_pipe_per_s, modelled, "clock / passes, capped by the recirculation port"),
                "per_pipe_limit": row.limit.name(),
                "per_chip_ops_per_s": figure(row.per_chip_per_s(parameters), modelled, "per pipe x pipes per chip"),
                "node_core_ops_per_s": row.node.as_ref().map(|n| figure(n.per_s, "measured", &n.source)),
                "node_cores_to_match_pipe": row.cores_to_match_pipe().map(|c| figure(c, modelled, "pipe rate / node core rate, rounded up")),
                "node_cores_to_fill_port": row.cores_to_fill_port(parameters).map(|c| figure(c, modelled, "port frame rate / node core rate, rounded up")),
            })
        })
        .collect();
    let given = |value: Option<f64>| value.map(|v| figure(v, "given", "command line"));
    json!({
        "benchmark": "netcraq bench tofino",
        "kinds": "modelled: computed by this model; measured: by a benchmark on a machine; recorded: a compiler \
                  report recorded in the repository; published: quoted with its source; assumption: a labelled \
                  parameter; derived: arithmetic on definitions; given: from the command line",
        "timestamp_utc": timestamp_utc,
        "machine": machine,
        "program": shown(p4_path),
        "parameters": {
            "clock_ghz": figure(parameters.clock_ghz, "published", PUBLISHED[0].source),
            "packets_per_clock_per_pipe": figure(1, "published", PUBLISHED[0].source),
            "pipes_per_chip": figure(parameters.pipes_per_chip, "assumption", "Tofino 1 at 6.4 Tb/s (--pipes)"),
            "recirculation_gbps": figure(parameters.recirculation_gbps, "assumption", "one 100G recirculation port per pipe (--recirculation-gbps)"),
            "recirculated_frame_bytes": figure(RECIRCULATED_FRAME_BYTES as u64, "derived", "the 66-byte CHAIN_WRITE behind second_h"),
            "resubmit": "an ingress pass; it uses no port bandwidth (assumption)",
        },
        "port": {
            "gbps": parameters.port_gbps,
            "frame_bytes": NETCRAQ_FRAME_LEN,
            "wire_bytes": tofino::wire_bytes(NETCRAQ_FRAME_LEN),
            "frames_per_s": figure(parameters.port_fps(), "derived", "gbps / (8 x (frame + FCS 4 + preamble 8 + gap 12))"),
        },
        "keys_per_switch": figure(RECORDED_FIT.keys_per_switch, "recorded", &format!(
            "{}; {}; ingress stages {}, egress {}, SRAM {}, TCAM {}",
            RECORDED_FIT.recorded_in, RECORDED_FIT.compiler, RECORDED_FIT.ingress_stages,
            RECORDED_FIT.egress_stages, RECORDED_FIT.sram_blocks, RECORDED_FIT.tcam_blocks
        )),
        "dpdk_node": node.map(NodeMeasurement::to_json),
        "classes": classes,
        "published": PUBLISHED.iter().map(|f| json!({"system": f.system, "figure": f.figure, "source": f.source, "kind": "published"})).collect::<Vec<_>>(),
        "costs": {
            "switch_usd": given(costs.switch_usd), "switch_watts": given(costs.switch_watts),
            "server_usd": given(costs.server_usd), "server_watts": given(costs.server_watts),
            "server_cores": costs.server_cores,
        },
        "clean_read_pipe_vs_node_core": ratio(
            clean.map(|r| r.per_pipe_per_s),
            clean.and_then(|r| r.node.as_ref()).map(|n| n.per_s)
        ),
        "summary": summary_line(rows, parameters),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMETERS: ModelParameters =
        ModelParameters { clock_ghz: 1.22, pipes_per_chip: 4, recirculation_gbps: 100.0, port_gbps: 100.0 };

    fn node(mpps: f64) -> NodeMeasurement {
        NodeMeasurement {
            path: "node.json".into(),
            timestamp_utc: "then".into(),
            mpps,
            read_fraction: Some(0.9),
            cpu_model: None,
        }
    }

    fn rows(node: Option<&NodeMeasurement>, ceiling: Option<&Value>) -> Vec<ClassRow> {
        OpClass::ALL
            .iter()
            .map(|class| {
                let (per_pipe_per_s, limit) = PARAMETERS.per_pipe_ops_per_s(class.passes());
                let node = node_rate(*class, ceiling.map(|c| (c, Path::new("ceiling.json"))), node);
                ClassRow { class: *class, passes: class.passes(), per_pipe_per_s, limit, node, constructs: Vec::new() }
            })
            .collect()
    }

    #[test]
    fn the_ceiling_figure_of_a_class_wins_over_the_bench_node_figure() {
        let ceiling = json!({"timestamp_utc": "now", "classes": [{"class": "clean_read", "mpps_median": 10.0}]});
        let rows = rows(Some(&node(3.05)), Some(&ceiling));
        let clean = &rows[0];
        assert_eq!(clean.node.as_ref().unwrap().per_s, 10.0e6);
        assert!(clean.node.as_ref().unwrap().source.contains("bench ceiling"));
        assert_eq!(clean.cores_to_match_pipe(), Some(122));
        assert_eq!(clean.cores_to_fill_port(&PARAMETERS), Some(15), "145.35 Mpps over 10 Mpps per core");
        let commit = rows.iter().find(|r| r.class == OpClass::TailCommit).unwrap();
        assert!(commit.node.as_ref().unwrap().source.contains("bench node"), "no ceiling figure for the class");
        assert_eq!(commit.cores_to_match_pipe(), Some(46), "137.36 M/s over 3.05 Mpps per core");
        let summary = summary_line(&rows, &PARAMETERS);
        assert_eq!(
            summary,
            "summary: pipe_clean_read_mops=1220.0 chip_clean_read_mops=4880.0 pipe_tail_commit_mops=137.4 \
             node_clean_read_mpps=10.000 cores_per_pipe_clean_read=122 port_mpps=145.35 cores_per_port_clean_read=15"
        );
    }

    #[test]
    fn without_node_figures_the_model_still_stands() {
        let rows = rows(None, None);
        assert!(rows.iter().all(|r| r.node.is_none() && r.cores_to_match_pipe().is_none()));
        assert!(summary_line(&rows, &PARAMETERS).contains("node_clean_read_mpps=n/a cores_per_pipe_clean_read=n/a"));
        let text = report(&rows, &PARAMETERS, Path::new("x.p4"), &Costs::default());
        assert!(text.contains("MODELLED") && text.contains("RECORDED") && !text.contains("costs and power"), "{text}");
    }

    #[test]
    fn every_modelled_number_is_marked_in_the_json() {
        let rows = rows(Some(&node(3.0)), None);
        let costs =
            Costs { switch_usd: Some(1000.0), server_cores: Some(8), server_usd: Some(100.0), ..Costs::default() };
        let json = to_json(&rows, &PARAMETERS, Path::new("x.p4"), Some(&node(3.0)), &costs, json!({}), "now");
        for class in json["classes"].as_array().unwrap() {
            for field in
                ["per_pipe_ops_per_s", "per_chip_ops_per_s", "node_cores_to_match_pipe", "node_cores_to_fill_port"]
            {
                assert_eq!(class[field]["kind"], "modelled", "{field} of {}", class["class"]);
            }
            assert_eq!(class["node_core_ops_per_s"]["kind"], "measured");
        }
        assert_eq!(json["keys_per_switch"]["kind"], "recorded");
        assert_eq!(json["parameters"]["recirculation_gbps"]["kind"], "assumption");
        assert_eq!(json["costs"]["switch_usd"]["kind"], "given");
        assert_eq!(json["costs"]["switch_watts"], Value::Null, "no invented power");
        let text = report(&rows, &PARAMETERS, Path::new("x.p4"), &costs);
        assert!(text.contains("servers to match one chip on clean reads: 204, 20400 USD"), "{text}");
        assert!(Costs { switch_usd: Some(-1.0), ..Costs::default() }.validate().is_err());
    }
}
