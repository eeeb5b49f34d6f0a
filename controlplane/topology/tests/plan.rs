//! The planner and the node file: ports, tables and host routes for the
//! examples, followed hop by hop as frames would follow them.

use netcraq_core::{Mode, Role, DEFAULT_KEY_CAPACITY};
use netcraq_topology::{NodeFile, Plan, PortFaults, Topology};
use netcraq_wire::{Ipv4Addr, MacAddr};
use std::path::{Path, PathBuf};

fn example_text(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)).unwrap()
}

fn example_plan(name: &str) -> Plan {
    Topology::parse(&example_text(name)).unwrap().plan().unwrap()
}

fn faults(loss_percent: f64, duplicate_percent: f64, reorder_percent: f64) -> PortFaults {
    PortFaults { loss_percent, duplicate_percent, reorder_percent }
}

/// chain3 with faults on every link but n2–n3, and `fault_seed` first when given.
fn faulty_chain3(fault_seed: Option<u64>) -> String {
    let mut text = example_text("chain3.toml");
    for (link, faults) in [
        ("a = \"h1\"\nb = \"n1\"\n", "loss_percent = 10\n"),
        ("a = \"n1\"\nb = \"n2\"\n", "duplicate_percent = 5\nreorder_percent = 2.5\n"),
        ("a = \"n3\"\nb = \"h2\"\n", "reorder_percent = 7\n"),
    ] {
        assert_eq!(text.matches(link).count(), 1, "{link:?}");
        text = text.replace(link, &format!("{link}{faults}"));
    }
    match fault_seed {
        Some(seed) => format!("fault_seed = {seed}\n{text}"),
        None => text,
    }
}

fn plan_of(text: &str) -> Plan {
    Topology::parse(text).unwrap().plan().unwrap()
}

fn ip(last: [u8; 2]) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, last[0], last[1])
}

fn mac_of(ip: Ipv4Addr) -> MacAddr {
    let [a, b, c, d] = ip.octets();
    MacAddr([2, 0, a, b, c, d])
}

fn node<'a>(plan: &'a Plan, name: &str) -> &'a NodeFile {
    plan.nodes.iter().find(|n| n.name == name).unwrap()
}

/// (destination, port, next-hop MAC) of each route, in install order.
fn routes(file: &NodeFile) -> Vec<(Ipv4Addr, u16, MacAddr)> {
    file.routes()
        .iter()
        .map(|r| {
            assert_eq!(r.prefix_len, 32);
            (r.prefix, r.port, r.mac)
        })
        .collect()
}

/// The endpoint at the far end of `endpoint`'s `port`, and the MAC it has.
fn across(plan: &Plan, endpoint: &str, port: u16) -> (String, MacAddr) {
    let link = plan.links.iter().find(|l| l.ends.iter().any(|e| e.endpoint == endpoint && e.port == port)).unwrap();
    let far = link.ends.iter().find(|e| !(e.endpoint == endpoint && e.port == port)).unwrap();
    (far.endpoint.clone(), far.mac)
}

/// Follows a frame from a host to `to` through the nodes' routes, checking
/// at each hop that the destination MAC is the MAC of the endpoint it
/// reaches. Bounded by the number of endpoints.
fn path_from_host(plan: &Plan, host: &str, to: Ipv4Addr) -> Vec<String> {
    let host_plan = plan.hosts.iter().find(|h| h.name == host).unwrap();
    assert!(host_plan.node_ips.contains(&to));
    let port = host_plan.interface.trim_start_matches("eth").parse().unwrap();
    let (mut at, reached_mac) = across(plan, host, port);
    assert_eq!(reached_mac, host_plan.gateway_mac);
    let mut path = vec![host.to_owned(), at.clone()];
    for _ in 0..plan.nodes.len() + plan.hosts.len() {
        let here = node(plan, &at);
        if here.config.own_ip == to {
            return path;
        }
        let route = here.routes().into_iter().find(|r| r.prefix == to).unwrap();
        let (next, next_mac) = across(plan, &at, route.port);
        assert_eq!(route.mac, next_mac, "{at} addresses its next hop {next} by that hop's MAC");
        path.push(next.clone());
        at = next;
    }
    panic!("no arrival at {to}: {path:?}");
}

