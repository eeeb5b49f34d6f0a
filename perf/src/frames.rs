//! Request frames as the load generator sends them, and what it reads back.
//!
//! A request names its window slot in the IPv4 identification and the slot's
//! generation in the UDP source port. Both survive the node (a reply keeps
//! the identification and goes to the source port, `docs/protocol.md` §4)
//! and an io-forwarding echo, so a reply finds its slot without a lookup,
//! and a late reply to an earlier use of the slot is recognised as stale.

use netcraq_wire::{
    Endpoint, EthernetFrame, Ipv4Packet, NetcraqFrame, NetcraqHeader, NetcraqRepr, Op, UdpDatagram, WireError,
    ETHERTYPE_IPV4, IP_PROTOCOL_UDP, NETCRAQ_FRAME_LEN, NETCRAQ_UDP_PORT, VALUE_LEN,
};

/// Client UDP ports are `CLIENT_PORT_BASE | generation`: 16384 generations.
pub const CLIENT_PORT_BASE: u16 = 0xc000;
pub const GENERATION_MASK: u16 = 0x3fff;

/// The UDP source port of a request of slot generation `generation`.
pub fn client_port(generation: u16) -> u16 {
    CLIENT_PORT_BASE | (generation & GENERATION_MASK)
}

/// Who answers: the node (a `READ_REPLY`, `WRITE_REPLY` or `ERROR` from
/// port 20035) or an io-forwarding echo such as testpmd (the request itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Responder {
    Node,
    Echo,
}

impl Responder {
    pub fn name(self) -> &'static str {
        match self {
            Responder::Node => "node",
            Responder::Echo => "echo",
        }
    }

    pub fn parse(text: &str) -> Result<Responder, String> {
        match text {
            "node" => Ok(Responder::Node),
            "echo" => Ok(Responder::Echo),
            other => Err(format!("{other:?} is not node or echo")),
        }
    }
}

/// One request to put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub op: Op,
    pub key: u16,
    pub slot: u16,
    pub generation: u16,
    /// Makes every WRITE's value new, so the node never takes one for a
    /// retransmission of the previous write of its key (§3.4).
    pub sequence: u64,
}

/// Writes `request` from `client` to `node` into the first 62 bytes of
/// `buffer`, with the wire crate's frame builder; returns the length.
pub fn write_request(
    buffer: &mut [u8],
    client: Endpoint,
    node: Endpoint,
    request: &Request,
) -> Result<usize, WireError> {
    let header = NetcraqRepr { op: request.op, version: 0, key: request.key, value: value_of(request.sequence) };
    NetcraqFrame::request(client, client_port(request.generation), node, request.slot, header).emit(buffer)
}

fn value_of(sequence: u64) -> [u8; VALUE_LEN] {
    let mut value = [0u8; VALUE_LEN];
    value[..8].copy_from_slice(&sequence.to_be_bytes());
    value
}

/// The load generator's fast path to the same bytes as [`write_request`]:
/// a READ and a WRITE frame built once by the wire crate, copied and then
/// patched through its views (identification and a fresh IPv4 checksum,
/// UDP source port, key, value).
#[derive(Debug, Clone)]
pub struct RequestTemplates {
    read: [u8; NETCRAQ_FRAME_LEN],
    write: [u8; NETCRAQ_FRAME_LEN],
    client: Endpoint,
    node: Endpoint,
}

impl RequestTemplates {
    pub fn new(client: Endpoint, node: Endpoint) -> RequestTemplates {
        let template = |op| {
            let header = NetcraqRepr { op, version: 0, key: 0, value: [0; VALUE_LEN] };
            let bytes = NetcraqFrame::request(client, client_port(0), node, 0, header).to_bytes();
            bytes[..].try_into().expect("a client's request is NETCRAQ_FRAME_LEN bytes")
        };
        RequestTemplates { read: template(Op::Read), write: template(Op::Write), client, node }
    }

    /// Writes `request` into the first 62 bytes of `buffer`; returns the length.
    pub fn write(&self, buffer: &mut [u8], request: &Request) -> Result<usize, WireError> {
        let template = match request.op {
            Op::Read => &self.read,
            Op::Write => &self.write,
            _ => return write_request(buffer, self.client, self.node, request),
        };
        let frame = buffer.get_mut(..NETCRAQ_FRAME_LEN).ok_or(WireError::Truncated)?;
        frame.copy_from_slice(template);
        let mut ethernet = EthernetFrame::new_unchecked(frame);
        let mut ip = Ipv4Packet::new_unchecked(ethernet.payload_mut());
        ip.set_ident(request.slot);
        ip.fill_checksum();
        let mut udp = UdpDatagram::new_unchecked(ip.payload_mut());
        udp.set_src_port(client_port(request.generation));
        let mut header = NetcraqHeader::new_unchecked(udp.payload_mut());
        header.set_key(request.key);
        header.set_value(&value_of(request.sequence));
        Ok(NETCRAQ_FRAME_LEN)
    }
}

/// What identifies a frame that came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub slot: u16,
    pub client_port: u16,
    pub op: Op,
    pub key: u16,
}

