use crate::{sys, Eal, Error, Mbuf, MbufRing, Mempool};
use std::collections::BTreeSet;
use std::ffi::{CStr, CString};
use std::sync::{Arc, Mutex};

/// Port ids that a [`Port`] handle holds, so no port has two.
static CLAIMED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// How to set a port up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSettings {
    /// Descriptors of the receive and transmit queues; drivers round them
    /// to what they support.
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    /// Receive and transmit queues: one pair per lcore that polls the port.
    /// With more than one, receive-side scaling spreads frames over the
    /// receive queues where the driver has it (a NIC); without it, the
    /// sender chooses the queue (memif) or the driver spreads them itself
    /// (af_packet with `qpairs=`).
    pub queues: u16,
}

impl Default for PortSettings {
    fn default() -> Self {
        PortSettings { rx_descriptors: 1024, tx_descriptors: 1024, queues: 1 }
    }
}

/// The driver's counters of a port (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Received frames dropped by the hardware for lack of descriptors.
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// Receive failures for lack of mbufs.
    pub rx_no_mbuf: u64,
}

/// An ethdev port. One handle per port: creating a second handle for a port
/// fails. Dropping it stops and closes the port, and detaches the device if
/// this handle attached it (so it can be attached again). Once started, its
/// own bursts use queue 0; [`Port::into_queues`] splits it into one handle
/// per queue, for one lcore each.
#[derive(Debug)]
pub struct Port {
    id: u16,
    name: String,
    /// Attached by this handle (`rte_dev_probe` or a ring port), so removed on drop.
    attached_here: bool,
    started: bool,
    /// Queue pairs, once started.
    queues: u16,
}

impl Port {
    /// The port of a device named by DPDK device arguments: a PCI address
    /// (`0000:01:00.0`, the device bound to a DPDK-capable driver), or a
    /// virtual device (`net_ring0`, `net_memif0,role=server`,
    /// `net_af_packet0,iface=eth1`, `net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap`).
    /// A device that the EAL already probed (`-a`, `--vdev`) is found by its
    /// name (the part before the first comma); any other is attached now.
    pub fn from_devargs(_eal: &Eal, devargs: &str) -> Result<Port, Error> {
        let name = devargs.split(',').next().unwrap_or_default().trim();
        if name.is_empty() {
            return Err(Error::new(format!("device arguments {devargs:?} name no device")));
        }
        let names = [name.to_string(), format!("0000:{name}")];
        if let Some(id) = names.iter().find_map(|n| port_by_name(n)) {
            return Port::claim(id, name, false);
        }
        let c_devargs =
            CString::new(devargs).map_err(|_| Error::new(format!("device arguments {devargs:?} contain NUL")))?;
        // SAFETY: the EAL is initialised (_eal proves it) and c_devargs is a
        // valid C string for the call.
        let rc = unsafe { sys::rte_dev_probe(c_devargs.as_ptr()) };
        if rc < 0 {
            let context = format!("attaching the device {devargs:?} (rte_dev_probe)");
            // Drivers' probe functions mostly fail with a bare -1, which is no errno.
            let error = match rc {
                -1 => Error::new(format!("{context} failed")),
                rc => Error::from_return(context, rc),
            };
            return Err(error.with_hint(
                "DPDK's messages above say why. Check that the driver exists (virtual devices: net_ring, \
                 net_memif, net_af_packet, net_pcap, ...), that the interface of iface= exists, and that a PCI \
                 device is bound to vfio-pci (or a bifurcated driver such as mlx5).",
            ));
        }
        match names.iter().find_map(|n| port_by_name(n)) {
            Some(id) => Port::claim(id, name, true),
            None => Err(Error::new(format!(
                "attached the device {devargs:?} but found no ethdev port named {name:?}; \
                 give PCI addresses in full (0000:01:00.0)"
            ))),
        }
    }

