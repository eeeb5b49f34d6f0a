//! The throughput bound of a chain whose nodes each take at most `cap`
//! frames per second: count the frames every node receives per operation
//! (its service demand), following each frame hop by hop over the planner's
//! shortest paths, so frames that only pass through a node (transit) count
//! too. The busiest node sets the bound: cap / max over nodes of frames per
//! operation (perf/README.md, "Figures").

use netcraq_core::Mode;
use netcraq_plan::network::{Network, Station};
use netcraq_wire::{Endpoint, Ipv4Addr, MacAddr};

/// A chain over a network and the client hosts that load it.
#[derive(Debug, Clone)]
pub struct ChainRoutes {
    pub network: Network,
    /// The chain's nodes as station indices, head first.
    pub chain: Vec<usize>,
    /// Each client host's station and the chain position of the node it reads through.
    pub hosts: Vec<(usize, usize)>,
}

/// Why frames cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    Unreachable { from: usize, to: Ipv4Addr },
    NotAddressed(usize),
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::Unreachable { from, to } => write!(f, "station {from} has no route to {to}"),
            RouteError::NotAddressed(station) => write!(f, "station {station} has no address"),
        }
    }
}

/// The bound of one chain under one mix.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// Frames each chain node (head first) receives per operation, averaged over the hosts.
    pub frames_per_op: Vec<f64>,
    /// Operations per second of all hosts together when the busiest node runs at the cap.
    pub ops_per_s: f64,
    pub reads_per_s: f64,
}

impl ChainRoutes {
    /// Nodes on one switch, client hosts on it too, host `i` reading through
    /// node `i mod n`: the in-memory network's star layout, without transit.
    pub fn star(nodes: u8, hosts: u8) -> ChainRoutes {
        let mut network = Network::default();
        let switch = network.add(Station::Switch);
        let chain: Vec<usize> = (0..nodes).map(|i| network.add(Station::Node(address(0, i)))).collect();
        let host_stations: Vec<usize> = (0..hosts).map(|i| network.add(Station::Host(address(1, i)))).collect();
        for (port, station) in (1..).zip(chain.iter().chain(&host_stations)) {
            network.link((*station, 1), (switch, port)).expect("each station's port 1, a new switch port");
        }
        let hosts = host_stations.iter().enumerate().map(|(i, s)| (*s, i % chain.len().max(1))).collect();
        ChainRoutes { network, chain, hosts }
    }

    /// The bound when every node takes at most `cap_fps` frames per second,
    /// a share `read_fraction` of the operations are reads, and every host
    /// issues operations at the same rate, reading through its node and
    /// writing to the head. Reads count as clean: a dirty CRAQ read costs
    /// the tail one frame more, so the bound is an upper one.
    pub fn bound(&self, mode: Mode, read_fraction: f64, cap_fps: f64) -> Result<Bound, RouteError> {
        self.bound_with_host_rates(mode, read_fraction, cap_fps, &vec![1.0; self.hosts.len()])
    }

    /// As [`ChainRoutes::bound`], with host `i` issuing operations in
    /// proportion to `host_rates[i]` (as measured: a closed-loop host whose
    /// node is less busy gets its replies sooner and issues more). Rates
    /// that add up to nothing count as equal.
    pub fn bound_with_host_rates(
        &self,
        mode: Mode,
        read_fraction: f64,
        cap_fps: f64,
        host_rates: &[f64],
    ) -> Result<Bound, RouteError> {
        let mut frames = vec![0.0; self.chain.len()];
        let total: f64 = host_rates.iter().take(self.hosts.len()).sum();
        let equal = 1.0 / self.hosts.len().max(1) as f64;
        for (index, &(host, entry)) in self.hosts.iter().enumerate() {
            let share = match total > 0.0 {
                true => host_rates.get(index).copied().unwrap_or(0.0) / total,
                false => equal,
            };
            self.read(host, entry, mode, read_fraction * share, &mut frames)?;
            self.write(host, (1.0 - read_fraction) * share, &mut frames)?;
        }
        let busiest = frames.iter().copied().fold(0.0, f64::max);
        let ops_per_s = if busiest > 0.0 { cap_fps / busiest } else { 0.0 };
        Ok(Bound { frames_per_op: frames, ops_per_s, reads_per_s: ops_per_s * read_fraction })
    }

    /// A read sent to node `entry`: answered there (CRAQ, or at the tail),
    /// else forwarded to the tail, which answers.
    fn read(&self, host: usize, entry: usize, mode: Mode, weight: f64, frames: &mut [f64]) -> Result<(), RouteError> {
        let (entry_node, tail) = (self.chain[entry], self.chain[self.chain.len() - 1]);
        self.send(host, entry_node, weight, frames)?;
        let answering = match mode {
            Mode::Cr if entry_node != tail => {
                self.send(entry_node, tail, weight, frames)?;
                tail
            }
            _ => entry_node,
        };
        self.send(answering, host, weight, frames)
    }

