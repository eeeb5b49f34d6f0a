//! The NetCRAQ control plane.
