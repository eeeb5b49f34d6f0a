//! `netcraq bench ceiling`: the DPDK node's own cost per frame, without a
//! load generator. For each operation class ([`classes`]) the node runs its
//! real poll loop (`DpdkNode::poll_once`) over a real DPDK port (`net_ring`)
//! in this process, fed with pre-built frames between timed stretches
//! ([`poll`]); the result is nanoseconds per frame and, under valgrind's
//! callgrind, instructions per frame. `--against` measures another build
//! (an older commit) alternately with this one, for before/after figures.

pub mod classes;
#[cfg(feature = "dpdk")]
mod poll;

use crate::results::{load_average, machine_json, source_path, utc_now, write_json};
use crate::system::{allowed_cpus, ScratchDir, Spawned};
use clap::Args;
use classes::OpClass;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CEILING_BAR: &str = "ceiling {bar:30} {pos}/{len} {elapsed}";

/// Untimed batches of each class before its first timed one.
const WARMUP_BATCHES: u32 = 64;
/// How long one measuring child (under callgrind, slow) may take.
const CHILD_LIMIT: Duration = Duration::from_secs(900);
/// The poll function whose instructions callgrind counts (a pattern over demangled names).
const POLL_FUNCTION: &str = "*DpdkNode*poll_once*";
/// The clean-read target (issue #16): 100 ns per frame, 10 Mpps on one core.
const TARGET_CLEAN_READ_NS: f64 = 100.0;

#[derive(Debug, Clone, Args)]
pub struct BenchCeilingArgs {
    /// The operation classes to measure, in this order
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "clean_read,read_to_tail,head_write,chain_write,tail_commit,malformed_drop"
    )]
    pub only: Vec<String>,
    /// Times each class is measured (classes take turns); the median is reported
    #[arg(long, value_name = "N", default_value_t = 11, value_parser = clap::value_parser!(u32).range(1..=101))]
    pub repetitions: u32,
    /// Frames timed per class and repetition (rounded up to whole batches of --keys)
    #[arg(long, value_name = "N", default_value_t = 500_000,
          value_parser = clap::value_parser!(u64).range(1_000..=100_000_000))]
    pub frames: u64,
    /// Keys the frames cycle over, one frame per key in a batch: a batch
    /// goes into the receive ring, is polled (timed) and its keys are reset;
    /// a multiple of --burst
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(64..=16_384))]
    pub keys: u32,
    /// Frames the node takes per poll round (its burst)
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub burst: u16,
    /// EAL arguments (no hugepages needed; with hugepages reserved, e.g. `-l 1 --in-memory`)
    #[arg(long, value_name = "ARGS", default_value = "--no-huge -m 512", allow_hyphen_values = true)]
    pub eal: String,
    /// Also count instructions per frame: each class once more under
    /// `valgrind --tool=callgrind`, counting only inside the poll function
    #[arg(long)]
    pub instructions: bool,
    /// Frames per class under callgrind (about 50 times slower)
    #[arg(long, value_name = "N", default_value_t = 65_536,
          value_parser = clap::value_parser!(u64).range(1_000..=10_000_000))]
    pub instructions_frames: u64,
    /// Another netcraq binary with `bench ceiling` (e.g. built from an older
    /// commit): measured alternately with this one, repetition by
    /// repetition, each in a process of its own; the output gives both and
    /// the speed-up per class
    #[arg(long, value_name = "PATH")]
    pub against: Option<PathBuf>,
    /// Where to write the results as JSON [default: perf/results/ceiling-latest.json in the source tree]
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

impl BenchCeilingArgs {
    fn classes(&self) -> Result<Vec<OpClass>, String> {
        let mut classes = Vec::new();
        for name in &self.only {
            let class = OpClass::from_name(name.trim()).ok_or_else(|| {
                let names: Vec<&str> = OpClass::ALL.iter().map(|c| c.name()).collect();
                format!("--only: unknown class {name:?}; the classes are {}", names.join(", "))
            })?;
            if !classes.contains(&class) {
                classes.push(class);
            }
        }
        Ok(classes)
    }

