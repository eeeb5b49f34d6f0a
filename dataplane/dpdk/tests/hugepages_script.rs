//! `hugepages/hugepages.sh`: reserve, report and release restore the machine
//! exactly. Needs root; otherwise it says SKIP.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PAGES_2M: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";

fn script(args: &[&str]) -> Output {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hugepages/hugepages.sh");
    Command::new("bash").arg(path).args(args).output().expect("bash runs the script")
}

fn pages_2m() -> u64 {
    std::fs::read_to_string(PAGES_2M).expect("2M hugepage count").trim().parse().expect("a number")
}

fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(2) == Some("0"))
}

/// Releases whatever the test reserved, even when an assertion fails.
struct ReleaseOnDrop;

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        script(&["release"]);
    }
}

#[test]
fn reserve_then_release_restores_the_page_count_and_mount() {
    if !running_as_root() || !Path::new(PAGES_2M).exists() {
        eprintln!("SKIP: reserve_then_release_restores_the_page_count_and_mount needs root and 2M hugepages");
        return;
    }
    if Path::new("/run/netcraq/hugepages.state").exists() {
        eprintln!("SKIP: hugepages already reserved by hugepages.sh on this machine; not touching them");
        return;
    }
    let before = pages_2m();
    let guard = ReleaseOnDrop;
    let reserved = script(&["reserve", "2"]);
    assert!(reserved.status.success(), "{}", String::from_utf8_lossy(&reserved.stderr));
    assert_eq!(pages_2m(), before + 2);
    let status = String::from_utf8(script(&["status"]).stdout).expect("text");
    assert!(status.contains("hugetlbfs mounted on") && status.contains("reserved by hugepages.sh"), "{status}");
    let again = script(&["reserve", "2"]);
    assert!(!again.status.success(), "a second reserve is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already reserved"));
    drop(guard);
    assert_eq!(pages_2m(), before, "release restored the count");
    let bad = script(&["reserve", "many"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("whole number"));
}
