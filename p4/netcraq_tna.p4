/* NetCRAQ chain node for Tofino (TNA).
 *
 * The behaviour of docs/protocol.md, within Tofino's rules: every register is
 * a RegisterAction target accessed at most once per pass, a value is four
 * 32-bit register arrays, no loops. p4/README.md ("Tofino") lists where this
 * program uses a different mechanism than netcraq.p4 and why the behaviour
 * stays the same, and the few documented corners where Tofino cannot match.
 *
 * Passes of one frame through ingress (at most one of each, never a loop):
 *   FRESH     the received frame: §5 steps, §5.1, first output, routed.
 *   STAMP     a resubmitted head/solo WRITE (v = 0, no match, window open in
 *             FRESH): stamps the version with a compare-and-set on
 *             kv_version and writes value and writer registers (§5.1).
 *   SECOND    an ingress-mirrored copy of the first output, looped back
 *             through a recirculation port by egress: builds and routes the
 *             second output (tail ACK, or the stored version's re-send).
 *
 * Register access order (stages): kv_version, then kv_acked, kv_value_0..3,
 * kv_writer_ip/port/id, each once per pass.
 */

#include <core.p4>
#include <tna.p4>
#include "include/headers.p4"

/* Register capacity K on Tofino (§2): one slot per 16-bit key. */
#ifndef NETCRAQ_KEYS
#define NETCRAQ_KEYS 65536
#endif

/* The port whose frames are second-output copies coming back from egress.
 * Tofino 1: 68 is pipe 0's recirculation port. The mirror session
 * NETCRAQ_SECOND_OUTPUT_SESSION must egress on this same port. */
#ifndef NETCRAQ_RECIRC_PORT
#define NETCRAQ_RECIRC_PORT 68
#endif

const MirrorType_t MIRROR_TYPE_SECOND = 1;

/* First byte of what egress receives: bridged (the first output) or mirrored
 * (the copy that becomes the second output). */
const bit<8> PKT_KIND_BRIDGED  = 0;
const bit<8> PKT_KIND_MIRRORED = 1;

/* Resubmit kinds. */
const bit<8> RESUBMIT_STAMP = 1;

typedef bit<16> key_t;

/* Ingress -> egress, on the first output. */
header bridge_h {
    bit<8> kind;
}

/* Ingress -> egress, on the mirrored copy (prepended by the mirror engine). */
header mirror_h {
    bit<8>  kind;
    bit<8>  second;
    bit<32> client_ip;     /* the received frame's IPv4 source */
    bit<16> client_port;   /* the received frame's UDP source port */
}

/* Egress -> ingress, in front of the Ethernet header of the looped-back copy. */
header second_h {
    bit<8>  second;
    bit<32> client_ip;
    bit<16> client_port;
    bit<8>  pad;
}

/* Resubmit metadata: 64 bits on Tofino 1. */
header resubmit_h {
    bit<8>  kind;
    bit<8>  s_seen;        /* kv_version read by the FRESH pass */
    bit<48> pad;
}

struct ig_headers_t {
    resubmit_h resubmit;
    second_h   second;
    bridge_h   bridge;
    ethernet_h ethernet;
    ipv4_h     ipv4;
    udp_h      udp;
    netcraq_h  netcraq;
}

/* Metadata starts at zero, as in v1model (a global pragma of bf-p4c). */
@pa_auto_init_metadata
struct ig_metadata_t {
    bit<1>  csum_ok;
    resubmit_h resubmit_md;  /* what the STAMP pass will carry */

    /* node_config */
    bit<1>  configured;
    bit<48> own_mac;
    bit<32> own_ip;
    bit<8>  role;
    bit<8>  mode;
    bit<32> head_ip;
    bit<32> tail_ip;
    bit<32> successor_ip;
    bit<32> predecessor_ip;
    bit<16> key_lo;
    bit<17> key_hi;

    bit<1>  has_outcome;
    bit<8>  outcome;
    bit<3>  out_kind;
    bit<32> out_dst;
    bit<1>  rewrite_csum;
    bit<1>  routed;
    bit<8>  second;          /* SECOND_*: the second output to mirror for */
    /* The mirror header's kind and session: Tofino's Mirror.emit takes
     * fields, not constants. */
    bit<8>  mirror_kind;
    MirrorId_t mirror_session;
    bit<32> client_ip;
    bit<16> client_port;

    /* register plan of this pass */
    bit<1>  ver_read;
    bit<1>  ver_chain;       /* CHAIN_WRITE: store v if newer */
    bit<1>  ver_cas;         /* STAMP: s_seen -> s_seen + 1 */
    bit<1>  acked_read;
    bit<1>  acked_ack;       /* ACK: a = v if newer than a (not newer than s checked before) */
    bit<1>  acked_set;       /* tail commit, solo stamp: a = new version */
    bit<1>  data_read;       /* value and writer registers: read */
    bit<1>  data_write;      /* value and writer registers: store the packet's */

