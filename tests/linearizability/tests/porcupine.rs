//! Porcupine, a linearizability checker nobody here wrote, agrees with ours
//! on histories in the JSON format of docs/linearizability.md. Needs `go` on
//! PATH (the test prints SKIP without it); the first build downloads
//! Porcupine into Go's module cache.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{generate, read_count, starting_unknown, value, with_read_value, written_values, Rng, Shape};
use netcraq_linearizability::{check, History, InitialValue, Operation};

/// Long enough for a first build that downloads Porcupine.
const BUILD_LIMIT: Duration = Duration::from_secs(300);
/// Per history; the ones here take milliseconds.
const CHECK_LIMIT: Duration = Duration::from_secs(60);

/// The built `tests/porcupine` command and where histories for it go.
struct Porcupine {
    binary: PathBuf,
    histories: PathBuf,
}

impl Porcupine {
    /// Built once per test binary; `None` when `go` is not on PATH.
    fn get(test: &str) -> Option<&'static Porcupine> {
        static PORCUPINE: OnceLock<Option<Porcupine>> = OnceLock::new();
        let porcupine = PORCUPINE.get_or_init(Porcupine::build).as_ref();
        if porcupine.is_none() {
            println!("SKIP {test}: go is not on PATH");
        }
        porcupine
    }

    fn build() -> Option<Porcupine> {
        Command::new("go").arg("version").stdout(Stdio::null()).status().ok()?;
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let binary = scratch.join("porcupine-check");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../porcupine");
        let mut build = Command::new("go");
        // -mod=readonly: go.mod and go.sum as committed; nothing is written to the repository.
        build.args(["build", "-o"]).arg(&binary).arg(".").current_dir(source);
        build.env("GOFLAGS", "-mod=readonly -buildvcs=false");
        let output = run_bounded(&mut build, BUILD_LIMIT);
        assert!(output.status.success(), "go build failed: {}", String::from_utf8_lossy(&output.stderr));
        let histories = scratch.join("porcupine-histories");
        std::fs::create_dir_all(&histories).unwrap();
        Some(Porcupine { binary, histories })
    }

    /// Porcupine's verdict on `history`, saved as `<name>.json`; the file is
    /// removed unless the verdict differs from ours, to look into then.
    fn is_linearizable(&self, history: &History, name: &str) -> bool {
        let path = self.histories.join(format!("{name}.json"));
        std::fs::write(&path, history.to_porcupine_json().unwrap()).unwrap();
        let output = run_bounded(Command::new(&self.binary).arg(&path), CHECK_LIMIT);
        let verdict = match output.status.code() {
            Some(0) => true,
            Some(1) => false,
            _ => panic!("{name}: no verdict: {output:?}"),
        };
        let ours = check(history);
        assert_eq!(
            verdict,
            ours.is_linearizable(),
            "{name}: Porcupine and ours disagree on {}: {ours}",
            path.display()
        );
        std::fs::remove_file(&path).unwrap();
        verdict
    }
}

