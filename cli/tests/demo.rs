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

/// A bounded failure run: the middle node is killed a third of the way in;
/// the marks come in order, nothing is lost, the history is linearizable,
/// the plot is written and nothing of the run remains.
#[test]
fn as_root_the_demo_kills_the_middle_node_and_loses_nothing() {
    if !netcraq_topology::running_as_root() {
        eprintln!("SKIP: as_root_the_demo_kills_the_middle_node_and_loses_nothing needs root");
        return;
    }
    let plot = std::env::temp_dir().join(format!("netcraq-demo-test-{}.svg", std::process::id()));
    let plot_arg = plot.to_str().expect("utf-8 path");
    let child = Command::new(env!("CARGO_BIN_EXE_netcraq"))
        .args(["demo", "--kill-node", "--seconds", "6", "--keys", "200", "--plot", plot_arg])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the netcraq binary runs");
    let pid = child.id();
    let output = child.wait_with_output().expect("the demo ends");
    let text = String::from_utf8_lossy(&output.stdout);
    println!("{text}");
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    let mark_line = |label: &str| {
        text.lines()
            .position(|line| line.contains(&format!("<- {label}: ")))
            .unwrap_or_else(|| panic!("no {label} mark"))
    };
    let order: Vec<usize> = ["failure", "detected", "failover", "recovery"].iter().map(|l| mark_line(l)).collect();
    assert!(order.windows(2).all(|pair| pair[0] <= pair[1]), "marks out of order: {order:?}");
    assert!(text.contains("<- failure: n2 killed (kill -9)"), "the middle node is the one killed");
    assert!(text.contains("remove n2 done: n1 -> n3") && text.contains("add n4 done: n1 -> n3 -> n4"));
    assert!(text.contains("lost: nothing."), "the summary says nothing was lost");
    assert!(text.contains("read back at n1, n3, n4: they agree on 200 of them"));
    assert!(text.contains("final reads is linearizable"), "the history is linearizable");
    let svg = std::fs::read_to_string(&plot).expect("the plot is written");
    assert!(svg.contains("<svg") && svg.contains("failover") && svg.contains("ops/s"));
    assert!(text.contains(&format!("plot: {plot_arg}")));
    std::fs::remove_file(&plot).expect("plot removed");
    let namespaces = Command::new("ip").args(["netns", "list"]).output().expect("ip runs");
    assert!(!String::from_utf8_lossy(&namespaces.stdout).contains(&format!("ncq{pid}-")), "namespaces remain");
}

#[test]
fn kill_node_refuses_what_it_cannot_run() {
    let cases: [(&[&str], &str); 3] = [
        (&["demo", "--kill-node", "--simulated"], "cannot be used with"),
        (&["demo", "--kill-node", "second"], "give head, middle, tail or a node"),
        (&["demo", "--plot", "x.svg"], "--kill-node"),
    ];
    for (args, message) in cases {
        let output = netcraq(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let output = netcraq(&["demo", "--kill-node", "--nodes", "2"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("no middle node") || stderr.contains("needs root") || stderr.contains("run as root"),
        "{stderr}"
    );
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
    let options =
        ["--nodes", "--seconds", "--read-fraction", "--keys", "--seed", "--json", "--simulated", "namespaces"];
    for option in options.into_iter().chain(["--kill-node", "--plot", "failover", "recovery"]) {
        assert!(demo_help.contains(option), "demo --help mentions {option}");
    }
}
