//! The load generator against chains of one on loopback.

mod responder;

use std::time::Duration;

use netcraq_client::{
    run_workload, ClientOptions, KeyDistribution, Progress, Stop, Workload, WorkloadError, WorkloadReport, WriteTarget,
};
use netcraq_linearizability::{check, save_history_if_requested, CheckResult, History};
use netcraq_wire::Op;
use responder::{Faults, Responder};

fn workload(operations: u64) -> Workload {
    Workload {
        read_fraction: 0.5,
        keys: 0..8,
        concurrency: 8,
        stop: Stop::AfterOperations(operations),
        seed: 11,
        history_capacity_ops: 100_000,
        ..Workload::default()
    }
}

/// Checks `history`, saved first under the test's name when
/// NETCRAQ_HISTORY_DIR asks (docs/linearizability.md).
fn checked(history: &History) -> CheckResult {
    let name = std::thread::current().name().unwrap_or("workload").to_string();
    save_history_if_requested(history, &name).expect("saves the history");
    check(history)
}

fn assert_counts_consistent(report: &WorkloadReport) {
    assert_eq!(report.ops, report.reads + report.writes + report.errors.total(), "{report:?}");
    assert_eq!(report.latency_us.len(), report.reads + report.writes, "one latency per completed operation");
    assert!(report.latency_us_p50() <= report.latency_us_p99());
    assert!(report.latency_us_p99() <= report.latency_us_p999());
}

fn requests_of(responder: &Responder, op: Op) -> usize {
    responder.requests().iter().filter(|request| request.op == op).count()
}

#[test]
fn a_run_counts_every_operation_once_and_its_history_is_linearizable() {
    let responder = Responder::start(Faults::default());

    let report = run_workload(&[responder.addr()], &workload(2000), |_| {}).unwrap();

    assert_counts_consistent(&report);
    assert_eq!(report.ops, 2000);
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert!(report.reads > 800 && report.writes > 800, "{report:?}");
    assert_eq!(responder.requests().len() as u64, 2000 + report.retransmissions);
    assert!(report.latency_us_p50() > 0);
    assert!(report.ops_per_sec() > 0.0);
    let history = report.history.expect("history requested");
    assert_eq!(history.len(), 2000);
    assert!(!report.history_truncated);
    assert_eq!(checked(&history), CheckResult::Linearizable);
}

#[test]
fn lost_packets_are_retransmitted_and_the_history_stays_linearizable() {
    let responder = Responder::start(Faults { drop_every_nth_request: Some(7), ..Faults::default() });
    let workload = Workload {
        client: ClientOptions { timeout: Duration::from_millis(5), retries: 3, ..ClientOptions::default() },
        ..workload(1000)
    };

    let report = run_workload(&[responder.addr()], &workload, |_| {}).unwrap();

    assert_counts_consistent(&report);
    assert_eq!(report.ops, 1000);
    assert!(report.retransmissions > 50, "{report:?}");
    // A WRITE whose first transmission was lost is answered OUTCOME_UNKNOWN.
    assert!(report.errors.outcome_unknown > 0, "{:?}", report.errors);
    let history = report.history.expect("history requested");
    let indeterminate = history.operations().iter().filter(|operation| !operation.is_determinate()).count();
    let indeterminate = indeterminate as u64;
    assert!(indeterminate >= report.errors.outcome_unknown, "{indeterminate} {:?}", report.errors);
    assert!(
        indeterminate <= report.errors.outcome_unknown + report.errors.timeouts,
        "{indeterminate} {:?}",
        report.errors
    );
    assert_eq!(checked(&history), CheckResult::Linearizable);
}

#[test]
fn writes_refused_by_a_full_window_are_counted_and_left_out_of_the_history() {
    let responder = Responder::start(Faults { refuse_first_writes: 30, ..Faults::default() });

    let report = run_workload(&[responder.addr()], &workload(500), |_| {}).unwrap();

    assert_counts_consistent(&report);
    assert_eq!(report.errors.window_full, 30, "{:?}", report.errors);
    assert_eq!(report.errors.total(), 30, "{:?}", report.errors);
    let history = report.history.expect("history requested");
    assert_eq!(history.len() as u64, report.reads + report.writes);
    assert_eq!(checked(&history), CheckResult::Linearizable);
}

#[test]
fn a_store_serving_stale_reads_is_caught_by_the_checker() {
    let responder = Responder::start(Faults { serve_stale_reads: true, ..Faults::default() });

    let report = run_workload(&[responder.addr()], &workload(500), |_| {}).unwrap();

    let result = checked(&report.history.expect("history requested"));
    assert!(matches!(result, CheckResult::Violation { .. }), "{result}");
}

