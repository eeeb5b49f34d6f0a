use netcraq_wire::{Ipv4Addr, MacAddr};

/// Entries the software and DPDK nodes' `ipv4_route` table holds at most.
pub const ROUTE_TABLE_CAPACITY: usize = 1024;

/// One `ipv4_route` entry: a prefix and its `set_next_hop` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    pub prefix: Ipv4Addr,
    pub prefix_len: u8,
    pub port: u16,
    pub mac: MacAddr,
}

impl Route {
    fn mask(&self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.prefix_len)).unwrap_or(0)
    }

    fn matches(&self, addr: Ipv4Addr) -> bool {
        (u32::from(addr) ^ u32::from(self.prefix)) & self.mask() == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    Full,
    Duplicate,
    BadPrefix,
    NotFound,
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RouteError::Full => "ipv4_route is full (1024 entries)",
            RouteError::Duplicate => "ipv4_route already has an entry for this prefix",
            RouteError::BadPrefix => "prefix length above 32, or host bits set beyond the prefix length",
            RouteError::NotFound => "ipv4_route has no entry for this prefix",
        })
    }
}

impl std::error::Error for RouteError {}

/// The `ipv4_route` table: longest-prefix match, bounded in size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RouteTable {
    /// Sorted by prefix length, longest first; stable, so among equal lengths
    /// the first installed wins.
    entries: Vec<Route>,
}

impl RouteTable {
    pub fn insert(&mut self, route: Route) -> Result<(), RouteError> {
        if route.prefix_len > 32 || u32::from(route.prefix) & !route.mask() != 0 {
            return Err(RouteError::BadPrefix);
        }
        if self.position(route.prefix, route.prefix_len).is_some() {
            return Err(RouteError::Duplicate);
        }
        if self.entries.len() >= ROUTE_TABLE_CAPACITY {
            return Err(RouteError::Full);
        }
        let at = self.entries.partition_point(|e| e.prefix_len >= route.prefix_len);
        self.entries.insert(at, route);
        Ok(())
    }

    pub fn remove(&mut self, prefix: Ipv4Addr, prefix_len: u8) -> Result<Route, RouteError> {
        let at = self.position(prefix, prefix_len).ok_or(RouteError::NotFound)?;
        Ok(self.entries.remove(at))
    }

    pub fn lookup(&self, addr: Ipv4Addr) -> Option<&Route> {
        self.entries.iter().find(|e| e.matches(addr))
    }

    pub fn entries(&self) -> &[Route] {
        &self.entries
    }

    fn position(&self, prefix: Ipv4Addr, prefix_len: u8) -> Option<usize> {
        self.entries.iter().position(|e| e.prefix == prefix && e.prefix_len == prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: [u8; 4], prefix_len: u8, port: u16) -> Route {
        Route { prefix: prefix.into(), prefix_len, port, mac: MacAddr([2, 0, 0, 0, 0, port as u8]) }
    }

    #[test]
    fn longest_prefix_wins_whatever_the_insertion_order() {
        let mut table = RouteTable::default();
        table.insert(route([0, 0, 0, 0], 0, 1)).unwrap();
        table.insert(route([10, 0, 0, 0], 8, 2)).unwrap();
        table.insert(route([10, 0, 1, 0], 24, 3)).unwrap();
        assert_eq!(table.lookup([10, 0, 1, 9].into()).unwrap().port, 3);
        assert_eq!(table.lookup([10, 9, 1, 9].into()).unwrap().port, 2);
        assert_eq!(table.lookup([192, 0, 2, 1].into()).unwrap().port, 1);
    }

    #[test]
    fn rejects_duplicates_host_bits_and_overflow() {
        let mut table = RouteTable::default();
        table.insert(route([10, 0, 0, 1], 32, 1)).unwrap();
        assert_eq!(table.insert(route([10, 0, 0, 1], 32, 2)), Err(RouteError::Duplicate));
        assert_eq!(table.insert(route([10, 0, 0, 1], 24, 2)), Err(RouteError::BadPrefix));
        assert_eq!(table.insert(route([10, 0, 0, 0], 33, 2)), Err(RouteError::BadPrefix));
        for i in 1..ROUTE_TABLE_CAPACITY {
            table.insert(route([11, 0, (i >> 8) as u8, i as u8], 32, 1)).unwrap();
        }
        assert_eq!(table.insert(route([12, 0, 0, 0], 8, 1)), Err(RouteError::Full));
        assert_eq!(table.remove([10, 0, 0, 1].into(), 32).unwrap().port, 1);
        assert!(table.lookup([10, 0, 0, 1].into()).is_none());
    }
}
