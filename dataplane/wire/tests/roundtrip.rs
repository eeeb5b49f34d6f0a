//! Round trips and robustness of the wire crate.
//!
//! Property tests: every layer's `Repr` survives `emit` then `parse`, whole
//! frames survive `to_bytes` then `NetcraqFrame::parse`, arbitrary and mutated
//! bytes never make a parser or a checked view panic. Exact-byte tests pin the
//! encoding to `docs/protocol.md` §1 with frames whose bytes (IPv4 checksums
//! included) were worked out by hand, independently of the crate.

use netcraq_wire::{
    ErrorCode, EthernetFrame, EthernetRepr, Ipv4Addr, Ipv4Packet, Ipv4Repr, MacAddr, NetcraqFrame, NetcraqHeader,
    NetcraqRepr, Op, UdpDatagram, UdpRepr, WireError, CHAIN_FRAME_LEN, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4,
    IPV4_HEADER_LEN, IP_PROTOCOL_UDP, NETCRAQ_FRAME_LEN, NETCRAQ_HEADER_LEN, NETCRAQ_UDP_PORT, UDP_HEADER_LEN,
    VALUE_LEN,
};
use proptest::prelude::*;

// Offsets inside a NetCRAQ frame (docs/protocol.md §1).
const IP: usize = ETHERNET_HEADER_LEN;
const IP_TTL: usize = IP + 8;
const IP_CHECKSUM: usize = IP + 10;
const UDP: usize = IP + IPV4_HEADER_LEN;
const UDP_CHECKSUM: usize = UDP + 6;
const NC: usize = UDP + UDP_HEADER_LEN;