    bit<8>  s;
    bit<8>  a;
    bit<8>  new_version;
    bit<1>  ver_ok;          /* chain: newer; stamp: CAS succeeded */
    bit<32> w0;
    bit<32> w1;
    bit<32> w2;
    bit<32> w3;
    bit<32> writer_ip;
    bit<16> writer_port;
    bit<16> writer_id;

    /* Tests made flags first: Tofino's gateways read at most 44 bits of
     * PHV and compare a field with a constant, not with another field.
    * Each flag is written once, so that the flags are set in parallel. */
    bit<1>  mac_hi_wrong;
    bit<1>  mac_lo_wrong;
    bit<1>  partial_hdr;
    bit<1>  covers_udp;      /* total length covers a UDP header */
    bit<1>  covers_netcraq;  /* total length covers the NetCRAQ header */
    bit<8>  over_stored;     /* ACK: v - s */
    bit<8>  uncommitted;     /* s - a */
    bit<1>  same_ip;         /* WRITE: the stored writer's address, ... */
    bit<1>  same_port;
    bit<1>  same_w0;         /* ... and value words */
    bit<1>  same_w1;
    bit<1>  same_w2;
    bit<1>  same_w3;
    /* Operands of those tests, computed in table actions (a gateway cannot
     * compute; an action's result is a plain field). `|-|` saturates at 0,
     * so "a |-| b == 0" is "a <= b", within the operands' own width (which
     * PHV allocation wants equal to a header field's). */
    bit<16> mac_hi_diff;
    bit<32> mac_lo_diff;
    bit<16> ipv4_room;       /* total_len |-| 19: 0 iff total_len < 20 */
    bit<16> udp_room;        /* total_len |-| 27: 0 iff total_len < 28 */
    bit<16> netcraq_room;    /* total_len |-| 47: 0 iff total_len < 48 */
    bit<16> below_lo;        /* key_lo |-| key: 0 iff key >= key_lo */
    bit<16> below_hi;        /* key_hi[15:0] |-| key: 0 iff key >= key_hi[15:0] */
    bit<32> ip_diff;
    bit<16> port_diff;
    bit<32> d0;
    bit<32> d1;
    bit<32> d2;
    bit<32> d3;
}

/* ------------------------------------------------------------ ingress parser */

parser NetcraqIngressParser(packet_in pkt,
                            out ig_headers_t hdr,
                            out ig_metadata_t meta,
                            out ingress_intrinsic_metadata_t ig_intr_md) {
    Checksum() ipv4_csum;

    state start {
        pkt.extract(ig_intr_md);
        transition select(ig_intr_md.resubmit_flag) {
            1: parse_resubmit;
            default: parse_port_metadata;
        }
    }

    state parse_resubmit {
        pkt.extract(hdr.resubmit);
        transition parse_ethernet;
    }

    state parse_port_metadata {
        pkt.advance(PORT_METADATA_SIZE);
        transition select(ig_intr_md.ingress_port) {
            NETCRAQ_RECIRC_PORT: parse_second;
            default: parse_ethernet;
        }
    }

    state parse_second {
        pkt.extract(hdr.second);
        transition parse_ethernet;
    }

    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_IPV4: parse_ipv4;
            default: accept;
        }
    }

    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        /* §5 step 6: RFC 1071 over the header, checksum included. */
        ipv4_csum.add(hdr.ipv4);
        meta.csum_ok = (bit<1>) ipv4_csum.verify();
        transition select(hdr.ipv4.ihl, hdr.ipv4.protocol) {
            (5, IP_PROTOCOL_UDP): parse_udp;
            default: accept;
        }
    }

    state parse_udp {
        pkt.extract(hdr.udp);
        transition select(hdr.udp.dst_port) {
            NETCRAQ_UDP_PORT: parse_netcraq;
            default: accept;
        }
    }

    state parse_netcraq {
        pkt.extract(hdr.netcraq);
        transition accept;
    }
}

/* ------------------------------------------------------------------ ingress */

