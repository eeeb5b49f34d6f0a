//! Running short commands (`ip`, clients in a namespace) with a time limit,
//! and errors that quote the command line and its stderr.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long an `ip` command may take: they finish in milliseconds.
pub const IP_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest pause between checks on a running command.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

#[derive(Debug)]
pub struct CommandError {
    pub command_line: String,
    pub failure: CommandFailure,
}

#[derive(Debug)]
pub enum CommandFailure {
    Spawn(std::io::Error),
    Wait(std::io::Error),
    Exit { status: ExitStatus, stderr: String },
    TimedOut(Duration),
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = &self.command_line;
        match &self.failure {
            CommandFailure::Spawn(error) => write!(f, "`{line}` could not start: {error}"),
            CommandFailure::Wait(error) => write!(f, "`{line}` could not be waited for: {error}"),
            CommandFailure::Exit { status, stderr } => write!(f, "`{line}` failed ({status}): {}", stderr.trim()),
            CommandFailure::TimedOut(limit) => write!(f, "`{line}` did not finish within {limit:?} and was killed"),
        }
    }
}

impl std::error::Error for CommandError {}

/// The command as a shell would show it (arguments quoted when needed).
pub fn command_line(command: &Command) -> String {
    let quote = |word: &std::ffi::OsStr| {
        let word = word.to_string_lossy();
        let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
        if plain {
            word.into_owned()
        } else {
            format!("'{}'", word.replace('\'', r"'\''"))
        }
    };
    std::iter::once(command.get_program()).chain(command.get_args()).map(quote).collect::<Vec<_>>().join(" ")
}

/// Runs `command` to completion within `limit`, stdin from `/dev/null`, and
/// returns its stdout; a non-zero exit is an error carrying stderr, and a
/// command still running at the limit is killed. Meant for short commands: the
/// output is read after the exit, so it must fit in a pipe (64 KiB): a
/// command that writes more blocks until the limit.
pub fn run_command(command: &mut Command, limit: Duration) -> Result<String, CommandError> {
    let line = command_line(command);
    let fail = |failure| CommandError { command_line: line.clone(), failure };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(CommandFailure::Spawn(e)))?;
    let status = match wait_until(&mut child, Instant::now() + limit) {
        Ok(Some(status)) => status,
        Ok(None) => {
            // kill and wait only fail if the child is already reaped, which it is not.
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(CommandFailure::TimedOut(limit)));
        }
        Err(e) => return Err(fail(CommandFailure::Wait(e))),
    };
    let stdout = read_available(child.stdout.take());
    let stderr = read_available(child.stderr.take());
    match status.success() {
        true => Ok(stdout),
        false => Err(fail(CommandFailure::Exit { status, stderr })),
    }
}

/// Polls until the child exits (`Some`) or the deadline passes (`None`).
pub(crate) fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(POLL_INTERVAL);
    }
}

/// What the pipe holds, without blocking: a process the command left behind
/// may keep the pipe open after the command itself exited.
fn read_available(pipe: Option<impl Read + AsRawFd>) -> String {
    let Some(mut pipe) = pipe else { return String::new() };
    // SAFETY: fcntl on a descriptor this pipe owns; only its flags change.
    unsafe {
        let flags = libc::fcntl(pipe.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    let mut bytes = Vec::new();
    // Stops at end of file or at WouldBlock, whichever comes first; what was
    // read up to then is kept either way.
    let _ = pipe.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}
