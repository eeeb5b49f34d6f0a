//! The results of `netcraq bench node`: the table, the ratios, the JSON and
//! the summary line.

use crate::loadgen::LoadgenReport;
use crate::results::lower_median_by;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The targets of issue #5: the DPDK node on one core against testpmd's
/// io forwarding on one core, and against the software node.
pub const TARGET_VS_TESTPMD: f64 = 0.7;
pub const TARGET_VS_SOFTWARE: f64 = 10.0;
/// Issue #16's target: the node against testpmd once neither is held back by the generators.
pub const TARGET_VS_TESTPMD_AT_CEILING: f64 = 0.9;

/// A generator is saturated from this share of the measured time in poll
/// rounds that moved frames...
pub const SATURATED_BUSY: f64 = 0.9;
/// ...with receive bursts at least this full on average (replies waited for it).
pub const SATURATED_FILL: f64 = 0.75;
/// A side busy no more than this waited for the other the rest of the time.
pub const WAITING_BUSY: f64 = 0.8;

/// What is known of the device under test's own load.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DeviceSignals {
    /// A poller of the device under test shares its CPU with another poller.
    pub shares_cpu: bool,
    /// The share of the loaded time the device under test spent on bursts
    /// that received frames: known for testpmd (`--record-core-cycles`).
    pub busy_fraction: Option<f64>,
}

/// How the node/testpmd ratio of the measured figures bounds the ratio of their ceilings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeilingBound {
    /// Both at their ceilings.
    Equal,
    /// The node at its ceiling, testpmd below its own.
    AtMost,
    /// testpmd at its ceiling, the node below its own.
    AtLeast,
}

impl CeilingBound {
    pub fn name(self) -> &'static str {
        match self {
            CeilingBound::Equal => "equal",
            CeilingBound::AtMost => "at_most",
            CeilingBound::AtLeast => "at_least",
        }
    }
}

/// Who set the pace of a configuration, from measured signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Every generator saturated: replies waited for the generators.
    Generator,
    /// The device under test was busy all the time (testpmd's cycle count), or every
    /// generator waited for replies: the device under test (with its link) set the pace.
    Device,
    /// A poller of the device under test shares its CPU with another poller.
    SharedCpu,
    /// Neither side saturated, or generators neither all saturated nor all waiting.
    Unclear,
}

impl Limit {
    /// From the generators' figures (each generator's own when there are
    /// several), the device under test's busy share if known, whether a
    /// poller of the device under test shares its CPU, and whether the
    /// generators share CPUs (then their idle time may be time without a
    /// CPU rather than waiting for replies).
    pub fn of(report: &LoadgenReport, device: &DeviceSignals, generators_share_cpu: bool) -> Limit {
        let generators =
            if report.per_generator.is_empty() { std::slice::from_ref(report) } else { &report.per_generator };
        // Every generator busy at least `busy` of the time, with full receive bursts.
        let generators_busy =
            |busy: f64| generators.iter().all(|g| g.busy_fraction >= busy && g.rx_burst_fill >= SATURATED_FILL);
        if device.shares_cpu {
            return Limit::SharedCpu;
        }
        if generators_busy(SATURATED_BUSY) {
            return Limit::Generator;
        }
        match device.busy_fraction {
            Some(busy) if busy >= SATURATED_BUSY => Limit::Device,
            // The device waited a fifth of the time or more, the generators less.
            Some(busy) if busy <= WAITING_BUSY && generators_busy(WAITING_BUSY) => Limit::Generator,
            Some(_) => Limit::Unclear,
            None if !generators_share_cpu && generators.iter().all(|g| g.busy_fraction <= WAITING_BUSY) => {
                Limit::Device
            }
            None => Limit::Unclear,
        }
    }

    /// The limit of a comparison of two configurations: the generators' or
    /// the shared CPU's if either side's, the device's only if both sides'.
    pub fn of_pair(a: Limit, b: Limit) -> Limit {
        [Limit::Generator, Limit::SharedCpu, Limit::Unclear]
            .into_iter()
            .find(|limit| a == *limit || b == *limit)
            .unwrap_or(Limit::Device)
    }

