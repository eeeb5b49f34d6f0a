//! The topology file: the examples parse, and every refusal names the entry
//! at fault and says what is wrong.

use netcraq_core::Mode;
use netcraq_topology::{derived_mac, NodeKind, PortFaults, Topology, DEFAULT_FAULT_SEED};
use netcraq_wire::{Ipv4Addr, MacAddr};
use std::path::Path;

/// One node, one host, one link, one chain: valid as it stands, and the
/// base the refusals below add to or change.
const SOLO: &str = r#"
[[node]]
name = "n1"
kind = "software"
ip = "10.0.0.1"

[[host]]
name = "h1"
ip = "10.0.1.1"

[[link]]
a = "h1"
b = "n1"

[[chain]]
name = "kv"
nodes = ["n1"]
mode = "craq"
keys = [0, 65536]
"#;

fn refusal(text: &str) -> String {
    match Topology::parse(text) {
        Ok(_) => panic!("accepted a bad topology:\n{text}"),
        Err(error) => error.to_string(),
    }
}

/// SOLO with `from` replaced by `to` (which must occur exactly once).
fn solo_with(from: &str, to: &str) -> String {
    assert_eq!(SOLO.matches(from).count(), 1, "{from:?} must occur once in SOLO");
    SOLO.replace(from, to)
}

