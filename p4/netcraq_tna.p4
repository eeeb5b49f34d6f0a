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
 *   SECOND    an ingress-mirrored copy of the received frame, looped back
 *             through a recirculation port by egress: builds and routes the
 *             second output (tail ACK, or the stored version's re-send).
 *
 * Each pass: `classify` decides §5 (and accesses kv_received), then
 * lease_end, kv_version, lease_held, kv_acked and the value and writer
 * registers are accessed, each at most once, then `behave` decides §5.1 from
 * what they said, and the output is routed. `classify` includes the trust
 * checks of §9 (steps 8, 15b, 15c), on what `fabric_port` says of the
 * ingress port.
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

/* What a pass does after `classify` (§5) when its outcome needs registers
 * (0: none, classify decided). */
const bit<8> PLAN_READ        = 1;
const bit<8> PLAN_WRITE       = 2;  /* at the head or solo: match, window */
const bit<8> PLAN_CHAIN_WRITE = 3;
const bit<8> PLAN_ACK         = 4;
const bit<8> PLAN_STAMP       = 5;  /* STAMP pass */
const bit<8> PLAN_RESEND      = 6;  /* SECOND pass: re-send the stored version */
const bit<8> PLAN_SYNC        = 7;
const bit<8> PLAN_SWEEP       = 8;
const bit<8> PLAN_RENEW       = 9;

typedef bit<16> key_t;

/* Ingress -> egress, on the first output. */
header bridge_h {
    bit<8> kind;
}

/* Ingress -> egress, in front of the mirrored copy of the received frame. */
header mirror_h {
    bit<8>  kind;
    bit<8>  second;
}

/* Egress -> ingress, in front of the Ethernet header of the looped-back copy. */
header second_h {
    bit<8>  second;
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
    chain_ext_h chain_ext;
}

/* Metadata starts at zero, as in v1model (a global pragma of bf-p4c). */
@pa_auto_init_metadata
struct ig_metadata_t {
    bit<1>  csum_ok;
    resubmit_h resubmit_md;  /* what the STAMP pass will carry */

    /* node_config; key_group replaces the chain's fields for the keys of a
     * group (§2.3, "the key's chain"). */
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
    bit<32> epoch;
    bit<32> lease_ticks;
    bit<32> sync_epoch;

    /* fabric_port (§2.3): an edge port has all four 0. */
    bit<16> ingress_port;    /* its key: the 9-bit port, widened */
    bit<1>  fabric;
    bit<1>  from_predecessor;
    bit<1>  from_successor;
    bit<1>  from_controller;

    /* §2.4: the lease clock; what a RENEW carries is granted when
     * 1 <= end - now <= lease_ticks, i.e. end - (now + 1) < lease_ticks
     * (§5.1, §9.3). */
    bit<32> now;
    bit<32> now_next;        /* now + 1 */
    bit<32> renew_room;      /* RENEW: carried end - (now + 1) */
    bit<32> renew_short;     /* lease_ticks |-| renew_room: not 0 iff the end is granted */
    bit<1>  renew_clock_read; /* RENEW: the carried end is 0 */
    bit<8>  renew_outcome;   /* RENEW: LEASE_RENEWED, RENEW_CLOCK_ONLY or RENEW_LATE */

    /* Operands of the §5 tests, computed in an action (a gateway cannot
     * compute, and reads at most 44 bits). `|-|` saturates at 0, so
     * "a |-| b == 0" is "a <= b" within the operands' width. */
    bit<16> mac_hi_diff;
    bit<32> mac_lo_diff;
    bit<32> dst_ip_diff;
    bit<16> ipv4_room;       /* total_len |-| 19: 0 iff total_len < 20 */
    bit<16> udp_room;        /* total_len |-| 27: 0 iff total_len < 28 */
    bit<16> netcraq_room;    /* total_len |-| 47: 0 iff total_len < 48 */
    bit<16> chain_ext_room;  /* total_len |-| 51: 0 iff total_len < 52 */
    bit<32> epoch_diff;
    bit<16> below_lo;        /* key_lo |-| key: 0 iff key >= key_lo */
    bit<16> below_hi;        /* key_hi[15:0] |-| key: 0 iff key >= key_hi[15:0] */

    /* The §5 tests as one-bit flags, each written once so that they are set
     * in parallel; the `classify` table matches them in the spec's order. */
    bit<1>  mac_hi_wrong;
    bit<1>  mac_lo_wrong;
    bit<1>  not_ipv4;
    bit<1>  ipv4_bad_fields; /* version or IHL */
    bit<1>  ipv4_short;      /* total length below 20 */
    bit<1>  partial_hdr;
    bit<1>  is_udp;
    bit<1>  covers_udp;      /* total length covers a UDP header */
    bit<1>  port_ok;
    bit<1>  covers_netcraq;  /* total length covers the NetCRAQ header */
    bit<1>  covers_chain_ext; /* total length covers the chain extension */
    bit<1>  not_own_ip;
    bit<1>  frag_offset_set; /* fragment offset not 0 */
    bit<1>  fragment;        /* MF set or fragment offset not 0 */
    bit<1>  client_lengths;  /* total and UDP lengths of a 62-byte frame */
    bit<1>  chain_lengths;   /* total and UDP lengths of a 66-byte chain frame */
    bit<1>  epoch_wrong;     /* the chain extension's epoch is not ours */
    bit<1>  key_below;       /* key < key_lo */
    bit<1>  key_above;       /* key >= key_hi */
    bit<1>  leases_on;       /* lease_ticks != 0 */
    bit<1>  syncing;         /* sync_epoch != 0: a syncing tail (§10.4) */

    /* What `classify` decided: an outcome now, or a plan for the register
     * stages and `behave`. */
    bit<8>  plan;            /* PLAN_* */
    bit<1>  acked_set;       /* tail commit, solo stamp: a = new_version if stored */
    bit<1>  key_write;       /* count the key in key_writes */
    bit<8>  new_version;

    /* What the registers said. On PLAN_WRITE the value and writer-address
     * actions return 1 when the stored word equals the frame's, 0 if not
     * (w0..w3, writer_ip, writer_port); otherwise the stored word. */
    bit<1>  same_received;   /* kv_received == sync_epoch */
    bit<1>  received;        /* not syncing, or the key received (§10.4) */
    bit<32> lease_left;      /* READ: lease_end - now */
    bit<1>  lease_left_ok;   /* 1 to 2^31 - 1 ticks left */
    bit<1>  lease_flag;      /* READ: lease_held, read where lease_left_ok */
    bit<1>  lapsed;          /* READ: leases on and the lease not held (§2.1b) */
    bit<1>  sweep_commits;   /* SWEEP: a tail that received the key, or solo */
    bit<8>  s;               /* kv_version */
    bit<8>  uncommitted;     /* s - a */
    bit<8>  over_stored;     /* ACK: v - s */
    bit<1>  ver_ok;          /* chain: v was newer and stored; stamp: the CAS held */
    bit<32> w0;
    bit<32> w1;
    bit<32> w2;
    bit<32> w3;
    bit<32> writer_ip;
    bit<16> writer_port;
    bit<16> writer_id;

    bit<1>  has_outcome;
    bit<8>  outcome;
    bit<3>  out_kind;
    bit<32> out_dst;
    bit<1>  rewrite_csum;
    bit<8>  second;          /* SECOND_*: the second output to mirror for */
    /* The mirror header's kind and session: Tofino's Mirror.emit takes
     * fields, not constants. */
    bit<8>  mirror_kind;
    MirrorId_t mirror_session;
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
        transition select(hdr.netcraq.op) {
            OP_ACK:         parse_chain_ext;
            OP_CHAIN_WRITE: parse_chain_ext;
            OP_SYNC:        parse_chain_ext;
            OP_SWEEP:       parse_chain_ext;
            OP_RENEW:       parse_chain_ext;
            default:        accept;
        }
    }

    state parse_chain_ext {
        pkt.extract(hdr.chain_ext);
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
    Register<bit<32>, key_t>(NETCRAQ_KEYS, 0) kv_received;

    /* §2.1b lease registers. */
    Register<bit<32>, bit<1>>(1, 0) lease_end;
    Register<bit<1>,  bit<1>>(1, 0) lease_held;
    Register<bit<32>, bit<1>>(1, 0) lease_clock;

    /* §2.2 counters. One counter access per pass: a frame's own outcome goes
     * to `outcomes`, an output without a route to `no_route` (the NO_ROUTE
     * entry of §6 on this target; outcomes[29] stays 0). */
    Counter<bit<64>, bit<8>>(OUTCOME_COUNT, CounterType_t.PACKETS) outcomes;
    Counter<bit<64>, bit<1>>(1, CounterType_t.PACKETS) no_route_count;
    Counter<bit<64>, key_t>(NETCRAQ_KEYS, CounterType_t.PACKETS) key_reads;
    Counter<bit<64>, key_t>(NETCRAQ_KEYS, CounterType_t.PACKETS) key_writes;

    /* ---- kv_received (accessed by `classify`) and lease_end ---- */
    /* READ, SWEEP: whether the key was received in this join. */
    RegisterAction<bit<32>, key_t, bit<32>>(kv_received) received_read = {
        void apply(inout bit<32> stored, out bit<32> rv) {
            if (stored == meta.sync_epoch) { rv = 1; } else { rv = 0; }
        }
    };
    /* CHAIN_WRITE, SYNC, STAMP: the same, and set it as "store" does (§2.1).
     * Written before kv_version says whether the frame stores (that needs
     * this answer at a syncing tail), so it is written whenever the frame
     * may store: exact at a syncing tail (a key not received is always
     * stored; a received one already holds sync_epoch); a full member sets
     * 0 on a frame that then stores nothing too (p4/README.md). */
    RegisterAction<bit<32>, key_t, bit<32>>(kv_received) received_store = {
        void apply(inout bit<32> stored, out bit<32> rv) {
            if (stored == meta.sync_epoch) { rv = 1; } else { rv = 0; }
            stored = meta.sync_epoch;
        }
    };
    /* READ: lease_end - now, "later than now" when 1 to 2^31 - 1 (§2.1b). */
    RegisterAction<bit<32>, bit<1>, bit<32>>(lease_end) lease_end_left = {
        void apply(inout bit<32> stored, out bit<32> rv) {
            rv = stored - meta.now;
        }
    };
    /* RENEW that grants (not 0, and 1 to lease_ticks ticks ahead, decided
     * before): the carried end (value bytes 0..4). */
    RegisterAction<bit<32>, bit<1>, bit<32>>(lease_end) lease_end_renew = {
        void apply(inout bit<32> stored) {
            stored = hdr.netcraq.value[127:96];
        }
    };

    /* ---- lease_clock: every RENEW records the clock (§2.1b, §9.3) ---- */
    RegisterAction<bit<32>, bit<1>, bit<32>>(lease_clock) lease_clock_write = {
        void apply(inout bit<32> stored) {
            stored = meta.now;
        }
    };

    /* ---- lease_held ---- */
    RegisterAction<bit<1>, bit<1>, bit<1>>(lease_held) lease_held_read = {
        void apply(inout bit<1> stored, out bit<1> rv) {
            rv = stored;
        }
    };
    /* A lease read as lapsed stays lapsed until the next RENEW (§2.1b). */
    RegisterAction<bit<1>, bit<1>, bit<1>>(lease_held) lease_held_clear = {
        void apply(inout bit<1> stored) {
            stored = 0;
        }
    };
    RegisterAction<bit<1>, bit<1>, bit<1>>(lease_held) lease_held_set = {
        void apply(inout bit<1> stored) {
            stored = 1;
        }
    };

    /* ---- kv_version ---- */
    RegisterAction<bit<8>, key_t, bit<8>>(kv_version) version_read = {
        void apply(inout bit<8> stored, out bit<8> rv) {
            rv = stored;
        }
    };
    /* CHAIN_WRITE, SYNC: store v when it is newer (§3.1); rv = 1 if stored. */
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
    /* CHAIN_WRITE, SYNC at a syncing tail that has not received the key:
     * what it holds is a leftover, which v replaces (§5.1). */
    RegisterAction<bit<8>, key_t, bit<8>>(kv_version) version_replace = {
        void apply(inout bit<8> stored, out bit<8> rv) {
            stored = hdr.netcraq.version;
            rv = 1;
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
    /* READ, WRITE: s - a, the uncommitted versions (0: the key is clean). */
    RegisterAction<bit<8>, key_t, bit<8>>(kv_acked) acked_uncommitted = {
        void apply(inout bit<8> stored, out bit<8> rv) {
            rv = meta.s - stored;
        }
    };
    /* ACK: a = v if v is newer. v comes as new_version: this stateful ALU
     * takes at most two PHV operands, and the others are s and new_version. */
    RegisterAction<bit<8>, key_t, bit<8>>(kv_acked) acked_ack = {
        void apply(inout bit<8> stored) {
            if ((int<8>) (meta.new_version - stored) > 0) {
                stored = meta.new_version;
            }
        }
    };
    RegisterAction<bit<8>, key_t, bit<8>>(kv_acked) acked_set = {
        void apply(inout bit<8> stored) {
            stored = meta.new_version;
        }
    };
    /* SWEEP at a tail that received the key, or solo: commit what it
     * holds (a = s, which changes nothing on a clean key); rv = s - a. */
    RegisterAction<bit<8>, key_t, bit<8>>(kv_acked) acked_commit = {
        void apply(inout bit<8> stored, out bit<8> rv) {
            rv = meta.s - stored;
            stored = meta.s;
        }
    };

    /* ---- value and writer registers: read, store the frame's, or (the
     * value and writer address, on a WRITE at the head) say whether the
     * stored word is the frame's ---- */
#define NETCRAQ_DATA_ACTIONS(REG, W, SRC)                                   \
    RegisterAction<bit<W>, key_t, bit<W>>(REG) REG##_read = {               \
        void apply(inout bit<W> stored, out bit<W> rv) { rv = stored; }     \
    };                                                                      \
    RegisterAction<bit<W>, key_t, bit<W>>(REG) REG##_write = {              \
        void apply(inout bit<W> stored) { stored = SRC; }                   \
    };
#define NETCRAQ_SAME_ACTION(REG, W, SRC)                                    \
    RegisterAction<bit<W>, key_t, bit<W>>(REG) REG##_same = {               \
        void apply(inout bit<W> stored, out bit<W> rv) {                    \
            if (stored == SRC) { rv = 1; } else { rv = 0; }                 \
        }                                                                   \
    };
    NETCRAQ_DATA_ACTIONS(kv_value_0, 32, hdr.netcraq.value[127:96])
    NETCRAQ_DATA_ACTIONS(kv_value_1, 32, hdr.netcraq.value[95:64])
    NETCRAQ_DATA_ACTIONS(kv_value_2, 32, hdr.netcraq.value[63:32])
    NETCRAQ_DATA_ACTIONS(kv_value_3, 32, hdr.netcraq.value[31:0])
    NETCRAQ_DATA_ACTIONS(kv_writer_ip, 32, hdr.ipv4.src_addr)
    NETCRAQ_DATA_ACTIONS(kv_writer_port, 16, hdr.udp.src_port)
    NETCRAQ_DATA_ACTIONS(kv_writer_id, 16, hdr.ipv4.identification)
    NETCRAQ_SAME_ACTION(kv_value_0, 32, hdr.netcraq.value[127:96])
    NETCRAQ_SAME_ACTION(kv_value_1, 32, hdr.netcraq.value[95:64])
    NETCRAQ_SAME_ACTION(kv_value_2, 32, hdr.netcraq.value[63:32])
    NETCRAQ_SAME_ACTION(kv_value_3, 32, hdr.netcraq.value[31:0])
    NETCRAQ_SAME_ACTION(kv_writer_ip, 32, hdr.ipv4.src_addr)
    NETCRAQ_SAME_ACTION(kv_writer_port, 16, hdr.udp.src_port)
#undef NETCRAQ_SAME_ACTION
#undef NETCRAQ_DATA_ACTIONS

    /* ---- tables (same names and parameters as the v1model program) ---- */
    action set_config(bit<48> own_mac, bit<32> own_ip, bit<8> role, bit<8> mode,
                      bit<32> head_ip, bit<32> tail_ip,
                      bit<32> successor_ip, bit<32> predecessor_ip,
                      bit<16> key_lo, bit<17> key_hi, bit<32> epoch,
                      bit<32> lease_ticks, bit<32> sync_epoch) {
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
        meta.epoch = epoch;
        meta.lease_ticks = lease_ticks;
        meta.sync_epoch = sync_epoch;
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

    /* §2.3 key_group: the key's chain is the group's. Its keys are in range
     * (§5 step 16); the range stays within the registers. */
    action set_group(bit<8> role, bit<32> head_ip, bit<32> tail_ip,
                     bit<32> successor_ip, bit<32> predecessor_ip,
                     bit<32> epoch, bit<32> sync_epoch) {
        meta.role = role;
        meta.head_ip = head_ip;
        meta.tail_ip = tail_ip;
        meta.successor_ip = successor_ip;
        meta.predecessor_ip = predecessor_ip;
        meta.key_lo = 0;
        meta.key_hi = (bit<17>) NETCRAQ_KEYS;
        meta.epoch = epoch;
        meta.sync_epoch = sync_epoch;
    }

    /* No key_group entry: node_config's chain. */
    action no_group() { }

    table key_group {
        key = {
            hdr.netcraq.key : lpm @name("key");
        }
        actions = {
            set_group;
            no_group;
        }
        const default_action = no_group();
        size = 1024;
    }

    action set_next_hop(bit<16> port, bit<48> mac) {
        ig_tm_md.ucast_egress_port = (PortId_t) port;
        hdr.ethernet.dst_addr = mac;
        hdr.bridge.setValid();
        hdr.bridge.kind = PKT_KIND_BRIDGED;
    }

    /* Dropped, but a second output is still mirrored (drop_ctl leaves
     * mirroring alone). */
    action no_route() {
        no_route_count.count(0);
        ig_dprsr_md.drop_ctl = 1;
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

    action set_fabric_port(bit<1> from_predecessor, bit<1> from_successor, bit<1> from_controller) {
        meta.fabric = 1;
        meta.from_predecessor = from_predecessor;
        meta.from_successor = from_successor;
        meta.from_controller = from_controller;
    }

    /* No fabric_port entry: clients and anything else may be there (§9.1). */
    action edge_port() {
        meta.fabric = 0;
        meta.from_predecessor = 0;
        meta.from_successor = 0;
        meta.from_controller = 0;
    }

    table fabric_port {
        key = {
            meta.ingress_port : exact @name("ingress_port");
        }
        actions = {
            set_fabric_port;
            edge_port;
        }
        const default_action = edge_port();
        size = 512;
    }

    /* Operands of the §5 tests (see the metadata's comment). */
    @hidden action compute_header_operands() {
        meta.mac_hi_diff = hdr.ethernet.dst_addr[47:32] ^ meta.own_mac[47:32];
        meta.mac_lo_diff = hdr.ethernet.dst_addr[31:0] ^ meta.own_mac[31:0];
        meta.dst_ip_diff = hdr.ipv4.dst_addr ^ meta.own_ip;
        meta.ipv4_room = hdr.ipv4.total_len |-| 19;
        meta.udp_room = hdr.ipv4.total_len |-| (MIN_UDP_IPV4_LEN - 1);
        meta.netcraq_room = hdr.ipv4.total_len |-| (NETCRAQ_IPV4_LEN - 1);
        meta.chain_ext_room = hdr.ipv4.total_len |-| (CHAIN_IPV4_LEN - 1);
        meta.epoch_diff = hdr.chain_ext.epoch ^ meta.epoch;
        meta.below_lo = meta.key_lo |-| hdr.netcraq.key;
        meta.below_hi = meta.key_hi[15:0] |-| hdr.netcraq.key;
        meta.renew_room = hdr.netcraq.value[127:96] - meta.now_next;
    }
    @hidden table header_operands {
        actions = { compute_header_operands; }
        const default_action = compute_header_operands();
        size = 1;
    }
    /* The RENEW test on header_operands' result, ready for classify's
     * lease_end_renew. */
    @hidden action compute_renew_operands() {
        meta.renew_short = meta.lease_ticks |-| meta.renew_room;
    }
    @hidden table renew_operands {
        actions = { compute_renew_operands; }
        const default_action = compute_renew_operands();
        size = 1;
    }

    /* ---- what a pass does: the outcome, the output's addressing (§4.3),
     * the second output ---- */
    action decide(bit<8> outcome) {
        meta.has_outcome = 1;
        meta.outcome = outcome;
    }
    /* §4.2: an output is a NetCRAQ frame of its op's length; a chain frame
     * carries the chain extension with this node's epoch (§1.4). */
    action client_frame() {
        hdr.chain_ext.setInvalid();
        hdr.ipv4.total_len = NETCRAQ_IPV4_LEN;
        hdr.udp.length = NETCRAQ_UDP_LEN;
    }
    action chain_frame() {
        hdr.chain_ext.setValid();
        hdr.chain_ext.epoch = meta.epoch;
        hdr.ipv4.total_len = CHAIN_IPV4_LEN;
        hdr.udp.length = CHAIN_UDP_LEN;
    }
    action reply() {
        client_frame();
        meta.out_kind = OUT_REPLY;
        meta.rewrite_csum = 1;
        meta.out_dst = hdr.ipv4.src_addr;
        hdr.ipv4.dst_addr = hdr.ipv4.src_addr;
        hdr.ipv4.src_addr = meta.own_ip;
        hdr.udp.dst_port = hdr.udp.src_port;
        hdr.udp.src_port = NETCRAQ_UDP_PORT;
    }
    action forward(bit<32> dst) {
        meta.out_kind = OUT_FORWARD;
        meta.rewrite_csum = 1;
        meta.out_dst = dst;
        hdr.ipv4.dst_addr = dst;
        hdr.udp.dst_port = NETCRAQ_UDP_PORT;
    }
    /* A client's READ or WRITE, forwarded. */
    action forward_request(bit<32> dst) {
        client_frame();
        forward(dst);
    }
    /* A CHAIN_WRITE or ACK. */
    action forward_chain(bit<32> dst) {
        chain_frame();
        forward(dst);
    }
    action reply_error(bit<8> outcome, bit<8> error_code) {
        decide(outcome);
        hdr.netcraq.op = OP_ERROR;
        hdr.netcraq.version = error_code;
        reply();
    }
    action mirror_second(bit<8> second) {
        meta.second = second;
        ig_dprsr_md.mirror_type = MIRROR_TYPE_SECOND;
        meta.mirror_kind = PKT_KIND_MIRRORED;
        meta.mirror_session = (MirrorId_t) NETCRAQ_SECOND_OUTPUT_SESSION;
    }

    /* ---- §5: classify a pass by the first test that decides it ---- */
    @hidden action drop_frame(bit<8> outcome) {
        decide(outcome);
    }
    @hidden action ignore() {
    }
    @hidden action transit() {
        decide(OUTCOME_TRANSIT);
        meta.out_kind = OUT_TRANSIT;
        meta.rewrite_csum = 1;
        meta.out_dst = hdr.ipv4.dst_addr;
    }
    @hidden action refuse_key() {
        reply_error(OUTCOME_KEY_OUT_OF_RANGE, ERR_KEY_OUT_OF_RANGE);
    }
    /* SECOND pass, tail: the received CHAIN_WRITE becomes the ACK (§5.1). */
    @hidden action second_ack() {
        hdr.netcraq.op = OP_ACK;
        forward_chain(meta.predecessor_ip);
    }
    @hidden action second_resend() {
        meta.plan = PLAN_RESEND;
    }
    @hidden action stamp(bit<1> set_acked) {
        meta.plan = PLAN_STAMP;
        meta.same_received = (bit<1>) received_store.execute(hdr.netcraq.key);
        meta.new_version = hdr.resubmit.s_seen + 1;
        meta.acked_set = set_acked;
    }
    @hidden action read() {
        meta.plan = PLAN_READ;
        meta.same_received = (bit<1>) received_read.execute(hdr.netcraq.key);
    }
    @hidden action write_here() {
        meta.plan = PLAN_WRITE;
        meta.key_write = 1;
    }
    @hidden action write_to_head() {
        decide(OUTCOME_WRITE_TO_HEAD);
        meta.key_write = 1;
        forward_request(meta.head_ip);
    }
    /* CHAIN_WRITE or SYNC (`plan`). */
    @hidden action chain_write(bit<8> plan, bit<1> set_acked) {
        meta.plan = plan;
        meta.same_received = (bit<1>) received_store.execute(hdr.netcraq.key);
        meta.new_version = hdr.netcraq.version;
        meta.acked_set = set_acked;
    }
    @hidden action ack() {
        meta.plan = PLAN_ACK;
        meta.new_version = hdr.netcraq.version;
    }
    @hidden action sweep() {
        meta.plan = PLAN_SWEEP;
        meta.same_received = (bit<1>) received_read.execute(hdr.netcraq.key);
    }
    @hidden action renew() {
        meta.plan = PLAN_RENEW;
    }

    /* One row per test, in §5's order: the first row that matches is the
     * first test that decides the frame. Flags are 1 when the test's fact
     * holds (see the metadata). */
    @hidden table classify {
        key = {
            meta.configured        : ternary;  /* cfg */
            hdr.second.isValid()   : ternary;  /* 2nd: SECOND pass */
            hdr.second.second      : ternary;  /* kind */
            hdr.resubmit.isValid() : ternary;  /* rsb: STAMP pass */
            hdr.ethernet.isValid() : ternary;  /* eth */
            meta.mac_hi_wrong      : ternary;  /* mhi */
            meta.mac_lo_wrong      : ternary;  /* mlo */
            meta.not_ipv4          : ternary;  /* ¬4 */
            hdr.ipv4.isValid()     : ternary;  /* ip */
            meta.ipv4_bad_fields   : ternary;  /* bad */
            meta.ipv4_short        : ternary;  /* sho */
            meta.partial_hdr       : ternary;  /* prt */
            meta.is_udp            : ternary;  /* udp */
            hdr.udp.isValid()      : ternary;  /* uv */
            meta.covers_udp        : ternary;  /* cu */
            meta.port_ok           : ternary;  /* po */
            hdr.netcraq.isValid()  : ternary;  /* nv */
            meta.covers_netcraq    : ternary;  /* cn */
            meta.covers_chain_ext  : ternary;  /* cx */
            meta.csum_ok           : ternary;  /* ck */
            hdr.ipv4.ttl           : ternary;  /* ttl */
            meta.not_own_ip        : ternary;  /* ¬me */
            meta.fabric            : ternary;  /* fab: a fabric port */
            meta.frag_offset_set   : ternary;  /* fo */
            meta.fragment          : ternary;  /* frg */
            meta.client_lengths    : ternary;  /* lcl */
            meta.chain_lengths     : ternary;  /* lch */
            hdr.netcraq.op         : ternary;  /* op */
            meta.role              : ternary;  /* role */
            meta.from_predecessor  : ternary;  /* fp */
            meta.from_successor    : ternary;  /* fs */
            meta.from_controller   : ternary;  /* fc */
            meta.epoch_wrong       : ternary;  /* ew */
            meta.key_below         : ternary;  /* <lo */
            meta.key_above         : ternary;  /* >=hi */
        }
        actions = {
            drop_frame; ignore; transit; refuse_key; second_ack; second_resend;
            stamp; read; write_here; write_to_head; chain_write; ack; sweep; renew;
        }
        const entries = {
            /*cfg  2nd    kind        rsb   eth    mhi  mlo  ¬4  ip     bad  sho  prt  udp  uv     cu  po  nv     cn  cx  ck  ttl         ¬me  fab  fo  frg  lcl  lch  op              role          fp  fs  fc  ew  <lo  >=hi */
            /* A STAMP pass counts here too: its FRESH pass counted nothing. */
            ( 0,   false, _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_UNCONFIGURED);
            ( 0,   true,  _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : ignore();
            /* The SECOND pass starts from a copy of the received frame. */
            ( _,   true,  SECOND_ACK, _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : second_ack();
            ( _,   true,  _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : second_resend();
            ( _,   _,     _,          true, _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              ROLE_SOLO,    _,  _,  _,  _,  _,   _) : stamp(1);
            ( _,   _,     _,          true, _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : stamp(0);
            /*cfg  2nd    kind        rsb   eth    mhi  mlo  ¬4  ip     bad  sho  prt  udp  uv     cu  po  nv     cn  cx  ck  ttl         ¬me  fab  fo  frg  lcl  lch  op              role          fp  fs  fc  ew  <lo  >=hi */
            ( _,   _,     _,          _,    false, _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_TRUNCATED);
            ( _,   _,     _,          _,    _,     1,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_WRONG_MAC);
            ( _,   _,     _,          _,    _,     _,   1,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_WRONG_MAC);
            ( _,   _,     _,          _,    _,     _,   _,   1,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_IPV4);
            ( _,   _,     _,          _,    _,     _,   _,   _,  false, _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_TRUNCATED);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     1,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_IPV4_MALFORMED);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   1,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_IPV4_MALFORMED);
            /* Step 5b where the parser proves it: the frame ended inside the
             * UDP or NetCRAQ header or the chain extension that its total length
             * covers (p4/README.md, "Step 5b"). */
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   1,   1,   false, 1,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_TRUNCATED);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   1,   1,   true,  _,  1,  false, 1,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_TRUNCATED);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   1,   _,   _,     _,  _,  true,  _,  1,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_TRUNCATED);
            /*cfg  2nd    kind        rsb   eth    mhi  mlo  ¬4  ip     bad  sho  prt  udp  uv     cu  po  nv     cn  cx  ck  ttl         ¬me  fab  fo  frg  lcl  lch  op              role          fp  fs  fc  ew  <lo  >=hi */
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  0,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_IPV4_CHECKSUM);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  0 &&& 0xfe, _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_TTL_EXPIRED);
            /* Step 8: a chain frame from an edge port is never transited (a NetCRAQ
             * header was parsed: protocol 17, UDP port 20035, at least 62 bytes). */
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  true,  _,  _,  _,  _,          1,   0,   0,  _,   _,   _,   OP_ACK,         _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_FROM_CHAIN);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  true,  _,  _,  _,  _,          1,   0,   0,  _,   _,   _,   OP_CHAIN_WRITE, _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_FROM_CHAIN);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  true,  _,  _,  _,  _,          1,   0,   0,  _,   _,   _,   OP_SYNC &&& 0xfe, _,          _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_FROM_CHAIN);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  true,  _,  _,  _,  _,          1,   0,   0,  _,   _,   _,   OP_RENEW,       _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_FROM_CHAIN);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          1,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : transit();
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  1,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_FRAGMENT);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   0,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_UDP);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     0,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_BAD_LENGTH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   false, _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_BAD_LENGTH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  0,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_WRONG_PORT);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   0,   0,   _,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_BAD_LENGTH);
            /* Every frame left is a whole NetCRAQ frame for this node, of either
             * length. Step 14b: the op's length (a chain op's extension is present
             * from here on). Ops 1..8 other than the ones expected of the role are
             * DROP_UNEXPECTED_OP (the last rows); then the trust checks and the key
             * range, on the ops the role handles. */
            /*cfg  2nd    kind        rsb   eth    mhi  mlo  ¬4  ip     bad  sho  prt  udp  uv     cu  po  nv     cn  cx  ck  ttl         ¬me  fab  fo  frg  lcl  lch  op              role          fp  fs  fc  ew  <lo  >=hi */
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   0,   _,   OP_READ,        _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_BAD_LENGTH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   0,   _,   OP_WRITE,       _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_BAD_LENGTH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   0,   _,   OP_READ_REPLY,  _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_BAD_LENGTH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   0,   _,   OP_WRITE_REPLY, _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_BAD_LENGTH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   0,   _,   OP_ERROR,       _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_BAD_LENGTH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   0,   OP_ACK,         _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_BAD_LENGTH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   0,   OP_CHAIN_WRITE, _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_BAD_LENGTH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   0,   OP_SYNC,        _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_BAD_LENGTH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   0,   OP_SWEEP,       _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_BAD_LENGTH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   0,   OP_RENEW,       _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_BAD_LENGTH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_CHAIN_WRITE, ROLE_REPLICA, 0,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_FROM_CHAIN);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_CHAIN_WRITE, ROLE_TAIL,    0,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_FROM_CHAIN);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_ACK,         ROLE_HEAD,    _,  0,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_FROM_CHAIN);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_ACK,         ROLE_REPLICA, _,  0,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_FROM_CHAIN);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SYNC,        ROLE_REPLICA, 0,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_FROM_CHAIN);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SYNC,        ROLE_TAIL,    0,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_FROM_CHAIN);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SWEEP,       _,            _,  _,  0,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_FROM_CHAIN);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_RENEW,       _,            _,  _,  0,  _,  _,   _) : drop_frame(OUTCOME_DROP_NOT_FROM_CHAIN);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_CHAIN_WRITE, ROLE_REPLICA, _,  _,  _,  1,  _,   _) : drop_frame(OUTCOME_DROP_WRONG_EPOCH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_CHAIN_WRITE, ROLE_TAIL,    _,  _,  _,  1,  _,   _) : drop_frame(OUTCOME_DROP_WRONG_EPOCH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_ACK,         ROLE_HEAD,    _,  _,  _,  1,  _,   _) : drop_frame(OUTCOME_DROP_WRONG_EPOCH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_ACK,         ROLE_REPLICA, _,  _,  _,  1,  _,   _) : drop_frame(OUTCOME_DROP_WRONG_EPOCH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SYNC,        ROLE_REPLICA, _,  _,  _,  1,  _,   _) : drop_frame(OUTCOME_DROP_WRONG_EPOCH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SYNC,        ROLE_TAIL,    _,  _,  _,  1,  _,   _) : drop_frame(OUTCOME_DROP_WRONG_EPOCH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SWEEP,       _,            _,  _,  _,  1,  _,   _) : drop_frame(OUTCOME_DROP_WRONG_EPOCH);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_RENEW,       _,            _,  _,  _,  1,  _,   _) : drop_frame(OUTCOME_DROP_WRONG_EPOCH);
            /* RENEW names no key: step 16 is not checked for it. */
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_RENEW,       _,            _,  _,  _,  _,  _,   _) : renew();
            /*cfg  2nd    kind        rsb   eth    mhi  mlo  ¬4  ip     bad  sho  prt  udp  uv     cu  po  nv     cn  cx  ck  ttl         ¬me  fab  fo  frg  lcl  lch  op              role          fp  fs  fc  ew  <lo  >=hi */
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_READ,        _,            _,  _,  _,  _,  1,   _) : refuse_key();
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_READ,        _,            _,  _,  _,  _,  _,   1) : refuse_key();
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_WRITE,       _,            _,  _,  _,  _,  1,   _) : refuse_key();
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_WRITE,       _,            _,  _,  _,  _,  _,   1) : refuse_key();
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_CHAIN_WRITE, ROLE_REPLICA, _,  _,  _,  _,  1,   _) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_CHAIN_WRITE, ROLE_REPLICA, _,  _,  _,  _,  _,   1) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_CHAIN_WRITE, ROLE_TAIL,    _,  _,  _,  _,  1,   _) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_CHAIN_WRITE, ROLE_TAIL,    _,  _,  _,  _,  _,   1) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_ACK,         ROLE_HEAD,    _,  _,  _,  _,  1,   _) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_ACK,         ROLE_HEAD,    _,  _,  _,  _,  _,   1) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_ACK,         ROLE_REPLICA, _,  _,  _,  _,  1,   _) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_ACK,         ROLE_REPLICA, _,  _,  _,  _,  _,   1) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SYNC,        ROLE_REPLICA, _,  _,  _,  _,  1,   _) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SYNC,        ROLE_REPLICA, _,  _,  _,  _,  _,   1) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SYNC,        ROLE_TAIL,    _,  _,  _,  _,  1,   _) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SYNC,        ROLE_TAIL,    _,  _,  _,  _,  _,   1) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SWEEP,       _,            _,  _,  _,  _,  1,   _) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SWEEP,       _,            _,  _,  _,  _,  _,   1) : drop_frame(OUTCOME_DROP_KEY_OUT_OF_RANGE);
            /*cfg  2nd    kind        rsb   eth    mhi  mlo  ¬4  ip     bad  sho  prt  udp  uv     cu  po  nv     cn  cx  ck  ttl         ¬me  fab  fo  frg  lcl  lch  op              role          fp  fs  fc  ew  <lo  >=hi */
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_READ,        _,            _,  _,  _,  _,  _,   _) : read();
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_WRITE,       ROLE_HEAD,    _,  _,  _,  _,  _,   _) : write_here();
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_WRITE,       ROLE_SOLO,    _,  _,  _,  _,  _,   _) : write_here();
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_WRITE,       _,            _,  _,  _,  _,  _,   _) : write_to_head();
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_CHAIN_WRITE, ROLE_REPLICA, _,  _,  _,  _,  _,   _) : chain_write(PLAN_CHAIN_WRITE, 0);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_CHAIN_WRITE, ROLE_TAIL,    _,  _,  _,  _,  _,   _) : chain_write(PLAN_CHAIN_WRITE, 1);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_ACK,         ROLE_HEAD,    _,  _,  _,  _,  _,   _) : ack();
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_ACK,         ROLE_REPLICA, _,  _,  _,  _,  _,   _) : ack();
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SYNC,        ROLE_REPLICA, _,  _,  _,  _,  _,   _) : chain_write(PLAN_SYNC, 1);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SYNC,        ROLE_TAIL,    _,  _,  _,  _,  _,   _) : chain_write(PLAN_SYNC, 1);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SWEEP,       _,            _,  _,  _,  _,  _,   _) : sweep();
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   0,              _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_UNKNOWN_OP);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   0 &&& 0xf8,     _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_UNEXPECTED_OP);
            ( _,   _,     _,          _,    _,     _,   _,   _,  _,     _,   _,   _,   _,   _,     _,  _,  _,     _,  _,  _,  _,          _,   _,   _,  _,   _,   _,   OP_SYNC,        _,            _,  _,  _,  _,  _,   _) : drop_frame(OUTCOME_DROP_UNEXPECTED_OP);
        }
        const default_action = drop_frame(OUTCOME_DROP_UNKNOWN_OP);
        size = 96;
    }

    /* ---- §5.1: behave on what the registers said ---- */
    action stamped(bit<8> op) {
        decide(OUTCOME_WRITE_STAMPED);
        hdr.netcraq.op = op;
        hdr.netcraq.version = meta.new_version;
    }
    @hidden action stamped_reply() {
        stamped(OP_WRITE_REPLY);
        reply();
    }
    @hidden action stamped_forward() {
        stamped(OP_CHAIN_WRITE);
        forward_chain(meta.successor_ip);
    }
    /* Also a STAMP pass whose compare-and-set failed (p4/README.md). */
    @hidden action window_full() {
        reply_error(OUTCOME_WRITE_WINDOW_FULL, ERR_WINDOW_FULL);
        mirror_second(SECOND_RESEND);
    }
    @hidden action read_local() {
        decide(OUTCOME_READ_LOCAL);
        hdr.netcraq.op = OP_READ_REPLY;
        hdr.netcraq.version = meta.s;
        hdr.netcraq.value = meta.w0 ++ meta.w1 ++ meta.w2 ++ meta.w3;
        reply();
    }
    @hidden action not_serving() {
        reply_error(OUTCOME_READ_NOT_SERVING, ERR_NOT_SERVING);
    }
    @hidden action read_to_tail() {
        decide(OUTCOME_READ_TO_TAIL);
        forward_request(meta.tail_ip);
    }
    @hidden action retransmit_reply() {
        decide(OUTCOME_WRITE_RETRANSMIT);
        hdr.netcraq.op = OP_WRITE_REPLY;
        hdr.netcraq.version = meta.s;
        reply();
    }
    /* §4.4 re-send of the stored version, addressed as its writer's
     * request. The stored value and writer address equal the frame's (that
     * is what made it a retransmission); the IPv4 identification is the
     * stored one. */
    @hidden action retransmit_resend() {
        decide(OUTCOME_WRITE_RETRANSMIT);
        hdr.netcraq.op = OP_CHAIN_WRITE;
        hdr.netcraq.version = meta.s;
        hdr.ipv4.identification = meta.writer_id;
        forward_chain(meta.successor_ip);
    }
    @hidden action write_unknown() {
        reply_error(OUTCOME_WRITE_UNKNOWN, ERR_OUTCOME_UNKNOWN);
    }
    /* Stamp in the STAMP pass, which counts the outcome. */
    @hidden action stamp_next_pass() {
        meta.resubmit_md.setValid();
        meta.resubmit_md.kind = RESUBMIT_STAMP;
        meta.resubmit_md.s_seen = meta.s;
        meta.resubmit_md.pad = 0;
        ig_dprsr_md.resubmit_type = 1;
    }
    @hidden action chain_forward(bit<8> outcome) {
        decide(outcome);
        forward_chain(meta.successor_ip);
    }
    @hidden action commit(bit<8> outcome) {
        decide(outcome);
        hdr.netcraq.op = OP_WRITE_REPLY;
        reply();
        mirror_second(SECOND_ACK);
    }
    @hidden action ack_forward() {
        decide(OUTCOME_ACK_FORWARDED);
        forward_chain(meta.predecessor_ip);
    }
    /* An outcome and no output: ACK at the head, SYNC, SWEEP at a tail or
     * solo, RENEW. */
    @hidden action quiet(bit<8> outcome) {
        decide(outcome);
    }
    @hidden action renewed() {
        decide(meta.renew_outcome);
    }
    /* §4.4: the stored version as `op`, addressed as its writer's request. */
    action stored_version(bit<8> op) {
        hdr.netcraq.op = op;
        hdr.netcraq.version = meta.s;
        hdr.netcraq.value = meta.w0 ++ meta.w1 ++ meta.w2 ++ meta.w3;
        hdr.ipv4.src_addr = meta.writer_ip;
        hdr.udp.src_port = meta.writer_port;
        hdr.ipv4.identification = meta.writer_id;
    }
    /* SECOND pass of a full window: re-send the stored version. */
    @hidden action resend_stored() {
        stored_version(OP_CHAIN_WRITE);
        forward_chain(meta.successor_ip);
    }
    /* SWEEP at the head or a replica: re-send (dirty) or copy (clean). */
    @hidden action sweep_successor(bit<8> outcome, bit<8> op) {
        decide(outcome);
        stored_version(op);
        forward_chain(meta.successor_ip);
    }
    /* SWEEP at a tail: the ACK of what it just committed. */
    @hidden action sweep_ack() {
        decide(OUTCOME_SWEEP_COMMITTED);
        stored_version(OP_ACK);
        forward_chain(meta.predecessor_ip);
    }

    /* The rows of §5.1 in its order; the first that matches decides. */
    @hidden table behave {
        key = {
            meta.plan                : ternary;  /* plan */
            meta.role                : ternary;  /* role */
            meta.mode                : ternary;  /* mode */
            meta.ver_ok              : ternary;  /* ok */
            meta.uncommitted         : ternary;  /* s-a */
            hdr.netcraq.version      : ternary;  /* v */
            meta.received            : ternary;  /* rcv: not syncing, or the key received */
            meta.lapsed              : ternary;  /* lap: READ, the lease not held */
            /* PLAN_WRITE: the value words and writer address equal the frame's */
            meta.w0[0:0]             : ternary @name("same_w0");
            meta.w1[0:0]             : ternary @name("same_w1");
            meta.w2[0:0]             : ternary @name("same_w2");
            meta.w3[0:0]             : ternary @name("same_w3");
            meta.writer_ip[0:0]      : ternary @name("same_ip");
            meta.writer_port[0:0]    : ternary @name("same_port");
        }
        actions = {
            stamped_reply; stamped_forward; window_full; not_serving; read_local; read_to_tail;
            retransmit_reply; retransmit_resend; write_unknown; stamp_next_pass;
            chain_forward; commit; ack_forward; resend_stored;
            quiet; renewed; sweep_successor; sweep_ack; ignore;
        }
        const entries = {
            /* plan             role          mode       ok s-a                      v  rcv lap w0 w1 w2 w3 ip port */
            (PLAN_STAMP,        ROLE_SOLO,    _,         1, _,                       _, _,  _,  _, _, _, _, _, _) : stamped_reply();
            (PLAN_STAMP,        _,            _,         1, _,                       _, _,  _,  _, _, _, _, _, _) : stamped_forward();
            (PLAN_STAMP,        _,            _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : window_full();
            (PLAN_READ,         _,            _,         _, _,                       _, _,  1,  _, _, _, _, _, _) : not_serving();
            (PLAN_READ,         _,            _,         _, _,                       _, 0,  _,  _, _, _, _, _, _) : not_serving();
            (PLAN_READ,         ROLE_TAIL,    _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : read_local();
            (PLAN_READ,         ROLE_SOLO,    _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : read_local();
            (PLAN_READ,         _,            MODE_CRAQ, _, 0,                       _, _,  _,  _, _, _, _, _, _) : read_local();
            (PLAN_READ,         _,            _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : read_to_tail();
            (PLAN_WRITE,        ROLE_SOLO,    _,         _, _,                       _, _,  _,  1, 1, 1, 1, 1, 1) : retransmit_reply();
            (PLAN_WRITE,        _,            _,         _, _,                       _, _,  _,  1, 1, 1, 1, 1, 1) : retransmit_resend();
            /* (a v != 0 that is no retransmission is WRITE_UNKNOWN, the last WRITE row) */
            (PLAN_WRITE,        ROLE_HEAD,    _,         _, MAX_UNCOMMITTED_VERSIONS, 0, _,  _,  _, _, _, _, _, _) : window_full();
            (PLAN_WRITE,        ROLE_HEAD,    _,         _, 0x80 &&& 0x80,           0, _,  _,  _, _, _, _, _, _) : window_full();
            (PLAN_WRITE,        _,            _,         _, _,                       0, _,  _,  _, _, _, _, _, _) : stamp_next_pass();
            (PLAN_WRITE,        _,            _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : write_unknown();
            (PLAN_CHAIN_WRITE,  ROLE_REPLICA, _,         1, _,                       _, _,  _,  _, _, _, _, _, _) : chain_forward(OUTCOME_CHAIN_WRITE_APPLIED);
            (PLAN_CHAIN_WRITE,  ROLE_REPLICA, _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : chain_forward(OUTCOME_CHAIN_WRITE_STALE);
            (PLAN_CHAIN_WRITE,  _,            _,         _, _,                       _, 0,  _,  _, _, _, _, _, _) : commit(OUTCOME_KEY_RECEIVED);
            (PLAN_CHAIN_WRITE,  _,            _,         1, _,                       _, _,  _,  _, _, _, _, _, _) : commit(OUTCOME_COMMIT_APPLIED);
            (PLAN_CHAIN_WRITE,  _,            _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : commit(OUTCOME_COMMIT_DUPLICATE);
            (PLAN_ACK,          ROLE_REPLICA, _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : ack_forward();
            (PLAN_ACK,          _,            _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : quiet(OUTCOME_ACK_CONSUMED);
            (PLAN_SYNC,         _,            _,         _, _,                       _, 0,  _,  _, _, _, _, _, _) : quiet(OUTCOME_KEY_RECEIVED);
            (PLAN_SYNC,         _,            _,         1, _,                       _, _,  _,  _, _, _, _, _, _) : quiet(OUTCOME_SYNC_APPLIED);
            (PLAN_SYNC,         _,            _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : quiet(OUTCOME_SYNC_STALE);
            (PLAN_SWEEP,        ROLE_HEAD,    _,         _, 0,                       _, _,  _,  _, _, _, _, _, _) : sweep_successor(OUTCOME_SWEEP_COPIED, OP_SYNC);
            (PLAN_SWEEP,        ROLE_REPLICA, _,         _, 0,                       _, _,  _,  _, _, _, _, _, _) : sweep_successor(OUTCOME_SWEEP_COPIED, OP_SYNC);
            (PLAN_SWEEP,        ROLE_HEAD,    _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : sweep_successor(OUTCOME_SWEEP_RESENT, OP_CHAIN_WRITE);
            (PLAN_SWEEP,        ROLE_REPLICA, _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : sweep_successor(OUTCOME_SWEEP_RESENT, OP_CHAIN_WRITE);
            (PLAN_SWEEP,        _,            _,         _, 0,                       _, _,  _,  _, _, _, _, _, _) : quiet(OUTCOME_SWEEP_CLEAN);
            (PLAN_SWEEP,        ROLE_TAIL,    _,         _, _,                       _, 0,  _,  _, _, _, _, _, _) : quiet(OUTCOME_SWEEP_CLEAN);
            (PLAN_SWEEP,        ROLE_TAIL,    _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : sweep_ack();
            (PLAN_SWEEP,        _,            _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : quiet(OUTCOME_SWEEP_COMMITTED);
            (PLAN_RENEW,        _,            _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : renewed();
            (PLAN_RESEND,       _,            _,         _, _,                       _, _,  _,  _, _, _, _, _, _) : resend_stored();
        }
        const default_action = ignore();  /* plan 0: classify decided */
        size = 48;
    }

    apply {
        key_t idx = hdr.netcraq.key;  /* the register index */

        node_config.apply();
        /* A RENEW names no key: node_config's chain (§2.3). */
        if (hdr.netcraq.isValid() && hdr.netcraq.op != OP_RENEW) {
            key_group.apply();
        }
        meta.ingress_port = (bit<16>) ig_intr_md.ingress_port;
        /* §2.4: the lease clock, in ticks of 65.536 us. */
        meta.now = ig_prsr_md.global_tstamp[47:16];
        meta.now_next = ig_prsr_md.global_tstamp[47:16] + 1;
        fabric_port.apply();
        header_operands.apply();
        renew_operands.apply();

        /* §5's facts as flags (header-only ones need no operand). */
        if (hdr.ethernet.ether_type != ETHERTYPE_IPV4) { meta.not_ipv4 = 1; }
        if (hdr.ipv4.version != 4 || hdr.ipv4.ihl != 5) { meta.ipv4_bad_fields = 1; }
        if ((ig_prsr_md.parser_err & PARSER_ERROR_PARTIAL_HDR) != 0) { meta.partial_hdr = 1; }
        if (hdr.ipv4.protocol == IP_PROTOCOL_UDP) { meta.is_udp = 1; }
        if (hdr.udp.dst_port == NETCRAQ_UDP_PORT) { meta.port_ok = 1; }
        if (hdr.ipv4.frag_offset != 0) { meta.frag_offset_set = 1; }
        if (hdr.ipv4.flag_mf == 1 || hdr.ipv4.frag_offset != 0) { meta.fragment = 1; }
        if (hdr.ipv4.total_len == NETCRAQ_IPV4_LEN && hdr.udp.length == NETCRAQ_UDP_LEN) {
            meta.client_lengths = 1;
        }
        if (hdr.ipv4.total_len == CHAIN_IPV4_LEN && hdr.udp.length == CHAIN_UDP_LEN) {
            meta.chain_lengths = 1;
        }
        if (meta.mac_hi_diff != 0) { meta.mac_hi_wrong = 1; }
        if (meta.mac_lo_diff != 0) { meta.mac_lo_wrong = 1; }
        if (meta.dst_ip_diff != 0) { meta.not_own_ip = 1; }
        if (meta.ipv4_room == 0) { meta.ipv4_short = 1; }
        if (meta.udp_room != 0) { meta.covers_udp = 1; }
        if (meta.netcraq_room != 0) { meta.covers_netcraq = 1; }
        if (meta.chain_ext_room != 0) { meta.covers_chain_ext = 1; }
        if (meta.epoch_diff != 0) { meta.epoch_wrong = 1; }
        if (meta.below_lo != 0) { meta.key_below = 1; }
        /* (key_hi = 65536, bit 16, bounds no 16-bit key.) */
        if (meta.key_hi[16:16] == 0 && meta.below_hi == 0) { meta.key_above = 1; }
        if (meta.lease_ticks != 0) { meta.leases_on = 1; }
        if (meta.sync_epoch != 0) { meta.syncing = 1; }
        if (hdr.netcraq.value[127:96] == 0) { meta.renew_clock_read = 1; }

        /* §5, and kv_received in the actions that need it. */
        classify.apply();
        if (meta.plan == PLAN_READ) { key_reads.count(idx); }
        if (meta.key_write == 1) { key_writes.count(idx); }
        if (meta.syncing == 0 || meta.same_received == 1) { meta.received = 1; }
        if (meta.renew_clock_read == 1) {
            meta.renew_outcome = OUTCOME_RENEW_CLOCK_ONLY;
        } else if (meta.renew_short != 0) {
            meta.renew_outcome = OUTCOME_LEASE_RENEWED;
        } else {
            meta.renew_outcome = OUTCOME_RENEW_LATE;
        }

        /* lease_end, outside classify: Tofino addresses every register that
         * a table's actions use with one expression (kv_received's is the
         * key), and a register's actions read at most two PHV fields (now
         * and the carried end), so the grant is decided here. */
        if (meta.plan == PLAN_READ) {
            meta.lease_left = lease_end_left.execute(0);
        } else if (meta.plan == PLAN_RENEW && meta.renew_outcome == OUTCOME_LEASE_RENEWED) {
            lease_end_renew.execute(0);
        }
        if (meta.lease_left != 0 && meta.lease_left[31:31] == 0) { meta.lease_left_ok = 1; }

        /* kv_version. A CHAIN_WRITE or SYNC stores v if it is newer, or,
         * at a syncing tail, if the key was not received (§5.1). */
        if (meta.plan == PLAN_READ || meta.plan == PLAN_WRITE || meta.plan == PLAN_RESEND
            || meta.plan == PLAN_SWEEP || meta.plan == PLAN_ACK) {
            meta.s = version_read.execute(idx);
        } else if (meta.plan == PLAN_STAMP) {
            meta.ver_ok = (bit<1>) version_cas.execute(idx);
        } else if (meta.plan == PLAN_CHAIN_WRITE || meta.plan == PLAN_SYNC) {
            if (meta.syncing == 0 || meta.same_received == 1) {
                meta.ver_ok = (bit<1>) version_chain.execute(idx);
            } else {
                meta.ver_ok = (bit<1>) version_replace.execute(idx);
            }
        }
        /* ACK: v - s, for "v is not newer than s" (§5.1). Computed from
         * version_read, not in the register: Tofino attaches at most four
         * RegisterActions to one register. */
        if (meta.plan == PLAN_ACK) { meta.over_stored = hdr.netcraq.version - meta.s; }

        /* lease_held (§2.1b). A READ with leases on finds the lease held
         * when lease_end is later than now and lease_held is 1, and clears
         * lease_held otherwise; a RENEW sets it. */
        if (meta.plan == PLAN_READ && meta.leases_on == 1) {
            if (meta.lease_left_ok == 1) {
                meta.lease_flag = lease_held_read.execute(0);
            } else {
                lease_held_clear.execute(0);
            }
        } else if (meta.plan == PLAN_RENEW && meta.renew_outcome == OUTCOME_LEASE_RENEWED) {
            lease_held_set.execute(0);
        }
        if (meta.plan == PLAN_RENEW) { lease_clock_write.execute(0); }
        if (meta.leases_on == 1 && meta.lease_flag == 0) { meta.lapsed = 1; }
        if (meta.role == ROLE_SOLO || (meta.role == ROLE_TAIL && meta.received == 1)) {
            meta.sweep_commits = 1;
        }

        /* kv_acked. ACK: a = v if v is newer than a (in the action) and not
         * newer than s (v - s <= 0 as a serial number). SWEEP: commit at a
         * tail that received the key, or solo. */
        if (meta.plan == PLAN_SWEEP && meta.sweep_commits == 1) {
            meta.uncommitted = acked_commit.execute(idx);
        } else if (meta.plan == PLAN_READ || meta.plan == PLAN_WRITE || meta.plan == PLAN_SWEEP) {
            meta.uncommitted = acked_uncommitted.execute(idx);
        } else if (meta.plan == PLAN_ACK) {
            if (meta.over_stored == 0 || meta.over_stored[7:7] == 1) {
                acked_ack.execute(idx);
            }
        } else if (meta.acked_set == 1 && meta.ver_ok == 1) {
            acked_set.execute(idx);
        }

        /* Value and writer registers. */
        if (meta.plan == PLAN_READ || meta.plan == PLAN_RESEND || meta.plan == PLAN_SWEEP) {
            meta.w0 = kv_value_0_read.execute(idx);
            meta.w1 = kv_value_1_read.execute(idx);
            meta.w2 = kv_value_2_read.execute(idx);
            meta.w3 = kv_value_3_read.execute(idx);
            meta.writer_ip = kv_writer_ip_read.execute(idx);
            meta.writer_port = kv_writer_port_read.execute(idx);
            meta.writer_id = kv_writer_id_read.execute(idx);
        } else if (meta.plan == PLAN_WRITE) {
            meta.w0 = kv_value_0_same.execute(idx);
            meta.w1 = kv_value_1_same.execute(idx);
            meta.w2 = kv_value_2_same.execute(idx);
            meta.w3 = kv_value_3_same.execute(idx);
            meta.writer_ip = kv_writer_ip_same.execute(idx);
            meta.writer_port = kv_writer_port_same.execute(idx);
            meta.writer_id = kv_writer_id_read.execute(idx);
        } else if (meta.ver_ok == 1) {
            /* CHAIN_WRITE or SYNC stored v, or STAMP's compare-and-set held. */
            kv_value_0_write.execute(idx);
            kv_value_1_write.execute(idx);
            kv_value_2_write.execute(idx);
            kv_value_3_write.execute(idx);
            kv_writer_ip_write.execute(idx);
            kv_writer_port_write.execute(idx);
            kv_writer_id_write.execute(idx);
        }

        behave.apply();

        /* §4.2: every output. */
        if (meta.out_kind != OUT_NONE) {
            hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
            hdr.ethernet.src_addr = meta.own_mac;
            if (meta.out_kind != OUT_TRANSIT) {
                hdr.udp.checksum = 0;
            }
            ipv4_route.apply();
        } else if (ig_dprsr_md.resubmit_type == 0) {
            /* Bit 0 of drop_ctl would also cancel a resubmit. */
            ig_dprsr_md.drop_ctl = 1;
        }
        hdr.second.setInvalid();
        hdr.resubmit.setInvalid();

        /* One counter access per counter per pass. */
        if (meta.has_outcome == 1) {
            outcomes.count(meta.outcome);
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
            mirror.emit<mirror_h>(meta.mirror_session, { meta.mirror_kind, meta.second });
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