    pub fn name(self) -> &'static str {
        match self {
            Limit::Generator => "generator",
            Limit::Device => "device",
            Limit::SharedCpu => "cpu",
            Limit::Unclear => "unclear",
        }
    }

    /// What the name means, with the rule that gave it.
    pub fn meaning(self) -> String {
        match self {
            Limit::Generator => format!(
                "every generator was busy >= {:.0} % of the time with receive bursts >= {:.0} % full, or busy >= \
                 {:.0} % (bursts as full) while the device under test was busy <= {:.0} % (testpmd's cycle count): \
                 replies waited for the generators",
                SATURATED_BUSY * 100.0,
                SATURATED_FILL * 100.0,
                WAITING_BUSY * 100.0,
                WAITING_BUSY * 100.0
            ),
            Limit::Device => format!(
                "the device under test was busy >= {:.0} % of the loaded time (testpmd's cycle count) or, where \
                 that is unknown (the nodes), every generator was busy <= {:.0} % of the time and waited for \
                 replies the rest: the device under test (with its link, or other work on its CPU) set the pace",
                SATURATED_BUSY * 100.0,
                WAITING_BUSY * 100.0
            ),
            Limit::SharedCpu => "a poller of the device under test shares its CPU with another poller: CPU time, \
                                 not either side's speed, set the pace"
                .to_string(),
            Limit::Unclear => "neither the generators nor the device under test were saturated all the time, or \
                               the generators were neither all saturated nor all waiting"
                .to_string(),
        }
    }
}

/// Which configuration a result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Configuration {
    Testpmd,
    DpdkOneLcore,
    DpdkTwoLcores,
    Software,
}

impl Configuration {
    pub const ALL: [Configuration; 4] =
        [Configuration::Testpmd, Configuration::DpdkOneLcore, Configuration::DpdkTwoLcores, Configuration::Software];

    /// The key in the JSON file.
    pub fn key(self) -> &'static str {
        match self {
            Configuration::Testpmd => "testpmd_io_1core",
            Configuration::DpdkOneLcore => "dpdk_node_1lcore",
            Configuration::DpdkTwoLcores => "dpdk_node_2lcores",
            Configuration::Software => "software_node",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Configuration::Testpmd => "(a) dpdk-testpmd io-fwd, memif",
            Configuration::DpdkOneLcore => "(b) DPDK node, 1 lcore, memif",
            Configuration::DpdkTwoLcores => "(c) DPDK node, 2 lcores, memif",
            Configuration::Software => "(d) software node, veth",
        }
    }
}

/// How a configuration went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Measured(Box<LoadgenReport>),
    Skipped(String),
    Failed(String),
}

/// One configuration's result, with where everything ran.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigurationResult {
    pub configuration: Configuration,
    /// CPUs and pollers, e.g. "testpmd fwd lcore on CPU 1, loadgen on CPU 0".
    pub placement: String,
    /// More busy pollers than CPUs: the figures include their fight for CPU time.
    pub oversubscribed: bool,
    /// What is known of the device under test's own load.
    pub device: DeviceSignals,
    pub outcome: Outcome,
    /// The node's own counters at the end (`--stats`), when it is a node.
    pub node_stats: Option<Value>,
    /// With several rounds: the Mpps of each measured round, in order.
    pub mpps_per_round: Vec<f64>,
}

impl ConfigurationResult {
    pub fn measured(&self) -> Option<&LoadgenReport> {
        match &self.outcome {
            Outcome::Measured(report) if !report.interrupted => Some(report.as_ref()),
            _ => None,
        }
    }

    pub fn limit(&self) -> Option<Limit> {
        // More pollers than CPUs, none of them the device's: generators share.
        let generators_share_cpu = self.oversubscribed && !self.device.shares_cpu;
        self.measured().map(|report| Limit::of(report, &self.device, generators_share_cpu))
    }
}

/// One configuration's rounds as one result: the measured round of median
/// Mpps (the lower middle one of an even count), with every round's Mpps;
/// the first round's result when none was measured; `None` for no round.
pub fn median_round(rounds: Vec<ConfigurationResult>) -> Option<ConfigurationResult> {
    let measured: Vec<&ConfigurationResult> = rounds.iter().filter(|r| r.measured().is_some()).collect();
    let mpps_per_round: Vec<f64> = measured.iter().filter_map(|r| r.measured()).map(|r| r.mpps).collect();
    let chosen = match lower_median_by(&measured, |r| r.measured().map_or(0.0, |m| m.mpps)) {
        Some(median) => (*median).clone(),
        None => rounds.first()?.clone(),
    };
    Some(ConfigurationResult { mpps_per_round, ..chosen })
}

/// The ratios of each round on its own (`None` where a side was not measured):
/// on a machine whose speed drifts, a round's configurations ran close together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairedRatios {
    pub vs_testpmd: Vec<Option<f64>>,
    pub vs_software: Vec<Option<f64>>,
}

