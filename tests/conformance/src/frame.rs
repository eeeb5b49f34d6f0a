//! Naming bytes of a NetCRAQ frame for mismatch reports: which header field an
//! offset falls in (§1 layout), and a one-line decoding of a frame. Reads the
//! bytes directly, so that a report never depends on the implementation under
//! test or on its wire crate.

/// Where each field of the 62-byte frame starts (§1): (first offset, field).
/// A chain frame's extension (§1.4) follows it: see [`field_at`].
const FIELDS: [(usize, &str); 22] = [
    (0, "Ethernet destination MAC"),
    (6, "Ethernet source MAC"),
    (12, "EtherType"),
    (14, "IPv4 version/IHL"),
    (15, "IPv4 TOS"),
    (16, "IPv4 total length"),
    (18, "IPv4 identification"),
    (20, "IPv4 flags/fragment offset"),
    (22, "IPv4 TTL"),
    (23, "IPv4 protocol"),
    (24, "IPv4 header checksum"),
    (26, "IPv4 source address"),
    (30, "IPv4 destination address"),
    (34, "UDP source port"),
    (36, "UDP destination port"),
    (38, "UDP length"),
    (40, "UDP checksum"),
    (42, "NetCRAQ op"),
    (43, "NetCRAQ version"),
    (44, "NetCRAQ key"),
    (46, "NetCRAQ value"),
    (62, "bytes after the NetCRAQ header (Ethernet padding)"),
];

/// Where a chain frame's extension starts, and where the bytes after it do (§1.4).
const EXTENSION: usize = 62;
const AFTER_EXTENSION: usize = EXTENSION + 4;

/// The field of NetCRAQ frame `frame` (§1) that byte `offset` belongs to, e.g.
/// `IPv4 TTL`, `NetCRAQ value (byte 3 of 16)` or, in a chain frame (its op
/// at offset 42 is `CHAIN_WRITE` or `ACK`), `chain extension epoch (byte 1 of 4)`.
pub fn field_at(frame: &[u8], offset: usize) -> String {
    if offset >= EXTENSION && is_chain_op(frame) {
        return match offset {
            EXTENSION..AFTER_EXTENSION => format!("chain extension epoch (byte {} of 4)", offset - EXTENSION),
            _ => format!("bytes after the chain extension (Ethernet padding), byte {}", offset - AFTER_EXTENSION),
        };
    }
    let (start, name) = FIELDS.iter().rev().find(|(start, _)| *start <= offset).copied().unwrap_or(FIELDS[0]);
    match start {
        46 => format!("{name} (byte {} of 16)", offset - 46),
        62 => format!("{name}, byte {}", offset - 62),
        _ => name.to_string(),
    }
}

/// The first offset at which the frames differ, counting a length difference
/// as a difference at the end of the shorter one; `None` if they are equal.
pub fn first_difference(expected: &[u8], actual: &[u8]) -> Option<usize> {
    let common = expected.len().min(actual.len());
    (0..common).find(|&i| expected[i] != actual[i]).or((expected.len() != actual.len()).then_some(common))
}

/// Every field in which the frames differ, in frame order and named after
/// the expected frame's layout (a length difference shows as the fields only
/// one of them has).
pub fn differing_fields(expected: &[u8], actual: &[u8]) -> Vec<String> {
    let len = expected.len().max(actual.len());
    let mut fields: Vec<String> = Vec::new();
    for offset in 0..len {
        if expected.get(offset) != actual.get(offset) {
            let field = field_at(expected, offset);
            let base = field.split(" (byte").next().unwrap_or(&field).split(", byte").next().unwrap_or(&field);
            if fields.last().map(String::as_str) != Some(base) {
                fields.push(base.to_string());
            }
        }
    }
    fields
}

/// Whether `frame` holds a chain op (`ACK` or `CHAIN_WRITE`, §1.2) at offset 42.
fn is_chain_op(frame: &[u8]) -> bool {
    matches!(frame.get(42).copied().and_then(op_name), Some("ACK" | "CHAIN_WRITE"))
}

/// The op name of a NetCRAQ op code (§1.2).
pub fn op_name(code: u8) -> Option<&'static str> {
    let names = ["READ", "WRITE", "READ_REPLY", "WRITE_REPLY", "ACK", "ERROR", "CHAIN_WRITE"];
    names.get(usize::from(code).checked_sub(1)?).copied()
}

