//! The P4 programs (p4/): the checked-in P4Infos are what the compilers emit
//! for `netcraq.p4` and `netcraq_tna.p4` (the latter through the whole
//! Tofino backend, which must place it in Tofino 1's stages), and every
//! conformance vector passes on BMv2. Each runs
//! its script, which says SKIP (repeated here, past the test harness's
//! capture) for every tool that is missing, as on CI.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The vectors on BMv2 take 7 to 13 minutes on 2 busy cores.
const SCRIPT_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Runs `program script` from p4/, bounded in time; returns its stdout.
fn run_script(test: &str, program: &str, script: &str) -> String {
    let p4 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../p4");
    let mut child = Command::new(program)
        .arg(p4.join(script))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{test}: starting {script}: {e}"));
    let deadline = Instant::now() + SCRIPT_LIMIT;
    while child.try_wait().expect("waits").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("{test}: {script} did not finish within {SCRIPT_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("collects the output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{test}: {script} failed:\n{stdout}");
    for skip in stdout.lines().filter(|line| line.starts_with("SKIP")) {
        let _ = writeln!(std::io::stderr(), "SKIP: {test}: {}", skip.trim_start_matches("SKIP: "));
    }
    stdout
}

#[test]
fn the_compilers_emit_the_checked_in_p4infos_and_tofino_1_fits() {
    let out = run_script("the_compilers_emit_the_checked_in_p4infos_and_tofino_1_fits", "bash", "check-programs.sh");
    for check in ["netcraq.p4info.txtpb", "netcraq_tna.p4info.txtpb", "netcraq_tna.p4 "] {
        let verdict = out.lines().find(|line| line.contains(&format!(" {check}")));
        assert!(verdict.is_some_and(|line| line.starts_with("OK: ") || line.starts_with("SKIP: ")), "{check}: {out}");
    }
}

#[test]
fn every_conformance_vector_passes_on_bmv2() {
    let out = run_script("every_conformance_vector_passes_on_bmv2", "python3", "run-vectors.py");
    assert!(out.contains(" 0 failed") || out.contains("SKIP"), "{out}");
}
