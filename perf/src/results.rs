//! What every benchmark's results file has: where it goes by default, the
//! machine it ran on, when, and how it is written.

use crate::{report, system};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// A path in the perf crate's source tree (e.g. `results/node-latest.json`).
pub fn source_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `path` relative to the repository when it is inside it (results files
/// do not name the checkout they were made in), else as given.
pub fn shown(path: &Path) -> String {
    let full = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let repository = source_path("..").canonicalize().unwrap_or_else(|_| source_path(".."));
    full.strip_prefix(&repository).unwrap_or(path).display().to_string()
}

/// The 1-minute load average (/proc/loadavg): other work on the machine.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// The machine: CPUs allowed, CPU model, kernel, DPDK version, and the load
/// average at the start (given) and now.
pub fn machine_json(cpus: &[u32], load_average_at_start: Option<f64>) -> Value {
    let (model, kernel) = (system::cpu_model(), system::kernel());
    let dpdk = Command::new("pkg-config").args(["--modversion", "libdpdk"]).output().ok();
    let dpdk = dpdk.filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    json!({
        "cpus": cpus, "cpu_model": model, "kernel": kernel, "dpdk": dpdk,
        "load_average_1min_at_start": load_average_at_start, "load_average_1min_at_end": load_average(),
    })
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    report::utc_timestamp(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// The lower middle of `items` by `key` (the median of an odd count).
pub fn lower_median_by<T>(items: &[T], key: impl Fn(&T) -> f64) -> Option<&T> {
    let mut sorted: Vec<&T> = items.iter().collect();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    sorted.get(items.len().saturating_sub(1) / 2).copied()
}

/// Writes `json` pretty-printed to `path` atomically (a partial file, then a rename).
pub fn write_json(path: &Path, json: &Value) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(json).map_err(|e| e.to_string())? + "\n";
    let partial = path.with_extension("json.tmp");
    std::fs::write(&partial, text).map_err(|e| format!("writing {}: {e}", partial.display()))?;
    std::fs::rename(&partial, path).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Reads a results file written by [`write_json`].
pub fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))
}
