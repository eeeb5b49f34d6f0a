//! One operation: its request header on the wire and which replies answer it.

use netcraq_linearizability::Value;
use netcraq_wire::{ErrorCode, NetcraqHeader, NetcraqRepr, Op, NETCRAQ_HEADER_LEN};

use crate::error::RequestKind;

/// What a successful READ returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadReply {
    /// The version of the value (8-bit serial number, docs/protocol.md §3.1).
    pub version: u8,
    pub value: Value,
}

/// What a successful WRITE returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteReply {
    /// The version the head stamped on the write.
    pub version: u8,
}

/// A client operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Read { key: u16 },
    Write { key: u16, value: Value },
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpResult {
    /// `READ_REPLY` with the value read, or `WRITE_REPLY` with the value written.
    Ok { version: u8, value: Value },
    /// `ERROR OUTCOME_UNKNOWN` to a write: it may or may not take effect.
    OutcomeUnknown,
    /// No reply to any transmission: a write may or may not take effect.
    TimedOut,
    /// `ERROR KEY_OUT_OF_RANGE`: nothing changed.
    KeyOutOfRange,
    /// `ERROR WINDOW_FULL` to a write: it was not applied.
    WindowFull,
    /// `ERROR NOT_SERVING` to a read: the node may not answer reads now.
    NotServing,
}

impl Operation {
    pub fn key(&self) -> u16 {
        match self {
            Operation::Read { key } | Operation::Write { key, .. } => *key,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, Operation::Read { .. })
    }

    pub fn kind(&self) -> RequestKind {
        match self {
            Operation::Read { .. } => RequestKind::Read,
            Operation::Write { .. } => RequestKind::Write,
        }
    }

    /// The value the request carries: zeros for a READ (an ERROR echoes it).
    pub fn value(&self) -> Value {
        match self {
            Operation::Read { .. } => Value::default(),
            Operation::Write { value, .. } => *value,
        }
    }

    /// The request header of transmission number `attempt`, counting from 0.
    pub fn request(&self, attempt: u32) -> NetcraqRepr {
        let op = match self {
            Operation::Read { .. } => Op::Read,
            Operation::Write { .. } => Op::Write,
        };
        // A retransmitted WRITE has a non-zero version so that the head does
        // not stamp it again (docs/protocol.md §3.4).
        let version = u8::from(!self.is_read() && attempt > 0);
        NetcraqRepr { op, version, key: self.key(), value: self.value() }
    }

    /// What a reply means for this operation: `None` when it does not
    /// answer it, to be ignored. A reply must have the expected op and key;
    /// a WRITE_REPLY or an ERROR also echoes the request's value, and only a
    /// write can be answered OUTCOME_UNKNOWN or WINDOW_FULL.
    pub fn judge(&self, reply: &NetcraqRepr) -> Option<OpResult> {
        if reply.key != self.key() {
            return None;
        }
        let echoes_value = reply.value == self.value();
        let ok = OpResult::Ok { version: reply.version, value: reply.value };
        match (self.is_read(), reply.op) {
            (true, Op::ReadReply) => Some(ok),
            (false, Op::WriteReply) if echoes_value => Some(ok),
            (_, Op::Error) if echoes_value => match ErrorCode::from_code(reply.version)? {
                ErrorCode::KeyOutOfRange => Some(OpResult::KeyOutOfRange),
                ErrorCode::OutcomeUnknown if !self.is_read() => Some(OpResult::OutcomeUnknown),
                ErrorCode::WindowFull if !self.is_read() => Some(OpResult::WindowFull),
                ErrorCode::NotServing if self.is_read() => Some(OpResult::NotServing),
                ErrorCode::OutcomeUnknown | ErrorCode::WindowFull | ErrorCode::NotServing => None,
            },
            _ => None,
        }
    }
}

