//! Whether the EAL arguments can work on this machine's memory, and what to
//! do when they cannot. Pure file reads: no DPDK call.

use crate::eal_args::has_option;
use std::path::Path;

const SYSFS_HUGEPAGES: &str = "/sys/kernel/mm/hugepages";

/// Hugepages of one size: how many exist and how many are free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HugepagePool {
    pub size_kb: u64,
    pub total: u64,
    pub free: u64,
}

/// The hugepage pools of this machine (`/sys/kernel/mm/hugepages`), smallest first.
pub fn pools() -> Vec<HugepagePool> {
    let read = |dir: &Path, file: &str| -> u64 {
        std::fs::read_to_string(dir.join(file)).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0)
    };
    let mut pools: Vec<HugepagePool> = std::fs::read_dir(SYSFS_HUGEPAGES)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let size_kb = name.strip_prefix("hugepages-")?.strip_suffix("kB")?.parse().ok()?;
            let dir = entry.path();
            Some(HugepagePool { size_kb, total: read(&dir, "nr_hugepages"), free: read(&dir, "free_hugepages") })
        })
        .collect();
    pools.sort_by_key(|p| p.size_kb);
    pools
}

/// Whether a hugetlbfs file system is mounted (`/proc/mounts`).
pub fn hugetlbfs_mounted() -> bool {
    std::fs::read_to_string("/proc/mounts")
        .map(|mounts| mounts.lines().any(|line| line.split_whitespace().nth(2) == Some("hugetlbfs")))
        .unwrap_or(false)
}

/// `Ok` when the EAL arguments `args` can get memory on this machine;
/// otherwise exactly what to do, as text to print.
pub fn check(args: &[String]) -> Result<(), String> {
    check_with(args, &pools(), hugetlbfs_mounted())
}

/// [`check`] for a given machine state.
pub fn check_with(args: &[String], pools: &[HugepagePool], mounted: bool) -> Result<(), String> {
    let no_huge = has_option(args, &["--no-huge"]);
    let in_memory = has_option(args, &["--in-memory"]);
    if no_huge && in_memory {
        return Err("--no-huge and --in-memory cannot be combined (DPDK refuses it): use \
                    `--no-huge -m 256 --no-shconf` without hugepages, or `--in-memory` with hugepages"
            .to_string());
    }
    if no_huge {
        return Ok(());
    }
    let size_kb = pools.first().map_or(2048, |p| p.size_kb);
    let free: u64 = pools.iter().map(|p| p.free).sum();
    let state = match pools {
        [] => "the kernel offers no hugepages".to_string(),
        _ => pools
            .iter()
            .map(|p| format!("{} of {} free of {} kB", p.free, p.total, p.size_kb))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let nr = format!("{SYSFS_HUGEPAGES}/hugepages-{size_kb}kB/nr_hugepages");
    let mount = "mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages";
    let without = "or run DPDK on ordinary memory instead: add `--no-huge -m 256` to the EAL arguments \
                   (-m: megabytes DPDK may use; --no-huge is slower, and fine for tests)";
    if free == 0 {
        let pages = (512 * 2048 / size_kb).max(1);
        return Err(format!(
            "DPDK needs hugepages and none are free ({state}). Either reserve some (as root):\n    \
             hugepages/hugepages.sh reserve    # from the NetCRAQ repository; `release` gives them back\n\
             or by hand:\n    \
             echo {pages} > {nr}\n    {mount}    # not needed with --in-memory\n\
             and give them back when done with `echo 0 > {nr}`,\n{without}"
        ));
    }
    if !mounted && !in_memory {
        return Err(format!(
            "DPDK needs a hugetlbfs mount to use the free hugepages ({state}). Either mount one (as root):\n    \
             {mount}\nor add `--in-memory` to the EAL arguments (no files, no mount),\n{without}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    const NONE_FREE: [HugepagePool; 1] = [HugepagePool { size_kb: 2048, total: 0, free: 0 }];
    const SOME_FREE: [HugepagePool; 1] = [HugepagePool { size_kb: 2048, total: 512, free: 512 }];

    #[test]
    fn no_huge_needs_no_hugepages() {
        assert_eq!(check_with(&args("--no-pci --no-huge -m 256"), &NONE_FREE, false), Ok(()));
    }

    #[test]
    fn missing_hugepages_say_what_to_do() {
        let message = check_with(&args("--no-pci"), &NONE_FREE, false).unwrap_err();
        assert!(message.contains("echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"), "{message}");
        assert!(message.contains("mount -t hugetlbfs"), "{message}");
        assert!(message.contains("--no-huge -m 256"), "{message}");
        let message = check_with(&args("--no-pci"), &[], false).unwrap_err();
        assert!(message.contains("no hugepages"), "{message}");
    }

    #[test]
    fn free_hugepages_need_a_mount_unless_in_memory() {
        assert!(check_with(&args("--no-pci"), &SOME_FREE, false).unwrap_err().contains("hugetlbfs mount"));
        assert_eq!(check_with(&args("--no-pci --in-memory"), &SOME_FREE, false), Ok(()));
        assert_eq!(check_with(&args("--no-pci"), &SOME_FREE, true), Ok(()));
    }

    #[test]
    fn no_huge_and_in_memory_conflict() {
        assert!(check_with(&args("--no-huge --in-memory"), &SOME_FREE, true)
            .unwrap_err()
            .contains("cannot be combined"));
    }
}
