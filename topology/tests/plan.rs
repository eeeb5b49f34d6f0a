//! The planner and the node file: ports, tables and host routes for the
//! examples, followed hop by hop as frames would follow them.

use netcraq_core::{Mode, Role, DEFAULT_KEY_CAPACITY};
use netcraq_topology::{NodeFile, Plan, Topology};
use netcraq_wire::{Ipv4Addr, MacAddr};
use std::path::{Path, PathBuf};

fn example_plan(name: &str) -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
    Topology::load(&path).unwrap().plan().unwrap()
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
        if here.own_ip == to {
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
    let roles: Vec<Role> = plan.nodes.iter().map(|n| n.role).collect();
    assert_eq!(roles, [Role::Head, Role::Replica, Role::Tail]);
    let n2 = node(&plan, "n2").to_node_config();
    assert_eq!((n2.own_ip, n2.own_mac), (ip([0, 2]), mac_of(ip([0, 2]))));
    assert_eq!((n2.head_ip, n2.tail_ip), (ip([0, 1]), ip([0, 3])));
    assert_eq!((n2.predecessor_ip, n2.successor_ip), (ip([0, 1]), ip([0, 3])));
    assert_eq!((n2.mode, n2.key_lo, n2.key_hi), (Mode::Craq, 0, 65536));
    for file in &plan.nodes {
        file.validate().unwrap();
        file.to_node_config().validate(DEFAULT_KEY_CAPACITY).unwrap();
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
    assert_eq!(n1.role, Role::Solo);
    assert_eq!(n1.own_mac, MacAddr([2, 0, 0, 0, 0, 1]));
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
    assert_eq!((outer_tail.role, outer_tail.mode, outer_tail.predecessor_ip), (Role::Tail, Mode::Cr, n1));
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
        refusal(&|f| f.predecessor_ip = Ipv4Addr::UNSPECIFIED),
        "node file: node n2: a REPLICA node needs predecessor_ip (it is 0.0.0.0)"
    );
    assert_eq!(
        refusal(&|f| f.routes[1] = f.routes[0]),
        "node file: node n2: route 10.0.0.1/32: ipv4_route already has an entry for this prefix"
    );
    std::fs::write(&file.0, std::fs::read_to_string(&file.0).unwrap().replace("\"CRAQ\"", "\"craq\"")).unwrap();
    let wrong_mode = NodeFile::load(&file.0).unwrap_err().to_string();
    assert!(wrong_mode.contains(r#"unknown "craq": expected CRAQ or CR"#), "{wrong_mode}");
}
