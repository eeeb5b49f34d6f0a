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
