//! Deployment files (TOML, `docs/controller.md`): topology files
//! (`controlplane/topology/README.md`) that give every node its P4Runtime
//! address. The topology crate parses and checks them and plans every
//! node's tables (`netcraq_plan::network`), exactly as for `netcraq up`;
//! this module turns the result into a [`Deployment`].

use crate::deploy::{Deployment, NodeTarget, DEFAULT_ELECTION_ID, DEFAULT_TIMEOUT};
use crate::target::{PipelineFiles, TargetOptions};
use netcraq_p4runtime_client::{ClientTlsFiles, IdentityFiles};
use netcraq_topology::{Node, NodeFile, TlsSettings, Topology};
use std::path::Path;
use std::time::Duration;

/// The device id when a node gives none: `netcraq node`'s default.
pub const DEFAULT_DEVICE_ID: u64 = 1;

/// Why a deployment file was refused; names the file and the entry at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentFileError(pub String);

impl std::fmt::Display for DeploymentFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeploymentFileError {}

/// Loads the deployment file at `path` for `apply`: spares are left out
/// (they stay unconfigured until the running controller adds one to its
/// chain). Pipeline and TLS paths in it are relative to the file's directory.
pub fn load_deployment(path: &Path) -> Result<Deployment, DeploymentFileError> {
    let (topology, deployment) = load_with_spares(path)?;
    Ok(without_spares(&topology, deployment))
}

/// Loads the deployment file at `path` with its spares, and its topology:
/// what the running controller (`netcraq controller`) works from.
pub fn load_with_spares(path: &Path) -> Result<(Topology, Deployment), DeploymentFileError> {
    let topology = Topology::load(path).map_err(|e| DeploymentFileError(format!("deployment file {e}")))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let deployment = deployment_of(&topology, base)
        .map_err(|e| DeploymentFileError(format!("deployment file {}: {e}", path.display())))?;
    Ok((topology, deployment))
}

/// Parses a deployment file's text for `apply`; relative pipeline and TLS
/// paths are joined to `base`.
pub fn parse_deployment(text: &str, base: &Path) -> Result<Deployment, DeploymentFileError> {
    let topology = Topology::parse(text).map_err(|e| DeploymentFileError(e.to_string()))?;
    Ok(without_spares(&topology, deployment_of(&topology, base)?))
}

/// `deployment` without the topology's spares.
fn without_spares(topology: &Topology, mut deployment: Deployment) -> Deployment {
    let is_spare = |name: &str| topology.chains().iter().any(|c| c.spares.iter().any(|s| s == name));
    deployment.nodes.retain(|node| !is_spare(&node.spec.name));
    deployment
}

/// The deployment of a topology whose nodes all give their P4Runtime
/// address, spares included.
pub fn deployment_of(topology: &Topology, base: &Path) -> Result<Deployment, DeploymentFileError> {
    let plan = topology.plan().map_err(|e| DeploymentFileError(e.to_string()))?;
    let mut nodes = Vec::with_capacity(plan.nodes.len());
    // The plan has a file per node in topology order: every node is in a chain, or its spare.
    for (node, file) in topology.nodes().iter().zip(&plan.nodes) {
        let Some(server) = &node.p4runtime else {
            return Err(DeploymentFileError(format!(
                "node {}: no p4runtime: a deployment file gives every node's P4Runtime address, host:port",
                node.name
            )));
        };
        let mut target = planned_target(node, file, &server.address);
        target.spec.device_id = server.device_id.unwrap_or(DEFAULT_DEVICE_ID);
        target.spec.pipeline = PipelineFiles {
            p4info: server.p4info.as_ref().map(|p| base.join(p)),
            device_config: server.device_config.as_ref().map(|p| base.join(p)),
        };
        nodes.push(target);
    }
    let settings = topology.controller();
    Ok(Deployment {
        nodes,
        election_id: settings.election_id.map_or(DEFAULT_ELECTION_ID, u128::from),
        options: TargetOptions {
            timeout: settings.timeout_ms.map_or(DEFAULT_TIMEOUT, Duration::from_millis),
            reinstall_pipeline: settings.reinstall_pipeline,
            tls: settings.tls.as_ref().map(|tls| client_tls(tls, base)),
        },
    })
}

/// The controller's TLS files of `[tls]`, relative paths joined to `base`.
fn client_tls(tls: &TlsSettings, base: &Path) -> ClientTlsFiles {
    let identity = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => Some(IdentityFiles { cert: base.join(cert), key: base.join(key) }),
        // The topology's checks refuse one without the other.
        _ => None,
    };
    ClientTlsFiles { ca: base.join(&tls.ca), identity, server_name: tls.server_name.clone() }
}

