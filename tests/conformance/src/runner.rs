//! Replaying cases against an implementation and reporting every mismatch.

use crate::frame::{describe, differing_fields, field_at, first_difference};
use crate::{Case, Counters, FabricPort, KeyRegisters, Lease, Output, Route, VectorFile, OUTCOMES};
use netcraq_core::{KeyGroup, NodeConfig};
use std::collections::BTreeMap;
use std::fmt::{self, Display, Formatter};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// A case's starting state.
#[derive(Debug, Clone, Copy)]
pub struct InitialState<'a> {
    /// `None`: the node stays unconfigured.
    pub config: Option<&'a NodeConfig>,
    /// `key_group` entries, installed after `config`.
    pub key_groups: &'a [KeyGroup],
    /// `ipv4_route` entries, in installation order.
    pub routes: &'a [Route],
    /// `fabric_port` entries; every other port is an edge port.
    pub fabric_ports: &'a [FabricPort],
    /// Keys whose registers start non-zero; every other key starts at zero.
    pub registers: &'a [KeyRegisters],
    /// The lease registers (§2.1b).
    pub lease: Lease,
}

/// A NetCRAQ node implementation under test: the Rust core, the DPDK node,
/// the BMv2 switch. Errors are free text for the report.
pub trait NodeUnderTest {
    /// Returns the node to its power-on state (no `node_config`, no groups, no routes, no
    /// fabric ports, every register and counter zero), then installs `state`.
    fn reset(&mut self, state: &InitialState<'_>) -> Result<(), String>;

    /// Delivers one frame on `ingress_port` while the lease clock reads
    /// `clock_ticks` (§2.4) and returns the frames the node sent as a
    /// result, in order, each with its egress port.
    fn receive(&mut self, ingress_port: u16, clock_ticks: u32, frame: &[u8]) -> Result<Vec<Output>, String>;

    /// The registers of every key whose registers are not all zero, in any
    /// order (all-zero entries are ignored).
    fn registers(&mut self) -> Result<Vec<KeyRegisters>, String>;

    /// The current counters (zero entries are ignored).
    fn counters(&mut self) -> Result<Counters, String>;

    /// The lease registers (§2.1b).
    fn lease(&mut self) -> Result<Lease, String>;
}

/// What differed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// `reset` failed: the case's starting state could not be installed.
    Setup(String),
    /// A call into the implementation failed or panicked; the rest of the case is skipped.
    Node(String),
    /// Another number of frames was sent.
    OutputCount { expected: Vec<Output>, actual: Vec<Output> },
    /// The `index`-th frame left on another port.
    OutputPort { index: usize, expected: u16, actual: u16 },
    /// The `index`-th frame has other bytes.
    OutputFrame { index: usize, expected: Vec<u8>, actual: Vec<u8> },
    /// The step's counter increments differ.
    Outcomes { expected: BTreeMap<String, u64>, actual: BTreeMap<String, u64> },
    /// A key's registers after the last step differ (`None`: all zero).
    Registers { key: u16, expected: Option<KeyRegisters>, actual: Option<KeyRegisters> },
    /// The lease registers after the last step differ.
    Lease { expected: Lease, actual: Lease },
    /// A counter array after the last step differs (non-zero entries).
    Counter { counter: &'static str, expected: BTreeMap<String, u64>, actual: BTreeMap<String, u64> },
}

/// One difference between a case and the implementation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub file: PathBuf,
    pub case: String,
    /// 1-based step number; `None` for setup and the final state.
    pub step: Option<usize>,
    pub difference: Difference,
}

/// The result of replaying vector files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub files: usize,
    pub cases: usize,
    pub steps: usize,
    pub mismatches: Vec<Mismatch>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }

    /// Names of the cases with at least one mismatch, in report order.
    pub fn failed_cases(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for m in &self.mismatches {
            if names.last() != Some(&m.case.as_str()) {
                names.push(&m.case);
            }
        }
        names
    }
}

/// Replays every case of `files` against `node`.
pub fn run_files<N: NodeUnderTest + ?Sized>(node: &mut N, files: &[VectorFile]) -> Report {
    let mut report = Report { files: files.len(), ..Report::default() };
    for file in files {
        for case in &file.cases {
            report.cases += 1;
            report.steps += case.steps.len();
            report.mismatches.extend(run_case(node, &file.path, case));
        }
    }
    report
}

