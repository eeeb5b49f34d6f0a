/* NetCRAQ wire format and constants, shared by netcraq.p4 (v1model) and
 * netcraq_tna.p4 (TNA). docs/protocol.md is the contract; section numbers
 * below refer to it. Architecture-neutral: include after core.p4 and the
 * architecture's own include. */

#ifndef NETCRAQ_HEADERS_P4
#define NETCRAQ_HEADERS_P4

/* §1: Ethernet II / IPv4 / UDP / NetCRAQ, 62 bytes; a chain frame (§1.2)
 * adds the 4-byte chain extension (§1.4), 66 bytes. */
const bit<16> ETHERTYPE_IPV4    = 0x0800;
const bit<8>  IP_PROTOCOL_UDP   = 17;
const bit<16> NETCRAQ_UDP_PORT  = 20035;    /* 0x4E43, "NC" */
const bit<32> NETCRAQ_FRAME_LEN = 62;
const bit<16> NETCRAQ_IPV4_LEN  = 48;       /* IPv4 total length of a NetCRAQ frame */
const bit<16> NETCRAQ_UDP_LEN   = 28;       /* UDP length of a NetCRAQ frame */
const bit<32> CHAIN_FRAME_LEN   = 66;
const bit<16> CHAIN_IPV4_LEN    = 52;       /* IPv4 total length of a chain frame */
const bit<16> CHAIN_UDP_LEN     = 32;       /* UDP length of a chain frame */
const bit<16> MIN_UDP_IPV4_LEN  = 28;       /* §5 step 11 */

/* §1.2 operation codes. */
const bit<8> OP_READ        = 1;
const bit<8> OP_WRITE       = 2;
const bit<8> OP_READ_REPLY  = 3;
const bit<8> OP_WRITE_REPLY = 4;
const bit<8> OP_ACK         = 5;
const bit<8> OP_ERROR       = 6;
const bit<8> OP_CHAIN_WRITE = 7;
const bit<8> OP_SYNC        = 8;
const bit<8> OP_SWEEP       = 9;
const bit<8> OP_RENEW       = 10;

/* The chain ops (§1.2): only chain nodes and the control plane send them,
 * always as chain frames. */
bool is_chain_op(in bit<8> op) {
    return op == OP_CHAIN_WRITE || op == OP_ACK || op == OP_SYNC || op == OP_SWEEP || op == OP_RENEW;
}

/* §1.3 error codes, carried in `version` of an ERROR reply. */
const bit<8> ERR_KEY_OUT_OF_RANGE = 1;
const bit<8> ERR_OUTCOME_UNKNOWN  = 2;
const bit<8> ERR_WINDOW_FULL      = 3;
const bit<8> ERR_NOT_SERVING      = 4;

/* §2.3 node_config: roles and modes. */
const bit<8> ROLE_HEAD    = 1;
const bit<8> ROLE_REPLICA = 2;
const bit<8> ROLE_TAIL    = 3;
const bit<8> ROLE_SOLO    = 4;
const bit<8> MODE_CRAQ    = 0;
const bit<8> MODE_CR      = 1;

/* §3.3: at most 127 uncommitted versions per key. */
const bit<8> MAX_UNCOMMITTED_VERSIONS = 127;