/// Runs `command` in its own process group, killing the group if it outlives `limit`.
fn run_bounded(command: &mut Command, limit: Duration) -> Output {
    let child = command.process_group(0).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let deadline = Instant::now() + limit;
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if Instant::now() >= deadline {
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
            panic!("{command:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    waiter.join().unwrap()
}

fn write(client: u32, invoke_ns: u64, return_ns: u64, text: &str) -> Operation {
    Operation::write(client, 1, invoke_ns, return_ns, value(text))
}

fn read(client: u32, invoke_ns: u64, return_ns: u64, text: &str) -> Operation {
    Operation::read(client, 1, invoke_ns, return_ns, value(text))
}

#[test]
fn porcupine_finds_generated_histories_linearizable() {
    let Some(porcupine) = Porcupine::get("porcupine_finds_generated_histories_linearizable") else { return };
    for seed in 0..12 {
        let mut rng = Rng::new(seed);
        let shape = Shape {
            clients: 1 + rng.below(8) as u32,
            operations: 50 + rng.below(300) as usize,
            keys: 1 + rng.below(4) as u16,
            read_percent: rng.below(100),
            indeterminate_percent: rng.below(30),
            distinct_values: rng.below(4),
            max_duration_ns: 1 + rng.below(1000),
        };
        let history = generate(&mut rng, &shape);
        assert!(porcupine.is_linearizable(&history, &format!("generated-{seed}")));
        assert!(porcupine.is_linearizable(&starting_unknown(&history), &format!("generated-unknown-{seed}")));
    }
}

#[test]
fn porcupine_finds_a_stale_read_after_an_acknowledged_write() {
    let Some(porcupine) = Porcupine::get("porcupine_finds_a_stale_read_after_an_acknowledged_write") else { return };
    let stale: History = [write(0, 0, 10, "a"), write(0, 20, 30, "b"), read(1, 40, 50, "a")].into_iter().collect();
    assert!(!porcupine.is_linearizable(&stale, "stale-read"));
    let fresh: History = [write(0, 0, 10, "a"), write(0, 20, 30, "b"), read(1, 25, 50, "a")].into_iter().collect();
    assert!(porcupine.is_linearizable(&fresh, "read-concurrent-with-the-write"));
}

#[test]
fn porcupine_agrees_on_unknown_outcomes_and_initial_values() {
    let Some(porcupine) = Porcupine::get("porcupine_agrees_on_unknown_outcomes_and_initial_values") else { return };
    let unknown_write = |invoke_ns| Operation::indeterminate_write(2, 1, invoke_ns, invoke_ns + 5, value("x"));
    let late: History = [unknown_write(0), read(1, 100, 110, ""), read(1, 120, 130, "x")].into_iter().collect();
    assert!(porcupine.is_linearizable(&late, "unknown-outcome-write-takes-effect-late"));
    let never: History = [unknown_write(0), read(1, 100, 110, "")].into_iter().collect();
    assert!(porcupine.is_linearizable(&never, "unknown-outcome-write-never-takes-effect"));
    let before: History = [read(1, 0, 10, "x"), unknown_write(20)].into_iter().collect();
    assert!(!porcupine.is_linearizable(&before, "read-before-the-write-is-invoked"));

    let mut disagreeing = History::with_initial_value(InitialValue::Unknown);
    [read(0, 0, 10, "p"), read(1, 20, 30, "q")].into_iter().for_each(|operation| disagreeing.push(operation));
    assert!(!porcupine.is_linearizable(&disagreeing, "unknown-initial-value-read-two-ways"));
    let agreeing = with_read_value(&disagreeing, 1, value("p"));
    assert!(porcupine.is_linearizable(&agreeing, "unknown-initial-value-read-one-way"));
}

#[test]
fn porcupine_agrees_on_mutated_histories() {
    let Some(porcupine) = Porcupine::get("porcupine_agrees_on_mutated_histories") else { return };
    let (mut linearizable, mut violations) = (0, 0);
    for seed in 0..200 {
        let mut rng = Rng::new(seed);
        let shape = Shape {
            clients: 3,
            operations: 2 + rng.below(12) as usize,
            keys: 1 + rng.below(2) as u16,
            read_percent: 50,
            indeterminate_percent: 20,
            distinct_values: 3,
            max_duration_ns: 30,
        };
        let history = generate(&mut rng, &shape);
        if read_count(&history) == 0 {
            continue;
        }
        let values = written_values(&history);
        let replacement = values[rng.below(values.len() as u64) as usize];
        let mutated = with_read_value(&history, rng.below(read_count(&history) as u64) as usize, replacement);
        match porcupine.is_linearizable(&mutated, &format!("mutated-{seed}")) {
            true => linearizable += 1,
            false => violations += 1,
        }
    }
    println!("{linearizable} mutated histories linearizable, {violations} not, by both checkers");
    assert!(linearizable > 30 && violations > 30, "{linearizable} linearizable, {violations} violations");
}
