//! What can go wrong with one operation.

use std::fmt::{self, Display, Formatter};
use std::io;
use std::net::SocketAddrV4;

use netcraq_linearizability::Value;

use crate::follow::Try;
use crate::machine::Finished;
use crate::membership::MembershipError;
use crate::request::OpResult;

/// The two kinds of request a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    Read,
    Write,
}

impl Display for RequestKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestKind::Read => "READ",
            RequestKind::Write => "WRITE",
        })
    }
}

#[derive(Debug)]
pub enum ClientError {
    /// The node answered `ERROR KEY_OUT_OF_RANGE`: nothing was changed.
    KeyOutOfRange { key: u16 },
    /// The node answered `ERROR OUTCOME_UNKNOWN` to a retransmitted write:
    /// the write may or may not have been applied.
    OutcomeUnknown { key: u16 },
    /// The head answered `ERROR WINDOW_FULL`: 127 writes of the key are
    /// uncommitted, and this one was not applied; it may be sent again later.
    WindowFull { key: u16 },
    /// The node answered `ERROR NOT_SERVING` to a read: its lease has lapsed
    /// or it is still receiving the chain's state; another node may answer.
    NotServing { key: u16, node: SocketAddrV4 },
    /// No reply after every attempt. For a write, the outcome is unknown.
    Timeout { kind: RequestKind, key: u16, attempts: u32, node: SocketAddrV4 },
    /// A socket operation failed.
    Io { node: SocketAddrV4, source: io::Error },
    /// The chain's members could not be learnt, so nobody was asked.
    NoMembership(MembershipError),
    /// The membership has no chain that serves the key: its chains as `name [lo, hi)`.
    NoChainForKey { key: u16, chains: Vec<String> },
    /// Following the chain, no member answered within the bounds on tries
    /// and time: `failed` lists the tries that went unanswered or refused.
    NoMemberAnswered {
        kind: RequestKind,
        key: u16,
        tries: u32,
        failed: Vec<Try>,
        elapsed_ms: u64,
        /// Why the membership could not be learnt again, if it could not.
        refresh_error: Option<MembershipError>,
        write_may_have_applied: bool,
    },
}

impl ClientError {
    /// The version and value of an operation that ended well, or why it did
    /// not, sent to `node`.
    pub(crate) fn result_of<T>(finished: &Finished<T>, node: SocketAddrV4) -> Result<(u8, Value), ClientError> {
        let key = finished.operation.key();
        match finished.result {
            OpResult::Ok { version, value } => Ok((version, value)),
            OpResult::KeyOutOfRange => Err(ClientError::KeyOutOfRange { key }),
            OpResult::OutcomeUnknown => Err(ClientError::OutcomeUnknown { key }),
            OpResult::WindowFull => Err(ClientError::WindowFull { key }),
            OpResult::NotServing => Err(ClientError::NotServing { key, node }),
            OpResult::TimedOut => {
                let (kind, attempts) = (finished.operation.kind(), finished.transmissions);
                Err(ClientError::Timeout { kind, key, attempts, node })
            }
        }
    }

    /// Whether a write that failed this way may still have been applied (and
    /// may be applied later): then only a read can tell.
    pub fn write_may_have_applied(&self) -> bool {
        match self {
            ClientError::KeyOutOfRange { .. }
            | ClientError::WindowFull { .. }
            | ClientError::NotServing { .. }
            | ClientError::NoMembership(_)
            | ClientError::NoChainForKey { .. } => false,
            ClientError::OutcomeUnknown { .. } | ClientError::Io { .. } => true,
            ClientError::Timeout { kind, .. } => *kind == RequestKind::Write,
            ClientError::NoMemberAnswered { write_may_have_applied, .. } => *write_may_have_applied,
        }
    }
}

impl Display for ClientError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::KeyOutOfRange { key } => {
                write!(f, "key {key} is outside the node's key range; nothing was changed")
            }
            ClientError::OutcomeUnknown { key } => write!(
                f,
                "the write to key {key} may or may not have been applied: the head could not match \
                 its retransmission to the write it last stamped (it may still be applied later: a read shows only the current value)"
            ),
            ClientError::WindowFull { key } => write!(
                f,
                "the write to key {key} was not applied: the head holds 127 uncommitted writes of the key; \
                 send it again later"
            ),
            ClientError::NotServing { key, node } => write!(
                f,
                "{node} may not answer a READ of key {key} now: its lease has lapsed or it is still \
                 receiving the chain's state; ask another node of the chain or try again"
            ),
            ClientError::Timeout { kind: RequestKind::Read, key, attempts, node } => write!(
                f,
                "no reply from {node} to READ of key {key} after {attempts} attempts: \
                 is the chain up, and does this host have a route to it?"
            ),
            ClientError::Timeout { kind: RequestKind::Write, key, attempts, node } => write!(
                f,
                "no reply from {node} to WRITE of key {key} after {attempts} attempts; \
                 the write may or may not have been applied (it may still be applied later: a read shows only the current value)"
            ),
            ClientError::Io { node, source } => write!(f, "I/O error talking to {node}: {source}"),
            ClientError::NoMembership(error) => write!(f, "could not learn the chain's members: {error}"),
            ClientError::NoChainForKey { key, chains } => {
                write!(f, "no chain serves key {key}; the membership has: {}", chains.join(", "))
            }
            ClientError::NoMemberAnswered {
                kind,
                key,
                tries,
                failed,
                elapsed_ms,
                refresh_error,
                write_may_have_applied,
            } => {
                write!(f, "no member answered {kind} of key {key} after {tries} tries over {elapsed_ms} ms: tried ")?;
                f.write_str(&runs(failed).join(", "))?;
                match (kind, write_may_have_applied) {
                    (RequestKind::Write, true) => f.write_str(
                        "; the write may or may not have been applied (it may still be applied later: \
                         a read shows only the current value)",
                    )?,
                    (RequestKind::Write, false) => f.write_str("; the write was not applied")?,
                    (RequestKind::Read, _) => {}
                }
                match refresh_error {
                    Some(error) => write!(f, "; the membership could not be learnt again: {error}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Tries as text, a run of equal ones once with its count: `10.0.0.1 (no reply) ×3`.
fn runs(tries: &[Try]) -> Vec<String> {
    let mut runs: Vec<(Try, usize)> = Vec::new();
    for attempt in tries {
        match runs.last_mut() {
            Some((last, count)) if last == attempt => *count += 1,
            _ => runs.push((*attempt, 1)),
        }
    }
    runs.iter()
        .map(|(attempt, count)| if *count == 1 { attempt.to_string() } else { format!("{attempt} ×{count}") })
        .collect()
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