/// Reads the fields that match a reply to its request, without checking the
/// IPv4 checksum (the node computes it; the load generator trusts the
/// link). `None` for anything that is not a NetCRAQ frame from `responder`.
pub fn read_reply(frame: &[u8], responder: Responder) -> Option<Reply> {
    let ethernet = EthernetFrame::new_checked(frame).ok()?;
    if ethernet.ethertype() != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(ethernet.payload()).ok()?;
    if ip.protocol() != IP_PROTOCOL_UDP {
        return None;
    }
    let udp = UdpDatagram::new_checked(ip.payload()).ok()?;
    let header = NetcraqHeader::new_checked(udp.payload()).ok()?;
    let op = Op::from_code(header.op_code())?;
    let client_port = match responder {
        Responder::Node if udp.src_port() == NETCRAQ_UDP_PORT => udp.dst_port(),
        Responder::Echo if udp.dst_port() == NETCRAQ_UDP_PORT => udp.src_port(),
        _ => return None,
    };
    Some(Reply { slot: ip.ident(), client_port, op, key: header.key() })
}

/// Whether `reply` answers a request with operation `sent`: the node replies
/// `READ_REPLY`, `WRITE_REPLY` or `ERROR`; an echo returns the request.
pub fn answers(responder: Responder, sent: Op, reply: Op) -> bool {
    match responder {
        Responder::Echo => reply == sent,
        Responder::Node => {
            matches!((sent, reply), (Op::Read, Op::ReadReply) | (Op::Write, Op::WriteReply) | (_, Op::Error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcraq_wire::{Ipv4Addr, MacAddr, NETCRAQ_FRAME_LEN};

    const CLIENT: Endpoint = Endpoint { mac: MacAddr([2, 0, 0, 0, 1, 1]), ip: Ipv4Addr::new(10, 0, 1, 1) };
    const NODE: Endpoint = Endpoint { mac: MacAddr([2, 0, 0, 0, 0, 1]), ip: Ipv4Addr::new(10, 0, 0, 1) };

    fn request() -> Request {
        Request { op: Op::Write, key: 77, slot: 513, generation: 0x4005, sequence: 9 }
    }

    #[test]
    fn requests_are_valid_frames_that_carry_slot_and_generation() {
        let mut buffer = [0u8; 128];
        assert_eq!(write_request(&mut buffer, CLIENT, NODE, &request()), Ok(NETCRAQ_FRAME_LEN));
        let frame = NetcraqFrame::parse(&buffer[..NETCRAQ_FRAME_LEN]).unwrap();
        assert_eq!((frame.ident, frame.udp_src, frame.udp_dst), (513, 0xc005, NETCRAQ_UDP_PORT));
        assert_eq!((frame.header.op, frame.header.key, frame.header.version), (Op::Write, 77, 0));
        assert_eq!(frame.header.value[..8], 9u64.to_be_bytes());
        assert!(write_request(&mut buffer[..61], CLIENT, NODE, &request()).is_err());
    }

    #[test]
    fn templates_write_the_same_bytes_as_the_frame_builder() {
        let templates = RequestTemplates::new(CLIENT, NODE);
        for (op, key, slot, generation, sequence) in
            [(Op::Read, 0, 0, 0, 0), (Op::Write, 65_535, 65_535, 0x3fff, u64::MAX), (Op::Read, 77, 513, 5, 9)]
        {
            let request = Request { op, key, slot, generation, sequence };
            let (mut fast, mut built) = ([0xaau8; 64], [0x55u8; 64]);
            assert_eq!(templates.write(&mut fast, &request), Ok(NETCRAQ_FRAME_LEN));
            write_request(&mut built, CLIENT, NODE, &request).unwrap();
            assert_eq!(fast[..NETCRAQ_FRAME_LEN], built[..NETCRAQ_FRAME_LEN], "{request:?}");
            assert!(NetcraqFrame::parse(&fast[..NETCRAQ_FRAME_LEN]).is_ok(), "valid checksum");
        }
        assert_eq!(templates.write(&mut [0u8; 61], &request()), Err(WireError::Truncated));
    }

    #[test]
    fn an_echo_is_read_as_its_own_reply() {
        let mut buffer = [0u8; NETCRAQ_FRAME_LEN];
        write_request(&mut buffer, CLIENT, NODE, &request()).unwrap();
        let reply = read_reply(&buffer, Responder::Echo).unwrap();
        assert_eq!(reply, Reply { slot: 513, client_port: 0xc005, op: Op::Write, key: 77 });
        assert_eq!(read_reply(&buffer, Responder::Node), None, "a request is no node reply");
    }

    #[test]
    fn a_node_reply_is_read() {
        let header = NetcraqRepr { op: Op::ReadReply, version: 3, key: 12, value: [0; 16] };
        let mut reply = NetcraqFrame::request(NODE, NETCRAQ_UDP_PORT, CLIENT, 40, header);
        reply.udp_dst = client_port(7);
        let bytes = reply.to_bytes();
        assert_eq!(
            read_reply(&bytes, Responder::Node),
            Some(Reply { slot: 40, client_port: 0xc007, op: Op::ReadReply, key: 12 })
        );
        assert!(answers(Responder::Node, Op::Read, Op::ReadReply));
        assert!(answers(Responder::Node, Op::Write, Op::Error));
        assert!(!answers(Responder::Node, Op::Write, Op::ReadReply));
        assert!(answers(Responder::Echo, Op::Read, Op::Read) && !answers(Responder::Echo, Op::Read, Op::ReadReply));
    }

    #[test]
    fn garbage_is_no_reply() {
        assert_eq!(read_reply(&[], Responder::Node), None);
        assert_eq!(read_reply(&[0xff; 61], Responder::Echo), None);
        let mut buffer = [0u8; NETCRAQ_FRAME_LEN];
        write_request(&mut buffer, CLIENT, NODE, &request()).unwrap();
        for len in 0..NETCRAQ_FRAME_LEN {
            assert_eq!(read_reply(&buffer[..len], Responder::Echo), None, "truncated to {len}");
        }
    }
}