#[test]
fn reads_spread_over_every_target() {
    let responders = [Responder::start(Faults::default()), Responder::start(Faults::default())];
    let targets = responders.each_ref().map(Responder::addr);
    let workload = Workload { read_fraction: 1.0, ..workload(400) };

    let report = run_workload(&targets, &workload, |_| {}).unwrap();

    assert_eq!(report.reads, 400);
    for responder in &responders {
        assert!(requests_of(responder, Op::Read) > 120, "{} reads", requests_of(responder, Op::Read));
    }
}

#[test]
fn writes_go_to_the_given_node() {
    let (writes_node, reads_node) = (Responder::start(Faults::default()), Responder::start(Faults::default()));
    let workload = Workload { write_target: WriteTarget::Node(writes_node.addr()), ..workload(400) };

    let report = run_workload(&[reads_node.addr()], &workload, |_| {}).unwrap();

    assert_eq!(requests_of(&writes_node, Op::Write) as u64, report.writes);
    assert_eq!(requests_of(&writes_node, Op::Read), 0);
    assert_eq!(requests_of(&reads_node, Op::Write), 0);
    assert_eq!(requests_of(&reads_node, Op::Read) as u64, report.reads);
}

#[test]
fn keys_outside_the_nodes_range_are_counted_as_errors() {
    let responder = Responder::start(Faults { key_range: 0..4, ..Faults::default() });
    let workload = Workload { keys: 0..8, key_distribution: KeyDistribution::Zipf { exponent: 0.8 }, ..workload(600) };

    let report = run_workload(&[responder.addr()], &workload, |_| {}).unwrap();

    assert_counts_consistent(&report);
    assert!(report.errors.key_out_of_range > 50, "{:?}", report.errors);
    assert_eq!(report.errors.total(), report.errors.key_out_of_range);
    assert_eq!(report.retransmissions, 0);
}

#[test]
fn a_timed_run_stops_issuing_on_time_and_reports_progress() {
    let responder = Responder::start(Faults::default());
    let workload = Workload {
        stop: Stop::AfterDuration(Duration::from_millis(300)),
        progress_interval: Duration::from_millis(50),
        ..workload(0)
    };
    let mut progress: Vec<Progress> = Vec::new();

    let report = run_workload(&[responder.addr()], &workload, |snapshot| progress.push(*snapshot)).unwrap();

    assert!(report.duration >= Duration::from_millis(300), "{:?}", report.duration);
    assert!(report.duration < Duration::from_secs(2), "{:?}", report.duration);
    assert!(report.ops > 0);
    assert!(progress.len() >= 3, "{progress:?}");
    assert!(progress.windows(2).all(|pair| pair[0].ops <= pair[1].ops && pair[0].elapsed < pair[1].elapsed));
    assert!(progress.iter().all(|snapshot| snapshot.in_flight <= 8 && snapshot.ops <= report.ops));
}

#[test]
fn a_full_history_keeps_the_operations_invoked_first() {
    let responder = Responder::start(Faults::default());
    let workload = Workload { history_capacity_ops: 100, ..workload(500) };

    let report = run_workload(&[responder.addr()], &workload, |_| {}).unwrap();

    let history = report.history.expect("history requested");
    assert_eq!(history.len(), 100);
    assert!(report.history_truncated);
    assert_eq!(checked(&history), CheckResult::Linearizable);
}

#[test]
fn no_history_is_recorded_unless_asked() {
    let responder = Responder::start(Faults::default());
    let workload = Workload { history_capacity_ops: 0, ..workload(50) };

    let report = run_workload(&[responder.addr()], &workload, |_| {}).unwrap();

    assert!(report.history.is_none());
    assert!(!report.history_truncated);
}

#[test]
fn nonsensical_workloads_are_rejected() {
    let node = "127.0.0.1:20035".parse().unwrap();
    let invalid = [
        (vec![], workload(1)),
        (vec![node], Workload { keys: 5..5, ..workload(1) }),
        (vec![node], Workload { read_fraction: 1.5, ..workload(1) }),
        (vec![node], Workload { concurrency: 0, ..workload(1) }),
        (vec![node], Workload { key_distribution: KeyDistribution::Zipf { exponent: f64::NAN }, ..workload(1) }),
    ];
    for (targets, workload) in invalid {
        let result = run_workload(&targets, &workload, |_| {});
        assert!(matches!(result, Err(WorkloadError::Invalid(_))), "{workload:?}: {result:?}");
    }
}
