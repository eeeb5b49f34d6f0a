//! Ctrl-C and friends: recorded rather than fatal, so `netcraq up` can
//! tear down before it exits.

use std::sync::atomic::{AtomicI32, Ordering};

/// The last signal caught and not yet taken, or 0.
static CAUGHT: AtomicI32 = AtomicI32::new(0);

/// The signals that end `netcraq up`: Ctrl-C, `kill`, a closed terminal.
const INTERRUPTS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn record(signal: libc::c_int) {
    // An atomic store is all a signal handler may safely do here.
    CAUGHT.store(signal, Ordering::SeqCst);
}

/// From now on SIGINT, SIGTERM and SIGHUP no longer end the process; they
/// make [`crate::Running::wait`] return [`crate::Event::Interrupted`]. Call
/// it before `up`, so an interrupt during `up` still leads to a teardown.
pub fn catch_interrupts() -> std::io::Result<()> {
    for signal in INTERRUPTS {
        // SAFETY: sigaction is plain data; the handler only stores to an atomic.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: installs a handler that is async-signal-safe.
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The signal caught since the last call, if any.
pub fn take_interrupt() -> Option<i32> {
    match CAUGHT.swap(0, Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// Whether a signal was caught and not yet taken; leaves it for the next
/// caller (several poll loops of one process all see it).
pub fn interrupted() -> bool {
    CAUGHT.load(Ordering::Relaxed) != 0
}
