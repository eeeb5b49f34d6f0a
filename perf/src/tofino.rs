//! The comparison model with Tofino: how many passes through the pipeline
//! each operation takes in `p4/netcraq_tna.p4`, and the rates this gives.
//!
//! Nothing here is measured: the passes are read from the program (and
//! [`check_program`] checks that the constructs they rest on are still
//! there), the rates follow from Tofino 1's one packet per clock per pipe
//! and the assumptions in [`ModelParameters`].

use crate::ceiling::classes::OpClass;
use netcraq_wire::{CHAIN_FRAME_LEN, NETCRAQ_FRAME_LEN};

/// Ethernet's frame check sequence, minimum frame (with FCS), preamble with
/// start delimiter, and inter-frame gap, in bytes.
pub const FCS_BYTES: usize = 4;
pub const MIN_FRAME_BYTES: usize = 64;
pub const PREAMBLE_BYTES: usize = 8;
pub const IFG_BYTES: usize = 12;
/// What egress sends out of the recirculation port for a tail's ACK: the
/// received CHAIN_WRITE (a chain frame) behind the one-byte `second_h` header.
pub const RECIRCULATED_FRAME_BYTES: usize = CHAIN_FRAME_LEN + 1;

/// Bytes a frame of `frame_bytes` (without FCS) occupies on an Ethernet
/// link: padded to the minimum, FCS, preamble and inter-frame gap.
pub fn wire_bytes(frame_bytes: usize) -> usize {
    (frame_bytes + FCS_BYTES).max(MIN_FRAME_BYTES) + PREAMBLE_BYTES + IFG_BYTES
}

/// Frames per second of `frame_bytes` that fill a link of `gbps`.
pub fn line_rate_fps(gbps: f64, frame_bytes: usize) -> f64 {
    gbps * 1e9 / (wire_bytes(frame_bytes) * 8) as f64
}

/// The Tofino program's side of the operation classes `bench ceiling` measures.
impl OpClass {
    /// The passes one frame of this class takes through one switch.
    pub fn passes(self) -> Passes {
        let one = Passes { ingress: 1, egress: 1, resubmits: 0, mirrored_copies: 0, recirculations: 0 };
        match self {
            OpClass::CleanRead | OpClass::ReadToTail | OpClass::ChainWrite => one,
            OpClass::HeadWrite => Passes { ingress: 2, resubmits: 1, ..one },
            OpClass::TailCommit => {
                Passes { ingress: 2, egress: 3, resubmits: 0, mirrored_copies: 1, recirculations: 1 }
            }
            OpClass::MalformedDrop => Passes { egress: 0, ..one },
        }
    }

