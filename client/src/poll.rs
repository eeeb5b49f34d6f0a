//! Waiting for any of many sockets with `poll(2)`: the crate's only unsafe code.
#![allow(unsafe_code)]

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// The sockets to wait on, rebuilt before each wait.
pub(crate) struct Readiness {
    fds: Vec<libc::pollfd>,
}

impl Readiness {
    pub(crate) fn with_capacity(sockets: usize) -> Self {
        Readiness { fds: Vec::with_capacity(sockets) }
    }

    pub(crate) fn clear(&mut self) {
        self.fds.clear();
    }

    /// Adds a socket; its position is the index `is_ready` takes.
    pub(crate) fn add(&mut self, socket: &UdpSocket) {
        self.fds.push(libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLIN, revents: 0 });
    }

    /// Waits until a socket is readable (or has an error pending) or
    /// `timeout` passes, rounded up to whole milliseconds. An interrupted
    /// wait returns early with nothing ready.
    pub(crate) fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        let timeout_ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: `fds` is a valid, exclusively borrowed array of `len`
        // pollfd structures for the duration of the call.
        let ready = unsafe { libc::poll(self.fds.as_mut_ptr(), self.fds.len() as libc::nfds_t, timeout_ms) };
        if ready >= 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        self.fds.iter_mut().for_each(|fd| fd.revents = 0);
        match error.kind() {
            io::ErrorKind::Interrupted => Ok(()),
            _ => Err(error),
        }
    }

    pub(crate) fn is_ready(&self, index: usize) -> bool {
        self.fds[index].revents != 0
    }
}
