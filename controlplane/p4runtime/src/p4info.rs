//! P4Info files: parsing the text format P4 compilers write
//! (`*.p4info.txtpb`) and an index of a P4Info's objects by id and by name.

use crate::proto::p4::config::v1 as p4info;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use std::collections::HashMap;

/// The P4Info the software and DPDK nodes serve: the v1model program's,
/// checked in at `p4/netcraq.p4info.txtpb` (ids fixed by the P4Info contract).
pub const NETCRAQ_P4INFO_TEXT: &str = include_str!("../../../p4/netcraq.p4info.txtpb");

const P4INFO_MESSAGE: &str = "p4.config.v1.P4Info";

/// Why a P4Info could not be loaded or indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P4InfoError(pub String);

impl std::fmt::Display for P4InfoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for P4InfoError {}

/// Parses a P4Info in protobuf text format.
pub fn parse_p4info_text(text: &str) -> Result<p4info::P4Info, P4InfoError> {
    let pool = DescriptorPool::decode(crate::proto::DESCRIPTORS)
        .map_err(|e| P4InfoError(format!("the built-in P4Runtime descriptors do not decode: {e}")))?;
    let descriptor = pool
        .get_message_by_name(P4INFO_MESSAGE)
        .ok_or_else(|| P4InfoError(format!("the built-in descriptors lack {P4INFO_MESSAGE}")))?;
    let message = DynamicMessage::parse_text_format(descriptor, text)
        .map_err(|e| P4InfoError(format!("not a text-format P4Info: {e}")))?;
    p4info::P4Info::decode(message.encode_to_vec().as_slice())
        .map_err(|e| P4InfoError(format!("P4Info does not decode: {e}")))
}

/// Loads a text-format P4Info file.
pub fn load_p4info_file(path: &std::path::Path) -> Result<p4info::P4Info, P4InfoError> {
    let text = std::fs::read_to_string(path).map_err(|e| P4InfoError(format!("{}: {e}", path.display())))?;
    parse_p4info_text(&text).map_err(|e| P4InfoError(format!("{}: {e}", path.display())))
}

/// The P4Info the software and DPDK nodes serve, parsed.
pub fn netcraq_p4info() -> p4info::P4Info {
    parse_p4info_text(NETCRAQ_P4INFO_TEXT).expect("p4/netcraq.p4info.txtpb is a valid P4Info (checked by the tests)")
}

/// A P4Info with its tables, actions, counters and registers indexed by id
/// and by name (fully qualified, e.g. `NetcraqIngress.ipv4_route`, or the
/// alias, e.g. `ipv4_route`).
#[derive(Debug, Clone)]
pub struct P4InfoIndex {
    p4info: p4info::P4Info,
    tables: Lookup,
    actions: Lookup,
    counters: Lookup,
    registers: Lookup,
}

/// Positions in one of the P4Info's lists, by id and by name.
#[derive(Debug, Clone, Default)]
struct Lookup {
    by_id: HashMap<u32, usize>,
    by_name: HashMap<String, usize>,
}

impl Lookup {
    fn build<'a>(
        kind: &str,
        preambles: impl Iterator<Item = Option<&'a p4info::Preamble>>,
    ) -> Result<Lookup, P4InfoError> {
        let mut lookup = Lookup::default();
        for (position, preamble) in preambles.enumerate() {
            let preamble = preamble.ok_or_else(|| P4InfoError(format!("{kind} #{position} has no preamble")))?;
            if preamble.id == 0 || lookup.by_id.insert(preamble.id, position).is_some() {
                return Err(P4InfoError(format!(
                    "{kind} {}: id {:#010x} is 0 or used twice",
                    preamble.name, preamble.id
                )));
            }
            if lookup.by_name.insert(preamble.name.clone(), position).is_some() {
                return Err(P4InfoError(format!("{kind} name {} is used twice", preamble.name)));
            }
            // An alias equal to another object's name would be ambiguous: names win.
            if !preamble.alias.is_empty() {
                lookup.by_name.entry(preamble.alias.clone()).or_insert(position);
            }
        }
        Ok(lookup)
    }

    fn id<'a, T>(&self, items: &'a [T], id: u32) -> Option<&'a T> {
        self.by_id.get(&id).map(|&position| &items[position])
    }

    fn name<'a, T>(&self, items: &'a [T], name: &str) -> Option<&'a T> {
        self.by_name.get(name).map(|&position| &items[position])
    }
}

