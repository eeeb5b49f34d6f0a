//! What can go wrong with one operation.

use std::fmt::{self, Display, Formatter};
use std::io;
use std::net::SocketAddrV4;

use netcraq_linearizability::Value;

use crate::machine::Finished;
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
            ClientError::KeyOutOfRange { .. } | ClientError::WindowFull { .. } | ClientError::NotServing { .. } => {
                false
            }
            ClientError::OutcomeUnknown { .. } | ClientError::Io { .. } => true,
            ClientError::Timeout { kind, .. } => *kind == RequestKind::Write,
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
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
