//! Node processes: started inside a namespace in a process group of their
//! own, watched without reaping, stopped with SIGTERM then SIGKILL.
//!
//! The process stays unreaped (alive or a zombie) until `kill_and_reap`, so
//! its PID, which is also its process group ID, cannot be reused by another
//! process while we may still signal it.

use crate::command::{command_line, wait_until, CommandError, CommandFailure};
use crate::netns::Namespace;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// True when this process runs as root, as namespaces and DPDK need.
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no arguments, no memory effects and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `program` is a file in one of PATH's directories.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Sends `signal` to process `pid` (negative: to process group `-pid`).
/// The caller makes sure the PID is still the one it means: a child not yet
/// reaped, or a process found a moment ago. ESRCH (nobody left) is fine.
pub fn send_signal(pid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory effects.
    unsafe { libc::kill(pid, signal) };
}

/// Makes `command` start its process in a session (and so an autogroup and
/// a process group) of its own.
pub fn start_in_new_session(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only setsid(2), which is async-signal-safe, and reads errno.
    unsafe {
        command.pre_exec(|| match libc::setsid() {
            -1 => Err(std::io::Error::last_os_error()),
            _ => Ok(()),
        });
    }
}

/// How a node process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exited with status {code}"),
            Exit::Signal(signal) => write!(f, "was killed by signal {signal}"),
        }
    }
}

#[derive(Debug)]
pub(crate) struct NodeProcess {
    pub node: String,
    child: Child,
}

impl NodeProcess {
    /// Runs `command` (program, arguments, environment and directory are
    /// kept) as `ip netns exec NS program args...` when given a namespace
    /// (which execs the program in place, so the PID is the node's), or as
    /// it is. Its own process group keeps a
    /// terminal's Ctrl-C away from it: the runner stops nodes in order.
    pub fn start(node: &str, namespace: Option<&Namespace>, command: &Command) -> Result<NodeProcess, CommandError> {
        let mut wrapped = match namespace {
            Some(namespace) => namespace.command(command.get_program()),
            None => Command::new(command.get_program()),
        };
        wrapped.args(command.get_args()).stdin(Stdio::null()).process_group(0);
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => wrapped.env(key, value),
                None => wrapped.env_remove(key),
            };
        }
        if let Some(dir) = command.get_current_dir() {
            wrapped.current_dir(dir);
        }
        let child = wrapped
            .spawn()
            .map_err(|e| CommandError { command_line: command_line(&wrapped), failure: CommandFailure::Spawn(e) })?;
        Ok(NodeProcess { node: node.to_owned(), child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How the process ended, if it has; leaves it unreaped.
    pub fn exit(&self) -> Option<Exit> {
        // SAFETY: siginfo_t is plain data, and waitid writes it for our own child.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: as above; WNOWAIT leaves the child waitable.
        let found = unsafe { libc::waitid(libc::P_PID, self.pid(), &mut info, flags) } == 0;
        // SAFETY: si_pid and si_status are valid for a SIGCHLD-style siginfo, which waitid fills.
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        match (found && pid != 0, info.si_code) {
            (false, _) => None,
            (true, libc::CLD_EXITED) => Some(Exit::Code(status)),
            (true, _) => Some(Exit::Signal(status)),
        }
    }

    /// Sends `signal` to the node's process group: the node and anything it
    /// started there. Safe while the leader is unreaped (see the module doc).
    pub fn signal(&self, signal: libc::c_int) {
        send_signal(-(self.pid() as libc::pid_t), signal);
    }

    /// SIGKILLs the group and reaps the node within `limit`.
    pub fn kill_and_reap(&mut self, limit: Duration) -> Result<(), String> {
        self.signal(libc::SIGKILL);
        match wait_until(&mut self.child, Instant::now() + limit) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!("node {} (pid {}) still runs {limit:?} after SIGKILL", self.node, self.pid())),
            Err(error) => Err(format!("node {} (pid {}): {error}", self.node, self.pid())),
        }
    }
}
