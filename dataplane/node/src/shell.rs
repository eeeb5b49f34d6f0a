//! The node's I/O shell, the part every backend shares: the transmit path of
//! a port (its seeded [`faults`](crate::faults) and the frame it holds back
//! for reordering) and the [`IoCounters`] around the core. A backend supplies
//! only how a frame leaves ([`Transmit`]): a copy into a socket (AF_PACKET)
//! or an mbuf into a transmit batch (DPDK).
//!
//! Everything is generic over the backend, so each backend gets its own
//! compiled copy: no dynamic dispatch and no allocation per frame.

use crate::faults::{FaultCounters, FaultInjector};
use netcraq_core::faults::{FaultDecision, FaultSettings};

/// Counters of the I/O around the core (the core counts the protocol).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoCounters {
    pub rx_frames: u64,
    pub tx_frames: u64,
    /// Bytes of the frames received and sent (Ethernet header on, no FCS).
    pub rx_bytes: u64,
    pub tx_bytes: u64,
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
        self.rx_bytes += other.rx_bytes;
        self.tx_bytes += other.tx_bytes;
        self.tx_errors += other.tx_errors;
        self.rx_errors += other.rx_errors;
        self.tx_no_port += other.tx_no_port;
        self.add_faults(&FaultCounters {
            dropped: other.fault_dropped,
            duplicated: other.fault_duplicated,
            reordered: other.fault_reordered,
        });
        self.handed_over += other.handed_over;
        self.handoff_full += other.handoff_full;
    }

    fn add_faults(&mut self, faults: &FaultCounters) {
        self.fault_dropped += faults.dropped;
        self.fault_duplicated += faults.duplicated;
        self.fault_reordered += faults.reordered;
    }

    /// Counts the outcome of sending one frame of `len` bytes.
    pub fn count_send<E>(&mut self, result: Result<(), E>, len: usize) {
        match result {
            Ok(()) => {
                self.tx_frames += 1;
                self.tx_bytes += len as u64;
            }
            Err(_) => self.tx_errors += 1,
        }
    }
}

/// How a backend sends frames on one port; failures are counted in `io`.
pub trait Transmit {
    /// A frame about to be sent: borrowed bytes, or an mbuf sent as it is.
    type Frame<'f>;
    /// A frame kept back for reordering, owned by the port until sent.
    type Held;

    fn bytes<'b>(frame: &'b Self::Frame<'_>) -> &'b [u8];
    fn send(&mut self, frame: Self::Frame<'_>, io: &mut IoCounters);
    /// Sends `frame` and then a copy of it (duplication).
    fn send_twice(&mut self, frame: Self::Frame<'_>, io: &mut IoCounters);
    fn hold(&mut self, frame: Self::Frame<'_>) -> Self::Held;
    fn send_held(&mut self, held: Self::Held, io: &mut IoCounters);
}

/// The transmit side of one node port: its number in the tables, its fault
/// injection and the frame it holds back.
pub struct PortShell<H> {
    number: u16,
    faults: FaultInjector,
    held: Option<H>,
}

impl<H> PortShell<H> {
    /// A port that injects `faults`, refused when they are out of range.
    pub fn new(number: u16, faults: FaultSettings) -> Result<Self, String> {
        faults.faults.validate()?;
        Ok(PortShell { number, faults: FaultInjector::new(faults), held: None })
    }

    pub fn number(&self) -> u16 {
        self.number
    }

    /// Sends `frame` through the port's fault injection: dropped, sent once
    /// or twice, or held back until the next frame sent on the port. A frame
    /// held back leaves right after the next one.
    #[inline]
    pub fn transmit<T: Transmit<Held = H>>(&mut self, tx: &mut T, frame: T::Frame<'_>, io: &mut IoCounters) {
        match self.faults.decide(T::bytes(&frame)) {
            FaultDecision::Drop => return,
            FaultDecision::Send => tx.send(frame, io),
            FaultDecision::SendTwice => tx.send_twice(frame, io),
            FaultDecision::HoldBack if self.held.is_none() => {
                self.held = Some(tx.hold(frame));
                return;
            }
            FaultDecision::HoldBack => tx.send(frame, io),
        }
        self.release_held(tx, io);
    }

    /// Sends the frame held back, if any, so none is lost once the node falls idle.
    pub fn release_held<T: Transmit<Held = H>>(&mut self, tx: &mut T, io: &mut IoCounters) {
        if let Some(held) = self.held.take() {
            tx.send_held(held, io);
        }
    }
}

/// A node's I/O counters with the faults every port injected added.
pub fn with_fault_counts<H>(mut io: IoCounters, ports: &[PortShell<H>]) -> IoCounters {
    ports.iter().for_each(|port| io.add_faults(&port.faults.counters));
    io
}

/// The index of the port numbered `number` among `ports`.
pub fn port_index<H>(ports: &[PortShell<H>], number: u16) -> Option<usize> {
    ports.iter().position(|p| p.number == number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcraq_core::faults::PortFaults;

    /// Records what leaves, as bytes.
    #[derive(Default)]
    struct Recorder {
        sent: Vec<u8>,
    }

    impl Transmit for Recorder {
        type Frame<'f> = u8;
        type Held = u8;

        fn bytes(frame: &u8) -> &[u8] {
            std::slice::from_ref(frame)
        }
        fn send(&mut self, frame: u8, io: &mut IoCounters) {
            self.sent.push(frame);
            io.count_send::<()>(Ok(()), 1);
        }
        fn send_twice(&mut self, frame: u8, io: &mut IoCounters) {
            self.send(frame, io);
            self.send(frame, io);
        }
        fn hold(&mut self, frame: u8) -> u8 {
            frame
        }
        fn send_held(&mut self, held: u8, io: &mut IoCounters) {
            self.send(held, io);
        }
    }

    fn shell(loss_percent: f64, duplicate_percent: f64, reorder_percent: f64) -> PortShell<u8> {
        let faults = PortFaults { loss_percent, duplicate_percent, reorder_percent };
        PortShell::new(1, FaultSettings { faults, seed: 7 }).expect("valid faults")
    }

    fn run(mut shell: PortShell<u8>, frames: &[u8]) -> (Vec<u8>, IoCounters) {
        let (mut tx, mut io) = (Recorder::default(), IoCounters::default());
        frames.iter().for_each(|frame| shell.transmit(&mut tx, *frame, &mut io));
        shell.release_held(&mut tx, &mut io);
        (tx.sent, with_fault_counts(io, &[shell]))
    }

    #[test]
    fn a_held_frame_leaves_after_the_next_one_or_when_released() {
        let (sent, io) = run(shell(0.0, 0.0, 100.0), &[1, 2, 3]);
        assert_eq!(sent, [2, 1, 3]);
        assert_eq!((io.tx_frames, io.tx_bytes, io.fault_reordered), (3, 3, 3));
        assert_eq!(run(shell(0.0, 100.0, 0.0), &[1, 2]).0, [1, 1, 2, 2]);
        assert_eq!(run(shell(100.0, 0.0, 0.0), &[1, 2]).0, []);
    }

    #[test]
    fn faults_out_of_range_are_refused() {
        let faults = PortFaults { loss_percent: 60.0, duplicate_percent: 60.0, reorder_percent: 0.0 };
        assert!(PortShell::<u8>::new(1, FaultSettings { faults, seed: 0 }).is_err());
    }
}
