//! The EAL arguments a NetCRAQ program runs DPDK with: the user's, plus
//! safe defaults for what they leave undecided. Pure argument handling, so
//! it builds without DPDK too.

/// What [`eal_arguments`] adds beyond the defaults every program gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EalExtras {
    /// `--lcores 0@(CPUS)` over the CPUs this process may use, unless the
    /// arguments place the lcores: DPDK pins its main thread, and this lets
    /// it float.
    pub float_main_lcore: bool,
    /// `--no-telemetry` and `--log-level=warning`, unless given.
    pub quiet: bool,
}

/// The EAL arguments: `user`'s, split at spaces, then, unless they decide it:
/// `--no-pci` when none of `devices` is a PCI device (else `-a ADDR` per PCI
/// device); `--in-memory` (hugepages) or `--no-shconf` (`--no-huge`), so no
/// files outlive the program and several can run side by side; then what
/// `extras` asks for.
pub fn eal_arguments(user: &str, devices: &[String], extras: EalExtras) -> Vec<String> {
    let mut args: Vec<String> = user.split_whitespace().map(str::to_owned).collect();
    let mut added = Vec::new();
    if !has_option(&args, &["--no-pci", "--allow", "--block", "--pci-whitelist", "--pci-blacklist"])
        && !has_short(&args, "-a")
        && !has_short(&args, "-b")
        && !has_short(&args, "-w")
    {
        let pci: Vec<&String> = devices.iter().filter(|d| is_pci(d)).collect();
        match pci.as_slice() {
            [] => added.push("--no-pci".to_string()),
            pci => pci.iter().for_each(|d| added.extend(["-a".to_string(), d.to_string()])),
        }
    }
    if !has_option(&args, &["--in-memory", "--no-shconf", "--file-prefix"]) {
        let private = if has_option(&args, &["--no-huge"]) { "--no-shconf" } else { "--in-memory" };
        added.push(private.to_string());
    }
    if extras.float_main_lcore
        && !has_option(&args, &["--lcores", "--coremask"])
        && !has_short(&args, "-l")
        && !has_short(&args, "-c")
    {
        if let Some(cpus) = allowed_cpu_list() {
            added.push(format!("--lcores=0@({cpus})"));
        }
    }
    if extras.quiet {
        if !has_option(&args, &["--no-telemetry"]) {
            added.push("--no-telemetry".to_string());
        }
        if !has_option(&args, &["--log-level"]) {
            added.push("--log-level=warning".to_string());
        }
    }
    args.extend(added);
    args
}

/// `name` or `name=...` among the arguments, for any of `names`.
pub fn has_option(args: &[String], names: &[&str]) -> bool {
    args.iter().any(|arg| {
        names.iter().any(|name| arg.strip_prefix(name).is_some_and(|rest| rest.is_empty() || rest.starts_with('=')))
    })
}

/// A short option, alone (`-l 0`) or with its value attached (`-l0`).
fn has_short(args: &[String], flag: &str) -> bool {
    args.iter().any(|arg| arg.starts_with(flag) && !arg.starts_with("--"))
}

/// Whether a device argument names a PCI device (`0000:01:00.0` or `01:00.0`).
pub fn is_pci(devargs: &str) -> bool {
    let name = devargs.split(',').next().unwrap_or_default();
    let parts: Vec<&str> = name.split(':').collect();
    let hex = |s: &str, len: usize| s.len() == len && s.chars().all(|c| c.is_ascii_hexdigit());
    let device_function = |s: &str| s.split_once('.').is_some_and(|(d, f)| hex(d, 2) && f.len() == 1);
    match parts.as_slice() {
        [domain, bus, df] => hex(domain, 4) && hex(bus, 2) && device_function(df),
        [bus, df] => hex(bus, 2) && device_function(df),
        _ => false,
    }
}

/// The CPUs this thread may run on, as the kernel lists them (`0-3,6`).
pub fn allowed_cpu_list() -> Option<String> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    let list = status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:"))?.trim();
    (!list.is_empty()).then(|| list.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    const NODE: EalExtras = EalExtras { float_main_lcore: true, quiet: false };

    #[test]
    fn eal_arguments_get_safe_defaults_unless_given() {
        let vdev = ["net_af_packet1,iface=eth1".to_string()];
        let args = eal_arguments("--no-huge -m 256", &vdev, NODE);
        assert_eq!(args[..5], words("--no-huge -m 256 --no-pci --no-shconf"));
        assert!(args[5].starts_with("--lcores=0@("), "{args:?}");
        assert_eq!(eal_arguments("", &vdev, NODE)[..2], words("--no-pci --in-memory"));
        let given = eal_arguments("-l 1 --file-prefix=n1 -a 0000:01:00.0", &vdev, NODE);
        assert_eq!(given, words("-l 1 --file-prefix=n1 -a 0000:01:00.0"));
        let pci = ["0000:01:00.0,rxq=1".to_string(), "net_ring0".to_string()];
        assert_eq!(eal_arguments("-l 0", &pci, NODE), words("-l 0 -a 0000:01:00.0,rxq=1 --in-memory"));
    }

    #[test]
    fn pci_addresses_are_recognised() {
        assert!(is_pci("0000:01:00.0"));
        assert!(is_pci("af:00.1,representor=[0-3]"));
        assert!(!is_pci("net_ring0"));
        assert!(!is_pci("net_memif0,socket=/run/a:b"));
    }
}