impl P4InfoIndex {
    /// Indexes `p4info`; refuses duplicate or zero ids and duplicate names.
    pub fn new(p4info: p4info::P4Info) -> Result<P4InfoIndex, P4InfoError> {
        let tables = Lookup::build("table", p4info.tables.iter().map(|t| t.preamble.as_ref()))?;
        let actions = Lookup::build("action", p4info.actions.iter().map(|a| a.preamble.as_ref()))?;
        let counters = Lookup::build("counter", p4info.counters.iter().map(|c| c.preamble.as_ref()))?;
        let registers = Lookup::build("register", p4info.registers.iter().map(|r| r.preamble.as_ref()))?;
        Ok(P4InfoIndex { p4info, tables, actions, counters, registers })
    }

    /// The index of the P4Info the software and DPDK nodes serve.
    pub fn netcraq() -> P4InfoIndex {
        P4InfoIndex::new(netcraq_p4info()).expect("p4/netcraq.p4info.txtpb indexes (checked by the tests)")
    }

    pub fn p4info(&self) -> &p4info::P4Info {
        &self.p4info
    }

    pub fn table(&self, id: u32) -> Option<&p4info::Table> {
        self.tables.id(&self.p4info.tables, id)
    }

    pub fn table_by_name(&self, name: &str) -> Option<&p4info::Table> {
        self.tables.name(&self.p4info.tables, name)
    }

    pub fn action(&self, id: u32) -> Option<&p4info::Action> {
        self.actions.id(&self.p4info.actions, id)
    }

    pub fn action_by_name(&self, name: &str) -> Option<&p4info::Action> {
        self.actions.name(&self.p4info.actions, name)
    }

    pub fn counter(&self, id: u32) -> Option<&p4info::Counter> {
        self.counters.id(&self.p4info.counters, id)
    }

    pub fn counter_by_name(&self, name: &str) -> Option<&p4info::Counter> {
        self.counters.name(&self.p4info.counters, name)
    }

    pub fn register(&self, id: u32) -> Option<&p4info::Register> {
        self.registers.id(&self.p4info.registers, id)
    }

    pub fn register_by_name(&self, name: &str) -> Option<&p4info::Register> {
        self.registers.name(&self.p4info.registers, name)
    }
}

/// The object's name from its preamble, or "" when it has none.
pub fn name_of(preamble: Option<&p4info::Preamble>) -> &str {
    preamble.map_or("", |p| p.name.as_str())
}

/// The object's id from its preamble, or 0 when it has none.
pub fn id_of(preamble: Option<&p4info::Preamble>) -> u32 {
    preamble.map_or(0, |p| p.id)
}

