use crate::{
    EthernetFrame, EthernetRepr, Ipv4Packet, Ipv4Repr, MacAddr, NetcraqHeader, NetcraqRepr, Result, UdpDatagram,
    UdpRepr, WireError, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, IPV4_HEADER_LEN, IP_PROTOCOL_UDP, NETCRAQ_HEADER_LEN,
    UDP_HEADER_LEN,
};
use std::net::Ipv4Addr;

/// Length of every NetCRAQ frame: Ethernet, IPv4, UDP and NetCRAQ headers.
pub const NETCRAQ_FRAME_LEN: usize = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN + NETCRAQ_HEADER_LEN;

const UDP_PAYLOAD_LEN: u16 = NETCRAQ_HEADER_LEN as u16;
const IPV4_PAYLOAD_LEN: u16 = (UDP_HEADER_LEN + NETCRAQ_HEADER_LEN) as u16;

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
        }
    }

    /// Parses and validates a frame: Ethernet II, IPv4 without options and a
    /// valid checksum, not a fragment, UDP with the exact NetCRAQ lengths, a
    /// known operation. Any UDP port is accepted (replies come from 20035 to
    /// the client's port). Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let eth = EthernetFrame::new_checked(bytes)?;
        let eth_repr = EthernetRepr::parse(&eth);
        if eth_repr.ethertype != ETHERTYPE_IPV4 {
            return Err(WireError::Malformed);
        }
        let ip = Ipv4Packet::new_checked(eth.payload())?;
        let ip_repr = Ipv4Repr::parse(&ip)?;
        if ip.is_fragment() || ip_repr.protocol != IP_PROTOCOL_UDP || ip_repr.payload_len != IPV4_PAYLOAD_LEN {
            return Err(WireError::Malformed);
        }
        let udp = UdpDatagram::new_checked(ip.payload())?;
        let udp_repr = UdpRepr::parse(&udp);
        if udp_repr.payload_len != UDP_PAYLOAD_LEN {
            return Err(WireError::Malformed);
        }
        let header = NetcraqRepr::parse(&NetcraqHeader::new_checked(udp.payload())?)?;
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
        })
    }

    /// Writes the frame into the first `NETCRAQ_FRAME_LEN` bytes of `buffer`
    /// and returns that length; fails if `buffer` is shorter.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let buffer = buffer.get_mut(..NETCRAQ_FRAME_LEN).ok_or(WireError::Truncated)?;
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
            payload_len: IPV4_PAYLOAD_LEN,
        }
        .emit(&mut ip);
        let mut udp = UdpDatagram::new_unchecked(ip.payload_mut());
        UdpRepr { src_port: self.udp_src, dst_port: self.udp_dst, payload_len: UDP_PAYLOAD_LEN }.emit(&mut udp);
        self.header.emit(&mut NetcraqHeader::new_unchecked(udp.payload_mut()));
        Ok(NETCRAQ_FRAME_LEN)
    }

    /// Writes the frame over the first `NETCRAQ_FRAME_LEN` bytes of `buffer`,
    /// which already hold a NetCRAQ frame: of the fields every NetCRAQ frame
    /// shares (ethertype, IPv4 version and header length, total length,
    /// protocol, UDP length) none is written again, only what tells one
    /// frame from another and the checksums. A node answers in the buffer of
    /// the request it checked. Fails if `buffer` is shorter than a frame.
    pub fn rewrite(&self, buffer: &mut [u8]) -> Result<usize> {
        // A fixed-size frame: every offset below is checked when compiled.
        let frame: &mut [u8; NETCRAQ_FRAME_LEN] =
            buffer.get_mut(..NETCRAQ_FRAME_LEN).and_then(|b| b.try_into().ok()).ok_or(WireError::Truncated)?;
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..ETHERNET_HEADER_LEN]);
        eth.set_dst_addr(self.eth_dst);
        eth.set_src_addr(self.eth_src);
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + IPV4_HEADER_LEN]);
        ip.set_tos(self.tos);
        ip.set_ident(self.ident);
        ip.set_flags_fragment(self.flags_fragment);
        ip.set_ttl(self.ttl);
        ip.set_src_addr(self.ip_src);
        ip.set_dst_addr(self.ip_dst);
        ip.fill_checksum();
        let mut udp = UdpDatagram::new_unchecked(&mut frame[ETHERNET_HEADER_LEN + IPV4_HEADER_LEN..]);
        udp.set_src_port(self.udp_src);
        udp.set_dst_port(self.udp_dst);
        udp.clear_checksum();
        let header = &mut frame[NETCRAQ_FRAME_LEN - NETCRAQ_HEADER_LEN..];
        self.header.emit(&mut NetcraqHeader::new_unchecked(header));
        Ok(NETCRAQ_FRAME_LEN)
    }

    /// The frame as a fixed-size array.
    pub fn to_bytes(&self) -> [u8; NETCRAQ_FRAME_LEN] {
        let mut bytes = [0u8; NETCRAQ_FRAME_LEN];
        self.emit(&mut bytes).expect("array has exactly NETCRAQ_FRAME_LEN bytes");
        bytes
    }
}
