/* NetCRAQ chain node for v1model (BMv2 simple_switch_grpc).
 *
 * docs/protocol.md is the contract; "§n" below cites it. The P4Runtime names
 * and IDs are those of the shared P4Info contract (p4/netcraq.p4info.txtpb):
 * every control-plane object carries an absolute @name and an @id.
 *
 * Passes. A received frame is handled in one ingress pass that validates it
 * (§5), applies the behaviour table (§5.1), builds its first output in place
 * and routes it with ipv4_route. The two rows that emit a second output (the
 * tail's ACK after its WRITE_REPLY, the head's re-send after ERROR
 * WINDOW_FULL) also clone the received frame (I2E, session
 * NETCRAQ_SECOND_OUTPUT_SESSION) carrying meta.second; egress recirculates
 * that copy, and its second ingress pass builds the second output from it and
 * routes it with the same ipv4_route table (counting NO_ROUTE on a miss, and
 * nothing else). See p4/README.md.
 *
 * Trust (§9). fabric_port says whether the frame arrived on a fabric port,
 * and from which neighbour or the control plane; a chain op is acted on
 * only from the neighbour or control plane that sends it (§5 step 15b) and
 * under this node's epoch (step 15c), and one from an edge port is never
 * transited (step 8). The control plane's SWEEP and RENEW are P4Runtime
 * PacketOut frames: simple_switch_grpc --cpu-port P feeds their payload,
 * the 66-byte chain frame as it is (the P4Info declares no packet_out
 * header), to ingress on port P, which fabric_port marks from_controller.
 */

#include <core.p4>
#include <v1model.p4>
#include "include/headers.p4"

/* BMv2 instance types (v1model standard_metadata.instance_type). */
const bit<32> INSTANCE_TYPE_INGRESS_CLONE = 1;

/* Field list preserved across the clone and the recirculation. */
const bit<8> FIELD_LIST_SECOND = 1;

/* Register capacity K of this program (§2). */
#define NETCRAQ_KEYS 65536

struct headers_t {
    ethernet_h ethernet;
    ipv4_h     ipv4;
    udp_h      udp;
    netcraq_h  netcraq;
    chain_ext_h chain_ext;
}

struct metadata_t {
    /* SECOND_*: non-zero only in the pass that builds a second output. */
    @field_list(1)
    bit<8>  second;

    /* node_config (§2.3); key_group replaces the chain's fields for the
     * keys of a group (§2.3, "the key's chain"). */
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
    bit<16> ingress_port;  /* its key: the 9-bit port, widened */
    bit<1>  fabric;
    bit<1>  from_predecessor;
    bit<1>  from_successor;
    bit<1>  from_controller;

    bit<1>  has_outcome;   /* count `outcome` once at the end of the pass */
    bit<8>  outcome;
    bit<3>  out_kind;      /* OUT_*: the output this pass emits */
    bit<32> out_dst;       /* its IPv4 destination: the ipv4_route key */
    bit<1>  rewrite_csum;  /* recompute the IPv4 header checksum on deparse */
}

/* ------------------------------------------------------------------ parser */

parser NetcraqParser(packet_in pkt,
                     out headers_t hdr,
                     inout metadata_t meta,
                     inout standard_metadata_t std_meta) {
    /* A frame too short for a header ends parsing with that header invalid
     * (parser_error PacketTooShort); ingress reads validity, not errors, so
     * every §5 check runs in its order. */
    state start {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_IPV4: parse_ipv4;
            default: accept;
        }
    }

    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
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

/* §5 step 6 is checked in ingress (RFC 1071, exactly as the Rust core does). */
control NetcraqVerifyChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply { }
}

/* ----------------------------------------------------------------- ingress */