/// A node of a topology as the controller's target at `address`, with the
/// tables its plan gives it and no pipeline files.
pub(crate) fn planned_target(node: &Node, file: &NodeFile, address: &str) -> NodeTarget {
    let tables = file.tables();
    NodeTarget::new(&node.name, node.kind, address, DEFAULT_DEVICE_ID, tables)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcraq_core::Role;
    use netcraq_topology::{derived_mac, NodeKind};
    use netcraq_wire::Ipv4Addr;
    use std::path::PathBuf;

    const CHAIN3: &str = r#"
election_id = 7

[[node]]
name = "n1"
kind = "software"
p4runtime = "127.0.0.1:9559"
ip = "10.0.0.1"

[[node]]
name = "n2"
kind = "dpdk"
p4runtime = "127.0.0.1:9560"
device_id = 3
ip = "10.0.0.2"

[[node]]
name = "s3"
kind = "bmv2"
p4runtime = "127.0.0.1:9561"
ip = "10.0.0.3"
p4info = "build/netcraq.p4info.txtpb"
device_config = "build/bmv2/netcraq.json"

[[host]]
name = "h1"
ip = "10.0.1.1"

[[link]]
a = "h1"
b = "n1"

[[link]]
a = "n1"
b = "n2"

[[link]]
a = "n2"
b = "s3"
b_port = 7

[[chain]]
name = "kv"
nodes = ["n1", "n2", "s3"]
mode = "craq"
keys = [0, 65536]
"#;

    #[test]
    fn a_deployment_file_gives_every_node_its_chain_tables() {
        let deployment = parse_deployment(CHAIN3, Path::new("/etc/netcraq")).unwrap();
        assert_eq!(deployment.election_id, 7);
        let [n1, n2, s3] = &deployment.nodes[..] else { panic!("three nodes") };
        assert_eq!((n1.spec.kind, n1.spec.device_id), (NodeKind::Software, DEFAULT_DEVICE_ID));
        assert_eq!((n2.spec.kind, n2.spec.device_id), (NodeKind::Dpdk, 3));
        assert_eq!(s3.spec.pipeline.device_config, Some(PathBuf::from("/etc/netcraq/build/bmv2/netcraq.json")));
        let roles: Vec<Role> = deployment.nodes.iter().map(|n| n.tables.config.role).collect();
        assert_eq!(roles, [Role::Head, Role::Replica, Role::Tail]);
        // s3 reaches n2 on its explicit port 7; n2 reaches s3 on its port 2 (second link of n2).
        let route = |node: &NodeTarget, ip: [u8; 4]| {
            *node.tables.routes.iter().find(|r| r.prefix == Ipv4Addr::from(ip)).unwrap()
        };
        assert_eq!(
            (route(s3, [10, 0, 0, 2]).port, route(s3, [10, 0, 0, 2]).mac),
            (7, derived_mac([10, 0, 0, 2].into()))
        );
        assert_eq!(route(n2, [10, 0, 0, 3]).port, 2);
        assert_eq!(route(s3, [10, 0, 1, 1]).port, 7, "the host is reached through n2");
        assert_eq!(n1.tables.routes.len(), 3, "two peers and one host");
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (CHAIN3.replace("kind = \"dpdk\"", "kind = \"fpga\""), "node n2: kind \"fpga\""),
            (
                CHAIN3.replace("nodes = [\"n1\", \"n2\", \"s3\"]", "nodes = [\"n1\", \"n2\"]"),
                "node s3: belongs to no chain",
            ),
            (CHAIN3.replace("b_port = 7", "b_port = 0"), "port 0 of s3"),
            (
                CHAIN3.replace("ip = \"10.0.0.2\"", "ip = \"10.0.0.1\""),
                "node n2: ip 10.0.0.1 is already used by node n1",
            ),
            (CHAIN3.replace("keys = [0, 65536]", "keys = [5, 5]"), "chain kv: keys [5, 5]"),
            (CHAIN3.replace("[[link]]\na = \"n1\"\nb = \"n2\"\n", ""), "node n2: has no path to node n1"),
            (CHAIN3.replace("election_id = 7", "election_id = 7\ncolour = 1"), "unknown field `colour`"),
        ];
        for (text, expected) in cases {
            let error = parse_deployment(&text, Path::new(".")).unwrap_err().to_string();
            assert!(error.contains(expected), "{error:?} should contain {expected:?}");
        }
    }

    #[test]
    fn tls_paths_are_relative_to_the_file_and_cert_needs_key() {
        let plain = parse_deployment(CHAIN3, Path::new("/etc/netcraq")).unwrap();
        assert_eq!(plain.options.tls, None);
        let mutual = format!("{CHAIN3}\n[tls]\nca = \"pki/ca.pem\"\ncert = \"pki/c.pem\"\nkey = \"/k.pem\"\n");
        let tls = parse_deployment(&mutual, Path::new("/etc/netcraq")).unwrap().options.tls.unwrap();
        let identity = IdentityFiles { cert: PathBuf::from("/etc/netcraq/pki/c.pem"), key: PathBuf::from("/k.pem") };
        assert_eq!(
            tls,
            ClientTlsFiles {
                ca: PathBuf::from("/etc/netcraq/pki/ca.pem"),
                identity: Some(identity),
                server_name: None
            }
        );
        let cases = [
            ("[tls]\nca = \"ca.pem\"\ncert = \"c.pem\"\n", "tls: cert and key go together"),
            ("[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n", "missing field `ca`"),
            ("[tls]\nca = \"ca.pem\"\nserver_name = \"\"\n", "tls: server_name is empty"),
        ];
        for (section, expected) in cases {
            let error = parse_deployment(&format!("{CHAIN3}\n{section}"), Path::new(".")).unwrap_err().to_string();
            assert!(error.contains(expected), "{error:?} should contain {expected:?}");
        }
    }

    #[test]
    fn a_deployment_names_every_node_a_p4runtime_server_of_any_kind() {
        let without = CHAIN3.replace("p4runtime = \"127.0.0.1:9560\"\n", "").replace("device_id = 3\n", "");
        let error = parse_deployment(&without, Path::new(".")).unwrap_err().to_string();
        assert_eq!(error, "node n2: no p4runtime: a deployment file gives every node's P4Runtime address, host:port");
        let tofino = parse_deployment(&CHAIN3.replace("kind = \"bmv2\"", "kind = \"tofino\""), Path::new(".")).unwrap();
        assert_eq!(tofino.nodes[2].spec.kind, NodeKind::Tofino);
    }
}