fn example(name: &str) -> Topology {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
    Topology::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn chain3_example_is_a_line_of_three_with_a_host_at_each_end() {
    let topology = example("chain3.toml");
    let names = |it: Vec<&str>| it.join(" ");
    assert_eq!(names(topology.nodes().iter().map(|n| n.name.as_str()).collect()), "n1 n2 n3");
    assert_eq!(names(topology.hosts().iter().map(|h| h.name.as_str()).collect()), "h1 h2");
    assert!(topology.nodes().iter().all(|n| n.kind == NodeKind::Software));
    assert_eq!(topology.nodes()[1].mac, MacAddr([2, 0, 10, 0, 0, 2]), "a MAC left out is derived from the IP");
    assert_eq!(topology.hosts()[0].mac, derived_mac(Ipv4Addr::new(10, 0, 1, 1)));
    let chain = &topology.chains()[0];
    assert_eq!((chain.name.as_str(), chain.mode, chain.key_lo, chain.key_hi), ("kv", Mode::Craq, 0, 65536));
    assert_eq!(chain.nodes, ["n1", "n2", "n3"]);
    let links: Vec<_> = topology.links().iter().map(|l| format!("{}-{}", l.a, l.b)).collect();
    assert_eq!(links, ["h1-n1", "n1-n2", "n2-n3", "n3-h2"]);
    assert!(topology.links().iter().all(|l| l.faults.is_none()));
    assert_eq!(topology.fault_seed(), DEFAULT_FAULT_SEED);
}

#[test]
fn solo_example_keeps_its_explicit_mac() {
    let topology = example("solo.toml");
    assert_eq!(topology.nodes()[0].mac, MacAddr([2, 0, 0, 0, 0, 1]));
    assert_eq!(topology.chains()[0].nodes, ["n1"]);
}

#[test]
fn cr_mode_and_partial_key_ranges_parse() {
    let topology = Topology::parse(&solo_with(
        r#"mode = "craq"
keys = [0, 65536]"#,
        r#"mode = "cr"
keys = [100, 200]"#,
    ))
    .unwrap();
    let chain = &topology.chains()[0];
    assert_eq!((chain.mode, chain.key_lo, chain.key_hi), (Mode::Cr, 100, 200));
    // Deployment files from before the formats merged wrote modes in capitals.
    for (written, mode) in [("CRAQ", Mode::Craq), ("CR", Mode::Cr)] {
        let capitals = Topology::parse(&solo_with(r#"mode = "craq""#, &format!("mode = {written:?}"))).unwrap();
        assert_eq!(capitals.chains()[0].mode, mode);
    }
}

#[test]
fn load_names_the_file() {
    let error = Topology::load(Path::new("/nonexistent/topology.toml")).unwrap_err().to_string();
    assert!(error.starts_with("/nonexistent/topology.toml: "), "{error}");
}

#[test]
fn syntax_errors_and_unknown_fields_come_from_the_parser_with_their_line() {
    let unknown = refusal(&solo_with(r#"ip = "10.0.0.1""#, "ip = \"10.0.0.1\"\ncolour = \"red\""));
    assert!(unknown.starts_with("topology file: "), "{unknown}");
    assert!(unknown.contains("unknown field `colour`") && unknown.contains("line 6"), "{unknown}");
    let section = refusal(&format!("{SOLO}\n[[switch]]\nname = \"s1\"\n"));
    assert!(section.contains("unknown field `switch`"), "{section}");
    let kind = refusal(&solo_with(r#"kind = "software""#, r#"kind = "fpga""#));
    assert!(kind.contains("unknown variant `fpga`, expected one of `software`, `dpdk`, `bmv2`"), "{kind}");
    let mode = refusal(&solo_with(r#"mode = "craq""#, r#"mode = "paxos""#));
    assert!(mode.contains("unknown variant `paxos`, expected `craq` or `cr`"), "{mode}");
    let missing = refusal(&solo_with("kind = \"software\"\n", ""));
    assert!(missing.contains("missing field `kind`"), "{missing}");
}

#[test]
fn dpdk_nodes_take_eal_arguments_and_bmv2_nodes_none() {
    let dpdk = Topology::parse(&solo_with(r#"kind = "software""#, "kind = \"dpdk\"\neal = \"--no-huge -m 256\""))
        .expect("a dpdk node parses");
    assert_eq!((dpdk.nodes()[0].kind, dpdk.nodes()[0].eal.as_deref()), (NodeKind::Dpdk, Some("--no-huge -m 256")));
    let default_eal = Topology::parse(&solo_with(r#"kind = "software""#, r#"kind = "dpdk""#)).expect("parses");
    assert_eq!(default_eal.nodes()[0].eal.as_deref(), Some(""), "DPDK's defaults when eal is left out");
    assert_eq!(
        refusal(&solo_with(r#"kind = "software""#, "kind = \"software\"\neal = \"-l 1\"")),
        r#"node n1: eal is for kind "dpdk" nodes only"#
    );
    let bmv2 = Topology::parse(&solo_with(r#"kind = "software""#, r#"kind = "bmv2""#)).expect("a bmv2 node parses");
    assert_eq!((bmv2.nodes()[0].kind, bmv2.nodes()[0].eal.as_deref()), (NodeKind::Bmv2, None));
}

#[test]
fn memif_links_join_two_dpdk_nodes() {
    let host_link = solo_with("b = \"n1\"\n", "b = \"n1\"\nkind = \"memif\"\n");
    assert_eq!(
        refusal(&host_link.replace(r#"kind = "software""#, r#"kind = "dpdk""#)),
        r#"link 1 (h1 <-> n1): kind "memif" links two kind "dpdk" nodes; use a veth link (the default)"#
    );
    assert!(refusal(&solo_with("b = \"n1\"\n", "b = \"n1\"\nkind = \"wire\"\n")).contains("unknown variant"));
}

#[test]
fn names_are_plain_and_unique() {
    assert_eq!(
        refusal(&SOLO.replace(r#""n1""#, r#""n 1""#)),
        r#"node "n 1": a name is 1 to 32 characters among letters, digits, '-' and '_'"#
    );
    assert_eq!(
        refusal(&solo_with(r#"name = "h1""#, r#"name = """#)),
        r#"host "": a name is 1 to 32 characters among letters, digits, '-' and '_'"#
    );
    assert_eq!(refusal(&SOLO.replace("h1", "n1")), "host n1: name is already used by node n1");
}

#[test]
fn addresses_are_valid_unicast_and_unique() {
    assert_eq!(
        refusal(&solo_with(r#"ip = "10.0.0.1""#, r#"ip = "10.0.0""#)),
        r#"node n1: ip "10.0.0" is not an IPv4 address"#
    );
    assert_eq!(
        refusal(&solo_with(r#"ip = "10.0.1.1""#, r#"ip = "224.0.0.5""#)),
        "host h1: ip 224.0.0.5 is not a unicast address outside 127.0.0.0/8"
    );
    assert_eq!(
        refusal(&solo_with(r#"ip = "10.0.1.1""#, r#"ip = "10.0.0.1""#)),
        "host h1: ip 10.0.0.1 is already used by node n1"
    );
    assert_eq!(
        refusal(&solo_with(r#"ip = "10.0.0.1""#, "ip = \"10.0.0.1\"\nmac = \"zz\"")),
        r#"node n1: invalid MAC address "zz": expected six hex pairs like 02:00:00:00:00:01"#
    );
    assert_eq!(
        refusal(&solo_with(r#"ip = "10.0.0.1""#, "ip = \"10.0.0.1\"\nmac = \"01:00:5e:00:00:01\"")),
        "node n1: mac 01:00:5e:00:00:01 is not a unicast address (all zero, or lowest bit of the first byte set)"
    );
    assert_eq!(
        refusal(&solo_with(r#"ip = "10.0.0.1""#, "ip = \"10.0.0.1\"\nmac = \"02:00:0a:00:01:01\"")),
        "host h1: mac 02:00:0a:00:01:01 is already used by node n1 (a MAC left out is 02:00 + the ip)"
    );
}

#[test]
fn links_join_existing_endpoints_and_at_least_one_node() {
    let extra_link = |a: &str, b: &str| format!("{SOLO}\n[[link]]\na = \"{a}\"\nb = \"{b}\"\n");
    assert_eq!(refusal(&extra_link("n1", "n9")), r#"link 2 (n1 <-> n9): "n9" is neither a node nor a host"#);
    assert_eq!(refusal(&extra_link("n1", "n1")), "link 2 (n1 <-> n1): connects n1 to itself");
    let two_hosts = format!("{}\n[[host]]\nname = \"h2\"\nip = \"10.0.1.2\"\n", extra_link("h1", "h2"));
    assert_eq!(
        refusal(&two_hosts),
        "link 2 (h1 <-> h2): connects two hosts: hosts do not forward, so a link needs a node at one end"
    );
}

/// SOLO with fault settings on its one link.
fn solo_with_faults(faults: &str) -> String {
    solo_with("b = \"n1\"\n", &format!("b = \"n1\"\n{faults}\n"))
}

#[test]
fn fault_settings_parse_and_default_to_none() {
    let topology = Topology::parse(&solo_with_faults("loss_percent = 1\nduplicate_percent = 2.5\nreorder_percent = 3"))
        .expect("valid fault settings parse");
    let faults = topology.links()[0].faults;
    assert_eq!(faults, PortFaults { loss_percent: 1.0, duplicate_percent: 2.5, reorder_percent: 3.0 });
    assert!(!faults.is_none());
    let only_reorder = Topology::parse(&solo_with_faults("reorder_percent = 100")).unwrap().links()[0].faults;
    assert_eq!(only_reorder, PortFaults { reorder_percent: 100.0, ..PortFaults::default() });
    let explicit_zero = Topology::parse(&solo_with_faults("loss_percent = 0")).unwrap().links()[0].faults;
    assert!(explicit_zero.is_none());
    assert!(Topology::parse(SOLO).unwrap().links()[0].faults.is_none());
}

#[test]
fn fault_seed_is_a_top_level_integer_that_defaults_to_1() {
    assert_eq!(Topology::parse(SOLO).unwrap().fault_seed(), 1);
    assert_eq!(Topology::parse(&format!("fault_seed = 42\n{SOLO}")).unwrap().fault_seed(), 42);
    assert_eq!(Topology::parse(&format!("fault_seed = 0\n{SOLO}")).unwrap().fault_seed(), 0);
    let negative = refusal(&format!("fault_seed = -1\n{SOLO}"));
    assert!(negative.starts_with("topology file: ") && negative.contains("expected u64"), "{negative}");
    let not_a_number = refusal(&format!("fault_seed = \"seven\"\n{SOLO}"));
    assert!(not_a_number.starts_with("topology file: ") && not_a_number.contains("fault_seed"), "{not_a_number}");
}

#[test]
fn fault_settings_are_probabilities_that_add_up_to_at_most_100() {
    let link = "link 1 (h1 <-> n1)";
    assert_eq!(
        refusal(&solo_with_faults("loss_percent = 150.0")),
        format!("{link}: loss_percent 150 is outside 0 to 100")
    );
    assert_eq!(
        refusal(&solo_with_faults("duplicate_percent = -1")),
        format!("{link}: duplicate_percent -1 is outside 0 to 100")
    );
    assert_eq!(
        refusal(&solo_with_faults("reorder_percent = 100.5")),
        format!("{link}: reorder_percent 100.5 is outside 0 to 100")
    );
    assert_eq!(
        refusal(&solo_with_faults("loss_percent = nan")),
        format!("{link}: loss_percent NaN is outside 0 to 100")
    );
    assert_eq!(
        refusal(&solo_with_faults("loss_percent = 50\nduplicate_percent = 30\nreorder_percent = 21")),
        format!(
            "{link}: loss_percent, duplicate_percent and reorder_percent add up to 101, more than 100 \
             (one draw per frame picks at most one of them)"
        )
    );
    let rounded = solo_with_faults("loss_percent = 33.4\nduplicate_percent = 33.3\nreorder_percent = 33.3");
    assert!(Topology::parse(&rounded).is_ok(), "a sum of 100 up to rounding is 100");
    let not_a_number = refusal(&solo_with_faults("loss_percent = \"lots\""));
    assert!(not_a_number.starts_with("topology file: ") && not_a_number.contains("loss_percent"), "{not_a_number}");
}

#[test]
fn netem_settings_are_refused_with_what_replaced_them() {
    for retired in ["delay_ms = 5", "jitter_ms = 1", "rate_mbit = 100"] {
        let error = refusal(&solo_with_faults(retired));
        let field = retired.split(' ').next().unwrap();
        assert!(error.starts_with("topology file: "), "{error}");
        assert!(error.contains(&format!("unknown field `{field}`")) && error.contains("line 14"), "{error}");
        assert!(
            error.ends_with(
                "delay_ms, jitter_ms and rate_mbit are no longer supported: nodes inject only loss, duplication \
                 and reordering (loss_percent, duplicate_percent, reorder_percent)"
            ),
            "{error}"
        );
    }
    let other = refusal(&solo_with_faults("colour = 1"));
    assert!(!other.contains("no longer supported"), "{other}");
}

#[test]
fn a_host_attaches_to_exactly_one_node() {
    let second_host = format!("{SOLO}\n[[host]]\nname = \"h2\"\nip = \"10.0.1.2\"\n");
    assert_eq!(refusal(&second_host), "host h2: has no link");
    let twice = format!("{SOLO}\n[[link]]\na = \"n1\"\nb = \"h1\"\n");
    assert_eq!(refusal(&twice), "host h1: has 2 links; a host attaches to exactly one node for now");
}

#[test]
fn chains_name_nodes_once_each_with_a_key_range() {
    let members = |list: &str| solo_with(r#"nodes = ["n1"]"#, &format!("nodes = {list}"));
    assert_eq!(refusal(&members(r#"["n1", "h1"]"#)), r#"chain kv: "h1" is a host, not a node"#);
    assert_eq!(refusal(&members(r#"["n9"]"#)), r#"chain kv: "n9" is not a node"#);
    assert_eq!(refusal(&members(r#"["n1", "n1"]"#)), "chain kv: lists n1 twice");
    assert_eq!(refusal(&members("[]")), "chain kv: lists no nodes");
    let keys = |range: &str| solo_with("keys = [0, 65536]", &format!("keys = {range}"));
    let range_problem = "is not a range [lo, hi) with lo < hi <= 65536";
    assert_eq!(refusal(&keys("[5, 5]")), format!("chain kv: keys [5, 5] {range_problem}"));
    assert_eq!(refusal(&keys("[0, 65537]")), format!("chain kv: keys [0, 65537] {range_problem}"));
    assert_eq!(refusal(&keys("[70000, 70001]")), format!("chain kv: keys [70000, 70001] {range_problem}"));
    let second = format!("{SOLO}\n[[chain]]\nname = \"{{name}}\"\nnodes = [\"n1\"]\nmode = \"cr\"\nkeys = [0, 10]\n");
    assert_eq!(refusal(&second.replace("{name}", "kv")), "chain kv: name is used by another chain");
    assert_eq!(
        refusal(&second.replace("{name}", "other")),
        "chain other: n1 is already in chain kv: one chain per node for now"
    );
}

#[test]
fn every_node_serves_a_chain_and_the_nodes_are_connected() {
    let idle_node = format!("{SOLO}\n[[node]]\nname = \"n2\"\nkind = \"software\"\nip = \"10.0.0.2\"\n");
    assert_eq!(
        refusal(&idle_node),
        "node n2: belongs to no chain, as a member or a spare; a node without a chain is unconfigured and drops \
         every frame"
    );
    let island = idle_node.replace(r#"nodes = ["n1"]"#, r#"nodes = ["n1", "n2"]"#);
    assert_eq!(refusal(&island), "node n2: has no path to node n1 through links between nodes (hosts do not forward)");
    let through_a_host = format!("{island}\n[[link]]\na = \"n2\"\nb = \"h1\"\n");
    assert_eq!(refusal(&through_a_host), "host h1: has 2 links; a host attaches to exactly one node for now");
    let linked = format!("{island}\n[[link]]\na = \"n2\"\nb = \"n1\"\n");
    assert!(Topology::parse(&linked).is_ok());
}

#[test]
fn an_empty_topology_is_refused() {
    assert_eq!(refusal(""), "topology: has no [[node]]: a topology needs at least one node");
}

#[test]
fn every_node_must_fit_a_route_to_everyone_in_its_table() {
    // Three nodes in a line, 342 hosts on each: 2 + 1026 routes per node.
    let mut text = String::new();
    for node in 1..=3 {
        text += &format!("[[node]]\nname = \"n{node}\"\nkind = \"software\"\nip = \"10.0.0.{node}\"\n");
        for host in 0..342 {
            text += &format!("[[host]]\nname = \"h{node}-{host}\"\nip = \"10.{node}.{}.{}\"\n", host / 256, host % 256);
            text += &format!("[[link]]\na = \"n{node}\"\nb = \"h{node}-{host}\"\n");
        }
    }
    text += "[[link]]\na = \"n1\"\nb = \"n2\"\n[[link]]\na = \"n2\"\nb = \"n3\"\n";
    text += "[[chain]]\nname = \"kv\"\nnodes = [\"n1\", \"n2\", \"n3\"]\nmode = \"craq\"\nkeys = [0, 65536]\n";
    assert_eq!(refusal(&text), "topology: needs 1028 routes per node, more than the 1024 a node holds");
}

#[test]
fn deployment_fields_give_p4runtime_servers_ports_and_controller_settings() {
    let deployment =
        format!("election_id = 9\ntimeout_ms = 250\n{}", solo_with("b = \"n1\"\n", "b = \"n1\"\nb_port = 7\n"))
            .replace("ip = \"10.0.0.1\"", "ip = \"10.0.0.1\"\np4runtime = \"10.9.0.1:9559\"\ndevice_id = 0");
    let topology = Topology::parse(&deployment).expect("a deployment file is a topology file");
    let server = topology.nodes()[0].p4runtime.as_ref().expect("p4runtime given");
    assert_eq!((server.address.as_str(), server.device_id), ("10.9.0.1:9559", Some(0)));
    assert_eq!(topology.links()[0].ports, [1, 7]);
    assert_eq!((topology.controller().election_id, topology.controller().timeout_ms), (Some(9), Some(250)));
    assert_eq!(Topology::parse(SOLO).unwrap().nodes()[0].p4runtime, None);
    let node_refusal = |line: &str| refusal(&solo_with(r#"ip = "10.0.0.1""#, &format!("ip = \"10.0.0.1\"\n{line}")));
    let alone = "node n1: device_id, p4info and device_config go with p4runtime, the node's P4Runtime address";
    assert_eq!(node_refusal("device_id = 2"), alone);
    let empty = "node n1: p4runtime is empty: give the node's P4Runtime address, host:port";
    assert_eq!(node_refusal("p4runtime = \" \""), empty);
    assert_eq!(
        refusal(&format!("timeout_ms = 0\n{SOLO}")),
        "topology: timeout_ms is 0: give the milliseconds one call to a node may take"
    );
    assert_eq!(
        refusal(&solo_with("b = \"n1\"\n", "b = \"n1\"\nb_port = 0\n")),
        "link 1 (h1 <-> n1): port 0 of n1 is outside 1 to 509"
    );
    let twice =
        format!("{SOLO}\n[[host]]\nname = \"h2\"\nip = \"10.0.1.2\"\n\n[[link]]\na = \"h2\"\nb = \"n1\"\nb_port = 1\n");
    assert_eq!(
        refusal(&twice),
        "link 2 (h2 <-> n1): port 1 of n1 is used twice: number every port of an endpoint uniquely (from 1)"
    );
}

#[test]
fn hosts_may_give_their_mac_and_nodes_may_be_tofino_switches() {
    let host_mac = solo_with(r#"ip = "10.0.1.1""#, "ip = \"10.0.1.1\"\nmac = \"02:00:00:00:01:63\"");
    assert_eq!(Topology::parse(&host_mac).unwrap().hosts()[0].mac, MacAddr([2, 0, 0, 0, 1, 0x63]));
    let tofino =
        Topology::parse(&solo_with(r#"kind = "software""#, r#"kind = "tofino""#)).expect("a tofino node parses");
    assert_eq!(tofino.nodes()[0].kind, NodeKind::Tofino);
    let Err(error) = tofino.up(|_| std::process::Command::new("true")) else { panic!("up cannot start a switch") };
    let error = error.to_string();
    assert!(error.starts_with("node n1: kind \"tofino\" is a hardware switch"), "{error}");
}

#[test]
fn spares_wait_for_their_chain_and_are_in_no_other() {
    let spare = "[[node]]\nname = \"n2\"\nkind = \"software\"\nip = \"10.0.0.2\"\n\n[[link]]\na = \"n1\"\nb = \"n2\"\n";
    let text = solo_with("nodes = [\"n1\"]", "nodes = [\"n1\"]\nspares = [\"n2\"]") + spare;
    let topology = Topology::parse(&text).unwrap();
    assert_eq!(topology.chains()[0].spares, ["n2"]);
    let names: Vec<String> = topology.plan().unwrap().nodes.into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["n1", "n2"], "a spare gets a node file: `netcraq up` starts it");

    let twice = solo_with("nodes = [\"n1\"]", "nodes = [\"n1\"]\nspares = [\"n1\"]");
    assert_eq!(refusal(&twice), "chain kv: lists n1 twice");
    assert!(refusal(&(SOLO.to_string() + spare)).starts_with("node n2: belongs to no chain, as a member or a spare"));
    let host = solo_with("nodes = [\"n1\"]", "nodes = [\"n1\"]\nspares = [\"h1\"]");
    assert_eq!(refusal(&host), "chain kv: \"h1\" is a host, not a node");
}
