//! The JSON format of docs/linearizability.md: round trips, the documented
//! example, and clear errors for files that break its rules.

mod common;

use common::{generate, starting_unknown, value, Rng, Shape};
use netcraq_linearizability::{
    save_history_if_requested, History, HistoryJsonError, InitialValue, Operation, HISTORY_DIR_VAR,
};

/// The example of docs/linearizability.md.
const DOCUMENTED_EXAMPLE: &str = r#"{"format":"netcraq-history/1","initial_value":"zeros","operations":[
{"ClientId":0,"Input":{"op":"write","key":7,"value":"61000000000000000000000000000000"},"Call":100,"Output":{"outcome":"ok"},"Return":250,"Metadata":null},
{"ClientId":1,"Input":{"op":"read","key":7},"Call":200,"Output":{"value":"61000000000000000000000000000000"},"Return":300,"Metadata":null},
{"ClientId":2,"Input":{"op":"write","key":7,"value":"62000000000000000000000000000000"},"Call":260,"Output":{"outcome":"unknown"},"Return":401,"Metadata":{"gave_up_ns":400}},
{"ClientId":1,"Input":{"op":"read","key":9},"Call":310,"Output":{"value":"00000000000000000000000000000000"},"Return":320,"Metadata":null}
]}
"#;

fn documented_history() -> History {
    [
        Operation::write(0, 7, 100, 250, value("a")),
        Operation::read(1, 7, 200, 300, value("a")),
        Operation::indeterminate_write(2, 7, 260, 400, value("b")),
        Operation::read(1, 9, 310, 320, value("")),
    ]
    .into_iter()
    .collect()
}

fn generated(seed: u64) -> History {
    let mut rng = Rng::new(seed);
    let shape = Shape {
        clients: 1 + rng.below(6) as u32,
        operations: rng.below(300) as usize,
        keys: 1 + rng.below(5) as u16,
        read_percent: rng.below(100),
        indeterminate_percent: rng.below(40),
        distinct_values: rng.below(4),
        max_duration_ns: 1 + rng.below(1000),
    };
    generate(&mut rng, &shape)
}

fn read_error(json: &str) -> String {
    match History::from_porcupine_json(json) {
        Ok(history) => panic!("read as {history:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn the_documented_example_writes_and_reads_as_documented() {
    assert_eq!(documented_history().to_porcupine_json().unwrap(), DOCUMENTED_EXAMPLE);
    assert_eq!(History::from_porcupine_json(DOCUMENTED_EXAMPLE).unwrap(), documented_history());
}

#[test]
fn generated_histories_round_trip() {
    for seed in 0..100 {
        let history = generated(seed);
        let unknown = starting_unknown(&history);
        for history in [history, unknown] {
            let json = history.to_porcupine_json().unwrap();
            assert_eq!(History::from_porcupine_json(&json).unwrap(), history, "seed {seed}: {json}");
        }
    }
}

#[test]
fn a_write_whose_outcome_is_unknown_returns_after_everything_else() {
    let history: History = [
        Operation::indeterminate_write(0, 1, 10, 20, value("x")),
        Operation::read(1, 1, 30, 900, value("x")),
        Operation::write(2, 2, 40, 50, value("y")),
    ]
    .into_iter()
    .collect();
    let json = history.to_porcupine_json().unwrap();
    assert!(
        json.contains(r#""Call":10,"Output":{"outcome":"unknown"},"Return":901,"Metadata":{"gave_up_ns":20}"#),
        "{json}"
    );
}

#[test]
fn without_metadata_a_write_whose_outcome_is_unknown_gave_up_at_its_return() {
    let json = DOCUMENTED_EXAMPLE.replace(r#"{"gave_up_ns":400}"#, r#"{"note":"any metadata"}"#);
    let history = History::from_porcupine_json(&json).unwrap();
    assert_eq!(history.operations()[2], Operation::indeterminate_write(2, 7, 260, 401, value("b")));
}

#[test]
fn files_that_break_the_rules_are_refused_with_the_reason() {
    let cases = [
        ("netcraq-history/1\"", "netcraq-history/0\"", "is not \"netcraq-history/1\""),
        ("\"zeros\"", "\"ones\"", "unknown variant `ones`"),
        ("\"value\":\"61000000000000000000000000000000\"}", "\"value\":\"61\"}", "is not 32 hex digits"),
        ("\"value\":\"61000000000000000000000000000000\"}", "\"value\":\"6g000000000000000000000000000000\"}", "hex"),
        (
            "{\"outcome\":\"ok\"}",
            "{\"outcome\":\"ok\",\"value\":\"00000000000000000000000000000000\"}",
            "a write's Output",
        ),
        ("{\"outcome\":\"ok\"}", "{\"outcome\":\"maybe\"}", "unknown variant `maybe`"),
        ("\"Return\":401", "\"Return\":309", "operation 2: a write whose outcome is unknown returns before"),
        ("\"Call\":100", "\"Call\":-1", "operation 0: Call is negative"),
        ("\"Return\":320", "\"Return\":305", "operation 3: Return is before Call"),
        ("\"key\":9", "\"key\":65536", "expected u16"),
        ("\"op\":\"read\",\"key\":9", "\"op\":\"delete\",\"key\":9", "unknown variant `delete`"),
        ("\"ClientId\":0", "\"ClientId\":0,\"Extra\":1", "unknown field `Extra`"),
        ("\"key\":9}", "\"key\":9,\"value\":\"00000000000000000000000000000000\"}", "unknown field `value`"),
    ];
    for (original, replacement, expected) in cases {
        assert!(DOCUMENTED_EXAMPLE.contains(original), "{original}");
        let error = read_error(&DOCUMENTED_EXAMPLE.replacen(original, replacement, 1));
        assert!(error.contains(expected), "{replacement}: {error:?} lacks {expected:?}");
    }
    assert!(matches!(History::from_porcupine_json("[]"), Err(HistoryJsonError::Syntax(_))));
}

#[test]
fn times_beyond_int64_are_refused() {
    let history: History = [Operation::read(0, 1, 0, u64::MAX, value(""))].into_iter().collect();
    assert!(matches!(history.to_porcupine_json(), Err(HistoryJsonError::TimeOutOfRange { ns: u64::MAX })));
}

/// The only test of this binary that touches the environment.
#[test]
fn histories_are_saved_only_when_a_directory_is_named() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("saved-histories");
    let _ = std::fs::remove_dir_all(&dir);
    std::env::remove_var(HISTORY_DIR_VAR);
    assert!(save_history_if_requested(&documented_history(), "unsaved").unwrap().is_none());

    std::env::set_var(HISTORY_DIR_VAR, &dir);
    let first = save_history_if_requested(&documented_history(), "chain of 3/run").unwrap();
    let second = save_history_if_requested(&History::with_initial_value(InitialValue::Unknown), "chain of 3/run");
    std::env::remove_var(HISTORY_DIR_VAR);

    assert_eq!(first, Some(dir.join("chain-of-3-run.json")));
    assert_eq!(second.unwrap(), Some(dir.join("chain-of-3-run-2.json")));
    let saved = std::fs::read_to_string(dir.join("chain-of-3-run.json")).unwrap();
    assert_eq!(History::from_porcupine_json(&saved).unwrap(), documented_history());
    std::fs::remove_dir_all(&dir).unwrap();
}
