//! `netcraq node --p4runtime ADDR [--netns NAME]`: the node's P4Runtime
//! server (`docs/p4runtime.md`), plaintext or over TLS (`--p4runtime-tls-*`),
//! on its own thread, feeding the poll loop's
//! control port; and the management model of `--netns`: the listener is
//! bound where the node starts (like a switch's management port), then the
//! node moves into its data namespace before opening its packet sockets.

use clap::Args;
use netcraq_core::faults::FaultSettings;
use netcraq_node::afpacket::PortSpec;
use netcraq_node::control::{control_channel, ControlPort};
use netcraq_p4runtime::tls::IdentityFiles;
use netcraq_p4runtime::P4InfoIndex;
use netcraq_p4runtime_server::{
    bind, serve_on_thread, NodeService, RunningServer, ServerCountersSnapshot, ServerSettings, ServerTlsFiles,
};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ControlArgs {
    /// Serve P4Runtime (gRPC) on ADDR, e.g. 127.0.0.1:9559 (port 0: any free
    /// port, see --p4runtime-port-file). The controller then sets node_config,
    /// routes and registers and reads counters; without --config the node
    /// starts unconfigured and waits for it.
    #[arg(long, value_name = "ADDR")]
    pub p4runtime: Option<String>,
    /// With --p4runtime: write the bound TCP port to PATH once the node
    /// polls (so whoever reads it finds a node that answers).
    #[arg(long, value_name = "PATH", requires = "p4runtime")]
    pub p4runtime_port_file: Option<PathBuf>,
    /// With --p4runtime: the P4Runtime device id controllers must use.
    #[arg(long, value_name = "ID", default_value_t = 1, requires = "p4runtime")]
    pub p4runtime_device_id: u64,
    /// With --p4runtime: serve P4Runtime over TLS with this certificate (PEM:
    /// the node's, then any intermediate CAs'); needs --p4runtime-tls-key.
    /// Default: plaintext
    #[arg(long, value_name = "FILE", requires_all = ["p4runtime", "p4runtime_tls_key"])]
    pub p4runtime_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --p4runtime-tls-cert
    #[arg(long, value_name = "FILE", requires = "p4runtime_tls_cert")]
    pub p4runtime_tls_key: Option<PathBuf>,
    /// Mutual TLS: serve only controllers that present a certificate signed
    /// by this CA (PEM)
    #[arg(long, value_name = "FILE", requires = "p4runtime_tls_cert")]
    pub p4runtime_tls_client_ca: Option<PathBuf>,
    /// Open the packet sockets in network namespace NAME (/run/netns/NAME),
    /// after binding the P4Runtime listener where the node starts.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Without --config: node port N is interface IFACE (repeatable).
    #[arg(long = "port", value_name = "N=IFACE", value_parser = parse_port, conflicts_with = "config")]
    pub ports: Vec<(u16, String)>,
    /// Without --config: the node's name in logs and stats.
    #[arg(long, value_name = "NAME", default_value = "node", conflicts_with = "config")]
    pub name: String,
}

fn parse_port(text: &str) -> Result<(u16, String), String> {
    let (number, interface) = text.split_once('=').ok_or("expected N=IFACE, e.g. 1=eth0")?;
    let number = number.trim().parse().map_err(|_| format!("{number:?} is not a port number"))?;
    match interface.trim() {
        "" => Err("IFACE is empty".to_string()),
        interface => Ok((number, interface.to_string())),
    }
}

/// The ports given with `--port`, without faults.
pub fn port_specs(args: &ControlArgs) -> Result<Vec<PortSpec>, String> {
    for (index, (number, _)) in args.ports.iter().enumerate() {
        if args.ports[..index].iter().any(|(n, _)| n == number) {
            return Err(format!("--port {number}=...: port {number} is given twice"));
        }
    }
    let spec = |(number, interface): &(u16, String)| PortSpec {
        number: *number,
        interface: interface.clone(),
        faults: FaultSettings::default(),
    };
    Ok(args.ports.iter().map(spec).collect())
}

/// A running P4Runtime server and the control port its requests arrive on.
pub struct Control {
    pub server: RunningServer,
    pub port: ControlPort,
    /// Where to write the bound port once the node polls (--p4runtime-port-file).
    pub port_file: Option<PathBuf>,
}