#[test]
fn chain3_ports_follow_link_order() {
    let plan = example_plan("chain3.toml");
    let ports = |name: &str| {
        node(&plan, name).ports.iter().map(|p| format!("{}={}", p.number, p.interface)).collect::<Vec<_>>().join(" ")
    };
    assert_eq!(ports("n1"), "1=eth1 2=eth2");
    assert_eq!(ports("n2"), "1=eth1 2=eth2");
    assert_eq!(ports("n3"), "1=eth1 2=eth2");
    let ends: Vec<String> = plan
        .links
        .iter()
        .map(|l| l.ends.iter().map(|e| format!("{}:{}", e.endpoint, e.interface)).collect::<Vec<_>>().join("-"))
        .collect();
    assert_eq!(ends, ["h1:eth1-n1:eth1", "n1:eth2-n2:eth1", "n2:eth2-n3:eth1", "n3:eth2-h2:eth1"]);
    assert!(plan.links.iter().flat_map(|l| &l.ends).all(|e| e.interface.len() <= 15));
}

#[test]
fn chain3_configs_follow_chain_order() {
    let plan = example_plan("chain3.toml");
    let roles: Vec<Role> = plan.nodes.iter().map(|n| n.config.role).collect();
    assert_eq!(roles, [Role::Head, Role::Replica, Role::Tail]);
    let n2 = node(&plan, "n2").config;
    assert_eq!((n2.own_ip, n2.own_mac), (ip([0, 2]), mac_of(ip([0, 2]))));
    assert_eq!((n2.head_ip, n2.tail_ip), (ip([0, 1]), ip([0, 3])));
    assert_eq!((n2.predecessor_ip, n2.successor_ip), (ip([0, 1]), ip([0, 3])));
    assert_eq!((n2.mode, n2.key_lo, n2.key_hi), (Mode::Craq, 0, 65536));
    for file in &plan.nodes {
        file.validate().unwrap();
        file.config.validate(DEFAULT_KEY_CAPACITY).unwrap();
    }
}

#[test]
fn chain3_routes_point_along_the_line() {
    let plan = example_plan("chain3.toml");
    let (n1, n2, n3, h1, h2) = (ip([0, 1]), ip([0, 2]), ip([0, 3]), ip([1, 1]), ip([1, 2]));
    let m = mac_of;
    assert_eq!(routes(node(&plan, "n1")), [(n2, 2, m(n2)), (n3, 2, m(n2)), (h1, 1, m(h1)), (h2, 2, m(n2))]);
    assert_eq!(routes(node(&plan, "n2")), [(n1, 1, m(n1)), (n3, 2, m(n3)), (h1, 1, m(n1)), (h2, 2, m(n3))]);
    assert_eq!(routes(node(&plan, "n3")), [(n1, 1, m(n2)), (n2, 1, m(n2)), (h1, 1, m(n2)), (h2, 2, m(h2))]);
}

#[test]
fn chain3_h1_reaches_n3_by_transit_through_n1_and_n2_and_back() {
    let plan = example_plan("chain3.toml");
    let h1 = plan.hosts.iter().find(|h| h.name == "h1").unwrap();
    assert_eq!((h1.interface.as_str(), h1.gateway_mac, h1.mac), ("eth1", mac_of(ip([0, 1])), mac_of(ip([1, 1]))));
    assert_eq!(h1.node_ips, [ip([0, 1]), ip([0, 2]), ip([0, 3])]);
    assert_eq!(path_from_host(&plan, "h1", ip([0, 3])), ["h1", "n1", "n2", "n3"]);
    assert_eq!(path_from_host(&plan, "h2", ip([0, 1])), ["h2", "n3", "n2", "n1"]);
    // The tail's reply to h1 transits n2 and n1.
    let n3_to_h1 = node(&plan, "n3").routes().into_iter().find(|r| r.prefix == ip([1, 1])).unwrap();
    assert_eq!(across(&plan, "n3", n3_to_h1.port).0, "n2");
    let n2_to_h1 = node(&plan, "n2").routes().into_iter().find(|r| r.prefix == ip([1, 1])).unwrap();
    assert_eq!(across(&plan, "n2", n2_to_h1.port), ("n1".to_owned(), mac_of(ip([0, 1]))));
}

#[test]
fn solo_is_a_chain_of_one_with_a_route_to_its_client() {
    let plan = example_plan("solo.toml");
    let n1 = &plan.nodes[0];
    assert_eq!(n1.config.role, Role::Solo);
    assert_eq!(n1.config.own_mac, MacAddr([2, 0, 0, 0, 0, 1]));
    assert_eq!(routes(n1), [(ip([1, 1]), 1, mac_of(ip([1, 1])))]);
    assert_eq!(plan.hosts[0].gateway_mac, MacAddr([2, 0, 0, 0, 0, 1]), "the host sends to the node's explicit MAC");
}