control NetcraqIngress(inout headers_t hdr,
                       inout metadata_t meta,
                       inout standard_metadata_t std_meta) {

    /* §2.1 registers, indexed by key. */
    @name(".NetcraqIngress.kv_value") @id(0x16000001)
    register<bit<128>>(NETCRAQ_KEYS) kv_value;
    @name(".NetcraqIngress.kv_version") @id(0x16000002)
    register<bit<8>>(NETCRAQ_KEYS) kv_version;
    @name(".NetcraqIngress.kv_acked") @id(0x16000003)
    register<bit<8>>(NETCRAQ_KEYS) kv_acked;
    @name(".NetcraqIngress.kv_writer_ip") @id(0x16000004)
    register<bit<32>>(NETCRAQ_KEYS) kv_writer_ip;
    @name(".NetcraqIngress.kv_writer_port") @id(0x16000005)
    register<bit<16>>(NETCRAQ_KEYS) kv_writer_port;
    @name(".NetcraqIngress.kv_writer_id") @id(0x16000006)
    register<bit<16>>(NETCRAQ_KEYS) kv_writer_id;
    @name(".NetcraqIngress.kv_received") @id(0x16000007)
    register<bit<32>>(NETCRAQ_KEYS) kv_received;

    /* §2.1b lease registers. */
    @name(".NetcraqIngress.lease_end") @id(0x16000008)
    register<bit<32>>(1) lease_end;
    @name(".NetcraqIngress.lease_held") @id(0x16000009)
    register<bit<1>>(1) lease_held;
    @name(".NetcraqIngress.lease_clock") @id(0x1600000a)
    register<bit<32>>(1) lease_clock;

    /* §2.2 counters. */
    @name(".NetcraqIngress.outcomes") @id(0x12000001)
    counter(OUTCOME_COUNT, CounterType.packets) outcomes;
    @name(".NetcraqIngress.key_reads") @id(0x12000002)
    counter(NETCRAQ_KEYS, CounterType.packets) key_reads;
    @name(".NetcraqIngress.key_writes") @id(0x12000003)
    counter(NETCRAQ_KEYS, CounterType.packets) key_writes;

    /* §2.3 node_config. */
    @name(".NetcraqIngress.set_config") @id(0x01000001)
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

    /* §2.3 key_group: the key's chain is the group's. Its keys are in range
     * (§5 step 16); the range stays within the registers. */
    @name(".NetcraqIngress.set_group") @id(0x01000007)
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
    @name(".NetcraqIngress.no_group") @id(0x01000008)
    action no_group() { }

    @name(".NetcraqIngress.set_next_hop") @id(0x01000002)
    action set_next_hop(bit<16> port, bit<48> mac) {
        std_meta.egress_spec = (bit<9>) port;
        hdr.ethernet.dst_addr = mac;
    }

    /* Until set_config is the default action: drop, DROP_UNCONFIGURED
     * (counted at the end of the pass, like every frame outcome). */
    @name(".NetcraqIngress.unconfigured") @id(0x01000003)
    action unconfigured() {
        meta.configured = 0;
    }

    /* The output is not sent and counts NO_ROUTE (§2.3), in addition to the
     * frame's own outcome (§6). */
    @name(".NetcraqIngress.no_route") @id(0x01000004)
    action no_route() {
        mark_to_drop(std_meta);
        outcomes.count((bit<32>) OUTCOME_NO_ROUTE);
    }

    @name(".NetcraqIngress.set_fabric_port") @id(0x01000005)
    action set_fabric_port(bit<1> from_predecessor, bit<1> from_successor, bit<1> from_controller) {
        meta.fabric = 1;
        meta.from_predecessor = from_predecessor;
        meta.from_successor = from_successor;
        meta.from_controller = from_controller;
    }

    /* No fabric_port entry: clients and anything else may be there (§9.1). */
    @name(".NetcraqIngress.edge_port") @id(0x01000006)
    action edge_port() {
        meta.fabric = 0;
        meta.from_predecessor = 0;
        meta.from_successor = 0;
        meta.from_controller = 0;
    }

    @name(".NetcraqIngress.node_config") @id(0x02000001)
    table node_config {
        actions = {
            set_config;
            unconfigured;
        }
        default_action = unconfigured();
        size = 1;
    }

    @name(".NetcraqIngress.key_group") @id(0x02000004)
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

    @name(".NetcraqIngress.ipv4_route") @id(0x02000002)
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

    @name(".NetcraqIngress.fabric_port") @id(0x02000003)
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

    apply {
        /* Nothing is sent unless ipv4_route says where. */
        mark_to_drop(std_meta);
        meta.has_outcome = 0;
        meta.out_kind = OUT_NONE;
        meta.rewrite_csum = 0;

        node_config.apply();
        /* A RENEW names no key: node_config's chain (§2.3). */
        if (hdr.netcraq.isValid() && hdr.netcraq.op != OP_RENEW) {
            key_group.apply();
        }
        meta.ingress_port = (bit<16>) std_meta.ingress_port;
        fabric_port.apply();

        bit<16> idx = hdr.netcraq.key;  /* the register index */
        /* §2.4: the lease clock, in ticks of 1.024 ms. */
        bit<32> now = (bit<32>) (std_meta.ingress_global_timestamp >> 10);
        bit<8>  s = 0;       /* kv_version[key] */
        bit<8>  a = 0;       /* kv_acked[key] */
        bit<128> stored = 0; /* kv_value[key] */
        bool chain_op = is_chain_op(hdr.netcraq.op);
        bool client_lengths = hdr.ipv4.total_len == NETCRAQ_IPV4_LEN && hdr.udp.length == NETCRAQ_UDP_LEN;
        bool chain_lengths = hdr.ipv4.total_len == CHAIN_IPV4_LEN && hdr.udp.length == CHAIN_UDP_LEN;

        if (meta.configured == 0) {
            /* §5 step 1. A copy in its second pass whose node lost its
             * configuration meanwhile is dropped without a count: its frame
             * was counted in the first pass. */
            if (meta.second == SECOND_NONE) {
                meta.has_outcome = 1;
                meta.outcome = OUTCOME_DROP_UNCONFIGURED;
            }
        } else if (meta.second == SECOND_ACK) {
            /* Second pass of a tail's CHAIN_WRITE: its ACK, a forward to
             * predecessor_ip of the same header with op = ACK (§5.1). */
            hdr.netcraq.op = OP_ACK;
            meta.out_kind = OUT_FORWARD;
            meta.out_dst = meta.predecessor_ip;
        } else if (meta.second == SECOND_RESEND) {
            /* Second pass of a head's WINDOW_FULL: re-send the stored version
             * (§3.3, §4.4). */
            hdr.netcraq.op = OP_CHAIN_WRITE;
            meta.out_kind = OUT_STORED;
            meta.out_dst = meta.successor_ip;
        } else if (!hdr.ethernet.isValid()) {
            /* §5 step 2 */
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_TRUNCATED;
        } else if (hdr.ethernet.dst_addr != meta.own_mac) {
            /* step 3 */
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_WRONG_MAC;
        } else if (hdr.ethernet.ether_type != ETHERTYPE_IPV4) {
            /* step 4 */
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_NOT_IPV4;
        } else if (!hdr.ipv4.isValid()) {
            /* step 5: fewer than 34 bytes */
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_TRUNCATED;
        } else if (hdr.ipv4.version != 4 || hdr.ipv4.ihl != 5 || hdr.ipv4.total_len < 20) {
            /* step 5 */
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_IPV4_MALFORMED;
        } else if ((bit<32>) hdr.ipv4.total_len + 14 > std_meta.packet_length) {
            /* step 5b; Ethernet padding after the IPv4 packet is ignored */
            meta.has_outcome = 1;
            meta.outcome = OUTCOME_DROP_TRUNCATED;
        } else {
            /* step 6: RFC 1071 over the 20-byte header, checksum included. */
            bit<32> sum = (bit<32>) (hdr.ipv4.version ++ hdr.ipv4.ihl ++ hdr.ipv4.tos)
                + (bit<32>) hdr.ipv4.total_len
                + (bit<32>) hdr.ipv4.identification
                + (bit<32>) (hdr.ipv4.flag_reserved ++ hdr.ipv4.flag_df ++ hdr.ipv4.flag_mf
                             ++ hdr.ipv4.frag_offset)
                + (bit<32>) (hdr.ipv4.ttl ++ hdr.ipv4.protocol)
                + (bit<32>) hdr.ipv4.hdr_checksum
                + (bit<32>) hdr.ipv4.src_addr[31:16]
                + (bit<32>) hdr.ipv4.src_addr[15:0]
                + (bit<32>) hdr.ipv4.dst_addr[31:16]
                + (bit<32>) hdr.ipv4.dst_addr[15:0];
            sum = (sum & 0xffff) + (sum >> 16);
            sum = (sum & 0xffff) + (sum >> 16);

            meta.has_outcome = 1;
            if (sum != 0xffff) {
                meta.outcome = OUTCOME_DROP_IPV4_CHECKSUM;
            } else if (hdr.ipv4.ttl < 2) {
                /* step 7 */
                meta.outcome = OUTCOME_DROP_TTL_EXPIRED;
            } else if (hdr.ipv4.dst_addr != meta.own_ip) {
                /* step 8. A NetCRAQ header was parsed: protocol 17, UDP port
                 * 20035 and at least 62 bytes (IHL 5: step 5). */
                if (meta.fabric == 0 && hdr.netcraq.isValid() && hdr.ipv4.frag_offset == 0
                    && chain_op) {
                    /* a chain frame from outside the chain */
                    meta.outcome = OUTCOME_DROP_NOT_FROM_CHAIN;
                } else {
                    meta.outcome = OUTCOME_TRANSIT;
                    meta.out_kind = OUT_TRANSIT;
                    meta.out_dst = hdr.ipv4.dst_addr;
                }
            } else if (hdr.ipv4.flag_mf == 1 || hdr.ipv4.frag_offset != 0) {
                /* step 9 */
                meta.outcome = OUTCOME_DROP_FRAGMENT;
            } else if (hdr.ipv4.protocol != IP_PROTOCOL_UDP) {
                /* step 10 */
                meta.outcome = OUTCOME_DROP_NOT_UDP;
            } else if (hdr.ipv4.total_len < MIN_UDP_IPV4_LEN) {
                /* step 11 (the UDP header is present from here on: step 5b) */
                meta.outcome = OUTCOME_DROP_BAD_LENGTH;
            } else if (hdr.udp.dst_port != NETCRAQ_UDP_PORT) {
                /* step 12 */
                meta.outcome = OUTCOME_DROP_WRONG_PORT;
            } else if (!client_lengths && !chain_lengths) {
                /* step 13 (the NetCRAQ header is present from here on) */
                meta.outcome = OUTCOME_DROP_BAD_LENGTH;
            } else if (hdr.netcraq.op == 0 || hdr.netcraq.op > OP_RENEW) {
                /* step 14 */
                meta.outcome = OUTCOME_DROP_UNKNOWN_OP;
            } else if ((chain_op && !chain_lengths) || (!chain_op && !client_lengths)) {
                /* step 14b (a chain op's extension is present from here on) */
                meta.outcome = OUTCOME_DROP_BAD_LENGTH;
            } else if (!(hdr.netcraq.op == OP_READ || hdr.netcraq.op == OP_WRITE
                         || hdr.netcraq.op == OP_SWEEP || hdr.netcraq.op == OP_RENEW
                         || ((hdr.netcraq.op == OP_CHAIN_WRITE || hdr.netcraq.op == OP_SYNC)
                             && (meta.role == ROLE_REPLICA || meta.role == ROLE_TAIL))
                         || (hdr.netcraq.op == OP_ACK
                             && (meta.role == ROLE_HEAD || meta.role == ROLE_REPLICA)))) {
                /* step 15 */
                meta.outcome = OUTCOME_DROP_UNEXPECTED_OP;
            } else if (((hdr.netcraq.op == OP_CHAIN_WRITE || hdr.netcraq.op == OP_SYNC)
                        && meta.from_predecessor == 0)
                       || (hdr.netcraq.op == OP_ACK && meta.from_successor == 0)
                       || ((hdr.netcraq.op == OP_SWEEP || hdr.netcraq.op == OP_RENEW)
                           && meta.from_controller == 0)) {
                /* step 15b */
                meta.outcome = OUTCOME_DROP_NOT_FROM_CHAIN;
            } else if (chain_op && hdr.chain_ext.epoch != meta.epoch) {
                /* step 15c */
                meta.outcome = OUTCOME_DROP_WRONG_EPOCH;
            } else if (hdr.netcraq.op == OP_RENEW) {
                /* §5.1 RENEW (§9.3): it names no key, so step 16 is skipped.
                 * It carries the lease's end in value bytes 0..4; 0 asks only
                 * for the clock. The end is granted only if it lies 1 to
                 * lease_ticks ticks ahead: (end - now - 1) mod 2^32 < lease_ticks. */
                bit<32> carried_end = hdr.netcraq.value[127:96];
                lease_clock.write(0, now);
                if (carried_end == 0) {
                    meta.outcome = OUTCOME_RENEW_CLOCK_ONLY;
                } else if (carried_end - now - 1 < meta.lease_ticks) {
                    lease_end.write(0, carried_end);
                    lease_held.write(0, 1);
                    meta.outcome = OUTCOME_LEASE_RENEWED;
                } else {
                    meta.outcome = OUTCOME_RENEW_LATE;
                }
            } else if ((bit<17>) idx < (bit<17>) meta.key_lo || (bit<17>) idx >= meta.key_hi) {
                /* step 16 */
                if (hdr.netcraq.op == OP_READ || hdr.netcraq.op == OP_WRITE) {
                    meta.outcome = OUTCOME_KEY_OUT_OF_RANGE;
                    hdr.netcraq.op = OP_ERROR;
                    hdr.netcraq.version = ERR_KEY_OUT_OF_RANGE;
                    meta.out_kind = OUT_REPLY;
                } else {
                    meta.outcome = OUTCOME_DROP_KEY_OUT_OF_RANGE;
                }
            } else {
                /* §5.1: the behaviour table. */
                kv_version.read(s, (bit<32>) idx);
                kv_acked.read(a, (bit<32>) idx);
                kv_value.read(stored, (bit<32>) idx);
                bit<8> v = hdr.netcraq.version;
                /* A full member has received every key; a syncing tail,
                 * those stored since its join (§10.4). */
                bit<32> received_in;
                kv_received.read(received_in, (bit<32>) idx);
                bool received = meta.sync_epoch == 0 || received_in == meta.sync_epoch;

                if (hdr.netcraq.op == OP_READ) {
                    key_reads.count((bit<32>) idx);
                    /* §2.1b: the lease is held when leases are off, or when
                     * lease_held is 1 and lease_end is 1 to 2^31 - 1 ticks
                     * ahead; read as lapsed, it stays lapsed. */
                    bool lapsed = false;
                    if (meta.lease_ticks != 0) {
                        bit<32> end;
                        bit<1> held;
                        lease_end.read(end, 0);
                        lease_held.read(held, 0);
                        bit<32> left = end - now;
                        if (held == 0 || left == 0 || left[31:31] == 1) {
                            lapsed = true;
                            lease_held.write(0, 0);
                        }
                    }
                    if (lapsed || !received) {
                        meta.outcome = OUTCOME_READ_NOT_SERVING;
                        hdr.netcraq.op = OP_ERROR;
                        hdr.netcraq.version = ERR_NOT_SERVING;
                        meta.out_kind = OUT_REPLY;
                    } else if (meta.role == ROLE_TAIL || meta.role == ROLE_SOLO
                        || (meta.mode == MODE_CRAQ && s == a)) {
                        meta.outcome = OUTCOME_READ_LOCAL;
                        hdr.netcraq.op = OP_READ_REPLY;
                        hdr.netcraq.version = s;
                        hdr.netcraq.value = stored;
                        meta.out_kind = OUT_REPLY;
                    } else {
                        meta.outcome = OUTCOME_READ_TO_TAIL;
                        meta.out_kind = OUT_FORWARD;
                        meta.out_dst = meta.tail_ip;
                    }
                } else if (hdr.netcraq.op == OP_WRITE) {
                    key_writes.count((bit<32>) idx);
                    if (meta.role != ROLE_HEAD && meta.role != ROLE_SOLO) {
                        meta.outcome = OUTCOME_WRITE_TO_HEAD;
                        meta.out_kind = OUT_FORWARD;
                        meta.out_dst = meta.head_ip;
                    } else {
                        bit<32> writer_ip;
                        bit<16> writer_port;
                        kv_writer_ip.read(writer_ip, (bit<32>) idx);
                        kv_writer_port.read(writer_port, (bit<32>) idx);
                        if (writer_ip == hdr.ipv4.src_addr && writer_port == hdr.udp.src_port
                            && stored == hdr.netcraq.value) {
                            /* §3.4 match */
                            meta.outcome = OUTCOME_WRITE_RETRANSMIT;
                            if (meta.role == ROLE_SOLO) {
                                hdr.netcraq.op = OP_WRITE_REPLY;
                                hdr.netcraq.version = s;
                                hdr.netcraq.value = stored;
                                meta.out_kind = OUT_REPLY;
                            } else {
                                hdr.netcraq.op = OP_CHAIN_WRITE;
                                meta.out_kind = OUT_STORED;
                                meta.out_dst = meta.successor_ip;
                            }
                        } else if (v != 0) {
                            meta.outcome = OUTCOME_WRITE_UNKNOWN;
                            hdr.netcraq.op = OP_ERROR;
                            hdr.netcraq.version = ERR_OUTCOME_UNKNOWN;
                            meta.out_kind = OUT_REPLY;
                        } else if (meta.role == ROLE_HEAD && s - a >= MAX_UNCOMMITTED_VERSIONS) {
                            /* §3.3: refuse, and re-send the stored version as
                             * the second output. */
                            meta.outcome = OUTCOME_WRITE_WINDOW_FULL;
                            hdr.netcraq.op = OP_ERROR;
                            hdr.netcraq.version = ERR_WINDOW_FULL;
                            meta.out_kind = OUT_REPLY;
                            meta.second = SECOND_RESEND;
                        } else {
                            bit<8> stamped = s + 1;
                            meta.outcome = OUTCOME_WRITE_STAMPED;
                            kv_value.write((bit<32>) idx, hdr.netcraq.value);
                            kv_version.write((bit<32>) idx, stamped);
                            kv_writer_ip.write((bit<32>) idx, hdr.ipv4.src_addr);
                            kv_writer_port.write((bit<32>) idx, hdr.udp.src_port);
                            kv_writer_id.write((bit<32>) idx, hdr.ipv4.identification);
                            kv_received.write((bit<32>) idx, meta.sync_epoch);
                            hdr.netcraq.version = stamped;
                            if (meta.role == ROLE_SOLO) {
                                kv_acked.write((bit<32>) idx, stamped);
                                hdr.netcraq.op = OP_WRITE_REPLY;
                                meta.out_kind = OUT_REPLY;
                            } else {
                                hdr.netcraq.op = OP_CHAIN_WRITE;
                                meta.out_kind = OUT_FORWARD;
                                meta.out_dst = meta.successor_ip;
                            }
                        }
                    }
                } else if (hdr.netcraq.op == OP_CHAIN_WRITE || hdr.netcraq.op == OP_SYNC) {
                    /* REPLICA or TAIL (step 15). A key that a syncing tail
                     * has not received holds a leftover, which any v
                     * replaces (§5.1). */
                    bit<8> ahead = v - s;
                    bool newer = !received || (ahead != 0 && ahead[7:7] == 0);
                    if (newer) {
                        kv_value.write((bit<32>) idx, hdr.netcraq.value);
                        kv_version.write((bit<32>) idx, v);
                        kv_writer_ip.write((bit<32>) idx, hdr.ipv4.src_addr);
                        kv_writer_port.write((bit<32>) idx, hdr.udp.src_port);
                        kv_writer_id.write((bit<32>) idx, hdr.ipv4.identification);
                        kv_received.write((bit<32>) idx, meta.sync_epoch);
                    }
                    if (hdr.netcraq.op == OP_SYNC) {
                        /* A committed version: stored clean, nothing sent. */
                        if (!received) {
                            meta.outcome = OUTCOME_KEY_RECEIVED;
                        } else if (newer) {
                            meta.outcome = OUTCOME_SYNC_APPLIED;
                        } else {
                            meta.outcome = OUTCOME_SYNC_STALE;
                        }
                        if (newer) {
                            kv_acked.write((bit<32>) idx, v);
                        }
                    } else if (meta.role == ROLE_REPLICA) {
                        meta.outcome = newer ? OUTCOME_CHAIN_WRITE_APPLIED : OUTCOME_CHAIN_WRITE_STALE;
                        meta.out_kind = OUT_FORWARD;
                        meta.out_dst = meta.successor_ip;
                    } else {
                        if (newer) {
                            kv_acked.write((bit<32>) idx, v);
                        }
                        if (!received) {
                            meta.outcome = OUTCOME_KEY_RECEIVED;
                        } else if (newer) {
                            meta.outcome = OUTCOME_COMMIT_APPLIED;
                        } else {
                            meta.outcome = OUTCOME_COMMIT_DUPLICATE;
                        }
                        /* WRITE_REPLY now; the ACK as the second output. */
                        hdr.netcraq.op = OP_WRITE_REPLY;
                        meta.out_kind = OUT_REPLY;
                        meta.second = SECOND_ACK;
                    }
                } else if (hdr.netcraq.op == OP_SWEEP) {
                    /* §10.1: push the key one step toward the tail. */
                    bool dirty = s != a;
                    if (meta.role == ROLE_HEAD || meta.role == ROLE_REPLICA) {
                        /* The stored version: re-sent if dirty, copied if clean. */
                        if (dirty) {
                            meta.outcome = OUTCOME_SWEEP_RESENT;
                            hdr.netcraq.op = OP_CHAIN_WRITE;
                        } else {
                            meta.outcome = OUTCOME_SWEEP_COPIED;
                            hdr.netcraq.op = OP_SYNC;
                        }
                        meta.out_kind = OUT_STORED;
                        meta.out_dst = meta.successor_ip;
                    } else if (dirty && (meta.role == ROLE_SOLO || received)) {
                        /* What the tail holds is committed. */
                        kv_acked.write((bit<32>) idx, s);
                        meta.outcome = OUTCOME_SWEEP_COMMITTED;
                        if (meta.role == ROLE_TAIL) {
                            hdr.netcraq.op = OP_ACK;
                            meta.out_kind = OUT_STORED;
                            meta.out_dst = meta.predecessor_ip;
                        }
                    } else {
                        meta.outcome = OUTCOME_SWEEP_CLEAN;
                    }
                } else {
                    /* ACK at HEAD or REPLICA (step 15). */
                    bit<8> over_acked = v - a;
                    bit<8> over_stored = v - s;
                    bool newer_than_acked = over_acked != 0 && over_acked[7:7] == 0;
                    bool newer_than_stored = over_stored != 0 && over_stored[7:7] == 0;
                    if (newer_than_acked && !newer_than_stored) {
                        kv_acked.write((bit<32>) idx, v);
                    }
                    if (meta.role == ROLE_REPLICA) {
                        meta.outcome = OUTCOME_ACK_FORWARDED;
                        meta.out_kind = OUT_FORWARD;
                        meta.out_dst = meta.predecessor_ip;
                    } else {
                        meta.outcome = OUTCOME_ACK_CONSUMED;
                    }
                }
            }
        }

        /* §4.4: the stored version as hdr.netcraq.op, addressed as its
         * writer's request: a re-send, a sweep's copy or a sweep's ACK. */
        if (meta.out_kind == OUT_STORED) {
            bit<32> resend_ip;
            bit<16> resend_port;
            bit<16> resend_id;
            kv_version.read(s, (bit<32>) idx);
            kv_value.read(stored, (bit<32>) idx);
            kv_writer_ip.read(resend_ip, (bit<32>) idx);
            kv_writer_port.read(resend_port, (bit<32>) idx);
            kv_writer_id.read(resend_id, (bit<32>) idx);
            hdr.netcraq.version = s;
            hdr.netcraq.value = stored;
            hdr.ipv4.src_addr = resend_ip;
            hdr.udp.src_port = resend_port;
            hdr.ipv4.identification = resend_id;
            meta.out_kind = OUT_FORWARD;
        }

        /* §4.3: addressing of replies and forwards. */
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

        /* §4.2: every output. */
        if (meta.out_kind != OUT_NONE) {
            hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
            meta.rewrite_csum = 1;
            hdr.ethernet.src_addr = meta.own_mac;
            if (meta.out_kind != OUT_TRANSIT) {
                /* Replies, forwards and re-sends are NetCRAQ frames of their
                 * op's length, whatever padding the received frame had. */
                hdr.udp.checksum = 0;
                if (is_chain_op(hdr.netcraq.op)) {
                    hdr.chain_ext.setValid();
                    hdr.chain_ext.epoch = meta.epoch;
                    hdr.ipv4.total_len = CHAIN_IPV4_LEN;
                    hdr.udp.length = CHAIN_UDP_LEN;
                    truncate(CHAIN_FRAME_LEN);
                } else {
                    hdr.chain_ext.setInvalid();
                    hdr.ipv4.total_len = NETCRAQ_IPV4_LEN;
                    hdr.udp.length = NETCRAQ_UDP_LEN;
                    truncate(NETCRAQ_FRAME_LEN);
                }
            }
            ipv4_route.apply();
        }

        /* The second output: a copy of the received frame, recirculated by
         * egress, builds it in its own pass. */
        if (meta.second != SECOND_NONE && meta.has_outcome == 1) {
            clone_preserving_field_list(CloneType.I2E, (bit<32>) NETCRAQ_SECOND_OUTPUT_SESSION,
                                        FIELD_LIST_SECOND);
        }

        if (meta.has_outcome == 1) {
            outcomes.count((bit<32>) meta.outcome);
        }
    }
}