/// RFC 1071 checksum, written here independently of the crate: the one's
/// complement of the one's-complement sum of the 16-bit words.
fn rfc1071(header: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for word in header.chunks(2) {
        sum += u32::from(word[0]) << 8 | u32::from(*word.get(1).unwrap_or(&0));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Whether an IPv4 header's checksum verifies (its words sum to 0xffff).
fn header_verifies(header: &[u8]) -> bool {
    rfc1071(&header[..IPV4_HEADER_LEN]) == 0
}

/// Rewrites the IPv4 header checksum of a frame buffer holding one.
fn fix_checksum(frame: &mut [u8]) {
    frame[IP_CHECKSUM..IP_CHECKSUM + 2].fill(0);
    let sum = rfc1071(&frame[IP..IP + IPV4_HEADER_LEN]);
    frame[IP_CHECKSUM..IP_CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
}

fn hex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

// ---------------------------------------------------------------- strategies

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn op() -> impl Strategy<Value = Op> {
    prop::sample::select(Op::ALL.to_vec())
}

fn netcraq_repr() -> impl Strategy<Value = NetcraqRepr> {
    (op(), any::<u8>(), any::<u16>(), any::<[u8; VALUE_LEN]>()).prop_map(|(op, version, key, value)| NetcraqRepr {
        op,
        version,
        key,
        value,
    })
}

/// Flags and fragment offset that `parse` accepts: MF clear, offset 0; the
/// reserved bit and DF are free.
fn unfragmented() -> impl Strategy<Value = u16> {
    any::<u16>().prop_map(|field| field & 0xc000)
}

fn frame() -> impl Strategy<Value = NetcraqFrame> {
    (
        (mac(), mac(), ipv4(), ipv4()),
        (any::<u8>(), any::<u8>(), any::<u16>(), unfragmented()),
        (any::<u16>(), any::<u16>(), netcraq_repr(), any::<u32>()),
    )
        .prop_map(
            |(
                (eth_src, eth_dst, ip_src, ip_dst),
                (ttl, tos, ident, flags_fragment),
                (udp_src, udp_dst, header, epoch),
            )| {
                NetcraqFrame {
                    eth_src,
                    eth_dst,
                    ip_src,
                    ip_dst,
                    ttl,
                    tos,
                    ident,
                    flags_fragment,
                    udp_src,
                    udp_dst,
                    header,
                    // Only chain frames carry an epoch (§1.4).
                    epoch: if header.op.is_chain() { epoch } else { 0 },
                }
            },
        )
}

/// Calls every accessor (and, on a copy, every setter) of every view that
/// `new_checked` accepts over `bytes`; they must not panic.
fn exercise_views(bytes: &[u8]) {
    let mut copy = bytes.to_vec();
    if let Ok(eth) = EthernetFrame::new_checked(bytes) {
        let _ = (eth.dst_addr(), eth.src_addr(), eth.ethertype(), eth.payload().len());
        let repr = EthernetRepr::parse(&eth);
        let mut eth = EthernetFrame::new_checked(&mut copy[..]).unwrap();
        repr.emit(&mut eth);
        eth.set_dst_addr(MacAddr::BROADCAST);
        eth.set_src_addr(MacAddr::default());
        eth.set_ethertype(ETHERTYPE_IPV4);
        let _ = eth.payload_mut().len();
        let _ = eth.into_inner();
    }
    let mut copy = bytes.to_vec();
    if let Ok(ip) = Ipv4Packet::new_checked(bytes) {
        let _ = (ip.version(), ip.ihl(), ip.tos(), ip.total_len(), ip.ident(), ip.flags_fragment());
        let _ = (ip.is_fragment(), ip.ttl(), ip.protocol(), ip.checksum(), ip.src_addr(), ip.dst_addr());
        let _ = (ip.verify_checksum(), ip.payload().len());
        let parsed = Ipv4Repr::parse(&ip);
        let mut ip = Ipv4Packet::new_checked(&mut copy[..]).unwrap();
        if let Ok(repr) = parsed {
            repr.emit(&mut ip);
            assert!(ip.verify_checksum(), "re-emitting a parsed IPv4 header must give a valid checksum");
        }
        ip.set_tos(1);
        ip.set_ident(2);
        ip.set_flags_fragment(3);
        ip.set_ttl(4);
        ip.set_protocol(5);
        ip.set_src_addr(Ipv4Addr::LOCALHOST);
        ip.set_dst_addr(Ipv4Addr::BROADCAST);
        ip.fill_checksum();
        assert!(ip.verify_checksum());
        let _ = ip.payload_mut().len();
        let _ = ip.into_inner();
    }
    let mut copy = bytes.to_vec();
    if let Ok(udp) = UdpDatagram::new_checked(bytes) {
        let _ = (udp.src_port(), udp.dst_port(), udp.len(), udp.is_empty(), udp.checksum(), udp.payload().len());
        let repr = UdpRepr::parse(&udp);
        let mut udp = UdpDatagram::new_checked(&mut copy[..]).unwrap();
        repr.emit(&mut udp);
        udp.set_src_port(1);
        udp.set_dst_port(2);
        udp.set_len(repr.payload_len + UDP_HEADER_LEN as u16);
        udp.clear_checksum();
        let _ = udp.payload_mut().len();
    }
    let mut copy = bytes.to_vec();
    if let Ok(header) = NetcraqHeader::new_checked(bytes) {
        let _ = (header.op_code(), header.version(), header.key(), header.value());
        let parsed = NetcraqRepr::parse(&header);
        assert_eq!(parsed.is_ok(), Op::from_code(header.op_code()).is_some());
        let mut header = NetcraqHeader::new_checked(&mut copy[..]).unwrap();
        if let Ok(repr) = parsed {
            repr.emit(&mut header);
        }
        header.set_op(Op::Ack);
        header.set_version(9);
        header.set_key(0xbeef);
        header.set_value(&[7; VALUE_LEN]);
        assert_eq!(header.value(), [7; VALUE_LEN]);
    }
}

// ------------------------------------------------------------ property tests

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn frame_round_trips(frame in frame()) {
        let bytes = frame.to_bytes();
        prop_assert_eq!(NetcraqFrame::parse(&bytes), Ok(frame));
        // The fixed fields of §1, checked on the bytes themselves.
        prop_assert_eq!(&bytes[12..14], &[0x08, 0x00]);
        prop_assert_eq!(bytes[IP], 0x45);
        let chain = frame.header.op.is_chain();
        prop_assert_eq!(bytes.len(), if chain { CHAIN_FRAME_LEN } else { NETCRAQ_FRAME_LEN });
        let (total_len, udp_len): (u16, u16) = if chain { (52, 32) } else { (48, 28) };
        prop_assert_eq!(&bytes[IP + 2..IP + 4], &total_len.to_be_bytes());
        prop_assert_eq!(bytes[IP + 9], IP_PROTOCOL_UDP);
        prop_assert!(header_verifies(&bytes[IP..]));
        prop_assert_eq!(&bytes[UDP + 4..UDP + 6], &udp_len.to_be_bytes());
        prop_assert_eq!(&bytes[UDP_CHECKSUM..UDP_CHECKSUM + 2], &[0, 0]);
        prop_assert_eq!(bytes[NC], frame.header.op as u8);
        prop_assert_eq!(&bytes[NC + 4..NETCRAQ_FRAME_LEN], &frame.header.value);
        if chain {
            prop_assert_eq!(&bytes[NETCRAQ_FRAME_LEN..], &frame.epoch.to_be_bytes());
        }
    }

    #[test]
    fn frame_emit_respects_buffer_bounds(frame in frame(), len in 0usize..100, fill in any::<u8>()) {
        let mut buffer = vec![fill; len];
        let result = frame.emit(&mut buffer);
        let frame_len = frame.frame_len();
        if len < frame_len {
            prop_assert_eq!(result, Err(WireError::Truncated));
            prop_assert!(buffer.iter().all(|b| *b == fill), "a failed emit must not write");
        } else {
            prop_assert_eq!(result, Ok(frame_len));
            prop_assert_eq!(&buffer[..frame_len], &frame.to_bytes()[..]);
            prop_assert!(buffer[frame_len..].iter().all(|b| *b == fill), "emit wrote past the frame");
            // Trailing bytes are Ethernet padding: ignored by parse.
            prop_assert_eq!(NetcraqFrame::parse(&buffer), Ok(frame));
        }
    }

    /// Rewriting a frame over another one (with a UDP checksum, trailing
    /// bytes) gives the bytes emitting it gives, and leaves the rest alone;
    /// a buffer too short for the new frame is refused.
    #[test]
    fn rewriting_over_a_frame_emits_it(old in frame(), new in frame(), checksum in any::<u16>(), fill in any::<u8>()) {
        let mut buffer = old.to_bytes().to_vec();
        buffer[UDP_CHECKSUM..UDP_CHECKSUM + 2].copy_from_slice(&checksum.to_be_bytes());
        buffer.push(fill);
        let before = buffer.clone();
        let new_len = new.frame_len();
        if new_len > buffer.len() {
            prop_assert_eq!(new.rewrite(&mut buffer), Err(WireError::Truncated));
            prop_assert_eq!(&buffer, &before, "a failed rewrite must not write");
            return Ok(());
        }
        prop_assert_eq!(new.rewrite(&mut buffer), Ok(new_len));
        prop_assert_eq!(&buffer[..new_len], &new.to_bytes()[..]);
        prop_assert_eq!(&buffer[new_len..], &before[new_len..]);
        prop_assert_eq!(new.rewrite(&mut buffer[..new_len - 1]), Err(WireError::Truncated));
    }

    #[test]
    fn fragments_are_refused(mut frame in frame(), field in any::<u16>()) {
        prop_assume!(field & 0x3fff != 0);
        frame.flags_fragment = field;
        prop_assert_eq!(NetcraqFrame::parse(&frame.to_bytes()), Err(WireError::Malformed));
    }

    #[test]
    fn ethernet_repr_round_trips(
        src_addr in mac(), dst_addr in mac(), ethertype in any::<u16>(),
        payload in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let repr = EthernetRepr { src_addr, dst_addr, ethertype };
        let mut buffer = vec![0u8; ETHERNET_HEADER_LEN];
        buffer.extend_from_slice(&payload);
        repr.emit(&mut EthernetFrame::new_checked(&mut buffer[..]).unwrap());
        prop_assert_eq!(&buffer[0..6], &dst_addr.0);
        prop_assert_eq!(&buffer[6..12], &src_addr.0);
        prop_assert_eq!(&buffer[12..14], &ethertype.to_be_bytes());
        let view = EthernetFrame::new_checked(&buffer[..]).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&view), repr);
        prop_assert_eq!(view.payload(), &payload[..]);
    }

    #[test]
    fn ipv4_repr_round_trips(
        (src_addr, dst_addr) in (ipv4(), ipv4()),
        (protocol, ttl, tos) in (any::<u8>(), any::<u8>(), any::<u8>()),
        (ident, flags_fragment) in (any::<u16>(), any::<u16>()),
        payload_len in prop_oneof![0u16..=300, Just(u16::MAX - IPV4_HEADER_LEN as u16)],
        padding in 0usize..8,
    ) {
        let repr = Ipv4Repr { src_addr, dst_addr, protocol, ttl, tos, ident, flags_fragment, payload_len };
        let total = IPV4_HEADER_LEN + usize::from(payload_len);
        let mut buffer = vec![0xa5u8; total + padding];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buffer[..]));
        prop_assert!(header_verifies(&buffer), "checksum must verify after emit");
        prop_assert_eq!(buffer[0], 0x45);
        prop_assert_eq!(&buffer[2..4], &(total as u16).to_be_bytes());
        prop_assert!(buffer[IPV4_HEADER_LEN..].iter().all(|b| *b == 0xa5), "emit wrote into the payload");
        let view = Ipv4Packet::new_checked(&buffer[..]).unwrap();
        prop_assert!(view.verify_checksum());
        prop_assert_eq!(view.payload().len(), usize::from(payload_len));
        prop_assert_eq!(view.is_fragment(), flags_fragment & 0x3fff != 0);
        prop_assert_eq!(Ipv4Repr::parse(&view), Ok(repr));
        // One byte short of the declared total length: truncated.
        prop_assert_eq!(Ipv4Packet::new_checked(&buffer[..total - 1]).err(), Some(WireError::Truncated));
    }

    #[test]
    fn ipv4_any_header_change_breaks_the_checksum(
        src_addr in ipv4(), ident in any::<u16>(), ttl in any::<u8>(), at in 0usize..IPV4_HEADER_LEN, flip in 1u8..,
    ) {
        let repr = Ipv4Repr {
            src_addr, dst_addr: Ipv4Addr::new(10, 0, 0, 1), protocol: IP_PROTOCOL_UDP, ttl, tos: 0, ident,
            flags_fragment: 0x4000, payload_len: 28,
        };
        let mut buffer = [0u8; 48];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buffer[..]));
        buffer[at] ^= flip;
        let result = Ipv4Packet::new_checked(&buffer[..]).map(|view| Ipv4Repr::parse(&view));
        // A one-byte change is either caught by the structural checks or by the checksum.
        prop_assert!(matches!(result, Err(_) | Ok(Err(WireError::Checksum))), "{result:?}");
    }

    #[test]
    fn udp_repr_round_trips(src_port in any::<u16>(), dst_port in any::<u16>(), payload_len in 0u16..=300) {
        let repr = UdpRepr { src_port, dst_port, payload_len };
        let total = UDP_HEADER_LEN + usize::from(payload_len);
        let mut buffer = vec![0xffu8; total];
        repr.emit(&mut UdpDatagram::new_unchecked(&mut buffer[..]));
        prop_assert_eq!(&buffer[4..6], &(total as u16).to_be_bytes());
        prop_assert_eq!(&buffer[6..8], &[0, 0], "UDP checksum is sent as 0");
        let view = UdpDatagram::new_checked(&buffer[..]).unwrap();
        prop_assert_eq!(view.checksum(), 0);
        prop_assert_eq!(view.is_empty(), payload_len == 0);
        prop_assert_eq!(UdpRepr::parse(&view), repr);
        prop_assert_eq!(view.payload().len(), usize::from(payload_len));
    }

    #[test]
    fn netcraq_repr_round_trips(repr in netcraq_repr(), trailing in 0usize..4) {
        let mut buffer = vec![0u8; NETCRAQ_HEADER_LEN + trailing];
        repr.emit(&mut NetcraqHeader::new_unchecked(&mut buffer[..]));
        prop_assert_eq!(buffer[0], repr.op as u8);
        prop_assert_eq!(buffer[1], repr.version);
        prop_assert_eq!(&buffer[2..4], &repr.key.to_be_bytes());
        prop_assert_eq!(&buffer[4..20], &repr.value);
        let view = NetcraqHeader::new_checked(&buffer[..]).unwrap();
        prop_assert_eq!(NetcraqRepr::parse(&view), Ok(repr));
    }

    #[test]
    fn unknown_op_codes_are_malformed(code in any::<u8>(), rest in any::<[u8; 19]>()) {
        let mut buffer = vec![code];
        buffer.extend_from_slice(&rest);
        let parsed = NetcraqRepr::parse(&NetcraqHeader::new_checked(&buffer[..]).unwrap());
        match Op::from_code(code) {
            Some(op) => prop_assert_eq!(parsed.map(|r| r.op), Ok(op)),
            None => {
                prop_assert!(!(1..=7).contains(&code));
                prop_assert_eq!(parsed, Err(WireError::Malformed));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(frame) = NetcraqFrame::parse(&bytes) {
            prop_assert!(bytes.len() >= NETCRAQ_FRAME_LEN);
            prop_assert_eq!(NetcraqFrame::parse(&frame.to_bytes()), Ok(frame));
        }
        exercise_views(&bytes);
        // Every suffix too: the views are also applied at inner offsets.
        for start in [ETHERNET_HEADER_LEN, UDP, NC] {
            if let Some(inner) = bytes.get(start..) {
                exercise_views(inner);
            }
        }
    }

    #[test]
    fn frame_shaped_bytes_never_panic(
        frame in frame(), tail in prop::collection::vec(any::<u8>(), 0..200), cut in 0usize..200,
        fixed in any::<bool>(),
    ) {
        // Mostly valid headers over arbitrary lengths and payloads: reaches the
        // length checks that purely random bytes rarely get to.
        let mut bytes = frame.to_bytes().to_vec();
        bytes.truncate(NC);
        bytes.extend_from_slice(&tail);
        bytes.truncate(cut.max(IP));
        if fixed && bytes.len() >= UDP {
            fix_checksum(&mut bytes);
        }
        if let Ok(parsed) = NetcraqFrame::parse(&bytes) {
            prop_assert_eq!(NetcraqFrame::parse(&parsed.to_bytes()), Ok(parsed));
        }
        exercise_views(&bytes);
        exercise_views(&bytes[IP..]);
    }

    #[test]
    fn mutated_frames_parse_canonically_or_fail(
        frame in frame(),
        flips in prop::collection::vec((0usize..NETCRAQ_FRAME_LEN, 1u8..), 1..6),
        refresh_checksum in any::<bool>(),
    ) {
        let mut bytes = frame.to_bytes();
        for (at, mask) in &flips {
            bytes[*at] ^= mask;
        }
        if refresh_checksum {
            fix_checksum(&mut bytes);
        }
        let Ok(parsed) = NetcraqFrame::parse(&bytes) else { return Ok(()) };
        let emitted = parsed.to_bytes();
        // The only bytes parse does not keep are the two checksums: the UDP
        // checksum is never verified and always sent as 0 (§4.2), and an IPv4
        // checksum of 0xffff is the other one's-complement zero, re-emitted
        // as 0x0000. Every other byte must come back unchanged.
        for at in 0..bytes.len() {
            if !(IP_CHECKSUM..IP_CHECKSUM + 2).contains(&at) && !(UDP_CHECKSUM..UDP_CHECKSUM + 2).contains(&at) {
                prop_assert_eq!(emitted[at], bytes[at], "byte {} differs after re-emit", at);
            }
        }
        prop_assert_eq!(&emitted[UDP_CHECKSUM..UDP_CHECKSUM + 2], &[0, 0]);
        let received = u16::from_be_bytes([bytes[IP_CHECKSUM], bytes[IP_CHECKSUM + 1]]);
        let sent = u16::from_be_bytes([emitted[IP_CHECKSUM], emitted[IP_CHECKSUM + 1]]);
        prop_assert!(sent == received || (received == 0xffff && sent == 0), "{received:#06x} -> {sent:#06x}");
        prop_assert_eq!(NetcraqFrame::parse(&emitted), Ok(parsed));
    }

    #[test]
    fn mutating_unvalidated_fields_keeps_the_frame_valid(
        frame in frame(),
        flips in prop::collection::vec((0usize..NETCRAQ_FRAME_LEN, 1u8..), 1..6),
    ) {
        // Bytes parse accepts whatever their value: MACs, TOS, identification,
        // TTL, addresses, ports, UDP checksum and the NetCRAQ header but its op.
        let free = |at: usize| {
            at < 12
                || at == IP + 1
                || (IP + 4..IP + 6).contains(&at)
                || at == IP_TTL
                || (IP + 12..IP + 20).contains(&at)
                || (UDP..UDP + 4).contains(&at)
                || (UDP_CHECKSUM..NC).contains(&at)
                || (NC + 1..NETCRAQ_FRAME_LEN).contains(&at)
        };
        let mut bytes = frame.to_bytes();
        for (at, mask) in flips.iter().filter(|(at, _)| free(*at)) {
            bytes[*at] ^= mask;
        }
        fix_checksum(&mut bytes);
        let parsed = NetcraqFrame::parse(&bytes);
        prop_assert!(parsed.is_ok(), "{:?}", parsed);
    }
}

// ----------------------------------------------------------- exact encodings

fn client_write() -> NetcraqFrame {
    NetcraqFrame {
        eth_src: MacAddr([0x02, 0, 0, 0, 0, 0x64]),
        eth_dst: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
        ip_src: Ipv4Addr::new(10, 0, 0, 100),
        ip_dst: Ipv4Addr::new(10, 0, 0, 2),
        ttl: 64,
        tos: 0,
        ident: 0x1234,
        flags_fragment: 0x4000,
        udp_src: 40000,
        udp_dst: NETCRAQ_UDP_PORT,
        header: NetcraqRepr {
            op: Op::Write,
            version: 0,
            key: 5,
            value: [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff],
        },
        epoch: 0,
    }
}

/// The bytes of `client_write()`, by hand. IPv4 checksum: the words
/// 4500 0030 1234 4000 4011 0a00 0064 0a00 0002 sum to 0xebdb (no carry),
/// whose complement is 0x1424.
const CLIENT_WRITE_HEX: &str = "
    020000000002 020000000064 0800
    4500 0030 1234 4000 40 11 1424 0a000064 0a000002
    9c40 4e43 001c 0000
    02 00 0005 00112233445566778899aabbccddeeff";

fn tail_reply() -> NetcraqFrame {
    NetcraqFrame {
        eth_src: MacAddr([0x02, 0, 0, 0, 0, 0x03]),
        eth_dst: MacAddr([0x02, 0, 0, 0, 0, 0x64]),
        ip_src: Ipv4Addr::new(10, 0, 0, 3),
        ip_dst: Ipv4Addr::new(10, 0, 0, 100),
        ttl: 63,
        tos: 0xb8,
        ident: 0xbeef,
        flags_fragment: 0,
        udp_src: NETCRAQ_UDP_PORT,
        udp_dst: 40000,
        header: NetcraqRepr { op: Op::WriteReply, version: 0x81, key: 0xffff, value: [0xff; VALUE_LEN] },
        epoch: 0,
    }
}

/// The bytes of `tail_reply()`, by hand. IPv4 checksum: the words
/// 45b8 0030 beef 0000 3f11 0a00 0003 0a00 0064 sum to 0x1584f; folding the
/// carry gives 0x5850, whose complement is 0xa7af.
const TAIL_REPLY_HEX: &str = "
    020000000064 020000000003 0800
    45b8 0030 beef 0000 3f 11 a7af 0a000003 0a000064
    4e43 9c40 001c 0000
    04 81 ffff ffffffffffffffffffffffffffffffff";

#[test]
fn client_write_encodes_to_known_bytes() {
    let expected = hex(CLIENT_WRITE_HEX);
    assert_eq!(expected.len(), 62);
    assert_eq!(client_write().to_bytes().to_vec(), expected);
    assert_eq!(NetcraqFrame::parse(&expected), Ok(client_write()));
}

#[test]
fn reply_with_checksum_carry_encodes_to_known_bytes() {
    let expected = hex(TAIL_REPLY_HEX);
    assert_eq!(tail_reply().to_bytes().to_vec(), expected);
    assert_eq!(NetcraqFrame::parse(&expected), Ok(tail_reply()));
}

#[test]
fn ipv4_header_matches_a_published_checksum_example() {
    // The worked example of the IPv4 header checksum on Wikipedia: a 0x73-byte
    // UDP packet from 192.168.0.1 to 192.168.0.199, checksum 0xb861.
    let expected = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
    let repr = Ipv4Repr {
        src_addr: Ipv4Addr::new(192, 168, 0, 1),
        dst_addr: Ipv4Addr::new(192, 168, 0, 199),
        protocol: IP_PROTOCOL_UDP,
        ttl: 64,
        tos: 0,
        ident: 0,
        flags_fragment: 0x4000,
        payload_len: 0x73 - 20,
    };
    let mut packet = [0u8; 0x73];
    repr.emit(&mut Ipv4Packet::new_unchecked(&mut packet[..]));
    assert_eq!(&packet[..20], &expected[..]);
    let view = Ipv4Packet::new_checked(&packet[..]).unwrap();
    assert_eq!(view.checksum(), 0xb861);
    assert_eq!(Ipv4Repr::parse(&view), Ok(repr));
}

/// The head's CHAIN_WRITE of `client_write()`, version 1, epoch 0x01020304,
/// to 10.0.0.3: a chain frame (§1.4).
fn chain_write() -> NetcraqFrame {
    let header = NetcraqRepr { op: Op::ChainWrite, version: 1, ..client_write().header };
    NetcraqFrame { ip_dst: Ipv4Addr::new(10, 0, 0, 3), header, epoch: 0x0102_0304, ..client_write() }
}

/// The bytes of `chain_write()`, by hand: total length 0x34, UDP length
/// 0x20, the epoch after the header. IPv4 checksum: the words 4500 0034
/// 1234 4000 4011 0a00 0064 0a00 0003 sum to 0xebe0, complement 0x141f.
const CHAIN_WRITE_HEX: &str = "
    020000000002 020000000064 0800
    4500 0034 1234 4000 40 11 141f 0a000064 0a000003
    9c40 4e43 0020 0000
    07 01 0005 00112233445566778899aabbccddeeff
    01020304";

#[test]
fn chain_write_encodes_to_known_bytes() {
    let expected = hex(CHAIN_WRITE_HEX);
    assert_eq!(expected.len(), CHAIN_FRAME_LEN);
    assert_eq!(chain_write().to_bytes().to_vec(), expected);
    assert_eq!(NetcraqFrame::parse(&expected), Ok(chain_write()));
    // A chain op in a client frame's length, and a client op in a chain frame's, are refused.
    let short =
        hex(CLIENT_WRITE_HEX).iter().enumerate().map(|(at, b)| if at == NC { 7 } else { *b }).collect::<Vec<_>>();
    assert_eq!(NetcraqFrame::parse(&short), Err(WireError::Malformed));
    let mut long = expected.clone();
    long[NC] = Op::Write as u8;
    assert_eq!(NetcraqFrame::parse(&long), Err(WireError::Malformed));
}

#[test]
fn each_rejection_has_its_error() {
    let valid = hex(CLIENT_WRITE_HEX);
    let with = |change: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = valid.clone();
        change(&mut bytes);
        NetcraqFrame::parse(&bytes)
    };
    let refix = |bytes: &mut Vec<u8>| fix_checksum(bytes);

    assert_eq!(with(&|b| b.truncate(13)), Err(WireError::Truncated));
    assert_eq!(with(&|b| b.truncate(61)), Err(WireError::Truncated), "IPv4 total length exceeds the frame");
    assert_eq!(with(&|b| b[12] = 0x86), Err(WireError::Malformed), "EtherType 0x8600 is not IPv4");
    assert_eq!(with(&|b| b[IP] = 0x46), Err(WireError::Malformed), "IHL 6: options");
    assert_eq!(with(&|b| b[IP] = 0x65), Err(WireError::Malformed), "version 6");
    assert_eq!(with(&|b| b[IP_CHECKSUM + 1] ^= 1), Err(WireError::Checksum));
    assert_eq!(with(&|b| b[IP_TTL] = 1), Err(WireError::Checksum), "TTL is covered by the checksum");
    let more_fragments = |b: &mut Vec<u8>| {
        b[IP + 6] = 0x20;
        refix(b);
    };
    assert_eq!(with(&more_fragments), Err(WireError::Malformed));
    let offset = |b: &mut Vec<u8>| {
        b[IP + 7] = 0x01;
        refix(b);
    };
    assert_eq!(with(&offset), Err(WireError::Malformed));
    let tcp = |b: &mut Vec<u8>| {
        b[IP + 9] = 6;
        refix(b);
    };
    assert_eq!(with(&tcp), Err(WireError::Malformed));
    let udp_too_long = |b: &mut Vec<u8>| b[UDP + 5] = 29;
    assert_eq!(with(&udp_too_long), Err(WireError::Truncated));
    let udp_too_short = |b: &mut Vec<u8>| b[UDP + 5] = 7;
    assert_eq!(with(&udp_too_short), Err(WireError::Malformed));
    let udp_27 = |b: &mut Vec<u8>| b[UDP + 5] = 27;
    assert_eq!(with(&udp_27), Err(WireError::Malformed), "UDP length must be exactly 28");
    assert_eq!(with(&|b| b[NC] = 0), Err(WireError::Malformed), "op 0 is unknown");
    assert_eq!(with(&|b| b[NC] = 8), Err(WireError::Malformed), "op 8 is unknown");
    // A longer IPv4 packet in a longer frame is still not a NetCRAQ frame.
    let longer = |b: &mut Vec<u8>| {
        b.push(0);
        b[IP + 3] = 49;
        refix(b);
    };
    assert_eq!(with(&longer), Err(WireError::Malformed));

    // What parse accepts unchanged: padding, any UDP checksum, any ports.
    let padded = |b: &mut Vec<u8>| b.extend_from_slice(&[0xee; 4]);
    assert_eq!(with(&padded), Ok(client_write()));
    assert_eq!(with(&|b| b[UDP_CHECKSUM] = 0x12), Ok(client_write()));
    let ports = |b: &mut Vec<u8>| b[UDP + 3] = 0x44;
    assert_eq!(with(&ports).map(|f| f.udp_dst), Ok(NETCRAQ_UDP_PORT + 1));
}

