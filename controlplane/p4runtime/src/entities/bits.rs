//! P4Runtime bitstrings: the canonical encoding of an unsigned value, and
//! the checked decoding of one at a field's width.

use super::P4Error;
use netcraq_wire::{Ipv4Addr, MacAddr};
use tonic::Code;

/// A P4Runtime bitstring as an unsigned value of at most `bitwidth` bits.
/// Leading zero bytes are accepted (the spec asks servers to); an empty
/// string or a value wider than the field is OUT_OF_RANGE.
pub fn decode_bits(bytes: &[u8], bitwidth: u32, what: &str) -> Result<u128, P4Error> {
    if bytes.is_empty() {
        return Err(P4Error::new(Code::OutOfRange, format!("{what}: empty bitstring (zero is \"\\x00\")")));
    }
    let significant = &bytes[bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len())..];
    let too_wide =
        || P4Error::new(Code::OutOfRange, format!("{what}: value 0x{} does not fit {bitwidth} bits", hex(bytes)));
    if significant.len() > 16 {
        return Err(too_wide());
    }
    let value = significant.iter().fold(0u128, |value, byte| (value << 8) | u128::from(*byte));
    match 128 - value.leading_zeros() <= bitwidth {
        true => Ok(value),
        false => Err(too_wide()),
    }
}

/// The canonical bitstring of `value`: big-endian, no leading zero bytes,
/// at least one byte (what servers must send and clients should).
pub fn encode_bits(value: u128) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(15);
    bytes[first..].to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn mac_value(mac: MacAddr) -> u128 {
    mac.0.iter().fold(0u128, |value, byte| (value << 8) | u128::from(*byte))
}

pub(super) fn mac_from(value: u128) -> MacAddr {
    let bytes = value.to_be_bytes();
    MacAddr(bytes[10..16].try_into().expect("6 bytes"))
}

pub(super) fn ip_value(ip: Ipv4Addr) -> u128 {
    u128::from(u32::from(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitstrings_accept_padding_and_refuse_what_does_not_fit() {
        assert_eq!(decode_bits(&[0x63], 8, "x"), Ok(0x63));
        assert_eq!(decode_bits(&[0, 0x63], 16, "x"), Ok(0x63));
        assert_eq!(decode_bits(&[0, 0, 0x63], 12, "x"), Ok(0x63));
        assert_eq!(decode_bits(&[1, 0xff, 0xff], 17, "x"), Ok(0x1ffff));
        for (bytes, width) in [(&[1u8, 0x63][..], 8), (&[][..], 8), (&[0x10, 0x63][..], 12), (&[2, 0, 0][..], 17)] {
            assert_eq!(decode_bits(bytes, width, "x").unwrap_err().code, Code::OutOfRange, "{bytes:?}");
        }
        assert_eq!(decode_bits(&[0; 20], 128, "x"), Ok(0));
        assert_eq!(decode_bits(&[0xff; 16], 128, "x"), Ok(u128::MAX));
        assert_eq!(encode_bits(0), vec![0]);
        assert_eq!(encode_bits(0x0a000001), vec![0x0a, 0, 0, 1]);
        assert_eq!(encode_bits(u128::MAX), vec![0xff; 16]);
    }
}
