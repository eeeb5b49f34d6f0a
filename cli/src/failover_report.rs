//! What `netcraq demo --kill-node` prints: throughput and latency over time
//! with the failure and the controller's moves marked, then what was lost.

use netcraq_linearizability::History;
use serde::Serialize;
use std::fmt::Write;
use std::time::Duration;

/// One row of the timeline.
pub const ROW: Duration = Duration::from_millis(100);
const BAR_WIDTH: f64 = 30.0;

#[derive(Debug, Clone, Serialize)]
pub struct FailoverSetup {
    /// The chain's members at start, head first.
    pub members: Vec<String>,
    pub spare: String,
    pub victim: String,
    /// The node the client host hangs off.
    pub host_on: String,
    pub reads_at: Vec<String>,
    pub outstanding_requests: usize,
    pub seconds: f64,
    pub kill_at_seconds: f64,
    pub read_fraction: f64,
    pub keys: u32,
    pub seed: u64,
}

/// Operations completed in one [`ROW`] of time, and their latency from
/// first transmission to reply (retransmissions included).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Row {
    pub start_s: f64,
    pub ops_per_s: f64,
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p99: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    /// The demo killed the node.
    Killed,
    /// The controller saw it miss its probes.
    Detected,
    /// The chain runs without it, in a new epoch.
    FailedOver,
    /// A spare joined: the chain has its length back.
    Recovered,
    /// A reconfiguration failed; the controller tries again.
    Retried,
}

impl MarkKind {
    fn label(self) -> &'static str {
        match self {
            MarkKind::Killed => "failure",
            MarkKind::Detected => "detected",
            MarkKind::FailedOver => "failover",
            MarkKind::Recovered => "recovery",
            MarkKind::Retried => "retry",
        }
    }
}

/// A moment of the run, in seconds since the workload started.
#[derive(Debug, Clone, Serialize)]
pub struct Mark {
    pub at_s: f64,
    pub kind: MarkKind,
    pub text: String,
    /// The chain's members after a reconfiguration.
    pub members: Option<Vec<String>>,
}

impl Mark {
    pub fn new(at_s: f64, kind: MarkKind, text: String, members: Option<Vec<String>>) -> Mark {
        Mark { at_s, kind, text, members }
    }

    pub fn label(&self) -> &'static str {
        self.kind.label()
    }
}

/// Throughput and latency over a stretch of the run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Window {
    pub ops_per_s: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
}

/// What the checks after the run found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub acknowledged_writes: u64,
    pub reads: u64,
    /// Writes that timed out: they may or may not have taken effect, and
    /// the check allows either.
    pub writes_outcome_unknown: usize,
    /// Operations that got no answer (reads included) or an error.
    pub failed_operations: u64,
    pub history_truncated: bool,
    pub operations_recorded: usize,
    pub members_read_back: Vec<String>,
    pub keys_read_back: u32,
    /// Keys whose value differs between two members.
    pub keys_members_disagree_on: usize,
    pub linearizable: bool,
    pub verdict: String,
    pub check_seconds: f64,
}