/// The width of a register of type `bit<W>`, if it is one.
pub fn register_bitwidth(register: &p4info::Register) -> Option<u32> {
    use p4info::p4_bitstring_like_type_spec::TypeSpec as Bits;
    use p4info::p4_data_type_spec::TypeSpec as Data;
    match register.type_spec.as_ref()?.type_spec.as_ref()? {
        Data::Bitstring(bits) => match bits.type_spec.as_ref()? {
            Bits::Bit(bit) => u32::try_from(bit.bitwidth).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// The first difference between two P4Infos (`None` when equal), for an
/// error message that says what to fix.
pub fn first_difference(ours: &p4info::P4Info, theirs: &p4info::P4Info) -> Option<String> {
    if ours == theirs {
        return None;
    }
    type Named = Vec<(u32, String)>;
    let names = |preambles: Vec<Option<&p4info::Preamble>>| -> Named {
        preambles.into_iter().map(|p| (id_of(p), name_of(p).to_string())).collect()
    };
    let kinds: [(&str, Named, Named); 4] = [
        (
            "tables",
            names(ours.tables.iter().map(|t| t.preamble.as_ref()).collect()),
            names(theirs.tables.iter().map(|t| t.preamble.as_ref()).collect()),
        ),
        (
            "actions",
            names(ours.actions.iter().map(|a| a.preamble.as_ref()).collect()),
            names(theirs.actions.iter().map(|a| a.preamble.as_ref()).collect()),
        ),
        (
            "counters",
            names(ours.counters.iter().map(|c| c.preamble.as_ref()).collect()),
            names(theirs.counters.iter().map(|c| c.preamble.as_ref()).collect()),
        ),
        (
            "registers",
            names(ours.registers.iter().map(|r| r.preamble.as_ref()).collect()),
            names(theirs.registers.iter().map(|r| r.preamble.as_ref()).collect()),
        ),
    ];
    for (kind, ours, theirs) in kinds {
        if let Some((id, name)) = ours.iter().find(|o| !theirs.contains(o)) {
            return Some(format!("{kind}: the node has {name} ({id:#010x}), the given P4Info does not"));
        }
        if let Some((id, name)) = theirs.iter().find(|t| !ours.contains(t)) {
            return Some(format!("{kind}: the given P4Info has {name} ({id:#010x}), the node does not"));
        }
    }
    let pairs = [
        ("pkg_info", ours.pkg_info != theirs.pkg_info),
        ("tables", ours.tables != theirs.tables),
        ("actions", ours.actions != theirs.actions),
        ("counters", ours.counters != theirs.counters),
        ("registers", ours.registers != theirs.registers),
    ];
    let part = pairs.iter().find(|(_, differ)| *differ).map_or("another part", |(part, _)| part);
    Some(format!("the same objects, but {part} differ (widths, sizes, match kinds, action lists or annotations)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_p4info_indexes_by_id_name_and_alias() {
        let index = P4InfoIndex::netcraq();
        let route = index.table(0x02000002).expect("ipv4_route by id");
        assert_eq!(name_of(route.preamble.as_ref()), "NetcraqIngress.ipv4_route");
        assert_eq!(index.table_by_name("ipv4_route").map(|t| t.size), Some(1024), "by alias");
        assert_eq!(index.action_by_name("NetcraqIngress.set_config").map(|a| a.params.len()), Some(13));
        assert_eq!(index.counter_by_name("outcomes").map(|c| c.size), Some(43));
        assert_eq!(index.register(0x16000001).and_then(register_bitwidth), Some(128));
        assert_eq!(index.table(0x02000003).map(|t| t.size), Some(512), "fabric_port");
        assert_eq!(index.table(0x02000004).map(|t| t.size), Some(1024), "key_group");
        assert!(index.table(0x02000005).is_none());
        assert_eq!(first_difference(index.p4info(), index.p4info()), None);
    }

    #[test]
    fn bad_p4info_text_and_duplicate_ids_are_refused_with_the_reason() {
        let unknown = parse_p4info_text("tables { preamble { id: 1 } no_such_field: 3 }").unwrap_err();
        assert!(unknown.0.contains("no_such_field"), "{unknown}");
        let mut p4info = netcraq_p4info();
        let mut twin = p4info.tables[0].clone();
        twin.preamble.as_mut().unwrap().name = "NetcraqIngress.twin".into();
        p4info.tables.push(twin);
        let duplicate = P4InfoIndex::new(p4info).unwrap_err();
        assert!(duplicate.0.contains("used twice"), "{duplicate}");
        let missing = load_p4info_file(std::path::Path::new("/nonexistent.p4info.txtpb")).unwrap_err();
        assert!(missing.0.contains("/nonexistent.p4info.txtpb"), "{missing}");
    }
}