#[test]
fn nodes_route_to_other_chains_nodes_so_they_can_transit_for_them() {
    // n2 serves its own chain but sits between the two nodes of chain "outer".
    let text = r#"
        node = [
            { name = "n1", kind = "software", ip = "10.0.0.1" },
            { name = "n2", kind = "software", ip = "10.0.0.2" },
            { name = "n3", kind = "software", ip = "10.0.0.3" },
        ]
        host = [{ name = "h1", ip = "10.0.1.1" }]
        link = [{ a = "n1", b = "n2" }, { a = "n2", b = "n3" }, { a = "h1", b = "n1" }]
        chain = [
            { name = "outer", nodes = ["n1", "n3"], mode = "cr", keys = [0, 100] },
            { name = "middle", nodes = ["n2"], mode = "craq", keys = [100, 200] },
        ]
    "#;
    let plan = Topology::parse(text).unwrap().plan().unwrap();
    let (n1, n2, n3, h1) = (ip([0, 1]), ip([0, 2]), ip([0, 3]), ip([1, 1]));
    assert_eq!(routes(node(&plan, "n2")), [(h1, 1, mac_of(n1)), (n1, 1, mac_of(n1)), (n3, 2, mac_of(n3))]);
    assert_eq!(routes(node(&plan, "n1")), [(n3, 1, mac_of(n2)), (h1, 2, mac_of(h1)), (n2, 1, mac_of(n2))]);
    assert_eq!(path_from_host(&plan, "h1", n3), ["h1", "n1", "n2", "n3"]);
    let outer_tail = node(&plan, "n3");
    assert_eq!(
        (outer_tail.config.role, outer_tail.config.mode, outer_tail.config.predecessor_ip),
        (Role::Tail, Mode::Cr, n1)
    );
}

#[test]
fn a_links_faults_apply_to_what_each_node_end_sends() {
    let plan = plan_of(&faulty_chain3(None));
    let port_faults = |name: &str| node(&plan, name).ports.iter().map(|p| p.faults).collect::<Vec<_>>();
    let none = PortFaults::default();
    // h1–n1: only n1 injects, into what it sends to h1; h1 is a kernel stack.
    // n1–n2: both ends inject, so both directions are faulty.
    // n2–n3: no faults. n3–h2: only n3, towards h2.
    assert_eq!(port_faults("n1"), [faults(10.0, 0.0, 0.0), faults(0.0, 5.0, 2.5)]);
    assert_eq!(port_faults("n2"), [faults(0.0, 5.0, 2.5), none]);
    assert_eq!(port_faults("n3"), [none, faults(0.0, 0.0, 7.0)]);
    assert!(example_plan("chain3.toml").nodes.iter().flat_map(|n| &n.ports).all(|p| p.faults.is_none()));
    // Faults change nothing else in the plan.
    let mut without_faults = plan.clone();
    without_faults.nodes.iter_mut().flat_map(|n| &mut n.ports).for_each(|p| p.faults = PortFaults::default());
    assert_eq!(without_faults, example_plan("chain3.toml"));
}

#[test]
fn node_fault_seeds_are_derived_from_the_topology_seed_and_the_node_name() {
    let seeds = |plan: &Plan| plan.nodes.iter().map(|n| n.fault_seed).collect::<Vec<_>>();
    let default = seeds(&plan_of(&faulty_chain3(None)));
    assert_eq!(default, seeds(&plan_of(&faulty_chain3(None))), "planning again gives the same seeds");
    assert_eq!(default, seeds(&plan_of(&faulty_chain3(Some(1)))), "fault_seed defaults to 1");
    assert_eq!(default, seeds(&example_plan("chain3.toml")), "seeds do not depend on the faults");
    // Pinned: a seed reported by a failing run must reproduce its faults in later builds.
    assert_eq!(default[0], 7_896_918_767_940_184_603);
    let distinct = |seeds: &[u64]| seeds.iter().collect::<std::collections::BTreeSet<_>>().len() == seeds.len();
    assert!(distinct(&default), "each node draws its own faults: {default:?}");
    let reseeded = seeds(&plan_of(&faulty_chain3(Some(2))));
    assert!(default.iter().zip(&reseeded).all(|(a, b)| a != b), "{default:?} {reseeded:?}");
    assert!(default.iter().chain(&reseeded).all(|seed| *seed <= i64::MAX as u64), "a TOML integer holds each seed");
    // A node's seed follows its name, not its place in the file.
    let text = example_text("chain3.toml");
    let n1 = "[[node]]\nname = \"n1\"\nkind = \"software\"\nip = \"10.0.0.1\"\n\n";
    let n1_last = text.replace(n1, "").replace("[[host]]\nname = \"h1\"", &format!("{n1}[[host]]\nname = \"h1\""));
    let moved = plan_of(&n1_last);
    assert_eq!(moved.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["n2", "n3", "n1"]);
    assert_eq!(seeds(&moved), [default[1], default[2], default[0]]);
}