    /// How the frame goes through the program, construct by construct.
    pub fn path(self) -> &'static str {
        match self {
            OpClass::CleanRead => {
                "FRESH pass: classify read() plans a READ (and reads kv_received and lease_end), the next stages read \
                 kv_version (version_read), lease_held, kv_acked, value and writer, behave read_local() replies; \
                 one egress pass"
            }
            OpClass::ReadToTail => {
                "FRESH pass: classify read() plans a READ, its registers are read as a clean read's, behave \
                 read_to_tail() forwards to the tail (which then spends a clean read's passes); one egress pass"
            }
            OpClass::HeadWrite => {
                "FRESH pass: classify write_here() plans a WRITE, kv_version is read (version_read), behave \
                 stamp_next_pass() resubmits (nothing leaves); STAMP pass (parse_resubmit): classify stamp() plans \
                 the stamp, version_cas compare-and-sets kv_version, value and writer are written, behave \
                 stamped_forward() sends the CHAIN_WRITE; one egress pass"
            }
            OpClass::ChainWrite => {
                "FRESH pass: classify chain_write(PLAN_CHAIN_WRITE, 0) at a replica, version_chain stores a newer \
                 version, value and writer are written, behave chain_forward() forwards to the successor; one \
                 egress pass"
            }
            OpClass::TailCommit => {
                "FRESH pass: classify chain_write(PLAN_CHAIN_WRITE, 1) at the tail, version_chain stores, behave \
                 commit() replies and mirror_second(SECOND_ACK) mirrors the received frame; egress passes: the \
                 reply, the copy out of the recirculation port (second_h in front); SECOND pass (parse_second on \
                 NETCRAQ_RECIRC_PORT): classify second_ack() forwards the ACK to the predecessor; egress pass of \
                 the ACK"
            }
            OpClass::MalformedDrop => {
                "FRESH pass: classify drop_frame() counts the outcome; drop_ctl = 1, no egress pass"
            }
        }
    }

    /// The constructs of `netcraq_tna.p4` the passes rest on. `classify`
    /// plans what a pass does; the register accesses the plan selects are
    /// in `NetcraqIngress`'s apply block, after it.
    pub fn evidence(self) -> &'static [Construct] {
        const NO_SECOND: &[&str] = &["mirror_second", "resubmit_type"];
        const READ: Construct = Construct::new("action", "read", &["meta.plan = PLAN_READ;"], NO_SECOND);
        const READ_VERSION: Construct = Construct::new(
            "control",
            "NetcraqIngress",
            &["if (meta.plan == PLAN_READ || meta.plan == PLAN_WRITE", "meta.s = version_read.execute(idx);"],
            &[],
        );
        const CHAIN_WRITE: Construct = Construct::new("action", "chain_write", &["meta.plan = plan;"], NO_SECOND);
        const STORE_NEWER: Construct = Construct::new(
            "control",
            "NetcraqIngress",
            &[
                "meta.plan == PLAN_CHAIN_WRITE || meta.plan == PLAN_SYNC",
                "meta.ver_ok = (bit<1>) version_chain.execute(idx);",
            ],
            &[],
        );
        match self {
            OpClass::CleanRead => {
                const E: &[Construct] = &[
                    READ,
                    READ_VERSION,
                    Construct::new("action", "read_local", &["reply();"], NO_SECOND),
                    Construct::new("table", "behave", &[": read_local();"], &[]),
                ];
                E
            }
            OpClass::ReadToTail => {
                const E: &[Construct] = &[
                    READ,
                    READ_VERSION,
                    Construct::new("action", "read_to_tail", &["forward_request(meta.tail_ip);"], NO_SECOND),
                    Construct::new("table", "behave", &[": read_to_tail();"], &[]),
                ];
                E
            }
            OpClass::HeadWrite => {
                const E: &[Construct] = &[
                    Construct::new("action", "write_here", &["meta.plan = PLAN_WRITE;"], NO_SECOND),
                    READ_VERSION,
                    Construct::new("action", "stamp_next_pass", &["ig_dprsr_md.resubmit_type = 1;"], &[]),
                    Construct::new("state", "parse_resubmit", &["pkt.extract(hdr.resubmit);"], &[]),
                    Construct::new("action", "stamp", &["meta.plan = PLAN_STAMP;"], NO_SECOND),
                    Construct::new(
                        "control",
                        "NetcraqIngress",
                        &["meta.plan == PLAN_STAMP", "meta.ver_ok = (bit<1>) version_cas.execute(idx);"],
                        &[],
                    ),
                    Construct::new("action", "stamped_forward", &["forward_chain(meta.successor_ip);"], NO_SECOND),
                ];
                E
            }
            OpClass::ChainWrite => {
                const E: &[Construct] = &[
                    Construct::new("table", "classify", &[": chain_write(PLAN_CHAIN_WRITE, 0);"], &[]),
                    CHAIN_WRITE,
                    STORE_NEWER,
                    Construct::new("table", "behave", &[": chain_forward(OUTCOME_CHAIN_WRITE_APPLIED);"], &[]),
                    Construct::new("action", "chain_forward", &["forward_chain(meta.successor_ip);"], NO_SECOND),
                ];
                E
            }
            OpClass::TailCommit => {
                const E: &[Construct] = &[
                    Construct::new("table", "classify", &[": chain_write(PLAN_CHAIN_WRITE, 1);"], &[]),
                    CHAIN_WRITE,
                    STORE_NEWER,
                    Construct::new("table", "behave", &[": commit(OUTCOME_COMMIT_APPLIED);"], &[]),
                    Construct::new("action", "commit", &["reply();", "mirror_second(SECOND_ACK);"], &[]),
                    Construct::new("action", "mirror_second", &["ig_dprsr_md.mirror_type = MIRROR_TYPE_SECOND;"], &[]),
                    Construct::new("control", "NetcraqIngressDeparser", &["mirror.emit<mirror_h>"], &[]),
                    Construct::new("control", "NetcraqEgress", &["hdr.second.setValid();"], &[]),
                    Construct::new("state", "parse_port_metadata", &["NETCRAQ_RECIRC_PORT: parse_second;"], &[]),
                    Construct::new(
                        "action",
                        "second_ack",
                        &["OP_ACK", "forward_chain(meta.predecessor_ip);"],
                        NO_SECOND,
                    ),
                ];
                E
            }
            OpClass::MalformedDrop => {
                const E: &[Construct] = &[
                    Construct::new(
                        "action",
                        "drop_frame",
                        &["decide(outcome);"],
                        &["reply", "forward", "mirror_second"],
                    ),
                    Construct::new("control", "NetcraqIngress", &["ig_dprsr_md.drop_ctl = 1;"], &[]),
                ];
                E
            }
        }
    }
}