impl Verification {
    /// Every acknowledged write is where a read finds it, at every member.
    pub fn nothing_lost(&self) -> bool {
        self.linearizable && self.keys_members_disagree_on == 0 && !self.history_truncated
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    network_description: &'static str,
    setup: FailoverSetup,
    row_seconds: f64,
    rows: Vec<Row>,
    marks: Vec<Mark>,
    before_failure: Option<Window>,
    after_recovery: Option<Window>,
    verification: Verification,
    nothing_lost: bool,
    /// Where the plot was written, if it was.
    pub plot: Option<String>,
}

impl FailoverReport {
    pub fn new(setup: FailoverSetup, history: &History, marks: Vec<Mark>, verification: Verification) -> Self {
        let at = |kind| marks.iter().find(|m| m.kind == kind).map(|m| m.at_s);
        let end = history.operations().iter().map(|op| op.return_ns).max().unwrap_or(0) as f64 / 1e9;
        // The first row warms up; the chain is whole again from the recovery on.
        let before_failure = at(MarkKind::Killed).and_then(|kill| window(history, ROW.as_secs_f64(), kill));
        let after_recovery = at(MarkKind::Recovered).and_then(|recovered| window(history, recovered, end));
        FailoverReport {
            network_description: crate::report::Network::Namespaces.describe(),
            setup,
            row_seconds: ROW.as_secs_f64(),
            rows: rows(history),
            marks,
            before_failure,
            after_recovery,
            nothing_lost: verification.nothing_lost(),
            verification,
            plot: None,
        }
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    pub fn verification(&self) -> &Verification {
        &self.verification
    }

    pub fn victim(&self) -> &str {
        &self.setup.victim
    }

    /// The report as text: setup, one row per [`ROW`], the marks, what was lost.
    pub fn table(&self) -> String {
        let mut out = String::new();
        self.write_table(&mut out).expect("writing to a String cannot fail");
        out
    }

    fn write_table(&self, out: &mut String) -> std::fmt::Result {
        let s = &self.setup;
        writeln!(out, "NetCRAQ demo on {}: a node killed mid-run", self.network_description)?;
        writeln!(
            out,
            "CRAQ chain {} with spare {}; {}",
            s.members.join(" -> "),
            s.spare,
            crate::in_process_controller::DESCRIPTION
        )?;
        writeln!(
            out,
            "client host h1 on {}: {} requests outstanding, {:.0}% reads at {}, writes through {}, {} uniform keys, seed {}",
            s.host_on,
            s.outstanding_requests,
            s.read_fraction * 100.0,
            s.reads_at.join(", "),
            s.host_on,
            s.keys,
            s.seed
        )?;
        writeln!(out, "kill -9 of {} at {:.1} s of a {} s run (wall-clock)\n", s.victim, s.kill_at_seconds, s.seconds)?;
        self.write_rows(out)?;
        self.write_summary(out)
    }

    fn write_rows(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "{:>6} {:>9} {:>8} {:>8}  ops/s", "time s", "ops/s", "p50 ms", "p99 ms")?;
        let peak = self.rows.iter().map(|r| r.ops_per_s).fold(1.0, f64::max);
        let row_s = ROW.as_secs_f64();
        let mut marks = self.marks.iter().peekable();
        for row in &self.rows {
            let bar = "█".repeat((row.ops_per_s / peak * BAR_WIDTH).round() as usize);
            let line = format!(
                "{:>6.1} {:>9.0} {:>8} {:>8}  {bar:<30}",
                row.start_s,
                row.ops_per_s,
                milliseconds(row.latency_ms_p50),
                milliseconds(row.latency_ms_p99)
            );
            let here: Vec<String> = std::iter::from_fn(|| marks.next_if(|m| m.at_s < row.start_s + row_s))
                .map(|m| format!("<- {}: {}", m.label(), m.text))
                .collect();
            writeln!(out, "{}", [line].into_iter().chain(here).collect::<Vec<_>>().join("  ").trim_end())?;
        }
        for mark in marks {
            writeln!(out, "{:>6.1} {:>36}  <- {}: {}", mark.at_s, "(after the run)", mark.label(), mark.text)?;
        }
        Ok(())
    }

    fn write_summary(&self, out: &mut String) -> std::fmt::Result {
        let at = |kind| self.marks.iter().find(|m| m.kind == kind).map(|m| m.at_s);
        if let Some(killed) = at(MarkKind::Killed) {
            let after = |kind, what: &str| at(kind).map(|t| format!("{what} {:.2} s later", t - killed));
            let steps: Vec<String> = [
                after(MarkKind::Detected, "seen down"),
                after(MarkKind::FailedOver, "chain reconfigured without it"),
                after(MarkKind::Recovered, &format!("spare {} joined", self.setup.spare)),
            ]
            .into_iter()
            .flatten()
            .collect();
            writeln!(out, "\n{} killed at {killed:.2} s; {}", self.setup.victim, steps.join("; "))?;
        }
        let window = |w: &Option<Window>| {
            w.map_or("-".to_owned(), |w| {
                format!("{:.0} ops/s (p50 {:.1} ms, p99 {:.1} ms)", w.ops_per_s, w.latency_ms_p50, w.latency_ms_p99)
            })
        };
        writeln!(
            out,
            "before the failure {}; after the recovery {}",
            window(&self.before_failure),
            window(&self.after_recovery)
        )?;
        let v = &self.verification;
        let verdict = match self.nothing_lost {
            true => "lost: nothing.".to_owned(),
            false => format!(
                "lost: NOT verified: the history is {}; {} key(s) differ between members{}.",
                v.verdict,
                v.keys_members_disagree_on,
                if v.history_truncated { "; the history was truncated" } else { "" }
            ),
        };
        writeln!(
            out,
            "{verdict} {} writes acknowledged ({} timed out with unknown outcome, which the check allows either way), \
             {} reads, {} operations failed; every key ({}) read back at {}: they agree on {} of them; the history of {} \
             operations and those final reads is {} (checked in {:.2} s)",
            v.acknowledged_writes,
            v.writes_outcome_unknown,
            v.reads,
            v.failed_operations,
            v.keys_read_back,
            v.members_read_back.join(", "),
            v.keys_read_back as usize - v.keys_members_disagree_on,
            v.operations_recorded,
            v.verdict,
            v.check_seconds
        )?;
        if let Some(plot) = &self.plot {
            writeln!(out, "plot: {plot}")?;
        }
        Ok(())
    }
}

fn milliseconds(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1}"))
}

