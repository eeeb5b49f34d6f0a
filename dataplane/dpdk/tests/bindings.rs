//! The safe layer against the real DPDK, in one process (one EAL per
//! process): so one test function, run in steps.

#![cfg(feature = "dpdk")]

use netcraq_dpdk::{Eal, Mbuf, MbufRing, Mempool, Port, PortSettings, DEFAULT_DATA_ROOM};

const EAL_ARGS: &[&str] = &["--no-pci", "--no-huge", "-m", "128", "--no-shconf", "--log-level=warning"];

#[test]
fn the_safe_layer_moves_mbufs_through_a_ring_port() {
    let eal = Eal::init(EAL_ARGS).expect("EAL starts without hugepages or PCI");
    let second = Eal::init(EAL_ARGS).expect_err("a second rte_eal_init is refused");
    assert!(second.to_string().contains("once") || second.to_string().contains("already"), "{second}");
    assert!(Eal::get().is_some());

    let pool = Mempool::new(&eal, "bindings_pool", 1023, 0, DEFAULT_DATA_ROOM).expect("pool");
    let full = pool.available();
    assert_eq!(full, 1023);
    let duplicate = Mempool::new(&eal, "bindings_pool", 63, 0, DEFAULT_DATA_ROOM).expect_err("names are unique");
    assert!(duplicate.to_string().contains("bindings_pool"), "{duplicate}");

    // Mbufs: contents, lengths, ownership.
    let mut mbuf = Mbuf::from_bytes(&pool, &[1, 2, 3, 4, 5]).expect("mbuf");
    assert_eq!(mbuf.data(), &[1, 2, 3, 4, 5]);
    assert_eq!((mbuf.len(), mbuf.pkt_len(), mbuf.segments()), (5, 5, 1));
    mbuf.data_mut()[0] = 9;
    mbuf.set_len(3).unwrap();
    assert_eq!(mbuf.data(), &[9, 2, 3]);
    assert_eq!(mbuf.pkt_len(), 3);
    assert_eq!(mbuf.capacity(), 2048);
    assert!(mbuf.set_len(2049).is_err());
    assert_eq!(pool.available(), full - 1);
    drop(mbuf);
    assert_eq!(pool.available(), full, "dropping an mbuf frees it");
    assert!(Mbuf::from_bytes(&pool, &[0; 2049]).is_none());
    assert_eq!(pool.available(), full);

    // A ring port: what goes into its rx ring comes out of rx_burst; what
    // tx_burst sends lands in its tx ring.
    let inbound = MbufRing::new(&eal, "bindings_in", 64).expect("ring");
    let outbound = MbufRing::new(&eal, "bindings_out", 64).expect("ring");
    let mut port = Port::from_rings(&eal, "bindings0", &inbound, &outbound).expect("ring port");
    assert_eq!(port.name(), "net_ring_bindings0");
    assert_eq!(port.driver(), "net_ring");
    let mut slots: Vec<Option<Mbuf>> = (0..8).map(|_| None).collect();
    assert_eq!(port.rx_burst(&mut slots), 0, "nothing is received before start");
    port.start(&pool, &PortSettings::default()).expect("start");
    assert!(port.start(&pool, &PortSettings::default()).is_err(), "started twice");
    let again = Port::from_devargs(&eal, "net_ring_bindings0").expect_err("one handle per port");
    assert!(again.to_string().contains("already has a handle"), "{again}");

    for byte in 0..3u8 {
        inbound.enqueue(Mbuf::from_bytes(&pool, &[byte; 60]).unwrap()).unwrap();
    }
    assert_eq!(port.rx_burst(&mut slots), 3);
    assert!(slots[..3].iter().all(Option::is_some) && slots[3..].iter().all(Option::is_none));
    assert_eq!(slots[1].as_ref().unwrap().data(), &[1; 60]);
    // The burst is sent back in order; a None stops it.
    slots[0].as_mut().unwrap().set_port(7);
    assert_eq!(port.tx_burst(&mut slots[..2]), 2);
    assert!(slots[..2].iter().all(Option::is_none));
    assert_eq!(outbound.len(), 2);
    let first = outbound.dequeue().unwrap();
    assert_eq!((first.data(), first.port()), (&[0u8; 60][..], 7));
    drop(first);
    assert_eq!(outbound.dequeue().unwrap().data(), &[1; 60]);
    assert!(outbound.dequeue().is_none());
    assert_eq!(pool.available(), full - 1, "one mbuf left, in slot 2");
    slots[2] = None;
    assert_eq!(pool.available(), full);
    let stats = port.stats().unwrap();
    assert_eq!((stats.rx_packets, stats.tx_packets), (3, 2));

    // A full tx ring: tx_burst keeps what it could not send, in order, at the front.
    let tiny_out = MbufRing::new(&eal, "bindings_tiny", 4).expect("ring");
    let mut tiny = Port::from_rings(&eal, "bindings1", &inbound, &tiny_out).expect("ring port");
    tiny.start(&pool, &PortSettings::default()).unwrap();
    let mut burst: Vec<Option<Mbuf>> = (0..5u8).map(|b| Mbuf::from_bytes(&pool, &[b]).map(Some).unwrap()).collect();
    assert_eq!(tiny.tx_burst(&mut burst), 3, "a ring of 4 holds 3");
    let left: Vec<u8> = burst.iter().flatten().map(|m| m.data()[0]).collect();
    assert_eq!(left, [3, 4]);
    assert!(burst[0].is_some() && burst[1].is_some() && burst[2..].iter().all(Option::is_none));
    drop(burst);
    while tiny_out.dequeue().is_some() {}
    assert_eq!(pool.available(), full, "unsent mbufs are freed by drop");

    // Dropping a port detaches its device: the name can be used again.
    drop(tiny);
    let mut tiny = Port::from_rings(&eal, "bindings1", &inbound, &tiny_out).expect("the name is free again");
    tiny.start(&pool, &PortSettings::default()).unwrap();

    // Devices from device arguments: a net_ring vdev, and clear errors.
    let mut probed = Port::from_devargs(&eal, "net_ring0").expect("net_ring0 attaches");
    probed.start(&pool, &PortSettings::default()).unwrap();
    let error = Port::from_devargs(&eal, "net_nosuchdriver0").expect_err("unknown driver");
    assert!(error.to_string().contains("net_nosuchdriver0"), "{error}");

    std::thread::spawn(move || {
        eal.register_current_thread().expect("a second thread registers");
        drop(Mbuf::alloc(&pool).expect("allocates from another thread"));
    })
    .join()
    .unwrap();
}