control NetcraqIngress(inout ig_headers_t hdr,
                       inout ig_metadata_t meta,
                       in ingress_intrinsic_metadata_t ig_intr_md,
                       in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
                       inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
                       inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {

    /* §2.1 registers. The 128-bit value is four 32-bit arrays, word 0 the
     * most significant (value bytes 0..3). */
    Register<bit<8>,  key_t>(NETCRAQ_KEYS, 0) kv_version;
    Register<bit<8>,  key_t>(NETCRAQ_KEYS, 0) kv_acked;
    Register<bit<32>, key_t>(NETCRAQ_KEYS, 0) kv_value_0;
    Register<bit<32>, key_t>(NETCRAQ_KEYS, 0) kv_value_1;
    Register<bit<32>, key_t>(NETCRAQ_KEYS, 0) kv_value_2;
    Register<bit<32>, key_t>(NETCRAQ_KEYS, 0) kv_value_3;
    Register<bit<32>, key_t>(NETCRAQ_KEYS, 0) kv_writer_ip;
    Register<bit<16>, key_t>(NETCRAQ_KEYS, 0) kv_writer_port;
    Register<bit<16>, key_t>(NETCRAQ_KEYS, 0) kv_writer_id;

    /* §2.2 counters. One counter access per pass: a frame's own outcome goes
     * to `outcomes`, an output without a route to `no_route` (the NO_ROUTE
     * entry of §6 on this target; outcomes[29] stays 0). */
    Counter<bit<64>, bit<8>>(OUTCOME_COUNT, CounterType_t.PACKETS) outcomes;
    Counter<bit<64>, bit<1>>(1, CounterType_t.PACKETS) no_route_count;
    Counter<bit<64>, key_t>(NETCRAQ_KEYS, CounterType_t.PACKETS) key_reads;
    Counter<bit<64>, key_t>(NETCRAQ_KEYS, CounterType_t.PACKETS) key_writes;

    /* ---- kv_version ---- */
    RegisterAction<bit<8>, key_t, bit<8>>(kv_version) version_read = {
        void apply(inout bit<8> stored, out bit<8> rv) {
            rv = stored;
        }
    };
    /* CHAIN_WRITE: store v when it is newer (§3.1); rv = 1 if stored. */
    RegisterAction<bit<8>, key_t, bit<8>>(kv_version) version_chain = {
        void apply(inout bit<8> stored, out bit<8> rv) {
            if ((int<8>) (hdr.netcraq.version - stored) > 0) {
                stored = hdr.netcraq.version;
                rv = 1;
            } else {
                rv = 0;
            }
        }
    };
    /* STAMP: the version read by the FRESH pass is still the stored one. */
    RegisterAction<bit<8>, key_t, bit<8>>(kv_version) version_cas = {
        void apply(inout bit<8> stored, out bit<8> rv) {
            if (stored == hdr.resubmit.s_seen) {
                stored = stored + 1;
                rv = 1;
            } else {
                rv = 0;
            }
        }
    };

    /* ---- kv_acked ---- */
    RegisterAction<bit<8>, key_t, bit<8>>(kv_acked) acked_read_ra = {
        void apply(inout bit<8> stored, out bit<8> rv) {
            rv = stored;
        }
    };
    RegisterAction<bit<8>, key_t, bit<8>>(kv_acked) acked_ack_ra = {
        void apply(inout bit<8> stored) {
            if ((int<8>) (hdr.netcraq.version - stored) > 0) {
                stored = hdr.netcraq.version;
            }
        }
    };
    RegisterAction<bit<8>, key_t, bit<8>>(kv_acked) acked_set_ra = {
        void apply(inout bit<8> stored) {
            stored = meta.new_version;
        }
    };

    /* ---- value and writer registers: read, or store the packet's ---- */
#define NETCRAQ_DATA_ACTIONS(REG, W, SRC)                                   \
    RegisterAction<bit<W>, key_t, bit<W>>(REG) REG##_read = {               \
        void apply(inout bit<W> stored, out bit<W> rv) { rv = stored; }     \
    };                                                                      \
    RegisterAction<bit<W>, key_t, bit<W>>(REG) REG##_write = {              \
        void apply(inout bit<W> stored) { stored = SRC; }                   \
    };
    NETCRAQ_DATA_ACTIONS(kv_value_0, 32, hdr.netcraq.value[127:96])
    NETCRAQ_DATA_ACTIONS(kv_value_1, 32, hdr.netcraq.value[95:64])
    NETCRAQ_DATA_ACTIONS(kv_value_2, 32, hdr.netcraq.value[63:32])
    NETCRAQ_DATA_ACTIONS(kv_value_3, 32, hdr.netcraq.value[31:0])
    NETCRAQ_DATA_ACTIONS(kv_writer_ip, 32, hdr.ipv4.src_addr)
    NETCRAQ_DATA_ACTIONS(kv_writer_port, 16, hdr.udp.src_port)
    NETCRAQ_DATA_ACTIONS(kv_writer_id, 16, hdr.ipv4.identification)
