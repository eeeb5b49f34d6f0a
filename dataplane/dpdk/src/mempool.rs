use crate::{sys, Eal, Error};
use std::ffi::CString;
use std::ptr::NonNull;

/// An mbuf's default data room: 2048 bytes of frame after DPDK's headroom
/// (`RTE_MBUF_DEFAULT_BUF_SIZE`), enough for any standard Ethernet frame.
pub const DEFAULT_DATA_ROOM: u16 = 2048 + sys::RTE_PKTMBUF_HEADROOM as u16;

/// A pool of packet buffers (`rte_pktmbuf_pool_create`). A handle: copies
/// name the same pool, which lives until the process exits.
/// Linux's ENOMEM, as DPDK reports it in rte_errno.
const ENOMEM: i32 = 12;

#[derive(Debug, Clone, Copy)]
pub struct Mempool {
    pool: NonNull<sys::rte_mempool>,
}

// SAFETY: DPDK mempools are made for use from any thread: the default ops
// are a multi-producer, multi-consumer ring, and the pool is never freed.
unsafe impl Send for Mempool {}
// SAFETY: as for Send; every operation through a shared handle is thread-safe.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// A pool of `size` mbufs (best `2^k - 1`), each with `data_room` bytes
    /// (headroom included, see [`DEFAULT_DATA_ROOM`]), with per-lcore caches
    /// of `cache` mbufs (0: none; at most 512). `name` must be unique in the
    /// process and at most 25 bytes.
    pub fn new(_eal: &Eal, name: &str, size: u32, cache: u32, data_room: u16) -> Result<Mempool, Error> {
        let context = || format!("creating the mbuf pool {name:?} ({size} mbufs of {data_room} bytes)");
        let c_name = CString::new(name).map_err(|_| Error::new(format!("{}: NUL in the name", context())))?;
        // SAFETY: the EAL is initialised (_eal proves it) and c_name is a valid
        // C string for the duration of the call, which copies it.
        let pool =
            unsafe { sys::rte_pktmbuf_pool_create(c_name.as_ptr(), size, cache, 0, data_room, sys::SOCKET_ID_ANY) };
        match NonNull::new(pool) {
            Some(pool) => Ok(Mempool { pool }),
            None => {
                let error = Error::from_rte_errno(context());
                match error.code() {
                    Some(ENOMEM) => Err(error.with_hint(
                        "DPDK has too little memory: with --no-huge give it more with -m <MB> (e.g. -m 256); \
                         with hugepages, reserve more of them",
                    )),
                    _ => Err(error),
                }
            }
        }
    }

    /// Mbufs currently in the pool (including the per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is valid for the life of the process.
        unsafe { sys::rte_mempool_avail_count(self.pool.as_ptr()) }
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.pool.as_ptr()
    }
}
