/*
 * The DPDK API that netcraq-dpdk binds: the headers bindgen reads, and C
 * wrappers for what DPDK only provides as static inline functions, macros
 * or per-lcore variables (the fast path), which have no symbol to link to.
 * Plain fields of an mbuf are read and written from Rust directly.
 */
#ifndef NETCRAQ_SHIM_H
#define NETCRAQ_SHIM_H

#include <stdint.h>

#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

/* rte_errno of the calling thread (a per-lcore variable). */
int netcraq_rte_errno(void);

/* rte_eth_rx_burst / rte_eth_tx_burst. */
uint16_t netcraq_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **pkts, uint16_t nb_pkts);
uint16_t netcraq_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **pkts, uint16_t nb_pkts);

/* rte_pktmbuf_alloc / rte_pktmbuf_free: one whole packet (all segments). */
struct rte_mbuf *netcraq_pktmbuf_alloc(struct rte_mempool *pool);
void netcraq_pktmbuf_free(struct rte_mbuf *m);


/* rte_ring_enqueue / rte_ring_dequeue / rte_ring_count for one pointer. */
int netcraq_ring_enqueue(struct rte_ring *ring, void *obj);
int netcraq_ring_dequeue(struct rte_ring *ring, void **obj);
unsigned int netcraq_ring_count(const struct rte_ring *ring);

#endif
