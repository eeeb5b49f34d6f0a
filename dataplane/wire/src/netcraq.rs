use crate::{read_u16, write_u16, Result, WireError};

pub const NETCRAQ_HEADER_LEN: usize = 20;
pub const VALUE_LEN: usize = 16;
/// The chain extension after the header of a chain frame (§1.4): its epoch.
pub const CHAIN_EXTENSION_LEN: usize = 4;

/// Operation codes (`docs/protocol.md` §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Op {
    Read = 1,
    Write = 2,
    ReadReply = 3,
    WriteReply = 4,
    Ack = 5,
    Error = 6,
    ChainWrite = 7,
    Sync = 8,
    Sweep = 9,
    Renew = 10,
}

impl Op {
    pub const ALL: [Op; 10] = [
        Op::Read,
        Op::Write,
        Op::ReadReply,
        Op::WriteReply,
        Op::Ack,
        Op::Error,
        Op::ChainWrite,
        Op::Sync,
        Op::Sweep,
        Op::Renew,
    ];

    #[inline]
    pub fn from_code(code: u8) -> Option<Op> {
        Op::ALL.into_iter().find(|op| *op as u8 == code)
    }

    /// A chain op: sent only by chain nodes and the control plane, as a
    /// chain frame with the chain extension (§1.2, §1.4).
    #[inline]
    pub fn is_chain(self) -> bool {
        matches!(self, Op::ChainWrite | Op::Ack | Op::Sync | Op::Sweep | Op::Renew)
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::Read => "READ",
            Op::Write => "WRITE",
            Op::ReadReply => "READ_REPLY",
            Op::WriteReply => "WRITE_REPLY",
            Op::Ack => "ACK",
            Op::Error => "ERROR",
            Op::ChainWrite => "CHAIN_WRITE",
            Op::Sync => "SYNC",
            Op::Sweep => "SWEEP",
            Op::Renew => "RENEW",
        }
    }
}

/// Error codes carried in the `version` field of an `ERROR` reply (§1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorCode {
    KeyOutOfRange = 1,
    OutcomeUnknown = 2,
    WindowFull = 3,
    NotServing = 4,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 4] =
        [ErrorCode::KeyOutOfRange, ErrorCode::OutcomeUnknown, ErrorCode::WindowFull, ErrorCode::NotServing];

    pub fn from_code(code: u8) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|error| *error as u8 == code)
    }

    /// The name the spec uses.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::KeyOutOfRange => "KEY_OUT_OF_RANGE",
            ErrorCode::OutcomeUnknown => "OUTCOME_UNKNOWN",
            ErrorCode::WindowFull => "WINDOW_FULL",
            ErrorCode::NotServing => "NOT_SERVING",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorCode::KeyOutOfRange => "key outside the node's key range",
            ErrorCode::OutcomeUnknown => {
                "write outcome unknown: the retransmission could not be matched to a stamped write"
            }
            ErrorCode::WindowFull => "write not applied: 127 writes of this key are uncommitted; retry as a new write",
            ErrorCode::NotServing => {
                "the node may not answer reads now (lease lapsed, or the key not yet synced); retry"
            }
        })
    }
}

/// A view of the 20-byte NetCRAQ header.
#[derive(Debug, Clone)]
pub struct NetcraqHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NetcraqHeader<T> {
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        NetcraqHeader { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < NETCRAQ_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(NetcraqHeader { buffer })
    }

    /// The raw operation code, which may be unknown.
    #[inline]
    pub fn op_code(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    #[inline]
    pub fn key(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 2)
    }

    #[inline]
    pub fn value(&self) -> [u8; VALUE_LEN] {
        self.buffer.as_ref()[4..NETCRAQ_HEADER_LEN].try_into().unwrap()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NetcraqHeader<T> {
    #[inline]
    pub fn set_op(&mut self, op: Op) {
        self.buffer.as_mut()[0] = op as u8;
    }

    #[inline]
    pub fn set_version(&mut self, version: u8) {
        self.buffer.as_mut()[1] = version;
    }

    #[inline]
    pub fn set_key(&mut self, key: u16) {
        write_u16(self.buffer.as_mut(), 2, key);
    }

    #[inline]
    pub fn set_value(&mut self, value: &[u8; VALUE_LEN]) {
        self.buffer.as_mut()[4..NETCRAQ_HEADER_LEN].copy_from_slice(value);
    }
}

/// The fields of a NetCRAQ header with a known operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetcraqRepr {
    pub op: Op,
    pub version: u8,
    pub key: u16,
    pub value: [u8; VALUE_LEN],
}

impl NetcraqRepr {
    /// Fails with `Malformed` on an unknown operation code.
    pub fn parse<T: AsRef<[u8]>>(header: &NetcraqHeader<T>) -> Result<Self> {
        let op = Op::from_code(header.op_code()).ok_or(WireError::Malformed)?;
        Ok(NetcraqRepr { op, version: header.version(), key: header.key(), value: header.value() })
    }

    /// The value of a `RENEW` that carries `lease_end_ticks` (§1.2, §9.3):
    /// big-endian in bytes 0..4, the rest 0.
    pub fn renew_value(lease_end_ticks: u32) -> [u8; VALUE_LEN] {
        let mut value = [0; VALUE_LEN];
        value[..4].copy_from_slice(&lease_end_ticks.to_be_bytes());
        value
    }

    /// The lease end a `RENEW` carries: value bytes 0..4 (§9.3); 0 asks
    /// only for the node's clock.
    pub fn lease_end_ticks(&self) -> u32 {
        u32::from_be_bytes([self.value[0], self.value[1], self.value[2], self.value[3]])
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut NetcraqHeader<T>) {
        header.set_op(self.op);
        header.set_version(self.version);
        header.set_key(self.key);
        header.set_value(&self.value);
    }
}

/// A view of the chain extension (§1.4).
#[derive(Debug, Clone)]
pub struct ChainExtension<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ChainExtension<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < CHAIN_EXTENSION_LEN {
            return Err(WireError::Truncated);
        }
        Ok(ChainExtension { buffer })
    }

    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        ChainExtension { buffer }
    }

    #[inline]
    pub fn epoch(&self) -> u32 {
        let bytes = self.buffer.as_ref();
        u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ChainExtension<T> {
    #[inline]
    pub fn set_epoch(&mut self, epoch: u32) {
        self.buffer.as_mut()[..CHAIN_EXTENSION_LEN].copy_from_slice(&epoch.to_be_bytes());
    }
}