/// A one-line reading of a frame, as far as its bytes go, e.g. `66 B
/// 02:..:03 -> 02:..:01 | 10.0.1.2:40001 -> 10.0.0.3:20035 ttl 63 id 0x0009 |
/// CHAIN_WRITE v4 key 5 value a0a1.. epoch 7`.
pub fn describe(frame: &[u8]) -> String {
    let mut text = format!("{} B", frame.len());
    if frame.len() < 14 {
        return text + " (shorter than an Ethernet header)";
    }
    let mac = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":");
    let u16_at = |i: usize| u16::from_be_bytes([frame[i], frame[i + 1]]);
    text += &format!(" {} -> {}", mac(&frame[6..12]), mac(&frame[0..6]));
    if u16_at(12) != 0x0800 {
        return text + &format!(" ethertype 0x{:04x}", u16_at(12));
    }
    if frame.len() < 34 {
        return text + " | IPv4 truncated";
    }
    let ip = |i: usize| format!("{}.{}.{}.{}", frame[i], frame[i + 1], frame[i + 2], frame[i + 3]);
    let (src, dst) = (ip(26), ip(30));
    let ip_info = format!(
        "ttl {} id 0x{:04x} len {} proto {}{}",
        frame[22],
        u16_at(18),
        u16_at(16),
        frame[23],
        if frame[14] == 0x45 { String::new() } else { format!(" ver/ihl 0x{:02x}", frame[14]) }
    );
    if frame[23] != 17 || frame.len() < 42 {
        return text + &format!(" | {src} -> {dst} {ip_info}");
    }
    text += &format!(" | {src}:{} -> {dst}:{} {ip_info} udp len {}", u16_at(34), u16_at(36), u16_at(38));
    if frame.len() < 62 {
        return text;
    }
    let op = op_name(frame[42]).map(str::to_string).unwrap_or_else(|| format!("op {}", frame[42]));
    let value: String = frame[46..62].iter().map(|b| format!("{b:02x}")).collect();
    text += &format!(" | {op} v{} key {} value {value}", frame[43], u16_at(44));
    match frame.get(EXTENSION..AFTER_EXTENSION) {
        Some(&[a, b, c, d]) if is_chain_op(frame) => text + &format!(" epoch {}", u32::from_be_bytes([a, b, c, d])),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_the_spec_layout() {
        let read = [1u8; 64];
        assert_eq!(field_at(&read, 0), "Ethernet destination MAC");
        assert_eq!(field_at(&read, 11), "Ethernet source MAC");
        assert_eq!(field_at(&read, 22), "IPv4 TTL");
        assert_eq!(field_at(&read, 25), "IPv4 header checksum");
        assert_eq!(field_at(&read, 37), "UDP destination port");
        assert_eq!(field_at(&read, 43), "NetCRAQ version");
        assert_eq!(field_at(&read, 49), "NetCRAQ value (byte 3 of 16)");
        assert_eq!(field_at(&read, 63), "bytes after the NetCRAQ header (Ethernet padding), byte 1");
    }

    #[test]
    fn a_chain_frame_has_its_extension() {
        let mut chain_write = [0u8; 68];
        chain_write[42] = 7;
        assert_eq!(field_at(&chain_write, 61), "NetCRAQ value (byte 15 of 16)");
        assert_eq!(field_at(&chain_write, 63), "chain extension epoch (byte 1 of 4)");
        assert_eq!(field_at(&chain_write, 67), "bytes after the chain extension (Ethernet padding), byte 1");
        chain_write[12..14].copy_from_slice(&[8, 0]);
        chain_write[23] = 17;
        chain_write[62..66].copy_from_slice(&7u32.to_be_bytes());
        let text = describe(&chain_write);
        assert!(text.ends_with("CHAIN_WRITE v0 key 0 value 00000000000000000000000000000000 epoch 7"), "{text}");
        let mut differs = chain_write;
        differs[65] = 8;
        assert_eq!(differing_fields(&chain_write, &differs), ["chain extension epoch"]);
    }

    #[test]
    fn first_difference_counts_length() {
        assert_eq!(first_difference(&[1, 2, 3], &[1, 2, 3]), None);
        assert_eq!(first_difference(&[1, 2, 3], &[1, 9, 3]), Some(1));
        assert_eq!(first_difference(&[1, 2], &[1, 2, 0]), Some(2));
    }

    #[test]
    fn differing_fields_are_merged_per_field() {
        let a = [0u8; 62];
        let mut b = a;
        b[22] = 1;
        b[24] = 1;
        b[25] = 1;
        b[50] = 1;
        b[51] = 1;
        assert_eq!(differing_fields(&a, &b), ["IPv4 TTL", "IPv4 header checksum", "NetCRAQ value"]);
    }
}