/// Replays one case: resets the node to the case's starting state, feeds each
/// step's frame and compares the frames sent and the counter increments, then
/// compares the final registers and counters. Returns every difference.
pub fn run_case<N: NodeUnderTest + ?Sized>(node: &mut N, file: &Path, case: &Case) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    let mut report = |step: Option<usize>, difference: Difference| {
        mismatches.push(Mismatch { file: file.to_path_buf(), case: case.name.clone(), step, difference });
    };
    let state = InitialState {
        config: case.config.as_ref(),
        key_groups: &case.key_groups,
        routes: &case.routes,
        fabric_ports: &case.fabric_ports,
        registers: &case.registers,
        lease: case.lease,
    };
    if let Err(error) = guarded(|| node.reset(&state)) {
        report(None, Difference::Setup(error));
        return mismatches;
    }
    let mut before = match guarded(|| node.counters()) {
        Ok(counters) => counters.without_zeros(),
        Err(error) => {
            report(None, Difference::Node(format!("reading the counters after reset: {error}")));
            return mismatches;
        }
    };
    let mut outcomes_ok = true;
    for (index, step) in case.steps.iter().enumerate() {
        let number = Some(index + 1);
        let actual = match guarded(|| node.receive(step.ingress_port, step.clock_ticks, &step.frame)) {
            Ok(actual) => actual,
            Err(error) => {
                report(number, Difference::Node(format!("receiving the frame: {error}")));
                return mismatches;
            }
        };
        compare_outputs(&step.expect, &actual, |d| report(number, d));
        let after = match guarded(|| node.counters()) {
            Ok(counters) => counters.without_zeros(),
            Err(error) => {
                report(number, Difference::Node(format!("reading the counters: {error}")));
                return mismatches;
            }
        };
        let mut expected: BTreeMap<String, u64> = BTreeMap::new();
        for outcome in &step.outcomes {
            *expected.entry(outcome.clone()).or_default() += 1;
        }
        let increments = increments(&before.outcomes, &after.outcomes);
        if increments != expected {
            outcomes_ok = false;
            report(number, Difference::Outcomes { expected, actual: increments });
        }
        before = after;
    }
    match guarded(|| node.registers()) {
        Ok(actual) => compare_registers(&case.final_registers, &actual, |d| report(None, d)),
        Err(error) => report(None, Difference::Node(format!("reading the registers: {error}"))),
    }
    match guarded(|| node.lease()) {
        Ok(actual) if actual != case.final_lease => {
            report(None, Difference::Lease { expected: case.final_lease, actual })
        }
        Ok(_) => {}
        Err(error) => report(None, Difference::Node(format!("reading the lease: {error}"))),
    }
    let expected = case.final_counters.without_zeros();
    // A wrong step outcome already shows in the step; the final sum would repeat it.
    if outcomes_ok && expected.outcomes != before.outcomes {
        let (expected, actual) = (expected.outcomes.clone(), before.outcomes.clone());
        report(None, Difference::Counter { counter: "outcomes", expected, actual });
    }
    let by_key = |map: &BTreeMap<u16, u64>| map.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    for (counter, expected, actual) in [
        ("key_reads", &expected.key_reads, &before.key_reads),
        ("key_writes", &expected.key_writes, &before.key_writes),
    ] {
        if expected != actual {
            report(None, Difference::Counter { counter, expected: by_key(expected), actual: by_key(actual) });
        }
    }
    mismatches
}

/// Runs a call into the implementation, turning a panic into an error.
fn guarded<T>(call: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string payload".to_string());
            Err(format!("panicked: {message}"))
        }
    }
}

fn increments(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    let mut delta = BTreeMap::new();
    for name in names {
        let (b, a) = (before.get(name).copied().unwrap_or(0), after.get(name).copied().unwrap_or(0));
        if a != b {
            delta.insert(name.clone(), a.wrapping_sub(b));
        }
    }
    delta
}

fn compare_outputs(expected: &[Output], actual: &[Output], mut report: impl FnMut(Difference)) {
    if expected.len() != actual.len() {
        report(Difference::OutputCount { expected: expected.to_vec(), actual: actual.to_vec() });
        return;
    }
    for (index, (e, a)) in expected.iter().zip(actual).enumerate() {
        if e.port != a.port {
            report(Difference::OutputPort { index, expected: e.port, actual: a.port });
        }
        if e.frame != a.frame {
            report(Difference::OutputFrame { index, expected: e.frame.clone(), actual: a.frame.clone() });
        }
    }
}

