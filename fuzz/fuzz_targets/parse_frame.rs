//! `NetcraqFrame::parse` on arbitrary bytes must not panic, and a frame it
//! accepts must survive emit then parse unchanged.
//!
//! Random bytes almost never carry a valid IPv4 checksum, so each input is
//! parsed twice: as given, and with the checksum rewritten to verify, which
//! lets the fuzzer reach the UDP and NetCRAQ checks behind it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netcraq_wire::{
    EthernetFrame, Ipv4Packet, NetcraqFrame, NetcraqHeader, NetcraqRepr, UdpDatagram, UdpRepr, ETHERNET_HEADER_LEN,
    IPV4_HEADER_LEN, NETCRAQ_FRAME_LEN,
};

fn check(bytes: &[u8]) {
    let Ok(frame) = NetcraqFrame::parse(bytes) else { return };
    assert!(bytes.len() >= NETCRAQ_FRAME_LEN, "accepted a frame of {} bytes", bytes.len());
    let emitted = frame.to_bytes();
    assert_eq!(NetcraqFrame::parse(&emitted), Ok(frame), "emit then parse changed the frame");
    // Everything but the two checksums is kept byte for byte (the UDP
    // checksum is never verified and always sent as 0; an IPv4 checksum of
    // 0xffff is re-emitted as the other zero, 0x0000).
    for at in (0..frame.frame_len()).filter(|at| !matches!(at, 24 | 25 | 40 | 41)) {
        assert_eq!(emitted[at], bytes[at], "byte {at} changed by emit");
    }
}

/// Every view `new_checked` accepts must answer every accessor.
fn views(bytes: &[u8]) {
    if let Ok(eth) = EthernetFrame::new_checked(bytes) {
        let _ = (eth.dst_addr(), eth.src_addr(), eth.ethertype(), eth.payload());
    }
    if let Ok(ip) = Ipv4Packet::new_checked(bytes) {
        let _ = (ip.tos(), ip.ident(), ip.is_fragment(), ip.ttl(), ip.protocol(), ip.src_addr(), ip.dst_addr());
        let _ = (ip.checksum(), ip.verify_checksum(), ip.payload());
        let _ = netcraq_wire::Ipv4Repr::parse(&ip);
    }
    if let Ok(udp) = UdpDatagram::new_checked(bytes) {
        let _ = (UdpRepr::parse(&udp), udp.is_empty(), udp.checksum(), udp.payload());
    }
    if let Ok(header) = NetcraqHeader::new_checked(bytes) {
        let _ = NetcraqRepr::parse(&header);
    }
}

fn fill_checksum(bytes: &mut [u8]) {
    if let Some(header) = bytes.get_mut(ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + IPV4_HEADER_LEN) {
        header[10..12].fill(0);
        let mut sum: u32 = header.chunks(2).map(|w| u32::from(w[0]) << 8 | u32::from(w[1])).sum();
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        header[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    views(data);
    for start in [ETHERNET_HEADER_LEN, ETHERNET_HEADER_LEN + IPV4_HEADER_LEN] {
        if let Some(inner) = data.get(start..) {
            views(inner);
        }
    }
    let mut fixed = data.to_vec();
    fill_checksum(&mut fixed);
    check(&fixed);
});
