use crate::{
    ChainExtension, EthernetFrame, EthernetRepr, Ipv4Packet, Ipv4Repr, MacAddr, NetcraqHeader, NetcraqRepr, Op, Result,
    UdpDatagram, UdpRepr, WireError, CHAIN_EXTENSION_LEN, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, IPV4_HEADER_LEN,
    IP_PROTOCOL_UDP, NETCRAQ_HEADER_LEN, UDP_HEADER_LEN,
};
use std::net::Ipv4Addr;

/// Length of a NetCRAQ frame that is not a chain frame (every frame a client
/// sends or receives): Ethernet, IPv4, UDP and NetCRAQ headers.
pub const NETCRAQ_FRAME_LEN: usize = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN + NETCRAQ_HEADER_LEN;
/// Length of a chain frame (§1.4), the longest NetCRAQ frame.
pub const CHAIN_FRAME_LEN: usize = NETCRAQ_FRAME_LEN + CHAIN_EXTENSION_LEN;

const UDP_OFFSET: usize = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN;
/// Where the NetCRAQ header starts in a frame.
pub const NETCRAQ_HEADER_OFFSET: usize = UDP_OFFSET + UDP_HEADER_LEN;
const EXTENSION_OFFSET: usize = NETCRAQ_HEADER_OFFSET + NETCRAQ_HEADER_LEN;

/// The UDP payload length of a frame of `op` (§1): the header, and the chain
/// extension for a chain op.
#[inline]
fn udp_payload_len(op: Op) -> u16 {
    match op.is_chain() {
        true => (NETCRAQ_HEADER_LEN + CHAIN_EXTENSION_LEN) as u16,
        false => NETCRAQ_HEADER_LEN as u16,
    }
}

impl Op {
    /// The length of a frame of this op: 66 bytes for a chain op, else 62 (§1).
    #[inline]
    pub fn frame_len(self) -> usize {
        NETCRAQ_HEADER_OFFSET + usize::from(udp_payload_len(self))
    }
}

/// A node or host as the network sees it: its MAC and IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
}

/// The TTL a client's request starts with.
const REQUEST_TTL: u8 = 64;
/// IPv4 "don't fragment": NetCRAQ frames are never fragmented.
const DONT_FRAGMENT: u16 = 0x4000;

/// A whole NetCRAQ frame, as clients, tests and tools build and read it.
/// (Nodes work on the views in place; see `netcraq-core`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetcraqFrame {
    pub eth_src: MacAddr,
    pub eth_dst: MacAddr,
    pub ip_src: Ipv4Addr,
    pub ip_dst: Ipv4Addr,
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    /// IPv4 flags and fragment offset as on the wire (0x4000 is "don't fragment").
    pub flags_fragment: u16,
    pub udp_src: u16,
    pub udp_dst: u16,
    pub header: NetcraqRepr,
    /// The chain extension's epoch: carried by chain frames only (§1.4), and
    /// 0 in any other.
    pub epoch: u32,
}

/// A frame's bytes: 62 or 66 of them (§1), or any other count up to 66.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameBytes {
    bytes: [u8; CHAIN_FRAME_LEN],
    len: usize,
}

impl FrameBytes {
    /// A copy of `bytes`; `None` when they are longer than a chain frame.
    pub fn copy_from(bytes: &[u8]) -> Option<FrameBytes> {
        let mut frame = FrameBytes { bytes: [0; CHAIN_FRAME_LEN], len: bytes.len() };
        frame.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(frame)
    }
}

impl std::ops::Deref for FrameBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::ops::DerefMut for FrameBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.len]
    }
}

impl NetcraqFrame {
    /// A client's request to a node, as a client sends it (`docs/protocol.md`
    /// §4.1): TTL 64, don't-fragment, to UDP port 20035.
    pub fn request(from: Endpoint, udp_src: u16, to: Endpoint, ident: u16, header: NetcraqRepr) -> NetcraqFrame {
        NetcraqFrame {
            eth_src: from.mac,
            eth_dst: to.mac,
            ip_src: from.ip,
            ip_dst: to.ip,
            ttl: REQUEST_TTL,
            tos: 0,
            ident,
            flags_fragment: DONT_FRAGMENT,
            udp_src,
            udp_dst: crate::NETCRAQ_UDP_PORT,
            header,
            epoch: 0,
        }
    }

    /// This frame's length: its op's (§1).
    #[inline]
    pub fn frame_len(&self) -> usize {
        self.header.op.frame_len()
    }

