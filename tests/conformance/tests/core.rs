//! Every conformance vector, replayed against the Rust core.

use netcraq_conformance::{load_dir, run_files, vectors_dir, Role, VectorFile, OUTCOMES};
use netcraq_core::{Node, Outcome, DEFAULT_KEY_CAPACITY};
use netcraq_wire::Op;
use std::collections::BTreeSet;

fn vectors() -> Vec<VectorFile> {
    load_dir(&vectors_dir()).unwrap_or_else(|error| panic!("loading the vectors: {error}"))
}

#[test]
fn the_core_passes_every_vector() {
    let files = vectors();
    let mut node = Node::new(DEFAULT_KEY_CAPACITY);
    let report = run_files(&mut node, &files);
    assert!(report.cases > 200, "only {} cases loaded", report.cases);
    if !report.passed() {
        panic!("the core disagrees with the conformance vectors:\n{report}");
    }
    println!("{} files, {} cases, {} steps: all pass", report.files, report.cases, report.steps);
}

#[test]
fn every_outcome_is_covered_by_the_vectors() {
    let covered: BTreeSet<String> =
        vectors().iter().flat_map(|f| &f.cases).flat_map(|c| &c.steps).flat_map(|s| s.outcomes.clone()).collect();
    let missing: Vec<&str> = Outcome::ALL.iter().map(|o| o.name()).filter(|name| !covered.contains(*name)).collect();
    assert!(missing.is_empty(), "outcomes no vector step expects: {missing:?}");
}

#[test]
fn the_core_names_outcomes_as_the_spec_does() {
    assert_eq!(Outcome::ALL.len(), OUTCOMES.len());
    for (code, outcome) in Outcome::ALL.iter().enumerate() {
        assert_eq!(outcome.index(), code);
        assert_eq!(outcome.name(), OUTCOMES[code], "outcome code {code}");
    }
}

/// Every role receives every op code of §1.2 (and an unknown one, counted as 0) addressed to
/// it, as a well-formed NetCRAQ frame of its op's length (66 bytes for a chain op, 62 for any
/// other), in some vector: the behaviour table is exercised row by row, including its drop rows.
#[test]
fn every_role_receives_every_op() {
    let mut seen = BTreeSet::new();
    for case in vectors().iter().flat_map(|f| &f.cases) {
        let Some(config) = &case.config else { continue };
        for step in &case.steps {
            let f = &step.frame;
            let op_len = |op: u8| if matches!(Op::from_code(op), Some(op) if op.is_chain()) { 66 } else { 62 };
            let own_length = f.len() >= 62 && f.len() == op_len(f[42]);
            if own_length && f[0..6] == config.own_mac.0 && f[30..34] == config.own_ip.octets() && f[14] == 0x45 {
                let op = if (1..=7).contains(&f[42]) { f[42] } else { 0 };
                seen.insert((config.role.name(), op));
            }
        }
    }
    let mut missing = Vec::new();
    for role in Role::ALL {
        for op in 0..=7u8 {
            if !seen.contains(&(role.name(), op)) {
                missing.push(format!("{} op {op}", role.name()));
            }
        }
    }
    assert!(missing.is_empty(), "no vector delivers these ops to these roles: {missing:?}");
}