/// [`PairedRatios`] from the rounds of each selected configuration (same order).
pub fn paired_ratios(selected: &[Configuration], rounds: &[Vec<ConfigurationResult>]) -> PairedRatios {
    let round_mpps = |configuration: Configuration, round: usize| {
        let index = selected.iter().position(|c| *c == configuration)?;
        rounds.get(index)?.get(round)?.measured().map(|r| r.mpps)
    };
    let count = rounds.iter().map(Vec::len).max().unwrap_or(0);
    let per_round = |other: Configuration| -> Vec<Option<f64>> {
        (0..count)
            .map(|round| ratio(round_mpps(Configuration::DpdkOneLcore, round), round_mpps(other, round)))
            .collect()
    };
    PairedRatios { vs_testpmd: per_round(Configuration::Testpmd), vs_software: per_round(Configuration::Software) }
}

/// The results to report from several rounds of each selected configuration
/// (same order), and the round they come from, if one: the round whose own
/// DPDK/testpmd ratio is the median (the lower middle one of an even count)
/// gives every configuration it measured, so that the figures compared ran
/// seconds apart; configurations it did not measure, or every configuration
/// when no round measured both, get their median round ([`median_round`]).
pub fn representative_results(
    selected: &[Configuration],
    rounds: Vec<Vec<ConfigurationResult>>,
) -> (Vec<ConfigurationResult>, Option<usize>) {
    let paired = paired_ratios(selected, &rounds).vs_testpmd;
    let mut measured: Vec<(usize, f64)> =
        paired.iter().enumerate().filter_map(|(round, ratio)| ratio.map(|r| (round, r))).collect();
    measured.sort_by(|a, b| a.1.total_cmp(&b.1));
    let chosen = measured.get(measured.len().saturating_sub(1) / 2).map(|(round, _)| *round);
    let results = rounds
        .into_iter()
        .filter_map(|runs| {
            let mpps_per_round: Vec<f64> = runs.iter().filter_map(|r| r.measured()).map(|r| r.mpps).collect();
            match chosen.and_then(|round| runs.get(round)).filter(|r| r.measured().is_some()) {
                Some(result) => Some(ConfigurationResult { mpps_per_round, ..result.clone() }),
                None => median_round(runs),
            }
        })
        .collect();
    (results, chosen)
}

/// The figures the summary line compares, from one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub dpdk_mpps: Option<f64>,
    pub testpmd_mpps: Option<f64>,
    pub software_mpps: Option<f64>,
    pub dpdk_limit: Option<Limit>,
    pub testpmd_limit: Option<Limit>,
    /// The generators that loaded the DPDK node.
    pub generators: Option<usize>,
}

impl Comparison {
    pub fn of(results: &[ConfigurationResult]) -> Comparison {
        let result = |configuration| results.iter().find(|r| r.configuration == configuration);
        let mpps = |configuration| result(configuration).and_then(|r| r.measured()).map(|r| r.mpps);
        let limit = |configuration| result(configuration).and_then(|r| r.limit());
        Comparison {
            dpdk_mpps: mpps(Configuration::DpdkOneLcore),
            testpmd_mpps: mpps(Configuration::Testpmd),
            software_mpps: mpps(Configuration::Software),
            dpdk_limit: limit(Configuration::DpdkOneLcore),
            testpmd_limit: limit(Configuration::Testpmd),
            generators: result(Configuration::DpdkOneLcore).and_then(|r| r.measured()).map(|r| r.generators),
        }
    }

    /// Who limited the node/testpmd comparison, when both were measured.
    pub fn limit(&self) -> Option<Limit> {
        Some(Limit::of_pair(self.dpdk_limit?, self.testpmd_limit?))
    }

    /// Both sides ran at the device under test's pace: `vs_testpmd` compares ceilings.
    pub fn is_ceiling_comparison(&self) -> bool {
        self.limit() == Some(Limit::Device)
    }

    /// What `vs_testpmd` says of the ratio of the two ceilings: a side that
    /// its generators held back has its ceiling above its figure.
    pub fn ceiling_bound(&self) -> Option<CeilingBound> {
        match (self.dpdk_limit?, self.testpmd_limit?) {
            (Limit::Device, Limit::Device) => Some(CeilingBound::Equal),
            (Limit::Device, Limit::Generator) => Some(CeilingBound::AtMost),
            (Limit::Generator, Limit::Device) => Some(CeilingBound::AtLeast),
            _ => None,
        }
    }

    pub fn vs_testpmd(&self) -> Option<f64> {
        ratio(self.dpdk_mpps, self.testpmd_mpps)
    }

    pub fn vs_software(&self) -> Option<f64> {
        ratio(self.dpdk_mpps, self.software_mpps)
    }