/// Passes of one frame through one pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passes {
    /// Passes through the ingress pipeline (the received frame, a resubmit, a recirculated copy).
    pub ingress: u32,
    /// Frames through the egress pipeline (outputs, and copies on their way to recirculation).
    pub egress: u32,
    pub resubmits: u32,
    pub mirrored_copies: u32,
    /// Frames through the recirculation port.
    pub recirculations: u32,
}

/// A named construct of the P4 program with text its body must and must not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Construct {
    /// `action`, `table`, `state` (a parser state) or `control`.
    pub kind: &'static str,
    pub name: &'static str,
    pub contains: &'static [&'static str],
    pub lacks: &'static [&'static str],
}

impl Construct {
    pub const fn new(
        kind: &'static str,
        name: &'static str,
        contains: &'static [&'static str],
        lacks: &'static [&'static str],
    ) -> Construct {
        Construct { kind, name, contains, lacks }
    }

    /// The 1-based line it starts on in `source`, and its body (from the
    /// first `{` after its name to the matching `}`).
    pub fn find<'a>(&self, source: &'a str) -> Option<(usize, &'a str)> {
        let start = [format!("{} {}(", self.kind, self.name), format!("{} {} {{", self.kind, self.name)]
            .iter()
            .filter_map(|pattern| source.match_indices(pattern.as_str()).map(|(i, _)| i).next())
            .min()?;
        let open = start + source[start..].find('{')?;
        let mut depth = 0usize;
        for (offset, character) in source[open..].char_indices() {
            match character {
                '{' => depth += 1,
                '}' if depth == 1 => {
                    let line = source[..start].matches('\n').count() + 1;
                    return Some((line, &source[open..=open + offset]));
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        None
    }

    /// Where it is, or what is wrong with it.
    pub fn check(&self, source: &str) -> Result<usize, String> {
        let (line, body) = self.find(source).ok_or_else(|| format!("{} {} is gone", self.kind, self.name))?;
        if let Some(missing) = self.contains.iter().find(|text| !body.contains(*text)) {
            return Err(format!("{} {} (line {line}) no longer has `{missing}`", self.kind, self.name));
        }
        if let Some(found) = self.lacks.iter().find(|text| body.contains(*text)) {
            return Err(format!("{} {} (line {line}) now has `{found}`", self.kind, self.name));
        }
        Ok(line)
    }
}

/// A class's constructs, each with the line it starts on.
pub type ClassConstructs = (OpClass, Vec<(Construct, usize)>);

/// Every class's constructs with the line each starts on, or the first
/// that no longer holds (the pass table is then stale).
pub fn check_program(source: &str) -> Result<Vec<ClassConstructs>, String> {
    OpClass::ALL
        .iter()
        .map(|class| {
            let located = class.evidence().iter().map(|c| c.check(source).map(|line| (*c, line)));
            Ok((*class, located.collect::<Result<Vec<_>, String>>().map_err(|e| format!("{}: {e}", class.name()))?))
        })
        .collect()
}

/// The model's assumptions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelParameters {
    /// The pipeline clock; one packet per clock per pipe.
    pub clock_ghz: f64,
    pub pipes_per_chip: u32,
    /// Bandwidth of the recirculation port the second outputs loop through.
    pub recirculation_gbps: f64,
    /// The Ethernet port the cores are compared against.
    pub port_gbps: f64,
}

/// What bounds a class's rate per pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Ingress,
    Egress,
    Recirculation,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Limit::Ingress => "ingress passes",
            Limit::Egress => "egress passes",
            Limit::Recirculation => "recirculation port",
        }
    }
}

