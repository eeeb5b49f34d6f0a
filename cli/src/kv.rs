//! `netcraq get` and `netcraq put`: one operation against a running chain.

use crate::state::RunState;
use clap::Args;
use netcraq_client::{
    format_value, parse_value, ChainClient, ChainClientOptions, Client, ClientError, ClientOptions, ControllerUrl,
    KeyValue,
};
use netcraq_topology::Namespace;
use netcraq_wire::{Ipv4Addr, NETCRAQ_UDP_PORT};
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::time::Duration;

/// Where an operation goes: a node of a running topology, an address, or
/// the chain a running controller publishes the members of.
#[derive(Debug, Args)]
pub struct Target {
    /// A running controller's membership endpoint (`netcraq controller
    /// --membership-listen`), http://HOST:PORT; several, comma-separated, are
    /// asked in turn. The operation follows the chain: a write goes to the
    /// head, a read to a member, and after a silent or refusing node the
    /// members are learnt again and the next one is tried (docs/controller.md)
    #[arg(long, value_name = "URL", value_delimiter = ',', conflicts_with_all = ["topology", "node"])]
    controller: Vec<ControllerUrl>,
    /// With --controller: the operation ends within this, however many tries
    #[arg(long, value_name = "MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    total_ms: u64,
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
    /// Time to wait for a reply before retransmitting (with --controller:
    /// the first try's wait; each later one waits twice as long, up to 10x)
    #[arg(long, value_name = "MS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    timeout_ms: u64,
    /// Retransmissions before giving up [default: 5; with --controller, 49]
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1000))]
    retries: Option<u32>,
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
    fn run<T: Send>(
        &self,
        operation: impl FnOnce(&mut dyn KeyValue) -> Result<T, ClientError> + Send,
    ) -> Result<T, String> {
        let timeout = Duration::from_millis(self.timeout_ms);
        if !self.controller.is_empty() {
            let defaults = ChainClientOptions::default();
            let options = ChainClientOptions {
                try_timeout: timeout,
                max_try_timeout: timeout * 10,
                tries: self.retries.map_or(defaults.tries, |retries| retries + 1),
                total: Duration::from_millis(self.total_ms),
                ..defaults
            };
            let mut client = ChainClient::new(self.controller.clone(), options);
            return operation(&mut client).map_err(|e| e.to_string());
        }
        let retries = self.retries.unwrap_or(ClientOptions::default().retries);
        let options = ClientOptions { timeout, retries, ..ClientOptions::default() };
        let Some(topology) = &self.topology else {
            let node = self
                .node
                .as_deref()
                .ok_or("give --node ADDRESS, --topology FILE of a running topology, or --controller URL")?;
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