    /// `summary: dpdk_mpps=X testpmd_mpps=Y software_mpps=Z vs_testpmd=R1 vs_software=R2 generators=N limit=L`
    /// (`n/a` for what was not measured; L is [`Comparison::limit`]).
    pub fn summary_line(&self) -> String {
        let mpps = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
        let times = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        format!(
            "summary: dpdk_mpps={} testpmd_mpps={} software_mpps={} vs_testpmd={} vs_software={} generators={} limit={}",
            mpps(self.dpdk_mpps),
            mpps(self.testpmd_mpps),
            mpps(self.software_mpps),
            times(self.vs_testpmd()),
            times(self.vs_software()),
            self.generators.map_or("n/a".to_string(), |n| n.to_string()),
            self.limit().map_or("n/a", Limit::name)
        )
    }
}

/// `numerator / denominator` when both are known and the denominator is positive.
pub fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    }
}

/// The table printed at the end.
pub fn table(results: &[ConfigurationResult]) -> String {
    let mut text = format!(
        "{:<32} {:>8} {:>9} {:>9} {:>9} {:>10} {:>8} {:>11} {:>9}  {}\n",
        "configuration", "Mpps", "p50 µs", "p99 µs", "timeouts", "lg busy %", "lg fill", "dut busy %", "limit", "where"
    );
    for result in results {
        let label = result.configuration.label();
        let placement = if result.oversubscribed {
            format!("{} [OVERSUBSCRIBED: more pollers than CPUs]", result.placement)
        } else {
            result.placement.clone()
        };
        let line = match &result.outcome {
            Outcome::Measured(r) => format!(
                "{label:<32} {:>8.3} {:>9.1} {:>9.1} {:>9} {:>10.1} {:>8.2} {:>11} {:>9}  {placement}{}\n",
                r.mpps,
                r.latency_us_p50,
                r.latency_us_p99,
                r.timed_out,
                r.busy_fraction * 100.0,
                r.rx_burst_fill,
                result.device.busy_fraction.map_or("-".to_string(), |busy| format!("{:.1}", busy * 100.0)),
                result.limit().map_or("-", Limit::name),
                if r.interrupted { " (interrupted)" } else { "" }
            ),
            Outcome::Skipped(why) => format!("{label:<32} {:>8}  skipped: {why}\n", "-"),
            Outcome::Failed(why) => {
                format!("{label:<32} {:>8}  FAILED: {}\n", "-", why.lines().next().unwrap_or_default())
            }
        };
        text.push_str(&line);
    }
    text
}

/// The ratios, each against its target, and what the node/testpmd ratio compares.
pub fn ratio_lines(comparison: &Comparison) -> String {
    let line = |name: &str, value: Option<f64>, target: f64| match value {
        Some(v) => format!("{name}: {v:.2} (target >= {target}: {})\n", verdict(v, target)),
        None => format!("{name}: n/a (not measured)\n"),
    };
    let testpmd = line("DPDK node (1 lcore) / testpmd io-fwd (1 core)", comparison.vs_testpmd(), TARGET_VS_TESTPMD);
    let software = line("DPDK node (1 lcore) / software node", comparison.vs_software(), TARGET_VS_SOFTWARE);
    testpmd + &ceiling_line(comparison) + &software
}

fn verdict(value: f64, target: f64) -> &'static str {
    if value >= target {
        "met"
    } else {
        "MISSED"
    }
}

/// Whether the node/testpmd ratio compares the two ceilings, and why (not).
fn ceiling_line(comparison: &Comparison) -> String {
    let (Some(ratio), Some(limit)) = (comparison.vs_testpmd(), comparison.limit()) else { return String::new() };
    let limits = format!(
        "(a) limit={}, (b) limit={}",
        comparison.testpmd_limit.map_or("n/a", Limit::name),
        comparison.dpdk_limit.map_or("n/a", Limit::name)
    );
    let target = TARGET_VS_TESTPMD_AT_CEILING;
    let not_ceilings = format!(
        "  NOT a ceiling comparison: {limits}; the ratio compares the two under the load the generators could make"
    );
    match (limit, comparison.ceiling_bound()) {
        (Limit::Device, _) => format!(
            "  a ceiling comparison: {limits}, both ran at the device under test's pace \
             (target at the ceilings >= {target}: {})\n",
            verdict(ratio, target)
        ),
        (_, Some(CeilingBound::AtMost)) => format!(
            "{not_ceilings}; the node ran at its own pace and testpmd below its ceiling, so the ratio of the \
             ceilings is at most {ratio:.2} (target at the ceilings >= {target}: {})\n",
            if ratio < target { "MISSED" } else { "not assessable here" }
        ),
        (_, Some(CeilingBound::AtLeast)) => format!(
            "{not_ceilings}; testpmd ran at its own pace and the node below its ceiling, so the ratio of the \
             ceilings is at least {ratio:.2} (target at the ceilings >= {target}: {})\n",
            if ratio >= target { "met" } else { "not assessable here" }
        ),
        _ => format!(
            "{not_ceilings}, not at their own ceilings (target at the ceilings >= {target}: not assessable here)\n"
        ),
    }
}

