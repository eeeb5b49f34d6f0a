//! Prometheus metrics, written once for the node, the proxy and the
//! controller (`docs/metrics.md`):
//!
//! - [`Counter`], [`Gauge`], [`Histogram`]: atomics, updated without a lock
//!   or an allocation; a histogram's buckets are fixed when it is made.
//! - [`Exposition`]: the text exposition format 0.0.4, rendered per scrape.
//! - [`MetricsServer`]: a small HTTP/1.1 server of `GET /metrics` on a
//!   thread of its own, so it serves a poll loop and a tokio runtime alike.
//! - [`scrape`] and [`parse`]: reading another process's `/metrics` (etcd's,
//!   the proxy's), for `netcraq ctl top` and the tests.

#![forbid(unsafe_code)]

mod exposition;
mod instruments;
mod parse;
mod scrape;
mod server;

pub use exposition::{Exposition, Kind};
pub use instruments::{Counter, Gauge, Histogram, LATENCY_BUCKETS_SECONDS};
pub use parse::{parse, Sample, Samples};
pub use scrape::scrape;
pub use server::MetricsServer;

/// The Content-Type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Bytes as a label value: the text itself when UTF-8 (and not starting
/// with `0x`), else `0x` and the bytes in hex. [`label_bytes`] reverses it.
pub fn bytes_label(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.starts_with("0x") => text.to_string(),
        _ => std::iter::once("0x".to_string()).chain(bytes.iter().map(|b| format!("{b:02x}"))).collect(),
    }
}

/// The bytes [`bytes_label`] wrote as `label`.
pub fn label_bytes(label: &str) -> Vec<u8> {
    let hex = label.strip_prefix("0x").filter(|h| h.len() % 2 == 0 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    match hex {
        Some(hex) => (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)).collect(),
        None => label.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_labels_round_trip() {
        for bytes in [&b"/registry/pods/x"[..], &[0xff, 0x00], b"0xabc", b""] {
            assert_eq!(label_bytes(&bytes_label(bytes)), bytes, "{bytes:?}");
        }
        assert_eq!(bytes_label(&[0xff, 0x00]), "0xff00");
    }
}