    /// A `net_ring` port named `net_ring_<name>` that receives what is put
    /// into `rx` and puts what it transmits into `tx` (`rte_eth_from_rings`).
    /// Several ports may share a ring.
    pub fn from_rings(_eal: &Eal, name: &str, rx: &MbufRing, tx: &MbufRing) -> Result<Port, Error> {
        let c_name = CString::new(name).map_err(|_| Error::new(format!("ring port name {name:?} contains NUL")))?;
        let (rx_rings, tx_rings) = ([rx.as_ptr()], [tx.as_ptr()]);
        // SAFETY: the EAL is initialised; both arrays hold one valid ring that
        // lives until the process exits (so as long as the port may use it);
        // the call copies the name and the ring pointers.
        let rc = unsafe {
            sys::rte_eth_from_rings(
                c_name.as_ptr(),
                rx_rings.as_ptr(),
                1,
                tx_rings.as_ptr(),
                1,
                sys::SOCKET_ID_ANY as u32,
            )
        };
        let id = u16::try_from(rc)
            .ok()
            .filter(|id| u32::from(*id) < sys::RTE_MAX_ETHPORTS)
            .ok_or_else(|| Error::from_rte_errno(format!("creating the ring port {name:?} (rte_eth_from_rings)")))?;
        Port::claim(id, &format!("net_ring_{name}"), true)
    }

    fn claim(id: u16, name: &str, attached_here: bool) -> Result<Port, Error> {
        let mut claimed = CLAIMED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !claimed.insert(id) {
            return Err(Error::new(format!("port {id} ({name}) already has a handle in this process")));
        }
        Ok(Port { id, name: name.to_string(), attached_here, started: false, queues: 0 })
    }

    /// Configures `settings.queues` receive queues (their mbufs from `pool`)
    /// and as many transmit queues, starts the port and turns promiscuous
    /// mode on where the driver has one.
    pub fn start(&mut self, pool: &Mempool, settings: &PortSettings) -> Result<(), Error> {
        if self.started {
            return Err(Error::new(format!("port {} ({}) is already started", self.id, self.name)));
        }
        let context = |what: &str| format!("port {} ({}): {what}", self.id, self.name);
        let info = self.info().map_err(|rc| Error::from_return(context("rte_eth_dev_info_get"), rc))?;
        let queues = settings.queues;
        if queues == 0 || queues > info.max_rx_queues || queues > info.max_tx_queues {
            return Err(Error::new(context(&format!(
                "{queues} queue pairs asked, the driver has 1 to {} (one pair per polling lcore; for \
                 net_af_packet add qpairs=N to the device arguments)",
                info.max_rx_queues.min(info.max_tx_queues)
            ))));
        }
        let mut conf = sys::rte_eth_conf::default();
        if queues > 1 && info.flow_type_rss_offloads != 0 {
            conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
            // The default key; hash on every field the driver can: what
            // matters is that one flow stays on one queue.
            conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads;
        }
        // SAFETY: a valid port id that this handle owns; conf is a live
        // configuration that the call copies.
        let rc = unsafe { sys::rte_eth_dev_configure(self.id, queues, queues, &conf) };
        check(rc, || context("rte_eth_dev_configure"))?;
        let (mut rx_descriptors, mut tx_descriptors) = (settings.rx_descriptors, settings.tx_descriptors);
        // SAFETY: a valid, configured port; both pointers are to live u16s.
        let rc = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(self.id, &mut rx_descriptors, &mut tx_descriptors) };
        check(rc, || context("rte_eth_dev_adjust_nb_rx_tx_desc"))?;
        // SAFETY: a valid port id.
        let socket = unsafe { sys::rte_eth_dev_socket_id(self.id) };
        for queue in 0..queues {
            // SAFETY: a configured port with `queues` queues; a null rxconf
            // means the driver's defaults; the pool outlives the port (pools
            // live until exit).
            let rc = unsafe {
                sys::rte_eth_rx_queue_setup(
                    self.id,
                    queue,
                    rx_descriptors,
                    socket as u32,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            check(rc, || context(&format!("rte_eth_rx_queue_setup (queue {queue})")))?;
            // SAFETY: as above, with the driver's default txconf.
            let rc =
                unsafe { sys::rte_eth_tx_queue_setup(self.id, queue, tx_descriptors, socket as u32, std::ptr::null()) };
            check(rc, || context(&format!("rte_eth_tx_queue_setup (queue {queue})")))?;
        }
        // SAFETY: a configured port with its queues set up.
        let rc = unsafe { sys::rte_eth_dev_start(self.id) };
        check(rc, || context("rte_eth_dev_start"))?;
        self.started = true;
        self.queues = queues;
        // SAFETY: a started port.
        let rc = unsafe { sys::rte_eth_promiscuous_enable(self.id) };
        if rc < 0 && rc != -ENOTSUP {
            return Err(Error::from_return(context("rte_eth_promiscuous_enable"), rc));
        }
        Ok(())
    }

    pub fn id(&self) -> u16 {
        self.id
    }

    /// The port's name (the device name).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> Result<sys::rte_eth_dev_info, i32> {
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: a valid port id and a live info struct to fill.
        let rc = unsafe { sys::rte_eth_dev_info_get(self.id, &mut info) };
        if rc != 0 {
            return Err(rc);
        }
        Ok(info)
    }