/// The timeline: operations that completed (acknowledged writes and
/// reads) by [`ROW`] of their reply's time.
fn rows(history: &History) -> Vec<Row> {
    let row_ns = ROW.as_nanos() as u64;
    let count = history.operations().iter().map(|op| op.return_ns / row_ns + 1).max().unwrap_or(0) as usize;
    let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); count];
    for op in history.operations().iter().filter(|op| op.is_determinate()) {
        latencies[(op.return_ns / row_ns) as usize].push(op.return_ns - op.invoke_ns);
    }
    latencies
        .into_iter()
        .enumerate()
        .map(|(index, mut row)| {
            row.sort_unstable();
            Row {
                start_s: index as f64 * ROW.as_secs_f64(),
                ops_per_s: row.len() as f64 / ROW.as_secs_f64(),
                latency_ms_p50: quantile_ms(&row, 0.5),
                latency_ms_p99: quantile_ms(&row, 0.99),
            }
        })
        .collect()
}

/// Throughput and latency of the operations that completed between `from_s` and `to_s`.
fn window(history: &History, from_s: f64, to_s: f64) -> Option<Window> {
    let (from_ns, to_ns) = ((from_s * 1e9) as u64, (to_s * 1e9) as u64);
    let mut latencies: Vec<u64> = history
        .operations()
        .iter()
        .filter(|op| op.is_determinate() && (from_ns..to_ns).contains(&op.return_ns))
        .map(|op| op.return_ns - op.invoke_ns)
        .collect();
    latencies.sort_unstable();
    Some(Window {
        ops_per_s: latencies.len() as f64 / (to_s - from_s),
        latency_ms_p50: quantile_ms(&latencies, 0.5)?,
        latency_ms_p99: quantile_ms(&latencies, 0.99)?,
    })
}

/// The `q` quantile of sorted nanoseconds, in milliseconds.
fn quantile_ms(sorted_ns: &[u64], q: f64) -> Option<f64> {
    let last = sorted_ns.len().checked_sub(1)?;
    Some(sorted_ns[(last as f64 * q).round() as usize] as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcraq_linearizability::Operation;

    #[test]
    fn rows_count_completed_operations_and_their_latency() {
        let ms = 1_000_000;
        let history: History = [
            Operation::read(0, 1, 0, 2 * ms, [0; 16]),
            Operation::write(1, 1, ms, 5 * ms, [1; 16]),
            Operation::indeterminate_write(2, 1, ms, 150 * ms, [2; 16]),
            Operation::read(0, 1, 120 * ms, 250 * ms, [1; 16]),
        ]
        .into_iter()
        .collect();
        let rows = rows(&history);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].ops_per_s, 20.0);
        // Nearest rank, rounded up: of two latencies the median is the higher.
        assert_eq!((rows[0].latency_ms_p50, rows[0].latency_ms_p99), (Some(4.0), Some(4.0)));
        assert_eq!((rows[1].ops_per_s, rows[1].latency_ms_p99), (0.0, None), "an unknown outcome is no completion");
        assert_eq!(rows[2].latency_ms_p50, Some(130.0));
        let whole = window(&history, 0.0, 0.3).unwrap();
        assert_eq!(whole.latency_ms_p99, 130.0);
    }
}
