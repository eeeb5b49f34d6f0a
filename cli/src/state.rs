//! What `netcraq up` leaves for `get`, `put` and tests while it runs: which
//! namespace each host and node lives in, each node's address and stats
//! file, and each chain's order. Removed on teardown.

use netcraq_topology::{stats_path, Running};
use netcraq_wire::Ipv4Addr;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const STATE_DIR: &str = "/run/netcraq";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    /// The `netcraq up` process, so a stale file is recognised.
    pub pid: u32,
    pub hosts: Vec<RunningDevice>,
    pub nodes: Vec<RunningDevice>,
    /// Chains as node names, head first.
    pub chains: Vec<Vec<String>>,
}

/// A host or node of the running topology: where it lives and how to reach it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunningDevice {
    pub name: String,
    pub ip: Ipv4Addr,
    pub namespace: String,
    /// Nodes only: where the node writes its counters.
    pub stats: Option<PathBuf>,
    /// Nodes only: the node's P4Runtime server (`host:port`).
    #[serde(default)]
    pub p4runtime: Option<String>,
}

/// The state file of a topology file: one per topology file name.
pub fn state_path(topology: &Path) -> PathBuf {
    let stem = topology.file_stem().map_or_else(|| "topology".into(), |s| s.to_string_lossy().into_owned());
    Path::new(STATE_DIR).join(format!("{stem}.json"))
}

impl RunState {
    pub fn of(running: &Running, chains: Vec<Vec<String>>, p4runtime: Vec<(String, String)>) -> RunState {
        let namespace = |name: &str| running.namespace(name).map(|ns| ns.name().to_owned()).unwrap_or_default();
        let plan = running.plan();
        let hosts = plan
            .hosts
            .iter()
            .map(|h| RunningDevice {
                name: h.name.clone(),
                ip: h.ip,
                namespace: namespace(&h.name),
                stats: None,
                p4runtime: None,
            })
            .collect();
        let nodes = plan
            .nodes
            .iter()
            .map(|n| RunningDevice {
                name: n.name.clone(),
                ip: n.config.own_ip,
                namespace: namespace(&n.name),
                stats: running.node_file(&n.name).map(|f| stats_path(&f)),
                p4runtime: p4runtime.iter().find(|(name, _)| *name == n.name).map(|(_, address)| address.clone()),
            })
            .collect();
        RunState { pid: std::process::id(), hosts, nodes, chains }
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let context = |e: std::io::Error| format!("writing {}: {e}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(context)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(self).expect("state serialises")).map_err(context)
    }

    /// The state of a running `netcraq up` for this topology file.
    pub fn load(topology: &Path) -> Result<RunState, String> {
        let path = state_path(topology);
        let not_running = || {
            format!(
                "no running topology for {}: start it with `netcraq up --topology {}` (as root)",
                topology.display(),
                topology.display()
            )
        };
        let text = std::fs::read_to_string(&path).map_err(|_| not_running())?;
        let state: RunState = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        match Path::new(&format!("/proc/{}", state.pid)).exists() {
            true => Ok(state),
            false => Err(not_running()),
        }
    }

    pub fn node(&self, name_or_ip: &str) -> Option<&RunningDevice> {
        self.nodes.iter().find(|n| n.name == name_or_ip || n.ip.to_string() == name_or_ip)
    }

    pub fn host(&self, name: &str) -> Option<&RunningDevice> {
        self.hosts.iter().find(|h| h.name == name)
    }
}
