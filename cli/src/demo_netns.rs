//! `netcraq demo` as root: the chain as `netcraq node` processes on network
//! namespaces and veth links, one client host per node, real packets
//! (`netcraq_perf::netns_chain`).

use crate::report::{DemoReport, DemoSetup, ModeReport, Network, NodeRow};
use indicatif::ProgressBar;
use netcraq_client::ClientOptions;
use netcraq_core::Mode;
use netcraq_perf::netns_chain::{ChainSetup, Load, NamespaceChain, Wiring, Writes};
use netcraq_topology::NodeKind;
use std::time::Duration;

/// Requests each client host keeps outstanding.
const OUTSTANDING_PER_HOST: usize = 16;
const WARMUP: Duration = Duration::from_millis(500);

/// What the namespace demo needs from the command line.
pub struct Settings {
    pub nodes: u8,
    pub seconds: f64,
    pub read_fraction: f64,
    pub keys: u32,
    pub seed: u64,
}

pub fn run(settings: &Settings, progress: &ProgressBar) -> Result<DemoReport, String> {
    let craq = measure(settings, Mode::Craq, progress)?;
    let cr = measure(settings, Mode::Cr, progress)?;
    let setup = DemoSetup {
        nodes: settings.nodes,
        clients: usize::from(settings.nodes),
        outstanding_requests: usize::from(settings.nodes) * OUTSTANDING_PER_HOST,
        seconds: settings.seconds,
        warmup_seconds: WARMUP.as_secs_f64(),
        read_fraction: settings.read_fraction,
        keys: settings.keys,
        seed: settings.seed,
    };
    Ok(DemoReport::new(Network::Namespaces, setup, craq, cr))
}

fn measure(settings: &Settings, mode: Mode, progress: &ProgressBar) -> Result<ModeReport, String> {
    progress.set_message(format!("{}: starting the chain", mode.name()));
    let setup = ChainSetup {
        nodes: settings.nodes,
        mode,
        kind: NodeKind::Software,
        wiring: Wiring::Line,
        keys: settings.keys,
        service_rate_fps: None,
        eal: String::new(),
        nice: 0,
    };
    let load = Load {
        read_fraction: settings.read_fraction,
        writes: Writes::OwnNode,
        outstanding_per_host: OUTSTANDING_PER_HOST,
        warmup: WARMUP,
        length: Duration::from_secs_f64(settings.seconds),
        seed: settings.seed,
        client: ClientOptions::default(),
    };
    let exe = std::env::current_exe().map_err(|e| format!("finding the netcraq executable: {e}"))?;
    let chain = NamespaceChain::start(&setup, &exe)?;
    let phase = |phase: &str, elapsed: Duration, length: Duration| {
        let message = format!("{}: {phase}", mode.name());
        if progress.message() != message {
            progress.reset();
            progress.set_length(length.as_millis() as u64);
            progress.set_message(message);
        }
        progress.set_position(elapsed.as_millis() as u64);
    };
    let measured = chain.measure(&load, &phase);
    chain.stop()?;
    let measured = measured?;
    let rows = measured
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| NodeRow {
            position: i + 1,
            ip: node.ip.clone(),
            role: node.role,
            reads_local: node.reads_local,
            reads_to_tail: node.reads_to_tail,
            frames_served: node.frames_received,
            busy_fraction: None,
        })
        .collect();
    Ok(ModeReport::from_namespaces(mode, &measured.total(), rows))
}
