//! `netcraq bench soak`: randomized faults on a managed chain of software
//! nodes, every history checked. Each run starts a fresh chain of three
//! members and a spare with the running controller, runs a workload from
//! a survivor's host (reads at every member, the victim included; writes
//! through the host's own node), and at a random moment either
//! kills a random member (SIGKILL) or stops it (SIGSTOP) until the chain
//! has gone on without it plus a random while, then resumes it (SIGCONT).
//! The controller must remove it and bring the spare in (and retire a
//! resumed node); the history, with a final read of every key at every
//! member, must be linearizable. Each finished run is a JSON line in the
//! state file, so a soak resumes where the last one stopped; `--runs` and
//! `--max-minutes` bound it. Not run by CI (perf/README.md, "Soak").

use super::harness::{down, host_of, reconfigured, ChainSpec, ManagedChain, MEMBERS, SPARE};
use crate::results::{shown, source_path};
use clap::Args;
use netcraq_client::{run_workload, ClientOptions, KeyDistribution, Stop, Workload, WriteTarget};
use netcraq_controller::service::{NoteKind, ServiceSettings};
use netcraq_controller::supervisor::Change;
use netcraq_linearizability::{check, save_history_if_requested, CheckResult};
use netcraq_topology::NodeKind;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Keys the chain serves and the workload uses: few, so that keys collide.
const KEYS: u16 = 16;
const WORKLOAD: Duration = Duration::from_secs(8);
/// How long an expected note may take (the first one: the restart).
const NOTE_WAIT: Duration = Duration::from_secs(30);
/// The fault comes this long into the workload, plus up to [`FAULT_SPREAD_MS`].
const FAULT_AT_LEAST: Duration = Duration::from_millis(300);
const FAULT_SPREAD_MS: u64 = 1700;
/// A stopped node stays stopped past its removal for up to this long.
const STOP_EXTRA_MS: u64 = 1000;

#[derive(Debug, Clone, Args)]
pub struct BenchSoakArgs {
    /// Runs to reach, counting those already recorded in --state
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    runs: u32,
    /// The record of finished runs, one JSON line each; a soak with the same file resumes after them
    /// [default: perf/results/soak-runs.jsonl in the source tree]
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
    /// Start no run after this many minutes
    #[arg(long, default_value_t = 180)]
    max_minutes: u64,
    /// Run i draws its fault, timing and workload seed from this seed and i
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Go on after a failed run (by default the soak stops at the first)
    #[arg(long)]
    keep_going: bool,
}

/// One run's random choices.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fault {
    victim: &'static str,
    /// SIGSTOP (then SIGCONT) rather than SIGKILL.
    stop: bool,
    after: Duration,
    /// How long a stopped node stays stopped after the chain went on without it.
    stopped_extra: Duration,
    workload_seed: u64,
}

impl Fault {
    fn draw(seed: u64, run: u64) -> Fault {
        let mut state = seed ^ run.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut next = || splitmix64(&mut state);
        Fault {
            victim: MEMBERS[(next() % MEMBERS.len() as u64) as usize],
            stop: next() % 2 == 1,
            after: FAULT_AT_LEAST + Duration::from_millis(next() % FAULT_SPREAD_MS),
            stopped_extra: Duration::from_millis(next() % STOP_EXTRA_MS),
            workload_seed: next(),
        }
    }

    fn describe(&self) -> String {
        match self.stop {
            true => format!(
                "SIGSTOP {} after {} ms, SIGCONT {} ms past its removal",
                self.victim,
                self.after.as_millis(),
                self.stopped_extra.as_millis()
            ),
            false => format!("kill -9 {} after {} ms", self.victim, self.after.as_millis()),
        }
    }
}

/// SplitMix64: a small, good generator for the runs' choices.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs recorded in the state file: (ok, failed).
fn tally(lines: &[Value]) -> (u32, u32) {
    let ok = lines.iter().filter(|line| line["outcome"] == "ok").count() as u32;
    (ok, lines.len() as u32 - ok)
}

