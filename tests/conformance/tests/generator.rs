//! The checked-in vectors are exactly what `tests/vectors/generate.py` writes.

use netcraq_conformance::vectors_dir;
use std::process::Command;

#[test]
fn checked_in_vectors_match_the_generator() {
    let script = vectors_dir().join("generate.py");
    assert!(script.exists(), "{} is missing", script.display());
    let output = match Command::new("python3").arg(&script).arg("--check").output() {
        Ok(output) => output,
        Err(error) => {
            println!("SKIP: checked_in_vectors_match_the_generator: python3 cannot be run ({error})");
            return;
        }
    };
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tests/vectors/*.json differ from the generator's output; run `python3 tests/vectors/generate.py`:\n{text}"
    );
}