#[test]
fn each_port_of_a_node_has_its_own_fault_seed() {
    let (plan, again) = (plan_of(&faulty_chain3(Some(7))), plan_of(&faulty_chain3(Some(7))));
    let n1 = node(&plan, "n1");
    let (port1, port2) = (n1.port_fault_seed(1), n1.port_fault_seed(2));
    assert_ne!(port1, port2);
    assert_eq!((port1, port2), (node(&again, "n1").port_fault_seed(1), node(&again, "n1").port_fault_seed(2)));
    assert_ne!(port1, node(&plan, "n2").port_fault_seed(1), "the same port number on another node");
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("netcraq-topology-test-{}-{name}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn node_files_round_trip_in_the_protocol_notation() {
    let plan = example_plan("chain3.toml");
    let file = TempFile::new("n2.toml");
    node(&plan, "n2").save(&file.0).unwrap();
    let text = std::fs::read_to_string(&file.0).unwrap();
    for expected in [
        r#"own_mac = "02:00:0a:00:00:02""#,
        r#"role = "REPLICA""#,
        r#"mode = "CRAQ""#,
        "[[port]]\nnumber = 1\ninterface = \"eth1\"",
        "[[route]]\nprefix = \"10.0.0.1/32\"\nport = 1\nmac = \"02:00:0a:00:00:01\"",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
    let loaded = NodeFile::load(&file.0).unwrap();
    assert_eq!(&loaded, node(&plan, "n2"));
    let table = loaded.route_table().unwrap();
    assert_eq!(table.lookup(ip([1, 2])).unwrap().port, 2);
    assert_eq!(table.entries().len(), 4);
}

#[test]
fn node_files_carry_port_faults_and_the_fault_seed() {
    let plan = plan_of(&faulty_chain3(Some(3)));
    let file = TempFile::new("faulty-n1.toml");
    node(&plan, "n1").save(&file.0).unwrap();
    let text = std::fs::read_to_string(&file.0).unwrap();
    for expected in [
        format!("fault_seed = {}\n", node(&plan, "n1").fault_seed),
        "[[port]]\nnumber = 1\ninterface = \"eth1\"\nloss_percent = 10.0\n\n".into(),
        "[[port]]\nnumber = 2\ninterface = \"eth2\"\nduplicate_percent = 5.0\nreorder_percent = 2.5\n\n".into(),
    ] {
        assert!(text.contains(&expected), "{expected:?} missing from:\n{text}");
    }
    assert_eq!(&NodeFile::load(&file.0).unwrap(), node(&plan, "n1"));

    let unseeded = text.lines().filter(|line| !line.starts_with("fault_seed")).collect::<Vec<_>>().join("\n");
    std::fs::write(&file.0, unseeded).unwrap();
    assert_eq!(NodeFile::load(&file.0).unwrap().fault_seed, 0, "a file without fault_seed has seed 0");
}

#[test]
fn node_files_without_faults_leave_the_fault_fields_out() {
    let file = TempFile::new("plain-n2.toml");
    node(&example_plan("chain3.toml"), "n2").save(&file.0).unwrap();
    let text = std::fs::read_to_string(&file.0).unwrap();
    assert!(!text.contains("percent"), "{text}");
}

#[test]
fn node_files_that_cannot_configure_a_node_are_refused() {
    let plan = example_plan("chain3.toml");
    let file = TempFile::new("bad.toml");
    let refusal = |edit: &dyn Fn(&mut NodeFile)| {
        let mut bad = node(&plan, "n2").clone();
        edit(&mut bad);
        bad.save(&file.0).unwrap();
        NodeFile::load(&file.0).unwrap_err().to_string()
    };
    assert_eq!(
        refusal(&|f| f.routes[0].port = 7),
        "node file: node n2: route 10.0.0.1/32 leaves on port 7, which is not listed"
    );
    assert_eq!(refusal(&|f| f.ports[1].number = 1), "node file: node n2: port 1 (eth2) repeats a number or interface");
    assert_eq!(
        refusal(&|f| f.ports[0].interface = "a-very-long-name".into()),
        r#"node file: node n2: interface name "a-very-long-name" is not 1 to 15 bytes"#
    );
    assert_eq!(
        refusal(&|f| f.config.predecessor_ip = Ipv4Addr::UNSPECIFIED),
        "node file: node n2: a REPLICA node needs predecessor_ip (it is 0.0.0.0)"
    );
    assert_eq!(
        refusal(&|f| f.routes[1] = f.routes[0]),
        "node file: node n2: route 10.0.0.1/32: ipv4_route already has an entry for this prefix"
    );
    assert_eq!(
        refusal(&|f| f.ports[0].faults.loss_percent = 101.0),
        "node file: node n2: port 1 (eth1): loss_percent 101 is outside 0 to 100"
    );
    assert_eq!(
        refusal(&|f| f.ports[1].faults.duplicate_percent = -0.5),
        "node file: node n2: port 2 (eth2): duplicate_percent -0.5 is outside 0 to 100"
    );
    assert_eq!(
        refusal(&|f| f.ports[1].faults.reorder_percent = 250.0),
        "node file: node n2: port 2 (eth2): reorder_percent 250 is outside 0 to 100"
    );
    assert_eq!(
        refusal(&|f| f.ports[0].faults = faults(60.0, 40.0, 0.5)),
        "node file: node n2: port 1 (eth1): loss_percent, duplicate_percent and reorder_percent add up to 100.5, \
         more than 100 (one draw per frame picks at most one of them)"
    );
    node(&plan, "n2").save(&file.0).unwrap();
    let text = std::fs::read_to_string(&file.0).unwrap();
    std::fs::write(&file.0, text.replace("interface = \"eth1\"", "interface = \"eth1\"\ndelay_ms = 5")).unwrap();
    let delay = NodeFile::load(&file.0).unwrap_err().to_string();
    assert!(delay.contains("unknown field `delay_ms`, expected one of"), "{delay}");
    std::fs::write(&file.0, text.replace("fault_seed", "colour = \"blue\"\nfault_seed")).unwrap();
    let unknown = NodeFile::load(&file.0).unwrap_err().to_string();
    assert!(unknown.contains("unknown field `colour`"), "{unknown}");
    std::fs::write(&file.0, text.replace("\"CRAQ\"", "\"craq\"")).unwrap();
    let wrong_mode = NodeFile::load(&file.0).unwrap_err().to_string();
    assert!(wrong_mode.contains(r#"unknown "craq": expected CRAQ or CR"#), "{wrong_mode}");
}

#[test]
fn dpdk_nodes_get_their_eal_arguments_and_memif_ports_in_their_files() {
    let mut text = example_text("chain3.toml").replace("kind = \"software\"", "kind = \"dpdk\"\neal = \"--no-huge\"");
    let link = "a = \"n2\"\nb = \"n3\"\n";
    assert_eq!(text.matches(link).count(), 1);
    text = text.replace(link, &format!("{link}kind = \"memif\"\n"));
    let mut plan = plan_of(&text);
    assert_eq!(node(&plan, "n1").dpdk.as_deref(), Some("--no-huge"));
    let veth = &node(&plan, "n2").ports[0];
    assert_eq!((veth.interface.as_str(), veth.device.as_deref()), ("eth1", None), "veth ports keep af_packet");
    let server = node(&plan, "n2").ports[1].device.clone().expect("memif device at n2");
    let client = node(&plan, "n3").ports[0].device.clone().expect("memif device at n3");
    assert_eq!(server, "net_memif3,role=server,id=0,socket-abstract=no,socket=memif-3.sock");
    assert_eq!(client, "net_memif3,role=client,id=0,socket-abstract=no,socket=memif-3.sock");
    plan.place_memif_sockets(Path::new("/run/x"));
    assert!(node(&plan, "n3").ports[0].device.as_deref().unwrap().ends_with(",socket=/run/x/memif-3.sock"));
    let path = std::env::temp_dir().join(format!("netcraq-plan-test-{}.toml", std::process::id()));
    node(&plan, "n3").save(&path).expect("saves");
    let reloaded = NodeFile::load(&path);
    std::fs::remove_file(&path).expect("removes");
    assert_eq!(&reloaded.expect("node file round-trips"), node(&plan, "n3"));
}