#[test]
fn checksum_ffff_is_accepted_and_re_emitted_as_zero() {
    // A header whose other words sum to 0xffff has checksum 0x0000; 0xffff
    // (the other one's-complement zero) must verify too. Without its
    // identification, client_write()'s words sum to 0xebdb - 0x1234 = 0xd9a7,
    // so identification 0x2658 brings the sum to 0xffff.
    let mut frame = client_write();
    frame.ident = 0x2658;
    let mut bytes = frame.to_bytes();
    assert_eq!(&bytes[IP_CHECKSUM..IP_CHECKSUM + 2], &[0, 0]);
    bytes[IP_CHECKSUM..IP_CHECKSUM + 2].copy_from_slice(&[0xff, 0xff]);
    assert!(header_verifies(&bytes[IP..]));
    assert_eq!(NetcraqFrame::parse(&bytes), Ok(frame));
}

#[test]
fn op_codes_and_constants_follow_the_spec() {
    let codes: Vec<u8> = Op::ALL.iter().map(|op| *op as u8).collect();
    assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for op in Op::ALL {
        assert_eq!(Op::from_code(op as u8), Some(op));
    }
    assert_eq!(Op::from_code(0), None);
    assert_eq!(Op::from_code(11), None);
    for (code, error) in [
        (1, ErrorCode::KeyOutOfRange),
        (2, ErrorCode::OutcomeUnknown),
        (3, ErrorCode::WindowFull),
        (4, ErrorCode::NotServing),
    ] {
        assert_eq!(error as u8, code);
        assert_eq!(ErrorCode::from_code(code), Some(error));
    }
    assert_eq!(ErrorCode::from_code(0), None);
    assert_eq!(ErrorCode::from_code(5), None);
    assert_eq!(NETCRAQ_UDP_PORT, 0x4e43);
    assert_eq!((NETCRAQ_FRAME_LEN, CHAIN_FRAME_LEN), (62, 66));
    let chain_ops: Vec<Op> = Op::ALL.into_iter().filter(|op| op.is_chain()).collect();
    assert_eq!(chain_ops, [Op::Ack, Op::ChainWrite, Op::Sync, Op::Sweep, Op::Renew]);
    assert_eq!((ETHERNET_HEADER_LEN, IPV4_HEADER_LEN, UDP_HEADER_LEN, NETCRAQ_HEADER_LEN), (14, 20, 8, 20));
}
