/// Entries the software and DPDK nodes' `fabric_port` table holds at most.
pub const FABRIC_PORT_CAPACITY: usize = 512;

/// One `fabric_port` entry (`docs/protocol.md` §2.3): a port of the chain's
/// fabric, and which of the node's neighbours, and whether its control
/// plane, send over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(deny_unknown_fields))]
pub struct FabricPort {
    pub port: u16,
    pub from_predecessor: bool,
    pub from_successor: bool,
    /// P4Runtime PacketOut frames (`SWEEP`, `RENEW`) enter by this port.
    #[cfg_attr(feature = "serde", serde(default))]
    pub from_controller: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FabricPortError {
    Full,
    Duplicate,
    NotFound,
}

impl std::fmt::Display for FabricPortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FabricPortError::Full => "fabric_port is full (512 entries)",
            FabricPortError::Duplicate => "fabric_port already has an entry for this port",
            FabricPortError::NotFound => "fabric_port has no entry for this port",
        })
    }
}

impl std::error::Error for FabricPortError {}

/// The `fabric_port` table: exact match on the ingress port, bounded in
/// size. A port without an entry is an edge port (§9.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FabricPorts {
    /// Sorted by port, for a binary search per chain frame.
    entries: Vec<FabricPort>,
}

impl FabricPorts {
    pub fn insert(&mut self, entry: FabricPort) -> Result<(), FabricPortError> {
        let Err(at) = self.position(entry.port) else {
            return Err(FabricPortError::Duplicate);
        };
        if self.entries.len() >= FABRIC_PORT_CAPACITY {
            return Err(FabricPortError::Full);
        }
        self.entries.insert(at, entry);
        Ok(())
    }

    pub fn modify(&mut self, entry: FabricPort) -> Result<(), FabricPortError> {
        let at = self.position(entry.port).map_err(|_| FabricPortError::NotFound)?;
        self.entries[at] = entry;
        Ok(())
    }

    pub fn remove(&mut self, port: u16) -> Result<FabricPort, FabricPortError> {
        let at = self.position(port).map_err(|_| FabricPortError::NotFound)?;
        Ok(self.entries.remove(at))
    }

    /// The entry of `port`; `None` for an edge port.
    pub fn lookup(&self, port: u16) -> Option<&FabricPort> {
        self.position(port).ok().map(|at| &self.entries[at])
    }

    pub fn entries(&self) -> &[FabricPort] {
        &self.entries
    }

    fn position(&self, port: u16) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&port, |entry| entry.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fabric(port: u16) -> FabricPort {
        FabricPort { port, from_predecessor: true, from_successor: false, from_controller: false }
    }

    #[test]
    fn lookup_finds_entries_whatever_the_insertion_order() {
        let mut table = FabricPorts::default();
        for port in [9, 2, 5] {
            table.insert(fabric(port)).unwrap();
        }
        assert_eq!(table.lookup(5), Some(&fabric(5)));
        assert_eq!(table.lookup(3), None, "no entry: an edge port");
        let both = FabricPort { from_successor: true, ..fabric(5) };
        table.modify(both).unwrap();
        assert_eq!(table.lookup(5), Some(&both));
        assert_eq!(table.entries().iter().map(|e| e.port).collect::<Vec<_>>(), [2, 5, 9]);
    }

    #[test]
    fn refuses_duplicates_missing_entries_and_overflow() {
        let mut table = FabricPorts::default();
        table.insert(fabric(1)).unwrap();
        assert_eq!(table.insert(fabric(1)), Err(FabricPortError::Duplicate));
        assert_eq!(table.modify(fabric(2)), Err(FabricPortError::NotFound));
        assert_eq!(table.remove(2), Err(FabricPortError::NotFound));
        for port in 2..=FABRIC_PORT_CAPACITY as u16 {
            table.insert(fabric(port)).unwrap();
        }
        assert_eq!(table.insert(fabric(600)), Err(FabricPortError::Full));
        assert_eq!(table.remove(1), Ok(fabric(1)));
        assert_eq!(table.lookup(1), None);
    }
}