impl ModelParameters {
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, value: f64, max: f64| match value > 0.0 && value <= max {
            true => Ok(()),
            false => Err(format!("{name} {value}: give more than 0 and at most {max}")),
        };
        positive("clock", self.clock_ghz, 10.0)?;
        positive("recirculation bandwidth", self.recirculation_gbps, 10_000.0)?;
        positive("port bandwidth", self.port_gbps, 10_000.0)?;
        match self.pipes_per_chip {
            1..=64 => Ok(()),
            pipes => Err(format!("{pipes} pipes: give 1 to 64")),
        }
    }

    /// Operations per second one pipe sustains for `passes`, and what bounds it:
    /// the clock shared by ingress passes, by egress passes, and the
    /// recirculation port's frames per second shared by recirculations.
    pub fn per_pipe_ops_per_s(&self, passes: Passes) -> (f64, Limit) {
        let clock_hz = self.clock_ghz * 1e9;
        let mut bound = (clock_hz / f64::from(passes.ingress.max(1)), Limit::Ingress);
        if passes.egress > 0 && clock_hz / f64::from(passes.egress) < bound.0 {
            bound = (clock_hz / f64::from(passes.egress), Limit::Egress);
        }
        let recirculation_fps = line_rate_fps(self.recirculation_gbps, RECIRCULATED_FRAME_BYTES);
        if passes.recirculations > 0 && recirculation_fps / f64::from(passes.recirculations) < bound.0 {
            bound = (recirculation_fps / f64::from(passes.recirculations), Limit::Recirculation);
        }
        bound
    }

    /// NetCRAQ frames per second that fill one port (62-byte frames on the wire).
    pub fn port_fps(&self) -> f64 {
        line_rate_fps(self.port_gbps, NETCRAQ_FRAME_LEN)
    }
}

/// Cores of `per_core_per_s` needed for `target_per_s`, rounded up.
pub fn cores_needed(target_per_s: f64, per_core_per_s: f64) -> Option<u64> {
    (per_core_per_s > 0.0).then(|| (target_per_s / per_core_per_s).ceil() as u64)
}

/// Keys per switch and the resources behind them, from the Tofino
/// compiler's report recorded in p4/README.md ("Stages"); CI has no Tofino
/// compiler, so the figures are recorded, not measured per run.
pub struct RecordedFit {
    pub keys_per_switch: u32,
    pub ingress_stages: &'static str,
    pub egress_stages: &'static str,
    pub sram_blocks: &'static str,
    pub tcam_blocks: &'static str,
    pub compiler: &'static str,
    pub recorded_in: &'static str,
}

pub const RECORDED_FIT: RecordedFit = RecordedFit {
    keys_per_switch: 65_536,
    ingress_stages: "12 of 12",
    egress_stages: "1 of 12",
    sram_blocks: "221 of 960",
    tcam_blocks: "12 of 288",
    compiler: "p4c-barefoot v1.2.5.16 (open-source Tofino backend), --target tofino --arch tna",
    recorded_in: "p4/README.md (\"Stages\"), compiled 2026-12-07 with reconfiguration (§10), the carried lease end \
                  and key_group (§11)",
};