    fn validate(&self) -> Result<(), String> {
        if !self.keys.is_multiple_of(u32::from(self.burst)) {
            return Err(format!("--keys {} is not a multiple of --burst {}", self.keys, self.burst));
        }
        Ok(())
    }

    /// Batches of --keys frames that make at least `frames`.
    fn batches(&self, frames: u64) -> u32 {
        frames.div_ceil(u64::from(self.keys)).min(u64::from(u32::MAX)) as u32
    }
}

/// One binary's figures for one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassResult {
    pub class: String,
    pub outcome: String,
    pub frames_out_per_frame: usize,
    pub ns_per_frame_per_repetition: Vec<f64>,
    /// Frames through the poll function in the process that measured, warm-up included.
    pub frames_polled: u64,
    pub instructions_per_frame: Option<f64>,
}

impl ClassResult {
    fn new(class: OpClass) -> ClassResult {
        ClassResult {
            class: class.name().to_string(),
            outcome: class.outcome().name().to_string(),
            frames_out_per_frame: class.frames_out(),
            ns_per_frame_per_repetition: Vec::new(),
            frames_polled: 0,
            instructions_per_frame: None,
        }
    }

    pub fn median_ns(&self) -> f64 {
        median(&self.ns_per_frame_per_repetition)
    }

    /// (max - min) / median, in percent.
    pub fn spread_percent(&self) -> f64 {
        let values = &self.ns_per_frame_per_repetition;
        let (min, max) =
            (values.iter().copied().fold(f64::INFINITY, f64::min), values.iter().copied().fold(0.0, f64::max));
        100.0 * (max - min) / self.median_ns()
    }

    fn to_json(&self) -> Value {
        let median_ns = self.median_ns();
        json!({
            "class": self.class, "outcome": self.outcome, "frames_out_per_frame": self.frames_out_per_frame,
            "ns_per_frame_median": median_ns, "mpps_median": 1e3 / median_ns,
            "spread_percent": self.spread_percent(),
            "ns_per_frame_per_repetition": self.ns_per_frame_per_repetition,
            "frames_polled": self.frames_polled,
            "instructions_per_frame": self.instructions_per_frame,
        })
    }
}

/// The median (the mean of the middle two for an even count); NaN for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

pub fn run(args: &BenchCeilingArgs) -> Result<(), String> {
    args.validate()?;
    let classes = args.classes()?;
    let load_average_at_start = load_average();
    let (mut results, mut against) = match &args.against {
        None => (measure_here(args, &classes)?, None),
        Some(other) => {
            let (here, there) = measure_alternately(args, &classes, other)?;
            (here, Some(there))
        }
    };
    if args.instructions {
        let this = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
        count_instructions(args, &this, &mut results)?;
        if let (Some(other), Some(against)) = (&args.against, &mut against) {
            count_instructions(args, other, against)?;
        }
    }
    println!("{}", table(&results, against.as_deref()));
    println!("{}", summary_line(&results, against.as_deref()));
    let json = json!({
        "benchmark": "ceiling",
        "timestamp_utc": utc_now(),
        "machine": machine_json(&allowed_cpus(), load_average_at_start),
        "settings": {
            "repetitions": args.repetitions, "frames_per_repetition": u64::from(args.batches(args.frames)) * u64::from(args.keys),
            "keys": args.keys, "burst": args.burst, "eal": args.eal, "warmup_batches": WARMUP_BATCHES,
            "instructions_frames": args.instructions.then_some(args.instructions_frames),
            "port": "one net_ring port in the node's process (rte_eth_from_rings)",
            "timed": "DpdkNode::poll_once rounds only (receive burst, core, transmit burst), one batch of --keys frames at a time; a repetition's figure is its median batch",
        },
        "classes": results.iter().map(ClassResult::to_json).collect::<Vec<_>>(),
        "against": against.as_ref().map(|other| json!({
            "binary": args.against.as_ref().map(|p| p.display().to_string()),
            "classes": other.iter().map(ClassResult::to_json).collect::<Vec<_>>(),
            "speedup_per_class": speedups(&results, other),
        })),
    });
    let path = args.json.clone().unwrap_or_else(|| source_path("results/ceiling-latest.json"));
    write_json(&path, &json)?;
    eprintln!("ceiling: wrote {}", path.display());
    Ok(())
}

