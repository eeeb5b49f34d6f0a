//! The software backend: the core driven over AF_PACKET sockets, one per
//! kernel interface (a node port). It is the fallback for hosts without DPDK
//! and the reference the DPDK node is measured against.
//!
//! All `unsafe` of this module is in [`PacketSocket`] and the poll call,
//! each block with its reason.

use crate::control::ControlPort;
use crate::faults::{FaultDecision, FaultInjector, FaultSettings};
use netcraq_core::Node;
use netcraq_wire::NETCRAQ_FRAME_LEN;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Largest frame received whole; longer ones arrive truncated and the core
/// drops them as such.
const MAX_FRAME_LEN: usize = 9216;
/// Frames handled per port per poll round, so one busy port cannot starve the rest.
const RX_BURST: usize = 64;
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A packet socket bound to one interface, non-blocking, that does not see
/// its own transmissions. Tests use it to inject and capture raw frames.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    pub fn open(ifname: &str) -> io::Result<PacketSocket> {
        let name = CString::new(ifname).map_err(|_| invalid(format!("interface name {ifname:?} contains NUL")))?;
        // SAFETY: `name` is a valid NUL-terminated string for the call's duration.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("no interface named {ifname:?}")));
        }
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK, i32::from(protocol)) };
        if raw < 0 {
            return Err(with_context(io::Error::last_os_error(), "opening an AF_PACKET socket (needs CAP_NET_RAW)"));
        }
        // SAFETY: `raw` is a freshly created descriptor that nothing else owns.
        let socket = PacketSocket { fd: unsafe { OwnedFd::from_raw_fd(raw) } };
        socket.set_ignore_outgoing()?;
        socket.bind(ifindex as i32, protocol)?;
        Ok(socket)
    }

    fn set_ignore_outgoing(&self) -> io::Result<()> {
        let one: libc::c_int = 1;
        // SAFETY: the option value points to a live c_int of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_IGNORE_OUTGOING,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        check(rc, "setting PACKET_IGNORE_OUTGOING (needs Linux 4.20 or later)")
    }

    fn bind(&self, ifindex: i32, protocol: u16) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = protocol;
        addr.sll_ifindex = ifindex;
        // SAFETY: `addr` is a live sockaddr_ll and the length passed is its size.
        let rc = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        check(rc, "binding the AF_PACKET socket to its interface")
    }

    /// One frame into `buffer`, or `None` when none is waiting. A frame
    /// longer than `buffer` is cut to its length.
    pub fn recv(&self, buffer: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: the kernel writes at most `buffer.len()` bytes into `buffer`.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len(), 0) };
        match n {
            n if n >= 0 => Ok(Some(n as usize)),
            _ => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                e => Err(e),
            },
        }
    }

    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: the kernel reads `frame.len()` bytes from `frame`.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        match n {
            n if n >= 0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }
}

/// Counters of the I/O around the core (the core counts the protocol).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoCounters {
    pub rx_frames: u64,
    pub tx_frames: u64,
    pub tx_errors: u64,
    pub rx_errors: u64,
    /// Outputs for a port number the node has no interface for.
    pub tx_no_port: u64,
    pub fault_dropped: u64,
    pub fault_duplicated: u64,
    pub fault_reordered: u64,
    /// Frames handed to the lcore owning their key (a node on several lcores).
    pub handed_over: u64,
    /// Frames dropped because the owning lcore's hand-off ring was full.
    pub handoff_full: u64,
}

impl IoCounters {
    /// Adds another poller's counters (the lcores of one node).
    pub fn add(&mut self, other: &IoCounters) {
        self.rx_frames += other.rx_frames;
        self.tx_frames += other.tx_frames;
        self.tx_errors += other.tx_errors;
        self.rx_errors += other.rx_errors;
        self.tx_no_port += other.tx_no_port;
        self.fault_dropped += other.fault_dropped;
        self.fault_duplicated += other.fault_duplicated;
        self.fault_reordered += other.fault_reordered;
        self.handed_over += other.handed_over;
        self.handoff_full += other.handoff_full;
    }
}

/// A port to open: its number in the tables, its interface and the faults
/// to inject on what it sends.
#[derive(Debug, Clone, PartialEq)]
pub struct PortSpec {
    pub number: u16,
    pub interface: String,
    pub faults: FaultSettings,
}

/// One node port: its number in the tables, its socket and its faults.
struct Port {
    number: u16,
    socket: PacketSocket,
    faults: FaultInjector,
    held: [u8; MAX_FRAME_LEN],
    held_len: usize,
}

impl Port {
    fn open(spec: &PortSpec) -> io::Result<Port> {
        let context = |e| with_context(e, &format!("port {} ({})", spec.number, spec.interface));
        spec.faults.validate().map_err(invalid).map_err(context)?;
        let socket = PacketSocket::open(&spec.interface).map_err(context)?;
        let faults = FaultInjector::new(spec.faults);
        Ok(Port { number: spec.number, socket, faults, held: [0; MAX_FRAME_LEN], held_len: 0 })
    }
}

/// The core over AF_PACKET ports.
pub struct SoftwareNode {
    node: Node,
    ports: Vec<Port>,
    io: IoCounters,
    /// Requests from the control plane, applied between receive bursts.
    control: Option<ControlPort>,
}

