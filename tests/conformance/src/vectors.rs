//! The vector files: types, loading and validation.
//!
//! Files are parsed with `serde_json` into a `Value` and then walked field by
//! field, so that every error can name the file, the case and the path of the
//! offending field (`steps[2].expect[0].frame`), and so that unknown fields are
//! rejected rather than silently ignored. A case's `config` is the serde form of
//! [`NodeConfig`], the one the node files use too.

use crate::{outcome_code, OUTCOMES};
use netcraq_core::{FabricPort, KeyGroup, Lease, NodeConfig};
use netcraq_wire::MacAddr;
use serde::de::value::MapDeserializer;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// One `ipv4_route` entry: `prefix/prefix_len` -> `set_next_hop(port, mac)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub prefix: Ipv4Addr,
    pub prefix_len: u8,
    pub port: u16,
    pub mac: [u8; 6],
}

/// One key's registers (§2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRegisters {
    pub key: u16,
    pub value: [u8; 16],
    pub version: u8,
    pub acked: u8,
    pub writer_ip: Ipv4Addr,
    pub writer_port: u16,
    pub writer_id: u16,
    /// `kv_received` (§2.1).
    pub received: u32,
}

impl KeyRegisters {
    /// All registers of `key` at zero, as at power-on.
    pub fn zero(key: u16) -> Self {
        KeyRegisters {
            key,
            value: [0; 16],
            version: 0,
            acked: 0,
            writer_ip: Ipv4Addr::UNSPECIFIED,
            writer_port: 0,
            writer_id: 0,
            received: 0,
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == KeyRegisters::zero(self.key)
    }
}

impl std::fmt::Display for KeyRegisters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "value {} version {} acked {} writer {}:{} id {} received {}",
            hex::encode(self.value),
            self.version,
            self.acked,
            self.writer_ip,
            self.writer_port,
            self.writer_id,
            self.received
        )
    }
}

/// A frame sent on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub port: u16,
    pub frame: Vec<u8>,
}

/// One received frame and what the node must do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub ingress_port: u16,
    pub frame: Vec<u8>,
    /// The frames sent, in order.
    pub expect: Vec<Output>,
    /// The counter increments of this step, by outcome name (§6).
    pub outcomes: Vec<String>,
    /// The lease clock `now` while the frame is handled (§2.4).
    pub clock_ticks: u32,
}

/// Counter values; only non-zero entries are meaningful (a zero entry equals a
/// missing one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// `outcomes`, by outcome name (§6).
    pub outcomes: BTreeMap<String, u64>,
    pub key_reads: BTreeMap<u16, u64>,
    pub key_writes: BTreeMap<u16, u64>,
}

impl Counters {
    /// The `outcomes` map of an array indexed by outcome code.
    pub fn outcomes_from_codes(counts: &[u64]) -> BTreeMap<String, u64> {
        counts
            .iter()
            .zip(OUTCOMES)
            .filter(|(count, _)| **count != 0)
            .map(|(count, name)| (name.to_string(), *count))
            .collect()
    }

    /// The same counters without zero entries.
    pub fn without_zeros(&self) -> Counters {
        fn strip<K: Ord + Clone>(map: &BTreeMap<K, u64>) -> BTreeMap<K, u64> {
            map.iter().filter(|(_, v)| **v != 0).map(|(k, v)| (k.clone(), *v)).collect()
        }
        Counters {
            outcomes: strip(&self.outcomes),
            key_reads: strip(&self.key_reads),
            key_writes: strip(&self.key_writes),
        }
    }
}

/// One conformance case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    pub description: String,
    /// `None`: the node is unconfigured.
    pub config: Option<NodeConfig>,
    /// `key_group` entries (§2.3), installed after `config`.
    pub key_groups: Vec<KeyGroup>,
    pub routes: Vec<Route>,
    /// `fabric_port` entries; unlisted ports are edge ports.
    pub fabric_ports: Vec<FabricPort>,
    /// Registers set before the first step; unlisted keys are zero.
    pub registers: Vec<KeyRegisters>,
    /// The lease registers before the first step (§2.1b).
    pub lease: Lease,
    pub steps: Vec<Step>,
    /// Every key whose registers are not all zero after the last step.
    pub final_registers: Vec<KeyRegisters>,
    /// Every non-zero counter after the last step.
    pub final_counters: Counters,
    /// The lease registers after the last step.
    pub final_lease: Lease,
}

