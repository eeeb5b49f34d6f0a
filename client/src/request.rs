//! One request: its header on the wire and which replies belong to it.

use netcraq_linearizability::Value;
use netcraq_wire::{ErrorCode, NetcraqHeader, NetcraqRepr, Op, NETCRAQ_HEADER_LEN};

use crate::error::{ClientError, RequestKind};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) kind: RequestKind,
    pub(crate) key: u16,
    /// For a READ, zeros: an ERROR reply echoes it.
    pub(crate) value: Value,
}

/// A successful reply to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    Read(ReadReply),
    Written(WriteReply),
}

impl Request {
    pub(crate) fn read(key: u16) -> Self {
        Request { kind: RequestKind::Read, key, value: Value::default() }
    }

    pub(crate) fn write(key: u16, value: Value) -> Self {
        Request { kind: RequestKind::Write, key, value }
    }

    /// The header of transmission number `attempt`, counting from 0.
    pub(crate) fn encode(&self, attempt: u32) -> [u8; NETCRAQ_HEADER_LEN] {
        let op = match self.kind {
            RequestKind::Read => Op::Read,
            RequestKind::Write => Op::Write,
        };
        // A retransmitted WRITE has a non-zero version so that the head does
        // not stamp it again (docs/protocol.md §3.4).
        let version = u8::from(self.kind == RequestKind::Write && attempt > 0);
        let mut bytes = [0; NETCRAQ_HEADER_LEN];
        NetcraqRepr { op, version, key: self.key, value: self.value }
            .emit(&mut NetcraqHeader::new_unchecked(&mut bytes));
        bytes
    }

    /// What a datagram received on this request's socket means for it:
    /// `None` when it is no reply to it, to be ignored. A reply must have the
    /// expected op and key; a WRITE_REPLY or an ERROR also echoes the
    /// request's value.
    pub(crate) fn match_reply(&self, payload: &[u8]) -> Option<Result<Reply, ClientError>> {
        let reply = parse_header(payload).filter(|reply| reply.key == self.key)?;
        let echoes_value = reply.value == self.value;
        match (self.kind, reply.op) {
            (RequestKind::Read, Op::ReadReply) => {
                Some(Ok(Reply::Read(ReadReply { version: reply.version, value: reply.value })))
            }
            (RequestKind::Write, Op::WriteReply) if echoes_value => {
                Some(Ok(Reply::Written(WriteReply { version: reply.version })))
            }
            (_, Op::Error) if echoes_value => self.match_error(reply.version).map(Err),
            _ => None,
        }
    }

    fn match_error(&self, code: u8) -> Option<ClientError> {
        match ErrorCode::from_code(code)? {
            ErrorCode::KeyOutOfRange => Some(ClientError::KeyOutOfRange { key: self.key }),
            ErrorCode::OutcomeUnknown if self.kind == RequestKind::Write => {
                Some(ClientError::OutcomeUnknown { key: self.key })
            }
            ErrorCode::WindowFull if self.kind == RequestKind::Write => Some(ClientError::WindowFull { key: self.key }),
            ErrorCode::OutcomeUnknown | ErrorCode::WindowFull => None,
        }
    }
}

/// The header, if `payload` is exactly one NetCRAQ header with a known op.
fn parse_header(payload: &[u8]) -> Option<NetcraqRepr> {
    if payload.len() != NETCRAQ_HEADER_LEN {
        return None;
    }
    NetcraqRepr::parse(&NetcraqHeader::new_unchecked(payload)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(op: Op, version: u8, key: u16, value: Value) -> [u8; NETCRAQ_HEADER_LEN] {
        let mut bytes = [0; NETCRAQ_HEADER_LEN];
        NetcraqRepr { op, version, key, value }.emit(&mut NetcraqHeader::new_unchecked(&mut bytes));
        bytes
    }

    #[test]
    fn only_write_retransmissions_carry_a_nonzero_version() {
        let write = Request::write(3, [7; 16]);
        assert_eq!(write.encode(0)[..4], [Op::Write as u8, 0, 0, 3]);
        assert_eq!(write.encode(1)[1], 1);
        assert_eq!(write.encode(4)[1], 1);
        assert_eq!(write.encode(4)[4..], [7; 16]);
        assert_eq!(Request::read(3).encode(2)[..2], [Op::Read as u8, 0]);
    }

    #[test]
    fn a_read_reply_for_the_key_matches_a_read() {
        let matched = Request::read(9).match_reply(&reply(Op::ReadReply, 4, 9, [1; 16]));
        assert_eq!(matched.unwrap().unwrap(), Reply::Read(ReadReply { version: 4, value: [1; 16] }));
    }

    #[test]
    fn replies_with_another_key_op_or_length_are_not_ours() {
        let read = Request::read(9);
        assert!(read.match_reply(&reply(Op::ReadReply, 4, 8, [1; 16])).is_none());
        assert!(read.match_reply(&reply(Op::WriteReply, 4, 9, [0; 16])).is_none());
        assert!(read.match_reply(&reply(Op::ReadReply, 4, 9, [1; 16])[..19]).is_none());
        assert!(read.match_reply(&[99; NETCRAQ_HEADER_LEN]).is_none());
    }

    #[test]
    fn a_write_reply_must_echo_the_written_value() {
        let write = Request::write(9, [5; 16]);
        let echoed = write.match_reply(&reply(Op::WriteReply, 2, 9, [5; 16]));
        assert_eq!(echoed.unwrap().unwrap(), Reply::Written(WriteReply { version: 2 }));
        assert!(write.match_reply(&reply(Op::WriteReply, 2, 9, [6; 16])).is_none());
    }

    #[test]
    fn errors_become_client_errors() {
        let write = Request::write(9, [5; 16]);
        let out_of_range = write.match_reply(&reply(Op::Error, ErrorCode::KeyOutOfRange as u8, 9, [5; 16]));
        assert!(matches!(out_of_range, Some(Err(ClientError::KeyOutOfRange { key: 9 }))));
        let unknown = write.match_reply(&reply(Op::Error, ErrorCode::OutcomeUnknown as u8, 9, [5; 16]));
        assert!(matches!(unknown, Some(Err(ClientError::OutcomeUnknown { key: 9 }))));
        let window_full = write.match_reply(&reply(Op::Error, ErrorCode::WindowFull as u8, 9, [5; 16]));
        assert!(matches!(window_full, Some(Err(ClientError::WindowFull { key: 9 }))));
        assert!(write.match_reply(&reply(Op::Error, 77, 9, [5; 16])).is_none());
        let read = Request::read(9);
        assert!(read.match_reply(&reply(Op::Error, ErrorCode::OutcomeUnknown as u8, 9, [0; 16])).is_none());
        assert!(read.match_reply(&reply(Op::Error, ErrorCode::WindowFull as u8, 9, [0; 16])).is_none());
    }
}
