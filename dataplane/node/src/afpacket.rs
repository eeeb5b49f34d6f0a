//! The software backend: the core driven over AF_PACKET sockets, one per
//! kernel interface (a node port). It is the fallback for hosts without DPDK
//! and the reference the DPDK node is measured against.

use crate::control::ControlPort;
use crate::lease_clock::LeaseClock;
use crate::service_rate::{Arrivals, ServiceRate};
use crate::shell::{port_index, with_fault_counts, IoCounters, PortShell, Transmit};
pub use crate::sys::{poll, PacketSocket};
use netcraq_core::faults::FaultSettings;
use netcraq_core::Node;
use netcraq_wire::CHAIN_FRAME_LEN;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

/// Largest frame received whole; longer ones arrive truncated and the core
/// drops them as such.
const MAX_FRAME_LEN: usize = 9216;
/// Frames handled per port per poll round, so one busy port cannot starve the rest.
const RX_BURST: usize = 64;
const POLL_INTERVAL: Duration = Duration::from_millis(20);

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
        io.count_send(PacketSocket::send(self, frame), frame.len());
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
    /// The cap on frames served per second, if any.
    service_rate: Option<ServiceRate>,
    /// Frames taken and not yet served, when capped.
    arrivals: Arrivals<Vec<u8>>,
    lease_clock: LeaseClock,
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
        Ok(SoftwareNode {
            node,
            sockets,
            shells,
            io: IoCounters::default(),
            control: None,
            service_rate: None,
            arrivals: Arrivals::default(),
            lease_clock: LeaseClock::start(),
        })
    }

    /// Serves control requests from `port` in the poll loop (once per round,
    /// and at once when a request wakes the loop).
    pub fn attach_control(&mut self, port: ControlPort) {
        self.control = Some(port);
    }

    /// Serves at most what `rate` allows, in arrival order across the ports
    /// (`service_rate`); the rest waits.
    pub fn limit_service_rate(&mut self, rate: ServiceRate) {
        self.service_rate = Some(rate);
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The I/O counters, fault counters summed over the ports.
    pub fn io_counters(&self) -> IoCounters {
        with_fault_counts(self.io, &self.shells)
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
        let mut scratch = [0u8; CHAIN_FRAME_LEN];
        let mut last_report = Instant::now();
        while !should_stop() {
            if self.arrivals.is_empty() && !self.wait_readable()? {
                self.flush_held();
            }
            let budget = self.round_budget();
            // Read every round, after any wait and before any frame: the
            // round's poll(2) and recv(2) calls cost far more than the clock.
            self.node.set_clock(self.lease_clock.now_ticks());
            if self.service_rate.is_some() {
                self.serve_arrivals(budget, &mut frame, &mut scratch);
            } else {
                for index in 0..self.sockets.len() {
                    self.drain_port(index, &mut frame, &mut scratch);
                }
            }
            if let Some(control) = &mut self.control {
                let (shells, sockets, io) = (&mut self.shells, &mut self.sockets, &mut self.io);
                control.poll(&mut self.node, &mut |port, frame| transmit(shells, sockets, io, port, frame));
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
            .map(|socket| libc::pollfd { fd: socket.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 })
            .collect();
        if let Some(control) = &self.control {
            fds.push(libc::pollfd { fd: control.wake_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        let ready = poll(&mut fds, POLL_INTERVAL);
        if let (Some(control), Some(wake)) = (&self.control, fds.last()) {
            if wake.revents != 0 {
                control.clear_wake();
            }
        }
        match ready {
            Ok(ready) => Ok(ready > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Frames this round may take: all there are, or the service rate's
    /// tokens, sleeping (not spinning) until the next one when none is left.
    fn round_budget(&mut self) -> usize {
        let Some(rate) = &mut self.service_rate else { return usize::MAX };
        if rate.available(Instant::now()) == 0 {
            std::thread::sleep(rate.until_next().min(POLL_INTERVAL));
        }
        usize::try_from(rate.available(Instant::now())).unwrap_or(usize::MAX)
    }

    /// Handles up to a burst of frames from the port.
    fn drain_port(&mut self, index: usize, frame: &mut [u8; MAX_FRAME_LEN], scratch: &mut [u8; CHAIN_FRAME_LEN]) {
        for _ in 0..RX_BURST {
            match self.receive(index, frame) {
                Some(len) => self.handle(index, len, frame, scratch),
                None => return,
            }
        }
    }

    /// Takes every waiting frame off the ports (the ports in turn, while
    /// there is room), then serves up to `budget` of the taken frames, oldest first.
    fn serve_arrivals(&mut self, budget: usize, frame: &mut [u8; MAX_FRAME_LEN], scratch: &mut [u8; CHAIN_FRAME_LEN]) {
        let ports = self.sockets.len();
        let first = self.service_rate.as_mut().map_or(0, |rate| rate.first_port(ports));
        for index in (0..ports).map(|turn| (first + turn) % ports) {
            while self.arrivals.room() > 0 {
                let Some(len) = self.receive(index, frame) else { break };
                self.arrivals.push(index, frame[..len].to_vec());
            }
        }
        let served = budget.min(self.arrivals.len());
        for _ in 0..served {
            let Some((index, bytes)) = self.arrivals.pop() else { break };
            frame[..bytes.len()].copy_from_slice(&bytes);
            self.handle(index, bytes.len(), frame, scratch);
        }
        if let Some(rate) = &mut self.service_rate {
            rate.take(served as u64);
        }
    }

    /// A frame from the port into `frame`: its length, or `None` when none waits (or on an error, counted).
    fn receive(&mut self, index: usize, frame: &mut [u8; MAX_FRAME_LEN]) -> Option<usize> {
        match self.sockets[index].recv(frame) {
            Ok(received) => received,
            Err(_) => {
                self.io.rx_errors += 1;
                None
            }
        }
    }

    /// The frame of `len` bytes in `frame`, received on port `index`, through the core; its outputs sent.
    fn handle(
        &mut self,
        index: usize,
        len: usize,
        frame: &mut [u8; MAX_FRAME_LEN],
        scratch: &mut [u8; CHAIN_FRAME_LEN],
    ) {
        self.io.rx_frames += 1;
        self.io.rx_bytes += len as u64;
        let ingress = self.shells[index].number();
        let verdict = self.node.process(ingress, &mut frame[..len], scratch);
        let (shells, sockets, io) = (&mut self.shells, &mut self.sockets, &mut self.io);
        if let Some(egress) = verdict.primary {
            transmit(shells, sockets, io, egress.port, &frame[..egress.len]);
        }
        if let Some(egress) = verdict.secondary {
            transmit(shells, sockets, io, egress.port, &scratch[..egress.len]);
        }
    }

    /// Sends frames held back for reordering once the node falls idle, so none is lost.
    fn flush_held(&mut self) {
        for (shell, socket) in self.shells.iter_mut().zip(&mut self.sockets) {
            shell.release_held(socket, &mut self.io);
        }
    }
}

/// Sends `bytes` on the port numbered `port_number` through its shell
/// (`shells[i]` and `sockets[i]` are one port).
fn transmit(
    shells: &mut [PortShell<HeldFrame>],
    sockets: &mut [PacketSocket],
    io: &mut IoCounters,
    port_number: u16,
    bytes: &[u8],
) {
    match port_index(shells, port_number) {
        Some(index) => shells[index].transmit(&mut sockets[index], bytes, io),
        None => io.tx_no_port += 1,
    }
}

pub(crate) fn with_context(error: io::Error, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

pub(crate) fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