/// One `tests/vectors/*.json` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorFile {
    pub path: PathBuf,
    pub description: String,
    pub cases: Vec<Case>,
}

/// Why a vector file could not be loaded: the file, the case (index and name,
/// when the error is inside one), the path of the field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: PathBuf,
    pub case: Option<String>,
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(case) = &self.case {
            write!(f, ": case {case}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for LoadError {}

/// Loads every `*.json` file of `dir`, in file name order, and checks that case
/// names are unique across them.
pub fn load_dir(dir: &Path) -> Result<Vec<VectorFile>, LoadError> {
    let dir_error = |message: String| LoadError { file: dir.to_path_buf(), case: None, path: String::new(), message };
    let entries = std::fs::read_dir(dir).map_err(|e| dir_error(format!("cannot list the directory: {e}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| dir_error(format!("cannot list the directory: {e}")))?.path();
        if path.extension().is_some_and(|ext| ext == "json") {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(dir_error("no *.json vector files".to_string()));
    }
    let files = paths.iter().map(|p| load_file(p)).collect::<Result<Vec<_>, _>>()?;
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for file in &files {
        for (index, case) in file.cases.iter().enumerate() {
            if let Some(other) = seen.insert(&case.name, &file.path) {
                return Err(LoadError {
                    file: file.path.clone(),
                    case: Some(format!("#{index} {:?}", case.name)),
                    path: "name".to_string(),
                    message: format!("case name also used in {}", other.display()),
                });
            }
        }
    }
    Ok(files)
}

/// Loads and validates one vector file.
pub fn load_file(path: &Path) -> Result<VectorFile, LoadError> {
    let mut ctx = Ctx { file: path, case: None };
    let text = std::fs::read_to_string(path).map_err(|e| ctx.err("", format!("cannot read: {e}")))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| ctx.err("", format!("invalid JSON: {e}")))?;
    let top = ctx.object(&value, "", &["description", "cases"], &["description", "cases"])?;
    let description = ctx.string(&top["description"], "description")?.to_string();
    let Value::Array(raw_cases) = &top["cases"] else {
        return Err(ctx.err("cases", "expected an array of cases"));
    };
    if raw_cases.is_empty() {
        return Err(ctx.err("cases", "no cases"));
    }
    let mut cases = Vec::with_capacity(raw_cases.len());
    let mut names = BTreeSet::new();
    for (index, raw) in raw_cases.iter().enumerate() {
        let name = raw.get("name").and_then(Value::as_str).unwrap_or("<unnamed>");
        ctx.case = Some(format!("#{index} {name:?}"));
        let case = ctx.case_value(raw)?;
        if !names.insert(case.name.clone()) {
            return Err(ctx.err("name", "duplicate case name in this file"));
        }
        cases.push(case);
    }
    Ok(VectorFile { path: path.to_path_buf(), description, cases })
}

/// Where the walk is, for error messages.
struct Ctx<'a> {
    file: &'a Path,
    case: Option<String>,
}

const CASE_FIELDS: [&str; 12] = [
    "name",
    "description",
    "config",
    "key_groups",
    "routes",
    "fabric_ports",
    "registers",
    "steps",
    "final_registers",
    "final_counters",
    "lease",
    "final_lease",
];

/// Case fields a case may leave out: an unconfigured node has no `config`,
/// a node without groups no `key_groups`, and the lease registers are zero
/// unless stated.
const OPTIONAL_CASE_FIELDS: [&str; 4] = ["config", "key_groups", "lease", "final_lease"];

const REGISTER_FIELDS: [&str; 8] =
    ["key", "value", "version", "acked", "writer_ip", "writer_port", "writer_id", "received"];

impl Ctx<'_> {
    fn err(&self, path: &str, message: impl Into<String>) -> LoadError {
        LoadError {
            file: self.file.to_path_buf(),
            case: self.case.clone(),
            path: path.to_string(),
            message: message.into(),
        }
    }

    fn object<'v>(
        &self,
        value: &'v Value,
        path: &str,
        allowed: &[&str],
        required: &[&str],
    ) -> Result<&'v Map<String, Value>, LoadError> {
        let Value::Object(map) = value else {
            return Err(self.err(path, format!("expected an object, found {}", kind(value))));
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let known = allowed.join(", ");
                return Err(self.err(&join(path, key), format!("unknown field (known: {known})")));
            }
        }
        for key in required {
            if !map.contains_key(*key) {
                return Err(self.err(&join(path, key), "missing field"));
            }
        }
        Ok(map)
    }

    fn string<'v>(&self, value: &'v Value, path: &str) -> Result<&'v str, LoadError> {
        value.as_str().ok_or_else(|| self.err(path, format!("expected a string, found {}", kind(value))))
    }

    fn array<'v>(&self, value: &'v Value, path: &str) -> Result<&'v [Value], LoadError> {
        match value {
            Value::Array(items) => Ok(items),
            _ => Err(self.err(path, format!("expected an array, found {}", kind(value)))),
        }
    }

    fn uint(&self, value: &Value, path: &str, max: u64) -> Result<u64, LoadError> {
        match value.as_u64() {
            Some(n) if n <= max => Ok(n),
            Some(n) => Err(self.err(path, format!("{n} is above the maximum {max}"))),
            None => Err(self.err(path, format!("expected an unsigned integer, found {}", kind(value)))),
        }
    }

    fn u8(&self, value: &Value, path: &str) -> Result<u8, LoadError> {
        self.uint(value, path, u8::MAX.into()).map(|n| n as u8)
    }

    fn u16(&self, value: &Value, path: &str) -> Result<u16, LoadError> {
        self.uint(value, path, u16::MAX.into()).map(|n| n as u16)
    }

    fn bool(&self, value: &Value, path: &str) -> Result<bool, LoadError> {
        value.as_bool().ok_or_else(|| self.err(path, format!("expected true or false, found {}", kind(value))))
    }

    fn hex(&self, value: &Value, path: &str) -> Result<Vec<u8>, LoadError> {
        let text = self.string(value, path)?;
        if let Some((at, c)) = text.char_indices().find(|(_, c)| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(self.err(path, format!("not lowercase hex without separators: {c:?} at character {at}")));
        }
        hex::decode(text).map_err(|e| self.err(path, format!("invalid hex: {e}")))
    }

    fn ipv4(&self, value: &Value, path: &str) -> Result<Ipv4Addr, LoadError> {
        let text = self.string(value, path)?;
        Ipv4Addr::from_str(text).map_err(|_| self.err(path, format!("{text:?} is not a dotted-quad IPv4 address")))
    }

    fn mac(&self, value: &Value, path: &str) -> Result<[u8; 6], LoadError> {
        let text = self.string(value, path)?;
        let mac = text.parse::<MacAddr>();
        mac.map(|mac| mac.0)
            .map_err(|_| self.err(path, format!("{text:?} is not a MAC address like 02:00:00:00:00:01")))
    }

    fn outcome(&self, value: &Value, path: &str) -> Result<String, LoadError> {
        let name = self.string(value, path)?;
        match outcome_code(name) {
            Some(_) => Ok(name.to_string()),
            None => Err(self.err(path, format!("{name:?} is not an outcome of §6"))),
        }
    }

    fn case_value(&self, raw: &Value) -> Result<Case, LoadError> {
        let required: Vec<&str> =
            CASE_FIELDS.into_iter().filter(|field| !OPTIONAL_CASE_FIELDS.contains(field)).collect();
        let map = self.object(raw, "", &CASE_FIELDS, &required)?;
        let name = self.string(&map["name"], "name")?.to_string();
        if name.is_empty() {
            return Err(self.err("name", "empty case name"));
        }
        let description = self.string(&map["description"], "description")?.to_string();
        let config = map.get("config").map(|c| self.config(c)).transpose()?;
        let key_groups = match map.get("key_groups") {
            Some(groups) => self.list(groups, "key_groups", |v, p| self.serde_object::<KeyGroup>(v, p))?,
            None => Vec::new(),
        };
        let routes = self.list(&map["routes"], "routes", |v, p| self.route(v, p))?;
        let fabric_ports = self.fabric_ports(&map["fabric_ports"], "fabric_ports")?;
        let registers = self.register_list(&map["registers"], "registers")?;
        let steps = self.list(&map["steps"], "steps", |v, p| self.step(v, p))?;
        if steps.is_empty() {
            return Err(self.err("steps", "a case needs at least one step"));
        }
        let final_registers = self.register_list(&map["final_registers"], "final_registers")?;
        if let Some(at) = final_registers.iter().position(KeyRegisters::is_zero) {
            let message = "an all-zero entry: final_registers lists only keys whose registers are not all zero";
            return Err(self.err(&format!("final_registers[{at}]"), message));
        }
        let final_counters = self.counters(&map["final_counters"], "final_counters")?;
        let lease = map.get("lease").map(|v| self.lease(v, "lease")).transpose()?.unwrap_or_default();
        let final_lease = map.get("final_lease").map(|v| self.lease(v, "final_lease")).transpose()?.unwrap_or_default();
        let mut sum: BTreeMap<String, u64> = BTreeMap::new();
        for step in &steps {
            for outcome in &step.outcomes {
                *sum.entry(outcome.clone()).or_default() += 1;
            }
        }
        if sum != final_counters.outcomes {
            return Err(self.err(
                "final_counters.outcomes",
                format!(
                    "{:?} is not the sum of the steps' outcomes {:?} (counters start at zero)",
                    final_counters.outcomes, sum
                ),
            ));
        }
        Ok(Case {
            name,
            description,
            config,
            key_groups,
            routes,
            fabric_ports,
            registers,
            lease,
            steps,
            final_registers,
            final_counters,
            final_lease,
        })
    }

    /// The lease registers (§2.1b): `{ "end": N, "held": true, "clock": C }`,
    /// `clock` (`lease_clock`) 0 if absent.
    fn lease(&self, value: &Value, path: &str) -> Result<Lease, LoadError> {
        let required = ["end", "held"];
        let map = self.object(value, path, &["end", "held", "clock"], &required)?;
        let ticks = |field: &str| match map.get(field) {
            Some(ticks) => Ok(self.uint(ticks, &join(path, field), u32::MAX.into())? as u32),
            None => Ok(0),
        };
        Ok(Lease {
            end_ticks: ticks("end")?,
            held: self.bool(&map["held"], &join(path, "held"))?,
            clock_ticks: ticks("clock")?,
        })
    }

    fn list<T>(
        &self,
        value: &Value,
        path: &str,
        item: impl Fn(&Value, &str) -> Result<T, LoadError>,
    ) -> Result<Vec<T>, LoadError> {
        self.array(value, path)?.iter().enumerate().map(|(i, v)| item(v, &format!("{path}[{i}]"))).collect()
    }

    /// An object in the serde form of `T` (a [`NodeConfig`], shared with the
    /// node files, or a [`KeyGroup`]); an error names the field being read
    /// when it occurred.
    fn serde_object<T: for<'de> Deserialize<'de>>(&self, value: &Value, path: &str) -> Result<T, LoadError> {
        let Value::Object(map) = value else {
            return Err(self.err(path, format!("expected an object, found {}", kind(value))));
        };
        // The field the deserializer last took, "" once all are taken (a missing field).
        let field = Cell::new("");
        let mut entries = map.iter();
        let fields = std::iter::from_fn(|| {
            let entry = entries.next().map(|(key, value)| (key.as_str(), value));
            field.set(entry.map_or("", |(key, _)| key));
            entry
        });
        T::deserialize(MapDeserializer::new(fields))
            .map_err(|e: serde_json::Error| self.err(&join(path, field.get()), e.to_string()))
    }

    fn config(&self, value: &Value) -> Result<NodeConfig, LoadError> {
        let config: NodeConfig = self.serde_object(value, "config")?;
        // NodeConfig's serde form lets a node file leave the epoch out (0); a vector states it.
        if !value.as_object().is_some_and(|map| map.contains_key("epoch")) {
            return Err(self.err("config.epoch", "missing field: every case states its node's epoch"));
        }
        if config.key_hi > 1 << 16 {
            return Err(self.err("config.key_hi", format!("{} is above the maximum {}", config.key_hi, 1 << 16)));
        }
        if u32::from(config.key_lo) > config.key_hi {
            return Err(
                self.err("config", format!("key_lo {} must not be above key_hi {}", config.key_lo, config.key_hi))
            );
        }
        Ok(config)
    }

    fn route(&self, value: &Value, path: &str) -> Result<Route, LoadError> {
        let fields = ["prefix", "port", "mac"];
        let map = self.object(value, path, &fields, &fields)?;
        let prefix_path = join(path, "prefix");
        let text = self.string(&map["prefix"], &prefix_path)?;
        let bad = |why: &str| self.err(&prefix_path, format!("{text:?}: {why}"));
        let (addr, len) = text.split_once('/').ok_or_else(|| bad("expected address/length"))?;
        let prefix = Ipv4Addr::from_str(addr).map_err(|_| bad("not an IPv4 address"))?;
        let prefix_len: u8 = len.parse().ok().filter(|l| *l <= 32).ok_or_else(|| bad("length is not 0 to 32"))?;
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix_len)).unwrap_or(0);
        if u32::from(prefix) & !mask != 0 {
            return Err(bad("address bits set beyond the prefix length"));
        }
        Ok(Route {
            prefix,
            prefix_len,
            port: self.u16(&map["port"], &join(path, "port"))?,
            mac: self.mac(&map["mac"], &join(path, "mac"))?,
        })
    }

    fn fabric_ports(&self, value: &Value, path: &str) -> Result<Vec<FabricPort>, LoadError> {
        let list = self.list(value, path, |v, p| {
            let fields = ["port", "from_predecessor", "from_successor", "from_controller"];
            let map = self.object(v, p, &fields, &fields)?;
            Ok(FabricPort {
                port: self.u16(&map["port"], &join(p, "port"))?,
                from_predecessor: self.bool(&map["from_predecessor"], &join(p, "from_predecessor"))?,
                from_successor: self.bool(&map["from_successor"], &join(p, "from_successor"))?,
                from_controller: self.bool(&map["from_controller"], &join(p, "from_controller"))?,
            })
        })?;
        let mut ports = BTreeSet::new();
        for (i, entry) in list.iter().enumerate() {
            if !ports.insert(entry.port) {
                return Err(self.err(&format!("{path}[{i}].port"), format!("port {} listed twice", entry.port)));
            }
        }
        Ok(list)
    }

    fn register_list(&self, value: &Value, path: &str) -> Result<Vec<KeyRegisters>, LoadError> {
        let list = self.list(value, path, |v, p| self.registers(v, p))?;
        let mut keys = BTreeSet::new();
        for (i, entry) in list.iter().enumerate() {
            if !keys.insert(entry.key) {
                return Err(self.err(&format!("{path}[{i}].key"), format!("key {} listed twice", entry.key)));
            }
        }
        Ok(list)
    }

    fn registers(&self, value: &Value, path: &str) -> Result<KeyRegisters, LoadError> {
        let map = self.object(value, path, &REGISTER_FIELDS, &REGISTER_FIELDS[..7])?;
        let p = |key: &str| join(path, key);
        let value_bytes = self.hex(&map["value"], &p("value"))?;
        let value = <[u8; 16]>::try_from(value_bytes.as_slice())
            .map_err(|_| self.err(&p("value"), format!("{} bytes, expected 16", value_bytes.len())))?;
        Ok(KeyRegisters {
            key: self.u16(&map["key"], &p("key"))?,
            value,
            version: self.u8(&map["version"], &p("version"))?,
            acked: self.u8(&map["acked"], &p("acked"))?,
            writer_ip: self.ipv4(&map["writer_ip"], &p("writer_ip"))?,
            writer_port: self.u16(&map["writer_port"], &p("writer_port"))?,
            writer_id: self.u16(&map["writer_id"], &p("writer_id"))?,
            received: match map.get("received") {
                Some(received) => self.uint(received, &p("received"), u32::MAX.into())? as u32,
                None => 0,
            },
        })
    }

    fn step(&self, value: &Value, path: &str) -> Result<Step, LoadError> {
        let fields = ["ingress_port", "frame", "expect", "outcomes", "clock"];
        let map = self.object(value, path, &fields, &fields[..4])?;
        let expect = self.list(&map["expect"], &join(path, "expect"), |v, p| {
            let fields = ["port", "frame"];
            let out = self.object(v, p, &fields, &fields)?;
            let frame = self.hex(&out["frame"], &join(p, "frame"))?;
            if frame.is_empty() {
                return Err(self.err(&join(p, "frame"), "an emitted frame cannot be empty"));
            }
            Ok(Output { port: self.u16(&out["port"], &join(p, "port"))?, frame })
        })?;
        let outcomes = self.list(&map["outcomes"], &join(path, "outcomes"), |v, p| self.outcome(v, p))?;
        if outcomes.iter().filter(|o| *o != "NO_ROUTE").count() != 1 {
            let message = "a step counts exactly one outcome other than NO_ROUTE (§6)";
            return Err(self.err(&join(path, "outcomes"), message));
        }
        Ok(Step {
            ingress_port: self.u16(&map["ingress_port"], &join(path, "ingress_port"))?,
            frame: self.hex(&map["frame"], &join(path, "frame"))?,
            expect,
            outcomes,
            clock_ticks: match map.get("clock") {
                Some(clock) => self.uint(clock, &join(path, "clock"), u32::MAX.into())? as u32,
                None => 0,
            },
        })
    }

    fn counters(&self, value: &Value, path: &str) -> Result<Counters, LoadError> {
        let fields = ["outcomes", "key_reads", "key_writes"];
        let map = self.object(value, path, &fields, &fields)?;
        let mut counters = Counters::default();
        let outcomes_path = join(path, "outcomes");
        for (name, count) in self.object(&map["outcomes"], &outcomes_path, &OUTCOMES, &[])? {
            let count = self.nonzero(count, &join(&outcomes_path, name))?;
            counters.outcomes.insert(name.clone(), count);
        }
        for (field, target) in [("key_reads", &mut counters.key_reads), ("key_writes", &mut counters.key_writes)] {
            let field_path = join(path, field);
            let Value::Object(entries) = &map[field] else {
                return Err(self.err(&field_path, "expected an object of key -> count"));
            };
            for (key, count) in entries {
                let entry_path = join(&field_path, key);
                let key: u16 = key.parse().map_err(|_| self.err(&entry_path, "keys are decimal numbers 0-65535"))?;
                target.insert(key, self.nonzero(count, &entry_path)?);
            }
        }
        Ok(counters)
    }

    fn nonzero(&self, value: &Value, path: &str) -> Result<u64, LoadError> {
        match self.uint(value, path, u64::MAX)? {
            0 => Err(self.err(path, "zero: final_counters lists only non-zero counters")),
            n => Ok(n),
        }
    }
}

fn join(path: &str, key: &str) -> String {
    match (path, key) {
        ("", key) => key.to_string(),
        (path, "") => path.to_string(),
        (path, key) => format!("{path}.{key}"),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
