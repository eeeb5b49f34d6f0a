//! The software backend: the core driven over AF_PACKET sockets, one per
//! kernel interface (a node port). It is the fallback for hosts without DPDK
//! and the reference the DPDK node is measured against.
//!
//! All `unsafe` of this module is in [`PacketSocket`] and the poll call,
//! each block with its reason.

use crate::control::ControlPort;
use crate::faults::FaultSettings;
use crate::shell::{IoCounters, PortShell, Transmit};
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

/// A port to open: its number in the tables, its interface and the faults
/// to inject on what it sends.
#[derive(Debug, Clone, PartialEq)]
pub struct PortSpec {
    pub number: u16,
    pub interface: String,
    pub faults: FaultSettings,
}

/// A frame held back for reordering, kept in the port so holding one
/// allocates nothing.
pub struct HeldFrame {
    bytes: [u8; MAX_FRAME_LEN],
    len: usize,
}

impl Transmit for PacketSocket {
    type Frame<'f> = &'f [u8];
    type Held = HeldFrame;

    fn bytes<'b>(frame: &'b &[u8]) -> &'b [u8] {
        frame
    }

    fn send(&mut self, frame: &[u8], io: &mut IoCounters) {
        io.count_send(PacketSocket::send(self, frame));
    }

    fn send_twice(&mut self, frame: &[u8], io: &mut IoCounters) {
        Transmit::send(self, frame, io);
        Transmit::send(self, frame, io);
    }

    fn hold(&mut self, frame: &[u8]) -> HeldFrame {
        let mut held = HeldFrame { bytes: [0; MAX_FRAME_LEN], len: frame.len() };
        held.bytes[..frame.len()].copy_from_slice(frame);
        held
    }

    fn send_held(&mut self, held: HeldFrame, io: &mut IoCounters) {
        Transmit::send(self, &held.bytes[..held.len], io);
    }
}

/// The core over AF_PACKET ports.
pub struct SoftwareNode {
    node: Node,
    /// `sockets[i]` carries the port of `shells[i]`.
    sockets: Vec<PacketSocket>,
    shells: Vec<PortShell<HeldFrame>>,
    io: IoCounters,
    /// Requests from the control plane, applied between receive bursts.
    control: Option<ControlPort>,
}

impl SoftwareNode {
    /// Opens one socket per port.
    pub fn open(node: Node, ports: &[PortSpec]) -> io::Result<SoftwareNode> {
        let (mut sockets, mut shells) = (Vec::with_capacity(ports.len()), Vec::with_capacity(ports.len()));
        for spec in ports {
            let context = |e| with_context(e, &format!("port {} ({})", spec.number, spec.interface));
            shells.push(PortShell::new(spec.number, spec.faults).map_err(invalid).map_err(context)?);
            sockets.push(PacketSocket::open(&spec.interface).map_err(context)?);
        }
        Ok(SoftwareNode { node, sockets, shells, io: IoCounters::default(), control: None })
    }

    /// Serves control requests from `port` in the poll loop (once per round,
    /// and at once when a request wakes the loop).
    pub fn attach_control(&mut self, port: ControlPort) {
        self.control = Some(port);
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The I/O counters, fault counters summed over the ports.
    pub fn io_counters(&self) -> IoCounters {
        let mut io = self.io;
        self.shells.iter().for_each(|shell| shell.add_fault_counts(&mut io));
        io
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
            for index in 0..self.sockets.len() {
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
            .sockets
            .iter()
            .map(|socket| libc::pollfd { fd: socket.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
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
            let len = match self.sockets[index].recv(frame) {
                Ok(Some(len)) => len,
                Ok(None) => return,
                Err(_) => {
                    self.io.rx_errors += 1;
                    return;
                }
            };
            self.io.rx_frames += 1;
            let ingress = self.shells[index].number();
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
        match self.shells.iter().position(|shell| shell.number() == port_number) {
            Some(index) => self.shells[index].transmit(&mut self.sockets[index], bytes, &mut self.io),
            None => self.io.tx_no_port += 1,
        }
    }

    /// Sends frames held back for reordering once the node falls idle, so none is lost.
    fn flush_held(&mut self) {
        for (shell, socket) in self.shells.iter_mut().zip(&mut self.sockets) {
            shell.release_held(socket, &mut self.io);
        }
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
