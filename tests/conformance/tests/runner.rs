//! The loader and the runner themselves: bad files are refused with errors
//! that name the file, case and field, and implementations that get something
//! wrong are caught with a precise report.

use netcraq_conformance::{
    load_dir, load_file, run_case, run_files, vectors_dir, Counters, Difference, FabricPort, InitialState,
    KeyRegisters, Lease, NodeConfig, NodeUnderTest, Output, VectorFile,
};
use netcraq_core::{Node, DEFAULT_KEY_CAPACITY};
use netcraq_wire::{Op, CHAIN_FRAME_LEN};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn vector_file(name: &str) -> VectorFile {
    load_file(&vectors_dir().join(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn case_json(file: &str, name: &str) -> Value {
    let text = std::fs::read_to_string(vectors_dir().join(file)).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    value["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone()
}

/// Writes a one-case file into a fresh temporary directory.
fn temp_file(tag: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netcraq-conformance-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.json");
    std::fs::write(&path, content).unwrap();
    path
}

fn load_error(tag: &str, case: Value) -> String {
    let file = serde_json::json!({ "description": "test", "cases": [case] });
    let path = temp_file(tag, &file.to_string());
    let error = load_file(&path).expect_err("the file must be refused");
    let text = error.to_string();
    assert!(text.contains("bad.json"), "error does not name the file: {text}");
    text
}

#[test]
fn the_checked_in_vectors_load() {
    let files = load_dir(&vectors_dir()).unwrap_or_else(|e| panic!("{e}"));
    assert!(files.len() >= 10);
    assert!(files.iter().all(|f| !f.cases.is_empty()));
}

#[test]
fn bad_hex_names_file_case_and_field() {
    let mut case = case_json("chain.json", "commit-tail-applies");
    case["steps"][0]["expect"][1]["frame"] = Value::from("02000000zz");
    let text = load_error("hex", case);
    assert!(text.contains("\"commit-tail-applies\""), "{text}");
    assert!(text.contains("steps[0].expect[1].frame"), "{text}");
    assert!(text.contains("'z'"), "{text}");
}

#[test]
fn uppercase_hex_is_refused() {
    let mut case = case_json("chain.json", "commit-tail-applies");
    let frame = case["steps"][0]["frame"].as_str().unwrap().to_uppercase();
    case["steps"][0]["frame"] = Value::from(frame);
    assert!(load_error("upper", case).contains("steps[0].frame: not lowercase hex"));
}

#[test]
fn wrong_types_and_unknown_fields_are_refused() {
    let mut case = case_json("chain.json", "commit-tail-applies");
    case["registers"][0]["version"] = Value::from(256);
    assert!(load_error("range", case).contains("registers[0].version: 256 is above the maximum 255"));

    let mut case = case_json("chain.json", "commit-tail-applies");
    case["steps"][0]["outcome"] = Value::from("COMMIT_APPLIED");
    assert!(load_error("unknown", case).contains("steps[0].outcome: unknown field"));

    let mut case = case_json("chain.json", "commit-tail-applies");
    case["config"]["role"] = Value::from("MIDDLE");
    assert!(load_error("role", case).contains("config.role: unknown \"MIDDLE\": expected HEAD, REPLICA, TAIL or SOLO"));

    let mut case = case_json("chain.json", "commit-tail-applies");
    case["routes"][0]["prefix"] = Value::from("10.0.0.1/24");
    assert!(load_error("prefix", case).contains("routes[0].prefix"));
}

/// `config` is read through `NodeConfig`'s serde form; errors still name the field.
#[test]
fn bad_configs_are_refused_naming_the_field() {
    for (field, value, expected) in [
        ("tail_ip", Some("10.0.0".into()), "config.tail_ip: invalid IPv4 address syntax"),
        ("own_mac", Some("02:00:00:00:00".into()), "config.own_mac: invalid MAC address \"02:00:00:00:00\""),
        ("mode", Some(1.into()), "config.mode: invalid type: integer `1`, expected a string"),
        ("key_hi", Some(65537.into()), "config.key_hi: 65537 is above the maximum 65536"),
        ("key_lo", Some(65536.into()), "config.key_lo: invalid value: integer `65536`, expected u16"),
        ("colour", Some("blue".into()), "config.colour: unknown field `colour`, expected one of `own_mac`"),
        ("key_lo", None, "config: missing field `key_lo`"),
    ] {
        let mut case = case_json("chain.json", "commit-tail-applies");
        let config = case["config"].as_object_mut().unwrap();
        match value {
            Some(value) => config.insert(field.to_string(), value),
            None => config.remove(field),
        };
        let text = load_error(field, case);
        assert!(text.contains(expected), "{text}");
    }
}

#[test]
fn bad_fabric_ports_are_refused_naming_the_field() {
    let entry =
        serde_json::json!({ "port": 2, "from_predecessor": true, "from_successor": false, "from_controller": false });
    for (change, expected) in [
        (serde_json::json!({ "port": 70000 }), "fabric_ports[0].port: 70000 is above the maximum 65535"),
        (serde_json::json!({ "from_successor": 1 }), "fabric_ports[0].from_successor: expected true or false"),
        (serde_json::json!({ "neighbour": "N2" }), "fabric_ports[0].neighbour: unknown field"),
    ] {
        let mut bad = entry.clone();
        bad.as_object_mut().unwrap().extend(change.as_object().unwrap().clone());
        let mut case = case_json("chain.json", "commit-tail-applies");
        case["fabric_ports"] = serde_json::json!([bad]);
        let text = load_error("fabric", case);
        assert!(text.contains(expected), "{text}");
    }
    let mut case = case_json("chain.json", "commit-tail-applies");
    case["fabric_ports"] = serde_json::json!([entry.clone(), entry]);
    assert!(load_error("fabric-twice", case).contains("fabric_ports[1].port: port 2 listed twice"));
    let mut case = case_json("chain.json", "commit-tail-applies");
    case.as_object_mut().unwrap().remove("fabric_ports");
    assert!(load_error("fabric-missing", case).contains("fabric_ports: missing field"));
}

/// `NodeConfig` lets a node file leave its epoch out; a vector may not.
#[test]
fn a_config_without_epoch_is_refused() {
    let mut case = case_json("chain.json", "commit-tail-applies");
    case["config"].as_object_mut().unwrap().remove("epoch");
    let text = load_error("epoch", case);
    assert!(text.contains("config.epoch: missing field"), "{text}");
}

/// `NodeConfig` writes a case's `config` back exactly as the vectors do.
#[test]
fn configs_serialize_as_the_vectors_write_them() {
    let mut configs = 0;
    for file in load_dir(&vectors_dir()).unwrap() {
        let raw: Value = serde_json::from_str(&std::fs::read_to_string(&file.path).unwrap()).unwrap();
        for (raw, case) in raw["cases"].as_array().unwrap().iter().zip(&file.cases) {
            if let Some(config) = &case.config {
                assert_eq!(serde_json::to_value(config).unwrap(), raw["config"], "{}", case.name);
                configs += 1;
            }
        }
    }
    assert!(configs > 200, "only {configs} configs");
}

#[test]
fn inconsistent_counters_are_refused() {
    let mut case = case_json("chain.json", "commit-tail-applies");
    case["steps"][0]["outcomes"] = serde_json::json!(["COMMIT_DUPLICATE"]);
    assert!(load_error("sum", case).contains("final_counters.outcomes"));

    let mut case = case_json("chain.json", "commit-tail-applies");
    case["steps"][0]["outcomes"] = serde_json::json!(["COMMITTED"]);
    assert!(load_error("name", case).contains("\"COMMITTED\" is not an outcome"));
}

#[test]
fn invalid_json_names_the_file() {
    let path = temp_file("json", "{ \"description\": \"x\", \"cases\": [ ");
    let text = load_file(&path).unwrap_err().to_string();
    assert!(text.contains("bad.json") && text.contains("invalid JSON"), "{text}");
}

/// The core with one fault injected after each frame.
struct Faulty {
    node: Node,
    fault: fn(&mut Node, &mut Vec<Output>),
}

impl Faulty {
    fn new(fault: fn(&mut Node, &mut Vec<Output>)) -> Self {
        Faulty { node: Node::new(DEFAULT_KEY_CAPACITY), fault }
    }
}

impl NodeUnderTest for Faulty {
    fn reset(&mut self, state: &InitialState<'_>) -> Result<(), String> {
        self.node.reset(state)
    }

    fn receive(&mut self, ingress_port: u16, clock_ticks: u32, frame: &[u8]) -> Result<Vec<Output>, String> {
        let mut sent = self.node.receive(ingress_port, clock_ticks, frame)?;
        (self.fault)(&mut self.node, &mut sent);
        Ok(sent)
    }

    fn registers(&mut self) -> Result<Vec<KeyRegisters>, String> {
        NodeUnderTest::registers(&mut self.node)
    }

    fn counters(&mut self) -> Result<Counters, String> {
        self.node.counters()
    }

    fn lease(&mut self) -> Result<Lease, String> {
        NodeUnderTest::lease(&mut self.node)
    }
}

fn run_one(node: &mut dyn NodeUnderTest, file: &str, name: &str) -> Vec<netcraq_conformance::Mismatch> {
    let file = vector_file(file);
    let case = file.cases.iter().find(|c| c.name == name).unwrap();
    run_case(node, &file.path, case)
}

#[test]
fn a_wrong_ttl_is_reported_at_its_byte_and_field() {
    let mut node = Faulty::new(|_, sent| sent.iter_mut().for_each(|out| out.frame[22] = out.frame[22].wrapping_add(1)));
    let mismatches = run_one(&mut node, "chain.json", "commit-tail-applies");
    assert_eq!(mismatches.len(), 2, "both outputs are wrong: {mismatches:?}");
    for (index, mismatch) in mismatches.iter().enumerate() {
        assert_eq!(mismatch.step, Some(1));
        assert!(matches!(mismatch.difference, Difference::OutputFrame { index: i, .. } if i == index));
        let text = mismatch.to_string();
        assert!(text.contains("chain.json: commit-tail-applies: step 1"), "{text}");
        assert!(text.contains("differs first at byte 22 (IPv4 TTL)"), "{text}");
        assert!(text.contains("differing fields: IPv4 TTL"), "{text}");
    }
}

#[test]
fn a_missing_output_and_a_wrong_port_are_reported() {
    let mut node = Faulty::new(|_, sent| {
        sent.truncate(1);
    });
    let mismatches = run_one(&mut node, "chain.json", "commit-tail-applies");
    assert!(matches!(&mismatches[..], [m] if matches!(&m.difference,
        Difference::OutputCount { expected, actual } if expected.len() == 2 && actual.len() == 1)));

    let mut node = Faulty::new(|_, sent| sent.iter_mut().for_each(|out| out.port += 1));
    let mismatches = run_one(&mut node, "read.json", "read-tail-craq-clean");
    assert!(
        matches!(&mismatches[..], [m] if m.difference == Difference::OutputPort { index: 0, expected: 4, actual: 5 })
    );
}

#[test]
fn lost_register_updates_and_padding_are_reported() {
    // Undo every write: the registers go back to zero after each frame.
    let mut node = Faulty::new(|node, _| {
        let keys: Vec<u16> = Node::registers(node).non_zero().map(|(k, _)| k).collect();
        for key in keys {
            *node.registers_mut().get_mut(key).unwrap() = Default::default();
        }
    });
    let mismatches = run_one(&mut node, "chain.json", "chain-write-replica-applies-first");
    assert!(
        matches!(&mismatches[..], [m] if matches!(&m.difference,
        Difference::Registers { key: 5, expected: Some(_), actual: None })),
        "{mismatches:?}"
    );

    // Outputs that keep two bytes of padding.
    let mut node = Faulty::new(|_, sent| sent.iter_mut().for_each(|out| out.frame.extend([0, 0])));
    let mismatches = run_one(&mut node, "read.json", "read-tail-craq-clean");
    let text = mismatches[0].to_string();
    assert!(text.contains("byte 62 (bytes after the NetCRAQ header"), "{text}");
    assert!(text.contains("length: expected 62 bytes, actual 64"), "{text}");
}

/// Counts `READ_LOCAL` for every frame, whatever happened.
struct WrongCounters(Node);

impl NodeUnderTest for WrongCounters {
    fn reset(&mut self, state: &InitialState<'_>) -> Result<(), String> {
        self.0.reset(state)
    }

    fn receive(&mut self, ingress_port: u16, clock_ticks: u32, frame: &[u8]) -> Result<Vec<Output>, String> {
        self.0.receive(ingress_port, clock_ticks, frame)
    }

    fn registers(&mut self) -> Result<Vec<KeyRegisters>, String> {
        NodeUnderTest::registers(&mut self.0)
    }

    fn counters(&mut self) -> Result<Counters, String> {
        let mut counters = self.0.counters()?;
        let total: u64 = counters.outcomes.values().sum();
        counters.outcomes = [("READ_LOCAL".to_string(), total)].into();
        Ok(counters)
    }

    fn lease(&mut self) -> Result<Lease, String> {
        NodeUnderTest::lease(&mut self.0)
    }
}

#[test]
fn wrong_counters_are_reported_per_step() {
    let mut node = WrongCounters(Node::new(DEFAULT_KEY_CAPACITY));
    let mismatches = run_one(&mut node, "routing.json", "no-route-tail-both");
    let text = mismatches[0].to_string();
    assert_eq!(mismatches[0].step, Some(1));
    assert!(text.contains("counter increments [READ_LOCAL x3], expected [COMMIT_APPLIED, NO_ROUTE x2]"), "{text}");
}

struct Panicking;

impl NodeUnderTest for Panicking {
    fn reset(&mut self, _: &InitialState<'_>) -> Result<(), String> {
        Ok(())
    }

    fn receive(&mut self, _: u16, _: u32, _: &[u8]) -> Result<Vec<Output>, String> {
        panic!("boom")
    }

    fn registers(&mut self) -> Result<Vec<KeyRegisters>, String> {
        Ok(Vec::new())
    }

    fn counters(&mut self) -> Result<Counters, String> {
        Ok(Counters::default())
    }

    fn lease(&mut self) -> Result<Lease, String> {
        Ok(Lease::default())
    }
}

#[test]
fn a_panicking_implementation_is_reported_and_the_run_goes_on() {
    let files = [vector_file("emission.json")];
    let report = run_files(&mut Panicking, &files);
    assert_eq!(report.failed_cases().len(), files[0].cases.len());
    assert!(report.mismatches.iter().all(|m| matches!(&m.difference, Difference::Node(e) if e.contains("boom"))));
}

/// The core as a node without one of the trust checks would behave: every
/// frame arrives on one fabric port marked for both neighbours, or every
/// chain op addressed to the node carries the epoch of its key's chain.
struct Trusting {
    node: Node,
    ignore_ports: bool,
    ignore_epochs: bool,
    own: Option<NodeConfig>,
}

impl Trusting {
    const EVERYWHERE: [FabricPort; 1] =
        [FabricPort { port: 0, from_predecessor: true, from_successor: true, from_controller: true }];

    fn new(ignore_ports: bool, ignore_epochs: bool) -> Self {
        Trusting { node: Node::new(DEFAULT_KEY_CAPACITY), ignore_ports, ignore_epochs, own: None }
    }
}

impl NodeUnderTest for Trusting {
    fn reset(&mut self, state: &InitialState<'_>) -> Result<(), String> {
        self.own = state.config.copied();
        match self.ignore_ports {
            true => self.node.reset(&InitialState { fabric_ports: &Self::EVERYWHERE, ..*state }),
            false => self.node.reset(state),
        }
    }

    fn receive(&mut self, ingress_port: u16, clock_ticks: u32, frame: &[u8]) -> Result<Vec<Output>, String> {
        let mut frame = frame.to_vec();
        let chain_op = frame.len() >= CHAIN_FRAME_LEN && Op::from_code(frame[42]).is_some_and(Op::is_chain);
        if let Some(own) = self.own.filter(|own| self.ignore_epochs && chain_op && frame[30..34] == own.own_ip.octets())
        {
            // The epoch of the key's chain (§2.3): its group's, node_config's for a RENEW.
            let key = u16::from_be_bytes([frame[44], frame[45]]);
            let group = self.node.key_groups().lookup(key).filter(|_| frame[42] != Op::Renew as u8);
            let epoch = group.map_or(own.epoch, |group| group.epoch);
            frame[62..66].copy_from_slice(&epoch.to_be_bytes());
        }
        self.node.receive(if self.ignore_ports { 0 } else { ingress_port }, clock_ticks, &frame)
    }

    fn registers(&mut self) -> Result<Vec<KeyRegisters>, String> {
        NodeUnderTest::registers(&mut self.node)
    }

    fn counters(&mut self) -> Result<Counters, String> {
        self.node.counters()
    }

    fn lease(&mut self) -> Result<Lease, String> {
        NodeUnderTest::lease(&mut self.node)
    }
}

/// The cases that fail against `node`, and those that expect `outcome` in some step.
fn failed_and_expecting(node: &mut Trusting, outcome: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let files = load_dir(&vectors_dir()).unwrap();
    let report = run_files(node, &files);
    let failed = report.failed_cases().into_iter().map(str::to_string).collect();
    let cases = files.iter().flat_map(|f| &f.cases);
    let expecting = cases.filter(|c| c.steps.iter().any(|s| s.outcomes.iter().any(|o| o == outcome)));
    (failed, expecting.map(|c| c.name.clone()).collect())
}

#[test]
fn a_node_that_ignores_the_ingress_port_fails_exactly_the_not_from_chain_cases() {
    let (failed, expecting) = failed_and_expecting(&mut Trusting::new(true, false), "DROP_NOT_FROM_CHAIN");
    assert!(expecting.len() > 20, "{expecting:?}");
    assert_eq!(failed, expecting);
}

#[test]
fn a_node_that_ignores_the_epoch_fails_exactly_the_wrong_epoch_cases() {
    let (failed, expecting) = failed_and_expecting(&mut Trusting::new(false, true), "DROP_WRONG_EPOCH");
    assert!(expecting.len() > 5, "{expecting:?}");
    assert_eq!(failed, expecting);
}