impl SoftwareNode {
    /// Opens one socket per port.
    pub fn open(node: Node, ports: &[PortSpec]) -> io::Result<SoftwareNode> {
        let ports = ports.iter().map(Port::open).collect::<io::Result<Vec<_>>>()?;
        Ok(SoftwareNode { node, ports, io: IoCounters::default(), control: None })
    }

    /// Serves control requests from `port` in the poll loop (once per round,
    /// and at once when a request wakes the loop).
    pub fn attach_control(&mut self, port: ControlPort) {
        self.control = Some(port);
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    pub fn io_counters(&self) -> IoCounters {
        let faults = self.ports.iter().map(|p| p.faults.counters);
        let (mut dropped, mut duplicated, mut reordered) = (0, 0, 0);
        for f in faults {
            (dropped, duplicated, reordered) =
                (dropped + f.dropped, duplicated + f.duplicated, reordered + f.reordered);
        }
        IoCounters { fault_dropped: dropped, fault_duplicated: duplicated, fault_reordered: reordered, ..self.io }
    }

    /// Runs until `should_stop` says so (it is asked at least every 20 ms),
    /// calling `report` about every `report_every` and once at the end.
    pub fn run(
        &mut self,
        mut should_stop: impl FnMut() -> bool,
        report_every: Duration,
        mut report: impl FnMut(&Self),
    ) -> io::Result<()> {
        let mut frame = [0u8; MAX_FRAME_LEN];
        let mut scratch = [0u8; NETCRAQ_FRAME_LEN];
        let mut last_report = Instant::now();
        while !should_stop() {
            if !self.wait_readable()? {
                self.flush_held();
            }
            for index in 0..self.ports.len() {
                self.drain_port(index, &mut frame, &mut scratch);
            }
            if let Some(control) = &mut self.control {
                control.poll(&mut self.node);
            }
            if last_report.elapsed() >= report_every {
                report(self);
                last_report = Instant::now();
            }
        }
        report(self);
        Ok(())
    }

    /// Waits for any port, or the control port's wake, to be readable;
    /// `false` on timeout.
    fn wait_readable(&self) -> io::Result<bool> {
        let mut fds: Vec<libc::pollfd> = self
            .ports
            .iter()
            .map(|p| libc::pollfd { fd: p.socket.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
            .collect();
        if let Some(control) = &self.control {
            fds.push(libc::pollfd { fd: control.wake_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        // SAFETY: `fds` is a live array of `fds.len()` pollfd entries.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, POLL_INTERVAL.as_millis() as i32) };
        if let (Some(control), Some(wake)) = (&self.control, fds.last()) {
            if wake.revents != 0 {
                control.clear_wake();
            }
        }
        match rc {
            rc if rc >= 0 => Ok(rc > 0),
            _ => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::Interrupted => Ok(false),
                e => Err(e),
            },
        }
    }

    fn drain_port(&mut self, index: usize, frame: &mut [u8; MAX_FRAME_LEN], scratch: &mut [u8; NETCRAQ_FRAME_LEN]) {
        for _ in 0..RX_BURST {
            let len = match self.ports[index].socket.recv(frame) {
                Ok(Some(len)) => len,
                Ok(None) => return,
                Err(_) => {
                    self.io.rx_errors += 1;
                    return;
                }
            };
            self.io.rx_frames += 1;
            let ingress = self.ports[index].number;
            let verdict = self.node.process(ingress, &mut frame[..len], scratch);
            if let Some(egress) = verdict.primary {
                self.transmit(egress.port, &frame[..egress.len]);
            }
            if let Some(egress) = verdict.secondary {
                self.transmit(egress.port, &scratch[..egress.len]);
            }
        }
    }

    fn transmit(&mut self, port_number: u16, bytes: &[u8]) {
        let Some(port) = self.ports.iter_mut().find(|p| p.number == port_number) else {
            self.io.tx_no_port += 1;
            return;
        };
        let decision = port.faults.decide(bytes);
        let sends = match decision {
            FaultDecision::Drop => 0,
            FaultDecision::Send => 1,
            FaultDecision::SendTwice => 2,
            FaultDecision::HoldBack if port.held_len == 0 => {
                port.held[..bytes.len()].copy_from_slice(bytes);
                port.held_len = bytes.len();
                0
            }
            FaultDecision::HoldBack => 1,
        };
        for _ in 0..sends {
            count_send(&mut self.io, port.socket.send(bytes));
        }
        if sends > 0 && port.held_len > 0 {
            count_send(&mut self.io, port.socket.send(&port.held[..port.held_len]));
            port.held_len = 0;
        }
    }

    /// Sends frames held back for reordering once the node falls idle, so none is lost.
    fn flush_held(&mut self) {
        for port in &mut self.ports {
            if port.held_len > 0 {
                count_send(&mut self.io, port.socket.send(&port.held[..port.held_len]));
                port.held_len = 0;
            }
        }
    }
}

fn count_send(io: &mut IoCounters, result: io::Result<()>) {
    match result {
        Ok(()) => io.tx_frames += 1,
        Err(_) => io.tx_errors += 1,
    }
}

fn check(rc: libc::c_int, what: &str) -> io::Result<()> {
    match rc {
        0 => Ok(()),
        _ => Err(with_context(io::Error::last_os_error(), what)),
    }
}

fn with_context(error: io::Error, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