/* §6 outcome codes: the index into the `outcomes` counter. */
const bit<8> OUTCOME_READ_LOCAL            = 0;
const bit<8> OUTCOME_READ_TO_TAIL          = 1;
const bit<8> OUTCOME_WRITE_TO_HEAD         = 2;
const bit<8> OUTCOME_WRITE_STAMPED         = 3;
const bit<8> OUTCOME_WRITE_RETRANSMIT      = 4;
const bit<8> OUTCOME_WRITE_WINDOW_FULL     = 5;
const bit<8> OUTCOME_WRITE_UNKNOWN         = 6;
const bit<8> OUTCOME_CHAIN_WRITE_APPLIED   = 7;
const bit<8> OUTCOME_CHAIN_WRITE_STALE     = 8;
const bit<8> OUTCOME_COMMIT_APPLIED        = 9;
const bit<8> OUTCOME_COMMIT_DUPLICATE      = 10;
const bit<8> OUTCOME_ACK_FORWARDED         = 11;
const bit<8> OUTCOME_ACK_CONSUMED          = 12;
const bit<8> OUTCOME_KEY_OUT_OF_RANGE      = 13;
const bit<8> OUTCOME_TRANSIT               = 14;
const bit<8> OUTCOME_DROP_UNCONFIGURED     = 15;
const bit<8> OUTCOME_DROP_TRUNCATED        = 16;
const bit<8> OUTCOME_DROP_WRONG_MAC        = 17;
const bit<8> OUTCOME_DROP_NOT_IPV4         = 18;
const bit<8> OUTCOME_DROP_IPV4_MALFORMED   = 19;
const bit<8> OUTCOME_DROP_IPV4_CHECKSUM    = 20;
const bit<8> OUTCOME_DROP_TTL_EXPIRED      = 21;
const bit<8> OUTCOME_DROP_FRAGMENT         = 22;
const bit<8> OUTCOME_DROP_NOT_UDP          = 23;
const bit<8> OUTCOME_DROP_BAD_LENGTH       = 24;
const bit<8> OUTCOME_DROP_WRONG_PORT       = 25;
const bit<8> OUTCOME_DROP_UNKNOWN_OP       = 26;
const bit<8> OUTCOME_DROP_UNEXPECTED_OP    = 27;
const bit<8> OUTCOME_DROP_KEY_OUT_OF_RANGE = 28;
const bit<8> OUTCOME_NO_ROUTE              = 29;
const bit<8> OUTCOME_DROP_NOT_FROM_CHAIN   = 30;
const bit<8> OUTCOME_DROP_WRONG_EPOCH      = 31;
const bit<8> OUTCOME_READ_NOT_SERVING      = 32;
const bit<8> OUTCOME_KEY_RECEIVED          = 33;
const bit<8> OUTCOME_SYNC_APPLIED          = 34;
const bit<8> OUTCOME_SYNC_STALE            = 35;
const bit<8> OUTCOME_SWEEP_RESENT          = 36;
const bit<8> OUTCOME_SWEEP_COPIED          = 37;
const bit<8> OUTCOME_SWEEP_COMMITTED       = 38;
const bit<8> OUTCOME_SWEEP_CLEAN           = 39;
const bit<8> OUTCOME_LEASE_RENEWED         = 40;
const bit<8> OUTCOME_RENEW_CLOCK_ONLY      = 41;
const bit<8> OUTCOME_RENEW_LATE            = 42;
const bit<32> OUTCOME_COUNT                = 43;

/* Which output a node builds (§4.3, §4.4). */
const bit<3> OUT_NONE    = 0;
const bit<3> OUT_REPLY   = 1;  /* to the client: src own_ip/20035, dst received src ip/port */
const bit<3> OUT_FORWARD = 2;  /* to a node: src kept, dst out_dst/20035 */
const bit<3> OUT_STORED  = 3;  /* §4.4: the stored version as the chosen op, to out_dst, addressed as its writer */
const bit<3> OUT_TRANSIT = 4;  /* §5 step 8: unchanged but for TTL, checksum and MACs */

/* The second output of a frame (§5.1): emitted by a later pass over a copy
 * of the received frame. */
const bit<8> SECOND_NONE   = 0;
const bit<8> SECOND_ACK    = 1;  /* tail: ACK (op 5) to predecessor_ip */
const bit<8> SECOND_RESEND = 2;  /* head, full window: re-send the stored version */

/* The packet-replication session that carries the second output. The
 * controller programs it on P4 targets only (p4/README.md). */
const bit<16> NETCRAQ_SECOND_OUTPUT_SESSION = 100;

header ethernet_h {
    bit<48> dst_addr;
    bit<48> src_addr;
    bit<16> ether_type;
}

header ipv4_h {
    bit<4>  version;
    bit<4>  ihl;
    bit<8>  tos;
    bit<16> total_len;
    bit<16> identification;
    bit<1>  flag_reserved;
    bit<1>  flag_df;
    bit<1>  flag_mf;
    bit<13> frag_offset;
    bit<8>  ttl;
    bit<8>  protocol;
    bit<16> hdr_checksum;
    bit<32> src_addr;
    bit<32> dst_addr;
}

header udp_h {
    bit<16> src_port;
    bit<16> dst_port;
    bit<16> length;
    bit<16> checksum;
}

/* §1.1: the 20-byte NetCRAQ header. */
header netcraq_h {
    bit<8>   op;
    bit<8>   version;
    bit<16>  key;
    bit<128> value;
}

/* §1.4: the chain extension, after the NetCRAQ header of a chain frame. */
header chain_ext_h {
    bit<32> epoch;
}

#endif /* NETCRAQ_HEADERS_P4 */