#undef NETCRAQ_DATA_ACTIONS

    /* ---- tables (same names and parameters as the v1model program) ---- */
    action set_config(bit<48> own_mac, bit<32> own_ip, bit<8> role, bit<8> mode,
                      bit<32> head_ip, bit<32> tail_ip,
                      bit<32> successor_ip, bit<32> predecessor_ip,
                      bit<16> key_lo, bit<17> key_hi) {
        meta.configured = 1;
        meta.own_mac = own_mac;
        meta.own_ip = own_ip;
        meta.role = role;
        meta.mode = mode;
        meta.head_ip = head_ip;
        meta.tail_ip = tail_ip;
        meta.successor_ip = successor_ip;
        meta.predecessor_ip = predecessor_ip;
        meta.key_lo = key_lo;
        meta.key_hi = key_hi;
    }

    action unconfigured() {
        meta.configured = 0;
    }

    table node_config {
        actions = {
            set_config;
            unconfigured;
        }
        default_action = unconfigured();
        size = 1;
    }

    action set_next_hop(bit<16> port, bit<48> mac) {
        ig_tm_md.ucast_egress_port = (PortId_t) port;
        hdr.ethernet.dst_addr = mac;
        meta.routed = 1;
    }

    action no_route() {
        meta.routed = 0;
    }

    table ipv4_route {
        key = {
            meta.out_dst : lpm @name("dst_ip");
        }
        actions = {
            set_next_hop;
            no_route;
        }
        const default_action = no_route();
        size = 1024;
    }

    /* Operands of the tests in apply (see the metadata's comment). */
    @hidden action compute_header_operands() {
        meta.mac_hi_diff = hdr.ethernet.dst_addr[47:32] ^ meta.own_mac[47:32];
        meta.mac_lo_diff = hdr.ethernet.dst_addr[31:0] ^ meta.own_mac[31:0];
        meta.ipv4_room = hdr.ipv4.total_len |-| 19;
        meta.udp_room = hdr.ipv4.total_len |-| (MIN_UDP_IPV4_LEN - 1);
        meta.netcraq_room = hdr.ipv4.total_len |-| (NETCRAQ_IPV4_LEN - 1);
        meta.below_lo = meta.key_lo |-| hdr.netcraq.key;
        meta.below_hi = meta.key_hi[15:0] |-| hdr.netcraq.key;
    }
    @hidden table header_operands {
        actions = { compute_header_operands; }
        const default_action = compute_header_operands();
        size = 1;
    }

    @hidden action compute_version_operands() {
        meta.over_stored = hdr.netcraq.version - meta.s;
    }
    @hidden table version_operands {
        actions = { compute_version_operands; }
        const default_action = compute_version_operands();
        size = 1;
    }

    @hidden action compute_read_operands() {
        meta.ip_diff = meta.writer_ip ^ hdr.ipv4.src_addr;
        meta.port_diff = meta.writer_port ^ hdr.udp.src_port;
        meta.d0 = meta.w0 ^ hdr.netcraq.value[127:96];
        meta.d1 = meta.w1 ^ hdr.netcraq.value[95:64];
        meta.d2 = meta.w2 ^ hdr.netcraq.value[63:32];
        meta.d3 = meta.w3 ^ hdr.netcraq.value[31:0];
        meta.uncommitted = meta.s - meta.a;
    }
    @hidden table read_operands {
        actions = { compute_read_operands; }
        const default_action = compute_read_operands();
        size = 1;
    }

    apply {
        key_t idx = hdr.netcraq.key;  /* the register index */
        bit<8> v = hdr.netcraq.version;

        node_config.apply();

        header_operands.apply();
        if (meta.mac_hi_diff != 0) { meta.mac_hi_wrong = 1; }
        if (meta.mac_lo_diff != 0) { meta.mac_lo_wrong = 1; }
        if ((ig_prsr_md.parser_err & PARSER_ERROR_PARTIAL_HDR) != 0) { meta.partial_hdr = 1; }
        if (meta.udp_room != 0) { meta.covers_udp = 1; }
        if (meta.netcraq_room != 0) { meta.covers_netcraq = 1; }

        /* ---------------- decide (PHV only) ---------------- */
        if (meta.configured == 0) {
            /* A STAMP pass counts here too: its FRESH pass counted nothing. */
            if (!hdr.second.isValid()) {
                meta.has_outcome = 1;
                meta.outcome = OUTCOME_DROP_UNCONFIGURED;
            }
        } else if (hdr.second.isValid()) {
            /* SECOND pass: the copy is the first output (already TTL - 1). */
            meta.second = hdr.second.second;
            if (hdr.second.second == SECOND_ACK) {
                /* The WRITE_REPLY turned back into the tail's ACK. */
                hdr.netcraq.op = OP_ACK;
                hdr.ipv4.src_addr = hdr.second.client_ip;
                hdr.udp.src_port = hdr.second.client_port;
                meta.out_kind = OUT_FORWARD;
                meta.out_dst = meta.predecessor_ip;
            } else {
                meta.out_kind = OUT_RESEND;
                meta.ver_read = 1;
                meta.data_read = 1;
            }
        } else if (hdr.resubmit.isValid()) {
            /* STAMP pass of a head/solo WRITE. */
            meta.ver_cas = 1;
        } else if (!hdr.ethernet.isValid()) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_TRUNCATED;
        } else if (meta.mac_hi_wrong == 1 || meta.mac_lo_wrong == 1) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_WRONG_MAC;
        } else if (hdr.ethernet.ether_type != ETHERTYPE_IPV4) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_NOT_IPV4;
        } else if (!hdr.ipv4.isValid()) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_TRUNCATED;
        } else if (hdr.ipv4.version != 4 || hdr.ipv4.ihl != 5 || meta.ipv4_room == 0) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_IPV4_MALFORMED;
        } else if (meta.partial_hdr == 1
                   && hdr.ipv4.protocol == IP_PROTOCOL_UDP
                   && ((!hdr.udp.isValid() && meta.covers_udp == 1)
                       || (hdr.udp.isValid() && hdr.udp.dst_port == NETCRAQ_UDP_PORT
                           && !hdr.netcraq.isValid() && meta.covers_netcraq == 1))) {
            /* Step 5b where the parser proves it: the frame ended inside the
             * UDP or NetCRAQ header that its total length covers. Ingress has
             * no frame length on Tofino (p4/README.md, "Step 5b"). */
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_TRUNCATED;
        } else if (meta.csum_ok == 0) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_IPV4_CHECKSUM;
        } else if (hdr.ipv4.ttl < 2) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_TTL_EXPIRED;
        } else if (hdr.ipv4.dst_addr != meta.own_ip) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_TRANSIT;
            meta.out_kind = OUT_TRANSIT;
            meta.out_dst = hdr.ipv4.dst_addr;
        } else if (hdr.ipv4.flag_mf == 1 || hdr.ipv4.frag_offset != 0) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_FRAGMENT;
        } else if (hdr.ipv4.protocol != IP_PROTOCOL_UDP) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_NOT_UDP;
        } else if (meta.covers_udp == 0 || !hdr.udp.isValid()) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_BAD_LENGTH;
        } else if (hdr.udp.dst_port != NETCRAQ_UDP_PORT) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_WRONG_PORT;
        } else if (hdr.ipv4.total_len != NETCRAQ_IPV4_LEN || hdr.udp.length != NETCRAQ_UDP_LEN) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_BAD_LENGTH;
        } else if (hdr.netcraq.op == 0 || hdr.netcraq.op > OP_CHAIN_WRITE) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_UNKNOWN_OP;
        } else if (!(hdr.netcraq.op == OP_READ || hdr.netcraq.op == OP_WRITE
                     || (hdr.netcraq.op == OP_CHAIN_WRITE
                         && (meta.role == ROLE_REPLICA || meta.role == ROLE_TAIL))
                     || (hdr.netcraq.op == OP_ACK
                         && (meta.role == ROLE_HEAD || meta.role == ROLE_REPLICA)))) {
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_UNEXPECTED_OP;
        } else if (meta.below_lo != 0 || (meta.key_hi[16:16] == 0 && meta.below_hi == 0)) {
            /* (key_hi = 65536, bit 16, bounds no 16-bit key.) */
            meta.has_outcome = 1;
            if (hdr.netcraq.op == OP_READ || hdr.netcraq.op == OP_WRITE) {
                meta.outcome = OUTCOME_KEY_OUT_OF_RANGE;
                hdr.netcraq.op = OP_ERROR;
                hdr.netcraq.version = ERR_KEY_OUT_OF_RANGE;
                meta.out_kind = OUT_REPLY;
            } else {
                meta.outcome = OUTCOME_DROP_KEY_OUT_OF_RANGE;
            }
        } else if (hdr.netcraq.op == OP_READ) {
            key_reads.count(idx);
            meta.ver_read = 1;
            meta.acked_read = 1;
            meta.data_read = 1;
        } else if (hdr.netcraq.op == OP_WRITE) {
            key_writes.count(idx);
            if (meta.role == ROLE_HEAD || meta.role == ROLE_SOLO) {
                meta.ver_read = 1;
                meta.acked_read = 1;
                meta.data_read = 1;
            } else {
                meta.has_outcome = 1;
                meta.outcome = OUTCOME_WRITE_TO_HEAD;
                meta.out_kind = OUT_FORWARD;
                meta.out_dst = meta.head_ip;
            }
        } else if (hdr.netcraq.op == OP_CHAIN_WRITE) {
            meta.ver_chain = 1;
        } else {
            /* ACK */
            meta.ver_read = 1;
        }

        /* ---------------- stage: kv_version ---------------- */
        if (meta.ver_read == 1) {
            meta.s = version_read.execute(idx);
        } else if (meta.ver_chain == 1) {
            meta.ver_ok = (bit<1>) version_chain.execute(idx);
        } else if (meta.ver_cas == 1) {
            meta.ver_ok = (bit<1>) version_cas.execute(idx);
        }

        /* What the version decides for the later registers. */
        if (meta.ver_chain == 1) {
            if (meta.ver_ok == 1) {
                meta.data_write = 1;
                if (meta.role == ROLE_TAIL) {
                    meta.new_version = v;
                    meta.acked_set = 1;
                }
            }
        } else if (meta.ver_cas == 1) {
            if (meta.ver_ok == 1) {
                meta.data_write = 1;
                meta.new_version = hdr.resubmit.s_seen + 1;
                if (meta.role == ROLE_SOLO) {
                    meta.acked_set = 1;
                }
            } else {
                /* A write was stamped since the FRESH pass: refuse this one
                 * as a full window does, and re-send the stored version (the
                 * SECOND pass reads it). */
            }
        } else if (!hdr.second.isValid() && hdr.netcraq.op == OP_ACK && meta.has_outcome == 0) {
            /* ACK: a = v if v is newer than a and not newer than s (§5.1). */
            version_operands.apply();
            if (meta.over_stored == 0 || meta.over_stored[7:7] == 1) {
                meta.acked_ack = 1;
            }
        }

        /* ---------------- stage: kv_acked ---------------- */
        if (meta.acked_read == 1) {
            meta.a = acked_read_ra.execute(idx);
        } else if (meta.acked_ack == 1) {
            acked_ack_ra.execute(idx);
        } else if (meta.acked_set == 1) {
            acked_set_ra.execute(idx);
        }

        /* ---------------- stage: value and writer registers ---------------- */
        if (meta.data_write == 1) {
            kv_value_0_write.execute(idx);
            kv_value_1_write.execute(idx);
            kv_value_2_write.execute(idx);
            kv_value_3_write.execute(idx);
            kv_writer_ip_write.execute(idx);
            kv_writer_port_write.execute(idx);
            kv_writer_id_write.execute(idx);
        } else if (meta.data_read == 1) {
            meta.w0 = kv_value_0_read.execute(idx);
            meta.w1 = kv_value_1_read.execute(idx);
            meta.w2 = kv_value_2_read.execute(idx);
            meta.w3 = kv_value_3_read.execute(idx);
            meta.writer_ip = kv_writer_ip_read.execute(idx);
            meta.writer_port = kv_writer_port_read.execute(idx);
            meta.writer_id = kv_writer_id_read.execute(idx);
        }

        /* Flags of what was read (see the metadata's comment). */
        read_operands.apply();
        if (meta.ip_diff == 0) { meta.same_ip = 1; }
        if (meta.port_diff == 0) { meta.same_port = 1; }
        if (meta.d0 == 0) { meta.same_w0 = 1; }
        if (meta.d1 == 0) { meta.same_w1 = 1; }
        if (meta.d2 == 0) { meta.same_w2 = 1; }
        if (meta.d3 == 0) { meta.same_w3 = 1; }

        /* ---------------- behaviour (§5.1) from what was read ---------------- */
        if (meta.configured == 1 && hdr.resubmit.isValid()) {
            meta.has_outcome = 1;
            if (meta.ver_ok == 1) {
                meta.outcome = OUTCOME_WRITE_STAMPED;
                hdr.netcraq.version = meta.new_version;
                if (meta.role == ROLE_SOLO) {
                    hdr.netcraq.op = OP_WRITE_REPLY;
                    meta.out_kind = OUT_REPLY;
                } else {
                    hdr.netcraq.op = OP_CHAIN_WRITE;
                    meta.out_kind = OUT_FORWARD;
                    meta.out_dst = meta.successor_ip;
                }
            } else {
                meta.outcome = OUTCOME_WRITE_WINDOW_FULL;
                hdr.netcraq.op = OP_ERROR;
                hdr.netcraq.version = ERR_WINDOW_FULL;
                meta.out_kind = OUT_REPLY;
                meta.second = SECOND_RESEND;
            }
        } else if (meta.configured == 1 && !hdr.second.isValid() && meta.has_outcome == 0) {
            meta.has_outcome = 1;
            if (hdr.netcraq.op == OP_READ) {
                if (meta.role == ROLE_TAIL || meta.role == ROLE_SOLO
                    || (meta.mode == MODE_CRAQ && meta.s == meta.a)) {
                    meta.outcome = OUTCOME_READ_LOCAL;
                    hdr.netcraq.op = OP_READ_REPLY;
                    hdr.netcraq.version = meta.s;
                    hdr.netcraq.value = meta.w0 ++ meta.w1 ++ meta.w2 ++ meta.w3;
                    meta.out_kind = OUT_REPLY;
                } else {
                    meta.outcome = OUTCOME_READ_TO_TAIL;
                    meta.out_kind = OUT_FORWARD;
                    meta.out_dst = meta.tail_ip;
                }
            } else if (hdr.netcraq.op == OP_WRITE) {
                /* HEAD or SOLO (others were decided above). */
                if (meta.same_ip == 1 && meta.same_port == 1 && meta.same_w0 == 1
                    && meta.same_w1 == 1 && meta.same_w2 == 1 && meta.same_w3 == 1) {
                    meta.outcome = OUTCOME_WRITE_RETRANSMIT;
                    if (meta.role == ROLE_SOLO) {
                        hdr.netcraq.op = OP_WRITE_REPLY;
                        hdr.netcraq.version = meta.s;
                        meta.out_kind = OUT_REPLY;
                    } else {
                        meta.out_kind = OUT_RESEND;
                    }
                } else if (v != 0) {
                    meta.outcome = OUTCOME_WRITE_UNKNOWN;
                    hdr.netcraq.op = OP_ERROR;
                    hdr.netcraq.version = ERR_OUTCOME_UNKNOWN;
                    meta.out_kind = OUT_REPLY;
                } else if (meta.role == ROLE_HEAD
                           && (meta.uncommitted == MAX_UNCOMMITTED_VERSIONS || meta.uncommitted[7:7] == 1)) {
                    meta.outcome = OUTCOME_WRITE_WINDOW_FULL;
                    hdr.netcraq.op = OP_ERROR;
                    hdr.netcraq.version = ERR_WINDOW_FULL;
                    meta.out_kind = OUT_REPLY;
                    meta.second = SECOND_RESEND;
                } else {
                    /* Stamp in the STAMP pass; that pass counts the outcome. */
                    meta.has_outcome = 0;
                    meta.resubmit_md.setValid();
                    meta.resubmit_md.kind = RESUBMIT_STAMP;
                    meta.resubmit_md.s_seen = meta.s;
                    meta.resubmit_md.pad = 0;
                    ig_dprsr_md.resubmit_type = 1;
                }
            } else if (hdr.netcraq.op == OP_CHAIN_WRITE) {
                if (meta.role == ROLE_REPLICA) {
                    if (meta.ver_ok == 1) {
                        meta.outcome = OUTCOME_CHAIN_WRITE_APPLIED;
                    } else {
                        meta.outcome = OUTCOME_CHAIN_WRITE_STALE;
                    }
                    meta.out_kind = OUT_FORWARD;
                    meta.out_dst = meta.successor_ip;
                } else {
                    if (meta.ver_ok == 1) {
                        meta.outcome = OUTCOME_COMMIT_APPLIED;
                    } else {
                        meta.outcome = OUTCOME_COMMIT_DUPLICATE;
                    }
                    hdr.netcraq.op = OP_WRITE_REPLY;
                    meta.out_kind = OUT_REPLY;
                    meta.second = SECOND_ACK;
                }
            } else {
                /* ACK */
                if (meta.role == ROLE_REPLICA) {
                    meta.outcome = OUTCOME_ACK_FORWARDED;
                    meta.out_kind = OUT_FORWARD;
                    meta.out_dst = meta.predecessor_ip;
                } else {
                    meta.outcome = OUTCOME_ACK_CONSUMED;
                }
            }
        }

        /* §4.4 re-send: the stored version, addressed as its writer's request. */
        if (meta.out_kind == OUT_RESEND) {
            hdr.netcraq.op = OP_CHAIN_WRITE;
            hdr.netcraq.version = meta.s;
            hdr.netcraq.value = meta.w0 ++ meta.w1 ++ meta.w2 ++ meta.w3;
            hdr.ipv4.src_addr = meta.writer_ip;
            hdr.udp.src_port = meta.writer_port;
            hdr.ipv4.identification = meta.writer_id;
            meta.out_kind = OUT_FORWARD;
            meta.out_dst = meta.successor_ip;
        }

        /* The mirrored copy carries the client's address and port, which the
         * reply overwrites and the tail's ACK needs back. */
        meta.client_ip = hdr.ipv4.src_addr;
        meta.client_port = hdr.udp.src_port;

        /* §4.3 addressing. */
        if (meta.out_kind == OUT_REPLY) {
            meta.out_dst = hdr.ipv4.src_addr;
            hdr.ipv4.dst_addr = hdr.ipv4.src_addr;
            hdr.ipv4.src_addr = meta.own_ip;
            hdr.udp.dst_port = hdr.udp.src_port;
            hdr.udp.src_port = NETCRAQ_UDP_PORT;
        } else if (meta.out_kind == OUT_FORWARD) {
            hdr.ipv4.dst_addr = meta.out_dst;
            hdr.udp.dst_port = NETCRAQ_UDP_PORT;
        }

        /* §4.2. The SECOND pass starts from the first output, whose TTL was
         * already decremented. */
        if (meta.out_kind != OUT_NONE) {
            if (!hdr.second.isValid()) {
                hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
            }
            meta.rewrite_csum = 1;
            hdr.ethernet.src_addr = meta.own_mac;
            if (meta.out_kind != OUT_TRANSIT) {
                hdr.udp.checksum = 0;
            }
            ipv4_route.apply();
        }

        if (meta.routed == 1) {
            hdr.bridge.setValid();
            hdr.bridge.kind = PKT_KIND_BRIDGED;
        } else if (ig_dprsr_md.resubmit_type == 0) {
            /* Bit 0 of drop_ctl would also cancel a resubmit; it leaves
             * mirroring alone, so a second output is still made. */
            ig_dprsr_md.drop_ctl = 1;
        }
        hdr.second.setInvalid();
        hdr.resubmit.setInvalid();

        if (meta.second != SECOND_NONE && meta.has_outcome == 1) {
            ig_dprsr_md.mirror_type = MIRROR_TYPE_SECOND;
            meta.mirror_kind = PKT_KIND_MIRRORED;
            meta.mirror_session = (MirrorId_t) NETCRAQ_SECOND_OUTPUT_SESSION;
        }

        /* One counter access per counter per pass. */
        if (meta.has_outcome == 1) {
            outcomes.count(meta.outcome);
        }
        if (meta.out_kind != OUT_NONE && meta.routed == 0) {
            no_route_count.count(0);
        }
    }
}