    /// Splits a started port into one handle per queue pair, each for one
    /// lcore; the port stops and closes when the last of them is dropped.
    pub fn into_queues(self) -> Result<Vec<PortQueue>, Error> {
        if !self.started {
            return Err(Error::new(format!("port {} ({}) is not started", self.id, self.name)));
        }
        let queues = self.queues;
        let port = Arc::new(self);
        Ok((0..queues).map(|queue| PortQueue { port: Arc::clone(&port), queue }).collect())
    }

    /// The driver's name (`net_ring`, `net_af_packet`, ...).
    pub fn driver(&self) -> String {
        let info = match self.info() {
            Ok(info) if !info.driver_name.is_null() => info,
            _ => return String::from("unknown"),
        };
        // SAFETY: driver_name is a static NUL-terminated string of the driver.
        unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
    }

    /// The port's MAC address.
    pub fn mac_address(&self) -> Result<[u8; 6], Error> {
        let mut address = sys::rte_ether_addr::default();
        // SAFETY: a valid port id and a live address struct to fill.
        let rc = unsafe { sys::rte_eth_macaddr_get(self.id, &mut address) };
        check(rc, || format!("port {} ({}): rte_eth_macaddr_get", self.id, self.name))?;
        Ok(address.addr_bytes)
    }

    /// Whether the link is up, as the driver last saw it (does not wait).
    pub fn link_up(&self) -> Result<bool, Error> {
        let mut link = sys::rte_eth_link::default();
        // SAFETY: a valid port id and a live link struct to fill.
        let rc = unsafe { sys::rte_eth_link_get_nowait(self.id, &mut link) };
        check(rc, || format!("port {} ({}): rte_eth_link_get_nowait", self.id, self.name))?;
        Ok(link.link_status() == 1)
    }

    /// The driver's counters.
    pub fn stats(&self) -> Result<PortStats, Error> {
        let mut stats = sys::rte_eth_stats::default();
        // SAFETY: a valid port id and a live stats struct to fill.
        let rc = unsafe { sys::rte_eth_stats_get(self.id, &mut stats) };
        check(rc, || format!("port {} ({}): rte_eth_stats_get", self.id, self.name))?;
        Ok(PortStats {
            rx_packets: stats.ipackets,
            tx_packets: stats.opackets,
            rx_bytes: stats.ibytes,
            tx_bytes: stats.obytes,
            rx_missed: stats.imissed,
            rx_errors: stats.ierrors,
            tx_errors: stats.oerrors,
            rx_no_mbuf: stats.rx_nombuf,
        })
    }

    /// Receives up to as many frames as `slots` has empty (`None`) slots at
    /// its start, into those slots in order; returns how many. Nothing is
    /// received before [`Port::start`].
    pub fn rx_burst(&mut self, slots: &mut [Option<Mbuf>]) -> usize {
        if !self.started {
            return 0;
        }
        // Queue 0 exists and only this handle polls it (&mut self).
        rx_burst(self.id, 0, slots)
    }

    /// Transmits the frames at the start of `pkts` (up to the first `None`),
    /// in order. The ones the driver took are removed; the rest move to the
    /// start of `pkts`, in order, for the caller to retry or drop (which
    /// frees them). Returns how many were taken; none before [`Port::start`].
    pub fn tx_burst(&mut self, pkts: &mut [Option<Mbuf>]) -> usize {
        if !self.started {
            return 0;
        }
        // Queue 0 exists and only this handle sends on it (&mut self).
        tx_burst(self.id, 0, pkts)
    }
}

