//! `netcraq bench figures` on a real chain: three software nodes (or BMv2
//! switches) on namespaces, each capped, CRAQ against CR at 100 % reads.
//! Needs root (CI runs as root), and BMv2 for its test; otherwise it says SKIP.

mod support;

use serde_json::Value;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Each run needs the CPUs to itself to reach its nodes' caps: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Far above the run's ~15 s: two chain starts and four points of a second.
const RUN_LIMIT: Duration = Duration::from_secs(180);

#[test]
fn capped_software_nodes_give_craq_at_least_twice_crs_reads_on_three_nodes() {
    if !support::running_as_root("capped_software_nodes_give_craq_at_least_twice_crs_reads_on_three_nodes") {
        return;
    }
    three_capped_nodes_give_craq_at_least_twice_crs_reads("software");
}

#[test]
fn capped_bmv2_switches_give_craq_at_least_twice_crs_reads_on_three_nodes() {
    let test = "capped_bmv2_switches_give_craq_at_least_twice_crs_reads_on_three_nodes";
    if !support::running_as_root(test) || !support::bmv2_available(test) {
        return;
    }
    three_capped_nodes_give_craq_at_least_twice_crs_reads("bmv2");
}

/// Runs `bench figures` (from the repository's root, where p4/build is) on three capped nodes of `kind`.
fn three_capped_nodes_give_craq_at_least_twice_crs_reads(kind: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = std::env::temp_dir().join(format!("netcraq-figures-{kind}-{}", std::process::id()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_netcraq"));
    command.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    command
        .args(["bench", "figures", "--kinds", kind, "--nodes", "3", "--rounds", "1", "--seconds", "1"])
        .args(["--read-fractions", "1", "--service-rate-fps", "1000", "--nice", "-10", "--out"])
        .arg(&out);
    // In a session of its own, so --nice weighs its session, not the test's.
    netcraq_topology::start_in_new_session(&mut command);
    let stderr_path = out.with_extension("stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("a file for the run's stderr");
    let mut child = command.stdout(Stdio::null()).stderr(stderr).spawn().expect("the netcraq binary runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the run") {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            // Its own session: SIGINT lets it take the chain down, as Ctrl-C would.
            let pid = libc::pid_t::try_from(child.id()).expect("a PID fits pid_t");
            netcraq_topology::send_signal(pid, libc::SIGINT);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let json = std::fs::read(out.join("figures.json"));
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(&stderr_path);
    let status = status.unwrap_or_else(|| panic!("no result within {RUN_LIMIT:?}; stderr: {stderr}"));
    assert!(status.success(), "stderr: {stderr}");
    let figures: Value = serde_json::from_slice(&json.expect("figures.json written")).expect("figures.json is JSON");
    let summary = &figures["summary"][0];
    assert_eq!((summary["kind"].as_str(), summary["nodes"].as_u64()), (Some(kind), Some(3)));
    let ratio = summary["ratio_all_reads"].as_f64().expect("both modes measured");
    assert!(ratio >= 2.0, "CRAQ/CR at 100 % reads on 3 capped nodes: {ratio}");
    let frames: Vec<f64> = figures["measurements"][0]["node_frames_per_s"]
        .as_array()
        .expect("per-node rates")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert!(frames.iter().all(|fps| *fps <= 1000.0 * 1.1), "a node took more than its cap: {frames:?}");
}