/// A published figure, quoted with where it comes from.
pub struct PublishedFigure {
    pub system: &'static str,
    pub figure: &'static str,
    pub source: &'static str,
}

pub const PUBLISHED: [PublishedFigure; 5] = [
    PublishedFigure {
        system: "Tofino 1 (Intel)",
        figure: "each match-action pipeline processes one packet per clock: 1.22e9 packets per second per pipe at \
                 1.22 GHz",
        source: "vgurevich (Intel), p4lang/open-p4studio issue #64, comment of 2025-01-31, \
                 https://github.com/p4lang/open-p4studio/issues/64",
    },
    PublishedFigure {
        system: "NetCache (SOSP'17)",
        figure: "a single switch can process 2+ billion queries per second for 64K items with 16-byte keys and \
                 128-byte values",
        source: "Jin et al., NetCache: Balancing Key-Value Stores with Fast In-Network Caching, SOSP 2017, \
                 abstract, doi:10.1145/3132747.3132764",
    },
    PublishedFigure {
        system: "NetCache (SOSP'17)",
        figure: "improves throughput by 3-10x and reduces the latency of up to 40% of queries by 50%, for \
                 high-performance in-memory key-value stores",
        source: "same abstract",
    },
    PublishedFigure {
        system: "NetChain (NSDI'18)",
        figure: "prototype of four Barefoot Tofino switches and four commodity servers; orders of magnitude higher \
                 throughput and lower latency than server-based solutions like ZooKeeper",
        source: "Jin et al., NetChain: Scale-Free Sub-RTT Coordination, NSDI 2018, abstract (arXiv:1802.08236)",
    },
    PublishedFigure {
        system: "NetChain (NSDI'18)",
        figure: "9.7 microseconds for both reads and writes, scalability on the order of tens of billions of \
                 operations per second",
        source: "A. Colyer's summary of the paper (secondary source), \
                 https://blog.acolyer.org/2018/04/30/netchain-scale-free-sub-rtt-coordination/",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMETERS: ModelParameters =
        ModelParameters { clock_ghz: 1.22, pipes_per_chip: 4, recirculation_gbps: 100.0, port_gbps: 100.0 };

    fn tna_source() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../p4/netcraq_tna.p4");
        std::fs::read_to_string(path).expect("p4/netcraq_tna.p4")
    }

    #[test]
    fn a_100_gbe_port_carries_145_million_netcraq_frames_per_second() {
        assert_eq!(wire_bytes(NETCRAQ_FRAME_LEN), 62 + 4 + 8 + 12);
        assert_eq!(wire_bytes(10), 64 + 20, "short frames are padded to 64 bytes");
        let mpps = PARAMETERS.port_fps() / 1e6;
        assert!((mpps - 145.35).abs() < 0.01, "{mpps}");
        assert!((line_rate_fps(10.0, 60) / 1e6 - 14.88).abs() < 0.01, "the classic 14.88 Mpps of 10 GbE");
    }

    #[test]
    fn the_pipe_rate_is_the_clock_over_the_busiest_resource() {
        let clean = PARAMETERS.per_pipe_ops_per_s(OpClass::CleanRead.passes());
        assert_eq!(clean, (1.22e9, Limit::Ingress));
        let head = PARAMETERS.per_pipe_ops_per_s(OpClass::HeadWrite.passes());
        assert_eq!(head, (0.61e9, Limit::Ingress));
        // Tail commit: 3 egress passes (406.7 M/s) but the recirculation
        // port's 67-byte copies at 100 Gb/s: 100e9 / (91 * 8) = 137.4 M/s.
        let (commit, limit) = PARAMETERS.per_pipe_ops_per_s(OpClass::TailCommit.passes());
        assert_eq!(limit, Limit::Recirculation);
        assert!((commit / 1e6 - 137.36).abs() < 0.01, "{commit}");
        let faster = ModelParameters { recirculation_gbps: 400.0, ..PARAMETERS };
        assert_eq!(faster.per_pipe_ops_per_s(OpClass::TailCommit.passes()), (1.22e9 / 3.0, Limit::Egress));
        assert_eq!(PARAMETERS.per_pipe_ops_per_s(OpClass::MalformedDrop.passes()), (1.22e9, Limit::Ingress));
    }

    #[test]
    fn cores_are_rounded_up() {
        assert_eq!(cores_needed(1.22e9, 3.0e6), Some(407));
        assert_eq!(cores_needed(6.0e6, 3.0e6), Some(2));
        assert_eq!(cores_needed(1.0, 0.0), None);
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert_eq!(PARAMETERS.validate(), Ok(()));
        assert!(ModelParameters { clock_ghz: 0.0, ..PARAMETERS }.validate().is_err());
        assert!(ModelParameters { recirculation_gbps: f64::NAN, ..PARAMETERS }.validate().is_err());
        assert!(ModelParameters { pipes_per_chip: 0, ..PARAMETERS }.validate().is_err());
    }

    /// The pass table rests on these constructs of netcraq_tna.p4: if one
    /// changes, the table must be re-derived.
    #[test]
    fn the_pass_table_matches_the_tofino_program() {
        let source = tna_source();
        let located = check_program(&source).unwrap_or_else(|stale| panic!("the pass table is stale: {stale}"));
        assert_eq!(located.len(), OpClass::ALL.len());
        assert!(located.iter().all(|(_, constructs)| constructs.iter().all(|(_, line)| *line > 0)));
        // The passes the table counts are the program's only loops back to
        // ingress: SYNC, SWEEP and RENEW take one pass each.
        assert_eq!(source.matches("resubmit_type = 1").count(), 1);
        assert_eq!(source.matches("mirror_second(SECOND_").count(), 2, "commit and window_full");
        assert!(source.contains("#define NETCRAQ_KEYS 65536"));
    }

    #[test]
    fn the_checks_catch_a_changed_program() {
        let source = tna_source();
        let mirrored_read =
            source.replacen("decide(OUTCOME_READ_LOCAL);", "decide(OUTCOME_READ_LOCAL); mirror_second(SECOND_ACK);", 1);
        let error = check_program(&mirrored_read).unwrap_err();
        assert!(error.contains("clean_read") && error.contains("mirror_second"), "{error}");
        let unread = source.replace("meta.s = version_read.execute(idx);", "meta.s = 0;");
        let error = check_program(&unread).unwrap_err();
        assert!(error.starts_with("clean_read: control NetcraqIngress") && error.contains("version_read"), "{error}");
        let renamed = source.replace("action second_ack(", "action second_acknowledge(");
        assert!(check_program(&renamed).unwrap_err().contains("second_ack is gone"));
        let body = Construct::new("action", "a", &[], &[]).find("x action a(bit<8> b) { if (c) { d(); } }\nnext");
        assert_eq!(body, Some((1, "{ if (c) { d(); } }")));
    }

    #[test]
    fn the_recorded_fit_is_what_p4_readme_records() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../p4/README.md")).unwrap();
        let measured = "Stages: p4c's open-source Tofino backend (v1.2.5.16, `p4c-barefoot`)\ncompiles \
                        `netcraq_tna.p4` whole";
        assert!(readme.contains(measured));
        assert!(readme.contains("**12 ingress stages and 1 egress stage on Tofino 1**"));
        assert!(readme.contains("221 of the 960 SRAM\nblocks") && readme.contains("12 of the 288 TCAM blocks"));
        assert!(readme.contains("| Tofino 1 `netcraq_tna.p4` | **65536**"));
        assert!(readme.contains("v1.2.5.16"));
        assert_eq!(RECORDED_FIT.keys_per_switch, 65_536);
    }
}
