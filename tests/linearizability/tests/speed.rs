//! The checker must keep up with the histories the load generator records.

mod common;

use std::time::{Duration, Instant};

use common::{generate, Rng, Shape};
use netcraq_linearizability::{check, CheckResult};

#[test]
fn ten_thousand_operations_over_sixteen_keys_check_quickly() {
    let shape = Shape {
        clients: 8,
        operations: 10_000,
        keys: 16,
        read_percent: 70,
        indeterminate_percent: 2,
        distinct_values: 0,
        max_duration_ns: 50_000,
    };
    let history = generate(&mut Rng::new(42), &shape);

    let started = Instant::now();
    let result = check(&history);
    let elapsed = started.elapsed();

    println!("checked {} operations in {elapsed:?}", history.len());
    assert_eq!(result, CheckResult::Linearizable);
    // Unoptimised builds are an order of magnitude slower; the bound that
    // matters is the release one.
    let bound = if cfg!(debug_assertions) { Duration::from_secs(10) } else { Duration::from_millis(500) };
    assert!(elapsed < bound, "took {elapsed:?}");
}