    /// A write sent to the head: down the chain, the tail's reply, the ACKs back up.
    fn write(&self, host: usize, weight: f64, frames: &mut [f64]) -> Result<(), RouteError> {
        self.send(host, self.chain[0], weight, frames)?;
        for pair in self.chain.windows(2) {
            self.send(pair[0], pair[1], weight, frames)?;
        }
        self.send(self.chain[self.chain.len() - 1], host, weight, frames)?;
        for pair in self.chain.windows(2).rev() {
            self.send(pair[1], pair[0], weight, frames)?;
        }
        Ok(())
    }

    /// Adds `weight` to every chain node that receives a frame from `from` to
    /// `to` on its way, hop by hop over the planner's first hops.
    fn send(&self, from: usize, to: usize, weight: f64, frames: &mut [f64]) -> Result<(), RouteError> {
        let stations = self.network.stations();
        let to_ip = stations[to].address().ok_or(RouteError::NotAddressed(to))?.ip;
        let mut at = from;
        for _ in 0..stations.len() {
            let unreachable = RouteError::Unreachable { from: at, to: to_ip };
            let (port, _) = self.network.first_hop(at, to_ip).ok_or(unreachable.clone())?;
            let next = self.network.ports(at).iter().find(|p| p.number == port).ok_or(unreachable)?.peer;
            if let Some(position) = self.chain.iter().position(|node| *node == next) {
                frames[position] += weight;
            }
            if next == to {
                return Ok(());
            }
            at = next;
        }
        Err(RouteError::Unreachable { from, to: to_ip })
    }
}

fn address(subnet: u8, index: u8) -> Endpoint {
    Endpoint { ip: Ipv4Addr::new(10, 0, subnet, index + 1), mac: MacAddr([2, 0, 0, 0, subnet, index + 1]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn on_the_star_a_write_costs_head_and_replicas_two_frames_and_the_tail_one() {
        let bound = ChainRoutes::star(3, 3).bound(Mode::Craq, 0.0, 1000.0).unwrap();
        let expected = [2.0, 2.0, 1.0];
        assert!(bound.frames_per_op.iter().zip(expected).all(|(f, e)| close(*f, e)), "{:?}", bound.frames_per_op);
        assert!(close(bound.ops_per_s, 500.0) && close(bound.reads_per_s, 0.0));
    }

    #[test]
    fn reads_at_100_percent_cost_craq_one_frame_at_their_node_and_cr_the_tail_all() {
        let craq = ChainRoutes::star(5, 5).bound(Mode::Craq, 1.0, 1000.0).unwrap();
        assert!(craq.frames_per_op.iter().all(|f| close(*f, 0.2)), "{:?}", craq.frames_per_op);
        assert!(close(craq.reads_per_s, 5000.0));
        let cr = ChainRoutes::star(5, 5).bound(Mode::Cr, 1.0, 1000.0).unwrap();
        assert!(close(cr.frames_per_op[4], 1.0) && close(cr.frames_per_op[0], 0.2), "{:?}", cr.frames_per_op);
        assert!(close(cr.reads_per_s, 1000.0));
    }

    #[test]
    fn at_95_percent_reads_on_the_star_craq_over_cr_is_as_counted_by_hand() {
        // CRAQ: head r/n + 2w; CR: the tail r + w = 1 frame per operation.
        for (nodes, ratio) in [(3u8, 2.40), (5, 3.45), (9, 4.86)] {
            let routes = ChainRoutes::star(nodes, nodes);
            let craq = routes.bound(Mode::Craq, 0.95, 1.0).unwrap();
            let cr = routes.bound(Mode::Cr, 0.95, 1.0).unwrap();
            let expected = 1.0 / (0.95 / f64::from(nodes) + 0.1);
            assert!(close(craq.reads_per_s / cr.reads_per_s, expected));
            assert!((expected - ratio).abs() < 0.01, "n = {nodes}: {expected}");
        }
    }

    #[test]
    fn transit_frames_count_where_a_line_routes_through_a_node() {
        // h0 - n0 - n1 - n2 - h2 (h1 on n1): a CR read from h0 passes n1 twice.
        let mut network = Network::default();
        let nodes: Vec<usize> = (0..3).map(|i| network.add(Station::Node(address(0, i)))).collect();
        let hosts: Vec<usize> = (0..3).map(|i| network.add(Station::Host(address(1, i)))).collect();
        for i in 0..3 {
            network.link((hosts[i], 1), (nodes[i], 1)).unwrap();
        }
        network.link((nodes[0], 2), (nodes[1], 2)).unwrap();
        network.link((nodes[1], 3), (nodes[2], 2)).unwrap();
        let routes = ChainRoutes { network, chain: nodes, hosts: vec![(hosts[0], 0)] };
        let cr = routes.bound(Mode::Cr, 1.0, 100.0).unwrap();
        // n0: the request and the reply on its way back; n1: both in transit; n2: the request.
        assert_eq!(cr.frames_per_op, vec![2.0, 2.0, 1.0]);
        assert!(close(cr.ops_per_s, 50.0));
    }
}
