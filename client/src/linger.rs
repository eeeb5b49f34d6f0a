//! Sockets of finished operations, kept open for a while. UDP has no
//! TIME_WAIT: a closed socket's port can be handed to the very next bind,
//! and a late reply to the old operation (a duplicate, or the answer to an
//! earlier transmission) would then be taken for the new operation's reply.

use std::collections::VecDeque;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// Finished sockets held at most; past it the oldest is closed early, which
/// keeps the client within the usual 1024 open files.
pub(crate) const LINGER_CAPACITY: usize = 256;

#[derive(Debug)]
pub(crate) struct Lingering {
    sockets: VecDeque<(Instant, UdpSocket)>,
    hold: Duration,
}

impl Lingering {
    /// Holds each finished socket for `hold`: as long as its operation could
    /// still have been retransmitting.
    pub(crate) fn new(hold: Duration) -> Self {
        Lingering { sockets: VecDeque::with_capacity(LINGER_CAPACITY), hold }
    }

    pub(crate) fn keep(&mut self, socket: UdpSocket) {
        let now = Instant::now();
        while self.sockets.front().is_some_and(|(until, _)| *until <= now) || self.sockets.len() >= LINGER_CAPACITY {
            self.sockets.pop_front();
        }
        self.sockets.push_back((now + self.hold, socket));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_port_is_not_reused_while_it_lingers() {
        let mut lingering = Lingering::new(Duration::from_secs(60));
        let mut ports = std::collections::HashSet::new();
        for _ in 0..LINGER_CAPACITY {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
            assert!(ports.insert(socket.local_addr().expect("address").port()), "a lingering port was reused");
            lingering.keep(socket);
        }
        assert_eq!(lingering.sockets.len(), LINGER_CAPACITY, "bounded");
        lingering.keep(UdpSocket::bind("127.0.0.1:0").expect("bind"));
        assert_eq!(lingering.sockets.len(), LINGER_CAPACITY, "the oldest made room");
    }
}