/// The whole run as JSON.
pub fn to_json(results: &[ConfigurationResult], settings: Value, machine: Value, timestamp_utc: &str) -> Value {
    let comparison = Comparison::of(results);
    let configurations: Vec<Value> = results
        .iter()
        .map(|result| {
            let (status, detail, loadgen) = match &result.outcome {
                Outcome::Measured(report) => ("measured", Value::Null, serde_json::to_value(report).ok()),
                Outcome::Skipped(why) => ("skipped", json!(why), None),
                Outcome::Failed(why) => ("failed", json!(why), None),
            };
            let figure = |f: fn(&LoadgenReport) -> f64| result.measured().map(f);
            json!({
                "name": result.configuration.key(),
                "label": result.configuration.label(),
                "status": status,
                "detail": detail,
                "placement": result.placement,
                "oversubscribed": result.oversubscribed,
                "device_shares_cpu": result.device.shares_cpu,
                "device_busy_fraction": result.device.busy_fraction,
                "limit": result.limit().map(Limit::name),
                "limit_meaning": result.limit().map(Limit::meaning),
                "mpps": figure(|r| r.mpps),
                "latency_us_p50": figure(|r| r.latency_us_p50),
                "latency_us_p99": figure(|r| r.latency_us_p99),
                "mpps_per_round": result.mpps_per_round,
                "loadgen": loadgen,
                "node_stats": result.node_stats,
            })
        })
        .collect();
    json!({
        "benchmark": "netcraq bench node",
        "timestamp_utc": timestamp_utc,
        "machine": machine,
        "settings": settings,
        "configurations": configurations,
        "ratios": {
            "dpdk_1lcore_vs_testpmd": comparison.vs_testpmd(),
            "dpdk_1lcore_vs_software": comparison.vs_software(),
            "target_vs_testpmd": TARGET_VS_TESTPMD,
            "target_vs_software": TARGET_VS_SOFTWARE,
            "limit": comparison.limit().map(Limit::name),
            "vs_testpmd_is_ceiling_comparison": comparison.is_ceiling_comparison(),
            "ceiling_ratio_vs_measured": comparison.ceiling_bound().map(CeilingBound::name),
            "target_vs_testpmd_at_ceiling": TARGET_VS_TESTPMD_AT_CEILING,
        },
        "limit_rule": {
            "saturated_busy_fraction": SATURATED_BUSY,
            "saturated_rx_burst_fill": SATURATED_FILL,
            "waiting_busy_fraction": WAITING_BUSY,
        },
        "summary": comparison.summary_line(),
    })
}

/// The DPDK node's figure from a `bench node` results file ([`to_json`]):
/// what `bench etcd` and `bench tofino` compare with.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeMeasurement {
    pub path: PathBuf,
    pub timestamp_utc: String,
    /// Requests answered per second, in millions, by the DPDK node on one lcore.
    pub mpps: f64,
    /// The request mix it was measured with.
    pub read_fraction: Option<f64>,
    pub cpu_model: Option<String>,
}

impl NodeMeasurement {
    /// Reads configuration (b)'s Mpps from a `bench node` results file.
    pub fn read(path: &Path) -> Result<NodeMeasurement, String> {
        NodeMeasurement::from_json(path, &crate::results::read_json(path)?)
    }

    pub fn from_json(path: &Path, json: &Value) -> Result<NodeMeasurement, String> {
        let key = Configuration::DpdkOneLcore.key();
        let configurations = json["configurations"].as_array().map(Vec::as_slice).unwrap_or_default();
        let node = configurations.iter().find(|c| c["name"] == key);
        let mpps = node.and_then(|c| c["mpps"].as_f64()).filter(|mpps| *mpps > 0.0).ok_or_else(|| {
            format!("{}: no measured `{key}` configuration (a `netcraq bench node` results file?)", path.display())
        })?;
        Ok(NodeMeasurement {
            path: path.to_path_buf(),
            timestamp_utc: json["timestamp_utc"].as_str().unwrap_or("unknown").to_string(),
            mpps,
            read_fraction: json["settings"]["read_fraction"].as_f64(),
            cpu_model: json["machine"]["cpu_model"].as_str().map(str::to_string),
        })
    }

