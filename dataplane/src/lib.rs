//! Backends that move frames between the NetCRAQ core and the world.