/// Starts the P4Runtime server when `--p4runtime` asks for one.
pub fn start(args: &ControlArgs, node_name: &str) -> Result<Option<Control>, String> {
    let Some(address) = &args.p4runtime else { return Ok(None) };
    let fail = |e: String| format!("node {node_name}: P4Runtime: {e}");
    let (handle, port) = control_channel().map_err(|e| fail(e.to_string()))?;
    // The files first: a wrong one stops the node before it listens.
    let tls = tls_files(args).map(|files| files.load()).transpose().map_err(|e| fail(format!("TLS: {e}")))?;
    let security = match (&tls, &args.p4runtime_tls_client_ca) {
        (None, _) => "plaintext",
        (Some(_), None) => "TLS",
        (Some(_), Some(_)) => "mutual TLS",
    };
    let settings = ServerSettings { device_id: args.p4runtime_device_id, ..ServerSettings::default() };
    let node = move |request, timeout| handle.call(request, timeout);
    let service = NodeService::new(P4InfoIndex::netcraq(), node, settings).map_err(fail)?;
    let listener = bind(address).map_err(|e| fail(e.to_string()))?;
    let server =
        serve_on_thread(listener, service, tls).map_err(|e| fail(format!("starting the server thread: {e}")))?;
    tracing::info!(node = %node_name, address = %server.local_addr(), security, "P4Runtime server listening");
    Ok(Some(Control { server, port, port_file: args.p4runtime_port_file.clone() }))
}

/// The server's TLS files, when --p4runtime-tls-cert asks for TLS.
fn tls_files(args: &ControlArgs) -> Option<ServerTlsFiles> {
    let (cert, key) = (args.p4runtime_tls_cert.clone()?, args.p4runtime_tls_key.clone()?);
    Some(ServerTlsFiles { identity: IdentityFiles { cert, key }, client_ca: args.p4runtime_tls_client_ca.clone() })
}

/// Writes the bound port to --p4runtime-port-file, once the poll loop is
/// about to run: a controller that reads the file finds a node that answers
/// (a DPDK node may spend seconds starting its ports first).
pub fn announce(server: &RunningServer, port_file: Option<&std::path::Path>, node_name: &str) -> Result<(), String> {
    let Some(path) = port_file else { return Ok(()) };
    // Written whole, then renamed: a reader never sees half a number.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, server.local_addr().port().to_string())
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| format!("node {node_name}: P4Runtime: writing {}: {e}", path.display()))
}

/// Moves this thread (the poll loop's) into network namespace `--netns`, if given.
pub fn enter_netns(args: &ControlArgs, node_name: &str) -> Result<(), String> {
    let Some(name) = &args.netns else { return Ok(()) };
    netcraq_topology::Namespace::named(name).enter().map_err(|e| format!("node {node_name}: --netns {name}: {e}"))
}

/// The server's counters for the stats file.
pub fn stats_json(counters: ServerCountersSnapshot) -> Value {
    json!({
        "rpcs": counters.rpcs,
        "rpcs_failed": counters.rpcs_failed,
        "updates_applied": counters.updates_applied,
        "updates_failed": counters.updates_failed,
        "not_primary": counters.not_primary,
        "packets_out": counters.packets_out,
        "packet_out_calls": counters.packet_out_calls,
        "packets_out_refused": counters.packets_out_refused,
        "arbitrations_refused": counters.arbitrations_refused,
        "notices_dropped": counters.notices_dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_and_duplicates_are_refused() {
        assert_eq!(parse_port("1=veth0").unwrap(), (1, "veth0".to_string()));
        assert!(parse_port("veth0").is_err());
        assert!(parse_port("x=veth0").is_err());
        assert!(parse_port("1=").is_err());
        let args = ControlArgs {
            p4runtime: None,
            p4runtime_port_file: None,
            p4runtime_device_id: 1,
            p4runtime_tls_cert: None,
            p4runtime_tls_key: None,
            p4runtime_tls_client_ca: None,
            netns: None,
            ports: vec![(1, "a".into()), (1, "b".into())],
            name: "n".into(),
        };
        assert!(port_specs(&args).unwrap_err().contains("twice"));
    }
}
