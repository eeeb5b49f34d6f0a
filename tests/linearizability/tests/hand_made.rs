//! Small histories whose verdict is known by reasoning.

mod common;

use common::value;
use netcraq_linearizability::{
    check, check_with_options, CheckOptions, CheckResult, History, InitialValue, Operation, Value,
};

const KEY: u16 = 7;
const ZERO: Value = [0; 16];

fn read(client: u32, invoke_ns: u64, return_ns: u64, text: &str) -> Operation {
    Operation::read(client, KEY, invoke_ns, return_ns, value(text))
}

fn write(client: u32, invoke_ns: u64, return_ns: u64, text: &str) -> Operation {
    Operation::write(client, KEY, invoke_ns, return_ns, value(text))
}

fn indeterminate(client: u32, invoke_ns: u64, gave_up_ns: u64, text: &str) -> Operation {
    Operation::indeterminate_write(client, KEY, invoke_ns, gave_up_ns, value(text))
}

fn explanation_of(result: CheckResult) -> String {
    match result {
        CheckResult::Violation { key, explanation } => {
            assert_eq!(key, KEY);
            explanation
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn an_empty_history_is_linearizable() {
    assert_eq!(check(&History::new()), CheckResult::Linearizable);
}

#[test]
fn reading_the_initial_zeros_is_linearizable() {
    let history = History::from_iter([Operation::read(0, KEY, 0, 10, ZERO)]);
    assert_eq!(check(&history), CheckResult::Linearizable);
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    for seen in ["", "a"] {
        let history = History::from_iter([write(0, 0, 100, "a"), read(1, 10, 20, seen), read(1, 200, 210, "a")]);
        assert_eq!(check(&history), CheckResult::Linearizable, "read saw {seen:?}");
    }
}

#[test]
fn a_stale_read_after_a_completed_write_is_a_violation() {
    let history = History::from_iter([write(0, 0, 10, "a"), read(1, 20, 30, "")]);
    let explanation = explanation_of(check(&history));
    assert!(explanation.contains("client 1: read -> 0x0000"), "{explanation}");
    assert!(explanation.contains("client 0: write a (acknowledged)"), "{explanation}");
    assert!(explanation.contains("leaving the register at a"), "{explanation}");
}

#[test]
fn a_write_observed_then_unobserved_is_a_violation() {
    let history = History::from_iter([write(0, 0, 100, "a"), read(1, 10, 20, "a"), read(1, 30, 40, "")]);
    explanation_of(check(&history));
}

#[test]
fn two_readers_seeing_concurrent_writes_in_opposite_orders_is_a_violation() {
    let history = History::from_iter([
        write(0, 0, 100, "a"),
        write(1, 0, 100, "b"),
        read(2, 10, 20, "a"),
        read(2, 30, 40, "b"),
        read(3, 10, 20, "b"),
        read(3, 30, 40, "a"),
    ]);
    explanation_of(check(&history));
}

#[test]
fn two_readers_seeing_concurrent_writes_in_the_same_order_is_linearizable() {
    let history = History::from_iter([
        write(0, 0, 100, "a"),
        write(1, 0, 100, "b"),
        read(2, 10, 20, "a"),
        read(2, 30, 40, "b"),
        read(3, 10, 20, "a"),
        read(3, 30, 40, "b"),
    ]);
    assert_eq!(check(&history), CheckResult::Linearizable);
}

#[test]
fn one_write_applied_twice_around_another_is_a_violation() {
    let history = History::from_iter([
        write(0, 0, 100, "a"),
        write(1, 0, 100, "b"),
        read(2, 10, 20, "a"),
        read(2, 30, 40, "b"),
        read(2, 50, 60, "a"),
    ]);
    explanation_of(check(&history));
}

#[test]
fn the_same_pattern_is_linearizable_when_the_value_is_written_twice() {
    let history = History::from_iter([
        write(0, 0, 100, "a"),
        write(1, 0, 100, "b"),
        write(3, 0, 100, "a"),
        read(2, 10, 20, "a"),
        read(2, 30, 40, "b"),
        read(2, 50, 60, "a"),
    ]);
    assert_eq!(check(&history), CheckResult::Linearizable);
}

#[test]
fn an_indeterminate_write_may_appear_long_after_the_client_gave_up() {
    let history = History::from_iter([indeterminate(0, 0, 10, "a"), read(1, 20, 30, ""), read(1, 1000, 1010, "a")]);
    assert_eq!(check(&history), CheckResult::Linearizable);
}

#[test]
fn an_indeterminate_write_may_never_appear() {
    let history = History::from_iter([indeterminate(0, 0, 10, "a"), read(1, 20, 30, ""), read(1, 1000, 1010, "")]);
    assert_eq!(check(&history), CheckResult::Linearizable);
}

#[test]
fn an_indeterminate_write_cannot_appear_before_its_invocation() {
    let history = History::from_iter([read(1, 0, 10, "a"), indeterminate(0, 20, 30, "a")]);
    explanation_of(check(&history));
}

#[test]
fn an_indeterminate_write_observed_then_unobserved_is_a_violation() {
    let history = History::from_iter([indeterminate(0, 0, 10, "a"), read(1, 20, 30, "a"), read(1, 40, 50, "")]);
    let explanation = explanation_of(check(&history));
    assert!(explanation.contains("(outcome unknown)"), "{explanation}");
}

#[test]
fn an_indeterminate_write_cannot_resurface_after_a_later_write() {
    let history = History::from_iter([
        indeterminate(0, 0, 10, "a"),
        read(1, 20, 30, "a"),
        write(2, 40, 50, "b"),
        read(1, 60, 70, "a"),
    ]);
    explanation_of(check(&history));
}

#[test]
fn many_unobserved_indeterminate_writes_do_not_blow_up_the_search() {
    let mut history: History = (0..60).map(|client| indeterminate(client, client.into(), 5000, "lost")).collect();
    history.push(write(100, 100, 110, "kept"));
    (0..200).for_each(|step| history.push(read(101, 200 + 10 * step, 205 + 10 * step, "kept")));
    let options = CheckOptions { max_steps_per_key: 100_000 };
    assert_eq!(check_with_options(&history, &options), CheckResult::Linearizable);
}

#[test]
fn keys_are_independent() {
    let history = History::from_iter([
        Operation::write(0, 1, 0, 10, value("a")),
        Operation::read(1, 2, 20, 30, ZERO),
        Operation::read(1, 1, 40, 50, value("a")),
    ]);
    assert_eq!(check(&history), CheckResult::Linearizable);
}

#[test]
fn the_violating_key_is_reported() {
    let history = History::from_iter([
        Operation::write(0, 1, 0, 10, value("a")),
        Operation::write(0, 2, 20, 30, value("b")),
        Operation::read(1, 2, 40, 50, ZERO),
    ]);
    assert!(matches!(check(&history), CheckResult::Violation { key: 2, .. }));
}

#[test]
fn an_unknown_initial_value_may_be_anything_but_only_one_thing() {
    let consistent = [read(0, 0, 10, "old"), read(1, 20, 30, "old")];
    let mut history = History::with_initial_value(InitialValue::Unknown);
    consistent.into_iter().for_each(|operation| history.push(operation));
    assert_eq!(check(&history), CheckResult::Linearizable);

    history.push(read(1, 40, 50, "other"));
    explanation_of(check(&history));
}

#[test]
fn operations_touching_at_one_instant_are_concurrent() {
    let history = History::from_iter([write(0, 0, 10, "a"), read(1, 10, 20, "")]);
    assert_eq!(check(&history), CheckResult::Linearizable);
}

#[test]
fn an_exhausted_budget_is_inconclusive() {
    let history = History::from_iter([write(0, 0, 10, "a"), read(1, 20, 30, "a"), read(1, 40, 50, "a")]);
    let options = CheckOptions { max_steps_per_key: 2 };
    assert_eq!(check_with_options(&history, &options), CheckResult::Inconclusive { key: KEY });
}

#[test]
#[should_panic(expected = "before it was invoked")]
fn an_operation_returning_before_its_invocation_is_rejected() {
    History::new().push(read(0, 20, 10, ""));
}
