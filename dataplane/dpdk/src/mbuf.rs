use crate::{sys, Mempool};
use std::fmt;
use std::ptr::NonNull;

/// One packet buffer (`struct rte_mbuf`), owned: exactly one `Mbuf` exists
/// per buffer, it cannot be cloned, and dropping it returns the buffer to its
/// pool (`rte_pktmbuf_free`). Handing it to DPDK ([`crate::Port::tx_burst`],
/// [`crate::MbufRing::enqueue`]) gives the ownership away.
///
/// `Option<Mbuf>` has the layout of a C `struct rte_mbuf *` (null for
/// `None`), so slices of them are passed to the burst functions as they are.
#[repr(transparent)]
pub struct Mbuf {
    raw: NonNull<sys::rte_mbuf>,
}

// SAFETY: an Mbuf is the only handle to its buffer, and mbufs may be freed
// from any thread (pools are thread-safe); moving one moves the ownership.
unsafe impl Send for Mbuf {}

/// A length the mbuf cannot take: more than its first segment holds, or a
/// packet of several segments (lengths are only set on one-segment packets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LenError {
    pub requested: usize,
    pub capacity: usize,
    pub segments: u16,
}

impl fmt::Display for LenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot set an mbuf's length to {} (capacity {}, {} segment(s))",
            self.requested, self.capacity, self.segments
        )
    }
}

impl std::error::Error for LenError {}

impl Mbuf {
    /// An empty buffer from `pool`, or `None` when the pool is exhausted.
    pub fn alloc(pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: the pool is valid for the life of the process; the result
        // is either null or a freshly allocated mbuf that nothing else owns.
        NonNull::new(unsafe { sys::netcraq_pktmbuf_alloc(pool.as_ptr()) }).map(|raw| Mbuf { raw })
    }

    /// A buffer from `pool` holding a copy of `bytes`, or `None` when the pool
    /// is exhausted or `bytes` is longer than one of its mbufs holds.
    pub fn from_bytes(pool: &Mempool, bytes: &[u8]) -> Option<Mbuf> {
        let mut mbuf = Mbuf::alloc(pool)?;
        // A fresh mbuf is empty: its length becomes the copy's.
        mbuf.set_len(bytes.len()).ok()?;
        mbuf.data_mut().copy_from_slice(bytes);
        Some(mbuf)
    }

    /// The mbuf's fields (the layout bindgen read from DPDK's headers): the
    /// per-frame accessors below read them inline, not through the C shim.
    #[inline]
    fn fields(&self) -> &sys::rte_mbuf {
        // SAFETY: the mbuf is valid and owned by self, borrowed as long as self.
        unsafe { self.raw.as_ref() }
    }

    #[inline]
    fn fields_mut(&mut self) -> &mut sys::rte_mbuf {
        // SAFETY: as for fields(); self is the buffer's only owner (mbufs are
        // never cloned or attached by this crate, and rx_burst/alloc hand a
        // buffer over to the application whole), so the borrow is unaliased.
        unsafe { self.raw.as_mut() }
    }

    /// The data of the first segment (the whole packet unless it is chained).
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.fields();
        // SAFETY: rte_pktmbuf_mtod: data_len initialised bytes from data_off
        // in the mbuf's buffer, borrowed as long as self.
        unsafe {
            let data = m.buf_addr.cast::<u8>().add(usize::from(m.data_off));
            std::slice::from_raw_parts(data, usize::from(m.data_len))
        }
    }

    /// The data of the first segment, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.fields_mut();
        // SAFETY: as for data(), and unaliased as for fields_mut().
        unsafe {
            let data = m.buf_addr.cast::<u8>().add(usize::from(m.data_off));
            std::slice::from_raw_parts_mut(data, usize::from(m.data_len))
        }
    }

    /// Bytes of data in the first segment.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.fields().data_len)
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the whole packet, over all its segments.
    #[inline]
    pub fn pkt_len(&self) -> usize {
        self.fields().pkt_len as usize
    }

    /// Segments in the packet (1 unless a driver chained buffers).
    #[inline]
    pub fn segments(&self) -> u16 {
        self.fields().nb_segs
    }

    /// The most data the first segment can hold from where its data starts.
    #[inline]
    pub fn capacity(&self) -> usize {
        let m = self.fields();
        usize::from(m.buf_len.saturating_sub(m.data_off))
    }

    /// Sets the length of a one-segment packet: shorter cuts the frame,
    /// longer exposes the buffer's bytes after it (whatever they hold).
    #[inline]
    pub fn set_len(&mut self, len: usize) -> Result<(), LenError> {
        let (capacity, segments) = (self.capacity(), self.segments());
        if len > capacity || segments != 1 {
            return Err(LenError { requested: len, capacity, segments });
        }
        // len fits the buffer (checked above), so also u16.
        let m = self.fields_mut();
        m.data_len = len as u16;
        m.pkt_len = len as u32;
        Ok(())
    }

    /// The mbuf's `port` field: the port it arrived on after rx. NetCRAQ's
    /// node sets it to the port a frame leaves by before tx, as DPDK's event
    /// Tx adapter does; drivers ignore it on transmit.
    #[inline]
    pub fn port(&self) -> u16 {
        self.fields().port
    }

    #[inline]
    pub fn set_port(&mut self, port: u16) {
        self.fields_mut().port = port;
    }

    /// Gives up ownership: the caller now owns the raw mbuf.
    pub(crate) fn into_raw(self) -> *mut sys::rte_mbuf {
        let raw = self.raw.as_ptr();
        std::mem::forget(self);
        raw
    }

    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `raw` is a valid mbuf that nothing else owns.
    pub(crate) unsafe fn from_raw(raw: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf { raw }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: self is the only owner of a valid mbuf, and it is not used after this.
        unsafe { sys::netcraq_pktmbuf_free(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mbuf").field("len", &self.len()).field("segments", &self.segments()).finish()
    }
}
