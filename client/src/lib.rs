//! NetCRAQ client library.
