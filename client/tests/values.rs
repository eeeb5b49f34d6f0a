//! Parsing and formatting values for the command line.

use netcraq_client::{format_value, parse_value, ValueError};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn padded(bytes: &[u8]) -> [u8; 16] {
    let mut value = [0; 16];
    value[..bytes.len()].copy_from_slice(bytes);
    value
}

#[test]
fn text_is_zero_padded() {
    assert_eq!(parse_value("hello"), Ok(padded(b"hello")));
    assert_eq!(parse_value("exactly16bytes!!"), Ok(*b"exactly16bytes!!"));
    assert_eq!(parse_value(""), Ok([0; 16]));
}

#[test]
fn text_longer_than_sixteen_bytes_is_rejected() {
    assert_eq!(parse_value("seventeen bytes!!"), Err(ValueError::TooLong { len_bytes: 17 }));
    // Bytes count, not characters: eight two-byte characters fit, nine do not.
    assert!(parse_value("éééééééé").is_ok());
    assert_eq!(parse_value("ééééééééé"), Err(ValueError::TooLong { len_bytes: 18 }));
}

#[test]
fn hex_is_zero_padded_at_the_end_like_text() {
    assert_eq!(parse_value("0x41"), parse_value("A"));
    assert_eq!(parse_value("0X00ff"), Ok(padded(&[0, 0xff])));
    assert_eq!(parse_value("0x"), Ok([0; 16]));
    let full = "0x00112233445566778899aabbccddeeff";
    assert_eq!(
        parse_value(full),
        Ok([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])
    );
}

#[test]
fn malformed_hex_is_rejected() {
    assert_eq!(parse_value("0x0011223344556677889900aabbccddeeff"), Err(ValueError::TooLong { len_bytes: 17 }));
    assert_eq!(parse_value("0x123"), Err(ValueError::OddHexDigits));
    assert_eq!(parse_value("0xzz"), Err(ValueError::InvalidHex { text: "zz".into() }));
    assert_eq!(parse_value("0x+1"), Err(ValueError::InvalidHex { text: "+1".into() }));
    assert_eq!(parse_value("0xé"), Err(ValueError::InvalidHex { text: "é".into() }));
}

#[test]
fn errors_explain_themselves() {
    assert_eq!(
        ValueError::TooLong { len_bytes: 17 }.to_string(),
        "value is 17 bytes long, but a register holds at most 16"
    );
    assert_eq!(ValueError::OddHexDigits.to_string(), "hex value has an odd number of digits (two per byte)");
    assert_eq!(ValueError::InvalidHex { text: "zz".into() }.to_string(), "`zz` is not hexadecimal");
}

#[test]
fn printable_values_format_as_text_and_others_as_hex() {
    assert_eq!(format_value(&padded(b"hello world")), "hello world");
    assert_eq!(format_value(&[0; 16]), "0x00000000000000000000000000000000");
    assert_eq!(format_value(&padded(&[1, 2])), "0x01020000000000000000000000000000");
    // Text after a zero byte would be lost if shown as text.
    assert_eq!(format_value(&padded(b"a\0b")), "0x61006200000000000000000000000000");
    // Text that reads as hex is shown as hex, so that parsing it back agrees.
    assert_eq!(format_value(&padded(b"0x41")), "0x30783431000000000000000000000000");
    assert_eq!(format_value(&padded(b"0X")), "0x30580000000000000000000000000000");
}

#[test]
fn formatting_then_parsing_gives_the_value_back() {
    let mut rng = SmallRng::seed_from_u64(3);
    for _ in 0..2000 {
        let len = rng.gen_range(0..=16);
        let mut value = [0; 16];
        // Mostly printable bytes, so that both forms are exercised.
        value[..len]
            .iter_mut()
            .for_each(|byte| *byte = if rng.gen_bool(0.9) { rng.gen_range(b' '..=b'~') } else { rng.gen() });
        assert_eq!(parse_value(&format_value(&value)), Ok(value), "{value:?}");
    }
}
