//! Safe bindings to the system's DPDK (22.11 or later), for the NetCRAQ
//! poll-mode node: the EAL, mbuf pools, mbufs, ethdev ports and rings.
//!
//! Everything here but [`eal_args`] (plain argument handling) is behind the
//! `dpdk` cargo feature. Without it the crate builds on any machine; with it, it needs `libdpdk-dev`,
//! `pkg-config` and libclang (README.md says how the bindings are made).
//!
//! All `unsafe` code of NetCRAQ's DPDK support lives in this crate, each
//! block with the reason it is sound. The rules it enforces:
//!
//! - [`Eal::init`] runs once per process; every other constructor takes the
//!   [`Eal`] it returned as proof.
//! - [`Mempool`]s and [`MbufRing`]s, once created, live until the process
//!   exits: DPDK cannot tell when no mbuf or port refers to them any more,
//!   and nodes create them once at start.
//! - An [`Mbuf`] is owned: exactly one handle per buffer, never cloned, freed
//!   when dropped, handed over to DPDK by [`Port::tx_burst`] and
//!   [`MbufRing::enqueue`].
//! - A [`Port`] is claimed by one handle at a time and stopped and closed
//!   when dropped.

#[cfg(feature = "dpdk")]
mod eal;
pub mod eal_args;
#[cfg(feature = "dpdk")]
mod error;
#[cfg(feature = "dpdk")]
pub mod hugepages;
#[cfg(feature = "dpdk")]
mod mbuf;
#[cfg(feature = "dpdk")]
mod mempool;
#[cfg(feature = "dpdk")]
mod port;
#[cfg(feature = "dpdk")]
mod ring;
#[cfg(feature = "dpdk")]
mod sys;

#[cfg(feature = "dpdk")]
pub use eal::Eal;
pub use eal_args::{allowed_cpu_list, eal_arguments, EalExtras};
#[cfg(feature = "dpdk")]
pub use error::Error;
#[cfg(feature = "dpdk")]
pub use mbuf::{LenError, Mbuf};
#[cfg(feature = "dpdk")]
pub use mempool::{Mempool, DEFAULT_DATA_ROOM};
#[cfg(feature = "dpdk")]
pub use port::{Port, PortQueue, PortSettings, PortStats};
#[cfg(feature = "dpdk")]
pub use ring::MbufRing;
