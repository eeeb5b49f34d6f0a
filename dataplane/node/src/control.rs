//! The channel that carries a control plane's requests
//! ([`netcraq_core::control`]) to the poll loop that owns the node.
//!
//! The data path stays single-owner and lock-free: the poll loop (AF_PACKET
//! or DPDK) alone owns the [`Node`] and, once per round, applies at most
//! [`MAX_REQUESTS_PER_ROUND`] requests taken from its [`ControlPort`] with
//! [`apply`]. Any number of server threads hold a cloned [`ControlHandle`]
//! and block on [`ControlHandle::call`] until the answer comes back or the
//! call times out. The request queue is bounded; a full queue is an error,
//! never a wait. The handle also wakes a loop that sleeps in `poll(2)`
//! through an eventfd ([`ControlPort::wake_fd`]), so a request is served
//! within a round, not after the loop's idle timeout.

use crate::sys::{poll, Wake};
use netcraq_core::control::{
    apply, ControlError, ControlRequest, ControlResponse, CONTROL_QUEUE_CAPACITY, MAX_REQUESTS_PER_ROUND,
};
use netcraq_core::Node;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request on its way to the poll loop, with where to answer and until when.
struct Envelope {
    request: ControlRequest,
    deadline: Instant,
    reply: SyncSender<Result<ControlResponse, ControlError>>,
}

/// The server side: cloneable, used from any thread. See the module docs.
#[derive(Clone)]
pub struct ControlHandle {
    requests: SyncSender<Envelope>,
    wake: Arc<Wake>,
}

/// The poll loop's side: owned by the loop, polled once per round.
pub struct ControlPort {
    requests: Receiver<Envelope>,
    wake: Arc<Wake>,
}

/// A connected handle and port.
pub fn control_channel() -> io::Result<(ControlHandle, ControlPort)> {
    let (sender, receiver) = mpsc::sync_channel(CONTROL_QUEUE_CAPACITY);
    let wake = Arc::new(Wake::new().map_err(|e| io::Error::new(e.kind(), format!("creating an eventfd: {e}")))?);
    Ok((ControlHandle { requests: sender, wake: wake.clone() }, ControlPort { requests: receiver, wake }))
}

impl ControlHandle {
    /// Sends `request` to the poll loop and waits up to `timeout` for its answer.
    /// Blocking: call it from a blocking context (e.g. tokio's `spawn_blocking`).
    pub fn call(&self, request: ControlRequest, timeout: Duration) -> Result<ControlResponse, ControlError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let envelope = Envelope { request, deadline: Instant::now() + timeout, reply };
        match self.requests.try_send(envelope) {
            Ok(()) => self.wake.signal(),
            Err(TrySendError::Full(_)) => return Err(ControlError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(ControlError::NodeStopped),
        }
        match answer.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(ControlError::TimedOut(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(ControlError::NodeStopped),
        }
    }
}

impl ControlPort {
    /// Applies up to [`MAX_REQUESTS_PER_ROUND`] waiting requests to `node`
    /// and answers them, handing `emit` each frame they send (a PacketOut's
    /// outputs) with its egress port; returns how many it took. Costs one
    /// `try_recv` and no system call when nothing waits.
    pub fn poll(&mut self, node: &mut Node, emit: &mut dyn FnMut(u16, &[u8])) -> usize {
        self.serve_with(|request| apply(node, request, emit))
    }

    /// As [`ControlPort::poll`], answering each request with `answer`
    /// instead of applying it to one node (the lcores of a DPDK node).
    pub fn serve_with(
        &mut self,
        mut answer: impl FnMut(ControlRequest) -> Result<ControlResponse, ControlError>,
    ) -> usize {
        let mut taken = 0;
        while taken < MAX_REQUESTS_PER_ROUND {
            let envelope = match self.requests.try_recv() {
                Ok(envelope) => envelope,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            };
            taken += 1;
            // Past its deadline the caller has given up: applying it now
            // would change the node behind the caller's back.
            if Instant::now() > envelope.deadline {
                continue;
            }
            let result = answer(envelope.request);
            let _ = envelope.reply.try_send(result);
        }
        if taken == MAX_REQUESTS_PER_ROUND {
            // More may wait: keep the loop from sleeping before the next round.
            self.wake.signal();
        }
        taken
    }

    /// Readable when requests may be waiting: a loop that sleeps in `poll(2)`
    /// adds it to its descriptors and calls [`ControlPort::clear_wake`] when
    /// it fires, before [`ControlPort::poll`].
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    pub fn clear_wake(&self) {
        self.wake.clear();
    }

    /// Blocks until a request may be waiting or `timeout` passes: for a loop
    /// with nothing else to wait on (an unconfigured node with no ports, tests).
    pub fn wait(&self, timeout: Duration) {
        let mut fds = [libc::pollfd { fd: self.wake.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if poll(&mut fds, timeout).is_ok_and(|ready| ready > 0) {
            self.clear_wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcraq_core::NodeConfig;
    use netcraq_wire::{Ipv4Addr, MacAddr};

    fn config() -> NodeConfig {
        NodeConfig::solo(MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(10, 0, 0, 1), 0, 16)
    }

    #[test]
    fn calls_are_answered_by_the_polling_thread_and_time_out_when_nobody_polls() {
        let (handle, mut port) = control_channel().unwrap();
        let timeout = Duration::from_millis(100);
        assert_eq!(handle.call(ControlRequest::ReadConfig, timeout), Err(ControlError::TimedOut(timeout)));
        // The timed-out request is discarded, not applied late.
        let mut node = Node::new(16);
        assert_eq!(port.poll(&mut node, &mut |_, _| {}), 1);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let poller = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    port.wait(Duration::from_millis(50));
                    port.poll(&mut node, &mut |_, _| {});
                }
            })
        };
        let started = Instant::now();
        for _ in 0..20 {
            handle.call(ControlRequest::SetConfig(config()), Duration::from_secs(5)).unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(1), "the eventfd wakes the poller at once");
        assert_eq!(
            handle.call(ControlRequest::ReadConfig, Duration::from_secs(5)),
            Ok(ControlResponse::Config(Some(config())))
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        poller.join().unwrap();
        assert_eq!(handle.call(ControlRequest::ReadConfig, timeout), Err(ControlError::NodeStopped));
    }

    #[test]
    fn a_full_queue_is_refused_not_waited_on() {
        let (handle, _port) = control_channel().unwrap();
        let senders: Vec<_> = (0..CONTROL_QUEUE_CAPACITY)
            .map(|_| {
                let handle = handle.clone();
                std::thread::spawn(move || handle.call(ControlRequest::ReadConfig, Duration::from_millis(500)))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        let refused = loop {
            match handle.call(ControlRequest::ReadConfig, Duration::from_millis(1)) {
                Err(ControlError::Busy) => break true,
                _ if Instant::now() > deadline => break false,
                _ => std::thread::sleep(Duration::from_millis(1)),
            }
        };
        assert!(refused, "a full queue answers Busy");
        for sender in senders {
            let _ = sender.join();
        }
    }
}