    /// Parses and validates a frame: Ethernet II, IPv4 without options and a
    /// valid checksum, not a fragment, UDP with the exact NetCRAQ lengths of
    /// its operation, a known operation. Any UDP port is accepted (replies
    /// come from 20035 to the client's port). Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let eth = EthernetFrame::new_checked(bytes)?;
        let eth_repr = EthernetRepr::parse(&eth);
        if eth_repr.ethertype != ETHERTYPE_IPV4 {
            return Err(WireError::Malformed);
        }
        let ip = Ipv4Packet::new_checked(eth.payload())?;
        let ip_repr = Ipv4Repr::parse(&ip)?;
        if ip.is_fragment() || ip_repr.protocol != IP_PROTOCOL_UDP {
            return Err(WireError::Malformed);
        }
        let udp = UdpDatagram::new_checked(ip.payload())?;
        let udp_repr = UdpRepr::parse(&udp);
        if udp_repr.payload_len < NETCRAQ_HEADER_LEN as u16 {
            return Err(WireError::Malformed);
        }
        let header = NetcraqRepr::parse(&NetcraqHeader::new_checked(udp.payload())?)?;
        let payload_len = udp_payload_len(header.op);
        if udp_repr.payload_len != payload_len || ip_repr.payload_len != payload_len + UDP_HEADER_LEN as u16 {
            return Err(WireError::Malformed);
        }
        let epoch = match header.op.is_chain() {
            true => ChainExtension::new_checked(&udp.payload()[NETCRAQ_HEADER_LEN..])?.epoch(),
            false => 0,
        };
        Ok(NetcraqFrame {
            eth_src: eth_repr.src_addr,
            eth_dst: eth_repr.dst_addr,
            ip_src: ip_repr.src_addr,
            ip_dst: ip_repr.dst_addr,
            ttl: ip_repr.ttl,
            tos: ip_repr.tos,
            ident: ip_repr.ident,
            flags_fragment: ip_repr.flags_fragment,
            udp_src: udp_repr.src_port,
            udp_dst: udp_repr.dst_port,
            header,
            epoch,
        })
    }

    /// Writes the frame into the first [`frame_len`](Self::frame_len) bytes of `buffer`
    /// and returns that length; fails if `buffer` is shorter.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let len = self.frame_len();
        let buffer = buffer.get_mut(..len).ok_or(WireError::Truncated)?;
        let payload_len = udp_payload_len(self.header.op);
        let mut eth = EthernetFrame::new_unchecked(&mut *buffer);
        EthernetRepr { src_addr: self.eth_src, dst_addr: self.eth_dst, ethertype: ETHERTYPE_IPV4 }.emit(&mut eth);
        let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
        Ipv4Repr {
            src_addr: self.ip_src,
            dst_addr: self.ip_dst,
            protocol: IP_PROTOCOL_UDP,
            ttl: self.ttl,
            tos: self.tos,
            ident: self.ident,
            flags_fragment: self.flags_fragment,
            payload_len: payload_len + UDP_HEADER_LEN as u16,
        }
        .emit(&mut ip);
        let mut udp = UdpDatagram::new_unchecked(ip.payload_mut());
        UdpRepr { src_port: self.udp_src, dst_port: self.udp_dst, payload_len }.emit(&mut udp);
        self.emit_header_and_extension(buffer);
        Ok(len)
    }

    /// Writes the frame over the first [`frame_len`](Self::frame_len) bytes of `buffer`,
    /// which already hold a NetCRAQ frame: of the fields every NetCRAQ frame
    /// shares (ethertype, IPv4 version and header length, protocol) none is
    /// written again, only what tells one frame from another and the
    /// checksums. A node answers in the buffer of the request it checked.
    /// Fails if `buffer` is shorter than the frame.
    pub fn rewrite(&self, buffer: &mut [u8]) -> Result<usize> {
        let len = self.frame_len();
        if buffer.len() < len {
            return Err(WireError::Truncated);
        }
        // At least a 62-byte frame: every offset below is checked when compiled.
        let frame: &mut [u8; NETCRAQ_FRAME_LEN] =
            (&mut buffer[..NETCRAQ_FRAME_LEN]).try_into().expect("len >= NETCRAQ_FRAME_LEN");
        let payload_len = udp_payload_len(self.header.op);
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..ETHERNET_HEADER_LEN]);
        eth.set_dst_addr(self.eth_dst);
        eth.set_src_addr(self.eth_src);
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETHERNET_HEADER_LEN..UDP_OFFSET]);
        ip.set_total_len(payload_len + (UDP_HEADER_LEN + IPV4_HEADER_LEN) as u16);
        ip.set_tos(self.tos);
        ip.set_ident(self.ident);
        ip.set_flags_fragment(self.flags_fragment);
        ip.set_ttl(self.ttl);
        ip.set_src_addr(self.ip_src);
        ip.set_dst_addr(self.ip_dst);
        ip.fill_checksum();
        let mut udp = UdpDatagram::new_unchecked(&mut frame[UDP_OFFSET..NETCRAQ_HEADER_OFFSET]);
        udp.set_src_port(self.udp_src);
        udp.set_dst_port(self.udp_dst);
        udp.set_len(payload_len + UDP_HEADER_LEN as u16);
        udp.clear_checksum();
        self.emit_header_and_extension(buffer);
        Ok(len)
    }

    /// The NetCRAQ header, and the chain extension of a chain frame, into a
    /// buffer of at least [`frame_len`](Self::frame_len) bytes.
    fn emit_header_and_extension(&self, buffer: &mut [u8]) {
        self.header.emit(&mut NetcraqHeader::new_unchecked(&mut buffer[NETCRAQ_HEADER_OFFSET..EXTENSION_OFFSET]));
        if self.header.op.is_chain() {
            ChainExtension::new_unchecked(&mut buffer[EXTENSION_OFFSET..CHAIN_FRAME_LEN]).set_epoch(self.epoch);
        }
    }

    /// The frame's bytes.
    pub fn to_bytes(&self) -> FrameBytes {
        let mut bytes = [0u8; CHAIN_FRAME_LEN];
        let len = self.emit(&mut bytes).expect("a frame is at most CHAIN_FRAME_LEN bytes");
        FrameBytes { bytes, len }
    }
}
