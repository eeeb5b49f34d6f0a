//! Generated histories: linearizable by construction, and mutated ones judged
//! against a brute-force checker.

mod common;

use common::{brute_force_linearizable, generate, read_count, with_read_value, written_values, Rng, Shape};
use netcraq_linearizability::{check, CheckResult};

fn tiny_shape(operations: usize) -> Shape {
    Shape {
        clients: 3,
        operations,
        keys: 1,
        read_percent: 50,
        indeterminate_percent: 20,
        distinct_values: 3,
        max_duration_ns: 30,
    }
}

#[test]
fn generated_histories_are_linearizable() {
    for seed in 0..300 {
        let mut rng = Rng::new(seed);
        let shape = Shape {
            clients: 1 + rng.below(6) as u32,
            operations: 1 + rng.below(200) as usize,
            keys: 1 + rng.below(4) as u16,
            read_percent: rng.below(100),
            indeterminate_percent: rng.below(30),
            distinct_values: rng.below(4),
            max_duration_ns: 1 + rng.below(100),
        };
        let history = generate(&mut rng, &shape);
        assert_eq!(check(&history), CheckResult::Linearizable, "seed {seed}");
    }
}

#[test]
fn the_checker_agrees_with_brute_force_on_tiny_histories() {
    let (mut linearizable, mut violations) = (0, 0);
    for seed in 0..3000 {
        let mut rng = Rng::new(seed);
        let size = 1 + rng.below(7) as usize;
        let history = generate(&mut rng, &tiny_shape(size));
        assert!(brute_force_linearizable(&history), "the generator made a non-linearizable history, seed {seed}");
        assert_eq!(check(&history), CheckResult::Linearizable, "seed {seed}");
        if read_count(&history) == 0 {
            continue;
        }
        let values = written_values(&history);
        let replacement = values[rng.below(values.len() as u64) as usize];
        let mutated = with_read_value(&history, rng.below(read_count(&history) as u64) as usize, replacement);
        let expected = brute_force_linearizable(&mutated);
        assert_eq!(check(&mutated).is_linearizable(), expected, "seed {seed}: {:?}", mutated.operations());
        if expected {
            linearizable += 1;
        } else {
            violations += 1;
        }
    }
    // The mutations must exercise both verdicts for the comparison to mean anything.
    println!("{linearizable} mutated histories linearizable, {violations} not");
    assert!(linearizable > 300 && violations > 300, "{linearizable} linearizable, {violations} violations");
}