fn read_state(path: &Path) -> Result<Vec<Value>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(format!("reading {}: {error}", path.display())),
    };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).map_err(|e| format!("{}: a line that is not JSON: {e}", path.display())))
        .collect()
}

pub fn run(args: &BenchSoakArgs) -> Result<(), String> {
    if !netcraq_topology::running_as_root() {
        return Err("bench soak needs root: its chains run on network namespaces".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("finding the netcraq executable: {e}"))?;
    let state = args.state.clone().unwrap_or_else(|| source_path("results/soak-runs.jsonl"));
    let recorded = read_state(&state)?;
    let (mut ok, mut failed) = tally(&recorded);
    let first = recorded.len() as u64;
    if first > 0 {
        println!("soak: resuming after {first} recorded runs ({ok} ok, {failed} failed) in {}", shown(&state));
    }
    let deadline = Instant::now() + Duration::from_secs(args.max_minutes * 60);
    let spec = ChainSpec { kind: NodeKind::Software, keys: u32::from(KEYS), eal: String::new() };
    for run in first..u64::from(args.runs) {
        if Instant::now() >= deadline || (failed > 0 && !args.keep_going) || netcraq_topology::interrupted() {
            break;
        }
        let fault = Fault::draw(args.seed, run);
        let started = Instant::now();
        let outcome = soak_run(&spec, &exe, &fault, run);
        if netcraq_topology::interrupted() {
            println!("soak: interrupted during run {}: not recorded", run + 1);
            break;
        }
        let line = json!({
            "run": run + 1, "seed": args.seed, "victim": fault.victim, "fault": if fault.stop { "stop" } else { "kill" },
            "after_ms": fault.after.as_millis() as u64, "stopped_extra_ms": fault.stopped_extra.as_millis() as u64,
            "workload_seed": fault.workload_seed, "seconds": started.elapsed().as_secs_f64(),
            "outcome": if outcome.is_ok() { "ok" } else { "failed" },
            "operations": outcome.as_ref().ok(), "error": outcome.as_ref().err(),
        });
        append_line(&state, &line)?;
        match &outcome {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
        let result = match &outcome {
            Ok(operations) => format!("ok, {operations} operations linearizable"),
            Err(error) => format!("FAILED: {error}"),
        };
        println!("soak: run {}/{}: {}: {result} — {ok} ok, {failed} failed", run + 1, args.runs, fault.describe());
    }
    let total = ok + failed;
    println!("soak: {total} of {} runs done: {ok} ok, {failed} failed (record: {})", args.runs, shown(&state));
    match failed {
        0 => Ok(()),
        _ => Err(format!("{failed} run(s) failed: see {}", shown(&state))),
    }
}

fn append_line(path: &Path, line: &Value) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    writeln!(file, "{line}").map_err(|e| format!("writing {}: {e}", path.display()))
}

/// One run on a fresh chain; the operations checked, or why it failed.
fn soak_run(spec: &ChainSpec, exe: &Path, fault: &Fault, run: u64) -> Result<usize, String> {
    let chain = ManagedChain::up(spec, exe)?;
    let outcome = faulted_run(&chain, fault, run);
    let stopped = chain.stop();
    let operations = outcome?;
    stopped.map(|()| operations)
}

fn faulted_run(chain: &ManagedChain, fault: &Fault, run: u64) -> Result<usize, String> {
    let mut controller = chain.start_controller(ServiceSettings::default())?;
    let notes = &mut controller.notes;
    notes.wait("the chain restarted", NOTE_WAIT, reconfigured(Change::Restart))?;
    // One client host, on a survivor: reads at every member, the victim included.
    let host_node = MEMBERS.iter().copied().find(|m| *m != fault.victim).ok_or("no survivor")?;
    let read_at = MEMBERS.iter().map(|node| chain.address(node)).collect::<Result<Vec<_>, String>>()?;
    let workload = Workload {
        read_fraction: 0.5,
        keys: 0..KEYS,
        key_distribution: KeyDistribution::Uniform,
        concurrency: 8,
        stop: Stop::AfterDuration(WORKLOAD),
        seed: fault.workload_seed,
        write_target: WriteTarget::Node(chain.address(host_node)?),
        client: ClientOptions { timeout: Duration::from_millis(100), retries: 40, ..ClientOptions::default() },
        history_capacity_ops: 2_000_000,
        progress_interval: Duration::from_millis(100),
    };
    let (injected, report) = std::thread::scope(|scope| {
        let running = scope.spawn(|| chain.inside(&host_of(host_node), || run_workload(&read_at, &workload, |_| {})));
        let injected = inject(chain, notes, fault);
        let report = running.join().unwrap_or_else(|_| Err("the workload thread panicked".into()));
        (injected, report)
    });
    injected?;
    let report = report?.map_err(|e| format!("the workload: {e}"))?;
    if report.history_truncated {
        return Err("the history was truncated".into());
    }
    let mut history = report.history.ok_or("no history recorded")?;
    let members = notes.last_members().ok_or("no reconfiguration done")?;
    chain.append_final_reads(&mut history, &members, KEYS)?;
    controller.stop()?;
    let label = format!("soak-{}", run + 1);
    match check(&history) {
        CheckResult::Linearizable => {}
        other => {
            let saved = save_history_if_requested(&history, &label).ok().flatten();
            let saved = saved.map_or(String::new(), |path| format!(" (history: {})", path.display()));
            return Err(format!("not linearizable: {other:?}{saved}"));
        }
    }
    // Checked after the history, so that a run with another
    // reconfiguration too (a false detection) still says whether it was linearizable.
    if members.contains(&fault.victim.to_string()) || !members.contains(&SPARE.to_string()) {
        let expected = format!("{} out and {SPARE} in expected", fault.victim);
        return Err(format!("linearizable, but the chain ended as {members:?}: {expected}"));
    }
    Ok(history.len())
}

/// Injects `fault` and waits for the controller to deal with it.
fn inject(chain: &ManagedChain, notes: &mut super::harness::Notes, fault: &Fault) -> Result<(), String> {
    std::thread::sleep(fault.after);
    let signal = if fault.stop { libc::SIGSTOP } else { libc::SIGKILL };
    chain.signal(fault.victim, signal)?;
    notes.wait("it is down", NOTE_WAIT, down(fault.victim))?;
    notes.wait("it was removed", NOTE_WAIT, reconfigured(Change::Remove { node: fault.victim.into() }))?;
    if fault.stop {
        std::thread::sleep(fault.stopped_extra);
        chain.signal(fault.victim, libc::SIGCONT)?;
    }
    notes.wait("the spare joined", NOTE_WAIT, reconfigured(Change::Add { node: SPARE.into() }))?;
    if fault.stop {
        notes.wait("it was retired", NOTE_WAIT, |note| *note == NoteKind::Retired(fault.victim.into()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_draw_their_faults_from_the_seed_and_their_number() {
        assert_eq!(Fault::draw(1, 7), Fault::draw(1, 7));
        let faults: Vec<Fault> = (0..200).map(|run| Fault::draw(1, run)).collect();
        for victim in MEMBERS {
            assert!(faults.iter().any(|f| f.victim == victim && f.stop));
            assert!(faults.iter().any(|f| f.victim == victim && !f.stop));
        }
        assert!(faults
            .iter()
            .all(|f| f.after >= FAULT_AT_LEAST && f.after < FAULT_AT_LEAST + Duration::from_millis(FAULT_SPREAD_MS)));
        assert_ne!(Fault::draw(2, 7), Fault::draw(1, 7));
    }

    #[test]
    fn the_state_file_resumes_the_tally() {
        let lines = vec![json!({"outcome": "ok"}), json!({"outcome": "failed"}), json!({"outcome": "ok"})];
        assert_eq!(tally(&lines), (2, 1));
        let path = std::env::temp_dir().join(format!("netcraq-soak-test-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        assert!(read_state(&path).unwrap().is_empty());
        for line in &lines {
            append_line(&path, line).unwrap();
        }
        assert_eq!(read_state(&path).unwrap(), lines);
        std::fs::remove_file(&path).unwrap();
    }
}