/// Measures every class `args.repetitions` times in this process.
#[cfg(feature = "dpdk")]
fn measure_here(args: &BenchCeilingArgs, classes: &[OpClass]) -> Result<Vec<ClassResult>, String> {
    let mut harness = poll::Harness::start(&args.eal, args.keys, usize::from(args.burst))?;
    let mut results: Vec<ClassResult> = classes.iter().map(|class| ClassResult::new(*class)).collect();
    let progress = crate::progress_bar(u64::from(args.repetitions) * classes.len() as u64, CEILING_BAR);
    for repetition in 0..args.repetitions {
        for (class, result) in classes.iter().zip(&mut results) {
            let warmup = if repetition == 0 { WARMUP_BATCHES } else { 0 };
            let before = harness.frames_polled;
            let timing = harness.measure(*class, warmup, args.batches(args.frames))?;
            result.ns_per_frame_per_repetition.push(timing.ns_per_frame());
            result.frames_polled += harness.frames_polled - before;
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    Ok(results)
}

#[cfg(not(feature = "dpdk"))]
fn measure_here(_: &BenchCeilingArgs, _: &[OpClass]) -> Result<Vec<ClassResult>, String> {
    Err(crate::WITHOUT_DPDK.to_string())
}

/// This program and `other`, each in processes of its own, one repetition
/// at a time, taking turns at going first.
fn measure_alternately(
    args: &BenchCeilingArgs,
    classes: &[OpClass],
    other: &Path,
) -> Result<(Vec<ClassResult>, Vec<ClassResult>), String> {
    let this = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let scratch = ScratchDir::new("netcraq-ceiling")?;
    let mut here: Vec<ClassResult> = classes.iter().map(|class| ClassResult::new(*class)).collect();
    let mut there = here.clone();
    let progress = crate::progress_bar(2 * u64::from(args.repetitions), CEILING_BAR);
    for repetition in 0..args.repetitions {
        let mut turns = [(&this as &Path, &mut here), (other, &mut there)];
        if repetition % 2 == 1 {
            turns.reverse();
        }
        for (binary, results) in turns {
            let child = Child { binary, only: classes, repetitions: 1, frames: args.frames, valgrind: None };
            let measured = child.run(args, &scratch.path)?;
            merge(results, measured)?;
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    Ok((here, there))
}

/// Adds a child's one repetition to `results`.
fn merge(results: &mut [ClassResult], measured: Vec<ClassResult>) -> Result<(), String> {
    for result in results.iter_mut() {
        let found = measured.iter().find(|m| m.class == result.class);
        let found = found.ok_or_else(|| format!("the child measured no {}", result.class))?;
        result.ns_per_frame_per_repetition.extend(&found.ns_per_frame_per_repetition);
        result.frames_polled += found.frames_polled;
    }
    Ok(())
}

/// Runs `binary` under callgrind once per class, counting instructions
/// only inside the poll function, and sets each class's instructions per frame.
fn count_instructions(args: &BenchCeilingArgs, binary: &Path, results: &mut [ClassResult]) -> Result<(), String> {
    let scratch = ScratchDir::new("netcraq-callgrind")?;
    let progress = crate::progress_bar(results.len() as u64, CEILING_BAR);
    for result in results.iter_mut() {
        let class = OpClass::from_name(&result.class).ok_or_else(|| format!("unknown class {}", result.class))?;
        let out_file = scratch.path.join(format!("callgrind.{}", class.name()));
        let child = Child {
            binary,
            only: &[class],
            repetitions: 1,
            frames: args.instructions_frames,
            valgrind: Some(&out_file),
        };
        let measured = child.run(args, &scratch.path)?;
        let frames = measured.first().map_or(0, |m| m.frames_polled);
        let text = std::fs::read_to_string(&out_file).map_err(|e| format!("reading {}: {e}", out_file.display()))?;
        let instructions = callgrind_total(&text).ok_or_else(|| format!("no totals in {}", out_file.display()))?;
        result.instructions_per_frame = Some(instructions as f64 / frames.max(1) as f64);
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(())
}

/// The event total of a callgrind output file (`summary:` or `totals:`, the first event: Ir).
pub fn callgrind_total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("summary:").or_else(|| line.strip_prefix("totals:")))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|total| total.parse().ok())
}

/// One measuring run of `bench ceiling` in a process of its own.
struct Child<'a> {
    binary: &'a Path,
    only: &'a [OpClass],
    repetitions: u32,
    frames: u64,
    /// Under callgrind, writing its output to this file.
    valgrind: Option<&'a Path>,
}

impl Child<'_> {
    fn run(&self, args: &BenchCeilingArgs, dir: &Path) -> Result<Vec<ClassResult>, String> {
        let json_path = dir.join("child.json");
        let _ = std::fs::remove_file(&json_path);
        let mut command = match self.valgrind {
            None => Command::new(self.binary),
            Some(out_file) => {
                let mut valgrind = Command::new("valgrind");
                valgrind.args(["--tool=callgrind", "--collect-atstart=no"]);
                valgrind.arg(format!("--toggle-collect={POLL_FUNCTION}"));
                valgrind.arg(format!("--callgrind-out-file={}", out_file.display())).arg(self.binary);
                valgrind
            }
        };
        let only: Vec<&str> = self.only.iter().map(|class| class.name()).collect();
        command.args(["bench", "ceiling", "--only", &only.join(",")]);
        command.args(["--repetitions", &self.repetitions.to_string(), "--frames", &self.frames.to_string()]);
        command.args(["--keys", &args.keys.to_string(), "--burst", &args.burst.to_string()]);
        command.arg(format!("--eal={}", args.eal)).arg("--json").arg(&json_path);
        let mut child = Spawned::start("ceiling-child", command, dir, false)?;
        let status = child.wait_until(Instant::now() + CHILD_LIMIT);
        match status {
            Some(status) if status.success() => {}
            Some(status) => {
                return Err(format!("{} failed ({status}):\n{}", self.binary.display(), child.stderr_tail(15)))
            }
            None => return Err(format!("{} did not finish within {CHILD_LIMIT:?}", self.binary.display())),
        }
        let text = std::fs::read_to_string(&json_path).map_err(|e| format!("reading {}: {e}", json_path.display()))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json_path.display()))?;
        let classes = json.get("classes").cloned().unwrap_or_default();
        serde_json::from_value(classes).map_err(|e| format!("{}: {e}", json_path.display()))
    }
}

