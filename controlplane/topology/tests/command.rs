//! Bounded commands and their errors: the command line and stderr, always.

use netcraq_topology::{command_line, run_command, CommandFailure};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_failing_command_reports_its_command_line_status_and_stderr() {
    let mut command = Command::new("sh");
    command.args(["-c", "echo 'no such thing' >&2; exit 3"]);
    let error = run_command(&mut command, Duration::from_secs(5)).unwrap_err();
    assert!(matches!(&error.failure, CommandFailure::Exit { status, .. } if status.code() == Some(3)));
    assert_eq!(
        error.to_string(),
        "`sh -c 'echo '\\''no such thing'\\'' >&2; exit 3'` failed (exit status: 3): no such thing"
    );
}

#[test]
fn a_command_that_outlives_its_limit_is_killed_at_the_limit() {
    let started = Instant::now();
    let error = run_command(Command::new("sleep").arg("5"), Duration::from_millis(200)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(error.to_string(), "`sleep 5` did not finish within 200ms and was killed");
}

#[test]
fn a_missing_program_cannot_start_and_success_returns_stdout() {
    let error = run_command(&mut Command::new("/nonexistent/program"), Duration::from_secs(5)).unwrap_err();
    assert!(error.to_string().starts_with("`/nonexistent/program` could not start: "), "{error}");
    let output = run_command(Command::new("echo").args(["10.0.0.1", "dev eth1"]), Duration::from_secs(5)).unwrap();
    assert_eq!(output, "10.0.0.1 dev eth1\n");
    assert_eq!(
        command_line(Command::new("ip").args(["-n", "ncq1-0-h1", "route", "get", "10.0.0.3"])),
        "ip -n ncq1-0-h1 route get 10.0.0.3"
    );
}
