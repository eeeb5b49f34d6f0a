/* See netcraq_shim.h: thin non-inline copies of DPDK's inline fast path. */
#include "netcraq_shim.h"

int netcraq_rte_errno(void) { return rte_errno; }

uint16_t netcraq_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **pkts, uint16_t nb_pkts) {
    return rte_eth_rx_burst(port_id, queue_id, pkts, nb_pkts);
}

uint16_t netcraq_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **pkts, uint16_t nb_pkts) {
    return rte_eth_tx_burst(port_id, queue_id, pkts, nb_pkts);
}

struct rte_mbuf *netcraq_pktmbuf_alloc(struct rte_mempool *pool) { return rte_pktmbuf_alloc(pool); }

void netcraq_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

int netcraq_ring_enqueue(struct rte_ring *ring, void *obj) { return rte_ring_enqueue(ring, obj); }

int netcraq_ring_dequeue(struct rte_ring *ring, void **obj) { return rte_ring_dequeue(ring, obj); }

unsigned int netcraq_ring_count(const struct rte_ring *ring) { return rte_ring_count(ring); }