/// One receive and one transmit queue of a started [`Port`], polled by one
/// lcore: DPDK lets different threads use different queues of a port at
/// once, never one queue from two. Not cloneable, so each queue has one handle.
#[derive(Debug)]
pub struct PortQueue {
    port: Arc<Port>,
    queue: u16,
}

impl PortQueue {
    pub fn port(&self) -> &Port {
        &self.port
    }

    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// As [`Port::rx_burst`], on this queue.
    pub fn rx_burst(&mut self, slots: &mut [Option<Mbuf>]) -> usize {
        // The port is started (into_queues checked) and only this handle
        // polls this queue (&mut self, one handle per queue).
        rx_burst(self.port.id, self.queue, slots)
    }

    /// As [`Port::tx_burst`], on this queue.
    pub fn tx_burst(&mut self, pkts: &mut [Option<Mbuf>]) -> usize {
        // As rx_burst.
        tx_burst(self.port.id, self.queue, pkts)
    }
}

/// Receives into the empty slots at the start of `slots`. The caller
/// guarantees a started port with this queue, polled by no other thread.
fn rx_burst(port: u16, queue: u16, slots: &mut [Option<Mbuf>]) -> usize {
    let free = slots.iter().take_while(|s| s.is_none()).count().min(usize::from(u16::MAX));
    // SAFETY: the caller's guarantee above. Option<Mbuf> has the layout of a
    // nullable `struct rte_mbuf *`, so the first `free` slots (all None)
    // form an array of pointers the driver may write; each pointer it writes
    // is an mbuf handed over to us, which makes that slot an owning Some.
    let received = unsafe { sys::netcraq_rx_burst(port, queue, slots.as_mut_ptr().cast(), free as u16) };
    usize::from(received)
}

/// Transmits the frames at the start of `pkts`, under the same guarantee as [`rx_burst`].
fn tx_burst(port: u16, queue: u16, pkts: &mut [Option<Mbuf>]) -> usize {
    let ready = pkts.iter().take_while(|s| s.is_some()).count().min(usize::from(u16::MAX));
    // SAFETY: the caller's guarantee. The first `ready` slots are Some, i.e.
    // non-null owned mbuf pointers laid out as `struct rte_mbuf *`; the
    // driver takes the first `sent` of them.
    let sent = usize::from(unsafe { sys::netcraq_tx_burst(port, queue, pkts.as_mut_ptr().cast(), ready as u16) });
    for slot in &mut pkts[..sent] {
        // The driver owns these now: forget the handles without freeing.
        if let Some(mbuf) = slot.take() {
            std::mem::forget(mbuf);
        }
    }
    if sent > 0 && sent < ready {
        pkts[..ready].rotate_left(sent);
    }
    sent
}

impl Drop for Port {
    fn drop(&mut self) {
        // Teardown errors have no one to report to: the port is gone either way.
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: a valid port id and a live info struct to fill.
        let rc = unsafe { sys::rte_eth_dev_info_get(self.id, &mut info) };
        if self.started {
            // SAFETY: a started port that only this handle uses.
            unsafe { sys::rte_eth_dev_stop(self.id) };
        }
        if self.attached_here && rc == 0 && !info.device.is_null() {
            // SAFETY: the device this handle attached, holding only this
            // port; removing it closes and releases the port.
            unsafe { sys::rte_dev_remove(info.device) };
        } else {
            // SAFETY: a stopped port that only this handle uses.
            unsafe { sys::rte_eth_dev_close(self.id) };
        }
        let mut claimed = CLAIMED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        claimed.remove(&self.id);
    }
}

fn port_by_name(name: &str) -> Option<u16> {
    let c_name = CString::new(name).ok()?;
    let mut id = 0u16;
    // SAFETY: c_name is a valid C string and id a live u16 for the call.
    let rc = unsafe { sys::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut id) };
    (rc == 0).then_some(id)
}

fn check(rc: i32, context: impl FnOnce() -> String) -> Result<(), Error> {
    match rc {
        rc if rc >= 0 => Ok(()),
        rc => Err(Error::from_return(context(), rc)),
    }
}

/// Linux's ENOTSUP: DPDK returns `-ENOTSUP` for an operation a driver lacks.
const ENOTSUP: i32 = 95;