control NetcraqIngressDeparser(packet_out pkt,
                               inout ig_headers_t hdr,
                               in ig_metadata_t meta,
                               in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    Checksum() ipv4_csum;
    Mirror() mirror;
    Resubmit() resubmit;

    apply {
        if (meta.rewrite_csum == 1) {
            hdr.ipv4.hdr_checksum = ipv4_csum.update({
                hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.tos, hdr.ipv4.total_len,
                hdr.ipv4.identification, hdr.ipv4.flag_reserved, hdr.ipv4.flag_df,
                hdr.ipv4.flag_mf, hdr.ipv4.frag_offset, hdr.ipv4.ttl, hdr.ipv4.protocol,
                hdr.ipv4.src_addr, hdr.ipv4.dst_addr });
        }
        if (ig_dprsr_md.mirror_type == MIRROR_TYPE_SECOND) {
            mirror.emit<mirror_h>(meta.mirror_session,
                                  { meta.mirror_kind, meta.second, meta.client_ip, meta.client_port });
        }
        if (ig_dprsr_md.resubmit_type == 1) {
            resubmit.emit(meta.resubmit_md);
        }
        pkt.emit(hdr);
    }
}

/* ------------------------------------------------------------------- egress */

struct eg_headers_t {
    bridge_h bridge;
    mirror_h mirror;
    second_h second;
}

