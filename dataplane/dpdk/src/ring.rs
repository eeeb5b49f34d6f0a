use crate::{sys, Eal, Error, Mbuf};
use std::ffi::CString;
use std::ptr::NonNull;

/// A ring of mbufs (`rte_ring`, multi-producer and multi-consumer), the
/// queue behind `net_ring` ports ([`crate::Port::from_rings`]). A handle:
/// copies name the same ring, which lives until the process exits. The
/// ring only ever holds mbufs owned by it, put there by [`MbufRing::enqueue`]
/// or by the transmit side of a ring port.
#[derive(Debug, Clone, Copy)]
pub struct MbufRing {
    ring: NonNull<sys::rte_ring>,
}

// SAFETY: rings created without SP/SC flags are safe for concurrent
// producers and consumers, and the ring is never freed.
unsafe impl Send for MbufRing {}
// SAFETY: as for Send.
unsafe impl Sync for MbufRing {}

impl MbufRing {
    /// A ring for `size` mbufs (a power of two; it holds `size - 1`).
    /// `name` must be unique in the process and at most 26 bytes.
    pub fn new(_eal: &Eal, name: &str, size: u32) -> Result<MbufRing, Error> {
        let context = || format!("creating the ring {name:?} of {size}");
        let c_name = CString::new(name).map_err(|_| Error::new(format!("{}: NUL in the name", context())))?;
        // SAFETY: the EAL is initialised (_eal proves it); c_name is a valid C
        // string for the call, which copies it.
        let ring = unsafe { sys::rte_ring_create(c_name.as_ptr(), size, sys::SOCKET_ID_ANY, 0) };
        NonNull::new(ring).map(|ring| MbufRing { ring }).ok_or_else(|| Error::from_rte_errno(context()))
    }

    /// Puts an mbuf at the tail, or gives it back when the ring is full.
    pub fn enqueue(&self, mbuf: Mbuf) -> Result<(), Mbuf> {
        let raw = mbuf.into_raw();
        // SAFETY: the ring is valid for the life of the process; on success
        // the ring owns the mbuf, on failure ownership comes back below.
        let rc = unsafe { sys::netcraq_ring_enqueue(self.ring.as_ptr(), raw.cast()) };
        match rc {
            0 => Ok(()),
            // SAFETY: the ring refused raw, which is still ours alone and valid.
            _ => Err(unsafe { Mbuf::from_raw(NonNull::new_unchecked(raw)) }),
        }
    }

    /// Takes the mbuf at the head, if any.
    pub fn dequeue(&self) -> Option<Mbuf> {
        let mut object: *mut std::ffi::c_void = std::ptr::null_mut();
        // SAFETY: the ring is valid; on success it writes one pointer it held.
        let rc = unsafe { sys::netcraq_ring_dequeue(self.ring.as_ptr(), &mut object) };
        if rc != 0 {
            return None;
        }
        // SAFETY: this ring only ever holds owned mbufs (see the type's
        // documentation), and dequeuing transferred this one's ownership here.
        NonNull::new(object.cast()).map(|raw| unsafe { Mbuf::from_raw(raw) })
    }

    /// Mbufs in the ring.
    pub fn len(&self) -> usize {
        // SAFETY: the ring is valid for the life of the process.
        unsafe { sys::netcraq_ring_count(self.ring.as_ptr()) as usize }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::rte_ring {
        self.ring.as_ptr()
    }
}
