//! Interop with a real P4Runtime peer: p4runtime-shell (PyPI), the shell
//! P4 operators use against BMv2 and Tofino, drives a node's server: it
//! fetches the P4Info, inserts an ipv4_route entry (and sees a duplicate
//! refused with ALREADY_EXISTS in the spec's error details) and reads a
//! counter. The results are checked here, the entry also over the Rust client.
//!
//! p4runtime-shell lives in a venv under target/ (tests/run.sh installs it);
//! the test installs it there itself when missing, and fails, saying why,
//! when it cannot.

mod support;

use netcraq_core::{Outcome, Route};
use netcraq_p4runtime::proto::p4::v1 as p4;
use netcraq_p4runtime_client::entity;
use netcraq_wire::MacAddr;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{bounded, read_frame, Fixture};

const SESSION_TIME_LIMIT: Duration = Duration::from_secs(60);
const INSTALL_TIME_LIMIT: Duration = Duration::from_secs(480);
/// Frames the unconfigured node drops before the shell reads the counter.
const DROPPED_FRAMES: u64 = 3;

fn venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/p4runtime-shell-venv")
}

/// The venv's python with p4runtime-shell importable: NETCRAQ_P4RUNTIME_SHELL_PYTHON
/// if set, else target/p4runtime-shell-venv, created and filled when missing.
fn shell_python() -> PathBuf {
    if let Some(python) = std::env::var_os("NETCRAQ_P4RUNTIME_SHELL_PYTHON") {
        return PathBuf::from(python);
    }
    let python = venv().join("bin/python");
    let importable = |python: &Path| {
        Command::new(python).args(["-c", "import p4runtime_sh.shell"]).output().is_ok_and(|o| o.status.success())
    };
    if importable(&python) {
        return python;
    }
    eprintln!("installing p4runtime-shell into {} (tests/run.sh does this up front)", venv().display());
    let venv = venv();
    let steps: [(&str, Vec<&str>); 2] = [
        ("python3", vec!["-m", "venv", venv.to_str().expect("UTF-8 path")]),
        (python.to_str().expect("UTF-8 path"), vec!["-m", "pip", "install", "--quiet", "p4runtime-shell"]),
    ];
    for (program, args) in steps {
        let status = run_bounded(Command::new(program).args(&args), INSTALL_TIME_LIMIT);
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "could not install p4runtime-shell ({program} {} -> {status:?}): run `bash tests/run.sh`, or \
             `python3 -m venv target/p4runtime-shell-venv && target/p4runtime-shell-venv/bin/pip install \
             p4runtime-shell` (needs python3-venv and access to PyPI), or point NETCRAQ_P4RUNTIME_SHELL_PYTHON \
             at a python that has it",
            args.join(" ")
        );
    }
    assert!(importable(&python), "p4runtime-shell installed into {} but does not import", venv.display());
    python
}

fn run_bounded(command: &mut Command, limit: Duration) -> Result<std::process::ExitStatus, String> {
    let mut child = command.stdin(Stdio::null()).spawn().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => return Ok(status),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("killed after {} s", limit.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Runs the shell session against `address`; its JSON report.
fn shell_session(python: &Path, address: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/p4runtime_shell_session.py");
    let output_path = std::env::temp_dir().join(format!("netcraq-p4runtime-shell-{}.json", std::process::id()));
    let output = std::fs::File::create(&output_path).expect("report file");
    let status = run_bounded(Command::new(python).arg(&script).arg(address).stdout(output), SESSION_TIME_LIMIT);
    let text = std::fs::read_to_string(&output_path).unwrap_or_default();
    let _ = std::fs::remove_file(&output_path);
    assert!(status.as_ref().is_ok_and(|s| s.success()), "the p4runtime-shell session failed ({status:?}): {text}");
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("the session printed no JSON report ({e}): {text}"))
}

#[test]
fn p4runtime_shell_reads_the_p4info_inserts_a_route_and_reads_a_counter() {
    let python = shell_python();
    let fixture = Fixture::start();
    for _ in 0..DROPPED_FRAMES {
        fixture.inject(read_frame(5));
    }
    // The injected frames are processed by the poll thread within a round.
    std::thread::sleep(Duration::from_millis(200));
    let report = shell_session(&python, &fixture.address());

    let names = |key: &str| -> Vec<String> {
        report[key].as_array().expect(key).iter().map(|v| v.as_str().expect("name").to_string()).collect()
    };
    let tables = [
        "NetcraqIngress.fabric_port",
        "NetcraqIngress.ipv4_route",
        "NetcraqIngress.key_group",
        "NetcraqIngress.node_config",
    ];
    assert_eq!(names("tables"), tables, "{report}");
    assert_eq!(
        names("counters"),
        ["NetcraqIngress.key_reads", "NetcraqIngress.key_writes", "NetcraqIngress.outcomes"],
        "{report}"
    );
    let duplicate = report["duplicate_insert"].as_str().expect("duplicate_insert");
    assert!(duplicate.contains("ALREADY_EXISTS"), "the shell decoded our per-update error: {duplicate}");
    assert_eq!(report["drop_unconfigured"], serde_json::json!([DROPPED_FRAMES]), "{report}");
    assert_eq!(report["outcome_indices"], serde_json::json!(Outcome::COUNT), "{report}");
    let routes = report["routes_read_by_shell"].as_array().expect("routes");
    assert_eq!(routes.len(), 1, "{report}");
    assert_eq!((routes[0]["dst_ip"].as_str(), routes[0]["prefix_len"].as_i64()), (Some("0a090000"), Some(16)));
    assert_eq!(routes[0]["params"]["1"].as_str(), Some("03"), "canonical bitstrings in our answers: {report}");

    // The entry the shell inserted, read over the Rust client.
    bounded(async {
        let mut client = fixture.client().await;
        let query = p4::TableEntry { table_id: fixture.ids.ipv4_route, ..Default::default() };
        let found = client.read(vec![entity(p4::entity::Entity::TableEntry(query))]).await.expect("read");
        let routes: Vec<Route> = found
            .iter()
            .map(|e| match &e.entity {
                Some(p4::entity::Entity::TableEntry(entry)) => {
                    fixture.ids.parse_route_entry(&fixture.index, entry).expect("valid entry")
                }
                other => panic!("{other:?}"),
            })
            .collect();
        let expected =
            Route { prefix: [10, 9, 0, 0].into(), prefix_len: 16, port: 3, mac: MacAddr([2, 0, 0, 0, 9, 3]) };
        assert_eq!(routes, vec![expected]);
    });
}