    /// One line: the figure, its mix, when, where and from which file.
    pub fn describe(&self) -> String {
        let mix = self.read_fraction.map_or(String::new(), |f| format!(", {:.0} % reads", f * 100.0));
        format!(
            "DPDK node {:.3} Mpps on one lcore{mix} (measured {} on {}; {})",
            self.mpps,
            self.timestamp_utc,
            self.cpu_model.as_deref().unwrap_or("an unnamed CPU"),
            crate::results::shown(&self.path)
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "file": crate::results::shown(&self.path),
            "configuration": Configuration::DpdkOneLcore.key(),
            "timestamp_utc": self.timestamp_utc,
            "mpps": self.mpps,
            "read_fraction": self.read_fraction,
            "cpu_model": self.cpu_model,
        })
    }
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_timestamp(unix_s: u64) -> String {
    let (days, seconds) = (unix_s / 86_400, unix_s % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", seconds / 3600, seconds % 3600 / 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(configuration: Configuration, mpps: f64) -> ConfigurationResult {
        ConfigurationResult {
            configuration,
            placement: "somewhere".into(),
            oversubscribed: configuration == Configuration::DpdkTwoLcores,
            device: DeviceSignals { shares_cpu: configuration == Configuration::DpdkTwoLcores, busy_fraction: None },
            outcome: Outcome::Measured(Box::new(LoadgenReport {
                mpps,
                latency_us_p50: 3.0,
                generators: 1,
                busy_fraction: 1.0,
                rx_burst_fill: 1.0,
                ..Default::default()
            })),
            node_stats: None,
            mpps_per_round: Vec::new(),
        }
    }

    #[test]
    fn ratios_are_paired_by_round() {
        let selected = [Configuration::Testpmd, Configuration::DpdkOneLcore];
        let rounds = vec![
            vec![measured(Configuration::Testpmd, 8.0), measured(Configuration::Testpmd, 4.0)],
            vec![measured(Configuration::DpdkOneLcore, 6.0), measured(Configuration::DpdkOneLcore, 3.0)],
        ];
        let paired = paired_ratios(&selected, &rounds);
        assert_eq!(paired.vs_testpmd, [Some(0.75), Some(0.75)]);
        assert_eq!(paired.vs_software, [None, None]);
    }

    #[test]
    fn the_round_of_the_median_ratio_is_reported() {
        let selected = [Configuration::Testpmd, Configuration::DpdkOneLcore, Configuration::Software];
        let rounds = vec![
            vec![
                measured(Configuration::Testpmd, 3.0),
                measured(Configuration::Testpmd, 7.0),
                measured(Configuration::Testpmd, 7.0),
            ],
            vec![
                measured(Configuration::DpdkOneLcore, 6.0),
                measured(Configuration::DpdkOneLcore, 6.3),
                measured(Configuration::DpdkOneLcore, 3.5),
            ],
            vec![
                measured(Configuration::Software, 0.2),
                measured(Configuration::Software, 0.3),
                measured(Configuration::Software, 0.1),
            ],
        ];
        let (results, round) = representative_results(&selected, rounds);
        assert_eq!(round, Some(1), "ratios 2.0, 0.9 and 0.5: the median is round 1's");
        let comparison = Comparison::of(&results);
        assert_eq!(
            (comparison.dpdk_mpps, comparison.testpmd_mpps, comparison.software_mpps),
            (Some(6.3), Some(7.0), Some(0.3))
        );
        assert_eq!(results[0].mpps_per_round, [3.0, 7.0, 7.0]);
        let (results, round) =
            representative_results(&selected[2..], vec![vec![measured(Configuration::Software, 0.2)]]);
        assert_eq!((round, results.len()), (None, 1));
    }

    #[test]
    fn rounds_are_reduced_to_their_median() {
        let rounds = vec![
            measured(Configuration::Testpmd, 5.0),
            measured(Configuration::Testpmd, 9.0),
            measured(Configuration::Testpmd, 7.0),
        ];
        let median = median_round(rounds).unwrap();
        assert_eq!(median.measured().unwrap().mpps, 7.0);
        assert_eq!(median.mpps_per_round, [5.0, 9.0, 7.0]);
        let failed =
            ConfigurationResult { outcome: Outcome::Failed("x".into()), ..measured(Configuration::Software, 0.0) };
        let median = median_round(vec![failed.clone(), measured(Configuration::Software, 0.2)]).unwrap();
        assert_eq!(median.measured().unwrap().mpps, 0.2, "a failed round does not count");
        assert_eq!(median_round(vec![failed.clone()]).unwrap().outcome, failed.outcome);
        assert_eq!(median_round(Vec::new()), None);
    }

    #[test]
    fn the_summary_line_has_the_figures_and_ratios_of_the_run() {
        let results = [
            measured(Configuration::Testpmd, 10.0),
            measured(Configuration::DpdkOneLcore, 8.0),
            measured(Configuration::DpdkTwoLcores, 9.0),
            measured(Configuration::Software, 0.4),
        ];
        let comparison = Comparison::of(&results);
        assert_eq!(
            comparison.summary_line(),
            "summary: dpdk_mpps=8.000 testpmd_mpps=10.000 software_mpps=0.400 vs_testpmd=0.80 vs_software=20.00 \
             generators=1 limit=generator"
        );
        let ratios = ratio_lines(&comparison);
        assert!(ratios.contains("0.80 (target >= 0.7: met)") && ratios.contains("20.00 (target >= 10: met)"));
        assert!(ratios.contains("NOT a ceiling comparison: (a) limit=generator, (b) limit=generator"), "{ratios}");
        let table = table(&results);
        assert!(table.contains("OVERSUBSCRIBED") && table.contains("8.000"), "{table}");
        assert!(table.lines().nth(2).unwrap().contains(" generator "), "{table}");
        assert!(table.lines().nth(3).unwrap().contains(" cpu "), "(c) shares a CPU: {table}");
        let json = to_json(&results, json!({}), json!({}), "now");
        assert_eq!(json["configurations"][1]["mpps"], 8.0);
        assert_eq!(json["configurations"][1]["limit"], "generator");
        assert_eq!(json["configurations"][2]["limit"], "cpu");
        assert_eq!(json["ratios"]["limit"], "generator");
        assert_eq!(json["ratios"]["vs_testpmd_is_ceiling_comparison"], false);
        assert_eq!(json["summary"], comparison.summary_line());
    }

    /// A report of generators with these busy shares and receive fills.
    fn generators(busy_and_fill: &[(f64, f64)]) -> LoadgenReport {
        let per_generator: Vec<LoadgenReport> = busy_and_fill
            .iter()
            .map(|&(busy_fraction, rx_burst_fill)| LoadgenReport {
                busy_fraction,
                rx_burst_fill,
                generators: 1,
                ..Default::default()
            })
            .collect();
        LoadgenReport { generators: per_generator.len(), per_generator, mpps: 5.0, ..Default::default() }
    }

    #[test]
    fn the_limit_is_the_side_that_waited_for_nothing() {
        let unknown = DeviceSignals::default();
        let busy = |busy_fraction| DeviceSignals { shares_cpu: false, busy_fraction: Some(busy_fraction) };
        assert_eq!(Limit::of(&generators(&[(0.99, 0.95), (0.93, 0.8)]), &unknown, false), Limit::Generator);
        assert_eq!(Limit::of(&generators(&[(0.99, 0.95), (0.93, 0.8)]), &busy(0.97), false), Limit::Generator);
        assert_eq!(Limit::of(&generators(&[(0.99, 0.95), (0.5, 0.8)]), &unknown, false), Limit::Unclear, "one waited");
        assert_eq!(Limit::of(&generators(&[(0.99, 0.3)]), &unknown, false), Limit::Unclear, "busy with thin bursts");
        assert_eq!(Limit::of(&generators(&[(0.6, 1.0), (0.8, 0.2)]), &unknown, false), Limit::Device);
        assert_eq!(Limit::of(&generators(&[(0.85, 1.0)]), &unknown, false), Limit::Unclear);
        assert_eq!(Limit::of(&generators(&[(0.85, 1.0)]), &busy(0.95), false), Limit::Device, "the device said so");
        assert_eq!(Limit::of(&generators(&[(0.6, 1.0)]), &busy(0.5), false), Limit::Unclear, "both waited");
        assert_eq!(
            Limit::of(&generators(&[(0.88, 1.0)]), &busy(0.62), false),
            Limit::Generator,
            "the device waited more"
        );
        assert_eq!(Limit::of(&generators(&[(0.88, 1.0)]), &busy(0.85), false), Limit::Unclear, "neither clearly");
        let shared = DeviceSignals { shares_cpu: true, busy_fraction: None };
        assert_eq!(Limit::of(&generators(&[(0.99, 1.0)]), &shared, false), Limit::SharedCpu);
        assert_eq!(Limit::of(&generators(&[(0.6, 1.0)]), &unknown, true), Limit::Unclear, "idle, or without a CPU");
        let single = LoadgenReport { busy_fraction: 0.95, rx_burst_fill: 1.0, ..Default::default() };
        assert_eq!(Limit::of(&single, &unknown, false), Limit::Generator, "one generator's own figures");
        assert_eq!(Limit::of_pair(Limit::Device, Limit::Device), Limit::Device);
        assert_eq!(Limit::of_pair(Limit::Device, Limit::Generator), Limit::Generator);
        assert_eq!(Limit::of_pair(Limit::Unclear, Limit::Device), Limit::Unclear);
        assert_eq!(Limit::of_pair(Limit::SharedCpu, Limit::Generator), Limit::Generator);
    }

    #[test]
    fn vs_testpmd_is_a_ceiling_comparison_only_when_both_sides_ran_at_the_device_pace() {
        let at = |configuration, mpps, busy| ConfigurationResult {
            outcome: Outcome::Measured(Box::new(LoadgenReport { mpps, ..generators(&[(busy, 1.0), (busy, 1.0)]) })),
            ..measured(configuration, mpps)
        };
        let results = [at(Configuration::Testpmd, 10.0, 0.5), at(Configuration::DpdkOneLcore, 9.5, 0.6)];
        let comparison = Comparison::of(&results);
        assert!(comparison.is_ceiling_comparison());
        assert!(comparison.summary_line().ends_with("vs_testpmd=0.95 vs_software=n/a generators=2 limit=device"));
        assert!(ratio_lines(&comparison).contains("a ceiling comparison: (a) limit=device, (b) limit=device"));
        assert!(ratio_lines(&comparison).contains("(target at the ceilings >= 0.9: met)"));
        let json = to_json(&results, json!({}), json!({}), "now");
        assert_eq!(json["ratios"]["vs_testpmd_is_ceiling_comparison"], true);
        assert_eq!(json["configurations"][0]["loadgen"]["per_generator"].as_array().map(Vec::len), Some(2));
        let slower = [at(Configuration::Testpmd, 10.0, 0.5), at(Configuration::DpdkOneLcore, 8.0, 0.95)];
        let comparison = Comparison::of(&slower);
        assert_eq!(comparison.limit(), Some(Limit::Generator));
        assert_eq!(comparison.ceiling_bound(), Some(CeilingBound::AtLeast));
        assert!(ratio_lines(&comparison).contains("at least 0.80 (target at the ceilings >= 0.9: not assessable here)"));
        let node_bound = [at(Configuration::Testpmd, 10.0, 0.95), at(Configuration::DpdkOneLcore, 7.0, 0.6)];
        let comparison = Comparison::of(&node_bound);
        assert_eq!(comparison.ceiling_bound(), Some(CeilingBound::AtMost));
        assert!(ratio_lines(&comparison).contains("at most 0.70 (target at the ceilings >= 0.9: MISSED)"));
        assert_eq!(to_json(&node_bound, json!({}), json!({}), "now")["ratios"]["ceiling_ratio_vs_measured"], "at_most");
    }

    #[test]
    fn missing_figures_are_not_available_rather_than_zero() {
        let results = [
            measured(Configuration::DpdkOneLcore, 8.0),
            ConfigurationResult {
                configuration: Configuration::Testpmd,
                placement: String::new(),
                oversubscribed: false,
                device: DeviceSignals::default(),
                outcome: Outcome::Failed("no testpmd".into()),
                node_stats: None,
                mpps_per_round: Vec::new(),
            },
            measured(Configuration::Software, 0.0),
        ];
        let summary = Comparison::of(&results).summary_line();
        assert_eq!(
            summary,
            "summary: dpdk_mpps=8.000 testpmd_mpps=n/a software_mpps=0.000 vs_testpmd=n/a vs_software=n/a \
             generators=1 limit=n/a"
        );
        assert!(table(&results).contains("FAILED: no testpmd"));
    }

    #[test]
    fn the_node_figure_is_read_back_from_a_results_file() {
        let results = [measured(Configuration::Testpmd, 4.0), measured(Configuration::DpdkOneLcore, 3.5)];
        let mut json = to_json(&results, json!({"read_fraction": 0.9}), json!({"cpu_model": "CPU X"}), "then");
        let node = NodeMeasurement::from_json(Path::new("n.json"), &json).unwrap();
        assert_eq!((node.mpps, node.read_fraction, node.timestamp_utc.as_str()), (3.5, Some(0.9), "then"));
        assert!(node.describe().contains("3.500 Mpps") && node.describe().contains("CPU X"), "{}", node.describe());
        json["configurations"][1]["mpps"] = Value::Null;
        let error = NodeMeasurement::from_json(Path::new("n.json"), &json).unwrap_err();
        assert!(error.contains("dpdk_node_1lcore"), "{error}");
    }

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_764_025_199), "2025-11-24T22:59:59Z");
    }
}
