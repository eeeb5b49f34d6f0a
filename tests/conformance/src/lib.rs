//! Conformance vectors: loading and replay.