/// Per class: the other binary's median ns per frame over this one's.
fn speedups(results: &[ClassResult], against: &[ClassResult]) -> Value {
    let pairs = results
        .iter()
        .zip(against)
        .map(|(here, there)| (here.class.clone(), json!(there.median_ns() / here.median_ns())));
    Value::Object(pairs.collect())
}

/// The table: one line per class, with the other binary's figures when measured against one.
pub fn table(results: &[ClassResult], against: Option<&[ClassResult]>) -> String {
    let mut lines = vec![format!(
        "{:<15} {:<20} {:>4} {:>9} {:>8} {:>7} {:>10}{}",
        "class",
        "outcome",
        "out",
        "ns/frame",
        "spread%",
        "Mpps",
        "instr/fr",
        if against.is_some() {
            format!(" {:>11} {:>10} {:>8}", "before ns", "before ins", "speedup")
        } else {
            String::new()
        }
    )];
    for (index, result) in results.iter().enumerate() {
        let median_ns = result.median_ns();
        let mut line = format!(
            "{:<15} {:<20} {:>4} {:>9.1} {:>8.1} {:>7.2} {:>10}",
            result.class,
            result.outcome,
            result.frames_out_per_frame,
            median_ns,
            result.spread_percent(),
            1e3 / median_ns,
            instructions_text(result.instructions_per_frame),
        );
        if let Some(other) = against.and_then(|other| other.get(index)) {
            let speedup = other.median_ns() / median_ns;
            line += &format!(
                " {:>11.1} {:>10} {:>7.2}x",
                other.median_ns(),
                instructions_text(other.instructions_per_frame),
                speedup
            );
        }
        lines.push(line);
    }
    lines.join("\n")
}

fn instructions_text(instructions: Option<f64>) -> String {
    instructions.map_or_else(|| "n/a".to_string(), |i| format!("{i:.0}"))
}

