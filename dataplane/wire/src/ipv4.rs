use crate::{read_u16, write_u16, Result, WireError};
use std::net::Ipv4Addr;

/// NetCRAQ carries no IPv4 options: the header is always 20 bytes (IHL 5).
pub const IPV4_HEADER_LEN: usize = 20;
pub const IP_PROTOCOL_UDP: u8 = 17;

const FLAG_MORE_FRAGMENTS: u16 = 0x2000;
const FRAGMENT_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet without options.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps `buffer` after checking (in the order of `docs/protocol.md` §5
    /// step 5) that it holds a 20-byte header, version 4, IHL 5, and the
    /// whole packet its total length declares. Bytes after the total length
    /// (Ethernet padding) are allowed and ignored by `payload`.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Ipv4Packet { buffer };
        let len = packet.buffer.as_ref().len();
        if len < IPV4_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if packet.version() != 4 || packet.ihl() != 5 || usize::from(packet.total_len()) < IPV4_HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if usize::from(packet.total_len()) > len {
            return Err(WireError::Truncated);
        }
        Ok(packet)
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Header length in 32-bit words.
    #[inline]
    pub fn ihl(&self) -> u8 {
        self.buffer.as_ref()[0] & 0x0f
    }

    #[inline(always)]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    #[inline(always)]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 2)
    }

    #[inline(always)]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 4)
    }

    /// Flags (3 bits) and fragment offset (13 bits), as on the wire.
    #[inline(always)]
    pub fn flags_fragment(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 6)
    }

    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_fragment() & FLAG_MORE_FRAGMENTS != 0 || self.fragment_offset() != 0
    }

    /// The fragment offset, in units of 8 bytes: non-zero for every fragment
    /// but the first.
    #[inline]
    pub fn fragment_offset(&self) -> u16 {
        self.flags_fragment() & FRAGMENT_OFFSET_MASK
    }

    #[inline(always)]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[8]
    }

    #[inline(always)]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[9]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 10)
    }

    #[inline(always)]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }

    #[inline(always)]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }

    pub fn verify_checksum(&self) -> bool {
        ones_complement_sum(self.header()) == 0xffff
    }

    fn header(&self) -> &[u8; IPV4_HEADER_LEN] {
        self.buffer.as_ref()[..IPV4_HEADER_LEN].try_into().expect("a 20-byte range is 20 bytes")
    }

    /// The bytes after the header, up to the total length.
    #[inline(always)]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[IPV4_HEADER_LEN..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn set_version_ihl(&mut self) {
        self.buffer.as_mut()[0] = 0x45;
    }

    #[inline]
    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[1] = tos;
    }

    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), 2, len);
    }

    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), 4, ident);
    }

    #[inline]
    pub fn set_flags_fragment(&mut self, field: u16) {
        write_u16(self.buffer.as_mut(), 6, field);
    }

    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[8] = ttl;
    }

    #[inline]
    pub fn set_protocol(&mut self, protocol: u8) {
        self.buffer.as_mut()[9] = protocol;
    }

    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[12..16].copy_from_slice(&addr.octets());
    }

    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[16..20].copy_from_slice(&addr.octets());
    }

    /// Recomputes the header checksum over the current header fields.
    pub fn fill_checksum(&mut self) {
        write_u16(self.buffer.as_mut(), 10, 0);
        let sum = ones_complement_sum(self.header());
        write_u16(self.buffer.as_mut(), 10, !sum);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.total_len());
        &mut self.buffer.as_mut()[IPV4_HEADER_LEN..end]
    }
}

/// RFC 1071 one's-complement sum of the header's 16-bit words, added as
/// 32-bit words and folded (RFC 1071 §2(B): the same sum, fewer steps).
fn ones_complement_sum(header: &[u8; IPV4_HEADER_LEN]) -> u16 {
    let mut sum: u64 = header.chunks_exact(4).map(|w| u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The fields of an IPv4 header that NetCRAQ reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    pub flags_fragment: u16,
    pub payload_len: u16,
}

impl Ipv4Repr {
    /// Parses a checked packet; fails on a bad checksum.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Self> {
        if !packet.verify_checksum() {
            return Err(WireError::Checksum);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            flags_fragment: packet.flags_fragment(),
            payload_len: packet.total_len() - IPV4_HEADER_LEN as u16,
        })
    }

    /// Writes the header, checksum included, into a buffer of at least 20 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        packet.set_version_ihl();
        packet.set_tos(self.tos);
        // A payload_len above 65515 cannot be represented; it saturates.
        packet.set_total_len((IPV4_HEADER_LEN as u16).saturating_add(self.payload_len));
        packet.set_ident(self.ident);
        packet.set_flags_fragment(self.flags_fragment);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}
