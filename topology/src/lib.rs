//! NetCRAQ topologies.
