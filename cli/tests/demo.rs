//! `netcraq demo` as a user runs it: the binary, its JSON, its errors.

use serde_json::Value;
use std::process::{Command, Output};

fn netcraq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netcraq")).args(args).output().expect("the netcraq binary runs")
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("{value} is not a number"))
}

#[test]
fn demo_json_compares_craq_and_cr_on_the_same_chain() {
    let output = netcraq(&["demo", "--simulated", "--json", "--seconds", "0.002", "--keys", "200", "--seed", "4"]);
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(report["network"], "in_memory");
    check_modes(&report);
}

/// Both modes measured, and the reads each node answered as CRAQ and CR say.
fn check_modes(report: &Value) {
    assert_eq!(report["setup"]["nodes"], 3);
    assert!(number(&report["craq_to_cr_read_throughput_ratio"]) > 0.0);
    let modes = report["modes"].as_array().unwrap();
    let names: Vec<&str> = modes.iter().map(|m| m["mode"].as_str().unwrap()).collect();
    assert_eq!(names, ["CRAQ", "CR"]);
    for mode in modes {
        for field in ["ops_per_s", "reads_per_s", "writes_per_s", "latency_us_p50"] {
            assert!(number(&mode[field]) > 0.0, "{field} of {}", mode["mode"]);
        }
        assert!(number(&mode["latency_us_p99"]) >= number(&mode["latency_us_p50"]));
        let roles: Vec<&str> = mode["nodes"].as_array().unwrap().iter().map(|n| n["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["HEAD", "REPLICA", "TAIL"]);
    }
    let (craq, cr) = (&modes[0]["nodes"], &modes[1]["nodes"]);
    for node in craq.as_array().unwrap() {
        assert!(number(&node["reads_local"]) > 0.0, "CRAQ: every node answers clean reads: {node}");
    }
    for node in &cr.as_array().unwrap()[..2] {
        assert_eq!(number(&node["reads_local"]), 0.0, "CR: only the tail answers: {node}");
        assert!(number(&node["reads_to_tail"]) > 0.0);
    }
    assert!(number(&cr[2]["reads_local"]) > 0.0);
}

#[test]
fn the_table_says_the_network_and_times_are_simulated() {
    let output = netcraq(&["demo", "--simulated", "--seconds", "0.001", "--nodes", "1"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let first_line = text.lines().next().unwrap();
    assert!(first_line.contains("in-memory network") && first_line.contains("simulated"), "{first_line}");
    assert!(text.contains("CRAQ/CR read throughput"));
}

#[test]
fn as_root_the_demo_runs_on_namespaces_with_real_packets() {
    if !netcraq_topology::running_as_root() {
        eprintln!("SKIP: as_root_the_demo_runs_on_namespaces_with_real_packets needs root");
        return;
    }
    let output = netcraq(&["demo", "--json", "--seconds", "0.5", "--keys", "100"]);
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(report["network"], "namespaces");
    assert!(report["network_description"].as_str().unwrap().contains("wall-clock"));
    check_modes(&report);
}

#[test]
fn bad_option_values_exit_non_zero_with_a_message() {
    let cases: [&[&str]; 6] = [
        &["demo", "--nodes", "0"],
        &["demo", "--nodes", "many"],
        &["demo", "--read-fraction", "1.5"],
        &["demo", "--seconds=0"],
        &["demo", "--keys", "70000"],
        &["demo", "--no-such-flag"],
    ];
    for args in cases {
        let output = netcraq(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("error:") && !stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn help_teaches_what_netcraq_and_the_demo_are() {
    let help = String::from_utf8(netcraq(&["--help"]).stdout).unwrap();
    for phrase in ["chain", "CRAQ", "CR ", "demo"] {
        assert!(help.contains(phrase), "--help mentions {phrase}: {help}");
    }
    let demo_help = String::from_utf8(netcraq(&["demo", "--help"]).stdout).unwrap();
    for option in ["--nodes", "--seconds", "--read-fraction", "--keys", "--seed", "--json", "--simulated", "namespaces"]
    {
        assert!(demo_help.contains(option), "demo --help mentions {option}");
    }
}
