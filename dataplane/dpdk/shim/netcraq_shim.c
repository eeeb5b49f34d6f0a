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

uint8_t *netcraq_pktmbuf_data(struct rte_mbuf *m, uint16_t *data_len) {
    *data_len = m->data_len;
    return rte_pktmbuf_mtod(m, uint8_t *);
}

uint16_t netcraq_pktmbuf_capacity(const struct rte_mbuf *m) { return (uint16_t)(m->buf_len - m->data_off); }

uint32_t netcraq_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }

uint16_t netcraq_pktmbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }

void netcraq_pktmbuf_set_len(struct rte_mbuf *m, uint16_t len) {
    m->data_len = len;
    m->pkt_len = len;
}

uint8_t *netcraq_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return (uint8_t *)rte_pktmbuf_append(m, len); }

uint16_t netcraq_pktmbuf_port(const struct rte_mbuf *m) { return m->port; }

void netcraq_pktmbuf_set_port(struct rte_mbuf *m, uint16_t port) { m->port = port; }

int netcraq_ring_enqueue(struct rte_ring *ring, void *obj) { return rte_ring_enqueue(ring, obj); }

int netcraq_ring_dequeue(struct rte_ring *ring, void **obj) { return rte_ring_dequeue(ring, obj); }

unsigned int netcraq_ring_count(const struct rte_ring *ring) { return rte_ring_count(ring); }