/// `summary: clean_read_ns=X clean_read_mpps=Y target_100ns=met|missed slowest=CLASS:NS [clean_read_speedup=S]`.
pub fn summary_line(results: &[ClassResult], against: Option<&[ClassResult]>) -> String {
    let mut line = String::from("summary:");
    if let Some(read) = results.iter().find(|r| r.class == OpClass::CleanRead.name()) {
        let ns = read.median_ns();
        let met = if ns <= TARGET_CLEAN_READ_NS { "met" } else { "missed" };
        line += &format!(" clean_read_ns={ns:.1} clean_read_mpps={:.2} target_100ns={met}", 1e3 / ns);
        if let Some(before) = against.and_then(|other| other.iter().find(|r| r.class == read.class)) {
            line += &format!(" clean_read_speedup={:.2}", before.median_ns() / ns);
        }
    }
    if let Some(slowest) = results.iter().max_by(|a, b| a.median_ns().total_cmp(&b.median_ns())) {
        line += &format!(" slowest={}:{:.1}ns", slowest.class, slowest.median_ns());
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(class: OpClass, ns: &[f64]) -> ClassResult {
        ClassResult { ns_per_frame_per_repetition: ns.to_vec(), ..ClassResult::new(class) }
    }

    #[derive(clap::Parser)]
    struct Command {
        #[command(flatten)]
        args: BenchCeilingArgs,
    }

    fn parse(words: &[&str]) -> BenchCeilingArgs {
        <Command as clap::Parser>::try_parse_from(std::iter::once("ceiling").chain(words.iter().copied())).unwrap().args
    }

    #[test]
    fn options_are_checked() {
        assert_eq!(parse(&[]).classes().unwrap(), OpClass::ALL);
        assert_eq!(
            parse(&["--only", "tail_commit,clean_read,tail_commit"]).classes().unwrap(),
            [OpClass::TailCommit, OpClass::CleanRead]
        );
        assert!(parse(&["--only", "read"]).classes().unwrap_err().contains("clean_read"));
        assert!(parse(&["--keys", "100", "--burst", "32"]).validate().is_err());
        assert!(parse(&["--keys", "128", "--burst", "32"]).validate().is_ok());
        assert_eq!(parse(&["--keys", "1024", "--frames", "2049"]).batches(2049), 3);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(measured(OpClass::CleanRead, &[80.0, 120.0, 100.0]).spread_percent(), 40.0);
    }

    #[test]
    fn callgrind_totals_are_read() {
        let text = "version: 1\nevents: Ir\nfn=(1) poll_once\n16 5\nsummary: 73369600\n\ntotals: 73369600\n";
        assert_eq!(callgrind_total(text), Some(73_369_600));
        assert_eq!(callgrind_total("events: Ir\nfn=(1) main\n"), None);
    }

    #[test]
    fn the_summary_gives_the_clean_read_its_target_and_the_speedup() {
        let here = [measured(OpClass::CleanRead, &[90.0, 80.0, 85.0]), measured(OpClass::TailCommit, &[300.0])];
        let before = [measured(OpClass::CleanRead, &[170.0]), measured(OpClass::TailCommit, &[400.0])];
        assert_eq!(
            summary_line(&here, Some(&before)),
            "summary: clean_read_ns=85.0 clean_read_mpps=11.76 target_100ns=met clean_read_speedup=2.00 \
             slowest=tail_commit:300.0ns"
        );
        let slow = [measured(OpClass::CleanRead, &[120.0])];
        assert!(summary_line(&slow, None).contains("target_100ns=missed"));
    }

    #[test]
    fn a_child_repetition_is_added_per_class() {
        let mut results = vec![measured(OpClass::CleanRead, &[80.0]), measured(OpClass::MalformedDrop, &[30.0])];
        let child = vec![measured(OpClass::MalformedDrop, &[31.0]), measured(OpClass::CleanRead, &[81.0])];
        merge(&mut results, child).unwrap();
        assert_eq!(results[0].ns_per_frame_per_repetition, [80.0, 81.0]);
        assert_eq!(results[1].ns_per_frame_per_repetition, [30.0, 31.0]);
        assert!(merge(&mut results, vec![]).is_err());
    }
}
