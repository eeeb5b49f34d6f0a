//! Named network namespaces (the ones `ip netns` manages): commands inside
//! them, and closures run on a thread that entered one, for sockets and
//! interface settings.

use crate::command::{run_command, CommandError, IP_COMMAND_TIMEOUT};
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Command;

/// Where `ip netns` keeps one file per named namespace.
pub const NETNS_DIR: &str = "/var/run/netns";

/// A named network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// Refers to an existing namespace by name (made by `up` or `ip netns add`).
    pub fn named(name: &str) -> Namespace {
        Namespace { name: name.to_owned() }
    }

    pub(crate) fn add(name: String) -> Result<Namespace, CommandError> {
        run_command(Command::new("ip").args(["netns", "add", &name]), IP_COMMAND_TIMEOUT)?;
        Ok(Namespace { name })
    }

    pub(crate) fn delete(&self) -> Result<(), CommandError> {
        run_command(Command::new("ip").args(["netns", "delete", &self.name]), IP_COMMAND_TIMEOUT).map(|_| ())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.name)
    }

    /// `ip -n NAME ARGS...`, bounded in time; returns its output.
    pub fn ip(&self, args: &[&str]) -> Result<String, CommandError> {
        run_command(Command::new("ip").args(["-n", &self.name]).args(args), IP_COMMAND_TIMEOUT)
    }

    /// A command that runs `program` inside the namespace
    /// (`ip netns exec NAME program`); add arguments, then run it with
    /// [`crate::run_command`] or spawn it.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// PIDs of the processes inside the namespace.
    pub fn pids(&self) -> Result<Vec<u32>, CommandError> {
        let listing = run_command(Command::new("ip").args(["netns", "pids", &self.name]), IP_COMMAND_TIMEOUT)?;
        Ok(listing.split_whitespace().filter_map(|pid| pid.parse().ok()).collect())
    }

    /// Runs `f` on a new thread that entered the namespace, and returns what
    /// it returns. Sockets it opens stay in the namespace wherever they are
    /// used afterwards; the calling thread never changes namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        let handle = File::open(self.path())?;
        std::thread::scope(|scope| {
            let thread = scope.spawn(move || {
                enter_namespace(&handle)?;
                Ok(f())
            });
            thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Moves the calling thread into the namespace, for good: sockets it
    /// opens from then on are there. Threads started before stay where they are.
    pub fn enter(&self) -> io::Result<()> {
        let path = self.path();
        let handle = File::open(&path).map_err(|e| {
            let hint = format!("(create it with `ip netns add {}`)", self.name);
            io::Error::new(e.kind(), format!("opening {}: {e} {hint}", path.display()))
        })?;
        enter_namespace(&handle)
            .map_err(|e| io::Error::new(e.kind(), format!("entering the namespace: {e} (needs CAP_SYS_ADMIN)")))
    }
}

/// setns(2) for the network namespace `handle` refers to.
fn enter_namespace(handle: &File) -> io::Result<()> {
    // SAFETY: setns on a descriptor we own; it changes only this thread's network namespace.
    if unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Keeps the current thread's namespace kernel off the links: IPv6 off for
/// every interface, present and future (no router or neighbour
/// solicitations, MLD reports or DAD probes), and IPv4 forwarding off, so a
/// frame for a node's address that reaches the kernel of another node's
/// namespace is dropped there instead of forwarded or answered. A kernel
/// without IPv6 has no IPv6 to turn off.
pub(crate) fn quiet_kernel() -> io::Result<()> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "0")?;
    for scope in ["all", "default"] {
        match std::fs::write(format!("/proc/sys/net/ipv6/conf/{scope}/disable_ipv6"), "1") {
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            other => other?,
        }
    }
    Ok(())
}

/// `struct ethtool_value` of `<linux/ethtool.h>`.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

const ETHTOOL_GTXCSUM: u32 = 0x16;
const ETHTOOL_STXCSUM: u32 = 0x17;

/// Whether `interface` (in the current thread's namespace) leaves transmit
/// checksums to the device, as `ethtool -k IF` reports `tx-checksumming`.
pub fn tx_checksum_offload(interface: &str) -> io::Result<bool> {
    ethtool_value(interface, ETHTOOL_GTXCSUM, 0).map(|on| on != 0)
}

/// `ethtool -K IF tx on|off`. Off makes the kernel finish UDP checksums
/// before a frame enters a veth, so AF_PACKET readers at the other end see
/// complete checksums rather than partial ones.
pub fn set_tx_checksum_offload(interface: &str, on: bool) -> io::Result<()> {
    ethtool_value(interface, ETHTOOL_STXCSUM, u32::from(on)).map(|_| ())
}

fn ethtool_value(interface: &str, cmd: u32, data: u32) -> io::Result<u32> {
    let name = interface.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad interface name {interface:?}")));
    }
    // SAFETY: socket() returns a new descriptor or -1; OwnedFd closes it.
    let socket = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if socket < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `socket` is a fresh descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(socket) };
    let mut value = EthtoolValue { cmd, data };
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(name) {
        *slot = *byte as libc::c_char;
    }
    request.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
    // SAFETY: SIOCETHTOOL reads the name and the ethtool_value that ifru_data
    // points to, both alive for the whole call.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCETHTOOL, &mut request) } != 0 {
        return Err(io::Error::other(format!(
            "ethtool command {cmd:#x} on {interface}: {}",
            io::Error::last_os_error()
        )));
    }
    Ok(value.data)
}
