//! Values as people type and read them.

use std::fmt::{self, Display, Formatter};

pub use netcraq_linearizability::format_value;
use netcraq_linearizability::{Value, VALUE_LEN};

/// Why text could not be made into a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// The value needs more than the 16 bytes a register holds.
    TooLong { len_bytes: usize },
    /// Hex digits come in pairs, one pair per byte.
    OddHexDigits,
    /// The text after `0x` is not hex.
    InvalidHex { text: String },
}

impl Display for ValueError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::TooLong { len_bytes } => {
                write!(f, "value is {len_bytes} bytes long, but a register holds at most {VALUE_LEN}")
            }
            ValueError::OddHexDigits => f.write_str("hex value has an odd number of digits (two per byte)"),
            ValueError::InvalidHex { text } => write!(f, "`{text}` is not hexadecimal"),
        }
    }
}

impl std::error::Error for ValueError {}

/// Parses a value: `0x` followed by at most 32 hex digits, or else text of at
/// most 16 bytes. Either is zero padded at the end, so `0x41` and `A` are the
/// same value, and the empty text is all zeros.
pub fn parse_value(text: &str) -> Result<Value, ValueError> {
    let bytes = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => parse_hex(hex)?,
        None => text.as_bytes().to_vec(),
    };
    if bytes.len() > VALUE_LEN {
        return Err(ValueError::TooLong { len_bytes: bytes.len() });
    }
    let mut value = Value::default();
    value[..bytes.len()].copy_from_slice(&bytes);
    Ok(value)
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, ValueError> {
    // Checked first because `from_str_radix` also accepts a sign.
    if !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(ValueError::InvalidHex { text: hex.to_string() });
    }
    if !hex.len().is_multiple_of(2) {
        return Err(ValueError::OddHexDigits);
    }
    let byte_at = |at: usize| u8::from_str_radix(&hex[at..at + 2], 16).expect("two hex digits");
    Ok((0..hex.len()).step_by(2).map(byte_at).collect())
}