/* ------------------------------------------------------------------ egress */

control NetcraqEgress(inout headers_t hdr,
                      inout metadata_t meta,
                      inout standard_metadata_t std_meta) {
    apply {
        /* The copy made for a second output goes back to ingress, carrying
         * meta.second; it is never sent from the clone session's port. */
        if (std_meta.instance_type == INSTANCE_TYPE_INGRESS_CLONE) {
            recirculate_preserving_field_list(FIELD_LIST_SECOND);
        }
    }
}

/* §4.2: IPv4 header checksum computed afresh on every output. */
control NetcraqComputeChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply {
        update_checksum(
            meta.rewrite_csum == 1,
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.tos, hdr.ipv4.total_len,
              hdr.ipv4.identification, hdr.ipv4.flag_reserved, hdr.ipv4.flag_df,
              hdr.ipv4.flag_mf, hdr.ipv4.frag_offset, hdr.ipv4.ttl, hdr.ipv4.protocol,
              hdr.ipv4.src_addr, hdr.ipv4.dst_addr },
            hdr.ipv4.hdr_checksum,
            HashAlgorithm.csum16);
    }
}

control NetcraqDeparser(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.ethernet);
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.udp);
        pkt.emit(hdr.netcraq);
        pkt.emit(hdr.chain_ext);
    }
}

V1Switch(NetcraqParser(),
         NetcraqVerifyChecksum(),
         NetcraqIngress(),
         NetcraqEgress(),
         NetcraqComputeChecksum(),
         NetcraqDeparser()) main;