/// A header as the bytes of a UDP payload.
pub(crate) fn header_bytes(header: &NetcraqRepr) -> [u8; NETCRAQ_HEADER_LEN] {
    let mut bytes = [0; NETCRAQ_HEADER_LEN];
    header.emit(&mut NetcraqHeader::new_unchecked(&mut bytes));
    bytes
}

/// The header, if `payload` is exactly one NetCRAQ header with a known op.
pub(crate) fn parse_header(payload: &[u8]) -> Option<NetcraqRepr> {
    if payload.len() != NETCRAQ_HEADER_LEN {
        return None;
    }
    NetcraqRepr::parse(&NetcraqHeader::new_unchecked(payload)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(op: Op, version: u8, key: u16, value: Value) -> NetcraqRepr {
        NetcraqRepr { op, version, key, value }
    }

    fn judge(operation: Operation, payload: &[u8]) -> Option<OpResult> {
        operation.judge(&parse_header(payload)?)
    }

    #[test]
    fn only_write_retransmissions_carry_a_nonzero_version() {
        let write = Operation::Write { key: 3, value: [7; 16] };
        assert_eq!(header_bytes(&write.request(0))[..4], [Op::Write as u8, 0, 0, 3]);
        assert_eq!(header_bytes(&write.request(1))[1], 1);
        assert_eq!(header_bytes(&write.request(4))[1], 1);
        assert_eq!(header_bytes(&write.request(4))[4..], [7; 16]);
        assert_eq!(header_bytes(&Operation::Read { key: 3 }.request(2))[..2], [Op::Read as u8, 0]);
    }

    #[test]
    fn a_read_reply_for_the_key_matches_a_read() {
        let matched = Operation::Read { key: 9 }.judge(&reply(Op::ReadReply, 4, 9, [1; 16]));
        assert_eq!(matched, Some(OpResult::Ok { version: 4, value: [1; 16] }));
    }

    #[test]
    fn replies_with_another_key_op_or_length_are_not_ours() {
        let read = Operation::Read { key: 9 };
        assert!(read.judge(&reply(Op::ReadReply, 4, 8, [1; 16])).is_none());
        assert!(read.judge(&reply(Op::WriteReply, 4, 9, [0; 16])).is_none());
        assert!(judge(read, &header_bytes(&reply(Op::ReadReply, 4, 9, [1; 16]))[..19]).is_none());
        assert!(judge(read, &[99; NETCRAQ_HEADER_LEN]).is_none());
    }

    #[test]
    fn a_write_reply_must_echo_the_written_value() {
        let write = Operation::Write { key: 9, value: [5; 16] };
        assert_eq!(
            write.judge(&reply(Op::WriteReply, 2, 9, [5; 16])),
            Some(OpResult::Ok { version: 2, value: [5; 16] })
        );
        assert!(write.judge(&reply(Op::WriteReply, 2, 9, [6; 16])).is_none());
    }

    #[test]
    fn errors_become_results() {
        let write = Operation::Write { key: 9, value: [5; 16] };
        let error = |code: u8, value: Value| reply(Op::Error, code, 9, value);
        assert_eq!(write.judge(&error(ErrorCode::KeyOutOfRange as u8, [5; 16])), Some(OpResult::KeyOutOfRange));
        assert_eq!(write.judge(&error(ErrorCode::OutcomeUnknown as u8, [5; 16])), Some(OpResult::OutcomeUnknown));
        assert_eq!(write.judge(&error(ErrorCode::WindowFull as u8, [5; 16])), Some(OpResult::WindowFull));
        assert_eq!(write.judge(&error(ErrorCode::NotServing as u8, [5; 16])), None, "only reads are refused");
        assert!(write.judge(&error(ErrorCode::WindowFull as u8, [6; 16])).is_none(), "an error echoes the value");
        assert!(write.judge(&error(77, [5; 16])).is_none());
        let read = Operation::Read { key: 9 };
        assert!(read.judge(&error(ErrorCode::OutcomeUnknown as u8, [0; 16])).is_none());
        assert!(read.judge(&error(ErrorCode::WindowFull as u8, [0; 16])).is_none());
    }
}
