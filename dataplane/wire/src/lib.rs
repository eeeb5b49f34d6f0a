//! Wire format of NetCRAQ (see `docs/protocol.md` §1).
//!
//! Each layer has a zero-copy view over a byte buffer (`new_checked` verifies
//! the length once, after which accessors cannot panic) and a `Repr` holding
//! the parsed fields, with `parse` and `emit`. Nothing here allocates.
//!
//! Accessors are `#[inline]`, and those a node reads on every frame
//! `#[inline(always)]`: without that, LLVM stops inlining them into
//! `Node::process` once it grows, which `netcraq bench ceiling
//! --instructions` showed as 15 % more instructions per clean read.

#![forbid(unsafe_code)]

mod ethernet;
mod frame;
mod ipv4;
mod netcraq;
mod udp;

pub use ethernet::{EthernetFrame, EthernetRepr, MacAddr, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4};
pub use frame::{Endpoint, FrameBytes, NetcraqFrame, CHAIN_FRAME_LEN, NETCRAQ_FRAME_LEN, NETCRAQ_HEADER_OFFSET};
pub use ipv4::{Ipv4Packet, Ipv4Repr, IPV4_HEADER_LEN, IP_PROTOCOL_UDP};
pub use netcraq::{
    ChainExtension, ErrorCode, NetcraqHeader, NetcraqRepr, Op, CHAIN_EXTENSION_LEN, NETCRAQ_HEADER_LEN, VALUE_LEN,
};
pub use std::net::Ipv4Addr;
pub use udp::{UdpDatagram, UdpRepr, NETCRAQ_UDP_PORT, UDP_HEADER_LEN};

/// Why a buffer could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The buffer is shorter than the header (or than the length it declares).
    Truncated,
    /// A field holds a value this layer does not accept.
    Malformed,
    /// The IPv4 header checksum does not verify.
    Checksum,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "buffer truncated",
            WireError::Malformed => "malformed header field",
            WireError::Checksum => "IPv4 header checksum mismatch",
        })
    }
}

impl std::error::Error for WireError {}

pub type Result<T> = std::result::Result<T, WireError>;

#[inline]
fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

#[inline]
fn write_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_be_bytes());
}