struct eg_metadata_t {
}

parser NetcraqEgressParser(packet_in pkt,
                           out eg_headers_t hdr,
                           out eg_metadata_t meta,
                           out egress_intrinsic_metadata_t eg_intr_md) {
    state start {
        pkt.extract(eg_intr_md);
        transition select(pkt.lookahead<bit<8>>()) {
            PKT_KIND_MIRRORED: parse_mirror;
            default: parse_bridge;
        }
    }

    state parse_mirror {
        pkt.extract(hdr.mirror);
        transition accept;
    }

    state parse_bridge {
        pkt.extract(hdr.bridge);
        transition accept;
    }
}

control NetcraqEgress(inout eg_headers_t hdr,
                      inout eg_metadata_t meta,
                      in egress_intrinsic_metadata_t eg_intr_md,
                      in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
                      inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
                      inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {
    apply {
        hdr.bridge.setInvalid();
        if (hdr.mirror.isValid()) {
            /* The copy leaves on the session's recirculation port and comes
             * back to ingress with this header in front of its Ethernet. */
            hdr.second.setValid();
            hdr.second.second = hdr.mirror.second;
            hdr.second.client_ip = hdr.mirror.client_ip;
            hdr.second.client_port = hdr.mirror.client_port;
            hdr.second.pad = 0;
            hdr.mirror.setInvalid();
        }
    }
}

control NetcraqEgressDeparser(packet_out pkt,
                              inout eg_headers_t hdr,
                              in eg_metadata_t meta,
                              in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    apply {
        pkt.emit(hdr.second);
    }
}

Pipeline(NetcraqIngressParser(),
         NetcraqIngress(),
         NetcraqIngressDeparser(),
         NetcraqEgressParser(),
         NetcraqEgress(),
         NetcraqEgressDeparser()) pipe;

Switch(pipe) main;
