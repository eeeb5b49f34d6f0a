//! The controller's logic over fake targets: write order, rollback, and
//! that apply never looks past the trait. Real nodes: cli/tests/ctl.rs.

use crate::deploy::Controller;
use crate::target::{Capabilities, ForwardingChanges, NodeError, PipelineOutcome, Target};
use async_trait::async_trait;
use netcraq_core::control::{CounterId, RegisterId};
use netcraq_core::{Mode, NodeConfig, Route};
use netcraq_plan::plan::{chain_tables, ChainSpec, NodeTables, Reachability};
use netcraq_topology::NodeKind;
use netcraq_wire::Endpoint;
use netcraq_wire::{Ipv4Addr, MacAddr};
use std::sync::{Arc, Mutex};

/// Every call any fake target saw, in order: `"n1 set_config"`.
type Journal = Arc<Mutex<Vec<String>>>;

struct FakeTarget {
    name: String,
    journal: Journal,
    /// The first call with this name fails.
    fail_on: Option<&'static str>,
    config: Option<NodeConfig>,
}

impl FakeTarget {
    fn record(&mut self, call: &'static str) -> Result<(), NodeError> {
        self.journal.lock().unwrap().push(format!("{} {call}", self.name));
        match self.fail_on == Some(call) {
            true => Err(NodeError::new(&self.name, "fake:1", format!("{call} failed on purpose"))),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl Target for FakeTarget {
    fn name(&self) -> &str {
        &self.name
    }
    fn address(&self) -> &str {
        "fake:1"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kind: NodeKind::Software,
            key_capacity: 1024,
            route_capacity: 8,
            needs_replication_entries: false,
            installs_pipeline: false,
            packet_out_port: netcraq_core::CONTROLLER_PORT,
        }
    }
    async fn connect(&mut self) -> Result<(), NodeError> {
        self.record("connect")
    }
    async fn become_primary(&mut self, _election_id: u128) -> Result<(), NodeError> {
        self.record("become_primary")
    }
    async fn prepare_pipeline(&mut self) -> Result<PipelineOutcome, NodeError> {
        self.record("prepare_pipeline").map(|()| PipelineOutcome::Checked)
    }
    async fn write_forwarding(&mut self, tables: &NodeTables) -> Result<ForwardingChanges, NodeError> {
        self.record("write_forwarding")?;
        Ok(ForwardingChanges { routes_inserted: tables.routes.len(), ..ForwardingChanges::default() })
    }
    async fn set_config(&mut self, config: &NodeConfig) -> Result<(), NodeError> {
        self.record("set_config")?;
        self.config = Some(*config);
        Ok(())
    }
    async fn clear_config(&mut self) -> Result<(), NodeError> {
        self.record("clear_config")?;
        self.config = None;
        Ok(())
    }
    async fn read_config(&mut self) -> Result<Option<NodeConfig>, NodeError> {
        Ok(self.config)
    }
    async fn read_routes(&mut self) -> Result<Vec<Route>, NodeError> {
        Ok(Vec::new())
    }
    async fn read_counter(&mut self, _counter: CounterId) -> Result<Vec<u64>, NodeError> {
        Ok(Vec::new())
    }
    async fn read_register(&mut self, _register: RegisterId, _key: Option<u16>) -> Result<Vec<(u32, u128)>, NodeError> {
        Ok(Vec::new())
    }
    async fn packet_out(&mut self, _frame: &[u8]) -> Result<(), NodeError> {
        self.record("packet_out")
    }
}

struct OnePortPerPeer;

impl Reachability for OnePortPerPeer {
    fn port(&self, _from: usize, to: Ipv4Addr) -> Option<(u16, MacAddr)> {
        Some((u16::from(to.octets()[3]), MacAddr([2, 0, 0, 0, 0, to.octets()[3]])))
    }
}

fn chain(len: u8) -> Vec<NodeTables> {
    let nodes = (1..=len).map(|i| Endpoint { ip: Ipv4Addr::new(10, 0, 0, i), mac: MacAddr([2, 0, 0, 0, 0, i]) });
    let spec =
        ChainSpec { nodes: nodes.collect(), mode: Mode::Craq, key_lo: 0, key_hi: 1024, epoch: 1, lease_ticks: 0 };
    chain_tables(&spec, &[], &OnePortPerPeer).unwrap()
}

/// A controller over `tables`, listed in `listed` order (node names are
/// `n<position in the chain>`), where node `failing` fails call `call`.
fn controller(
    tables: Vec<NodeTables>,
    listed: &[usize],
    failing: Option<(usize, &'static str)>,
) -> (Controller, Journal) {
    let journal = Journal::default();
    let targets = listed
        .iter()
        .map(|&i| {
            let fake = FakeTarget {
                name: format!("n{}", i + 1),
                journal: journal.clone(),
                fail_on: failing.filter(|(node, _)| *node == i).map(|(_, call)| call),
                config: None,
            };
            (Box::new(fake) as Box<dyn Target>, tables[i].clone())
        })
        .collect();
    (Controller::with_targets(targets, 5).unwrap(), journal)
}

fn calls(journal: &Journal, call: &str) -> Vec<String> {
    let journal = journal.lock().unwrap();
    journal.iter().filter_map(|line| line.strip_suffix(&format!(" {call}")).map(str::to_string)).collect()
}

fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    crate::block_on_runtime().unwrap().block_on(future)
}

#[test]
fn routes_go_everywhere_first_then_node_config_from_tail_to_head() {
    // Listed out of chain order: the order comes from the chain, not the list.
    let (mut controller, journal) = controller(chain(4), &[1, 3, 0, 2], None);
    let report = run(controller.apply()).unwrap();
    assert_eq!(report.config_order, ["n4", "n3", "n2", "n1"]);
    let journal_lines = journal.lock().unwrap().clone();
    let last_forwarding = journal_lines.iter().rposition(|l| l.ends_with("write_forwarding")).unwrap();
    let first_config = journal_lines.iter().position(|l| l.ends_with("set_config")).unwrap();
    assert!(last_forwarding < first_config, "every route before any node_config: {journal_lines:?}");
    assert_eq!(calls(&journal, "become_primary").len(), 4);
    assert!(report.to_string().contains("node_config written tail to head: n4, n3, n2, n1"), "{report}");
}

#[test]
fn a_failure_mid_apply_clears_what_this_apply_configured() {
    // n2 (the middle of three) fails its set_config: n3 was configured, n1 never.
    let (mut controller, journal) = controller(chain(3), &[0, 1, 2], Some((1, "set_config")));
    let error = run(controller.apply()).unwrap_err();
    assert_eq!(calls(&journal, "set_config"), ["n3", "n2"]);
    assert_eq!(calls(&journal, "clear_config"), ["n2", "n3"], "heads first, including the node that failed");
    assert_eq!(error.rolled_back, ["n2", "n3"]);
    let text = error.to_string();
    assert!(text.starts_with("apply failed: node n2 (fake:1): set_config failed on purpose"), "{text}");
    assert!(text.contains("n3: node_config set (TAIL)") && text.contains("rolled back: node_config cleared"), "{text}");
    let configs = run(controller.read_tables()).unwrap();
    assert!(configs.iter().all(|(_, config, _)| config.is_none()), "{configs:?}");
}

#[test]
fn a_failure_before_node_config_changes_no_config_and_says_so() {
    let (mut controller, journal) = controller(chain(3), &[0, 1, 2], Some((2, "connect")));
    let error = run(controller.apply()).unwrap_err();
    assert!(calls(&journal, "write_forwarding").is_empty() && calls(&journal, "clear_config").is_empty());
    assert!(error.to_string().ends_with("nothing was changed on any node"), "{error}");
    let (mut controller, _) = controller_failing_forwarding();
    let error = run(controller.apply()).unwrap_err().to_string();
    assert!(error.contains("this apply wrote no node_config"), "{error}");
}

fn controller_failing_forwarding() -> (Controller, Journal) {
    controller(chain(2), &[0, 1], Some((1, "write_forwarding")))
}

#[test]
fn tables_a_node_would_refuse_are_refused_before_any_node_is_touched() {
    let mut tables = chain(2);
    tables[1].config.key_hi = 4096;
    let journal = Journal::default();
    let fake =
        |name: &str| FakeTarget { name: name.to_string(), journal: journal.clone(), fail_on: None, config: None };
    let targets: Vec<(Box<dyn Target>, NodeTables)> =
        vec![(Box::new(fake("n1")), tables[0].clone()), (Box::new(fake("n2")), tables[1].clone())];
    let error = Controller::with_targets(targets, 1).err().unwrap().to_string();
    assert!(error.contains("node n2 (fake:1): its node_config would be refused"), "{error}");
    // A chain whose tail is missing: the replica would forward into nothing.
    let tables = chain(3);
    let targets: Vec<(Box<dyn Target>, NodeTables)> =
        vec![(Box::new(fake("n1")), tables[0].clone()), (Box::new(fake("n2")), tables[1].clone())];
    let error = Controller::with_targets(targets, 1).err().unwrap().to_string();
    assert!(error.contains("node n2 (fake:1): its chain continues at 10.0.0.3"), "{error}");
    assert!(journal.lock().unwrap().is_empty());
}