fn compare_registers(expected: &[KeyRegisters], actual: &[KeyRegisters], mut report: impl FnMut(Difference)) {
    let expected: BTreeMap<u16, &KeyRegisters> = expected.iter().map(|r| (r.key, r)).collect();
    let actual: BTreeMap<u16, &KeyRegisters> = actual.iter().filter(|r| !r.is_zero()).map(|r| (r.key, r)).collect();
    let mut keys: Vec<u16> = expected.keys().chain(actual.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let (e, a) = (expected.get(&key).copied(), actual.get(&key).copied());
        if e != a {
            report(Difference::Registers { key, expected: e.cloned(), actual: a.cloned() });
        }
    }
}

impl Display for Report {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let failed = self.failed_cases();
        writeln!(
            f,
            "{} files, {} cases, {} steps: {} cases failed, {} mismatches",
            self.files,
            self.cases,
            self.steps,
            failed.len(),
            self.mismatches.len()
        )?;
        for mismatch in &self.mismatches {
            writeln!(f, "{mismatch}")?;
        }
        Ok(())
    }
}

impl Display for Mismatch {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let file = self.file.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        match self.step {
            Some(step) => write!(f, "{file}: {}: step {step}: {}", self.case, self.difference),
            None => write!(f, "{file}: {}: {}", self.case, self.difference),
        }
    }
}

impl Display for Difference {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Setup(error) => write!(f, "setting up the starting state failed: {error}"),
            Difference::Node(error) => write!(f, "the implementation failed, rest of the case skipped: {error}"),
            Difference::OutputCount { expected, actual } => {
                writeln!(f, "expected {} frame(s) sent, got {}", expected.len(), actual.len())?;
                for (label, list) in [("expected", expected), ("actual", actual)] {
                    if list.is_empty() {
                        writeln!(f, "    {label}: nothing")?;
                    }
                    for (i, out) in list.iter().enumerate() {
                        writeln!(f, "    {label} #{i} port {}: {}", out.port, describe(&out.frame))?;
                        writeln!(f, "        {}", hex::encode(&out.frame))?;
                    }
                }
                Ok(())
            }
            Difference::OutputPort { index, expected, actual } => {
                write!(f, "frame #{index} sent on port {actual}, expected port {expected}")
            }
            Difference::OutputFrame { index, expected, actual } => {
                let offset = first_difference(expected, actual).unwrap_or(0);
                writeln!(
                    f,
                    "frame #{index} differs first at byte {offset} ({}); differing fields: {}",
                    field_at(expected, offset),
                    differing_fields(expected, actual).join(", ")
                )?;
                if expected.len() != actual.len() {
                    writeln!(f, "    length: expected {} bytes, actual {}", expected.len(), actual.len())?;
                }
                writeln!(f, "    expected: {}", describe(expected))?;
                writeln!(f, "    actual:   {}", describe(actual))?;
                writeln!(f, "    expected: {}", hex::encode(expected))?;
                writeln!(f, "    actual:   {}", hex::encode(actual))?;
                write!(f, "              {}^^ byte {offset}", " ".repeat(2 * offset))
            }
            Difference::Outcomes { expected, actual } => {
                write!(f, "counter increments {}, expected {}", outcome_list(actual), outcome_list(expected))
            }
            Difference::Registers { key, expected, actual } => {
                let show = |r: &Option<KeyRegisters>| match r {
                    Some(r) => r.to_string(),
                    None => "all zero".to_string(),
                };
                write!(
                    f,
                    "final registers of key {key}:\n    expected: {}\n    actual:   {}",
                    show(expected),
                    show(actual)
                )
            }
            Difference::Counter { counter, expected, actual } => {
                write!(f, "final {counter} counters {actual:?}, expected {expected:?}")
            }
            Difference::Lease { expected, actual } => write!(
                f,
                "final lease end {} held {} clock {}, expected end {} held {} clock {}",
                actual.end_ticks,
                actual.held,
                actual.clock_ticks,
                expected.end_ticks,
                expected.held,
                expected.clock_ticks
            ),
        }
    }
}

/// `[COMMIT_APPLIED, NO_ROUTE x2]`, in outcome-code order.
fn outcome_list(counts: &BTreeMap<String, u64>) -> String {
    let code = |name: &str| OUTCOMES.iter().position(|o| *o == name).unwrap_or(usize::MAX);
    let mut entries: Vec<(&String, &u64)> = counts.iter().collect();
    entries.sort_by_key(|(name, _)| code(name));
    let items: Vec<String> =
        entries.into_iter().map(|(name, n)| if *n == 1 { name.clone() } else { format!("{name} x{n}") }).collect();
    format!("[{}]", items.join(", "))
}
