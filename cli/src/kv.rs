//! `netcraq get` and `netcraq put`: one operation against a running chain.

use crate::state::RunState;
use clap::Args;
use netcraq_client::{format_value, parse_value, Client, ClientOptions};
use netcraq_topology::Namespace;
use netcraq_wire::{Ipv4Addr, NETCRAQ_UDP_PORT};
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::time::Duration;

/// Where an operation goes: a node of a running topology, or an address.
#[derive(Debug, Args)]
pub struct Target {
    /// A topology started by `netcraq up`: the operation is sent from one of
    /// its hosts (see --host) to one of its nodes (see --node)
    #[arg(long, value_name = "FILE")]
    topology: Option<PathBuf>,
    /// The node to ask: a node name or address of the topology (default: the
    /// head of its first chain), or without --topology the node's IPv4 address
    #[arg(long, value_name = "NODE")]
    node: Option<String>,
    /// With --topology: the host to send from (default: the first host)
    #[arg(long, value_name = "HOST", requires = "topology")]
    host: Option<String>,
    /// Time to wait for a reply before retransmitting
    #[arg(long, value_name = "MS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    timeout_ms: u64,
    /// Retransmissions before giving up
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=100))]
    retries: u32,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The key: 0 to 65535
    key: u16,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    /// The key: 0 to 65535
    key: u16,
    /// The value: text of up to 16 bytes, or 0x followed by up to 32 hex digits
    value: String,
    #[command(flatten)]
    target: Target,
}

pub fn get(args: &GetArgs) -> Result<(), String> {
    let reply = args.target.run(|client| client.read(args.key))?;
    println!("{} = {} (version {})", args.key, format_value(&reply.value), reply.version);
    Ok(())
}

pub fn put(args: &PutArgs) -> Result<(), String> {
    let value = parse_value(&args.value).map_err(|e| format!("value {:?}: {e}", args.value))?;
    let reply = args.target.run(|client| client.write(args.key, value))?;
    println!("{} = {} (version {})", args.key, format_value(&value), reply.version);
    Ok(())
}

impl Target {
    /// Runs `operation` with a client for the chosen node, from the chosen
    /// host's namespace when a topology is given.
    fn run<T: Send, E: std::fmt::Display>(
        &self,
        operation: impl FnOnce(&mut Client) -> Result<T, E> + Send,
    ) -> Result<T, String> {
        let options = ClientOptions {
            timeout: Duration::from_millis(self.timeout_ms),
            retries: self.retries,
            ..ClientOptions::default()
        };
        let Some(topology) = &self.topology else {
            let node = self.node.as_deref().ok_or("give --node ADDRESS, or --topology FILE of a running topology")?;
            let ip: Ipv4Addr =
                node.parse().map_err(|_| format!("--node {node:?}: not an IPv4 address (names need --topology)"))?;
            let mut client = Client::new(SocketAddrV4::new(ip, NETCRAQ_UDP_PORT), options);
            return operation(&mut client).map_err(|e| e.to_string());
        };
        let state = RunState::load(topology)?;
        let node = match &self.node {
            Some(wanted) => state.node(wanted).ok_or_else(|| format!("the topology has no node {wanted:?}"))?,
            None => state
                .chains
                .first()
                .and_then(|chain| chain.first())
                .and_then(|head| state.node(head))
                .ok_or("the topology has no chain")?,
        };
        let host = match &self.host {
            Some(wanted) => state.host(wanted).ok_or_else(|| format!("the topology has no host {wanted:?}"))?,
            None => state.hosts.first().ok_or("the topology has no host to send from")?,
        };
        let mut client = Client::new(SocketAddrV4::new(node.ip, NETCRAQ_UDP_PORT), options);
        Namespace::named(&host.namespace)
            .run(move || operation(&mut client).map_err(|e| e.to_string()))
            .map_err(|e| format!("entering host {}'s namespace {} (needs root): {e}", host.name, host.namespace))?
    }
}
